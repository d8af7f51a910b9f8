"""Domain errors; :mod:`service.api.errors` maps them to HTTP responses.

=============  ====  =========================================================
error          HTTP  when
=============  ====  =========================================================
NotFound       404   the entity does not exist (or the caller may not know it does)
Conflict       409   the request clashes with stored state (duplicate name, pinned version)
Forbidden      403   the caller's role or scope does not allow this
Unauthorized   401   no key, unknown key or revoked key
Invalid        422   the input is well-formed JSON but wrong; ``location`` says where
=============  ====  =========================================================
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["DomainError", "NotFound", "Conflict", "Forbidden", "Unauthorized", "Invalid"]


class DomainError(Exception):
    """Base of every domain error; ``code`` is a stable machine-readable slug."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Forbidden(DomainError):
    code = "forbidden"


class Unauthorized(DomainError):
    code = "unauthorized"


class Invalid(DomainError):
    """Bad input. ``location`` is a path such as ``("body", "rows", 7, "label")``."""

    code = "invalid"

    def __init__(
        self, message: str, *, location: Sequence[str | int] = ("body",), code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.location = tuple(location)
