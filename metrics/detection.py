"""Object detection and instance segmentation against an expert golden set.

Two kinds of candidates are scored:

*Unscored* human labels (a labeling vendor): every label is a claim, so labels and gold
are paired one-to-one by optimal assignment at an IoU threshold
(:func:`match_unscored`), giving per-class precision/recall/F1, the mean IoU of matched
pairs and localisation error; :func:`box_bias` tells, per class, how far each box edge
sits from gold on average.

*Scored* detections (a model): :func:`evaluate_coco` computes COCO AP/AR; its 12
summary numbers equal ``pycocotools`` ``COCOeval.summarize()`` exactly (bbox and segm,
crowd regions, area ranges, ``maxDets``, images without boxes and categories without
gold handled as COCOeval does), about two orders of magnitude faster.

Data
----
Inputs are flat arrays, one row per box (see :class:`DetectionGold` and
:class:`Detections`). Any object with the same attributes works (they are typed as
the protocols :class:`GoldInstances` and :class:`DetectionSet`), so
``adapters.formats.coco.CocoDataset`` / ``CocoResults`` pass straight in::

    from adapters.formats.coco import read_coco_dataset, read_coco_results
    from metrics.detection import evaluate_coco, match_unscored

    gold = read_coco_dataset("gold.json")
    model = read_coco_results("model.json", gold)
    evaluate_coco(gold, model, iou_type="bbox").stats      # the 12 COCO numbers
    vendor = read_coco_results("vendor.json", gold)
    match_unscored(gold, vendor, iou_threshold=0.5).f1.value

Boxes are COCO ``[x, y, width, height]``; segmentations are COCO RLE (see
:mod:`metrics.masks` to convert polygons).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics._cocoeval import (
    AREA_LABELS,
    IOU_THRESHOLDS,
    RECALL_THRESHOLDS,
    coco_eval_arrays,
    summarize,
)
from metrics._instances import (
    DetectionGold,
    Detections,
    DetectionSet,
    GoldInstances,
    check_dets,
    check_gold,
)
from metrics._matching import (
    BoxFormat,
    UnscoredMatchResult,
    box_bias,
    box_iou,
    match_unscored,
)
from metrics._voc import VocInterpolation, voc_average_precision
from metrics.masks import mask_area
from metrics.types import MetricResult

__all__ = [
    "BoxFormat",
    "IouType",
    "COCO_STAT_NAMES",
    "GoldInstances",
    "DetectionSet",
    "DetectionGold",
    "Detections",
    "CocoEvalResult",
    "UnscoredMatchResult",
    "box_iou",
    "evaluate_coco",
    "match_unscored",
    "box_bias",
    "VocInterpolation",
    "voc_average_precision",
]

IouType = Literal["bbox", "segm"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

COCO_STAT_NAMES: Final = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)
"""Names of the 12 ``COCOeval.summarize()`` numbers, in its order."""


@dataclass(frozen=True, eq=False)
class CocoEvalResult:
    """COCO AP/AR of one candidate, as ``COCOeval`` leaves it after ``summarize()``.

    Attributes
    ----------
    iou_type
        ``"bbox"`` or ``"segm"``.
    stats
        The 12 numbers of ``COCOeval.summarize()`` (names: :data:`COCO_STAT_NAMES`);
        ``-1.0`` where COCOeval prints -1 (nothing to average).
    precision
        ``(T, R, K, A, M)`` = ``COCOeval.eval["precision"]`` (-1: absent category).
    recall
        ``(T, K, A, M)`` = ``COCOeval.eval["recall"]``.
    scores
        ``(T, R, K, A, M)`` = ``COCOeval.eval["scores"]``.
    category_ids
        ``(K,)`` category of each ``K`` index (sorted gold category ids).
    max_dets
        ``M`` = 3 detection caps per image, ascending.
    """

    iou_type: IouType
    stats: tuple[float, ...]
    precision: FloatArray
    recall: FloatArray
    scores: FloatArray
    category_ids: IntArray
    max_dets: tuple[int, int, int]
    iou_thresholds: FloatArray = field(default_factory=lambda: IOU_THRESHOLDS.copy())
    recall_thresholds: FloatArray = field(default_factory=lambda: RECALL_THRESHOLDS.copy())
    area_labels: tuple[str, ...] = AREA_LABELS

    def stat(self, name: str) -> float:
        """One of the 12 numbers by name, e.g. ``result.stat("AP50")``."""
        if name not in COCO_STAT_NAMES:
            raise ValueError(f"unknown COCO stat {name!r}; expected one of {COCO_STAT_NAMES}")
        return self.stats[COCO_STAT_NAMES.index(name)]

    def as_dict(self) -> dict[str, float]:
        """``{name: value}`` for the 12 numbers, in COCO order."""
        return dict(zip(COCO_STAT_NAMES, self.stats, strict=True))

    def per_category_ap(self, *, iou_threshold: float | None = None) -> pd.Series[float]:
        """AP per category (area ``all``, the largest ``maxDets``), indexed by category id.

        ``iou_threshold=None`` averages over 0.50:0.95; NaN where the category has no gold.
        """
        p = self.precision[:, :, :, 0, -1]
        if iou_threshold is not None:
            sel = np.flatnonzero(np.isclose(self.iou_thresholds, iou_threshold))
            if sel.size == 0:
                raise ValueError(f"iou_threshold must be one of {self.iou_thresholds.tolist()}")
            p = p[sel]
        values = np.full(p.shape[2], np.nan)
        for k in range(p.shape[2]):
            col = p[:, :, k]
            valid = col[col > -1]
            if valid.size:
                values[k] = float(np.mean(valid))
        return pd.Series(values, index=pd.Index(self.category_ids, name="category_id"))

    def to_metric_results(self) -> tuple[MetricResult, ...]:
        """The 12 numbers as :class:`MetricResult` (``AP`` carries per-category AP).

        A ``-1`` from COCOeval becomes ``nan``.
        """
        out = []
        for name, value in zip(COCO_STAT_NAMES, self.stats, strict=True):
            out.append(
                MetricResult(
                    name=f"coco_{name}",
                    value=float("nan") if value == -1 else value,
                    per_item=self.per_category_ap() if name == "AP" else None,
                    params={
                        "iou_type": self.iou_type,
                        "max_dets": ",".join(map(str, self.max_dets)),
                    },
                )
            )
        return tuple(out)


def _det_areas(dets: DetectionSet, iou_type: IouType) -> FloatArray:
    if dets.areas is not None:
        return np.asarray(dets.areas, dtype=np.float64)
    if iou_type == "segm" and dets.rles is not None:
        return mask_area(dets.rles)
    b = np.asarray(dets.boxes, dtype=np.float64)
    return b[:, 2] * b[:, 3]


def evaluate_coco(
    gold: GoldInstances,
    detections: DetectionSet,
    *,
    iou_type: IouType = "bbox",
    max_dets: tuple[int, int, int] = (1, 10, 100),
) -> CocoEvalResult:
    """COCO AP/AR of scored detections, identical to ``pycocotools`` ``COCOeval``.

    Parameters
    ----------
    gold
        Gold instances (:class:`GoldInstances`); images and categories that COCOeval
        iterates over are ``gold.all_image_ids`` and ``gold.all_category_ids``.
    detections
        Scored detections (:class:`DetectionSet` with ``scores``). Detections whose
        category is not a gold category are ignored, as COCOeval does.
    iou_type
        ``"bbox"`` (box IoU) or ``"segm"`` (mask IoU; needs ``rles`` on both sides).
    max_dets
        The three per-image detection caps of COCOeval (``params.maxDets``).

    Returns
    -------
    CocoEvalResult
        ``stats`` holds the 12 numbers of ``COCOeval.summarize()``.

    Raises
    ------
    ValueError
        On inconsistent array lengths, NaN/negative box sizes, missing scores or masks,
        or detections in images that are not in gold (COCOeval asserts on those).

    Notes
    -----
    Detection areas, when ``detections.areas`` is ``None``, follow ``COCO.loadRes``:
    box ``w*h`` for bbox, mask area for segm. The first call in a fresh environment
    compiles the numba kernels (a few seconds); they are cached on disk afterwards.

    Examples
    --------
    >>> gold = DetectionGold.from_arrays(
    ...     image_ids=[1, 2], category_ids=[1, 1], boxes=[[0, 0, 40, 40], [0, 0, 40, 40]]
    ... )
    >>> dets = Detections.from_arrays(
    ...     image_ids=[1, 2], category_ids=[1, 1],
    ...     boxes=[[0, 0, 40, 40], [100, 100, 10, 10]], scores=[0.9, 0.8],
    ... )
    >>> round(evaluate_coco(gold, dets).stat("AP50"), 3)
    0.505
    """
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    md = tuple(sorted(int(m) for m in max_dets))
    if len(md) != 3 or md[0] < 1:
        raise ValueError(f"max_dets must be three positive ints, got {max_dets!r}")
    segm = iou_type == "segm"
    check_gold(gold, need_masks=segm)
    check_dets(detections, gold, need_masks=segm, scored=True)
    scores = np.asarray(detections.scores, dtype=np.float64)
    image_ids = np.unique(np.asarray(gold.all_image_ids, dtype=np.int64))
    category_ids = np.unique(np.asarray(gold.all_category_ids, dtype=np.int64))
    precision, recall, score_at = coco_eval_arrays(
        image_ids=image_ids,
        category_ids=category_ids,
        gt_image=np.asarray(gold.image_ids, dtype=np.int64),
        gt_category=np.asarray(gold.category_ids, dtype=np.int64),
        gt_id=np.asarray(gold.ann_ids, dtype=np.int64),
        gt_area=np.asarray(gold.areas, dtype=np.float64),
        gt_crowd=np.asarray(gold.iscrowd, dtype=bool),
        gt_box=None if segm else np.asarray(gold.boxes, dtype=np.float64),
        gt_rle=gold.rles if segm else None,
        dt_image=np.asarray(detections.image_ids, dtype=np.int64),
        dt_category=np.asarray(detections.category_ids, dtype=np.int64),
        dt_score=scores,
        dt_area=_det_areas(detections, iou_type),
        dt_box=None if segm else np.asarray(detections.boxes, dtype=np.float64),
        dt_rle=detections.rles if segm else None,
        max_dets=np.asarray(md, dtype=np.int64),
    )
    return CocoEvalResult(
        iou_type=iou_type,
        stats=summarize(precision, recall, md),
        precision=precision,
        recall=recall,
        scores=score_at,
        category_ids=category_ids,
        max_dets=(md[0], md[1], md[2]),
    )
