"""API keys: create (the plaintext is returned once), list, revoke, authenticate."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain._common import get_or_404, paginate
from service.domain.errors import Invalid, NotFound, Unauthorized
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


def create_api_key(*, session: Session, data: ApiKeyCreate) -> ApiKeyCreated:
    """Store a new key (hashed) and return it with its plaintext, shown this once.

    Raises
    ------
    Invalid
        A ``vendor`` key without ``vendor_id``, or ``vendor_id`` on another role.
    NotFound
        ``vendor_id`` names no vendor, or ``project_id`` no project.
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
    skip: int = 0,
    limit: int = 100,
    role: Role | None = None,
    include_revoked: bool = False,
) -> tuple[list[ApiKeyPublic], int]:
    """List keys (never their hashes), newest first."""
    stmt = select(ApiKey)
    if role is not None:
        stmt = stmt.where(ApiKey.role == role)
    if not include_revoked:
        stmt = stmt.where(col(ApiKey.revoked_at).is_(None))
    rows, count = paginate(session, stmt.order_by(col(ApiKey.id).desc()), skip=skip, limit=limit)
    return [ApiKeyPublic.model_validate(r) for r in rows], count


def get_api_key(*, session: Session, key_id: int) -> ApiKeyPublic:
    """One key's public fields."""
    return ApiKeyPublic.model_validate(get_or_404(session, ApiKey, key_id, what="API key"))


def revoke_api_key(*, session: Session, key_id: int) -> ApiKeyPublic:
    """Revoke a key; it stops working at once. Revoking twice is harmless."""
    key = get_or_404(session, ApiKey, key_id, what="API key")
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
