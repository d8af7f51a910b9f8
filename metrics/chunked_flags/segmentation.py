"""Segmentation flags: per-image mask F1 between the label and the model's masks.

The engine's main metric for instance masks (:mod:`metrics.scoring.segmentation`): masks
paired one-to-one with the model's masks of the same category at mask IoU ``>= 0.5``
(:func:`metrics.detection.match_unscored`, pycocotools' mask IoU), the answer's agreement
``2 * matched / (n_label + n_model)`` (1 when neither has a mask), with the model's masks in
gold's place. Model masks with ``score < 0.5`` are left out; an answer is flagged when the
agreement is below 0.5 (:mod:`metrics.chunked_flags._agreement`).

Masks are COCO RLE or polygons with the image's ``height`` and ``width`` on the object (the
service adds them from the item, as for scoring); a polygon without a size takes the size
another mask of the same answer carries (an RLE's ``size``), since the label's and the
model's masks are of one image.

Examples
--------
>>> sq = {"category": "cell", "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]], "height": 8, "width": 8}
>>> far = {**sq, "segmentation": [[5, 5, 8, 5, 8, 8, 5, 8]]}
>>> arrays = FLAGGER.encode([[sq], [far]], [[sq | {"score": 0.9}]] * 2, ["cell"])
>>> arrays["quality"].tolist(), FLAGGER.issues([FLAGGER.second_pass(arrays, {})]).tolist()
([1.0, 0.0], [1])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


def _size(*values: list[Any]) -> tuple[int | None, int | None]:
    """The image size one of the answer's objects carries (an RLE's ``size``, or
    ``height``/``width``): label and model masks of one answer are of the same image."""
    for value in values:
        for obj in value:
            seg = obj["segmentation"]
            if isinstance(seg, Mapping) and isinstance(seg.get("size"), list | tuple):
                h, w = seg["size"]
                return int(h), int(w)
            if isinstance(obj.get("height"), int) and isinstance(obj.get("width"), int):
                return int(obj["height"]), int(obj["width"])
    return None, None


def _rasterised(
    value: list[Any], what: str, n: int, classes: frozenset[str], size: tuple[int | None, ...]
) -> list[Any]:
    out = []
    for j, obj in enumerate(value):
        if classes and str(obj["category"]) not in classes:
            raise ValueError(
                f"answer {n}: {what} object {j}: category {obj['category']!r} is not in the "
                "ontology"
            )
        height, width = obj.get("height", size[0]), obj.get("width", size[1])
        try:
            rle = to_rle(obj["segmentation"], height=height, width=width)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"answer {n}: {what} object {j}: {exc}") from exc
        out.append({**obj, "segmentation": rle})
    return out


def mask_agreement(
    labels: list[Any], predictions: list[Any], classes: Sequence[str]
) -> npt.NDArray[np.float64]:
    """Per answer: the engine's per-image mask F1 @ IoU 0.5 against the model's masks."""
    known = frozenset(str(c) for c in classes)
    need = ("category", "segmentation")
    lab, pred = [], []
    for n, (label, prediction) in enumerate(zip(labels, predictions, strict=True)):
        label = check_objects(label, "label", n, need)
        prediction = check_objects(prediction, "prediction", n, need)
        size = _size(label, prediction)
        lab.append(_rasterised(label, "label", n, known, size))
        pred.append(
            confident(_rasterised(prediction, "prediction", n, known, size), MIN_CONFIDENCE, n)
        )
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
