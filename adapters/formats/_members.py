"""The files of a multi-file export (a folder or a ``.zip``), read the same way from both.

Pascal VOC (one XML per image) and YOLO (one text file per image plus class names) arrive as a
folder on the command line and as a zip archive over HTTP; readers see ``(name, bytes)`` pairs
in a stable order either way.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from adapters.formats._errors import FormatError

__all__ = ["Member", "iter_members", "is_archive"]

Member = tuple[str, bytes]

# A member larger than this is not a label file; refusing it bounds memory (zip bombs).
_MAX_MEMBER_BYTES = 64 * 1024 * 1024


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a folder or a zip archive (not a single label file)."""
    p = Path(path)
    return p.is_dir() or (p.is_file() and zipfile.is_zipfile(p))


def iter_members(path: str | os.PathLike[str], *, suffixes: frozenset[str]) -> Iterator[Member]:
    """``(relative name, content)`` of every file under ``path`` whose suffix is in ``suffixes``.

    Raises
    ------
    FormatError
        ``path`` is neither a folder nor a zip archive, or a member is too large.
    """
    p = Path(path)
    source = p.name
    if p.is_dir():
        for file in sorted(p.rglob("*")):
            if file.is_file() and file.suffix.lower() in suffixes:
                if file.stat().st_size > _MAX_MEMBER_BYTES:
                    raise FormatError(source, str(file.relative_to(p)), "file is too large")
                yield file.relative_to(p).as_posix(), file.read_bytes()
        return
    if not (p.is_file() and zipfile.is_zipfile(p)):
        raise FormatError(source, "", "expected a folder or a .zip archive of the export")
    with zipfile.ZipFile(p) as archive:
        for info in sorted(archive.infolist(), key=lambda i: i.filename):
            name = info.filename
            if info.is_dir() or PurePosixPath(name).suffix.lower() not in suffixes:
                continue
            if info.file_size > _MAX_MEMBER_BYTES:
                raise FormatError(source, name, "file is too large")
            yield name, archive.read(info)
