"""COCO crowd regions (``iscrowd: 1``, RLE) in gold: kept by every door, ignored as
pycocotools ignores them.

The same gold and results give the same 12 COCO numbers from ``bakeoff evaluate``, from the
API after a gold import and a vendor import, and from ``pycocotools`` ``COCOeval``; boxes
drawn inside a crowd region are neither true nor false positives, and the crowd region is
not a box to find. (The file's areas are the box areas here; ``test_coco_areas_doors``
checks COCO's own polygon areas.)
"""

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
from typer.testing import CliRunner

from metrics.detection import COCO_STAT_NAMES
from service.cli.main import app


def _crowd_rle(x: int, y: int, w: int, h: int, size: int = 100) -> dict[str, Any]:
    m = np.zeros((size, size), dtype=np.uint8)
    m[y : y + h, x : x + w] = 1
    flat = m.flatten(order="F")  # COCO's uncompressed RLE runs down the columns
    counts, last, run = [], 0, 0
    for v in flat.tolist():
        if v != last:
            counts.append(run)
            last, run = v, 0
        run += 1
    counts.append(run)
    return {"size": [size, size], "counts": [int(c) for c in counts]}


def _ann(i: int, image: int, cat: int, bbox: list[float], crowd: int = 0) -> dict[str, Any]:
    a: dict[str, Any] = {
        "id": i,
        "image_id": image,
        "category_id": cat,
        "bbox": bbox,
        "area": bbox[2] * bbox[3],
        "iscrowd": crowd,
    }
    a["segmentation"] = _crowd_rle(*(int(v) for v in bbox)) if crowd else []
    return a


GOLD: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 100},
        {"id": 2, "file_name": "b.jpg", "width": 100, "height": 100},
    ],
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
    "annotations": [
        _ann(1, 1, 1, [10, 10, 20, 20]),
        _ann(2, 1, 1, [50, 50, 40, 40], crowd=1),
        _ann(3, 2, 1, [0, 0, 30, 30]),
        _ann(4, 2, 2, [40, 40, 20, 20]),
    ],
}
RESULTS = [
    {"image_id": 1, "category_id": 1, "bbox": [11, 10, 20, 20], "score": 0.9},
    {"image_id": 1, "category_id": 1, "bbox": [55, 55, 10, 10], "score": 0.8},  # in the crowd
    {"image_id": 1, "category_id": 1, "bbox": [60, 60, 10, 10], "score": 0.7},  # in the crowd
    {"image_id": 2, "category_id": 1, "bbox": [0, 0, 30, 28], "score": 0.6},
    {"image_id": 2, "category_id": 2, "bbox": [70, 70, 10, 10], "score": 0.5},  # false positive
]


def _pycocotools() -> dict[str, float]:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(GOLD)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(RESULTS)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(COCO_STAT_NAMES, (float(v) for v in ev.stats), strict=True))


def _assert_same(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_crowd_regions_change_the_numbers() -> None:
    """Guard: without the crowd rule the two boxes inside it would be false positives."""
    want = _pycocotools()
    no_crowd = copy.deepcopy(GOLD)
    no_crowd["annotations"] = [a for a in no_crowd["annotations"] if not a["iscrowd"]]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = no_crowd
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(RESULTS)), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert float(ev.stats[0]) < want["AP"]


def test_bakeoff_evaluate_ignores_crowd_regions_like_pycocotools(tmp_path: Path) -> None:
    gold, results = tmp_path / "gold.json", tmp_path / "results.json"
    gold.write_text(json.dumps(GOLD))
    results.write_text(json.dumps(RESULTS))
    out = CliRunner().invoke(
        app,
        ["evaluate", "--task", "detection", "--gold", str(gold), "--labels", f"det={results}"]
        + ["--json"],
    )
    assert out.exit_code == 0, out.output
    system = json.loads(out.stdout)["systems"]["det"]
    _assert_same(system["coco"], _pycocotools())
    # per-image F1: a.jpg 1 matched of 1 gold + 1 counted box (the crowd's two are ignored)
    assert system["metrics"]["box_precision"]["value"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("label_format", ["coco", None], ids=["named", "detected"])
def test_api_keeps_crowd_regions_on_gold_import_and_scores_like_pycocotools(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any, label_format: str | None
) -> None:
    """A COCO results array is read with ``?format=coco`` or with no format at all (the
    API tells it from the content, as the CLI and the client do)."""
    lead = auth["lead"]
    project = client.post(
        "/projects",
        json={
            "name": "p",
            "task_type": "detection",
            "ontology": {"classes": [{"name": "car"}, {"name": "person"}]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    imported = client.post(
        f"/golden-sets/{gs['id']}/import",
        params={"format": "coco", "filename": "gold.json"},
        content=json.dumps(GOLD).encode(),
        headers=lead,
    )
    assert imported.status_code == 201, imported.text
    stored = client.get(f"/golden-sets/{gs['id']}/versions/1/labels", headers=lead).json()
    crowd = [o for g in stored["data"] for o in g["value"] if o.get("iscrowd")]
    assert crowd == [
        {"category": "car", "bbox": [50.0, 50.0, 40.0, 40.0], "iscrowd": True, "area": 1600.0}
    ]
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
            "vendor_ids": [key_vendor.id],
        },
        headers=lead,
    ).json()
    response = client.post(
        f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels/import",
        params={"format": label_format} if label_format else {},
        content=json.dumps(RESULTS).encode(),
        headers=auth["vendor"],
    )
    assert response.status_code == 200, response.text
    result = client.get(f"/bakeoffs/{bakeoff['id']}/results", headers=lead)
    assert result.status_code == 200, result.text
    (vendor,) = result.json()["vendors"]
    _assert_same(vendor["scores"]["coco"], _pycocotools())
    assert vendor["metrics"]["box_precision"] == pytest.approx(2 / 3)
