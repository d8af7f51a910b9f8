"""Map domain errors (and label-file format errors) to HTTP responses.

``NotFound`` → 404, ``Conflict`` → 409, ``Forbidden`` → 403, ``Unauthorized`` → 401, and
``Invalid`` / :class:`adapters.formats.FormatError` → 422 in FastAPI's validation-error shape::

    {"detail": [{"loc": ["body", "row 7"], "msg": "gold.csv: row 7: unknown class 'kat'",
                 "type": "format_error"}]}

Other responses carry ``{"detail": "<message>", "code": "<slug>"}``.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from adapters.formats import FormatError
from service.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
)

__all__ = ["install_error_handlers", "status_for"]

_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Forbidden, 403),
    (Unauthorized, 401),
    (Invalid, 422),
)


def status_for(exc: DomainError) -> int:
    """The HTTP status of a domain error (400 for an unknown subclass)."""
    for cls, status in _STATUS:
        if isinstance(exc, cls):
            return status
    return 400


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, DomainError):  # pragma: no cover - registered for DomainError only
        raise exc
    status = status_for(exc)
    if isinstance(exc, Invalid):
        body: dict[str, object] = {
            "detail": [{"loc": list(exc.location), "msg": exc.message, "type": exc.code}]
        }
        return JSONResponse(body, status_code=status)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"detail": exc.message, "code": exc.code}, status_code=status, headers=headers
    )


async def _format_error(_request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, FormatError):  # pragma: no cover
        raise exc
    loc: list[str] = ["body"]
    if exc.location:
        loc.append(exc.location)
    body = {"detail": [{"loc": loc, "msg": str(exc), "type": "format_error"}]}
    return JSONResponse(body, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(FormatError, _format_error)
