"""Flags from the engine's own per-item metric between a label and the model's prediction.

No cleanlab method takes masks, poses, spans or transcripts, so for those task types the
disagreement is the metric the engine scores each item with (:mod:`metrics.scoring`), with
the model's prediction in gold's place: an answer's *quality* is its agreement in ``[0, 1]``
(1 = the label says what the model says) and it is flagged when the agreement is below
:attr:`AgreementFlagger.threshold`. The rule is per answer, so every cut into chunks gives
the flags of the whole delivery; the first pass and the merge carry nothing.

Model confidence: objects the model predicts with a ``score`` below ``min_confidence``
(0.5) are left out before matching (a detector's low-confidence objects are not claims that
the label missed something); objects without a score count as confident.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from metrics.chunked_flags.base import Arrays, ChunkScores, Predictions

__all__ = ["AgreementFlagger", "confident", "check_objects"]

Agreement = Callable[[list[Any], list[Any], Sequence[str]], npt.NDArray[np.float64]]


def check_objects(value: Any, what: str, n: int, need: tuple[str, ...]) -> list[Any]:
    """``value`` as a list of mappings that carry ``need`` (``ValueError`` naming the answer)."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ValueError(f"answer {n}: the {what} must be a list of objects, got {value!r:.80}")
    for j, obj in enumerate(value):
        if not isinstance(obj, Mapping) or any(k not in obj for k in need):
            raise ValueError(f"answer {n}: {what} object {j} needs {list(need)}, got {obj!r:.80}")
    return list(value)


def confident(value: list[Any], min_confidence: float, n: int) -> list[Any]:
    """The model's objects with ``score >= min_confidence`` (or no score)."""
    out = []
    for j, obj in enumerate(value):
        score = obj.get("score")
        if score is not None:
            if isinstance(score, bool) or not isinstance(score, int | float):
                raise ValueError(f"answer {n}: prediction object {j}: score {score!r} not a number")
            if not 0.0 <= float(score) <= 1.0:
                raise ValueError(f"answer {n}: prediction object {j}: score {score} not in [0, 1]")
            if float(score) < min_confidence:
                continue
        out.append(obj)
    return out


class AgreementFlagger:
    """A per-answer agreement metric with a fixed flag threshold (see the module docstring).

    Parameters
    ----------
    task_type
        The engine's task type.
    method
        The line shown with the run (names the metric and the rule).
    agreement
        ``(labels, predictions, classes) -> (n,)`` agreement in ``[0, 1]``; raises
        ``ValueError`` naming the answer for data it cannot read.
    threshold
        An answer is flagged when its agreement is below this.
    """

    def __init__(
        self, task_type: str, method: str, agreement: Agreement, *, threshold: float = 0.5
    ) -> None:
        self.task_type, self.method = task_type, method
        self.agreement, self.threshold = agreement, threshold

    def encode(
        self, labels: Sequence[Any], predictions: Predictions, classes: Sequence[str]
    ) -> dict[str, npt.NDArray[Any]]:
        """The chunk's per-answer agreement (computed here, once: shape ``(n,)``).

        Raises
        ------
        ValueError
            Not one prediction per answer, or an answer or prediction the metric cannot read.
        """
        if len(labels) != len(predictions):
            raise ValueError(f"{len(labels)} answers but {len(predictions)} predictions")
        if not len(labels):
            return {"quality": np.zeros(0, dtype=np.float64)}
        quality = np.asarray(
            self.agreement(list(labels), list(predictions), classes), dtype=np.float64
        )
        return {"quality": quality}

    def first_pass(self, arrays: Arrays) -> dict[str, Any]:
        """Nothing: the rule is per answer."""
        del arrays
        return {}

    def merge(self, partials: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Nothing to merge."""
        del partials
        return {}

    def second_pass(self, arrays: Arrays, merged: dict[str, Any]) -> ChunkScores:
        """The agreement as quality; issues: answers below the threshold."""
        del merged
        quality = np.asarray(arrays["quality"], dtype=np.float64)
        return ChunkScores(quality, int((quality < self.threshold).sum()))

    def issues(self, scored: Sequence[ChunkScores]) -> npt.NDArray[np.int64]:
        """Answers whose agreement is below the threshold, over every chunk in order."""
        if not scored:
            return np.zeros(0, dtype=np.int64)
        quality = np.concatenate([np.asarray(s.quality, dtype=np.float64) for s in scored])
        return np.flatnonzero(quality < self.threshold).astype(np.int64)
