"""Flat-array containers for gold and candidate boxes/masks, and their input checks.

Private: the public names are re-exported by :mod:`metrics.detection`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from metrics.masks import Rle

__all__ = [
    "GoldInstances",
    "DetectionSet",
    "DetectionGold",
    "Detections",
    "check_gold",
    "check_dets",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


class GoldInstances(Protocol):
    """Gold boxes/masks as flat arrays; one row per annotation, ``N`` rows."""

    @property
    def image_ids(self) -> IntArray:
        """``(N,)`` image of each annotation."""
        ...

    @property
    def category_ids(self) -> IntArray:
        """``(N,)`` category of each annotation."""
        ...

    @property
    def ann_ids(self) -> IntArray:
        """``(N,)`` annotation ids (COCO ``id``)."""
        ...

    @property
    def boxes(self) -> FloatArray:
        """``(N, 4)`` boxes ``[x, y, w, h]``."""
        ...

    @property
    def areas(self) -> FloatArray:
        """``(N,)`` object areas (COCO ``area``; used for the small/medium/large ranges)."""
        ...

    @property
    def iscrowd(self) -> BoolArray:
        """``(N,)`` crowd flags."""
        ...

    @property
    def all_image_ids(self) -> IntArray:
        """Every gold image, including those without any annotation."""
        ...

    @property
    def all_category_ids(self) -> IntArray:
        """Every gold category, including those without any annotation."""
        ...

    @property
    def rles(self) -> Sequence[Rle] | None:
        """``N`` compressed RLE masks, or ``None`` when there are no masks."""
        ...


class DetectionSet(Protocol):
    """A candidate's boxes/masks as flat arrays; one row per box, ``N`` rows."""

    @property
    def image_ids(self) -> IntArray: ...

    @property
    def category_ids(self) -> IntArray: ...

    @property
    def boxes(self) -> FloatArray: ...

    @property
    def scores(self) -> FloatArray | None:
        """``(N,)`` confidences; ``None`` for unscored human labels."""
        ...

    @property
    def areas(self) -> FloatArray | None:
        """``(N,)`` areas for the area ranges; ``None``: box ``w*h`` (bbox) or mask area."""
        ...

    @property
    def rles(self) -> Sequence[Rle] | None: ...


@dataclass(frozen=True, eq=False)
class DetectionGold:
    """Gold instances built from plain arrays (implements :class:`GoldInstances`).

    Examples
    --------
    >>> gold = DetectionGold.from_arrays(
    ...     image_ids=[1, 1], category_ids=[3, 3], boxes=[[0, 0, 10, 10], [20, 20, 5, 5]]
    ... )
    >>> gold.areas.tolist(), gold.all_image_ids.tolist(), gold.ann_ids.tolist()
    ([100.0, 25.0], [1], [1, 2])
    """

    image_ids: IntArray
    category_ids: IntArray
    ann_ids: IntArray
    boxes: FloatArray
    areas: FloatArray
    iscrowd: BoolArray
    all_image_ids: IntArray
    all_category_ids: IntArray
    rles: Sequence[Rle] | None = None

    @classmethod
    def from_arrays(
        cls,
        *,
        image_ids: npt.ArrayLike,
        category_ids: npt.ArrayLike,
        boxes: npt.ArrayLike,
        areas: npt.ArrayLike | None = None,
        iscrowd: npt.ArrayLike | None = None,
        ann_ids: npt.ArrayLike | None = None,
        all_image_ids: npt.ArrayLike | None = None,
        all_category_ids: npt.ArrayLike | None = None,
        rles: Sequence[Rle] | None = None,
    ) -> DetectionGold:
        """Build gold from array-likes; defaults: area = box ``w*h``, ids ``1..N``,
        no crowd, images/categories = those present."""
        img = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        n = img.shape[0]
        bx = np.asarray(boxes, dtype=np.float64).reshape(n, 4) if n else np.zeros((0, 4))
        return cls(
            image_ids=img,
            category_ids=np.asarray(category_ids, dtype=np.int64).reshape(-1),
            ann_ids=(
                np.arange(1, n + 1, dtype=np.int64)
                if ann_ids is None
                else np.asarray(ann_ids, dtype=np.int64).reshape(-1)
            ),
            boxes=bx,
            areas=(
                bx[:, 2] * bx[:, 3]
                if areas is None
                else np.asarray(areas, dtype=np.float64).reshape(-1)
            ),
            iscrowd=(
                np.zeros(n, dtype=bool)
                if iscrowd is None
                else np.asarray(iscrowd, dtype=bool).reshape(-1)
            ),
            all_image_ids=np.unique(
                img if all_image_ids is None else np.asarray(all_image_ids)
            ).astype(np.int64),
            all_category_ids=np.unique(
                np.asarray(category_ids) if all_category_ids is None else all_category_ids
            ).astype(np.int64),
            rles=rles,
        )


@dataclass(frozen=True, eq=False)
class Detections:
    """A candidate's boxes/masks built from plain arrays (implements :class:`DetectionSet`).

    Examples
    --------
    >>> dets = Detections.from_arrays(
    ...     image_ids=[1], category_ids=[3], boxes=[[0, 0, 10, 10]], scores=[0.9]
    ... )
    >>> dets.scores.tolist()
    [0.9]
    """

    image_ids: IntArray
    category_ids: IntArray
    boxes: FloatArray
    scores: FloatArray | None = None
    areas: FloatArray | None = None
    rles: Sequence[Rle] | None = None

    @classmethod
    def from_arrays(
        cls,
        *,
        image_ids: npt.ArrayLike,
        category_ids: npt.ArrayLike,
        boxes: npt.ArrayLike,
        scores: npt.ArrayLike | None = None,
        areas: npt.ArrayLike | None = None,
        rles: Sequence[Rle] | None = None,
    ) -> Detections:
        """Build detections from array-likes (``scores=None`` for human labels)."""
        img = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        n = img.shape[0]
        return cls(
            image_ids=img,
            category_ids=np.asarray(category_ids, dtype=np.int64).reshape(-1),
            boxes=np.asarray(boxes, dtype=np.float64).reshape(n, 4) if n else np.zeros((0, 4)),
            scores=None if scores is None else np.asarray(scores, dtype=np.float64).reshape(-1),
            areas=None if areas is None else np.asarray(areas, dtype=np.float64).reshape(-1),
            rles=rles,
        )


def _check_1d(name: str, arr: npt.NDArray[np.generic], n: int) -> None:
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")


def _check_boxes(name: str, boxes: FloatArray, n: int) -> None:
    if boxes.shape != (n, 4):
        raise ValueError(f"{name}.boxes must have shape ({n}, 4), got {boxes.shape}")
    bad = ~np.isfinite(boxes).all(axis=1) | (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(
            f"{name}.boxes rows {rows} have NaN/infinite values or negative width/height"
        )


def check_gold(gold: GoldInstances, *, need_masks: bool) -> int:
    n = int(np.asarray(gold.image_ids).shape[0])
    for attr in ("category_ids", "ann_ids", "areas", "iscrowd"):
        _check_1d(f"gold.{attr}", np.asarray(getattr(gold, attr)), n)
    _check_boxes("gold", np.asarray(gold.boxes, dtype=np.float64), n)
    if not np.isfinite(np.asarray(gold.areas, dtype=np.float64)).all():
        raise ValueError("gold.areas has NaN or infinite values")
    if need_masks and (gold.rles is None or len(gold.rles) != n):
        raise ValueError(f"iou_type='segm' needs gold.rles with {n} masks")
    return n


def check_dets(dets: DetectionSet, gold: GoldInstances, *, need_masks: bool, scored: bool) -> int:
    n = int(np.asarray(dets.image_ids).shape[0])
    _check_1d("detections.category_ids", np.asarray(dets.category_ids), n)
    _check_boxes("detections", np.asarray(dets.boxes, dtype=np.float64), n)
    if scored:
        if dets.scores is None:
            raise ValueError("evaluate_coco needs detections.scores; use match_unscored")
        sc = np.asarray(dets.scores, dtype=np.float64)
        _check_1d("detections.scores", sc, n)
        if not np.isfinite(sc).all():
            raise ValueError("detections.scores has NaN or infinite values")
    if dets.areas is not None:
        _check_1d("detections.areas", np.asarray(dets.areas), n)
    # no detections need no masks (an empty results array is a valid, if poor, answer)
    if need_masks and n and (dets.rles is None or len(dets.rles) != n):
        raise ValueError(f"iou_type='segm' needs detections.rles with {n} masks")
    known = np.unique(np.asarray(gold.all_image_ids, dtype=np.int64))
    img = np.asarray(dets.image_ids, dtype=np.int64)
    missing = np.setdiff1d(img, known)
    if missing.size:
        raise ValueError(
            f"detections refer to images not in gold: {missing[:5].tolist()}"
            + (f" (and {missing.size - 5} more)" if missing.size > 5 else "")
        )
    return n
