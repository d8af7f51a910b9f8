"""``bakeoff report``: a bake-off's report as one self-contained HTML file, JSON and CSV.

Examples
--------
The report procurement can open offline or receive by e-mail::

    bakeoff report 7 -o report.html

Machine-readable output too (schema: ``docs/report-schema.md``)::

    bakeoff report 7 -o report.html --json report.json --csv-dir tables/

Problems (no such bake-off, no gold, unknown constraint keys) exit with status 1 and one
line on stderr.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from service.cli._app import app, ends_with_command
from service.cli._db import current_database, database_epilog, fail, fail_domain, open_session

__all__ = ["report_command"]


@app.command("report", epilog=database_epilog())
def report_command(
    bakeoff_id: Annotated[int, typer.Argument(help="The bake-off's id.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the self-contained HTML report here."),
    ] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="Write the JSON report here ('-': stdout).")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv-dir", help="Write one CSV per table into this folder.")
    ] = None,
    resamples: Annotated[
        int, typer.Option("--resamples", min=100, help="Paired bootstrap resamples.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
) -> None:
    """Rank a bake-off's vendors and write its report (HTML, JSON, CSV)."""
    if output is None and json_path is None and csv_dir is None:
        raise fail("nothing to write: give -o report.html, --json PATH or --csv-dir DIR")
    with _collection_paused():
        _report(bakeoff_id, output, json_path, csv_dir, resamples, seed)


@contextmanager
def _collection_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (it is restored after).

    A report allocates millions of short-lived objects and hardly any cycles: with 100,000
    items x 5 vendors the collector ran about 500 times for 0.2 s of CPU and freed nothing
    that changed the peak memory (470 MB either way). When the process ends with the
    command (the ``bakeoff`` script) the collector stays paused: turned back on, it would
    walk every object once more (0.1 s) just before the exit.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled and not ends_with_command():
            gc.enable()


def _report(
    bakeoff_id: int,
    output: Path | None,
    json_path: Path | None,
    csv_dir: Path | None,
    resamples: int,
    seed: int,
) -> None:
    from service.domain import score_prefetch

    with open_session() as session:
        # PostgreSQL reads the rows while the report's code is imported (0.5-1 s each)
        score_prefetch.start(bakeoff_id, n_resamples=resamples, seed=seed)
        from reports.render import render_csv, render_html, render_json
        from service.domain import score_store
        from service.domain.errors import DomainError
        from service.domain.reporting import bakeoff_report

        try:
            # scores computed now are stored while the report ranks them
            with score_store.writing_behind():
                report = bakeoff_report(
                    session=session, bakeoff_id=bakeoff_id, n_resamples=resamples, seed=seed
                )
        except (DomainError, ValueError) as exc:
            raise fail_domain(exc) from None
    typer.echo(f"bake-off {bakeoff_id} read from {current_database()}", err=True)
    if output is not None:
        render_html(report, output)
        typer.echo(f"wrote {output}", err=True)
    if json_path is not None:
        if str(json_path) == "-":
            typer.echo(report.model_dump_json(indent=2))
        else:
            render_json(report, json_path)
            typer.echo(f"wrote {json_path}", err=True)
    if csv_dir is not None:
        written = render_csv(report, csv_dir)
        typer.echo(f"wrote {len(written)} tables to {csv_dir}", err=True)
    for line in report.ranking.summary[:1]:
        typer.echo(line, err=True)
