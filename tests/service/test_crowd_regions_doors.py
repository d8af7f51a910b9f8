"""Several annotators per image of boxes through every door: the same consensus numbers.

A Label Studio export with three annotators per image (written here: Label Studio's task
format, pixel-sized 100 x 100 images so percentages are pixels) is scored by ``bakeoff
evaluate`` and by the API after a vendor import, on the fused consensus of
:func:`metrics.fusion.fuse_boxes` (never the first annotator, who alone would score 1.0).

Hand computation, per-image F1 @ IoU 0.5 against gold:

* ``a``: cars at x = 0, 1, 2 (3 of 3) fuse to x = 1 (IoU 90/110 with gold), the lone dog
  (1 of 3) is left out: F1 1;
* ``b``: one annotator of three draws the dog, two answer "nothing here": no consensus
  box, F1 0;
* ``c``: cars at x = 30, 30, 31 fuse to x = 30: F1 1.

So ``per_image_f1_all`` = 2/3, ``mean_iou`` = (90/110 + 1) / 2, and 2 of 3 images had a
box without a majority.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli.main import app

F1_ALL = 2 / 3
MEAN_IOU = (90 / 110 + 1) / 2
NO_MAJORITY = "2 of 3 items with several annotators had boxes without a majority"


def _box(cat: str, x: float, y: float) -> dict[str, Any]:
    return {
        "type": "rectanglelabels",
        "from_name": "label",
        "to_name": "image",
        "original_width": 100,
        "original_height": 100,
        "value": {"x": x, "y": y, "width": 10, "height": 10, "rectanglelabels": [cat]},
    }


def _task(item: str, answers: list[list[dict[str, Any]]]) -> dict[str, Any]:
    return {
        "data": {"item_id": item, "image": f"/data/{item}.jpg"},
        "annotations": [{"completed_by": k + 1, "result": r} for k, r in enumerate(answers)],
    }


GOLD = [
    _task("a", [[_box("car", 0, 0)]]),
    _task("b", [[_box("dog", 20, 20)]]),
    _task("c", [[_box("car", 30, 30)]]),
]
CROWD = [
    _task(
        "a",
        [[_box("car", 0, 0)], [_box("car", 1, 0)], [_box("car", 2, 0), _box("dog", 50, 50)]],
    ),
    _task("b", [[_box("dog", 20, 20)], [], []]),
    _task("c", [[_box("car", 30, 30)], [_box("car", 30, 30)], [_box("car", 31, 30)]]),
]


def test_bakeoff_evaluate_scores_the_consensus(tmp_path: Path) -> None:
    gold, crowd = tmp_path / "gold.json", tmp_path / "crowd.json"
    gold.write_text(json.dumps(GOLD))
    crowd.write_text(json.dumps(CROWD))
    result = CliRunner().invoke(
        app,
        ["evaluate", "--task", "detection", "--gold", str(gold), "--labels", f"crowd={crowd}"]
        + ["--json"],
    )
    assert result.exit_code == 0, result.output
    system = json.loads(result.stdout)["systems"]["crowd"]
    assert system["metrics"]["per_image_f1_all"]["value"] == pytest.approx(F1_ALL, abs=1e-12)
    assert system["metrics"]["mean_iou"]["value"] == pytest.approx(MEAN_IOU, abs=1e-12)
    assert any(w.startswith(NO_MAJORITY) for w in system["warnings"])
    # each annotator on its own: 1 is right everywhere; 3 adds a dog on a, misses b
    annotators = system["annotators"]
    assert annotators["1"]["agreement_with_gold"] == 1.0
    assert annotators["3"]["agreement_with_gold"] == pytest.approx((2 / 3 + 0 + 1) / 3)
    table = CliRunner().invoke(
        app, ["evaluate", "--task", "detection", "--gold", str(gold), "--labels", f"crowd={crowd}"]
    )
    assert table.exit_code == 0, table.output
    assert "each annotator alone" in table.output and "0.556" in table.output


def _setup(client: TestClient, lead: dict[str, str], vendor_id: int) -> int:
    project = client.post(
        "/projects",
        json={
            "name": "p",
            "task_type": "detection",
            "ontology": {"classes": [{"name": "car"}, {"name": "dog"}]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    imported = client.post(
        f"/golden-sets/{gs['id']}/import",
        params={"format": "labelstudio", "filename": "gold.json"},
        content=json.dumps(GOLD).encode(),
        headers=lead,
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
    return int(bakeoff["id"])


def test_api_results_score_the_same_consensus(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    bakeoff = _setup(client, auth["lead"], key_vendor.id)
    response = client.post(
        f"/bakeoffs/{bakeoff}/vendors/{key_vendor.id}/labels/import",
        params={"format": "labelstudio"},
        content=json.dumps(CROWD).encode(),
        headers=auth["vendor"],
    )
    assert response.status_code == 200, response.text
    result = client.get(f"/bakeoffs/{bakeoff}/results", headers=auth["lead"])
    assert result.status_code == 200, result.text
    (vendor,) = result.json()["vendors"]
    assert vendor["metrics"]["per_image_f1_all"] == pytest.approx(F1_ALL, abs=1e-12)
    assert vendor["metrics"]["mean_iou"] == pytest.approx(MEAN_IOU, abs=1e-12)
    assert any(w.startswith(NO_MAJORITY) for w in vendor["scores"]["warnings"])
