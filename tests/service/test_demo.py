"""``bakeoff demo`` runs a whole bake-off through real processes and writes its reports."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from rich.console import Console
from sqlmodel import Session, select

import service.models as m
from service.core.db import create_db_engine
from service.demo.run import run_demo

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
        # self-contained: plotly.js is inlined, no script is fetched from elsewhere
        assert "Plotly" in html
        assert re.search(r"<script[^>]+src=[\"']?https?:", html) is None

    engine = create_db_engine(outcome.database_url)
    try:
        with Session(engine) as session:
            tasks = session.exec(select(m.Task)).all()
            # last quarter's digits bake-off, this quarter's digits and scenes bake-offs
            assert len(tasks) == 60 * 4 * 2 + 12 * 3
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

    printed = console.export_text()
    assert "Pick " in printed
    assert "Cost-accuracy Pareto front" in printed
    assert "Trend: swiftlabel dropped" in printed
