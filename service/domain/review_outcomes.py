"""What reviews lead to: gold corrections, reviewer statistics, blinding, the audit log.

A decision that implies a different gold label is a *proposed* correction
(:func:`pending_gold_corrections`); a lead or admin (the expert) confirms them with
:func:`apply_gold_corrections`, which makes a new golden-set version (bake-offs pinned to the old
version keep it), moves this bake-off to the new version and bumps its ``data_version`` so every
metric is recomputed.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain.access import require_role
from service.domain.bakeoffs import get_bakeoff
from service.domain.errors import Conflict, NotFound
from service.domain.golden_sets import correct_gold
from service.domain.review import _audit, _canon, _Context, _same
from service.domain.security import Principal
from service.models import (
    ApiKey,
    AuditEvent,
    AuditEventPublic,
    AuditEventsPublic,
    BakeOff,
    Flag,
    GoldenItem,
    GoldenSetVersion,
    GoldLabel,
    GoldLabelCreate,
    Review,
)

__all__ = [
    "ReviewerStats",
    "AgreementStats",
    "ReviewStats",
    "GoldCorrectionResult",
    "BlindingUpdate",
    "PendingCorrection",
    "PendingCorrections",
    "DisagreementGroup",
    "review_stats",
    "pending_gold_corrections",
    "apply_gold_corrections",
    "set_blinding",
    "list_audit",
    "list_pending_corrections",
    "disagreement_groups",
]


class ReviewerStats(BaseModel):
    reviewer: str
    reviewer_key_id: int | None
    reviews: int
    undone: int
    last_hour: int
    per_hour: float | None = Field(description="Decisions per hour between first and last.")
    seconds_per_review: float | None
    first_at: datetime | None
    last_at: datetime | None


class AgreementStats(BaseModel):
    flags_compared: int = Field(description="Flags with active reviews by 2+ reviewers.")
    pairs: int
    agreeing_pairs: int
    agreement: float | None = Field(description="Share of reviewer pairs with the same outcome.")


class ReviewStats(BaseModel):
    bakeoff_id: int
    flags_total: int
    open: int
    resolved: int
    by_reason: dict[str, int]
    reviewers: list[ReviewerStats]
    agreement: AgreementStats
    pending_gold_corrections: int


class GoldCorrectionResult(BaseModel):
    bakeoff_id: int
    old_version: int
    new_version: int
    corrected_items: list[str]
    conflicting_items: list[str] = Field(
        description="Items whose reviews propose different labels (not corrected)."
    )


class PendingCorrection(BaseModel):
    item_id: int
    item_key: str
    gold: Any = None
    proposed: Any = None


class PendingCorrections(BaseModel):
    data: list[PendingCorrection]
    conflicting_items: list[str]


class DisagreementGroup(BaseModel):
    """Flags sharing a confusion (e.g. ``"cat | dog"``): where instructions need an example."""

    group: str
    n_flags: int
    open: int
    mean_score: float
    example_item_keys: list[str]
    example_flag_ids: list[int]


class BlindingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blinded: bool


def pending_gold_corrections(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> tuple[dict[int, Any], list[int]]:
    """Active decisions proposing a gold different from the pinned version's.

    Returns ``({item id: proposed value}, [item ids with conflicting proposals])``.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    rows = session.exec(
        select(Flag.item_id, Review.corrected_value)
        .join(Flag, col(Flag.id) == col(Review.flag_id))
        .where(Flag.bakeoff_id == bakeoff_id)
        .where(col(Review.undone).is_(False))
        .where(col(Review.decision).in_(["accept_candidate", "correct"]))
    ).all()
    gold = dict(
        session.exec(
            select(GoldLabel.item_id, GoldLabel.value).where(
                GoldLabel.version_id == bakeoff.golden_set_version_id
            )
        ).all()
    )
    proposals: dict[int, dict[str, Any]] = defaultdict(dict)
    for item_id, value in rows:
        if value is not None:
            proposals[int(item_id)][_canon(value)] = value
    # Items where some active decision confirmed gold count as disputed too.
    confirmed = set(
        session.exec(
            select(Flag.item_id)
            .join(Review, col(Flag.id) == col(Review.flag_id))
            .where(Flag.bakeoff_id == bakeoff_id)
            .where(col(Review.undone).is_(False))
            .where(Review.decision == "confirm_gold")
            .where(col(Flag.vendor_id).is_(None))
        ).all()
    )
    pending: dict[int, Any] = {}
    conflicts: list[int] = []
    for item_id, values in proposals.items():
        differing = {k: v for k, v in values.items() if not _same(v, gold.get(item_id))}
        if not differing:
            continue
        if len(values) > 1 or item_id in confirmed:
            conflicts.append(item_id)
            continue
        pending[item_id] = next(iter(differing.values()))
    return pending, sorted(conflicts)


def apply_gold_corrections(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> GoldCorrectionResult:
    """Confirm the pending gold corrections of a bake-off (leads and admins).

    Makes a new golden-set version with the corrections, moves this bake-off to it (other
    bake-offs keep their version) and bumps ``data_version`` so results are recomputed.

    Raises
    ------
    Forbidden
        The caller is not a lead or admin.
    Conflict
        Nothing to apply.
    """
    require_role(principal, "admin", "lead")
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    pending, conflicts = pending_gold_corrections(
        session=session, bakeoff_id=bakeoff_id, principal=principal
    )
    if not pending:
        raise Conflict("no pending gold corrections to apply", code="nothing_to_apply")
    old = session.get(GoldenSetVersion, bakeoff.golden_set_version_id)
    if old is None:  # pragma: no cover - foreign key
        raise NotFound("pinned golden-set version not found")
    ctx = _Context(session, bakeoff, principal)
    keys = ctx.item_keys(list(pending) + conflicts)
    old_gold = {i: ctx.gold_value(i) for i in pending}
    new = correct_gold(
        session=session,
        golden_set_id=old.golden_set_id,
        corrections=[GoldLabelCreate(item_key=keys[i], value=v) for i, v in pending.items()],
        note=f"QA review corrections from bake-off {bakeoff_id}",
    )
    bakeoff = session.get(BakeOff, bakeoff_id) or bakeoff
    bakeoff.golden_set_version_id = new.id or 0
    bakeoff.data_version += 1
    bakeoff.updated_at = utcnow()
    session.add(bakeoff)
    for item_id, value in pending.items():
        _audit(
            session,
            principal,
            "gold.correct",
            "gold_label",
            f"{old.golden_set_id}:{keys[item_id]}",
            before={"version": old.version, "value": old_gold[item_id]},
            after={"version": new.version, "value": value, "bakeoff_id": bakeoff_id},
        )
    _audit(
        session,
        principal,
        "bakeoff.gold_version",
        "bakeoff",
        str(bakeoff_id),
        before={"golden_set_version": old.version},
        after={"golden_set_version": new.version, "corrected": len(pending)},
    )
    session.commit()
    return GoldCorrectionResult(
        bakeoff_id=bakeoff_id,
        old_version=old.version,
        new_version=new.version,
        corrected_items=sorted(keys[i] for i in pending),
        conflicting_items=sorted(keys[i] for i in conflicts),
    )


def review_stats(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> ReviewStats:
    """Queue progress, each reviewer's throughput, and agreement between reviewers."""
    get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    flags = session.exec(
        select(Flag.id, Flag.status, Flag.reason).where(Flag.bakeoff_id == bakeoff_id)
    ).all()
    by_reason: dict[str, int] = defaultdict(int)
    for _, status, reason in flags:
        if status == "open":
            by_reason[reason] += 1
    reviews = session.exec(
        select(Review, ApiKey.name)
        .join(Flag, col(Flag.id) == col(Review.flag_id))
        .join(ApiKey, col(ApiKey.id) == col(Review.reviewer_key_id), isouter=True)
        .where(Flag.bakeoff_id == bakeoff_id)
        .order_by(col(Review.created_at))
    ).all()
    now = utcnow()
    per: dict[int | None, list[tuple[Review, str]]] = defaultdict(list)
    for r, name in reviews:
        per[r.reviewer_key_id].append((r, name or "system"))
    reviewers = []
    for key_id, items in per.items():
        active = [r for r, _ in items if not r.undone]
        times = [_aware(r.created_at) for r in active]
        span = (max(times) - min(times)).total_seconds() if len(times) >= 2 else 0.0
        reviewers.append(
            ReviewerStats(
                reviewer=items[0][1],
                reviewer_key_id=key_id,
                reviews=len(active),
                undone=len(items) - len(active),
                last_hour=sum(1 for t in times if now - t <= timedelta(hours=1)),
                per_hour=(len(times) - 1) / (span / 3600.0) if span > 0 else None,
                seconds_per_review=span / (len(times) - 1) if span > 0 else None,
                first_at=min(times) if times else None,
                last_at=max(times) if times else None,
            )
        )
    reviewers.sort(key=lambda s: (-s.reviews, s.reviewer))
    outcome: dict[int, dict[int | None, str]] = defaultdict(dict)
    for r, _ in reviews:
        if not r.undone:
            outcome[r.flag_id][r.reviewer_key_id] = f"{r.decision}:{_canon(r.corrected_value)}"
    pairs = agreeing = compared = 0
    for per_flag in outcome.values():
        if len(per_flag) < 2:
            continue
        compared += 1
        for a, b in combinations(per_flag.values(), 2):
            pairs += 1
            agreeing += int(a == b)
    pending, _ = pending_gold_corrections(session=session, bakeoff_id=bakeoff_id)
    return ReviewStats(
        bakeoff_id=bakeoff_id,
        flags_total=len(flags),
        open=sum(1 for _, s, _ in flags if s == "open"),
        resolved=sum(1 for _, s, _ in flags if s == "resolved"),
        by_reason=dict(sorted(by_reason.items())),
        reviewers=reviewers,
        agreement=AgreementStats(
            flags_compared=compared,
            pairs=pairs,
            agreeing_pairs=agreeing,
            agreement=agreeing / pairs if pairs else None,
        ),
        pending_gold_corrections=len(pending),
    )


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=utcnow().tzinfo)


def set_blinding(
    *, session: Session, bakeoff_id: int, blinded: bool, principal: Principal | None = None
) -> bool:
    """Turn a bake-off's blinding on or off (leads and admins); audited."""
    require_role(principal, "admin", "lead")
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    before = bakeoff.blinded
    bakeoff.blinded = blinded
    bakeoff.updated_at = utcnow()
    session.add(bakeoff)
    _audit(
        session,
        principal,
        "bakeoff.blinding",
        "bakeoff",
        str(bakeoff_id),
        before={"blinded": before},
        after={"blinded": blinded},
    )
    session.commit()
    return blinded


def list_audit(
    *,
    session: Session,
    bakeoff_id: int,
    principal: Principal | None = None,
    skip: int = 0,
    limit: int = 100,
) -> AuditEventsPublic:
    """The audit log of a bake-off's reviews, gold corrections and flag computations."""
    get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    flag_ids = [
        str(i) for i in session.exec(select(Flag.id).where(Flag.bakeoff_id == bakeoff_id)).all()
    ]
    events = session.exec(
        select(AuditEvent)
        .where(
            (
                (col(AuditEvent.entity_type) == "flag")
                & col(AuditEvent.entity_id).in_(flag_ids or ["-"])
            )
            | (
                (col(AuditEvent.entity_type) == "bakeoff")
                & (col(AuditEvent.entity_id) == str(bakeoff_id))
            )
            | (col(AuditEvent.entity_type) == "gold_label")
        )
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
    ).all()
    mine = [
        e
        for e in events
        if e.entity_type != "gold_label" or (e.after or {}).get("bakeoff_id") == bakeoff_id
    ]
    page = mine[skip : skip + limit]
    return AuditEventsPublic(
        data=[AuditEventPublic.model_validate(e, from_attributes=True) for e in page],
        count=len(mine),
    )


def list_pending_corrections(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> PendingCorrections:
    """The gold corrections that reviews propose and a lead has not applied yet."""
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    pending, conflicts = pending_gold_corrections(
        session=session, bakeoff_id=bakeoff_id, principal=principal
    )
    ctx = _Context(session, bakeoff, principal)
    keys = ctx.item_keys(list(pending) + conflicts)
    return PendingCorrections(
        data=[
            PendingCorrection(
                item_id=i, item_key=keys.get(i, ""), gold=ctx.gold_value(i), proposed=v
            )
            for i, v in sorted(pending.items())
        ],
        conflicting_items=sorted(keys.get(i, "") for i in conflicts),
    )


def disagreement_groups(
    *,
    session: Session,
    bakeoff_id: int,
    principal: Principal | None = None,
    reason: str | None = "candidates_disagree",
    examples: int = 3,
) -> list[DisagreementGroup]:
    """Flags grouped by the classes they confuse, most flags first (for instruction authors)."""
    get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    stmt = select(Flag).where(Flag.bakeoff_id == bakeoff_id)
    if reason:
        stmt = stmt.where(Flag.reason == reason)
    flags = session.exec(stmt.order_by(col(Flag.score).desc(), col(Flag.id))).all()
    groups: dict[str, list[Flag]] = defaultdict(list)
    for f in flags:
        g = (f.details or {}).get("group")
        if isinstance(g, str) and g:
            groups[g].append(f)
    keys = dict(
        session.exec(
            select(GoldenItem.id, GoldenItem.key).where(
                col(GoldenItem.id).in_({f.item_id for f in flags})
            )
        ).all()
    )
    out = [
        DisagreementGroup(
            group=g,
            n_flags=len(fs),
            open=sum(1 for f in fs if f.status == "open"),
            mean_score=sum(f.score for f in fs) / len(fs),
            example_item_keys=[keys.get(f.item_id, "") for f in fs[:examples]],
            example_flag_ids=[f.id or 0 for f in fs[:examples]],
        )
        for g, fs in groups.items()
    ]
    out.sort(key=lambda d: (-d.n_flags, -d.mean_score, d.group))
    return out
