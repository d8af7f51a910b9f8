"""Keypoints through the API: COCO keypoints gold and results files, COCO AP = pycocotools."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from metrics.keypoints import KEYPOINT_STAT_NAMES

DATUMARO = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "external"
    / "datumaro"
    / "person_keypoints_val.json"
)


def _pycocotools(gt: dict[str, Any], dt: list[dict[str, Any]], sigmas: Any) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


@pytest.mark.parametrize("shift", [0.0, 0.4], ids=["exact", "shifted"])
def test_datumaro_keypoints_through_the_api_equal_pycocotools(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any, shift: float
) -> None:
    lead = auth["lead"]
    gt = json.loads(DATUMARO.read_text())
    project = client.post(
        "/projects",
        json={
            "name": "poses",
            "task_type": "keypoints",
            "ontology": {
                "classes": [{"name": "a"}, {"name": "b"}],
                "keypoints": {"a": ["a_1", "a_2", "a_3"], "b": ["b_1", "b_2", "b_3"]},
                "keypoint_sigmas": {"a": [0.1, 0.1, 0.1], "b": [0.1, 0.1, 0.1]},
            },
        },
        headers=lead,
    )
    assert project.status_code == 201, project.text
    pid = project.json()["id"]
    gs = client.post("/golden-sets", json={"name": "g", "project_id": pid}, headers=lead).json()
    imported = client.post(
        f"/golden-sets/{gs['id']}/import",
        params={"format": "coco", "filename": DATUMARO.name},
        content=DATUMARO.read_bytes(),
        headers=lead,
    )
    assert imported.status_code == 201, imported.text
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    instructions = client.post(
        f"/projects/{pid}/instructions", json={"text": "label"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": pid,
            "golden_set_version_id": version["id"],
            "instructions_version_id": instructions["id"],
            "vendor_ids": [key_vendor.id],
        },
        headers=lead,
    ).json()
    dt = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "keypoints": [c + (shift if i % 3 != 2 else 0) for i, c in enumerate(a["keypoints"])],
            "score": 0.9,
        }
        for a in gt["annotations"]
        if a.get("keypoints")
    ]
    url = f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels/import"
    response = client.post(
        url,
        params={"format": "coco_results", "filename": "res.json"},
        content=json.dumps(dt).encode(),
        headers=auth["vendor"],
    )
    assert response.status_code == 200, response.text
    results = client.get(f"/bakeoffs/{bakeoff['id']}/results", headers=auth["viewer"])
    assert results.status_code == 200, results.text
    vendor = results.json()["vendors"][0]
    assert vendor["main_metric"] == "per_image_keypoint_f1"
    coco = vendor["scores"]["coco"]
    ours = np.array([coco[n] for n in KEYPOINT_STAT_NAMES])
    np.testing.assert_allclose(ours, _pycocotools(gt, dt, np.full(3, 0.1)), atol=1e-9)


def test_a_keypoint_label_with_a_bad_visibility_is_a_422(
    client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    project = client.post(
        "/projects",
        json={"name": "p", "task_type": "keypoints", "ontology": {"classes": [{"name": "a"}]}},
        headers=auth["lead"],
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=auth["lead"]
    ).json()
    line = {"item_id": "i1", "label": [{"category": "a", "points": [[1, 2, 7]]}]}
    bad = client.post(
        f"/golden-sets/{gs['id']}/import",
        params={"format": "jsonl", "filename": "gold.jsonl"},
        content=(json.dumps(line) + "\n").encode(),
        headers=auth["lead"],
    )
    assert bad.status_code == 422, bad.text
    assert "label[0].points[0]" in bad.text
