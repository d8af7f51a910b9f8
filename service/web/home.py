"""The front door: ``/`` and ``/ui`` send each person to the page their role uses.

Procurement (``viewer``), leads and admins land on the dashboards, QA staff on the review
queue, vendor keys on the API documentation (they have no pages); anyone not signed in
goes to the sign-in form first.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse

from service.api.deps import API_KEY_COOKIE, SessionDep
from service.domain.api_keys import authenticate
from service.domain.errors import Forbidden, Unauthorized
from service.models import Role

__all__ = ["HOME_PATH", "LANDING", "router"]

HOME_PATH: Final = "/ui"
LANDING: Final[dict[Role, str]] = {
    "admin": "/ui/dashboards",
    "lead": "/ui/dashboards",
    "viewer": "/ui/dashboards",
    "qa": "/ui/review",
    "vendor": "/docs",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def root() -> RedirectResponse:
    """Send the browser to the role-based landing page."""
    return RedirectResponse(HOME_PATH, status_code=303)


@router.get(HOME_PATH)
def home(request: Request, session: SessionDep) -> RedirectResponse:
    """Land on the page this key's role uses, or sign in first."""
    key = request.cookies.get(API_KEY_COOKIE)
    if key:
        try:
            principal = authenticate(session=session, plaintext=key)
        except (Unauthorized, Forbidden):
            principal = None
        if principal is not None:
            return RedirectResponse(LANDING[principal.role], status_code=303)
    return RedirectResponse(f"/ui/login?next={HOME_PATH}", status_code=303)
