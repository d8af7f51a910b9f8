"""Stored scores: a bake-off's engine output kept in the database, read instead of recomputed.

:func:`service.domain.scoring.score_bakeoff` asks :func:`get_or_compute` for the scores of
a bake-off's current state, named by a *fingerprint* (a digest of everything the scores
depend on). The answer comes from, in order:

1. this process's memory (the last few decoded results);
2. the ``bakeoffscores`` table (:class:`service.models.BakeOffScoresRow`), stored when the
   labels landed (:mod:`service.domain.score_precompute`) or by an earlier read;
3. the engine, once: one writer per bake-off computes and stores while other readers wait
   for it and then read its row (a lock in this process and, on PostgreSQL, an advisory
   lock across processes; on SQLite two processes may both compute, and the second insert
   is dropped).

Rows are looked up by exact fingerprint, so a row of an older data version (or older
prices, gold, coverage floor or engine code) is never served; storing a new row deletes the
bake-off's older ones. Scores whose data changed while they were being computed are
returned to their caller but not stored.

Inside :func:`writing_behind` (``bakeoff report``), computed scores are encoded and stored on
a thread of their own while the caller goes on with them (the report ranks them meanwhile):
the writer lock is held until they are stored, reads and writes of rows next to them wait
for them, and the block's end waits for all.

Next to a scores row, :func:`read_leader` and :func:`store_leader` keep what the ranking made
of those scores for the project dashboard (a leader and a verdict line per ranking state,
:class:`service.models.BakeOffLeaderRow`), and :func:`read_replicates` and
:func:`store_replicates` the ranking's bootstrap replicates (what a report's ranking would
otherwise draw again, :class:`service.models.BakeOffReplicatesRow`); they go with the row when
it is replaced.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Hashable, Iterator
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, Executable, literal, text
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import SingletonThreadPool, StaticPool
from sqlmodel import Session

from service.core import scored_json
from service.core.types import utcnow
from service.domain._common import table_of
from service.models import BakeOff, BakeOffLeaderRow, BakeOffReplicatesRow, BakeOffScoresRow

__all__ = [
    "Found",
    "get_or_compute",
    "engine_of",
    "engine_token",
    "clear_memory",
    "stored_row_count",
    "is_stored",
    "read_leader",
    "store_leader",
    "read_replicates",
    "store_replicates",
    "writing_behind",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

_MEMORY: OrderedDict[Hashable, tuple[Any, datetime]] = OrderedDict()
_MEMORY_SIZE = 16
_LOCK = threading.Lock()
_WRITERS: dict[Hashable, threading.Lock] = {}
_TOKENS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()
# pg_advisory_lock(key1, key2): key1 names this use, key2 the bake-off
_ADVISORY_NAMESPACE = 0x5C0E
#: Inside :func:`writing_behind`: its scores being stored, by (engine token, bake-off id)
_BEHIND: ContextVar[dict[tuple[str, int], threading.Thread] | None] = ContextVar(
    "scores_written_behind", default=None
)


@dataclass(frozen=True)
class Found(Generic[T]):
    """Scores and where they came from.

    Attributes
    ----------
    value
        The scores.
    computed_at
        When the engine computed them.
    scored_now
        ``True`` when this call ran the engine (nothing was stored for this state).
    """

    value: T
    computed_at: datetime
    scored_now: bool


def engine_of(session: Session) -> Engine:
    """The engine behind a session."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def engine_token(engine: Engine) -> str:
    """A name for ``engine`` unique in this process's lifetime (``id()`` is reused once an
    engine is gone, e.g. between tests on in-memory databases): for keys of memory caches."""
    with _LOCK:
        token = _TOKENS.get(engine)
        if token is None:
            token = _TOKENS[engine] = uuid.uuid4().hex
        return token


def clear_memory() -> None:
    """Forget the decoded scores kept in this process (the stored rows stay)."""
    with _LOCK:
        _MEMORY.clear()


@contextmanager
def writing_behind() -> Iterator[None]:
    """Scores computed inside the block are stored on a thread of their own while the
    caller goes on with them; the block ends once every one is stored.

    Storing 100,000 items x 5 vendors' scores takes 0.2 s (0.1 s encoding, 0.1 s waiting for
    PostgreSQL): ``bakeoff report`` ranks them meanwhile. The writer lock stays held until
    they are stored, so another reader waits and then reads the row, as it would for a
    writer that stores before returning; rows stored next to the scores (the ranking's
    replicates) wait for them in this block. A bake-off whose scores share the caller's
    connection (an in-memory SQLite database) is stored before returning.
    """
    pending: dict[tuple[str, int], threading.Thread] = {}
    token = _BEHIND.set(pending)
    try:
        yield
    finally:
        _BEHIND.reset(token)
        for thread in list(pending.values()):
            thread.join()


def _behind(session: Session, bakeoff_id: int) -> threading.Thread | None:
    """The thread storing ``bakeoff_id``'s scores behind in this block, if any."""
    pending = _BEHIND.get()
    return pending.get((engine_token(engine_of(session)), bakeoff_id)) if pending else None


def _storing_behind(session: Session, bakeoff_id: int) -> bool:
    """Whether scores of ``bakeoff_id`` are still being stored behind (in this block)."""
    thread = _behind(session, bakeoff_id)
    return thread is not None and thread.is_alive()


def _stored_behind(session: Session, bakeoff_id: int) -> None:
    """Wait until scores of ``bakeoff_id`` being stored behind (in this block) are stored."""
    thread = _behind(session, bakeoff_id)
    if thread is not None:
        thread.join()


def stored_row_count(session: Session, bakeoff_id: int) -> int:
    """How many score rows are stored for a bake-off (tests, diagnostics)."""
    _stored_behind(session, bakeoff_id)
    table = table_of(BakeOffScoresRow)
    rows = session.execute(sa_select(table.c.id).where(table.c.bakeoff_id == bakeoff_id)).all()
    return len(rows)


def is_stored(session: Session, *, bakeoff_id: int, fingerprint: str) -> bool:
    """Whether scores are stored under ``fingerprint`` (committed, seen by a new snapshot)."""
    _stored_behind(session, bakeoff_id)
    table = table_of(BakeOffScoresRow)
    query = (
        sa_select(table.c.id)
        .where(table.c.bakeoff_id == bakeoff_id)
        .where(table.c.fingerprint == fingerprint)
    )
    with _link(session) as link:
        row = link.conn.execute(query).first()
        link.release()
    return row is not None


def _read(conn: Connection, bakeoff_id: int, fingerprint: str) -> tuple[bytes, datetime] | None:
    table = table_of(BakeOffScoresRow)
    row = conn.execute(
        sa_select(table.c.body, table.c.computed_at)
        .where(table.c.bakeoff_id == bakeoff_id)
        .where(table.c.fingerprint == fingerprint)
    ).first()
    return None if row is None else (bytes(row[0]), row[1])


def _data_version(conn: Connection, bakeoff_id: int) -> int | None:
    table = table_of(BakeOff)
    row = conn.execute(sa_select(table.c.data_version).where(table.c.id == bakeoff_id)).first()
    return None if row is None else int(row[0])


@dataclass(frozen=True)
class _Link:
    """A connection for the row: one of its own, or (an in-memory SQLite database, whose
    one connection every session shares) the caller's session's, never rolled back here."""

    conn: Connection
    session: Session
    shared: bool

    def release(self) -> None:
        """End this connection's read transaction (a snapshot must not outlive its use)."""
        if not self.shared:
            self.conn.rollback()

    def write(self, statements: list[Executable]) -> None:
        """Run ``statements`` in one transaction of their own and commit."""
        if self.shared:
            for statement in statements:
                self.session.execute(statement)
            self.session.commit()
            return
        self.conn.rollback()
        with self.conn.begin():
            for statement in statements:
                self.conn.execute(statement)


@contextmanager
def _link(session: Session) -> Iterator[_Link]:
    engine = engine_of(session)
    if isinstance(engine.pool, StaticPool | SingletonThreadPool):
        yield _Link(session.connection(), session, shared=True)
        return
    with engine.connect() as conn:
        yield _Link(conn, session, shared=False)


def _write(
    link: _Link,
    *,
    bakeoff_id: int,
    data_version: int,
    fingerprint: str,
    body: bytes,
    compute_s: float,
    computed_at: datetime,
) -> None:
    """Store one row and delete the bake-off's other rows (stale, or unreadable under the
    same fingerprint), in one transaction; the caller holds the writer lock."""
    table = table_of(BakeOffScoresRow)
    try:
        link.write(
            [
                table.delete().where(table.c.bakeoff_id == bakeoff_id),
                table.insert().values(
                    bakeoff_id=bakeoff_id,
                    data_version=data_version,
                    fingerprint=fingerprint,
                    body=body,
                    compute_s=compute_s,
                    computed_at=computed_at,
                ),
            ]
        )
    except IntegrityError:  # another process stored the same scores first (SQLite)
        log.info("scores of bake-off %s were stored by another process", bakeoff_id)


@contextmanager
def _one_writer(session: Session, bakeoff_id: int) -> Iterator[_Link]:
    """Hold the bake-off's writer lock (process; PostgreSQL: also across processes).

    Yields a connection of its own (not the caller's session, whose transaction may hold an
    older snapshot) for re-reading and writing the row.
    """
    engine = engine_of(session)
    key = (engine_token(engine), bakeoff_id)
    with _LOCK:
        lock = _WRITERS.setdefault(key, threading.Lock())
    with lock, _link(session) as link:
        advisory = engine.dialect.name == "postgresql"
        lock_args = {"a": _ADVISORY_NAMESPACE, "b": bakeoff_id}
        if advisory:  # PostgreSQL engines never share one connection (no StaticPool)
            link.conn.execute(text("SELECT pg_advisory_lock(:a, :b)"), lock_args)
            link.conn.commit()
        try:
            yield link
        finally:
            if advisory:
                link.conn.rollback()
                link.conn.execute(text("SELECT pg_advisory_unlock(:a, :b)"), lock_args)
                link.conn.commit()


def _remember(key: Hashable, value: Any, computed_at: datetime) -> None:
    with _LOCK:
        _MEMORY[key] = (value, computed_at)
        _MEMORY.move_to_end(key)
        while len(_MEMORY) > _MEMORY_SIZE:
            _MEMORY.popitem(last=False)


def get_or_compute(
    session: Session,
    *,
    bakeoff_id: int,
    data_version: int,
    fingerprint: str,
    compute: Callable[[], T],
    types: Collection[type],
) -> Found[T]:
    """The scores stored under ``fingerprint``; computed and stored once when there are none.

    Parameters
    ----------
    session
        The caller's session (``compute`` reads through it).
    bakeoff_id, data_version
        The bake-off and the data version ``fingerprint`` was taken at.
    fingerprint
        Digest of everything the scores depend on (see
        :func:`service.domain.scoring.score_bakeoff`).
    compute
        Runs the engine.
    types
        The caller's result dataclasses, besides the engine's own, that may be rebuilt from
        a stored row.
    """
    engine = engine_of(session)
    key = (engine_token(engine), bakeoff_id, fingerprint)
    with _LOCK:
        hit = _MEMORY.get(key)
        if hit is not None:
            _MEMORY.move_to_end(key)
            return Found(hit[0], hit[1], scored_now=False)
    with _link(session) as link:
        found = _decoded(_read(link.conn, bakeoff_id, fingerprint), types)
        link.release()
    if found is None:
        with ExitStack() as held:
            link = held.enter_context(_one_writer(session, bakeoff_id))
            # the writer we waited for may have stored it
            found = _decoded(_read(link.conn, bakeoff_id, fingerprint), types)
            link.release()
            if found is None:
                return _compute_and_store(
                    link,
                    held,
                    key=key,
                    bakeoff_id=bakeoff_id,
                    data_version=data_version,
                    fingerprint=fingerprint,
                    compute=compute,
                    types=types,
                )
    _remember(key, found.value, found.computed_at)
    return found


def _decoded(row: tuple[bytes, datetime] | None, types: Collection[type]) -> Found[Any] | None:
    """The scores of a stored row; ``None`` when there is none or it cannot be read (it is
    then recomputed and replaced, never served half-read)."""
    if row is None:
        return None
    try:
        value = scored_json.loads(row[0], types=types)
    except (ValueError, KeyError, TypeError):
        log.exception("stored scores cannot be read; computing them again")
        return None
    return Found(value, row[1], scored_now=False)


def _compute_and_store(
    link: _Link,
    held: ExitStack,
    *,
    key: Hashable,
    bakeoff_id: int,
    data_version: int,
    fingerprint: str,
    compute: Callable[[], T],
    types: Collection[type],
) -> Found[T]:
    """Compute, and store unless the data changed meanwhile; ``held`` holds the writer lock
    and ``link`` (storing behind, they go to the storing thread, which lets them go)."""
    started = time.perf_counter()
    computed_at = utcnow()
    value = compute()
    compute_s = time.perf_counter() - started
    changed = _data_version(link.conn, bakeoff_id) != data_version
    link.release()
    if changed:  # labels landed meanwhile: these scores may mix two versions
        return Found(value, computed_at, scored_now=True)

    def store() -> None:
        try:
            body = scored_json.dumps(value, types=types)
        except TypeError:  # a result type the codec cannot store exactly: serve, do not store
            log.exception("scores of bake-off %s cannot be stored", bakeoff_id)
            return
        _write(
            link,
            bakeoff_id=bakeoff_id,
            data_version=data_version,
            fingerprint=fingerprint,
            body=body,
            compute_s=compute_s,
            computed_at=computed_at,
        )
        _remember(key, value, computed_at)

    pending = _BEHIND.get()
    if pending is None or link.shared:
        store()
        return Found(value, computed_at, scored_now=True)
    _remember(key, value, computed_at)  # this process reads them from memory meanwhile
    lock_and_link = held.pop_all()  # let go by the storing thread once stored

    def store_then_let_go() -> None:
        with lock_and_link:
            try:
                store()
            except Exception:  # the scores are served; the next read computes them again
                log.exception("storing the scores of bake-off %s failed", bakeoff_id)

    thread = threading.Thread(target=store_then_let_go, name=f"store-scores-{bakeoff_id}")
    pending[(engine_token(engine_of(link.session)), bakeoff_id)] = thread
    thread.start()
    return Found(value, computed_at, scored_now=True)


def _read_beside(
    session: Session,
    table: Any,
    columns: tuple[str, ...],
    *,
    bakeoff_id: int,
    fingerprint: str,
    key: str,
) -> tuple[Any, ...] | None:
    """``columns`` of ``table``'s row for ``key`` next to the scores under ``fingerprint``;
    ``None`` when there is none (or the scores were replaced)."""
    if _storing_behind(session, bakeoff_id):  # nothing can be stored next to them yet
        return None
    scores = table_of(BakeOffScoresRow)
    query = (
        sa_select(*(table.c[name] for name in columns))
        .join(scores, scores.c.id == table.c.scores_id)
        .where(scores.c.bakeoff_id == bakeoff_id)
        .where(scores.c.fingerprint == fingerprint)
        .where(table.c.key == key)
    )
    with _link(session) as link:
        row = link.conn.execute(query).first()
        link.release()
    return None if row is None else tuple(row)


def _store_beside(
    session: Session,
    table: Any,
    values: dict[str, Any],
    *,
    bakeoff_id: int,
    fingerprint: str,
    key: str,
    what: str,
) -> None:
    """Insert ``values`` into ``table`` under ``key`` next to the scores under ``fingerprint``.

    Nothing is stored when no scores are stored under ``fingerprint`` (they were not kept,
    or newer ones replaced them meanwhile) or a row for ``key`` is there already.
    """
    _stored_behind(session, bakeoff_id)
    scores = table_of(BakeOffScoresRow)
    taken = (
        sa_select(table.c.id)
        .where(table.c.scores_id == scores.c.id)
        .where(table.c.key == key)
        .exists()
    )
    row = {"key": key, **values, "computed_at": utcnow()}
    source = (
        sa_select(
            scores.c.id, *(literal(value, type_=table.c[name].type) for name, value in row.items())
        )
        .where(scores.c.bakeoff_id == bakeoff_id)
        .where(scores.c.fingerprint == fingerprint)
        .where(~taken)
    )
    statement = table.insert().from_select(["scores_id", *row], source)
    with _link(session) as link:
        try:
            link.write([statement])
        except IntegrityError:  # stored by another process meanwhile, or its scores replaced
            if link.shared:
                session.rollback()
            log.info("%s of bake-off %s stored by another process", what, bakeoff_id)


def read_leader(
    session: Session, *, bakeoff_id: int, fingerprint: str, key: str
) -> tuple[str, str] | None:
    """The leader and verdict line stored next to the scores under ``fingerprint`` for the
    ranking state ``key``; ``None`` when there are none (or the scores were replaced)."""
    row = _read_beside(
        session,
        table_of(BakeOffLeaderRow),
        ("leader", "verdict"),
        bakeoff_id=bakeoff_id,
        fingerprint=fingerprint,
        key=key,
    )
    return None if row is None else (str(row[0]), str(row[1]))


def store_leader(
    session: Session, *, bakeoff_id: int, fingerprint: str, key: str, leader: str, verdict: str
) -> None:
    """Store a leader and verdict line next to the scores under ``fingerprint`` (see
    :func:`_store_beside`: never over another row, never without its scores)."""
    _store_beside(
        session,
        table_of(BakeOffLeaderRow),
        {"leader": leader, "verdict": verdict},
        bakeoff_id=bakeoff_id,
        fingerprint=fingerprint,
        key=key,
        what="the leader",
    )


def read_replicates(
    session: Session, *, bakeoff_id: int, fingerprint: str, key: str
) -> bytes | None:
    """The ranking's replicates stored under ``key`` next to the scores under
    ``fingerprint`` (compressed JSON); ``None`` when there are none."""
    row = _read_beside(
        session,
        table_of(BakeOffReplicatesRow),
        ("body",),
        bakeoff_id=bakeoff_id,
        fingerprint=fingerprint,
        key=key,
    )
    return None if row is None else bytes(row[0])


def store_replicates(
    session: Session, *, bakeoff_id: int, fingerprint: str, key: str, body: bytes
) -> None:
    """Store the ranking's replicates under ``key`` next to the scores under ``fingerprint``
    (see :func:`_store_beside`)."""
    _store_beside(
        session,
        table_of(BakeOffReplicatesRow),
        {"body": body},
        bakeoff_id=bakeoff_id,
        fingerprint=fingerprint,
        key=key,
        what="the replicates",
    )
