"""Which database a command opens, said out loud: in ``--help``, on stderr, and in errors.

Every command that reads or writes the database names it (password hidden, a relative SQLite
path made absolute), so "Bake-off 2 not found" can no longer mean "you opened another
database than the one the demo wrote": the error says which database was searched and, when
the demo's database sits under the current folder, how to point at it.

Importing this module is cheap (no SQLAlchemy, no pydantic): ``bakeoff --help`` imports it.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:
    from sqlmodel import Session

    from service.domain.errors import DomainError

__all__ = [
    "DEFAULT_DATABASE_URL",
    "DEMO_DATABASE",
    "current_database",
    "database_epilog",
    "describe_database",
    "fail",
    "fail_domain",
    "open_session",
]

DEFAULT_DATABASE_URL = "sqlite:///./bakeoff-data/bakeoff.db"
"""Copy of the default of :attr:`service.core.config.Settings.database_url` (tested equal)."""

DEMO_DATABASE = Path("bakeoff-data/demo/bakeoff.db")
"""Where ``bakeoff demo`` writes its database by default (relative to the current folder)."""

_PASSWORD = re.compile(r"(://[^:/@]*:)[^@/]*@")


def describe_database(url: str) -> str:
    """``url`` with its password hidden and a relative SQLite file made absolute.

    Examples
    --------
    >>> describe_database("postgresql+psycopg://bob:s3cret@db:5432/bakeoff")
    'postgresql+psycopg://bob:***@db:5432/bakeoff'
    >>> describe_database("sqlite://")
    'sqlite:// (in memory)'
    """
    masked = _PASSWORD.sub(r"\1***@", url)
    prefix, sep, rest = masked.partition(":///")
    if not prefix.startswith("sqlite") or not sep:
        return masked + (" (in memory)" if masked.rstrip("/") in ("sqlite:", "sqlite") else "")
    path, query_sep, query = rest.partition("?")
    if path in ("", ":memory:"):
        return masked + " (in memory)"
    absolute = Path(path).expanduser().resolve()
    return f"{prefix}:///{absolute}{query_sep}{query}"


def database_epilog() -> str:
    """The ``--help`` line naming the database a command would open now.

    Reads only the environment (``.env`` files are honoured when the command runs, and the
    command's first stderr line names the database it actually opened).
    """
    url = os.environ.get("BAKEOFF_DATABASE_URL")
    where = "" if url else " (BAKEOFF_DATABASE_URL unset: the default, under the current folder)"
    # "\b": click keeps the paragraph as it is, so the URL is never broken across lines
    return f"\b\nDatabase: {describe_database(url or DEFAULT_DATABASE_URL)}\n{where.strip()}"


def current_database() -> str:
    """The database the commands open (``BAKEOFF_DATABASE_URL``), as :func:`describe_database`.

    Commands name it in their summary line, so whoever reads the output knows where the data
    went (errors keep to one line on stderr; a not-found error names it too).
    """
    from service.core.config import get_settings

    return describe_database(get_settings().database_url)


def open_session() -> Session:
    """A session on the configured database, migrated first when ``auto_migrate`` is on."""
    from sqlmodel import Session

    from service.core.config import get_settings
    from service.core.db import get_engine

    settings = get_settings()
    if settings.auto_migrate:
        from service.core.migrations import upgrade_head  # Alembic: only when migrating

        upgrade_head(settings.database_url)
    return Session(get_engine())


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; the ``typer.Exit(1)`` to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _demo_hint(current: str) -> str:
    demo = DEMO_DATABASE.resolve()
    if not demo.is_file() or describe_database(current) == f"sqlite:///{demo}":
        return ""
    url = shlex.quote(f"sqlite:///{demo}")
    return f"; the demo's database is {demo}: export BAKEOFF_DATABASE_URL={url}"


def fail_domain(exc: DomainError | ValueError, *, prefix: str = "") -> typer.Exit:
    """:func:`fail` for a domain error; a not-found error names the database searched."""
    from service.core.config import get_settings
    from service.domain.errors import DomainError, NotFound

    text = exc.message if isinstance(exc, DomainError) else str(exc)
    message = prefix + (text.splitlines()[0] if text else type(exc).__name__)
    if isinstance(exc, NotFound):
        url = get_settings().database_url
        message += (
            f" in database {describe_database(url)} (set BAKEOFF_DATABASE_URL to use another"
            f"{_demo_hint(url)})"
        )
    return fail(message)
