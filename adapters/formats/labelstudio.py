"""Label Studio JSON: read exports, write import files, generate labeling configs.

A Label Studio export is one JSON array of *tasks*. Each task has ``data`` (what the
annotator sees), and ``annotations`` (one per annotator), each holding a ``result``
list of *regions*::

    [{"id": 12, "data": {"image": "s3://b/a.jpg", "item_id": "a"},
      "annotations": [{"id": 7, "completed_by": 3, "lead_time": 4.2,
                       "created_at": "2024-01-01T10:00:00Z",
                       "result": [{"type": "rectanglelabels", "from_name": "label",
                                   "to_name": "image", "original_width": 640,
                                   "original_height": 480,
                                   "value": {"x": 10, "y": 20, "width": 30, "height": 40,
                                             "rotation": 0, "rectanglelabels": ["cat"]}}]}]}]

Region types read, by task type:

============== ==================================================================
classification ``choices`` (exactly one choice) or ``taxonomy`` (one path; its leaf)
multilabel     ``choices`` and ``taxonomy`` leaves, in order, duplicates dropped
detection      ``rectanglelabels``: percent of ``original_width``/``original_height``
               → pixel COCO ``[x, y, w, h]`` (a rotated box becomes its envelope)
segmentation   ``polygonlabels`` (percent points → one COCO polygon) and
               ``brushlabels`` (Label Studio's bit-packed RLE → COCO RLE)
spans          ``labels`` with ``start``/``end`` character offsets
============== ==================================================================

``relation`` regions carry no label and are skipped; any other region type that does
not fit the task type is an error. Cancelled (skipped) annotations are not labels and
are dropped. Each annotation becomes one :class:`~adapters.base.VendorAnnotation`:
``annotator_id`` from ``completed_by`` (a user id, or the ``email`` of an expanded
user), ``completed_at`` from ``created_at``, ``started_at`` = ``completed_at -
lead_time``, ``external_id`` from the annotation ``id``. ``predictions`` are read
too (``annotator_id`` = ``model_version``, ``score`` from the prediction).

The item id is ``meta[id_field]`` (default ``"item_id"``; :func:`write_tasks` and
:func:`import_payload` put it there, outside what annotators see), else
``data[id_field]``; for exports of projects that were not created by Bakeoff it falls
back to the Label Studio task ``id``.

:func:`iter_gold` reads a golden set labeled by the expert in Label Studio: per task, the
one annotation, or the one marked ``ground_truth``.

Reading streams the top-level array element by element, so a 100,000-task export is
never held in memory as one parsed document. Every problem raises one
:class:`~adapters.formats.FormatError` naming the file, the place
(``[task 12].annotations[0].result[3].value.x``; ``12`` is the task's position in
the file, from 0) and what is wrong.
"""

from __future__ import annotations

import codecs
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any, Literal, TypeVar
from xml.sax.saxutils import quoteattr

import numpy as np
import numpy.typing as npt
from pycocotools import mask as coco_mask
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError

from adapters.base import (
    Box,
    LabelValue,
    Mask,
    Ontology,
    Span,
    TaskType,
    VendorAnnotation,
)
from adapters.formats._errors import FormatError
from adapters.formats.jsonl import GoldRecord

__all__ = [
    "GoldRecord",
    "LabelStudioTask",
    "iter_gold",
    "read_gold",
    "iter_tasks",
    "read_tasks",
    "iter_annotations",
    "write_tasks",
    "dump_tasks",
    "import_payload",
    "results_to_label",
    "label_to_results",
    "annotation_from_json",
    "labeling_config",
    "data_key_for",
    "decode_brush_rle",
    "encode_brush_rle",
]

Source = str | os.PathLike[str] | IO[bytes]
_M = TypeVar("_M", bound=BaseModel)

# Control (from_name) and object tag names used in configs this module generates.
FROM_NAME = "label"
# The brush control of segmentation configs (next to the polygon control FROM_NAME).
BRUSH_NAME = "brush"
_CHUNK = 1 << 16


class LabelStudioTask(BaseModel):
    """One Label Studio task as Bakeoff sees it.

    Parameters
    ----------
    item_id
        Bakeoff's item id (``meta[id_field]``, ``data[id_field]``, else the task id).
    data
        The task data as in the file.
    annotations
        One entry per non-cancelled annotation.
    predictions
        Model predictions attached to the task.
    ls_id
        Label Studio's own task id, when the file has one.
    metadata
        The task's ``meta`` without the item id (free fields, e.g. for slices).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    data: dict[str, Any]
    annotations: tuple[VendorAnnotation, ...] = ()
    predictions: tuple[VendorAnnotation, ...] = ()
    ls_id: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- raw shapes


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class _RawTask(_Lenient):
    id: int | None = None
    data: dict[str, Any]
    meta: dict[str, Any] | None = None
    annotations: list[Any] = Field(default_factory=list)
    predictions: list[Any] = Field(default_factory=list)


class _RawAnnotation(_Lenient):
    id: int | str | None = None
    result: list[Any] = Field(default_factory=list)
    completed_by: int | str | dict[str, Any] | None = None
    was_cancelled: bool = False
    ground_truth: bool = False
    lead_time: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class _RawPrediction(_Lenient):
    id: int | str | None = None
    result: list[Any] = Field(default_factory=list)
    model_version: str | None = None
    score: FiniteFloat | None = None
    created_at: datetime | None = None


class _RawRegion(_Lenient):
    type: str
    value: dict[str, Any] | None = None
    original_width: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    original_height: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    score: FiniteFloat | None = None


_Label = Annotated[str, Field(min_length=1)]
_Percent = Annotated[float, Field(allow_inf_nan=False)]


class _ChoicesValue(_Lenient):
    choices: list[_Label]


class _TaxonomyValue(_Lenient):
    taxonomy: list[Annotated[list[_Label], Field(min_length=1)]]


class _RectValue(_Lenient):
    x: _Percent
    y: _Percent
    width: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    height: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    rotation: _Percent = 0.0
    rectanglelabels: Annotated[list[_Label], Field(min_length=1)]


class _PolygonValue(_Lenient):
    points: Annotated[list[tuple[_Percent, _Percent]], Field(min_length=3)]
    polygonlabels: Annotated[list[_Label], Field(min_length=1)]


class _BrushValue(_Lenient):
    format: Literal["rle"]
    rle: Annotated[list[Annotated[int, Field(ge=0, le=255)]], Field(min_length=6)]
    brushlabels: Annotated[list[_Label], Field(min_length=1)]


class _SpanValue(_Lenient):
    start: Annotated[int, Field(ge=0)]
    end: Annotated[int, Field(ge=0)]
    labels: Annotated[list[_Label], Field(min_length=1)]
    text: str | None = None


_REGION_TYPES: dict[TaskType, frozenset[str]] = {
    "classification": frozenset({"choices", "taxonomy"}),
    "multilabel": frozenset({"choices", "taxonomy"}),
    "detection": frozenset({"rectanglelabels"}),
    "segmentation": frozenset({"polygonlabels", "brushlabels"}),
    "spans": frozenset({"labels"}),
}
_SKIPPED_REGION_TYPES = frozenset({"relation"})


def _loc(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _validate(model: type[_M], obj: Any, *, source: str, where: str) -> _M:
    """``model.model_validate(obj)``; the first error becomes a one-line FormatError."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FormatError(source, _loc(where, err["loc"]), err["msg"]) from exc


# --------------------------------------------------------------------------- brush RLE


class _BitReader:
    def __init__(self, data: Sequence[int]) -> None:
        self._bits = "".join(f"{b:08b}" for b in data)
        self._pos = 0

    def read(self, n: int) -> int:
        if self._pos + n > len(self._bits):
            raise ValueError("brush RLE ends early")
        out = int(self._bits[self._pos : self._pos + n], 2)
        self._pos += n
        return out


def decode_brush_rle(rle: Sequence[int]) -> npt.NDArray[np.uint8]:
    """Decode Label Studio's brush RLE into its flat value array.

    The stream is big-endian bits: 32 bits value count, 5 bits word size - 1, four
    4-bit run-length field sizes - 1; then blocks of (1 bit repeat flag, 2 bits field
    size index, count - 1, then one repeated word or ``count`` literal words).

    Parameters
    ----------
    rle
        The ``value.rle`` byte list of a ``brushlabels`` region.

    Returns
    -------
    numpy.ndarray
        ``(n,)`` uint8 values; for an image these are RGBA pixels, ``(h, w, 4)``.

    Raises
    ------
    ValueError
        If the stream is truncated or malformed.
    """
    bits = _BitReader(rle)
    num = bits.read(32)
    word = bits.read(5) + 1
    sizes = [bits.read(4) + 1 for _ in range(4)]
    out = np.zeros(num, dtype=np.uint8)
    i = 0
    while i < num:
        repeat = bits.read(1)
        count = bits.read(sizes[bits.read(2)]) + 1
        if i + count > num:
            raise ValueError("brush RLE run passes the end of the image")
        if repeat:
            out[i : i + count] = bits.read(word)
        else:
            for k in range(count):
                out[i + k] = bits.read(word)
        i += count
    return out


_RLE_FIELD_SIZES = (3, 4, 8, 16)


def encode_brush_rle(values: npt.NDArray[np.uint8]) -> list[int]:
    """Encode a flat uint8 array (RGBA pixels) as Label Studio brush RLE.

    The inverse of :func:`decode_brush_rle`, with 8-bit words and run-length field
    sizes 3, 4, 8 and 16 bits.

    Parameters
    ----------
    values
        ``(n,)`` uint8 values.

    Returns
    -------
    list[int]
        The ``value.rle`` byte list.
    """
    flat = np.asarray(values, dtype=np.uint8).ravel()
    parts = [f"{flat.size:032b}", f"{8 - 1:05b}", "".join(f"{s - 1:04b}" for s in _RLE_FIELD_SIZES)]
    if flat.size:
        change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
        starts = np.concatenate(([0], change))
        ends = np.concatenate((change, [flat.size]))
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            value = int(flat[start])
            remaining = end - start
            while remaining:
                count = min(remaining, 1 << 16)
                idx = next(k for k, s in enumerate(_RLE_FIELD_SIZES) if count - 1 < (1 << s))
                size = _RLE_FIELD_SIZES[idx]
                parts.append(f"{1 if count > 1 else 0}{idx:02b}{count - 1:0{size}b}{value:08b}")
                remaining -= count
    bits = "".join(parts)
    bits += "0" * (-len(bits) % 8)
    return [int(bits[k : k + 8], 2) for k in range(0, len(bits), 8)]


# --------------------------------------------------------------------------- results → label


def _size(region: _RawRegion, *, source: str, where: str) -> tuple[float, float]:
    if region.original_width is None or region.original_height is None:
        raise FormatError(
            source,
            where,
            f"{region.type} region needs original_width and original_height (pixels) "
            "to convert percent coordinates",
        )
    return region.original_width, region.original_height


def _rect_to_bbox(
    v: _RectValue, width: float, height: float, *, source: str, where: str
) -> tuple[float, float, float, float]:
    x, y = v.x / 100.0 * width, v.y / 100.0 * height
    w, h = v.width / 100.0 * width, v.height / 100.0 * height
    if v.rotation % 360:
        # Label Studio rotates the box about its top-left corner; keep the envelope.
        a = math.radians(v.rotation)
        cos, sin = math.cos(a), math.sin(a)
        xs = [x + dx * cos - dy * sin for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
        ys = [y + dx * sin + dy * cos for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
        x, y, w, h = min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)
    tol_x, tol_y = 1e-6 * width, 1e-6 * height
    if x < -tol_x or y < -tol_y or x + w > width + tol_x or y + h > height + tol_y:
        raise FormatError(
            source,
            f"{where}.value",
            f"box [{x:g}, {y:g}, {w:g}, {h:g}] (pixels) lies outside the "
            f"{width:g}x{height:g} image",
        )
    return (x, y, w, h)


def _brush_to_rle(
    v: _BrushValue, width: float, height: float, *, source: str, where: str
) -> dict[str, Any]:
    w, h = int(round(width)), int(round(height))
    try:
        flat = decode_brush_rle(v.rle)
    except ValueError as exc:
        raise FormatError(source, f"{where}.value.rle", str(exc)) from exc
    if flat.size != w * h * 4:
        raise FormatError(
            source,
            f"{where}.value.rle",
            f"brush RLE holds {flat.size} values, expected {w}x{h}x4 = {w * h * 4} "
            "for the original image size",
        )
    alpha = flat.reshape(h, w, 4)[:, :, 3] > 0
    enc = coco_mask.encode(np.asfortranarray(alpha.astype(np.uint8)))
    counts = enc["counts"]
    return {
        "size": [h, w],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def results_to_label(
    results: Sequence[Any],
    *,
    task_type: TaskType,
    source: str = "<label studio>",
    where: str = "result",
) -> LabelValue:
    """Convert one annotation's ``result`` list into Bakeoff's label value.

    Parameters
    ----------
    results
        The regions (decoded JSON objects).
    task_type
        Which label shape to produce (see the module docstring).
    source, where
        File name and location prefix used in error messages.

    Returns
    -------
    LabelValue
        ``str`` for classification, ``list[str]`` for multilabel, ``list[Box]``,
        ``list[Mask]`` or ``list[Span]`` otherwise.

    Raises
    ------
    FormatError
        A region is malformed, does not fit ``task_type``, or a classification has not
        exactly one choice.
    """
    allowed = _REGION_TYPES[task_type]
    choices: list[str] = []
    boxes: list[Box] = []
    masks: list[Mask] = []
    spans: list[Span] = []
    for k, obj in enumerate(results):
        rw = f"{where}[{k}]"
        region = _validate(_RawRegion, obj, source=source, where=rw)
        rtype = region.type.lower()
        if rtype in _SKIPPED_REGION_TYPES:
            continue
        if rtype not in allowed:
            raise FormatError(
                source,
                f"{rw}.type",
                f"region type {region.type!r} does not fit task type {task_type!r} "
                f"(expected {' or '.join(sorted(allowed))})",
            )
        if region.value is None:
            raise FormatError(source, f"{rw}.value", "missing")
        vw = f"{rw}.value"
        if rtype == "choices":
            choices.extend(_validate(_ChoicesValue, region.value, source=source, where=vw).choices)
        elif rtype == "taxonomy":
            tax = _validate(_TaxonomyValue, region.value, source=source, where=vw)
            choices.extend(path[-1] for path in tax.taxonomy)
        elif rtype == "rectanglelabels":
            rect = _validate(_RectValue, region.value, source=source, where=vw)
            width, height = _size(region, source=source, where=rw)
            bbox = _rect_to_bbox(rect, width, height, source=source, where=rw)
            boxes.extend(
                Box(category=c, bbox=bbox, score=region.score) for c in rect.rectanglelabels
            )
        elif rtype == "polygonlabels":
            poly = _validate(_PolygonValue, region.value, source=source, where=vw)
            width, height = _size(region, source=source, where=rw)
            flat = [c for px, py in poly.points for c in (px / 100 * width, py / 100 * height)]
            masks.extend(
                Mask(category=c, segmentation=[flat], score=region.score)
                for c in poly.polygonlabels
            )
        elif rtype == "brushlabels":
            brush = _validate(_BrushValue, region.value, source=source, where=vw)
            width, height = _size(region, source=source, where=rw)
            rle = _brush_to_rle(brush, width, height, source=source, where=rw)
            masks.extend(
                Mask(category=c, segmentation=rle, score=region.score) for c in brush.brushlabels
            )
        else:  # labels
            sv = _validate(_SpanValue, region.value, source=source, where=vw)
            if sv.end <= sv.start:
                raise FormatError(
                    source, f"{vw}.end", f"span end {sv.end} must be after start {sv.start}"
                )
            spans.extend(Span(start=sv.start, end=sv.end, type=t) for t in sv.labels)
    if task_type == "classification":
        distinct = list(dict.fromkeys(choices))
        if len(distinct) != 1:
            problem = "no choice" if not distinct else f"several choices {distinct}"
            raise FormatError(
                source, where, f"{problem}; a classification answer has exactly one choice"
            )
        return distinct[0]
    if task_type == "multilabel":
        return list(dict.fromkeys(choices))
    if task_type == "detection":
        return boxes
    if task_type == "segmentation":
        return masks
    return spans


def _annotator(completed_by: int | str | dict[str, Any] | None) -> str | None:
    if completed_by is None:
        return None
    if isinstance(completed_by, dict):
        ident = completed_by.get("email") or completed_by.get("id")
        return None if ident is None else str(ident)
    return str(completed_by)


def annotation_from_json(
    obj: Any,
    *,
    item_id: str,
    task_type: TaskType,
    source: str = "<label studio>",
    where: str = "annotation",
) -> VendorAnnotation | None:
    """Parse one Label Studio annotation object; ``None`` if it was cancelled (skipped).

    Parameters
    ----------
    obj
        The decoded annotation (``{"id", "result", "completed_by", "lead_time", ...}``).
    item_id
        Bakeoff's id of the task's item.
    task_type
        Which label shape to produce.
    source, where
        File name and location prefix used in error messages.

    Returns
    -------
    VendorAnnotation or None
    """
    ann = _validate(_RawAnnotation, obj, source=source, where=where)
    if ann.was_cancelled:
        return None
    label = results_to_label(
        ann.result, task_type=task_type, source=source, where=f"{where}.result"
    )
    completed = ann.created_at or ann.updated_at
    if completed is not None and completed.tzinfo is None:
        completed = completed.replace(tzinfo=UTC)
    started = (
        completed - timedelta(seconds=ann.lead_time)
        if completed is not None and ann.lead_time is not None
        else None
    )
    return VendorAnnotation(
        item_id=item_id,
        label=label,
        annotator_id=_annotator(ann.completed_by),
        started_at=started,
        completed_at=completed,
        external_id=None if ann.id is None else str(ann.id),
    )


def _prediction_from_json(
    obj: Any, *, item_id: str, task_type: TaskType, source: str, where: str
) -> VendorAnnotation:
    pred = _validate(_RawPrediction, obj, source=source, where=where)
    label = results_to_label(
        pred.result, task_type=task_type, source=source, where=f"{where}.result"
    )
    return VendorAnnotation(
        item_id=item_id,
        label=label,
        annotator_id=pred.model_version,
        score=pred.score,
        completed_at=pred.created_at,
        external_id=None if pred.id is None else str(pred.id),
    )


# --------------------------------------------------------------------------- streaming reader


def _open(source: Source) -> tuple[IO[bytes], str, bool]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return path.open("rb"), path.name, True
        except OSError as exc:
            raise FormatError(path.name, "", f"cannot open: {exc.strerror}") from exc
    return source, getattr(source, "name", None) or "<upload>", False


class _ArrayReader:
    """Yield the elements of a top-level JSON array (or a single object) one at a time."""

    def __init__(self, stream: IO[bytes], source: str) -> None:
        self._stream = stream
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._bytes_read = 0

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(_CHUNK)
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
                value, end = self._json.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._fill():
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


def _iter_raw(
    source: Source, *, id_field: str, name: str | None
) -> Iterator[tuple[str, str, _RawTask, str]]:
    """Yield ``(file name, location, raw task, item id)``, checking ids are unique."""
    stream, default_name, owned = _open(source)
    src = name or default_name
    seen: set[str] = set()
    try:
        for index, obj in _ArrayReader(stream, src):
            where = f"[task {index}]"
            if not isinstance(obj, dict):
                raise FormatError(
                    src, where, f"a task must be a JSON object, got {type(obj).__name__}"
                )
            raw = _validate(_RawTask, obj, source=src, where=where)
            meta = raw.meta or {}
            id_where = (
                f"{where}.meta.{id_field}" if id_field in meta else f"{where}.data.{id_field}"
            )
            ident = meta.get(id_field, raw.data.get(id_field))
            if ident is None:
                if raw.id is None:
                    raise FormatError(
                        src, where, f"no {id_field!r} in meta or data, and no task id"
                    )
                ident = raw.id
            if not isinstance(ident, str | int) or isinstance(ident, bool):
                raise FormatError(src, id_where, "item id must be a string or an integer")
            item_id = str(ident)
            if item_id in seen:
                raise FormatError(src, id_where, f"duplicate item id {item_id!r}")
            seen.add(item_id)
            yield src, where, raw, item_id
    finally:
        if owned:
            stream.close()


def iter_tasks(
    source: Source,
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    name: str | None = None,
) -> Iterator[LabelStudioTask]:
    """Stream the tasks of a Label Studio JSON export.

    Parameters
    ----------
    source
        A path, or a binary file object (an upload).
    task_type
        How to read each annotation's regions (see the module docstring).
    id_field
        The ``data`` key holding Bakeoff's item id; the Label Studio task ``id`` is
        used where it is absent.
    name
        The file name used in error messages (default: the path's name).

    Yields
    ------
    LabelStudioTask

    Raises
    ------
    FormatError
        Malformed JSON, not UTF-8, a task or region of the wrong shape, or a duplicate
        item id; nothing after the error is yielded.

    Examples
    --------
    >>> import io
    >>> blob = b'[{"data": {"item_id": "a", "text": "ok"}, "annotations": [{"completed_by": 2,'
    >>> blob += b' "result": [{"type": "choices", "value": {"choices": ["pos"]}}]}]}]'
    >>> [t.annotations[0].label for t in iter_tasks(io.BytesIO(blob), task_type="classification")]
    ['pos']
    """
    for src, where, raw, item_id in _iter_raw(source, id_field=id_field, name=name):
        annotations = []
        for k, a in enumerate(raw.annotations):
            ann = annotation_from_json(
                a,
                item_id=item_id,
                task_type=task_type,
                source=src,
                where=f"{where}.annotations[{k}]",
            )
            if ann is not None:
                annotations.append(ann)
        predictions = [
            _prediction_from_json(
                p,
                item_id=item_id,
                task_type=task_type,
                source=src,
                where=f"{where}.predictions[{k}]",
            )
            for k, p in enumerate(raw.predictions)
        ]
        yield LabelStudioTask(
            item_id=item_id,
            data=raw.data,
            annotations=tuple(annotations),
            predictions=tuple(predictions),
            ls_id=raw.id,
            metadata={k: v for k, v in (raw.meta or {}).items() if k != id_field},
        )


def read_tasks(
    source: Source, *, task_type: TaskType, id_field: str = "item_id", name: str | None = None
) -> list[LabelStudioTask]:
    """Read a whole Label Studio export; see :func:`iter_tasks`."""
    return list(iter_tasks(source, task_type=task_type, id_field=id_field, name=name))


def iter_gold(
    source: Source,
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    name: str | None = None,
) -> Iterator[GoldRecord]:
    """Stream a golden set labeled by the expert in Label Studio.

    Each task must carry the expert's answer: its one non-cancelled annotation, or, when
    several annotators worked on it, the one marked ``ground_truth``. ``meta`` fields
    other than the item id become the record's ``metadata`` (used for slices).

    Parameters
    ----------
    source, task_type, id_field, name
        As for :func:`iter_tasks`.

    Yields
    ------
    GoldRecord

    Raises
    ------
    FormatError
        As :func:`iter_tasks`, and for a task without an expert answer or with several
        candidates for it.
    """
    for src, where, raw, item_id in _iter_raw(source, id_field=id_field, name=name):
        candidates: list[tuple[int, Any]] = []
        truth: list[tuple[int, Any]] = []
        for k, obj in enumerate(raw.annotations):
            ann = _validate(_RawAnnotation, obj, source=src, where=f"{where}.annotations[{k}]")
            if ann.was_cancelled:
                continue
            candidates.append((k, obj))
            if ann.ground_truth:
                truth.append((k, obj))
        chosen = truth or candidates
        if len(chosen) != 1:
            problem = (
                "no annotation; a golden item needs the expert's answer"
                if not chosen
                else f"{len(chosen)} annotations and none (or several) marked ground_truth; "
                "mark the expert's answer as ground truth"
            )
            raise FormatError(src, f"{where}.annotations", problem)
        k, obj = chosen[0]
        label = results_to_label(
            _validate(_RawAnnotation, obj, source=src, where=f"{where}.annotations[{k}]").result,
            task_type=task_type,
            source=src,
            where=f"{where}.annotations[{k}].result",
        )
        metadata = {key: v for key, v in (raw.meta or {}).items() if key != id_field}
        yield GoldRecord(item_id=item_id, label=label, data=raw.data, metadata=metadata)


def read_gold(
    source: Source, *, task_type: TaskType, id_field: str = "item_id", name: str | None = None
) -> list[GoldRecord]:
    """Read a whole golden set from a Label Studio export; see :func:`iter_gold`."""
    return list(iter_gold(source, task_type=task_type, id_field=id_field, name=name))


def iter_annotations(
    source: Source,
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    name: str | None = None,
    include_predictions: bool = False,
) -> Iterator[VendorAnnotation]:
    """Stream every annotation of an export (vendor labels), optionally with predictions."""
    for task in iter_tasks(source, task_type=task_type, id_field=id_field, name=name):
        yield from task.annotations
        if include_predictions:
            yield from task.predictions


# --------------------------------------------------------------------------- label → results


def _image_size(
    item_id: str, data: Mapping[str, Any], sizes: Mapping[str, tuple[int, int]] | None
) -> tuple[float, float]:
    if sizes is not None and item_id in sizes:
        sw, sh = sizes[item_id]
        return float(sw), float(sh)
    w, h = data.get("width"), data.get("height")
    if isinstance(w, int | float) and isinstance(h, int | float) and w > 0 and h > 0:
        return float(w), float(h)
    raise ValueError(
        f"item {item_id!r}: the image size is needed to write percent coordinates; "
        "pass image_sizes={item_id: (width, height)} or put width/height in its data"
    )


def _pct(v: float, total: float) -> float:
    return v / total * 100.0


def label_to_results(
    label: LabelValue,
    *,
    task_type: TaskType,
    to_name: str,
    image_size: tuple[float, float] | None = None,
    text: str | None = None,
    from_name: str = FROM_NAME,
) -> list[dict[str, Any]]:
    """Convert a Bakeoff label into a Label Studio ``result`` list.

    Parameters
    ----------
    label
        The label value in the shape for ``task_type``.
    task_type
        The project's task type.
    to_name
        Name of the object tag (``"image"`` or ``"text"``).
    image_size
        ``(width, height)`` in pixels; required for boxes and masks.
    text
        The item's text; when given, span regions carry their ``text``.
    from_name
        Name of the control tag.

    Returns
    -------
    list[dict]
        JSON-ready regions.

    Raises
    ------
    ValueError
        The label does not fit the task type or the image size is missing.
    """
    base = {"from_name": from_name, "to_name": to_name}
    if task_type == "classification":
        if not isinstance(label, str):
            raise ValueError("a classification label is one class name")
        return [{**base, "type": "choices", "value": {"choices": [label]}}]
    if task_type == "multilabel":
        if not isinstance(label, list) or not all(isinstance(c, str) for c in label):
            raise ValueError("a multilabel label is a list of class names")
        if not label:
            return []
        return [{**base, "type": "choices", "value": {"choices": list(label)}}]
    if not isinstance(label, list):
        raise ValueError(f"a {task_type} label is a list")
    out: list[dict[str, Any]] = []
    if task_type == "spans":
        for span in label:
            if not isinstance(span, Span):
                raise ValueError("a spans label is a list of Span")
            value: dict[str, Any] = {"start": span.start, "end": span.end, "labels": [span.type]}
            if text is not None:
                value["text"] = text[span.start : span.end]
            out.append({**base, "type": "labels", "value": value})
        return out
    if image_size is None:
        raise ValueError(f"{task_type} labels need the image size")
    width, height = image_size
    size = {"original_width": int(width), "original_height": int(height), "image_rotation": 0}
    for obj in label:
        if task_type == "detection":
            if not isinstance(obj, Box):
                raise ValueError("a detection label is a list of Box")
            x, y, w, h = obj.bbox
            region: dict[str, Any] = {
                **base,
                **size,
                "type": "rectanglelabels",
                "value": {
                    "x": _pct(x, width),
                    "y": _pct(y, height),
                    "width": _pct(w, width),
                    "height": _pct(h, height),
                    "rotation": 0,
                    "rectanglelabels": [obj.category],
                },
            }
            if obj.score is not None:
                region["score"] = obj.score
            out.append(region)
            continue
        if not isinstance(obj, Mask):
            raise ValueError("a segmentation label is a list of Mask")
        seg = obj.segmentation
        if isinstance(seg, list):
            for ring in seg:
                points = [
                    [_pct(ring[k], width), _pct(ring[k + 1], height)]
                    for k in range(0, len(ring) - 1, 2)
                ]
                region = {
                    **base,
                    **size,
                    "type": "polygonlabels",
                    "value": {"points": points, "closed": True, "polygonlabels": [obj.category]},
                }
                if obj.score is not None:
                    region["score"] = obj.score
                out.append(region)
            continue
        rle = dict(seg)
        if isinstance(rle.get("counts"), list):
            rle = coco_mask.frPyObjects(rle, *rle["size"])
        elif isinstance(rle.get("counts"), str):
            rle["counts"] = rle["counts"].encode("ascii")
        binary = coco_mask.decode(rle).astype(np.uint8)
        h_px, w_px = binary.shape
        if (w_px, h_px) != (int(width), int(height)):
            raise ValueError(
                f"mask size {w_px}x{h_px} differs from the image size {width}x{height}"
            )
        rgba = np.repeat(binary * 255, 4).astype(np.uint8)
        region = {
            **base,
            **size,
            "from_name": BRUSH_NAME if from_name == FROM_NAME else from_name,
            "type": "brushlabels",
            "value": {
                "format": "rle",
                "rle": encode_brush_rle(rgba),
                "brushlabels": [obj.category],
            },
        }
        if obj.score is not None:
            region["score"] = obj.score
        out.append(region)
    return out


def data_key_for(task_type: TaskType, sample: Mapping[str, Any]) -> str:
    """The ``data`` key the labeling config shows: ``image`` or ``text`` (or the first string)."""
    preferred = ("text",) if task_type == "spans" else ("image", "text")
    for key in preferred:
        if key in sample:
            return key
    if task_type in ("detection", "segmentation"):
        return "image"
    for key, value in sample.items():
        if isinstance(value, str) and key != "item_id":
            return key
    return "text" if task_type == "spans" else "image"


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _completed_by(annotator_id: str | None) -> int | dict[str, str] | None:
    if annotator_id is None:
        return None
    if annotator_id.isdigit():
        return int(annotator_id)
    return {"email": annotator_id}


def _annotation_json(
    ann: VendorAnnotation,
    *,
    task_type: TaskType,
    to_name: str,
    image_size: tuple[float, float] | None,
    text: str | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "result": label_to_results(
            ann.label, task_type=task_type, to_name=to_name, image_size=image_size, text=text
        ),
        "was_cancelled": False,
    }
    if ann.external_id is not None and ann.external_id.isdigit():
        out["id"] = int(ann.external_id)
    completed_by = _completed_by(ann.annotator_id)
    if completed_by is not None:
        out["completed_by"] = completed_by
    if ann.completed_at is not None:
        out["created_at"] = out["updated_at"] = _iso(ann.completed_at)
        if ann.started_at is not None:
            out["lead_time"] = (ann.completed_at - ann.started_at).total_seconds()
    return out


def import_payload(
    item_id: str, data: Mapping[str, Any], *, id_field: str = "item_id"
) -> dict[str, Any]:
    """One task to import into Label Studio: the item's data as is, its id in ``meta``.

    Never a label. Label Studio keeps ``meta`` and returns it in exports, and annotators
    do not see it.

    Examples
    --------
    >>> import_payload("i1", {"image": "a.png"})
    {'data': {'image': 'a.png'}, 'meta': {'item_id': 'i1'}}
    """
    return {"data": dict(data), "meta": {id_field: item_id}}


def dump_tasks(
    tasks: Iterable[LabelStudioTask],
    *,
    task_type: TaskType,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    id_field: str = "item_id",
) -> Iterator[dict[str, Any]]:
    """Yield each task as a JSON-ready Label Studio task object (see :func:`write_tasks`)."""
    for task in tasks:
        out = import_payload(task.item_id, task.data, id_field=id_field)
        out["meta"] = {**task.metadata, **out["meta"]}
        if task.ls_id is not None:
            out["id"] = task.ls_id
        to_name = data_key_for(task_type, task.data)
        needs_size = task_type in ("detection", "segmentation")
        size = None
        if needs_size and (task.annotations or task.predictions):
            size = _image_size(task.item_id, task.data, image_sizes)
        text = task.data.get(to_name) if task_type == "spans" else None
        text = text if isinstance(text, str) else None
        if task.annotations:
            out["annotations"] = [
                _annotation_json(
                    a, task_type=task_type, to_name=to_name, image_size=size, text=text
                )
                for a in task.annotations
            ]
        if task.predictions:
            preds = []
            for p in task.predictions:
                pred: dict[str, Any] = {
                    "result": label_to_results(
                        p.label, task_type=task_type, to_name=to_name, image_size=size, text=text
                    )
                }
                if p.annotator_id is not None:
                    pred["model_version"] = p.annotator_id
                if p.score is not None:
                    pred["score"] = p.score
                preds.append(pred)
            out["predictions"] = preds
        yield out


def write_tasks(
    tasks: Iterable[LabelStudioTask],
    out: str | os.PathLike[str] | IO[str],
    *,
    task_type: TaskType,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    id_field: str = "item_id",
) -> int:
    """Write tasks as a Label Studio JSON file that Label Studio can import.

    Tasks are written one at a time (streaming). Boxes and masks need each image's
    pixel size: from ``image_sizes[item_id]`` or the task data's ``width``/``height``.

    Parameters
    ----------
    tasks
        What to write; tasks without annotations are plain import tasks.
    out
        A path or a text file object.
    task_type
        The project's task type.
    image_sizes
        ``{item_id: (width, height)}`` in pixels.
    id_field
        The ``data`` key that receives the item id.

    Returns
    -------
    int
        The number of tasks written.
    """
    if isinstance(out, str | os.PathLike):
        with Path(out).open("w", encoding="utf-8") as fh:
            return write_tasks(
                tasks, fh, task_type=task_type, image_sizes=image_sizes, id_field=id_field
            )
    count = 0
    out.write("[")
    for obj in dump_tasks(tasks, task_type=task_type, image_sizes=image_sizes, id_field=id_field):
        out.write(",\n" if count else "\n")
        out.write(json.dumps(obj, ensure_ascii=False, allow_nan=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


# --------------------------------------------------------------------------- labeling config


def labeling_config(
    task_type: TaskType,
    ontology: Ontology,
    *,
    data_key: str | None = None,
    header: str | None = None,
) -> str:
    """Generate a Label Studio labeling config (XML) for a task type and ontology.

    ============== =======================================================
    classification ``<Choices choice="single" required="true">``
    multilabel     ``<Choices choice="multiple">``
    detection      ``<RectangleLabels>`` on an ``<Image>``
    segmentation   ``<PolygonLabels>`` and ``<BrushLabels>`` on an ``<Image>``
    spans          ``<Labels>`` on a ``<Text>``
    ============== =======================================================

    Parameters
    ----------
    task_type
        The project's task type.
    ontology
        Its classes (names become ``<Choice>``/``<Label>`` values; descriptions hints).
    data_key
        The task ``data`` key to show (default ``image``, or ``text`` for spans).
    header
        Optional line shown above the controls.

    Returns
    -------
    str
        The XML config.

    Examples
    --------
    >>> from adapters.base import Ontology, OntologyClass
    >>> onto = Ontology(classes=(OntologyClass(name="cat"), OntologyClass(name="dog")))
    >>> print(labeling_config("detection", onto))  # doctest: +NORMALIZE_WHITESPACE
    <View>
      <Image name="image" value="$image"/>
      <RectangleLabels name="label" toName="image">
        <Label value="cat"/>
        <Label value="dog"/>
      </RectangleLabels>
    </View>
    """
    if not ontology.classes:
        raise ValueError("the ontology has no classes")
    key = data_key or ("text" if task_type == "spans" else "image")
    if not key.isidentifier():
        raise ValueError(f"data key {key!r} must be an identifier to be used as ${key}")
    image = task_type in ("detection", "segmentation") or (
        task_type in ("classification", "multilabel") and key != "text"
    )
    obj_tag = "Image" if image else "Text"
    name = "image" if image else "text"
    lines = ["<View>"]
    if header:
        lines.append(f"  <Header value={quoteattr(header)}/>")
    lines.append(f'  <{obj_tag} name="{name}" value="${key}"/>')

    def items(tag: str) -> list[str]:
        out = []
        for cls in ontology.classes:
            hint = f" hint={quoteattr(cls.description)}" if cls.description else ""
            out.append(f"    <{tag} value={quoteattr(cls.name)}{hint}/>")
        return out

    def control(tag: str, child: str, attrs: str = "", ctl_name: str = FROM_NAME) -> None:
        lines.append(f'  <{tag} name="{ctl_name}" toName="{name}"{attrs}>')
        lines.extend(items(child))
        lines.append(f"  </{tag}>")

    if task_type == "classification":
        control("Choices", "Choice", ' choice="single" required="true"')
    elif task_type == "multilabel":
        control("Choices", "Choice", ' choice="multiple"')
    elif task_type == "detection":
        control("RectangleLabels", "Label")
    elif task_type == "segmentation":
        control("PolygonLabels", "Label")
        control("BrushLabels", "Label", ctl_name=BRUSH_NAME)
    else:
        control("Labels", "Label")
    lines.append("</View>")
    return "\n".join(lines)
