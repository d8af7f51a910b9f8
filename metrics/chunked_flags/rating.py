"""Rating flags in chunks: cleanlab's regression label quality and Datalab's issue rule.

cleanlab's regression label quality (``cleanlab.regression.rank.get_label_quality_scores``)
has two methods: ``"outre"`` standardizes labels and residuals over the whole set and scores
each answer by its k nearest neighbours among *all* answers (half the data set), so it cannot
be computed chunk by chunk without every answer in one place; ``"residual"``,
``exp(-|prediction - label|)``, is per answer and exact in any chunk. :data:`FLAGGER` uses
``"residual"`` and cleanlab Datalab's regression label-issue rule
(``cleanlab.datalab.internal.issue_manager.regression.label.find_issues_with_predictions``):
an answer is flagged when its quality is below ``0.05`` times the median quality over every
answer (the median is taken in :meth:`~RatingFlagger.issues`, over all chunks).

The quality is in the rating scale's units: with the median answer near the model
(quality near 1), an answer is flagged when it is more than ``ln 20`` (about 3) points from
the model's prediction, e.g. a 1 where the model predicts 4.2 on a 1-5 scale.

A rating answer is one number or ``{criterion: number}`` with one criterion (the engine's
label shape, :mod:`metrics.scoring.rating`); the model predicts one number per answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from metrics.chunked_flags.base import Arrays, ChunkScores, Predictions

__all__ = ["FLAGGER", "RatingFlagger", "THRESHOLD"]

#: Datalab's default multiplier of the median quality (``RegressionLabelIssueManager``).
THRESHOLD: Final = 0.05


def _rating(value: Any, n: int) -> float:
    if isinstance(value, dict):
        if len(value) != 1:
            raise ValueError(
                f"answer {n}: rating flags need one criterion per answer (one model prediction); "
                f"got criteria {sorted(map(str, value))[:5]}"
            )
        (value,) = value.values()
    if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(float(value)):
        raise ValueError(f"answer {n}: a rating is a finite number; got {value!r:.80}")
    return float(value)


def _ratings(labels: Sequence[Any]) -> npt.NDArray[np.float64]:
    """The answers as numbers: a fast pass, then one by one to name a bad answer."""
    plain = [next(iter(v.values())) if isinstance(v, dict) and len(v) == 1 else v for v in labels]
    if all(type(v) is int or type(v) is float for v in plain):
        out = np.asarray(plain, dtype=np.float64)
        if np.isfinite(out).all():
            return out
    return np.asarray([_rating(v, n) for n, v in enumerate(labels)], dtype=np.float64)


class RatingFlagger:
    """cleanlab's residual label quality; flagged below ``0.05 x`` its median (Datalab)."""

    task_type = "rating"
    method = (
        "cleanlab regression rank.get_label_quality_scores(method='residual'), "
        "exp(-|prediction - rating|); flagged when below 0.05 x the median quality over all "
        "answers (cleanlab Datalab's regression label-issue rule)"
    )

    def encode(
        self, labels: Sequence[Any], predictions: Predictions, classes: Sequence[str]
    ) -> dict[str, npt.NDArray[Any]]:
        """Ratings ``(n,)`` and the model's predictions ``(n,)``.

        Raises
        ------
        ValueError
            An answer that is not one number (or one criterion's), or a prediction that is
            not a finite number (named by position).
        """
        del classes
        ratings = _ratings(labels)
        try:
            predicted = np.asarray(predictions, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"predictions must be one number per answer: {exc}") from exc
        if predicted.shape != ratings.shape:
            raise ValueError(
                f"predictions must be one number per answer ({ratings.size}); got {predicted.size}"
            )
        bad = np.flatnonzero(~np.isfinite(predicted))
        if bad.size:
            raise ValueError(f"answers {bad[:5].tolist()}: predictions are not finite numbers")
        return {"ratings": ratings, "predictions": predicted}

    def first_pass(self, arrays: Arrays) -> dict[str, Any]:
        """Nothing: the residual quality is per answer."""
        del arrays
        return {}

    def merge(self, partials: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Nothing to merge."""
        del partials
        return {}

    def second_pass(self, arrays: Arrays, merged: dict[str, Any]) -> ChunkScores:
        """cleanlab's residual quality per answer (issues need the median: 0 here)."""
        # The public get_label_quality_scores squeezes its input (a one-answer chunk would be
        # refused as 0-d); its residual method is this function, per answer.
        from cleanlab.regression.rank import _get_residual_score_for_each_label

        del merged
        ratings = np.asarray(arrays["ratings"], dtype=np.float64)
        if not ratings.size:
            return ChunkScores(np.zeros(0, dtype=np.float64), 0)
        quality = _get_residual_score_for_each_label(
            ratings, np.asarray(arrays["predictions"], dtype=np.float64)
        )
        return ChunkScores(np.asarray(quality, dtype=np.float64), 0)

    def issues(self, scored: Sequence[ChunkScores]) -> npt.NDArray[np.int64]:
        """Answers whose quality is below ``0.05 x`` the median over every answer."""
        quality = np.concatenate([s.quality for s in scored]) if scored else np.zeros(0)
        if not quality.size:
            return np.zeros(0, dtype=np.int64)
        return np.flatnonzero(quality < np.median(quality) * THRESHOLD).astype(np.int64)


FLAGGER: Final = RatingFlagger()
