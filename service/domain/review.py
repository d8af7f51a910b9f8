"""The QA review queue: flags ordered by score, decisions, undo, gold corrections, statistics.

Decisions on a flag
-------------------
``accept_candidate``
    The candidate's label is right (for a gold flag: the label the evidence suggests; for an
    item-level flag: name the ``candidate``). If it differs from gold, it is a gold correction.
``confirm_gold``
    Gold is right.
``correct``
    Neither is right; ``corrected_value`` is the right label (checked against the ontology).

Every decision and every undo is an :class:`~service.models.AuditEvent` (who, when, before,
after). A decision that implies a different gold label is a *proposed* correction; a lead or
admin (the expert) confirms the pending corrections with :func:`apply_gold_corrections`, which
makes a new golden-set version (bake-offs pinned to the old version keep it), moves this bake-off
to the new version and bumps its ``data_version`` so every metric is recomputed.

Blinding
--------
While a bake-off is ``blinded`` (the default) a ``qa`` reviewer sees vendors as their aliases
("Candidate A") and no vendor id (as in the results); leads and admins see names. A lead turns
blinding off with :func:`set_blinding`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import combinations
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain.access import require_role
from service.domain.bakeoffs import get_bakeoff, vendor_aliases
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.golden_sets import correct_gold
from service.domain.labels import normalize_value
from service.domain.projects import class_names
from service.domain.security import Principal
from service.models import (
    ApiKey,
    AuditEvent,
    AuditEventPublic,
    AuditEventsPublic,
    BakeOff,
    Flag,
    FlagStatus,
    GoldenItem,
    GoldenSetVersion,
    GoldLabel,
    GoldLabelCreate,
    InstructionsVersion,
    Project,
    Review,
    ReviewDecision,
    Vendor,
    VendorLabel,
)

__all__ = [
    "QueueStatus",
    "FlagView",
    "FlagsPage",
    "CandidateLabel",
    "ExampleView",
    "ReviewView",
    "ItemReview",
    "DecisionCreate",
    "DecisionResult",
    "ReviewerStats",
    "AgreementStats",
    "ReviewStats",
    "GoldCorrectionResult",
    "BlindingUpdate",
    "PendingCorrection",
    "PendingCorrections",
    "DisagreementGroup",
    "list_pending_corrections",
    "disagreement_groups",
    "list_queue",
    "get_item_review",
    "decide",
    "undo",
    "review_stats",
    "pending_gold_corrections",
    "apply_gold_corrections",
    "set_blinding",
    "list_audit",
]

QueueStatus = Literal["open", "resolved", "dismissed", "all"]


# --------------------------------------------------------------------------- schemas


class FlagView(BaseModel):
    """A flag as a reviewer sees it (blinded: no vendor id, candidate alias)."""

    id: int
    bakeoff_id: int
    item_id: int
    item_key: str
    reason: str
    kind: str | None
    target: Literal["vendor", "gold", "item"]
    candidate: str | None = Field(description="'Candidate A' (blinded) or the vendor's name.")
    vendor_id: int | None = Field(description="Only when the bake-off is not blinded.")
    annotator: str | None = None
    score: float
    status: FlagStatus
    group: str | None
    suggested_label: Any = None
    detail: str | None
    classes: list[str]
    active_reviews: int
    created_at: datetime


class FlagsPage(BaseModel):
    data: list[FlagView]
    count: int


class CandidateLabel(BaseModel):
    candidate: str
    vendor_id: int | None
    annotator: str | None
    value: Any
    score: float | None


class ExampleView(BaseModel):
    title: str
    label: Any = None
    data: dict[str, Any] = Field(default_factory=dict)
    counter_example: bool = False
    explanation: str = ""


class ReviewView(BaseModel):
    id: int
    flag_id: int
    reviewer: str
    reviewer_key_id: int | None
    decision: ReviewDecision
    corrected_value: Any = None
    comment: str
    undone: bool
    created_at: datetime


class ItemReview(BaseModel):
    """Everything the item page shows for one flag."""

    flag: FlagView
    task_type: str
    classes: list[str]
    item_data: dict[str, Any]
    item_meta: dict[str, Any]
    gold: Any
    candidates: list[CandidateLabel]
    examples: list[ExampleView]
    reviews: list[ReviewView]
    position: int = Field(description="1-based position in the filtered queue.")
    total: int
    prev_id: int | None
    next_id: int | None
    blinded: bool


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: ReviewDecision
    candidate: str | None = Field(
        default=None, description="Whose label to accept (alias or name); default the flagged one."
    )
    corrected_value: Any = Field(default=None, description="Required for decision 'correct'.")
    comment: str = Field(default="", max_length=4000)


class DecisionResult(BaseModel):
    review: ReviewView
    flag: FlagView
    proposed_gold: Any = Field(default=None, description="The new gold this decision implies.")
    next_id: int | None = None


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


# --------------------------------------------------------------------------- helpers


def _audit(
    session: Session,
    principal: Principal | None,
    action: str,
    entity_type: str,
    entity_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
) -> None:
    session.add(
        AuditEvent(
            actor_key_id=principal.key_id if principal else None,
            actor=principal.name if principal else "system",
            at=utcnow(),
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            before=before,
            after=after,
        )
    )


def _same(a: Any, b: Any) -> bool:
    return _canon(a) == _canon(b)


def _canon(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return json.dumps(sorted(value))
    return json.dumps(value, sort_keys=True)


class _Context:
    """What the review functions need about one bake-off, loaded once."""

    def __init__(
        self, session: Session, bakeoff: BakeOff, principal: Principal | None = None
    ) -> None:
        self.session = session
        self.bakeoff = bakeoff
        # As in the results: a qa key sees aliases while the bake-off is blinded.
        self.blind = bakeoff.blinded and principal is not None and principal.role == "qa"
        self.bakeoff_id = bakeoff.id or 0
        project = session.get(Project, bakeoff.project_id)
        if project is None:  # pragma: no cover - foreign key
            raise NotFound(f"project of bake-off {self.bakeoff_id} not found")
        self.project = project
        self.classes = class_names(project)
        self.aliases = vendor_aliases(session, self.bakeoff_id)
        names = session.exec(
            select(Vendor.id, Vendor.name).where(col(Vendor.id).in_(list(self.aliases)))
        ).all()
        self.names = {int(i): n for i, n in names if i is not None}

    def display(self, vendor_id: int | None) -> str | None:
        if vendor_id is None:
            return None
        alias = self.aliases.get(vendor_id, f"Vendor {vendor_id}")
        if self.blind:
            return alias
        return self.names.get(vendor_id, alias)

    def vendor_for(self, candidate: str) -> int:
        """Resolve a candidate alias (or, unblinded, a vendor name) to a vendor id."""
        for vid, alias in self.aliases.items():
            if candidate == alias or (
                not self.bakeoff.blinded and candidate == self.names.get(vid)
            ):
                return vid
        raise Invalid(
            f"unknown candidate {candidate!r}; candidates: {sorted(self.aliases.values())}",
            location=("body", "candidate"),
        )

    def gold_value(self, item_id: int) -> Any:
        row = self.session.exec(
            select(GoldLabel.value)
            .where(GoldLabel.version_id == self.bakeoff.golden_set_version_id)
            .where(GoldLabel.item_id == item_id)
        ).first()
        return row

    def item_keys(self, item_ids: Sequence[int]) -> dict[int, str]:
        if not item_ids:
            return {}
        rows = self.session.exec(
            select(GoldenItem.id, GoldenItem.key).where(col(GoldenItem.id).in_(list(item_ids)))
        ).all()
        return {int(i): k for i, k in rows if i is not None}


def _active_counts(session: Session, flag_ids: Sequence[int]) -> dict[int, int]:
    if not flag_ids:
        return {}
    rows = session.exec(
        select(Review.flag_id)
        .where(col(Review.flag_id).in_(list(flag_ids)))
        .where(col(Review.undone).is_(False))
    ).all()
    counts: dict[int, int] = defaultdict(int)
    for fid in rows:
        counts[int(fid)] += 1
    return counts


def _view(ctx: _Context, flag: Flag, key: str, active: int) -> FlagView:
    d = flag.details or {}
    target: Literal["vendor", "gold", "item"] = (
        d["target"]
        if d.get("target") in ("vendor", "gold", "item")
        else ("vendor" if flag.vendor_id is not None else "gold")
    )
    return FlagView(
        id=flag.id or 0,
        bakeoff_id=flag.bakeoff_id,
        item_id=flag.item_id,
        item_key=key,
        reason=flag.reason,
        kind=d.get("kind"),
        target=target,
        candidate=ctx.display(flag.vendor_id),
        vendor_id=None if ctx.blind else flag.vendor_id,
        annotator=d.get("annotator"),
        score=flag.score,
        status=flag.status,
        group=d.get("group"),
        suggested_label=d.get("suggested_label"),
        detail=d.get("detail"),
        classes=list(d.get("classes") or []),
        active_reviews=active,
        created_at=flag.created_at,
    )


def _filtered(
    ctx: _Context,
    *,
    status: QueueStatus,
    reason: str | None,
    candidate: str | None,
    class_name: str | None,
    slice_: str | None,
    include_id: int | None = None,
) -> list[Flag]:
    """The bake-off's flags matching the filters, in queue order (score desc, id)."""
    stmt = select(Flag).where(Flag.bakeoff_id == ctx.bakeoff_id)
    gold_only = False
    if reason:
        stmt = stmt.where(Flag.reason == reason)
    if candidate:
        if candidate.lower() == "gold":
            stmt = stmt.where(col(Flag.vendor_id).is_(None))
            gold_only = True
        else:
            stmt = stmt.where(Flag.vendor_id == ctx.vendor_for(candidate))
    flags = list(ctx.session.exec(stmt.order_by(col(Flag.score).desc(), col(Flag.id))).all())
    meta_filter: tuple[str, str] | None = None
    if slice_:
        name, sep, value = slice_.partition("=")
        if not sep or not name.strip():
            raise Invalid(
                f"slice must look like 'key=value', got {slice_!r}", location=("query", "slice")
            )
        meta_filter = (name.strip(), value.strip())
        metas = dict(
            ctx.session.exec(
                select(GoldenItem.id, GoldenItem.meta).where(
                    col(GoldenItem.id).in_({f.item_id for f in flags})
                )
            ).all()
        )
    out = []
    for f in flags:
        keep = status == "all" or f.status == status or f.id == include_id
        if keep and gold_only and (f.details or {}).get("target") != "gold":
            keep = f.id == include_id
        if keep and class_name and class_name not in (f.details or {}).get("classes", []):
            keep = f.id == include_id
        if keep and meta_filter is not None:
            meta = metas.get(f.item_id) or {}
            keep = str(meta.get(meta_filter[0])) == meta_filter[1] or f.id == include_id
        if keep:
            out.append(f)
    return out


# --------------------------------------------------------------------------- queue


def list_queue(
    *,
    session: Session,
    bakeoff_id: int,
    principal: Principal | None = None,
    status: QueueStatus = "open",
    reason: str | None = None,
    candidate: str | None = None,
    class_name: str | None = None,
    slice_: str | None = None,
    skip: int = 0,
    limit: int = 100,
) -> FlagsPage:
    """The review queue of a bake-off, highest score first.

    Parameters
    ----------
    status
        ``open`` (default), ``resolved``, ``dismissed`` or ``all``.
    reason
        Only flags of this reason.
    candidate
        Only flags on this candidate (alias, or name when unblinded), or ``"gold"``.
    class_name
        Only flags involving this class (gold, given or suggested).
    slice_
        Only items whose metadata has ``key=value`` (e.g. ``lighting=dim``).
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    ctx = _Context(session, bakeoff, principal)
    flags = _filtered(
        ctx, status=status, reason=reason, candidate=candidate, class_name=class_name, slice_=slice_
    )
    page = flags[skip : skip + limit]
    keys = ctx.item_keys([f.item_id for f in page])
    active = _active_counts(session, [f.id or 0 for f in page])
    return FlagsPage(
        data=[_view(ctx, f, keys.get(f.item_id, ""), active.get(f.id or 0, 0)) for f in page],
        count=len(flags),
    )


def _load_flag(
    session: Session, flag_id: int, principal: Principal | None
) -> tuple[Flag, _Context]:
    flag = session.get(Flag, flag_id)
    if flag is None:
        raise NotFound(f"Flag {flag_id} not found")
    bakeoff = get_bakeoff(session=session, bakeoff_id=flag.bakeoff_id, principal=principal)
    return flag, _Context(session, bakeoff, principal)


def _candidate_labels(
    ctx: _Context, item_id: int
) -> list[tuple[int, str | None, Any, float | None]]:
    rows = ctx.session.exec(
        select(
            VendorLabel.vendor_id, VendorLabel.annotator_id, VendorLabel.value, VendorLabel.score
        )
        .where(VendorLabel.bakeoff_id == ctx.bakeoff_id)
        .where(VendorLabel.item_id == item_id)
        .order_by(col(VendorLabel.id))
    ).all()
    return [(int(v), a, val, s) for v, a, val, s in rows]


def _relevant_examples(ctx: _Context, classes: Sequence[str]) -> list[ExampleView]:
    instr = ctx.session.get(InstructionsVersion, ctx.bakeoff.instructions_version_id)
    if instr is None:
        return []
    wanted = set(classes)
    out = []
    for ex in instr.examples or []:
        label = ex.get("label")
        text = json.dumps(label) + " " + str(ex.get("title", ""))
        if not wanted or any(c and c in text for c in wanted):
            out.append(
                ExampleView(
                    title=str(ex.get("title", "")),
                    label=label,
                    data=dict(ex.get("data") or {}),
                    counter_example=bool(ex.get("counter_example", False)),
                    explanation=str(ex.get("explanation", "")),
                )
            )
    return out[:4]


def _review_views(session: Session, flag_ids: Sequence[int]) -> list[ReviewView]:
    if not flag_ids:
        return []
    rows = session.exec(
        select(Review, ApiKey.name)
        .join(ApiKey, col(ApiKey.id) == col(Review.reviewer_key_id), isouter=True)
        .where(col(Review.flag_id).in_(list(flag_ids)))
        .order_by(col(Review.created_at), col(Review.id))
    ).all()
    return [
        ReviewView(
            id=r.id or 0,
            flag_id=r.flag_id,
            reviewer=name or "system",
            reviewer_key_id=r.reviewer_key_id,
            decision=r.decision,
            corrected_value=r.corrected_value,
            comment=r.comment,
            undone=r.undone,
            created_at=r.created_at,
        )
        for r, name in rows
    ]


def get_item_review(
    *,
    session: Session,
    flag_id: int,
    principal: Principal | None = None,
    status: QueueStatus = "open",
    reason: str | None = None,
    candidate: str | None = None,
    class_name: str | None = None,
    slice_: str | None = None,
) -> ItemReview:
    """One flag with its item, gold, every candidate's label, instruction examples, history,
    and its neighbours in the (filtered) queue."""
    flag, ctx = _load_flag(session, flag_id, principal)
    item = session.get(GoldenItem, flag.item_id)
    if item is None:  # pragma: no cover - foreign key
        raise NotFound(f"item {flag.item_id} not found")
    queue = _filtered(
        ctx,
        status=status,
        reason=reason,
        candidate=candidate,
        class_name=class_name,
        slice_=slice_,
        include_id=flag.id,
    )
    ids = [f.id for f in queue]
    pos = ids.index(flag.id)
    active = _active_counts(session, [flag.id or 0])
    view = _view(ctx, flag, item.key, active.get(flag.id or 0, 0))
    candidates = [
        CandidateLabel(
            candidate=ctx.display(vid) or "",
            vendor_id=None if ctx.blind else vid,
            annotator=ann,
            value=value,
            score=score,
        )
        for vid, ann, value, score in _candidate_labels(ctx, flag.item_id)
    ]
    candidates.sort(key=lambda c: (len(c.candidate), c.candidate, c.annotator or ""))
    return ItemReview(
        flag=view,
        task_type=ctx.project.task_type,
        classes=ctx.classes,
        item_data=dict(item.data or {}),
        item_meta=dict(item.meta or {}),
        gold=ctx.gold_value(flag.item_id),
        candidates=candidates,
        examples=_relevant_examples(ctx, view.classes),
        reviews=_review_views(session, [flag.id or 0]),
        position=pos + 1,
        total=len(ids),
        prev_id=ids[pos - 1] if pos > 0 else None,
        next_id=ids[pos + 1] if pos + 1 < len(ids) else None,
        blinded=ctx.blind,
    )


# --------------------------------------------------------------------------- decisions


def _accepted_value(ctx: _Context, flag: Flag, body: DecisionCreate) -> Any:
    details = flag.details or {}
    if body.candidate is None and flag.vendor_id is None:
        if details.get("target") == "gold" and details.get("suggested_label") is not None:
            return details["suggested_label"]
        raise Invalid(
            "this flag is not on one candidate: name the candidate whose label you accept",
            location=("body", "candidate"),
        )
    vendor_id = ctx.vendor_for(body.candidate) if body.candidate is not None else flag.vendor_id
    labels = [
        (ann, value)
        for vid, ann, value, _ in _candidate_labels(ctx, flag.item_id)
        if vid == vendor_id
    ]
    if not labels:
        raise Invalid(
            f"{ctx.display(vendor_id)} has no label for this item", location=("body", "candidate")
        )
    annotator = details.get("annotator") if body.candidate is None else None
    for ann, value in labels:
        if annotator and ann == annotator:
            return value
    counts: dict[str, tuple[int, Any]] = {}
    for _, value in labels:
        key = _canon(value)
        n, _v = counts.get(key, (0, value))
        counts[key] = (n + 1, value)
    return max(counts.values(), key=lambda nv: nv[0])[1]


def decide(
    *,
    session: Session,
    flag_id: int,
    body: DecisionCreate,
    principal: Principal | None = None,
) -> DecisionResult:
    """Record a reviewer's decision on a flag (one transaction, with its audit event).

    Raises
    ------
    NotFound
        Unknown flag.
    Conflict
        The reviewer already has an active decision on this flag (undo it first).
    Invalid
        A ``correct`` decision without a valid ``corrected_value``, or an unknown candidate.
    """
    flag, ctx = _load_flag(session, flag_id, principal)
    reviewer_id = principal.key_id if principal else None
    mine = session.exec(
        select(Review)
        .where(Review.flag_id == flag_id)
        .where(col(Review.undone).is_(False))
        .where(Review.reviewer_key_id == reviewer_id)
    ).first()
    if mine is not None:
        raise Conflict(
            f"you already decided {mine.decision!r} on flag {flag_id}; undo it first",
            code="already_decided",
        )
    gold = ctx.gold_value(flag.item_id)
    value: Any = None
    if body.decision == "confirm_gold":
        if body.corrected_value is not None:
            raise Invalid(
                "confirm_gold takes no corrected_value", location=("body", "corrected_value")
            )
    elif body.decision == "accept_candidate":
        value = _accepted_value(ctx, flag, body)
    else:
        if body.corrected_value is None:
            raise Invalid(
                "decision 'correct' needs corrected_value", location=("body", "corrected_value")
            )
        value = normalize_value(
            body.corrected_value,
            task_type=ctx.project.task_type,
            classes=set(ctx.classes),
            where=("body", "corrected_value"),
        )
    review = Review(
        flag_id=flag_id,
        decision=body.decision,
        corrected_value=value,
        comment=body.comment,
        reviewer_key_id=reviewer_id,
        created_at=utcnow(),
    )
    session.add(review)
    before_status = flag.status
    flag.status = "resolved"
    session.add(flag)
    session.flush()
    proposed = value if value is not None and not _same(value, gold) else None
    _audit(
        session,
        principal,
        "review.decide",
        "flag",
        str(flag_id),
        before={"status": before_status, "gold": gold},
        after={
            "status": "resolved",
            "review_id": review.id,
            "decision": body.decision,
            "value": value,
            "proposed_gold": proposed,
            "comment": body.comment,
            "bakeoff_id": ctx.bakeoff_id,
        },
    )
    session.commit()
    session.refresh(review)
    session.refresh(flag)
    views = _review_views(session, [flag_id])
    key = ctx.item_keys([flag.item_id]).get(flag.item_id, "")
    active = _active_counts(session, [flag_id]).get(flag_id, 0)
    nxt = _filtered(ctx, status="open", reason=None, candidate=None, class_name=None, slice_=None)
    return DecisionResult(
        review=next(v for v in views if v.id == review.id),
        flag=_view(ctx, flag, key, active),
        proposed_gold=proposed,
        next_id=nxt[0].id if nxt else None,
    )


def undo(*, session: Session, flag_id: int, principal: Principal | None = None) -> ReviewView:
    """Undo the caller's latest active decision on a flag (admins and leads: anyone's).

    The flag is open again when no active decision remains. An undo is itself an audit event;
    a gold correction already applied stays in its golden-set version (make a new correction).

    Raises
    ------
    NotFound
        No active decision to undo.
    """
    flag, ctx = _load_flag(session, flag_id, principal)
    stmt = (
        select(Review)
        .where(Review.flag_id == flag_id)
        .where(col(Review.undone).is_(False))
        .order_by(col(Review.created_at).desc(), col(Review.id).desc())
    )
    if principal is not None and principal.role not in ("admin", "lead"):
        stmt = stmt.where(Review.reviewer_key_id == principal.key_id)
    review = session.exec(stmt).first()
    if review is None:
        raise NotFound(f"no decision of yours on flag {flag_id} to undo")
    review.undone = True
    session.add(review)
    session.flush()
    remaining = _active_counts(session, [flag_id]).get(flag_id, 0)
    before_status = flag.status
    flag.status = "resolved" if remaining else "open"
    session.add(flag)
    _audit(
        session,
        principal,
        "review.undo",
        "flag",
        str(flag_id),
        before={
            "status": before_status,
            "review_id": review.id,
            "decision": review.decision,
            "value": review.corrected_value,
        },
        after={"status": flag.status, "undone": True, "bakeoff_id": ctx.bakeoff_id},
    )
    session.commit()
    return next(v for v in _review_views(session, [flag_id]) if v.id == review.id)


# --------------------------------------------------------------------------- gold corrections


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


# --------------------------------------------------------------------------- stats, blinding


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
