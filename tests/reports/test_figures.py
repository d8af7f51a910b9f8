"""Figures: traces, titles and point counts (the figure dict, not pixels)."""

from __future__ import annotations

from reports.figures import (
    build_box_bias_chart,
    build_class_heatmap,
    build_confusion_chart,
    build_figures,
    build_latency_chart,
    build_pareto_chart,
    build_ranking_chart,
    build_trend_chart,
)
from reports.results import Report


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
    # core breaks the latency constraint: drawn grey, not ranked
    colours = dict(zip(points.y, points.marker.color, strict=True))
    assert colours["core"] != colours[ranked[0].name]
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
