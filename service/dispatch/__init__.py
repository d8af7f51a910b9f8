"""Dispatch on Huey: the queue that runs bake-offs (SQLite by default, Redis when configured).

The rules of a run (the per-task state machine) live in :mod:`service.domain.dispatch`;
this package only schedules them. ``bakeoff worker`` runs :meth:`RunQueue.consumer`.
"""

from service.dispatch.queue import RunQueue, get_queue, queue_location

__all__ = ["RunQueue", "get_queue", "queue_location"]
