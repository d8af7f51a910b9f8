"""Span (NER) flags: per-item exact span F1 between the label and the model's spans.

The engine's main metric for spans (:mod:`metrics.scoring.spans`): a span agrees when the
model has one with the same start, end and type (CoNLL/seqeval), the answer's agreement
``2 * agreeing / (n_label + n_model)`` (1 when neither has a span). The model's spans have
the label's form (``{"start", "end", "type"}``, no confidence: a span answer carries none);
an answer is flagged when the agreement is below 0.5.

Examples
--------
>>> per = {"start": 0, "end": 5, "type": "PER"}
>>> arrays = FLAGGER.encode([[per], [per | {"type": "LOC"}]], [[per]] * 2, ["PER", "LOC"])
>>> arrays["quality"].tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.chunked_flags._agreement import AgreementFlagger
from metrics.scoring.spans import _item_f1, as_spans

__all__ = ["FLAGGER", "THRESHOLD", "span_agreement"]

THRESHOLD: Final = 0.5


def _checked(value: Any, what: str, n: int, classes: frozenset[str]) -> Any:
    try:
        spans = as_spans(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"answer {n}: {what}: {exc}") from exc
    unknown = sorted({t for _, _, t in spans} - classes) if classes else []
    if unknown:
        raise ValueError(f"answer {n}: {what}: span types {unknown} are not in the ontology")
    return value


def span_agreement(
    labels: list[Any], predictions: list[Any], classes: Sequence[str]
) -> npt.NDArray[np.float64]:
    """Per answer: the engine's exact span F1 against the model's spans."""
    known = frozenset(str(c) for c in classes)
    lab = [_checked(v, "label", n, known) for n, v in enumerate(labels)]
    pred = [_checked(v, "prediction", n, known) for n, v in enumerate(predictions)]
    index = pd.RangeIndex(len(lab))
    return _item_f1(
        pd.Series(pred, index=index, dtype=object),
        pd.Series(lab, index=index, dtype=object),
        sorted(known),
    )


FLAGGER: Final = AgreementFlagger(
    "spans",
    "the engine's per-item exact span F1 between the label and the model's spans; flagged "
    f"when below {THRESHOLD:g}",
    span_agreement,
    threshold=THRESHOLD,
)
