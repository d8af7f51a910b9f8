"""Figures: traces, titles and point counts (the figure dict, not pixels)."""

from __future__ import annotations

from datetime import UTC, datetime

from reports.figures import (
    VENDOR_PALETTE,
    build_box_bias_chart,
    build_class_heatmap,
    build_confusion_chart,
    build_cost_projection_chart,
    build_cost_trend_chart,
    build_figures,
    build_latency_chart,
    build_pareto_chart,
    build_ranking_chart,
    build_trend_chart,
    report_colours,
    vendor_colours,
)
from reports.results import Report, TrendRow


def test_every_section_gets_a_figure(full_report: Report) -> None:
    figs = build_figures(full_report)
    assert list(figs) == [
        "ranking",
        "pareto",
        "per_class",
        "slices",
        "box_bias",
        "latency",
        "cost_projection",
        "trends",
        "cost_trends",
        "confusion_0",
        "confusion_1",
        "confusion_2",
    ]
    for key, fig in figs.items():
        assert fig.layout.title.text, key
        assert len(fig.data) > 0, key


def test_ranking_chart_has_intervals_for_ranked_and_all_systems(full_report: Report) -> None:
    fig = build_ranking_chart(full_report.ranking)
    bar, points = fig.data
    ranked = [s for s in full_report.ranking.systems if s.rank is not None]
    assert list(bar.y) == [s.name for s in ranked]
    assert len(bar.error_x.array) == len(ranked)
    assert list(points.y) == [s.name for s in full_report.ranking.systems]
    # core breaks the latency constraint: an open marker, not ranked, in its own colour
    symbols = dict(zip(points.y, points.marker.symbol, strict=True))
    assert symbols["core"] == "circle-open" and symbols[ranked[0].name] == "circle"
    assert "Ranking" in fig.layout.title.text


def test_pareto_chart_joins_the_front(full_report: Report) -> None:
    fig = build_pareto_chart(full_report.ranking)
    systems, front = fig.data
    assert len(systems.x) == 3
    assert list(front.x) == sorted(front.x)
    assert len(front.x) == len(full_report.ranking.pareto_front)
    assert fig.layout.xaxis.title.text == "cost per correct label"


def test_heatmaps_have_one_cell_per_pair(full_report: Report) -> None:
    heat = build_class_heatmap(full_report.per_class).data[0]
    assert list(heat.y) == ["acme", "bolt", "core"]
    assert list(heat.x) == ["bird", "cat", "dog"]
    assert all(v is not None for row in heat.z for v in row)
    cm = build_confusion_chart(full_report.confusion[0])
    z = cm.data[0].z
    assert len(z) == 3 and all(abs(sum(row) - 1) < 1e-9 for row in z)


def test_box_bias_has_one_bar_per_class_and_edge(full_report: Report) -> None:
    fig = build_box_bias_chart(full_report.box_bias)
    assert [t.name for t in fig.data] == ["acme", "bolt", "core"]
    for trace in fig.data:
        classes, edges = trace.x
        assert len(classes) == len(edges) == len(trace.y) == 12
        assert list(edges[:4]) == ["left", "top", "right", "bottom"]


def test_latency_and_trend_charts(full_report: Report) -> None:
    lat = build_latency_chart(full_report.latency)
    assert [t.name for t in lat.data] == ["acme", "bolt", "core", "p95"]
    assert all(len(t.x) == 101 for t in lat.data[:3])
    assert len(lat.data[3].x) == 3
    trend = build_trend_chart(full_report.trends, full_report.trend_warnings)
    assert [t.name for t in trend.data] == ["acme", "bolt"]
    assert len(trend.data[0].y) == 3
    assert len(trend.layout.annotations) == len(full_report.trend_warnings) == 1


def _trace_colours(fig: object) -> dict[str, str]:
    """Vendor name -> the colour a figure draws it in (bars, lines or markers)."""
    out: dict[str, str] = {}
    for t in fig.data:  # type: ignore[attr-defined]
        if t.type == "bar" and t.orientation == "h":
            out |= dict(zip(t.y, t.marker.color, strict=True))
        elif t.type == "bar" and isinstance(t.marker.color, tuple):
            out |= dict(zip(t.x, t.marker.color, strict=True))
        elif t.type == "bar":
            out[t.name] = t.marker.color
        elif t.type == "scatter" and t.mode == "lines":
            out[t.name] = t.line.color
        elif t.type == "scatter" and isinstance(t.marker.color, tuple):
            names = t.y if t.mode == "markers" else t.text
            out |= dict(zip(names, t.marker.color, strict=True))
        elif t.type == "scatter" and t.line.color:
            out[t.name] = t.line.color
    return out


def test_one_colour_per_vendor_in_every_chart(full_report: Report) -> None:
    figs = build_figures(full_report)
    expected = report_colours(full_report)
    assert len(set(expected.values())) == len(expected) == 3  # distinct colours
    seen = 0
    for key in ("ranking", "pareto", "box_bias", "latency", "cost_projection", "trends"):
        drawn = {k: v for k, v in _trace_colours(figs[key]).items() if k in expected}
        assert drawn, key
        assert drawn == {k: expected[k] for k in drawn}, key
        seen += len(drawn)
    assert seen >= 15
    # a vendor keeps its colour whatever else a chart shows
    alone = vendor_colours(["acme"])["acme"]
    assert alone == expected["acme"] == vendor_colours(["zeta", "acme", "omega"])["acme"]
    assert set(vendor_colours([f"v{i}" for i in range(10)]).values()) == set(VENDOR_PALETTE)


def test_cost_projection_axes_start_at_zero_and_markers_leave_labels_alone(
    full_report: Report,
) -> None:
    fig = build_cost_projection_chart(full_report.cost_projection)
    assert [t.type for t in fig.data] == ["bar", "bar"]  # no marker trace over the labels
    assert "yaxis2" in fig.layout and fig.layout.yaxis2.overlaying is None
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.range[0] == 0 and axis.rangemode == "tozero"
    top = max(r.projected_cost for r in full_report.cost_projection)
    assert fig.layout.yaxis.range[1] > top  # room for the "outside" labels
    assert all(t.startswith("USD ") for t in fig.data[0].text)
    assert all(t.startswith("USD ") for t in fig.data[1].text)
    assert "(USD)" in fig.layout.annotations[0].text


def _row(bakeoff: str, month: int, system: str, weights: dict[str, float] | None) -> TrendRow:
    return TrendRow(
        system=system,
        bakeoff=bakeoff,
        when=datetime(2026, month, 1, 12, 0, 0, 123000, tzinfo=UTC),
        value=0.9,
        low=0.85,
        high=0.95,
        n_items=100,
        weights=weights,
        cost_per_correct=0.05 if system == "acme" else None,
        currency="EUR",
    )


def test_trends_are_by_bake_off_with_their_weights_not_timestamps() -> None:
    w1 = {"accuracy": 0.6, "speed": 0.2, "cost": 0.2}
    w2 = {"accuracy": 0.6, "speed": 0.15, "cost": 0.25}
    rows = [
        _row("spring", 4, "acme", w1),
        _row("winter", 1, "acme", w2),
        _row("winter", 1, "bolt", w2),
    ]
    fig = build_trend_chart(rows)
    assert fig.layout.xaxis.type == "category"
    assert list(fig.layout.xaxis.categoryarray) == ["winter", "spring"]  # by time
    ticks = list(fig.layout.xaxis.ticktext)
    assert "2026-Q1" in ticks[0] and "speed 0.15 · cost 0.25" in ticks[0]
    assert "2026-Q2" in ticks[1] and "speed 0.2 · cost 0.2" in ticks[1]
    acme = fig.data[0]
    assert list(acme.x) == ["spring", "winter"]
    assert "weights accuracy 0.6 · speed 0.2 · cost 0.2" in acme.hovertext[0]
    assert not any(":00" in str(x) for t in fig.data for x in t.x)  # no timestamps
    cost = build_cost_trend_chart(rows)
    assert [t.name for t in cost.data] == ["acme"]  # bolt has no price list
    assert list(cost.data[0].y) == [0.05, 0.05]
    assert cost.layout.yaxis.title.text == "cost per correct label (EUR)"
    assert cost.layout.yaxis.rangemode == "tozero"
    # the same name twice: told apart by date
    twice = build_trend_chart([_row("Q", 1, "acme", w1), _row("Q", 4, "acme", w1)])
    assert list(twice.data[0].x) == ["Q (2026-01-01)", "Q (2026-04-01)"]
