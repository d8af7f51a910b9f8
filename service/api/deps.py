"""FastAPI dependencies as ``Annotated`` aliases: session, settings, caller, paging.

Authentication
--------------
Send the API key as ``X-API-Key: <key>`` or ``Authorization: Bearer <key>``; server-rendered pages
may also use the ``bakeoff_api_key`` cookie. :func:`authorize` runs for *every* route (it is an
app-wide dependency): it finds the route's entry in
:data:`service.domain.permissions.ROUTE_PERMISSIONS` and refuses the call with 401 (no or bad key)
or 403 (role not allowed, or route not registered), then checks every object id the request
names (path and query) against the key's project scope and blinding
(:func:`service.domain.access.check_request_scope`, 403 ``out_of_scope`` or ``blinded``).
Routes that need the caller take ``principal: CurrentKey``; the key is looked up once per
request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, Request
from sqlmodel import Session

from service.api.routing import route_template
from service.core.config import Settings, get_settings
from service.core.db import get_session
from service.domain.access import check_request_scope
from service.domain.api_keys import authenticate
from service.domain.errors import Forbidden, Unauthorized
from service.domain.permissions import PUBLIC, access_for
from service.domain.security import Principal

__all__ = [
    "SessionDep",
    "SettingsDep",
    "CurrentKey",
    "OptionalKey",
    "PageDep",
    "Page",
    "IdempotencyKey",
    "authorize",
    "current_principal",
    "API_KEY_COOKIE",
]

API_KEY_COOKIE = "bakeoff_api_key"

SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _read_key(request: Request) -> str | None:
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, token = auth.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    cookie = request.cookies.get(API_KEY_COOKIE)
    return cookie.strip() if cookie else None


def authorize(request: Request, session: SessionDep) -> Principal | None:
    """Authenticate the caller and check the route against the permission table.

    Returns ``None`` on public routes; otherwise the caller's :class:`Principal`.

    Raises
    ------
    Unauthorized
        No key, unknown key or revoked key (HTTP 401).
    Forbidden
        The role may not call this route, the route is not in the table, or the request names
        an object outside the key's project scope or a vendor of a blinded bake-off (HTTP 403).
    """
    path = route_template(request)
    method = request.method
    access = access_for(method, path)
    if access == PUBLIC:
        return None
    plaintext = _read_key(request)
    if plaintext is None:
        raise Unauthorized("missing API key: send it as 'X-API-Key: <key>' or 'Bearer <key>'")
    principal = authenticate(session=session, plaintext=plaintext)
    if access is None:
        raise Forbidden(
            f"{method} {path} is not in the permission table "
            "(register it in service/domain/permissions.py)",
            code="route_not_registered",
        )
    if principal.role not in access:
        raise Forbidden(
            f"role {principal.role!r} may not call {method} {path}", code="role_forbidden"
        )
    check_request_scope(
        session,
        principal,
        method=method,
        path_params=request.path_params,
        query_params=request.query_params.multi_items(),
    )
    request.state.principal = principal
    return principal


def current_principal(
    principal: Annotated[Principal | None, Depends(authorize)],
) -> Principal:
    """The authenticated caller (only on non-public routes)."""
    if principal is None:
        raise Unauthorized("this route needs an API key")
    return principal


CurrentKey = Annotated[Principal, Depends(current_principal)]
OptionalKey = Annotated[Principal | None, Depends(authorize)]


@dataclass(frozen=True)
class Page:
    """``skip``/``limit`` of a list request."""

    skip: int
    limit: int


def _page(
    settings: SettingsDep,
    skip: Annotated[int, Query(ge=0, description="Rows to skip.")] = 0,
    limit: Annotated[int, Query(ge=1, le=100_000, description="Rows to return.")] = 100,
) -> Page:
    return Page(skip=skip, limit=min(limit, settings.max_page_size))


PageDep = Annotated[Page, Depends(_page)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Re-sending a request with the same key stores its data once.",
    ),
]
