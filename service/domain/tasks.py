"""Tasks: one golden item sent to one vendor in one bake-off (a persisted state machine)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain._common import get_or_404, paginate
from service.domain.access import (
    BLINDED_ROLES,
    Blinding,
    check_project,
    check_vendor,
    is_vendor,
    project_scope,
)
from service.domain.dispatch_results import error_text
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
    """One task; a vendor key sees only its own vendor's tasks, once they were sent (blinding
    applies)."""
    task = get_or_404(session, Task, task_id)
    bakeoff = get_or_404(session, BakeOff, task.bakeoff_id, what="Bake-off")
    check_project(principal, bakeoff.project_id)
    if is_vendor(principal) and principal is not None:
        if principal.vendor_id != task.vendor_id or task.sent_at is None:
            raise NotFound(f"Task {task_id} not found")
    view = Blinding(session, bakeoff, principal)
    return view.task(task_public(task, session.get(GoldenItem, task.item_id)))


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
    """Tasks filtered by bake-off, vendor and status; a vendor key gets only its own.

    Blinding applies to each task; a blinded role filtering by vendor gets no task of a blinded
    bake-off (the filter would tell which candidate the vendor is). A vendor key sees a task
    (and its item) only once the item was sent to it: its latency clock starts at
    ``sent_at``, so reading items early would let it start unseen.
    """
    stmt = select(Task).join(BakeOff, col(BakeOff.id) == col(Task.bakeoff_id))
    if is_vendor(principal) and principal is not None:
        if vendor_id is not None:
            check_vendor(principal, vendor_id)
        vendor_id = principal.vendor_id
        stmt = stmt.where(col(Task.sent_at).is_not(None))
    scope = project_scope(principal)
    if scope is not None:
        stmt = stmt.where(BakeOff.project_id == scope)
    if vendor_id is not None and principal is not None and principal.role in BLINDED_ROLES:
        stmt = stmt.where(col(BakeOff.blinded).is_(False))
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
    views: dict[int, Blinding] = {}
    for bakeoff in session.exec(
        select(BakeOff).where(col(BakeOff.id).in_({t.bakeoff_id for t in rows}))
    ).all():
        views[bakeoff.id or 0] = Blinding(session, bakeoff, principal)
    return [views[t.bakeoff_id].task(task_public(t, items.get(t.item_id))) for t in rows], count


def update_task(
    *, session: Session, task_id: int, data: TaskUpdate, principal: Principal | None = None
) -> TaskPublic:
    """Record a task's progress (status, times, cost, attempts, external ids, last error)."""
    task = get_or_404(session, Task, task_id)
    bakeoff = get_or_404(session, BakeOff, task.bakeoff_id, what="Bake-off")
    check_project(principal, bakeoff.project_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("last_error") is not None:
        changes["last_error"] = error_text(changes["last_error"])
    task.sqlmodel_update(changes)
    task.updated_at = utcnow()
    session.add(task)
    session.commit()
    session.refresh(task)
    view = Blinding(session, bakeoff, principal)
    return view.task(task_public(task, session.get(GoldenItem, task.item_id)))
