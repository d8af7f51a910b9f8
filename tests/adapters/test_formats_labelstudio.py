"""Label Studio JSON: export reading, import writing, configs, brush RLE, every error case."""

from __future__ import annotations

import io
import json
import math
import re
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as coco_mask

from adapters.base import Box, LabelValue, Mask, Ontology, OntologyClass, Span, TaskType
from adapters.base import VendorAnnotation as VA
from adapters.formats import FormatError
from adapters.formats.labelstudio import (
    GoldRecord,
    LabelStudioTask,
    decode_brush_rle,
    encode_brush_rle,
    import_payload,
    iter_annotations,
    iter_tasks,
    label_to_results,
    labeling_config,
    read_gold,
    read_tasks,
    results_to_label,
    write_tasks,
)
from tests.needs import require

REPO = Path(__file__).resolve().parents[2]
COCO = REPO.parent / "shared" / "data" / "coco_val2014_100" / "instances_val2014_100.json"
LS_PYTHON = REPO / ".venv-labelstudio" / "bin" / "python"
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _bytes(obj: Any) -> io.BytesIO:
    return io.BytesIO(json.dumps(obj).encode())


def _rect(
    x: float, y: float, w: float, h: float, label: str = "cat", **extra: Any
) -> dict[str, Any]:
    region: dict[str, Any] = {
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": 640,
        "original_height": 480,
        "value": {
            "x": x,
            "y": y,
            "width": w,
            "height": h,
            "rotation": 0,
            "rectanglelabels": [label],
        },
    }
    region.update(extra)
    return region


def _regions(results: list[dict[str, Any]], task_type: TaskType) -> list[Any]:
    label = results_to_label(results, task_type=task_type)
    assert isinstance(label, list)
    return label


def _task(*results: list[dict[str, Any]], **data: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "data": {"image": "a.jpg", "item_id": "a", **data},
        "annotations": [
            {"id": k + 1, "completed_by": k + 1, "result": r} for k, r in enumerate(results)
        ],
    }


# ------------------------------------------------------------------ reading a documented export


def test_reads_an_export_like_label_studio_writes_it() -> None:
    """The task shape from Label Studio's "task format" page, with original sizes added."""
    export = [
        {
            "id": 1,
            "created_at": "2021-03-09T21:52:49.513742Z",
            "updated_at": "2021-03-09T22:16:08.746926Z",
            "project": 83,
            "data": {"image": "https://example.com/opensource/label-studio/1.jpg"},
            "annotations": [
                {
                    "id": "1001",
                    "result": [
                        {
                            "from_name": "tag",
                            "id": "Dx_aB91ISN",
                            "source": "$image",
                            "to_name": "img",
                            "type": "rectanglelabels",
                            "original_width": 1000,
                            "original_height": 500,
                            "value": {
                                "height": 10.458911419423693,
                                "rectanglelabels": ["Moonwalker"],
                                "rotation": 0,
                                "width": 12.4,
                                "x": 50.8,
                                "y": 5.869797225186766,
                            },
                        }
                    ],
                    "was_cancelled": False,
                    "ground_truth": False,
                    "created_at": "2021-03-09T22:16:08.728353Z",
                    "updated_at": "2021-03-09T22:16:08.728378Z",
                    "lead_time": 4.288,
                    "result_count": 0,
                    "task": 1,
                    "completed_by": 10,
                }
            ],
            "predictions": [
                {
                    "model_version": "model 1",
                    "score": 0.5,
                    "result": [
                        {
                            "type": "rectanglelabels",
                            "original_width": 1000,
                            "original_height": 500,
                            "score": 0.8,
                            "value": {
                                "x": 13.2,
                                "y": 34.7,
                                "width": 39.6,
                                "height": 11.6,
                                "rectanglelabels": ["Moonwalker"],
                            },
                        }
                    ],
                }
            ],
        }
    ]
    (task,) = read_tasks(_bytes(export), task_type="detection")
    assert task.item_id == "1" and task.ls_id == 1  # no item_id in data: the task id
    (ann,) = task.annotations
    assert ann.annotator_id == "10"
    assert ann.external_id == "1001"
    assert ann.completed_at == datetime(2021, 3, 9, 22, 16, 8, 728353, tzinfo=UTC)
    assert ann.started_at is not None
    assert (ann.completed_at - ann.started_at).total_seconds() == pytest.approx(4.288, abs=1e-6)
    assert isinstance(ann.label, list)
    (box,) = ann.label
    assert isinstance(box, Box) and box.category == "Moonwalker"
    assert box.bbox == pytest.approx((508.0, 29.348986128, 124.0, 52.294557097), abs=1e-6)
    (pred,) = task.predictions
    assert pred.annotator_id == "model 1" and pred.score == 0.5
    assert isinstance(pred.label, list) and isinstance(pred.label[0], Box)
    assert pred.label[0].score == 0.8


def test_classification_taxonomy_multilabel_and_spans() -> None:
    choice = {"type": "choices", "value": {"choices": ["pos"]}}
    tax = {"type": "taxonomy", "value": {"taxonomy": [["Eukarya", "Human"]]}}
    assert results_to_label([choice], task_type="classification") == "pos"
    assert results_to_label([tax], task_type="classification") == "Human"
    multi = [
        {"type": "choices", "value": {"choices": ["a", "b"]}},
        {"type": "taxonomy", "value": {"taxonomy": [["x", "b"], ["y"]]}},
    ]
    assert results_to_label(multi, task_type="multilabel") == ["a", "b", "y"]
    assert results_to_label([], task_type="multilabel") == []
    spans = [
        {"type": "labels", "value": {"start": 0, "end": 4, "text": "John", "labels": ["PER"]}},
        {"type": "relation", "from_id": "x", "to_id": "y", "direction": "right"},
        {"type": "labels", "value": {"start": 9, "end": 14, "labels": ["LOC", "GPE"]}},
    ]
    assert results_to_label(spans, task_type="spans") == [
        Span(start=0, end=4, type="PER"),
        Span(start=9, end=14, type="LOC"),
        Span(start=9, end=14, type="GPE"),
    ]


def test_rotated_box_is_refused_not_replaced_by_its_envelope() -> None:
    # 90 degrees about the top-left corner: its envelope would be a different 20x40 box
    region = _rect(100 / 640 * 100, 100 / 480 * 100, 40 / 640 * 100, 20 / 480 * 100)
    region["value"]["rotation"] = 90
    with pytest.raises(FormatError, match=r"value\.rotation: box rotated by 90 degrees"):
        _regions([region], "detection")


def test_a_prediction_that_cannot_be_read_does_not_stop_the_annotations() -> None:
    ok = _rect(10, 10, 10, 10)
    bad_prediction = {"model_version": "m1", "result": [{**ok, "original_width": None}]}
    blob = json.dumps(
        [
            {
                "data": {"item_id": "a"},
                "annotations": [{"result": [ok]}],
                "predictions": [bad_prediction],
            }
        ]
    ).encode()
    (ann,) = iter_annotations(io.BytesIO(blob), task_type="detection")
    assert isinstance(ann.label, list) and len(ann.label) == 1
    with pytest.raises(FormatError, match="needs original_width"):
        list(iter_annotations(io.BytesIO(blob), task_type="detection", include_predictions=True))


def test_polygon_becomes_pixel_coco_polygon() -> None:
    region = {
        "type": "polygonlabels",
        "original_width": 200,
        "original_height": 100,
        "value": {"points": [[10, 10], [50, 10], [50, 60]], "polygonlabels": ["road"]},
    }
    (mask,) = _regions([region], "segmentation")
    assert isinstance(mask, Mask)
    assert mask.segmentation == [[20.0, 10.0, 100.0, 10.0, 100.0, 60.0]]


def test_cancelled_annotations_are_not_labels_and_expanded_users_give_emails() -> None:
    task = _task([_rect(0, 0, 10, 10)], [])
    task["annotations"][0]["completed_by"] = {"id": 4, "email": "ann@example.com"}
    task["annotations"][1]["was_cancelled"] = True
    (parsed,) = read_tasks(_bytes([task]), task_type="detection")
    assert [a.annotator_id for a in parsed.annotations] == ["ann@example.com"]
    assert list(iter_annotations(_bytes([task]), task_type="detection"))[0].item_id == "a"


def test_a_single_task_object_is_accepted() -> None:
    (task,) = read_tasks(_bytes(_task([_rect(0, 0, 10, 10)])), task_type="detection")
    assert task.item_id == "a"


# ------------------------------------------------------------------ round trips


def _labels() -> dict[TaskType, list[LabelValue]]:
    binary = np.zeros((48, 64), dtype=np.uint8)
    binary[5:20, 10:30] = 1
    binary[30:40, 0:64] = 1
    rle = coco_mask.encode(np.asfortranarray(binary))
    counts = rle["counts"]
    assert isinstance(counts, bytes)
    return {
        "classification": ["cat", "dog"],
        "multilabel": [["cat", "indoor"], []],
        "detection": [
            [
                Box(category="cat", bbox=(1.5, 2.0, 30.25, 40.0)),
                Box(category="dog", bbox=(0.0, 0.0, 64.0, 48.0), score=0.25),
            ],
            [],
        ],
        "segmentation": [
            [Mask(category="road", segmentation=[[1.0, 2.0, 30.0, 2.0, 30.0, 40.0, 1.0, 40.0]])],
            [Mask(category="car", segmentation={"size": [48, 64], "counts": counts.decode()})],
        ],
        "spans": [[Span(start=0, end=5, type="PER"), Span(start=6, end=11, type="LOC")], []],
    }


@pytest.mark.parametrize("task_type", list(_labels()), ids=list(_labels()))
def test_write_then_read_round_trips(task_type: TaskType, tmp_path: Path) -> None:
    tasks = []
    for k, label in enumerate(_labels()[task_type]):
        data: dict[str, Any] = (
            {"text": "Alice Paris, then more"} if task_type == "spans" else {"image": f"{k}.png"}
        )
        anns = (
            VA(
                item_id=f"i{k}",
                label=label,
                annotator_id="7",
                started_at=T0,
                completed_at=T0 + timedelta(seconds=12.5),
                external_id="31",
            ),
            VA(item_id=f"i{k}", label=label, annotator_id="ann@example.com"),
        )
        tasks.append(LabelStudioTask(item_id=f"i{k}", data=data, annotations=anns))
    path = tmp_path / "ls.json"
    sizes = {"i0": (64, 48), "i1": (64, 48)}
    assert write_tasks(tasks, path, task_type=task_type, image_sizes=sizes) == len(tasks)
    back = read_tasks(path, task_type=task_type)
    assert [t.item_id for t in back] == [t.item_id for t in tasks]
    for orig, got in zip(tasks, back, strict=True):
        assert got.data == orig.data
        for a, b in zip(orig.annotations, got.annotations, strict=True):
            assert b.annotator_id == a.annotator_id
            assert b.started_at == a.started_at and b.completed_at == a.completed_at
            assert b.external_id == a.external_id
            if task_type == "detection":
                assert isinstance(a.label, list) and isinstance(b.label, list)
                for x, y in zip(a.label, b.label, strict=True):
                    assert isinstance(x, Box) and isinstance(y, Box)
                    assert (y.category, y.score) == (x.category, x.score)
                    assert y.bbox == pytest.approx(x.bbox, abs=1e-9)
            elif task_type == "segmentation":
                assert isinstance(a.label, list) and isinstance(b.label, list)
                for x, y in zip(a.label, b.label, strict=True):
                    assert isinstance(x, Mask) and isinstance(y, Mask)
                    if isinstance(x.segmentation, list):
                        assert isinstance(y.segmentation, list)
                        assert y.segmentation[0] == pytest.approx(x.segmentation[0], abs=1e-9)
                    else:
                        assert y.segmentation == x.segmentation
            else:
                assert b.label == a.label


def test_span_regions_carry_their_text() -> None:
    (region,) = label_to_results(
        [Span(start=6, end=11, type="LOC")], task_type="spans", to_name="text", text="Alice Paris"
    )
    assert region["value"] == {"start": 6, "end": 11, "labels": ["LOC"], "text": "Paris"}


def test_import_payload_never_carries_a_label() -> None:
    payload = import_payload("i1", {"image": "a.png"})
    assert payload == {"data": {"image": "a.png"}, "meta": {"item_id": "i1"}}


def test_coco_boxes_round_trip_through_label_studio_percentages(tmp_path: Path) -> None:
    require("shared-data", None if COCO.exists() else f"shared COCO data not found at {COCO}")
    coco = json.loads(COCO.read_text())
    cats = {c["id"]: c["name"] for c in coco["categories"]}
    sizes = {str(i["id"]): (i["width"], i["height"]) for i in coco["images"]}
    boxes: dict[str, list[Box]] = {k: [] for k in sizes}
    for a in coco["annotations"]:
        bbox = tuple(float(v) for v in a["bbox"])
        assert len(bbox) == 4
        boxes[str(a["image_id"])].append(Box(category=cats[a["category_id"]], bbox=bbox))
    tasks = [
        LabelStudioTask(
            item_id=k, data={"image": f"{k}.jpg"}, annotations=(VA(item_id=k, label=v),)
        )
        for k, v in boxes.items()
    ]
    path = tmp_path / "coco_as_ls.json"
    write_tasks(tasks, path, task_type="detection", image_sizes=sizes)
    got = {t.item_id: t.annotations[0].label for t in iter_tasks(path, task_type="detection")}
    n = 0
    for k, expected in boxes.items():
        back = got[k]
        assert isinstance(back, list) and len(back) == len(expected)
        for x, y in zip(expected, back, strict=True):
            assert isinstance(y, Box) and y.category == x.category
            assert y.bbox == pytest.approx(x.bbox, abs=1e-9)
            n += 1
    assert n == 839


# ------------------------------------------------------------------ brush RLE


def test_brush_rle_round_trips_random_masks() -> None:
    rng = np.random.default_rng(0)
    for shape in [(1, 1), (3, 5), (40, 70)]:
        mask = (rng.random(shape) > 0.7).astype(np.uint8) * 255
        flat = np.repeat(mask.ravel(), 4)
        assert np.array_equal(decode_brush_rle(encode_brush_rle(flat)), flat)
    long_run = np.full(300_000, 255, dtype=np.uint8)  # longer than one 16-bit run
    assert np.array_equal(decode_brush_rle(encode_brush_rle(long_run)), long_run)


def test_brush_rle_matches_label_studio_sdk_decoder(tmp_path: Path) -> None:
    """Label Studio's own converter decodes what we encode (its venv, when installed)."""
    require(
        "label-studio", None if LS_PYTHON.exists() else f"its venv is not installed at {LS_PYTHON}"
    )
    rng = np.random.default_rng(1)
    mask = (rng.random((30, 20)) > 0.5).astype(np.uint8) * 255
    mask[5:25, 2:18] = 255
    rle = encode_brush_rle(np.repeat(mask.ravel(), 4))
    script = (
        "import json, sys\n"
        "from label_studio_sdk.converter.brush import decode_rle\n"
        "print(json.dumps(decode_rle(json.loads(sys.stdin.read())).tolist()))\n"
    )
    done = subprocess.run(
        [str(LS_PYTHON), "-c", script],
        input=json.dumps(rle),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    require(
        "label-studio",
        None
        if done.returncode == 0
        else f"label_studio_sdk decoder unavailable: {done.stderr.strip()[-300:]}",
    )
    theirs = np.array(json.loads(done.stdout), dtype=np.uint8)
    assert np.array_equal(theirs.reshape(30, 20, 4)[:, :, 3], mask)


def test_brush_region_becomes_coco_rle_with_the_same_pixels() -> None:
    binary = np.zeros((6, 8), dtype=np.uint8)
    binary[1:4, 2:7] = 1
    region = {
        "type": "brushlabels",
        "original_width": 8,
        "original_height": 6,
        "value": {
            "format": "rle",
            "rle": encode_brush_rle(np.repeat(binary.ravel() * 255, 4).astype(np.uint8)),
            "brushlabels": ["car"],
        },
    }
    (mask,) = _regions([region], "segmentation")
    assert isinstance(mask, Mask) and isinstance(mask.segmentation, dict)
    rle = {"size": mask.segmentation["size"], "counts": mask.segmentation["counts"].encode()}
    assert np.array_equal(coco_mask.decode(rle), binary)


# ------------------------------------------------------------------ streaming


def test_reading_is_streamed_task_by_task() -> None:
    """Tasks before a broken one are yielded before the error is raised."""
    good = json.dumps(_task([_rect(0, 0, 10, 10)]))
    other = json.dumps(_task([_rect(0, 0, 10, 10)], item_id="b"))
    blob = io.BytesIO(f"[{good},\n{other},\n{{broken".encode())
    it = iter_tasks(blob, task_type="detection", name="big.json")
    assert next(it).item_id == "a"
    assert next(it).item_id == "b"
    with pytest.raises(FormatError, match=r"^big\.json: \[task 2\]: invalid JSON"):
        next(it)


def test_many_tasks_stream_through_small_chunks(tmp_path: Path) -> None:
    def gen() -> Iterator[LabelStudioTask]:
        for k in range(5_000):
            label = "abc"[k % 3]
            yield LabelStudioTask(
                item_id=str(k),
                data={"text": "x" * (k % 50)},
                annotations=(VA(item_id=str(k), label=label, annotator_id="1"),),
            )

    path = tmp_path / "many.json"
    assert write_tasks(gen(), path, task_type="classification") == 5_000
    labels = [t.annotations[0].label for t in iter_tasks(path, task_type="classification")]
    assert len(labels) == 5_000 and labels[:4] == ["a", "b", "c", "a"]


def test_empty_array_and_writer_output() -> None:
    assert read_tasks(io.BytesIO(b" [ ] "), task_type="classification") == []
    out = io.StringIO()
    write_tasks([], out, task_type="classification")
    assert json.loads(out.getvalue()) == []


# ------------------------------------------------------------------ errors


def _errors() -> list[tuple[str, TaskType, bytes, str]]:
    def doc(obj: Any) -> bytes:
        return json.dumps(obj).encode()

    ok = _rect(0, 0, 10, 10)
    nan_rect = json.dumps([_task([ok])]).replace('"x": 0', '"x": NaN').encode()
    bad_rle: dict[str, Any] = {
        "type": "brushlabels",
        "original_width": 4,
        "original_height": 4,
        "value": {
            "format": "rle",
            "rle": encode_brush_rle(np.zeros(12, np.uint8)),
            "brushlabels": ["c"],
        },
    }
    cls = [{"id": 1, "data": {"text": "t"}, "annotations": [{"result": []}]}]
    return [
        ("empty-file", "detection", b"  ", r"^f\.json: empty file"),
        ("not-array", "detection", b'"tasks"', r"^f\.json: expected a JSON array of tasks"),
        ("not-utf8", "detection", b'[{"data": {"t": "\xff"}}]', r"^f\.json: byte 17: not UTF-8"),
        (
            "truncated",
            "detection",
            doc([_task([ok])])[:-1],
            r"expected ',' or '\]' after it, got end",
        ),
        ("trailing-data", "detection", doc([]) + b" []", r"extra data after the closing"),
        (
            "task-not-object",
            "detection",
            b"[1]",
            r"\[task 0\]: a task must be a JSON object, got int",
        ),
        ("missing-data", "detection", doc([{"id": 3}]), r"\[task 0\]\.data: Field required"),
        (
            "no-id",
            "detection",
            doc([{"data": {"image": "x"}}]),
            r"\[task 0\]: no 'item_id' in meta or data, and no task id",
        ),
        (
            "duplicate-id",
            "detection",
            doc([_task([ok]), _task([ok])]),
            r"\[task 1\]\.data\.item_id: duplicate item id 'a'",
        ),
        (
            "wrong-region-type",
            "detection",
            doc([_task([{"type": "choices", "value": {"choices": ["x"]}}])]),
            r"\[task 0\]\.annotations\[0\]\.result\[0\]\.type: region type 'choices' does not fit"
            r" task type 'detection' \(expected rectanglelabels\)",
        ),
        (
            "no-size",
            "detection",
            doc([_task([{**ok, "original_width": None}])]),
            r"result\[0\]: rectanglelabels region needs original_width and original_height",
        ),
        (
            "outside-image",
            "detection",
            doc([_task([ok, _rect(95, 0, 10, 10)])]),
            r"\[task 0\]\.annotations\[0\]\.result\[1\]\.value: box \[608, 0, 64, 48\] \(pixels\)"
            r" lies outside the 640x480 image",
        ),
        (
            "nan-box",
            "detection",
            nan_rect,
            r"result\[0\]\.value\.x: Input should be a finite number",
        ),
        (
            "negative-width",
            "detection",
            doc([_task([_rect(0, 0, -1, 10)])]),
            r"result\[0\]\.value\.width: Input should be greater than or equal to 0",
        ),
        (
            "no-label",
            "detection",
            doc([_task([{**ok, "value": {"x": 0, "y": 0, "width": 1, "height": 1}}])]),
            r"result\[0\]\.value\.rectanglelabels: Field required",
        ),
        (
            "negative-lead-time",
            "detection",
            doc([{**_task([ok]), "annotations": [{"result": [ok], "lead_time": -2}]}]),
            r"annotations\[0\]\.lead_time: Input should be greater than or equal to 0",
        ),
        (
            "bad-created-at",
            "detection",
            doc([{**_task([ok]), "annotations": [{"result": [ok], "created_at": "soon"}]}]),
            r"annotations\[0\]\.created_at: Input should be a valid datetime",
        ),
        ("no-choice", "classification", doc(cls), r"annotations\[0\]\.result: no choice"),
        (
            "two-choices",
            "classification",
            doc(
                [
                    {
                        "id": 1,
                        "data": {"text": "t"},
                        "annotations": [
                            {"result": [{"type": "choices", "value": {"choices": ["a", "b"]}}]}
                        ],
                    }
                ]
            ),
            r"several choices \['a', 'b'\]; a classification answer has exactly one choice",
        ),
        (
            "span-backwards",
            "spans",
            doc(
                [
                    {
                        "id": 1,
                        "data": {"text": "t"},
                        "annotations": [
                            {
                                "result": [
                                    {
                                        "type": "labels",
                                        "value": {"start": 4, "end": 2, "labels": ["PER"]},
                                    }
                                ]
                            }
                        ],
                    }
                ]
            ),
            r"result\[0\]\.value\.end: span end 2 must be after start 4",
        ),
        (
            "polygon-two-points",
            "segmentation",
            doc(
                [
                    _task(
                        [
                            {
                                "type": "polygonlabels",
                                "original_width": 10,
                                "original_height": 10,
                                "value": {"points": [[0, 0], [1, 1]], "polygonlabels": ["c"]},
                            }
                        ]
                    )
                ]
            ),
            r"result\[0\]\.value\.points: List should have at least 3 items",
        ),
        (
            "brush-size-mismatch",
            "segmentation",
            doc([_task([bad_rle])]),
            r"result\[0\]\.value\.rle: brush RLE holds 12 values, expected 4x4x4 = 64",
        ),
        (
            "brush-truncated",
            "segmentation",
            doc([_task([{**bad_rle, "value": {**bad_rle["value"], "rle": [0, 0, 0, 9, 1, 2]}}])]),
            r"result\[0\]\.value\.rle: brush RLE ends early",
        ),
    ]


@pytest.mark.parametrize(
    ("task_type", "blob", "message"),
    [case[1:] for case in _errors()],
    ids=[case[0] for case in _errors()],
)
def test_errors_are_one_line_naming_file_place_and_problem(
    task_type: TaskType, blob: bytes, message: str
) -> None:
    with pytest.raises(FormatError) as info:
        read_tasks(io.BytesIO(blob), task_type=task_type, name="f.json")
    text = str(info.value)
    assert "\n" not in text and text.startswith("f.json: ")
    assert re.search(message, text), text


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"^gone\.json: cannot open"):
        read_tasks(tmp_path / "gone.json", task_type="detection")


def test_writing_boxes_without_an_image_size_says_how_to_fix() -> None:
    task = LabelStudioTask(
        item_id="a",
        data={"image": "a.png"},
        annotations=(VA(item_id="a", label=[Box(category="c", bbox=(0, 0, 1, 1))]),),
    )
    with pytest.raises(ValueError, match=r"item 'a': the image size is needed.*image_sizes="):
        write_tasks([task], io.StringIO(), task_type="detection")
    out = io.StringIO()
    sized = task.model_copy(update={"data": {"image": "a.png", "width": 10, "height": 20}})
    write_tasks([sized], out, task_type="detection")
    (region,) = json.loads(out.getvalue())[0]["annotations"][0]["result"]
    assert region["value"]["width"] == pytest.approx(10.0) and region["original_height"] == 20


# ------------------------------------------------------------------ labeling config


ONTO = Ontology(
    classes=(OntologyClass(name="cat", description="a small feline"), OntologyClass(name='dog "x"'))
)


@pytest.mark.parametrize(
    ("task_type", "data_key", "controls", "obj"),
    [
        ("classification", None, [("Choices", "single")], "Image"),
        ("classification", "text", [("Choices", "single")], "Text"),
        ("multilabel", None, [("Choices", "multiple")], "Image"),
        ("detection", None, [("RectangleLabels", None)], "Image"),
        ("segmentation", None, [("PolygonLabels", None), ("BrushLabels", None)], "Image"),
        ("spans", None, [("Labels", None)], "Text"),
    ],
    ids=[
        "classification",
        "classification-text",
        "multilabel",
        "detection",
        "segmentation",
        "spans",
    ],
)
def test_labeling_config_is_well_formed_xml(
    task_type: TaskType, data_key: str | None, controls: list[tuple[str, str | None]], obj: str
) -> None:
    root = ET.fromstring(labeling_config(task_type, ONTO, data_key=data_key, header="Label it"))
    assert root.tag == "View"
    (obj_el,) = [el for el in root if el.tag in ("Image", "Text")]
    assert obj_el.tag == obj
    got = [(el.tag, el.get("choice")) for el in root if el.tag not in ("Image", "Text", "Header")]
    assert got == controls
    for tag, _ in controls:
        el = root.find(tag)
        assert el is not None and el.get("toName") == obj_el.get("name")
        assert [c.get("value") for c in el] == ["cat", 'dog "x"']
        assert el[0].get("hint") == "a small feline"


def test_labeling_config_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="no classes"):
        labeling_config("detection", Ontology(classes=()))
    with pytest.raises(ValueError, match="identifier"):
        labeling_config("detection", ONTO, data_key="a b")


def test_percent_math_is_exact_enough() -> None:
    (region,) = label_to_results(
        [Box(category="c", bbox=(1.0, 2.0, 3.0, 4.0))],
        task_type="detection",
        to_name="image",
        image_size=(10.0, 7.0),
    )
    back = results_to_label([region], task_type="detection")
    assert isinstance(back, list) and isinstance(back[0], Box)
    assert all(
        math.isclose(a, b, abs_tol=1e-12) for a, b in zip(back[0].bbox, (1, 2, 3, 4), strict=True)
    )


def test_item_id_comes_from_meta_then_data_then_task_id() -> None:
    base = {"id": 9, "annotations": []}
    tasks = [
        {**base, "id": 1, "data": {"item_id": "d"}, "meta": {"item_id": "m"}},
        {**base, "id": 2, "data": {"item_id": "d2"}},
        {**base, "id": 3, "data": {"text": "x"}, "meta": {}},
    ]
    got = [t.item_id for t in read_tasks(_bytes(tasks), task_type="classification")]
    assert got == ["m", "d2", "3"]
    dup = [tasks[0], {**base, "id": 5, "data": {}, "meta": {"item_id": "m"}}]
    with pytest.raises(FormatError, match=r"\[task 1\]\.meta\.item_id: duplicate item id 'm'"):
        read_tasks(_bytes(dup), task_type="classification")


def test_brush_regions_name_the_brush_control_of_the_config() -> None:
    binary = np.zeros((4, 4), dtype=np.uint8)
    binary[1:3, 1:3] = 1
    counts = coco_mask.encode(np.asfortranarray(binary))["counts"]
    assert isinstance(counts, bytes)
    mask = Mask(category="car", segmentation={"size": [4, 4], "counts": counts.decode()})
    (region,) = label_to_results(
        [mask], task_type="segmentation", to_name="image", image_size=(4, 4)
    )
    root = ET.fromstring(labeling_config("segmentation", ONTO))
    brush = root.find("BrushLabels")
    assert brush is not None and region["from_name"] == brush.get("name")
    assert region["type"] == "brushlabels"


# ------------------------------------------------------------------ golden sets


def _choice(label: str, **extra: Any) -> dict[str, Any]:
    return {"result": [{"type": "choices", "value": {"choices": [label]}}], **extra}


def test_gold_is_the_single_or_ground_truth_annotation_with_meta_as_metadata() -> None:
    tasks = [
        {
            "id": 1,
            "data": {"text": "a"},
            "meta": {"item_id": "g1", "lighting": "dim"},
            "annotations": [_choice("cat")],
        },
        {
            "id": 2,
            "data": {"text": "b"},
            "meta": {"item_id": "g2"},
            "annotations": [
                _choice("dog", ground_truth=True),
                _choice("cat"),
                _choice("bird", was_cancelled=True, ground_truth=True),
            ],
        },
    ]
    gold = read_gold(_bytes(tasks), task_type="classification")
    assert gold == [
        GoldRecord(item_id="g1", label="cat", data={"text": "a"}, metadata={"lighting": "dim"}),
        GoldRecord(item_id="g2", label="dog", data={"text": "b"}),
    ]


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        ([], r"\[task 0\]\.annotations: no annotation; a golden item needs the expert's answer"),
        ([_choice("cat", was_cancelled=True)], r"no annotation"),
        ([_choice("cat"), _choice("dog")], r"2 annotations and none \(or several\) marked"),
        (
            [_choice("cat", ground_truth=True), _choice("dog", ground_truth=True)],
            r"2 annotations and none \(or several\) marked ground_truth",
        ),
        (
            [{"result": [{"type": "choices", "value": {"choices": []}}]}],
            r"\[task 0\]\.annotations\[0\]\.result: no choice",
        ),
    ],
    ids=["none", "only-cancelled", "two-unmarked", "two-marked", "empty-choice"],
)
def test_gold_errors(annotations: list[dict[str, Any]], message: str) -> None:
    task = {"id": 1, "data": {"text": "a"}, "annotations": annotations}
    with pytest.raises(FormatError, match=message):
        read_gold(_bytes([task]), task_type="classification", name="gold.json")


def test_gold_round_trips_through_the_writer_with_metadata(tmp_path: Path) -> None:
    task = LabelStudioTask(
        item_id="g1",
        data={"image": "g1.png", "width": 64, "height": 48},
        annotations=(VA(item_id="g1", label=[Box(category="cat", bbox=(1, 2, 3, 4))]),),
        metadata={"lighting": "dim"},
    )
    path = tmp_path / "gold.json"
    write_tasks([task], path, task_type="detection")
    (record,) = read_gold(path, task_type="detection")
    assert record.metadata == {"lighting": "dim"} and record.data == task.data
    assert isinstance(record.label, list) and isinstance(record.label[0], Box)
    assert record.label[0].bbox == pytest.approx((1, 2, 3, 4), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0, 0, 0, 255, 7]), max_size=3000))
def test_brush_rle_round_trips_any_byte_run_pattern(values: list[int]) -> None:
    flat = np.array(values, dtype=np.uint8)
    assert np.array_equal(decode_brush_rle(encode_brush_rle(flat)), flat)


def test_a_huge_task_streams_in_few_parses() -> None:
    """A 6 MB task is parsed a handful of times (read sizes double), not once per 64 KiB."""
    text = "x" * 6_000_000
    task = {"id": 1, "data": {"text": text}, "meta": {"item_id": "big"}, "annotations": []}

    class Counting(io.BytesIO):
        reads = 0

        def read(self, size: int | None = -1) -> bytes:
            Counting.reads += 1
            return super().read(size)

    stream = Counting(json.dumps([task]).encode())
    (got,) = read_tasks(stream, task_type="classification")
    assert got.data["text"] == text
    assert Counting.reads < 20


def test_real_crowd_labels_round_trip_with_every_annotator(tmp_path: Path) -> None:
    """Snow et al. (2008) RTE: 800 items x 10 AMT workers, as a Label Studio project."""
    rte = REPO.parent / "shared" / "data" / "snow2008" / "rte.standardized.tsv"
    require("shared-data", None if rte.exists() else f"shared Snow 2008 data not found at {rte}")
    rows = [line.split("\t") for line in rte.read_text().splitlines()[1:] if line.strip()]
    answers: dict[str, list[VA]] = {}
    for ann_id, worker, item, response, _gold in rows:
        answers.setdefault(item, []).append(
            VA(item_id=item, label=response, annotator_id=worker, external_id=ann_id)
        )
    tasks = [
        LabelStudioTask(item_id=k, data={"text": f"pair {k}"}, annotations=tuple(v))
        for k, v in answers.items()
    ]
    path = tmp_path / "rte.json"
    write_tasks(tasks, path, task_type="classification")
    back = {
        (a.item_id, a.annotator_id, a.label)
        for a in iter_annotations(path, task_type="classification")
    }
    assert back == {(item, worker, response) for _a, worker, item, response, _g in rows}
    assert len(back) == 8000 and len({t.item_id for t in tasks}) == 800
