"""Per-annotator scores of boxes, masks and poses: ``/results`` and the client show the
rows of ``bakeoff evaluate --json``.

Three annotators per image (``w1`` exact, ``w2`` a little off, ``w3`` adds a false object
on one image and misses another), read from the same files by the CLI and the API. Each
annotator's ``n_items``, ``agreement_with_gold`` and ``agreement_with_peers`` must be the
same numbers through ``bakeoff evaluate --json`` (``systems[].annotators``), the raw
``GET /bakeoffs/{id}/results`` (``vendors[].annotators``) and the Python client
(:meth:`~service.client.BakeoffClient.get_annotator_results`); a blinded QA key sees them
as "annotator 1, 2, 3".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli.main import app
from service.client import BakeoffClient

SIZE = {"width": 100, "height": 100}
POINTS = ("head", "hand", "foot")
SIGMAS = (0.05, 0.08, 0.1)


def _box(cat: str, x: float, y: float) -> dict[str, Any]:
    return {"category": cat, "bbox": [x, y, 10, 10]}


def _mask(cat: str, x: float, y: float) -> dict[str, Any]:
    return {"category": cat, "segmentation": [[x, y, x + 10, y, x + 10, y + 12, x, y + 12]]}


def _regions(make: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    gold = [
        {"item_id": "a", "label": [make("car", 0, 0)], "data": SIZE},
        {"item_id": "b", "label": [make("dog", 20, 20)], "data": SIZE},
        {"item_id": "c", "label": [make("car", 30, 30)], "data": SIZE},
    ]
    answers = {
        "w1": {"a": [make("car", 0, 0)], "b": [make("dog", 20, 20)], "c": [make("car", 30, 30)]},
        "w2": {"a": [make("car", 1, 0)], "b": [make("dog", 21, 20)], "c": [make("car", 30, 31)]},
        "w3": {"a": [make("car", 2, 0), make("dog", 60, 60)], "b": [], "c": [make("car", 31, 30)]},
    }
    crowd = [
        {"item_id": item, "annotator_id": worker, "label": label}
        for worker, items in answers.items()
        for item, label in items.items()
    ]
    return gold, crowd


def _coco_keypoints_gold() -> dict[str, Any]:
    def pose(image: int, ann: int, x: float) -> dict[str, Any]:
        points = [x, 10.0, 2, x + 10, 30.0, 2, x + 5, 60.0, 2]
        return {
            "id": ann,
            "image_id": image,
            "category_id": 1,
            "keypoints": points,
            "num_keypoints": 3,
            "bbox": [x, 10.0, 10.0, 50.0],
            "area": 500.0,
            "iscrowd": 0,
        }

    return {
        "images": [
            {"id": 1, "file_name": "a", **SIZE},
            {"id": 2, "file_name": "b", **SIZE},
        ],
        "categories": [
            {"id": 1, "name": "person", "keypoints": list(POINTS), "sigmas": list(SIGMAS)}
        ],
        "annotations": [pose(1, 1, 20.0), pose(2, 2, 50.0)],
    }


def _ls_pose(x: float, points: tuple[str, ...] = POINTS) -> list[dict[str, Any]]:
    where = {"head": (x, 10.0), "hand": (x + 10, 30.0), "foot": (x + 5, 60.0)}
    return [
        {
            "type": "keypointlabels",
            "from_name": "kp",
            "to_name": "image",
            "original_width": 100,
            "original_height": 100,
            "value": {"x": where[p][0], "y": where[p][1], "width": 1, "keypointlabels": [p]},
        }
        for p in points
    ]


def _ls_crowd() -> list[dict[str, Any]]:
    answers = {  # annotator -> image -> that annotator's regions
        1: {"a": _ls_pose(20.0), "b": _ls_pose(50.0)},
        2: {"a": _ls_pose(20.5), "b": _ls_pose(51.0)},
        3: {"a": _ls_pose(20.0, ("head",)), "b": _ls_pose(80.0)},
    }
    return [
        {
            "data": {"item_id": item, "image": f"/data/{item}.jpg"},
            "annotations": [
                {"completed_by": who, "result": answers[who][item]} for who in sorted(answers)
            ],
        }
        for item in ("a", "b")
    ]


def _files(task: str, folder: Path) -> tuple[Path, Path, list[str]]:
    """Gold and crowd files for ``task``, and the classes."""
    if task == "keypoints":
        gold, crowd = folder / "gold.json", folder / "crowd.json"
        gold.write_text(json.dumps(_coco_keypoints_gold()))
        crowd.write_text(json.dumps(_ls_crowd()))
        return gold, crowd, ["person"]
    rows, answers = _regions(_box if task == "detection" else _mask)
    gold, crowd = folder / "gold.jsonl", folder / "crowd.jsonl"
    gold.write_text("".join(json.dumps(r) + "\n" for r in rows))
    crowd.write_text("".join(json.dumps(r) + "\n" for r in answers))
    return gold, crowd, ["car", "dog"]


def _cli(task: str, gold: Path, crowd: Path) -> dict[str, dict[str, float | None]]:
    out = CliRunner().invoke(
        app, ["evaluate", "--task", task, "--gold", str(gold), "--labels", f"v={crowd}", "--json"]
    )
    assert out.exit_code == 0, out.output
    rows: dict[str, dict[str, float | None]] = json.loads(out.stdout)["systems"]["v"]["annotators"]
    return rows


def _project(bk: BakeoffClient, task: str, classes: list[str]) -> int:
    if task != "keypoints":
        return bk.create_project("crowd", task, classes).id  # type: ignore[arg-type]
    body = {
        "name": "crowd",
        "task_type": "keypoints",
        "ontology": {
            "classes": [{"name": "person"}],
            "keypoints": {"person": list(POINTS)},
            "keypoint_sigmas": {"person": list(SIGMAS)},
        },
    }
    made: dict[str, Any] = bk._request("POST", "/projects", json_body=body).json()
    return int(made["id"])


@pytest.mark.parametrize("task", ["detection", "segmentation", "keypoints"])
def test_results_and_client_show_the_cli_annotator_rows(
    task: str,
    tmp_path: Path,
    bk: BakeoffClient,
    client: TestClient,
    auth: dict[str, dict[str, str]],
) -> None:
    gold, crowd, classes = _files(task, tmp_path)
    want = _cli(task, gold, crowd)
    assert len(want) == 3
    # the rows say something: the exact annotator agrees best with gold
    by_gold = {a: r["agreement_with_gold"] for a, r in want.items()}
    assert max(by_gold, key=lambda a: by_gold[a] or 0.0) in ("w1", "1")
    assert min(v or 0.0 for v in by_gold.values()) < 1.0

    project = _project(bk, task, classes)
    version = bk.create_golden_set(
        project, "gold", gold, format="coco" if task == "keypoints" else None
    )
    instructions = bk.add_instructions(project, "Label every object")
    vendor = bk.create_vendor("crowd")
    bakeoff = bk.create_bakeoff(project, "b", version.version_id, instructions.id, [vendor.id])
    stored = bk.add_vendor_labels(bakeoff.id, vendor.id, crowd)
    assert stored.stored > 0

    raw = client.get(f"/bakeoffs/{bakeoff.id}/results", headers=auth["lead"])
    assert raw.status_code == 200, raw.text
    assert raw.json()["vendors"][0]["annotators"] == want
    frame = bk.get_annotator_results(bakeoff.id)
    assert list(frame.index.get_level_values("vendor")) == ["crowd"] * 3
    rows = frame.reset_index().drop(columns="vendor").set_index("annotator")
    assert rows.to_dict("index") == want

    blinded = client.patch(f"/bakeoffs/{bakeoff.id}", json={"blinded": True}, headers=auth["lead"])
    assert blinded.status_code == 200, blinded.text
    seen = client.get(f"/bakeoffs/{bakeoff.id}/results", headers=auth["qa"]).json()
    numbered = seen["vendors"][0]["annotators"]
    assert sorted(numbered) == ["annotator 1", "annotator 2", "annotator 3"]
    assert [numbered[f"annotator {i}"] for i in (1, 2, 3)] == [want[a] for a in sorted(want)]
