"""Segmentation flags: per-image mask F1 between the label and the model's masks.

The engine's main metric for instance masks (:mod:`metrics.scoring.segmentation`): masks
paired one-to-one with the model's masks of the same category at mask IoU ``>= 0.5``
(:func:`metrics.detection.match_unscored`, pycocotools' mask IoU), the answer's agreement
``2 * matched / (n_label + n_model)`` (1 when neither has a mask), with the model's masks in
gold's place. Model masks with ``score < 0.5`` are left out; an answer is flagged when the
agreement is below 0.5 (:mod:`metrics.chunked_flags._agreement`).

Masks are COCO RLE or polygons with the image's ``height`` and ``width`` on the object (the
service adds them from the item, as for scoring).

Examples
--------
>>> sq = {"category": "cell", "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]], "height": 8, "width": 8}
>>> far = {**sq, "segmentation": [[5, 5, 8, 5, 8, 8, 5, 8]]}
>>> arrays = FLAGGER.encode([[sq], [far]], [[sq | {"score": 0.9}]] * 2, ["cell"])
>>> arrays["quality"].tolist(), FLAGGER.issues([FLAGGER.second_pass(arrays, {})]).tolist()
([1.0, 0.0], [1])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.chunked_flags._agreement import AgreementFlagger, check_objects, confident
from metrics.masks import to_rle
from metrics.scoring.detection import _image_f1

__all__ = ["FLAGGER", "MIN_CONFIDENCE", "THRESHOLD", "mask_agreement"]

MIN_CONFIDENCE: Final = 0.5
THRESHOLD: Final = 0.5


def _rasterised(value: Any, what: str, n: int, classes: frozenset[str]) -> list[Any]:
    out = []
    for j, obj in enumerate(check_objects(value, what, n, ("category", "segmentation"))):
        if classes and str(obj["category"]) not in classes:
            raise ValueError(
                f"answer {n}: {what} object {j}: category {obj['category']!r} is not in the "
                "ontology"
            )
        try:
            rle = to_rle(obj["segmentation"], height=obj.get("height"), width=obj.get("width"))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"answer {n}: {what} object {j}: {exc}") from exc
        out.append({**obj, "segmentation": rle})
    return out


def mask_agreement(
    labels: list[Any], predictions: list[Any], classes: Sequence[str]
) -> npt.NDArray[np.float64]:
    """Per answer: the engine's per-image mask F1 @ IoU 0.5 against the model's masks."""
    known = frozenset(str(c) for c in classes)
    lab = [_rasterised(v, "label", n, known) for n, v in enumerate(labels)]
    pred = [
        confident(_rasterised(v, "prediction", n, known), MIN_CONFIDENCE, n)
        for n, v in enumerate(predictions)
    ]
    index = pd.RangeIndex(len(lab))
    return _image_f1(
        pd.Series(pred, index=index, dtype=object),
        pd.Series(lab, index=index, dtype=object),
        iou_type="segm",
        iou_threshold=0.5,
    )


FLAGGER: Final = AgreementFlagger(
    "segmentation",
    "the engine's per-image mask F1 @ IoU 0.5 between the label and the model's masks "
    f"(model masks with score >= {MIN_CONFIDENCE:g}); flagged when below {THRESHOLD:g}",
    mask_agreement,
    threshold=THRESHOLD,
)
