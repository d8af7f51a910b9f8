"""Score a bake-off when its labels land, so that the first read after an import is a read.

Every import of labels (file imports, ``POST .../labels``, vendor callbacks, the worker's
fetch: all go through :func:`service.domain.vendor_labels.add_vendor_labels`) and every gold
correction calls :func:`after_change` once its transaction has committed. What happens
then is :attr:`service.core.config.Settings.scores_on_import`:

``"background"`` (default)
    The bake-off is queued for one thread of this process, which scores it
    (:func:`service.domain.scoring.score_bakeoff`, the defaults every door reads) and
    stores the result, then ranks it and stores its leader next to the scores
    (:func:`service.domain.dashboards.store_leader_of`: the project dashboard's column).
    The import answers at once. Imports arriving while a bake-off is being scored
    coalesce into one more run, started no sooner than twice the last run's duration
    after it (a stream of callbacks does not score once per label, nor all the time).
    The thread is not a daemon: a CLI import finishes storing before it exits.
``"inline"``
    The import scores (and ranks) before it returns.
``"off"``
    Nothing: the first read computes and stores.

An in-memory SQLite database (tests) is always ``"off"``: another thread cannot share its
one connection safely. A read that arrives while the scores are being computed waits for
that computation (:mod:`service.domain.score_store`) instead of starting another.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine
from sqlmodel import Session

from service.core.config import get_settings
from service.domain import dashboards, scoring
from service.domain.score_store import engine_of
from service.models import BakeOff

__all__ = ["after_change", "precompute", "wait_idle"]

log = logging.getLogger(__name__)

_LOCK = threading.Condition()
_PENDING: dict[tuple[int, int], tuple[Engine, int]] = {}  # (engine id, bake-off) -> job
_RUNNING: set[tuple[int, int]] = set()
_THREAD: list[threading.Thread] = []
# A bake-off is scored again no sooner than this many times its last scoring's duration
# after it: a stream of callbacks (one label each) keeps the thread busy a third of the time
# at most, and a read in between computes what it needs itself.
_SPACING = 2.0
_NOT_BEFORE: dict[tuple[int, int], float] = {}


def _in_memory(engine: Engine) -> bool:
    database = engine.url.database or ""
    return engine.dialect.name == "sqlite" and (
        not database or database.startswith((":memory:", "file::memory:"))
    )


def precompute(engine: Engine, bakeoff_id: int) -> None:
    """Score ``bakeoff_id`` at its current data version and store the scores (if needed),
    then its leader (as readers who see vendor names are shown it)."""
    with Session(engine) as session:
        bakeoff = session.get(BakeOff, bakeoff_id)
        if bakeoff is None:  # deleted meanwhile
            return
        scoring.score_bakeoff(session=session, bakeoff=bakeoff)
        dashboards.store_leader_of(session, bakeoff)


def _work() -> None:
    while True:
        with _LOCK:
            if not _PENDING:
                _THREAD.clear()
                _LOCK.notify_all()
                return
            now = time.monotonic()
            key = min(_PENDING, key=lambda k: _NOT_BEFORE.get(k, 0.0))
            wait = _NOT_BEFORE.get(key, 0.0) - now
            if wait > 0:  # scored moments ago: let more labels land first
                _LOCK.wait(wait)
                continue
            engine, bakeoff_id = _PENDING.pop(key)
            _RUNNING.add(key)
        started = time.monotonic()
        try:
            precompute(engine, bakeoff_id)
        except Exception:  # the first read computes instead; the import already succeeded
            log.exception("scoring bake-off %s after an import failed", bakeoff_id)
        finally:
            finished = time.monotonic()
            with _LOCK:
                _RUNNING.discard(key)
                _NOT_BEFORE[key] = finished + _SPACING * (finished - started)
                _LOCK.notify_all()


def after_change(session: Session, bakeoff_id: int) -> None:
    """Labels or gold of ``bakeoff_id`` changed and were committed: score it (see above)."""
    mode = get_settings().scores_on_import
    engine = engine_of(session)
    if mode == "off" or _in_memory(engine):
        return
    if mode == "inline":
        precompute(engine, bakeoff_id)
        return
    with _LOCK:
        _PENDING[(id(engine), bakeoff_id)] = (engine, bakeoff_id)
        if not _THREAD:
            thread = threading.Thread(target=_work, name="bakeoff-scores", daemon=False)
            _THREAD.append(thread)
            thread.start()


def wait_idle(timeout: float | None = None) -> bool:
    """Wait until no bake-off is queued or being scored; ``False`` on timeout."""
    with _LOCK:
        return _LOCK.wait_for(lambda: not _PENDING and not _RUNNING, timeout)
