"""What reviews lead to: gold corrections, reviewer statistics, blinding, the audit log.

A decision that implies a different gold label is a *proposed* correction
(:func:`pending_gold_corrections`); a lead or admin (the expert) confirms them with
:func:`apply_gold_corrections`, which makes a new golden-set version (bake-offs pinned to the old
version keep it), moves this bake-off to the new version and bumps its ``data_version`` so every
metric is recomputed.

A lead confirms exactly what was shown: :func:`list_pending_corrections` gives each correction
an ``id`` and the list a ``digest``, and the confirmation names one or the other. The new version
is this bake-off's pinned gold plus the named corrections and nothing else: pending corrections
not named stay pending, a list that changed since it was shown is refused
(``corrections_changed``), and so is gold changed outside the queue in a newer version of the
golden set (``gold_changed_elsewhere``: move the bake-off to that version first).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import update
from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain import score_precompute
from service.domain._common import commit_or_conflict, table_of
from service.domain.access import require_role
from service.domain.bakeoffs import get_bakeoff
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.golden_sets import (
    add_corrected_version,
    changed_items,
    get_golden_set,
    latest_version,
)
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
    "GoldCorrectionConfirm",
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
    left_pending: list[str] = Field(
        default_factory=list,
        description="Items with a pending correction the confirmation did not name (kept).",
    )


class PendingCorrection(BaseModel):
    id: str = Field(description="Names this exact correction (item, gold and proposed value).")
    item_id: int
    item_key: str
    gold: Any = None
    proposed: Any = None


class PendingCorrections(BaseModel):
    data: list[PendingCorrection]
    conflicting_items: list[str]
    digest: str = Field(description="Names the whole list shown: confirm with it.")
    golden_set_version: int = Field(description="The version the bake-off is pinned to.")
    latest_version: int = Field(description="The golden set's newest version.")
    changed_elsewhere: list[str] = Field(
        default_factory=list,
        description="Items (first 100) whose gold the newest version changed outside this "
        "review queue; corrections are refused until the bake-off moves to that version.",
    )


class GoldCorrectionConfirm(BaseModel):
    """What a lead confirms: the ``digest`` of the list shown, or some of its ``ids``."""

    model_config = ConfigDict(extra="forbid")

    digest: str | None = Field(default=None, max_length=128)
    ids: list[Annotated[str, Field(max_length=128)]] | None = Field(
        default=None, max_length=100_000
    )


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
        if value is not None and item_id is not None:
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


def _correction_id(version_id: int, item_id: int, gold: Any, proposed: Any) -> str:
    text = f"{version_id}\n{item_id}\n{_canon(gold)}\n{_canon(proposed)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def _digest(version_id: int, ids: Iterable[str]) -> str:
    text = "\n".join([str(version_id), *sorted(ids)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class _Shown:
    """The pending corrections as a lead sees them, with their ids."""

    bakeoff: BakeOff
    pinned: GoldenSetVersion
    latest: GoldenSetVersion
    pending: dict[int, Any]
    conflicts: list[int]
    gold: dict[int, Any]
    ids: dict[str, int]  # correction id -> item id
    changed_elsewhere: list[int]

    @property
    def digest(self) -> str:
        return _digest(self.pinned.id or 0, self.ids)


def _shown(session: Session, bakeoff_id: int, principal: Principal | None) -> _Shown:
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    pending, conflicts = pending_gold_corrections(
        session=session, bakeoff_id=bakeoff_id, principal=principal
    )
    pinned = session.get(GoldenSetVersion, bakeoff.golden_set_version_id)
    if pinned is None:  # pragma: no cover - foreign key
        raise NotFound("pinned golden-set version not found")
    latest = latest_version(session=session, golden_set_id=pinned.golden_set_id) or pinned
    ctx = _Context(session, bakeoff, principal)
    gold = {i: ctx.gold_value(i) for i in pending}
    ids = {_correction_id(pinned.id or 0, i, gold[i], v): i for i, v in pending.items()}
    elsewhere = changed_items(session, pinned.id or 0, latest.id or 0)
    return _Shown(bakeoff, pinned, latest, pending, conflicts, gold, ids, elsewhere)


def _selected(shown: _Shown, confirm: GoldCorrectionConfirm) -> dict[int, Any]:
    """The pending corrections the confirmation names; refuse one that no longer matches."""
    if (confirm.digest is None) == (confirm.ids is None):
        raise Invalid(
            "name what you confirm: either the 'digest' of the pending corrections shown "
            "(GET .../gold-corrections) or the 'ids' of some of them",
            location=("body",),
        )
    if not shown.pending:
        raise Conflict("no pending gold corrections to apply", code="nothing_to_apply")
    if confirm.digest is not None:
        if confirm.digest != shown.digest:
            raise Conflict(
                "the pending gold corrections changed since they were shown (now "
                f"{len(shown.pending)} pending); reload them and confirm again: nothing was "
                "applied",
                code="corrections_changed",
            )
        return dict(shown.pending)
    names = list(dict.fromkeys(confirm.ids or []))
    if not names:
        raise Invalid("'ids' names no correction", location=("body", "ids"))
    stale = [i for i in names if i not in shown.ids]
    if stale:
        raise Conflict(
            f"correction(s) {', '.join(stale[:10])} are not pending as shown any more (undone, "
            "changed or already applied); reload them and confirm again: nothing was applied",
            code="corrections_changed",
        )
    return {shown.ids[i]: shown.pending[shown.ids[i]] for i in names}


def apply_gold_corrections(
    *,
    session: Session,
    bakeoff_id: int,
    confirm: GoldCorrectionConfirm,
    principal: Principal | None = None,
) -> GoldCorrectionResult:
    """Confirm pending gold corrections of a bake-off, exactly those named (leads and admins).

    Makes a new golden-set version: this bake-off's pinned gold with the named corrections and
    nothing else. Moves this bake-off to it (other bake-offs keep their version) and bumps
    ``data_version`` so results are recomputed. Pending corrections not named stay pending.
    Concurrent confirmations make one version: the others get 409.

    Raises
    ------
    Forbidden
        The caller is not a lead or admin.
    Invalid
        The confirmation names neither a digest nor ids.
    Conflict
        Nothing to apply (``nothing_to_apply``); what was named is not what is pending now
        (``corrections_changed``); the golden set's newest version changed gold outside this
        review queue (``gold_changed_elsewhere``); or a concurrent confirmation won.
    """
    require_role(principal, "admin", "lead")
    shown = _shown(session, bakeoff_id, principal)
    selected = _selected(shown, confirm)
    old, bakeoff = shown.pinned, shown.bakeoff
    if shown.changed_elsewhere:
        keys = _Context(session, bakeoff, principal).item_keys(shown.changed_elsewhere[:10])
        raise Conflict(
            f"golden set {old.golden_set_id} has version {shown.latest.version}, newer than "
            f"this bake-off's version {old.version}, whose gold differs on "
            f"{len(shown.changed_elsewhere)} item(s) ({', '.join(sorted(keys.values()))}"
            f"{', ...' if len(shown.changed_elsewhere) > 10 else ''}) changed outside this "
            "review queue; confirming here would carry them into this bake-off unseen. Move "
            f"the bake-off to version {shown.latest.version} (PATCH /bakeoffs/{bakeoff_id}), "
            "review, then confirm: nothing was applied",
            code="gold_changed_elsewhere",
        )
    golden_set_id, old_version, old_id = old.golden_set_id, old.version, old.id or 0
    expected_number = shown.latest.version + 1
    ctx = _Context(session, bakeoff, principal)
    keys = ctx.item_keys(list(shown.pending) + shown.conflicts)
    table = table_of(BakeOff)
    # Claim the bake-off first: of concurrent confirmations only one passes this guard (the
    # others wait on the row, then find the pinned version moved) and makes a version.
    claimed = session.execute(
        update(table)
        .where(table.c.id == bakeoff_id)
        .where(table.c.golden_set_version_id == old_id)
        .values(data_version=table.c.data_version + 1, updated_at=utcnow())
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict(
            "another confirmation moved this bake-off to a new golden-set version meanwhile; "
            "reload the pending corrections",
            code="corrections_changed",
        )
    golden = get_golden_set(session=session, golden_set_id=golden_set_id)
    new = add_corrected_version(
        session=session,
        golden=golden,
        corrections=[GoldLabelCreate(item_key=keys[i], value=v) for i, v in selected.items()],
        note=f"QA review corrections from bake-off {bakeoff_id}",
    )
    if new.version != expected_number:  # a version was added since the check above
        session.rollback()
        raise Conflict(
            f"golden set {golden_set_id} got a new version meanwhile; reload the pending "
            "corrections: nothing was applied",
            code="gold_changed_elsewhere",
        )
    session.execute(
        update(table).where(table.c.id == bakeoff_id).values(golden_set_version_id=new.id)
    )
    for item_id, value in selected.items():
        _audit(
            session,
            principal,
            "gold.correct",
            "gold_label",
            f"{golden_set_id}:{keys[item_id]}",
            before={"version": old_version, "value": shown.gold[item_id]},
            after={"version": new.version, "value": value, "bakeoff_id": bakeoff_id},
        )
    left = sorted(keys[i] for i in shown.pending if i not in selected)
    _audit(
        session,
        principal,
        "bakeoff.gold_version",
        "bakeoff",
        str(bakeoff_id),
        before={"golden_set_version": old_version},
        after={
            "golden_set_version": new.version,
            "corrected": len(selected),
            "left_pending": len(left),
        },
    )
    new_version = new.version
    commit_or_conflict(
        session, "another version was created at the same time; reload and confirm again"
    )
    session.expire_all()
    score_precompute.after_change(session, bakeoff_id)  # scored on the corrected gold
    return GoldCorrectionResult(
        bakeoff_id=bakeoff_id,
        old_version=old_version,
        new_version=new_version,
        corrected_items=sorted(keys[i] for i in selected),
        conflicting_items=sorted(keys[i] for i in shown.conflicts),
        left_pending=left,
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
    """The gold corrections that reviews propose and a lead has not applied yet.

    Each has an ``id``; ``digest`` names the whole list. A lead confirms with either
    (:func:`apply_gold_corrections`), so exactly what was shown is applied.
    """
    shown = _shown(session, bakeoff_id, principal)
    ctx = _Context(session, shown.bakeoff, principal)
    keys = ctx.item_keys(list(shown.pending) + shown.conflicts + shown.changed_elsewhere[:100])
    ids = {item_id: cid for cid, item_id in shown.ids.items()}
    return PendingCorrections(
        data=[
            PendingCorrection(
                id=ids[i], item_id=i, item_key=keys.get(i, ""), gold=shown.gold[i], proposed=v
            )
            for i, v in sorted(shown.pending.items())
        ],
        conflicting_items=sorted(keys.get(i, "") for i in shown.conflicts),
        digest=shown.digest,
        golden_set_version=shown.pinned.version,
        latest_version=shown.latest.version,
        changed_elsewhere=sorted(keys.get(i, "") for i in shown.changed_elsewhere[:100]),
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
