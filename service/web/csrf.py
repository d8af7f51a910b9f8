"""CSRF protection for cookie-signed-in web forms: a signed double-submit token.

How a page uses it::

    from service.web.csrf import CsrfProtected, csrf_input, issue_csrf_token

    @router.get("/review", response_class=HTMLResponse)
    def review_page(request: Request, settings: SettingsDep) -> HTMLResponse:
        response = HTMLResponse("")
        token = issue_csrf_token(request, response, settings=settings)
        response.body = render("review.html", csrf_input=csrf_input(token)) ...
        return response

    @router.post("/review/{flag_id}", dependencies=[CsrfProtected])
    def submit_review(...): ...

The token is ``<random>.<HMAC-SHA256(secret_key, random | sign-in cookie)>``. It is set as the
``bakeoff_csrf`` cookie (``HttpOnly``, ``SameSite=Strict``) and rendered into each form as the
hidden field ``csrf_token`` (or sent by scripts as the ``X-CSRF-Token`` header). A state-changing
request passes only when the submitted token equals the cookie *and* its signature verifies for
this server's secret and the caller's sign-in cookie, so another site can neither read nor forge
it, and a token planted by a sibling sub-domain does not verify. Refusals are HTTP 403 with code
``csrf_failed``.

:mod:`service.api.hardening` additionally refuses cookie-authenticated requests that the browser
marks as cross-site (``Sec-Fetch-Site``), for every route including the JSON API.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

from fastapi import Depends, Request, Response
from markupsafe import Markup, escape

from service.api.deps import API_KEY_COOKIE, SettingsDep
from service.core.config import Settings
from service.domain.errors import Forbidden

__all__ = [
    "CSRF_COOKIE",
    "CSRF_FIELD",
    "CSRF_HEADER",
    "CsrfProtected",
    "csrf_input",
    "issue_csrf_token",
    "make_csrf_token",
    "require_csrf",
    "token_is_valid",
    "verify_csrf",
]

CSRF_COOKIE: Final = "bakeoff_csrf"
CSRF_FIELD: Final = "csrf_token"
CSRF_HEADER: Final = "X-CSRF-Token"
_SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _signature(secret: str, nonce: str, binding: str) -> str:
    bound = hashlib.sha256(binding.encode("utf-8")).hexdigest()
    message = f"bakeoff-csrf|{nonce}|{bound}".encode()
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _binding(request: Request) -> str:
    return request.cookies.get(API_KEY_COOKIE, "")


def make_csrf_token(*, secret: str, binding: str = "") -> str:
    """A new token signed with ``secret`` and bound to ``binding`` (the sign-in cookie).

    Examples
    --------
    >>> token = make_csrf_token(secret="s3cret", binding="bko_abc")
    >>> token_is_valid(token, secret="s3cret", binding="bko_abc")
    True
    >>> token_is_valid(token, secret="s3cret", binding="bko_other")
    False
    """
    nonce = secrets.token_urlsafe(24)
    return f"{nonce}.{_signature(secret, nonce, binding)}"


def token_is_valid(token: str, *, secret: str, binding: str = "") -> bool:
    """Whether ``token`` was made by :func:`make_csrf_token` with this secret and binding."""
    nonce, sep, signature = token.partition(".")
    if not sep or not nonce or not signature:
        return False
    return hmac.compare_digest(signature, _signature(secret, nonce, binding))


def issue_csrf_token(request: Request, response: Response, *, settings: Settings) -> str:
    """The request's valid CSRF token, or a new one set as a cookie on ``response``.

    Parameters
    ----------
    request
        The page request (its ``bakeoff_csrf`` cookie is reused when still valid).
    response
        The response that gets the cookie.
    settings
        Supplies ``secret_key``.

    Returns
    -------
    str
        The token to render into forms (:func:`csrf_input`).
    """
    secret = settings.secret_key.get_secret_value()
    binding = _binding(request)
    current = request.cookies.get(CSRF_COOKIE)
    if current and token_is_valid(current, secret=secret, binding=binding):
        return current
    token = make_csrf_token(secret=secret, binding=binding)
    response.set_cookie(
        CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=settings.secure_cookies or request.url.scheme == "https",
        path="/",
    )
    return token


def csrf_input(token: str) -> Markup:
    """The hidden form field carrying ``token`` (safe to put in a Jinja template as is)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(CSRF_FIELD, escape(token))


def verify_csrf(request: Request, submitted: str | None, *, settings: Settings) -> None:
    """Check a submitted token against the cookie and the server secret.

    Raises
    ------
    Forbidden
        Code ``csrf_failed``: no cookie, no submitted token, a mismatch or a bad signature.
    """
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie:
        raise Forbidden(
            "CSRF check failed: no CSRF cookie; reload the page and submit the form again",
            code="csrf_failed",
        )
    if not submitted:
        raise Forbidden(
            f"CSRF check failed: the form sent no '{CSRF_FIELD}' field (or '{CSRF_HEADER}' header)",
            code="csrf_failed",
        )
    secret = settings.secret_key.get_secret_value()
    if not hmac.compare_digest(cookie, submitted) or not token_is_valid(
        submitted, secret=secret, binding=_binding(request)
    ):
        raise Forbidden(
            "CSRF check failed: the token does not match; reload the page and try again",
            code="csrf_failed",
        )


async def require_csrf(request: Request, settings: SettingsDep) -> None:
    """FastAPI dependency: verify the CSRF token of unsafe requests (header or form field)."""
    if request.method.upper() in _SAFE_METHODS:
        return
    submitted = request.headers.get(CSRF_HEADER)
    if submitted is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            submitted = value if isinstance(value, str) else None
    verify_csrf(request, submitted, settings=settings)


CsrfProtected = Depends(require_csrf)
