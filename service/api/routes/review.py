"""QA review API: compute flags, work the queue, decide, undo, confirm gold corrections."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.deps import CurrentKey, PageDep, SessionDep
from service.domain import flags as flags_domain
from service.domain import review, review_delivery
from service.domain import review_outcomes as outcomes
from service.models import AuditEventsPublic

__all__ = ["router"]

router = APIRouter(prefix="/review", tags=["review"])

ReasonQuery = Annotated[
    flags_domain.FlagReason | None, Query(description="Only flags of this reason.")
]
CandidateQuery = Annotated[
    str | None, Query(description="'Candidate A' (or the vendor name when unblinded), or 'gold'.")
]
ClassQuery = Annotated[str | None, Query(alias="class", description="Flags involving this class.")]
SliceQuery = Annotated[
    str | None, Query(alias="slice", description="Item metadata 'key=value', e.g. lighting=dim.")
]
SortQuery = Annotated[
    review.QueueSort,
    Query(
        description="'score' (highest first), 'value' (expected value of a review, reasons "
        "mixed), 'item' (item key) or 'reason'; the review page's orders."
    ),
]
MinScoreQuery = Annotated[
    float | None, Query(ge=0.0, le=1.0, description="Only flags scoring at least this.")
]


@router.post("/bakeoffs/{bakeoff_id}/flags", response_model=flags_domain.FlagComputeResult)
def compute_flags(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    body: flags_domain.FlagComputeRequest,
) -> flags_domain.FlagComputeResult:
    """Compute and store the bake-off's flags (optionally from uploaded model outputs)."""
    return flags_domain.compute_flags(
        session=session, bakeoff_id=bakeoff_id, request=body, principal=principal
    )


@router.get("/bakeoffs/{bakeoff_id}/queue", response_model=review.FlagsPage)
def queue(
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    bakeoff_id: int,
    reason: ReasonQuery = None,
    candidate: CandidateQuery = None,
    class_name: ClassQuery = None,
    slice_: SliceQuery = None,
    status: review.QueueStatus = "open",
    sort: SortQuery = "score",
    min_score: MinScoreQuery = None,
) -> review.FlagsPage:
    """The review queue (highest score first), filtered by reason, candidate, class or slice."""
    return review.list_queue(
        session=session,
        bakeoff_id=bakeoff_id,
        principal=principal,
        status=status,
        reason=reason,
        candidate=candidate,
        class_name=class_name,
        slice_=slice_,
        skip=page.skip,
        limit=page.limit,
        sort=sort,
        min_score=min_score,
    )


@router.get("/bakeoffs/{bakeoff_id}/groups", response_model=list[outcomes.DisagreementGroup])
def groups(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    reason: ReasonQuery = "candidates_disagree",
) -> list[outcomes.DisagreementGroup]:
    """Flags grouped by the classes they confuse: where the instructions need an example."""
    return outcomes.disagreement_groups(
        session=session, bakeoff_id=bakeoff_id, principal=principal, reason=reason
    )


@router.get("/bakeoffs/{bakeoff_id}/stats", response_model=outcomes.ReviewStats)
def stats(session: SessionDep, principal: CurrentKey, bakeoff_id: int) -> outcomes.ReviewStats:
    """Queue progress, reviewer throughput and agreement between reviewers."""
    return outcomes.review_stats(session=session, bakeoff_id=bakeoff_id, principal=principal)


@router.get("/bakeoffs/{bakeoff_id}/audit", response_model=AuditEventsPublic)
def audit(
    session: SessionDep, principal: CurrentKey, page: PageDep, bakeoff_id: int
) -> AuditEventsPublic:
    """The audit log of the bake-off's reviews and gold corrections, newest first."""
    return outcomes.list_audit(
        session=session,
        bakeoff_id=bakeoff_id,
        principal=principal,
        skip=page.skip,
        limit=page.limit,
    )


@router.get("/bakeoffs/{bakeoff_id}/gold-corrections", response_model=outcomes.PendingCorrections)
def pending_corrections(
    session: SessionDep, principal: CurrentKey, bakeoff_id: int
) -> outcomes.PendingCorrections:
    """Gold corrections proposed by reviews and not yet confirmed."""
    return outcomes.list_pending_corrections(
        session=session, bakeoff_id=bakeoff_id, principal=principal
    )


@router.post(
    "/bakeoffs/{bakeoff_id}/gold-corrections", response_model=outcomes.GoldCorrectionResult
)
def apply_corrections(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    body: outcomes.GoldCorrectionConfirm,
) -> outcomes.GoldCorrectionResult:
    """Confirm the pending gold corrections named by digest or ids: a new golden-set version."""
    return outcomes.apply_gold_corrections(
        session=session, bakeoff_id=bakeoff_id, confirm=body, principal=principal
    )


@router.put("/bakeoffs/{bakeoff_id}/blinding", response_model=outcomes.BlindingUpdate)
def blinding(
    session: SessionDep, principal: CurrentKey, bakeoff_id: int, body: outcomes.BlindingUpdate
) -> outcomes.BlindingUpdate:
    """Turn the bake-off's blinding of vendor names on or off."""
    value = outcomes.set_blinding(
        session=session, bakeoff_id=bakeoff_id, blinded=body.blinded, principal=principal
    )
    return outcomes.BlindingUpdate(blinded=value)


@router.get("/deliveries/{delivery_id}/queue", response_model=review.FlagsPage)
def delivery_queue(
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    delivery_id: int,
    status: review.QueueStatus = "open",
) -> review.FlagsPage:
    """A delivery's flags in the review queue, most likely wrong first (decide as any flag)."""
    return review_delivery.list_delivery_queue(
        session=session,
        delivery_id=delivery_id,
        principal=principal,
        status=status,
        skip=page.skip,
        limit=page.limit,
    )


@router.get("/flags/{flag_id}", response_model=review.ItemReview)
def flag_item(
    session: SessionDep,
    principal: CurrentKey,
    flag_id: int,
    reason: ReasonQuery = None,
    candidate: CandidateQuery = None,
    class_name: ClassQuery = None,
    slice_: SliceQuery = None,
    status: review.QueueStatus = "open",
) -> review.ItemReview:
    """One flag with its item, gold, candidates' labels, instruction examples and history."""
    return review.get_item_review(
        session=session,
        flag_id=flag_id,
        principal=principal,
        status=status,
        reason=reason,
        candidate=candidate,
        class_name=class_name,
        slice_=slice_,
    )


@router.post("/flags/{flag_id}/decisions", response_model=review.DecisionResult, status_code=201)
def decide(
    session: SessionDep, principal: CurrentKey, flag_id: int, body: review.DecisionCreate
) -> review.DecisionResult:
    """Decide a flag: accept the candidate, confirm gold, or correct the label."""
    return review.decide(session=session, flag_id=flag_id, body=body, principal=principal)


@router.post("/flags/{flag_id}/undo", response_model=review.ReviewView)
def undo(session: SessionDep, principal: CurrentKey, flag_id: int) -> review.ReviewView:
    """Undo your latest decision on a flag."""
    return review.undo(session=session, flag_id=flag_id, principal=principal)
