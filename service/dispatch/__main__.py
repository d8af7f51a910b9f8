"""``python -m service.dispatch [--workers N]``: the same as ``bakeoff worker``.

It imports only the dispatch code, so it starts faster than the full command line.
"""

from __future__ import annotations

from service.cli.worker import worker_command

__all__: list[str] = []

if __name__ == "__main__":
    import typer

    typer.run(worker_command)
