"""Tasks: one golden item sent to one vendor in one bake-off (a persisted state machine)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain._common import get_or_404, paginate, updated_fields
from service.domain.access import check_project, check_vendor, is_vendor, project_scope
from service.domain.errors import NotFound
from service.domain.security import Principal
from service.models import BakeOff, GoldenItem, Task, TaskPublic, TaskStatus, TaskUpdate

__all__ = ["get_task", "list_tasks", "update_task", "task_public"]


def task_public(task: Task, item: GoldenItem | None) -> TaskPublic:
    """The public view with the item's key and data (never its gold label)."""
    return TaskPublic.model_validate(
        task,
        update={
            "item_key": item.key if item else None,
            "item_data": item.data if item else None,
        },
    )


def get_task(*, session: Session, task_id: int, principal: Principal | None = None) -> TaskPublic:
    """One task; a vendor key sees only its own vendor's tasks."""
    task = get_or_404(session, Task, task_id)
    bakeoff = get_or_404(session, BakeOff, task.bakeoff_id, what="Bake-off")
    check_project(principal, bakeoff.project_id)
    if is_vendor(principal) and principal is not None and principal.vendor_id != task.vendor_id:
        raise NotFound(f"Task {task_id} not found")
    return task_public(task, session.get(GoldenItem, task.item_id))


def list_tasks(
    *,
    session: Session,
    principal: Principal | None = None,
    bakeoff_id: int | None = None,
    vendor_id: int | None = None,
    status: TaskStatus | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[TaskPublic], int]:
    """Tasks filtered by bake-off, vendor and status; a vendor key gets only its own."""
    stmt = select(Task)
    if is_vendor(principal) and principal is not None:
        if vendor_id is not None:
            check_vendor(principal, vendor_id)
        vendor_id = principal.vendor_id
    scope = project_scope(principal)
    if scope is not None:
        stmt = stmt.join(BakeOff, col(BakeOff.id) == col(Task.bakeoff_id)).where(
            BakeOff.project_id == scope
        )
    if bakeoff_id is not None:
        stmt = stmt.where(Task.bakeoff_id == bakeoff_id)
    if vendor_id is not None:
        stmt = stmt.where(Task.vendor_id == vendor_id)
    if status is not None:
        stmt = stmt.where(Task.status == status)
    rows, count = paginate(session, stmt.order_by(col(Task.id)), skip=skip, limit=limit)
    items = {
        i.id: i
        for i in session.exec(
            select(GoldenItem).where(col(GoldenItem.id).in_({t.item_id for t in rows}))
        ).all()
    }
    return [task_public(t, items.get(t.item_id)) for t in rows], count


def update_task(
    *, session: Session, task_id: int, data: TaskUpdate, principal: Principal | None = None
) -> TaskPublic:
    """Record a task's progress (status, times, cost, attempts, external ids, last error)."""
    task = get_or_404(session, Task, task_id)
    bakeoff = get_or_404(session, BakeOff, task.bakeoff_id, what="Bake-off")
    check_project(principal, bakeoff.project_id)
    task.sqlmodel_update(updated_fields(task, data))
    task.updated_at = utcnow()
    session.add(task)
    session.commit()
    session.refresh(task)
    return task_public(task, session.get(GoldenItem, task.item_id))
