"""Production deliveries: a batch of items (no gold) for a chosen vendor, honeypots mixed in.

A delivery is created with its production items; gold items of a golden-set version are
mixed in as honeypots at the delivery's ``honeypot_rate``, chosen in rotation per vendor
(:func:`metrics.honeypots.schedule_honeypots`: an item does not recur before every other
gold item was used, nor within ``honeypot_min_gap`` honeypots) and placed at uniformly random
positions. Every item of the mixed batch gets the vendor-facing id
``<delivery>-<position>``, so production items and honeypots share one id scheme; a
honeypot's data is its gold item's data exactly, and what the vendor receives
(:func:`delivery_batch`) is ``item_id`` and ``data`` only. The customer's keys
(``source_key``) and the honeypot marker (``gold_item_id``) never leave the service.

Honeypots must look like production items: when their data fields differ from the
production items' fields the delivery is refused (422), since the vendor could tell them
apart.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from adapters.base import WorkItem
from metrics.honeypots import schedule_honeypots
from metrics.operations import cost_summary, latency_summary
from service.core.bulk_write import append_rows, fetch_rows
from service.core.delivery_tables import DELIVERY_ITEMS
from service.core.types import utcnow
from service.domain._common import get_or_404, table_of
from service.domain.access import check_project, check_vendor, is_vendor, project_scope
from service.domain.errors import Forbidden, Invalid
from service.domain.security import Principal
from service.models import (
    BakeOff,
    BakeOffVendorLink,
    Delivery,
    DeliveryBatchPublic,
    DeliveryCreate,
    DeliveryLabel,
    DeliveryPublic,
    GoldenItem,
    GoldenSet,
    GoldenSetVersion,
    GoldLabel,
    Project,
    Vendor,
)

__all__ = [
    "create_delivery",
    "get_delivery",
    "delivery_public",
    "list_deliveries",
    "delivery_batch",
    "honeypot_history",
    "item_key",
]


def item_key(delivery_id: int, position: int, batch_size: int) -> str:
    """The vendor-facing id of the item at ``position``: the same scheme for every item.

    Examples
    --------
    >>> item_key(7, 3, 1500)
    '7-0003'
    """
    width = len(str(max(batch_size - 1, 0)))
    return f"{delivery_id}-{position:0{width}d}"


def get_delivery(
    *, session: Session, delivery_id: int, principal: Principal | None = None
) -> Delivery:
    """Load a delivery the caller may see (404 when absent, 403 outside its scope)."""
    delivery = get_or_404(session, Delivery, delivery_id)
    check_project(principal, delivery.project_id)
    if is_vendor(principal):
        check_vendor(principal, delivery.vendor_id)
    return delivery


def _gold_items(session: Session, version_id: int) -> dict[int, dict[str, Any]]:
    """``{gold item id: data}`` of the items with gold in a golden-set version."""
    gold, item = table_of(GoldLabel), table_of(GoldenItem)
    rows = session.execute(
        sa_select(item.c.id, item.c.data)
        .join(gold, gold.c.item_id == item.c.id)
        .where(gold.c.version_id == version_id)
        .order_by(item.c.id)
    ).all()
    return {int(i): dict(d or {}) for i, d in rows}


def honeypot_history(session: Session, project_id: int, vendor_id: int) -> list[int]:
    """Gold item ids already sent to this vendor as honeypots in the project, oldest first."""
    rows = fetch_rows(
        session,
        "SELECT i.gold_item_id FROM deliveryitem i JOIN delivery d ON d.id = i.delivery_id "
        "WHERE d.project_id = {} AND d.vendor_id = {} AND i.gold_item_id IS NOT NULL "
        "ORDER BY d.id, i.position",
        (project_id, vendor_id),
    )
    return [int(r[0]) for r in rows]


def _check_create(session: Session, data: DeliveryCreate, principal: Principal | None) -> Project:
    project = get_or_404(session, Project, data.project_id)
    check_project(principal, project.id)
    get_or_404(session, Vendor, data.vendor_id)
    if data.alert_accuracy >= data.agreed_accuracy:
        raise Invalid(
            f"alert_accuracy ({data.alert_accuracy}) must be below agreed_accuracy "
            f"({data.agreed_accuracy}): the alert watches for a drop",
            location=("body", "alert_accuracy"),
        )
    if data.golden_set_version_id is not None:
        version = session.get(GoldenSetVersion, data.golden_set_version_id)
        golden = session.get(GoldenSet, version.golden_set_id) if version else None
        if golden is None or golden.project_id != project.id:
            raise Invalid(
                f"golden-set version {data.golden_set_version_id} is not a version of a golden "
                f"set of project {project.id}",
                location=("body", "golden_set_version_id"),
            )
    elif data.honeypot_rate > 0:
        raise Invalid(
            f"honeypot_rate={data.honeypot_rate} needs a golden_set_version_id to draw "
            "honeypots from (or set honeypot_rate to 0)",
            location=("body", "golden_set_version_id"),
        )
    if data.bakeoff_id is not None:
        _check_bakeoff(session, data, project.id or 0)
    seen: dict[str, int] = {}
    for n, item in enumerate(data.items):
        if item.key in seen:
            raise Invalid(
                f"item key {item.key!r} appears twice (items {seen[item.key]} and {n})",
                location=("body", "items", n, "key"),
            )
        seen[item.key] = n
    return project


def _check_bakeoff(session: Session, data: DeliveryCreate, project_id: int) -> None:
    """The bake-off a delivery follows must be of its project and have its vendor as candidate."""
    bakeoff = session.get(BakeOff, data.bakeoff_id)
    link = session.get(BakeOffVendorLink, (data.bakeoff_id, data.vendor_id))
    if bakeoff is None or bakeoff.project_id != project_id or link is None:
        raise Invalid(
            f"bake-off {data.bakeoff_id} is not a bake-off of project {project_id} with vendor "
            f"{data.vendor_id} as a candidate",
            location=("body", "bakeoff_id"),
        )


def _check_fields(data: DeliveryCreate, gold: dict[int, dict[str, Any]], chosen: set[int]) -> None:
    """Refuse honeypots whose data fields differ from the production items' fields."""
    production = {frozenset(item.data) for item in data.items}
    for gold_id in sorted(chosen):
        fields = frozenset(gold[gold_id])
        if fields not in production:
            wanted = sorted(sorted(f) for f in production)[:3]
            raise Invalid(
                f"honeypot data fields {sorted(fields)} differ from the production items' "
                f"{wanted}: the vendor could tell honeypots apart; give gold items the same "
                "fields as production items",
                location=("body", "items"),
            )


def create_delivery(
    *, session: Session, data: DeliveryCreate, principal: Principal | None = None
) -> Delivery:
    """Create a delivery: store its items with honeypots mixed in, in one transaction.

    Raises
    ------
    NotFound
        The project or vendor does not exist.
    Invalid
        A repeated item key, a golden-set version of another project, a honeypot rate
        without gold, gold whose fields differ from production items', or
        ``alert_accuracy >= agreed_accuracy``.
    """
    project = _check_create(session, data, principal)
    gold = (
        _gold_items(session, data.golden_set_version_id)
        if data.golden_set_version_id is not None
        else {}
    )
    if data.honeypot_rate > 0 and not gold:
        raise Invalid(
            f"golden-set version {data.golden_set_version_id} has no gold labels to use as "
            "honeypots",
            location=("body", "golden_set_version_id"),
        )
    if gold and data.honeypot_min_gap >= len(gold):
        raise Invalid(
            f"honeypot_min_gap={data.honeypot_min_gap} must be below the {len(gold)} gold items",
            location=("body", "honeypot_min_gap"),
        )
    seed = data.seed if data.seed is not None else secrets.randbelow(2**31)
    try:
        plan = schedule_honeypots(
            sorted(gold),
            len(data.items),
            rate=data.honeypot_rate,
            history=honeypot_history(session, project.id or 0, data.vendor_id),
            min_gap=data.honeypot_min_gap,
            rng=np.random.default_rng(seed),
        )
    except ValueError as exc:
        raise Invalid(str(exc), location=("body", "honeypot_rate")) from exc
    chosen = {int(str(g)) for g in plan.gold_ids}
    _check_fields(data, gold, chosen)
    delivery = Delivery.model_validate(
        data.model_dump(exclude={"items", "seed"})
        | {"n_items": len(data.items), "n_honeypots": len(plan.gold_ids), "seed": seed}
    )
    try:
        session.add(delivery)
        session.flush()
        delivery_id = delivery.id or 0
        append_rows(
            session, DELIVERY_ITEMS, _with_defaults(_item_rows(delivery_id, data, gold, plan))
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(delivery)
    return delivery


def _item_rows(
    delivery_id: int, data: DeliveryCreate, gold: dict[int, dict[str, Any]], plan: Any
) -> Iterator[tuple[Any, ...]]:
    size = plan.batch_size
    honeypots = dict(zip(plan.positions.tolist(), plan.gold_ids, strict=True))
    production = iter(data.items)
    for position in range(size):
        key = item_key(delivery_id, position, size)
        gold_id = honeypots.get(position)
        if gold_id is not None:
            yield (delivery_id, position, key, None, int(gold_id), json.dumps(gold[int(gold_id)]))
        else:
            item = next(production)
            yield (delivery_id, position, key, item.key, None, json.dumps(item.data))


def _with_defaults(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Add ``flag_score`` and ``flagged`` (filled in later by the flagging step)."""
    for row in rows:
        yield (*row, None, False)


def delivery_batch(
    *, session: Session, delivery_id: int, principal: Principal | None = None
) -> DeliveryBatchPublic:
    """What the vendor receives: ``item_id`` and ``data`` of every item, in batch order.

    The vendor's first read marks the delivery as sent (its latency clock starts); a lead
    looking at the batch does not.
    """
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    project = get_or_404(session, Project, delivery.project_id)
    rows = fetch_rows(
        session,
        "SELECT key, data FROM deliveryitem WHERE delivery_id = {} ORDER BY position",
        (delivery_id,),
    )
    items = [
        WorkItem(item_id=str(k), data=json.loads(d) if isinstance(d, str) else dict(d))
        for k, d in rows
    ]
    if delivery.sent_at is None and (principal is None or is_vendor(principal)):
        delivery.sent_at = utcnow()
        session.add(delivery)
        session.commit()
    return DeliveryBatchPublic(
        delivery_id=delivery_id,
        task_type=project.task_type,
        items=[i.model_dump(mode="json") for i in items],
    )


def delivery_public(session: Session, delivery: Delivery) -> DeliveryPublic:
    """The delivery with progress, cost (:mod:`metrics.operations`) and latency."""
    delivery_id = delivery.id or 0
    label = table_of(DeliveryLabel)
    rows = session.execute(
        sa_select(label.c.item_id, label.c.annotator_id, label.c.cost, label.c.completed_at).where(
            label.c.delivery_id == delivery_id
        )
    ).all()
    n_sent = delivery.n_items + delivery.n_honeypots
    n_labeled = len({r[0] for r in rows})
    public = DeliveryPublic.model_validate(
        delivery.model_dump()
        | {
            "n_labeled": n_labeled,
            "n_labels": len(rows),
            "progress": n_labeled / n_sent if n_sent else 0.0,
        }
    )
    if not rows:
        return public
    vendor = get_or_404(session, Vendor, delivery.vendor_id)
    answers = pd.DataFrame(
        {"task": [r[0] for r in rows], "worker": [r[1] or "" for r in rows], "label": 1}
    )
    reported = [r[2] for r in rows]
    if all(c is not None for c in reported):
        costs = pd.Series([float(c) for c in reported], index=answers.index)
    else:  # the vendor's price list: per item answered plus per label
        first = (~answers["task"].duplicated()).astype(float)
        costs = vendor.price_per_label + first * vendor.price_per_item
    summary = cost_summary(answers, cost=costs)
    update: dict[str, Any] = {
        "total_cost": summary.total_cost,
        "cost_per_item": summary.cost_per_item,
    }
    if delivery.sent_at is not None:
        done: dict[int, Any] = {}
        for item_id, _, _, completed in rows:
            if completed is not None:
                done[item_id] = max(done.get(item_id, completed), completed)
        if done:
            index = list(done)
            sent = pd.Series([pd.Timestamp(delivery.sent_at)] * len(index), index=index)
            finished = pd.Series([pd.Timestamp(done[i]) for i in index], index=index)
            finished = finished.where(finished >= sent, sent)
            lat = latency_summary(sent, finished)
            update |= {"latency_p50_s": lat.p50_s, "latency_p95_s": lat.p95_s}
    return public.model_copy(update=update)


def list_deliveries(
    *,
    session: Session,
    principal: Principal | None = None,
    project_id: int | None = None,
    vendor_id: int | None = None,
) -> list[Delivery]:
    """Deliveries the caller may see, newest first."""
    if is_vendor(principal):
        raise Forbidden("a vendor key reads its deliveries' batches, not the list")
    stmt = select(Delivery).order_by(col(Delivery.id).desc())
    scope = project_scope(principal)
    if scope is not None:
        stmt = stmt.where(Delivery.project_id == scope)
    if project_id is not None:
        stmt = stmt.where(Delivery.project_id == project_id)
    if vendor_id is not None:
        stmt = stmt.where(Delivery.vendor_id == vendor_id)
    return list(session.exec(stmt).all())
