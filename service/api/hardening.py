"""App-wide hardening: security headers, request-body limits, cross-site guard, JSON errors.

:func:`install_hardening` (called by :func:`service.main.create_app`) adds pure-ASGI
middlewares (security headers around the whole stack, failed-auth throttle, body limit, JSON
limits, cross-site guard) and exception handlers:

Security headers (every response, API and HTML, redirects and errors included)
    ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
    ``Referrer-Policy: no-referrer``, ``Cross-Origin-Opener-Policy: same-origin``,
    ``Permissions-Policy`` (camera, microphone, geolocation off) and a
    ``Content-Security-Policy``. JSON and file responses get ``default-src 'none';
    frame-ancestors 'none'``. HTML responses get::

        default-src 'self'; script-src 'self' 'nonce-<n>'; style-src 'self' 'unsafe-inline';
        img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self';
        object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'

    Scripts run only from this origin or with the per-request nonce: pages put
    ``nonce="{{ csp_nonce(request) }}"`` on their ``<script>`` elements (plotly.js inline
    included; ``<script type="application/json">`` data blocks need none). Styles allow
    ``'unsafe-inline'`` because plotly.js writes inline ``style`` attributes and ``<style>``
    rules while drawing; that is the one relaxation. A route that needs another policy sets
    its own ``Content-Security-Policy`` header: headers a response already has are kept.

Request-body limit
    Bodies over ``Settings.max_body_bytes`` (32 MiB; bulk-import routes, whose path ends in
    ``/import``: ``Settings.max_upload_bytes``) are refused with
    HTTP 413 and ``{"detail": "...", "code": "payload_too_large"}``: at once when ``Content-Length``
    says so, otherwise as soon as the streamed body passes the limit (nothing is stored: the
    route fails before its transaction commits).

Cross-site guard for cookie sign-in
    The API also accepts the ``bakeoff_api_key`` cookie (web pages). An unsafe request
    (POST, PUT, PATCH, DELETE) that carries that cookie and no ``X-API-Key`` /
    ``Authorization`` header is refused with 403 ``cross_site_request`` when the browser
    says it comes from another site (``Sec-Fetch-Site: cross-site`` / ``same-site``, or an
    ``Origin`` that is not this host). Forms of the web pages add a double-submit token on
    top (:mod:`service.web.csrf`).

Integer parameters
    Integer path and query parameters (ids, versions, ``skip``) must fit a 32-bit database
    ``INTEGER`` (:data:`INT_MIN` .. :data:`INT_MAX`); larger ones get a 422 naming the
    parameter instead of a database overflow (a 500) deep in the domain layer.

JSON limits
    JSON bodies nested deeper than 64 levels or holding ``NaN``/``Infinity``/``1e999`` get
    422 (:class:`JsonLimitsMiddleware`, the rule of :mod:`adapters.formats._json_safe`).

Failed-auth throttle
    Too many wrong keys from one client: 429 with ``Retry-After``
    (:mod:`service.api.auth_throttle`, in-process).

Busy or lost database
    SQLite "database is locked" and broken PostgreSQL connections, from the ORM or a raw
    driver connection, answer 503 with ``Retry-After``; values the database cannot hold, 422.

JSON errors
    Every error body is JSON: ``{"detail": "<message>", "code": "<slug>"}``, or FastAPI's
    validation shape ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`` for 422.
    Unknown routes (404), wrong methods (405) and unexpected exceptions (500, no traceback
    leaked) follow it too.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
import types
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, Literal, Union, get_args, get_origin

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.api.auth_throttle import AuthThrottleMiddleware, FailedAuthThrottle
from service.api.json_limits import JsonLimitsMiddleware
from service.core.config import Settings

__all__ = [
    "API_CSP",
    "BodyTooLarge",
    "CrossSiteGuardMiddleware",
    "RequestSizeLimitMiddleware",
    "SECURITY_HEADERS",
    "SecurityHeadersMiddleware",
    "INT_MAX",
    "INT_MIN",
    "JsonLimitsMiddleware",
    "AuthThrottleMiddleware",
    "check_int_ranges",
    "csp_for_html",
    "csp_nonce",
    "install_hardening",
]

_log = logging.getLogger(__name__)

_PSYCOPG_OPERATIONAL: type[Exception] | None
_PSYCOPG_DATA: type[Exception] | None
try:  # the PostgreSQL driver is optional
    import psycopg

    _PSYCOPG_OPERATIONAL, _PSYCOPG_DATA = psycopg.OperationalError, psycopg.DataError
except ImportError:  # pragma: no cover - installed wherever PostgreSQL is used
    _PSYCOPG_OPERATIONAL = _PSYCOPG_DATA = None

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SECURITY_HEADERS: Final[tuple[tuple[str, str], ...]] = (
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    ("cross-origin-opener-policy", "same-origin"),
    ("permissions-policy", "camera=(), microphone=(), geolocation=(), payment=()"),
)
API_CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
_NONCE_KEY: Final = "csp_nonce"
_UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Bulk imports may be large (streamed to disk); every other body, a file vendor's returned
# package included, is within max_body_bytes.
_UPLOAD_PATH: Final = re.compile(r"/import/?$")
_COOKIE_NAME: Final = "bakeoff_api_key"

_STATUS_CODES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
}


def csp_for_html(nonce: str) -> str:
    """The Content-Security-Policy of an HTML page whose scripts carry ``nonce``."""
    return (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; "
        "font-src 'self' data:; "
        "connect-src 'self'; "
        "object-src 'none'; "
        "base-uri 'none'; "
        "form-action 'self'; "
        "frame-ancestors 'none'"
    )


def csp_nonce(request: Request) -> str:
    """The per-request CSP nonce for ``<script nonce="...">`` in server-rendered pages.

    Parameters
    ----------
    request
        The current request (the middleware made its nonce; outside the middleware, e.g. a bare
        test app, a fresh one is made and remembered).

    Returns
    -------
    str
        URL-safe random token, the same for the whole request.
    """
    state = request.scope.setdefault("state", {})
    nonce = state.get(_NONCE_KEY)
    if not isinstance(nonce, str):
        nonce = secrets.token_urlsafe(18)
        state[_NONCE_KEY] = nonce
    return nonce


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


async def _send_json(send: Send, status: int, detail: str, code: str) -> None:
    body = json.dumps({"detail": detail, "code": code}).encode("utf-8")
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeadersMiddleware:
    """Add :data:`SECURITY_HEADERS` and a Content-Security-Policy to every HTTP response.

    Headers the response already sets are left alone (a page may set its own CSP).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(18)
        scope.setdefault("state", {})[_NONCE_KEY] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {bytes(k).lower() for k, _ in headers}
                for name, value in SECURITY_HEADERS:
                    if name.encode() not in present:
                        headers.append((name.encode(), value.encode()))
                if b"content-security-policy" not in present:
                    content_type = b""
                    for k, v in headers:
                        if bytes(k).lower() == b"content-type":
                            content_type = bytes(v).lower()
                    html = content_type.startswith(b"text/html")
                    policy = csp_for_html(nonce) if html else API_CSP
                    headers.append((b"content-security-policy", policy.encode()))
                message["headers"] = headers
            await send(message)

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send_with_headers(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            # Answer with the JSON 500 here, inside the headers, then let the server log it.
            if not started:
                await _send_json(
                    tracking_send,
                    500,
                    "internal server error (logged on the server)",
                    "internal_error",
                )
            raise


class BodyTooLarge(StarletteHTTPException):
    """Raised (as HTTP 413) while a streamed request body passes the size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"request body is larger than the limit of {limit} bytes "
            "(BAKEOFF_MAX_BODY_BYTES / BAKEOFF_MAX_UPLOAD_BYTES); split the upload",
        )
        self.limit = limit


class RequestSizeLimitMiddleware:
    """Refuse request bodies over a limit with HTTP 413 (JSON body, code ``payload_too_large``).

    Parameters
    ----------
    app
        The wrapped ASGI app.
    max_body_bytes
        Limit of every request body.
    max_upload_bytes
        Limit of bulk-import bodies (paths ending in ``/import``), which are streamed to disk.
        Every other body, a file vendor's ``/package/results`` included, has ``max_body_bytes``.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_upload_bytes = max_upload_bytes

    def limit_for(self, path: str) -> int:
        """The body limit of a request to ``path``."""
        return self.max_upload_bytes if _UPLOAD_PATH.search(path) else self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = _header(scope, b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                await _send_json(send, 400, "Content-Length is not a number", "bad_request")
                return
            if length > limit:
                await _send_json(send, 413, BodyTooLarge(limit).detail, "payload_too_large")
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge as exc:
            if started:  # pragma: no cover - routes read their body before answering
                raise
            await _send_json(send, 413, exc.detail, "payload_too_large")


class CrossSiteGuardMiddleware:
    """Refuse cookie-authenticated unsafe requests that a browser marks as cross-site.

    Requests authenticated by header (``X-API-Key``, ``Authorization``) and requests without
    the sign-in cookie are not affected: only a browser sends cookies on its own.
    """

    def __init__(self, app: ASGIApp, *, cookie_name: str = _COOKIE_NAME) -> None:
        self.app = app
        self.cookie_name = cookie_name

    def _cross_site(self, scope: Scope) -> str | None:
        """Why the request is cross-site, or ``None``."""
        fetch_site = _header(scope, b"sec-fetch-site")
        if fetch_site is not None:
            if fetch_site.lower() in ("same-origin", "none"):
                return None
            return f"Sec-Fetch-Site is {fetch_site!r}"
        origin = _header(scope, b"origin")
        if origin is None or origin == "null":
            return None if origin is None else "Origin is 'null'"
        host = _header(scope, b"host") or ""
        origin_host = origin.split("://", 1)[-1].rstrip("/")
        if origin_host.lower() != host.lower():
            return f"Origin {origin!r} is not this host ({host!r})"
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method", "GET").upper() not in _UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        cookie = _header(scope, b"cookie") or ""
        header_auth = (
            _header(scope, b"x-api-key") is not None or _header(scope, b"authorization") is not None
        )
        if not header_auth and f"{self.cookie_name}=" in cookie:
            reason = self._cross_site(scope)
            if reason is not None:
                await _send_json(
                    send,
                    403,
                    f"cross-site request refused ({reason}); sign-in cookies only work from "
                    "this site's own pages",
                    "cross_site_request",
                )
                return
        await self.app(scope, receive, send)


INT_MIN: Final = -(2**31)
INT_MAX: Final = 2**31 - 1
_INT_PARAMS: dict[int, tuple[tuple[str, str], ...]] = {}


def _is_int_annotation(annotation: object) -> bool:
    if annotation is int:
        return True
    if get_origin(annotation) in (Union, types.UnionType):
        return int in get_args(annotation)
    return False


def _int_params(route: APIRoute) -> tuple[tuple[str, str], ...]:
    """``(location, name)`` of the route's integer path and query parameters (cached)."""
    found = _INT_PARAMS.get(id(route))
    if found is None:
        params: dict[tuple[str, str], None] = {}
        stack: list[Dependant] = [route.dependant]
        while stack:
            dependant = stack.pop()
            for location, fields in (
                ("path", dependant.path_params),
                ("query", dependant.query_params),
            ):
                for field in fields:
                    if _is_int_annotation(field.field_info.annotation):
                        params[(location, field.alias)] = None
            stack.extend(dependant.dependencies)
        found = tuple(params)
        _INT_PARAMS[id(route)] = found
    return found


def check_int_ranges(request: Request) -> None:
    """App-wide dependency: integer path/query parameters must fit a database ``INTEGER``.

    Raises
    ------
    RequestValidationError
        HTTP 422 naming each parameter out of :data:`INT_MIN` .. :data:`INT_MAX`.
    """
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    errors: list[dict[str, Any]] = []
    for location, name in _int_params(route):
        raws = (
            [request.path_params.get(name)]
            if location == "path"
            else request.query_params.getlist(name)
        )
        for raw in raws:
            try:
                value = int(str(raw))
            except ValueError:
                continue  # not a number: FastAPI's own validation reports it
            if not INT_MIN <= value <= INT_MAX:
                errors.append(
                    {
                        "loc": (location, name),
                        "msg": f"{name} must be between {INT_MIN} and {INT_MAX}, got {value}",
                        "type": "int_out_of_range",
                        "input": str(raw),
                    }
                )
    if errors:
        raise RequestValidationError(errors)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):  # pragma: no cover - registered for it only
        raise exc
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
        # FastAPI answers a non-UTF-8 JSON body with a bare 400; say what and where.
        return JSONResponse(
            {
                "detail": [
                    {
                        "loc": ["body", f"byte {cause.start}"],
                        "msg": f"the request body is not UTF-8 text (byte {cause.start})",
                        "type": "unicode_decode_error",
                    }
                ]
            },
            status_code=422,
        )
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    detail = exc.detail
    if exc.status_code == 404 and detail == "Not Found":
        detail = "no such route or resource; see /docs for the API"
    if exc.status_code == 405 and detail == "Method Not Allowed":
        detail = "method not allowed on this route; see /docs for the API"
    return JSONResponse(
        {"detail": detail, "code": code},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _out_of_range(_request: Request, exc: Exception) -> JSONResponse:
    """A value the database cannot hold (a 40-digit id, an over-long text): 422, not 500.

    Raised as SQLAlchemy's ``DataError``, or as the driver's own (a bulk ``COPY`` on the raw
    connection).
    """
    reason = f"integers must be between {INT_MIN} and {INT_MAX}"
    orig = exc.orig if isinstance(exc, DataError) else exc
    if not isinstance(exc, OverflowError) and orig is not None:
        reason = str(orig).strip().splitlines()[0] if str(orig).strip() else reason
    _log.info("request value out of the database's range: %s", reason)
    body = {
        "detail": [
            {
                "loc": ["body"],
                "msg": f"a value in the request does not fit the database ({reason})",
                "type": "out_of_range",
            }
        ]
    }
    return JSONResponse(body, status_code=422)


_BUSY_MESSAGES: Final = ("database is locked", "database is busy", "database table is locked")


def _transient(exc: Exception) -> Literal["busy", "lost"] | None:
    """Whether a database error will likely pass on a retry: ``busy`` (locked), ``lost``.

    Works on SQLAlchemy's wrapped errors and on the drivers' own (raised by code that works on
    the raw connection: bulk writes, ``COPY``).
    """
    orig: object = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return "lost"
        orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return "busy" if any(m in str(orig) for m in _BUSY_MESSAGES) else None
    if _PSYCOPG_OPERATIONAL is not None and isinstance(orig, _PSYCOPG_OPERATIONAL):
        return "busy" if getattr(orig, "sqlstate", None) == "55P03" else "lost"
    return None


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    """The database is locked or its connection broke: 503 with ``Retry-After``, retry later.

    SQLite answers "database is locked" once a writer waited ``busy_timeout``; PostgreSQL
    connections break on a restart, a failover or a killed backend. The request's transaction
    is rolled back, so nothing from it is stored; re-sending it (with the same
    ``Idempotency-Key``) is safe. Every route gets this, ORM or raw driver connection alike.
    """
    kind = _transient(exc)
    if kind is None:  # e.g. SQLite "no such table": a server fault, not a retry
        return await _unexpected_error(request, exc)
    _log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    detail = (
        "the database is busy with another write (locked); nothing from this request was "
        "stored; retry in a moment (with the same Idempotency-Key)"
        if kind == "busy"
        else "the database connection was lost while handling this request; nothing "
        "from it was stored; retry (with the same Idempotency-Key)"
    )
    return JSONResponse(
        {"detail": detail, "code": "database_unavailable"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    _log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse(
        {"detail": "internal server error (logged on the server)", "code": "internal_error"},
        status_code=500,
    )


def install_hardening(app: FastAPI, settings: Settings) -> None:
    """Add the hardening middlewares and JSON error handlers to ``app``.

    The security headers wrap the *whole* middleware stack, Starlette's error middleware and
    every middleware added later included (a redirect or 500 made there gets them too).

    Parameters
    ----------
    app
        The FastAPI app (call before it starts).
    settings
        Supplies ``max_body_bytes``, ``max_upload_bytes`` and the failed-auth throttle.
    """
    app.router.dependencies.append(Depends(check_int_ranges))
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OverflowError, _out_of_range)
    app.add_exception_handler(DataError, _out_of_range)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(sqlite3.OperationalError, _database_unavailable)
    if _PSYCOPG_OPERATIONAL is not None and _PSYCOPG_DATA is not None:
        app.add_exception_handler(_PSYCOPG_OPERATIONAL, _database_unavailable)
        app.add_exception_handler(_PSYCOPG_DATA, _out_of_range)
    app.add_exception_handler(Exception, _unexpected_error)
    throttle = FailedAuthThrottle(
        limit=settings.failed_auth_limit, window_s=settings.auth_failure_window_s
    )
    app.state.auth_throttle = throttle
    # Starlette applies the last added middleware outermost: the size limit counts what the
    # JSON check reads; the throttle answers before anything looks a key up.
    app.add_middleware(JsonLimitsMiddleware)
    app.add_middleware(CrossSiteGuardMiddleware)
    app.add_middleware(
        RequestSizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_upload_bytes,
    )
    app.add_middleware(AuthThrottleMiddleware, throttle=throttle)
    build = app.build_middleware_stack

    def build_with_headers() -> ASGIApp:
        return SecurityHeadersMiddleware(build())

    app.build_middleware_stack = build_with_headers  # type: ignore[method-assign]
