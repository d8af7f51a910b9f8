"""A reader's notes reach the user at every import door, the same for the same file.

Two COCO detection files: an instances file whose annotations carry keypoints (read as gold
and as labels), and a results array with keypoints and a box past its image's border (read as
labels). Each goes through every door that takes it: ``bakeoff import gold`` / ``labels``
(stderr), the API's gold import, the one-request golden-set import, label import, delivery
import and file-vendor package upload (``notes`` of the result), and the Python client
(``notes`` of what it returns). Every door must say exactly what the reader says.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

import service.models as m
from service.cli.main import app
from service.client import BakeoffClient
from service.core.db import get_engine
from service.domain import bakeoffs, golden_sets, projects, vendors
from tests.service.conftest import ServerFolders

Headers = dict[str, dict[str, str]]
CLASSES = ["cat", "dog"]
SIZE = (100, 80)
BOXES = [[10.0, 10.0, 30.0, 20.0], [50.0, 30.0, 20.0, 20.0], [5.0, 40.0, 40.0, 30.0]]
POSE = {"keypoints": [20, 15, 2, 0, 0, 0], "num_keypoints": 1}

INSTANCES_NOTES = [
    "2 annotation(s) carry keypoints; their boxes and masks are read, the keypoints are not scored"
]
RESULTS_NOTES = [
    "1 result box(es) reach past their image; scored as they are (as pycocotools scores them)",
    "2 result(s) carry keypoints; their boxes and masks are read, the keypoints are not scored",
]


def _instances(names: list[str]) -> dict[str, Any]:
    """Three images, a box each, the first two with a keypoint (a person-style annotation)."""
    width, height = SIZE
    return {
        "images": [
            {"id": i, "file_name": n, "width": width, "height": height}
            for i, n in enumerate(names, 1)
        ],
        "categories": [{"id": i, "name": c} for i, c in enumerate(CLASSES, 1)],
        "annotations": [
            {
                "id": i,
                "image_id": i,
                "category_id": 1 + i % 2,
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": 0,
                **(POSE if i < 3 else {}),
            }
            for i, box in enumerate(BOXES, 1)
        ],
    }


def _results() -> list[dict[str, Any]]:
    """A result per image (COCO ids 1..3): two with keypoints, the last 15 px past the right
    border (pycocotools scores it as it is)."""
    out = []
    for i, box in enumerate(BOXES, 1):
        if i == 3:
            box = [80.0, 40.0, 35.0, 30.0]  # x + w = 115 > 100 + 1
        out.append(
            {"image_id": i, "category_id": 1 + i % 2, "bbox": box, "score": 0.9, **POSE}
            if i < 3
            else {"image_id": i, "category_id": 1 + i % 2, "bbox": box, "score": 0.8}
        )
    return out


def _write(path: Path, obj: object) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def _said(stderr: str) -> list[str]:
    return [line.removeprefix("note: ") for line in stderr.splitlines() if line.startswith("note:")]


def _cli_doors(instances: Path, results: Path) -> dict[str, list[str]]:
    """``bakeoff import gold`` and ``bakeoff import labels`` (a fresh SQLite file)."""
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="p",
                task_type="detection",
                ontology={"classes": [{"name": c} for c in CLASSES]},
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="do")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="g", project_id=project.id)
        )
        by_file = [
            vendors.create_vendor(session=session, data=m.VendorCreate(name=n)).id
            for n in ("instances", "results")
        ]
        assert golden.id is not None
        ids = (project.id, instructions.id, golden.id)
    runner = CliRunner()
    gold = runner.invoke(app, ["import", "gold", str(ids[2]), str(instances)])
    assert gold.exit_code == 0, gold.output
    with Session(get_engine()) as session:
        version = golden_sets.latest_version(session=session, golden_set_id=ids[2])
        assert version is not None and version.id is not None and ids[1] is not None
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="b",
                project_id=ids[0],
                golden_set_version_id=version.id,
                instructions_version_id=ids[1],
                vendor_ids=[v for v in by_file if v is not None],
            ),
        )
        bakeoff_id = bakeoff.id
    said = {"cli import gold": _said(gold.stderr)}
    for vendor_id, path in zip(by_file, (instances, results), strict=True):
        out = runner.invoke(app, ["import", "labels", str(bakeoff_id), str(vendor_id), str(path)])
        assert out.exit_code == 0, out.output
        said[f"cli import labels {path.name}"] = _said(out.stderr)
    return said


def test_every_door_says_the_readers_notes(
    tmp_path: Path,
    cli_database: None,
    client: TestClient,
    bk: BakeoffClient,
    auth: Headers,
    key_vendor: m.Vendor,
    server_folders: ServerFolders,
) -> None:
    lead = auth["lead"]
    project = bk.create_project("p", "detection", CLASSES)
    # a delivery's items are named <delivery>-<position>: the files use those names, so that
    # one instances file is the gold, a bake-off's labels and the delivery's labels
    delivery = client.post(
        "/deliveries",
        json={
            "name": "week 1",
            "project_id": project.id,
            "vendor_id": key_vendor.id,
            "honeypot_rate": 0,
            "items": [
                {"key": f"k{i}", "data": {"width": SIZE[0], "height": SIZE[1]}} for i in range(3)
            ],
        },
        headers=lead,
    )
    assert delivery.status_code == 201, delivery.text
    did = delivery.json()["id"]
    batch = client.get(f"/deliveries/{did}/batch", headers=auth["vendor"])
    assert batch.status_code == 200, batch.text
    names = sorted(i["item_id"] for i in batch.json()["items"])
    instances = _write(tmp_path / "instances.json", _instances(names))
    results = _write(tmp_path / "results.json", _results())
    said = _cli_doors(instances, results)

    # gold: the two-step API door, the one-request door, the client's two doors
    golden = client.post("/golden-sets", json={"name": "g", "project_id": project.id}, headers=lead)
    response = client.post(
        f"/golden-sets/{golden.json()['id']}/import",
        params={"format": "coco", "filename": instances.name},
        content=instances.read_bytes(),
        headers=lead,
    )
    assert response.status_code == 201, response.text
    said["api gold import"] = response.json()["notes"]
    response = client.post(
        "/golden-sets/import",
        data={"project_id": str(project.id), "name": "one request"},
        files={"file": (instances.name, instances.read_bytes())},
        headers=lead,
    )
    assert response.status_code == 201, response.text
    said["api golden-set import"] = response.json()["notes"]
    version = bk.create_golden_set(project.id, "client", instances)
    said["client create_golden_set"] = list(version.notes)
    said["client import_gold"] = list(bk.import_gold(version.golden_set_id, instances).notes)

    # labels: the API, the client, the file-vendor package upload, the delivery import
    instructions = bk.add_instructions(project.id, "Box every animal")
    other_files = bk.create_vendor("Other Files", adapter_kind="file")
    vendor_ids = [bk.create_vendor(f"v{i}").id for i in range(4)]
    assert key_vendor.id is not None
    bakeoff = bk.create_bakeoff(
        project.id,
        "b",
        version.version_id,
        instructions.id,
        [*vendor_ids, key_vendor.id, other_files.id],
    )
    tasks = client.post(f"/bakeoffs/{bakeoff.id}/tasks", headers=lead)
    assert tasks.status_code in (200, 201), tasks.text
    response = client.get(
        f"/bakeoffs/{bakeoff.id}/vendors/{key_vendor.id}/package",
        params={"format": "coco"},
        headers=auth["vendor"],
    )
    assert response.status_code == 200, response.text
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        package = json.loads(archive.read("items.json"))
    # the package numbers its images as the gold file does: one results array reads in both
    assert [(im["id"], im["file_name"]) for im in package["images"]] == list(enumerate(names, 1))
    for n, path in enumerate((instances, results)):
        response = client.post(
            f"/bakeoffs/{bakeoff.id}/vendors/{vendor_ids[n]}/labels/import",
            params={"filename": path.name},
            content=path.read_bytes(),
            headers=lead,
        )
        assert response.status_code == 200, response.text
        said[f"api label import {path.name}"] = response.json()["notes"]
        imported = bk.add_vendor_labels(bakeoff.id, vendor_ids[2 + n], path)
        said[f"client add_vendor_labels {path.name}"] = imported.notes
        file_vendor = (key_vendor.id, other_files.id)[n]
        response = client.post(
            f"/bakeoffs/{bakeoff.id}/vendors/{file_vendor}/package/results",
            params={"format": "coco", "filename": path.name},
            content=path.read_bytes(),
            headers=lead,
        )
        assert response.status_code == 200, response.text
        said[f"file-vendor upload {path.name}"] = response.json()["notes"]
    response = client.post(
        f"/deliveries/{did}/labels/import",
        params={"format": "coco", "filename": instances.name},
        content=instances.read_bytes(),
        headers=lead,
    )
    assert response.status_code == 200, response.text
    said["delivery import"] = response.json()["notes"]

    want = {
        door: RESULTS_NOTES if door.endswith(results.name) else INSTANCES_NOTES for door in said
    }
    assert said == want
    assert len(said) == 14  # every door above was walked
