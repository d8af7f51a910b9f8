"""``bakeoff export gold|labels`` against a migrated SQLite file: every format the API
writes, the same file as the API's export, and read back by ``bakeoff import``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

import service.models as m
from service.cli.main import app
from service.core.db import get_engine
from service.domain import bakeoffs, golden_sets, label_export, projects, vendors

GOLD_COCO: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 640, "height": 480},
        {"id": 2, "file_name": "b.jpg", "width": 333, "height": 517},
    ],
    "categories": [{"id": 1, "name": "car"}, {"id": 2, "name": "person"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 20, 100, 50], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 50, 200], "iscrowd": 0},
    ],
}
LABELS = [
    {"item_id": "a.jpg", "label": [{"category": "car", "bbox": [10.5, 20.0, 100.0, 48.0]}]},
    {"item_id": "b.jpg", "label": [{"category": "person", "bbox": [4.0, 6.0, 52.0, 198.0]}]},
]
# what each export format holds of boxes (csv, doccano and prodigy hold no boxes)
BOX_FORMATS = ("jsonl", "coco", "labelstudio", "voc", "yolo", "cvat", "sagemaker")
SUFFIX = {"voc": "zip", "yolo": "zip", "cvat": "xml", "sagemaker": "manifest", "jsonl": "jsonl"}


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def ids(tmp_path: Path, cli_database: None) -> dict[str, int]:
    """A detection bake-off with COCO gold and one vendor's labels, imported by the CLI."""
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="boxes",
                task_type="detection",
                ontology={"classes": [{"name": "car"}, {"name": "person"}]},
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="Box")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="gold", project_id=project.id)
        )
        vendor = vendors.create_vendor(session=session, data=m.VendorCreate(name="acme"))
        assert golden.id is not None and vendor.id is not None and instructions.id is not None
        found = {"project": project.id, "golden": golden.id, "vendor": vendor.id}
    gold = tmp_path / "gold.json"
    gold.write_text(json.dumps(GOLD_COCO))
    _run("import", "gold", str(found["golden"]), str(gold), "--format", "coco")
    with Session(get_engine()) as session:
        version = golden_sets.latest_version(session=session, golden_set_id=found["golden"])
        assert version is not None and version.id is not None
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="q4",
                project_id=found["project"],
                golden_set_version_id=version.id,
                instructions_version_id=instructions.id,
                vendor_ids=[found["vendor"]],
            ),
        )
        assert bakeoff.id is not None
        found["bakeoff"] = bakeoff.id
    labels = tmp_path / "acme.jsonl"
    labels.write_text("".join(json.dumps(r) + "\n" for r in LABELS))
    _run("import", "labels", str(bakeoff.id), str(found["vendor"]), str(labels))
    return found


@pytest.mark.parametrize("fmt", BOX_FORMATS)
def test_exported_labels_are_read_back_as_the_same_answers(
    ids: dict[str, int], tmp_path: Path, fmt: str
) -> None:
    out = tmp_path / f"export.{SUFFIX.get(fmt, 'json')}"
    bakeoff, vendor = str(ids["bakeoff"]), str(ids["vendor"])
    said = _run("export", "labels", bakeoff, vendor, str(out), "--format", fmt)
    assert f"wrote {out}" in said
    # the same file as the API's export (the one domain function both doors use)
    with Session(get_engine()) as session:
        plan = label_export.vendor_labels_export(
            session=session,
            bakeoff_id=ids["bakeoff"],
            vendor_id=ids["vendor"],
            fmt=fmt,  # type: ignore[arg-type]
        )
        api = tmp_path / "api.out"
        plan.save(api)
    if fmt not in ("voc", "yolo"):  # zips carry their write time
        assert out.read_bytes() == api.read_bytes()
    again = _run("import", "labels", bakeoff, vendor, str(out), "--format", fmt)
    assert "stored 0 labels (2 read, 2 duplicates)" in again


@pytest.mark.parametrize("fmt", ["jsonl", "coco", "labelstudio"])  # the gold import's formats
def test_exported_gold_is_imported_back_as_the_same_gold(
    ids: dict[str, int], tmp_path: Path, fmt: str
) -> None:
    golden = str(ids["golden"])
    out = tmp_path / f"gold.{SUFFIX.get(fmt, 'json')}"
    _run("export", "gold", golden, "1", str(out), "--format", fmt)
    _run("import", "gold", golden, str(out), "--format", fmt)
    first, second = tmp_path / "v1.jsonl", tmp_path / "v2.jsonl"
    _run("export", "gold", golden, "1", str(first))
    _run("export", "gold", golden, "2", str(second))
    labels = [json.loads(line)["label"] for line in first.read_text().splitlines()]
    again = [json.loads(line)["label"] for line in second.read_text().splitlines()]
    if fmt == "labelstudio":  # percentages of the image, and no COCO area, in that format
        for box in (b for boxes in labels for b in boxes):
            del box["area"]
        for got, want in zip(again, labels, strict=True):
            assert [b["category"] for b in got] == [b["category"] for b in want]
            for b, w in zip(got, want, strict=True):
                assert b["bbox"] == pytest.approx(w["bbox"], abs=1e-9)
        return
    assert again == labels


def test_a_format_that_cannot_hold_boxes_is_one_clear_line(
    ids: dict[str, int], tmp_path: Path
) -> None:
    out = tmp_path / "labels.jsonl"
    result = CliRunner().invoke(
        app,
        ["export", "labels", str(ids["bakeoff"]), str(ids["vendor"]), str(out), "-f", "doccano"],
    )
    assert result.exit_code == 1
    assert "doccano" in result.output and "detection" in result.output
    assert not out.exists()
    unnamed = CliRunner().invoke(
        app, ["export", "gold", str(ids["golden"]), "1", str(tmp_path / "gold.json")]
    )
    assert unnamed.exit_code == 1 and "--format" in unnamed.output
