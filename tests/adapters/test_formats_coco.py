"""COCO instances/results reading, validation errors, DTO conversion and export."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO

from adapters.base import Box, Mask, VendorAnnotation
from adapters.formats import FormatError
from adapters.formats.coco import (
    CocoCategory,
    CocoDataset,
    CocoImage,
    coco_results_to_json,
    dataset_from_vendor_annotations,
    parse_coco_dataset,
    parse_coco_results,
    read_coco_dataset,
    read_coco_results,
    results_from_vendor_annotations,
    write_coco_dataset,
    write_coco_results,
)
from metrics.detection import evaluate_coco, match_unscored

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
COCO100 = DATA / "coco_val2014_100"
ODM = DATA / "review_odm"

needs_coco100 = pytest.mark.skipif(
    not COCO100.is_dir(), reason=f"shared COCO subset not found at {COCO100}"
)


def _gold_obj() -> dict[str, Any]:
    return {
        "images": [
            {"id": 1, "width": 100, "height": 80, "file_name": "a.jpg"},
            {"id": 2, "width": 50, "height": 50, "file_name": "b.jpg"},
        ],
        "categories": [{"id": 1, "name": "cat"}, {"id": 3, "name": "dog"}],
        "annotations": [
            {"id": 10, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 20], "area": 150.0,
             "iscrowd": 0, "segmentation": [[0, 0, 10, 0, 10, 20, 0, 20]]},
            {"id": 11, "image_id": 1, "category_id": 3, "bbox": [20, 20, 30, 30]},
            {"id": 12, "image_id": 2, "category_id": 3, "bbox": [0, 0, 4, 4], "iscrowd": 1},
        ],
    }  # fmt: skip


def _write(tmp_path: Path, name: str, obj: Any) -> Path:
    path = tmp_path / name
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj))
    return path


@needs_coco100
@pytest.mark.parametrize(
    ("iou_type", "results_file", "expected_ap"),
    [
        ("bbox", "instances_val2014_fakebbox100_results.json", 0.505),
        ("segm", "instances_val2014_fakesegm100_results.json", 0.320),
    ],
    ids=["bbox", "segm"],
)
def test_reads_coco_subset_and_reproduces_cocoapi(
    iou_type: str, results_file: str, expected_ap: float
) -> None:
    gold = read_coco_dataset(COCO100 / "instances_val2014_100.json")
    results = read_coco_results(COCO100 / results_file, gold)
    assert gold.ann_ids.shape == (839,)
    assert gold.all_image_ids.shape == (100,) and gold.all_category_ids.shape == (80,)
    assert int(gold.iscrowd.sum()) == 9
    assert results.scores is not None and results.scores.shape == (734,)
    res = evaluate_coco(gold, results, iou_type="segm" if iou_type == "segm" else "bbox")
    assert round(res.stats[0], 3) == expected_ap
    # identical to pycocotools on the same files
    with pytest.MonkeyPatch.context():
        import contextlib

        from pycocotools.cocoeval import COCOeval

        with contextlib.redirect_stdout(io.StringIO()):
            cg = COCO(str(COCO100 / "instances_val2014_100.json"))
            cd = cg.loadRes(str(COCO100 / results_file))
            ev = COCOeval(cg, cd, iou_type)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
    assert list(res.stats) == ev.stats.tolist()


def test_reads_a_small_file_into_flat_arrays(tmp_path: Path) -> None:
    gold = read_coco_dataset(_write(tmp_path, "gold.json", _gold_obj()))
    assert gold.source == "gold.json"
    assert gold.ann_ids.tolist() == [10, 11, 12]
    assert gold.boxes.tolist()[1] == [20, 20, 30, 30]
    # area from the file; else the mask; else the box
    assert gold.areas.tolist() == [150.0, 900.0, 16.0]
    assert gold.iscrowd.tolist() == [False, False, True]
    assert gold.rles is None  # two annotations have no mask
    assert gold.images[0] == CocoImage(id=1, width=100, height=80, file_name="a.jpg")
    assert gold.categories[1] == CocoCategory(id=3, name="dog")


@pytest.mark.parametrize(
    ("mutate", "location", "problem"),
    [
        (lambda g: g.pop("categories"), "gold.json", "missing key 'categories'"),
        (lambda g: g["images"].append({"id": 1, "width": 5, "height": 5}), "images[2].id",
         "duplicate image id 1 (first at images[0])"),
        (lambda g: g["categories"].append({"id": 3, "name": "x"}), "categories[2].id",
         "duplicate category id 3"),
        (lambda g: g["categories"].append({"id": 4, "name": "cat"}), "categories[2].name",
         "duplicate category name 'cat'"),
        (lambda g: g["annotations"][2].update(id=10), "annotations[2].id",
         "duplicate annotation id 10 (first at annotations[0])"),
        (lambda g: g["annotations"][1].update(bbox=[1, 1, -3, 4]), "annotations[1].bbox",
         "negative width or height"),
        (lambda g: g["annotations"][1].update(bbox=[1, 1, float("nan"), 4]),
         "annotations[1].bbox", "NaN"),
        (lambda g: g["annotations"][1].update(bbox=[1, 1, 3]), "annotations[1].bbox",
         "must be [x, y, width, height]"),
        (lambda g: g["annotations"][1].update(bbox=[90, 70, 30, 5]), "annotations[1].bbox",
         "outside image 1 (100x80)"),
        (lambda g: g["annotations"][1].update(category_id=2), "annotations[1].category_id",
         "category 2 is not in 'categories'"),
        (lambda g: g["annotations"][1].update(image_id=9), "annotations[1].image_id",
         "image 9 is not in 'images'"),
        (lambda g: g["annotations"][1].update(image_id="1"), "annotations[1].image_id",
         'must be an integer, got "1"'),
        (lambda g: g["annotations"][1].pop("bbox"), "annotations[1]", "missing key 'bbox'"),
        (lambda g: g["annotations"][0].update(segmentation=[[0, 0, 1]]),
         "annotations[0].segmentation[0]", "even number >= 6"),
        (lambda g: (g["annotations"][0].update(segmentation={"size": [10, 10], "counts": "a"}),
                    g["annotations"][0].pop("bbox")),
         "annotations[0].segmentation.size", "does not match image 1"),
        (lambda g: g["annotations"][0].update(iscrowd=2), "annotations[0].iscrowd",
         "must be 0 or 1"),
    ],
    ids=[
        "no-categories", "duplicate-image", "duplicate-category",
        "duplicate-category-name", "duplicate-annotation", "negative-size", "nan-size",
        "short-bbox", "outside-image", "unknown-category", "unknown-image", "string-id",
        "no-bbox", "bad-polygon", "rle-size-mismatch-without-bbox", "bad-iscrowd",
    ],
)  # fmt: skip
def test_gold_errors_name_file_object_and_problem(
    tmp_path: Path, mutate: Any, location: str, problem: str
) -> None:
    gold = _gold_obj()
    mutate(gold)
    path = _write(tmp_path, "gold.json", json.dumps(gold))
    with pytest.raises(FormatError) as info:
        read_coco_dataset(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("gold.json: ")
    assert location in msg and problem in msg


def test_gold_from_other_suites_is_read_where_pycocotools_reads_it(tmp_path: Path) -> None:
    """torchmetrics writes images as {"id": i}; a mask of the wrong size does not stop a box
    evaluation (pycocotools ignores masks there). Both are said in the notes."""
    gold = _gold_obj()
    for image in gold["images"]:
        image.pop("width")
        image.pop("height")
    dataset = read_coco_dataset(_write(tmp_path, "gold.json", json.dumps(gold)))
    assert len(dataset.boxes) == len(gold["annotations"])
    assert any("no width/height" in n for n in dataset.notes)
    gold = _gold_obj()
    gold["annotations"][0]["segmentation"] = {"size": [10, 10], "counts": "a"}
    dataset = read_coco_dataset(_write(tmp_path, "gold2.json", json.dumps(gold)))
    assert dataset.segmentations[0] is None
    assert any("differ in size from their image (annotations[0])" in n for n in dataset.notes)
    # a polygon needs the size when there is no box or area to take instead
    gold = _gold_obj()
    gold["images"][0].pop("width")
    gold["annotations"][0].update(segmentation=[[0, 0, 5, 0, 5, 5]])
    gold["annotations"][0].pop("bbox")
    with pytest.raises(FormatError, match="has no width/height, which its polygon needs"):
        read_coco_dataset(_write(tmp_path, "gold3.json", json.dumps(gold)))


def test_invalid_json_names_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "gold.json", '{"images": [}')
    with pytest.raises(FormatError, match=r"^gold\.json: line 1 column 13: invalid JSON"):
        read_coco_dataset(path)
    with pytest.raises(FormatError, match="cannot open"):
        read_coco_dataset(tmp_path / "missing.json")


def test_results_are_checked_against_gold(tmp_path: Path) -> None:
    gold = parse_coco_dataset(_gold_obj(), source="gold.json")
    ok = [
        {"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5},
        {"image_id": 2, "category_id": 3, "bbox": [1, 1, 2, 2], "score": 0.9},
    ]
    res = read_coco_results(_write(tmp_path, "model.json", ok), gold)
    assert res.scores is not None and res.scores.tolist() == [0.5, 0.9]
    assert res.areas.tolist() == [100.0, 4.0]
    assert res.rles is None

    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"image_id": 7}, "[1].image_id", "image 7 is not in the gold set (gold.json)"),
        ({"category_id": 2}, "[1].category_id", "category 2 is missing from the gold categories"),
        ({"bbox": [0, 0, -1, 1]}, "[1].bbox", "negative width"),
        ({"score": float("nan")}, "[1].score", "finite number, got NaN"),
    ]
    for change, location, problem in cases:
        bad = [dict(ok[0]), {**ok[1], **change}]
        with pytest.raises(FormatError) as info:
            read_coco_results(_write(tmp_path, "model.json", json.dumps(bad)), gold)
        msg = str(info.value)
        assert msg.startswith(f"model.json: {location}: ") and problem in msg, msg
    no_score = [dict(ok[0]), {k: v for k, v in ok[1].items() if k != "score"}]
    with pytest.raises(FormatError, match=r"\[1\]: has no 'score' while the results before"):
        read_coco_results(_write(tmp_path, "model.json", no_score), gold)
    with pytest.raises(FormatError, match=r"\[0\]: needs a 'bbox' or a 'segmentation'"):
        read_coco_results(_write(tmp_path, "model.json", [{"image_id": 1, "category_id": 1}]), gold)
    with pytest.raises(FormatError, match="expected a JSON array of results"):
        read_coco_results(_write(tmp_path, "model.json", {"a": 1}), gold)
    with pytest.raises(FormatError, match=r"^model\.json: \[1\]: invalid JSON"):
        read_coco_results(_write(tmp_path, "model.json", json.dumps(ok)[:-20]), gold)


def test_streaming_reader_equals_whole_document_parse() -> None:
    gold = parse_coco_dataset(_gold_obj(), source="gold.json")
    rng = np.random.default_rng(0)
    items = [
        {"image_id": 1, "category_id": int(rng.choice([1, 3])),
         "bbox": [float(rng.integers(0, 50)), 1.5, 3.25, 4.0], "score": float(rng.random())}
        for _ in range(5000)
    ]  # fmt: skip
    raw = json.dumps(items, indent=1).encode()
    assert len(raw) > 3 * 65536  # crosses the reader's chunk boundaries
    streamed = read_coco_results(io.BytesIO(raw), gold, name="big.json")
    whole = parse_coco_results(items, gold, source="big.json")
    np.testing.assert_array_equal(streamed.boxes, whole.boxes)
    assert streamed.scores is not None and whole.scores is not None
    np.testing.assert_array_equal(streamed.scores, whole.scores)
    np.testing.assert_array_equal(streamed.category_ids, whole.category_ids)


def test_segmentation_results_use_mask_area_and_box(tmp_path: Path) -> None:
    gold = parse_coco_dataset(_gold_obj(), source="gold.json")
    from pycocotools import mask as mask_utils

    rle = mask_utils.frPyObjects([[10, 10, 30, 10, 30, 20, 10, 20]], 80, 100)[0]
    seg = {"size": rle["size"], "counts": rle["counts"].decode()}
    res = parse_coco_results([{"image_id": 1, "category_id": 1, "segmentation": seg}], gold)
    assert res.rles is not None and res.scores is None
    assert res.areas.tolist() == [float(mask_utils.area(rle))]
    np.testing.assert_array_equal(res.boxes[0], mask_utils.toBbox(rle))


def test_crowd_rle_gold_matches_pycocotools_ann_to_rle() -> None:
    obj = _gold_obj()
    obj["annotations"][2]["segmentation"] = {"size": [50, 50], "counts": [10, 5, 2485]}
    obj["annotations"][1]["segmentation"] = [[20, 20, 50, 20, 50, 50]]
    gold = parse_coco_dataset(obj)
    coco = COCO()
    coco.dataset = json.loads(json.dumps(obj))
    with pytest.MonkeyPatch.context():
        import contextlib

        with contextlib.redirect_stdout(io.StringIO()):
            coco.createIndex()
    assert gold.rles is not None
    for rle, ann in zip(gold.rles, obj["annotations"], strict=True):
        assert rle == coco.annToRLE(ann)


def test_write_and_read_back(tmp_path: Path) -> None:
    gold = parse_coco_dataset(_gold_obj(), source="gold.json")
    write_coco_dataset(gold, tmp_path / "out.json")
    again = read_coco_dataset(tmp_path / "out.json")
    for attr in ("ann_ids", "image_ids", "category_ids", "boxes", "areas", "iscrowd"):
        np.testing.assert_array_equal(getattr(again, attr), getattr(gold, attr))
    assert again.images == gold.images and again.categories == gold.categories
    results = parse_coco_results(
        [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5}], gold
    )
    buf = io.StringIO()
    write_coco_results(results, buf)
    assert json.loads(buf.getvalue()) == coco_results_to_json(results)
    back = parse_coco_results(json.loads(buf.getvalue()), gold)
    np.testing.assert_array_equal(back.boxes, results.boxes)


def test_vendor_annotation_round_trip() -> None:
    gold = parse_coco_dataset(_gold_obj(), source="gold.json")
    dtos = gold.to_vendor_annotations("detection")
    assert [a.item_id for a in dtos] == ["1", "2"]
    assert dtos[0].label == [
        Box(category="cat", bbox=(0, 0, 10, 20)),
        Box(category="dog", bbox=(20, 20, 30, 30)),
    ]
    assert dtos[1].label == []  # the crowd region is not a box to draw
    by_name = gold.to_vendor_annotations("detection", item_key="file_name")
    assert by_name[0].item_id == "a.jpg"
    masks = gold.to_vendor_annotations("segmentation")
    assert masks[0].label == [Mask(category="cat", segmentation=[[0, 0, 10, 0, 10, 20, 0, 20]])]

    # a vendor's DTOs back to COCO results, then scored against gold
    results = results_from_vendor_annotations(dtos, gold)
    assert results.scores is None
    match = match_unscored(gold, results)
    assert match.precision.value == 1.0 and match.recall.value == 1.0
    assert results.to_vendor_annotations(gold, "detection")[0].label == dtos[0].label

    exported = dataset_from_vendor_annotations(dtos, images=gold.images, categories=gold.categories)
    assert exported.ann_ids.tolist() == [1, 2]
    np.testing.assert_array_equal(exported.boxes, gold.boxes[:2])


def test_vendor_annotation_errors_name_the_label() -> None:
    gold = parse_coco_dataset(_gold_obj(), source="gold.json")
    bad = [VendorAnnotation(item_id="1", label=[Box(category="cow", bbox=(0, 0, 1, 1))])]
    with pytest.raises(FormatError, match=r"annotations\[0\]\.label\[0\]\.category: 'cow'"):
        results_from_vendor_annotations(bad, gold)
    unknown = [VendorAnnotation(item_id="x", label=[])]
    with pytest.raises(FormatError, match=r"annotations\[0\]\.item_id"):
        results_from_vendor_annotations(unknown, gold)
    # a box past the image border is scored as pycocotools scores it, and counted
    outside = [VendorAnnotation(item_id="2", label=[Box(category="dog", bbox=(40, 40, 20, 20))])]
    assert results_from_vendor_annotations(outside, gold).outside_image == 1
    negative = [VendorAnnotation(item_id="2", label=[Box(category="dog", bbox=(0, 0, -1, 2))])]
    with pytest.raises(FormatError, match="negative width or height"):
        results_from_vendor_annotations(negative, gold)


def test_dataset_satisfies_metrics_protocol() -> None:
    gold: CocoDataset = parse_coco_dataset(_gold_obj())
    res = parse_coco_results(
        [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 20], "score": 0.5}], gold
    )
    out = evaluate_coco(gold, res)
    assert out.stat("AP50") == pytest.approx(0.5)  # one of two gold boxes found


@pytest.mark.skipif(not ODM.is_dir(), reason=f"review_odm data not found at {ODM}")
def test_reads_review_odm_cvat_export_and_detections() -> None:
    folder = ODM / "data" / "database"
    gold = read_coco_dataset(folder / "gts" / "coco_format_v1" / "instances_default.json")
    assert gold.ann_ids.shape == (273,)
    assert all(s is None for s in gold.segmentations)  # CVAT writes "segmentation": []
    dets_doc = json.loads((folder / "dets" / "coco_format" / "coco_dets.json").read_text())
    dets_gold = parse_coco_dataset(dets_doc, source="coco_dets.json")
    assert dets_gold.ann_ids.shape == (452,)
