"""Write a report out: one self-contained HTML file, JSON, and CSV tables.

This is the only module of :mod:`reports` that does I/O. The HTML embeds plotly.js
once for the whole page so that the file opens offline and can be e-mailed: gzip-compressed
and base64-encoded (about 2.0 MB instead of 4.8 MB: the library is 97 % of the file), unpacked
by the browser's own ``DecompressionStream``. Every figure is a plain JSON payload drawn by
``Plotly.newPlot``; its numbers are also in the table under it, which shows without scripts.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import tempfile
import zlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Literal

import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
import plotly.offline
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from metrics.intervals import format_p_value
from reports._format import money
from reports.figures import build_figures, figure_table
from reports.results import Estimate, Report

__all__ = [
    "figure_payloads",
    "chart_blocks",
    "report_tables",
    "scores_table",
    "render_html_string",
    "render_fragment",
    "render_figures_script",
    "render_html",
    "render_json",
    "render_csv",
    "json_schema",
    "plotly_js",
    "plotly_js_gzip",
    "unpack_plotly",
    "PlotlyEmbed",
]

#: How a self-contained report carries plotly.js: ``"gzip"`` compressed and base64-encoded
#: (about 2.0 MB; needs a browser with ``DecompressionStream``: Chrome/Edge 80+, Firefox 113+,
#: Safari 16.4+), or ``"plain"`` as it ships (4.8 MB; any browser).
PlotlyEmbed = Literal["gzip", "plain"]

_PACKED_ID = "plotly-js-gzip"
_PACKED = re.compile(rf'<script type="application/octet-stream" id="{_PACKED_ID}">([^<]*)</script>')


@cache
def plotly_js() -> str:
    """The plotly.js bundle shipped with the ``plotly`` package (no CDN, no network)."""
    return str(plotly.offline.get_plotlyjs())


#: Where packed plotly.js is kept between processes: ``$BAKEOFF_CACHE_DIR``, else
#: ``$XDG_CACHE_HOME/bakeoff``, else ``~/.cache/bakeoff``.
CACHE_DIR_ENV = "BAKEOFF_CACHE_DIR"


def _cache_dir() -> Path:
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "bakeoff"


def _gzip_plotly(source: bytes) -> bytes:
    return gzip.compress(source, compresslevel=9, mtime=0)


@cache
def plotly_js_gzip() -> bytes:
    """:func:`plotly_js` gzip-compressed (level 9, no timestamp: the same bytes every run).

    Compressing costs about 0.2 s, so the result is kept on disk (:data:`CACHE_DIR_ENV`)
    under a name made of the plotly version, zlib's version and a digest of the library,
    and read back by the next process only when it unpacks to exactly :func:`plotly_js`
    (a stale, truncated or foreign file is compressed again and replaced). Files are
    written to a temporary name and renamed, so concurrent processes never read half a
    file. Without a writable cache folder the library is compressed in memory.
    """
    source = plotly_js().encode("utf-8")
    digest = hashlib.sha256(source).hexdigest()[:32]
    name = f"plotly-{plotly.__version__}-zlib{zlib.ZLIB_RUNTIME_VERSION}-{digest}.js.gz"
    path = _cache_dir() / name
    try:
        kept = path.read_bytes()
    except OSError:
        kept = None
    if kept is not None and _unpacks_to(kept, source):
        return kept
    packed = _gzip_plotly(source)
    _keep(path, packed)
    return packed


def _unpacks_to(packed: bytes, source: bytes) -> bool:
    try:
        return gzip.decompress(packed) == source
    except (OSError, EOFError, zlib.error):
        return False


def _keep(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, then rename); never raises."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except OSError:
        try:
            os.unlink(temp)
        except OSError:
            pass


@cache
def _plotly_packed() -> str:
    return base64.b64encode(plotly_js_gzip()).decode("ascii")


def unpack_plotly(html: str) -> str | None:
    """The plotly.js a report carries packed (``embed="gzip"``), unpacked; ``None`` if none.

    What the browser's loader does, for checking that the file holds the library unchanged.
    """
    found = _PACKED.search(html)
    if found is None:
        return None
    return gzip.decompress(base64.b64decode(found.group(1))).decode("utf-8")


@cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("reports", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _num
    env.filters["pval"] = _pval
    env.filters["money"] = money
    return env


def _num(value: object, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,d}"
    return str(value)


def _pval(value: object) -> str:
    """A p-value: "< 1e-300" rather than 0, two significant digits otherwise."""
    if value is None:
        return "–"
    if isinstance(value, int | float):
        return format_p_value(float(value))
    return str(value)


def _script_safe(text: str) -> str:
    """Make JSON safe inside a ``<script>`` element."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def figure_payloads(report: Report) -> dict[str, str]:
    """Each figure of the report as plotly JSON, keyed by figure id, in page order."""
    return {
        key: _script_safe(pio.to_json(fig, validate=False, pretty=False))
        for key, fig in build_figures(report).items()
    }


def chart_blocks(figures: Mapping[str, go.Figure]) -> dict[str, Markup]:
    """Each figure's container (``#fig-<key>``, ``role="img"``, an ``aria-label``) and,
    collapsed under it, the table of the numbers it plots (:func:`figure_table`).
    """
    template = _env().get_template("chart.html.j2")
    return {
        key: Markup(template.render(key=key, table=figure_table(fig)))  # noqa: S704 (autoescaped)
        for key, fig in figures.items()
    }


def report_tables(report: Report) -> dict[str, pd.DataFrame]:
    """The report's tables as DataFrames, keyed by CSV file stem."""
    ranking = pd.DataFrame(
        [
            {
                "rank": s.rank,
                "system": s.name,
                "eligible": s.eligible,
                "violations": "; ".join(s.violations),
                "score": s.score.value if s.score else None,
                "score_gap": s.score_gap.value if s.score_gap else None,
                "score_gap_low": s.score_gap.low if s.score_gap else None,
                "score_gap_high": s.score_gap.high if s.score_gap else None,
                "component_accuracy": s.components.get("accuracy"),
                "component_speed": s.components.get("speed"),
                "component_cost": s.components.get("cost"),
                "status": s.status,
                "letters": s.letters,
                "accuracy": s.accuracy.value,
                "accuracy_low": s.accuracy.low,
                "accuracy_high": s.accuracy.high,
                "coverage": s.coverage,
                "p95_latency_s": s.p95_latency_s.value if s.p95_latency_s else None,
                "throughput_per_hour": (
                    s.throughput_per_hour.value if s.throughput_per_hour else None
                ),
                "cost_per_item": s.cost_per_item.value if s.cost_per_item else None,
                "cost_per_item_low": s.cost_per_item.low if s.cost_per_item else None,
                "cost_per_item_high": s.cost_per_item.high if s.cost_per_item else None,
                "cost_per_correct": s.cost_per_correct.value if s.cost_per_correct else None,
                "tie_group": s.tie_group,
                "pareto_optimal": s.pareto_optimal,
            }
            for s in report.ranking.systems
        ]
    )
    if "rank" in ranking:
        ranking["rank"] = ranking["rank"].astype("Int64")  # 1, not 1.0; empty when not ranked
    tables: dict[str, pd.DataFrame] = {
        "ranking": ranking,
        "comparisons": pd.DataFrame([c.model_dump() for c in report.ranking.comparisons]),
        "metrics": pd.DataFrame(
            [
                {"system": system, "metric": name, "value": value}
                for system, values in report.metrics.items()
                for name, value in values.items()
            ]
        ),
        "per_class": pd.DataFrame([r.model_dump() for r in report.per_class]),
        "slices": pd.DataFrame(
            [
                {
                    **r.model_dump(exclude={"accuracy"}),
                    "accuracy": r.accuracy.value,
                    "accuracy_low": r.accuracy.low,
                    "accuracy_high": r.accuracy.high,
                }
                for r in report.slices
            ]
        ),
        "annotators": pd.DataFrame([r.model_dump() for r in report.annotators]),
        "box_bias": pd.DataFrame([r.model_dump() for r in report.box_bias]),
        "per_keypoint": pd.DataFrame([r.model_dump() for r in report.per_keypoint]),
        "confusion": pd.DataFrame(
            [
                {"system": cm.system, "gold": g, "predicted": p, "count": cm.counts[i][j]}
                for cm in report.confusion
                for i, g in enumerate(cm.labels_gold)
                for j, p in enumerate(cm.labels_predicted)
            ]
        ),
        "latency": pd.DataFrame(
            [r.model_dump(exclude={"quantile_levels", "quantiles_s"}) for r in report.latency]
        ),
        "cost_projection": pd.DataFrame([r.model_dump() for r in report.cost_projection]),
        "trends": pd.DataFrame([r.model_dump() for r in report.trends]),
        "scores": scores_table(report),
    }
    return tables


def scores_table(report: Report) -> pd.DataFrame:
    """The scoring engine's numbers, long: ``system, metric, value, low, high`` (+ status).

    Every summary metric, then ``cost_per_item``, ``cost_per_correct``, ``total_cost``
    and the latency percentiles (``latency_p95_s``...), as ``Report.scores`` holds them.
    """
    rows: list[dict[str, object]] = []
    for system, s in report.scores.items():
        estimates = dict(s.metrics)
        if s.cost_per_item is not None:
            estimates["cost_per_item"] = s.cost_per_item
        if s.cost_per_correct is not None:
            estimates["cost_per_correct"] = s.cost_per_correct
        if s.total_cost is not None:
            estimates["total_cost"] = Estimate(value=s.total_cost)
        estimates |= {f"latency_{k}": v for k, v in s.latency.items()}
        rows += [
            {
                "system": system,
                "status": s.status,
                "metric": name,
                "value": e.value,
                "low": e.low,
                "high": e.high,
            }
            for name, e in estimates.items()
        ]
    return pd.DataFrame(rows, columns=["system", "status", "metric", "value", "low", "high"])


def _context(report: Report, nonce: str | None) -> dict[str, object]:
    figures = build_figures(report)
    return {
        "report": report,
        "figures": {
            key: _script_safe(pio.to_json(fig, validate=False, pretty=False))
            for key, fig in figures.items()
        },
        "charts": chart_blocks(figures),
        "metric_names": sorted({n for values in report.metrics.values() for n in values}),
        "nonce": nonce,
    }


def render_html_string(
    report: Report,
    *,
    plotly_src: str | None = None,
    nonce: str | None = None,
    embed: PlotlyEmbed = "gzip",
) -> str:
    """The report as one HTML page.

    Parameters
    ----------
    report
        The report to show.
    plotly_src
        ``None`` embeds plotly.js once (a self-contained file); otherwise the URL of a
        plotly.js the page loads (e.g. the service's own static route).
    nonce
        A Content-Security-Policy nonce put on every executable ``<script>`` (the unpacked
        plotly.js gets it too).
    embed
        How plotly.js is embedded when ``plotly_src`` is ``None`` (:data:`PlotlyEmbed`).
    """
    template = _env().get_template("report.html.j2")
    embedded = plotly_src is None
    return template.render(
        **_context(report, nonce),
        plotly_inline=plotly_js() if embedded and embed == "plain" else None,
        plotly_packed=_plotly_packed() if embedded and embed == "gzip" else None,
        plotly_packed_id=_PACKED_ID,
        plotly_src=plotly_src,
    )


def render_fragment(report: Report, *, nonce: str | None = None) -> str:
    """The report's body (styles, sections, figures) for embedding in another page.

    The page must load plotly.js before the fragment's script runs (the fragment draws
    its figures once the document has loaded).
    """
    return _env().get_template("report_fragment.html.j2").render(**_context(report, nonce))


def render_figures_script(figures: Mapping[str, go.Figure], *, nonce: str | None = None) -> str:
    """Data blocks and the drawing script for ``figures`` (drawn into ``#fig-<key>``)."""
    payloads = {
        key: _script_safe(pio.to_json(fig, validate=False, pretty=False))
        for key, fig in figures.items()
    }
    return _env().get_template("figures_script.html.j2").render(figures=payloads, nonce=nonce)


def render_html(report: Report, out: Path, *, embed: PlotlyEmbed = "gzip") -> Path:
    """Write the self-contained HTML report (plotly.js embedded once, see ``embed``) to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html_string(report, embed=embed), encoding="utf-8")
    return out


def render_json(report: Report, out: Path) -> Path:
    """Write the machine-readable report (see ``docs/report-schema.md``) to ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report.model_dump_json(indent=2), encoding="utf-8")
    return out


def render_csv(report: Report, out_dir: Path) -> list[Path]:
    """Write one CSV per non-empty table into ``out_dir``; return the paths written."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for stem, table in report_tables(report).items():
        if table.empty:
            continue
        path = out_dir / f"{stem}.csv"
        table.to_csv(path, index=False)
        written.append(path)
    return written


def json_schema() -> str:
    """The JSON Schema of :func:`render_json`'s output, as indented JSON text."""
    return json.dumps(Report.model_json_schema(), indent=2, sort_keys=True) + "\n"
