"""The delivery audit page: draw the sample, review the drawn items in order, see the verdict.

``/ui/deliveries/{delivery_id}/audit`` (role ``qa`` and up, signed in with
:mod:`service.web.auth`) shows the delivery's accept/reject verdict with the numbers behind
it (strata, reviewed counts, the stratified estimate and its interval, the SLA), and the next
drawn item with what the vendor answered. The two forms post to the action routes below,
which carry the CSRF token and call the same domain functions as the ``/deliveries`` API:
items are served in draw order, so a reviewer cannot pick or skip one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.domain import delivery_audit
from service.domain.deliveries import get_delivery
from service.models import AuditDecision, AuditDecisionIn, AuditDraw
from service.web.auth import render
from service.web.csrf import CsrfProtected

__all__ = ["router"]

router = APIRouter(prefix="/ui/deliveries", tags=["web"], include_in_schema=False)


@router.get("/{delivery_id}/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    delivery_id: int,
) -> HTMLResponse:
    """A delivery's audit: the verdict with its numbers and the next drawn item."""
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    status = delivery_audit.audit_status(
        session=session, delivery_id=delivery_id, principal=principal
    )
    return render(
        request,
        "deliveries/audit.html",
        {"delivery": delivery, "audit": status},
        settings=settings,
        principal=principal,
    )


@router.post("/{delivery_id}/audit/draw", dependencies=[CsrfProtected])
def draw_action(
    session: SessionDep,
    principal: CurrentKey,
    delivery_id: int,
    half_width: Annotated[float, Form(gt=0, lt=0.5)] = 0.02,
) -> RedirectResponse:
    """Draw the audit sample (once), then show the first item."""
    delivery_audit.draw_audit(
        session=session,
        delivery_id=delivery_id,
        data=AuditDraw(half_width=half_width),
        principal=principal,
    )
    return RedirectResponse(f"/ui/deliveries/{delivery_id}/audit", status_code=303)


@router.post("/{delivery_id}/audit/decide", dependencies=[CsrfProtected])
def decide_action(
    session: SessionDep,
    principal: CurrentKey,
    delivery_id: int,
    item_id: Annotated[str, Form(min_length=1, max_length=512)],
    decision: Annotated[AuditDecision, Form()],
) -> RedirectResponse:
    """Record the decision on the item served, then show the next one."""
    delivery_audit.decide_audit(
        session=session,
        delivery_id=delivery_id,
        data=AuditDecisionIn(item_id=item_id, decision=decision),
        principal=principal,
    )
    return RedirectResponse(f"/ui/deliveries/{delivery_id}/audit", status_code=303)
