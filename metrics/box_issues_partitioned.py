"""cleanlab's ObjectLab (object detection label issues) cut at its dataset-wide reductions.

:func:`metrics.label_issues.find_box_label_issues` calls
``cleanlab.object_detection.filter.find_label_issues`` and
``cleanlab.object_detection.rank.get_label_quality_scores`` on every image at once. Two of
their inputs are statistics of the whole dataset, not of one image, so an image's result
depends on the other images:

* ``min_possible_similarity`` (``rank._get_min_possible_similarity``): the smallest
  non-zero label-prediction similarity over all images. It enters every image's overlooked
  and swap box scores, hence the *quality* of every image;
* the per-class thresholds of ``filter._find_label_issues``: each class's average precision
  over all images at the ten IoU thresholds 0.5:0.95 (``filter._get_per_class_ap``), times
  ``AP_SCALE_FACTOR``. A box is an issue when its score is at most its class's threshold
  times the issue type's factor, so these decide the *flagged set*.

Here the computation is cut at those two reductions, so that separate workers can process
chunks of images and merge once:

1. :func:`box_partial` per chunk: the chunk's smallest similarity, its label boxes per
   class, and, per class, every distinct prediction score with how many of the chunk's
   predictions have it and how many of those are true positives at each IoU threshold
   (cleanlab's per-image greedy matching, ``_calculate_true_positives_false_positives``,
   on its overlap matrix computed once for the ten thresholds);
2. :func:`merge_box_partials`: the minimum similarity and each class's average precision
   from the summed counts, with cleanlab's arithmetic (float32 cumulative sums,
   ``_calculate_average_precision``);
3. :func:`score_box_partition` per chunk: each image's quality and issue flag, cleanlab's
   per-box scores with the merged similarity and thresholds.

Exactness: the qualities equal cleanlab's on all images at once for any cut (the minimum is
exact). The flags equal cleanlab's whenever no score is shared by a true and a false positive
of the same class at the same IoU threshold. Within such a tie cleanlab's order is that of an
unstable sort of the concatenated scores, which no cut into chunks can reproduce; here the
false positives of a tie come first (the lowest average precision any order of the tie
gives, so the fewest flags), the same for every cut and every order of the images.

Size: the partials hold one entry per distinct prediction score per class (twelve numbers).
The delivery flag run reads confidences to 4 decimals (:mod:`metrics.chunked_flags.
detection`), which keeps that at most 10,001 per class, whatever the number of images.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "N_IOU",
    "BoxPartial",
    "MergedBoxStats",
    "ScoredBoxes",
    "box_partial",
    "merge_box_partials",
    "score_box_partition",
]

#: cleanlab's IoU thresholds for the per-class average precision: 0.5, 0.55, ..., 0.95.
_IOU_THRESHOLDS: Final = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1)
N_IOU: Final = len(_IOU_THRESHOLDS)

CleanlabLabels = list[dict[str, Any]]
CleanlabPredictions = list[npt.NDArray[Any]]


@dataclass(frozen=True)
class BoxPartial:
    """One chunk's contribution to the dataset-wide statistics.

    Attributes
    ----------
    min_similarity
        The chunk's smallest non-zero label-prediction similarity (1 when none).
    n_gts
        Shape ``(K,)``: the chunk's label boxes per class.
    scores, counts, true_positives
        Per class ``k``: the distinct prediction scores ``(D_k,)`` (descending), how many
        predictions have each ``(D_k,)``, and how many of those are true positives at each
        IoU threshold ``(D_k, 10)``.
    """

    min_similarity: float
    n_gts: npt.NDArray[np.int64]
    scores: tuple[npt.NDArray[np.float64], ...]
    counts: tuple[npt.NDArray[np.int64], ...]
    true_positives: tuple[npt.NDArray[np.int64], ...]

    def to_json(self) -> dict[str, Any]:
        """The partial as JSON-able lists."""
        return {
            "min_similarity": self.min_similarity,
            "n_gts": self.n_gts.tolist(),
            "scores": [s.tolist() for s in self.scores],
            "counts": [c.tolist() for c in self.counts],
            "true_positives": [t.tolist() for t in self.true_positives],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BoxPartial:
        """The inverse of :meth:`to_json`."""
        return cls(
            float(data["min_similarity"]),
            np.asarray(data["n_gts"], dtype=np.int64),
            tuple(np.asarray(s, dtype=np.float64) for s in data["scores"]),
            tuple(np.asarray(c, dtype=np.int64) for c in data["counts"]),
            tuple(np.asarray(t, dtype=np.int64).reshape(-1, N_IOU) for t in data["true_positives"]),
        )


@dataclass(frozen=True)
class MergedBoxStats:
    """The dataset-wide statistics: minimum similarity and per-class AP threshold ``(K,)``.

    ``class_ap`` is cleanlab's ``class_num_to_AP`` (mean AP over the IoU thresholds times
    ``AP_SCALE_FACTOR``), float32 values as cleanlab computes them.
    """

    min_similarity: float
    class_ap: npt.NDArray[np.float32]

    def to_json(self) -> dict[str, Any]:
        """JSON-able (float32 values convert to float exactly)."""
        return {
            "min_similarity": self.min_similarity,
            "class_ap": [float(v) for v in self.class_ap],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MergedBoxStats:
        """The inverse of :meth:`to_json`."""
        return cls(float(data["min_similarity"]), np.asarray(data["class_ap"], dtype=np.float32))


@dataclass(frozen=True)
class ScoredBoxes:
    """A chunk's per-image label quality ``(n,)`` and issue flags ``(n,)``."""

    quality: npt.NDArray[np.float64]
    is_issue: npt.NDArray[np.bool_]


def _true_positives(
    pred: npt.NDArray[np.float64], lab: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """``(M, 10)``: whether each prediction of one image and class is a true positive at each
    IoU threshold, cleanlab's ``_calculate_true_positives_false_positives`` for all ten
    thresholds on one overlap matrix (cleanlab computes the matrix once per threshold)."""
    from cleanlab.object_detection.rank import _get_overlap_matrix

    out = np.zeros((pred.shape[0], N_IOU), dtype=np.int64)
    if lab.shape[0] == 0 or pred.shape[0] == 0:
        return out
    ious = _get_overlap_matrix(pred, lab)
    ious_max = ious.max(axis=1)
    ious_argmax = ious.argmax(axis=1)
    order = np.argsort(-pred[:, -1])
    for j, threshold in enumerate(_IOU_THRESHOLDS):
        covered = np.zeros(lab.shape[0], dtype=bool)
        for index in order:
            if ious_max[index] >= threshold and not covered[ious_argmax[index]]:
                covered[ious_argmax[index]] = True
                out[index, j] = 1
    return out


def box_partial(
    labels: CleanlabLabels, predictions: CleanlabPredictions, n_classes: int
) -> BoxPartial:
    """A chunk's :class:`BoxPartial` (cleanlab's input forms: see ``find_label_issues``)."""
    from cleanlab.internal.constants import ALPHA
    from cleanlab.object_detection.filter import _filter_by_class
    from cleanlab.object_detection.rank import _get_min_possible_similarity

    min_sim = float(_get_min_possible_similarity(ALPHA, predictions, labels)) if labels else 1.0
    n_gts = np.zeros(n_classes, dtype=np.int64)
    scores, counts, tps = [], [], []
    for k in range(n_classes):
        pred_boxes, lab_boxes = _filter_by_class(labels, predictions, k)
        n_gts[k] = sum(int(b.shape[0]) for b in lab_boxes)
        per_image = [_true_positives(p, lab) for p, lab in zip(pred_boxes, lab_boxes, strict=True)]
        tp = np.concatenate(per_image) if per_image else np.zeros((0, N_IOU), dtype=np.int64)
        s = (
            np.concatenate([p[:, -1] for p in pred_boxes]).astype(np.float64)
            if pred_boxes
            else np.zeros(0)
        )
        unique, inverse = np.unique(-s, return_inverse=True)  # descending scores
        count = np.bincount(inverse, minlength=unique.size).astype(np.int64)
        summed = np.zeros((unique.size, N_IOU), dtype=np.int64)
        np.add.at(summed, inverse, tp)
        scores.append(-unique)
        counts.append(count)
        tps.append(summed)
    return BoxPartial(min_sim, n_gts, tuple(scores), tuple(counts), tuple(tps))


def _class_ap(
    scores: list[npt.NDArray[np.float64]],
    counts: list[npt.NDArray[np.int64]],
    tps: list[npt.NDArray[np.int64]],
    n_gts: int,
) -> np.float32:
    """One class's ``class_num_to_AP`` from the summed counts (cleanlab's arithmetic)."""
    from cleanlab.internal.constants import AP_SCALE_FACTOR
    from cleanlab.object_detection.filter import _calculate_average_precision

    s = np.concatenate(scores) if scores else np.zeros(0)
    c = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    t = np.concatenate(tps) if tps else np.zeros((0, N_IOU), np.int64)
    unique, inverse = np.unique(-s, return_inverse=True)
    n = np.bincount(inverse, weights=c, minlength=unique.size).astype(np.int64)
    tp = np.zeros((unique.size, N_IOU), dtype=np.int64)
    np.add.at(tp, inverse, t)
    total = int(n.sum())
    eps = np.finfo(np.float32).eps
    num_gts = np.array([n_gts], dtype=int)
    aps = []
    for j in range(N_IOU):
        # Each score's predictions in turn, false positives of a tie first.
        seq = np.zeros(total, dtype=np.float32)
        ends = np.cumsum(n)
        for end, hits in zip(ends, tp[:, j], strict=True):
            if hits:
                seq[end - hits : end] = 1.0
        true_positives = np.cumsum(seq[np.newaxis, :], axis=1)
        false_positives = np.cumsum((1.0 - seq).astype(np.float32)[np.newaxis, :], axis=1)
        recalls = true_positives / np.maximum(num_gts[:, np.newaxis], eps)
        precisions = true_positives / np.maximum((true_positives + false_positives), eps)
        aps.append(_calculate_average_precision(recalls[0, :], precisions[0, :]))
    return np.float32(np.mean(aps) * AP_SCALE_FACTOR)


def merge_box_partials(partials: Sequence[BoxPartial], n_classes: int) -> MergedBoxStats:
    """Every chunk's partial combined (any order gives the same result)."""
    min_sim = min((p.min_similarity for p in partials), default=1.0)
    ap = np.zeros(n_classes, dtype=np.float32)
    for k in range(n_classes):
        ap[k] = _class_ap(
            [p.scores[k] for p in partials],
            [p.counts[k] for p in partials],
            [p.true_positives[k] for p in partials],
            int(sum(int(p.n_gts[k]) for p in partials)),
        )
    return MergedBoxStats(float(min_sim), ap)


def score_box_partition(
    labels: CleanlabLabels, predictions: CleanlabPredictions, merged: MergedBoxStats
) -> ScoredBoxes:
    """Each image's ObjectLab quality and issue flag, with the dataset-wide statistics."""
    from cleanlab.internal.constants import (
        ALPHA,
        BADLOC_THRESHOLD_FACTOR,
        HIGH_PROBABILITY_THRESHOLD,
        LOW_PROBABILITY_THRESHOLD,
        OVERLOOKED_THRESHOLD_FACTOR,
        SWAP_THRESHOLD_FACTOR,
        TEMPERATURE,
        TINY_VALUE,
    )
    from cleanlab.object_detection.filter import (
        _find_label_issues_per_box,
        _pool_box_scores_per_image,
        _process_class_list,
    )
    from cleanlab.object_detection.rank import (
        _get_aggregation_weights,
        _get_valid_inputs_for_compute_scores_per_image,
        _separate_label,
        _separate_prediction,
        compute_badloc_box_scores,
        compute_overlooked_box_scores,
        compute_swap_box_scores,
        pool_box_scores_per_image,
    )

    if not labels:
        return ScoredBoxes(np.zeros(0, dtype=np.float64), np.zeros(0, dtype=bool))
    aux = [
        _get_valid_inputs_for_compute_scores_per_image(
            alpha=ALPHA, label=lab, prediction=pred, min_possible_similarity=merged.min_similarity
        )
        for lab, pred in zip(labels, predictions, strict=True)
    ]
    with contextlib.redirect_stdout(io.StringIO()):
        overlooked = compute_overlooked_box_scores(
            alpha=ALPHA, high_probability_threshold=HIGH_PROBABILITY_THRESHOLD, auxiliary_inputs=aux
        )
        badloc = compute_badloc_box_scores(
            alpha=ALPHA, low_probability_threshold=LOW_PROBABILITY_THRESHOLD, auxiliary_inputs=aux
        )
        swap = compute_swap_box_scores(
            alpha=ALPHA,
            high_probability_threshold=HIGH_PROBABILITY_THRESHOLD,
            overlapping_label_check=True,
            auxiliary_inputs=aux,
        )
    # Quality (get_label_quality_scores) first: the issue search sets NaN scores to 1 in place.
    weights = _get_aggregation_weights(None)
    quality = np.exp(
        weights["overlooked"]
        * np.log(TINY_VALUE + pool_box_scores_per_image(overlooked, temperature=TEMPERATURE))
        + weights["badloc"]
        * np.log(TINY_VALUE + pool_box_scores_per_image(badloc, temperature=TEMPERATURE))
        + weights["swap"]
        * np.log(TINY_VALUE + pool_box_scores_per_image(swap, temperature=TEMPERATURE))
    )
    per_class = {k: np.float32(v) for k, v in enumerate(merged.class_ap)}
    lab_list = [_separate_label(lab)[1] for lab in labels]
    pred_list = [_separate_prediction(pred)[1] for pred in predictions]
    pred_thresholds = _process_class_list(pred_list, per_class)
    lab_thresholds = _process_class_list(lab_list, per_class)
    issues = (
        _pool_box_scores_per_image(
            _find_label_issues_per_box(overlooked, pred_thresholds, OVERLOOKED_THRESHOLD_FACTOR)
        )
        + _pool_box_scores_per_image(
            _find_label_issues_per_box(badloc, lab_thresholds, BADLOC_THRESHOLD_FACTOR)
        )
        + _pool_box_scores_per_image(
            _find_label_issues_per_box(swap, lab_thresholds, SWAP_THRESHOLD_FACTOR)
        )
    )
    return ScoredBoxes(np.asarray(quality, dtype=np.float64), np.asarray(issues > 0, dtype=bool))
