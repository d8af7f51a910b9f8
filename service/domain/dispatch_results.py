"""Vendor results: build adapters, store returned labels exactly once, verify callbacks.

Part of dispatch (see :mod:`service.domain.dispatch`): both the polling worker and the
callback route store results through :func:`store_results`, which records each task's
completion time and cost and writes the labels with
:func:`service.domain.vendor_labels.add_vendor_labels`: one answer per (bake-off, vendor, item,
annotator); the same answer again is a duplicate, a different one a 409 (docs/vendor-labels.md).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import bindparam, text
from sqlalchemy import select as sa_select
from sqlmodel import Session

from adapters.base import LabelingVendor, VendorAnnotation
from adapters.http import CallbackRejected, HttpAdapter, verify_callback
from adapters.registry import get_adapter
from service.core.config import Settings, get_settings
from service.core.types import utcnow
from service.domain import idempotency
from service.domain._common import table_of
from service.domain.adapter_settings import adapter_arguments
from service.domain.answer_geometry import LabelsAtPrecision
from service.domain.errors import Conflict, Invalid, NotFound, Unauthorized
from service.domain.label_times import clamp_completion
from service.domain.repeats import repeat_keys
from service.domain.vendor_labels import add_vendor_labels
from service.domain.vendor_settings import settings_errors
from service.models import BakeOff, GoldenItem, GoldenSetVersion, Task, Vendor

__all__ = [
    "LAST_ERROR_MAX",
    "CallbackResult",
    "adapter_for",
    "error_text",
    "forget_adapters",
    "receive_callback",
    "store_results",
    "vendor_slug",
]


log = logging.getLogger(__name__)

LAST_ERROR_MAX = 500
"""Longest ``Task.last_error`` kept (readers of the run's progress see it)."""


def error_text(message: str) -> str:
    """A task's ``last_error``: at most :data:`LAST_ERROR_MAX` characters.

    Messages come from Bakeoff and its adapters, which report a vendor's answer by its HTTP
    status only, never by its body (the vendor's URL may name any host).

    Examples
    --------
    >>> len(error_text("x" * 5000))
    500
    """
    if len(message) <= LAST_ERROR_MAX:
        return message
    return message[: LAST_ERROR_MAX - 1] + "\u2026"


class CallbackResult(BaseModel):
    """The answer to a vendor callback."""

    received: int
    stored: int
    duplicates: int


# --------------------------------------------------------------------------- adapters

_adapters: dict[tuple[int, str, str, str], LabelingVendor] = {}
_adapters_lock = threading.Lock()


def vendor_slug(vendor: Vendor) -> str:
    """``"Acme Labs, Inc."`` -> ``"acme-labs-inc"`` (adapter name, env prefix)."""
    slug = re.sub(r"[^a-z0-9]+", "-", vendor.name.lower()).strip("-")
    return slug or f"vendor-{vendor.id}"


def adapter_for(vendor: Vendor, *, config: Settings | None = None) -> LabelingVendor:
    """The vendor's adapter, built once per process from its kind and settings.

    Only the kind's API settings are used (checked again here, so a row stored before that
    rule cannot run code); server-side parts (model files, package folder) come from
    ``config`` (default: :func:`get_settings`).

    Raises
    ------
    Invalid
        The kind is unknown or the settings do not fit it. The message names the settings
        and what is wrong with them, never their values (they may be secrets).
    """
    config = config or get_settings()
    settings = dict(vendor.adapter_settings or {})
    key = (
        int(vendor.id or 0),
        vendor.adapter_kind,
        json.dumps(settings, sort_keys=True),
        f"{config.model_dir}|{config.vendor_files_dir}",
    )
    with _adapters_lock:
        cached = _adapters.get(key)
        if cached is not None:
            return cached
        arguments = adapter_arguments(vendor.adapter_kind, settings, config)
        try:
            adapter = get_adapter(vendor.adapter_kind, vendor=vendor_slug(vendor), **arguments)
        except ValidationError as exc:  # str(exc) would show each input_value
            raise Invalid(
                f"vendor {vendor.name!r}: its {vendor.adapter_kind!r} adapter settings are "
                f"invalid: {settings_errors(exc)}",
                location=("vendor", str(vendor.id), "adapter_settings"),
            ) from exc
        except (KeyError, TypeError, ValueError, ImportError) as exc:
            raise Invalid(
                f"vendor {vendor.name!r}: cannot build its {vendor.adapter_kind!r} adapter: {exc}",
                location=("vendor", str(vendor.id), "adapter_settings"),
            ) from exc
        _adapters[key] = adapter
        return adapter


def forget_adapters() -> None:
    """Drop the per-process adapter cache (tests, settings changes)."""
    with _adapters_lock:
        _adapters.clear()


# --------------------------------------------------------------------------- storing results


def _n_labels(value: Any) -> int:
    return len(value) if isinstance(value, list) else 1


def _priced(vendor: Vendor, annotations: Sequence[VendorAnnotation]) -> float:
    """Cost of one item: the vendor's own prices when given, else its price list."""
    given = [a.cost for a in annotations if a.cost is not None]
    if given:
        return float(sum(given))
    cost = vendor.price_per_item
    for a in annotations:
        cost += vendor.price_per_label * _n_labels(a.label)
        if a.started_at is not None and a.completed_at is not None:
            hours = max(0.0, (a.completed_at - a.started_at).total_seconds()) / 3600
            cost += vendor.price_per_hour * hours
    return float(cost)


def store_results(
    *,
    session: Session,
    bakeoff_id: int,
    vendor: Vendor,
    annotations: Iterable[VendorAnnotation],
    strict: bool = True,
    delivery: tuple[str, str] | None = None,
    request_key: tuple[str, str | None, str | None] | None = None,
    notes: tuple[str, ...] = (),
) -> CallbackResult:
    """Store a vendor's results once each and record completion time and cost per task.

    Answers to preference pairs the vendor was shown swapped are turned back to the item's
    canonical frame by :func:`service.domain.vendor_labels.add_vendor_labels`, the one place
    every door stores through.

    Parameters
    ----------
    strict
        ``True`` (callbacks, uploads): any bad or conflicting record refuses the whole
        delivery (HTTP 422 or 409). ``False`` (polling): items with bad or conflicting
        records fail their task (the stored answer stays), the rest is stored.
    delivery
        ``(scope, delivery id)`` remembered in the same transaction (replay protection).
    request_key
        ``(scope, Idempotency-Key, body fingerprint)`` of the request, remembered with the
        result in the transaction that stores the labels.
    notes
        What the file's reader left out or did not check: stored with that result.

    Raises
    ------
    Invalid
        In strict mode, a record names an unknown item or class.
    Conflict
        In strict mode, a record answers an (item, annotator) already answered differently
        (``answer_conflict``); or a concurrent request stored the same answers first
        (retry).
    """
    records = list(annotations)
    repeats = repeat_keys(session, bakeoff_id, int(vendor.id or 0)) if records else {}
    second = [
        a.model_copy(update={"item_id": repeats[a.item_id]})
        for a in records
        if a.item_id in repeats
    ]
    if not second:
        return _store(
            session=session,
            bakeoff_id=bakeoff_id,
            vendor=vendor,
            annotations=records,
            strict=strict,
            delivery=delivery,
            request_key=request_key,
            notes=notes,
        )
    first = [a for a in records if a.item_id not in repeats]
    # Second sendings first, without the replay and idempotency records: a replayed or
    # retried delivery finds them stored (duplicates), and the first sendings' call
    # below then remembers the delivery, or refuses it as a replay.
    done = _store(
        session=session,
        bakeoff_id=bakeoff_id,
        vendor=vendor,
        annotations=second,
        strict=strict,
        delivery=None if first else delivery,
        request_key=None if first else request_key,
        repeat=1,
        notes=() if first else notes,
    )
    if not first:
        return done
    rest = _store(
        session=session,
        bakeoff_id=bakeoff_id,
        vendor=vendor,
        annotations=first,
        strict=strict,
        delivery=delivery,
        request_key=request_key,
        notes=notes,
    )
    return CallbackResult(
        received=done.received + rest.received,
        stored=done.stored + rest.stored,
        duplicates=done.duplicates + rest.duplicates,
    )


def _store(
    *,
    session: Session,
    bakeoff_id: int,
    vendor: Vendor,
    annotations: list[VendorAnnotation],
    strict: bool,
    delivery: tuple[str, str] | None,
    request_key: tuple[str, str | None, str | None] | None,
    repeat: Literal[0, 1] = 0,
    notes: tuple[str, ...] = (),
) -> CallbackResult:
    vendor_id = int(vendor.id or 0)
    if delivery is not None:
        scope, key = delivery
        if idempotency.lookup(session, scope=scope, key=key, fingerprint=None) is not None:
            raise Conflict(f"callback delivery {key!r} was already received (replay)")
    by_item: dict[str, list[VendorAnnotation]] = defaultdict(list)
    for a in annotations:
        by_item[a.item_id].append(a)
    if not by_item:
        if delivery is not None:
            idempotency.remember(
                session, scope=delivery[0], key=delivery[1], fingerprint=None, response={}
            )
            session.commit()
        return CallbackResult(received=0, stored=0, duplicates=0)
    task, item = table_of(Task), table_of(GoldenItem)
    keys_by_id = _item_ids(session, bakeoff_id, list(by_item))
    open_tasks = {
        keys_by_id[item_id]: (task_id, sent_at)
        for task_id, item_id, sent_at in session.execute(
            sa_select(task.c.id, task.c.item_id, task.c.sent_at)
            .where(task.c.item_id.in_(list(keys_by_id)))
            .where(task.c.bakeoff_id == bakeoff_id)
            .where(task.c.vendor_id == vendor_id)
            .where(task.c.repeat == repeat)
            .where(task.c.status != "received")
        ).all()
    }
    if not strict:
        known = set(
            session.execute(
                sa_select(item.c.key)
                .join(task, task.c.item_id == item.c.id)
                .where(task.c.bakeoff_id == bakeoff_id)
                .where(task.c.vendor_id == vendor_id)
                .where(task.c.repeat == repeat)
                .where(item.c.key.in_(list(by_item)))
            ).scalars()
        )
        by_item = defaultdict(list, {k: v for k, v in by_item.items() if k in known})
    now = utcnow()
    updates = []
    for key, (task_id, sent_at) in open_tasks.items():
        answers = by_item[key]
        finished = [a.completed_at for a in answers if a.completed_at is not None]
        done = max(finished, key=_utc) if finished else now
        updates.append(
            {
                "tid": task_id,
                # the labels' times are checked (label_times); within the clock-skew
                # allowance they may still precede sent_at: the task's may not
                "done": clamp_completion(done, sent_at=sent_at),
                "price": _priced(vendor, answers),
            }
        )
    if updates:
        _update_tasks(session, updates)
    if delivery is not None:
        scope, key = delivery
        idempotency.remember(session, scope=scope, key=key, fingerprint=None, response={})
    records = [a for answers in by_item.values() for a in answers]
    idem_scope, idem_key, idem_fingerprint = request_key or (None, None, None)
    try:
        result = add_vendor_labels(
            session=session,
            bakeoff_id=bakeoff_id,
            vendor_id=vendor_id,
            # the reader's notes go with the records into the import's (remembered) result
            records=LabelsAtPrecision(iter(records), notes=notes),
            source=f"{vendor.name} results",
            only_items=list(by_item),
            idempotency_key=idem_key,
            fingerprint=idem_fingerprint,
            idempotency_scope=idem_scope,
            repeat=repeat,
        )
    except (Invalid, Conflict) as exc:
        if strict or not _item_error(exc):
            raise
        if len(by_item) == 1:
            _fail_items(
                session, bakeoff_id, vendor_id, list(by_item), exc.message[:500], repeat=repeat
            )
            raise
        stored = duplicates = 0
        for item_key, answers in by_item.items():  # store item by item, fail the bad ones
            try:
                one = _store(  # already in the canonical frame: not un-swapped twice
                    session=session,
                    bakeoff_id=bakeoff_id,
                    vendor=vendor,
                    annotations=answers,
                    strict=True,
                    delivery=None,
                    request_key=None,
                    repeat=repeat,
                )
            except (Invalid, Conflict) as item_exc:
                if not _item_error(item_exc):
                    raise
                _fail_items(
                    session,
                    bakeoff_id,
                    vendor_id,
                    [item_key],
                    item_exc.message[:500],
                    repeat=repeat,
                )
                continue
            stored += one.stored
            duplicates += one.duplicates
        return CallbackResult(received=len(records), stored=stored, duplicates=duplicates)
    return CallbackResult(
        received=result.received, stored=result.stored, duplicates=result.duplicates
    )


def _item_error(exc: Invalid | Conflict) -> bool:
    """Whether the error is about the records themselves (not a race or a replay)."""
    return isinstance(exc, Invalid) or exc.code == "answer_conflict"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _item_ids(session: Session, bakeoff_id: int, keys: list[str]) -> dict[int, str]:
    """``{item id: key}`` of the bake-off's golden items with these keys."""
    item = table_of(GoldenItem)
    golden_set_id = session.execute(
        sa_select(GoldenSetVersion.golden_set_id)  # type: ignore[call-overload]
        .join(BakeOff, BakeOff.golden_set_version_id == GoldenSetVersion.id)
        .where(BakeOff.id == bakeoff_id)
    ).scalar_one()
    rows = session.execute(
        sa_select(item.c.id, item.c.key)
        .where(item.c.golden_set_id == golden_set_id)  # the (set, key) index
        .where(item.c.key.in_(keys))
    ).all()
    return {int(item_id): str(key) for item_id, key in rows}


_PG_UPDATE = text(
    "UPDATE task SET completed_at = v.done, cost = v.price, last_error = NULL "
    "FROM unnest(CAST(:ids AS integer[]), CAST(:dones AS timestamptz[]), "
    "CAST(:prices AS double precision[])) AS v(tid, done, price) WHERE task.id = v.tid"
)


def _update_tasks(session: Session, updates: list[dict[str, Any]]) -> None:
    """Set ``completed_at`` and ``cost`` of many tasks in one statement."""
    if session.get_bind().dialect.name == "postgresql":  # three arrays, one UPDATE
        session.execute(
            _PG_UPDATE,
            {
                "ids": [u["tid"] for u in updates],
                "dones": [u["done"].astimezone(UTC) for u in updates],
                "prices": [u["price"] for u in updates],
            },
        )
        return
    task = table_of(Task)
    session.execute(  # SQLite: executemany runs in C
        task.update()
        .where(task.c.id == bindparam("tid"))
        .values(completed_at=bindparam("done"), cost=bindparam("price"), last_error=None),
        updates,
    )


def _fail_items(
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    keys: list[str],
    error: str,
    *,
    repeat: int = 0,
) -> None:
    task, item = table_of(Task), table_of(GoldenItem)
    ids = sa_select(item.c.id).where(item.c.key.in_(keys))
    session.execute(
        task.update()
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.vendor_id == vendor_id)
        .where(task.c.status.in_(("pending", "sent")))
        .where(task.c.repeat == repeat)
        .where(task.c.item_id.in_(ids))
        .values(status="failed", last_error=error_text(error), updated_at=utcnow())
    )
    session.commit()


_REFUSED = (
    "callback refused: it needs the Bakeoff-Timestamp, Bakeoff-Delivery and Bakeoff-Signature "
    "headers, signed with the vendor's webhook secret (see docs/vendor-protocol.md)"
)


def _webhook_secret(vendor: Vendor | None) -> SecretStr | None:
    """The vendor's webhook secret, or ``None`` (unknown vendor, bad settings, no secret)."""
    if vendor is None:
        return None
    try:
        adapter = adapter_for(vendor)
    except Invalid as exc:
        log.warning("callback for vendor %s: %s", vendor.id, exc.message)
        return None
    return adapter.settings.webhook_secret if isinstance(adapter, HttpAdapter) else None


def receive_callback(
    *,
    session: Session,
    vendor_id: int,
    body: bytes,
    headers: Mapping[str, str],
    now: float | None = None,
) -> CallbackResult:
    """Verify a signed vendor callback and store its results exactly once.

    The caller is anonymous until the signature checks out, so every refusal before that
    point is the same :class:`Unauthorized` answer, whatever the reason (unknown vendor,
    vendor without a webhook secret or with broken settings, missing or wrong signature):
    it says nothing about the vendor. The reason is logged.

    Raises
    ------
    Unauthorized
        Code ``callback_refused``: unknown vendor, no usable webhook secret, missing or
        wrong signature; or (only to a caller that signed correctly) a stale timestamp.
    NotFound
        A batch this vendor was never sent.
    Conflict
        The delivery id was seen before (a replay).
    Invalid
        The signed body is not a valid callback, or names unknown items or classes.
    """
    vendor = session.get(Vendor, vendor_id)
    secret = _webhook_secret(vendor)
    if vendor is None or secret is None:
        log.info("callback for vendor %s refused: unknown vendor or no webhook secret", vendor_id)
        raise Unauthorized(_REFUSED, code="callback_refused")
    try:
        delivery = verify_callback(
            secret=secret, body=body, headers=headers, vendor=f"vendor {vendor_id}", now=now
        )
    except CallbackRejected as exc:
        log.info("callback for vendor %s refused (%s): %s", vendor_id, exc.reason, exc.detail)
        if exc.reason == "malformed":  # the signature matched: the vendor may know why
            raise Invalid(exc.detail, location=("body",)) from exc
        if exc.reason == "stale":
            raise Unauthorized(
                f"callback refused (stale): {exc.detail}", code="callback_refused"
            ) from exc
        raise Unauthorized(_REFUSED, code="callback_refused") from exc
    task = table_of(Task)
    bakeoff_id = session.execute(
        sa_select(task.c.bakeoff_id)
        .where(task.c.vendor_id == vendor_id)
        .where(task.c.job_id == delivery.batch_id)
        .limit(1)
    ).scalar()
    if bakeoff_id is None:
        raise NotFound(f"vendor {vendor_id} was never sent batch {delivery.batch_id!r}")
    return store_results(
        session=session,
        bakeoff_id=int(bakeoff_id),
        vendor=vendor,
        annotations=delivery.annotations,
        strict=True,
        delivery=(f"callback:{vendor_id}", delivery.delivery_id),
    )
