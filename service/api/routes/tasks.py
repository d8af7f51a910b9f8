"""Tasks: one golden item sent to one vendor (a vendor key sees only its own)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CurrentKey, PageDep, SessionDep
from service.domain import tasks
from service.models import TaskPublic, TasksPublic, TaskStatus, TaskUpdate

__all__ = ["router"]

router = APIRouter(prefix="/tasks", tags=["tasks"])


@router.get("", response_model=TasksPublic)
def list_tasks(
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    bakeoff_id: int | None = None,
    vendor_id: int | None = None,
    status: TaskStatus | None = None,
) -> TasksPublic:
    """List tasks, filtered by bake-off, vendor and status."""
    data, count = tasks.list_tasks(
        session=session,
        principal=principal,
        bakeoff_id=bakeoff_id,
        vendor_id=vendor_id,
        status=status,
        skip=page.skip,
        limit=page.limit,
    )
    return TasksPublic(data=data, count=count)


@router.get("/{task_id}", response_model=TaskPublic)
def get_task(session: SessionDep, principal: CurrentKey, task_id: int) -> TaskPublic:
    """Read a task with its item's data (never its gold)."""
    return tasks.get_task(session=session, task_id=task_id, principal=principal)


@router.patch("/{task_id}", response_model=TaskPublic)
def update_task(
    session: SessionDep, principal: CurrentKey, task_id: int, body: TaskUpdate
) -> TaskPublic:
    """Record a task's status, times, cost or error."""
    return tasks.update_task(session=session, task_id=task_id, data=body, principal=principal)
