"""The QA review queue: flags ordered by score, the item view, decisions and undo.

Gold corrections, reviewer statistics, blinding and the audit log are in
:mod:`service.domain.review_outcomes`.

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

Queue order
-----------
``sort="score"`` (the API's default) lists the highest score first. ``sort="value"`` (the review
pages' default) orders by the expected value of a review, :func:`review_value`: ``score * reach``,
where ``reach`` is the number of candidates whose outcome on the item the review can change (all
of them for a flag on gold, one otherwise). Scores of different reasons are calibrated
differently, so the order also mixes reasons: no more than :data:`VALUE_RUN` flags of one reason
follow each other while another reason still has flags (then the best of the others comes next).
A gold flag therefore appears among the first few of a queue however many candidate flags
there are.

Blinding
--------
While a bake-off is ``blinded`` (the default) a ``qa`` reviewer sees vendors as their aliases
("Candidate A") and no vendor id (as in the results); leads and admins see names. A lead turns
blinding off with :func:`set_blinding`.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain.access import Blinding
from service.domain.bakeoffs import get_bakeoff
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.labels import normalize_value
from service.domain.projects import class_names
from service.domain.security import Principal
from service.models import (
    ApiKey,
    AuditEvent,
    BakeOff,
    Flag,
    FlagStatus,
    GoldenItem,
    GoldLabel,
    InstructionsVersion,
    Project,
    Review,
    ReviewDecision,
    Vendor,
    VendorLabel,
)

__all__ = [
    "QueueStatus",
    "QueueSort",
    "VALUE_RUN",
    "review_value",
    "FlagView",
    "FlagsPage",
    "CandidateLabel",
    "ExampleView",
    "ReviewView",
    "ItemReview",
    "DecisionCreate",
    "DecisionResult",
    "list_queue",
    "get_item_review",
    "decide",
    "undo",
    "last_decision",
]

QueueStatus = Literal["open", "resolved", "dismissed", "all"]
QueueSort = Literal["value", "score", "item", "reason"]


# --------------------------------------------------------------------------- schemas


class FlagView(BaseModel):
    """A flag as a reviewer sees it (blinded: no vendor id, candidate alias)."""

    id: int
    bakeoff_id: int | None = Field(description="None on a delivery's flag.")
    delivery_id: int | None = Field(default=None, description="The delivery of a production flag.")
    delivery: str | None = Field(default=None, description="The delivery's name, for the queue.")
    item_id: int = Field(description="The golden item, or the delivery's item.")
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
    next_open_id: int | None = Field(
        default=None, description="The next open flag after this one in the queue."
    )


class DecisionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision: ReviewDecision
    candidate: str | None = Field(
        default=None, description="Whose label to accept (alias or name); default the flagged one."
    )
    annotator: str | None = Field(
        default=None,
        max_length=200,
        description="With candidate: accept this annotator's answer (as the queue shows it) "
        "instead of the candidate's most common one.",
    )
    corrected_value: Any = Field(default=None, description="Required for decision 'correct'.")
    comment: str = Field(default="", max_length=4000)


class DecisionResult(BaseModel):
    review: ReviewView
    flag: FlagView
    proposed_gold: Any = Field(default=None, description="The new gold this decision implies.")
    next_id: int | None = None


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
        # One blinding for every route (service.domain.access.Blinding): a qa key sees
        # aliases and numbered annotators while the bake-off is blinded.
        self.view = Blinding(session, bakeoff, principal)
        self.blind = self.view.blind
        self.bakeoff_id = bakeoff.id or 0
        project = session.get(Project, bakeoff.project_id)
        if project is None:  # pragma: no cover - foreign key
            raise NotFound(f"project of bake-off {self.bakeoff_id} not found")
        self.project = project
        self.classes = class_names(project)
        self.aliases = self.view.aliases
        names = session.exec(
            select(Vendor.id, Vendor.name).where(col(Vendor.id).in_(list(self.aliases)))
        ).all()
        self.names = {int(i): n for i, n in names if i is not None}

    def annotator(self, vendor_id: int | None, annotator_id: str | None) -> str | None:
        """An annotator's id as this caller may see it (see :meth:`Blinding.annotator`)."""
        return self.view.annotator(vendor_id, annotator_id)

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


def _item_of(flag: Flag) -> int:
    """A bake-off flag's golden item (delivery flags, which have none, never come here)."""
    if flag.item_id is None:  # pragma: no cover - a delivery flag routed to the bake-off code
        raise NotFound(f"flag {flag.id} is a delivery's flag, not on a golden item")
    return flag.item_id


def _view(ctx: _Context, flag: Flag, key: str, active: int) -> FlagView:
    d = flag.details or {}
    target: Literal["vendor", "gold", "item"] = (
        d["target"]
        if d.get("target") in ("vendor", "gold", "item")
        else ("vendor" if flag.vendor_id is not None else "gold")
    )
    detail = d.get("detail")
    raw_annotator = d.get("annotator")
    annotator = ctx.annotator(flag.vendor_id, raw_annotator)
    if ctx.blind and isinstance(detail, str) and raw_annotator:
        # Annotator flags' detail starts "annotator <raw id>: ..."; raw ids can name the vendor.
        detail = detail.replace(f"annotator {raw_annotator}", str(annotator))
    return FlagView(
        id=flag.id or 0,
        bakeoff_id=flag.bakeoff_id,
        item_id=_item_of(flag),
        item_key=key,
        reason=flag.reason,
        kind=d.get("kind"),
        target=target,
        candidate=ctx.display(flag.vendor_id),
        vendor_id=None if ctx.blind else flag.vendor_id,
        annotator=annotator,
        score=flag.score,
        status=flag.status,
        group=d.get("group"),
        suggested_label=d.get("suggested_label"),
        detail=detail,
        classes=list(d.get("classes") or []),
        active_reviews=active,
        created_at=flag.created_at,
    )


#: How many flags of one reason may follow each other in the ``value`` order while flags of
#: another reason are still waiting.
VALUE_RUN = 3


def review_value(score: float, target: str, n_candidates: int) -> float:
    """The expected value of reviewing a flag: ``score * reach``.

    ``score`` (in ``[0, 1]``) is how likely the flag is a real error; ``reach`` is how many
    candidates' outcomes on the item the review can change: every candidate for a flag on gold
    (a wrong gold label mis-scores them all), one for a flag on a candidate or on the item.

    Examples
    --------
    >>> review_value(0.6, "gold", 3), review_value(0.9, "vendor", 3)
    (1.7999999999999998, 0.9)
    """
    reach = max(n_candidates, 1) if target == "gold" else 1
    return score * reach


def _mix_by_value(rows: list[tuple[int, str, float]]) -> list[int]:
    """``(flag id, reason, value)`` in the ``value`` queue order (see the module docstring).

    Highest value first, but no more than :data:`VALUE_RUN` flags of one reason in a row while
    another reason still has flags: then the best flag of the other reasons comes next.
    """
    by_reason: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for flag_id, reason, value in rows:
        by_reason[reason].append((-value, flag_id))
    heads = {r: sorted(v) for r, v in by_reason.items()}
    pos = dict.fromkeys(heads, 0)
    out: list[int] = []
    last, run = "", 0
    while len(out) < len(rows):
        waiting = [(heads[r][pos[r]], r) for r in heads if pos[r] < len(heads[r])]
        waiting.sort()
        choice = waiting[0][1]
        if choice == last and run >= VALUE_RUN and len(waiting) > 1:
            choice = waiting[1][1]
        out.append(heads[choice][pos[choice]][1])
        pos[choice] += 1
        run = run + 1 if choice == last else 1
        last = choice
    return out


def _target_of(vendor_id: int | None, details: dict[str, Any]) -> str:
    target = details.get("target")
    if target in ("vendor", "gold", "item"):
        return str(target)
    return "vendor" if vendor_id is not None else "gold"


def _pinned_ids(ctx: _Context, pinned: tuple[int | None, datetime] | None) -> set[int]:
    """Flags the reviewer decided (or undid) since the review session began."""
    if pinned is None:
        return set()
    key_id, since = pinned
    rows = ctx.session.exec(
        select(Review.flag_id)
        .join(Flag, col(Flag.id) == col(Review.flag_id))
        .where(Flag.bakeoff_id == ctx.bakeoff_id)
        .where(Review.reviewer_key_id == key_id)
        .where(col(Review.created_at) >= since)
    ).all()
    return {int(r) for r in rows}


def _filtered(
    ctx: _Context,
    *,
    status: QueueStatus,
    reason: str | None,
    candidate: str | None,
    class_name: str | None,
    slice_: str | None,
    include_id: int | None = None,
    sort: QueueSort = "score",
    min_score: float | None = None,
    pinned: tuple[int | None, datetime] | None = None,
) -> list[int]:
    """Ids of the bake-off's flags matching the filters, in queue order (see ``sort``).

    ``include_id`` is kept whatever the filters say (the flag on screen stays in its queue), and
    so are the flags the reviewer decided since ``pinned = (key id, since)``: a queue being
    worked keeps its order, so ``previous`` and undo reach a flag just decided.
    """
    gold_only = bool(candidate) and str(candidate).lower() == "gold"
    meta_filter: tuple[str, str] | None = None
    if slice_:
        name, sep, value = slice_.partition("=")
        if not sep or not name.strip():
            raise Invalid(
                f"slice must look like 'key=value', got {slice_!r}", location=("query", "slice")
            )
        meta_filter = (name.strip(), value.strip())
    stmt = sa_select(
        col(Flag.id),
        col(Flag.item_id),
        col(Flag.vendor_id),
        col(Flag.reason),
        col(Flag.score),
        col(Flag.details),
    ).where(col(Flag.bakeoff_id) == ctx.bakeoff_id)
    if reason:
        stmt = stmt.where(col(Flag.reason) == reason)
    if candidate and not gold_only:
        stmt = stmt.where(col(Flag.vendor_id) == ctx.vendor_for(candidate))
    elif gold_only:
        stmt = stmt.where(col(Flag.vendor_id).is_(None))
    if min_score is not None:
        stmt = stmt.where(col(Flag.score) >= min_score)
    kept = _pinned_ids(ctx, pinned)
    if include_id:
        kept.add(include_id)
    if status != "all":
        keep_status = col(Flag.status) == status
        stmt = stmt.where(keep_status | col(Flag.id).in_(kept) if kept else keep_status)
    rows = ctx.session.execute(stmt.order_by(col(Flag.score).desc(), col(Flag.id))).all()
    item_ids = {int(r[1]) for r in rows}
    metas: dict[int, Any] = {}
    if meta_filter is not None and item_ids:
        found = ctx.session.exec(
            select(GoldenItem.id, GoldenItem.meta).where(col(GoldenItem.id).in_(item_ids))
        ).all()
        metas = {int(i): meta for i, meta in found if i is not None}
    out: list[tuple[int, int, str, float, str]] = []
    for flag_id, item_id, vendor_id, flag_reason, score, details in rows:
        d = details or {}
        target = _target_of(vendor_id, d)
        keep = True
        if gold_only and target != "gold":
            keep = False
        if keep and class_name and class_name not in d.get("classes", []):
            keep = False
        if keep and meta_filter is not None:
            meta = metas.get(item_id) or {}
            keep = str(meta.get(meta_filter[0])) == meta_filter[1]
        if keep or flag_id == include_id:
            out.append((int(flag_id), int(item_id), str(flag_reason), float(score), target))
    if sort == "value":
        n = len(ctx.aliases)
        return _mix_by_value([(f, r, review_value(s, t, n)) for f, _, r, s, t in out])
    if sort == "item":
        keys = ctx.item_keys([i for _, i, _, _, _ in out])
        out.sort(key=lambda row: (keys.get(row[1], ""), row[0]))
    elif sort == "reason":
        out.sort(key=lambda row: (row[2], -row[3], row[0]))
    return [row[0] for row in out]


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
    sort: QueueSort = "score",
    min_score: float | None = None,
    pinned_since: datetime | None = None,
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
    sort
        ``score`` (highest first), ``value`` (expected value of a review, reasons mixed: see
        the module docstring), ``item`` (item key) or ``reason``.
    min_score
        Only flags scoring at least this.
    pinned_since
        Keep the flags the caller decided since then whatever their status (a queue being
        worked keeps its order).
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    ctx = _Context(session, bakeoff, principal)
    ids = _filtered(
        ctx,
        status=status,
        reason=reason,
        candidate=candidate,
        class_name=class_name,
        slice_=slice_,
        sort=sort,
        min_score=min_score,
        pinned=_pin(principal, pinned_since),
    )
    page_ids = ids[skip : skip + limit]
    loaded = {f.id: f for f in session.exec(select(Flag).where(col(Flag.id).in_(page_ids))).all()}
    page = [loaded[i] for i in page_ids if i in loaded]
    keys = ctx.item_keys([_item_of(f) for f in page])
    active = _active_counts(session, page_ids)
    return FlagsPage(
        data=[_view(ctx, f, keys.get(_item_of(f), ""), active.get(f.id or 0, 0)) for f in page],
        count=len(ids),
    )


def _pin(principal: Principal | None, since: datetime | None) -> tuple[int | None, datetime] | None:
    if since is None:
        return None
    return (principal.key_id if principal else None, since)


def _on_delivery(session: Session, flag_id: int) -> bool:
    """Whether the flag is a delivery's (worked by :mod:`service.domain.review_delivery`)."""
    flag = session.get(Flag, flag_id)
    return flag is not None and flag.delivery_id is not None


def _load_flag(
    session: Session, flag_id: int, principal: Principal | None
) -> tuple[Flag, _Context]:
    flag = session.get(Flag, flag_id)
    if flag is None or flag.bakeoff_id is None:
        raise NotFound(f"Flag {flag_id} not found")
    bakeoff = get_bakeoff(session=session, bakeoff_id=flag.bakeoff_id, principal=principal)
    return flag, _Context(session, bakeoff, principal)


def _natural(text: str) -> list[str | int]:
    """Sort key that orders numbers by value: "annotator 2" before "annotator 10" (the rows'
    number keys follow this order, so the 10th row is annotator 10, not annotator 9).

    >>> sorted(["annotator 10", "annotator 2", "w1"], key=_natural)
    ['annotator 2', 'annotator 10', 'w1']
    """
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _candidate_labels(
    ctx: _Context, item_id: int
) -> list[tuple[int, str | None, Any, float | None]]:
    rows = ctx.session.exec(
        select(
            VendorLabel.vendor_id, VendorLabel.annotator_id, VendorLabel.value, VendorLabel.score
        )
        .where(VendorLabel.bakeoff_id == ctx.bakeoff_id)
        .where(VendorLabel.item_id == item_id)
        .where(VendorLabel.repeat == 0)  # each source's answer once (not its repeat)
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
    sort: QueueSort = "score",
    min_score: float | None = None,
    pinned_since: datetime | None = None,
) -> ItemReview:
    """One flag with its item, gold, every candidate's label, instruction examples, history,
    and its neighbours in the (filtered) queue; filters as in :func:`list_queue`.

    A delivery's flag is shown by :func:`service.domain.review_delivery.get_item_review`."""
    if _on_delivery(session, flag_id):
        from service.domain import review_delivery

        return review_delivery.get_item_review(
            session=session, flag_id=flag_id, principal=principal, status=status
        )
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
        sort=sort,
        min_score=min_score,
        pinned=_pin(principal, pinned_since),
    )
    ids = queue
    pos = ids.index(flag.id or 0)
    later = ids[pos + 1 :]
    still_open = set(
        session.exec(
            select(Flag.id).where(col(Flag.id).in_(later)).where(Flag.status == "open")
        ).all()
        if later
        else []
    )
    active = _active_counts(session, [flag.id or 0])
    view = _view(ctx, flag, item.key, active.get(flag.id or 0, 0))
    candidates = [
        CandidateLabel(
            candidate=ctx.display(vid) or "",
            vendor_id=None if ctx.blind else vid,
            annotator=ctx.annotator(vid, ann),
            value=value,
            score=score,
        )
        for vid, ann, value, score in _candidate_labels(ctx, _item_of(flag))
    ]
    candidates.sort(key=lambda c: (len(c.candidate), c.candidate, _natural(c.annotator or "")))
    return ItemReview(
        flag=view,
        task_type=ctx.project.task_type,
        classes=ctx.classes,
        item_data=dict(item.data or {}),
        item_meta=dict(item.meta or {}),
        gold=ctx.gold_value(_item_of(flag)),
        candidates=candidates,
        examples=_relevant_examples(ctx, view.classes),
        reviews=_review_views(session, [flag.id or 0]),
        position=pos + 1,
        total=len(ids),
        prev_id=ids[pos - 1] if pos > 0 else None,
        next_id=ids[pos + 1] if pos + 1 < len(ids) else None,
        blinded=ctx.blind,
        next_open_id=next((i for i in later if i in still_open), None),
    )


# --------------------------------------------------------------------------- decisions


def _corrected_value(body: DecisionCreate, *, task_type: Any, classes: Collection[str]) -> Any:
    """A ``correct`` decision's value, normalised for the task type (422 when it has none);
    the one reading of a correction for bake-off and delivery flags."""
    if body.corrected_value is None:
        raise Invalid(
            "decision 'correct' needs corrected_value", location=("body", "corrected_value")
        )
    return normalize_value(
        body.corrected_value,
        task_type=task_type,
        classes=set(classes),
        where=("body", "corrected_value"),
    )


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
        for vid, ann, value, _ in _candidate_labels(ctx, _item_of(flag))
        if vid == vendor_id
    ]
    if not labels:
        raise Invalid(
            f"{ctx.display(vendor_id)} has no label for this item", location=("body", "candidate")
        )
    if body.annotator is not None:
        for ann, value in labels:
            if ctx.annotator(vendor_id, ann) == body.annotator:
                return value
        raise Invalid(
            f"{ctx.display(vendor_id)} has no label by annotator {body.annotator!r} on this item",
            location=("body", "annotator"),
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
    if _on_delivery(session, flag_id):
        from service.domain import review_delivery

        return review_delivery.decide(
            session=session, flag_id=flag_id, body=body, principal=principal
        )
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
    gold = ctx.gold_value(_item_of(flag))
    value: Any = None
    if body.decision == "confirm_gold":
        if body.corrected_value is not None:
            raise Invalid(
                "confirm_gold takes no corrected_value", location=("body", "corrected_value")
            )
    elif body.decision == "accept_candidate":
        value = _accepted_value(ctx, flag, body)
    else:
        value = _corrected_value(body, task_type=ctx.project.task_type, classes=ctx.classes)
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
    key = ctx.item_keys([_item_of(flag)]).get(_item_of(flag), "")
    active = _active_counts(session, [flag_id]).get(flag_id, 0)
    nxt = _filtered(ctx, status="open", reason=None, candidate=None, class_name=None, slice_=None)
    return DecisionResult(
        review=next(v for v in views if v.id == review.id),
        flag=_view(ctx, flag, key, active),
        proposed_gold=proposed,
        next_id=nxt[0] if nxt else None,
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
    if _on_delivery(session, flag_id):
        from service.domain import review_delivery

        return review_delivery.undo(session=session, flag_id=flag_id, principal=principal)
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


def last_decision(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> int | None:
    """The flag of the caller's latest active decision in a bake-off (what ``u`` undoes when
    the flag on screen has none of the caller's decisions), or ``None``."""
    key_id = principal.key_id if principal else None
    row = session.exec(
        select(Review.flag_id)
        .join(Flag, col(Flag.id) == col(Review.flag_id))
        .where(Flag.bakeoff_id == bakeoff_id)
        .where(Review.reviewer_key_id == key_id)
        .where(col(Review.undone).is_(False))
        .order_by(col(Review.created_at).desc(), col(Review.id).desc())
    ).first()
    return int(row) if row is not None else None


# --------------------------------------------------------------------------- gold corrections


# --------------------------------------------------------------------------- stats, blinding
