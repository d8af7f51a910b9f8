"""The dispatch queue: Huey on a SQLite file by default, on Redis when configured.

Both use the same code path: :class:`RunQueue` builds the Huey instance from the settings
(``BAKEOFF_REDIS_URL`` set -> :class:`huey.RedisHuey`, otherwise :class:`huey.SqliteHuey`
on ``BAKEOFF_QUEUE_PATH`` or a file next to the SQLite database) and registers the tasks.

One Huey task, ``bakeoff.advance``, drives a run: it calls
:func:`service.domain.dispatch.tick` in a loop for ``dispatch_slice_s`` seconds, then
enqueues its successor. Each run has one *chain token* in Huey's key-value store; a kick
(start, resume, worker start-up) writes a new token, and an older chain that sees a token
not its own stops. A chain whose worker was killed leaves a stale heartbeat; the periodic
``bakeoff.resume`` task (every minute) and every worker start-up start a new chain for
each running bake-off, so no run is left behind. All state is in the database, so two
chains overlapping for a moment only repeat idempotent work.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from functools import lru_cache
from pathlib import Path

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab
from huey.consumer import Consumer
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from service.core.config import Settings, get_settings
from service.core.db import create_db_engine
from service.domain.dispatch import tick
from service.models import BakeOff

__all__ = ["RunQueue", "get_queue", "queue_location"]

log = logging.getLogger(__name__)


def queue_location(settings: Settings) -> str:
    """Where the queue lives: the Redis URL, the SQLite queue file, or ``":memory:"``.

    ``":memory:"`` (an in-process queue) is used only with an in-memory database, which no
    worker process could reach anyway.
    """
    if settings.redis_url:
        return settings.redis_url
    if settings.queue_path:
        return str(Path(settings.queue_path).expanduser())
    url = make_url(settings.database_url)
    database = url.database or ""
    if url.get_backend_name() == "sqlite":
        if not database or database.startswith((":memory:", "file::memory:")):
            return ":memory:"  # an in-memory database can only be served in-process
        return str(Path(database).expanduser().resolve().parent / "bakeoff-queue.db")
    return str(Path("bakeoff-data/bakeoff-queue.db").resolve())


def _make_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        return RedisHuey(name=settings.queue_name, url=settings.redis_url)
    location = queue_location(settings)
    if location == ":memory:":
        return MemoryHuey(name=settings.queue_name)
    path = Path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name=settings.queue_name, filename=str(path))


class RunQueue:
    """The Huey queue that runs bake-offs, and the tasks on it.

    Parameters
    ----------
    settings
        Service settings (database, queue and dispatch options).
    engine
        Database engine for the tasks; defaults to one for ``settings.database_url``.
    """

    def __init__(self, settings: Settings, *, engine: Engine | None = None) -> None:
        self.settings = settings
        self.huey = _make_huey(settings)
        self._engine = engine
        self._engine_lock = threading.Lock()
        self._advance = self.huey.task(name="bakeoff.advance")(self._advance_impl)
        self._resume = self.huey.periodic_task(crontab(minute="*"), name="bakeoff.resume")(
            self._resume_stale
        )
        # production deliveries (issue 15): submit once, then poll until the answers are in
        self._deliver = self.huey.task(name="delivery.advance")(self._deliver_impl)
        # delivery flag runs (issue 15, scale): chunk jobs any worker takes, swept each minute
        self._flag_chunk = self.huey.task(name="delivery.flag_chunk")(self._flag_chunk_impl)
        self._flag_sweep = self.huey.periodic_task(crontab(minute="*"), name="delivery.flag_sweep")(
            self.sweep_flag_runs
        )

    # -- public -------------------------------------------------------------------

    def kick(self, bakeoff_id: int) -> None:
        """Start a fresh chain for a run (an older chain for it stops at its next step)."""
        token = uuid.uuid4().hex
        self.huey.put(self._chain_key(bakeoff_id), token)
        self.huey.put(self._beat_key(bakeoff_id), time.time())
        self._advance(bakeoff_id, token)

    def kick_delivery(self, delivery_id: int) -> None:
        """Send a delivery to its vendor and collect the answers (on a worker)."""
        self._deliver(delivery_id)

    def kick_flag_run(self, run_id: int) -> int:
        """Enqueue every chunk of a flag run that no worker holds; the number enqueued."""
        from service.domain.delivery_jobs import advance_run

        with Session(self.engine) as session:
            chunk_ids = advance_run(session=session, run_id=run_id, sweep=True)
        return self.enqueue_flag_chunks(chunk_ids)

    def enqueue_flag_chunks(self, chunk_ids: list[int]) -> int:
        """Enqueue flag-run chunk jobs (a worker that finds one taken or done skips it)."""
        for chunk_id in chunk_ids:
            self._flag_chunk(chunk_id)
        return len(chunk_ids)

    def sweep_flag_runs(self) -> None:
        """Re-enqueue chunks of running flag runs whose worker died (expired lease)."""
        from service.models import DeliveryFlagRun

        with Session(self.engine) as session:
            running = session.exec(
                select(DeliveryFlagRun.id).where(DeliveryFlagRun.state == "running")
            ).all()
        for run_id in running:
            if run_id is not None:
                self.kick_flag_run(run_id)

    def resume_all(self, *, stale_after_s: float | None = None) -> list[int]:
        """Kick every running bake-off (only those whose chain is silent, if given)."""
        kicked: list[int] = []
        with Session(self.engine) as session:
            running = session.exec(select(BakeOff.id).where(BakeOff.status == "running")).all()
        for bakeoff_id in running:
            if bakeoff_id is None:
                continue
            if stale_after_s is not None:
                beat = self.huey.get(self._beat_key(bakeoff_id), peek=True)
                if isinstance(beat, float) and time.time() - beat < stale_after_s:
                    continue
            self.kick(bakeoff_id)
            kicked.append(bakeoff_id)
        return kicked

    def last_worker_beat(self, bakeoff_id: int) -> float | None:
        """Unix time of the last step a worker took on the run (``None``: never).

        Written only by the worker's chain (a kick from the web process does not count),
        so the pages can say when no worker has picked a started run up.
        """
        beat = self.huey.get(self._worker_key(bakeoff_id), peek=True)
        return float(beat) if isinstance(beat, int | float) else None

    def consumer(self, *, workers: int = 2) -> Consumer:
        """A Huey consumer (threads) for this queue; ``.run()`` blocks until signalled."""
        return self.huey.create_consumer(
            workers=workers,
            worker_type="thread",
            periodic=True,
            initial_delay=0.05,
            max_delay=1.0,
        )

    @property
    def engine(self) -> Engine:
        """The database engine the tasks use."""
        with self._engine_lock:
            if self._engine is None:
                self._engine = create_db_engine(self.settings.database_url)
            return self._engine

    # -- tasks ---------------------------------------------------------------------

    def _chain_key(self, bakeoff_id: int) -> str:
        return f"bakeoff.chain.{bakeoff_id}"

    def _beat_key(self, bakeoff_id: int) -> str:
        return f"bakeoff.beat.{bakeoff_id}"

    def _worker_key(self, bakeoff_id: int) -> str:
        return f"bakeoff.worker.{bakeoff_id}"

    def _advance_impl(self, bakeoff_id: int, token: str) -> None:
        settings = self.settings
        stop_at = time.monotonic() + settings.dispatch_slice_s
        while True:
            if self.huey.get(self._chain_key(bakeoff_id), peek=True) != token:
                return  # a newer chain took over
            self.huey.put(self._beat_key(bakeoff_id), time.time())
            self.huey.put(self._worker_key(bakeoff_id), time.time())
            try:
                with Session(self.engine) as session:
                    result = tick(session=session, bakeoff_id=bakeoff_id, settings=settings)
            except Exception:  # noqa: BLE001 - a step failing must not end the run
                log.exception("bake-off %s: dispatch step failed; retrying", bakeoff_id)
            else:
                if result.done or result.stopped:
                    return
            if time.monotonic() >= stop_at:
                self._advance(bakeoff_id, token)  # hand over to a fresh task
                return
            time.sleep(settings.dispatch_poll_interval_s)

    def _deliver_impl(self, delivery_id: int) -> None:
        from service.domain.delivery_dispatch import dispatch_step

        settings = self.settings
        stop_at = time.monotonic() + settings.dispatch_slice_s
        while True:
            try:
                with Session(self.engine) as session:
                    if dispatch_step(session=session, delivery_id=delivery_id, settings=settings):
                        return
            except Exception:  # noqa: BLE001 - a step failing must not end the delivery
                log.exception("delivery %s: dispatch step failed; retrying", delivery_id)
            if time.monotonic() >= stop_at:
                self._deliver(delivery_id)  # hand over to a fresh task
                return
            time.sleep(settings.dispatch_poll_interval_s)

    def _flag_chunk_impl(self, chunk_id: int) -> None:
        from service.domain.delivery_jobs import advance_run, process_chunk
        from service.models import DeliveryFlagChunk

        with Session(self.engine) as session:
            chunk = session.get(DeliveryFlagChunk, chunk_id)
            if chunk is None:
                return
            run_id = chunk.run_id
            process_chunk(session=session, chunk_id=chunk_id, settings=self.settings)
            follow = advance_run(session=session, run_id=run_id)
        for next_id in follow:
            self._flag_chunk(next_id)

    def _resume_stale(self) -> None:
        self.resume_all(stale_after_s=max(60.0, 3 * self.settings.dispatch_slice_s))


@lru_cache(maxsize=8)
def _cached(key: tuple[str, str, str]) -> RunQueue:
    del key
    return RunQueue(get_settings())


def get_queue(settings: Settings | None = None) -> RunQueue:
    """The process-wide queue for the current settings."""
    settings = settings or get_settings()
    if settings is get_settings():
        return _cached((queue_location(settings), settings.queue_name, settings.database_url))
    return RunQueue(settings)
