"""Bake-off runs: start, progress, cancel; and the signed vendor result callback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from service.api.deps import CurrentKey, SessionDep, SettingsDep
from service.dispatch.queue import RunQueue, get_queue
from service.domain import dispatch
from service.domain.dispatch import CallbackResult, RunProgress

__all__ = ["router", "get_run_queue", "QueueDep"]

router = APIRouter(tags=["dispatch"])


def get_run_queue(settings: SettingsDep) -> RunQueue:
    """The dispatch queue (tests override this dependency)."""
    return get_queue(settings)


QueueDep = Annotated[RunQueue, Depends(get_run_queue)]


@router.post("/bakeoffs/{bakeoff_id}/run", response_model=RunProgress, status_code=202)
def start_run(
    session: SessionDep, principal: CurrentKey, queue: QueueDep, bakeoff_id: int
) -> RunProgress:
    """Start or resume a bake-off run: send its items to every candidate."""
    return dispatch.start_run(
        session=session, bakeoff_id=bakeoff_id, principal=principal, kicker=queue
    )


@router.get("/bakeoffs/{bakeoff_id}/progress", response_model=RunProgress)
def run_progress(
    session: SessionDep, principal: CurrentKey, queue: QueueDep, bakeoff_id: int
) -> RunProgress:
    """Per-vendor task counts by status, and whether a worker is running it."""
    return dispatch.run_progress(
        session=session,
        bakeoff_id=bakeoff_id,
        principal=principal,
        monitor=queue if isinstance(queue, dispatch.WorkerMonitor) else None,
    )


@router.post("/bakeoffs/{bakeoff_id}/cancel", response_model=RunProgress)
def cancel_run(session: SessionDep, principal: CurrentKey, bakeoff_id: int) -> RunProgress:
    """Cancel a run; open tasks fail, labels already stored stay."""
    return dispatch.cancel_run(session=session, bakeoff_id=bakeoff_id, principal=principal)


@router.post("/callbacks/{vendor_id}", response_model=CallbackResult)
async def vendor_callback(session: SessionDep, request: Request, vendor_id: int) -> CallbackResult:
    """Vendor results, HMAC-signed (see docs/vendor-protocol.md); duplicates stored once."""
    body = await request.body()
    return await run_in_threadpool(
        dispatch.receive_callback,
        session=session,
        vendor_id=vendor_id,
        body=body,
        headers=dict(request.headers),
    )
