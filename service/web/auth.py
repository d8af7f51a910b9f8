"""Sign-in for the server-rendered pages, shared by every page module (review, dashboards).

* ``GET /ui/login`` shows a form for an API key; ``POST /ui/login`` checks the key and sets the
  ``bakeoff_api_key`` cookie (``HttpOnly``, ``SameSite=Strict``, 8 hours; ``Secure`` over HTTPS
  and always outside dev/test, see ``BAKEOFF_COOKIE_SECURE``)
  that :func:`service.api.deps.authorize` accepts on every route, then redirects to ``next``.
* ``POST /ui/logout`` clears it.
* Both forms carry the double-submit CSRF token of :mod:`service.web.csrf`; a failed check shows
  the form again (HTTP 400).
* :func:`install` also serves ``service/web/static`` at ``/static`` and turns a *page* request that
  is not signed in (HTTP 401 on a ``GET /ui/...`` asking for HTML) into a redirect to the form.

Page modules render with :func:`render`, which passes ``request``, ``principal``, ``csrf_token``,
``csrf_input`` and ``csp_nonce`` to the template (every page template lives under the one root
``service/web/templates``; ``web/base.html`` is the shared layout).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from service.api.auth_throttle import record_failure
from service.api.deps import API_KEY_COOKIE, SessionDep, SettingsDep
from service.api.hardening import csp_nonce
from service.core.config import Settings
from service.domain.api_keys import authenticate
from service.domain.errors import Forbidden, Unauthorized
from service.domain.security import Principal
from service.web.csrf import CSRF_COOKIE, csrf_input, issue_csrf_token, verify_csrf

__all__ = [
    "LOGIN_PATH",
    "SESSION_MAX_AGE_S",
    "TEMPLATES",
    "router",
    "install",
    "render",
    "safe_next",
]

LOGIN_PATH: Final = "/ui/login"
LOGOUT_PATH: Final = "/ui/logout"
DEFAULT_NEXT: Final = "/ui"  # the front door picks the page by role
SESSION_MAX_AGE_S: Final = 8 * 3600
_PAGE_PREFIX: Final = "/ui/"

_HERE = Path(__file__).resolve().parent
_TEMPLATE_DIR = _HERE / "templates"  # the one template root of every page (STYLE.md §8)
_STATIC_DIR = _HERE / "static"

TEMPLATES = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(str(_TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "xml", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
)

router = APIRouter(prefix="/ui", tags=["web"], include_in_schema=False)


def safe_next(target: str | None) -> str:
    """A same-site path to go to after signing in (anything else becomes the default)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return DEFAULT_NEXT
    return target


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any],
    *,
    settings: Settings,
    principal: Principal | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page with the shared context (principal, CSRF token, CSP nonce)."""
    response = HTMLResponse("")
    token = issue_csrf_token(request, response, settings=settings)
    html = TEMPLATES.get_template(name).render(
        {
            "request": request,
            "principal": principal,
            "csrf_token": token,
            "csrf_input": csrf_input(token),
            "csp_nonce": csp_nonce(request),
            **context,
        }
    )
    out = HTMLResponse(html, status_code=status_code)
    for key, value in response.headers.items():
        if key.lower() == "set-cookie":
            out.headers.append(key, value)
    out.headers["Cache-Control"] = "no-store"
    return out


@router.get(LOGIN_PATH.removeprefix("/ui"), response_class=HTMLResponse)
def login_form(
    request: Request,
    settings: SettingsDep,
    next_: Annotated[str | None, Query(alias="next")] = None,
) -> HTMLResponse:
    """Sign-in form."""
    return render(
        request,
        "web/login.html",
        {"next": safe_next(next_), "error": None},
        settings=settings,
    )


@router.post(LOGIN_PATH.removeprefix("/ui"), response_class=HTMLResponse)
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    api_key: Annotated[str, Form(min_length=1, max_length=512)],
    csrf_token: Annotated[str, Form()] = "",
    next_: Annotated[str, Form(alias="next")] = DEFAULT_NEXT,
) -> Response:
    """Check the API key and set the sign-in cookie."""
    target = safe_next(next_)
    try:
        verify_csrf(request, csrf_token, settings=settings)
    except Forbidden:
        return render(
            request,
            "web/login.html",
            {"next": target, "error": "The form expired; please sign in again."},
            settings=settings,
            status_code=400,
        )
    key = api_key.strip()
    try:
        principal = authenticate(session=session, plaintext=key)
    except Unauthorized as exc:
        record_failure(request)  # the form answers 400, not 401: count it here
        return render(
            request,
            "web/login.html",
            {"next": target, "error": f"Sign-in failed: {exc.message}."},
            settings=settings,
            status_code=400,
        )
    response = RedirectResponse(target, status_code=303)
    secure = settings.secure_cookies or request.url.scheme == "https"
    response.set_cookie(
        API_KEY_COOKIE,
        key,
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    # The CSRF token is bound to the sign-in cookie: drop the old one, pages issue a new one.
    response.delete_cookie(CSRF_COOKIE, path="/", httponly=True, samesite="strict", secure=secure)
    response.headers["X-Signed-In-As"] = quote(principal.name)
    return response


@router.post(LOGOUT_PATH.removeprefix("/ui"), response_class=HTMLResponse)
def logout(
    request: Request, settings: SettingsDep, csrf_token: Annotated[str, Form()] = ""
) -> Response:
    """Sign out (clear the cookie)."""
    try:
        verify_csrf(request, csrf_token, settings=settings)
    except Forbidden:
        return render(
            request,
            "web/login.html",
            {"next": DEFAULT_NEXT, "error": "The form expired; sign out again."},
            settings=settings,
            status_code=400,
        )
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    secure = settings.secure_cookies or request.url.scheme == "https"
    for name in (API_KEY_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", httponly=True, samesite="strict", secure=secure)
    return response


class _SignInRedirect:
    """Pure ASGI: a signed-out browser asking for a page is sent to the sign-in form."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope.get("type") != "http"
            or scope.get("method") != "GET"
            or not str(scope.get("path", "")).startswith(_PAGE_PREFIX)
            or str(scope.get("path", "")).startswith(LOGIN_PATH)
        ):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if "text/html" not in headers.get("accept", ""):
            await self.app(scope, receive, send)
            return
        state = {"redirected": False}
        path = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                state["redirected"] = True
                location = f"{LOGIN_PATH}?next={quote(target, safe='')}"
                await send(
                    {
                        "type": "http.response.start",
                        "status": 303,
                        "headers": [
                            (b"location", location.encode("latin-1")),
                            (b"content-length", b"0"),
                            (b"cache-control", b"no-store"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": b""})
                return
            if state["redirected"]:
                return
            await send(message)

        await self.app(scope, receive, wrapped)


def install(app: FastAPI) -> None:
    """Add the sign-in routes, ``/static`` and the signed-out page redirect to ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(_STATIC_DIR)), name="static")
    app.add_middleware(_SignInRedirect)
