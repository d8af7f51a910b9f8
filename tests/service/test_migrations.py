"""Alembic migrations build exactly the schema of ``service.models`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlmodel import SQLModel

import service.models  # noqa: F401
from service.core.db import create_db_engine
from service.core.migrations import upgrade_head


def _diff(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def test_upgrade_head_on_fresh_sqlite_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade_head(url)
    engine = create_db_engine(url)
    try:
        assert set(SQLModel.metadata.tables) <= set(inspect(engine).get_table_names())
        assert _diff(engine) == [], "models changed without a migration: see service/alembic/README"
    finally:
        engine.dispose()


def test_upgrade_head_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'twice.db'}"
    upgrade_head(url)
    upgrade_head(url)
    engine = create_db_engine(url)
    try:
        assert _diff(engine) == []
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_upgrade_head_on_fresh_postgres_matches_the_models(postgres_url: str) -> None:
    upgrade_head(postgres_url)
    engine = create_db_engine(postgres_url)
    try:
        assert _diff(engine) == []
    finally:
        engine.dispose()
