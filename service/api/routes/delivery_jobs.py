"""Delivery flag runs on the workers: start one (chunk jobs on the queue), read their progress."""

from __future__ import annotations

from typing import IO, Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.api.routes.dispatch import QueueDep
from service.api.uploads import spool_body
from service.domain import delivery_jobs, delivery_probs
from service.models import DeliveryFlagRunCreate, DeliveryFlagRunPublic

__all__ = ["router"]

router = APIRouter(prefix="/deliveries", tags=["deliveries"])


@router.post("/{delivery_id}/flags/runs", response_model=DeliveryFlagRunPublic, status_code=202)
def start_flag_run(
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    queue: QueueDep,
    delivery_id: int,
    body: DeliveryFlagRunCreate,
) -> DeliveryFlagRunPublic:
    """Flag with a registered model on the workers: one job per chunk of items."""
    run = delivery_jobs.start_flag_run(
        session=session, delivery_id=delivery_id, data=body, principal=principal, settings=settings
    )
    queue.enqueue_flag_chunks(
        delivery_jobs.advance_run(session=session, run_id=run.id or 0, sweep=True)
    )
    return delivery_jobs.flag_run_public(session, run)


@router.post(
    "/{delivery_id}/flags/runs/upload",
    response_model=DeliveryFlagRunPublic,
    status_code=202,
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
async def start_upload_run(
    request: Request,
    session: SessionDep,
    principal: CurrentKey,
    queue: QueueDep,
    delivery_id: int,
    chunk_size: Annotated[int, Query(ge=1, le=1_000_000)] = 50_000,
) -> DeliveryFlagRunPublic:
    """Flag from uploaded predictions on the workers (the task type's CSV or JSON Lines)."""
    spool, _digest = await spool_body(request)

    def run(body: IO[bytes]) -> DeliveryFlagRunPublic:
        with body:
            started = delivery_probs.start_upload_run(
                session=session,
                delivery_id=delivery_id,
                source=body,
                chunk_size=chunk_size,
                principal=principal,
            )
        queue.enqueue_flag_chunks(
            delivery_jobs.advance_run(session=session, run_id=started.id or 0, sweep=True)
        )
        return delivery_jobs.flag_run_public(session, started)

    return await run_in_threadpool(run, spool)


@router.get("/{delivery_id}/flags/runs", response_model=list[DeliveryFlagRunPublic])
def list_flag_runs(
    session: SessionDep, principal: CurrentKey, delivery_id: int
) -> list[DeliveryFlagRunPublic]:
    """A delivery's flag runs with their chunk progress, newest first."""
    return delivery_jobs.list_flag_runs(
        session=session, delivery_id=delivery_id, principal=principal
    )
