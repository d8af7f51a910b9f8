"""Whether two region answers are the same answer, at the precision their file can carry.

The one-answer rule (:mod:`service.domain.vendor_labels`) stores an answer once and
refuses a different one for the same item and annotator. For boxes, masks and poses
"the same" cannot mean bit for bit: a label exported in a format that stores other
units than pixels and read back is not the same float. So geometry (``bbox``,
polygon ``segmentation`` points, keypoint ``points``, ``area``) is compared to within

* ``tolerance_px``, what the file format can carry, given by its reader
  (:class:`LabelsAtPrecision`). YOLO stores every coordinate as a fraction of the
  image's side, and the tools that write it (Ultralytics' ``%g``, CVAT's ``%.6f``) keep
  6 decimals: a fraction carries +-0.5e-6, so a pixel corner, ``(cx - w/2) * side``, is
  known to 1e-6 of the image's side (:func:`yolo_tolerance_px`). Formats that store
  pixels (JSONL, COCO, VOC, CVAT) carry them as written: 0.
* plus the float round-off of converting units (Label Studio's percentages, YOLO
  written at full precision): 1e-9 of the coordinate's size.

Everything else (categories, scores, crowd flags, RLE counts) must be equal. A box moved
by more than that is a different answer, and conflicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

__all__ = [
    "LabelsAtPrecision",
    "with_image_size",
    "reader_notes",
    "same_geometry",
    "yolo_tolerance_px",
    "ROUND_OFF",
]

#: Relative float round-off allowed on any coordinate (unit conversions: %, fractions).
ROUND_OFF = 1e-9
#: The fraction of the image's side a YOLO pixel coordinate is known to (6 decimals).
_YOLO_FRACTION = 1e-6
_GEOMETRY = frozenset({"bbox", "segmentation", "points", "area"})

_T = TypeVar("_T")


class LabelsAtPrecision(Iterator[_T], Generic[_T]):
    """A reader's records, with the precision (pixels) its format carries geometry to and
    the reader's notes (what it left out or could not check, for the import's result)."""

    def __init__(
        self, records: Iterator[_T], *, tolerance_px: float = 0.0, notes: tuple[str, ...] = ()
    ) -> None:
        self._records = records
        self.tolerance_px = tolerance_px
        self.notes = notes

    def __next__(self) -> _T:
        return next(self._records)

    def close(self) -> None:
        """Stop the underlying reader (the upload's file is closed next)."""
        close = getattr(self._records, "close", None)
        if close is not None:
            close()


def reader_notes(records: object) -> list[str]:
    """What a file's reader said about its records (their ``notes``: what it left out or
    could not check), for the import's result; read once the records are consumed (a COCO
    reader knows them after its first record)."""
    notes = getattr(records, "notes", None)
    return [str(n) for n in notes] if isinstance(notes, tuple | list) else []


def yolo_tolerance_px(image_sizes: Mapping[str, tuple[int, int]]) -> float:
    """How far a YOLO file's pixel coordinates may be off: 1e-6 of the largest image side
    (6 decimals of a normalised coordinate; see the module)."""
    side = max((max(w, h) for w, h in image_sizes.values()), default=0)
    return _YOLO_FRACTION * side


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _close(a: Any, b: Any, tolerance: float) -> bool:
    if _number(a) and _number(b):
        return bool(abs(a - b) <= tolerance + ROUND_OFF * max(1.0, abs(a), abs(b)))
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tolerance) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):  # an RLE mask: counts must be equal
        return a.keys() == b.keys() and all(_close(a[k], b[k], tolerance) for k in a)
    return bool(a == b)


def _same_object(a: Any, b: Any, tolerance: float) -> bool:
    if not (isinstance(a, dict) and isinstance(b, dict)) or a.keys() != b.keys():
        return bool(a == b)
    return all(_close(a[k], b[k], tolerance) if k in _GEOMETRY else a[k] == b[k] for k in a)


def same_geometry(a: Any, b: Any, *, tolerance_px: float = 0.0) -> bool:
    """Whether two stored region answers (lists of box/mask/pose dicts, in order) are the
    same answer: equal but for geometry within ``tolerance_px`` plus round-off.

    Examples
    --------
    >>> box = {"category": "car", "bbox": [10.5, 20.0, 100.0, 48.0]}
    >>> back = {"category": "car", "bbox": [10.500000000000002, 20.0, 100.0, 48.0]}
    >>> same_geometry([box], [back])
    True
    >>> moved = {"category": "car", "bbox": [10.75, 20.0, 100.0, 48.0]}
    >>> same_geometry([box], [moved], tolerance_px=6.4e-4)
    False
    """
    if not (isinstance(a, list) and isinstance(b, list)) or len(a) != len(b):
        return bool(a == b)
    return all(_same_object(x, y, tolerance_px) for x, y in zip(a, b, strict=True))


def with_image_size(value: Any, data: Mapping[str, Any]) -> Any:
    """Segmentation objects with the item's ``height``/``width`` (``data``), so that a
    polygon can be rasterised; an object's own size is kept, and a value that is not a list
    of objects, or an item without an integer size, is returned as it is."""
    h, w = data.get("height"), data.get("width")
    if not isinstance(value, list) or not isinstance(h, int) or not isinstance(w, int):
        return value
    return [{"height": h, "width": w, **o} if isinstance(o, Mapping) else o for o in value]
