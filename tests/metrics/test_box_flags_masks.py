"""Segmentation flags compare masks by mask IoU (pycocotools), not by their tight boxes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as coco_mask

from metrics.box_flags import MASK
from metrics.flags import (
    box_candidates_disagree_flags,
    box_gold_may_be_wrong_flags,
    box_vendor_vs_gold_flags,
)
from metrics.masks import mask_to_bbox


def _rle(pixels: np.ndarray) -> dict[str, Any]:
    out = coco_mask.encode(np.asfortranarray(pixels.astype(np.uint8)))
    return {"size": [int(v) for v in out["size"]], "counts": out["counts"]}


def _frame(task: str, rles: list[dict[str, Any]], worker: str | None) -> pd.DataFrame:
    rows = []
    for rle in rles:
        x, y, w, h = (float(v) for v in mask_to_bbox([rle])[0])
        row = {"task": task, "label": "cell", "x": x, "y": y, "width": w, "height": h, MASK: rle}
        if worker is not None:
            row["worker"] = worker
        rows.append(row)
    return pd.DataFrame(rows)


def _square() -> np.ndarray:
    m = np.zeros((24, 24), dtype=np.uint8)
    m[4:14, 4:14] = 1
    return m


def _frame_of_square() -> np.ndarray:
    """The square's one-pixel border: the same tight box, 36 of its 100 pixels."""
    m = _square().copy()
    m[5:13, 5:13] = 0
    return m


def _corner(top_left: bool) -> np.ndarray:
    """Top row + left column (or bottom row + right column) of the square: same tight box."""
    m = np.zeros((24, 24), dtype=np.uint8)
    if top_left:
        m[4, 4:14] = 1
        m[4:14, 4] = 1
    else:
        m[13, 4:14] = 1
        m[4:14, 13] = 1
    return m


def test_masks_with_one_tight_box_but_little_overlap_are_a_miss() -> None:
    gold_rle, cand_rle = _rle(_corner(True)), _rle(_corner(False))
    gold = _frame("i1", [gold_rle], None)
    cand = _frame("i1", [cand_rle], "A")
    assert gold[["x", "y", "width", "height"]].equals(cand[["x", "y", "width", "height"]])
    iou = coco_mask.iou([cand_rle], [gold_rle], [0])[0, 0]
    assert 0 < iou < 0.1  # two shared corner pixels
    # On the tight boxes (the old comparison) the two are one perfect match: no flag.
    assert box_vendor_vs_gold_flags(cand.drop(columns=MASK), gold.drop(columns=MASK)).frame.empty
    flags = box_vendor_vs_gold_flags(cand, gold).frame
    assert flags["kind"].tolist() == ["missed"]
    assert flags["detail"].tolist() == ["missed=1 extra=1 wrong_class=0 low_iou=0"]
    # The other flags read the same IoU: two candidates with these masks disagree fully ...
    other = _frame("i1", [gold_rle], "B")
    both = pd.concat([cand, other], ignore_index=True)
    disagree = box_candidates_disagree_flags(both).frame
    assert disagree["score"].tolist() == [1.0]
    assert box_candidates_disagree_flags(both.drop(columns=MASK)).frame.empty
    # ... and with a third like A, gold's mask is outvoted as one nobody drew (2 of 3).
    third = _frame("i1", [cand_rle], "C")
    gold_flags = box_gold_may_be_wrong_flags(pd.concat([both, third], ignore_index=True), gold)
    assert gold_flags.frame["kind"].tolist() == ["extra"]


def test_low_mask_iou_severity_uses_pycocotools_mask_iou() -> None:
    gold_rle, cand_rle = _rle(_square()), _rle(_frame_of_square())
    iou = float(coco_mask.iou([gold_rle], [cand_rle], [0])[0, 0])
    assert iou == pytest.approx(0.36, abs=1e-12)
    flags = box_vendor_vs_gold_flags(
        _frame("i1", [cand_rle], "A"), _frame("i1", [gold_rle], None), iou_threshold=0.5
    ).frame
    assert flags["kind"].tolist() == ["low_iou"]
    assert abs(float(flags["score"].iloc[0]) - 0.95 * (1 - iou / 0.5)) < 1e-9


def test_masks_are_not_compared_with_boxes() -> None:
    gold = _frame("i1", [_rle(_square())], None)
    cand = _frame("i1", [_rle(_square())], "A").drop(columns=MASK)
    with pytest.raises(ValueError, match="masks can only be compared with masks"):
        box_vendor_vs_gold_flags(cand, gold)
