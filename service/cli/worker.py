"""``bakeoff worker``: run a dispatch worker (a Huey consumer) until interrupted.

Examples
--------
::

    bakeoff worker                 # SQLite queue next to the database, 2 threads
    BAKEOFF_REDIS_URL=redis://127.0.0.1:6379/0 bakeoff worker --workers 8

Start as many workers as you like against one database and queue; a run interrupted by
a killed worker resumes when any worker starts (and within a minute on running workers).
"""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from service.cli._app import app
from service.cli._db import database_epilog, describe_database

__all__ = ["worker_command"]


@app.command("worker", epilog=database_epilog())
def worker_command(
    workers: Annotated[
        int, typer.Option("--workers", "-w", min=1, help="Worker threads in this process.")
    ] = 2,
    resume: Annotated[
        bool,
        typer.Option("--resume/--no-resume", help="Pick up every running bake-off at start-up."),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each step.")] = False,
) -> None:
    """Run bake-offs: send items to vendors and collect their labels (Ctrl-C stops)."""
    from service.core.config import get_settings
    from service.dispatch.queue import get_queue, queue_location

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = get_settings()
    typer.echo(f"database: {describe_database(settings.database_url)}", err=True)
    if settings.auto_migrate:
        from service.core.migrations import upgrade_head

        upgrade_head(settings.database_url)
    queue = get_queue(settings)
    if queue_location(settings) == ":memory:":
        raise typer.BadParameter(
            "BAKEOFF_DATABASE_URL is an in-memory database; a worker needs a file or server"
        )
    consumer = queue.consumer(workers=workers)
    if resume:
        resumed = queue.resume_all()
        if resumed:
            typer.echo(f"resuming bake-offs {resumed}")
    typer.echo(f"worker: {workers} thread(s) on {queue_location(settings)}")
    consumer.run()
