"""Rankings and reports built from metric results only (no service, DB or adapters).

Typical use::

    from reports import SystemEvaluation, RankingConfig, build_report, render_html

    report = build_report(systems, title="2026-Q1", config=RankingConfig(...))
    render_html(report, Path("report.html"))

:mod:`reports.inputs` holds the typed inputs, :mod:`reports.ranking` the score, ties and
sample-size advice, :mod:`reports.breakdowns` the per-class/slice/annotator/box/latency/
cost/trend tables, :mod:`reports.figures` the plotly figures, :mod:`reports.results` the
output models (the JSON schema), and :mod:`reports.render` the only I/O.
"""

from reports.inputs import (
    Constraints,
    PricingTerms,
    RankingConfig,
    RankingWeights,
    SystemEvaluation,
    TrendPoint,
)
from reports.ranking import pareto_front, rank_systems
from reports.render import render_csv, render_html, render_json
from reports.report import build_report
from reports.results import Ranking, Report

__all__ = [
    "Constraints",
    "PricingTerms",
    "RankingConfig",
    "RankingWeights",
    "SystemEvaluation",
    "TrendPoint",
    "Ranking",
    "Report",
    "build_report",
    "pareto_front",
    "rank_systems",
    "render_csv",
    "render_html",
    "render_json",
]
