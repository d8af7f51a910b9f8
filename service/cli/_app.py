"""The shared Typer application that command modules register on.

Help is plain text (``rich_markup_mode=None``): Typer's rich help imports ``rich.markdown``
and ``markdown_it`` on every ``--help``, which alone costs more than the 0.3 s start-up budget
on a loaded machine (``benchmarks/bench_cli_startup.py``). Command modules import their
heavy dependencies inside the command functions, never at import time.
"""

from __future__ import annotations

import typer

from service.cli._db import database_epilog

__all__ = ["app", "ends_with_command", "end_with_command"]

app = typer.Typer(
    name="bakeoff",
    help=(
        "Run labeling-vendor bake-offs: send a golden set to candidate vendors, "
        "score their labels against the expert's on accuracy, speed and cost, and rank them."
    ),
    epilog=database_epilog(),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"max_content_width": 120},
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


_ENDS_WITH_COMMAND: list[bool] = [False]


def end_with_command() -> None:
    """Declare that this process ends when the command returns (the ``bakeoff`` script)."""
    _ENDS_WITH_COMMAND[0] = True


def ends_with_command() -> bool:
    """Whether this process ends when the command returns (``False`` when a command runs
    inside another program, e.g. a test's ``CliRunner``: it must leave no state behind)."""
    return _ENDS_WITH_COMMAND[0]
