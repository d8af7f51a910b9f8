"""Stream the elements of one top-level JSON array without parsing the whole file."""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from adapters.formats import _json_safe
from adapters.formats._errors import FormatError

__all__ = ["Source", "ArrayReader", "open_source"]

Source = str | os.PathLike[str] | IO[bytes]
_CHUNK = 1 << 16


def open_source(source: Source) -> tuple[IO[bytes], str, bool]:
    """Open a path (or pass a binary stream through): ``(stream, name, caller must close)``."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return path.open("rb"), path.name, True
        except OSError as exc:
            raise FormatError(path.name, "", f"cannot open: {exc.strerror}") from exc
    return source, getattr(source, "name", None) or "<upload>", False


class ArrayReader:
    """Yield the elements of a top-level JSON array (or a single object) one at a time."""

    def __init__(self, stream: IO[bytes], source: str) -> None:
        self._stream = stream
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = _json_safe.decoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._bytes_read = 0

    def _fill(self, size: int = _CHUNK) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(max(size, _CHUNK))
        if isinstance(chunk, str):
            raise TypeError("pass a binary stream (open(..., 'rb'))")
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise FormatError(
                self._source,
                f"byte {self._bytes_read + exc.start}",
                "not UTF-8 text; save the export as UTF-8 JSON",
            ) from exc
        self._bytes_read += len(chunk)
        self._eof = not chunk
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def _peek(self) -> str:
        """Next non-whitespace character ('' at the end of the input)."""
        while True:
            buf, n = self._buf, len(self._buf)
            while self._pos < n and buf[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < n:
                return buf[self._pos]
            if not self._fill():
                return ""

    def _value(self, where: str) -> Any:
        if self._peek() == "":
            raise FormatError(self._source, where, "missing; the file ends early")
        while True:
            try:
                value, end = _json_safe.raw_decode(
                    self._json, self._buf, self._pos, source=self._source, where=where
                )
            except json.JSONDecodeError as exc:
                # Incomplete (or broken) element: read as much again as is buffered, so a
                # huge element is re-parsed a logarithmic number of times, not once per chunk.
                if self._fill(len(self._buf) - self._pos):
                    continue
                raise FormatError(self._source, where, f"invalid JSON: {exc.msg}") from exc
            self._pos = end
            return value

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        first = self._peek()
        if first == "":
            raise FormatError(self._source, "", "empty file; expected a JSON array of tasks")
        if first == "{":
            yield 0, self._value("[task 0]")
            if self._peek() != "":
                raise FormatError(self._source, "", "extra data after the task object")
            return
        if first != "[":
            raise FormatError(self._source, "", "expected a JSON array of tasks")
        self._pos += 1
        index = 0
        if self._peek() == "]":
            self._pos += 1
        else:
            while True:
                yield index, self._value(f"[task {index}]")
                nxt = self._peek()
                self._pos += 1
                if nxt == "]":
                    break
                if nxt != ",":
                    found = "end of file" if nxt == "" else repr(nxt)
                    raise FormatError(
                        self._source,
                        f"[task {index}]",
                        f"expected ',' or ']' after it, got {found}",
                    )
                index += 1
        if self._peek() != "":
            raise FormatError(self._source, "", "extra data after the closing ']'")
