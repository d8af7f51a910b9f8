"""Entry point of the ``bakeoff`` command.

Each sub-command lives in its own module under :mod:`service.cli` and registers
itself on :data:`service.cli._app.app` when imported; the imports below wire them in
(one line per command module, kept sorted).
"""

from __future__ import annotations

import gc

import service.cli.demo  # noqa: F401  (bakeoff demo)
import service.cli.evaluate  # noqa: F401  (bakeoff evaluate, bakeoff agreement)
import service.cli.export  # noqa: F401  (bakeoff export gold|labels)
import service.cli.import_  # noqa: F401  (bakeoff import gold|labels)
import service.cli.keys  # noqa: F401  (bakeoff keys create/list/revoke)
import service.cli.report  # noqa: F401  (bakeoff report)
import service.cli.run  # noqa: F401  (bakeoff run)
import service.cli.serve  # noqa: F401  (bakeoff serve)
import service.cli.worker  # noqa: F401  (bakeoff worker)
from service.cli._app import app, end_with_command

__all__ = ["app", "main"]


def main() -> None:
    """Run the ``bakeoff`` command line; the process ends when it returns.

    On the way out every object is frozen (:func:`gc.freeze`): the interpreter's last
    garbage collection then leaves them to the operating system instead of walking them
    one by one, which cost 0.4 s of CPU after ``bakeoff report`` of 100,000 items x 5
    vendors had written its files. Only the process's end is affected (objects are still
    freed as their last reference goes; cycles are left for the exit to reclaim).
    """
    end_with_command()
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()
