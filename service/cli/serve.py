"""``bakeoff serve``: apply migrations, then run the API with uvicorn.

Examples
--------
::

    BAKEOFF_DATABASE_URL=postgresql+psycopg://bakeoff@localhost/bakeoff bakeoff serve --port 8000
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from service.cli._app import app
from service.cli._db import database_epilog, describe_database

__all__ = ["serve_command"]


@app.command("serve", epilog=database_epilog())
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    reload: Annotated[bool, typer.Option(help="Reload on code changes (development).")] = False,
    migrate: Annotated[bool, typer.Option(help="Apply migrations before serving.")] = True,
) -> None:
    """Serve the Bakeoff API (OpenAPI docs at /docs)."""
    import uvicorn

    from service.core.config import get_settings
    from service.core.migrations import upgrade_head

    settings = get_settings()
    typer.echo(f"database: {describe_database(settings.database_url)}", err=True)
    if migrate:
        upgrade_head(settings.database_url)
    # migrated once here; worker processes must not race to migrate again
    os.environ["BAKEOFF_AUTO_MIGRATE"] = "false"
    uvicorn.run(
        "service.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level="info",
    )
