"""Alembic migrations build exactly the schema of ``service.models`` (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import SQLModel

import service.models  # noqa: F401
from service.core.db import create_db_engine
from service.core.migrations import alembic_config, upgrade_head


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


def _seed_at_0001(url: str) -> None:
    """At revision 0001: one bake-off whose labels hold what the old key let through."""
    command.upgrade(alembic_config(url), "0001")
    engine = create_db_engine(url)
    now = "2024-05-01 10:00:00"
    statements = [
        "INSERT INTO project (id, name, description, task_type, ontology, created_at) "
        f"VALUES (1, 'p', '', 'classification', '{{}}', '{now}')",
        "INSERT INTO goldenset (id, project_id, name, description, created_at) "
        f"VALUES (1, 1, 'g', '', '{now}')",
        "INSERT INTO goldensetversion (id, golden_set_id, version, note, created_at) "
        f"VALUES (1, 1, 1, '', '{now}')",
        "INSERT INTO instructionsversion (id, project_id, version, text, examples, created_at) "
        f"VALUES (1, 1, 1, 't', '[]', '{now}')",
        *(
            f"INSERT INTO goldenitem (id, golden_set_id, key, data, meta, created_at) "
            f"VALUES ({i}, 1, '{key}', '{{}}', '{{}}', '{now}')"
            for i, key in ((1, "a|b"), (2, "c"))
        ),
        "INSERT INTO bakeoff (id, name, description, project_id, golden_set_version_id, "
        "instructions_version_id, ranking_weights, constraints, blinded, status, data_version, "
        f"created_at, updated_at) VALUES (1, 'b', '', 1, 1, 1, '{{}}', '{{}}', false, 'draft', "
        f"3, '{now}', '{now}')",
    ]
    labels = [  # (id, item, external_key, annotator, value)
        (1, 1, "x:a|b|r-1", "w1", '"cat"'),
        (2, 1, "x:a|b|r-2", "w1", '"dog"'),  # same item and annotator, new result id
        (3, 2, "c|", None, '"cat"'),
        (4, 2, "x:c|r-9", None, '"dog"'),  # no annotator twice: NULLs slipped past
        (5, 2, "c|w2", "w2", '"cat"'),
    ]
    for label_id, item, key, annotator, value in labels:
        statements.append(
            "INSERT INTO vendorlabel (id, bakeoff_id, vendor_id, item_id, task_id, external_key, "
            "value, annotator_id, instructions_version, created_at) VALUES "
            f"({label_id}, 1, 7, {item}, NULL, '{key}', '{value}', "
            f"{'NULL' if annotator is None else repr(annotator)}, 1, '{now}')"
        )
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(text(statement))
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_0002_keeps_the_first_answer_per_item_and_annotator(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("postgres_url")
        if backend == "postgresql"
        else f"sqlite:///{tmp_path / 'old.db'}"
    )
    _seed_at_0001(url)
    upgrade_head(url)
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, annotator_id, external_id FROM vendorlabel ORDER BY id")
            ).all()
            version = conn.execute(text("SELECT data_version FROM bakeoff")).scalar_one()
        assert [tuple(r) for r in rows] == [(1, "w1", "r-1"), (3, "", None), (5, "w2", None)]
        assert version == 4  # cached results of the bake-off are recomputed
        assert _diff(engine) == []
        command.downgrade(alembic_config(url), "0001")
        with engine.connect() as conn:
            keys = conn.execute(
                text("SELECT external_key, annotator_id FROM vendorlabel ORDER BY id")
            ).all()
        assert [tuple(r) for r in keys] == [("x:a|b|r-1", "w1"), ("c|", None), ("c|w2", "w2")]
    finally:
        engine.dispose()
