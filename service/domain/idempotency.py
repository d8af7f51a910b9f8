"""``Idempotency-Key`` support: a request re-sent with the same key is answered, not redone.

The record is written in the same transaction as the data, so either both are stored or neither.

Concurrent requests with one key
--------------------------------
:func:`lookup` *claims* a new key: it inserts the key's record (marked in progress) as the
first write of the request's transaction, before any of the request's data. The database's
unique ``(scope, key)`` index then serialises requests that share a key:

* the first request holds the claim until it commits (:func:`remember` turns the claim into
  the stored response) or rolls back (the claim disappears with its data);
* a second request's claim waits for the first to finish. When the first committed, the second
  is answered from the stored response (a replay, or 409 ``idempotency_key_reused`` for another
  body); when the first rolled back, the second does the work itself;
* on PostgreSQL the wait is bounded by :data:`CLAIM_WAIT_S`; past it the second request gets
  409 ``idempotency_key_in_progress`` (retry later with the same key). On SQLite writers queue
  on the database lock (``busy_timeout``); past it the request gets 503 with ``Retry-After``.

No request with a shared key ever fails with a unique-index error (HTTP 500), and the work is
done once.

Callers follow one pattern::

    replay = idempotency.lookup(session, scope=..., key=key, fingerprint=digest)
    if replay is not None:
        return replay
    ...  # the work, in the same transaction; no commit in between
    idempotency.remember(session, scope=..., key=key, fingerprint=digest, response=...)
    session.commit()  # or rollback on error: the claim goes with it

:func:`lookup` may roll the session back (after losing a claim race), so call it before the
request writes anything.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, select

from service.core.types import utcnow
from service.domain.errors import Conflict
from service.models import IdempotencyRecord

__all__ = ["CLAIM_WAIT_S", "IN_PROGRESS", "fingerprint", "lookup", "remember"]

CLAIM_WAIT_S: Final = 10
"""Seconds a request waits (PostgreSQL) for another request holding the same key."""

IN_PROGRESS: Final[dict[str, Any]] = {"_idempotency": "in_progress"}
"""The ``response`` of a claimed key whose request has not stored its answer yet."""

_CLAIMS: Final = "idempotency_claims"
_ATTEMPTS: Final = 3


def fingerprint(body: bytes | str) -> str:
    """sha256 hex of a request body."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    return hashlib.sha256(data).hexdigest()


def _find(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    return session.exec(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.scope == scope)
        .where(IdempotencyRecord.key == key)
    ).first()


def _in_progress(key: str) -> Conflict:
    return Conflict(
        f"a request with Idempotency-Key {key!r} is still in progress; retry later with the "
        "same key to get its answer",
        code="idempotency_key_in_progress",
    )


def _answer(record: IdempotencyRecord, key: str, fingerprint: str | None) -> dict[str, Any]:
    if fingerprint is not None and record.fingerprint != fingerprint:
        raise Conflict(
            f"Idempotency-Key {key!r} was already used with a different request body; "
            "use a new key for new data",
            code="idempotency_key_reused",
        )
    return dict(record.response)


def _claim(session: Session, scope: str, key: str, fingerprint: str | None) -> bool:
    """Insert the key's in-progress record; ``False`` when another request holds the key."""
    record = IdempotencyRecord(
        scope=scope, key=key, fingerprint=fingerprint or "", response=dict(IN_PROGRESS)
    )
    postgres = session.get_bind().dialect.name == "postgresql"
    try:
        if postgres:
            session.execute(text(f"SET LOCAL lock_timeout = '{CLAIM_WAIT_S}s'"))
        session.add(record)
        session.flush()
        if postgres:
            session.execute(text("SET LOCAL lock_timeout TO DEFAULT"))
    except IntegrityError:
        session.rollback()
        return False
    except OperationalError as exc:
        session.rollback()
        if postgres and getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
            raise _in_progress(key) from exc
        raise
    session.info.setdefault(_CLAIMS, {})[(scope, key)] = record
    return True


def lookup(
    session: Session, *, scope: str, key: str | None, fingerprint: str | None
) -> dict[str, Any] | None:
    """The stored response for ``(scope, key)``, or ``None`` when the key is new (now claimed).

    A new key is claimed in the session's transaction (see the module docstring): call
    :func:`remember` before committing, or roll back.

    Raises
    ------
    Conflict
        The key was used before with a different request body (``idempotency_key_reused``), or
        another request with the key is still running (``idempotency_key_in_progress``).
    """
    if key is None:
        return None
    for _ in range(_ATTEMPTS):
        record = _find(session, scope, key)
        if record is None:
            if _claim(session, scope, key, fingerprint):
                return None
            continue  # another request committed the key meanwhile: read its answer
        if record.response == IN_PROGRESS:
            # Committed without an answer (a caller that committed between lookup and
            # remember): take the record over as this request's claim.
            record.fingerprint = fingerprint or ""
            record.created_at = utcnow()
            session.add(record)
            session.flush()
            session.info.setdefault(_CLAIMS, {})[(scope, key)] = record
            return None
        return _answer(record, key, fingerprint)
    raise _in_progress(key)


def remember(
    session: Session,
    *,
    scope: str,
    key: str | None,
    fingerprint: str | None,
    response: dict[str, Any],
) -> None:
    """Store the response for ``(scope, key)`` in the current transaction (no commit).

    Fills the record :func:`lookup` claimed; without a claim (``lookup`` not called, or its
    transaction rolled back) a new record is added.
    """
    if key is None:
        return
    claims: dict[tuple[str, str], IdempotencyRecord] = session.info.get(_CLAIMS, {})
    record = claims.pop((scope, key), None)
    if record is None or record not in session:
        record = _find(session, scope, key)
    if record is None:
        record = IdempotencyRecord(scope=scope, key=key, fingerprint=fingerprint or "")
    record.fingerprint = fingerprint or ""
    record.response = response
    session.add(record)
