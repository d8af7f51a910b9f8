"""Small helpers shared by the domain modules: pagination, lookups, commits."""

from __future__ import annotations

from typing import Any, TypeVar, cast

from sqlalchemy import Table, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, select
from sqlmodel.sql.expression import SelectOfScalar

from service.domain.errors import Conflict, Invalid, NotFound

__all__ = [
    "get_or_404",
    "paginate",
    "commit_or_conflict",
    "apply_update",
    "updated_fields",
    "table_of",
]

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


def updated_fields(
    obj: SQLModel, update: SQLModel, *, exclude: set[str] | None = None
) -> dict[str, Any]:
    """The fields set in ``update``, refusing ``null`` for a column of ``obj`` that holds none.

    An ``XUpdate`` field is optional so that a PATCH may leave it out; an explicit ``null`` for
    a NOT NULL column would otherwise fail at commit, or be stored as JSON ``null`` and break
    every later read.

    Raises
    ------
    Invalid
        Naming the first such field.
    """
    changes = update.model_dump(exclude_unset=True, exclude=exclude)
    columns = table_of(type(obj)).columns
    for name, value in changes.items():
        if value is None and name in columns and not columns[name].nullable:
            raise Invalid(
                f"{name} cannot be null; leave it out to keep the current value",
                location=("body", name),
            )
    return changes


def apply_update(obj: SQLModel, update: SQLModel) -> dict[str, Any]:
    """Copy the fields set in ``update`` onto ``obj``; return what changed (old values)."""
    changes = updated_fields(obj, update)
    before = {k: getattr(obj, k) for k in changes}
    obj.sqlmodel_update(changes)
    return before


def table_of(model: type[SQLModel]) -> Table:
    """The Core :class:`~sqlalchemy.Table` of a table model (for bulk statements)."""
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
