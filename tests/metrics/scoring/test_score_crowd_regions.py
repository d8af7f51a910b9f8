"""A crowd of annotators on boxes, masks, keypoints and spans: scored on the consensus.

The engine's consensus score must equal scoring the fused answers (:mod:`metrics.fusion`)
as one answer per item, and each annotator's ``per_annotator`` agreement must equal that
annotator's own score; never the first annotator silently.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from pycocotools import mask as coco_mask

from metrics.fusion import fuse_boxes, fuse_keypoints, fuse_masks, fuse_spans
from metrics.scoring import ScoringOptions, score

OPTS = ScoringOptions(n_resamples=50)


def _box(cat: str, x: float, y: float, w: float = 10, h: float = 10) -> dict[str, Any]:
    return {"category": cat, "bbox": [x, y, w, h]}


def _table(rows: list[tuple[str, str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def _alone(task_type: Any, gold: pd.Series, table: pd.DataFrame, worker: str, **kw: Any) -> float:
    own = table[table["worker"] == worker]
    series = pd.Series(own["label"].to_list(), index=own["task"].to_list(), dtype=object)
    return score(task_type, gold, series, options=kw.get("options", OPTS)).value(kw["metric"])


GOLD_BOXES = pd.Series(
    {
        "i1": [_box("car", 0, 0), _box("dog", 40, 40)],
        "i2": [_box("car", 10, 10)],
        "i3": [],
    },
    dtype=object,
)
CROWD_BOXES = _table(
    [
        ("i1", "a", [_box("car", 0, 0), _box("dog", 41, 40)]),
        ("i1", "b", [_box("car", 1, 0)]),
        ("i1", "c", [_box("car", 2, 0), _box("dog", 40, 41), _box("dog", 70, 70)]),
        ("i2", "a", [_box("car", 10, 10)]),
        ("i2", "b", []),
        ("i3", "a", []),
        ("i3", "b", [_box("car", 5, 5)]),
        ("i3", "c", []),
    ]
)


def test_boxes_are_scored_on_the_fused_consensus() -> None:
    s = score("detection", GOLD_BOXES, CROWD_BOXES, options=OPTS)
    fused = {}
    for task, group in CROWD_BOXES.groupby("task"):
        fused[task] = fuse_boxes(group.sort_values("worker")["label"].to_list()).objects
    # i1: car (3/3, median x = 1) and dog (2/3) kept, the far dog (1/3) out; i2: 1 of 2 -> nothing;
    # i3: 1 of 3 -> nothing
    assert fused["i1"] == [_box("car", 1.0, 0.0, 10.0, 10.0), _box("dog", 40.5, 40.5, 10.0, 10.0)]
    assert fused["i2"] == [] and fused["i3"] == []
    alone = score("detection", GOLD_BOXES, pd.Series(fused, dtype=object), options=OPTS)
    for name in ("per_image_f1", "per_image_f1_all", "box_f1", "mean_iou"):
        assert s.value(name) == pytest.approx(alone.value(name), abs=1e-12)
    assert s.coco == alone.coco
    # i1 F1 1, i2 F1 0 (gold car, nothing fused), i3 F1 1 (both empty)
    np.testing.assert_allclose(s.items["score"].to_numpy(), [1.0, 0.0, 1.0])
    assert s.items["n_answers"].tolist() == [3, 2, 3]
    assert s.n_labels == 8
    (warning,) = [w for w in s.warnings if w.code == "crowd_no_majority"]
    assert warning.message.startswith("3 of 3 items with several annotators had boxes")
    assert "(3 in all" in warning.message
    assert not [w for w in s.warnings if w.code == "several_annotators"]


def test_each_box_annotator_keeps_its_own_score() -> None:
    s = score("detection", GOLD_BOXES, CROWD_BOXES, options=OPTS)
    table = s.per_annotator
    assert table is not None and list(table.index) == ["a", "b", "c"]
    assert table["n_items"].tolist() == [3, 3, 2]
    for worker in ("a", "b", "c"):
        own = _alone("detection", GOLD_BOXES, CROWD_BOXES, worker, metric="per_image_f1")
        assert table.loc[worker, "agreement_with_gold"] == pytest.approx(own, abs=1e-12)
    # against the consensus: a matches it on i1 (car 1 px off, dog 0.5 px off: IoU >= 0.5),
    # its car on i2 is a false positive (F1 0) and i3 is empty on both sides (1)
    assert table.loc["a", "agreement_with_peers"] == pytest.approx(2 / 3, abs=1e-12)


def test_identical_annotators_score_as_one() -> None:
    one = pd.Series({"i1": [_box("car", 1, 0)], "i2": [], "i3": [_box("car", 5, 5)]})
    crowd = _table([(str(t), w, v) for t, v in one.items() for w in ("x", "y", "z")])
    s_crowd = score("detection", GOLD_BOXES, crowd, options=OPTS)
    s_one = score("detection", GOLD_BOXES, one, options=OPTS)
    assert s_crowd.value("per_image_f1_all") == s_one.value("per_image_f1_all")
    assert s_crowd.coco == s_one.coco
    assert not [w for w in s_crowd.warnings if w.code == "crowd_no_majority"]


def _mask(x: int, y: int, side: int) -> dict[str, Any]:
    m = np.zeros((32, 32), dtype=np.uint8)
    m[y : y + side, x : x + side] = 1
    return {"category": "cell", "segmentation": coco_mask.encode(np.asfortranarray(m))}


def test_masks_are_scored_on_the_pixel_majority() -> None:
    gold = pd.Series({"i1": [_mask(0, 0, 10)], "i2": [_mask(20, 20, 8)]}, dtype=object)
    crowd = _table(
        [
            ("i1", "a", [_mask(0, 0, 10)]),
            ("i1", "b", [_mask(1, 1, 10)]),
            ("i1", "c", [_mask(2, 0, 10), _mask(20, 20, 5)]),
            ("i2", "a", [_mask(20, 20, 8)]),
            ("i2", "b", [_mask(21, 20, 8)]),
        ]
    )
    s = score("segmentation", gold, crowd, options=OPTS)
    fused = {
        t: fuse_masks(g.sort_values("worker")["label"].to_list()).objects
        for t, g in crowd.groupby("task")
    }
    alone = score("segmentation", gold, pd.Series(fused, dtype=object), options=OPTS)
    assert s.value("per_image_f1_all") == alone.value("per_image_f1_all")
    assert s.value("mean_iou") == pytest.approx(alone.value("mean_iou"), abs=1e-12)
    assert s.coco == alone.coco
    (warning,) = [w for w in s.warnings if w.code == "crowd_no_majority"]
    assert warning.message.startswith("1 of 2 items with several annotators had masks")
    table = s.per_annotator
    assert table is not None
    for worker in ("a", "b", "c"):
        own = _alone("segmentation", gold, crowd, worker, metric="per_image_f1")
        assert table.loc[worker, "agreement_with_gold"] == pytest.approx(own, abs=1e-12)


def test_keypoints_are_scored_on_the_fused_poses() -> None:
    sig = (0.1, 0.1, 0.1)
    opts = ScoringOptions(n_resamples=50, keypoint_sigmas=(("person", sig),))

    def pose(dx: float, dy: float = 0.0) -> dict[str, Any]:
        pts = [[10 + dx, 10 + dy, 2], [30 + dx, 10 + dy, 2], [20 + dx, 30 + dy, 2]]
        return {"category": "person", "points": pts}

    gold = pd.Series({"i1": [pose(0)], "i2": [pose(0)]}, dtype=object)
    crowd = _table(
        [
            ("i1", "a", [pose(0)]),
            ("i1", "b", [pose(1)]),
            ("i1", "c", [pose(3, 1)]),
            ("i2", "a", [pose(0)]),
            ("i2", "b", [pose(60)]),
        ]
    )
    s = score("keypoints", gold, crowd, options=opts)
    fused = {
        t: fuse_keypoints(g.sort_values("worker")["label"].to_list(), sigmas={"person": sig})
        for t, g in crowd.groupby("task")
    }
    assert fused["i1"].objects == [
        {"category": "person", "points": [[11.0, 10.0, 2.0], [31.0, 10.0, 2.0], [21.0, 30.0, 2.0]]}
    ]
    assert fused["i2"].objects == [] and fused["i2"].no_majority == 2
    series = pd.Series({t: f.objects for t, f in fused.items()}, dtype=object)
    alone = score("keypoints", gold, series, options=opts)
    assert s.value("per_image_keypoint_f1_all") == alone.value("per_image_keypoint_f1_all")
    assert s.coco == alone.coco
    assert [w.code for w in s.warnings].count("crowd_no_majority") == 1
    table = s.per_annotator
    assert table is not None
    for worker in ("a", "b"):
        own = _alone("keypoints", gold, crowd, worker, metric="per_image_keypoint_f1", options=opts)
        assert table.loc[worker, "agreement_with_gold"] == pytest.approx(own, abs=1e-12)


def test_spans_are_scored_on_the_character_majority() -> None:
    gold = pd.Series({"d1": [(0, 5, "PER"), (10, 14, "LOC")], "d2": [(3, 6, "LOC")]})
    crowd = _table(
        [
            ("d1", "a", [(0, 5, "PER"), (10, 14, "LOC")]),
            ("d1", "b", [(0, 4, "PER"), (10, 14, "LOC")]),
            ("d1", "c", [(1, 5, "PER"), (9, 14, "PER")]),
            ("d2", "a", [(3, 6, "LOC")]),
            ("d2", "b", []),
        ]
    )
    s = score("spans", gold, crowd, options=OPTS)
    assert fuse_spans(list(crowd[crowd.task == "d1"]["label"])).objects == gold["d1"]
    # d1: PER 0..5 by majority, LOC 10..14 (2 of 3): F1 1; d2: 1 of 2 -> no entities: F1 0
    np.testing.assert_allclose(s.items["score"].to_numpy(), [1.0, 0.0])
    (warning,) = [w for w in s.warnings if w.code == "crowd_no_majority"]
    assert warning.message.startswith("2 of 2 items with several annotators had spans")
    table = s.per_annotator
    assert table is not None
    for worker in ("a", "b", "c"):
        own = _alone("spans", gold, crowd, worker, metric="per_item_span_f1")
        assert table.loc[worker, "agreement_with_gold"] == pytest.approx(own, abs=1e-12)
