"""The shared Typer application that command modules register on."""

from __future__ import annotations

import typer

__all__ = ["app"]

app = typer.Typer(
    name="bakeoff",
    help=(
        "Run labeling-vendor bake-offs: send a golden set to candidate vendors, "
        "score their labels against the expert's on accuracy, speed and cost, and rank them."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
