"""Breakdowns: slices, classes, annotators, box bias, latency, cost, trends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metrics.operations import latency_summary
from reports.breakdowns import (
    box_bias_breakdown,
    cost_projection,
    latency_summaries,
    slice_breakdown,
    trend_breakdown,
)
from reports.inputs import PricingTerms, SystemEvaluation, TrendPoint
from reports.results import Report

MakeSystem = Callable[..., SystemEvaluation]


def test_slices_find_the_weak_condition_worst_first(full_report: Report) -> None:
    rows = full_report.slices
    accs = [r.accuracy.value for r in rows]
    assert accs == sorted(accs)  # type: ignore[type-var]
    worst = rows[0]
    assert (worst.system, worst.key, worst.value) == ("acme", "lighting", "dim")
    assert worst.gap < 0
    assert worst.p_value is not None and worst.p_value < 0.05


def test_slice_numbers_match_a_direct_computation(make_system: MakeSystem) -> None:
    n = 40
    correct = np.r_[np.zeros(8), np.ones(2), np.ones(30)]  # dim: 2/10 right, bright: 30/30
    s = make_system("v", n=n, correct=correct)
    meta = pd.DataFrame(
        {"lighting": ["dim"] * 10 + ["bright"] * 30, "id": [str(i) for i in range(n)]},
        index=s.item_scores.index,
    )
    rows = slice_breakdown([s], meta)
    assert [(r.key, r.value) for r in rows] == [("lighting", "dim"), ("lighting", "bright")]
    dim = rows[0]
    assert dim.n_items == 10 and dim.accuracy.value == pytest.approx(0.2)
    assert dim.overall == pytest.approx(32 / 40)
    assert dim.p_value == pytest.approx(stats.fisher_exact([[2, 8], [30, 0]])[1], abs=1e-12)
    assert dim.accuracy.low is not None and dim.accuracy.high is not None
    assert dim.accuracy.low < 0.2 < dim.accuracy.high


def test_slices_skip_id_like_columns(make_system: MakeSystem) -> None:
    s = make_system("v", n=120)
    meta = pd.DataFrame({"file": [f"f{i}.jpg" for i in range(120)]}, index=s.item_scores.index)
    assert slice_breakdown([s], meta) == []


def test_slice_metadata_must_be_a_frame(make_system: MakeSystem) -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        slice_breakdown([make_system("v")], {"lighting": []})  # type: ignore[arg-type]


def test_class_annotator_box_and_confusion_rows(full_report: Report) -> None:
    assert {(r.system, r.cls) for r in full_report.per_class} == {
        (s, c) for s in ("acme", "bolt", "core") for c in ("bird", "cat", "dog")
    }
    acme = [a for a in full_report.annotators if a.system == "acme"]
    assert len(acme) == 3
    golds = [a.agreement_with_gold for a in acme]
    assert golds == sorted(golds)  # type: ignore[type-var]
    assert all(a.n_items == 80 for a in acme)
    assert len(full_report.box_bias) == 3 * 3 * 4
    assert [r.edge for r in full_report.box_bias[:4]] == ["left", "top", "right", "bottom"]
    cm = full_report.confusion[0]
    assert cm.labels_gold == ["cat", "dog", "bird"]
    assert len(cm.counts) == 3 and len(cm.counts[0]) == 3


def test_latency_percentiles_match_metrics_operations(make_system: MakeSystem) -> None:
    s = make_system("v", n=1000, latency_h=1.0)
    lat = s.latency_s
    assert lat is not None
    sent = pd.Series(pd.Timestamp("2026-01-05 09:00", tz="UTC"), index=lat.index)
    done = sent + pd.to_timedelta(lat, unit="s")
    ops = latency_summary(sent, done)
    (row,) = latency_summaries([s])
    assert row.throughput_per_hour is None
    for got, want in [
        (row.p50_s, ops.p50_s),
        (row.p90_s, ops.p90_s),
        (row.p95_s, ops.p95_s),
        (row.p99_s, ops.p99_s),
        (row.max_s, ops.max_s),
    ]:
        assert got == pytest.approx(want, rel=1e-9)
    assert row.n_completed == ops.n_completed == 1000
    assert len(row.quantiles_s) == 101
    assert row.quantiles_s == sorted(row.quantiles_s)
    # Given the operations summary, the report carries it (throughput included).
    with_ops = SystemEvaluation(s.name, s.item_scores, latency_s=lat, latency_summary=ops)
    (row2,) = latency_summaries([with_ops])
    assert row2.throughput_per_hour == pytest.approx(ops.throughput_per_hour)
    assert row2.p95_s == pytest.approx(ops.p95_s)


def test_cost_projection_with_pricing_and_minimum(make_system: MakeSystem) -> None:
    small = make_system(
        "small",
        n_correct=360,
        pricing=PricingTerms(per_item=0.02, per_label=0.01, minimum_commitment=10_000),
    )
    big = make_system("big", n_correct=400, pricing=PricingTerms(per_item=0.05))
    rows = {r.system: r for r in cost_projection([small, big], volume=100_000)}
    # 100k * (0.02 + 1 label * 0.01) = 3,000 < minimum 10,000
    assert rows["small"].variable_cost == pytest.approx(3000.0)
    assert rows["small"].projected_cost == 10_000 and rows["small"].minimum_binds
    assert rows["small"].cost_per_correct == pytest.approx(10_000 / (100_000 * 0.9))
    assert rows["big"].projected_cost == pytest.approx(5000.0)
    assert not rows["big"].minimum_binds
    with pytest.raises(ValueError, match="positive"):
        cost_projection([small], volume=0)


def _pt(bakeoff: str, month: int, system: str, value: float, n: int = 1000) -> TrendPoint:
    return TrendPoint(bakeoff, datetime(2025, month, 1, tzinfo=UTC), system, value, n)


def test_trend_warns_on_a_significant_drop_only() -> None:
    history = [
        _pt("Q1", 1, "acme", 0.96),
        _pt("Q2", 4, "acme", 0.90),  # -6 points on 1,000 items: significant
        _pt("Q1", 1, "bolt", 0.93),
        _pt("Q2", 4, "bolt", 0.925),  # -0.5 points: noise
        _pt("Q1", 1, "core", 0.80),
        _pt("Q2", 4, "core", 0.85),  # up
    ]
    rows, warnings = trend_breakdown(history)
    assert [w.system for w in warnings] == ["acme"]
    w = warnings[0]
    se = np.hypot(np.sqrt(0.96 * 0.04 / 1000), np.sqrt(0.9 * 0.1 / 1000))
    assert w.p_value == pytest.approx(stats.norm.sf(0.06 / se), rel=1e-9)
    assert "dropped" in w.message and "Q2" in w.message
    assert [r.bakeoff for r in rows if r.system == "acme"] == ["Q1", "Q2"]
    assert all(r.low < r.value < r.high for r in rows)


def test_report_adds_the_current_bakeoff_to_the_trend(full_report: Report) -> None:
    acme = [r for r in full_report.trends if r.system == "acme"]
    assert [r.bakeoff for r in acme] == ["2025-Q3", "2025-Q4", "2026-Q1"]
    assert {r.system for r in full_report.trends} == {"acme", "bolt"}  # core has no history
    assert [w.system for w in full_report.trend_warnings] == ["acme"]


def test_large_slices_use_chi_square(make_system: MakeSystem) -> None:
    n = 6000
    correct = np.r_[np.ones(900), np.zeros(100), np.ones(4700), np.zeros(300)]
    s = make_system("v", n=n, correct=correct)
    meta = pd.DataFrame({"lighting": ["dim"] * 1000 + ["bright"] * 5000}, index=s.item_scores.index)
    dim = slice_breakdown([s], meta)[0]
    want = stats.chi2_contingency([[900, 100], [4700, 300]], correction=False)[1]
    assert dim.value == "dim"
    assert dim.p_value == pytest.approx(want, rel=1e-9)


def test_a_cancelled_or_thin_run_never_raises_a_decline() -> None:
    history = [
        _pt("Q1", 1, "boxwise", 0.96),
        # A cancelled run: 0 of 600 labels, every item wrong.
        TrendPoint("Q2", datetime(2025, 4, 1, tzinfo=UTC), "boxwise", 0.0, 600, completed=False),
        _pt("Q1", 1, "acme", 0.95),
        TrendPoint("Q2", datetime(2025, 4, 1, tzinfo=UTC), "acme", 0.40, 600, coverage=0.42),
    ]
    rows, warnings = trend_breakdown(history)
    assert warnings == []
    assert {(r.system, r.bakeoff) for r in rows} == {("boxwise", "Q1"), ("acme", "Q1")}
    # The same points counted as complete would alarm, with a p-value that is not 0.
    _, alarms = trend_breakdown(history, min_coverage=0.0)
    assert [w.system for w in alarms] == ["acme"]
    assert "p < 1e-300" in alarms[0].message or "p = " in alarms[0].message
    with pytest.raises(ValueError, match="coverage"):
        TrendPoint("Q", datetime(2025, 1, 1, tzinfo=UTC), "x", 0.5, 10, coverage=1.5)


def test_trend_intervals_stay_in_zero_one() -> None:
    rows, _ = trend_breakdown([_pt("Q1", 1, "acme", 1.0, 50), _pt("Q2", 4, "acme", 0.0, 50)])
    assert all(0.0 <= r.low <= r.value <= r.high <= 1.0 for r in rows)


def test_slice_intervals_stay_within_bounds(make_system: MakeSystem) -> None:
    # Per-item scores near 1 (per-image F1): the normal interval went past 1.
    n = 40
    scores = np.r_[np.full(30, 1.0), np.full(9, 0.95), [0.3]]
    s = make_system("v", n=n, correct=scores)
    meta = pd.DataFrame({"lighting": ["dim"] * 10 + ["bright"] * 30}, index=s.item_scores.index)
    rows = slice_breakdown([s], meta)
    assert rows
    for r in rows:
        assert r.accuracy.low is not None and r.accuracy.high is not None
        assert 0.0 <= r.accuracy.low <= r.accuracy.value <= r.accuracy.high <= 1.0  # type: ignore[operator]


def test_box_bias_significance_needs_an_interval_and_a_size(make_system: MakeSystem) -> None:
    base = make_system("boxwise")
    bias = pd.DataFrame(
        [
            {"class": "vehicle", "edge": "right", "mean_offset": 4.8, "n": 400, "sd": 3.0},
            {"class": "vehicle", "edge": "left", "mean_offset": 1.0, "n": 400, "sd": 3.0},
            {"class": "vehicle", "edge": "top", "mean_offset": 6.0, "n": 3, "sd": 9.0},
            {"class": "person", "edge": "bottom", "mean_offset": -3.0, "n": 50},
        ]
    )
    s = SystemEvaluation("boxwise", base.item_scores, box_bias=bias)
    rows = {(r.cls, r.edge): r for r in box_bias_breakdown([s], threshold=2.0)}
    right = rows[("vehicle", "right")]
    half = stats.t.ppf(0.975, 399) * 3.0 / np.sqrt(400)
    assert right.low == pytest.approx(4.8 - half) and right.high == pytest.approx(4.8 + half)
    assert right.significant
    assert not rows[("vehicle", "left")].significant  # excludes 0 but below 2 px
    assert not rows[("vehicle", "top")].significant  # large but uncertain
    assert not rows[("person", "bottom")].significant  # no spread given: no claim
    assert rows[("person", "bottom")].low is None
