"""Row-level access rules shared by the domain functions.

The route-level table (:mod:`service.domain.permissions`) says whether a role may call a route
at all. These helpers apply the finer rules: a project-scoped key sees only its project; a
``vendor`` key sees only its own vendor's rows. ``principal=None`` means an internal caller
(CLI, background job) with full access.
"""

from __future__ import annotations

from service.domain.errors import Forbidden
from service.domain.security import Principal

__all__ = ["check_project", "check_vendor", "is_vendor", "project_scope", "require_role"]


def is_vendor(principal: Principal | None) -> bool:
    """Whether the caller is a ``vendor`` key."""
    return principal is not None and principal.role == "vendor"


def project_scope(principal: Principal | None) -> int | None:
    """The only project the caller may see, or ``None`` for all."""
    return None if principal is None else principal.project_id


def check_project(principal: Principal | None, project_id: int) -> None:
    """Raise :class:`Forbidden` when a project-scoped key reaches outside its project."""
    scope = project_scope(principal)
    if scope is not None and scope != project_id:
        raise Forbidden(f"this API key is limited to project {scope}, not {project_id}")


def check_vendor(principal: Principal | None, vendor_id: int) -> None:
    """Raise :class:`Forbidden` when a vendor key touches another vendor's data."""
    if is_vendor(principal) and principal is not None and principal.vendor_id != vendor_id:
        raise Forbidden("a vendor key may only access its own vendor's data")


def require_role(principal: Principal | None, *roles: str) -> None:
    """Raise :class:`Forbidden` unless the caller has one of ``roles`` (internal callers pass)."""
    if principal is not None and principal.role not in roles:
        raise Forbidden(f"role {principal.role!r} may not do this (needs one of {sorted(roles)})")
