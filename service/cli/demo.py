"""``bakeoff demo``: a complete bake-off on bundled data, with no configuration.

It needs no other service: SQLite and the embedded queue. Three simulated vendors (one
with a systematic box bias, one cheap and noisy, one slow and accurate) and a model
candidate label four golden sets (handwritten digits, generated street scenes, generated
reply pairs and replies to rate) through the same API, queue and adapters a deployment
uses; then disagreements are flagged for QA, the reports are written and the ranking is
printed.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from service.cli._app import app

__all__ = ["bakeoff_invocation", "closing_commands", "demo_command"]


def bakeoff_invocation() -> str:
    """How to run ``bakeoff`` from any shell: the name, the venv's script, or ``python -m``.

    ``bakeoff`` alone only works when the ``bakeoff`` on ``PATH`` is this installation's
    (an activated venv); otherwise the absolute path of this interpreter's script is printed,
    and without a script, ``<this python> -m service.cli.main``.
    """
    script = Path(sys.executable).parent / "bakeoff"
    on_path = shutil.which("bakeoff")
    if on_path is not None and script.is_file() and Path(on_path).resolve() == script.resolve():
        return "bakeoff"
    if script.is_file():
        return shlex.quote(str(script))
    return f"{shlex.quote(sys.executable)} -m service.cli.main"


def closing_commands(
    database_url: str, bakeoff_ids: dict[str, int], *, bakeoff: str | None = None
) -> list[str]:
    """The shell lines the demo prints at its end; pasted together, they work as they are.

    Parameters
    ----------
    database_url
        The demo's database (absolute SQLite URL).
    bakeoff_ids
        ``{name: bake-off id}`` of the demo's bake-offs, one ``report`` line each.
    bakeoff
        How to invoke the CLI; default :func:`bakeoff_invocation`.
    """
    cli = bakeoff if bakeoff is not None else bakeoff_invocation()
    lines = [f"export BAKEOFF_DATABASE_URL={shlex.quote(database_url)}"]
    for name, bakeoff_id in bakeoff_ids.items():
        out = shlex.quote(f"report-{name}-{bakeoff_id}.html")
        lines.append(f"{cli} report {bakeoff_id} -o {out}")
    lines.append(f"{cli} serve")
    return lines


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
    pairs: Annotated[
        int, typer.Option("--pairs", min=20, max=1000, help="Golden reply pairs to judge.")
    ] = 120,
    ratings: Annotated[
        int, typer.Option("--ratings", min=20, max=1000, help="Golden replies to rate.")
    ] = 120,
) -> None:
    """Run a complete bake-off on bundled data (SQLite, no other services) in about a minute."""
    from rich.console import Console

    from service.demo.run import run_demo

    console = Console()
    try:
        outcome = run_demo(
            workdir,
            console=console,
            n_digits=digits,
            n_scenes=scenes,
            n_pairs=pairs,
            n_ratings=ratings,
        )
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
    console.print(
        "Reports from the command line, then the dashboards and the QA review queue "
        "(paste these lines into a shell as they are; the first names the demo's database):"
    )
    for line in closing_commands(outcome.database_url, outcome.bakeoff_ids):
        # never wrapped or marked up: a wrapped line would not paste as one command
        console.print(f"  {line}", soft_wrap=True, markup=False, highlight=False)
    console.print("then open http://127.0.0.1:8000/ and sign in with one of these keys:")
    for role, key in outcome.keys.items():
        console.print(f"    {role:<7} {key}")
