"""COCO keypoints: OKS-based AP/AR equal to ``COCOeval(iouType="keypoints")``, and per-keypoint
errors.

The similarity of a detected pose to a gold pose is the object keypoint similarity (OKS): the
mean over the gold's visible keypoints of ``exp(-d^2 / (2 s^2 k^2))``, with ``d`` the pixel
distance, ``s^2`` the gold's area and ``k = 2 * sigma`` the keypoint's falloff. AP/AR then follow
COCOeval's rules for keypoints: up to 20 detections per image, area ranges all / medium
(32^2..96^2) / large, gold with ``num_keypoints == 0`` or ``iscrowd`` ignored, and the 10
numbers of ``summarize()`` in its order (:data:`KEYPOINT_STAT_NAMES`). Unlike pycocotools,
which takes one sigma vector for every category, ``sigmas`` may differ per category.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from metrics._cocoeval import (
    IOU_THRESHOLDS,
    KeypointInputs,
    coco_eval_arrays,
)

__all__ = [
    "COCO_PERSON_SIGMAS",
    "KEYPOINT_STAT_NAMES",
    "KeypointGold",
    "KeypointDetections",
    "KeypointEvalResult",
    "evaluate_keypoints",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: pycocotools' ``Params.kpt_oks_sigmas`` for the 17 COCO person keypoints.
COCO_PERSON_SIGMAS: Final[FloatArray] = (
    np.array(
        [
            0.26,
            0.25,
            0.25,
            0.35,
            0.35,
            0.79,
            0.79,
            0.72,
            0.72,
            0.62,
            0.62,
            1.07,
            1.07,
            0.87,
            0.87,
            0.89,
            0.89,
        ]
    )
    / 10.0
)
KEYPOINT_STAT_NAMES: Final = (
    "AP",
    "AP50",
    "AP75",
    "AP_medium",
    "AP_large",
    "AR",
    "AR50",
    "AR75",
    "AR_medium",
    "AR_large",
)
# Params.setKpParams: all, medium, large
_AREA_RANGES: Final[FloatArray] = np.array(
    [[0**2, 1e5**2], [32**2, 96**2], [96**2, 1e5**2]], dtype=np.float64
)
_MAX_DETS: Final = 20


@dataclass(frozen=True, eq=False)
class KeypointGold:
    """Gold poses as flat arrays: ``keypoints`` ``(N, K, 3)`` of ``x, y, visibility``."""

    image_ids: IntArray
    category_ids: IntArray
    ann_ids: IntArray
    keypoints: FloatArray
    num_keypoints: IntArray
    boxes: FloatArray
    areas: FloatArray
    iscrowd: npt.NDArray[np.bool_]
    all_image_ids: IntArray
    all_category_ids: IntArray

    @classmethod
    def from_arrays(
        cls,
        *,
        image_ids: npt.ArrayLike,
        category_ids: npt.ArrayLike,
        keypoints: npt.ArrayLike,
        boxes: npt.ArrayLike,
        areas: npt.ArrayLike,
        num_keypoints: npt.ArrayLike | None = None,
        iscrowd: npt.ArrayLike | None = None,
        ann_ids: npt.ArrayLike | None = None,
        all_image_ids: npt.ArrayLike | None = None,
        all_category_ids: npt.ArrayLike | None = None,
    ) -> KeypointGold:
        """Build and check; ``num_keypoints`` defaults to the count of ``v > 0``."""
        img = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        n = img.shape[0]
        raw = np.asarray(keypoints, dtype=np.float64)
        kp = raw.reshape(n, -1, 3) if n else np.zeros((0, raw.size // 3 if raw.ndim else 0, 3))
        _check_finite(kp, "gold keypoints")
        return cls(
            image_ids=img,
            category_ids=np.asarray(category_ids, dtype=np.int64).reshape(n),
            ann_ids=(
                np.arange(1, n + 1, dtype=np.int64)
                if ann_ids is None
                else np.asarray(ann_ids, dtype=np.int64).reshape(n)
            ),
            keypoints=kp,
            num_keypoints=(
                np.count_nonzero(kp[:, :, 2] > 0, axis=1).astype(np.int64)
                if num_keypoints is None
                else np.asarray(num_keypoints, dtype=np.int64).reshape(n)
            ),
            boxes=np.asarray(boxes, dtype=np.float64).reshape(n, 4),
            areas=np.asarray(areas, dtype=np.float64).reshape(n),
            iscrowd=(
                np.zeros(n, dtype=bool)
                if iscrowd is None
                else np.asarray(iscrowd, dtype=bool).reshape(n)
            ),
            all_image_ids=np.unique(
                img if all_image_ids is None else np.asarray(all_image_ids, dtype=np.int64)
            ),
            all_category_ids=np.unique(
                np.asarray(category_ids, dtype=np.int64)
                if all_category_ids is None
                else np.asarray(all_category_ids, dtype=np.int64)
            ),
        )


@dataclass(frozen=True, eq=False)
class KeypointDetections:
    """Scored predicted poses; ``areas`` as ``COCO.loadRes`` sets them (keypoint extent)."""

    image_ids: IntArray
    category_ids: IntArray
    keypoints: FloatArray
    scores: FloatArray
    areas: FloatArray

    @classmethod
    def from_arrays(
        cls,
        *,
        image_ids: npt.ArrayLike,
        category_ids: npt.ArrayLike,
        keypoints: npt.ArrayLike,
        scores: npt.ArrayLike,
    ) -> KeypointDetections:
        """Build and check; boxes are not needed (CrowdPose-style predictions are fine)."""
        img = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        n = img.shape[0]
        raw = np.asarray(keypoints, dtype=np.float64)
        kp = raw.reshape(n, -1, 3) if n else np.zeros((0, 0, 3))
        _check_finite(kp, "detected keypoints")
        x, y = kp[:, :, 0], kp[:, :, 1]
        areas = (
            (x.max(axis=1) - x.min(axis=1)) * (y.max(axis=1) - y.min(axis=1))
            if n and kp.shape[1]
            else np.zeros(n)
        )
        return cls(
            image_ids=img,
            category_ids=np.asarray(category_ids, dtype=np.int64).reshape(n),
            keypoints=kp,
            scores=np.asarray(scores, dtype=np.float64).reshape(n),
            areas=areas.astype(np.float64),
        )


@dataclass(frozen=True, eq=False)
class KeypointEvalResult:
    """COCO keypoint AP/AR and where the keypoints go wrong.

    Attributes
    ----------
    stats
        The 10 numbers of ``COCOeval.summarize()`` for keypoints (:data:`KEYPOINT_STAT_NAMES`).
    precision, recall
        ``COCOeval.eval`` arrays ``(T, R, C, A, 1)`` and ``(T, C, A, 1)``.
    per_keypoint_similarity
        ``(K,)``: mean ``exp(-e)`` of each keypoint over gold poses where it is visible, against
        the detection of highest OKS in the same image and category (NaN where never visible).
    per_keypoint_error_px
        ``(K,)``: median pixel distance of those same pairs.
    """

    stats: tuple[float, ...]
    precision: FloatArray
    recall: FloatArray
    per_keypoint_similarity: FloatArray
    per_keypoint_error_px: FloatArray

    def stat(self, name: str) -> float:
        """One summary number by name, e.g. ``"AP50"``."""
        return self.stats[KEYPOINT_STAT_NAMES.index(name)]


def _check_finite(kp: FloatArray, what: str) -> None:
    if not np.all(np.isfinite(kp)):
        raise ValueError(f"{what} must be finite numbers; found NaN or infinity")


def _variances(
    sigmas: npt.ArrayLike | Mapping[int, npt.ArrayLike], category_ids: IntArray, n_k: int
) -> FloatArray:
    rows = []
    for c in category_ids.tolist():
        s = sigmas.get(c) if isinstance(sigmas, Mapping) else sigmas
        if s is None:
            raise ValueError(f"no sigmas for category {c}")
        arr = np.asarray(s, dtype=np.float64).reshape(-1)
        if arr.shape[0] != n_k:
            raise ValueError(f"category {c}: {arr.shape[0]} sigmas for {n_k} keypoints")
        rows.append((arr * 2) ** 2)
    return np.array(rows, dtype=np.float64).reshape(len(rows), n_k)


def _summary(precision: FloatArray, recall: FloatArray) -> tuple[float, ...]:
    def one(ap: bool, thr: float | None = None, area: int = 0) -> float:
        s = precision if ap else recall
        if thr is not None:
            s = s[np.where(thr == IOU_THRESHOLDS)[0]]
        s = s[:, :, :, area, 0] if ap else s[:, :, area, 0]
        valid = s[s > -1]
        return float(np.mean(valid)) if valid.size else -1.0

    return (
        one(True),
        one(True, 0.5),
        one(True, 0.75),
        one(True, area=1),
        one(True, area=2),
        one(False),
        one(False, 0.5),
        one(False, 0.75),
        one(False, area=1),
        one(False, area=2),
    )


def evaluate_keypoints(
    gold: KeypointGold,
    detections: KeypointDetections,
    *,
    sigmas: npt.ArrayLike | Mapping[int, npt.ArrayLike] = COCO_PERSON_SIGMAS,
) -> KeypointEvalResult:
    """COCO keypoint AP/AR, identical to ``COCOeval(iouType="keypoints")``.

    Parameters
    ----------
    gold, detections
        Poses with the same number of keypoints ``K``.
    sigmas
        ``(K,)`` per-keypoint falloffs for every category, or a mapping category id ->
        ``(K,)``; default: COCO's person sigmas.

    Raises
    ------
    ValueError
        Different keypoint counts, non-finite coordinates, sigmas that do not fit, or
        detections in images that are not in the gold.

    Examples
    --------
    >>> kp = [[10, 10, 2, 20, 10, 2, 15, 20, 2]]
    >>> gold = KeypointGold.from_arrays(image_ids=[1], category_ids=[1], keypoints=kp,
    ...                                 boxes=[[10, 10, 10, 10]], areas=[100.0])
    >>> dets = KeypointDetections.from_arrays(image_ids=[1], category_ids=[1], keypoints=kp,
    ...                                       scores=[0.9])
    >>> round(evaluate_keypoints(gold, dets, sigmas=[0.1, 0.1, 0.1]).stat("AP"), 6)
    1.0
    """
    n_k = gold.keypoints.shape[1] if gold.keypoints.shape[0] else detections.keypoints.shape[1]
    if (
        gold.keypoints.shape[0]
        and detections.keypoints.shape[0]
        and (detections.keypoints.shape[1] != n_k)
    ):
        raise ValueError(f"detections have {detections.keypoints.shape[1]} keypoints, gold {n_k}")
    image_ids, category_ids = gold.all_image_ids, gold.all_category_ids
    unknown = np.setdiff1d(detections.image_ids, image_ids)
    if unknown.size:
        raise ValueError(f"detections in images that are not in the gold: {unknown[:5].tolist()}")
    variances = _variances(sigmas, category_ids, n_k)
    dt_kp = detections.keypoints.reshape(-1, n_k, 3)
    precision, recall, _ = coco_eval_arrays(
        image_ids=image_ids,
        category_ids=category_ids,
        gt_image=gold.image_ids,
        gt_category=gold.category_ids,
        gt_id=gold.ann_ids,
        gt_area=gold.areas,
        gt_crowd=gold.iscrowd,
        gt_box=gold.boxes,
        gt_rle=None,
        dt_image=detections.image_ids,
        dt_category=detections.category_ids,
        dt_score=detections.scores,
        dt_area=detections.areas,
        dt_box=None,
        dt_rle=None,
        max_dets=np.array([_MAX_DETS], dtype=np.int64),
        keypoints=KeypointInputs(gold.keypoints, gold.num_keypoints, dt_kp, variances),
        area_ranges=_AREA_RANGES,
    )
    similarity, error = _per_keypoint(gold, detections, variances, category_ids)
    return KeypointEvalResult(_summary(precision, recall), precision, recall, similarity, error)


def _per_keypoint(
    gold: KeypointGold,
    detections: KeypointDetections,
    variances: FloatArray,
    category_ids: IntArray,
) -> tuple[FloatArray, FloatArray]:
    n_k = gold.keypoints.shape[1]
    sims: list[list[float]] = [[] for _ in range(n_k)]
    dists: list[list[float]] = [[] for _ in range(n_k)]
    cat_index = {int(c): i for i, c in enumerate(category_ids.tolist())}
    for g in range(gold.image_ids.shape[0]):
        visible = gold.keypoints[g, :, 2] > 0
        if not visible.any() or gold.iscrowd[g]:
            continue
        same = np.flatnonzero(
            (detections.image_ids == gold.image_ids[g])
            & (detections.category_ids == gold.category_ids[g])
        )
        if same.size == 0:
            continue
        var = variances[cat_index[int(gold.category_ids[g])]]
        d2 = ((detections.keypoints[same, :, :2] - gold.keypoints[g, :, :2]) ** 2).sum(axis=2)
        e = d2 / var / (gold.areas[g] + np.spacing(1)) / 2
        oks = np.exp(-e[:, visible]).mean(axis=1)
        best = int(np.argmax(oks))
        for j in np.flatnonzero(visible):
            sims[j].append(float(np.exp(-e[best, j])))
            dists[j].append(float(np.sqrt(d2[best, j])))
    similarity = np.array([np.mean(s) if s else np.nan for s in sims], dtype=np.float64)
    error = np.array([np.median(d) if d else np.nan for d in dists], dtype=np.float64)
    return similarity, error
