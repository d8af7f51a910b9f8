"""Error pages for browsers: a 403, 404 or 500 is a page with a way on, not raw JSON.

The API answers errors as JSON (:mod:`service.api.errors`, :mod:`service.api.hardening`);
that stays so for every API client. A *browser* (a request whose ``Accept`` names
``text/html`` and not ``application/json``, which is what a browser sends when it navigates)
gets the same status code with an HTML page instead: what went wrong in words, the server's
message, and links on (the start page of the caller's role, signing in with another key,
the dashboards or the review queue).

:class:`BrowserErrorPages` is a pure ASGI middleware so it covers every error, whichever
handler (domain errors, routing's 404/405, validation, database unavailable, unexpected)
wrote it, without changing any of them.
"""

from __future__ import annotations

import json
from typing import Any, Final
from urllib.parse import quote

from service.web.auth import LOGIN_PATH, TEMPLATES

__all__ = ["BrowserErrorPages", "install", "wants_html"]

_TITLES: Final[dict[int, str]] = {
    400: "Bad request",
    401: "Please sign in",
    403: "Not allowed",
    404: "Not found",
    405: "Not available here",
    409: "Conflict",
    413: "Too large",
    422: "Something in the request is wrong",
    429: "Too many attempts",
    503: "Busy, try again",
}
_EXPLAIN: Final[dict[int, str]] = {
    401: "This page needs you to be signed in with an API key.",
    403: "Your key's role may not open this page. Each role has its own start page.",
    404: "There is no such page, or the thing it names does not exist (or is not yours to see).",
    405: "This address does not answer that kind of request.",
    503: "The database is busy. Reload the page in a moment.",
}


def wants_html(accept: str) -> bool:
    """Whether an ``Accept`` header is a browser's page request (HTML, not JSON).

    Examples
    --------
    >>> wants_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    True
    >>> wants_html("*/*"), wants_html("application/json"), wants_html("")
    (False, False, False)
    """
    accept = accept.lower()
    return "text/html" in accept and "application/json" not in accept


def _message(body: bytes) -> str:
    """The server's message from a JSON error body (``detail`` string or validation list)."""
    try:
        parsed = json.loads(body or b"null")
    except ValueError:
        return ""
    detail = parsed.get("detail") if isinstance(parsed, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for entry in detail[:5]:
            if isinstance(entry, dict):
                where = ".".join(str(x) for x in entry.get("loc", []) if x != "body")
                msg = str(entry.get("msg", ""))
                parts.append(f"{where}: {msg}" if where else msg)
        return "; ".join(parts)
    return ""


def render_error_page(status: int, message: str, *, path: str, principal: Any = None) -> bytes:
    """The HTML of the error page for ``status`` (``principal`` when the caller is known)."""
    title = _TITLES.get(status, "Something went wrong" if status >= 500 else "Request refused")
    explain = _EXPLAIN.get(
        status,
        "The server could not complete this request; it has been logged." if status >= 500 else "",
    )
    html = TEMPLATES.get_template("web/error.html").render(
        {
            "status": status,
            "title": title,
            "explain": explain,
            "message": message if status < 500 else "",
            "principal": None,  # no sign-out form: the page has no CSRF token to post with
            "caller": principal,
            "sign_in": f"{LOGIN_PATH}?next={quote(path, safe='/')}",
            "csrf_token": "",
            "csrf_input": "",
            "csp_nonce": "",  # the page runs no script
        }
    )
    return html.encode("utf-8")


class BrowserErrorPages:
    """Pure ASGI: turn a JSON error answer to a browser's page request into an HTML page."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not wants_html(headers.get("accept", "")):
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def wrapped(message: Any) -> None:
            if message["type"] == "http.response.start":
                out_headers = {
                    k.decode("latin-1").lower(): v.decode("latin-1")
                    for k, v in message.get("headers", [])
                }
                is_json = "json" in out_headers.get("content-type", "")
                if message["status"] >= 400 and is_json:
                    held["start"] = message  # hold it: the body becomes a page
                    return
                await send(message)
                return
            if message["type"] == "http.response.body" and "start" in held:
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await self._send_page(scope, held["start"], b"".join(chunks), send)
                return
            await send(message)

        await self.app(scope, receive, wrapped)

    @staticmethod
    async def _send_page(scope: Any, start: Any, body: bytes, send: Any) -> None:
        status = int(start["status"])
        state = scope.get("state") or {}
        page = render_error_page(
            status,
            _message(body),
            path=str(scope.get("path", "/")),  # not the query: the page echoes nothing else
            principal=state.get("principal"),
        )
        kept = [
            (k, v)
            for k, v in start.get("headers", [])
            if k.decode("latin-1").lower() not in ("content-type", "content-length")
        ]
        kept += [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(page)).encode("latin-1")),
        ]
        await send({"type": "http.response.start", "status": status, "headers": kept})
        await send({"type": "http.response.body", "body": page})


def install(app: Any) -> None:
    """Add :class:`BrowserErrorPages` to ``app`` (a FastAPI or Starlette app)."""
    app.add_middleware(BrowserErrorPages)
