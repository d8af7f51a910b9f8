"""The procurement view of a project's deliveries: production quality over time per vendor.

``/ui/dashboards/projects/{project_id}/deliveries`` (roles ``viewer``, ``qa``, ``lead``,
``admin``; a ``qa`` key sees candidates of blinded bake-offs by their aliases) shows, per
vendor, honeypot accuracy per ISO week with intervals, each delivery's audited error rate,
flagged share and cost per correct label, the SLA breaches (the CUSUM alert's first week and
delivery, rejected deliveries) and the bake-offs that chose the vendor. Every number comes
from :func:`service.domain.delivery_overview.procurement_view`; the template only formats.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.domain.delivery_overview import procurement_view
from service.web.auth import render

__all__ = ["router"]

router = APIRouter(prefix="/ui/dashboards", tags=["web"], include_in_schema=False)


@router.get("/projects/{project_id}/deliveries", response_class=HTMLResponse)
def deliveries_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    project_id: int,
) -> HTMLResponse:
    """Production quality over time per vendor of a project."""
    view = procurement_view(session=session, project_id=project_id, principal=principal)
    return render(
        request,
        "dashboards/deliveries.html",
        {"view": view, "plotly_src": None},
        settings=settings,
        principal=principal,
    )
