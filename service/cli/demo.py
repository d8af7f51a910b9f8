"""``bakeoff demo``: a complete bake-off on bundled data, with no configuration.

It needs no other service: SQLite and the embedded queue. Three simulated vendors (one
with a systematic box bias, one cheap and noisy, one slow and accurate) and a model
candidate label two golden sets (handwritten digits, generated street scenes) through
the same API, queue and adapters a deployment uses; then disagreements are flagged for
QA, the reports are written and the ranking is printed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from service.cli._app import app

__all__ = ["demo_command"]


@app.command("demo")
def demo_command(
    workdir: Annotated[
        Path,
        typer.Option("--workdir", help="Where the demo's database, logs and reports go (wiped)."),
    ] = Path("bakeoff-data/demo"),
    digits: Annotated[
        int, typer.Option("--digits", min=30, max=1500, help="Golden digits to label.")
    ] = 300,
    scenes: Annotated[
        int, typer.Option("--scenes", min=10, max=500, help="Golden street scenes to label.")
    ] = 60,
) -> None:
    """Run a complete bake-off on bundled data (SQLite, no other services) in about a minute."""
    from service.demo.run import run_demo

    console = Console()
    try:
        outcome = run_demo(workdir, console=console, n_digits=digits, n_scenes=scenes)
    except RuntimeError as exc:
        console.print(f"[red]demo failed:[/] {exc}")
        raise typer.Exit(code=1) from None
    console.print()
    console.print(
        f"[bold]Done in {outcome.seconds:.0f} s.[/] Reports (open in any browser, offline):"
    )
    for name, path in outcome.reports.items():
        console.print(f"  {name}: {path.resolve().as_uri()}")
    console.print()
    console.print("Dashboards and the QA review queue:")
    console.print(f"  BAKEOFF_DATABASE_URL={outcome.database_url} bakeoff serve")
    console.print("  then open http://127.0.0.1:8000/ and sign in with one of these keys:")
    for role, key in outcome.keys.items():
        console.print(f"    {role:<7} {key}")
