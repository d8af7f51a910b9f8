"""Read a bake-off's rows for the engine while the process is still starting.

A first report of 100,000 items x 5 vendors (nothing stored yet) waits about 1 s for
PostgreSQL to read and send half a million label and task rows, and spends about as long
importing the report's code before it even asks. :func:`start` asks first: a thread reads
the rows on a connection of its own while the main thread imports and reads the bake-off;
the engine then :func:`take` s them instead of reading them again (``bakeoff report``,
``benchmarks/bench_report_e2e.py``). Once the thread knows how many gold items there are, a
second thread draws the bootstrap resamples of that many items
(:func:`metrics.resampling.draw_resamples`, about 0.6 s of CPU for 100,000 items): the engine
uses them when it scores the prefetched rows, as it would have drawn them itself.

The rows are only used for the state they were read in. The thread reads, in one
``REPEATABLE READ`` snapshot, the bake-off's :func:`~service.domain.score_state.fingerprint`
(its data version, tasks, candidates, prices, gold version, code...) and its rows; the engine
takes them only under the fingerprint it is computing for, so rows read before labels
landed are never scored as the newer state. When scores are already stored under the
fingerprint (the default: they are computed when labels land) the thread reads nothing
more. PostgreSQL only: a SQLite file is read in the process itself, with nothing to overlap.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session

if TYPE_CHECKING:
    import pandas as pd

    from metrics.resampling import DrawnResamples
    from service.domain.score_state import StoredRows

__all__ = ["Prefetched", "start", "take"]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Prefetched:
    """Rows read ahead in one state (named by ``fingerprint``), and the resamples of its
    gold being drawn."""

    fingerprint: str
    rows: StoredRows
    drawing: Future[DrawnResamples]

    def resamples(self) -> DrawnResamples | None:
        """The drawn resamples, once drawn; ``None`` when drawing failed (the engine draws
        them itself)."""
        try:
            return self.drawing.result()
        except Exception:  # noqa: BLE001 - the engine draws them; say why it must
            log.warning("drawing resamples ahead failed; drawing them again", exc_info=True)
            return None


#: (database URL, bake-off id) -> the rows being read
_PENDING: dict[tuple[str, int], Future[Prefetched | None]] = {}
_LOCK = threading.Lock()
_SNAPSHOT_ID = re.compile(r"[0-9A-Fa-f]+(-[0-9A-Fa-f]+)+")


def start(bakeoff_id: int, *, n_resamples: int, seed: int) -> None:
    """Begin reading ``bakeoff_id``'s rows for scores with these bootstrap settings, on the
    configured database (:func:`service.core.db.get_engine`), in a thread of its own."""
    from service.core.db import get_engine

    engine = get_engine()
    if engine.dialect.name != "postgresql":
        return
    future = _in_thread(
        f"prefetch-bakeoff-{bakeoff_id}", _read, bakeoff_id, n_resamples, seed
    )  # a failure is handed to take(): the engine then reads the rows itself
    with _LOCK:
        _PENDING[(_name(engine), bakeoff_id)] = future


def take(session: Session, bakeoff_id: int, fingerprint: str) -> Prefetched | None:
    """What was prefetched for ``bakeoff_id`` in the state named by ``fingerprint``, once;
    ``None`` when none was started, the state differs, or the read failed (the caller
    reads the rows itself)."""
    bind = session.get_bind()
    with _LOCK:
        future = _PENDING.pop(
            (_name(bind if isinstance(bind, Engine) else bind.engine), bakeoff_id), None
        )
    if future is None:
        return None
    try:
        found = future.result()
    except Exception:  # noqa: BLE001 - the caller reads the rows; say why they were not ready
        log.warning("prefetching bake-off %s failed; reading it again", bakeoff_id, exc_info=True)
        return None
    if found is None or found.fingerprint != fingerprint:
        return None
    return found


def _name(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _read(bakeoff_id: int, n_resamples: int, seed: int) -> Prefetched | None:
    """The fingerprint and the rows of one snapshot, and its gold's resamples being drawn;
    ``None`` when there is nothing to read (no such bake-off, or its scores are stored).

    The labels, the tasks and the gold are read at once on three connections that share
    the snapshot (``pg_export_snapshot``): PostgreSQL's work on them (about 0.5, 0.3 and
    0.15 s for 100,000 items x 5 vendors) overlaps instead of adding up, and with the
    drawing of the resamples.
    """
    from service.core.db import get_engine
    from service.domain import score_state, score_store, stored_labels
    from service.domain._common import table_of
    from service.models import BakeOff, GoldLabel, Project

    engine = get_engine()
    with (
        engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
        Session(bind=conn) as session,
    ):
        bakeoff = session.get(BakeOff, bakeoff_id)
        project = None if bakeoff is None else session.get(Project, bakeoff.project_id)
        if bakeoff is None or project is None:
            return None
        digest = score_state.fingerprint(session, bakeoff, n_resamples=n_resamples, seed=seed)
        if score_store.is_stored(session, bakeoff_id=bakeoff_id, fingerprint=digest):
            return None
        snapshot = str(conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one())
        gl = table_of(GoldLabel)
        n_gold = session.execute(
            sa_select(func.count()).where(gl.c.version_id == bakeoff.golden_set_version_id)
        ).scalar_one()
        drawing = _in_thread(
            f"prefetch-resamples-{bakeoff_id}", _draw, int(n_gold), n_resamples, seed
        )
        with ThreadPoolExecutor(2, thread_name_prefix="prefetch-rows") as pool:
            labels = pool.submit(
                _in_snapshot, engine, snapshot, stored_labels.label_frame, bakeoff_id
            )
            tasks = pool.submit(
                _in_snapshot, engine, snapshot, stored_labels.task_frame, bakeoff_id
            )
            gold = score_state.read_gold(session, bakeoff, project.task_type)
            rows = score_state.StoredRows(gold, labels.result(), tasks.result())
        return Prefetched(digest, rows, drawing)


def _in_thread(name: str, work: Callable[..., T], *args: Any) -> Future[T]:
    """``work(*args)`` on a thread of its own: its result, or what it raised."""
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work(*args))
        except BaseException as exc:  # handed to whoever waits for the result
            future.set_exception(exc)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


def _draw(n_items: int, n_resamples: int, seed: int) -> DrawnResamples:
    from metrics.resampling import draw_resamples

    return draw_resamples(n_items, n_resamples=n_resamples, seed=seed)


def _in_snapshot(
    engine: Engine, snapshot: str, read: Callable[[Session, int], pd.DataFrame], bakeoff_id: int
) -> pd.DataFrame:
    """``read`` on a connection of its own that sees exactly the exported ``snapshot``."""
    if not _SNAPSHOT_ID.fullmatch(snapshot):  # inlined below: it cannot be a parameter
        raise ValueError(f"unexpected snapshot id {snapshot!r}")
    with (
        engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
        Session(bind=conn) as session,
    ):
        conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
        return read(session, bakeoff_id)
