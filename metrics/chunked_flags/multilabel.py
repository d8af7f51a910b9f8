"""Multi-label flags in chunks: cleanlab's one-vs-rest label-issue search, class by class.

``cleanlab.multilabel_classification.filter.find_label_issues(labels, pred_probs,
low_memory=True)`` runs ``find_label_issues_batched`` (the ``LabelInspector``) on each class
as a binary problem (label: the class is in the answer's set; probabilities: ``1 - p_k``,
``p_k``) and flags an answer when any class is an issue. :data:`FLAGGER` does the same with
the partitioned inspector (:mod:`metrics.label_issues_partitioned`) once per class:

* :meth:`~MultilabelFlagger.encode`: the answer's set as a 0/1 row ``(n, K)``, the model's
  independent per-class probabilities ``(n, K)`` (each in ``[0, 1]``, no sum rule);
* first pass / merge: each class's binary confident thresholds;
* second pass: each class's binary quality and issue count (kept in ``detail``), and the
  answer's quality: ``cleanlab.multilabel_classification.rank.get_label_quality_scores``
  (self-confidence per class, exponential moving average over classes), per answer;
* issues: per class the lowest-quality answers, as many as that class's summed counts; an
  answer is flagged when any class flags it.

Over any cut into chunks the flagged set and qualities equal cleanlab's on all answers at once
(``tests/metrics/test_chunked_flags.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from metrics.chunked_flags.base import Arrays, ChunkScores, Predictions
from metrics.chunked_flags.classification import ClassificationFlagger
from metrics.label_issues_partitioned import score_partition

__all__ = ["FLAGGER", "MultilabelFlagger"]

_BINARY = ClassificationFlagger()


def _binary(probs: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.float64]:
    """cleanlab's ``stack_complement``: ``(1 - p_k, p_k)`` per answer."""
    p = probs[:, k]
    return np.stack([1.0 - p, p], axis=1)


class MultilabelFlagger:
    """cleanlab's multi-label search, one binary inspector per class (see the module)."""

    task_type = "multilabel"
    method = (
        "cleanlab multilabel_classification.filter.find_label_issues(low_memory=True): per "
        "class a binary find_label_issues_batched (thresholds merged over chunks), flagged "
        "when any class is an issue; quality: multilabel rank.get_label_quality_scores"
    )

    def encode(
        self, labels: Sequence[Any], predictions: Predictions, classes: Sequence[str]
    ) -> dict[str, npt.NDArray[Any]]:
        """0/1 memberships ``(n, K)`` and probabilities ``(n, K)`` in ``classes`` order.

        Raises
        ------
        ValueError
            An answer that is not a list of the ontology's classes, or predictions that are
            not ``(n, K)`` numbers in ``[0, 1]`` (the answers named by position).
        """
        k = len(classes)
        probs = np.asarray(predictions, dtype=np.float64)
        if probs.size == 0:
            probs = probs.reshape(0, k)
        if probs.ndim != 2 or probs.shape != (len(labels), k):
            raise ValueError(
                f"predictions must be one row of {k} class probabilities per answer "
                f"({len(labels)}); got shape {probs.shape}"
            )
        bad = ~np.isfinite(probs).all(axis=1) | (probs < 0).any(axis=1) | (probs > 1).any(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise ValueError(f"answers {rows}: predictions are not probabilities in [0, 1]")
        position = {c: j for j, c in enumerate(classes)}
        members = np.zeros((len(labels), k), dtype=np.int64)
        for n, value in enumerate(labels):
            if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
                raise ValueError(
                    f"answer {n}: a multi-label answer is a list of classes; got {value!r:.80}"
                )
            for cls in value:
                j = position.get(cls) if isinstance(cls, str) else None
                if j is None:
                    raise ValueError(
                        f"answer {n}: {cls!r:.40} is not a class of the ontology {list(classes)}"
                    )
                members[n, j] = 1
        return {"members": members, "probs": probs}

    def first_pass(self, arrays: Arrays) -> dict[str, Any]:
        """Each class's binary confident thresholds over the chunk."""
        members, probs = arrays["members"], arrays["probs"]
        return {
            "per_class": [
                _BINARY.first_pass({"codes": members[:, k], "probs": _binary(probs, k)})
                for k in range(probs.shape[1])
            ]
        }

    def merge(self, partials: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Each class's thresholds over every chunk, in chunk order."""
        k = len(partials[0]["per_class"]) if partials else 0
        return {
            "per_class": [_BINARY.merge([p["per_class"][j] for p in partials]) for j in range(k)]
        }

    def second_pass(self, arrays: Arrays, merged: dict[str, Any]) -> ChunkScores:
        """The answer's quality; per class the binary quality and issue count (``detail``)."""
        from cleanlab.multilabel_classification.rank import get_label_quality_scores

        from metrics.chunked_flags.classification import _thresholds

        members, probs = arrays["members"], arrays["probs"]
        n, k = probs.shape
        per_class = np.zeros((n, k), dtype=np.float64)
        counts = np.zeros(k, dtype=np.int64)
        for j in range(k):
            scored = score_partition(
                members[:, j], _binary(probs, j), _thresholds(merged["per_class"][j])
            )
            per_class[:, j] = scored.label_quality
            counts[j] = scored.n_issues
        quality = (
            np.asarray(
                get_label_quality_scores([np.flatnonzero(row).tolist() for row in members], probs),
                dtype=np.float64,
            )
            if n
            else np.zeros(0, dtype=np.float64)
        )
        return ChunkScores(
            quality, int(counts.sum()), {"class_quality": per_class, "class_issues": counts}
        )

    def issues(self, scored: Sequence[ChunkScores]) -> npt.NDArray[np.int64]:
        """Answers that any class's binary search flags (ascending positions)."""
        from cleanlab.experimental.label_issues_batched import find_top_issues

        parts = [s for s in scored if s.quality.size]
        if not parts:
            return np.zeros(0, dtype=np.int64)
        quality = np.concatenate([np.asarray(s.detail["class_quality"]) for s in parts])
        counts = np.sum([np.asarray(s.detail["class_issues"]) for s in parts], axis=0)
        flagged = np.zeros(quality.shape[0], dtype=bool)
        for j in range(quality.shape[1]):
            top = int(counts[j])
            if top:
                flagged[np.asarray(find_top_issues(quality[:, j], top=top), dtype=np.int64)] = True
        return np.flatnonzero(flagged).astype(np.int64)


FLAGGER: Final = MultilabelFlagger()
