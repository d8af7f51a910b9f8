"""File vendors through the API: download the package, upload the returned file.

A classification bake-off with two ``file`` vendors (the ``vendor`` key's and another). The
class names and the gold's annotator id are distinctive strings, so a package can be searched
for them byte by byte.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import service.models as m
from service.domain import bakeoffs, golden_sets, projects, vendors
from tests.service.conftest import ServerFolders

CLASSES = ("zebra-q7x", "okapi-k2m", "tapir-p9z")
GOLD = {f"photo-{n}": CLASSES[n % 3] for n in range(1, 7)}
GOLD_ANNOTATOR = "expert-goldsmith-4471"
SLICE = "slice-secret-8812"
ITEMS_FILES = {"csv": "items.csv", "jsonl": "items.jsonl", "labelstudio": "items.json"}


@dataclass(frozen=True)
class Built:
    bakeoff_id: int
    vendor_id: int  # the vendor key's vendor
    other_vendor_id: int
    server: Path


@pytest.fixture
def built(session: Session, key_vendor: m.Vendor, server_folders: ServerFolders) -> Built:
    """A classification bake-off with tasks for two file vendors (packages on the server)."""
    server = server_folders.vendor_files_dir
    other = vendors.create_vendor(
        session=session,
        data=m.VendorCreate(name="Other Files Ltd.", adapter_kind="file", price_per_item=0.5),
    )
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name="wildlife",
            task_type="classification",
            ontology={"classes": [{"name": c} for c in CLASSES]},
        ),
    )
    assert project.id is not None
    instructions = projects.create_instructions(
        session=session,
        project_id=project.id,
        data=m.InstructionsVersionCreate(text="# Name the animal in the photo"),
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name="wildlife-gold", project_id=project.id)
    )
    assert golden.id is not None
    golden_sets.add_items(
        session=session,
        golden_set_id=golden.id,
        items=[
            m.GoldenItemCreate(key=k, data={"image": f"{k}.jpg"}, meta={"slice": SLICE})
            for k in GOLD
        ],
    )
    version = golden_sets.create_version(session=session, golden_set_id=golden.id, note="v1")
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[
            m.GoldLabelCreate(item_key=k, value=v, annotator_id=GOLD_ANNOTATOR)
            for k, v in GOLD.items()
        ],
    )
    assert key_vendor.id is not None and other.id is not None and version.id is not None
    assert instructions.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="wildlife bake-off",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=[key_vendor.id, other.id],
        ),
    )
    assert bakeoff.id is not None
    assert bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff.id) == 12
    return Built(bakeoff.id, key_vendor.id, other.id, server)


def _url(built: Built, vendor_id: int | None = None, *, results: bool = False) -> str:
    vendor = built.vendor_id if vendor_id is None else vendor_id
    url = f"/bakeoffs/{built.bakeoff_id}/vendors/{vendor}/package"
    return f"{url}/results" if results else url


def _tasks(session: Session, built: Built, vendor_id: int | None = None) -> list[m.Task]:
    session.expire_all()
    vendor = built.vendor_id if vendor_id is None else vendor_id
    return list(
        session.exec(
            select(m.Task)
            .where(m.Task.bakeoff_id == built.bakeoff_id)
            .where(m.Task.vendor_id == vendor)
            .order_by(m.Task.item_id)  # type: ignore[arg-type]
        ).all()
    )


def _labels(session: Session, built: Built) -> list[m.VendorLabel]:
    session.expire_all()
    return list(
        session.exec(
            select(m.VendorLabel)
            .where(m.VendorLabel.bakeoff_id == built.bakeoff_id)
            .where(m.VendorLabel.vendor_id == built.vendor_id)
        ).all()
    )


def _download(
    client: TestClient, built: Built, headers: dict[str, str], fmt: str = "csv"
) -> dict[str, bytes]:
    response = client.get(_url(built), params={"format": fmt}, headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _answers_csv(answers: dict[str, str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["item_id", "label"])
    writer.writerows(answers.items())
    return out.getvalue().encode()


def _upload(
    client: TestClient,
    built: Built,
    body: bytes,
    headers: dict[str, str],
    fmt: str = "csv",
    **extra: str,
) -> Any:
    return client.post(
        _url(built, results=True),
        params={"format": fmt, "filename": f"returned.{fmt}"},
        content=body,
        headers={**headers, **extra},
    )


# --------------------------------------------------------------------------- download


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "labelstudio"], ids=["csv", "jsonl", "ls"])
def test_package_holds_items_instructions_ontology_and_no_gold(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    session: Session,
    built: Built,
    fmt: str,
) -> None:
    members = _download(client, built, auth["vendor"], fmt)
    items_file = ITEMS_FILES[fmt]
    expected = {items_file, "instructions.md", "ontology.json", "manifest.json", "README.txt"}
    if fmt == "labelstudio":
        expected.add("labeling_config.xml")
    assert set(members) == expected
    items_text = members[items_file].decode()
    assert all(key in items_text and f"{key}.jpg" in items_text for key in GOLD)
    assert "Name the animal in the photo" in members["instructions.md"].decode()
    ontology = json.loads(members["ontology.json"])
    assert [c["name"] for c in ontology["classes"]] == list(CLASSES)
    manifest = json.loads(members["manifest.json"])
    assert sorted(manifest["item_ids"]) == sorted(GOLD)
    # No gold: no label value of any item outside the class list itself, no gold annotator,
    # no item metadata, anywhere in the package.
    for name, data in members.items():
        assert GOLD_ANNOTATOR.encode() not in data, name
        assert SLICE.encode() not in data, name
        if name not in ("ontology.json", "instructions.md", "labeling_config.xml"):
            assert not any(c.encode() in data for c in CLASSES), f"{name} names a class"
    # the pending tasks of this vendor became sent, once; the other vendor's did not
    tasks = _tasks(session, built)
    assert {t.status for t in tasks} == {"sent"}
    assert all(t.sent_at is not None and t.attempts == 1 for t in tasks)
    assert {t.external_id for t in tasks} == {manifest["batch_id"]}
    assert {t.status for t in _tasks(session, built, built.other_vendor_id)} == {"pending"}
    first_sent = [t.sent_at for t in tasks]
    again = client.get(_url(built), params={"format": fmt}, headers=auth["lead"])
    assert again.status_code == 200 and again.headers["x-bakeoff-tasks-sent"] == "0"
    assert [t.sent_at for t in _tasks(session, built)] == first_sent
    # the server keeps the package where the dispatch worker polls for a results file
    assert (built.server / "key-vendor-inc" / manifest["batch_id"] / "manifest.json").exists()


def test_coco_cannot_carry_classification(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    response = client.get(_url(built), params={"format": "coco"}, headers=auth["admin"])
    assert response.status_code == 422, response.text
    assert "coco" in response.text and "classification" in response.text
    assert "format" in json.dumps(response.json())
    assert {t.status for t in _tasks(session, built)} == {"pending"}


def test_a_vendor_key_gets_only_its_own_package(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    other = _url(built, built.other_vendor_id)
    assert client.get(other, headers=auth["vendor"]).status_code == 403
    upload = client.post(f"{other}/results", content=_answers_csv(GOLD), headers=auth["vendor"])
    assert upload.status_code == 403
    assert client.get(_url(built), headers=auth["qa"]).status_code == 403
    assert client.get(_url(built), headers=auth["viewer"]).status_code == 403
    assert {t.status for t in _tasks(session, built, built.other_vendor_id)} == {"pending"}
    assert _labels(session, built) == []
    assert client.get(other, headers=auth["lead"]).status_code == 200


def test_no_tasks_yet_is_a_conflict(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    for task in _tasks(session, built):
        session.delete(task)
    session.commit()
    response = client.get(_url(built), headers=auth["vendor"])
    assert response.status_code == 409 and "no tasks" in response.text


def test_a_cancelled_bakeoff_hands_nothing_over(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    from service.domain import dispatch

    dispatch.cancel_run(session=session, bakeoff_id=built.bakeoff_id)
    response = client.get(_url(built), headers=auth["vendor"])
    assert response.status_code == 409 and "cancelled" in response.text
    assert all(t.sent_at is None for t in _tasks(session, built))


# --------------------------------------------------------------------------- upload


@pytest.mark.dbs
def test_returned_csv_is_stored_once_with_latency_and_cost(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    _download(client, built, auth["vendor"], "csv")
    answers = dict.fromkeys(GOLD, CLASSES[0])  # not the gold: the vendor's own answers
    body = _answers_csv(answers)
    first = _upload(client, built, body, auth["vendor"])
    assert first.status_code == 200, first.text
    assert first.json() | {"golden_set_version": None} == {
        "received": 6,
        "stored": 6,
        "duplicates": 0,
        "replayed": False,
        "golden_set_version": None,
        "notes": [],
    }
    tasks = _tasks(session, built)
    assert {t.status for t in tasks} == {"received"}
    for t in tasks:
        assert t.sent_at is not None and t.completed_at is not None
        assert t.completed_at - t.sent_at >= timedelta(0)
        assert t.cost == pytest.approx(0.05)  # the vendor's price per item
    stored = _labels(session, built)
    assert len(stored) == 6
    keys = {i.id: i.key for i in session.exec(select(m.GoldenItem)).all()}
    assert {keys[label.item_id]: label.value for label in stored} == answers
    completed = [t.completed_at for t in tasks]

    # the same file again, without a key: nothing is stored twice, nothing changes
    again = _upload(client, built, body, auth["vendor"])
    assert again.status_code == 200
    assert (again.json()["stored"], again.json()["duplicates"]) == (0, 6)
    # and twice with one Idempotency-Key: the second is answered from the first
    keyed = _upload(client, built, body, auth["lead"], **{"Idempotency-Key": "k-1"})
    replay = _upload(client, built, body, auth["lead"], **{"Idempotency-Key": "k-1"})
    assert keyed.status_code == replay.status_code == 200
    assert keyed.json()["replayed"] is False and replay.json()["replayed"] is True
    assert replay.json()["duplicates"] == keyed.json()["duplicates"] == 6
    clash = _upload(client, built, b"item_id,label\n", auth["lead"], **{"Idempotency-Key": "k-1"})
    assert clash.status_code == 409
    assert len(_labels(session, built)) == 6
    assert [t.completed_at for t in _tasks(session, built)] == completed


def test_first_upload_with_a_key_replays_and_stores_once(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    _download(client, built, auth["vendor"], "csv")
    body = _answers_csv(dict.fromkeys(GOLD, CLASSES[1]))
    headers = {"Idempotency-Key": "upload-1"}
    first = _upload(client, built, body, auth["vendor"], **headers)
    second = _upload(client, built, body, auth["vendor"], **headers)
    assert first.json()["stored"] == 6 and not first.json()["replayed"]
    assert second.json() == {**first.json(), "replayed": True}
    assert len(_labels(session, built)) == 6


@pytest.mark.dbs
def test_returned_jsonl_keeps_file_times_and_annotators(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    _download(client, built, auth["vendor"], "jsonl")
    # the package went out an hour ago; the file's times fall between then and now
    sent = datetime.now(UTC) - timedelta(hours=1)
    task = m.Task.__table__  # type: ignore[attr-defined]
    session.execute(task.update().where(task.c.vendor_id == built.vendor_id).values(sent_at=sent))
    session.commit()
    done = sent + timedelta(minutes=5)
    lines = [
        {
            "item_id": key,
            "label": CLASSES[2],
            "annotator_id": f"w{n % 2}",
            "completed_at": (done + timedelta(seconds=n)).isoformat(),
        }
        for n, key in enumerate(GOLD)
    ]
    body = "\n".join(json.dumps(line) for line in lines).encode()
    response = _upload(client, built, body, auth["vendor"], "jsonl")
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 6
    tasks = _tasks(session, built)
    assert {t.status for t in tasks} == {"received"}
    by_item = {line["item_id"]: datetime.fromisoformat(str(line["completed_at"])) for line in lines}
    keys = {i.id: i.key for i in session.exec(select(m.GoldenItem)).all()}
    for t in tasks:
        assert t.completed_at == by_item[keys[t.item_id]]
        assert t.sent_at is not None and t.completed_at - t.sent_at > timedelta(0)
        assert t.cost == pytest.approx(0.05)
    assert {label.annotator_id for label in _labels(session, built)} == {"w0", "w1"}
    again = _upload(client, built, body, auth["vendor"], "jsonl")
    assert again.json()["duplicates"] == 6 and len(_labels(session, built)) == 6


_BAD = {
    "unknown class": (
        "csv",
        b"item_id,label\nphoto-1,zebra-q7x\nphoto-2,unicorn\n",
        ["record 2", "photo-2", "unicorn"],
    ),
    "unknown column": ("csv", b"item_id,lable\nphoto-1,zebra-q7x\n", ["lable"]),
    "item not sent": (
        "csv",
        b"item_id,label\nphoto-1,zebra-q7x\nphoto-99,zebra-q7x\n",
        ["photo-99"],
    ),
    "bad json line": (
        "jsonl",
        b'{"item_id": "photo-1", "label": "zebra-q7x"}\n{"item_id": "photo-2", "label": \n',
        ["line 2"],
    ),
    "completed before sent": (
        "jsonl",
        b'{"item_id": "photo-1", "label": "zebra-q7x", "completed_at": "2001-01-01T00:00:00Z"}',
        ["record 1", "photo-1", "completed_at"],
    ),
    "empty": ("csv", b"item_id,label\n", ["no answers"]),
}


@pytest.mark.parametrize(("fmt", "body", "names"), list(_BAD.values()), ids=list(_BAD))
def test_a_malformed_upload_gets_422_and_changes_nothing(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    session: Session,
    built: Built,
    fmt: str,
    body: bytes,
    names: list[str],
) -> None:
    _download(client, built, auth["vendor"], fmt)
    before = [(t.status, t.completed_at, t.cost) for t in _tasks(session, built)]
    response = _upload(client, built, body, auth["vendor"], fmt, **{"Idempotency-Key": "bad"})
    assert response.status_code == 422, response.text
    text = json.dumps(response.json())
    assert "returned." in text
    for name in names:
        assert name in text, (name, text)
    assert [(t.status, t.completed_at, t.cost) for t in _tasks(session, built)] == before
    assert _labels(session, built) == []
    # the refused request left no idempotency record: the key still works for a good file
    good = _upload(
        client,
        built,
        _answers_csv({"photo-1": CLASSES[0]}),
        auth["vendor"],
        "csv",
        **{"Idempotency-Key": "bad"},
    )
    assert good.status_code == 200 and good.json()["stored"] == 1, good.text


def test_the_package_items_csv_filled_in_is_accepted(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    members = _download(client, built, auth["vendor"], "csv")
    rows = list(csv.reader(io.StringIO(members["items.csv"].decode())))
    assert rows[0] == ["item_id", "image", "label"]
    filled = [rows[0], *([r[0], r[1], CLASSES[1]] for r in rows[1:])]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(filled)
    response = _upload(client, built, out.getvalue().encode(), auth["vendor"])
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 6
    assert {label.value for label in _labels(session, built)} == {CLASSES[1]}


def test_a_running_dispatch_worker_keeps_the_download_hand_over(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    """The worker's poller finds the downloaded package: no requeue, no second sent_at."""
    from service.core.config import Settings
    from service.domain import dispatch

    members = _download(client, built, auth["vendor"], "jsonl")
    sent = [t.sent_at for t in _tasks(session, built)]
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    settings = Settings(environment="test", auto_migrate=False, database_url="sqlite://")
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=settings, force_poll=True)
    tasks = _tasks(session, built)
    assert {t.status for t in tasks} == {"sent"} and [t.sent_at for t in tasks] == sent
    assert {t.attempts for t in tasks} == {1}
    batch_id = json.loads(members["manifest.json"])["batch_id"]
    assert {t.external_id for t in tasks} == {batch_id}
    body = "\n".join(json.dumps({"item_id": k, "label": CLASSES[0]}) for k in GOLD).encode()
    assert _upload(client, built, body, auth["vendor"], "jsonl").json()["stored"] == 6
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=settings, force_poll=True)
    assert {t.status for t in _tasks(session, built)} == {"received"}
    assert len(_labels(session, built)) == 6


# --------------------------------------------------------------------------- COCO (detection)

GOLD_BOX = [101.125, 57.375, 30.5, 40.25]


@pytest.fixture
def detection(session: Session, key_vendor: m.Vendor, server_folders: ServerFolders) -> Built:
    """A detection bake-off (three 640x480 images) for the vendor key's file vendor."""
    server = server_folders.vendor_files_dir
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name="boxes",
            task_type="detection",
            ontology={"classes": [{"name": c} for c in CLASSES]},
        ),
    )
    assert project.id is not None
    instructions = projects.create_instructions(
        session=session,
        project_id=project.id,
        data=m.InstructionsVersionCreate(text="# Box every animal"),
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name="boxes-gold", project_id=project.id)
    )
    assert golden.id is not None
    keys = ["shot-1", "shot-2", "shot-3"]
    golden_sets.add_items(
        session=session,
        golden_set_id=golden.id,
        items=[
            m.GoldenItemCreate(key=k, data={"image": f"{k}.jpg", "width": 640, "height": 480})
            for k in keys
        ],
    )
    version = golden_sets.create_version(session=session, golden_set_id=golden.id, note="v1")
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[
            m.GoldLabelCreate(
                item_key=k,
                value=[{"category": CLASSES[0], "bbox": GOLD_BOX}],
                annotator_id=GOLD_ANNOTATOR,
            )
            for k in keys
        ],
    )
    assert key_vendor.id is not None and version.id is not None and instructions.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="boxes bake-off",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=[key_vendor.id],
        ),
    )
    assert bakeoff.id is not None
    bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff.id)
    return Built(bakeoff.id, key_vendor.id, key_vendor.id, server)


def test_coco_package_and_results_for_a_detection_bakeoff(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, detection: Built
) -> None:
    members = _download(client, detection, auth["vendor"], "coco")
    assert {"items.json", "instructions.md", "ontology.json", "manifest.json"} <= set(members)
    package = json.loads(members["items.json"])
    assert package["annotations"] == []
    assert [im["file_name"] for im in package["images"]] == [
        "shot-1.jpg",
        "shot-2.jpg",
        "shot-3.jpg",
    ]
    for name, data in members.items():
        for secret in (GOLD_ANNOTATOR, "101.125", "57.375", "30.5", "40.25"):
            assert secret.encode() not in data, (name, secret)
    assert {t.status for t in _tasks(session, detection)} == {"sent"}
    results = [
        {"image_id": image["id"], "category_id": 2, "bbox": [10, 20, 30, 40], "score": 0.9}
        for image in package["images"]
    ]
    body = json.dumps(results).encode()
    response = _upload(client, detection, body, auth["vendor"], "coco")
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 3
    tasks = _tasks(session, detection)
    assert {t.status for t in tasks} == {"received"}
    assert all(t.cost == pytest.approx(0.05) for t in tasks)
    values = [label.value for label in _labels(session, detection)]
    assert len(values) == 3
    assert all(v[0]["category"] == CLASSES[1] and v[0]["bbox"] == [10, 20, 30, 40] for v in values)
    assert _upload(client, detection, body, auth["vendor"], "coco").json()["duplicates"] == 3
    bad = json.dumps([{"image_id": 99, "category_id": 1, "bbox": [1, 2, 3, 4]}]).encode()
    refused = _upload(client, detection, bad, auth["vendor"], "coco")
    assert refused.status_code == 422 and "99" in refused.text, refused.text


def test_returned_label_studio_export_keeps_lead_times(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    members = _download(client, built, auth["vendor"], "labelstudio")
    done = datetime.now(UTC) + timedelta(minutes=1)
    export = [
        {
            "id": n,
            **task,
            "annotations": [
                {
                    "id": 500 + n,
                    "completed_by": 7,
                    "lead_time": 30.0,
                    "created_at": done.isoformat(),
                    "result": [
                        {
                            "type": "choices",
                            "from_name": "label",
                            "to_name": "image",
                            "value": {"choices": [CLASSES[2]]},
                        }
                    ],
                }
            ],
        }
        for n, task in enumerate(json.loads(members["items.json"]))
    ]
    body = json.dumps(export).encode()
    response = _upload(client, built, body, auth["vendor"], "labelstudio")
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 6
    labels = _labels(session, built)
    assert {(label.value, label.annotator_id) for label in labels} == {(CLASSES[2], "7")}
    for label in labels:
        assert label.started_at is not None and label.completed_at is not None
        assert (label.completed_at - label.started_at).total_seconds() == pytest.approx(30.0)
    assert {t.status for t in _tasks(session, built)} == {"received"}


def test_only_file_vendors_exchange_packages(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, built: Built
) -> None:
    other = session.get(m.Vendor, built.other_vendor_id)
    assert other is not None
    other.adapter_kind = "simulator"
    session.add(other)
    session.commit()
    url = _url(built, built.other_vendor_id)
    response = client.get(url, headers=auth["lead"])
    assert response.status_code == 409 and "simulator" in response.text
    upload = client.post(f"{url}/results", content=_answers_csv(GOLD), headers=auth["lead"])
    assert upload.status_code == 409
    assert {t.status for t in _tasks(session, built, built.other_vendor_id)} == {"pending"}


def test_a_vendor_exporting_its_labels_sees_only_items_sent_to_it(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, detection: Built
) -> None:
    """Issue 11: a vendor key's COCO export listed every image of the bake-off, sent or not."""
    url = f"/bakeoffs/{detection.bakeoff_id}/vendors/{detection.vendor_id}/labels/export"
    before = client.get(url, params={"format": "coco"}, headers=auth["vendor"])
    assert before.status_code == 200, before.text
    assert json.loads(before.text)["images"] == []  # nothing sent yet: no item is named
    lead = client.get(url, params={"format": "coco"}, headers=auth["lead"])
    assert len(json.loads(lead.text)["images"]) == 3  # the lead sees the whole golden set
    _download(client, detection, auth["vendor"], "coco")  # the package sends every item
    after = client.get(url, params={"format": "coco"}, headers=auth["vendor"])
    assert len(json.loads(after.text)["images"]) == 3
