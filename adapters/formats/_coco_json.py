"""Low-level pieces of the COCO reader: value checks, RLE helpers, a streaming array reader.

Private to :mod:`adapters.formats.coco`.
"""

from __future__ import annotations

import codecs
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from pycocotools import mask as coco_mask

from adapters.formats import _json_safe
from adapters.formats._errors import FormatError

__all__ = [
    "Source",
    "DetectionTask",
    "ItemKey",
    "CocoImage",
    "CocoCategory",
]

Source: TypeAlias = str | os.PathLike[str] | IO[bytes]
DetectionTask = Literal["detection", "segmentation"]
ItemKey = Literal["id", "file_name"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_CHUNK = 1 << 16
_AREA_CHUNK = 255  # pycocotools' area() overflows a uint8 count past 255 masks per call


@dataclass(frozen=True)
class CocoImage:
    """One image of an instances file."""

    id: int
    width: int
    height: int
    file_name: str = ""


@dataclass(frozen=True)
class CocoCategory:
    """One category of an instances file."""

    id: int
    name: str
    supercategory: str = ""


# --------------------------------------------------------------------------- helpers


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int(v: object, source: str, where: str, *, minimum: int | None = None) -> int:
    if not _is_int(v):
        raise FormatError(source, where, f"must be an integer, got {_show(v)}")
    assert isinstance(v, int)
    if minimum is not None and v < minimum:
        raise FormatError(source, where, f"must be >= {minimum}, got {v}")
    return v


def _num(v: object, source: str, where: str) -> float:
    if not _is_num(v):
        raise FormatError(source, where, f"must be a number, got {_show(v)}")
    f = float(v)  # type: ignore[arg-type]
    if not math.isfinite(f):
        raise FormatError(source, where, f"must be finite, got {f}")
    return f


def _show(v: object) -> str:
    text = (
        json.dumps(v) if isinstance(v, str | int | float | bool | type(None)) else type(v).__name__
    )
    return text if len(text) <= 40 else text[:37] + "..."


def _obj(v: object, source: str, where: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise FormatError(source, where, f"must be a JSON object, got {_show(v)}")
    return v


def _key(obj: Mapping[str, Any], key: str, source: str, where: str) -> Any:
    if key not in obj:
        raise FormatError(source, where, f"missing key '{key}'")
    return obj[key]


def _bbox(
    v: object, source: str, where: str, image: CocoImage | None, tolerance: float
) -> tuple[float, float, float, float]:
    if not isinstance(v, list | tuple) or len(v) != 4:
        raise FormatError(source, where, f"must be [x, y, width, height], got {_show(v)}")
    if not all(_is_num(c) for c in v):
        raise FormatError(source, where, "must hold 4 numbers")
    x, y, w, h = (float(c) for c in v)
    if not all(math.isfinite(c) for c in (x, y, w, h)):
        raise FormatError(source, where, "has a NaN or infinite value")
    if w < 0 or h < 0:
        raise FormatError(source, where, f"has negative width or height ({w}, {h})")
    if (
        image is not None
        and image.width > 0
        and (
            x < -tolerance
            or y < -tolerance
            or x + w > image.width + tolerance
            or y + h > image.height + tolerance
        )
    ):
        raise FormatError(
            source,
            where,
            f"box [{x}, {y}, {w}, {h}] lies outside image {image.id} "
            f"({image.width}x{image.height})",
        )
    return x, y, w, h


def _segmentation(
    v: object, source: str, where: str, image: CocoImage, *, check_size: bool = True
) -> list[list[float]] | dict[str, Any] | None:
    """Validate polygons or RLE; ``None`` for an empty polygon list.

    ``check_size``: refuse an RLE whose size is not its image's (when the image's size is
    known); gold files are read without it and set such masks aside themselves.
    """
    if isinstance(v, list):
        if not v:
            return None
        polys: list[list[float]] = []
        for i, poly in enumerate(v):
            w = f"{where}[{i}]"
            if not isinstance(poly, list) or not all(_is_num(c) for c in poly):
                raise FormatError(source, w, "a polygon must be a list of numbers")
            if len(poly) < 6 or len(poly) % 2:
                raise FormatError(
                    source,
                    w,
                    f"a polygon needs an even number >= 6 of coordinates, got {len(poly)}",
                )
            coords = [float(c) for c in poly]
            if not all(math.isfinite(c) for c in coords):
                raise FormatError(source, w, "has a NaN or infinite coordinate")
            polys.append(coords)
        return polys
    if isinstance(v, Mapping):
        size = _key(v, "size", source, where)
        counts = _key(v, "counts", source, where)
        if not isinstance(size, list) or len(size) != 2 or not all(_is_int(s) for s in size):
            raise FormatError(source, f"{where}.size", "must be [height, width]")
        if check_size and image.width > 0 and size != [image.height, image.width]:
            raise FormatError(
                source,
                f"{where}.size",
                f"{size} does not match image {image.id} ({image.height}x{image.width}, h x w)",
            )
        if isinstance(counts, list):
            if not all(_is_int(c) and c >= 0 for c in counts):
                raise FormatError(source, f"{where}.counts", "must be non-negative integers")
            if sum(counts) != size[0] * size[1]:
                raise FormatError(
                    source, f"{where}.counts", f"run lengths sum to {sum(counts)}, not h*w"
                )
        elif not isinstance(counts, str):
            raise FormatError(source, f"{where}.counts", "must be an RLE string or integer list")
        return {"size": list(size), "counts": counts}
    raise FormatError(source, where, f"must be polygons or an RLE object, got {_show(v)}")


def _to_rle(seg: list[list[float]] | Mapping[str, Any], height: int, width: int) -> dict[str, Any]:
    """Compressed RLE exactly as ``pycocotools.coco.COCO.annToRLE`` builds it."""
    if isinstance(seg, list):
        return dict(coco_mask.merge(coco_mask.frPyObjects(seg, height, width)))
    counts = seg["counts"]
    if isinstance(counts, list):
        return dict(coco_mask.frPyObjects(dict(seg), height, width))
    raw = counts.encode("ascii") if isinstance(counts, str) else counts
    return {"size": list(seg["size"]), "counts": raw}


def _areas(rles: Sequence[Mapping[str, Any]]) -> FloatArray:
    out = np.zeros(len(rles), dtype=np.float64)
    items = list(rles)
    for start in range(0, len(items), _AREA_CHUNK):
        chunk = items[start : start + _AREA_CHUNK]
        out[start : start + len(chunk)] = np.asarray(coco_mask.area(chunk), dtype=np.float64)
    return out


def _json_rle(rle: Mapping[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": [int(s) for s in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def _open(source: Source, name: str | None) -> tuple[IO[bytes], str, bool]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return path.open("rb"), name or path.name, True
        except OSError as exc:
            raise FormatError(name or path.name, "", f"cannot open: {exc.strerror}") from exc
    return source, name or getattr(source, "name", None) or "<upload>", False


def _load_json(source: Source, name: str | None) -> tuple[Any, str]:
    stream, label, close = _open(source, name)
    try:
        raw = stream.read()
    finally:
        if close:
            stream.close()
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise FormatError(label, f"byte {exc.start}", "not UTF-8 text") from exc
    try:
        return _json_safe.decode(text), label
    except json.JSONDecodeError as exc:
        raise FormatError(
            label, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from exc
    except _json_safe.JsonLimitError as exc:
        raise FormatError(label, exc.path, exc.problem) from exc


class _ArrayStream:
    """Yield ``(index, element)`` of a top-level JSON array without parsing it whole."""

    def __init__(self, stream: IO[bytes], source: str) -> None:
        self._stream = stream
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = _json_safe.decoder()
        self._buf = ""
        self._pos = 0
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(_CHUNK)
        if isinstance(chunk, str):
            raise TypeError("pass a binary stream (open(..., 'rb'))")
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise FormatError(self._source, "", "not UTF-8 text") from exc
        self._eof = not chunk
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def _peek(self) -> str:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        first = self._peek()
        if first != "[":
            found = "an empty file" if first == "" else repr(first)
            raise FormatError(self._source, "", f"expected a JSON array of results, got {found}")
        self._pos += 1
        index = 0
        if self._peek() == "]":
            self._pos += 1
        else:
            while True:
                where = f"[{index}]"
                if self._peek() == "":
                    raise FormatError(self._source, where, "invalid JSON: the file ends early")
                while True:
                    try:
                        value, end = _json_safe.raw_decode(
                            self._json, self._buf, self._pos, source=self._source, where=where
                        )
                        break
                    except json.JSONDecodeError as exc:
                        if not self._fill():
                            raise FormatError(
                                self._source, where, f"invalid JSON: {exc.msg}"
                            ) from exc
                self._pos = end
                yield index, value
                nxt = self._peek()
                self._pos += 1
                if nxt == "]":
                    break
                if nxt != ",":
                    got = "end of file" if nxt == "" else repr(nxt)
                    raise FormatError(
                        self._source, where, f"invalid JSON: expected ',' or ']', got {got}"
                    )
                index += 1
        if self._peek() != "":
            raise FormatError(self._source, "", "invalid JSON: extra data after the array")
