"""A simulated vendor's weekly production deliveries whose quality drops halfway.

Used by the procurement-view tests (domain, page and Chromium): a classification project
with 60 gold items, a bake-off that chose the vendor, and ``weeks`` weekly deliveries of
``n_items`` production items with 10% honeypots. Before the drop the vendor answers right
with probability ``before``, from week ``drop_week`` on with probability ``after`` (honeypots
and production items alike). Each answer is completed in its delivery's ISO week.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlmodel import Session, col, select

import service.models as m
from service.domain import deliveries, delivery_audit, delivery_flags, delivery_labels, vendors
from service.domain.vendor_labels import LabelIn
from tests.service.conftest import CLASSES, seed_bakeoff

__all__ = ["Simulated", "simulate_vendor", "MONDAY"]

MONDAY = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)  # ISO week 2026-W41


@dataclass(frozen=True)
class Simulated:
    project_id: int
    bakeoff_id: int
    vendor_id: int
    delivery_ids: list[int]
    drop_week: int
    weeks: list[str]
    true_error: dict[int, float]  # delivery id -> share of wrong production answers


def _probs_csv(rows: list[m.DeliveryItem], truth: dict[int, str], seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    lines = ["item_id," + ",".join(CLASSES)]
    for r in rows:
        logits = rng.normal(0, 1, 3)
        logits[CLASSES.index(truth[r.id or 0])] += 2.5
        p = np.exp(logits) / np.exp(logits).sum()
        lines.append(r.key + "," + ",".join(f"{v:.12f}" for v in p))
    return ("\n".join(lines) + "\n").encode()


def simulate_vendor(
    session: Session,
    *,
    weeks: int = 6,
    drop_week: int = 3,
    n_items: int = 300,
    before: float = 0.98,
    after: float = 0.7,
    audit_last: bool = True,
    seed: int = 5,
) -> Simulated:
    """Seed the project, the bake-off and the weekly deliveries (see the module docstring)."""
    acme = vendors.create_vendor(
        session=session, data=m.VendorCreate(name="Acme Labels", price_per_label=0.05)
    )
    other = vendors.create_vendor(session=session, data=m.VendorCreate(name="Other Co"))
    gold = {f"g{i:02d}": CLASSES[i % 3] for i in range(60)}
    seeded = seed_bakeoff(
        session,
        name="production",
        vendor_ids=[acme.id or 0, other.id or 0],
        gold=gold,
        lighting=dict.fromkeys(gold, "dim"),
    )
    gold_value = {
        g.id: v
        for g, v in (
            (session.exec(select(m.GoldenItem).where(m.GoldenItem.key == k)).one(), v)
            for k, v in gold.items()
        )
    }
    rng = np.random.default_rng(seed)
    ids: list[int] = []
    labels: list[str] = []
    true_error: dict[int, float] = {}
    for week in range(weeks):
        delivery = deliveries.create_delivery(
            session=session,
            data=m.DeliveryCreate(
                name=f"week {week + 1}",
                project_id=seeded.project_id,
                vendor_id=acme.id or 0,
                golden_set_version_id=seeded.version_id,
                bakeoff_id=seeded.bakeoff_id,
                honeypot_rate=0.1,
                agreed_accuracy=0.95,
                alert_accuracy=0.85,
                max_error_rate=0.05,
                items=[
                    m.DeliveryItemIn(key=f"w{week}-{i}", data={"image": f"w{week}/{i}.jpg"})
                    for i in range(n_items)
                ],
                seed=seed + week,
            ),
        )
        did = delivery.id or 0
        rows = session.exec(
            select(m.DeliveryItem)
            .where(m.DeliveryItem.delivery_id == did)
            .order_by(col(m.DeliveryItem.position))
        ).all()
        skill = before if week < drop_week else after
        start = MONDAY + timedelta(days=7 * week)
        truth: dict[int, str] = {}
        wrong: dict[str, bool] = {}
        records = []
        for n, r in enumerate(rows):
            right = (
                gold_value[r.gold_item_id]
                if r.gold_item_id is not None
                else CLASSES[r.position % 3]
            )
            truth[r.id or 0] = right
            bad = bool(rng.random() >= skill)
            wrong[r.key] = bad
            value = CLASSES[(CLASSES.index(right) + 1) % 3] if bad else right
            done = start + timedelta(minutes=5 * n)
            records.append(LabelIn(r.key, value, "a1", completed_at=done))
        delivery_labels.add_delivery_labels(session=session, delivery_id=did, records=records)
        production = [r for r in rows if r.gold_item_id is None]
        true_error[did] = float(np.mean([wrong[r.key] for r in production]))
        delivery_flags.flag_delivery(
            session=session,
            delivery_id=did,
            source=io.BytesIO(_probs_csv(production, truth, seed + week)),
        )
        if audit_last and week == weeks - 1:
            status = delivery_audit.draw_audit(
                session=session, delivery_id=did, data=m.AuditDraw(half_width=0.1)
            )
            while status.next_item is not None:
                key = status.next_item.item_id
                status = delivery_audit.decide_audit(
                    session=session,
                    delivery_id=did,
                    data=m.AuditDecisionIn(
                        item_id=key, decision="error" if wrong[key] else "correct"
                    ),
                )
        ids.append(did)
        year, iso, _ = start.isocalendar()
        labels.append(f"{year}-W{iso:02d}")
    return Simulated(
        project_id=seeded.project_id,
        bakeoff_id=seeded.bakeoff_id,
        vendor_id=acme.id or 0,
        delivery_ids=ids,
        drop_week=drop_week,
        weeks=labels,
        true_error=true_error,
    )
