"""A delivery's flags in the review queue: stored as ``flag`` rows, decided as ``review`` rows.

Model-label disagreement on a production delivery (:mod:`service.domain.delivery_flags`,
:mod:`service.domain.delivery_jobs`) marks items on ``deliveryitem`` (``flag_score``,
``flagged``), where the audit's strata read them. :func:`sync_delivery_flags` mirrors the
flagged items into the review queue's ``flag`` table (``delivery_id``, ``delivery_item_id``;
no bake-off, no golden item) in the flag store's own transaction, so QA staff work them in the
same queue, on the same pages and through the same ``/review/flags/{flag_id}`` routes as
bake-off flags. Each decision is one ``review`` row (with its audit event), as for bake-off
flags: it is stored once, and a later flag run keeps every flag that has a decision (it only
replaces open, undecided ones), so a decided item is never queued a second time.

A production item has no gold, so the decisions are ``accept_candidate`` (the vendor's label is
right) and ``correct`` (the right label, checked against the ontology); ``confirm_gold`` is
refused with 422. Vendors are named (a delivery has one vendor, chosen already; blinding is for
bake-offs).
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Literal

from sqlalchemy import and_, delete, exists, func, insert, literal, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from service.core.types import JSONType, utcnow
from service.domain._common import get_or_404, table_of
from service.domain.deliveries import get_delivery
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.projects import class_names
from service.domain.review import (
    CandidateLabel,
    DecisionCreate,
    DecisionResult,
    FlagsPage,
    FlagView,
    ItemReview,
    QueueStatus,
    ReviewView,
    _active_counts,
    _audit,
    _corrected_value,
    _review_views,
)
from service.domain.security import Principal
from service.models import (
    Delivery,
    DeliveryItem,
    DeliveryLabel,
    Flag,
    Project,
    Review,
    Vendor,
)

__all__ = [
    "DELIVERY_REASON",
    "sync_delivery_flags",
    "open_counts",
    "list_delivery_queue",
    "get_item_review",
    "decide",
    "undo",
]

#: The reason of a delivery's flags in the queue (the bake-off queue's name for the same test).
DELIVERY_REASON: Literal["model_vs_label"] = "model_vs_label"

_DETAIL = "the model's probabilities disagree with the vendor's label (cleanlab)"


def sync_delivery_flags(session: Session, delivery_id: int, detail: str | None = None) -> None:
    """Make the delivery's queue flags follow ``deliveryitem.flagged`` (no commit).

    ``detail`` says what flagged the new flags (the flagger's method); by default the
    classification flagger's words.

    Open flags without any decision are replaced by one flag per flagged item; a flag with a
    decision (active or undone) stays with its history, its score updated, and its item gets no
    second flag. Runs inside the caller's transaction (the flag store's), so the queue and the
    items change together.
    """
    flag, item, review = table_of(Flag), table_of(DeliveryItem), table_of(Review)
    delivery = get_or_404(session, Delivery, delivery_id)
    decided = exists().where(review.c.flag_id == flag.c.id)
    session.execute(
        delete(flag)
        .where(flag.c.delivery_id == delivery_id)
        .where(flag.c.status == "open")
        .where(~decided)
    )
    score = (
        sa_select(item.c.flag_score).where(item.c.id == flag.c.delivery_item_id).scalar_subquery()
    )
    session.execute(update(flag).where(flag.c.delivery_id == delivery_id).values(score=score))
    already = exists().where(flag.c.delivery_item_id == item.c.id)
    session.execute(
        insert(flag).from_select(
            [
                "item_id",
                "vendor_id",
                "reason",
                "score",
                "status",
                "details",
                "bakeoff_id",
                "delivery_id",
                "delivery_item_id",
                "created_at",
            ],
            sa_select(
                literal(None).label("item_id"),
                literal(delivery.vendor_id).label("vendor_id"),
                literal(DELIVERY_REASON).label("reason"),
                item.c.flag_score,
                literal("open").label("status"),
                literal({"target": "vendor", "detail": detail or _DETAIL}, JSONType()).label(
                    "details"
                ),
                literal(None).label("bakeoff_id"),
                literal(delivery_id).label("delivery_id"),
                item.c.id,
                literal(utcnow(), flag.c.created_at.type).label("created_at"),
            )
            .where(
                and_(
                    item.c.delivery_id == delivery_id,
                    item.c.flagged.is_(True),
                    item.c.flag_score.is_not(None),
                    ~already,
                )
            )
            .order_by(item.c.position),
        )
    )


def open_counts(session: Session, delivery_ids: list[int]) -> dict[int, int]:
    """``{delivery id: open flags}`` (the review index's column)."""
    if not delivery_ids:
        return {}
    flag = table_of(Flag)
    rows = session.execute(
        sa_select(flag.c.delivery_id, func.count())
        .where(flag.c.delivery_id.in_(delivery_ids))
        .where(flag.c.status == "open")
        .group_by(flag.c.delivery_id)
    ).all()
    return {int(d): int(n) for d, n in rows}


class _Scope:
    """What the delivery queue needs about one delivery, loaded once."""

    def __init__(self, session: Session, delivery: Delivery) -> None:
        self.session, self.delivery = session, delivery
        self.delivery_id = delivery.id or 0
        self.project = get_or_404(session, Project, delivery.project_id)
        self.classes = class_names(self.project)
        vendor = session.get(Vendor, delivery.vendor_id)
        self.vendor = vendor.name if vendor is not None else f"Vendor {delivery.vendor_id}"

    def keys(self, item_ids: list[int]) -> dict[int, str]:
        if not item_ids:
            return {}
        item = table_of(DeliveryItem)
        rows = self.session.execute(
            sa_select(item.c.id, item.c.key).where(item.c.id.in_(item_ids))
        ).all()
        return {int(i): str(k) for i, k in rows}

    def labels(self, item_id: int) -> list[tuple[str | None, Any]]:
        label = table_of(DeliveryLabel)
        rows = self.session.execute(
            sa_select(label.c.annotator_id, label.c.value)
            .where(label.c.delivery_id == self.delivery_id)
            .where(label.c.item_id == item_id)
            .order_by(label.c.id)
        ).all()
        return [(a or None, v) for a, v in rows]


def _view(scope: _Scope, flag: Flag, key: str, active: int) -> FlagView:
    d = flag.details or {}
    return FlagView(
        id=flag.id or 0,
        bakeoff_id=None,
        delivery_id=scope.delivery_id,
        delivery=scope.delivery.name,
        item_id=flag.delivery_item_id or 0,
        item_key=key,
        reason=flag.reason,
        kind=d.get("kind"),
        target="vendor",
        candidate=scope.vendor,
        vendor_id=flag.vendor_id,
        annotator=None,
        score=flag.score,
        status=flag.status,
        group=d.get("group"),
        suggested_label=d.get("suggested_label"),
        detail=d.get("detail"),
        classes=list(d.get("classes") or []),
        active_reviews=active,
        created_at=flag.created_at,
    )


def _ordered(scope: _Scope, status: QueueStatus, include_id: int | None = None) -> list[int]:
    """The delivery's flag ids in queue order: highest score first (ties: item order)."""
    flag, item = table_of(Flag), table_of(DeliveryItem)
    stmt = (
        sa_select(flag.c.id)
        .join(item, item.c.id == flag.c.delivery_item_id)
        .where(flag.c.delivery_id == scope.delivery_id)
    )
    if status != "all":
        keep = flag.c.status == status
        stmt = stmt.where(keep | (flag.c.id == include_id) if include_id else keep)
    rows = scope.session.execute(
        stmt.order_by(flag.c.score.desc(), item.c.position, flag.c.id)
    ).all()
    return [int(r[0]) for r in rows]


def _scope(session: Session, delivery_id: int, principal: Principal | None) -> _Scope:
    return _Scope(
        session, get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    )


def list_delivery_queue(
    *,
    session: Session,
    delivery_id: int,
    principal: Principal | None = None,
    status: QueueStatus = "open",
    skip: int = 0,
    limit: int = 100,
) -> FlagsPage:
    """A delivery's flags in the review queue, most likely wrong first."""
    scope = _scope(session, delivery_id, principal)
    ids = _ordered(scope, status)
    page_ids = ids[skip : skip + limit]
    loaded = {f.id: f for f in session.exec(select(Flag).where(col(Flag.id).in_(page_ids))).all()}
    page = [loaded[i] for i in page_ids if i in loaded]
    keys = scope.keys([f.delivery_item_id or 0 for f in page])
    active = _active_counts(session, page_ids)
    return FlagsPage(
        data=[
            _view(scope, f, keys.get(f.delivery_item_id or 0, ""), active.get(f.id or 0, 0))
            for f in page
        ],
        count=len(ids),
    )


def _load(session: Session, flag_id: int, principal: Principal | None) -> tuple[Flag, _Scope]:
    flag = session.get(Flag, flag_id)
    if flag is None or flag.delivery_id is None:
        raise NotFound(f"Flag {flag_id} not found")
    return flag, _scope(session, flag.delivery_id, principal)


def get_item_review(
    *,
    session: Session,
    flag_id: int,
    principal: Principal | None = None,
    status: QueueStatus = "open",
) -> ItemReview:
    """One delivery flag: the item as the vendor saw it, the vendor's labels, the history."""
    flag, scope = _load(session, flag_id, principal)
    item = get_or_404(session, DeliveryItem, flag.delivery_item_id or 0)
    ids = _ordered(scope, status, include_id=flag.id)
    pos = ids.index(flag.id or 0)
    later = ids[pos + 1 :]
    still_open = set(_ordered(scope, "open")) & set(later)
    active = _active_counts(session, [flag.id or 0]).get(flag.id or 0, 0)
    return ItemReview(
        flag=_view(scope, flag, item.key, active),
        task_type=scope.project.task_type,
        classes=scope.classes,
        item_data=dict(item.data or {}),
        item_meta={},
        gold=None,
        candidates=[
            CandidateLabel(
                candidate=scope.vendor,
                vendor_id=scope.delivery.vendor_id,
                annotator=annotator,
                value=value,
                score=flag.score,
            )
            for annotator, value in scope.labels(item.id or 0)
        ],
        examples=[],
        reviews=_review_views(session, [flag.id or 0]),
        position=pos + 1,
        total=len(ids),
        prev_id=ids[pos - 1] if pos > 0 else None,
        next_id=ids[pos + 1] if pos + 1 < len(ids) else None,
        blinded=False,
        next_open_id=next((i for i in later if i in still_open), None),
    )


def _accepted(scope: _Scope, flag: Flag, body: DecisionCreate) -> Any:
    labels = scope.labels(flag.delivery_item_id or 0)
    if not labels:
        raise Invalid(
            f"{scope.vendor} has no label for this item yet", location=("body", "decision")
        )
    if body.annotator is not None:
        for annotator, value in labels:
            if annotator == body.annotator:
                return value
        raise Invalid(
            f"{scope.vendor} has no label by annotator {body.annotator!r} on this item",
            location=("body", "annotator"),
        )
    counts = Counter(repr(v) for _, v in labels)
    top = counts.most_common(1)[0][0]
    return next(v for _, v in labels if repr(v) == top)


def decide(
    *,
    session: Session,
    flag_id: int,
    body: DecisionCreate,
    principal: Principal | None = None,
) -> DecisionResult:
    """Record a decision on a delivery's flag: one ``review`` row and its audit event.

    Raises
    ------
    Conflict
        The reviewer already has an active decision on this flag (undo it first).
    Invalid
        ``confirm_gold`` (a production item has no gold), a candidate other than the
        delivery's vendor, or a ``correct`` decision without a valid label.
    """
    flag, scope = _load(session, flag_id, principal)
    reviewer_id = principal.key_id if principal else None
    mine = session.exec(
        select(Review)
        .where(col(Review.flag_id) == flag_id)
        .where(col(Review.undone).is_(False))
        .where(col(Review.reviewer_key_id) == reviewer_id)
    ).first()
    if mine is not None:
        raise Conflict(
            f"you already decided {mine.decision!r} on flag {flag_id}; undo it first",
            code="already_decided",
        )
    if body.decision == "confirm_gold":
        raise Invalid(
            "a delivery's item has no gold: accept the vendor's label (accept_candidate) or "
            "give the right one (correct)",
            location=("body", "decision"),
        )
    if body.candidate is not None and body.candidate != scope.vendor:
        raise Invalid(
            f"unknown candidate {body.candidate!r}; this delivery's vendor is {scope.vendor!r}",
            location=("body", "candidate"),
        )
    if body.decision == "accept_candidate":
        value = _accepted(scope, flag, body)
    else:
        value = _corrected_value(body, task_type=scope.project.task_type, classes=scope.classes)
    review = Review(
        flag_id=flag_id,
        decision=body.decision,
        corrected_value=value,
        comment=body.comment,
        reviewer_key_id=reviewer_id,
        created_at=utcnow(),
    )
    before = flag.status
    try:
        session.add(review)
        flag.status = "resolved"
        session.add(flag)
        session.flush()
        _audit(
            session,
            principal,
            "review.decide",
            "flag",
            str(flag_id),
            before={"status": before},
            after={
                "status": "resolved",
                "review_id": review.id,
                "decision": body.decision,
                "value": value,
                "comment": body.comment,
                "delivery_id": scope.delivery_id,
            },
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(review)
    session.refresh(flag)
    key = scope.keys([flag.delivery_item_id or 0]).get(flag.delivery_item_id or 0, "")
    active = _active_counts(session, [flag_id]).get(flag_id, 0)
    nxt = _ordered(scope, "open")
    return DecisionResult(
        review=next(v for v in _review_views(session, [flag_id]) if v.id == review.id),
        flag=_view(scope, flag, key, active),
        proposed_gold=None,
        next_id=nxt[0] if nxt else None,
    )


def undo(*, session: Session, flag_id: int, principal: Principal | None = None) -> ReviewView:
    """Undo the caller's latest active decision on a delivery's flag (leads: anyone's)."""
    flag, scope = _load(session, flag_id, principal)
    stmt = (
        select(Review)
        .where(col(Review.flag_id) == flag_id)
        .where(col(Review.undone).is_(False))
        .order_by(col(Review.created_at).desc(), col(Review.id).desc())
    )
    if principal is not None and principal.role not in ("admin", "lead"):
        stmt = stmt.where(col(Review.reviewer_key_id) == principal.key_id)
    row = session.exec(stmt).first()
    if row is None:
        raise NotFound(f"no decision of yours on flag {flag_id} to undo")
    review = row
    try:
        review.undone = True
        session.add(review)
        session.flush()
        remaining = _active_counts(session, [flag_id]).get(flag_id, 0)
        before = flag.status
        flag.status = "resolved" if remaining else "open"
        session.add(flag)
        _audit(
            session,
            principal,
            "review.undo",
            "flag",
            str(flag_id),
            before={"status": before, "review_id": review.id, "decision": review.decision},
            after={"status": flag.status, "undone": True, "delivery_id": scope.delivery_id},
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return next(v for v in _review_views(session, [flag_id]) if v.id == review.id)
