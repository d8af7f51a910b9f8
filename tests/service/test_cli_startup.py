"""``bakeoff`` starts without the heavy packages, names its database, and hints at the task.

The import checks run ``--help`` in a fresh interpreter and read ``sys.modules`` afterwards:
they fail whenever a command module imports pandas, scikit-learn, plotly, Numba, torch, NumPy,
SciPy or SQLAlchemy at import time, however fast the machine is.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, get_args

import pytest
from typer.testing import CliRunner

from service.cli import _choices
from service.cli._db import DEFAULT_DATABASE_URL, describe_database
from service.cli.main import app

REPO = Path(__file__).resolve().parents[2]
HEAVY = (
    "pandas",
    "sklearn",
    "plotly",
    "numba",
    "torch",
    "numpy",
    "scipy",
    "sqlalchemy",
    "sqlmodel",
    "cleanlab",
    "pycocotools",
)

_PROBE = """
import json, sys
sys.argv = ["bakeoff", *json.loads(sys.argv[1])]
import service.cli.main
try:
    service.cli.main.app()
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(args: list[str], env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    last = done.stdout.strip().splitlines()[-1]
    found = json.loads(last)
    return int(found["code"] or 0), {m.split(".")[0] for m in found["modules"]}, done.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["evaluate", "--help"],
        ["agreement", "--help"],
        ["report", "--help"],
        ["import", "--help"],
        ["import", "gold", "--help"],
        ["keys", "--help"],
        ["run", "--help"],
        ["serve", "--help"],
        ["worker", "--help"],
        ["demo", "--help"],
    ],
    ids=lambda a: " ".join(a),
)
def test_help_imports_no_heavy_package(args: list[str]) -> None:
    code, modules, output = _modules_after(args)
    assert code == 0, output
    assert "Usage:" in output
    loaded = sorted(modules & set(HEAVY))
    assert loaded == [], f"`bakeoff {' '.join(args)}` imported {loaded}"


@pytest.mark.parametrize("command", ["report", "run", "import", "keys", "serve", "worker"])
def test_database_commands_name_the_database_in_help(command: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BAKEOFF_DATABASE_URL"}
    code, _, output = _modules_after([command, "--help"], env=env)
    assert code == 0
    default = REPO / "bakeoff-data" / "bakeoff.db"
    assert f"Database: sqlite:///{default}\n" in output  # on one line, never wrapped
    assert "BAKEOFF_DATABASE_URL unset" in output
    env["BAKEOFF_DATABASE_URL"] = "postgresql+psycopg://bob:s3cret@db:5432/bakeoff"
    code, _, output = _modules_after([command, "--help"], env=env)
    assert "Database: postgresql+psycopg://bob:***@db:5432/bakeoff" in output
    assert "s3cret" not in output and "unset" not in output


@pytest.mark.parametrize(
    ("copy", "original"),
    [
        ("EvalTask", "service.evaluation:EvalTask"),
        ("AgreementTask", "service.evaluation:AgreementTask"),
        ("KappaWeights", "metrics.classification:KappaWeights"),
        ("Level", "metrics.agreement:Level"),
        ("LabelFormat", "service.domain.label_io:LabelFormat"),
        ("GoldFormat", "service.domain.label_io:GoldFormat"),
        ("ReadFormat", "adapters.formats.registry:FormatName"),
        ("Role", "service.models:Role"),
    ],
    ids=lambda v: str(v),
)
def test_option_choices_equal_the_originals(copy: str, original: str) -> None:
    import importlib

    module, name = original.split(":")
    real = getattr(importlib.import_module(module), name)
    assert get_args(getattr(_choices, copy)) == get_args(real)


def test_default_database_matches_the_settings() -> None:
    from service.core.config import Settings

    assert Settings.model_fields["database_url"].default == DEFAULT_DATABASE_URL


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql+psycopg://bob:s3cret@db:5432/x", "postgresql+psycopg://bob:***@db:5432/x"),
        ("postgresql+psycopg://bob@db/x", "postgresql+psycopg://bob@db/x"),
        ("sqlite://", "sqlite:// (in memory)"),
        ("sqlite:///:memory:", "sqlite:///:memory: (in memory)"),
        ("sqlite:////abs/b.db", "sqlite:////abs/b.db"),
    ],
    ids=["password", "no-password", "memory", "memory-named", "absolute"],
)
def test_describe_database(url: str, expected: str) -> None:
    assert describe_database(url) == expected


def test_describe_database_makes_a_relative_sqlite_path_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert describe_database("sqlite:///./data/b.db") == f"sqlite:///{tmp_path / 'data/b.db'}"


# --------------------------------------------------------------------------- not found


@pytest.fixture
def empty_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the CLI in ``tmp_path`` with the default database (BAKEOFF_DATABASE_URL unset)."""
    from service.core.config import get_settings
    from service.core.db import get_engine

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BAKEOFF_DATABASE_URL", raising=False)
    monkeypatch.setenv("BAKEOFF_AUTO_MIGRATE", "true")
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield tmp_path
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_not_found_names_the_database_and_the_demos(empty_db: Path) -> None:
    demo = empty_db / "bakeoff-data" / "demo" / "bakeoff.db"
    demo.parent.mkdir(parents=True)
    demo.write_bytes(b"")
    result = CliRunner().invoke(app, ["report", "2", "--json", "-"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    used = empty_db / "bakeoff-data" / "bakeoff.db"
    assert "not found" in lines[0]
    assert f"in database sqlite:///{used}" in lines[0]
    assert f"export BAKEOFF_DATABASE_URL=sqlite:///{demo}" in lines[0]


def test_keys_name_the_database(empty_db: Path) -> None:
    created = CliRunner().invoke(app, ["keys", "create", "--role", "admin", "--name", "x"])
    assert created.exit_code == 0, created.output
    assert f"created in sqlite:///{empty_db / 'bakeoff-data' / 'bakeoff.db'}" in created.stderr
    assert "database" not in created.stdout  # stdout is the key alone


# --------------------------------------------------------------------------- wrong task


def _coco(path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "images": [{"id": 1, "width": 10, "height": 10, "file_name": "a.png"}],
                "annotations": [
                    {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "area": 4}
                ],
                "categories": [{"id": 1, "name": "car"}],
            }
        )
    )
    return path


@pytest.mark.parametrize("which", ["gold", "labels"])
def test_coco_given_to_classification_says_use_detection(tmp_path: Path, which: str) -> None:
    coco = _coco(tmp_path / "instances.json")
    csv = tmp_path / "gold.csv"
    csv.write_text("item_id,label\na,cat\n")
    gold, labels = (coco, csv) if which == "gold" else (csv, coco)
    result = CliRunner().invoke(
        app,
        ["evaluate", "--task", "classification", "--gold", str(gold), "--labels", f"a={labels}"],
    )
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: instances.json looks like COCO: use --task detection or segmentation"
    )
    assert "images" not in result.stderr  # not the JSON printed as a header


def test_csv_given_to_detection_says_use_classification(tmp_path: Path) -> None:
    csv = tmp_path / "gold.csv"
    csv.write_text("item_id,label\na,cat\n")
    result = CliRunner().invoke(
        app, ["evaluate", "--task", "detection", "--gold", str(csv), "--labels", f"a={csv}"]
    )
    assert result.exit_code == 1
    assert "gold.csv looks like CSV: use --task classification or multilabel" in result.stderr


def test_a_real_csv_error_is_kept(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("item_id,label\na,cat\na,dog\n")
    result = CliRunner().invoke(
        app,
        ["evaluate", "--task", "classification", "--gold", str(gold), "--labels", f"a={gold}"],
    )
    assert result.exit_code == 1
    assert "duplicate" in result.stderr and "looks like" not in result.stderr


def test_export_format_choices_equal_the_api_formats() -> None:
    """``bakeoff export --format`` offers every format the API's export endpoints write."""
    from service.domain.label_io import FILE_FORMATS, FORMATS

    assert get_args(_choices.ExportFormat) == (*FORMATS, *FILE_FORMATS)


def test_main_freezes_every_object_on_the_way_out(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process's last collection is left nothing to walk (0.4 s after a large report)."""
    import gc

    from service.cli import _app
    from service.cli.main import main

    monkeypatch.setattr(sys, "argv", ["bakeoff", "--help"])
    monkeypatch.setattr(_app, "_ENDS_WITH_COMMAND", [False])  # this process goes on
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as done:
            main()
        assert done.value.code == 0
        assert gc.get_freeze_count() > 0
        assert _app.ends_with_command()
    finally:
        gc.unfreeze()


def test_the_bakeoff_script_runs_main() -> None:
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'bakeoff = "service.cli.main:main"' in text
