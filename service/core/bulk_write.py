"""Bulk reads and writes on the driver's own cursor, inside a session's transaction.

Storage mechanics only; the rules (what may be written) stay in :mod:`service.domain`.

* :func:`fetch_rows` runs a read query on the DB-API cursor (plain tuples: fast for 100k rows).
* :func:`append_rows` appends rows to a table: PostgreSQL ``COPY ... FROM STDIN`` (text format,
  one buffer per chunk, written by a second thread so the caller's parsing overlaps the
  database's work), SQLite ``executemany``, SQLAlchemy ``insert`` elsewhere.
* :func:`bulk_time` converts timestamps to what those paths take (they bypass SQLAlchemy's
  type processors).

Driver errors come out as SQLAlchemy's (:class:`~sqlalchemy.exc.IntegrityError` for a unique
violation, :class:`~sqlalchemy.exc.OperationalError` for a lost connection, which
:mod:`service.api.hardening` answers with 503), whichever thread met them.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, column
from sqlalchemy import table as sa_table
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from service.core.config import get_settings

__all__ = [
    "BulkTable",
    "VENDOR_LABELS",
    "VENDOR_LABEL_REPEATS",
    "append_rows",
    "bulk_time",
    "copy_text",
    "fetch_rows",
]

Row = tuple[Any, ...]
_Chunk = list[Row] | str


@dataclass(frozen=True)
class BulkTable:
    """A table as :func:`append_rows` writes it: its name and the columns of each row."""

    name: str
    columns: tuple[str, ...]
    render: Callable[[Sequence[Row]], str]
    """Rows as PostgreSQL ``COPY`` text (see :func:`copy_text`)."""


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _vendor_label_text(rows: Sequence[Row]) -> str:
    # One f-string per row: about twice as fast as a generic per-column renderer.
    null, esc = "\\N", _COPY_ESCAPES
    return "".join(
        [
            f"{b}\t{v}\t{i}\t{null if t is None else t}\t{ann.translate(esc)}\t"
            f"{null if ext is None else ext.translate(esc)}\t{val.translate(esc)}\t"
            f"{null if sc is None else repr(sc)}\t{null if st is None else st}\t"
            f"{null if ct is None else ct}\t{null if cost is None else repr(cost)}\t{iv}\t{cr}\n"
            for b, v, i, t, ann, ext, val, sc, st, ct, cost, iv, cr in rows
        ]
    )


VENDOR_LABELS = BulkTable(
    name="vendorlabel",
    columns=(
        "bakeoff_id",
        "vendor_id",
        "item_id",
        "task_id",
        "annotator_id",  # "" when none (NOT NULL: part of the unique answer key)
        "external_id",
        "value",  # JSON text
        "score",
        "started_at",
        "completed_at",
        "cost",
        "instructions_version",
        "created_at",
    ),
    render=_vendor_label_text,
)
"""``vendorlabel`` rows: ``value`` is JSON text, times come from :func:`bulk_time`."""


def _repeat_label_text(rows: Sequence[Row]) -> str:
    # a few rows per call (second sendings of pairs): the first sending's renderer, plus one
    return "".join(f"{_vendor_label_text([row[:-1]])[:-1]}\t{row[-1]}\n" for row in rows)


VENDOR_LABEL_REPEATS = BulkTable(
    name="vendorlabel",
    columns=(*VENDOR_LABELS.columns, "repeat"),
    render=_repeat_label_text,
)
"""``vendorlabel`` rows answering a preference pair's second sending: ``repeat`` last."""


def copy_text(table: BulkTable, rows: Sequence[Row]) -> str:
    """``rows`` in PostgreSQL ``COPY ... FROM STDIN`` text format (times already strings)."""
    return table.render(rows)


def bulk_time(session: Session) -> Callable[[datetime | None], Any]:
    """A function turning a timestamp into what this database's bulk path stores."""
    dialect = session.connection().dialect.name
    if dialect == "sqlite":
        return _sqlite_time
    if dialect == "postgresql":
        return _postgres_time
    return _as_is  # pragma: no cover - other databases go through SQLAlchemy


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _postgres_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()


def _as_is(value: datetime | None) -> datetime | None:  # pragma: no cover - other databases
    return value


def _translated(connection: Connection, statement: str, exc: BaseException) -> BaseException:
    """A DB-API error as SQLAlchemy's (``IntegrityError``, ``OperationalError``...).

    A lost connection is invalidated, so the pool replaces it.
    """
    dbapi: Any = connection.dialect.loaded_dbapi
    if not isinstance(exc, dbapi.Error):
        return exc
    disconnect = connection.dialect.is_disconnect(exc, connection.connection, None)
    if disconnect and not connection.invalidated:
        connection.invalidate(exc)
    translated: BaseException = DBAPIError.instance(
        statement, None, exc, dbapi.Error, connection_invalidated=disconnect
    )
    return translated


def fetch_rows(session: Session, sql: str, params: tuple[Any, ...]) -> list[Row]:
    """Run a read query on the driver's own cursor, in the session's transaction.

    ``sql`` marks parameters with ``{}``.
    """
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql") and raw is not None:
        statement = sql.replace("{}", "?" if dialect == "sqlite" else "%s")
        cursor = raw.cursor()
        try:
            cursor.execute(statement, params)
            return list(cursor.fetchall())
        except Exception as exc:
            raise _translated(connection, statement, exc) from exc
        finally:
            cursor.close()
    names = {f"p{i}": v for i, v in enumerate(params)}  # pragma: no cover - other databases
    statement = sql.format(*(f":p{i}" for i in range(len(params))))  # pragma: no cover
    return [
        tuple(r) for r in connection.exec_driver_sql(statement, names).all()
    ]  # pragma: no cover


def write_copy(copy: Any, text: str) -> None:
    """Send ``text`` into an open ``COPY`` (a seam for the fault tests)."""
    copy.write(text)


class BulkWriter:
    """Append chunks of rows to one table in the connection's transaction."""

    def __init__(self, connection: Connection, table: BulkTable) -> None:
        self.connection = connection
        self.table = table
        self.dialect = connection.dialect.name
        self.raw: Any = connection.connection.driver_connection
        names = ", ".join(table.columns)
        self._copy_sql = f"COPY {table.name} ({names}) FROM STDIN"
        marks = ", ".join("?" for _ in table.columns)
        self._insert_sql = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"

    def prepare(self, rows: list[Row]) -> _Chunk:
        """A chunk as :meth:`write` takes it: on PostgreSQL its ``COPY`` text.

        :class:`_Pipeline` calls this in the caller's thread: rendered in the writer thread,
        the text kept PostgreSQL idle between one chunk's ``COPY`` and the next (about a
        quarter of an import's time); rendered here, the next chunk's text waits ready.
        """
        return self.table.render(rows) if self.dialect == "postgresql" and rows else rows

    def write(self, rows: _Chunk) -> None:
        """Write one chunk: rows, or (PostgreSQL) their ``COPY`` text from :meth:`prepare`."""
        if not rows:
            return
        if self.dialect == "postgresql":
            text = rows if isinstance(rows, str) else self.table.render(rows)
            try:
                with self.raw.cursor() as cursor, cursor.copy(self._copy_sql) as copy:
                    write_copy(copy, text)
            except Exception as exc:
                raise _translated(self.connection, self._copy_sql, exc) from exc
            return
        if isinstance(rows, str):  # pragma: no cover - prepare() renders text for PostgreSQL only
            raise TypeError("COPY text given to a database without COPY")
        if self.dialect == "sqlite":
            cursor = self.raw.cursor()
            try:
                cursor.executemany(self._insert_sql, rows)
            except Exception as exc:
                raise _translated(self.connection, self._insert_sql, exc) from exc
            finally:
                cursor.close()
            return
        target = sa_table(self.table.name, *(column(c) for c in self.table.columns))
        self.connection.execute(  # pragma: no cover - other databases
            target.insert(), [dict(zip(self.table.columns, r, strict=True)) for r in rows]
        )


class _Pipeline:
    """Feed a :class:`BulkWriter` from a second thread, so the caller's work overlaps writing.

    The drivers release the GIL while the database works (PostgreSQL ``COPY``), so the next
    chunk is read and checked meanwhile. Chunks are written in order on the session's one
    connection, in its transaction; at most two wait in the queue. Only the writer thread
    touches the connection until :meth:`close` returns.
    """

    def __init__(self, writer: BulkWriter, *, threaded: bool) -> None:
        self._writer = writer
        self._queue: queue.Queue[_Chunk | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._threaded = threaded
        self._thread = threading.Thread(target=self._run, name="bulk-writer", daemon=True)
        if threaded:
            self._thread.start()

    def _run(self) -> None:
        while (rows := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write(rows)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    self._error = exc

    def put(self, rows: list[Row]) -> None:
        """Queue a chunk (blocks while two are waiting); re-raise a write error."""
        if not self._threaded:
            self._writer.write(rows)
            return
        if self._error is not None:
            raise self._error
        self._queue.put(self._writer.prepare(rows))

    def close(self) -> None:
        """Wait until every chunk is written; re-raise a write error."""
        if not self._threaded:
            return
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def abort(self) -> None:
        """Stop after the chunk in progress (its error is dropped: the caller rolls back)."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self._queue.put(None)
            self._thread.join()


def append_rows(
    session: Session, table: BulkTable, rows: Iterable[Row], *, batch_size: int | None = None
) -> int:
    """Append ``rows`` to ``table`` inside the session's transaction; returns how many.

    ``rows`` is consumed once, ``batch_size`` rows at a time (default: the
    ``import_batch_size`` setting); it may raise to stop the write. Nothing is committed:
    on any error (from ``rows`` or the database) the caller rolls back.

    Raises
    ------
    sqlalchemy.exc.IntegrityError
        A row breaks a constraint (a unique key stored meanwhile by another transaction).
    sqlalchemy.exc.OperationalError
        The connection was lost.
    """
    size = batch_size or get_settings().import_batch_size
    writer = BulkWriter(session.connection(), table)
    # SQLite's executemany holds the GIL for every row: a second thread would only contend
    pipeline = _Pipeline(writer, threaded=writer.dialect == "postgresql")
    written = 0
    chunk: list[Row] = []
    append = chunk.append
    try:
        for row in rows:
            append(row)
            if len(chunk) >= size:
                pipeline.put(chunk)
                written += len(chunk)
                chunk = []
                append = chunk.append
        pipeline.put(chunk)
        written += len(chunk)
        pipeline.close()
    except BaseException:
        pipeline.abort()
        raise
    return written
