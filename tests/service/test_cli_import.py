"""``bakeoff import gold|labels`` against a migrated SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

import service.models as m
from service.cli.import_ import guess_format
from service.cli.main import app
from service.core.config import get_settings
from service.core.db import get_engine
from service.core.migrations import upgrade_head
from service.domain import bakeoffs, golden_sets, projects, vendors

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "classification"


@pytest.fixture
def ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    monkeypatch.setenv("BAKEOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    get_engine.cache_clear()
    upgrade_head(get_settings().database_url)
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="digits",
                task_type="classification",
                ontology={"classes": [{"name": str(d)} for d in range(10)]},
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session,
            project_id=project.id,
            data=m.InstructionsVersionCreate(text="Which digit?"),
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="gold", project_id=project.id)
        )
        vendor = vendors.create_vendor(session=session, data=m.VendorCreate(name="acme"))
        assert golden.id is not None and vendor.id is not None and instructions.id is not None
        result = {"project": project.id, "golden": golden.id, "vendor": vendor.id}
        result["instructions"] = instructions.id
    yield result
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def _bakeoff(ids: dict[str, int]) -> int:
    with Session(get_engine()) as session:
        version = session.exec(
            select(m.GoldenSetVersion).where(m.GoldenSetVersion.golden_set_id == ids["golden"])
        ).one()
        assert version.id is not None
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="q4",
                project_id=ids["project"],
                golden_set_version_id=version.id,
                instructions_version_id=ids["instructions"],
                vendor_ids=[ids["vendor"]],
            ),
        )
        assert bakeoff.id is not None
        return bakeoff.id


def _count(model: type[m.GoldLabel] | type[m.VendorLabel]) -> int:
    with Session(get_engine()) as session:
        return len(session.exec(select(model)).all())


def test_import_gold_then_labels_once(ids: dict[str, int]) -> None:
    runner = CliRunner()
    gold = runner.invoke(app, ["import", "gold", str(ids["golden"]), str(EXAMPLES / "gold.csv")])
    assert gold.exit_code == 0, gold.output
    assert "stored 300 gold labels" in gold.stdout and "version 1" in gold.stdout
    assert _count(m.GoldLabel) == 300

    bakeoff_id = _bakeoff(ids)
    args = ["import", "labels", str(bakeoff_id), str(ids["vendor"]), str(EXAMPLES / "acme.csv")]
    first = runner.invoke(app, [*args, "--idempotency-key", "acme-q4"])
    assert first.exit_code == 0, first.output
    stored = _count(m.VendorLabel)
    assert stored == 288
    again = runner.invoke(app, [*args, "--idempotency-key", "acme-q4"])
    assert again.exit_code == 0 and "already imported" in again.stdout
    assert _count(m.VendorLabel) == stored


def test_a_bad_row_stores_nothing_and_names_the_row(ids: dict[str, int], tmp_path: Path) -> None:
    broken = tmp_path / "gold.csv"
    broken.write_text("item_id,label\na,1\nb,2\na,3\n")
    result = CliRunner().invoke(app, ["import", "gold", str(ids["golden"]), str(broken)])
    assert result.exit_code == 1
    message = result.stderr.strip()
    assert message.startswith("error: gold.csv") and "row" in message and "'a'" in message
    assert len(message.splitlines()) == 1
    assert _count(m.GoldLabel) == 0


def test_unknown_golden_set_is_one_clear_line(ids: dict[str, int]) -> None:
    result = CliRunner().invoke(app, ["import", "gold", "999", str(EXAMPLES / "gold.csv")])
    assert result.exit_code == 1
    assert "999" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.csv", "item_id,label\n", "csv"),
        ("a.jsonl", "{}\n", "jsonl"),
        ("a.json", '{"images": []}', "coco"),
        ("a.json", ' [{"data": {}}]', "labelstudio"),
    ],
    ids=["csv", "jsonl", "coco", "labelstudio"],
)
def test_format_is_guessed_from_the_file(
    tmp_path: Path, name: str, content: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert guess_format(path) == expected


ODM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "review_odm"


@pytest.mark.shared_data("review_odm")
def test_a_voc_folder_is_imported_as_the_api_imports_its_zip(
    ids: dict[str, int], tmp_path: Path
) -> None:
    """The CLI reads a VOC export folder (format detected) like the API reads its zip."""
    import json

    gts = ODM / "data" / "database" / "gts"
    coco = gts / "coco_format_v1" / "instances_default.json"
    classes = [
        c["name"] for c in sorted(json.loads(coco.read_text())["categories"], key=lambda c: c["id"])
    ]
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="voc",
                task_type="detection",
                ontology={"classes": [{"name": c} for c in classes]},
            ),
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="voc-gold", project_id=project.id or 0)
        )
        instructions = projects.create_instructions(
            session=session,
            project_id=project.id or 0,
            data=m.InstructionsVersionCreate(text="Box every object"),
        )
        ids.update(
            project=project.id or 0, golden=golden.id or 0, instructions=instructions.id or 0
        )
    runner = CliRunner()
    gold = runner.invoke(app, ["import", "gold", str(ids["golden"]), str(coco)])
    assert gold.exit_code == 0, gold.output
    bakeoff_id = _bakeoff(ids)
    result = runner.invoke(
        app,
        ["import", "labels", str(bakeoff_id), str(ids["vendor"]), str(gts / "pascalvoc_format")],
    )
    assert result.exit_code == 0, result.output
    assert "stored 100" in result.output
    unknown = tmp_path / "notes.txt"
    unknown.write_text("# not labels\n")
    refused = runner.invoke(
        app, ["import", "labels", str(bakeoff_id), str(ids["vendor"]), str(unknown)]
    )
    assert refused.exit_code == 1 and "no known format fits" in refused.output
