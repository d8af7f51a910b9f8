"""Score a bake-off when its labels land, so that the first read after an import is a read.

Every import of labels (file imports, ``POST .../labels``, vendor callbacks, the worker's
fetch: all go through :func:`service.domain.vendor_labels.add_vendor_labels`) and every gold
correction calls :func:`after_change` once its transaction has committed. What happens
then is :attr:`service.core.config.Settings.scores_on_import`:

``"background"`` (default)
    The bake-off is queued for one thread of this process, which scores it
    (:func:`service.domain.scoring.score_bakeoff`, the defaults every door reads) and
    stores the result. The import answers at once. Imports arriving while a bake-off is
    being scored coalesce into one more run (a stream of callbacks does not score once per
    label). The thread is not a daemon: a CLI import finishes storing before it exits.
``"inline"``
    The import scores before it returns.
``"off"``
    Nothing: the first read computes and stores.

An in-memory SQLite database (tests) is always ``"off"``: another thread cannot share its
one connection safely. A read that arrives while the scores are being computed waits for
that computation (:mod:`service.domain.score_store`) instead of starting another.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Engine
from sqlmodel import Session

from service.core.config import get_settings
from service.domain import scoring
from service.domain.score_store import engine_of
from service.models import BakeOff

__all__ = ["after_change", "precompute", "wait_idle"]

log = logging.getLogger(__name__)

_LOCK = threading.Condition()
_PENDING: dict[tuple[int, int], tuple[Engine, int]] = {}  # (engine id, bake-off) -> job
_RUNNING: set[tuple[int, int]] = set()
_THREAD: list[threading.Thread] = []


def _in_memory(engine: Engine) -> bool:
    database = engine.url.database or ""
    return engine.dialect.name == "sqlite" and (
        not database or database.startswith((":memory:", "file::memory:"))
    )


def precompute(engine: Engine, bakeoff_id: int) -> None:
    """Score ``bakeoff_id`` at its current data version and store the scores (if needed)."""
    with Session(engine) as session:
        bakeoff = session.get(BakeOff, bakeoff_id)
        if bakeoff is None:  # deleted meanwhile
            return
        scoring.score_bakeoff(session=session, bakeoff=bakeoff)


def _work() -> None:
    while True:
        with _LOCK:
            ready = [k for k in _PENDING if k not in _RUNNING]
            if not ready:
                if not _PENDING:
                    _THREAD.clear()
                    _LOCK.notify_all()
                    return
                _LOCK.wait(0.05)
                continue
            key = ready[0]
            engine, bakeoff_id = _PENDING.pop(key)
            _RUNNING.add(key)
        try:
            precompute(engine, bakeoff_id)
        except Exception:  # the first read computes instead; the import already succeeded
            log.exception("scoring bake-off %s after an import failed", bakeoff_id)
        finally:
            with _LOCK:
                _RUNNING.discard(key)
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
