"""Text alternatives of figures: the table under each chart holds the numbers it plots."""

from __future__ import annotations

import math
import re
from itertools import permutations

import plotly.graph_objects as go
import pytest

from reports.figures import build_figures, figure_table
from reports.results import Report

_NUMBER = re.compile(r"^(?:[A-Z]{3} )?(-?[\d,]+(?:\.(\d+))?)$")


def _parse(cell: str) -> tuple[float, float] | None:
    """A formatted number and half a unit of its last digit (``None`` for text)."""
    m = _NUMBER.match(cell)
    if m is None:
        return None
    return float(m.group(1).replace(",", "")), 0.5 * 10.0 ** -len(m.group(2) or "")


def _agrees(cell: str, value: object) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return cell == "–"
    if isinstance(value, str):
        parsed = _parse(cell)
        return cell == value or (parsed is not None and parsed[0] == float(value))
    parsed = _parse(cell)
    if parsed is None:
        return False
    return abs(parsed[0] - float(value)) <= parsed[1] + 1e-12  # type: ignore[arg-type]


def _points(fig: go.Figure) -> list[tuple[object, object, object]]:
    """Every plotted (x, y, z) of a figure, in trace order, straight from ``fig.data``."""
    out: list[tuple[object, object, object]] = []
    for t in fig.data:
        if getattr(t, "z", None) is not None:
            out += [(x, y, t.z[i][j]) for i, y in enumerate(t.y) for j, x in enumerate(t.x)]
            continue
        xs = list(t.x)
        if xs and isinstance(xs[0], list | tuple):
            xs = [" · ".join(str(level[i]) for level in xs) for i in range(len(xs[0]))]
        out += [(x, y, None) for x, y in zip(xs, t.y, strict=True)]
    return out


def test_every_figure_table_holds_exactly_what_its_traces_plot(full_report: Report) -> None:
    figs = build_figures(full_report)
    assert len(figs) == 12
    for key, fig in figs.items():
        table = figure_table(fig)
        points = _points(fig)
        assert len(table.rows) == len(points), key
        assert all(len(row) == len(table.columns) for row in table.rows)
        series = table.columns.index("series")
        names = [t.name or "" for t in fig.data for _ in range(len(_points(go.Figure(t))))]
        assert [row[series] for row in table.rows] == names, key
        plotted = [
            i
            for i, c in enumerate(table.columns)
            if c not in {"series", "point", "count"} and not c.endswith(" interval")
        ]
        for row, point in zip(table.rows, points, strict=True):
            cells = [row[i] for i in plotted if row[i] != ""]
            values = [v for v in point if v is not None] if point[2] is not None else point[:2]
            # the row shows this point's x, y (and heatmap value), each once, nothing else
            assert len(cells) == len(values), (key, row, point)
            assert any(
                all(_agrees(c, v) for c, v in zip(order, values, strict=True))
                for order in permutations(cells)
            ), (key, row, point)
        assert table.label.startswith(fig.layout.title.text.split("<")[0]), key


def test_error_bars_become_intervals_and_costs_are_money(full_report: Report) -> None:
    figs = build_figures(full_report)
    ranking = figure_table(figs["ranking"])
    acc = ranking.columns.index(f"{full_report.main_metric} interval")
    trace = figs["ranking"].data[-1]
    rows = [r for r in ranking.rows if r[0] == trace.name]
    for row, x, plus, minus in zip(
        rows, trace.x, trace.error_x.array, trace.error_x.arrayminus, strict=True
    ):
        if plus == 0 and minus == 0:
            assert row[acc] == ""
            continue
        low, high = (float(v) for v in row[acc].strip("[]").split(", "))
        assert low == pytest.approx(x - minus, abs=5e-4)
        assert high == pytest.approx(x + plus, abs=5e-4)
    pareto = figure_table(figs["pareto"])
    cost_col = next(c for c in pareto.columns if c.startswith("cost per correct label"))
    cells = [r[pareto.columns.index(cost_col)] for r in pareto.rows]
    assert all(re.fullmatch(r"[\d,]+\.\d{4}", c) for c in cells), cells
    assert pareto.columns.index("point") > 0  # each point names its system


def test_a_two_level_axis_and_a_missing_value_are_said() -> None:
    fig = go.Figure(go.Bar(name="acme", x=[["cat", "cat"], ["left", "top"]], y=[1.5, None]))
    fig.update_layout(title_text="Box <b>bias</b>", yaxis_title="mean offset")
    table = figure_table(fig)
    assert table.columns == ("series", "x label", "mean offset")
    assert table.rows == (("acme", "cat · left", "1.500"), ("acme", "cat · top", "–"))
    assert table.label.startswith("Box bias: chart")


def test_the_report_page_names_every_chart_and_puts_its_numbers_under_it(
    full_report: Report,
) -> None:
    from reports.render import render_html_string

    html = render_html_string(full_report, plotly_src="/static/plotly.js")
    figs = build_figures(full_report)
    for key, fig in figs.items():
        table = figure_table(fig)
        m = re.search(
            rf'<div class="figure" id="fig-{key}" role="img" aria-label="([^"]+)"></div>\s*'
            r'<details class="chart-numbers"><summary>Numbers behind this chart</summary>'
            r"(.*?)</details>",
            html,
            re.S,
        )
        assert m is not None, key
        assert m.group(1) == table.label, key
        assert m.group(2).count("<tr>") == len(table.rows) + 1, key  # + the header row
    assert html.count('role="img"') == len(figs) == 12
