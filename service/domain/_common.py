"""Small helpers shared by the domain modules: pagination, lookups, commits."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import Table, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from service.domain.errors import Conflict, NotFound

__all__ = ["get_or_404", "paginate", "commit_or_conflict", "apply_update", "table_of"]

T = TypeVar("T", bound=SQLModel)


def get_or_404(session: Session, model: type[T], entity_id: int, *, what: str | None = None) -> T:
    """Load ``model`` by primary key or raise :class:`NotFound` naming it."""
    obj = session.get(model, entity_id)
    if obj is None:
        raise NotFound(f"{what or model.__name__} {entity_id} not found")
    return obj


def paginate(
    session: Session, statement: SelectOfScalar[T], *, skip: int, limit: int
) -> tuple[list[T], int]:
    """Run ``statement`` for one page and count all matching rows."""
    count_stmt = select(func.count()).select_from(statement.order_by(None).subquery())
    count = session.exec(count_stmt).one()
    rows = list(session.exec(statement.offset(skip).limit(limit)).all())
    return rows, int(count)


def commit_or_conflict(session: Session, message: str) -> None:
    """Commit; a unique/foreign-key violation becomes :class:`Conflict` with ``message``."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(message) from exc


def apply_update(obj: SQLModel, update: SQLModel) -> dict[str, Any]:
    """Copy the fields set in ``update`` onto ``obj``; return what changed (old values)."""
    changes = update.model_dump(exclude_unset=True)
    before = {k: getattr(obj, k) for k in changes}
    obj.sqlmodel_update(changes)
    return before


def table_of(model: type[SQLModel]) -> Table:
    """The Core :class:`~sqlalchemy.Table` of a table model (for bulk statements)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
