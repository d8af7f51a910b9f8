"""Vendor labels: validate and store them exactly once, in bulk, in one transaction.

:func:`add_vendor_labels` is the one entry point for every way labels arrive (JSON body, file
import, dispatch callbacks). It streams the records in chunks, checks each against the bake-off's
pinned golden-set version and the project's ontology, skips records already stored (same
``external_key`` for the same bake-off and vendor), and writes the rest with PostgreSQL ``COPY`` or
SQLite ``executemany``. Any bad record raises :class:`~service.domain.errors.Invalid` naming it and
nothing from the call is stored.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Collection, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import Connection, and_, func, tuple_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from adapters.base import VendorAnnotation
from adapters.formats.csv import LabelRow
from service.core.config import get_settings
from service.core.types import utcnow
from service.domain import idempotency
from service.domain._common import table_of
from service.domain.access import check_vendor, is_vendor
from service.domain.bakeoffs import bump_data_version, check_candidate, get_bakeoff
from service.domain.errors import Conflict, Invalid
from service.domain.label_times import check_label_times
from service.domain.labels import check_finite, normalize_value
from service.domain.projects import class_names
from service.domain.security import Principal
from service.models import (
    BakeOff,
    GoldenItem,
    GoldLabel,
    ImportResult,
    InstructionsVersion,
    Project,
    Task,
    VendorLabel,
    VendorLabelCreate,
    VendorLabelPublic,
)

__all__ = [
    "LabelIn",
    "LabelRecord",
    "add_vendor_labels",
    "list_vendor_labels",
    "iter_vendor_labels",
    "external_key",
    "pinned_item_ids",
    "item_data",
]


class LabelIn(NamedTuple):
    """A light label record (what the CSV reader produces): no validation on construction.

    ``row`` is the record's row in its file, used in error messages.
    """

    item_key: str
    value: Any
    annotator_id: str | None = None
    score: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cost: float | None = None
    instructions_version: int | None = None
    external_id: str | None = None
    row: int | None = None


LabelRecord = VendorAnnotation | VendorLabelCreate | LabelIn | LabelRow

# Up to this many known items, lookups read only their rows (see add_vendor_labels).
_NARROW_LOOKUP_MAX = 1000

_COLUMNS = (
    "bakeoff_id",
    "vendor_id",
    "item_id",
    "task_id",
    "external_key",
    "value",
    "annotator_id",
    "score",
    "started_at",
    "completed_at",
    "cost",
    "instructions_version",
    "created_at",
)


def external_key(item_key: str, annotator_id: str | None, external_id: str | None) -> str:
    """The key that makes a label unique per (bake-off, vendor).

    The vendor's own answer id (with the item key) when it gives one, else
    ``"<item key>|<annotator id>"``: one answer per item and annotator.
    """
    if external_id:
        return f"x:{item_key}|{external_id}"
    return f"{item_key}|{annotator_id or ''}"


def _raw_rows(session: Session, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """Run a read query on the driver's own cursor (plain tuples; fast for 100k rows).

    ``sql`` marks parameters with ``{}``; it runs inside the session's transaction.
    """
    connection = session.connection()
    raw: Any = connection.connection.driver_connection
    dialect = connection.dialect.name
    if dialect in ("sqlite", "postgresql") and raw is not None:
        marker = "?" if dialect == "sqlite" else "%s"
        cursor = raw.cursor()
        try:
            cursor.execute(sql.replace("{}", marker), params)
            return list(cursor.fetchall())
        finally:
            cursor.close()
    names = {f"p{i}": v for i, v in enumerate(params)}  # pragma: no cover - other databases
    statement = sql.format(*(f":p{i}" for i in range(len(params))))  # pragma: no cover
    return [
        tuple(r) for r in connection.exec_driver_sql(statement, names).all()
    ]  # pragma: no cover


def pinned_item_ids(
    session: Session, version_id: int, *, keys: Collection[str] | None = None
) -> dict[str, int]:
    """``{item key: item id}`` of the items with gold in a golden-set version (or of ``keys``)."""
    if keys is not None:
        gold, item = table_of(GoldLabel), table_of(GoldenItem)
        found = session.execute(
            sa_select(item.c.key, item.c.id)
            .join(gold, gold.c.item_id == item.c.id)
            .where(gold.c.version_id == version_id)
            .where(item.c.key.in_(list(keys)))
        ).all()
        return {str(k): int(i) for k, i in found}
    rows = _raw_rows(
        session,
        "SELECT i.key, i.id FROM goldenitem i JOIN goldlabel g ON g.item_id = i.id "
        "WHERE g.version_id = {}",
        (version_id,),
    )
    return dict(rows)


def item_data(session: Session, bakeoff: BakeOff) -> dict[str, dict[str, Any]]:
    """``{item key: item data}`` of the bake-off's pinned golden-set version (for exporters)."""
    gold, item = table_of(GoldLabel), table_of(GoldenItem)
    rows = session.execute(
        sa_select(item.c.key, item.c.data)
        .join(gold, gold.c.item_id == item.c.id)
        .where(gold.c.version_id == bakeoff.golden_set_version_id)
    ).all()
    return {r[0]: dict(r[1] or {}) for r in rows}


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(utcnow().tzinfo).replace(tzinfo=None)
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_buffer(rows: list[tuple[Any, ...]]) -> str:
    """Rows in PostgreSQL ``COPY ... FROM STDIN`` text format (times already ISO strings)."""
    null, esc = "\\N", _COPY_ESCAPES
    return "".join(
        [
            f"{b}\t{v}\t{i}\t{null if t is None else t}\t{ek.translate(esc)}\t"
            f"{val.translate(esc)}\t{null if ann is None else ann.translate(esc)}\t"
            f"{null if sc is None else repr(sc)}\t{null if st is None else st}\t"
            f"{null if ct is None else ct}\t{null if cost is None else repr(cost)}\t{iv}\t{cr}\n"
            for b, v, i, t, ek, val, ann, sc, st, ct, cost, iv, cr in rows
        ]
    )


_Chunk = list[tuple[Any, ...]] | str


class _Writer:
    """Append rows to ``vendorlabel`` inside the session's transaction, fast.

    PostgreSQL: ``COPY ... FROM STDIN`` in text format, one buffer per chunk. SQLite:
    ``executemany`` on the driver's cursor. Rows come in :data:`_COLUMNS` order with times
    already converted by :meth:`time` (the bulk paths bypass SQLAlchemy's type processors).
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect.name
        self.raw: Any = connection.connection.driver_connection

    def time(self, value: datetime | None) -> Any:
        """A timestamp as this database's bulk path wants it."""
        if value is None:
            return None
        if self.dialect == "sqlite":
            return _sqlite_time(value)
        if self.dialect == "postgresql":
            return value.isoformat() if value.tzinfo else value.replace(tzinfo=UTC).isoformat()
        return value

    def prepare(self, rows: list[tuple[Any, ...]]) -> _Chunk:
        """A chunk as :meth:`write` takes it: on PostgreSQL its ``COPY`` text.

        :class:`_Pipeline` calls this in the parsing thread. Rendered in the writer thread,
        the text kept PostgreSQL idle between one chunk's ``COPY`` and the next (about a
        quarter of the import's time); rendered here, the next chunk's text waits ready in
        the queue.
        """
        return _copy_buffer(rows) if self.dialect == "postgresql" and rows else rows

    def write(self, rows: _Chunk) -> None:
        """Write one chunk: rows, or (PostgreSQL) their ``COPY`` text from :meth:`prepare`."""
        if not rows:
            return
        if self.dialect == "postgresql":
            text = rows if isinstance(rows, str) else _copy_buffer(rows)
            with self.raw.cursor() as cursor:
                with cursor.copy(f"COPY vendorlabel ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                    copy.write(text)
            return
        if isinstance(rows, str):  # pragma: no cover - prepare() renders text for PostgreSQL only
            raise TypeError("COPY text given to a database without COPY")
        if self.dialect == "sqlite":
            placeholders = ", ".join("?" for _ in _COLUMNS)
            cursor = self.raw.cursor()
            try:
                cursor.executemany(
                    f"INSERT INTO vendorlabel ({', '.join(_COLUMNS)}) VALUES ({placeholders})",
                    rows,
                )
            finally:
                cursor.close()
            return
        table = table_of(VendorLabel)  # pragma: no cover - other databases
        self.connection.execute(table.insert(), [dict(zip(_COLUMNS, r, strict=True)) for r in rows])


class _Pipeline:
    """Feed :class:`_Writer` from a second thread, so parsing overlaps the database's work.

    The drivers release the GIL while the database works (SQLite ``executemany``, PostgreSQL
    ``COPY``), so the next chunk is read and checked meanwhile. Chunks are written in order on
    the session's one connection, in its transaction; at most two wait in the queue. Only this
    thread touches the connection until :meth:`close` returns.
    """

    def __init__(self, writer: _Writer, *, threaded: bool) -> None:
        self._writer = writer
        self._queue: queue.Queue[_Chunk | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="vendorlabel-writer", daemon=True)
        self._threaded = threaded
        if threaded:
            self._thread.start()

    def _run(self) -> None:
        while (rows := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._writer.write(rows)
                except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                    self._error = exc

    def put(self, rows: list[tuple[Any, ...]]) -> None:
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
        """Stop after the chunk in progress (errors are dropped: the caller rolls back)."""
        if self._thread.is_alive():
            self._error = self._error or RuntimeError("aborted")
            self._queue.put(None)
            self._thread.join()


def _record_fields(
    record: LabelRecord,
) -> tuple[str, Any, str | None, float | None, Any, Any, float | None, int | None, str | None]:
    if isinstance(record, LabelIn):
        return record[:9]
    if isinstance(record, LabelRow):
        return (record.item_id, record.label, None, None, None, None, None, None, None)
    if isinstance(record, VendorAnnotation):
        return (
            record.item_id,
            record.label,
            record.annotator_id,
            record.score,
            record.started_at,
            record.completed_at,
            record.cost,
            record.instructions_version,
            record.external_id,
        )
    return (
        record.item_key,
        record.value,
        record.annotator_id,
        record.score,
        record.started_at,
        record.completed_at,
        record.cost,
        record.instructions_version,
        record.external_id,
    )


def _where(record: LabelRecord, number: int) -> str:
    row = record.row if isinstance(record, LabelIn | LabelRow) else None
    return f"row {row}" if row is not None else f"record {number}"


def add_vendor_labels(
    *,
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    records: Iterable[LabelRecord],
    principal: Principal | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    source: str = "labels",
    only_items: Collection[str] | None = None,
) -> ImportResult:
    """Store a vendor's labels for a bake-off, each exactly once, in one transaction.

    Parameters
    ----------
    session
        Database session; committed on success, rolled back on any error.
    bakeoff_id, vendor_id
        Where the labels belong; the vendor must be a candidate of the bake-off.
    records
        :class:`adapters.base.VendorAnnotation` (from the format readers and adapters) or
        :class:`service.models.VendorLabelCreate`; consumed once, in chunks.
    principal
        The caller; a vendor key may only post its own vendor's labels.
    idempotency_key, fingerprint
        With a key, a request re-sent with the same key (and body fingerprint) is answered
        from the stored result and stores nothing.
    source
        Name used in error messages (a file name).
    only_items
        The item keys the records name, when the caller knows them (a vendor callback of a
        few items): lookups then read those items' rows, not the whole golden set's. A record
        naming another item is refused as outside the pinned version.

    Returns
    -------
    ImportResult
        ``received``, ``stored`` and ``duplicates`` (already stored, skipped).

    Raises
    ------
    Invalid
        A record names an item outside the pinned golden-set version, an unknown class, or a
        value of the wrong shape; the location names the record (1-based) and the field.
    Conflict
        The idempotency key was used with another body, or a concurrent import stored the
        same labels first (retry).
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    check_vendor(principal, vendor_id)
    check_candidate(session, bakeoff_id, vendor_id)
    scope = f"labels:{bakeoff_id}:{vendor_id}"
    stored = idempotency.lookup(session, scope=scope, key=idempotency_key, fingerprint=fingerprint)
    if stored is not None:
        return ImportResult.model_validate({**stored, "replayed": True})

    project = session.get(Project, bakeoff.project_id)
    instructions = session.get(InstructionsVersion, bakeoff.instructions_version_id)
    if project is None or instructions is None:  # pragma: no cover - foreign keys
        raise Conflict(f"bake-off {bakeoff_id} lost its project or instructions")
    task_type = project.task_type
    classes = frozenset(class_names(project))
    # A small, known set of items (callbacks) reads only their rows; a bulk import reads the
    # golden set once, which is cheaper than one lookup per chunk.
    narrow = only_items is not None and len(only_items) <= _NARROW_LOOKUP_MAX
    items = pinned_item_ids(
        session, bakeoff.golden_set_version_id, keys=only_items if narrow else None
    )
    task, label = table_of(Task), table_of(VendorLabel)
    in_items = list(items.values())
    existing_query = sa_select(label.c.external_key).where(
        and_(label.c.bakeoff_id == bakeoff_id, label.c.vendor_id == vendor_id)
    )
    task_query = sa_select(task.c.item_id, task.c.id, task.c.sent_at).where(
        and_(task.c.bakeoff_id == bakeoff_id, task.c.vendor_id == vendor_id)
    )
    if narrow:
        existing_query = existing_query.where(label.c.item_id.in_(in_items))
        task_query = task_query.where(task.c.item_id.in_(in_items))
        existing: set[str] = set(session.execute(existing_query).scalars())
    else:
        existing = {
            r[0]
            for r in _raw_rows(
                session,
                "SELECT external_key FROM vendorlabel WHERE bakeoff_id = {} AND vendor_id = {}",
                (bakeoff_id, vendor_id),
            )
        }
    task_rows = session.execute(task_query).all()
    tasks: dict[int, int] = {r[0]: r[1] for r in task_rows}
    sent_at: dict[int, datetime] = {r[0]: r[2] for r in task_rows if r[2] is not None}
    writer = _Writer(session.connection())
    batch_size = get_settings().import_batch_size
    # a vendor key's labels of items never sent cannot predate the bake-off (label_times)
    created_floor = bakeoff.created_at if is_vendor(principal) else None
    now = utcnow()
    created = writer.time(now)
    pinned_version = instructions.version
    dumped: dict[str, str] = {c: json.dumps(c) for c in classes}  # classification fast path
    fast = task_type == "classification"
    received = written = duplicates = 0
    chunk: list[tuple[Any, ...]] = []
    labeled_tasks: set[int] = set()
    key: str
    value: Any
    annotator: str | None
    score: float | None
    started: datetime | None
    completed: datetime | None
    cost: float | None
    ins_version: int | None
    ext: str | None
    # SQLite's executemany needs the GIL for every row: a second thread would only contend
    pipeline = _Pipeline(writer, threaded=writer.dialect == "postgresql")
    # bound once: the classification fast path below runs per label
    items_get, dumped_get, tasks_get = items.get, dumped.get, tasks.get
    existing_add, labeled_add, append = existing.add, labeled_tasks.add, chunk.append
    number = 0
    try:
        for number, record in enumerate(records, start=1):
            # Fast path: a CSV row (already checked by its reader) naming a pinned item and
            # a known class needs no normalising and has no optional fields. Anything else,
            # errors included, takes the general path below, which names the row.
            if fast and type(record) is LabelRow:
                key = record[0]
                item_id = items_get(key)
                json_text = dumped_get(record[1])
                if item_id is not None and json_text is not None:
                    ekey = key + "|"  # external_key(key, None, None)
                    if ekey in existing:
                        duplicates += 1
                        continue
                    existing_add(ekey)
                    task_id = tasks_get(item_id)
                    if task_id is not None:
                        labeled_add(task_id)
                    append(
                        (
                            bakeoff_id,
                            vendor_id,
                            item_id,
                            task_id,
                            ekey,
                            json_text,
                            None,
                            None,
                            None,
                            None,
                            None,
                            pinned_version,
                            created,
                        )
                    )
                    if len(chunk) >= batch_size:
                        pipeline.put(chunk)
                        written += len(chunk)
                        chunk = []
                        append = chunk.append
                    continue
            if isinstance(record, LabelRow):
                key, value, annotator, ext = record.item_id, record.label, None, None
                score = started = completed = None
                cost = None
                ins_version = None
            elif isinstance(record, LabelIn):
                key, value, annotator, score, started, completed, cost, ins_version, ext, _ = record
            else:
                key, value, annotator, score, started, completed, cost, ins_version, ext = (
                    _record_fields(record)
                )
            item_id = items.get(key)
            if item_id is None:
                where = _where(record, number)
                raise Invalid(
                    f"{source}: {where}: item {key!r} is not in the golden-set version "
                    f"pinned by bake-off {bakeoff_id}",
                    location=("body", where, "item_id"),
                )
            json_text = dumped.get(value) if fast and isinstance(value, str) else None
            if json_text is None:
                where = _where(record, number)
                try:
                    json_text = json.dumps(
                        normalize_value(
                            value,
                            task_type=task_type,
                            classes=classes,
                            where=("body", where, "label"),
                        )
                    )
                except Invalid as exc:
                    raise Invalid(
                        f"{source}: {where}: {exc.message}", location=exc.location
                    ) from exc
            if score is not None:
                check_finite(score, ("body", _where(record, number), "score"))
            if cost is not None:
                check_finite(cost, ("body", _where(record, number), "cost"))
            if started is not None or completed is not None:
                check_label_times(
                    started,
                    completed,
                    sent_at=sent_at.get(item_id),
                    now=now,
                    where=_where(record, number),
                    source=source,
                    created_at=created_floor,
                )
            ekey = f"x:{key}|{ext}" if ext else f"{key}|{annotator or ''}"
            if ekey in existing:
                duplicates += 1
                continue
            existing.add(ekey)
            task_id = tasks.get(item_id)
            if task_id is not None:
                labeled_tasks.add(task_id)
            append(
                (
                    bakeoff_id,
                    vendor_id,
                    item_id,
                    task_id,
                    ekey,
                    json_text,
                    annotator,
                    score,
                    None if started is None else writer.time(started),
                    None if completed is None else writer.time(completed),
                    cost,
                    ins_version or pinned_version,
                    created,
                )
            )
            if len(chunk) >= batch_size:
                pipeline.put(chunk)
                written += len(chunk)
                chunk = []
                append = chunk.append
        received = number
        pipeline.put(chunk)
        written += len(chunk)
        pipeline.close()
        if written:
            # Only the tasks of items labeled by this call can change (by primary key: a
            # semi-join over all of the vendor's labels made every callback O(labels so far)).
            ordered = sorted(labeled_tasks)
            for start in range(0, len(ordered), 5000):
                session.execute(
                    task.update()
                    .where(task.c.id.in_(ordered[start : start + 5000]))
                    .where(task.c.status != "received")
                    .values(
                        status="received",
                        completed_at=func.coalesce(task.c.completed_at, now),
                        updated_at=now,
                    )
                )
            bump_data_version(session, bakeoff_id)
        result = ImportResult(received=received, stored=written, duplicates=duplicates)
        idempotency.remember(
            session,
            scope=scope,
            key=idempotency_key,
            fingerprint=fingerprint,
            response=result.model_dump(mode="json"),
        )
        session.commit()
    except IntegrityError as exc:
        pipeline.abort()
        session.rollback()
        raise Conflict(
            "another request stored some of these labels at the same time; retry "
            "(labels already stored are skipped)"
        ) from exc
    except Exception as exc:
        pipeline.abort()
        session.rollback()
        if _is_unique_violation(exc):
            raise Conflict(
                "another request stored some of these labels at the same time; retry"
            ) from exc
        raise
    except BaseException:
        pipeline.abort()
        session.rollback()
        raise
    return result


def _is_unique_violation(exc: BaseException) -> bool:
    return type(exc).__name__ in ("UniqueViolation", "IntegrityError")


def _label_query(
    *,
    bakeoff_id: int,
    vendor_id: int | None,
    item_key: str | None,
    annotator_id: str | None,
) -> Any:
    stmt = (
        select(VendorLabel, GoldenItem.key)
        .join(GoldenItem, col(GoldenItem.id) == col(VendorLabel.item_id))
        .where(VendorLabel.bakeoff_id == bakeoff_id)
    )
    if vendor_id is not None:
        stmt = stmt.where(VendorLabel.vendor_id == vendor_id)
    if item_key is not None:
        stmt = stmt.where(GoldenItem.key == item_key)
    if annotator_id is not None:
        stmt = stmt.where(VendorLabel.annotator_id == annotator_id)
    return stmt


def list_vendor_labels(
    *,
    session: Session,
    bakeoff_id: int,
    principal: Principal | None = None,
    vendor_id: int | None = None,
    item_key: str | None = None,
    annotator_id: str | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[VendorLabelPublic], int]:
    """A bake-off's labels by vendor, item key or annotator; a vendor key gets its own only."""
    get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    if is_vendor(principal) and principal is not None:
        if vendor_id is not None:
            check_vendor(principal, vendor_id)
        vendor_id = principal.vendor_id
    stmt = _label_query(
        bakeoff_id=bakeoff_id, vendor_id=vendor_id, item_key=item_key, annotator_id=annotator_id
    )
    count_stmt = select(func.count()).select_from(stmt.subquery())
    count = int(session.exec(count_stmt).one())
    rows = session.exec(stmt.order_by(col(VendorLabel.id)).offset(skip).limit(limit)).all()
    data = [VendorLabelPublic.model_validate(v, update={"item_key": k}) for v, k in rows]
    return data, count


def iter_vendor_labels(
    *,
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    principal: Principal | None = None,
    order: Literal["id", "item"] = "id",
    chunk_size: int = 5000,
) -> Iterator[VendorAnnotation]:
    """Stream a vendor's labels of a bake-off as :class:`~adapters.base.VendorAnnotation`.

    Used by the exporters; reads ``chunk_size`` rows at a time (keyset pagination).
    ``order="item"`` groups the labels of each item together (Label Studio export).
    """
    get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    check_vendor(principal, vendor_id)
    vl, item = table_of(VendorLabel), table_of(GoldenItem)
    last: tuple[int, int] = (0, 0)
    while True:
        stmt = (
            sa_select(vl, item.c.key)
            .join(item, item.c.id == vl.c.item_id)
            .where(vl.c.bakeoff_id == bakeoff_id)
            .where(vl.c.vendor_id == vendor_id)
        )
        if order == "item":
            stmt = stmt.where(tuple_(vl.c.item_id, vl.c.id) > tuple_(*last)).order_by(
                vl.c.item_id, vl.c.id
            )
        else:
            stmt = stmt.where(vl.c.id > last[1]).order_by(vl.c.id)
        rows = session.execute(stmt.limit(chunk_size)).all()
        if not rows:
            return
        for row in rows:
            m = row._mapping
            ekey: str = m["external_key"]
            prefix = f"x:{m['key']}|"
            yield VendorAnnotation(
                item_id=m["key"],
                label=m["value"],
                annotator_id=m["annotator_id"],
                score=m["score"],
                started_at=m["started_at"],
                completed_at=m["completed_at"],
                cost=m["cost"],
                instructions_version=m["instructions_version"],
                external_id=ekey[len(prefix) :] if ekey.startswith(prefix) else None,
            )
        tail = rows[-1]._mapping
        last = (tail["item_id"], tail["id"])
