"""Keypoint flags: per-image keypoint F1 @ OKS 0.5 between the label and the model's poses.

The engine's main metric for poses (:mod:`metrics.scoring.keypoints`): poses paired
greedily with the model's poses of the same category by COCO's object keypoint similarity
(:mod:`metrics.keypoints`), pairs with OKS ``>= 0.5`` kept, the answer's agreement
``2 * matched / (n_label + n_model)`` (1 when neither has a pose), with the model's poses in
gold's place (their extent gives OKS its area). Model poses with ``score < 0.5`` are left
out; an answer is flagged when the agreement is below 0.5.

OKS needs each category's keypoint sigmas: :data:`FLAGGER` uses COCO's person sigmas for
17-point categories and refuses others; :func:`flagger` takes the ontology's
``keypoint_sigmas`` (``{category: [sigma, ...]}``), as scoring does.

Examples
--------
>>> pose = {"category": "person", "points": [[10, 10, 2], [20, 10, 2], [15, 20, 2]]}
>>> off = {"category": "person", "points": [[60, 60, 2], [70, 60, 2], [65, 70, 2]]}
>>> f = flagger({"person": [0.1, 0.1, 0.1]})
>>> f.encode([[pose], [off]], [[pose]] * 2, ["person"])["quality"].tolist()
[1.0, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.chunked_flags._agreement import AgreementFlagger, check_objects, confident
from metrics.scoring.base import ScoringOptions
from metrics.scoring.keypoints import _image_f1, _points, _sigmas

__all__ = ["FLAGGER", "MIN_CONFIDENCE", "THRESHOLD", "flagger", "for_ontology", "pose_agreement"]

MIN_CONFIDENCE: Final = 0.5
THRESHOLD: Final = 0.5


def _checked(value: Any, what: str, n: int, classes: frozenset[str]) -> list[Any]:
    out = check_objects(value, what, n, ("category",))
    for j, obj in enumerate(out):
        if classes and str(obj["category"]) not in classes:
            raise ValueError(
                f"answer {n}: {what} object {j}: category {obj['category']!r} is not in the "
                "ontology"
            )
        try:
            _points(f"answer {n}", obj)
        except ValueError as exc:
            raise ValueError(f"answer {n}: {what} object {j}: {exc}") from exc
    return out


def pose_agreement(
    labels: list[Any],
    predictions: list[Any],
    classes: Sequence[str],
    *,
    sigmas: Mapping[str, Sequence[float]] | None = None,
) -> npt.NDArray[np.float64]:
    """Per answer: the engine's per-image keypoint F1 @ OKS 0.5 against the model's poses.

    Raises
    ------
    ValueError
        A malformed pose, or a category without sigmas that does not have COCO's 17 points.
    """
    known = frozenset(str(c) for c in classes)
    lab = [_checked(v, "label", n, known) for n, v in enumerate(labels)]
    pred = [
        confident(_checked(v, "prediction", n, known), MIN_CONFIDENCE, n)
        for n, v in enumerate(predictions)
    ]
    n_points: dict[str, int] = {}
    for value in (*lab, *pred):
        for obj in value:
            n_points.setdefault(str(obj["category"]), len(_points("", obj)))
    options = ScoringOptions(
        keypoint_sigmas=tuple(
            (str(c), tuple(float(v) for v in s)) for c, s in (sigmas or {}).items()
        )
    )
    sig = _sigmas(sorted(n_points), n_points, options)
    index = pd.RangeIndex(len(lab))
    return _image_f1(
        pd.Series(pred, index=index, dtype=object),
        pd.Series(lab, index=index, dtype=object),
        sig,
        0.5,
    )


def flagger(sigmas: Mapping[str, Sequence[float]] | None = None) -> AgreementFlagger:
    """The keypoint flagger with the ontology's OKS ``sigmas`` per category."""
    given = {str(c): tuple(float(v) for v in s) for c, s in (sigmas or {}).items()}

    def agreement(
        labels: list[Any], predictions: list[Any], classes: Sequence[str]
    ) -> npt.NDArray[np.float64]:
        return pose_agreement(labels, predictions, classes, sigmas=given)

    return AgreementFlagger(
        "keypoints",
        "the engine's per-image keypoint F1 @ OKS 0.5 between the label and the model's "
        f"poses (model poses with score >= {MIN_CONFIDENCE:g}); flagged when below "
        f"{THRESHOLD:g}",
        agreement,
        threshold=THRESHOLD,
    )


def for_ontology(ontology: Mapping[str, Any]) -> AgreementFlagger:
    """The flagger with the ontology's ``keypoint_sigmas`` (``{category: [sigma, ...]}``)."""
    return flagger(ontology.get("keypoint_sigmas") or {})


FLAGGER: Final = flagger()
