"""Score instance segmentation (masks): main metric **per-image mask F1 @ IoU 0.5**.

The same as :mod:`metrics.scoring.detection` with mask IoU instead of box IoU: masks
are paired one-to-one with gold masks of the same category at mask IoU
``>= iou_threshold``; an image's score is the F1 of its masks (1 when neither side has
one). Objects carry ``segmentation`` as COCO RLE, or polygons together with the image's
``height`` and ``width`` on the object; a polygon without a size cannot be rasterised
and is left out (with a warning). COCO AP/AR are mask AP/AR.

Examples
--------
>>> import pandas as pd
>>> square = {"category": "cell", "segmentation": [[0, 0, 4, 0, 4, 4, 0, 4]],
...           "height": 8, "width": 8}
>>> s = score(pd.Series([[square]], index=["i1"]), pd.Series([[square]], index=["i1"]))
>>> s.main_title, s.value("per_image_f1_all")
('per-image mask F1 @ IoU 0.5', 1.0)
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from metrics.scoring.base import Scored, ScoringOptions
from metrics.scoring.detection import MAIN_METRIC, score_instances

__all__ = ["MAIN_METRIC", "score"]


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's masks against gold masks (see the module docstring).

    Raises
    ------
    UnknownLabelsError
        A category outside the vocabulary while ``unknown_labels == "refuse"``.
    TypeError, ValueError
        Malformed objects.
    """
    return score_instances(gold, labels, options=options, metadata=metadata, iou_type="segm")
