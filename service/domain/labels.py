"""Validate label values against a project's task type and ontology.

Values are stored as JSON in the shapes of :mod:`adapters.base`: a class name
(classification), a list of class names (multilabel), lists of ``Box``/``Mask``/``Span`` dicts.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any, TypeGuard

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlmodel import SQLModel

from adapters.base import Box, Keypoints, Mask, Span, TaskType
from adapters.formats.csv import parse_rating_cell
from service.domain._common import table_of
from service.domain.errors import Invalid

__all__ = [
    "check_finite",
    "check_fits",
    "check_image_size",
    "check_inside_image",
    "column_length",
    "normalize_value",
    "to_json_value",
]

_LISTS: dict[str, TypeAdapter[Any]] = {
    "detection": TypeAdapter(list[Box]),
    "segmentation": TypeAdapter(list[Mask]),
    "spans": TypeAdapter(list[Span]),
    "keypoints": TypeAdapter(list[Keypoints]),
}


def to_json_value(value: Any) -> Any:
    """Turn a :data:`adapters.base.LabelValue` (possibly DTOs) into plain JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    return value


def _check_class(name: object, classes: Collection[str], where: tuple[str | int, ...]) -> None:
    if classes and name not in classes:
        shown = ", ".join(sorted(classes)[:20])
        raise Invalid(f"unknown class {name!r}; the ontology has: {shown}", location=where)


def _rating_value(
    value: Any, classes: Collection[str], where: tuple[str | int, ...]
) -> dict[str, int]:
    """``{criterion: integer}`` (or a CSV cell ``4`` / ``help=4;fact=5``), criteria known."""
    if isinstance(value, str):
        try:
            value = parse_rating_cell(value)
        except ValueError as exc:
            raise Invalid(str(exc), location=where) from None
    if not isinstance(value, dict) or not value:
        raise Invalid(
            f'expected integer ratings per criterion, e.g. {{"helpfulness": 4}}, got {value!r}',
            location=where,
        )
    for criterion, rating in value.items():
        if not isinstance(criterion, str) or not criterion:
            raise Invalid(f"criterion {criterion!r} is not a name", location=where)
        if not isinstance(rating, int) or isinstance(rating, bool):
            raise Invalid(
                f"rating {rating!r} for {criterion!r} is not an integer",
                location=(*where, criterion),
            )
        if classes and criterion not in classes:
            shown = ", ".join(sorted(classes)[:20])
            raise Invalid(
                f"unknown criterion {criterion!r}; the ontology has: {shown}",
                location=(*where, criterion),
            )
    return dict(value)


def normalize_value(
    value: Any,
    *,
    task_type: TaskType,
    classes: Collection[str],
    where: tuple[str | int, ...] = ("body", "value"),
) -> Any:
    """Check ``value`` for ``task_type`` and the ontology's ``classes``; return plain JSON.

    Parameters
    ----------
    value
        Decoded JSON or :mod:`adapters.base` DTOs.
    task_type
        The project's task type.
    classes
        The ontology's class names (empty: accept any).
    where
        Location used in the error.

    Raises
    ------
    Invalid
        Wrong shape or an unknown class; the message names the class and the location.
    """
    value = to_json_value(value)
    if task_type == "classification":
        if not isinstance(value, str) or not value:
            raise Invalid(
                f"expected a class name for classification, got {value!r}", location=where
            )
        _check_class(value, classes, where)
        return value
    if task_type == "preference":
        if value not in ("A", "B", "tie"):
            raise Invalid(
                f"expected 'A', 'B' or 'tie' for a preference, got {value!r}", location=where
            )
        return value
    if task_type == "rating":
        return _rating_value(value, classes, where)
    if task_type == "transcription":
        if not isinstance(value, str):
            raise Invalid(f"expected the transcript (a string), got {value!r}", location=where)
        return value
    if task_type == "multilabel":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid(f"expected a list of class names, got {value!r}", location=where)
        for i, v in enumerate(value):
            _check_class(v, classes, (*where, i))
        return value
    try:
        parsed = _LISTS[task_type].validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise Invalid(
            f"not a list of {task_type} objects: {err['msg']}", location=(*where, *err["loc"])
        ) from exc
    out = []
    for i, obj in enumerate(parsed):
        if isinstance(obj, Box):
            _check_box(obj, (*where, i, "bbox"))
        elif isinstance(obj, Mask) and isinstance(obj.segmentation, list):
            for j, polygon in enumerate(obj.segmentation):
                if not all(math.isfinite(v) for v in polygon):
                    raise Invalid(
                        "polygon has a NaN or infinite coordinate",
                        location=(*where, i, "segmentation", j),
                    )
        elif isinstance(obj, Keypoints):
            for j, point in enumerate(obj.points):
                if not all(math.isfinite(v) for v in point) or point[2] not in (0, 1, 2):
                    raise Invalid(
                        f"keypoint {list(point)} needs finite x, y and a visibility 0, 1 or 2",
                        location=(*where, i, "points", j),
                    )
        if not isinstance(obj, Span):
            check_finite(obj.score, (*where, i, "score"))
        if isinstance(obj, Span):
            if obj.end <= obj.start:
                raise Invalid(
                    f"span end {obj.end} must be after start {obj.start}", location=(*where, i)
                )
            _check_class(obj.type, classes, (*where, i, "type"))
        else:
            _check_class(obj.category, classes, (*where, i, "category"))
        out.append(obj.model_dump(mode="json", exclude_none=True))
    return out


def check_finite(value: float | None, where: tuple[str | int, ...]) -> None:
    """Refuse a NaN or infinite number (``None`` passes).

    Raises
    ------
    Invalid
        The number is NaN or infinite.
    """
    if value is not None and not math.isfinite(value):
        raise Invalid(f"must be a finite number, got {value}", location=where)


def column_length(model: type[SQLModel], field: str) -> int | None:
    """The most characters the database column ``model.field`` stores (``None``: no limit)."""
    column = table_of(model).c[field]
    length = getattr(column.type, "length", None)
    return length if isinstance(length, int) else None


def check_fits(
    model: type[SQLModel], field: str, value: str | None, where: tuple[str | int, ...]
) -> None:
    """Refuse a string longer than its database column (``None`` passes).

    SQLite stores any length and PostgreSQL fails the whole write (an HTTP 500 from a bulk
    write): every stored string is checked at the boundary instead.

    Raises
    ------
    Invalid
        ``value`` has more characters than ``model.field`` stores.
    """
    if value is None:
        return
    limit = column_length(model, field)
    if limit is not None and len(value) > limit:
        raise Invalid(
            f"{field} is {len(value)} characters long; at most {limit} are stored",
            location=where,
        )


def check_image_size(data: Mapping[str, Any], where: tuple[str | int, ...]) -> None:
    """Refuse item data whose ``width`` / ``height`` (pixels) is not a positive number.

    Both are optional; when given, detection checks, exports and the review page use them as
    numbers.

    Raises
    ------
    Invalid
        ``width`` or ``height`` is a string (``"100px"``), a bool, zero, negative or not finite.
    """
    for key in ("width", "height"):
        if key not in data:
            continue
        value = data[key]
        if not _is_number(value) or not math.isfinite(value) or value <= 0:
            raise Invalid(
                f"item data {key!r} must be a positive number of pixels, got {value!r}",
                location=(*where, key),
            )


def _check_box(box: Box, where: tuple[str | int, ...]) -> None:
    if not all(math.isfinite(v) for v in box.bbox):
        raise Invalid(f"bbox {list(box.bbox)} has a NaN or infinite value", location=where)
    _, _, width, height = box.bbox
    if width < 0 or height < 0:
        raise Invalid(f"bbox {list(box.bbox)} has a negative width or height", location=where)


def _is_number(v: object) -> TypeGuard[float]:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_inside_image(
    value: Any, data: Mapping[str, Any], where: tuple[str | int, ...], *, tolerance: float = 1.0
) -> None:
    """Refuse boxes of a normalized detection ``value`` that leave the item's image.

    Checked only when the item's ``data`` gives ``width`` and ``height`` (pixels); a box may
    overhang by ``tolerance`` pixels (rounding).

    Raises
    ------
    Invalid
        A box starts before 0 or ends past the image's width or height.
    """
    raw_width, raw_height = data.get("width"), data.get("height")
    if not isinstance(value, list) or not _is_number(raw_width) or not _is_number(raw_height):
        return
    width, height = float(raw_width), float(raw_height)
    for i, obj in enumerate(value):
        bbox = obj.get("bbox") if isinstance(obj, dict) else None
        if not isinstance(bbox, list) or len(bbox) != 4:
            continue
        x, y, w, h = bbox
        if (
            x < -tolerance
            or y < -tolerance
            or x + w > width + tolerance
            or y + h > height + tolerance
        ):
            raise Invalid(
                f"bbox {bbox} lies outside the {raw_width}x{raw_height} image",
                location=(*where, i, "bbox"),
            )
