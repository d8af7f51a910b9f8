"""Answers to language tasks (preferences, ratings, transcripts) as tools write them.

Every reader of a language format turns a tool's answer into one of three plain values:

============== =====================================================================
preference     ``"A"``, ``"B"`` or ``"tie"``: ``A``/``left``/``response_a`` (any case)
               is the first response, ``B``/``right``/``response_b`` the second,
               ``tie`` (or ``equal``) neither
rating         ``{criterion: rating}`` (the engine's shape), each rating an integer: a
               number, a numeric string (``"4"``), or a choice mapped through an
               explicit ``scale`` (``{"good": 4}``)
transcription  the text as written (several text boxes are joined by newlines)
============== =====================================================================

and yields :class:`LanguageRow`, which is exactly one line of the Bakeoff JSON Lines that
every import door accepts (:meth:`LanguageRow.to_json`). The registry reads the same answers
as :class:`~adapters.base.VendorAnnotation` for the ``preference``, ``rating`` and
``transcription`` task types.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Literal

from adapters.formats._errors import FormatError

__all__ = [
    "LANGUAGE_KINDS",
    "LanguageKind",
    "LanguageRow",
    "preference_value",
    "rating_value",
    "transcript_value",
    "write_rows",
]

LanguageKind = Literal["preference", "rating", "transcription"]
LANGUAGE_KINDS: tuple[LanguageKind, ...] = ("preference", "rating", "transcription")

_FIRST = frozenset({"a", "left", "response_a", "response a", "first"})
_SECOND = frozenset({"b", "right", "response_b", "response b", "second"})
_TIE = frozenset({"tie", "equal"})


@dataclass(frozen=True)
class LanguageRow:
    """One answer to a language item, in the shape of a Bakeoff JSON Lines label row."""

    item_id: str
    label: str | int | dict[str, int]
    annotator_id: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    external_id: str | None = None
    score: float | None = None

    def to_json(self) -> dict[str, Any]:
        """The row as one JSON Lines object (absent fields left out)."""
        out: dict[str, Any] = {"item_id": self.item_id, "label": self.label}
        for key in ("annotator_id", "external_id", "score"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        for key in ("started_at", "completed_at"):
            stamp = getattr(self, key)
            if stamp is not None:
                out[key] = stamp.isoformat()
        return out


def preference_value(value: object, *, source: str, where: str) -> str:
    """``"A"``, ``"B"`` or ``"tie"`` from a tool's answer (see the module docstring).

    Examples
    --------
    >>> [preference_value(v, source="f", where="x") for v in ("left", "Tie", "response_b")]
    ['A', 'tie', 'B']
    """
    if isinstance(value, str):
        key = value.strip().lower()
        if key in _FIRST:
            return "A"
        if key in _SECOND:
            return "B"
        if key in _TIE:
            return "tie"
    raise FormatError(
        source,
        where,
        f"{value!r:.80} is not a preference: expected A/left/response_a, B/right/response_b or tie",
    )


def rating_value(
    value: object, *, source: str, where: str, scale: Mapping[str, int] | None = None
) -> int:
    """An integer rating from a tool's answer.

    Examples
    --------
    >>> rating_value("4", source="f", where="x")
    4
    >>> rating_value("good", source="f", where="x", scale={"good": 3})
    3
    """
    if scale is not None and isinstance(value, str) and value in scale:
        return int(scale[value])
    if isinstance(value, bool):
        raise FormatError(source, where, f"{value!r} is not a rating (a true/false answer)")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    hint = (
        f"; the scale maps only {sorted(scale)}"
        if scale is not None
        else "; pass a scale mapping each choice to its number"
    )
    raise FormatError(source, where, f"{value!r:.80} is not an integer rating{hint}")


def transcript_value(value: object, *, source: str, where: str) -> str:
    """The transcript text: a string, or a list of strings joined by newlines."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return "\n".join(value)
    raise FormatError(source, where, f"{value!r:.80} is not a transcript (text or a list of text)")


def write_rows(rows: Iterable[LanguageRow], out: IO[str]) -> int:
    """Write rows as Bakeoff JSON Lines; returns how many were written."""
    n = 0
    for row in rows:
        out.write(json.dumps(row.to_json(), ensure_ascii=False) + "\n")
        n += 1
    return n
