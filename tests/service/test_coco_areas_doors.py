"""COCO's own areas through every door: APs/APm/APl equal pycocotools on real COCO gold.

cocoapi's ``instances_val2014_100.json`` gives each annotation the area of its polygon or
RLE, which sorts it into small/medium/large; its box area would sort many differently. The
12 stats of ``bakeoff evaluate``, of the API's ``/results`` after a gold and a vendor
import (raw JSON and the Python client) must equal ``COCOeval`` to 1e-9, for boxes, for
masks, and for mask results that also carry boxes (detectron2 writes both; ``loadRes``
then takes each result's *box* area, not its mask's). The gold exported as COCO gives the
file's areas back.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pycocotools import mask as mask_utils
from typer.testing import CliRunner

from metrics.detection import COCO_STAT_NAMES
from service.cli.main import app
from service.client import BakeoffClient
from tests.metrics._coco_reference import run_cocoeval

COCO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coco_val2014_100"
GOLD = COCO / "instances_val2014_100.json"

pytestmark = pytest.mark.shared_data(COCO.name)

# case id -> (task type, COCOeval iouType, results file stem or the boxed variant)
CASES = {
    "boxes": ("detection", "bbox", "fakebbox"),
    "masks": ("segmentation", "segm", "fakesegm"),
    "masks_with_boxes": ("segmentation", "segm", "boxed"),
}


def _gold() -> dict[str, Any]:
    return dict(json.loads(GOLD.read_text()))


def _results(stem: str) -> list[dict[str, Any]]:
    if stem != "boxed":
        return list(json.loads((COCO / f"instances_val2014_{stem}100_results.json").read_text()))
    results = copy.deepcopy(_results("fakesegm"))
    for r in results:  # each result's tight box, as detectron2 writes beside the mask
        r["bbox"] = [float(v) for v in mask_utils.toBbox(r["segmentation"])]
    return results


def _reference(results: list[dict[str, Any]], iou_type: str) -> dict[str, float]:
    ev = run_cocoeval(_gold(), results, iou_type)
    return dict(zip(COCO_STAT_NAMES, (float(v) for v in ev.stats), strict=True))


def _assert_same(got: dict[str, float], want: dict[str, float]) -> None:
    assert list(got) == list(want)
    for name, value in want.items():
        assert got[name] == pytest.approx(value, abs=1e-9), name


def test_the_fixture_needs_the_files_areas() -> None:
    """Guard: with box areas in place of COCO's, the size-split stats change, so the
    doors below could not pass by using box areas."""
    gold = _gold()
    boxes = [a["bbox"][2] * a["bbox"][3] for a in gold["annotations"]]
    assert sum(abs(b - a["area"]) > 1 for b, a in zip(boxes, gold["annotations"], strict=True))
    results = _results("fakebbox")
    true = _reference(results, "bbox")
    for a, b in zip(gold["annotations"], boxes, strict=True):
        a["area"] = b
    ev = run_cocoeval(gold, results, "bbox")
    wrong = dict(zip(COCO_STAT_NAMES, (float(v) for v in ev.stats), strict=True))
    assert any(abs(wrong[k] - true[k]) > 1e-3 for k in ("AP_small", "AP_medium", "AP_large"))
    # and a mask result's box area differs from its mask area (the boxed case's point)
    boxed = _results("boxed")
    assert _reference(boxed, "segm") != _reference(_results("fakesegm"), "segm")


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bakeoff_evaluate_equals_cocoeval(case: str, tmp_path: Path) -> None:
    task, iou_type, stem = CASES[case]
    results = _results(stem)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    out = CliRunner().invoke(
        app,
        ["evaluate", "--task", task, "--gold", str(GOLD), "--labels", f"fake={path}", "--json"],
    )
    assert out.exit_code == 0, out.output
    _assert_same(json.loads(out.stdout)["systems"]["fake"]["coco"], _reference(results, iou_type))


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_api_and_client_equal_cocoeval(
    case: str,
    bk: BakeoffClient,
    client: TestClient,
    auth: dict[str, dict[str, str]],
    tmp_path: Path,
) -> None:
    task, iou_type, stem = CASES[case]
    results = _results(stem)
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    classes = [c["name"] for c in _gold()["categories"]]
    project = bk.create_project("coco", task, classes)  # type: ignore[arg-type]
    version = bk.create_golden_set(project.id, "val100", GOLD, format="coco")
    instructions = bk.add_instructions(project.id, "Box every object")
    vendor = bk.create_vendor("fake")
    bakeoff = bk.create_bakeoff(project.id, "b", version.version_id, instructions.id, [vendor.id])
    stored = bk.add_vendor_labels(bakeoff.id, vendor.id, path)
    assert stored.stored == 99  # one image has no results: COCO AP counts its gold as missed
    want = _reference(results, iou_type)
    (through_client,) = bk.results(bakeoff.id).vendors
    assert through_client.scores is not None and through_client.scores.coco is not None
    _assert_same(dict(through_client.scores.coco), want)
    raw = client.get(f"/bakeoffs/{bakeoff.id}/results", headers=auth["lead"])
    assert raw.status_code == 200, raw.text
    _assert_same(raw.json()["vendors"][0]["scores"]["coco"], want)


def test_gold_keeps_and_exports_the_files_areas_and_ids(
    client: TestClient, bk: BakeoffClient, auth: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    """The exported COCO gold has the file's areas, image ids and category ids, so the
    original results array scores against it as against the original (= COCOeval)."""
    gold = _gold()
    classes = [c["name"] for c in gold["categories"]]
    project = bk.create_project("coco", "detection", classes)
    version = bk.create_golden_set(project.id, "val100", GOLD, format="coco")
    exported = client.get(
        f"/golden-sets/{version.golden_set_id}/versions/1/export",
        params={"format": "coco"},
        headers=auth["lead"],
    )
    assert exported.status_code == 200, exported.text
    back = exported.json()["annotations"]
    want = sorted((a["image_id"], a["area"]) for a in gold["annotations"])
    got = sorted((a["image_id"], a["area"]) for a in back)
    np.testing.assert_allclose([a for _, a in got], [a for _, a in want], rtol=0, atol=0)
    assert [i for i, _ in got] == [i for i, _ in want]
    ids = {c["name"]: c["id"] for c in exported.json()["categories"]}
    assert ids == {c["name"]: c["id"] for c in gold["categories"]}
    path = tmp_path / "exported.json"
    path.write_bytes(exported.content)
    results = COCO / "instances_val2014_fakebbox100_results.json"
    out = CliRunner().invoke(
        app,
        ["evaluate", "--task", "detection", "--gold", str(path), "--labels", f"fake={results}"]
        + ["--json"],
    )
    assert out.exit_code == 0, out.output
    coco = json.loads(out.stdout)["systems"]["fake"]["coco"]
    _assert_same(coco, _reference(_results("fakebbox"), "bbox"))
