"""One truth: every door shows the same values and intervals for the same bake-off.

For generated bake-offs of every task type (hypothesis, fixed seeds) and for the demo's
golden sets, the numbers of

* ``bakeoff evaluate --json`` on the same labels as files,
* ``GET /bakeoffs/{id}/results`` (``vendors[].scores``, ``metrics``, ``main_value``),
* the Python client's ``get_results`` DataFrame,
* the report JSON (``render_json``) and its ranking rows,
* the report CSV (``scores.csv``),
* the dashboard's data (``/ui/dashboards/bakeoffs/{id}/report.json``) and its download
  (``export/metrics.csv``: the same values, rounded),

must be identical: same metrics, same point values, same interval bounds, same status. And
``/results`` read from the scores stored in the database equals a fresh computation.
"""

from __future__ import annotations

import csv as _csv
import io
import json
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete
from sqlmodel import Session
from typer.testing import CliRunner

from reports._verdict import SELF_CONSISTENCY_FLOOR
from reports.render import render_csv, render_html_string, render_json
from service.cli.main import app
from service.client import BakeoffClient
from service.domain import scoring
from service.domain.reporting import bakeoff_report
from service.models import BakeOffScoresRow
from tests.one_truth_data import (
    GENERATORS,
    Case,
    Seeded,
    demo_cases,
    preference_sendings,
    seed_case,
    write_files,
)

Triple = tuple[float | None, float | None, float | None]


# --------------------------------------------------------------------------- the CLI door


def _cli(case: Case, root: Path) -> dict[str, dict[str, Any]]:
    gold, files = write_files(case, root)
    args = ["evaluate", "--task", case.task, "--gold", str(gold), "--json"]
    for name, path in files.items():
        args += ["--labels", f"{name}={path}"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    systems: dict[str, dict[str, Any]] = json.loads(result.stdout)["systems"]
    return systems


# --------------------------------------------------------------------------- the service's doors


# --------------------------------------------------------------------------- fingerprints

QUALITY = (
    "task_type",
    "main_metric",
    "ranking_metric",
    "main_title",
    "ranking_title",
    "status",
    "n_items",
    "n_answered",
    "n_labels",
    "n_ties",
    "coverage",
    "min_coverage",
    "coco",
    "crowd_agreement",  # a crowd's Fleiss' kappa and Krippendorff's alpha
)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    value = float(x)
    return None if math.isnan(value) else value


def _triple(e: dict[str, Any] | None) -> Triple | None:
    return None if e is None else (_num(e["value"]), _num(e.get("low")), _num(e.get("high")))


def _quality(s: dict[str, Any]) -> dict[str, Any]:
    out = {k: s[k] for k in QUALITY}
    out["metrics"] = {k: _triple(v) for k, v in s["metrics"].items()}
    return out


def _operations(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "total_cost": s["total_cost"],
        "cost_per_item": _triple(s["cost_per_item"]),
        "cost_per_correct": _triple(s["cost_per_correct"]),
        "latency": {k: _triple(v) for k, v in s["latency"].items()},
        "n_unreturned": s["n_unreturned"],
    }


def _csv_rows(path: Path) -> dict[str, dict[str, Triple]]:
    table = pd.read_csv(path)
    out: dict[str, dict[str, Triple]] = {}
    for row in table.to_dict("records"):
        triple = (_num(row["value"]), _num(row["low"]), _num(row["high"]))
        out.setdefault(str(row["system"]), {})[str(row["metric"])] = triple
    return out


def _doors(
    case: Case,
    seeded: Seeded,
    *,
    session: Session,
    client: TestClient,
    auth: dict[str, dict[str, str]],
    bk: BakeoffClient,
    root: Path,
) -> None:
    """Assert that every door shows the same numbers for every vendor of ``case``."""
    answered = Case(
        case.task,
        case.classes,
        case.gold,
        {k: v for k, v in case.vendors.items() if v},  # a CLI label file has labels
        case.sizes,
        case.meta,
    )
    # the label files carry no sending (the order a pair was shown in, a second sending):
    # the CLI is compared where the answers are all it needs
    cli = _cli(answered, root / "files") if case.sendings is None else {}
    assert set(cli) == set(answered.vendors) or case.sendings is not None
    results = client.get(f"/bakeoffs/{seeded.bakeoff_id}/results", headers=auth["lead"])
    assert results.status_code == 200, results.text
    api = {seeded.names[v["vendor"]]: v for v in results.json()["vendors"]}
    frame = bk.get_results(seeded.bakeoff_id).rename(index=seeded.names)
    report = bakeoff_report(session=session, bakeoff_id=seeded.bakeoff_id)
    doc = json.loads(render_json(report, root / "report.json").read_text(encoding="utf-8"))
    render_csv(report, root / "csv")
    csv = _csv_rows(root / "csv" / "scores.csv")
    dash = client.get(
        f"/ui/dashboards/bakeoffs/{seeded.bakeoff_id}/report.json", headers=auth["viewer"]
    )
    assert dash.status_code == 200, dash.text
    board = dash.json()
    export = client.get(
        f"/ui/dashboards/bakeoffs/{seeded.bakeoff_id}/export/metrics.csv", headers=auth["viewer"]
    )
    assert export.status_code == 200, export.text
    exported: dict[tuple[str, str], dict[str, str]] = {
        (r["system"], r["metric"]): r for r in _csv.DictReader(io.StringIO(export.text))
    }
    assert set(api) == set(case.vendors)
    for service_name, name in seeded.names.items():
        truth = api[name]["scores"]
        reported = doc["scores"][service_name]
        # label quality: the CLI, /results, the report JSON and the dashboard data
        for door, scores in (("report", reported), ("dashboard", board["scores"][service_name])):
            assert _quality(scores) == _quality(truth), (door, name)
            assert _operations(scores) == _operations(truth), (door, name)
        if name in cli:
            assert _quality(cli[name]) == _quality(truth), ("cli", name)
        if truth["task_type"] == "classification" and name == "crowd":  # compared above
            assert truth["crowd_agreement"]["krippendorff_alpha"] is not None
        # /results' flat fields read the same scores; the ranked quantity has one name
        ranking_metric = truth["ranking_metric"]
        assert api[name]["ranking_metric"] == ranking_metric
        assert api[name]["ranking_title"] == truth["ranking_title"] == doc["main_metric"]
        if truth["task_type"] == "transcription":  # ranked by word accuracy, never WER
            assert ranking_metric == "word_accuracy_all"
            assert truth["ranking_title"].startswith("word accuracy (")
        else:
            assert ranking_metric == f"{truth['main_metric']}_all"
            assert truth["ranking_title"] == truth["main_title"]
        main = truth["metrics"][ranking_metric]["value"]
        assert api[name]["main_value"] == (main if truth["n_answered"] else None)
        assert api[name]["metrics"] == {k: v["value"] for k, v in truth["metrics"].items()}
        assert api[name]["total_cost"] == truth["total_cost"] or truth["n_answered"] == 0
        # the client's DataFrame
        row = frame.loc[name]
        assert row["status"] == truth["status"] and row["coverage"] == truth["coverage"]
        assert (row["ranking_metric"], row["ranking_title"]) == (
            ranking_metric,
            truth["ranking_title"],
        )
        for metric, e in truth["metrics"].items():
            got = (_num(row[metric]), _num(row[f"{metric}_low"]), _num(row[f"{metric}_high"]))
            assert got == _triple(e), ("client", name, metric)
        # the report CSV
        expected = {k: _triple(v) for k, v in truth["metrics"].items()}
        for key in ("cost_per_item", "cost_per_correct"):
            if truth[key] is not None:
                expected[key] = _triple(truth[key])
        if truth["total_cost"] is not None:
            expected["total_cost"] = (truth["total_cost"], None, None)
        expected |= {f"latency_{k}": _triple(v) for k, v in truth["latency"].items()}
        assert csv[service_name] == expected, ("csv", name)
        # the dashboard's download: the same values, only rounded (to the digits it shows)
        for metric, triple in expected.items():
            assert triple is not None, metric
            shown = exported[(service_name, metric)]
            cells = (shown["value"], shown["low"], shown["high"])
            for cell, value in zip(cells, triple, strict=True):
                if value is None or not math.isfinite(value):
                    assert cell == "", ("export", name, metric)
                    continue
                digits = len(cell.split(".")[1]) if "." in cell else 0
                assert cell == f"{value:.{digits}f}", ("export", name, metric, cell, value)
        # the ranking rows show the same estimates; no rank without enough results
        rows = {r["name"]: r for r in doc["ranking"]["systems"]}
        ranked = rows[service_name]
        assert _triple(ranked["accuracy"]) == _triple(truth["metrics"][ranking_metric])
        assert _triple(ranked["cost_per_item"]) == _triple(truth["cost_per_item"])
        if truth["status"] != "ok":
            assert ranked["rank"] is None
            assert ranked["status"] == truth["status"]
        board_rows = {r["name"]: r for r in board["ranking"]["systems"]}
        assert board_rows[service_name]["accuracy"] == ranked["accuracy"]


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("task", list(GENERATORS))
@settings(
    max_examples=2,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(12, 40),
    coverage=st.sampled_from([1.0, 0.97, 0.6]),
)
def test_generated_bakeoffs_show_the_same_numbers_at_every_door(
    task: str,
    seed: int,
    n: int,
    coverage: float,
    session: Session,
    client: TestClient,
    auth: dict[str, dict[str, str]],
    bk: BakeoffClient,
    tmp_path: Path,
) -> None:
    case = GENERATORS[task](np.random.default_rng(seed), n, coverage)
    seeded = seed_case(session, case)
    root = tmp_path / uuid.uuid4().hex[:8]
    _doors(case, seeded, session=session, client=client, auth=auth, bk=bk, root=root)


def test_preference_sendings_show_the_same_numbers_at_every_door(
    session: Session,
    client: TestClient,
    auth: dict[str, dict[str, str]],
    bk: BakeoffClient,
    tmp_path: Path,
) -> None:
    """Pairs sent swapped and sent twice: position and length bias, self-consistency and
    the rank correlation are the same at every door, and the HTML report shows them and
    names the vendor that answered its repeats inconsistently."""
    case = preference_sendings(np.random.default_rng(3), 60, 0.97)
    seeded = seed_case(session, case)
    _doors(case, seeded, session=session, client=client, auth=auth, bk=bk, root=tmp_path)
    results = client.get(f"/bakeoffs/{seeded.bakeoff_id}/results", headers=auth["lead"]).json()
    scores = {seeded.names[v["vendor"]]: v["scores"]["metrics"] for v in results["vendors"]}
    for name in ("fickle", "crowd"):
        for metric in ("position_bias", "length_bias", "self_consistency", "ranking_kendall_tau"):
            assert metric in scores[name], (name, metric)
        # the models' Bradley-Terry ranking from the labels, each strength with its interval
        for model in ("m1", "m2", "m3"):
            e = scores[name][f"bradley_terry:{model}"]
            assert e["low"] is not None and e["low"] <= e["value"] <= e["high"], (name, e)
    fickle, crowd = scores["fickle"]["self_consistency"], scores["crowd"]["self_consistency"]
    assert fickle["high"] < SELF_CONSISTENCY_FLOOR <= crowd["high"], (fickle, crowd)
    # the HTML report: every metric's value and interval, and the verdict's caveat
    report = bakeoff_report(session=session, bakeoff_id=seeded.bakeoff_id)
    html = render_html_string(report, plotly_src="plotly.js")
    service_name = next(k for k, v in seeded.names.items() if v == "fickle")
    for metric in ("self_consistency", "position_bias", "length_bias"):
        e = scores["fickle"][metric]
        assert f'{e["value"]:,.3f} <span class="muted">[{e["low"]:,.3f}, {e["high"]:,.3f}]' in html
    caveat = (
        f"Caveat: {service_name} answers repeated pairs inconsistently: self-consistency "
        f"{fickle['value']:.3f} (95% interval {fickle['low']:.3f} to {fickle['high']:.3f}"
    )
    assert caveat in html and caveat in " ".join(report.ranking.summary)
    assert "crowd" not in " ".join(s for s in report.ranking.summary if "inconsistently" in s)


@pytest.mark.slow
@pytest.mark.parametrize("index", [0, 1], ids=["digits", "scenes"])
def test_the_demo_golden_sets_show_the_same_numbers_at_every_door(
    index: int,
    session: Session,
    client: TestClient,
    auth: dict[str, dict[str, str]],
    bk: BakeoffClient,
    tmp_path: Path,
) -> None:
    case = demo_cases()[index]
    case.vendors["silent"] = []  # a vendor that returned nothing: no rank, everywhere
    seeded = seed_case(session, case)
    _doors(case, seeded, session=session, client=client, auth=auth, bk=bk, root=tmp_path)
    results = client.get(f"/bakeoffs/{seeded.bakeoff_id}/results", headers=auth["lead"]).json()
    silent = next(v for v in results["vendors"] if seeded.names[v["vendor"]] == "silent")
    assert silent["status"] == "no_results" and silent["main_value"] is None


@pytest.mark.parametrize("task", list(GENERATORS))
def test_results_read_from_stored_scores_equal_a_fresh_computation(
    task: str, session: Session, client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    """``/results`` served from the stored row is the engine's fresh output to the last digit."""
    case = GENERATORS[task](np.random.default_rng(11), 24, 0.97)
    seeded = seed_case(session, case)
    url = f"/bakeoffs/{seeded.bakeoff_id}/results"

    def read() -> dict[str, Any]:
        scoring.clear_cache()  # as a fresh process: only the database remembers
        response = client.get(url, headers=auth["lead"])
        assert response.status_code == 200, response.text
        body: dict[str, Any] = json.loads(response.text)
        return body

    first = read()
    stored = read()
    session.execute(delete(BakeOffScoresRow))
    session.commit()
    fresh = read()
    assert (first["scored_now"], stored["scored_now"], fresh["scored_now"]) == (True, False, True)
    assert stored["computed_at"] == first["computed_at"]
    for doc in (first, stored, fresh):
        del doc["scored_now"], doc["computed_at"]
    assert stored == fresh == first
