"""``bakeoff report BAKEOFF_ID -o report.html --json --csv-dir`` against a SQLite file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine
from sqlmodel import SQLModel
from typer.testing import CliRunner

import service.cli.report  # noqa: F401  (registers the command even before main.py imports it)
from metrics.scoring import score
from service.cli.main import app
from service.core.config import get_settings
from service.core.db import get_engine
from tests.needs import require
from tests.service.conftest import LabelGold


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The CLI's own engine, on a SQLite file (overrides the in-memory one)."""
    monkeypatch.setenv("BAKEOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'report.db'}")
    monkeypatch.setenv("BAKEOFF_AUTO_MIGRATE", "false")
    get_settings.cache_clear()
    get_engine.cache_clear()
    eng = get_engine()
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.fixture
def labelled(seeded: Any, label_gold: LabelGold) -> Any:
    label_gold(seeded.bakeoff_id, seeded.vendor_id, seeded.gold, {"img-1"}, 1.0)
    label_gold(seeded.bakeoff_id, seeded.other_vendor_id, seeded.gold, set(), 1.0)
    return seeded


def test_report_writes_html_json_and_csv(labelled: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(labelled.bakeoff_id),
            "-o",
            str(out / "report.html"),
            "--json",
            str(out / "report.json"),
            "--csv-dir",
            str(out / "csv"),
            "--resamples",
            "200",
        ],
    )
    assert result.exit_code == 0, result.output
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Q1 animals" in html and 'id="fig-ranking"' in html
    document = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in document["ranking"]["systems"]] == [
        "Other Vendor Ltd.",
        "Key Vendor Inc.",
    ]
    assert (out / "csv" / "ranking.csv").exists()
    assert "Other Vendor Ltd." in result.stderr


@pytest.mark.parametrize("bakeoff", ["labelled", "unknown"])
def test_report_pauses_garbage_collection_and_restores_it(
    labelled: Any, bakeoff: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    import service.domain.reporting as reporting

    seen: list[bool] = []
    real = reporting.bakeoff_report

    def spy(**kwargs: Any) -> Any:
        seen.append(gc.isenabled())
        return real(**kwargs)

    monkeypatch.setattr(reporting, "bakeoff_report", spy)
    target = str(labelled.bakeoff_id) if bakeoff == "labelled" else "999"
    assert gc.isenabled()
    result = CliRunner().invoke(app, ["report", target, "--json", "-", "--resamples", "100"])
    assert result.exit_code == (0 if bakeoff == "labelled" else 1), result.output
    assert seen == [False]  # paused while the report is computed
    assert gc.isenabled()  # and back on afterwards, also after a failure


def test_report_leaves_collection_paused_when_the_process_ends_with_it(
    labelled: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    from service.cli import _app

    monkeypatch.setattr(_app, "_ENDS_WITH_COMMAND", [True])  # as the bakeoff script runs it
    try:
        result = CliRunner().invoke(
            app, ["report", str(labelled.bakeoff_id), "--json", "-", "--resamples", "100"]
        )
        assert result.exit_code == 0, result.output
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_report_json_to_stdout(labelled: Any) -> None:
    result = CliRunner().invoke(
        app, ["report", str(labelled.bakeoff_id), "--json", "-", "--resamples", "100"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_items"] == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["999"], "nothing to write"),
        (["999", "-o", "x.html"], "not found"),
    ],
    ids=["no-output", "unknown-bakeoff"],
)
def test_report_errors_are_one_line(
    labelled: Any, tmp_path: Path, args: list[str], message: str
) -> None:
    result = CliRunner().invoke(app, ["report", *args])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0].lower()


COCO = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "coco_val2014_100"


def test_evaluate_detection_html_report(tmp_path: Path) -> None:
    gold = COCO / "instances_val2014_100.json"
    require("shared-data", None if gold.exists() else f"shared COCO data missing at {COCO}")
    out = tmp_path / "det.html"
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--task",
            "detection",
            "--gold",
            str(gold),
            "--labels",
            f"fake={COCO / 'instances_val2014_fakebbox100_results.json'}",
            "--json",
            "--resamples",
            "100",
            "--html",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    html = out.read_text(encoding="utf-8")
    assert 'id="fig-box_bias"' in html and 'id="fig-per_class"' in html
    assert "per-image F1 @ IoU 0.5" in html
    assert "report written to" in result.stderr


def test_per_image_f1_matches_the_matching(tmp_path: Path) -> None:
    def box(category: str, bbox: list[float]) -> dict[str, Any]:
        return {"category": category, "bbox": bbox}

    gold = pd.Series(
        {
            "a": [box("cat", [0, 0, 10, 10]), box("cat", [20, 20, 10, 10])],
            "b": [box("cat", [0, 0, 5, 5])],
            "c": [box("dog", [0, 0, 8, 8])],
            "d": [],
        },
        dtype=object,
    )
    labels = pd.Series(
        {
            "a": [box("cat", [1, 0, 10, 10])],
            "b": [box("cat", [0, 0, 5, 5]), box("cat", [50, 50, 5, 5])],
            "c": [box("cat", [0, 0, 8, 8])],
        },
        dtype=object,
    )
    scored = score("detection", gold, labels)
    scores = scored.item_scores
    # a: 1 of 2 gold found, 1 label -> 2*1/(1+2); b: 1 tp, 2 labels, 1 gold -> 2/3;
    # c: wrong class -> 0; d: not answered -> NaN (wrong in the ranking)
    assert scores.loc["a"] == pytest.approx(2 / 3)
    assert scores.loc["b"] == pytest.approx(2 / 3)
    assert scores.loc["c"] == 0.0
    assert np.isnan(scores.loc["d"])
    assert scored.box_bias is not None
    left = scored.box_bias[
        (scored.box_bias["class"] == "cat") & (scored.box_bias["edge"] == "left")
    ]
    assert left["mean_offset"].iloc[0] == pytest.approx(0.5)  # +1 px on a, 0 on b
