"""Detection and segmentation scorers against match_unscored and evaluate_coco."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from metrics.detection import DetectionGold, Detections, evaluate_coco, match_unscored
from metrics.scoring import ScoringOptions, UnknownLabelsError, score

CATS = ["bus", "car"]


def _boxes(seed: int, n: int = 120) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = [f"img{i:03d}" for i in range(n)]
    gold, labels = [], []
    for _ in index:
        g = [
            {"category": str(rng.choice(CATS)), "bbox": [float(30 * k), 10.0, 20.0, 20.0]}
            for k in range(int(rng.integers(0, 4)))
        ]
        lab = [
            dict(o, bbox=[float(30 * k) + float(rng.normal(0, 4)), 10.0, 20.0, 20.0], score=0.5)
            for k, o in enumerate(g)
            if rng.random() < 0.85
        ]
        if rng.random() < 0.2:
            lab.append({"category": "car", "bbox": [200.0, 200.0, 10.0, 10.0], "score": 0.1})
        gold.append(g)
        labels.append(lab)
    return pd.Series(gold, index, dtype=object), pd.Series(labels, index, dtype=object)[: n - 3]


def _arrays(
    values: pd.Series, position: dict[Hashable, int], code: dict[str, int]
) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"image_ids": [], "category_ids": [], "boxes": [], "scores": []}
    for t, objs in values.items():
        for o in objs:
            out["image_ids"].append(position[t])
            out["category_ids"].append(code[o["category"]])
            out["boxes"].append(o["bbox"])
            out["scores"].append(o.get("score", 1.0))
    return out


def test_detection_equals_match_unscored_and_coco() -> None:
    gold, labels = _boxes(0)
    s = score("detection", gold, labels, options=ScoringOptions(min_coverage=0.9))
    position: dict[Hashable, int] = {t: i + 1 for i, t in enumerate(gold.index)}
    code = {c: i + 1 for i, c in enumerate(CATS)}
    g, lab = _arrays(gold, position, code), _arrays(labels, position, code)
    gold_set = DetectionGold.from_arrays(
        image_ids=g["image_ids"],
        category_ids=g["category_ids"],
        boxes=np.asarray(g["boxes"]).reshape(-1, 4),
        all_image_ids=list(position.values()),
        all_category_ids=list(code.values()),
    )
    dets = Detections.from_arrays(
        image_ids=lab["image_ids"],
        category_ids=lab["category_ids"],
        boxes=np.asarray(lab["boxes"]).reshape(-1, 4),
        scores=lab["scores"],
    )
    answered = [position[t] for t in labels.index]
    match = match_unscored(gold_set, dets, iou_threshold=0.5, labeled_images=answered)
    assert s.value("box_precision") == pytest.approx(match.precision.value)
    assert s.value("box_recall") == pytest.approx(match.recall.value)
    assert s.value("box_f1") == pytest.approx(match.f1.value)
    assert s.value("mean_iou") == pytest.approx(match.mean_iou.value)
    coco = evaluate_coco(gold_set, dets)
    assert s.coco is not None and s.coco["AP"] == pytest.approx(coco.stat("AP"))
    assert s.coco["AR100"] == pytest.approx(coco.stat("AR100"))
    # per-image F1 by hand
    tp = match.pairs.groupby("image_id").size()
    f1 = []
    for t in labels.index:
        i = position[t]
        n_lab, n_gold = len(labels[t]), len(gold[t])
        f1.append(1.0 if n_lab + n_gold == 0 else 2 * tp.get(i, 0) / (n_lab + n_gold))
    assert s.value("per_image_f1") == pytest.approx(np.mean(f1))
    assert s.value("per_image_f1_all") == pytest.approx(np.sum(f1) / len(gold))
    assert s.main_title == "per-image F1 @ IoU 0.5" and "accuracy" not in s.summary
    assert s.box_bias is not None and set(s.box_bias["edge"]) == {"left", "top", "right", "bottom"}
    assert set(s.per_class.index) == set(CATS)
    for name, r in s.summary.items():
        assert r.ci is not None and r.ci.low - 1e-12 <= r.value <= r.ci.high + 1e-12, name


def test_unknown_category_and_iou_threshold() -> None:
    gold = pd.Series([[{"category": "car", "bbox": [0, 0, 10, 10]}]], index=["i"], dtype=object)
    off = pd.Series([[{"category": "car", "bbox": [3, 0, 10, 10]}]], index=["i"], dtype=object)
    assert score("detection", gold, off).value("per_image_f1") == 1.0  # IoU 0.54
    strict = ScoringOptions(iou_threshold=0.75)
    s = score("detection", gold, off, options=strict)
    assert s.value("per_image_f1") == 0.0 and s.main_title == "per-image F1 @ IoU 0.75"
    truck = pd.Series([[{"category": "truk", "bbox": [0, 0, 10, 10]}]], index=["i"], dtype=object)
    with pytest.raises(UnknownLabelsError, match="'truk'.*car"):
        score("detection", gold, truck)
    wrong = score("detection", gold, truck, options=ScoringOptions(unknown_labels="wrong"))
    assert wrong.value("per_image_f1") == 0.0


def test_segmentation_uses_mask_iou() -> None:
    square = [[0, 0, 8, 0, 8, 8, 0, 8]]
    shifted = [[4, 0, 12, 0, 12, 8, 4, 8]]  # box IoU 1/3, mask IoU 1/3
    size = {"height": 16, "width": 16}
    gold = pd.Series(
        [[{"category": "cell", "segmentation": square, **size}]] * 2, index=["a", "b"], dtype=object
    )
    labels = pd.Series(
        [
            [{"category": "cell", "segmentation": square, **size}],
            [{"category": "cell", "segmentation": shifted, **size}],
        ],
        index=["a", "b"],
        dtype=object,
    )
    s = score("segmentation", gold, labels)
    assert s.items["score"].tolist() == [1.0, 0.0]
    assert s.main_title == "per-image mask F1 @ IoU 0.5" and s.coco is not None
