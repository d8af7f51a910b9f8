"""Preference flags in chunks: cleanlab's label-issue search over the choices A, B, tie.

A preference answer is one of :data:`metrics.preference.PREFERENCE_LABELS` (``"A"``, ``"B"``,
``"tie"``, in the item's canonical frame, as :mod:`metrics.scoring.preference` scores it), so
it is a classification over those three choices: :data:`FLAGGER` is the classification
flagger (:mod:`metrics.chunked_flags.classification`, cleanlab's ``LabelInspector`` in
chunks) with the choices as classes, whatever the project's ontology lists. The model's
prediction per answer is a row of probabilities over ``("A", "B", "tie")`` summing to 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy.typing as npt

from metrics.chunked_flags.base import Predictions
from metrics.chunked_flags.classification import ClassificationFlagger, encode_choices
from metrics.preference import PREFERENCE_LABELS

__all__ = ["FLAGGER", "PreferenceFlagger"]


class PreferenceFlagger(ClassificationFlagger):
    """Classification flags over the choices ``A``, ``B``, ``tie``."""

    task_type = "preference"
    method = (
        "cleanlab find_label_issues_batched over the choices A/B/tie (confident thresholds "
        "merged over chunks, self-confidence quality; flagged: the lowest-quality answers, "
        "as many as cleanlab counts)"
    )

    def encode(
        self, labels: Sequence[Any], predictions: Predictions, classes: Sequence[str]
    ) -> dict[str, npt.NDArray[Any]]:
        """Choice codes ``(n,)`` and probabilities ``(n, 3)`` over ``("A", "B", "tie")``.

        ``classes`` (the project's ontology) is not used: the choices are fixed.
        """
        del classes
        return encode_choices(labels, predictions, PREFERENCE_LABELS)


FLAGGER: Final = PreferenceFlagger()
