"""The one format layer: detection, and readers of other tools' exports on their real files.

The independent computation for VOC and YOLO is the COCO version of the same 100 VOC images
(``../shared/data/review_odm``): all three were exported from one CVAT task by the toolkit's
authors, so the boxes must agree (exactly for VOC; within YOLO's six printed decimals).
"""

from __future__ import annotations

import json
import math
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from adapters.base import Box, Mask, Span
from adapters.formats import FormatError
from adapters.formats.cvat import cvat_annotations
from adapters.formats.registry import (
    FORMAT_NAMES,
    GoldContext,
    detect_format,
    read_label_file,
)

REPO = Path(__file__).resolve().parents[2]
EXTERNAL = REPO / "tests" / "data" / "external"
ODM = REPO.parent / "shared" / "data" / "review_odm" / "data" / "database" / "gts"
COCO_100 = REPO.parent / "shared" / "data" / "coco_val2014_100"


pytestmark = pytest.mark.shared_data("review_odm", "coco_val2014_100")


@pytest.fixture(scope="module")
def odm_coco() -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    """The COCO version: file name -> sorted (class, [x, y, w, h])."""
    coco = json.loads((ODM / "coco_format_v1" / "instances_default.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    files = {im["id"]: im["file_name"] for im in coco["images"]}
    out: dict[str, list[tuple[str, tuple[float, ...]]]] = {f: [] for f in files.values()}
    for a in coco["annotations"]:
        out[files[a["image_id"]]].append((names[a["category_id"]], tuple(a["bbox"])))
    return {k: sorted(v) for k, v in out.items()}


def _boxes(label: object) -> list[tuple[str, tuple[float, ...]]]:
    assert isinstance(label, list)
    return sorted((b.category, tuple(b.bbox)) for b in label if isinstance(b, Box))


def test_voc_export_equals_the_coco_export_of_the_same_images(
    odm_coco: dict[str, list[tuple[str, tuple[float, ...]]]],
) -> None:
    read = read_label_file(ODM / "pascalvoc_format", task_type="detection")
    assert read.format == "voc"
    assert {a.item_id: _boxes(a.label) for a in read.annotations} == odm_coco
    assert sum(len(v) for v in odm_coco.values()) == 273


def test_voc_from_a_zip_reads_as_from_the_folder(tmp_path: Path) -> None:
    folder = ODM / "pascalvoc_format"
    archive = tmp_path / "voc.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for f in sorted(folder.glob("*.xml")):
            z.write(f, f"Annotations/{f.name}")
    from_zip = read_label_file(archive, task_type="detection")
    from_dir = read_label_file(folder, task_type="detection")
    assert from_zip.format == "voc" and from_zip.annotations == from_dir.annotations


def test_yolo_export_equals_the_coco_export_within_its_printed_precision(
    odm_coco: dict[str, list[tuple[str, tuple[float, ...]]]],
) -> None:
    coco = json.loads((ODM / "coco_format_v1" / "instances_default.json").read_text())
    sizes = {im["file_name"]: (im["width"], im["height"]) for im in coco["images"]}
    classes = tuple(c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"]))
    gold = GoldContext(image_sizes=sizes, class_names=classes)
    read = read_label_file(ODM / "yolo_format", task_type="detection", gold=gold)
    assert read.format == "yolo" and len(read.annotations) == 100
    worst = 0.0
    for ann in read.annotations:
        got, expected = _boxes(ann.label), odm_coco[ann.item_id]
        assert [c for c, _ in got] == [c for c, _ in expected], ann.item_id
        for (_, a), (_, b) in zip(got, expected, strict=True):
            worst = max(worst, float(np.max(np.abs(np.subtract(a, b)))))
    assert worst < 1e-3  # six decimals of a <= 500 px image


def test_yolo_needs_sizes_and_names_and_says_so() -> None:
    folder = EXTERNAL / "datumaro" / "yolo"
    with pytest.raises(FormatError, match="no gold item has the stem '1'"):
        read_label_file(folder, task_type="detection", format="yolo")
    read = read_label_file(
        folder, task_type="detection", gold=GoldContext(image_sizes={"1.jpg": (15, 10)})
    )
    (ann,) = read.annotations
    # datumaro's obj.names supplies the class names; 2 0.133333 0.3 0.266667 0.2 at 15x10
    first = _boxes(ann.label)[0]
    assert first[0] == "label_2"
    np.testing.assert_allclose(first[1], (0.0, 2.0, 4.0, 2.0), atol=1e-5)


def test_datumaro_voc_file_with_parts_reads_only_the_object_boxes() -> None:
    read = read_label_file(EXTERNAL / "datumaro" / "voc", task_type="detection")
    (ann,) = read.annotations
    assert ann.item_id == "2007_000001.jpg"
    assert _boxes(ann.label) == [("cat", (1.0, 2.0, 2.0, 2.0)), ("person", (4.0, 5.0, 2.0, 2.0))]


def test_cvat_reads_the_shapes_a_task_scores_and_counts_the_others_in_notes() -> None:
    """datumaro's CVAT file mixes a box with a polyline, points, skeletons and a polygon
    without a class name: each task type reads its shapes and counts every other one."""
    xml = EXTERNAL / "datumaro" / "cvat" / "train.xml"
    assert detect_format(xml) == "cvat"
    read = read_label_file(xml, task_type="detection")
    assert [(a.item_id, _boxes(a.label)) for a in read.annotations] == [
        ("img0.jpg", [("label1", (0.0, 2.0, 4.0, 2.0))]),
        ("img1.jpg", []),
    ]
    (note,) = read.notes
    assert "left out 5 tag(s) and shape(s) that detection does not score" in note
    assert "1 points, 1 polygon, 1 polyline, 2 skeleton" in note and "scored 1 <box>" in note
    segm = read_label_file(xml, task_type="segmentation")
    first = segm.annotations[0].label
    assert isinstance(first, list) and isinstance(first[0], Mask)
    assert first[0].segmentation == [[0.0, 2.0, 4.0, 2.0, 4.0, 4.0, 0.0, 4.0]]
    assert segm.annotations[1].label == []
    assert "1 polygon without a class name" in segm.notes[0]
    for task in ("classification", "multilabel"):
        with pytest.raises(
            FormatError,
            match=rf"train.xml: CVAT for images: no <tag> .* as {task}; the file "
            r"holds 1 box, 1 points, 1 polygon, 1 polyline, 2 skeleton",
        ):
            read_label_file(xml, task_type=task)
    with pytest.raises(FormatError, match="CVAT for images .* not read for keypoints"):
        read_label_file(xml, task_type="keypoints")


def test_a_cvat_project_export_names_items_by_subset_where_names_repeat() -> None:
    """datumaro's project export holds img0.jpg and img1.jpg in three subsets of one task:
    six items, named by their path in the export (images/<subset>/<name>), said in a note."""
    xml = EXTERNAL / "datumaro" / "cvat_project" / "annotations.xml"
    read = read_label_file(xml, task_type="segmentation")
    assert [a.item_id for a in read.annotations] == [
        f"{s}/img{k}.jpg" for s in ("Test", "Train", "Validation") for k in (0, 1)
    ]
    assert {a.annotator_id for a in read.annotations} == {"job-39"}
    assert "every item id is '<subset>/<name>'" in read.notes[0]
    assert "left out 6 tag(s) and shape(s)" in read.notes[1]
    # one subset per name: ids stay the names
    single = read_label_file(EXTERNAL / "datumaro" / "cvat" / "train.xml", task_type="detection")
    assert [a.item_id for a in single.annotations] == ["img0.jpg", "img1.jpg"]


CVAT_ROTATED = """<annotations><version>1.1</version>
<image id="0" name="a.jpg" width="100" height="100">
  <box label="car" xtl="40" ytl="45" xbr="60" ybr="55" rotation="90.0" occluded="0"/>
  <box label="car" xtl="0" ytl="0" xbr="10" ybr="10" occluded="0">
    <attribute name="colour">red</attribute></box>
  <polygon label="road" points="0,90;99,90;99,99"/>
</image>
<image id="1" name="b.jpg" width="100" height="100"></image>
</annotations>"""


def test_cvat_rotated_boxes_are_refused_as_boxes_and_exact_as_outlines(tmp_path: Path) -> None:
    xml = tmp_path / "annotations.xml"
    xml.write_text(CVAT_ROTATED)
    with pytest.raises(FormatError, match="rotated by 90 degrees"):
        cvat_annotations(xml, task_type="detection")
    read, notes = cvat_annotations(xml, task_type="segmentation")
    assert notes == ()
    anns = {a.item_id: a for a in read}
    label = anns["a.jpg"].label
    assert isinstance(label, list)
    rotated = label[0]
    assert isinstance(rotated, Mask) and isinstance(rotated.segmentation, list)
    # a 20x10 box turned by 90 degrees about (50, 50) covers x 45..55, y 40..60
    rle = mask_utils.frPyObjects(rotated.segmentation, 100, 100)
    upright = mask_utils.frPyObjects([[45, 40, 55, 40, 55, 60, 45, 60]], 100, 100)
    iou = mask_utils.iou(rle, upright, [0])
    assert iou[0][0] == pytest.approx(1.0)
    assert anns["b.jpg"].label == []


def test_cvat_tags_are_classes_and_shapes_are_not(tmp_path: Path) -> None:
    xml = tmp_path / "annotations.xml"
    xml.write_text(
        '<annotations><image id="0" name="a.jpg"><tag label="indoor"/><tag label="dim"/>'
        '<tag label="indoor"/></image><image id="1" name="b.jpg"><tag label="outdoor"/>'
        "</image></annotations>"
    )
    read, _ = cvat_annotations(xml, task_type="multilabel")
    assert [(a.item_id, a.label) for a in read] == [
        ("a.jpg", ["indoor", "dim"]),
        ("b.jpg", ["outdoor"]),
    ]
    with pytest.raises(FormatError, match="needs exactly one <tag>, found 3"):
        cvat_annotations(xml, task_type="classification")
    xml.write_text(CVAT_ROTATED)
    with pytest.raises(FormatError, match="no <tag> with a class name to score as multilabel"):
        cvat_annotations(xml, task_type="multilabel")


def test_doccano_exports_by_text_and_by_meta() -> None:
    folder = EXTERNAL / "doccano"
    texts = [json.loads(line)["text"] for line in (folder / "sequence_labeling.jsonl").open()]
    gold = GoldContext(texts={t: f"s{i}" for i, t in enumerate(texts)})
    spans = read_label_file(folder / "sequence_labeling.jsonl", task_type="spans", gold=gold)
    assert spans.format == "doccano"
    assert spans.annotations[0].item_id == "s0"
    assert spans.annotations[0].label == [
        Span(start=0, end=2, type="ORG"),
        Span(start=11, end=17, type="MISC"),
    ]
    # without ids or known texts nothing is guessed
    with pytest.raises(FormatError, match="no 'item_id' field"):
        read_label_file(folder / "text_classification.jsonl", task_type="classification")
    # the import example names its classes 'labels' (the older key)
    gold = GoldContext(texts={"exampleA": "a", "exampleB": "b", "exampleC": "c"})
    meta = read_label_file(
        folder / "text_classification_meta.jsonl", task_type="multilabel", gold=gold
    )
    assert [(a.item_id, a.label) for a in meta.annotations] == [
        ("a", ["positive"]),
        ("b", ["positive", "negative"]),
        ("c", []),
    ]


def test_prodigy_keeps_accepted_answers_and_says_what_it_skipped(tmp_path: Path) -> None:
    lines = [
        {
            "text": "Great price.",
            "label": "POSITIVE",
            "answer": "accept",
            "_input_hash": 1,
            "_annotator_id": "s-alice",
            "meta": {"item_id": "t1"},
        },
        {
            "text": "Great price.",
            "label": "NEGATIVE",
            "answer": "reject",
            "_input_hash": 1,
            "_annotator_id": "s-alice",
            "meta": {"item_id": "t1"},
        },
        {
            "text": "Awful.",
            "options": [{"id": "POSITIVE"}, {"id": "NEGATIVE"}],
            "accept": ["NEGATIVE"],
            "answer": "accept",
            "_annotator_id": "s-bob",
            "item_id": "t2",
        },
        {"text": "Meh.", "answer": "ignore", "item_id": "t3"},
    ]
    path = tmp_path / "db-out.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    read = read_label_file(path, task_type="classification")
    assert read.format == "prodigy"
    assert [(a.item_id, a.label, a.annotator_id) for a in read.annotations] == [
        ("t1", "POSITIVE", "s-alice"),
        ("t2", "NEGATIVE", "s-bob"),
    ]
    assert read.notes == (
        "skipped 1 answer(s) of 'ignore' (only 'accept' is a label)",
        "skipped 1 answer(s) of 'reject' (only 'accept' is a label)",
    )
    # class answers are not "no entities": read as spans they are refused
    with pytest.raises(FormatError, match=r"line 1: a Prodigy text classification answer"):
        read_label_file(path, task_type="spans")
    textcat = EXTERNAL / "prodigy" / "annotated_github-issues-DOCUMENTATION-textcat.head40.jsonl"
    texts = {json.loads(line)["text"]: f"i{i}" for i, line in enumerate(textcat.open())}
    with pytest.raises(FormatError, match="cannot be a spans label"):
        read_label_file(textcat, task_type="spans", gold=GoldContext(texts=texts))


def test_coco_results_array_and_instances_file_are_told_apart() -> None:
    assert detect_format(COCO_100 / "instances_val2014_fakebbox100_results.json") == "coco_results"
    assert detect_format(COCO_100 / "instances_val2014_100.json") == "coco"
    with pytest.raises(FormatError, match="needs the gold COCO dataset"):
        read_label_file(
            COCO_100 / "instances_val2014_fakebbox100_results.json", task_type="detection"
        )


def test_an_unknown_file_names_every_format_tried(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("# not labels\n")
    with pytest.raises(FormatError) as err:
        detect_format(notes)
    message = str(err.value)
    assert "csv: the header" in message and "no item_id column" in message
    assert all(name in message for name in FORMAT_NAMES)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("datumaro/cvat/train.xml", "cvat"),
        ("datumaro/voc", "voc"),
        ("datumaro/yolo", "yolo"),
        ("doccano/text_classification.jsonl", "doccano"),
        ("doccano/sequence_labeling.jsonl", "doccano"),
    ],
    ids=str,
)
def test_real_exports_are_detected(name: str, expected: str) -> None:
    assert detect_format(EXTERNAL / name) == expected


def test_non_finite_coordinates_are_refused(tmp_path: Path) -> None:
    voc = tmp_path / "voc"
    voc.mkdir()
    (voc / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><object><name>cat</name><bndbox>"
        "<xmin>nan</xmin><ymin>0</ymin><xmax>1</xmax><ymax>1</ymax></bndbox></object>"
        "</annotation>"
    )
    with pytest.raises(FormatError, match=r"a.xml: object\[0\].bndbox.xmin: must be a finite"):
        read_label_file(voc, task_type="detection")
    assert math.isnan(float("nan"))


# --------------------------------------------------------------------------- COCO edge cases


def test_result_boxes_past_the_border_are_scored_like_pycocotools(tmp_path: Path) -> None:
    """Detectors emit boxes past the image; pycocotools scores them, so do we (and count)."""
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from adapters.formats.coco import parse_coco_dataset, read_coco_results
    from metrics.detection import evaluate_coco

    rng = np.random.default_rng(7)
    images = [{"id": i, "width": 100, "height": 80, "file_name": f"{i}.jpg"} for i in range(1, 6)]
    anns: list[dict[str, object]] = []
    results: list[dict[str, object]] = []
    for i in range(1, 6):
        for _ in range(3):
            x, y = rng.uniform(0, 60), rng.uniform(0, 50)
            w, h = rng.uniform(10, 40), rng.uniform(10, 30)
            box = [x, y, min(w, 100 - x), min(h, 80 - y)]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": i,
                    "category_id": 1,
                    "bbox": box,
                    "area": box[2] * box[3],
                    "iscrowd": 0,
                }
            )
            shifted = [box[0] + rng.uniform(-15, 15), box[1] + rng.uniform(-15, 15), w, h]
            results.append(
                {"image_id": i, "category_id": 1, "bbox": shifted, "score": float(rng.uniform())}
            )
    gold_obj = {"images": images, "categories": [{"id": 1, "name": "car"}], "annotations": anns}
    gold_path, res_path = tmp_path / "gold.json", tmp_path / "res.json"
    gold_path.write_text(json.dumps(gold_obj))
    res_path.write_text(json.dumps(results))
    ours = read_coco_results(res_path, parse_coco_dataset(gold_obj))
    assert ours.outside_image > 0
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(gold_path))
        ev = COCOeval(coco, coco.loadRes(str(res_path)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = evaluate_coco(parse_coco_dataset(gold_obj), ours, iou_type="bbox").stats
    np.testing.assert_allclose(stats, ev.stats, atol=1e-12)
    read = read_label_file(
        res_path, task_type="detection", gold=GoldContext(coco=parse_coco_dataset(gold_obj))
    )
    assert read.notes and "reach past their image" in read.notes[0]


def test_cvat_coco_rotation_is_refused_and_keypoints_are_said(tmp_path: Path) -> None:
    rotated = {
        "images": [{"id": 1, "width": 50, "height": 50, "file_name": "a.jpg"}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 1,
                "bbox": [5, 5, 10, 4],
                "area": 40,
                "iscrowd": 0,
                "attributes": {"rotation": 30.0},
            }
        ],
    }
    path = tmp_path / "cvat_coco.json"
    path.write_text(json.dumps(rotated))
    with pytest.raises(FormatError, match=r"annotations\[0\]\.attributes\.rotation: box rotated"):
        read_label_file(path, task_type="detection")
    rotated["annotations"][0]["attributes"] = {"rotation": 0.0, "occluded": False}
    path.write_text(json.dumps(rotated))
    assert len(read_label_file(path, task_type="detection").annotations) == 1
    # datumaro's COCO person-keypoints asset: boxes read, keypoints said out loud
    keypoints = read_label_file(
        EXTERNAL / "datumaro" / "person_keypoints_val.json", task_type="detection"
    )
    assert keypoints.format == "coco"
    assert keypoints.notes and "carry keypoints" in keypoints.notes[0]


# --------------------------------------------------------------------------- Labelbox, SageMaker


def test_labelbox_export_v2_picks_a_question_and_counts_rows_without_an_answer() -> None:
    """A real Labelbox export (102 roof images, two radio questions; labelbox-python repo)."""
    path = EXTERNAL / "labelbox" / "export_v2_roof_wear.ndjson"
    assert detect_format(path) == "labelbox"
    with pytest.raises(FormatError, match=r"asks 2 questions \['bad_image', 'wear'\]"):
        read_label_file(path, task_type="classification")
    # independent count straight from the JSON
    expected: dict[str, str] = {}
    for line in path.open():
        row = json.loads(line)
        for project in row["projects"].values():
            for label in project["labels"]:
                for c in label["annotations"]["classifications"]:
                    if c["name"] == "wear":
                        expected[row["data_row"]["global_key"]] = c["radio_answer"]["name"]
    wear = read_label_file(path, task_type="classification", question="wear")
    assert {a.item_id: a.label for a in wear.annotations} == expected
    assert len(expected) == 90
    assert wear.notes == ("12 label(s) give no answer to 'wear'; those data rows have no label",)
    bad = read_label_file(path, task_type="classification", question="bad_image")
    assert len(bad.annotations) == 102 and not bad.notes
    # the export draws no object: read as boxes it would be 102 "nothing here" answers
    with pytest.raises(FormatError, match=r"no label draws an object \(ImageBoundingBox"):
        read_label_file(path, task_type="detection", question="wear")


def test_labelbox_objects_and_inclusive_text_entities(tmp_path: Path) -> None:
    rows = [
        {
            "data_row": {"id": "r1", "global_key": "a.jpg"},
            "projects": {
                "p1": {
                    "name": "boxes",
                    "labels": [
                        {
                            "id": "L1",
                            "label_details": {"created_by": "ann@x.com"},
                            "annotations": {
                                "objects": [
                                    {
                                        "name": "car",
                                        "annotation_kind": "ImageBoundingBox",
                                        "bounding_box": {
                                            "top": 20,
                                            "left": 10,
                                            "height": 5,
                                            "width": 8,
                                        },
                                    },
                                    {
                                        "name": "road",
                                        "annotation_kind": "ImagePolygon",
                                        "polygon": [
                                            {"x": 0, "y": 0},
                                            {"x": 4, "y": 0},
                                            {"x": 4, "y": 4},
                                        ],
                                    },
                                ],
                                "classifications": [],
                            },
                        }
                    ],
                }
            },
        },
        {
            "data_row": {"id": "r2", "global_key": "t1"},
            "projects": {
                "p1": {
                    "name": "boxes",
                    "labels": [
                        {
                            "id": "L2",
                            "annotations": {
                                "objects": [
                                    {
                                        "name": "PER",
                                        "annotation_kind": "TextEntity",
                                        "location": {
                                            "start": 10,
                                            "end": 20,
                                            "token": "um dolor si",
                                        },
                                    }
                                ],
                                "classifications": [],
                            },
                        }
                    ],
                }
            },
        },
    ]
    path = tmp_path / "export.ndjson"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    boxes = read_label_file(path, task_type="detection")
    assert boxes.annotations[0].label == [Box(category="car", bbox=(10, 20, 8, 5))]
    # the objects a task type does not read are counted, never dropped silently
    assert boxes.notes == (
        "1 ImagePolygon object(s) skipped: detection reads ImageBoundingBox objects",
        "1 TextEntity object(s) skipped: detection reads ImageBoundingBox objects",
    )
    assert boxes.annotations[0].annotator_id == "ann@x.com"
    polygons = read_label_file(path, task_type="segmentation").annotations[0].label
    assert polygons == [Mask(category="road", segmentation=[[0, 0, 4, 0, 4, 4]])]
    # Labelbox's end is the last character (its docs: 10..20 is "um dolor si", 11 characters)
    spans = read_label_file(path, task_type="spans").annotations[1].label
    assert spans == [Span(start=10, end=21, type="PER")]


def test_sagemaker_manifests_by_job_type(tmp_path: Path) -> None:
    lines = [
        {
            "source-ref": "s3://b/images/000139.jpg",
            "yolo-bbox": {
                "image_size": [{"width": 640, "height": 426, "depth": 3}],
                "annotations": [
                    {"class_id": 0, "top": 156, "left": 416, "height": 150, "width": 63}
                ],
            },
            "yolo-bbox-metadata": {
                "objects": [{"confidence": 0.5}],
                "class-map": {"0": "person"},
                "type": "groundtruth/object-detection",
                "job-name": "labeling-job/yolo-bbox",
            },
        },
    ]
    path = tmp_path / "output.manifest"
    path.write_text("\n".join(json.dumps(x) for x in lines))
    assert detect_format(path) == "sagemaker"
    (ann,) = read_label_file(path, task_type="detection").annotations
    assert ann.item_id == "000139.jpg" and ann.annotator_id == "labeling-job/yolo-bbox"
    assert ann.label == [Box(category="person", bbox=(416, 156, 63, 150), score=0.5)]
    multi = {
        "source-ref": "s3://b/a.jpg",
        "tags": [0, 2],
        "tags-metadata": {
            "class-map": {"0": "cat", "2": "dog"},
            "type": "groundtruth/image-classification-multilabel",
        },
        "kind": 1,
        "kind-metadata": {"class-name": "indoor", "type": "groundtruth/image-classification"},
    }
    path.write_text(json.dumps(multi))
    with pytest.raises(FormatError, match=r"2 label attributes \['kind', 'tags'\]"):
        read_label_file(path, task_type="multilabel", format="sagemaker")
    tags = read_label_file(path, task_type="multilabel", format="sagemaker", question="tags")
    assert tags.annotations[0].label == ["cat", "dog"]
    kind = read_label_file(path, task_type="classification", format="sagemaker", question="kind")
    assert kind.annotations[0].label == "indoor"
    segmentation = {
        "source-ref": "s3://b/a.jpg",
        "seg-ref": "s3://b/mask.png",
        "seg-ref-metadata": {"type": "groundtruth/semantic-segmentation"},
    }
    path.write_text(json.dumps(segmentation))
    with pytest.raises(FormatError, match="masks are PNG files"):
        read_label_file(path, task_type="segmentation", format="sagemaker")
