"""Writers for Pascal VOC, YOLO, CVAT for images 1.1, doccano, Prodigy and SageMaker Ground
Truth: what Bakeoff writes, the same format's reader reads back as the same labels (export ->
read -> identical)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Box, Mask, Span, VendorAnnotation
from adapters.formats import FormatError
from adapters.formats.cvat import cvat_annotations, write_cvat
from adapters.formats.doccano import doccano_annotations, write_doccano
from adapters.formats.prodigy import prodigy_annotations, write_prodigy
from adapters.formats.registry import detect_format
from adapters.formats.sagemaker import sagemaker_annotations, write_sagemaker
from adapters.formats.voc import voc_annotations, write_voc
from adapters.formats.yolo import write_yolo, yolo_annotations

VOC_FIXTURE = Path(__file__).resolve().parents[1] / "data" / "external" / "datumaro" / "voc"
SIZES = {"a.jpg": (640, 480), "b.jpg": (333, 517)}
BOXES = [
    VendorAnnotation(
        item_id="a.jpg",
        label=[
            Box(category="car", bbox=(10.25, 20.5, 100.125, 50.0), score=0.875),
            Box(category="person", bbox=(0.0, 0.0, 1.0 / 3, 479.99)),
        ],
    ),
    VendorAnnotation(item_id="b.jpg", label=[]),
]


def _write(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def _key(anns: list[VendorAnnotation]) -> list[tuple[str, Any, str | None]]:
    return sorted((a.item_id, a.label, a.annotator_id) for a in anns)


def test_voc_round_trips_exactly(tmp_path: Path) -> None:
    back = voc_annotations(_write(tmp_path / "voc", write_voc(BOXES, image_sizes=SIZES)))
    assert _key(back) == _key(BOXES)


def test_voc_round_trips_a_real_voc_file(tmp_path: Path) -> None:
    """A VOC file written by another tool (datumaro's fixture), read, written, read again."""
    first = voc_annotations(VOC_FIXTURE)
    assert sum(len(a.label) for a in first) == 2
    back = voc_annotations(_write(tmp_path / "voc", write_voc(first)))
    assert _key(back) == _key(first)


def test_voc_holds_boxes_only() -> None:
    with pytest.raises(FormatError, match="boxes only"):
        write_voc([VendorAnnotation(item_id="a.jpg", label="cat")])


def test_yolo_round_trips_boxes_and_polygons(tmp_path: Path) -> None:
    names = ["car", "person", "cell"]
    files = write_yolo(BOXES, image_sizes=SIZES, class_names=names)
    back = yolo_annotations(_write(tmp_path / "det", files), image_sizes=SIZES)
    assert [a.item_id for a in sorted(back, key=lambda a: a.item_id)] == ["a.jpg", "b.jpg"]
    for got, want in zip(
        sorted(back, key=lambda a: a.item_id), sorted(BOXES, key=lambda a: a.item_id), strict=True
    ):
        assert isinstance(got.label, list) and isinstance(want.label, list)
        assert len(got.label) == len(want.label)
        for g, w in zip(got.label, want.label, strict=True):
            assert isinstance(g, Box) and isinstance(w, Box)
            assert g.category == w.category and g.score == w.score
            assert g.bbox == pytest.approx(w.bbox, abs=1e-9)
    polygon = [1.5, 2.25, 300.0, 4.0, 150.75, 400.5]
    masks = [
        VendorAnnotation(item_id="a.jpg", label=[Mask(category="cell", segmentation=[polygon])])
    ]
    files = write_yolo(masks, image_sizes=SIZES, class_names=names)
    (back_mask,) = yolo_annotations(
        _write(tmp_path / "seg", files), image_sizes=SIZES, task_type="segmentation"
    )
    assert isinstance(back_mask.label, list)
    (mask,) = back_mask.label
    assert isinstance(mask, Mask) and isinstance(mask.segmentation, list)
    assert mask.segmentation[0] == pytest.approx(polygon, abs=1e-9)


def test_yolo_needs_sizes_and_known_classes() -> None:
    with pytest.raises(FormatError, match="width and height"):
        write_yolo(BOXES, image_sizes={}, class_names=["car", "person"])
    with pytest.raises(FormatError, match="'person' is not in the class names"):
        write_yolo(BOXES, image_sizes=SIZES, class_names=["car"])


def _no_scores(label: Any) -> Any:
    if not isinstance(label, list):
        return label
    return [o.model_copy(update={"score": None}) if isinstance(o, Box) else o for o in label]


CVAT_CASES: dict[str, list[VendorAnnotation]] = {
    "classification": [
        VendorAnnotation(item_id="a.jpg", label="indoor", annotator_id="ann1"),
        VendorAnnotation(item_id="a.jpg", label="outdoor", annotator_id="ann2"),
        VendorAnnotation(item_id="b.jpg", label="outdoor", annotator_id="ann1"),
    ],
    "multilabel": [VendorAnnotation(item_id="a.jpg", label=["sunny", "urban"])],
    "detection": BOXES,
    "segmentation": [
        VendorAnnotation(
            item_id="a.jpg",
            label=[Mask(category="road", segmentation=[[1.0, 2.5, 30.25, 4.0, 16.0, 50.125]])],
        )
    ],
}


@pytest.mark.parametrize("task_type", list(CVAT_CASES), ids=list(CVAT_CASES))
def test_cvat_round_trips(task_type: Any, tmp_path: Path) -> None:
    anns = CVAT_CASES[task_type]
    path = tmp_path / "annotations.xml"
    path.write_bytes(write_cvat(anns, task_type=task_type, image_sizes=SIZES))
    back, notes = cvat_annotations(path, task_type=task_type)
    assert notes == ()
    # scores are not part of CVAT's boxes; annotators come back as their job
    jobs = {a: f"job-{k}" for k, a in enumerate(dict.fromkeys(x.annotator_id for x in anns), 1)}
    want = [
        a.model_copy(
            update={
                "label": _no_scores(a.label),
                "annotator_id": jobs[a.annotator_id] if a.annotator_id is not None else None,
            }
        )
        for a in anns
    ]
    assert _key(back) == _key(want)


DOCCANO_CASES: dict[str, list[VendorAnnotation]] = {
    "classification": [
        VendorAnnotation(item_id="t1", label="positive"),
        VendorAnnotation(item_id="t2", label="negative"),
    ],
    "multilabel": [VendorAnnotation(item_id="t1", label=["sports", "politics"])],
    "spans": [
        VendorAnnotation(
            item_id="t1",
            label=[Span(start=0, end=2, type="ORG"), Span(start=11, end=17, type="MISC")],
        ),
        VendorAnnotation(item_id="t2", label=[]),
    ],
}


@pytest.mark.parametrize("task_type", list(DOCCANO_CASES), ids=list(DOCCANO_CASES))
def test_doccano_round_trips(task_type: Any, tmp_path: Path) -> None:
    anns = DOCCANO_CASES[task_type]
    path = tmp_path / "export.jsonl"
    texts = {"t1": "EU rejects German call", "t2": "Peter Blackburn"}
    path.write_bytes(write_doccano(anns, task_type=task_type, texts=texts))
    back = doccano_annotations(path, task_type=task_type)
    assert _key(back) == _key(anns)
    # the text travels too: an export of a project Bakeoff did not create is found by text
    by_text = {v: k for k, v in texts.items()}
    stripped = tmp_path / "by_text.jsonl"
    stripped.write_text(
        path.read_text().replace('"item_id": "t1", ', "").replace('"item_id": "t2", ', "")
    )
    assert _key(doccano_annotations(stripped, task_type=task_type, items_by_text=by_text)) == _key(
        anns
    )


TEXTS = {"t1": "EU rejects German call", "t2": "Peter Blackburn"}
PRODIGY_CASES: dict[str, list[VendorAnnotation]] = {
    "classification": [
        VendorAnnotation(item_id="t1", label="positive", annotator_id="news-alice"),
        VendorAnnotation(item_id="t1", label="negative", annotator_id="news-bob"),
        VendorAnnotation(item_id="t2", label="negative"),
    ],
    "multilabel": [
        VendorAnnotation(item_id="t1", label=["sports", "politics"]),
        VendorAnnotation(item_id="t2", label=[]),
    ],
    "spans": [
        VendorAnnotation(
            item_id="t1",
            label=[Span(start=0, end=2, type="ORG"), Span(start=11, end=17, type="MISC")],
            annotator_id="ner-alice",
        ),
        VendorAnnotation(item_id="t2", label=[], annotator_id="ner-alice"),
    ],
}


@pytest.mark.parametrize("task_type", list(PRODIGY_CASES), ids=list(PRODIGY_CASES))
def test_prodigy_round_trips(task_type: Any, tmp_path: Path) -> None:
    anns = PRODIGY_CASES[task_type]
    path = tmp_path / "db-out.jsonl"
    path.write_bytes(
        write_prodigy(anns, task_type=task_type, texts=TEXTS, classes=["negative", "positive"])
    )
    assert detect_format(path) == "prodigy"
    back, notes = prodigy_annotations(path, task_type=task_type)
    assert _key(back) == _key(anns) and notes == ()
    # every line is an accepted answer with its text, as `prodigy db-in` reads it
    for line in path.read_text().splitlines():
        record = json.loads(line)
        assert record["answer"] == "accept" and record["text"] in TEXTS.values()
    # found by text alone too (a Prodigy dataset Bakeoff did not create)
    stripped = tmp_path / "by_text.jsonl"
    stripped.write_text(re.sub(r'"item_id": "t[12]", ', "", path.read_text()))
    by_text = {v: k for k, v in TEXTS.items()}
    again, _ = prodigy_annotations(stripped, task_type=task_type, items_by_text=by_text)
    assert _key(again) == _key(anns)


PRODIGY_FIXTURE = VOC_FIXTURE.parents[1] / "prodigy"


@pytest.mark.parametrize(
    ("name", "task_type", "accepted"),
    [
        ("annotated_github-issues-DOCUMENTATION-textcat.head40.jsonl", "classification", 15),
        ("annotated_news_headlines-ORG-PERSON-LOCATION-ner.head40.jsonl", "spans", 40),
    ],
)
def test_prodigy_round_trips_a_real_prodigy_dataset(
    name: str, task_type: Any, accepted: int, tmp_path: Path
) -> None:
    """A dataset Prodigy wrote (prodigy-recipes' examples), read, written, read again."""
    path = PRODIGY_FIXTURE / name
    texts = {f"i{k}": json.loads(x)["text"] for k, x in enumerate(path.read_text().splitlines())}
    by_text = {v: k for k, v in texts.items()}
    first, notes = prodigy_annotations(path, task_type=task_type, items_by_text=by_text)
    assert len(first) == accepted and len(notes) == (1 if accepted < 40 else 0)
    if task_type == "spans":  # 39 entities; `_session_id` is null there: no annotator
        assert sum(len(a.label) for a in first if isinstance(a.label, list)) == 39
    written = tmp_path / "db-in.jsonl"
    written.write_bytes(write_prodigy(first, task_type=task_type, texts=texts))
    back, _ = prodigy_annotations(written, task_type=task_type)
    assert _key(back) == _key(first)


def test_prodigy_choice_options_follow_the_class_order(tmp_path: Path) -> None:
    raw = write_prodigy(
        PRODIGY_CASES["multilabel"], task_type="multilabel", classes=["politics", "weather"]
    )
    first, second = (json.loads(x) for x in raw.decode().splitlines())
    assert [o["id"] for o in first["options"]] == ["politics", "weather", "sports"]
    assert first["accept"] == ["sports", "politics"]
    assert second["options"] == first["options"] and second["accept"] == []


def test_prodigy_refuses_what_it_cannot_hold() -> None:
    with pytest.raises(FormatError, match="not detection"):
        write_prodigy(BOXES, task_type="detection")
    with pytest.raises(FormatError, match="answered twice"):
        write_prodigy([VendorAnnotation(item_id="t1", label="a")] * 2, task_type="classification")


SAGEMAKER_CASES: dict[str, list[VendorAnnotation]] = {
    "classification": [
        VendorAnnotation(item_id="a.jpg", label="cat", annotator_id="labeling-job/pets"),
        VendorAnnotation(item_id="a.jpg", label="dog", annotator_id="labeling-job/pets-2"),
        VendorAnnotation(item_id="b.jpg", label="dog"),
    ],
    "multilabel": [
        VendorAnnotation(item_id="a.jpg", label=["sunny", "urban"]),
        VendorAnnotation(item_id="b.jpg", label=[]),
    ],
    "detection": BOXES,
}


@pytest.mark.parametrize("task_type", list(SAGEMAKER_CASES), ids=list(SAGEMAKER_CASES))
def test_sagemaker_round_trips(task_type: Any, tmp_path: Path) -> None:
    anns = SAGEMAKER_CASES[task_type]
    path = tmp_path / "output.manifest"
    path.write_bytes(
        write_sagemaker(anns, task_type=task_type, classes=["dog", "car"], image_sizes=SIZES)
    )
    assert detect_format(path) == "sagemaker"
    back = sagemaker_annotations(path, task_type=task_type)
    assert _key(back) == _key(anns)
    records = [json.loads(x) for x in path.read_text().splitlines()]
    meta = records[0]["label-metadata"]
    assert meta["class-map"]["0"] == "dog"  # ids follow the ontology's order
    if task_type == "detection":
        assert records[0]["label"]["image_size"] == [{"width": 640, "height": 480, "depth": 3}]
    # items found without an item_id: image jobs by the source-ref's file name
    stripped = tmp_path / "no_ids.manifest"
    stripped.write_text(re.sub(r'"item_id": "[ab].jpg", ', "", path.read_text()))
    assert _key(sagemaker_annotations(stripped, task_type=task_type)) == _key(anns)


SAGEMAKER_FIXTURE = VOC_FIXTURE.parents[1] / "sagemaker"


def test_sagemaker_round_trips_real_ground_truth_manifests(tmp_path: Path) -> None:
    """Output manifests Ground Truth wrote (amazon-sagemaker-examples), read, written, read."""
    boxes = sagemaker_annotations(
        SAGEMAKER_FIXTURE / "yolov5_sample_output.manifest", task_type="detection"
    )
    assert len(boxes) == 100 and {a.annotator_id for a in boxes} == {
        "labeling-job/ground-truth-od-demo-1662974840"
    }
    first = boxes[0].label
    assert isinstance(first, list) and isinstance(first[0], Box)
    assert first[0].bbox == (138.8, 164.60000000000002, 443.8, 859.0)
    assert first[0].score == 0.93 and first[0].category == "Bird"
    written = tmp_path / "boxes.manifest"
    written.write_bytes(write_sagemaker(boxes, task_type="detection"))
    assert _key(sagemaker_annotations(written, task_type="detection")) == _key(boxes)
    # one image and one text classification, each under its own job's label attribute
    texts = {"food": "The food was delicious"}
    classes = sagemaker_annotations(
        SAGEMAKER_FIXTURE / "classification_output.manifest",
        task_type="classification",
        items_by_text={v: k for k, v in texts.items()},
    )
    assert _key(classes) == [
        ("example_image.jpg", "dog", "identify-animal-species"),
        ("food", "positive", "label-sentiment"),
    ]
    written = tmp_path / "classes.manifest"
    written.write_bytes(write_sagemaker(classes, task_type="classification", texts=texts))
    assert _key(sagemaker_annotations(written, task_type="classification")) == _key(classes)


def test_sagemaker_text_classification_round_trips(tmp_path: Path) -> None:
    anns = [
        VendorAnnotation(item_id="t1", label="politics", annotator_id="labeling-job/news"),
        VendorAnnotation(item_id="t2", label="sports", annotator_id="labeling-job/news"),
    ]
    path = tmp_path / "output.manifest"
    path.write_bytes(write_sagemaker(anns, task_type="classification", texts=TEXTS))
    record = json.loads(path.read_text().splitlines()[0])
    assert record["source"] == TEXTS["t1"]
    assert record["label-metadata"]["type"] == "groundtruth/text-classification"
    stripped = tmp_path / "by_text.manifest"
    stripped.write_text(re.sub(r'"item_id": "t[12]", ', "", path.read_text()))
    by_text = {v: k for k, v in TEXTS.items()}
    back = sagemaker_annotations(stripped, task_type="classification", items_by_text=by_text)
    assert _key(back) == _key(anns)


def test_sagemaker_refuses_what_it_cannot_hold() -> None:
    with pytest.raises(FormatError, match="not spans"):
        write_sagemaker(PRODIGY_CASES["spans"], task_type="spans")
    with pytest.raises(FormatError, match="answered twice"):
        write_sagemaker(
            [VendorAnnotation(item_id="a.jpg", label="cat")] * 2, task_type="classification"
        )
    with pytest.raises(FormatError, match="class name"):
        write_sagemaker(
            [VendorAnnotation(item_id="a.jpg", label=["cat"])], task_type="classification"
        )
