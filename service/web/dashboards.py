"""Dashboards: procurement's overview of a project and the interactive bake-off page.

Pages (``GET``, signed in with the web sign-in of :mod:`service.web.auth`; roles
``viewer``, ``qa``, ``lead`` and ``admin``; QA sees blinded names while a bake-off is
blinded):

``/ui/dashboards``                                  the projects
``/ui/dashboards/projects/{project_id}``            its bake-offs, the current ranking,
                                                    cost per correct label, trends
``/ui/dashboards/bakeoffs/{bakeoff_id}``            the whole report, interactive, with the
                                                    run's live progress
``POST /ui/dashboards/bakeoffs/{bakeoff_id}/run``   start the run (lead, admin; CSRF form)
``POST /ui/dashboards/bakeoffs/{bakeoff_id}/cancel`` cancel the run (lead, admin; CSRF form)
``/ui/dashboards/bakeoffs/{bakeoff_id}/report.html`` the self-contained report (download)
``/ui/dashboards/bakeoffs/{bakeoff_id}/report.json`` the JSON report (``docs/report-schema.md``)
``/ui/dashboards/bakeoffs/{bakeoff_id}/export/{table}.csv`` ranking, metrics or costs, formatted
``/ui/dashboards/bakeoffs/{bakeoff_id}/export.xlsx`` the three tables as one workbook
``/ui/dashboards/assets/plotly.min.js``             plotly.js, served locally (no CDN), gzipped

Every number comes from the scoring engine's report (:mod:`reports`); the pages and the
downloads only format it (:mod:`reports.export`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections import OrderedDict
from functools import cache
from typing import Annotated, Literal

import plotly
import plotly.graph_objects as go
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from reports.breakdowns import trend_breakdown
from reports.defaults import DEFAULT_RANKING_WEIGHTS
from reports.export import export_tables, money, render_export_csv, render_xlsx
from reports.figures import (
    build_cost_trend_chart,
    build_pareto_chart,
    build_ranking_chart,
    build_trend_chart,
    report_colours,
    vendor_colours,
    weights_text,
)
from reports.render import (
    chart_blocks,
    plotly_js,
    plotly_js_gzip,
    render_figures_script,
    render_fragment,
    render_html_string,
)
from reports.results import Report
from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.api.hardening import csp_nonce
from service.api.routes.dispatch import QueueDep
from service.domain import dispatch, reporting
from service.domain.bakeoffs import get_bakeoff, list_bakeoffs
from service.domain.dashboards import bakeoff_rows
from service.domain.dispatch import RunProgress, WorkerMonitor
from service.domain.errors import Conflict
from service.domain.permissions import is_allowed
from service.domain.projects import get_project, list_projects
from service.domain.security import Principal
from service.web.auth import render
from service.web.csrf import CsrfProtected

__all__ = ["router", "PLOTLY_PATH"]

router = APIRouter(prefix="/ui/dashboards", tags=["dashboards"], include_in_schema=False)

PLOTLY_PATH = "/ui/dashboards/assets/plotly.min.js"
Resamples = Annotated[int, Query(ge=100, le=10_000, description="Bootstrap resamples.")]
ExportTable = Literal["ranking", "metrics", "costs"]
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _report(session: SessionDep, principal: CurrentKey, bakeoff_id: int, resamples: int) -> Report:
    try:
        return reporting.bakeoff_report(
            session=session, bakeoff_id=bakeoff_id, principal=principal, n_resamples=resamples
        )
    except ValueError as exc:
        raise Conflict(str(exc), code="report_unavailable") from exc


def _progress(
    session: SessionDep, principal: Principal, bakeoff_ids: list[int]
) -> dict[int, RunProgress]:
    """Run progress of each bake-off (the same rules, blinding included, as the progress API)."""
    return {
        i: dispatch.run_progress(session=session, bakeoff_id=i, principal=principal)
        for i in bakeoff_ids
    }


_NONCE_SLOT = f"nonce-{secrets.token_hex(16)}"  # unguessable: never in a report's text
_FRAGMENTS: OrderedDict[int, tuple[Report, str]] = OrderedDict()
_FRAGMENTS_LOCK = threading.Lock()


def _fragment(report: Report, nonce: str) -> str:
    """The report's HTML fragment, rendered once per cached report (the nonce put in)."""
    key = id(report)
    with _FRAGMENTS_LOCK:
        hit = _FRAGMENTS.get(key)
        if hit is not None and hit[0] is report:
            _FRAGMENTS.move_to_end(key)
            return hit[1].replace(_NONCE_SLOT, nonce)
    html = render_fragment(report, nonce=_NONCE_SLOT)
    with _FRAGMENTS_LOCK:
        _FRAGMENTS[key] = (report, html)  # holding the report keeps its id unique
        while len(_FRAGMENTS) > 16:
            _FRAGMENTS.popitem(last=False)
    return html.replace(_NONCE_SLOT, nonce)


@cache
def _plotly_gzip() -> tuple[bytes, str]:
    """plotly.js compressed once (4.8 MB -> about 1.5 MB, the bytes reports embed), its ETag."""
    digest = hashlib.sha256(plotly_js().encode("utf-8")).hexdigest()[:32]
    return plotly_js_gzip(), digest


@router.get("/assets/plotly.min.js")
def plotly_asset(request: Request) -> Response:
    """plotly.js, from the installed plotly package (gzip-compressed when accepted)."""
    compressed, digest = _plotly_gzip()
    etag = f'"plotly-{plotly.__version__}-{digest}"'
    headers = {
        "Cache-Control": "public, max-age=86400",
        "ETag": etag,
        "Vary": "Accept-Encoding",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        return Response(
            compressed,
            media_type="text/javascript",
            headers={**headers, "Content-Encoding": "gzip"},
        )
    return Response(plotly_js(), media_type="text/javascript", headers=headers)


@router.get("", response_class=HTMLResponse)
def index(
    request: Request, session: SessionDep, settings: SettingsDep, principal: CurrentKey
) -> HTMLResponse:
    """Projects with dashboards."""
    projects, _ = list_projects(session=session, principal=principal, limit=500)
    bakeoffs, _ = list_bakeoffs(session=session, principal=principal, limit=100)
    names = {p.id: p.name for p in projects}
    return render(
        request,
        "dashboards/index.html",
        {
            "projects": projects,
            "bakeoffs": bakeoffs,
            "project_names": names,
            "progress": _progress(session, principal, [b.id or 0 for b in bakeoffs]),
        },
        settings=settings,
        principal=principal,
    )


@router.get("/projects/{project_id}", response_class=HTMLResponse)
def project_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    project_id: int,
    resamples: Resamples = 1000,
) -> HTMLResponse:
    """Procurement overview of a project."""
    get_project(session=session, project_id=project_id, principal=principal)
    overview = reporting.project_overview(
        session=session, project_id=project_id, principal=principal, n_resamples=resamples
    )
    rows = bakeoff_rows(
        session=session, overview=overview, principal=principal, n_resamples=resamples
    )
    trends, warnings = trend_breakdown(overview.history)
    names = [r.system for r in trends]
    if overview.current is not None:
        names += [s.name for s in overview.current.ranking.systems]
    colours = vendor_colours(names)  # one colour per vendor on the whole page
    figures: dict[str, go.Figure] = {}
    current = overview.current
    if current is not None:
        figures["ranking"] = build_ranking_chart(current.ranking, colours=colours)
        if any(s.cost_per_correct is not None for s in current.ranking.systems):
            figures["pareto"] = build_pareto_chart(
                current.ranking, colours=colours, currency=current.currency
            )
    if trends:
        figures["trends"] = build_trend_chart(trends, warnings, colours=colours)
        if any(r.cost_per_correct is not None for r in trends):
            figures["cost_trends"] = build_cost_trend_chart(trends, colours=colours)
    nonce = csp_nonce(request)
    return render(
        request,
        "dashboards/project.html",
        {
            "overview": overview,
            "rows": rows,
            "warnings": warnings,
            "colours": colours,
            "money": money,
            "weights_text": weights_text,
            "default_weights": weights_text(DEFAULT_RANKING_WEIGHTS),
            "figure_keys": list(figures),
            "charts": chart_blocks(figures),
            "figures_script": render_figures_script(figures, nonce=nonce),
            "plotly_src": PLOTLY_PATH,
            "progress": _progress(session, principal, [b.id for b in overview.bakeoffs]),
        },
        settings=settings,
        principal=principal,
    )


@router.get("/bakeoffs/{bakeoff_id}", response_class=HTMLResponse)
def bakeoff_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    queue: QueueDep,
    bakeoff_id: int,
    resamples: Resamples = 1000,
) -> HTMLResponse:
    """One bake-off's report, interactive, with the run's progress."""
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    progress = dispatch.run_progress(
        session=session,
        bakeoff_id=bakeoff_id,
        principal=principal,
        monitor=queue if isinstance(queue, WorkerMonitor) else None,
    )
    in_progress = bakeoff.status in ("draft", "running") and not progress.done
    report: Report | None = None
    report_error: str | None = None
    try:
        report = _report(session, principal, bakeoff_id, resamples)
    except Conflict as exc:  # no gold, no candidates, bad settings: say so on the page
        report_error = exc.message
    if report is not None and in_progress:
        if not any(s.coverage > 0 for s in report.ranking.systems):
            report = None  # nothing labelled yet: a table of zeros would mislead
    return render(
        request,
        "dashboards/bakeoff.html",
        {
            "report": report,
            "report_error": report_error,
            "interim": in_progress and progress.total > 0,
            "bakeoff": bakeoff,
            "progress": progress,
            "poll": bakeoff.status == "running" and not progress.done,
            "can_start": bakeoff.status == "draft"
            and is_allowed(principal.role, "POST", "/ui/dashboards/bakeoffs/{bakeoff_id}/run"),
            "can_cancel": bakeoff.status == "running"
            and is_allowed(principal.role, "POST", "/ui/dashboards/bakeoffs/{bakeoff_id}/cancel"),
            "resamples": resamples,
            "weights": weights_text(report.ranking.weights) if report is not None else None,
            "default_weights": report is not None
            and report.ranking.weights == dict(DEFAULT_RANKING_WEIGHTS),
            "swatches": report_colours(report) if report is not None else {},
            "fragment": "" if report is None else _fragment(report, csp_nonce(request)),
            "plotly_src": PLOTLY_PATH if report is not None else None,
        },
        settings=settings,
        principal=principal,
    )


@router.post("/bakeoffs/{bakeoff_id}/run", dependencies=[CsrfProtected])
def start_run_action(
    session: SessionDep, principal: CurrentKey, queue: QueueDep, bakeoff_id: int
) -> RedirectResponse:
    """Start the run from the bake-off page, then show its progress."""
    dispatch.start_run(session=session, bakeoff_id=bakeoff_id, principal=principal, kicker=queue)
    return RedirectResponse(f"/ui/dashboards/bakeoffs/{bakeoff_id}", status_code=303)


@router.post("/bakeoffs/{bakeoff_id}/cancel", dependencies=[CsrfProtected])
def cancel_run_action(
    session: SessionDep, principal: CurrentKey, bakeoff_id: int
) -> RedirectResponse:
    """Cancel the run from the bake-off page (open tasks fail; labels already in stay)."""
    dispatch.cancel_run(session=session, bakeoff_id=bakeoff_id, principal=principal)
    return RedirectResponse(f"/ui/dashboards/bakeoffs/{bakeoff_id}", status_code=303)


@router.get("/bakeoffs/{bakeoff_id}/export/{table}.csv")
def export_csv(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    table: ExportTable,
    resamples: Resamples = 1000,
) -> Response:
    """One of the report's tables as CSV, formatted for people (rounded, currency named)."""
    report = _report(session, principal, bakeoff_id, resamples)
    text = render_export_csv(export_tables(report)[table])
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="bakeoff-{bakeoff_id}-{table}.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/bakeoffs/{bakeoff_id}/export.xlsx")
def export_xlsx(
    session: SessionDep, principal: CurrentKey, bakeoff_id: int, resamples: Resamples = 1000
) -> Response:
    """Ranking, metrics and costs as one XLSX workbook (numbers as numbers, currency formats)."""
    report = _report(session, principal, bakeoff_id, resamples)
    return Response(
        render_xlsx(export_tables(report)),
        media_type=_XLSX,
        headers={
            "Content-Disposition": f'attachment; filename="bakeoff-{bakeoff_id}.xlsx"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/bakeoffs/{bakeoff_id}/report.html")
def report_html(
    request: Request,
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    resamples: Resamples = 1000,
) -> Response:
    """The self-contained HTML report (plotly.js inside; opens offline)."""
    report = _report(session, principal, bakeoff_id, resamples)
    nonce = csp_nonce(request)
    return HTMLResponse(
        render_html_string(report, nonce=nonce),
        headers={
            "Content-Disposition": f'attachment; filename="bakeoff-{bakeoff_id}-report.html"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/bakeoffs/{bakeoff_id}/report.json")
def report_json(
    session: SessionDep, principal: CurrentKey, bakeoff_id: int, resamples: Resamples = 1000
) -> Response:
    """The machine-readable report (schema: docs/report-schema.md)."""
    report = _report(session, principal, bakeoff_id, resamples)
    return Response(
        report.model_dump_json(),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
