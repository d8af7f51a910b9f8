"""Transcription flags: the label's word error rate against the model's transcript.

The engine's per-item transcription score (:mod:`metrics.scoring.transcription`'s
``word_accuracy``): ``1 - min(WER, 1)`` with the engine's default normalisation
(:func:`metrics.language_flags.transcript_distance`), the model's transcript as the
reference and the label as the hypothesis. An answer is flagged when the agreement is below
0.5, i.e. when more than half of the model's words would have to change (WER > 0.5).

Examples
--------
>>> arrays = FLAGGER.encode(["the cat sat", "a dog ran off"], ["the cat sat", "the cat sat"], [])
>>> arrays["quality"].tolist(), FLAGGER.issues([FLAGGER.second_pass(arrays, {})]).tolist()
([1.0, 0.0], [1])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from metrics.chunked_flags._agreement import AgreementFlagger
from metrics.language_flags import transcript_distance

__all__ = ["FLAGGER", "THRESHOLD", "transcript_agreement"]

THRESHOLD: Final = 0.5


def transcript_agreement(
    labels: list[Any], predictions: list[Any], classes: Sequence[str]
) -> npt.NDArray[np.float64]:
    """Per answer: ``1 - min(WER, 1)`` of the label against the model's transcript."""
    del classes
    out = np.empty(len(labels), dtype=np.float64)
    for n, (label, pred) in enumerate(zip(labels, predictions, strict=True)):
        for what, value in (("label", label), ("prediction", pred)):
            if not isinstance(value, str):
                raise ValueError(f"answer {n}: the {what} must be a transcript, got {value!r:.80}")
        out[n] = 1.0 - transcript_distance(pred, label)
    return out


FLAGGER: Final = AgreementFlagger(
    "transcription",
    "1 - the label's word error rate against the model's transcript (engine normalisation, "
    f"capped at 1); flagged when below {THRESHOLD:g} (WER > 0.5)",
    transcript_agreement,
    threshold=THRESHOLD,
)
