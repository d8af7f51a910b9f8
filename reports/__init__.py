"""Rankings and reports built from metric results only (no service, DB or adapters).

Typical use::

    from reports import SystemEvaluation, RankingConfig, build_report, render_html

    report = build_report(systems, title="2026-Q1", config=RankingConfig(...))
    render_html(report, Path("report.html"))

:mod:`reports.inputs` holds the typed inputs, :mod:`reports.ranking` the score, ties and
sample-size advice, :mod:`reports.breakdowns` the per-class/slice/annotator/box/latency/
cost/trend tables, :mod:`reports.figures` the plotly figures, :mod:`reports.results` the
output models (the JSON schema), and :mod:`reports.render` the only I/O.

Names are imported on first use (PEP 562 ``__getattr__``): ``reports.results`` must not
pay for plotly, which only :mod:`reports.figures` and :mod:`reports.render` need.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reports._bootstrap import Replicates, ReplicatesCache
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
    "Replicates",
    "ReplicatesCache",
    "build_report",
    "pareto_front",
    "rank_systems",
    "render_csv",
    "render_html",
    "render_json",
]

# public name -> the module that defines it (tests/metrics/test_lazy_init.py checks both agree)
_SOURCES: dict[str, str] = {
    "Constraints": "reports.inputs",
    "PricingTerms": "reports.inputs",
    "RankingConfig": "reports.inputs",
    "RankingWeights": "reports.inputs",
    "SystemEvaluation": "reports.inputs",
    "TrendPoint": "reports.inputs",
    "pareto_front": "reports.ranking",
    "rank_systems": "reports.ranking",
    "render_csv": "reports.render",
    "render_html": "reports.render",
    "render_json": "reports.render",
    "build_report": "reports.report",
    "Ranking": "reports.results",
    "Report": "reports.results",
    "Replicates": "reports._bootstrap",
    "ReplicatesCache": "reports._bootstrap",
}


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first access, then cache it in this package."""
    source = _SOURCES.get(name)
    if source is None:
        if not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}"):
            return importlib.import_module(f"{__name__}.{name}")  # a submodule, as eagerly
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
