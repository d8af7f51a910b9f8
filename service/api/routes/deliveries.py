"""Production deliveries: create, the vendor's batch, label import, honeypot quality."""

from __future__ import annotations

from typing import IO, Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from service.api.deps import CurrentKey, SessionDep
from service.api.uploads import spool_body
from service.domain import deliveries, delivery_labels, delivery_quality
from service.domain.label_io import MEDIA_TYPES, ReadFormat
from service.models import (
    DeliveriesPublic,
    DeliveryBatchPublic,
    DeliveryCreate,
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
    format: Annotated[ReadFormat, Query(description="File format of the body.")] = "jsonl",
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
