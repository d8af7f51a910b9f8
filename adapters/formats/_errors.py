"""The one error every label-file reader raises."""

from __future__ import annotations

__all__ = ["FormatError"]


class FormatError(ValueError):
    """A label file is malformed.

    The message is one line naming the file, the row or object, and what is wrong,
    e.g. ``gold.csv: row 7: duplicate item_id 'img-3'``.

    Parameters
    ----------
    source
        The file name (or ``"<request body>"`` for an upload).
    location
        Where in the file: ``"row 7"``, ``"annotations[12].bbox"``; empty for the whole file.
    problem
        What is wrong and, where it helps, how to fix it.
    """

    def __init__(self, source: str, location: str, problem: str) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        where = f"{source}: {location}" if location else source
        super().__init__(f"{where}: {problem}")
