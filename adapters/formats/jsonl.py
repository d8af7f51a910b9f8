"""JSON Lines label files: one JSON object per line, streamed both ways.

Two kinds of file, one object per line:

*Vendor labels* (one :class:`~adapters.base.VendorAnnotation` per line)::

    {"item_id": "img-1", "label": "cat", "annotator_id": "w7", "score": 0.9,
     "started_at": "2024-05-01T10:00:00Z", "completed_at": "2024-05-01T10:00:04Z"}

*Gold items* (one :class:`GoldRecord` per line; ``data`` and ``metadata`` optional)::

    {"item_id": "img-1", "data": {"image": "img-1.png"}, "label": "cat",
     "metadata": {"lighting": "dim"}}

``label`` has the shape of :data:`~adapters.base.LabelValue` for the task type:

============== ===========================================================
classification ``"cat"``
multilabel     ``["cat", "indoor"]``
detection      ``[{"category": "cat", "bbox": [x, y, w, h], "score": 0.8}]`` (pixels)
segmentation   ``[{"category": "cat", "segmentation": [[x1, y1, ...]]}]`` or COCO RLE
spans          ``[{"start": 0, "end": 5, "type": "PER"}]``
preference     ``"A"``, ``"B"`` or ``"tie"`` (canonical frame; see :mod:`metrics.preference`)
rating         ``{"helpfulness": 4, "correctness": 5}`` (criterion -> integer rating)
transcription  ``"the cat sat on the mat"`` (the transcript; ``""`` for silence)
============== ===========================================================

A preference gold item keeps the pair in ``data`` (``prompt``, ``response_a``,
``response_b``) and, for the biases and rankings, ``metadata`` may carry ``swapped``
(B shown first), ``length_a``/``length_b`` and ``model_a``/``model_b``.

A rating gold item keeps what is rated in ``data`` (``prompt``, ``response``) and says the
ordinal scale in ``metadata`` (``scale_min``, ``scale_max``: integers, e.g. 1 and 5, the
same for every criterion); a rating outside the scale is refused by the scorer. A
transcription gold item keeps the media in ``data`` (``audio`` or ``image``); a
``metadata.speaker`` (or any other metadata field) gives per-slice WER. See
``docs/language-tasks.md``.

Blank lines are skipped. Every problem raises one :class:`~adapters.formats.FormatError`
naming the file, the line (from 1) and the field: ``labels.jsonl: line 7: label[0].bbox:
width must be >= 0``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    TypeAdapter,
    ValidationError,
    create_model,
)

from adapters.base import Box, Keypoints, LabelValue, Mask, Span, TaskType, VendorAnnotation
from adapters.formats import _json_safe
from adapters.formats._errors import FormatError

__all__ = [
    "GoldRecord",
    "iter_annotations",
    "read_annotations",
    "iter_gold",
    "read_gold",
    "write_annotations",
    "write_gold",
    "parse_label",
]

Source = str | os.PathLike[str] | IO[bytes]
_M = TypeVar("_M", bound=BaseModel)


class GoldRecord(BaseModel):
    """One golden item with the expert's label.

    Parameters
    ----------
    item_id
        The item's id, unique in the file.
    label
        The expert's answer, in the shape for the task type.
    data
        The item as a vendor sees it (image reference, text, ...).
    metadata
        Free fields used for slices, e.g. ``{"lighting": "dim"}``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: Annotated[str, Field(min_length=1)]
    label: LabelValue
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


# --------------------------------------------------------------------------- raw line shapes

_NonEmpty = Annotated[str, Field(min_length=1)]
_NonNeg = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _BoxIn(_Strict):
    category: _NonEmpty
    bbox: tuple[FiniteFloat, FiniteFloat, _NonNeg, _NonNeg]
    score: FiniteFloat | None = None
    # what a JSONL export of COCO gold carries: crowd regions and COCO's own areas
    iscrowd: bool | None = None
    area: _NonNeg | None = None


class _MaskIn(_Strict):
    category: _NonEmpty
    segmentation: dict[str, Any] | list[Annotated[list[FiniteFloat], Field(min_length=6)]]
    score: FiniteFloat | None = None
    iscrowd: bool | None = None
    area: _NonNeg | None = None


class _SpanIn(_Strict):
    start: Annotated[int, Field(ge=0, strict=True)]
    end: Annotated[int, Field(ge=0, strict=True)]
    type: _NonEmpty


class _KeypointsIn(_Strict):
    category: _NonEmpty
    points: list[tuple[FiniteFloat, FiniteFloat, Literal[0, 1, 2]]]
    score: FiniteFloat | None = None
    bbox: tuple[FiniteFloat, FiniteFloat, _NonNeg, _NonNeg] | None = None
    area: _NonNeg | None = None
    iscrowd: bool = False
    num_keypoints: Annotated[int, Field(ge=0)] | None = None


_LABEL_TYPES: dict[TaskType, Any] = {
    "classification": Annotated[str, Field(min_length=1, strict=True)],
    "multilabel": list[Annotated[str, Field(min_length=1, strict=True)]],
    "detection": list[_BoxIn],
    "segmentation": list[_MaskIn],
    "spans": list[_SpanIn],
    "keypoints": list[_KeypointsIn],
    "preference": Literal["A", "B", "tie"],
    "rating": Annotated[dict[_NonEmpty, Annotated[int, Field(strict=True)]], Field(min_length=1)],
    "transcription": Annotated[str, Field(strict=True)],
}
_LABEL_ADAPTERS: dict[TaskType, TypeAdapter[Any]] = {
    t: TypeAdapter(tp) for t, tp in _LABEL_TYPES.items()
}


class _AnnotationLine(_Strict):
    item_id: Annotated[str, Field(min_length=1)]
    label: Any
    annotator_id: str | None = None
    score: FiniteFloat | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cost: _NonNeg | None = None
    instructions_version: Annotated[int, Field(ge=1)] | None = None
    external_id: str | None = None


class _GoldLine(_Strict):
    item_id: Annotated[str, Field(min_length=1)]
    label: Any
    data: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)


# One line model per task type: the whole line, label included, is checked in one pass.
_ANNOTATION_LINES: dict[TaskType, type[_AnnotationLine]] = {
    t: create_model(f"_AnnotationLine_{t}", __base__=_AnnotationLine, label=(tp, ...))
    for t, tp in _LABEL_TYPES.items()
}
_GOLD_LINES: dict[TaskType, type[_GoldLine]] = {
    t: create_model(f"_GoldLine_{t}", __base__=_GoldLine, label=(tp, ...))
    for t, tp in _LABEL_TYPES.items()
}


def _where(prefix: str, loc: Iterable[int | str]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _problem(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    return str(err["msg"])


def _expected(task_type: TaskType) -> str:
    what = {
        "classification": "a class name (string)",
        "multilabel": "a list of class names",
        "rating": 'an object of integer ratings per criterion, e.g. {"helpfulness": 4}',
        "transcription": "the transcript (a string)",
    }.get(task_type, f"a list of {task_type} objects")
    return f"expected {what} for {task_type}"


def _validate(model: type[_M], obj: Any, *, source: str, line: str, task_type: TaskType) -> _M:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        # An unknown field usually explains a missing one (a typo): report it first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        err = errors[0]
        where = f"{line}: {_where('', err['loc'])}"
        if tuple(err["loc"]) == ("label",) and err["type"] in (
            "string_type",
            "list_type",
            "dict_type",
        ):
            raise FormatError(source, where, _expected(task_type)) from exc
        raise FormatError(source, where, _problem(err)) from exc


def _to_label(parsed: Any, *, task_type: TaskType, source: str, where: str) -> LabelValue:
    """DTOs from an already validated label."""
    if task_type in ("classification", "multilabel", "preference", "rating", "transcription"):
        return parsed  # type: ignore[no-any-return]
    if task_type == "detection":
        return [Box.model_validate(b.model_dump()) for b in parsed]
    if task_type == "segmentation":
        return [Mask.model_validate(m.model_dump()) for m in parsed]
    if task_type == "keypoints":
        return [Keypoints.model_validate(k.model_dump()) for k in parsed]
    spans = []
    for k, sp in enumerate(parsed):
        if sp.end <= sp.start:
            raise FormatError(
                source, f"{where}[{k}].end", f"span end {sp.end} must be after start {sp.start}"
            )
        spans.append(Span(start=sp.start, end=sp.end, type=sp.type))
    return spans


def parse_label(
    value: Any, *, task_type: TaskType, source: str = "<label>", where: str = "label"
) -> LabelValue:
    """Validate a decoded JSON label for ``task_type`` and build the DTO value.

    Parameters
    ----------
    value
        The decoded JSON value.
    task_type
        The project's task type.
    source, where
        File name and location used in error messages.

    Returns
    -------
    LabelValue

    Raises
    ------
    FormatError
        The value does not have the shape for the task type.

    Examples
    --------
    >>> parse_label([{"category": "cat", "bbox": [1, 2, 3, 4]}], task_type="detection")
    [Box(category='cat', bbox=(1.0, 2.0, 3.0, 4.0), score=None, iscrowd=None, area=None)]
    """
    try:
        parsed = _LABEL_ADAPTERS[task_type].validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = _where(where, err["loc"])
        if err["type"] in ("string_type", "list_type", "dict_type") and not err["loc"]:
            raise FormatError(source, loc, _expected(task_type)) from exc
        raise FormatError(source, loc, _problem(err)) from exc
    return _to_label(parsed, task_type=task_type, source=source, where=where)


# --------------------------------------------------------------------------- reading


def _lines(source: Source, name: str | None) -> Iterator[tuple[str, int, Any]]:
    """Yield ``(file name, line number, decoded object)`` for every non-blank line."""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        src = name or path.name
        try:
            stream: IO[bytes] = path.open("rb")
        except OSError as exc:
            raise FormatError(src, "", f"cannot open: {exc.strerror}") from exc
        owned = True
    else:
        stream = source
        src = name or getattr(source, "name", None) or "<upload>"
        owned = False
    try:
        for number, raw in enumerate(stream, start=1):
            if isinstance(raw, str):
                raise TypeError("pass a binary stream (open(..., 'rb'))")
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise FormatError(
                    src, f"line {number}", "not UTF-8 text; save the file as UTF-8"
                ) from exc
            if not text.strip():
                continue
            try:
                obj = _json_safe.decode(text)
            except json.JSONDecodeError as exc:
                raise FormatError(
                    src, f"line {number}", f"invalid JSON: {exc.msg} (column {exc.colno})"
                ) from exc
            except _json_safe.JsonLimitError as exc:
                where = f"line {number}: {exc.path}" if exc.path else f"line {number}"
                raise FormatError(src, where, exc.problem) from exc
            if not isinstance(obj, dict):
                raise FormatError(
                    src, f"line {number}", f"expected a JSON object, got {type(obj).__name__}"
                )
            yield src, number, obj
    finally:
        if owned:
            stream.close()


def _utc(ts: datetime | None) -> datetime | None:
    return ts.replace(tzinfo=UTC) if ts is not None and ts.tzinfo is None else ts


def iter_annotations(
    source: Source, *, task_type: TaskType, name: str | None = None
) -> Iterator[VendorAnnotation]:
    """Stream vendor labels from a JSON Lines file.

    Parameters
    ----------
    source
        A path, or a binary file object (an upload).
    task_type
        The shape every ``label`` must have.
    name
        File name used in error messages (default: the path's name).

    Yields
    ------
    VendorAnnotation
        Naive timestamps are taken as UTC.

    Raises
    ------
    FormatError
        A malformed line, an unknown field, a label of the wrong shape, a start after
        the completion, or a repeated ``(item_id, external_id)``.

    Examples
    --------
    >>> import io
    >>> f = io.BytesIO(b'{"item_id": "a", "label": ["x", "y"], "annotator_id": "w1"}\\n')
    >>> [a.label for a in iter_annotations(f, task_type="multilabel")]
    [['x', 'y']]
    """
    seen: set[tuple[str, str]] = set()
    for src, number, obj in _lines(source, name):
        line = f"line {number}"
        row = _validate(
            _ANNOTATION_LINES[task_type], obj, source=src, line=line, task_type=task_type
        )
        label = _to_label(row.label, task_type=task_type, source=src, where=f"{line}: label")
        started, completed = _utc(row.started_at), _utc(row.completed_at)
        if started is not None and completed is not None and started > completed:
            raise FormatError(src, f"{line}: started_at", "is after completed_at")
        if row.external_id is not None:
            key = (row.item_id, row.external_id)
            if key in seen:
                raise FormatError(
                    src,
                    f"{line}: external_id",
                    f"duplicate answer {row.external_id!r} for item {row.item_id!r}",
                )
            seen.add(key)
        # (pydantic-core validates in Rust: cheaper than model_construct in Python)
        yield VendorAnnotation(
            item_id=row.item_id,
            label=label,
            annotator_id=row.annotator_id,
            score=row.score,
            started_at=started,
            completed_at=completed,
            cost=row.cost,
            instructions_version=row.instructions_version,
            external_id=row.external_id,
        )


def read_annotations(
    source: Source, *, task_type: TaskType, name: str | None = None
) -> list[VendorAnnotation]:
    """Read every vendor label of a JSON Lines file; see :func:`iter_annotations`."""
    return list(iter_annotations(source, task_type=task_type, name=name))


def iter_gold(
    source: Source, *, task_type: TaskType, name: str | None = None
) -> Iterator[GoldRecord]:
    """Stream golden items from a JSON Lines file.

    Parameters
    ----------
    source
        A path, or a binary file object.
    task_type
        The shape every ``label`` must have.
    name
        File name used in error messages.

    Yields
    ------
    GoldRecord

    Raises
    ------
    FormatError
        A malformed line, an unknown field, a label of the wrong shape, or a duplicate
        ``item_id``.
    """
    seen: set[str] = set()
    for src, number, obj in _lines(source, name):
        line = f"line {number}"
        row = _validate(_GOLD_LINES[task_type], obj, source=src, line=line, task_type=task_type)
        if row.item_id in seen:
            raise FormatError(src, f"{line}: item_id", f"duplicate item_id {row.item_id!r}")
        seen.add(row.item_id)
        label = _to_label(row.label, task_type=task_type, source=src, where=f"{line}: label")
        yield GoldRecord(item_id=row.item_id, label=label, data=row.data, metadata=row.metadata)


def read_gold(source: Source, *, task_type: TaskType, name: str | None = None) -> list[GoldRecord]:
    """Read every golden item of a JSON Lines file; see :func:`iter_gold`."""
    return list(iter_gold(source, task_type=task_type, name=name))


# --------------------------------------------------------------------------- writing


def _write(objs: Iterable[BaseModel], out: str | os.PathLike[str] | IO[str]) -> int:
    if isinstance(out, str | os.PathLike):
        with Path(out).open("w", encoding="utf-8") as fh:
            return _write(objs, fh)
    count = 0
    for obj in objs:
        out.write(obj.model_dump_json(exclude_none=True))
        out.write("\n")
        count += 1
    return count


def write_annotations(
    annotations: Iterable[VendorAnnotation], out: str | os.PathLike[str] | IO[str]
) -> int:
    """Write vendor labels, one JSON object per line; returns the number written.

    Fields that are ``None`` are left out; :func:`iter_annotations` reads the file back
    to equal objects.
    """
    return _write(annotations, out)


def write_gold(records: Iterable[GoldRecord], out: str | os.PathLike[str] | IO[str]) -> int:
    """Write golden items, one JSON object per line; returns the number written."""
    return _write(records, out)
