"""Database engine and sessions.

SQLite (the default) is opened with foreign keys on, WAL journaling and ``synchronous=NORMAL``;
PostgreSQL is used as is. :func:`get_engine` returns the process-wide engine for
``BAKEOFF_DATABASE_URL``; :func:`get_session` is the FastAPI dependency (tests override it).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from service.core.config import get_settings

__all__ = ["create_db_engine", "get_engine", "get_session", "is_sqlite"]


def is_sqlite(engine: Engine) -> bool:
    """Whether ``engine`` talks to SQLite."""
    return engine.dialect.name == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, wal: bool) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        if wal:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
    finally:
        cursor.close()


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for ``url`` with Bakeoff's connection settings.

    Parameters
    ----------
    url
        SQLAlchemy URL. ``sqlite://`` (in memory) gets a :class:`~sqlalchemy.pool.StaticPool`
        so every session sees the same database; a SQLite file gets its directory created.
    echo
        Log every SQL statement.

    Returns
    -------
    Engine
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        in_memory = database in ("", ":memory:") or database.startswith("file::memory:")
        kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
        if in_memory:
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, **kwargs)
        wal = not in_memory

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, record: Any) -> None:
            _sqlite_pragmas(dbapi_connection, record, wal=wal)

        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True)


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for ``BAKEOFF_DATABASE_URL``."""
    return create_db_engine(get_settings().database_url)


def get_session() -> Iterator[Session]:
    """Yield one session per request; the domain layer commits, errors roll back."""
    with Session(get_engine()) as session:
        yield session
