"""Portable column types: JSON (JSONB on PostgreSQL), timezone-aware UTC datetimes, and
strings where ``""`` stands for "none".

Alembic migrations refer to these types as ``service.core.types.JSONType()``,
``service.core.types.UTCDateTime()`` and ``service.core.types.BlankIsNone()``; keep the names
stable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["BlankIsNone", "JSONType", "UTCDateTime", "utcnow"]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class JSONType(TypeDecorator[Any]):
    """JSON everywhere, stored as ``JSONB`` on PostgreSQL."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class UTCDateTime(TypeDecorator[datetime]):
    """A ``timestamp with time zone`` that always comes back timezone-aware in UTC.

    SQLite keeps no zone; values are converted to UTC on the way in and tagged UTC on the
    way out, so comparisons and arithmetic behave the same on both databases.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(
        self,
        value: datetime | None,
        dialect: Dialect,  # noqa: ARG002 - part of the TypeDecorator signature
    ) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class BlankIsNone(TypeDecorator[str]):
    """A ``NOT NULL`` string column in which ``""`` stands for "none"; Python sees ``None``.

    SQL unique constraints treat every ``NULL`` as distinct, so an optional part of a unique
    key (a label's annotator) is stored as ``""`` instead: ``None`` is written as ``""`` and
    ``""`` is read back as ``None``. Bulk writers that bypass SQLAlchemy write ``""``
    themselves; filters must compare with ``""``, not ``IS NULL``.
    """

    impl = String
    cache_ok = True

    def process_bind_param(
        self,
        value: str | None,
        dialect: Dialect,  # noqa: ARG002 - part of the TypeDecorator signature
    ) -> str:
        return "" if value is None else value

    def process_result_value(
        self,
        value: str | None,
        dialect: Dialect,  # noqa: ARG002 - part of the TypeDecorator signature
    ) -> str | None:
        return value or None
