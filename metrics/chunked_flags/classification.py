"""Classification flags in chunks: cleanlab's label-issue search cut at its reductions.

:data:`FLAGGER` wraps :mod:`metrics.label_issues_partitioned` (cleanlab's ``LabelInspector``,
the engine of ``cleanlab.experimental.label_issues_batched.find_label_issues_batched``):

* :meth:`~ClassificationFlagger.encode`: labels as class codes, the model's ``(n, K)``
  probabilities (rows summing to 1) in ontology order;
* first pass: the chunk's class counts and confident thresholds; merge: cleanlab's running
  update replayed in chunk order;
* second pass: cleanlab's self-confidence label quality and the chunk's issue count;
* issues: the lowest-quality answers, as many as the summed counts (``find_top_issues``).

Run over any cut into chunks it gives ``find_label_issues_batched``'s flags and qualities
on all answers at once (``tests/metrics/test_chunked_flags.py``).

Examples
--------
>>> import numpy as np
>>> probs = np.array([[0.9, 0.1]] * 4 + [[0.1, 0.9]] * 4)
>>> labels = ["cat", "cat", "cat", "dog", "dog", "dog", "dog", "dog"]
>>> chunks = [FLAGGER.encode(labels[:5], probs[:5], ["cat", "dog"]),
...           FLAGGER.encode(labels[5:], probs[5:], ["cat", "dog"])]
>>> merged = FLAGGER.merge([FLAGGER.first_pass(c) for c in chunks])
>>> FLAGGER.issues([FLAGGER.second_pass(c, merged) for c in chunks]).tolist()
[3]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.chunked_flags.base import Arrays, ChunkScores, Predictions
from metrics.label_issues_partitioned import (
    MergedThresholds,
    ScoredPartition,
    ThresholdPartial,
    issues_from_partitions,
    merge_thresholds,
    score_partition,
    threshold_partial,
)

__all__ = ["FLAGGER", "ClassificationFlagger", "PROB_TOL", "encode_choices"]

#: How far a row of probabilities may sum from 1 (as :mod:`metrics.label_issues`).
PROB_TOL: Final = 1e-4


def encode_choices(
    labels: Sequence[Any], predictions: Predictions, classes: Sequence[str]
) -> dict[str, npt.NDArray[Any]]:
    """Class codes ``(n,)`` and probabilities ``(n, K)`` of one-class-per-answer labels.

    Raises
    ------
    ValueError
        A label that is not one of ``classes``, or predictions that are not ``(n, K)`` rows
        of probabilities summing to 1 (the first five answers named, by position).
    """
    k = len(classes)
    probs = np.asarray(predictions, dtype=np.float64)
    if probs.size == 0:
        probs = probs.reshape(0, k)
    if probs.ndim != 2 or probs.shape != (len(labels), k):
        raise ValueError(
            f"predictions must be one row of {k} probabilities per answer ({len(labels)}); "
            f"got shape {probs.shape}"
        )
    bad = ~np.isfinite(probs).all(axis=1) | (np.abs(probs.sum(axis=1) - 1.0) > PROB_TOL)
    bad |= (probs < 0).any(axis=1) | (probs > 1).any(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)[:5].tolist()
        raise ValueError(f"answers {rows}: predictions are not probabilities summing to 1")
    given = pd.Index(list(labels), dtype=object)
    codes = pd.Index(list(classes), dtype=object).get_indexer(given).astype(np.int64)
    if (codes < 0).any():
        wrong = sorted({str(labels[i]) for i in np.flatnonzero(codes < 0)[:5]})
        raise ValueError(f"labels {wrong} are not classes of the ontology {list(classes)}")
    return {"codes": codes, "probs": probs}


class ClassificationFlagger:
    """cleanlab's label-issue search on one class per answer (see the module docstring)."""

    task_type = "classification"
    method = (
        "cleanlab find_label_issues_batched (confident thresholds merged over chunks, "
        "self-confidence quality; flagged: the lowest-quality answers, as many as cleanlab "
        "counts)"
    )

    def encode(
        self, labels: Sequence[Any], predictions: Predictions, classes: Sequence[str]
    ) -> dict[str, npt.NDArray[Any]]:
        """Codes ``(n,)`` and probabilities ``(n, K)`` (columns in ``classes`` order)."""
        return encode_choices(labels, predictions, classes)

    def first_pass(self, arrays: Arrays) -> dict[str, Any]:
        """The chunk's class counts and confident thresholds."""
        probs = arrays["probs"]
        part = threshold_partial(arrays["codes"], probs, probs.shape[1])
        return {
            "class_counts": part.class_counts.tolist(),
            "thresholds": part.thresholds.tolist(),
            "n_rows": part.n_rows,
        }

    def merge(self, partials: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The thresholds over every chunk (cleanlab's running update, in chunk order)."""
        k = len(partials[0]["thresholds"]) if partials else 0
        merged = merge_thresholds(
            [
                ThresholdPartial(
                    np.asarray(p["class_counts"], dtype=np.int64),
                    np.asarray(p["thresholds"], dtype=np.float64),
                    int(p["n_rows"]),
                )
                for p in partials
            ],
            k,
        )
        return {
            "thresholds": merged.thresholds.tolist(),
            "class_counts": merged.class_counts.tolist(),
            "n_rows": merged.n_rows,
        }

    def second_pass(self, arrays: Arrays, merged: dict[str, Any]) -> ChunkScores:
        """cleanlab's label quality per answer and the chunk's issue count."""
        scored = score_partition(arrays["codes"], arrays["probs"], _thresholds(merged))
        return ChunkScores(scored.label_quality, scored.n_issues)

    def issues(self, scored: Sequence[ChunkScores]) -> npt.NDArray[np.int64]:
        """The lowest-quality answers, as many as the chunks' summed issue counts."""
        return issues_from_partitions([ScoredPartition(s.quality, s.n_issues) for s in scored])


def _thresholds(merged: dict[str, Any]) -> MergedThresholds:
    return MergedThresholds(
        np.asarray(merged["thresholds"], dtype=np.float64),
        np.asarray(merged["class_counts"], dtype=np.int64),
        int(merged["n_rows"]),
    )


FLAGGER: Final = ClassificationFlagger()
