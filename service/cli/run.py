"""``bakeoff run BAKEOFF_ID``: start a bake-off run and follow it with a progress bar.

Examples
--------
::

    bakeoff worker &               # in another terminal, or as a service
    bakeoff run 3                  # start bake-off 3 and wait until every task is settled
    bakeoff run 3 --no-wait        # start it and return
    bakeoff run 3 --inline         # no worker: run it in this process

Exit status 1 with one line on stderr when the bake-off cannot start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from service.cli._app import app
from service.cli._db import current_database, database_epilog, fail_domain, open_session

if TYPE_CHECKING:  # imported inside the functions: `bakeoff --help` must not load them
    from rich.console import Console
    from rich.table import Table

    from service.domain.dispatch import RunProgress

__all__ = ["run_command", "show_progress"]


def show_progress(
    fetch: Callable[[], RunProgress],
    *,
    console: Console,
    poll_s: float = 0.5,
    timeout_s: float | None = None,
) -> RunProgress:
    """Draw one bar per vendor from ``fetch() -> RunProgress`` until the run is settled."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    current: RunProgress = fetch()
    started = time.monotonic()
    with Progress(
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bars:
        ids = {
            v.name: bars.add_task(v.name, total=v.total or 1, detail="") for v in current.vendors
        }
        while True:
            for v in current.vendors:
                settled = v.counts["received"] + v.counts["failed"] + v.counts["timed_out"]
                bad = v.counts["failed"] + v.counts["timed_out"]
                detail = f"[red]{bad} failed[/]" if bad else ""
                if v.failing:
                    detail += " [yellow]vendor failing, retrying[/]"
                bars.update(ids[v.name], completed=settled, total=v.total or 1, detail=detail)
            if current.done or current.status in ("cancelled", "completed"):
                return current
            if timeout_s is not None and time.monotonic() - started > timeout_s:
                return current
            time.sleep(poll_s)
            current = fetch()


def _summary(progress: RunProgress) -> Table:
    from rich.table import Table

    table = Table(
        title=f"bake-off {progress.bakeoff_id}: {progress.status}",
        caption=f"database: {current_database()}",
    )
    for column in ("vendor", "received", "failed", "timed out", "open", "cost"):
        table.add_column(column, justify="left" if column == "vendor" else "right")
    for v in progress.vendors:
        table.add_row(
            v.name,
            str(v.counts["received"]),
            str(v.counts["failed"]),
            str(v.counts["timed_out"]),
            str(v.counts["pending"] + v.counts["sent"]),
            f"{v.cost:.2f}",
        )
    return table


@app.command("run", epilog=database_epilog())
def run_command(
    bakeoff_id: Annotated[int, typer.Argument(help="The bake-off to run.")],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the run until it is settled.")
    ] = True,
    inline: Annotated[
        bool,
        typer.Option("--inline", help="Run it in this process instead of by `bakeoff worker`."),
    ] = False,
    timeout: Annotated[
        float | None, typer.Option(help="Stop following after this many seconds.")
    ] = None,
) -> None:
    """Start (or resume) a bake-off run and show its progress per vendor."""
    from rich.console import Console
    from sqlmodel import Session

    from service.core.config import get_settings
    from service.core.db import get_engine
    from service.dispatch.queue import get_queue
    from service.domain import dispatch
    from service.domain.errors import DomainError

    settings = get_settings()
    console = Console()
    try:
        with open_session() as session:
            dispatch.start_run(
                session=session,
                bakeoff_id=bakeoff_id,
                kicker=None if inline else get_queue(settings),
            )
    except DomainError as exc:
        raise fail_domain(exc, prefix=f"bake-off {bakeoff_id}: ") from None
    engine = get_engine()
    if not wait and not inline:
        console.print(
            f"bake-off {bakeoff_id} started in {current_database()}; "
            f"follow it with `bakeoff run {bakeoff_id}`"
        )
        return

    def fetch() -> RunProgress:
        with Session(engine) as session:
            if inline:
                dispatch.tick(session=session, bakeoff_id=bakeoff_id, settings=settings)
            return dispatch.run_progress(session=session, bakeoff_id=bakeoff_id)

    final = show_progress(
        fetch,
        console=console,
        poll_s=settings.dispatch_poll_interval_s,
        timeout_s=timeout,
    )
    console.print(_summary(final))
