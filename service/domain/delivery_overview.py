"""Procurement view: a project's production quality over time, per vendor.

For every vendor with deliveries in the project, this module gathers numbers that other
modules compute and lays them out for the dashboard; it computes none itself:

* honeypot accuracy per ISO week with its interval, the CUSUM alert and its stated
  false-alarm probability per week: :func:`service.domain.delivery_quality.delivery_quality`
  as of the vendor's latest delivery (the alert runs over all its deliveries);
* each delivery's own honeypot accuracy: the engine (:func:`metrics.scoring.score`) on the
  honeypots of that delivery;
* the audited error rate, its interval and the SLA verdict:
  :func:`service.domain.delivery_audit.audit_status`;
* the flagged share: :func:`service.domain.delivery_flags.ranked_flags` counts;
* the cost: :func:`service.domain.deliveries.delivery_public`; cost per correct label:
  :func:`metrics.operations.estimated_cost_per_correct` with the audited correct rate, or
  the delivery's honeypot accuracy when no audit has an estimate yet (the basis is named);
* SLA breaches: the week and delivery where the vendor's alert first fired, and the
  deliveries the audit rejected;
* the bake-offs that chose the vendor (``delivery.bakeoff_id``).

Names follow the blinding rules: a caller who sees a bake-off blinded (``qa``) sees a vendor
that is a candidate of such a bake-off by its alias there, never its name or id.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from sqlmodel import Session, select

from metrics.operations import estimated_cost_per_correct
from metrics.scoring import ScoringOptions, score
from service.domain.access import is_blinded
from service.domain.deliveries import delivery_public, list_deliveries
from service.domain.delivery_audit import audit_status
from service.domain.delivery_flags import ranked_flags
from service.domain.delivery_quality import delivery_quality, honeypot_answers
from service.domain.projects import class_names, get_project
from service.domain.security import Principal
from service.models import (
    BakeOff,
    BakeoffLinkPublic,
    BakeOffVendorLink,
    Delivery,
    DeliveryQualityRowPublic,
    ProcurementViewPublic,
    Project,
    Vendor,
    VendorQualityPublic,
    WeeklyQualityPublic,
)

__all__ = ["procurement_view"]


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _display_name(
    session: Session, project_id: int, vendor_id: int, principal: Principal | None
) -> tuple[str, int | None]:
    """The vendor's name and id as the caller may see them (alias and no id when blinded)."""
    rows = session.exec(
        select(BakeOff, BakeOffVendorLink)
        .join(BakeOffVendorLink, BakeOffVendorLink.bakeoff_id == BakeOff.id)  # type: ignore[arg-type]
        .where(BakeOff.project_id == project_id)
        .where(BakeOffVendorLink.vendor_id == vendor_id)
        .order_by(BakeOff.id)  # type: ignore[arg-type]
    ).all()
    for bakeoff, link in rows:
        if is_blinded(bakeoff, principal):
            return f"{link.alias} ({bakeoff.name})", None
    vendor = session.get(Vendor, vendor_id)
    return (vendor.name if vendor is not None else f"Vendor {vendor_id}"), vendor_id


def _delivery_honeypots(
    project: Project, answers: Any, delivery_id: int, options: ScoringOptions
) -> tuple[float | None, float | None, float | None, int]:
    """The engine's main metric on one delivery's honeypots: value, interval, count."""
    mine = answers[answers["delivery_id"] == delivery_id]
    if mine.empty:
        return None, None, None, 0
    gold = mine.drop_duplicates("item").set_index("item")["gold"]
    if mine["item"].duplicated().any():
        labels: Any = mine.rename(columns={"item": "task", "annotator": "worker"})[
            ["task", "worker", "label"]
        ].reset_index(drop=True)
    else:
        labels = mine.set_index("item")["label"]
    scored = score(project.task_type, gold, labels, options=options)
    main = scored.summary.get(scored.main_metric)
    if main is None:
        return None, None, None, len(mine)
    ci = main.ci
    return (
        _finite(main.value),
        None if ci is None else _finite(ci.low),
        None if ci is None else _finite(ci.high),
        len(mine),
    )


def _delivery_row(
    session: Session,
    project: Project,
    delivery: Delivery,
    answers: Any,
    options: ScoringOptions,
    alert_delivery: int | None,
    principal: Principal | None,
) -> DeliveryQualityRowPublic:
    delivery_id = delivery.id or 0
    public = delivery_public(session, delivery)
    audit = audit_status(session=session, delivery_id=delivery_id, principal=principal)
    flags = ranked_flags(session=session, delivery_id=delivery_id, principal=principal, limit=0)
    acc, acc_low, acc_high, n_hp = _delivery_honeypots(project, answers, delivery_id, options)
    basis: str | None = None
    rate: float | None = None
    rate_ci: tuple[float, float] | None = None
    if audit.estimate is not None:
        basis, rate = "audit", 1.0 - audit.estimate
        if audit.ci_low is not None and audit.ci_high is not None:
            rate_ci = (1.0 - audit.ci_high, 1.0 - audit.ci_low)
    elif acc is not None:
        basis, rate = "honeypots", acc
        if acc_low is not None and acc_high is not None:
            rate_ci = (acc_low, acc_high)
    cost = cost_low = cost_high = None
    if rate is not None and public.total_cost is not None:
        estimate = estimated_cost_per_correct(
            public.total_cost, public.n_labels, rate, correct_ci=rate_ci
        )
        cost, cost_low, cost_high = (
            _finite(estimate.value),
            _finite(estimate.low),
            _finite(estimate.high),
        )
    return DeliveryQualityRowPublic(
        delivery_id=delivery_id,
        name=delivery.name,
        created_at=delivery.created_at,
        status=delivery.status,
        n_labels=public.n_labels,
        honeypot_accuracy=acc,
        honeypot_ci_low=acc_low,
        honeypot_ci_high=acc_high,
        n_honeypots_answered=n_hp,
        error_rate=audit.estimate,
        error_ci_low=audit.ci_low,
        error_ci_high=audit.ci_high,
        audit_decision=audit.decision,
        flagged_share=flags.n_flagged / flags.n_scored if flags.n_scored else None,
        n_flagged=flags.n_flagged,
        n_scored=flags.n_scored,
        total_cost=public.total_cost,
        cost_per_correct=cost,
        cost_per_correct_low=cost_low,
        cost_per_correct_high=cost_high,
        correct_basis=basis,
        alert=alert_delivery == delivery_id,
        rejected=audit.decision == "reject",
        bakeoff_id=delivery.bakeoff_id,
    )


def _vendor_view(
    session: Session,
    project: Project,
    vendor_id: int,
    mine: list[Delivery],
    principal: Principal | None,
) -> VendorQualityPublic:
    latest = mine[-1]
    quality = delivery_quality(session=session, delivery_id=latest.id or 0, principal=principal)
    vendor_alert = next((a for a in quality.alerts if a.annotator_id is None), None)
    alert_week: str | None = None
    if vendor_alert is not None and vendor_alert.first_alarm_at is not None:
        year, week, _ = vendor_alert.first_alarm_at.isocalendar()
        alert_week = f"{year}-W{week:02d}"
    weekly = [
        WeeklyQualityPublic(
            week=w.week,
            n_honeypots=w.n_honeypots,
            accuracy=w.value,
            ci_low=w.ci_low,
            ci_high=w.ci_high,
            alert=w.week == alert_week,
        )
        for w in quality.weekly
        if w.annotator_id is None and w.week is not None
    ]
    options = ScoringOptions(min_coverage=0.0, classes=tuple(class_names(project)) or None)
    answers = honeypot_answers(session, latest)
    alert_delivery = None if vendor_alert is None else vendor_alert.first_alarm_delivery_id
    rows = [
        _delivery_row(session, project, d, answers, options, alert_delivery, principal)
        for d in mine
    ]
    name, shown_id = _display_name(session, project.id or 0, vendor_id, principal)
    bakeoff_ids = sorted({d.bakeoff_id for d in mine if d.bakeoff_id is not None})
    links = []
    for bakeoff_id in bakeoff_ids:
        bakeoff = session.get(BakeOff, bakeoff_id)
        if bakeoff is not None:
            links.append(BakeoffLinkPublic(bakeoff_id=bakeoff_id, name=bakeoff.name))
    warnings = list(quality.warnings)
    if not bakeoff_ids:
        warnings.append("no delivery of this vendor names the bake-off that chose it")
    n_alarms = 0 if vendor_alert is None else vendor_alert.n_alarms
    n_rejected = sum(r.rejected for r in rows)
    return VendorQualityPublic(
        vendor_id=shown_id,
        name=name,
        metric_title=quality.metric_title,
        weekly=weekly,
        deliveries=rows,
        alert_in_alarm=vendor_alert is not None and vendor_alert.in_alarm,
        first_alarm_at=None if vendor_alert is None else vendor_alert.first_alarm_at,
        first_alarm_delivery_id=alert_delivery,
        false_alarm_probability_per_week=quality.design.false_alarm_probability_per_week,
        agreed_accuracy=quality.design.agreed_accuracy,
        alert_accuracy=quality.design.alert_accuracy,
        n_alarms=n_alarms,
        n_rejected=n_rejected,
        n_breaches=n_alarms + n_rejected,
        bakeoffs=links,
        warnings=warnings,
    )


def procurement_view(
    *, session: Session, project_id: int, principal: Principal | None = None
) -> ProcurementViewPublic:
    """Production quality over time per vendor of a project (see the module docstring)."""
    project = get_project(session=session, project_id=project_id, principal=principal)
    by_vendor: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in list_deliveries(session=session, principal=principal, project_id=project_id):
        by_vendor[delivery.vendor_id].append(delivery)
    vendors = [
        _vendor_view(session, project, vendor_id, sorted(mine, key=lambda d: d.id or 0), principal)
        for vendor_id, mine in sorted(by_vendor.items())
    ]
    vendors.sort(key=lambda v: v.name)
    return ProcurementViewPublic(project_id=project_id, project_name=project.name, vendors=vendors)
