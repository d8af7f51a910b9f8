"""Apply Alembic migrations from code (the app and the CLI call :func:`upgrade_head`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

__all__ = ["alembic_config", "upgrade_head", "SCRIPT_LOCATION"]

SCRIPT_LOCATION = Path(__file__).resolve().parents[1] / "alembic"


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic :class:`~alembic.config.Config` for ``database_url`` (default: settings)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if database_url is not None:
        cfg.attributes["database_url"] = database_url
    return cfg


def upgrade_head(database_url: str | None = None, *, engine: Engine | None = None) -> None:
    """Bring the database to the newest schema (``alembic upgrade head``).

    Parameters
    ----------
    database_url
        Database to migrate; defaults to ``BAKEOFF_DATABASE_URL``.
    engine
        Use this engine's connection instead (e.g. an in-memory SQLite ``StaticPool`` engine).
    """
    cfg = alembic_config(database_url)
    if engine is None:
        command.upgrade(cfg, "head")
        return
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")
