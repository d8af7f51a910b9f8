"""``Idempotency-Key`` support: a request re-sent with the same key is answered, not redone.

The record is written in the same transaction as the data, so either both are stored or neither.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session, select

from service.domain.errors import Conflict
from service.models import IdempotencyRecord

__all__ = ["fingerprint", "lookup", "remember"]


def fingerprint(body: bytes | str) -> str:
    """sha256 hex of a request body."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest()


def lookup(
    session: Session, *, scope: str, key: str | None, fingerprint: str | None
) -> dict[str, Any] | None:
    """The stored response for ``(scope, key)``, or ``None`` when the key is new.

    Raises
    ------
    Conflict
        The key was used before with a different request body.
    """
    if key is None:
        return None
    record = session.exec(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope)
        .where(IdempotencyRecord.key == key)
    ).first()
    if record is None:
        return None
    if fingerprint is not None and record.fingerprint != fingerprint:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used with a different request body; "
            "use a new key for new data",
            code="idempotency_key_reused",
        )
    return dict(record.response)


def remember(
    session: Session,
    *,
    scope: str,
    key: str | None,
    fingerprint: str | None,
    response: dict[str, Any],
) -> None:
    """Store the response for ``(scope, key)`` in the current transaction (no commit)."""
    if key is None:
        return
    session.add(
        IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint or "", response=response)
    )
