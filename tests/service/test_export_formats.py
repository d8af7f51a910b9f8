"""Exports in the formats other tools read (Pascal VOC, YOLO, CVAT 1.1, doccano, Prodigy,
SageMaker Ground Truth) round-trip
through the API: a vendor's labels exported in a format and imported again in that format are
the same labels (the import finds each one already stored: all duplicates, no conflict)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any, get_args

import pytest
from fastapi.testclient import TestClient

from adapters.base import Box
from adapters.formats.yolo import yolo_annotations
from service.client import ExportFormat as ClientExportFormat
from service.domain.label_io import FILE_FORMATS, FORMATS

GOLD_COCO: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 640, "height": 480},
        {"id": 2, "file_name": "b.jpg", "width": 333, "height": 517},
    ],
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 100, 50], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 50, 200], "iscrowd": 0},
    ],
}
BOX_LABELS: list[dict[str, Any]] = [
    {"item_id": "a.jpg", "label": [{"category": "car", "bbox": [10.5, 20.0, 100.0, 48.0]}]},
    {"item_id": "b.jpg", "label": [{"category": "person", "bbox": [4.0, 6.0, 52.0, 198.0]}]},
]
SPAN_GOLD: list[dict[str, Any]] = [
    {
        "item_id": "t1",
        "label": [{"start": 0, "end": 2, "type": "ORG"}],
        "data": {"text": "EU rejects"},
    },
    {"item_id": "t2", "label": [], "data": {"text": "Peter Blackburn"}},
]
SPAN_LABELS: list[dict[str, Any]] = [
    {"item_id": "t1", "label": [{"start": 0, "end": 2, "type": "ORG"}]},
    {"item_id": "t2", "label": [{"start": 0, "end": 15, "type": "PER"}]},
]


def _bakeoff(
    client: TestClient,
    lead: dict[str, str],
    vendor_id: int,
    *,
    task_type: str,
    classes: list[str],
    gold: bytes,
    fmt: str,
) -> tuple[int, int]:
    project = client.post(
        "/projects",
        json={
            "name": "p",
            "task_type": task_type,
            "ontology": {"classes": [{"name": c} for c in classes]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    imported = client.post(
        f"/golden-sets/{gs['id']}/import", params={"format": fmt}, content=gold, headers=lead
    )
    assert imported.status_code == 201, imported.text
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    instructions = client.post(
        f"/projects/{project['id']}/instructions", json={"text": "label"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": project["id"],
            "golden_set_version_id": version["id"],
            "instructions_version_id": instructions["id"],
            "vendor_ids": [vendor_id],
        },
        headers=lead,
    ).json()
    return int(bakeoff["id"]), int(gs["id"])


@pytest.mark.parametrize("fmt", ["voc", "yolo", "cvat"])
def test_box_labels_round_trip_through_export_and_import(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    key_vendor: Any,
    fmt: str,
    tmp_path: Path,
) -> None:
    bakeoff, gs = _bakeoff(
        client,
        auth["lead"],
        key_vendor.id,
        task_type="detection",
        classes=["car", "person"],
        gold=json.dumps(GOLD_COCO).encode(),
        fmt="coco",
    )
    url = f"/bakeoffs/{bakeoff}/vendors/{key_vendor.id}/labels"
    body = "".join(json.dumps(r) + "\n" for r in BOX_LABELS).encode()
    first = client.post(
        url + "/import", params={"format": "jsonl"}, content=body, headers=auth["vendor"]
    )
    assert first.status_code == 200 and first.json()["stored"] == 2, first.text
    exported = client.get(url + "/export", params={"format": fmt}, headers=auth["lead"])
    assert exported.status_code == 200, exported.text
    if fmt in ("voc", "yolo"):
        names = zipfile.ZipFile(io.BytesIO(exported.content)).namelist()
        assert {"a.xml", "b.xml"} <= set(names) or {"a.txt", "b.txt", "classes.txt"} <= set(names)
    if fmt == "yolo":  # normalised coordinates come back to float rounding, not bit for bit
        path = tmp_path / "export.zip"
        path.write_bytes(exported.content)
        sizes = {"a.jpg": (640, 480), "b.jpg": (333, 517)}
        back = {a.item_id: a.label for a in yolo_annotations(path, image_sizes=sizes)}
        for row in BOX_LABELS:
            label = back[row["item_id"]]
            assert isinstance(label, list) and len(label) == 1
            box = label[0]
            assert isinstance(box, Box) and box.category == row["label"][0]["category"]
            assert box.bbox == pytest.approx(row["label"][0]["bbox"], abs=1e-9)
    # ... and yet the re-import is all duplicates: geometry is compared at what the
    # format can carry, not bit for bit
    again = client.post(
        url + "/import",
        params={"format": fmt},
        content=exported.content,
        headers=auth["vendor"],
    )
    assert again.status_code == 200, again.text
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 2
    # a box genuinely moved (a tenth of a pixel) is another answer, in every format
    moved = [dict(r, label=[dict(r["label"][0])]) for r in BOX_LABELS]
    moved[0]["label"][0]["bbox"] = [10.6, 20.0, 100.0, 48.0]
    refused = client.post(
        url + "/import",
        params={"format": "jsonl"},
        content="".join(json.dumps(r) + "\n" for r in moved).encode(),
        headers=auth["vendor"],
    )
    assert refused.status_code == 409 and refused.json()["code"] == "answer_conflict"
    # the gold exports too, and VOC gold reads back as the same boxes
    gold = client.get(
        f"/golden-sets/{gs}/versions/1/export", params={"format": fmt}, headers=auth["lead"]
    )
    assert gold.status_code == 200, gold.text


def _rounded_yolo(exported: bytes, *, shift: float = 0.0) -> bytes:
    """The YOLO export rewritten as Ultralytics and CVAT write YOLO: 6 decimals (the
    first box's centre moved by ``shift`` of the image width)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(exported)) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            text = src.read(name).decode()
            if name.endswith(".txt") and name != "classes.txt":
                rows = []
                for line in text.splitlines():
                    code, *values = line.split()
                    numbers = [float(v) for v in values]
                    if name == "a.txt":
                        numbers[0] += shift
                    rows.append(" ".join([code, *(f"{v:.6f}" for v in numbers)]))
                text = "".join(r + "\n" for r in rows)
            dst.writestr(name, text)
    return out.getvalue()


def test_a_yolo_file_at_six_decimals_is_the_same_answer_and_a_moved_box_is_not(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    """YOLO carries a pixel to 1e-6 of the image side (6 decimals of a fraction): that
    far off is a duplicate; a box moved by 0.001 of the width (0.64 px) conflicts."""
    bakeoff, _ = _bakeoff(
        client,
        auth["lead"],
        key_vendor.id,
        task_type="detection",
        classes=["car", "person"],
        gold=json.dumps(GOLD_COCO).encode(),
        fmt="coco",
    )
    url = f"/bakeoffs/{bakeoff}/vendors/{key_vendor.id}/labels"
    body = "".join(json.dumps(r) + "\n" for r in BOX_LABELS).encode()
    stored = client.post(
        url + "/import", params={"format": "jsonl"}, content=body, headers=auth["vendor"]
    )
    assert stored.status_code == 200, stored.text
    exported = client.get(url + "/export", params={"format": "yolo"}, headers=auth["lead"])
    rounded = _rounded_yolo(exported.content)
    assert rounded != exported.content  # the numbers did lose digits
    again = client.post(
        url + "/import", params={"format": "yolo"}, content=rounded, headers=auth["vendor"]
    )
    assert again.status_code == 200, again.text
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 2
    moved = client.post(
        url + "/import",
        params={"format": "yolo"},
        content=_rounded_yolo(exported.content, shift=0.001),
        headers=auth["vendor"],
    )
    assert moved.status_code == 409, moved.text
    assert moved.json()["code"] == "answer_conflict" and "a.jpg" in moved.json()["detail"]


def test_span_labels_round_trip_through_doccano(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    bakeoff, _ = _bakeoff(
        client,
        auth["lead"],
        key_vendor.id,
        task_type="spans",
        classes=["ORG", "PER"],
        gold="".join(json.dumps(r) + "\n" for r in SPAN_GOLD).encode(),
        fmt="jsonl",
    )
    url = f"/bakeoffs/{bakeoff}/vendors/{key_vendor.id}/labels"
    body = "".join(json.dumps(r) + "\n" for r in SPAN_LABELS).encode()
    first = client.post(
        url + "/import", params={"format": "jsonl"}, content=body, headers=auth["vendor"]
    )
    assert first.status_code == 200, first.text
    exported = client.get(url + "/export", params={"format": "doccano"}, headers=auth["lead"])
    assert exported.status_code == 200, exported.text
    lines = [json.loads(x) for x in exported.text.splitlines()]
    assert lines[0] == {"item_id": "t1", "text": "EU rejects", "label": [[0, 2, "ORG"]]}
    again = client.post(
        url + "/import",
        params={"format": "doccano"},
        content=exported.content,
        headers=auth["vendor"],
    )
    assert again.status_code == 200, again.text
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 2


def test_span_labels_round_trip_through_prodigy(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    bakeoff, gs = _bakeoff(
        client,
        auth["lead"],
        key_vendor.id,
        task_type="spans",
        classes=["ORG", "PER"],
        gold="".join(json.dumps(r) + "\n" for r in SPAN_GOLD).encode(),
        fmt="jsonl",
    )
    url = f"/bakeoffs/{bakeoff}/vendors/{key_vendor.id}/labels"
    body = "".join(json.dumps(r) + "\n" for r in SPAN_LABELS).encode()
    first = client.post(
        url + "/import", params={"format": "jsonl"}, content=body, headers=auth["vendor"]
    )
    assert first.status_code == 200 and first.json()["stored"] == 2, first.text
    exported = client.get(url + "/export", params={"format": "prodigy"}, headers=auth["lead"])
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"].endswith('.jsonl"')
    lines = [json.loads(x) for x in exported.text.splitlines()]
    assert lines[0] == {
        "item_id": "t1",
        "text": "EU rejects",
        "spans": [{"start": 0, "end": 2, "label": "ORG"}],
        "answer": "accept",
    }
    again = client.post(
        url + "/import",
        params={"format": "prodigy"},
        content=exported.content,
        headers=auth["vendor"],
    )
    assert again.status_code == 200, again.text
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 2
    gold = client.get(
        f"/golden-sets/{gs}/versions/1/export", params={"format": "prodigy"}, headers=auth["lead"]
    )
    assert gold.status_code == 200, gold.text
    assert [json.loads(x)["spans"] for x in gold.text.splitlines()] == [
        [{"start": 0, "end": 2, "label": "ORG"}],
        [],
    ]


CLASS_GOLD = "item_id,label\nt1,sports\nt2,politics\n"
CLASS_LABELS: list[dict[str, Any]] = [
    {"item_id": "t1", "label": "sports", "annotator_id": "w1"},
    {"item_id": "t1", "label": "politics", "annotator_id": "w2"},
    {"item_id": "t2", "label": "politics", "annotator_id": "w1"},
]


@pytest.mark.parametrize("fmt", ["prodigy", "sagemaker"])
def test_class_labels_of_several_annotators_round_trip(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any, fmt: str
) -> None:
    bakeoff, gs = _bakeoff(
        client,
        auth["lead"],
        key_vendor.id,
        task_type="classification",
        classes=["politics", "sports"],
        gold=CLASS_GOLD.encode(),
        fmt="csv",
    )
    url = f"/bakeoffs/{bakeoff}/vendors/{key_vendor.id}/labels"
    body = "".join(json.dumps(r) + "\n" for r in CLASS_LABELS).encode()
    first = client.post(
        url + "/import", params={"format": "jsonl"}, content=body, headers=auth["vendor"]
    )
    assert first.status_code == 200 and first.json()["stored"] == 3, first.text
    exported = client.get(url + "/export", params={"format": fmt}, headers=auth["lead"])
    assert exported.status_code == 200, exported.text
    again = client.post(
        url + "/import", params={"format": fmt}, content=exported.content, headers=auth["vendor"]
    )
    assert again.status_code == 200, again.text
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 3
    gold = client.get(
        f"/golden-sets/{gs}/versions/1/export", params={"format": fmt}, headers=auth["lead"]
    )
    assert gold.status_code == 200, gold.text
    assert len(gold.text.splitlines()) == 2


def test_box_labels_round_trip_through_sagemaker(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    bakeoff, gs = _bakeoff(
        client,
        auth["lead"],
        key_vendor.id,
        task_type="detection",
        classes=["car", "person"],
        gold=json.dumps(GOLD_COCO).encode(),
        fmt="coco",
    )
    url = f"/bakeoffs/{bakeoff}/vendors/{key_vendor.id}/labels"
    body = "".join(json.dumps(r) + "\n" for r in BOX_LABELS).encode()
    first = client.post(
        url + "/import", params={"format": "jsonl"}, content=body, headers=auth["vendor"]
    )
    assert first.status_code == 200 and first.json()["stored"] == 2, first.text
    exported = client.get(url + "/export", params={"format": "sagemaker"}, headers=auth["lead"])
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-disposition"].endswith('.manifest"')
    record = json.loads(exported.text.splitlines()[0])
    assert record["label-metadata"]["class-map"] == {"0": "car", "1": "person"}
    assert record["label"]["image_size"] == [{"width": 640, "height": 480, "depth": 3}]
    again = client.post(
        url + "/import",
        params={"format": "sagemaker"},
        content=exported.content,
        headers=auth["vendor"],
    )
    assert again.status_code == 200, again.text
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 2
    gold = client.get(
        f"/golden-sets/{gs}/versions/1/export", params={"format": "sagemaker"}, headers=auth["lead"]
    )
    assert gold.status_code == 200, gold.text
    boxes = [json.loads(x)["label"]["annotations"] for x in gold.text.splitlines()]
    assert boxes[0] == [{"class_id": 0, "left": 10.0, "top": 20.0, "width": 100.0, "height": 50.0}]


def test_a_format_that_cannot_hold_the_task_type_is_422(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    bakeoff, _ = _bakeoff(
        client,
        auth["lead"],
        key_vendor.id,
        task_type="spans",
        classes=["ORG", "PER"],
        gold="".join(json.dumps(r) + "\n" for r in SPAN_GOLD).encode(),
        fmt="jsonl",
    )
    url = f"/bakeoffs/{bakeoff}/vendors/{key_vendor.id}/labels/export"
    for fmt in ("voc", "sagemaker"):
        response = client.get(url, params={"format": fmt}, headers=auth["lead"])
        assert response.status_code == 422
        assert fmt in response.text and "spans" in response.text


def test_the_client_offers_every_export_format() -> None:
    """The client's ``ExportFormat`` is a copy of the service's; they must not drift apart."""
    assert set(get_args(ClientExportFormat)) == set(FORMATS) | set(FILE_FORMATS)
    assert {"prodigy", "sagemaker"} <= set(FILE_FORMATS)
