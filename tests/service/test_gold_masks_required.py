"""A segmentation gold with an annotation that has no mask is refused by every door.

CVAT's COCO export writes ``"segmentation": []`` for an object drawn as a box; read as a
mask it used to vanish from the gold without a word on one path while another refused it.
"""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli.main import app

SQUARE = [[50.0, 50.0, 70.0, 50.0, 70.0, 70.0, 50.0, 70.0]]
GOLD = {
    "images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 100}],
    "categories": [{"id": 1, "name": "car"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400}
        | {"iscrowd": 0, "segmentation": []},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "area": 400}
        | {"iscrowd": 0, "segmentation": SQUARE},
    ],
}
RESULTS = [
    {"image_id": 1, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.9}
    | {"segmentation": SQUARE}
]
MESSAGE = "segmentation needs a mask on every gold annotation; 1 of 2 have none"


def test_evaluate_refuses_it_for_results_and_for_other_formats(tmp_path: Path) -> None:
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps(GOLD))
    coco = tmp_path / "results.json"
    coco.write_text(json.dumps(RESULTS))
    empty = tmp_path / "empty.json"  # read through the format layer, not the COCO loader
    empty.write_text("[]")
    for labels in (coco, empty):
        result = CliRunner().invoke(
            app,
            ["evaluate", "--task", "segmentation", "--gold", str(gold), "--labels", f"v={labels}"],
        )
        assert result.exit_code != 0, result.output
        assert MESSAGE in " ".join(result.output.split()), result.output


def test_the_api_refuses_the_gold_import_with_a_422(
    client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    lead = auth["lead"]
    project = client.post(
        "/projects",
        json={
            "name": "p",
            "task_type": "segmentation",
            "ontology": {"classes": [{"name": "car"}]},
        },
        headers=lead,
    ).json()
    golden = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    response = client.post(
        f"/golden-sets/{golden['id']}/import",
        params={"format": "coco", "filename": "gold.json"},
        content=json.dumps(GOLD).encode(),
        headers=lead,
    )
    assert response.status_code == 422, response.text
    assert MESSAGE in response.text
    # nothing half-written: the golden set has no version
    versions = client.get(f"/golden-sets/{golden['id']}/versions", headers=lead).json()
    assert versions["count"] == 0
