"""``bakeoff evaluate`` reads every format ``bakeoff import`` reads, and the reverse; the
README's "Evaluate label files" section lists each format with one command.

Labels: both doors read through the one format layer (``adapters.formats.registry``), so
their format lists are the registry's ``FormatName``. Gold: a file in each gold format is
walked through both doors (imported as a golden set, and scored against itself).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, get_args

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

import service.models as m
from adapters.base import TaskType
from adapters.formats.registry import GOLD_FORMATS, FormatName
from service.cli import _choices
from service.cli.main import app
from service.core.db import get_engine
from service.domain import golden_sets, projects
from service.domain.label_io import GOLD_FORMATS as IMPORT_GOLD_FORMATS

README = Path(__file__).resolve().parents[2] / "README.md"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def _table_rows(section: str) -> dict[str, str]:
    """``{format: example}`` of the section's format table (first column in backticks)."""
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split(" | ")]
        found = re.fullmatch(r"`(\w+)`", cells[0]) if len(cells) >= 3 else None
        if found:
            rows[found.group(1)] = cells[-1]
    return rows


def test_both_doors_take_the_same_label_formats() -> None:
    """``bakeoff import labels --format`` offers exactly what ``evaluate`` reads."""
    assert get_args(_choices.ReadFormat) == get_args(FormatName)


def test_both_doors_take_the_same_gold_formats() -> None:
    assert IMPORT_GOLD_FORMATS == GOLD_FORMATS
    assert get_args(_choices.GoldFormat) == GOLD_FORMATS


def test_the_readme_lists_every_format_with_one_command() -> None:
    section = _section("Evaluate label files")
    rows = _table_rows(section)
    assert sorted(rows) == sorted(get_args(FormatName))
    for fmt, example in rows.items():
        commands = re.findall(r"`(bakeoff [^`]+)`", example)
        assert len(commands) == 1, (fmt, example)
        assert commands[0].startswith("bakeoff evaluate "), (fmt, commands[0])
    # and the gold formats are named there too
    for name in ("JSON Lines", "CSV", "COCO", "Label Studio", "Pascal VOC"):
        assert name in section


# --- each gold format through both doors ------------------------------------------------


def _write_gold(fmt: str, folder: Path) -> tuple[TaskType, Path]:
    """A two-item gold in ``fmt`` and its task type."""
    if fmt == "jsonl":
        path = folder / "gold.jsonl"
        path.write_text("".join(json.dumps({"item_id": k, "label": v}) + "\n" for k, v in _CLS))
        return "classification", path
    if fmt == "csv":
        path = folder / "gold.csv"
        path.write_text("item_id,label\n" + "".join(f"{k},{v}\n" for k, v in _CLS))
        return "classification", path
    if fmt == "labelstudio":
        path = folder / "gold.json"
        tasks = [
            {
                "data": {"item_id": k, "text": k},
                "annotations": [
                    {
                        "result": [
                            {
                                "type": "choices",
                                "from_name": "c",
                                "to_name": "t",
                                "value": {"choices": [v]},
                            }
                        ]
                    }  # fmt: skip
                ],
            }
            for k, v in _CLS
        ]
        path.write_text(json.dumps(tasks))
        return "classification", path
    if fmt == "coco":
        path = folder / "gold.json"
        path.write_text(json.dumps(_COCO))
        return "detection", path
    voc = folder / "voc"
    voc.mkdir()
    for im in _COCO["images"]:
        x, y, w, h = next(a["bbox"] for a in _COCO["annotations"] if a["image_id"] == im["id"])
        (voc / f"{im['file_name']}.xml").write_text(
            f"<annotation><filename>{im['file_name']}</filename><size><width>{im['width']}"
            f"</width><height>{im['height']}</height><depth>3</depth></size><object><name>car"
            f"</name><difficult>0</difficult><bndbox><xmin>{x}</xmin><ymin>{y}</ymin>"
            f"<xmax>{x + w}</xmax><ymax>{y + h}</ymax></bndbox></object></annotation>"
        )
    return "detection", voc


_CLS = [("a", "cat"), ("b", "dog")]
_COCO: dict[str, Any] = {
    "images": [
        {"id": 1, "file_name": "a.jpg", "width": 100, "height": 80},
        {"id": 2, "file_name": "b.jpg", "width": 60, "height": 90},
    ],
    "categories": [{"id": 1, "name": "car"}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 0},
        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [5, 15, 30, 40], "iscrowd": 0},
    ],
}


@pytest.mark.parametrize("fmt", GOLD_FORMATS)
def test_a_gold_file_is_read_by_evaluate_and_by_import(
    fmt: str, tmp_path: Path, cli_database: None
) -> None:
    task, path = _write_gold(fmt, tmp_path)
    scored = CliRunner().invoke(
        app,
        ["evaluate", "--task", task, "--gold", str(path), "--labels", f"self={path}", "--json"],
    )
    assert scored.exit_code == 0, scored.output
    metrics = json.loads(scored.stdout)["systems"]["self"]["metrics"]
    main = "accuracy_all" if task == "classification" else "per_image_f1_all"
    assert metrics[main]["value"] == 1.0
    classes = ["cat", "dog"] if task == "classification" else ["car"]
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="p", task_type=task, ontology={"classes": [{"name": c} for c in classes]}
            ),
        )
        assert project.id is not None
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="g", project_id=project.id)
        )
    imported = CliRunner().invoke(app, ["import", "gold", str(golden.id), str(path)])
    assert imported.exit_code == 0, imported.output
    assert "stored 2 gold labels" in imported.stdout
