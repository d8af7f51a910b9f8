"""API keys: create (the plaintext is returned once), list, revoke, authenticate."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain._common import get_or_404, paginate
from service.domain.access import ROLE_RANK, check_project, check_vendor, vendor_projects
from service.domain.errors import Forbidden, Invalid, NotFound, Unauthorized
from service.domain.security import Principal, generate_key, hash_key
from service.models import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPublic,
    Project,
    Role,
    Vendor,
)

__all__ = ["create_api_key", "get_api_key", "list_api_keys", "revoke_api_key", "authenticate"]


def _check_grant(session: Session, principal: Principal, data: ApiKeyCreate) -> None:
    """A key creates keys only within its own scope and at most its own role."""
    if ROLE_RANK[data.role] > ROLE_RANK[principal.role]:
        raise Forbidden(
            f"a {principal.role!r} key may not create a {data.role!r} key "
            "(a key grants at most its own role)"
        )
    if principal.role == "vendor" and data.role == "vendor":
        check_vendor(principal, data.vendor_id or 0)
    scope = principal.project_id
    if scope is None:
        return
    if data.project_id != scope:
        raise Forbidden(
            f"this API key is limited to project {scope}: the new key needs project_id {scope}",
            code="out_of_scope",
        )
    if data.vendor_id is not None and vendor_projects(session, data.vendor_id) - {scope}:
        raise Forbidden(
            f"vendor {data.vendor_id} takes part in other projects; "
            "only an unscoped key may create its keys",
            code="out_of_scope",
        )


def create_api_key(
    *, session: Session, data: ApiKeyCreate, principal: Principal | None = None
) -> ApiKeyCreated:
    """Store a new key (hashed) and return it with its plaintext, shown this once.

    A caller's key grants at most its own role, and a project-scoped caller creates only keys
    of its own project (``principal=None``: an internal caller such as the CLI, unrestricted).

    Raises
    ------
    Invalid
        A ``vendor`` key without ``vendor_id``, or ``vendor_id`` on another role.
    NotFound
        ``vendor_id`` names no vendor, or ``project_id`` no project.
    Forbidden
        The new key would have a higher role than the caller's, or reach outside the caller's
        project (no ``project_id``, another one, or a vendor other projects use).
    """
    if data.role == "vendor" and data.vendor_id is None:
        raise Invalid("a vendor key needs vendor_id", location=("body", "vendor_id"))
    if data.role != "vendor" and data.vendor_id is not None:
        raise Invalid(
            f"vendor_id is only for role 'vendor', not {data.role!r}",
            location=("body", "vendor_id"),
        )
    if data.vendor_id is not None and session.get(Vendor, data.vendor_id) is None:
        raise NotFound(f"Vendor {data.vendor_id} not found")
    if data.project_id is not None and session.get(Project, data.project_id) is None:
        raise NotFound(f"Project {data.project_id} not found")
    if principal is not None:
        _check_grant(session, principal, data)
    plaintext = generate_key()
    key = ApiKey.model_validate(
        data, update={"key_hash": hash_key(plaintext), "prefix": plaintext[:12]}
    )
    session.add(key)
    session.commit()
    session.refresh(key)
    return ApiKeyCreated.model_validate(key, update={"key": plaintext})


def list_api_keys(
    *,
    session: Session,
    principal: Principal | None = None,
    skip: int = 0,
    limit: int = 100,
    role: Role | None = None,
    include_revoked: bool = False,
) -> tuple[list[ApiKeyPublic], int]:
    """List keys (never their hashes), newest first; a project-scoped caller sees its project's."""
    stmt = select(ApiKey)
    if principal is not None and principal.project_id is not None:
        stmt = stmt.where(ApiKey.project_id == principal.project_id)
    if role is not None:
        stmt = stmt.where(ApiKey.role == role)
    if not include_revoked:
        stmt = stmt.where(col(ApiKey.revoked_at).is_(None))
    rows, count = paginate(session, stmt.order_by(col(ApiKey.id).desc()), skip=skip, limit=limit)
    return [ApiKeyPublic.model_validate(r) for r in rows], count


def get_api_key(*, session: Session, key_id: int) -> ApiKeyPublic:
    """One key's public fields."""
    return ApiKeyPublic.model_validate(get_or_404(session, ApiKey, key_id, what="API key"))


def revoke_api_key(
    *, session: Session, key_id: int, principal: Principal | None = None
) -> ApiKeyPublic:
    """Revoke a key; it stops working at once. Revoking twice is harmless.

    Raises
    ------
    Forbidden
        A project-scoped caller and a key of another project or of none.
    """
    key = get_or_404(session, ApiKey, key_id, what="API key")
    check_project(principal, key.project_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.add(key)
        session.commit()
        session.refresh(key)
    return ApiKeyPublic.model_validate(key)


def authenticate(*, session: Session, plaintext: str) -> Principal:
    """Resolve a plaintext key to its :class:`Principal`.

    Raises
    ------
    Unauthorized
        Unknown or revoked key.
    """
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(plaintext))).first()
    if key is None or key.id is None:
        raise Unauthorized("unknown API key")
    if key.revoked_at is not None:
        raise Unauthorized("this API key was revoked")
    return Principal(
        key_id=key.id,
        name=key.name,
        role=key.role,
        vendor_id=key.vendor_id,
        project_id=key.project_id,
    )
