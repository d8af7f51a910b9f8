"""PASCAL VOC average precision (every-point and 11-point interpolation).

Private: :func:`voc_average_precision` is re-exported by :mod:`metrics.detection`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics._instances import DetectionSet, GoldInstances, check_dets, check_gold
from metrics.types import MetricResult

__all__ = ["VocInterpolation", "voc_average_precision"]

VocInterpolation = Literal["all", "11point"]
FloatArray = npt.NDArray[np.float64]


def _iou_one_to_many(box: FloatArray, boxes: FloatArray, plus: float) -> FloatArray:
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[0] + box[2], boxes[:, 0] + boxes[:, 2])
    y2 = np.minimum(box[1] + box[3], boxes[:, 1] + boxes[:, 3])
    iw = x2 - x1 + plus
    ih = y2 - y1 + plus
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    union = (box[2] + plus) * (box[3] + plus) + (boxes[:, 2] + plus) * (boxes[:, 3] + plus) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(inter > 0, inter / union, 0.0)


def _ap(recall: FloatArray, precision: FloatArray, interpolation: VocInterpolation) -> float:
    if interpolation == "11point":
        total = 0.0
        for r in np.linspace(0.0, 1.0, 11):
            above = precision[recall >= r]
            total += float(above.max()) if above.size else 0.0
        return total / 11.0
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


def voc_average_precision(
    gold: GoldInstances,
    detections: DetectionSet,
    *,
    iou_threshold: float = 0.5,
    interpolation: VocInterpolation = "all",
    pixel_inclusive: bool = False,
) -> MetricResult:
    """PASCAL VOC AP per class and their mean (mAP) over the classes that have gold.

    Per class, detections are taken by descending score (ties keep input order); each
    is matched to the gold box of its image with the highest IoU. It is a true positive
    when that IoU reaches ``iou_threshold`` and the gold box is not matched yet, otherwise
    a false positive. Crowd gold plays VOC's "difficult": not counted, and a detection
    matched to it is neither TP nor FP.

    Parameters
    ----------
    gold, detections
        As for :func:`metrics.detection.evaluate_coco` (``detections.scores`` required).
    iou_threshold
        Minimum IoU of a true positive.
    interpolation
        ``"all"``: area under the monotone precision envelope at every recall step
        (VOC 2010+); ``"11point"``: mean of the envelope at recall 0, 0.1, ..., 1 (VOC 2007).
    pixel_inclusive
        Count box widths and heights as ``w + 1`` pixels, as the VOC devkit does for its
        inclusive integer coordinates.

    Returns
    -------
    MetricResult
        ``value``: mAP; ``per_item``: AP per class (index ``category_id``).

    Examples
    --------
    >>> from metrics.detection import DetectionGold, Detections
    >>> gold = DetectionGold.from_arrays(image_ids=[1], category_ids=[1], boxes=[[0, 0, 10, 10]])
    >>> dets = Detections.from_arrays(image_ids=[1, 1], category_ids=[1, 1],
    ...     boxes=[[50, 50, 5, 5], [0, 0, 10, 10]], scores=[0.9, 0.8])
    >>> voc_average_precision(gold, dets).value
    0.5
    """
    if interpolation not in ("all", "11point"):
        raise ValueError(f"interpolation must be 'all' or '11point', got {interpolation!r}")
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    check_gold(gold, need_masks=False)
    check_dets(detections, gold, need_masks=False, scored=True)
    plus = 1.0 if pixel_inclusive else 0.0
    g_img = np.asarray(gold.image_ids, dtype=np.int64)
    g_cat = np.asarray(gold.category_ids, dtype=np.int64)
    g_box = np.asarray(gold.boxes, dtype=np.float64)
    g_hard = np.asarray(gold.iscrowd, dtype=bool)
    d_img = np.asarray(detections.image_ids, dtype=np.int64)
    d_cat = np.asarray(detections.category_ids, dtype=np.int64)
    d_box = np.asarray(detections.boxes, dtype=np.float64)
    d_score = np.asarray(detections.scores, dtype=np.float64)

    classes = np.unique(g_cat[~g_hard])
    aps = np.zeros(classes.shape[0], dtype=np.float64)
    for k, c in enumerate(classes):
        gi = np.flatnonzero(g_cat == c)
        npos = int((~g_hard[gi]).sum())
        di = np.flatnonzero(d_cat == c)
        di = di[np.argsort(-d_score[di], kind="stable")]
        used = np.zeros(gi.shape[0], dtype=bool)
        tp = np.zeros(di.shape[0])
        fp = np.zeros(di.shape[0])
        for n, j in enumerate(di):
            same = np.flatnonzero(g_img[gi] == d_img[j])
            if same.size == 0:
                fp[n] = 1
                continue
            ious = _iou_one_to_many(d_box[j], g_box[gi[same]], plus)
            best = int(np.argmax(ious))  # first of equal maxima
            m = same[best]
            if ious[best] >= iou_threshold:
                if g_hard[gi[m]]:
                    continue
                if not used[m]:
                    used[m] = True
                    tp[n] = 1
                    continue
            fp[n] = 1
        ctp = np.cumsum(tp)
        cfp = np.cumsum(fp)
        recall = ctp / npos
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.where(ctp + cfp > 0, ctp / (ctp + cfp), 0.0)
        aps[k] = _ap(recall, precision, interpolation)
    per_class = pd.Series(aps, index=pd.Index(classes, name="category_id"), name="ap")
    return MetricResult(
        name="voc_map",
        value=float(aps.mean()) if aps.size else float("nan"),
        per_item=per_class,
        params={
            "iou_threshold": float(iou_threshold),
            "interpolation": interpolation,
            "pixel_inclusive": pixel_inclusive,
        },
    )
