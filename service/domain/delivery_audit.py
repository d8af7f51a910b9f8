"""Audit mode: a stratified random sample of a delivery, reviewed in the order it was drawn.

The population is the delivery's answered production items (honeypots are known already),
split into the *flagged* stratum (model-label disagreement, :mod:`.delivery_flags`) and the
*unflagged* one. :func:`draw_audit` sizes the sample for a target half-width of the interval
on the delivery's error rate (:func:`metrics.audit.stratified_sample_sizes`, Neyman
allocation) and draws it once with a generator seeded from the delivery: items are drawn,
never chosen, and a second draw is refused (409).

Reviewers then see the drawn items one at a time, in draw order (:func:`audit_status`
serves the next one); a decision for any other item is refused (409), so hard items cannot
be skipped. Any prefix of a random order is itself a simple random sample, so the estimate
holds at every point of the review: :func:`metrics.audit.stratified_error_rate` (weights
``N_h / n_h`` for the over-sampled flagged stratum) and the verdict against the SLA's
``max_error_rate`` (:func:`metrics.audit.audit_verdict`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from metrics.audit import (
    AuditStratum,
    audit_verdict,
    stratified_error_rate,
    stratified_sample_sizes,
)
from service.core.types import utcnow
from service.domain._common import table_of
from service.domain.deliveries import get_delivery
from service.domain.errors import Conflict
from service.domain.security import Principal
from service.models import (
    AuditDecisionIn,
    AuditDraw,
    AuditItemPublic,
    AuditStratumName,
    AuditStratumPublic,
    DeliveryAudit,
    DeliveryAuditPublic,
    DeliveryItem,
    DeliveryLabel,
)

__all__ = ["draw_audit", "audit_status", "decide_audit"]

_STRATA: tuple[AuditStratumName, ...] = ("flagged", "unflagged")
_SEED_OFFSET = 7_919  # the audit's generator differs from the honeypot draw's


def _population(session: Session, delivery_id: int) -> dict[AuditStratumName, list[int]]:
    """Answered production item ids per stratum, in batch order."""
    item, label = table_of(DeliveryItem), table_of(DeliveryLabel)
    answered = (
        sa_select(label.c.item_id).where(label.c.delivery_id == delivery_id).distinct()
    ).subquery()
    rows = session.execute(
        sa_select(item.c.id, item.c.flagged)
        .join(answered, answered.c.item_id == item.c.id)
        .where(item.c.delivery_id == delivery_id)
        .where(item.c.gold_item_id.is_(None))
        .order_by(item.c.position)
    ).all()
    out: dict[AuditStratumName, list[int]] = {"flagged": [], "unflagged": []}
    for item_id, flagged in rows:
        out["flagged" if flagged else "unflagged"].append(int(item_id))
    return out


def draw_audit(
    *,
    session: Session,
    delivery_id: int,
    data: AuditDraw,
    principal: Principal | None = None,
) -> DeliveryAuditPublic:
    """Draw the delivery's stratified audit sample (once).

    Raises
    ------
    Conflict
        ``audit_drawn``: the sample was drawn already; ``nothing_to_audit``: no answered
        production item yet.
    """
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    exists = session.exec(
        select(DeliveryAudit.id).where(DeliveryAudit.delivery_id == delivery_id).limit(1)
    ).first()
    if exists is not None:
        raise Conflict(
            f"delivery {delivery_id} has its audit sample already; it is drawn once so that "
            "items are drawn, not chosen",
            code="audit_drawn",
        )
    population = _population(session, delivery_id)
    strata = [(name, len(population[name])) for name in _STRATA if population[name]]
    if not strata:
        raise Conflict(
            f"delivery {delivery_id} has no answered production item to audit yet",
            code="nothing_to_audit",
        )
    guesses = {"flagged": data.expected_error_flagged, "unflagged": data.expected_error_unflagged}
    plan = stratified_sample_sizes(
        strata,
        [guesses[name] for name, _ in strata],
        half_width=data.half_width,
        level=data.level,
    )
    rng = np.random.default_rng(delivery.seed + _SEED_OFFSET)
    for stratum in plan.strata:
        ids = population[stratum.name]  # type: ignore[index]
        drawn = rng.choice(len(ids), size=stratum.sample, replace=False)
        for order, index in enumerate(drawn.tolist()):
            session.add(
                DeliveryAudit(
                    delivery_id=delivery_id,
                    item_id=ids[index],
                    stratum=stratum.name,  # type: ignore[arg-type]
                    draw=order,
                )
            )
    session.commit()
    return audit_status(session=session, delivery_id=delivery_id, principal=principal)


def _next(session: Session, delivery_id: int) -> DeliveryAudit | None:
    """The next item to review: the lowest draw number first, strata taking turns."""
    return session.exec(
        select(DeliveryAudit)
        .where(DeliveryAudit.delivery_id == delivery_id)
        .where(col(DeliveryAudit.decision).is_(None))
        .order_by(col(DeliveryAudit.draw), col(DeliveryAudit.stratum))
        .limit(1)
    ).first()


def _item_view(session: Session, entry: DeliveryAudit) -> AuditItemPublic:
    item = session.get(DeliveryItem, entry.item_id)
    if item is None:  # pragma: no cover - the foreign key keeps it
        raise Conflict("the drawn item is gone")
    label = table_of(DeliveryLabel)
    values = [
        v
        for (v,) in session.execute(
            sa_select(label.c.value)
            .where(label.c.delivery_id == entry.delivery_id)
            .where(label.c.item_id == entry.item_id)
            .order_by(label.c.annotator_id)
        ).all()
    ]
    return AuditItemPublic(
        item_id=item.key,
        stratum=entry.stratum,
        draw=entry.draw,
        data=dict(item.data or {}),
        labels=values,
    )


def audit_status(
    *, session: Session, delivery_id: int, principal: Principal | None = None
) -> DeliveryAuditPublic:
    """The sample's progress, the error-rate estimate and the SLA verdict, with the numbers."""
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    population = _population(session, delivery_id)
    audit = table_of(DeliveryAudit)
    counts = session.execute(
        sa_select(
            audit.c.stratum,
            func.count(),
            func.count(audit.c.decision),
            func.count(audit.c.decision).filter(audit.c.decision == "error"),
        )
        .where(audit.c.delivery_id == delivery_id)
        .group_by(audit.c.stratum)
    ).all()
    by_name: dict[str, tuple[int, int, int]] = {
        str(s): (int(p), int(r), int(e or 0)) for s, p, r, e in counts
    }
    strata = [
        AuditStratumPublic(
            name=name,
            population=len(population[name]),
            planned=by_name.get(name, (0, 0, 0))[0],
            reviewed=by_name.get(name, (0, 0, 0))[1],
            errors=by_name.get(name, (0, 0, 0))[2],
        )
        for name in _STRATA
    ]
    planned = sum(s.planned for s in strata)
    reviewed = sum(s.reviewed for s in strata)
    nxt = _next(session, delivery_id)
    base: dict[str, Any] = {
        "delivery_id": delivery_id,
        "strata": strata,
        "planned_half_width": None,
        "reviewed": reviewed,
        "remaining": planned - reviewed,
        "level": 0.95,
        "max_error_rate": delivery.max_error_rate,
        "next_item": None if nxt is None else _item_view(session, nxt),
    }
    if planned == 0:
        return DeliveryAuditPublic(
            **base,
            estimate=None,
            standard_error=None,
            ci_low=None,
            ci_high=None,
            decision="not_enough_reviews",
            reason="no audit sample has been drawn yet",
        )
    short = [s.name for s in strata if s.population > 0 and s.reviewed < min(2, s.population)]
    if short:
        return DeliveryAuditPublic(
            **base,
            estimate=None,
            standard_error=None,
            ci_low=None,
            ci_high=None,
            decision="not_enough_reviews",
            reason=(
                f"stratum {', '.join(short)} needs at least 2 reviewed labels before the "
                f"delivery's error rate can be estimated; {reviewed} of {planned} drawn "
                "labels reviewed"
            ),
        )
    estimate = stratified_error_rate(
        [AuditStratum(s.name, s.population, s.reviewed, s.errors) for s in strata]
    )
    verdict = audit_verdict(estimate, max_error_rate=delivery.max_error_rate)
    reason = verdict.reason
    if planned > reviewed:
        reason += f"; {planned - reviewed} drawn labels still to review"
    return DeliveryAuditPublic(
        **base,
        estimate=estimate.estimate,
        standard_error=estimate.standard_error,
        ci_low=estimate.ci.low,
        ci_high=estimate.ci.high,
        decision=verdict.decision,
        reason=reason,
    )


def decide_audit(
    *,
    session: Session,
    delivery_id: int,
    data: AuditDecisionIn,
    principal: Principal | None = None,
) -> DeliveryAuditPublic:
    """Record the reviewer's decision on the item served next.

    Raises
    ------
    Conflict
        ``not_next``: the item is not the next drawn item (items cannot be picked or
        skipped); ``audit_done`` when every drawn item is decided.
    """
    get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    nxt = _next(session, delivery_id)
    if nxt is None:
        raise Conflict(
            f"delivery {delivery_id} has no drawn item waiting for a decision", code="audit_done"
        )
    item = session.get(DeliveryItem, nxt.item_id)
    if item is None or item.key != data.item_id:
        raise Conflict(
            f"item {data.item_id!r} is not the next drawn item ({item.key if item else '?'!r}): "
            "audit items are reviewed in the order they were drawn",
            code="not_next",
        )
    nxt.decision = data.decision
    nxt.decided_at = utcnow()
    nxt.reviewer_key_id = principal.key_id if principal is not None else None
    session.add(nxt)
    session.commit()
    return audit_status(session=session, delivery_id=delivery_id, principal=principal)
