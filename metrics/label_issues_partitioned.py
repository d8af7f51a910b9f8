"""cleanlab's two-pass label-issue search split into partitions that separate workers compute.

:func:`metrics.label_issues.find_label_issues_chunked` runs cleanlab's ``LabelInspector``
over chunks one after the other. Here the same computation is cut at its two reductions so
that each chunk can be processed by a different worker and the results merged exactly once:

1. :func:`threshold_partial` per chunk: the chunk's class counts and per-class confident
   thresholds (cleanlab's ``get_confident_thresholds``);
2. :func:`merge_thresholds`: the running update of ``LabelInspector.update_confident_thresholds``
   replayed over the partials in chunk order, so the thresholds are bit-for-bit those of the
   sequential pass;
3. :func:`score_partition` per chunk: cleanlab's label quality and the chunk's count of
   label issues (``LabelInspector.score_label_quality`` with the merged thresholds);
4. :func:`issues_from_partitions`: the issues are the lowest-quality rows, as many as the
   summed counts (cleanlab's ``find_top_issues``).

The result equals :func:`~metrics.label_issues.find_label_issues_chunked` on the same chunks.

Examples
--------
>>> import numpy as np
>>> probs = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4)
>>> codes = np.array([0, 0, 0, 1, 1, 1, 1, 1])
>>> parts = [threshold_partial(codes[:5], probs[:5], 2), threshold_partial(codes[5:], probs[5:], 2)]
>>> t = merge_thresholds(parts, 2)
>>> scored = [score_partition(codes[:5], probs[:5], t), score_partition(codes[5:], probs[5:], t)]
>>> issues_from_partitions(scored).tolist()
[3]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = [
    "ThresholdPartial",
    "MergedThresholds",
    "ScoredPartition",
    "threshold_partial",
    "merge_thresholds",
    "score_partition",
    "issues_from_partitions",
]

QualityMethod = Literal["self_confidence", "normalized_margin"]


@dataclass(frozen=True)
class ThresholdPartial:
    """One chunk's contribution to the confident thresholds: shapes ``(K,)``."""

    class_counts: npt.NDArray[np.int64]
    thresholds: npt.NDArray[np.float64]
    n_rows: int


@dataclass(frozen=True)
class MergedThresholds:
    """The confident thresholds over every chunk, and the counts they came from."""

    thresholds: npt.NDArray[np.float64]
    class_counts: npt.NDArray[np.int64]
    n_rows: int


@dataclass(frozen=True)
class ScoredPartition:
    """One chunk's label quality (shape ``(n,)``) and its count of label issues."""

    label_quality: npt.NDArray[np.float64]
    n_issues: int


def _check(
    codes: npt.ArrayLike, probs: npt.ArrayLike, k: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    c = np.asarray(codes, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != k or c.shape != (p.shape[0],):
        raise ValueError(f"codes (n,) and probs (n, {k}) expected; got {c.shape} and {p.shape}")
    if c.size and (c.min() < 0 or c.max() >= k):
        raise ValueError(f"codes must lie in [0, {k}); got {int(c.min())}..{int(c.max())}")
    return c, p


def threshold_partial(
    codes: npt.ArrayLike, probs: npt.ArrayLike, n_classes: int
) -> ThresholdPartial:
    """A chunk's class counts and confident thresholds (cleanlab's, for that chunk alone)."""
    from cleanlab.count import get_confident_thresholds
    from cleanlab.internal.util import value_counts_fill_missing_classes

    c, p = _check(codes, probs, n_classes)
    if not c.size:
        zeros = np.zeros(n_classes)
        return ThresholdPartial(zeros.astype(np.int64), zeros, 0)
    return ThresholdPartial(
        np.asarray(value_counts_fill_missing_classes(c, num_classes=n_classes), dtype=np.int64),
        np.asarray(get_confident_thresholds(c, p), dtype=np.float64),
        int(c.size),
    )


def merge_thresholds(partials: Sequence[ThresholdPartial], n_classes: int) -> MergedThresholds:
    """Replay ``LabelInspector.update_confident_thresholds`` over the partials in order."""
    from cleanlab.experimental.label_issues_batched import CONFIDENT_THRESHOLDS_LOWER_BOUND

    per_class = np.zeros(n_classes, dtype=np.int64)
    thresholds = np.zeros(n_classes, dtype=np.float64)
    rows = 0
    for part in partials:
        if part.n_rows == 0:
            continue
        thresholds = (per_class * thresholds + part.class_counts * part.thresholds) / np.clip(
            per_class + part.class_counts, a_min=1, a_max=None
        )
        thresholds = np.clip(thresholds, a_min=CONFIDENT_THRESHOLDS_LOWER_BOUND, a_max=None)
        per_class = per_class + part.class_counts
        rows += part.n_rows
    return MergedThresholds(thresholds, per_class, rows)


def score_partition(
    codes: npt.ArrayLike,
    probs: npt.ArrayLike,
    merged: MergedThresholds,
    *,
    quality_method: QualityMethod = "self_confidence",
) -> ScoredPartition:
    """A chunk's label quality and issue count, by cleanlab's ``LabelInspector``."""
    from cleanlab.experimental.label_issues_batched import LabelInspector

    k = merged.thresholds.size
    c, p = _check(codes, probs, k)
    if not c.size:
        return ScoredPartition(np.zeros(0, dtype=np.float64), 0)
    if merged.n_rows < 1:
        raise ValueError("the thresholds were merged from no rows")
    inspector = LabelInspector(
        num_class=k,
        store_results=False,
        verbose=False,
        quality_score_kwargs={"method": quality_method},
        n_jobs=1,
    )
    inspector.confident_thresholds = merged.thresholds.copy()
    inspector.examples_per_class = merged.class_counts.copy()
    inspector.examples_processed_thresh = merged.n_rows
    quality = np.asarray(inspector.score_label_quality(c, p), dtype=np.float64)
    return ScoredPartition(quality, int(inspector.prune_count))


def issues_from_partitions(scored: Sequence[ScoredPartition]) -> npt.NDArray[np.int64]:
    """Row indices (over the chunks in order) of the label issues, most severe first."""
    from cleanlab.experimental.label_issues_batched import find_top_issues

    quality = (
        np.concatenate([s.label_quality for s in scored]) if scored else np.zeros(0, np.float64)
    )
    if not quality.size:
        return np.zeros(0, dtype=np.int64)
    top = sum(s.n_issues for s in scored)
    return np.asarray(find_top_issues(quality, top=top), dtype=np.int64)
