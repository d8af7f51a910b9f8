"""Production deliveries: create, the vendor's batch, labels, honeypot quality, flags, audit."""

from __future__ import annotations

from typing import IO, Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.api.routes.dispatch import QueueDep
from service.api.uploads import spool_body
from service.domain import (
    deliveries,
    delivery_audit,
    delivery_dispatch,
    delivery_flags,
    delivery_labels,
    delivery_quality,
)
from service.domain.label_io import MEDIA_TYPES, ReadFormat
from service.models import (
    AuditDecisionIn,
    AuditDraw,
    DeliveriesPublic,
    DeliveryAuditPublic,
    DeliveryBatchPublic,
    DeliveryCreate,
    DeliveryFlagsPublic,
    DeliveryModelFlagsIn,
    DeliveryPublic,
    DeliveryQualityPublic,
    ImportResult,
)

__all__ = ["router"]

router = APIRouter(prefix="/deliveries", tags=["deliveries"])


@router.get("", response_model=DeliveriesPublic)
def list_deliveries(
    session: SessionDep,
    principal: CurrentKey,
    project_id: int | None = None,
    vendor_id: int | None = None,
) -> DeliveriesPublic:
    """List deliveries, newest first, with progress, cost and latency."""
    rows = deliveries.list_deliveries(
        session=session, principal=principal, project_id=project_id, vendor_id=vendor_id
    )
    data = [deliveries.delivery_public(session, d) for d in rows]
    return DeliveriesPublic(data=data, count=len(data))


@router.post("", response_model=DeliveryPublic, status_code=201)
def create_delivery(
    session: SessionDep, principal: CurrentKey, body: DeliveryCreate
) -> DeliveryPublic:
    """Create a delivery of production items with honeypots mixed in."""
    delivery = deliveries.create_delivery(session=session, data=body, principal=principal)
    return deliveries.delivery_public(session, delivery)


@router.get("/{delivery_id}", response_model=DeliveryPublic)
def get_delivery(session: SessionDep, principal: CurrentKey, delivery_id: int) -> DeliveryPublic:
    """Read a delivery with its progress, cost and latency."""
    delivery = deliveries.get_delivery(
        session=session, delivery_id=delivery_id, principal=principal
    )
    return deliveries.delivery_public(session, delivery)


@router.get("/{delivery_id}/batch", response_model=DeliveryBatchPublic)
def get_batch(session: SessionDep, principal: CurrentKey, delivery_id: int) -> DeliveryBatchPublic:
    """The vendor's batch: item ids and data only (honeypots look like the rest)."""
    return deliveries.delivery_batch(session=session, delivery_id=delivery_id, principal=principal)


@router.post(
    "/{delivery_id}/labels/import",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {t: {"schema": {"type": "string"}} for t in set(MEDIA_TYPES.values())},
        }
    },
)
async def import_labels(
    request: Request,
    session: SessionDep,
    principal: CurrentKey,
    delivery_id: int,
    format: Annotated[
        ReadFormat, Query(description="File format of the body; auto: told from the content.")
    ] = "auto",
    filename: str = "upload",
    question: Annotated[
        str | None,
        Query(description="The Labelbox question or SageMaker label attribute to read."),
    ] = None,
) -> ImportResult:
    """Import the vendor's label file for a delivery (one transaction; 422 names the row)."""
    spool, _digest = await spool_body(request)

    def run(body: IO[bytes]) -> ImportResult:
        with body:
            return delivery_labels.import_delivery_labels(
                session=session,
                delivery_id=delivery_id,
                format=format,
                source=body,
                principal=principal,
                filename=filename,
                question=question,
            )

    return await run_in_threadpool(run, spool)


@router.get("/{delivery_id}/quality", response_model=DeliveryQualityPublic)
def get_quality(
    session: SessionDep, principal: CurrentKey, delivery_id: int
) -> DeliveryQualityPublic:
    """Honeypot accuracy per week and annotator, and the sequential alerts."""
    return delivery_quality.delivery_quality(
        session=session, delivery_id=delivery_id, principal=principal
    )


@router.post(
    "/{delivery_id}/flags",
    response_model=DeliveryFlagsPublic,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                "application/x-ndjson": {"schema": {"type": "string"}},
            },
        }
    },
)
async def flag_delivery(
    request: Request, session: SessionDep, principal: CurrentKey, delivery_id: int
) -> DeliveryFlagsPublic:
    """Flag labels uploaded model predictions contradict (the task type's CSV or JSON Lines)."""
    spool, _digest = await spool_body(request)

    def run(body: IO[bytes]) -> DeliveryFlagsPublic:
        with body:
            return delivery_flags.flag_delivery(
                session=session, delivery_id=delivery_id, source=body, principal=principal
            )

    return await run_in_threadpool(run, spool)


@router.post("/{delivery_id}/flags/model", response_model=DeliveryFlagsPublic)
def flag_delivery_with_model(
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    delivery_id: int,
    body: DeliveryModelFlagsIn,
) -> DeliveryFlagsPublic:
    """Flag labels a registered model contradicts (predicting from item data)."""
    return delivery_flags.flag_delivery_with_model(
        session=session,
        delivery_id=delivery_id,
        model=body.model,
        feature_key=body.feature_key,
        principal=principal,
        settings=settings,
    )


@router.get("/{delivery_id}/flags", response_model=DeliveryFlagsPublic)
def list_flags(
    session: SessionDep,
    principal: CurrentKey,
    delivery_id: int,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> DeliveryFlagsPublic:
    """The flagged labels, most likely wrong first."""
    return delivery_flags.ranked_flags(
        session=session, delivery_id=delivery_id, principal=principal, limit=limit
    )


@router.post("/{delivery_id}/audit", response_model=DeliveryAuditPublic, status_code=201)
def draw_audit(
    session: SessionDep, principal: CurrentKey, delivery_id: int, body: AuditDraw
) -> DeliveryAuditPublic:
    """Draw the stratified audit sample (once; sizes for a target interval width)."""
    return delivery_audit.draw_audit(
        session=session, delivery_id=delivery_id, data=body, principal=principal
    )


@router.get("/{delivery_id}/audit", response_model=DeliveryAuditPublic)
def get_audit(session: SessionDep, principal: CurrentKey, delivery_id: int) -> DeliveryAuditPublic:
    """The next drawn item, the error-rate estimate and the accept/reject verdict."""
    return delivery_audit.audit_status(
        session=session, delivery_id=delivery_id, principal=principal
    )


@router.post("/{delivery_id}/audit/decisions", response_model=DeliveryAuditPublic)
def decide_audit(
    session: SessionDep, principal: CurrentKey, delivery_id: int, body: AuditDecisionIn
) -> DeliveryAuditPublic:
    """Decide the item served next (correct or error); other items are refused."""
    return delivery_audit.decide_audit(
        session=session, delivery_id=delivery_id, data=body, principal=principal
    )


@router.post("/{delivery_id}/dispatch", response_model=DeliveryPublic, status_code=202)
def dispatch_delivery(
    session: SessionDep, principal: CurrentKey, queue: QueueDep, delivery_id: int
) -> DeliveryPublic:
    """Send the delivery to its vendor's adapter; a worker collects the answers."""
    deliveries.get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    delivery = delivery_dispatch.start_dispatch(session=session, delivery_id=delivery_id)
    queue.kick_delivery(delivery_id)
    return deliveries.delivery_public(session, delivery)
