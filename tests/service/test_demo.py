"""``bakeoff demo`` runs a whole bake-off through real processes and writes its reports."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import Session, select
from typer.testing import CliRunner

import service.models as m
from reports.render import plotly_js, unpack_plotly
from service.cli.main import app
from service.core.db import create_db_engine
from service.demo.pairs import MODELS, RATING_CRITERIA
from service.demo.run import run_demo
from service.demo.vendors import PLANTED_LENIENCY

pytestmark = pytest.mark.slow


def test_demo_ranks_every_candidate_and_stores_each_label_once(tmp_path: Path) -> None:
    console = Console(record=True, width=120)
    outcome = run_demo(tmp_path / "demo", console=console, n_digits=60, n_scenes=12)

    digits = json.loads((tmp_path / "demo" / "report-digits.json").read_text())
    names = {row["name"] for row in digits["ranking"]["systems"]}
    assert names == {"swiftlabel", "boxwise", "precisionworks", "digit-model"}
    scenes = json.loads((tmp_path / "demo" / "report-scenes.json").read_text())
    assert {row["name"] for row in scenes["ranking"]["systems"]} == {
        "swiftlabel",
        "boxwise",
        "precisionworks",
    }
    for path in outcome.reports.values():
        html = path.read_text()
        # self-contained: plotly.js is inside (packed), no script is fetched from elsewhere
        assert unpack_plotly(html) == plotly_js()
        assert re.search(r"<script[^>]+src=[\"']?https?:", html) is None

    engine = create_db_engine(outcome.database_url)
    try:
        with Session(engine) as session:
            tasks = session.exec(select(m.Task)).all()
            # last quarter's digits bake-off, this quarter's digits, scenes, reply pairs
            # and reply ratings ones
            assert len(tasks) == 60 * 4 * 2 + 12 * 3 + 120 * 3 + 120 * 3
            # half of each vendor's reply pairs went out swapped (recorded on the task)
            assert sum(t.swapped for t in tasks) == 60 * 3
            assert {t.status for t in tasks} == {"received"}
            # every demo vendor gives one answer per item: exactly one label per task
            labels = session.exec(select(m.VendorLabel)).all()
            per_task = Counter((lb.bakeoff_id, lb.vendor_id, lb.item_id) for lb in labels)
            assert len(per_task) == len(tasks)
            assert set(per_task.values()) == {1}
            assert len(session.exec(select(m.Flag)).all()) > 0
    finally:
        engine.dispose()

    # swiftlabel was better last quarter: the digits report warns about the drop
    assert [w["system"] for w in digits["trend_warnings"]] == ["swiftlabel"]
    assert {t["bakeoff"] for t in digits["trends"]} == {
        "Handwritten digits: Q3 vendor bake-off",
        "Handwritten digits: Q4 vendor bake-off",
    }

    # the planted biases of the reply pairs are found: swiftlabel picks the reply shown
    # first, boxwise the longer one
    replies = json.loads((tmp_path / "demo" / "report-replies.json").read_text())
    scores = {vendor: system["metrics"] for vendor, system in replies["scores"].items()}
    for vendor, bias in (("swiftlabel", "position_bias"), ("boxwise", "length_bias")):
        assert scores[vendor][bias]["low"] > 0.05, (vendor, scores[vendor][bias])
    assert (
        scores["precisionworks"]["position_bias"]["low"]
        < 0
        < (scores["precisionworks"]["position_bias"]["high"])
    )
    # ... and the verdict names each with the size and interval the scores show
    said = " ".join(replies["ranking"]["summary"])
    for vendor, bias, words in (
        ("swiftlabel", "position_bias", "favour the response shown first"),
        ("boxwise", "length_bias", "favour the longer response"),
    ):
        e = scores[vendor][bias]
        assert (
            f"{bias.replace('_', ' ')} {e['value']:+.3f} ({words}; 95% interval "
            f"{e['low']:+.3f} to {e['high']:+.3f})"
        ) in said, said
    assert "precisionworks's labels are biased" not in said
    # the models' Bradley-Terry ranking from each vendor's preferences, with intervals
    for vendor in ("swiftlabel", "boxwise", "precisionworks"):
        for model in MODELS:
            e = scores[vendor][f"bradley_terry:{model}"]
            assert e["low"] <= e["value"] <= e["high"], (vendor, model, e)
        assert "ranking_kendall_tau" in scores[vendor]

    # precisionworks' planted leniency is found per criterion, the planted size inside its
    # interval, and the verdict names it with that interval; the others show none
    ratings = json.loads((tmp_path / "demo" / "report-ratings.json").read_text())
    scores = {vendor: system["metrics"] for vendor, system in ratings["scores"].items()}
    for criterion in RATING_CRITERIA:
        bias = scores["precisionworks"][f"leniency_bias:{criterion}"]
        assert bias["low"] <= PLANTED_LENIENCY <= bias["high"], (criterion, bias)
        assert bias["low"] > 0
    for vendor in ("swiftlabel", "boxwise"):
        bias = scores[vendor]["leniency_bias"]
        assert bias["low"] <= 0 <= bias["high"], (vendor, bias)
    caveats = [s for s in ratings["ranking"]["summary"] if s.startswith("Caveat")]
    lenient = [s for s in caveats if "precisionworks" in s and "lenient" in s]
    assert len(lenient) == 1, caveats
    for criterion in RATING_CRITERIA:
        found = scores["precisionworks"][f"leniency_bias:{criterion}"]
        assert (
            f"{criterion} ratings {found['value']:+.3f} scale points (lenient; 95% interval "
            f"{found['low']:+.3f} to {found['high']:+.3f})"
        ) in lenient[0]
    assert not any("swiftlabel" in s or "boxwise" in s for s in caveats if "lenient" in s)

    printed = console.export_text()
    assert "Pick " in printed
    assert "Cost-accuracy Pareto front" in printed
    assert "Trend: swiftlabel dropped" in printed


def test_smallest_demo_runs_and_its_printed_commands_work_as_pasted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bakeoff demo --digits 30 --scenes 10 --pairs 20 --ratings 20` (the smallest sizes)
    end to end.

    Rare classes at this size (one gold 7) used to make the flag step fail with 422. The
    closing lines are then pasted into a shell that has neither the venv on PATH nor
    BAKEOFF_DATABASE_URL set, from another folder, and the report commands must work.
    """
    venv_bin = str(Path(sys.executable).parent)
    clean_path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin
    )
    monkeypatch.setenv("PATH", clean_path)
    result = CliRunner().invoke(
        app,
        ["demo", "--digits", "30", "--scenes", "10", "--pairs", "20", "--ratings", "20"]
        + ["--workdir", str(tmp_path / "demo")],
    )
    assert result.exit_code == 0, result.output
    assert "✓ flags:" in result.output

    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "export BAKEOFF_DATABASE_URL=" in line)
    commands = []
    for line in lines[start:]:
        if not line.startswith("  "):
            break
        commands.append(line.strip())
    assert commands[0].startswith("export BAKEOFF_DATABASE_URL=sqlite:///")
    assert commands[-1].endswith(" serve")
    reports = [c for c in commands if " report " in c]
    assert len(reports) == 4
    assert not reports[0].startswith("bakeoff ")  # bakeoff is not on PATH here

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BAKEOFF_")}
    env["BAKEOFF_ENVIRONMENT"] = "dev"
    pasted = subprocess.run(
        ["bash", "-c", "\n".join([commands[0], *reports])],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pasted.returncode == 0, pasted.stderr
    written = sorted(p.name for p in elsewhere.glob("report-*.html"))
    assert len(written) == 4, pasted.stderr
    assert "read from sqlite:///" in pasted.stderr
