"""Delivery flag runs on the workers: start one (chunk jobs on the queue), read their progress."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.api.routes.dispatch import QueueDep
from service.domain import delivery_jobs
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


@router.get("/{delivery_id}/flags/runs", response_model=list[DeliveryFlagRunPublic])
def list_flag_runs(
    session: SessionDep, principal: CurrentKey, delivery_id: int
) -> list[DeliveryFlagRunPublic]:
    """A delivery's flag runs with their chunk progress, newest first."""
    return delivery_jobs.list_flag_runs(
        session=session, delivery_id=delivery_id, principal=principal
    )
