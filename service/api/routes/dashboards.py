"""Dashboards: procurement's overview of a project and the interactive bake-off page.

Pages (``GET``, signed in with the web sign-in of :mod:`service.web.auth`; roles
``viewer``, ``qa``, ``lead`` and ``admin``; QA sees blinded names while a bake-off is
blinded):

``/ui/dashboards``                                  the projects
``/ui/dashboards/projects/{project_id}``            its bake-offs, the current ranking,
                                                    cost per correct label, trends
``/ui/dashboards/bakeoffs/{bakeoff_id}``            the whole report, interactive
``/ui/dashboards/bakeoffs/{bakeoff_id}/report.html`` the self-contained report (download)
``/ui/dashboards/bakeoffs/{bakeoff_id}/report.json`` the JSON report (``docs/report-schema.md``)
``/ui/dashboards/assets/plotly.min.js``             plotly.js, served locally (no CDN)
"""

from __future__ import annotations

from typing import Annotated

import plotly.graph_objects as go
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from reports.breakdowns import trend_breakdown
from reports.figures import build_pareto_chart, build_ranking_chart, build_trend_chart
from reports.render import plotly_js, render_figures_script, render_fragment, render_html_string
from reports.results import Report
from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.api.hardening import csp_nonce
from service.domain import reporting
from service.domain.bakeoffs import get_bakeoff
from service.domain.errors import Conflict
from service.domain.projects import get_project, list_projects
from service.web.auth import render

__all__ = ["router", "PLOTLY_PATH"]

router = APIRouter(prefix="/ui/dashboards", tags=["dashboards"], include_in_schema=False)

PLOTLY_PATH = "/ui/dashboards/assets/plotly.min.js"
Resamples = Annotated[int, Query(ge=100, le=10_000, description="Bootstrap resamples.")]


def _report(session: SessionDep, principal: CurrentKey, bakeoff_id: int, resamples: int) -> Report:
    try:
        return reporting.bakeoff_report(
            session=session, bakeoff_id=bakeoff_id, principal=principal, n_resamples=resamples
        )
    except ValueError as exc:
        raise Conflict(str(exc), code="report_unavailable") from exc


@router.get("/assets/plotly.min.js")
def plotly_asset() -> Response:
    """plotly.js, from the installed plotly package."""
    return Response(
        plotly_js(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@router.get("", response_class=HTMLResponse)
def index(
    request: Request, session: SessionDep, settings: SettingsDep, principal: CurrentKey
) -> HTMLResponse:
    """Projects with dashboards."""
    projects, _ = list_projects(session=session, principal=principal, limit=500)
    return render(
        request,
        "dashboards/index.html",
        {"projects": projects},
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
    figures: dict[str, go.Figure] = {}
    if overview.current is not None:
        figures["ranking"] = build_ranking_chart(overview.current.ranking)
        if any(s.cost_per_correct is not None for s in overview.current.ranking.systems):
            figures["pareto"] = build_pareto_chart(overview.current.ranking)
    trends, warnings = trend_breakdown(overview.history)
    if trends:
        figures["trends"] = build_trend_chart(trends, warnings)
    nonce = csp_nonce(request)
    return render(
        request,
        "dashboards/project.html",
        {
            "overview": overview,
            "warnings": warnings,
            "figure_keys": list(figures),
            "figures_script": render_figures_script(figures, nonce=nonce),
            "plotly_src": PLOTLY_PATH,
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
    bakeoff_id: int,
    resamples: Resamples = 1000,
) -> HTMLResponse:
    """One bake-off's report, interactive."""
    report = _report(session, principal, bakeoff_id, resamples)
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    return render(
        request,
        "dashboards/bakeoff.html",
        {
            "report": report,
            "bakeoff": bakeoff,
            "fragment": render_fragment(report, nonce=csp_nonce(request)),
            "plotly_src": PLOTLY_PATH,
        },
        settings=settings,
        principal=principal,
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
