"""COCO's own areas through every door: APs/APm/APl equal pycocotools on real COCO gold.

cocoapi's ``instances_val2014_100.json`` gives each annotation the area of its polygon or
RLE, which sorts it into small/medium/large; its box area would sort many differently. The
12 stats of ``bakeoff evaluate``, of the API's ``/results`` after a gold and a vendor
import (raw JSON and the Python client) must equal ``COCOeval`` to 1e-9, for boxes, for
masks, and for mask results that also carry boxes (detectron2 writes both; ``loadRes``
then takes each result's *box* area, not its mask's); ``bakeoff import`` gold and labels
then the results give the same. The gold exported as COCO gives the file's areas and ids
back.
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
from sqlmodel import Session
from typer.testing import CliRunner

import service.models as m
from metrics.detection import COCO_STAT_NAMES
from service.cli.main import app
from service.client import BakeoffClient
from service.core.db import get_engine
from service.domain import bakeoffs, golden_sets, projects, vendors
from service.domain.results import bakeoff_results
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


def test_bakeoff_import_then_results_equal_cocoeval(cli_database: None) -> None:
    """The CLI's import door (gold, then the vendor's results array) on a SQLite file."""
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="coco",
                task_type="detection",
                ontology={"classes": [{"name": c["name"]} for c in _gold()["categories"]]},
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="Box")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="val100", project_id=project.id)
        )
        vendor = vendors.create_vendor(session=session, data=m.VendorCreate(name="fake"))
        assert instructions.id is not None and golden.id is not None and vendor.id is not None
        ids = (project.id, instructions.id, golden.id, vendor.id)
    runner = CliRunner()
    gold = runner.invoke(app, ["import", "gold", str(ids[2]), str(GOLD)])
    assert gold.exit_code == 0, gold.output
    with Session(get_engine()) as session:
        version = golden_sets.latest_version(session=session, golden_set_id=ids[2])
        assert version is not None and version.id is not None
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="b",
                project_id=ids[0],
                golden_set_version_id=version.id,
                instructions_version_id=ids[1],
                vendor_ids=[ids[3]],
            ),
        )
        assert bakeoff.id is not None
        bakeoff_id = bakeoff.id
    results = COCO / "instances_val2014_fakebbox100_results.json"
    labels = runner.invoke(app, ["import", "labels", str(bakeoff_id), str(ids[3]), str(results)])
    assert labels.exit_code == 0, labels.output
    with Session(get_engine()) as session:
        (vendor_result,) = bakeoff_results(session=session, bakeoff_id=bakeoff_id).vendors
    assert vendor_result.scores is not None and vendor_result.scores.coco is not None
    _assert_same(dict(vendor_result.scores.coco), _reference(_results("fakebbox"), "bbox"))
