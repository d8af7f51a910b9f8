"""Label Studio regions (annotation ``result`` entries) to and from Bakeoff labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pycocotools import mask as coco_mask
from pydantic import BaseModel, ConfigDict, Field, FiniteFloat, ValidationError

from adapters.base import (
    Box,
    LabelValue,
    Mask,
    Span,
    TaskType,
    VendorAnnotation,
)
from adapters.formats._errors import FormatError
from adapters.formats._labelstudio_brush import decode_brush_rle, encode_brush_rle
from adapters.formats._labelstudio_keypoints import KEYPOINT_REGION_TYPES, regions_to_poses
from adapters.formats._labelstudio_language import (
    language_label,
    preference_results,
    rating_criteria,
    rating_results,
    transcription_results,
)

__all__ = [
    "question_names",
    "FROM_NAME",
    "BRUSH_NAME",
    "results_to_label",
    "label_to_results",
    "annotation_from_json",
    "prediction_from_json",
    "validate",
    "RawAnnotation",
]

_M = TypeVar("_M", bound=BaseModel)

# Control (from_name) and object tag names used in configs this module generates.
FROM_NAME = "label"
# The brush control of segmentation configs (next to the polygon control FROM_NAME).
BRUSH_NAME = "brush"


# --------------------------------------------------------------------------- raw shapes


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RawAnnotation(_Lenient):
    id: int | str | None = None
    result: list[Any] = Field(default_factory=list)
    completed_by: int | str | dict[str, Any] | None = None
    was_cancelled: bool = False
    ground_truth: bool = False
    lead_time: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def annotator_id(self) -> str | None:
        """Who answered: the user's email or id (Label Studio exports either)."""
        who = self.completed_by
        if isinstance(who, dict):
            ident = who.get("email") or who.get("id")
            return None if ident is None else str(ident)
        return None if who is None else str(who)

    def times(self) -> tuple[datetime | None, datetime | None]:
        """``(started, completed)``: completed at creation (or update), started ``lead_time``
        seconds before; naive times are read as UTC."""
        completed = self.created_at or self.updated_at
        if completed is not None and completed.tzinfo is None:
            completed = completed.replace(tzinfo=UTC)
        started = (
            completed - timedelta(seconds=self.lead_time)
            if completed is not None and self.lead_time is not None
            else None
        )
        return started, completed


class _RawPrediction(_Lenient):
    id: int | str | None = None
    result: list[Any] = Field(default_factory=list)
    model_version: str | None = None
    score: FiniteFloat | None = None
    created_at: datetime | None = None


class _RawRegion(_Lenient):
    type: str
    from_name: str | None = None
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
    "keypoints": KEYPOINT_REGION_TYPES,
}
_SKIPPED_REGION_TYPES = frozenset({"relation"})


def _loc(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def validate(model: type[_M], obj: Any, *, source: str, where: str) -> _M:
    """``model.model_validate(obj)``; the first error becomes a one-line FormatError."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise FormatError(source, _loc(where, err["loc"]), err["msg"]) from exc


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
        # Its axis-aligned envelope is a different, larger box: scoring it would be wrong.
        raise FormatError(
            source,
            f"{where}.value.rotation",
            f"box rotated by {v.rotation:g} degrees: rotated boxes are not scored as their "
            "axis-aligned envelope; export axis-aligned boxes, or polygons for segmentation",
        )
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
    question: str | None = None,
    skeletons: Mapping[str, Sequence[str]] | None = None,
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
    question
        The control (``from_name``) to read; regions of other controls are skipped. When
        ``None``, a classification or multilabel answer to several questions is refused
        with their names (their choices are different label sets, never merged).
    skeletons
        Keypoints: category -> keypoint names in order (from the gold or the ontology);
        see :mod:`adapters.formats._labelstudio_keypoints`.

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
    if task_type == "preference":
        return str(language_label(results, kind="preference", source=source, where=where))
    if task_type == "rating":
        return rating_criteria(results, source=source, where=where, criterion=question)
    if task_type == "transcription":
        return str(
            language_label(
                results, kind="transcription", source=source, where=where, criterion=question
            )
        )
    allowed = _REGION_TYPES[task_type]
    choices: list[str] = []
    boxes: list[Box] = []
    masks: list[Mask] = []
    spans: list[Span] = []
    regions = [
        (k, validate(_RawRegion, obj, source=source, where=f"{where}[{k}]"))
        for k, obj in enumerate(results)
    ]
    if question is not None:
        regions = [(k, r) for k, r in regions if r.from_name == question]
    elif task_type in ("classification", "multilabel"):
        names = sorted(
            {r.from_name for _, r in regions if r.from_name and r.type.lower() in allowed}
        )
        if len(names) > 1:
            raise FormatError(
                source,
                where,
                f"answers {len(names)} questions (from_name) {', '.join(map(repr, names))}; "
                "name the one to score (question / --question / ?question=)",
            )
    if task_type == "keypoints":
        return _poses(results, regions, skeletons, allowed, source=source, where=where)
    for k, region in regions:
        rw = f"{where}[{k}]"
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
            choices.extend(validate(_ChoicesValue, region.value, source=source, where=vw).choices)
        elif rtype == "taxonomy":
            tax = validate(_TaxonomyValue, region.value, source=source, where=vw)
            choices.extend(path[-1] for path in tax.taxonomy)
        elif rtype == "rectanglelabels":
            rect = validate(_RectValue, region.value, source=source, where=vw)
            width, height = _size(region, source=source, where=rw)
            bbox = _rect_to_bbox(rect, width, height, source=source, where=rw)
            boxes.extend(
                Box(category=c, bbox=bbox, score=region.score) for c in rect.rectanglelabels
            )
        elif rtype == "polygonlabels":
            poly = validate(_PolygonValue, region.value, source=source, where=vw)
            width, height = _size(region, source=source, where=rw)
            flat = [c for px, py in poly.points for c in (px / 100 * width, py / 100 * height)]
            masks.extend(
                Mask(category=c, segmentation=[flat], score=region.score)
                for c in poly.polygonlabels
            )
        elif rtype == "brushlabels":
            brush = validate(_BrushValue, region.value, source=source, where=vw)
            width, height = _size(region, source=source, where=rw)
            rle = _brush_to_rle(brush, width, height, source=source, where=rw)
            masks.extend(
                Mask(category=c, segmentation=rle, score=region.score) for c in brush.brushlabels
            )
        else:  # labels
            sv = validate(_SpanValue, region.value, source=source, where=vw)
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


def _poses(
    results: Sequence[Any],
    regions: list[tuple[int, _RawRegion]],
    skeletons: Mapping[str, Sequence[str]] | None,
    allowed: frozenset[str],
    *,
    source: str,
    where: str,
) -> LabelValue:
    if skeletons is None:
        raise FormatError(
            source,
            where,
            "Label Studio keypoints need the project's keypoint names in order (the gold's "
            "COCO keypoint categories or the project's ontology)",
        )
    kept: list[tuple[int, Any]] = []
    for k, region in regions:
        rtype = region.type.lower()
        if rtype in _SKIPPED_REGION_TYPES:
            continue
        if rtype not in allowed:
            raise FormatError(
                source,
                f"{where}[{k}].type",
                f"region type {region.type!r} does not fit task type 'keypoints' "
                f"(expected {' or '.join(sorted(allowed))})",
            )
        kept.append((k, results[k]))
    return list(regions_to_poses(kept, skeletons=skeletons, source=source, where=where))


def question_names(annotations: Sequence[Any]) -> set[str]:
    """The ``from_name`` of every region in raw annotation/prediction objects."""
    names: set[str] = set()
    for obj in annotations:
        result = obj.get("result") if isinstance(obj, Mapping) else None
        for region in result if isinstance(result, list) else ():
            name = region.get("from_name") if isinstance(region, Mapping) else None
            if isinstance(name, str):
                names.add(name)
    return names


def annotation_from_json(
    obj: Any,
    *,
    item_id: str,
    task_type: TaskType,
    source: str = "<label studio>",
    where: str = "annotation",
    question: str | None = None,
    skeletons: Mapping[str, Sequence[str]] | None = None,
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
    question
        The control (``from_name``) to read (see :func:`results_to_label`).

    Returns
    -------
    VendorAnnotation or None
    """
    ann = validate(RawAnnotation, obj, source=source, where=where)
    if ann.was_cancelled:
        return None
    label = results_to_label(
        ann.result,
        task_type=task_type,
        source=source,
        where=f"{where}.result",
        question=question,
        skeletons=skeletons,
    )
    started, completed = ann.times()
    return VendorAnnotation(
        item_id=item_id,
        label=label,
        annotator_id=ann.annotator_id,
        started_at=started,
        completed_at=completed,
        external_id=None if ann.id is None else str(ann.id),
    )


def prediction_from_json(
    obj: Any,
    *,
    item_id: str,
    task_type: TaskType,
    source: str,
    where: str,
    question: str | None = None,
    skeletons: Mapping[str, Sequence[str]] | None = None,
) -> VendorAnnotation:
    pred = validate(_RawPrediction, obj, source=source, where=where)
    label = results_to_label(
        pred.result,
        task_type=task_type,
        source=source,
        where=f"{where}.result",
        question=question,
        skeletons=skeletons,
    )
    return VendorAnnotation(
        item_id=item_id,
        label=label,
        annotator_id=pred.model_version,
        score=pred.score,
        completed_at=pred.created_at,
        external_id=None if pred.id is None else str(pred.id),
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
    if task_type == "preference":
        if not isinstance(label, str):
            raise ValueError("a preference label is 'A', 'B' or 'tie'")
        return preference_results(label, pair=("response_a", "response_b"))
    if task_type == "rating":
        if not isinstance(label, dict):
            raise ValueError("a rating label is {criterion: integer rating}")
        return rating_results(label, to_name=to_name)
    if task_type == "transcription":
        if not isinstance(label, str):
            raise ValueError("a transcription label is the transcript (a string)")
        return transcription_results(label, to_name=to_name)
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
