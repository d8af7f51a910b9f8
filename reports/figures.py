"""Plotly figures of a report: pure ``build_<chart>(results) -> go.Figure`` functions.

No I/O happens here; :mod:`reports.render` writes the figures out. Each builder takes
the result rows of :mod:`reports.results` and returns a figure whose traces carry all
the data (tests inspect ``fig.data`` and the layout, not pixels).
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from metrics.intervals import format_p_value
from reports._format import as_number, money
from reports.inputs import BOX_EDGES
from reports.results import (
    BoxBiasRow,
    ClassRow,
    ConfusionMatrix,
    CostProjection,
    Estimate,
    LatencySummary,
    Ranking,
    Report,
    SliceRow,
    TrendRow,
    TrendWarning,
)

__all__ = [
    "build_ranking_chart",
    "build_pareto_chart",
    "build_class_heatmap",
    "build_slice_chart",
    "build_box_bias_chart",
    "build_latency_chart",
    "build_cost_projection_chart",
    "build_trend_chart",
    "build_cost_trend_chart",
    "build_confusion_chart",
    "build_figures",
    "ChartTable",
    "figure_table",
    "VENDOR_PALETTE",
    "vendor_colours",
    "report_colours",
    "trend_label",
    "weights_text",
]

_FRONT = "#d62728"
# A light template (white background, soft grid) in place of "plotly_white": plotly copies
# and validates a figure's template on every figure, and the full one made building a
# report's figures take over a second and put ~10 kB into each figure's JSON.
_GRID = {"gridcolor": "#EBF0F8", "linecolor": "#EBF0F8", "zerolinecolor": "#EBF0F8"}
_TEMPLATE = go.layout.Template(
    layout={
        "paper_bgcolor": "white",
        "plot_bgcolor": "white",
        "font": {"color": "#2a3f5f"},
        "xaxis": {**_GRID, "automargin": True},
        "yaxis": {**_GRID, "automargin": True},
        "hovermode": "closest",
        "title": {"x": 0.05},
    }
)

#: Colours of vendors: Okabe-Ito's colour-blind-safe set without its yellow, then four
#: of Tol's muted colours, all readable on white. Red is kept for the Pareto front and
#: limits, grey for "no data".
VENDOR_PALETTE: Final[tuple[str, ...]] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#6A3D9A",
    "#8C564B",
    "#882255",
    "#44AA99",
)


def vendor_colours(names: Iterable[str]) -> dict[str, str]:
    """One colour per vendor name, the same in every chart and page.

    A name's colour is picked by a hash of the name (so it does not depend on which other
    vendors a chart shows); two names that hash to the same colour are separated by
    taking the next free one, in name order. Beyond ten names colours repeat.

    Examples
    --------
    >>> c = vendor_colours(["acme", "bolt"])
    >>> c == vendor_colours(["bolt", "acme"]) and c["acme"] != c["bolt"]
    True
    """
    n = len(VENDOR_PALETTE)
    taken: set[int] = set()
    out: dict[str, str] = {}
    for name in sorted(set(names)):
        slot = zlib.crc32(name.encode("utf-8")) % n
        if len(taken) < n:
            while slot in taken:
                slot = (slot + 1) % n
        taken.add(slot)
        out[name] = VENDOR_PALETTE[slot]
    return out


def report_colours(report: Report) -> dict[str, str]:
    """:func:`vendor_colours` of every system a report names (ranking, trends, costs)."""
    names = [s.name for s in report.ranking.systems]
    names += [r.system for r in report.trends] + [c.system for c in report.cost_projection]
    return vendor_colours(names)


def _palette(colours: Mapping[str, str] | None, names: Iterable[str]) -> Mapping[str, str]:
    names = list(names)
    if colours is not None and all(n in colours for n in names):
        return colours
    return vendor_colours([*names, *(colours or {})])


def weights_text(weights: Mapping[str, float] | None) -> str:
    """``"accuracy 0.6 · speed 0.2 · cost 0.2"`` (``"weights unknown"`` for ``None``)."""
    if not weights:
        return "weights unknown"
    return " · ".join(f"{k} {weights[k]:g}" for k in ("accuracy", "speed", "cost") if k in weights)


def _quarter(when: datetime) -> str:
    return f"{when.year}-Q{(when.month - 1) // 3 + 1}"


def trend_label(rows: Sequence[TrendRow]) -> dict[tuple[str, datetime], str]:
    """The x label of each bake-off of a trend: its name (with its date when names repeat)."""
    whens: dict[str, set[datetime]] = {}
    for r in rows:
        whens.setdefault(r.bakeoff, set()).add(r.when)
    return {
        (r.bakeoff, r.when): (
            r.bakeoff if len(whens[r.bakeoff]) == 1 else f"{r.bakeoff} ({r.when:%Y-%m-%d})"
        )
        for r in rows
    }


def _err(estimates: Sequence[Estimate | None]) -> dict[str, object]:
    """Asymmetric error bars from estimates (zero where an interval is missing)."""
    plus, minus = [], []
    for e in estimates:
        if e is None or e.value is None or e.low is None or e.high is None:
            plus.append(0.0)
            minus.append(0.0)
        else:
            plus.append(max(0.0, e.high - e.value))
            minus.append(max(0.0, e.value - e.low))
    return {
        "type": "data",
        "symmetric": False,
        "array": plus,
        "arrayminus": minus,
        "color": "#555",
    }


def _fmt_interval(e: Estimate | None, digits: int = 3) -> str:
    if e is None or e.value is None:
        return "n/a"
    if e.low is None or e.high is None:
        return f"{e.value:.{digits}f}"
    return f"{e.value:.{digits}f} [{e.low:.{digits}f}, {e.high:.{digits}f}]"


def build_ranking_chart(ranking: Ranking, *, colours: Mapping[str, str] | None = None) -> go.Figure:
    """Score of each ranked system and accuracy of every system, with intervals.

    Left: the weighted score (ranked systems, best on top, tie groups in the hover).
    Right: the main metric of every system; those not ranked are drawn as open markers.
    Each vendor has its colour of :func:`vendor_colours`.
    """
    ranked = [s for s in ranking.systems if s.rank is not None]
    colour = _palette(colours, [s.name for s in ranking.systems])
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=False,
        horizontal_spacing=0.18,
        subplot_titles=("Score (ranked systems)", f"{ranking.main_metric} (all systems)"),
    )
    if ranked:
        fig.add_trace(
            go.Bar(
                name="score",
                orientation="h",
                y=[s.name for s in ranked],
                x=[s.score.value if s.score else None for s in ranked],
                error_x=_err([s.score for s in ranked]),
                marker_color=[colour[s.name] for s in ranked],
                text=[f"#{s.rank} · group {s.letters}" for s in ranked],
                textposition="inside",
                hovertext=[
                    f"{s.name}: score {_fmt_interval(s.score)}; gap to leader "
                    f"{_fmt_interval(s.score_gap)}; group {s.letters}"
                    for s in ranked
                ],
                hoverinfo="text",
            ),
            row=1,
            col=1,
        )
    every = ranking.systems
    fig.add_trace(
        go.Scatter(
            name=ranking.main_metric,
            mode="markers",
            y=[s.name for s in every],
            x=[s.accuracy.value for s in every],
            error_x=_err([s.accuracy for s in every]),
            marker={
                "size": 11,
                "color": [colour[s.name] for s in every],
                "symbol": ["circle" if s.rank is not None else "circle-open" for s in every],
                "line": {"width": 2},
            },
            hovertext=[
                f"{s.name}: {_fmt_interval(s.accuracy)}"
                + (f" — not ranked: {'; '.join(s.violations)}" if s.violations else "")
                for s in every
            ],
            hoverinfo="text",
        ),
        row=1,
        col=2,
    )
    min_acc = ranking.constraints.get("min_accuracy")
    if min_acc is not None:
        fig.add_vline(x=min_acc, line_dash="dash", line_color=_FRONT, row=1, col=2)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title_text="score", range=[0, 1.05], row=1, col=1)
    fig.update_xaxes(title_text=ranking.main_metric, row=1, col=2)
    fig.update_layout(
        title_text="Ranking with paired-bootstrap intervals",
        template=_TEMPLATE,
        showlegend=False,
        height=max(320, 60 * len(every) + 140),
    )
    return fig


def build_pareto_chart(
    ranking: Ranking, *, colours: Mapping[str, str] | None = None, currency: str | None = None
) -> go.Figure:
    """Cost per correct label against accuracy; the Pareto front joined by a line.

    Diamonds are on the front; open markers are systems that are not ranked.
    """
    colour = _palette(colours, [s.name for s in ranking.systems])
    unit = f" ({currency})" if currency else ""
    pts = [
        s
        for s in ranking.systems
        if s.cost_per_correct is not None
        and s.cost_per_correct.value is not None
        and np.isfinite(s.cost_per_correct.value)
    ]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            name="systems",
            showlegend=False,  # each point is named; its colour is its vendor's
            mode="markers+text",
            x=[s.cost_per_correct.value for s in pts if s.cost_per_correct],
            y=[s.accuracy.value for s in pts],
            error_x=_err([s.cost_per_correct for s in pts]),
            error_y=_err([s.accuracy for s in pts]),
            text=[s.name for s in pts],
            textposition="top center",
            marker={
                "size": 12,
                "color": [colour[s.name] for s in pts],
                "symbol": [
                    ("diamond" if s.pareto_optimal else "circle")
                    + ("" if s.rank is not None else "-open")
                    for s in pts
                ],
                "line": {"width": 2},
            },
            hovertext=[
                f"{s.name}: cost/correct {_fmt_interval(s.cost_per_correct, 4)}{unit}, "
                f"{ranking.main_metric} {_fmt_interval(s.accuracy)}"
                for s in pts
            ],
            hoverinfo="text",
        )
    )
    front = sorted(
        (s for s in pts if s.pareto_optimal),
        key=lambda s: (s.cost_per_correct.value or 0.0) if s.cost_per_correct else 0.0,
    )
    if front:
        fig.add_trace(
            go.Scatter(
                name="Pareto front",
                mode="lines",
                x=[s.cost_per_correct.value for s in front if s.cost_per_correct],
                y=[s.accuracy.value for s in front],
                line={"color": _FRONT, "dash": "dot"},
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        title_text="Cost–accuracy Pareto front",
        xaxis_title=f"cost per correct label{unit}",
        yaxis_title=ranking.main_metric,
        template=_TEMPLATE,
    )
    return fig


def build_class_heatmap(rows: Sequence[ClassRow]) -> go.Figure:
    """Systems × classes heatmap of the per-class metric."""
    systems = list(dict.fromkeys(r.system for r in rows))
    classes = sorted({r.cls for r in rows})
    value = {(r.system, r.cls): r.value for r in rows}
    z = [[value.get((s, c)) for c in classes] for s in systems]
    metric = rows[0].metric if rows else "metric"
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=classes,
            y=systems,
            zmin=0,
            zmax=1,
            colorscale="RdYlGn",
            colorbar={"title": metric},
            text=[[f"{v:.2f}" if v is not None else "" for v in row] for row in z],
            texttemplate="%{text}",
            hovertemplate="%{y} · %{x}: %{z:.3f}<extra></extra>",
        )
    )
    fig.update_layout(title_text=f"Per-class {metric}", template=_TEMPLATE)
    return fig


def build_slice_chart(rows: Sequence[SliceRow], *, top: int = 25) -> go.Figure:
    """The ``top`` worst (system, slice) pairs, with intervals and the overall level."""
    worst = list(rows[:top])
    labels = [f"{r.system} · {r.key}={r.value}" for r in worst]
    fig = go.Figure(
        go.Scatter(
            name="slice",
            mode="markers",
            y=labels,
            x=[r.accuracy.value for r in worst],
            error_x=_err([r.accuracy for r in worst]),
            marker={"size": 10, "color": [r.gap for r in worst], "colorscale": "RdYlGn"},
            hovertext=[
                f"{lab}: {_fmt_interval(r.accuracy)} on {r.n_items} items "
                f"(overall {r.overall:.3f}, gap {r.gap:+.3f}"
                + (f", p {format_p_value(r.p_value)})" if r.p_value is not None else ")")
                for lab, r in zip(labels, worst, strict=True)
            ],
            hoverinfo="text",
        )
    )
    fig.add_trace(
        go.Scatter(
            name="system overall",
            mode="markers",
            y=labels,
            x=[r.overall for r in worst],
            marker={"symbol": "line-ns-open", "size": 14, "color": "#444"},
            hoverinfo="skip",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(
        title_text="Worst metadata slices",
        xaxis_title="accuracy in slice",
        template=_TEMPLATE,
        height=max(320, 26 * len(worst) + 140),
    )
    return fig


def build_box_bias_chart(
    rows: Sequence[BoxBiasRow], *, colours: Mapping[str, str] | None = None
) -> go.Figure:
    """Mean signed offset of each box edge per class, one bar group per vendor.

    The x axis has two levels (class, edge). A positive offset moves the edge right
    (left/right edges) or down (top/bottom edges) relative to gold, so a vendor that
    draws boxes larger than gold shows negative left/top and positive right/bottom bars.
    """
    systems = list(dict.fromkeys(r.system for r in rows))
    colour = _palette(colours, systems)
    classes = sorted({r.cls for r in rows})
    fig = go.Figure()
    cats = [(c, e) for c in classes for e in BOX_EDGES]
    for system in systems:
        value = {(r.cls, r.edge): r for r in rows if r.system == system}
        present = [k for k in cats if k in value]
        fig.add_trace(
            go.Bar(
                name=system,
                x=[[c for c, _ in present], [e for _, e in present]],
                y=[value[k].mean_offset for k in present],
                marker_color=colour[system],
                customdata=[value[k].n for k in present],
                hovertemplate=f"{system} · %{{x}}: %{{y:.2f}} (n=%{{customdata}})<extra></extra>",
            )
        )
    fig.add_hline(y=0, line_color="#444")
    fig.update_layout(
        title_text="Box bias: mean edge offset against gold",
        yaxis_title="mean offset (+ = right / down)",
        barmode="group",
        template=_TEMPLATE,
    )
    return fig


def build_latency_chart(
    rows: Sequence[LatencySummary], *, colours: Mapping[str, str] | None = None
) -> go.Figure:
    """Empirical CDF of latency (hours) per system, p95 marked."""
    colour = _palette(colours, [r.system for r in rows])
    fig = go.Figure()
    for r in rows:
        if not r.quantiles_s:
            continue
        fig.add_trace(
            go.Scatter(
                name=r.system,
                mode="lines",
                x=[q / 3600 for q in r.quantiles_s],
                y=r.quantile_levels,
                line_shape="hv",
                line_color=colour[r.system],
                hovertemplate=f"{r.system}: %{{y:.0%}} done by %{{x:.2f}} h<extra></extra>",
            )
        )
    p95 = [r for r in rows if r.p95_s is not None]
    if p95:
        fig.add_trace(
            go.Scatter(
                name="p95",
                mode="markers",
                x=[r.p95_s / 3600 for r in p95 if r.p95_s is not None],
                y=[0.95] * len(p95),
                text=[r.system for r in p95],
                marker={"symbol": "x", "size": 10, "color": "#222"},
                hovertemplate="%{text}: p95 %{x:.2f} h<extra></extra>",
            )
        )
    fig.update_layout(
        title_text="Latency: share of items completed",
        xaxis_title="hours from dispatch",
        yaxis_title="share completed",
        yaxis_tickformat=".0%",
        template=_TEMPLATE,
    )
    return fig


def build_cost_projection_chart(
    rows: Sequence[CostProjection], *, colours: Mapping[str, str] | None = None
) -> go.Figure:
    """Projected bill at production volume (top) and cost per correct label (bottom).

    Two panels rather than a second y axis: both axes start at zero and no marker sits
    on a bar's label. A bill set by the minimum commitment says so in its label.
    """
    colour = _palette(colours, [r.system for r in rows])
    currencies = {r.currency for r in rows}
    unit = f" ({next(iter(currencies))})" if len(currencies) == 1 else ""
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.14,
        subplot_titles=(f"projected cost{unit}", f"projected cost per correct label{unit}"),
    )
    fig.add_trace(
        go.Bar(
            name="projected cost",
            x=[r.system for r in rows],
            y=[r.projected_cost for r in rows],
            marker_color=[colour[r.system] for r in rows],
            marker_pattern_shape=["/" if r.minimum_binds else "" for r in rows],
            text=[
                f"{r.currency} {r.projected_cost:,.0f}" + (" (minimum)" if r.minimum_binds else "")
                for r in rows
            ],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{text}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            name="cost per correct label",
            x=[r.system for r in rows],
            y=[r.cost_per_correct for r in rows],
            marker_color=[colour[r.system] for r in rows],
            text=[
                f"{r.currency} {r.cost_per_correct:,.4f}" if r.cost_per_correct is not None else ""
                for r in rows
            ],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{text} per correct label<extra></extra>",
        ),
        row=2,
        col=1,
    )
    top = max([r.projected_cost for r in rows] + [0.0])
    low = max([r.cost_per_correct or 0.0 for r in rows] + [0.0])
    # room above the tallest bar for its label; never below zero
    fig.update_yaxes(range=[0, top * 1.25 or 1], rangemode="tozero", row=1, col=1)
    fig.update_yaxes(range=[0, low * 1.3 or 1], rangemode="tozero", row=2, col=1)
    volume = rows[0].volume if rows else 0
    fig.update_layout(
        title_text=f"Cost projected to {volume:,} items",
        template=_TEMPLATE,
        showlegend=False,
        height=520,
    )
    return fig


def _trend_axis(
    fig: go.Figure, rows: Sequence[TrendRow], labels: Mapping[tuple[str, datetime], str]
) -> None:
    """Bake-offs in time order on a category axis, each with the weights it ranked by."""
    order = sorted({(r.when, labels[(r.bakeoff, r.when)]) for r in rows})
    weights = {labels[(r.bakeoff, r.when)]: r.weights for r in rows}
    names = [name for _, name in order]
    fig.update_xaxes(
        type="category",
        categoryorder="array",
        categoryarray=names,
        tickmode="array",
        tickvals=names,
        ticktext=[
            f"{name}<br><span style='font-size:10px'>{_quarter(when)} · "
            f"{weights_text(weights[name])}</span>"
            for when, name in order
        ],
        title_text="bake-off (quarter · ranking weights)",
    )


def _trend_hover(r: TrendRow, extra: str) -> str:
    return (
        f"{r.system} · {r.bakeoff} ({_quarter(r.when)}): {extra}<br>"
        f"ranked with weights {weights_text(r.weights)}"
    )


def build_trend_chart(
    rows: Sequence[TrendRow],
    warnings: Sequence[TrendWarning] = (),
    *,
    colours: Mapping[str, str] | None = None,
) -> go.Figure:
    """Each system's main metric over the project's bake-offs; significant drops marked.

    The x axis names the bake-offs (not timestamps), in time order, each with its quarter
    and the ranking weights it used.
    """
    colour = _palette(colours, [r.system for r in rows])
    labels = trend_label(rows)
    fig = go.Figure()
    for system in dict.fromkeys(r.system for r in rows):
        pts = [r for r in rows if r.system == system]
        fig.add_trace(
            go.Scatter(
                name=system,
                mode="lines+markers",
                x=[labels[(r.bakeoff, r.when)] for r in pts],
                y=[r.value for r in pts],
                line_color=colour[system],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [r.high - r.value for r in pts],
                    "arrayminus": [r.value - r.low for r in pts],
                },
                hovertext=[
                    _trend_hover(r, f"{r.value:.3f} [{r.low:.3f}, {r.high:.3f}]") for r in pts
                ],
                hoverinfo="text",
            )
        )
    for w in warnings:
        last = [r for r in rows if r.system == w.system][-1]
        fig.add_annotation(
            x=labels[(last.bakeoff, last.when)],
            y=last.value,
            text=f"⚠ {w.system} −{w.drop:.3f}",
            showarrow=True,
            arrowcolor=_FRONT,
            font={"color": _FRONT},
        )
    _trend_axis(fig, rows, labels)
    fig.update_layout(
        title_text="Trend across bake-offs",
        yaxis_title="main metric",
        template=_TEMPLATE,
    )
    return fig


def build_cost_trend_chart(
    rows: Sequence[TrendRow], *, colours: Mapping[str, str] | None = None
) -> go.Figure:
    """Each system's cost per correct label over the project's bake-offs (engine values).

    Points without a cost (no price list) are left out; the y axis starts at zero.
    """
    priced = [r for r in rows if r.cost_per_correct is not None]
    colour = _palette(colours, [r.system for r in priced])
    labels = trend_label(rows)
    currencies = {r.currency for r in priced if r.currency}
    unit = f" ({next(iter(currencies))})" if len(currencies) == 1 else ""
    fig = go.Figure()
    for system in dict.fromkeys(r.system for r in priced):
        pts = [r for r in priced if r.system == system]
        fig.add_trace(
            go.Scatter(
                name=system,
                mode="lines+markers",
                x=[labels[(r.bakeoff, r.when)] for r in pts],
                y=[r.cost_per_correct for r in pts],
                line_color=colour[system],
                hovertext=[
                    _trend_hover(r, f"{r.currency or ''} {r.cost_per_correct:,.4f}".strip())
                    for r in pts
                    if r.cost_per_correct is not None
                ],
                hoverinfo="text",
            )
        )
    _trend_axis(fig, rows, labels)
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(
        title_text="Cost per correct label across bake-offs",
        yaxis_title=f"cost per correct label{unit}",
        template=_TEMPLATE,
    )
    return fig


def build_confusion_chart(cm: ConfusionMatrix) -> go.Figure:
    """One system's confusion matrix, colour by row share, text the counts."""
    counts = np.asarray(cm.counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), 0.0)
    fig = go.Figure(
        go.Heatmap(
            z=share.tolist(),
            x=cm.labels_predicted,
            y=cm.labels_gold,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar={"title": "row share"},
            text=[[f"{int(c):d}" for c in row] for row in counts],
            texttemplate="%{text}",
            hovertemplate="gold %{y} → %{x}: %{text} (%{z:.1%})<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed", title_text="gold")
    fig.update_xaxes(title_text="predicted")
    fig.update_layout(title_text=f"Confusion matrix: {cm.system}", template=_TEMPLATE)
    return fig


def build_figures(report: Report) -> dict[str, go.Figure]:
    """Every figure the report has data for, keyed by a stable id, in page order.

    Every chart colours a vendor the same (:func:`report_colours`).
    """
    colours = report_colours(report)
    figs: dict[str, go.Figure] = {
        "ranking": build_ranking_chart(report.ranking, colours=colours),
    }
    if any(s.cost_per_correct is not None for s in report.ranking.systems):
        figs["pareto"] = build_pareto_chart(
            report.ranking, colours=colours, currency=report.currency
        )
    if report.per_class:
        figs["per_class"] = build_class_heatmap(report.per_class)
    if report.slices:
        figs["slices"] = build_slice_chart(report.slices)
    if report.box_bias:
        figs["box_bias"] = build_box_bias_chart(report.box_bias, colours=colours)
    if any(r.quantiles_s for r in report.latency):
        figs["latency"] = build_latency_chart(report.latency, colours=colours)
    if report.cost_projection:
        figs["cost_projection"] = build_cost_projection_chart(
            report.cost_projection, colours=colours
        )
    if report.trends:
        figs["trends"] = build_trend_chart(report.trends, report.trend_warnings, colours=colours)
        if any(r.cost_per_correct is not None for r in report.trends):
            figs["cost_trends"] = build_cost_trend_chart(report.trends, colours=colours)
    for i, cm in enumerate(report.confusion):
        figs[f"confusion_{i}"] = build_confusion_chart(cm)
    return figs


@dataclass(frozen=True)
class ChartTable:
    """The text alternative of a figure: what it shows, and the numbers it plots.

    Attributes
    ----------
    label
        An ``aria-label`` for the figure: its title and what it is.
    columns
        The table's header cells.
    rows
        One row of formatted cells per plotted point (or heatmap cell).
    """

    label: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


_TAGS = re.compile(r"<[^>]+>")


def _plain(text: object) -> str:
    """Text of a plotly title or label without its HTML (``<br>`` becomes a space)."""
    if text is None:
        return ""
    return " ".join(_TAGS.sub(" ", str(text)).split())


def _title(obj: Mapping[str, Any] | None) -> str:
    """Plain text of a plotly ``title`` (a dict ``{"text": ...}`` or a string)."""
    title = (obj or {}).get("title")
    return _plain(title.get("text") if isinstance(title, Mapping) else title)


def _axis_title(layout: Mapping[str, Any], ref: str | None, axis: str) -> str:
    """Title of the trace's x or y axis (``"x2"`` → ``layout.xaxis2``)."""
    return _title(layout.get(axis + "axis" + (ref or axis)[1:]))


def _cell(value: object, title: str) -> str:
    """A plotted value as the page formats it: money for costs, 3 decimals otherwise."""
    if isinstance(value, str):
        return _plain(value)
    x = as_number(value)
    if x is None:
        return "–"
    if "cost" in title:
        return money(x, None, 4 if "per" in title else 2)
    if isinstance(value, int | np.integer):
        return f"{int(value):,d}"
    return f"{x:,.3f}"


def _values(v: Any, n: int) -> list[object]:
    """A trace's coordinate as a list of ``n`` values (multi-level axes joined by " · ")."""
    if v is None:
        return [None] * n
    items = list(v)
    if items and isinstance(items[0], list | tuple):  # a two-level category axis
        return [" · ".join(str(level[i]) for level in items) for i in range(len(items[0]))]
    return items


def _interval(err: Mapping[str, Any] | None, value: object, i: int, title: str) -> str:
    """``"[low, high]"`` of an error bar at point ``i`` (empty when there is none)."""
    x = as_number(value)
    array = (err or {}).get("array")
    if x is None or err is None or array is None:
        return ""
    plus = as_number(array[i])
    minus = as_number(err["arrayminus"][i] if err.get("arrayminus") is not None else array[i])
    if plus is None or minus is None or (plus == 0.0 and minus == 0.0):
        return ""
    return f"[{_cell(x - minus, title)}, {_cell(x + plus, title)}]"


def figure_table(fig: go.Figure) -> ChartTable:
    """The numbers a figure plots, read from its own traces (never recomputed).

    One row per point of every trace: the trace's name, its point label (``text`` of a
    labelled scatter), x, y, the value of a heatmap cell, and the interval of its error
    bars. Numbers are formatted as the pages format them (costs with :func:`money`).

    Examples
    --------
    >>> t = figure_table(go.Figure(go.Bar(name="n", x=["a"], y=[0.5])))
    >>> t.columns, t.rows
    (('series', 'x label', 'n'), (('n', 'a', '0.500'),))
    """
    spec = fig.to_plotly_json()  # plain data: reading plotly objects point by point is slow
    layout: Mapping[str, Any] = spec.get("layout", {})
    title = _title(layout) or "Chart"
    raw: list[dict[str, str]] = []
    for trace in spec.get("data", []):
        name = str(trace.get("name") or "")
        xt = _axis_title(layout, trace.get("xaxis"), "x") or "x label"
        yt = _axis_title(layout, trace.get("yaxis"), "y") or "y label"
        z = trace.get("z")
        if z is not None:  # a heatmap: one row per cell, counts when it shows them
            text = trace.get("text")
            zt = _title(trace.get("colorbar")) or "value"
            for i, y in enumerate(_values(trace.get("y"), len(z))):
                for j, x in enumerate(_values(trace.get("x"), len(z[i]))):
                    cell = {"series": name, xt: _cell(x, xt), yt: _cell(y, yt)}
                    cell[zt] = _cell(z[i][j], zt)
                    if text is not None and str(text[i][j]).isdigit():
                        cell["count"] = _plain(text[i][j])
                    raw.append(cell)
            continue
        n = max(len(trace.get("x") or ()), len(trace.get("y") or ()))
        x_vals, y_vals = _values(trace.get("x"), n), _values(trace.get("y"), n)
        # a value axis titled by nothing takes the trace's name ("projected cost")
        if xt == "x label" and not isinstance(next(iter(x_vals), ""), str):
            xt = name or "x"
        if yt == "y label" and not isinstance(next(iter(y_vals), ""), str):
            yt = name or "y"
        labels = trace.get("text") if "text" in str(trace.get("mode") or "") else None
        errors = [
            (err, vals, t)
            for err, vals, t in (
                (trace.get("error_x"), x_vals, xt),
                (trace.get("error_y"), y_vals, yt),
            )
            if err is not None and err.get("array") is not None
        ]
        for i in range(n):
            cell = {"series": name, xt: _cell(x_vals[i], xt), yt: _cell(y_vals[i], yt)}
            if labels is not None:
                cell["point"] = _plain(labels[i])
            for err, vals, t in errors:
                cell[f"{t} interval"] = _interval(err, vals[i], i, t)
            raw.append(cell)
    columns: list[str] = []
    for row in raw:
        for key in row:
            if key not in columns:
                columns.append(key)
    rows = tuple(tuple(row.get(c, "") for c in columns) for row in raw)
    label = f"{title}: chart; the numbers it shows are in the table below it"
    return ChartTable(label=label, columns=tuple(columns), rows=rows)
