"""Label Studio ``KeyPointLabels``: a real export (label-studio-sdk's converter fixture) read
as COCO poses, and scored by ``bakeoff evaluate`` as pycocotools scores the same points."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from typer.testing import CliRunner

from adapters.base import Keypoints
from adapters.formats import FormatError
from adapters.formats import labelstudio as ls
from metrics.keypoints import KEYPOINT_STAT_NAMES
from service.cli.main import app

SDK = Path(__file__).resolve().parents[1] / "data" / "external" / "label_studio_sdk"
EXPORT = SDK / "data_keypoints.json"
NAMES = tuple(
    label.attrib["value"]
    for label in ET.parse(SDK / "label_config_keypoints.xml").getroot().iter("Label")
    if label.attrib["value"] != "person"
)


def _by_hand() -> tuple[list[float], list[float]]:
    """The export's points and box in pixels, converted here from its percentages."""
    result = json.loads(EXPORT.read_text())[0]["annotations"][0]["result"]
    flat = [0.0] * (3 * len(NAMES))
    bbox: list[float] = []
    for region in result:
        v = region.get("value", {})
        if region["type"] == "keypointlabels":
            w, h = region["original_width"], region["original_height"]
            j = NAMES.index(v["keypointlabels"][0])
            flat[3 * j : 3 * j + 3] = [v["x"] / 100 * w, v["y"] / 100 * h, 2.0]
        elif region["type"] == "rectanglelabels":
            w, h = region["original_width"], region["original_height"]
            bbox = [v["x"] / 100 * w, v["y"] / 100 * h, v["width"] / 100 * w, v["height"] / 100 * h]
    return flat, bbox


def test_the_real_export_becomes_one_pose_in_the_configs_keypoint_order() -> None:
    assert len(NAMES) == 17 and NAMES[:3] == ("nose", "left_eye", "right_eye")
    (ann,) = ls.iter_annotations(EXPORT, task_type="keypoints", skeletons={"person": NAMES})
    email = json.loads(EXPORT.read_text())[0]["annotations"][0]["completed_by"]["email"]
    assert ann.item_id == "10764" and ann.annotator_id == email
    assert isinstance(ann.label, list) and len(ann.label) == 1
    pose = ann.label[0]
    assert isinstance(pose, Keypoints) and pose.category == "person"
    flat, bbox = _by_hand()
    got = [c for point in pose.points for c in point]
    np.testing.assert_allclose(got, flat, rtol=0, atol=1e-9)
    assert pose.bbox is not None
    np.testing.assert_allclose(pose.bbox, bbox, rtol=0, atol=1e-9)
    assert sum(1 for p in pose.points if p[2] > 0) == 3


def test_keypoints_need_the_keypoint_order_and_known_names() -> None:
    with pytest.raises(FormatError, match="keypoint names in order"):
        list(ls.iter_annotations(EXPORT, task_type="keypoints"))
    with pytest.raises(FormatError, match=r"'nose' is not a keypoint of 'person'"):
        list(ls.iter_annotations(EXPORT, task_type="keypoints", skeletons={"person": ("neck",)}))


def _gold(flat: list[float], bbox: list[float]) -> dict[str, Any]:
    shifted = list(flat)
    for j in range(0, len(shifted), 3):  # gold a few pixels off the annotator's points
        if shifted[j + 2] > 0:
            shifted[j] += 1.5
            shifted[j + 1] -= 1.0
    return {
        "images": [{"id": 10764, "width": 216, "height": 174}],
        "categories": [{"id": 1, "name": "person", "keypoints": list(NAMES), "skeleton": []}],
        "annotations": [
            {
                "id": 1,
                "image_id": 10764,
                "category_id": 1,
                "keypoints": shifted,
                "num_keypoints": 3,
                "bbox": bbox,
                "area": bbox[2] * bbox[3] / 4,
                "iscrowd": 0,
            }
        ],
    }


def test_bakeoff_evaluate_scores_the_export_as_pycocotools_does(tmp_path: Path) -> None:
    flat, bbox = _by_hand()
    gold = _gold(flat, bbox)
    gold_path = tmp_path / "gold.json"
    gold_path.write_text(json.dumps(gold))
    results = [{"image_id": 10764, "category_id": 1, "keypoints": flat, "score": 1.0}]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gold)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(results)), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    want = dict(zip(KEYPOINT_STAT_NAMES, (float(v) for v in ev.stats), strict=True))
    assert 0 < want["AP"] < 1  # the shift matters: not a trivial perfect score
    out = CliRunner().invoke(
        app,
        ["evaluate", "--task", "keypoints", "--gold", str(gold_path), "--labels", f"ls={EXPORT}"]
        + ["--json"],
    )
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)["systems"]["ls"]["coco"]
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_the_api_reads_the_export_as_a_vendors_labels_with_the_same_numbers(
    client: Any, auth: dict[str, dict[str, str]], key_vendor: Any, tmp_path: Path
) -> None:
    flat, bbox = _by_hand()
    gold = _gold(flat, bbox)
    lead = auth["lead"]
    project = client.post(
        "/projects",
        json={
            "name": "poses",
            "task_type": "keypoints",
            "ontology": {"classes": [{"name": "person"}], "keypoints": {"person": list(NAMES)}},
        },
        headers=lead,
    )
    assert project.status_code == 201, project.text
    pid = project.json()["id"]
    gs = client.post("/golden-sets", json={"name": "g", "project_id": pid}, headers=lead).json()
    imported = client.post(
        f"/golden-sets/{gs['id']}/import",
        params={"format": "coco", "filename": "gold.json"},
        content=json.dumps(gold).encode(),
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
    # the export's times (2025) predate this bake-off, which the service refuses: drop them
    tasks = json.loads(EXPORT.read_text())
    for task in tasks:
        for ann in task["annotations"]:
            for key in ("created_at", "updated_at", "lead_time", "draft_created_at"):
                ann.pop(key, None)
    response = client.post(
        f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels/import",
        params={"format": "labelstudio"},
        content=json.dumps(tasks).encode(),
        headers=auth["vendor"],
    )
    assert response.status_code == 200, response.text
    result = client.get(f"/bakeoffs/{bakeoff['id']}/results", headers=lead).json()
    api = result["vendors"][0]["scores"]["coco"]
    gold_path = tmp_path / "gold.json"
    gold_path.write_text(json.dumps(gold))
    out = CliRunner().invoke(
        app,
        ["evaluate", "--task", "keypoints", "--gold", str(gold_path), "--labels", f"ls={EXPORT}"]
        + ["--json"],
    )
    cli = json.loads(out.stdout)["systems"]["ls"]["coco"]
    assert api == pytest.approx(cli, abs=1e-12)


# --- Label Studio keypoint gold: the order from the labeling config -------------------

CONFIG = SDK / "label_config_keypoints.xml"
DX, DY = 1.5, -1.0  # pixels the "vendor" below moves every keypoint


def test_the_config_gives_the_keypoint_order() -> None:
    assert ls.skeletons_from_config(CONFIG.read_text()) == {"person": NAMES}
    reordered = CONFIG.read_text().replace('model_index="0"', 'model_index="99"')
    with pytest.raises(FormatError, match="0..n-1"):
        ls.skeletons_from_config(reordered)
    with pytest.raises(FormatError, match="no <KeyPointLabels>"):
        ls.skeletons_from_config('<View><Image name="i" value="$image"/></View>')


def _moved_export() -> list[dict[str, Any]]:
    """The real export with every keypoint moved by (DX, DY) pixels, times dropped."""
    tasks: list[dict[str, Any]] = json.loads(EXPORT.read_text())
    for task in tasks:
        for ann in task["annotations"]:
            for key in ("created_at", "updated_at", "lead_time", "draft_created_at"):
                ann.pop(key, None)
            for region in ann["result"]:
                if region["type"] == "keypointlabels":
                    v = region["value"]
                    v["x"] += DX / region["original_width"] * 100
                    v["y"] += DY / region["original_height"] * 100
    return tasks


def _pycocotools_for_moved() -> dict[str, float]:
    """COCOeval of the export's own pose as gold against the moved one."""
    flat, bbox = _by_hand()
    moved = list(flat)
    for j in range(0, len(moved), 3):
        if moved[j + 2] > 0:
            moved[j] += DX
            moved[j + 1] += DY
    gold = {
        "images": [{"id": 10764, "width": 216, "height": 174}],
        "categories": [{"id": 1, "name": "person", "keypoints": list(NAMES)}],
        "annotations": [
            {
                "id": 1,
                "image_id": 10764,
                "category_id": 1,
                "keypoints": flat,
                "num_keypoints": 3,
                "bbox": bbox,
                "area": bbox[2] * bbox[3],  # a pose without an area: its box's, as the engine
                "iscrowd": 0,
            }
        ],
    }
    results = [{"image_id": 10764, "category_id": 1, "keypoints": moved, "score": 1.0}]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gold
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(results), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return dict(zip(KEYPOINT_STAT_NAMES, (float(v) for v in ev.stats), strict=True))


def test_label_studio_gold_in_the_configs_order_scores_as_pycocotools(tmp_path: Path) -> None:
    want = _pycocotools_for_moved()
    assert 0 < want["AP"] < 1  # the move matters
    labels = tmp_path / "moved.json"
    labels.write_text(json.dumps(_moved_export()))
    args = ["evaluate", "--task", "keypoints", "--gold", str(EXPORT), "--labels", f"v={labels}"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code == 1 and "--label-config" in refused.output
    out = CliRunner().invoke(app, [*args, "--label-config", str(CONFIG), "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)["systems"]["v"]["coco"]
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_the_api_takes_label_studio_keypoint_gold_in_the_ontologys_order(
    client: Any, auth: dict[str, dict[str, str]], key_vendor: Any, tmp_path: Path
) -> None:
    lead = auth["lead"]

    def golden_set(ontology: dict[str, Any]) -> tuple[int, Any]:
        body = {"name": f"p{len(ontology)}", "task_type": "keypoints", "ontology": ontology}
        project = client.post("/projects", json=body, headers=lead).json()
        gs = client.post(
            "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
        ).json()
        imported = client.post(
            f"/golden-sets/{gs['id']}/import",
            params={"format": "labelstudio", "filename": "gold.json"},
            content=EXPORT.read_bytes(),
            headers=lead,
        )
        return int(project["id"]), (gs, imported)

    _, (_, refused) = golden_set({"classes": [{"name": "person"}]})
    assert refused.status_code == 422 and "keypoint names in order" in refused.text
    keypoints = {"person": list(ls.skeletons_from_config(CONFIG.read_text())["person"])}
    pid, (gs, imported) = golden_set({"classes": [{"name": "person"}], "keypoints": keypoints})
    assert imported.status_code == 201, imported.text
    stored = client.get(f"/golden-sets/{gs['id']}/versions/1/labels", headers=lead).json()
    (gold,) = stored["data"]
    (pose,) = gold["value"]
    flat, _ = _by_hand()
    np.testing.assert_allclose([c for p in pose["points"] for c in p], flat, atol=1e-9)
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
    response = client.post(
        f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels/import",
        params={"format": "labelstudio"},
        content=json.dumps(_moved_export()).encode(),
        headers=auth["vendor"],
    )
    assert response.status_code == 200, response.text
    result = client.get(f"/bakeoffs/{bakeoff['id']}/results", headers=lead).json()
    api = result["vendors"][0]["scores"]["coco"]
    for name, value in _pycocotools_for_moved().items():
        assert api[name] == pytest.approx(value, abs=1e-9), name
