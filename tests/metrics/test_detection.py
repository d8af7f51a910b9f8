"""COCO AP/AR (vs pycocotools), box IoU, unscored matching and box bias."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from metrics.detection import (
    COCO_STAT_NAMES,
    DetectionGold,
    Detections,
    box_bias,
    box_iou,
    evaluate_coco,
    match_unscored,
    voc_average_precision,
)
from tests.metrics._coco_reference import (
    detections_from_results,
    gold_from_coco,
    run_cocoeval,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
COCO100 = DATA / "coco_val2014_100"
ODM = DATA / "review_odm"

needs_coco100 = pytest.mark.shared_data(COCO100.name)
needs_odm = pytest.mark.shared_data(ODM.name)

# cocoapi's printed stats (results/val2014_fake_eval_res.txt), 3 decimals
PUBLISHED = {
    "bbox": [0.505, 0.697, 0.573, 0.586, 0.519, 0.501, 0.387, 0.594, 0.595, 0.640, 0.566, 0.564],
    "segm": [0.320, 0.562, 0.299, 0.387, 0.310, 0.327, 0.268, 0.415, 0.417, 0.469, 0.377, 0.381],
}


def _row(frame: pd.DataFrame, key: int, columns: list[str]) -> list[float]:
    return [float(frame[c].to_numpy(dtype=np.float64)[frame.index.get_loc(key)]) for c in columns]


def _load(path: Path) -> Any:
    return json.loads(path.read_text())


def _assert_same_as_cocoeval(
    gt: dict[str, Any],
    results: list[dict[str, Any]],
    iou_type: str,
    max_dets: tuple[int, int, int] = (1, 10, 100),
) -> None:
    ref = run_cocoeval(gt, results, iou_type, max_dets)
    masks = iou_type == "segm"
    ours = evaluate_coco(
        gold_from_coco(gt, masks=masks),
        detections_from_results(results, masks=masks),
        iou_type="segm" if masks else "bbox",
        max_dets=max_dets,
    )
    assert list(ours.stats) == ref.stats.tolist()
    np.testing.assert_array_equal(ours.precision, ref.eval["precision"])
    np.testing.assert_array_equal(ours.recall, ref.eval["recall"])
    np.testing.assert_array_equal(ours.scores, ref.eval["scores"])


@needs_coco100
@pytest.mark.parametrize("iou_type", ["bbox", "segm"], ids=["bbox", "segm"])
def test_reproduces_cocoapi_published_stats(iou_type: str) -> None:
    gt = _load(COCO100 / "instances_val2014_100.json")
    name = "fakebbox" if iou_type == "bbox" else "fakesegm"
    results = _load(COCO100 / f"instances_val2014_{name}100_results.json")
    masks = iou_type == "segm"
    ours = evaluate_coco(
        gold_from_coco(gt, masks=masks),
        detections_from_results(results, masks=masks),
        iou_type="segm" if masks else "bbox",
    )
    assert [round(v, 3) for v in ours.stats] == PUBLISHED[iou_type]
    _assert_same_as_cocoeval(gt, results, iou_type)


@needs_odm
def test_reproduces_review_odm_coco_summary() -> None:
    folder = ODM / "tests" / "test_coco_eval"
    gt = _load(folder / "gts" / "sampled_gts_bbox_area.json")
    results = _load(folder / "dets" / "sampled_bbox_results.json")["annotations"]
    ours = evaluate_coco(gold_from_coco(gt), detections_from_results(results))
    # the values that toolkit's test checks, obtained with the official COCO API
    expected = [
        0.503647, 0.696973, 0.571667, 0.593252, 0.557991, 0.489363,
        0.386813, 0.593680, 0.595353, 0.654764, 0.603130, 0.553744,
    ]  # fmt: skip
    np.testing.assert_allclose(ours.stats, expected, atol=1e-6)
    _assert_same_as_cocoeval(gt, results, "bbox")


# --- generated cases against COCOeval ------------------------------------------------

AREAS = [10.0, 32.0**2, 32.0**2 + 1, 500.0, 96.0**2, 96.0**2 + 0.5, 20000.0]


@st.composite
def coco_case(draw: st.DrawFn, *, masks: bool = False) -> tuple[dict[str, Any], list[Any]]:
    n_images = draw(st.integers(1, 4))
    n_cats = draw(st.integers(1, 3))
    size = 24
    images = [{"id": 10 + 3 * i, "height": size, "width": size} for i in range(n_images)]
    # one category may be without gold; ids not contiguous
    categories = [{"id": 2 * c + 1, "name": f"c{c}"} for c in range(n_cats)]
    first_id = draw(st.sampled_from([0, 1, 7]))  # id 0 exercises COCOeval's dtm==0 rule
    coord = st.integers(0, 16)
    extent = st.integers(1, 8)

    def box() -> list[float]:
        return [float(draw(coord)), float(draw(coord)), float(draw(extent)), float(draw(extent))]

    anns: list[dict[str, Any]] = []
    n_gt = draw(st.integers(0, 8))
    for i in range(n_gt):
        b = box()
        crowd = draw(st.integers(0, 5)) == 0
        poly = [[b[0], b[1], b[0] + b[2], b[1], b[0] + b[2], b[1] + b[3], b[0], b[1] + b[3]]]
        seg: Any = poly
        if crowd and masks:
            rle = mask_utils.frPyObjects(poly, size, size)[0]
            m = mask_utils.decode(rle)
            flat = m.flatten(order="F")
            counts, prev, run = [], 0, 0
            for v in flat:
                if v != prev:
                    counts.append(run)
                    run, prev = 0, v
                run += 1
            counts.append(run)
            seg = {"size": [size, size], "counts": [int(c) for c in counts]}
        anns.append(
            {
                "id": first_id + i,
                "image_id": draw(st.sampled_from(images))["id"],
                "category_id": draw(st.sampled_from(categories))["id"],
                "bbox": b,
                "area": draw(st.sampled_from([*AREAS, b[2] * b[3]])),
                "iscrowd": int(crowd),
                "segmentation": seg,
            }
        )
    results: list[dict[str, Any]] = []
    for _ in range(draw(st.integers(0, 14))):
        b = box()
        use_gold = draw(st.booleans())
        if anns and use_gold:
            src = draw(st.sampled_from(anns))
            b = [src["bbox"][0] + draw(st.integers(-1, 1)), src["bbox"][1], *src["bbox"][2:]]
            img, cat = src["image_id"], src["category_id"]
        else:
            img = draw(st.sampled_from(images))["id"]
            cat = draw(st.sampled_from(categories))["id"]
        r: dict[str, Any] = {
            "image_id": img,
            "category_id": cat,
            "score": draw(st.sampled_from([0.1, 0.5, 0.5, 0.9, 0.33])),
        }
        if masks:
            poly = [[b[0], b[1], b[0] + b[2], b[1], b[0] + b[2], b[1] + b[3], b[0], b[1] + b[3]]]
            rle = mask_utils.merge(mask_utils.frPyObjects(poly, size, size))
            r["segmentation"] = {"size": rle["size"], "counts": rle["counts"].decode()}
        else:
            r["bbox"] = b
        results.append(r)
    gt = {"images": images, "categories": categories, "annotations": anns}
    return gt, results


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=coco_case(), max_dets=st.sampled_from([(1, 10, 100), (1, 2, 3), (2, 5, 100)]))
def test_bbox_matches_cocoeval_on_generated_cases(
    case: tuple[dict[str, Any], list[Any]], max_dets: tuple[int, int, int]
) -> None:
    gt, results = case
    _assert_same_as_cocoeval(gt, results, "bbox", max_dets)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=coco_case(masks=True))
def test_segm_matches_cocoeval_on_generated_cases(
    case: tuple[dict[str, Any], list[Any]],
) -> None:
    gt, results = case
    _assert_same_as_cocoeval(gt, results, "segm")


def _tiny_gt(**extra: Any) -> dict[str, Any]:
    gt: dict[str, Any] = {
        "images": [{"id": 1, "height": 100, "width": 100}, {"id": 2, "height": 100, "width": 100}],
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "area": 1600,
             "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 40, 40], "area": 1600,
             "iscrowd": 1},
        ],
    }  # fmt: skip
    gt.update(extra)
    return gt


@pytest.mark.parametrize(
    "results",
    [
        [],
        [{"image_id": 2, "category_id": 2, "bbox": [0, 0, 5, 5], "score": 0.5}],
        [
            {"image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [52, 52, 20, 20], "score": 0.8},
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.7},
        ],
        [
            {"image_id": 1, "category_id": 99, "bbox": [0, 0, 40, 40], "score": 0.9},
            {"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.7},
        ],
    ],
    ids=[
        "no-detections",
        "only-on-category-without-gold",
        "crowd-absorbs-detections",
        "category-not-in-gold-is-ignored",
    ],
)
def test_fixed_edge_cases_match_cocoeval(results: list[dict[str, Any]]) -> None:
    _assert_same_as_cocoeval(_tiny_gt(), results, "bbox")


def test_crowd_region_absorbs_detections_and_absent_categories_are_minus_one() -> None:
    gt = _tiny_gt()
    results = [
        {"image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.9},
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.7},
    ]
    res = evaluate_coco(gold_from_coco(gt), detections_from_results(results))
    assert res.stat("AP50") == pytest.approx(1.0)  # the crowd hit is ignored, not a FP
    per_cat = res.per_category_ap()
    assert per_cat.index.tolist() == [1, 2]
    assert np.isnan(per_cat.loc[2])  # category 2 has no gold: -1 in COCOeval
    assert (res.precision[:, :, 1] == -1).all()


def test_result_helpers() -> None:
    gt = _tiny_gt()
    results = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 40, 40], "score": 0.7}]
    res = evaluate_coco(gold_from_coco(gt), detections_from_results(results))
    assert list(res.as_dict()) == list(COCO_STAT_NAMES)
    metrics = res.to_metric_results()
    assert [m.name for m in metrics][0] == "coco_AP"
    assert metrics[0].value == res.stats[0]
    assert metrics[0].per_item is not None
    assert np.isnan(metrics[3].value)  # no small objects: COCOeval's -1 becomes nan
    assert res.stats[3] == -1.0
    with pytest.raises(ValueError, match="unknown COCO stat"):
        res.stat("mAP")


def test_inputs_are_not_modified() -> None:
    gold = DetectionGold.from_arrays(image_ids=[1], category_ids=[1], boxes=[[0, 0, 4, 4]])
    dets = Detections.from_arrays(
        image_ids=[1, 1], category_ids=[1, 1], boxes=[[0, 0, 4, 4], [1, 1, 2, 2]], scores=[0.2, 0.9]
    )
    before = dets.boxes.copy(), dets.scores.copy() if dets.scores is not None else None
    evaluate_coco(gold, dets)
    np.testing.assert_array_equal(dets.boxes, before[0])
    assert dets.scores is not None and before[1] is not None
    np.testing.assert_array_equal(dets.scores, before[1])


@pytest.mark.parametrize(
    ("boxes", "scores", "image", "message"),
    [
        ([[0, 0, np.nan, 1]], [0.5], 1, "NaN"),
        ([[0, 0, -1, 1]], [0.5], 1, "negative"),
        ([[0, 0, 1, 1]], [np.nan], 1, "scores"),
        ([[0, 0, 1, 1]], [0.5], 99, "not in gold: \\[99\\]"),
    ],
    ids=["nan-box", "negative-width", "nan-score", "unknown-image"],
)
def test_evaluate_coco_rejects_bad_input(
    boxes: list[list[float]], scores: list[float], image: int, message: str
) -> None:
    gold = DetectionGold.from_arrays(image_ids=[1], category_ids=[1], boxes=[[0, 0, 4, 4]])
    dets = Detections.from_arrays(image_ids=[image], category_ids=[1], boxes=boxes, scores=scores)
    with pytest.raises(ValueError, match=message):
        evaluate_coco(gold, dets)


def test_evaluate_coco_needs_scores_and_masks() -> None:
    gold = DetectionGold.from_arrays(image_ids=[1], category_ids=[1], boxes=[[0, 0, 4, 4]])
    unscored = Detections.from_arrays(image_ids=[1], category_ids=[1], boxes=[[0, 0, 4, 4]])
    with pytest.raises(ValueError, match="scores"):
        evaluate_coco(gold, unscored)
    scored = Detections.from_arrays(
        image_ids=[1], category_ids=[1], boxes=[[0, 0, 4, 4]], scores=[1.0]
    )
    with pytest.raises(ValueError, match="rles"):
        evaluate_coco(gold, scored, iou_type="segm")


# --- box IoU ------------------------------------------------------------------------

# pixel coordinates with two decimals, as in COCO files
_pos = st.integers(-5000, 5000).map(lambda v: v / 100)
_ext = st.integers(0, 6000).map(lambda v: v / 100)
box_st = st.tuples(_pos, _pos, _ext, _ext)


@settings(max_examples=100, deadline=None)
@given(
    a=st.lists(box_st, min_size=1, max_size=6),
    b=st.lists(box_st, min_size=1, max_size=6),
    data=st.data(),
)
def test_box_iou_equals_pycocotools(a: list[Any], b: list[Any], data: st.DataObject) -> None:
    crowd = data.draw(st.lists(st.booleans(), min_size=len(b), max_size=len(b)))
    ref = np.asarray(
        mask_utils.iou([list(x) for x in a], [list(x) for x in b], [int(c) for c in crowd])
    ).reshape(len(a), len(b))
    ours = box_iou(a, b, crowd=crowd)
    np.testing.assert_array_equal(ours, ref)
    assert ((ours >= 0) & (ours <= 1 + 1e-9)).all()
    xyxy_a = [[x, y, x + w, y + h] for x, y, w, h in a]
    xyxy_b = [[x, y, x + w, y + h] for x, y, w, h in b]
    np.testing.assert_allclose(box_iou(xyxy_a, xyxy_b, fmt="xyxy", crowd=crowd), ref, atol=1e-9)


def test_box_iou_rejects_bad_boxes() -> None:
    with pytest.raises(ValueError, match="shape"):
        box_iou([[0, 0, 1]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="non-negative"):
        box_iou([[0, 0, -1, 1]], [[0, 0, 1, 1]])
    with pytest.raises(ValueError, match="x2 >= x1"):
        box_iou([[5, 0, 1, 1]], [[0, 0, 1, 1]], fmt="xyxy")


# --- unscored matching --------------------------------------------------------------


def _brute_force(ious: np.ndarray, thr: float) -> tuple[int, float]:
    """Largest (number of pairs, total IoU) over every one-to-one pairing."""
    n_l, n_g = ious.shape
    best = (0, 0.0)
    for k in range(min(n_l, n_g), 0, -1):
        for rows in itertools.combinations(range(n_l), k):
            for cols in itertools.permutations(range(n_g), k):
                vals = [ious[r, c] for r, c in zip(rows, cols, strict=True)]
                if min(vals) >= thr:
                    cand = (k, float(sum(vals)))
                    if cand[0] > best[0] or (cand[0] == best[0] and cand[1] > best[1] + 1e-12):
                        best = cand
        if best[0] == k:
            break
    return best


@settings(max_examples=80, deadline=None)
@given(
    gold=st.lists(box_st, min_size=0, max_size=4),
    labels=st.lists(box_st, min_size=0, max_size=4),
    thr=st.sampled_from([0.1, 0.3, 0.5, 0.75]),
)
def test_match_unscored_is_optimal(gold: list[Any], labels: list[Any], thr: float) -> None:
    g = DetectionGold.from_arrays(
        image_ids=[1] * len(gold), category_ids=[1] * len(gold), boxes=gold,
        all_image_ids=[1], all_category_ids=[1],
    )  # fmt: skip
    lab = Detections.from_arrays(
        image_ids=[1] * len(labels), category_ids=[1] * len(labels), boxes=labels
    )
    res = match_unscored(g, lab, iou_threshold=thr)
    ious = box_iou(labels, gold) if gold and labels else np.zeros((len(labels), len(gold)))
    n_pairs, total = _brute_force(ious, thr)
    assert len(res.pairs) == n_pairs
    assert res.pairs["iou"].sum() == pytest.approx(total, abs=1e-9)
    row = res.per_class.loc[1]
    assert row["tp"] == n_pairs
    assert row["fp"] == len(labels) - n_pairs
    assert row["fn"] == len(gold) - n_pairs
    if labels:
        assert res.precision.value == pytest.approx(n_pairs / len(labels))
    else:
        assert np.isnan(res.precision.value)
    if gold:
        assert res.recall.value == pytest.approx(n_pairs / len(gold))
    else:
        assert np.isnan(res.recall.value)
    assert (res.pairs["iou"] >= thr).all()
    # one-to-one
    assert res.pairs["gold_index"].is_unique and res.pairs["label_index"].is_unique


def test_match_unscored_per_class_and_images() -> None:
    gold = DetectionGold.from_arrays(
        image_ids=[1, 1, 2, 3],
        category_ids=[1, 2, 1, 1],
        boxes=[[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 10, 10], [0, 0, 10, 10]],
        all_category_ids=[1, 2, 3],
    )
    labels = Detections.from_arrays(
        image_ids=[1, 1, 2, 2],
        category_ids=[1, 1, 1, 2],  # a wrong-class box on image 1, a hit on image 2
        boxes=[[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 10, 10], [50, 50, 4, 4]],
    )
    res = match_unscored(gold, labels)
    pc = res.per_class
    assert _row(pc, 1, ["tp", "fp", "fn"]) == [2, 1, 1]
    assert _row(pc, 2, ["tp", "fp", "fn"]) == [0, 1, 1]
    assert _row(pc, 3, ["tp", "fp", "fn"]) == [0, 0, 0]
    assert np.isnan(_row(pc, 3, ["precision", "recall"])).all()
    assert res.precision.value == pytest.approx(2 / 4)
    assert res.recall.value == pytest.approx(2 / 4)
    assert res.f1.value == pytest.approx(0.5)
    assert res.mean_iou.value == pytest.approx(1.0)
    assert res.localization_error.value == pytest.approx(0.0)
    assert res.precision.per_item is not None and res.precision.per_item.loc[1] == 2 / 3
    assert res.label_match.tolist()[2] == 2
    # only images 1 and 2 were labeled: image 3's gold is left out
    part = match_unscored(gold, labels, labeled_images=[1, 2])
    assert part.coverage == pytest.approx(2 / 3)
    assert part.per_class.loc[1, "fn"] == 0


def test_match_unscored_ignores_labels_on_crowd_regions() -> None:
    gold = DetectionGold.from_arrays(
        image_ids=[1, 1],
        category_ids=[1, 1],
        boxes=[[0, 0, 10, 10], [50, 50, 40, 40]],
        iscrowd=[False, True],
    )
    labels = Detections.from_arrays(
        image_ids=[1, 1, 1], category_ids=[1, 1, 1],
        boxes=[[0, 0, 10, 10], [55, 55, 10, 10], [200, 200, 5, 5]],
    )  # fmt: skip
    res = match_unscored(gold, labels)
    assert res.label_ignored.tolist() == [False, True, False]
    assert _row(res.per_class, 1, ["n_gold", "tp", "fp", "fn", "ignored"]) == [1, 1, 1, 0, 1]


def test_match_unscored_masks() -> None:
    def square(x: int, y: int, s: int) -> dict[str, Any]:
        poly = [[x, y, x + s, y, x + s, y + s, x, y + s]]
        rle = mask_utils.merge(mask_utils.frPyObjects(poly, 40, 40))
        return {"size": rle["size"], "counts": rle["counts"]}

    g_rles = [square(0, 0, 10), square(20, 20, 10)]
    l_rles = [square(1, 0, 10), square(0, 30, 5)]
    gold = DetectionGold.from_arrays(
        image_ids=[1, 1], category_ids=[1, 1],
        boxes=[[0, 0, 10, 10], [20, 20, 10, 10]], rles=g_rles,
    )  # fmt: skip
    labels = Detections.from_arrays(
        image_ids=[1, 1], category_ids=[1, 1],
        boxes=[[1, 0, 10, 10], [0, 30, 5, 5]], rles=l_rles,
    )  # fmt: skip
    res = match_unscored(gold, labels, iou_type="segm")
    ref = np.asarray(mask_utils.iou(l_rles, g_rles, [0, 0]))
    assert _row(res.per_class, 1, ["tp", "fp", "fn"]) == [1, 1, 1]
    assert res.mean_iou.value == pytest.approx(ref[0, 0])


def test_box_bias_reports_mean_edge_offsets_per_class() -> None:
    gold = DetectionGold.from_arrays(
        image_ids=[1, 2, 2],
        category_ids=[1, 1, 2],
        boxes=[[10, 10, 20, 20], [40, 40, 10, 10], [0, 0, 50, 50]],
    )
    # class 1: labels 2 px too wide on the right; class 2: 5 px lower
    labels = Detections.from_arrays(
        image_ids=[1, 2, 2],
        category_ids=[1, 1, 2],
        boxes=[[10, 10, 22, 20], [40, 40, 12, 10], [0, 5, 50, 50]],
    )
    bias = box_bias(match_unscored(gold, labels))
    assert bias.index.tolist() == [1, 2]
    assert _row(bias, 1, ["n", "left", "top", "right", "bottom"]) == [2, 0, 0, 2, 0]
    assert bias.loc[1, "right_rel"] == pytest.approx((2 / 20 + 2 / 10) / 2)
    assert _row(bias, 2, ["n", "left", "top", "right", "bottom"]) == [1, 0, 5, 0, 5]


def test_match_unscored_rejects_bad_threshold_and_images() -> None:
    gold = DetectionGold.from_arrays(image_ids=[1], category_ids=[1], boxes=[[0, 0, 4, 4]])
    labels = Detections.from_arrays(image_ids=[5], category_ids=[1], boxes=[[0, 0, 4, 4]])
    with pytest.raises(ValueError, match="iou_threshold"):
        match_unscored(gold, labels, iou_threshold=0.0)
    with pytest.raises(ValueError, match="not in gold"):
        match_unscored(gold, labels)


# --- PASCAL VOC AP (review_odm test case 1) -----------------------------------------


def _read_odm_txt(
    folder: Path, *, scored: bool
) -> tuple[list[int], list[list[float]], list[float]]:
    images, boxes, scores = [], [], []
    for number, path in enumerate(sorted(folder.glob("*.txt")), start=1):
        for line in path.read_text().splitlines():
            parts = line.split()
            if not parts:
                continue
            values = [float(v) for v in parts[1:]]
            if scored:
                scores.append(values.pop(0))
            images.append(number)
            boxes.append(values)
    return images, boxes, scores


@needs_odm
@pytest.mark.parametrize(
    ("interpolation", "expected"),
    [
        ("11point", {0.1: 0.3333333333, 0.3: 0.2683982683, 0.5: 0.0303030303, 0.75: 0.0}),
        ("all", {0.1: 0.3371980676, 0.3: 0.2456866804, 0.5: 0.0222222222, 0.75: 0.0}),
    ],
    ids=["11point", "every-point"],
)
def test_voc_ap_reproduces_review_odm_case_1(
    interpolation: Literal["all", "11point"], expected: dict[float, float]
) -> None:
    folder = ODM / "tests" / "test_case_1"
    g_img, g_box, _ = _read_odm_txt(folder / "gts", scored=False)
    d_img, d_box, d_score = _read_odm_txt(folder / "dets", scored=True)
    gold = DetectionGold.from_arrays(image_ids=g_img, category_ids=[1] * len(g_img), boxes=g_box)
    dets = Detections.from_arrays(
        image_ids=d_img, category_ids=[1] * len(d_img), boxes=d_box, scores=d_score
    )
    for thr, ap in expected.items():
        res = voc_average_precision(
            gold, dets, iou_threshold=thr, interpolation=interpolation, pixel_inclusive=True
        )
        # the toolkit's published values, rounded to 10 decimals
        assert res.value == pytest.approx(ap, abs=1e-9)
        assert res.per_item is not None and res.per_item.index.tolist() == [1]


def test_voc_ap_crowd_gold_is_difficult() -> None:
    gold = DetectionGold.from_arrays(
        image_ids=[1, 1], category_ids=[1, 1],
        boxes=[[0, 0, 10, 10], [50, 50, 10, 10]], iscrowd=[False, True],
    )  # fmt: skip
    dets = Detections.from_arrays(
        image_ids=[1, 1], category_ids=[1, 1],
        boxes=[[50, 50, 10, 10], [0, 0, 10, 10]], scores=[0.9, 0.8],
    )  # fmt: skip
    # the hit on the difficult region counts neither way: AP is perfect
    assert voc_average_precision(gold, dets).value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="interpolation"):
        voc_average_precision(gold, dets, interpolation="101point")  # type: ignore[arg-type]


def test_benchmark_data_matches_cocoeval_at_small_scale() -> None:
    """The benchmark generator's data (ties in scores, crowd, all area ranges), 25 images."""
    from benchmarks.coco_data import make_coco_bbox_benchmark

    data = make_coco_bbox_benchmark(n_images=25, seed=3)
    again = make_coco_bbox_benchmark(n_images=25, seed=3)
    np.testing.assert_array_equal(data.dt_box, again.dt_box)  # seeded
    assert np.bincount(np.unique(data.dt_image, return_inverse=True)[1]).tolist() == [100] * 25
    gt, results = data.gold_dict(), data.results_list()
    ref = run_cocoeval(gt, results, "bbox")
    ours = evaluate_coco(data.gold(), data.detections())
    assert list(ours.stats) == ref.stats.tolist()
    np.testing.assert_array_equal(ours.precision, ref.eval["precision"])


@settings(max_examples=60, deadline=None)
@given(
    gold=st.lists(st.tuples(st.integers(1, 2), st.integers(1, 2), box_st), min_size=0, max_size=5),
    labels=st.lists(
        st.tuples(st.integers(1, 2), st.integers(1, 2), box_st), min_size=0, max_size=5
    ),
    data=st.data(),
)
def test_match_unscored_is_optimal_per_image_and_class(
    gold: list[Any], labels: list[Any], data: st.DataObject
) -> None:
    # near-copies of gold boxes make several candidates per box, so assignments are needed
    for img, cat, b in list(gold):
        if data.draw(st.booleans()):
            labels.append((img, cat, (b[0] + 0.5, b[1], b[2], b[3])))
    thr = data.draw(st.sampled_from([0.3, 0.5]))
    g = DetectionGold.from_arrays(
        image_ids=[x[0] for x in gold], category_ids=[x[1] for x in gold],
        boxes=[x[2] for x in gold], all_image_ids=[1, 2], all_category_ids=[1, 2],
    )  # fmt: skip
    lab = Detections.from_arrays(
        image_ids=[x[0] for x in labels], category_ids=[x[1] for x in labels],
        boxes=[x[2] for x in labels],
    )  # fmt: skip
    res = match_unscored(g, lab, iou_threshold=thr)
    for cat in (1, 2):
        n_pairs, total = 0, 0.0
        for img in (1, 2):
            gb = [x[2] for x in gold if x[:2] == (img, cat)]
            lb = [x[2] for x in labels if x[:2] == (img, cat)]
            if gb and lb:
                k, s = _brute_force(box_iou(lb, gb), thr)
                n_pairs, total = n_pairs + k, total + s
        pairs = res.pairs[res.pairs["category_id"] == cat]
        assert len(pairs) == n_pairs
        assert float(pairs["iou"].sum()) == pytest.approx(total, abs=1e-9)
        assert _row(res.per_class, cat, ["tp"]) == [n_pairs]
    # pairs stay inside their image and class
    assert (g.image_ids[res.pairs["gold_index"]] == res.pairs["image_id"]).all()
    assert (g.category_ids[res.pairs["gold_index"]] == res.pairs["category_id"]).all()
