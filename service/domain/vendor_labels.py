"""Vendor labels: validate them and store each answer exactly once, in one transaction.

:func:`add_vendor_labels` is the one entry point for every way labels arrive (JSON body, file
import, signed callbacks, the worker's polling, file-vendor uploads, the client and the CLI).
It streams the records, checks each against the bake-off's pinned golden-set version and the
project's ontology, applies the one-answer rule and hands the new rows to
:func:`service.core.bulk_write.append_rows`. Any bad record raises
:class:`~service.domain.errors.Invalid` naming it, any answer that contradicts a stored one
raises :class:`~service.domain.errors.Conflict`, and nothing from the call is stored.

The one-answer rule (docs/vendor-labels.md)
-------------------------------------------
* A vendor gives at most one answer per (item, annotator) in a bake-off; the database enforces
  it (unique ``bakeoff_id, vendor_id, item_id, annotator_id``, a missing annotator stored as
  ``""``).
* The same answer again (same label; the vendor's answer id, times, score and cost may differ)
  is a duplicate: nothing is written and it is counted in ``duplicates``.
* A different label for a stored (item, annotator), or two different labels for one in the
  same request, is refused with 409 ``answer_conflict`` naming the item and the annotator.
  Answers are never replaced.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import and_, func, tuple_
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from adapters.base import TaskType, VendorAnnotation
from adapters.formats.csv import LabelRow
from adapters.pairs import unswap
from service.core.bulk_write import (
    VENDOR_LABEL_REPEATS,
    VENDOR_LABELS,
    append_rows,
    bulk_time,
    fetch_rows,
)
from service.core.types import utcnow
from service.domain import idempotency, score_precompute
from service.domain._common import table_of
from service.domain.access import check_vendor, is_vendor
from service.domain.answer_checks import (
    admit_answer,
    answer_conflict,
    answer_fields,
    check_amounts,
    check_resent,
    normalized,
    same_answer,
)
from service.domain.answer_geometry import LabelsAtPrecision, reader_notes
from service.domain.bakeoffs import bump_data_version, check_candidate, get_bakeoff
from service.domain.errors import Conflict, Invalid
from service.domain.label_times import check_label_times
from service.domain.labels import check_fits, column_length
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
    "answers_transaction",
    "list_vendor_labels",
    "iter_vendor_labels",
    "same_answer",
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
# stored strings are checked against their columns (PostgreSQL would fail the whole COPY)
_ANNOTATOR_MAX = column_length(VendorLabel, "annotator_id") or 1 << 30
_EXTERNAL_ID_MAX = column_length(VendorLabel, "external_id") or 1 << 30

# An answer's key in memory: the item id alone when the vendor names no annotator (the fast,
# common case), else (item id, annotator id).
_Key = int | tuple[int, str]


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
    rows = fetch_rows(
        session,
        "SELECT i.key, i.id FROM goldenitem i JOIN goldlabel g ON g.item_id = i.id "
        "WHERE g.version_id = {}",
        (version_id,),
    )
    return dict(rows)


def item_data(
    session: Session, bakeoff: BakeOff, principal: Principal | None = None
) -> dict[str, dict[str, Any]]:
    """``{item key: item data}`` of the bake-off's pinned golden-set version (for exporters).

    A vendor key gets only the items that were sent to it or that it answered, as everywhere
    else it reads items.
    """
    gold, item = table_of(GoldLabel), table_of(GoldenItem)
    stmt = (
        sa_select(item.c.key, item.c.data)
        .join(gold, gold.c.item_id == item.c.id)
        .where(gold.c.version_id == bakeoff.golden_set_version_id)
    )
    if is_vendor(principal) and principal is not None:
        task, label = table_of(Task), table_of(VendorLabel)
        sent = sa_select(task.c.item_id).where(
            task.c.bakeoff_id == bakeoff.id,
            task.c.vendor_id == principal.vendor_id,
            task.c.sent_at.is_not(None),
        )
        answered = sa_select(label.c.item_id).where(
            label.c.bakeoff_id == bakeoff.id, label.c.vendor_id == principal.vendor_id
        )
        stmt = stmt.where(item.c.id.in_(sent.union(answered)))
    rows = session.execute(stmt).all()
    return {r[0]: dict(r[1] or {}) for r in rows}


# --------------------------------------------------------------------------- stored answers


def _key(item_id: int, annotator: str | None) -> _Key:
    return (item_id, annotator) if annotator else item_id


def _stored_keys(
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    item_ids: list[int] | None,
    *,
    repeat: int = 0,
) -> dict[_Key, str | None]:
    """The keys of the vendor's stored answers to one sending (of ``item_ids`` only, when
    given).

    Values are ``None``: a stored answer's label is read only if it is sent again.
    """
    if item_ids is None:
        rows = fetch_rows(
            session,
            "SELECT item_id, annotator_id FROM vendorlabel WHERE bakeoff_id = {} "
            "AND vendor_id = {} AND repeat = {}",
            (bakeoff_id, vendor_id, repeat),
        )
    else:
        label = table_of(VendorLabel)
        rows = [
            tuple(r)
            for r in session.execute(
                sa_select(label.c.item_id, label.c.annotator_id)
                .where(label.c.bakeoff_id == bakeoff_id)
                .where(label.c.vendor_id == vendor_id)
                .where(label.c.repeat == repeat)
                .where(label.c.item_id.in_(item_ids))
            ).all()
        ]
    return {_key(int(i), a): None for i, a in rows}


def _check_resent(
    session: Session,
    batch: _Batch,
    resent: list[tuple[int, str | None, str, str]],
) -> None:
    """Refuse a re-sent answer whose label differs from the stored one (409, naming it)."""
    if not resent:
        return
    label = table_of(VendorLabel)
    wanted = {_key(i, a): (text, where) for i, a, text, where in resent}
    item_ids = sorted({i for i, _, _, _ in resent})
    for start in range(0, len(item_ids), 5000):
        rows = session.execute(
            sa_select(label.c.item_id, label.c.annotator_id, label.c.value)
            .where(label.c.bakeoff_id == batch.bakeoff_id)
            .where(label.c.vendor_id == batch.vendor_id)
            .where(label.c.repeat == batch.repeat)
            .where(label.c.item_id.in_(item_ids[start : start + 5000]))
        ).all()
        check_resent(
            ((_key(int(i), a), value) for i, a, value in rows),
            wanted,
            task_type=batch.task_type,
            tolerance_px=batch.tolerance_px,
            conflict=lambda where, key, value: batch.conflict(where, *_split(key), stored=value),
        )


def _split(key: _Key) -> tuple[int, str | None]:
    return (key, None) if isinstance(key, int) else key


# --------------------------------------------------------------------------- rows


@dataclass
class _Batch:
    """What one call checks its records against, and what it found."""

    bakeoff_id: int
    vendor_id: int
    source: str
    task_type: TaskType
    classes: frozenset[str]
    items: dict[str, int]  # item key -> item id (pinned version)
    tasks: dict[int, int]  # item id -> task id
    seen: dict[_Key, str | None]  # stored (None) or sent in this call (its JSON text)
    pinned_version: int
    created: Any
    time: Any
    now: datetime
    sent_at: dict[int, datetime]  # item id -> when its task was sent
    created_floor: datetime | None  # a vendor key's labels of unsent items: not before this
    swapped: frozenset[int] = frozenset()  # item ids of pairs this vendor was shown swapped
    tolerance_px: float = 0.0  # how far the records' format may move geometry (see same_answer)
    repeat: int = 0  # 1: answers to the second sending of preference pairs
    received: int = 0
    duplicates: int = 0
    labeled_tasks: set[int] = field(default_factory=set)
    resent: list[tuple[int, str | None, str, str]] = field(default_factory=list)

    def key_name(self, item_id: int) -> str:
        return next((k for k, i in self.items.items() if i == item_id), str(item_id))

    def conflict(
        self, where: str, item_id: int, annotator: str | None, *, stored: Any = None
    ) -> Conflict:
        return answer_conflict(self.source, where, self.key_name(item_id), annotator, stored=stored)


def _rows(batch: _Batch, records: Iterable[LabelRecord]) -> Iterator[tuple[Any, ...]]:
    """Check each record and yield the new ones as ``vendorlabel`` rows (bulk column order).

    Counts go into ``batch``; re-sent answers are queued in ``batch.resent`` for
    :func:`_check_resent`.
    """
    bakeoff_id, vendor_id, pinned_version = batch.bakeoff_id, batch.vendor_id, batch.pinned_version
    created, seen, fast = batch.created, batch.seen, batch.task_type == "classification"
    dumped: dict[str, str] = {c: json.dumps(c) for c in batch.classes}  # classification
    # bound once: the classification fast path below runs per label
    items_get, dumped_get, tasks_get, seen_get = (
        batch.items.get,
        dumped.get,
        batch.tasks.get,
        seen.get,
    )
    labeled_add = batch.labeled_tasks.add
    duplicates = number = 0
    try:
        for number, record in enumerate(records, start=1):
            # Fast path: a CSV row (already checked by its reader) naming a pinned item and a
            # known class needs no normalising and has no optional fields. Anything else,
            # errors included, takes the general path, which names the row.
            if fast and type(record) is LabelRow:
                key = record[0]
                item_id = items_get(key)
                json_text = dumped_get(record[1])
                if item_id is not None and json_text is not None:
                    if item_id in seen:
                        before = seen_get(item_id)
                        if before is None:
                            where = answer_fields(record, number).where
                            batch.resent.append((item_id, None, json_text, where))
                        elif before != json_text:
                            raise batch.conflict(answer_fields(record, number).where, item_id, None)
                        duplicates += 1
                        continue
                    seen[item_id] = json_text
                    task_id = tasks_get(item_id)
                    if task_id is not None:
                        labeled_add(task_id)
                    yield (
                        bakeoff_id,
                        vendor_id,
                        item_id,
                        task_id,
                        "",
                        None,
                        json_text,
                        None,
                        None,
                        None,
                        None,
                        pinned_version,
                        created,
                    )
                    continue
            row = _checked_row(batch, record, number)
            if row is None:
                duplicates += 1
                continue
            yield row
    finally:
        batch.received, batch.duplicates = number, duplicates


def _checked_row(batch: _Batch, record: LabelRecord, number: int) -> tuple[Any, ...] | None:
    """The general path of :func:`_rows`: one record as a row, or ``None`` for a duplicate."""
    key, value, annotator, score, started, completed, cost, ins_version, ext, where = answer_fields(
        record, number
    )
    item_id = batch.items.get(key)
    if item_id is None:
        raise Invalid(
            f"{batch.source}: {where}: item {key!r} is not in the golden-set version "
            f"pinned by bake-off {batch.bakeoff_id}",
            location=("body", where, "item_id"),
        )
    annotator = annotator or None
    if (annotator is not None and len(annotator) > _ANNOTATOR_MAX) or (
        ext is not None and len(ext) > _EXTERNAL_ID_MAX
    ):
        try:
            check_fits(VendorLabel, "annotator_id", annotator, ("body", where, "annotator_id"))
            check_fits(VendorLabel, "external_id", ext, ("body", where, "external_id"))
        except Invalid as exc:
            raise Invalid(f"{batch.source}: {where}: {exc.message}", location=exc.location) from exc
    value = normalized(
        value, source=batch.source, where=where, task_type=batch.task_type, classes=batch.classes
    )
    # Every door stores a pair's answer in the item's own frame: an answer to a pair this
    # vendor was shown swapped (callback, poll, upload or a direct post) is turned back here.
    if item_id in batch.swapped:
        value = unswap(value)
    json_text = json.dumps(value)
    check_amounts(score, cost, source=batch.source, where=where)
    if started is not None or completed is not None:
        check_label_times(
            started,
            completed,
            sent_at=batch.sent_at.get(item_id),
            now=batch.now,
            where=where,
            source=batch.source,
            created_at=batch.created_floor,
        )
    admitted = admit_answer(
        batch.seen,
        _key(item_id, annotator),
        json_text,
        task_type=batch.task_type,
        tolerance_px=batch.tolerance_px,
    )
    if admitted == "conflict":
        raise batch.conflict(where, item_id, annotator)
    if admitted == "resent":
        batch.resent.append((item_id, annotator, json_text, where))
    if admitted != "new":
        return None
    task_id = batch.tasks.get(item_id)
    if task_id is not None:
        batch.labeled_tasks.add(task_id)
    return (
        batch.bakeoff_id,
        batch.vendor_id,
        item_id,
        task_id,
        annotator or "",
        ext or None,
        json_text,
        score,
        None if started is None else batch.time(started),
        None if completed is None else batch.time(completed),
        cost,
        ins_version or batch.pinned_version,
        batch.created,
    )


# --------------------------------------------------------------------------- storing


@contextmanager
def answers_transaction(session: Session) -> Iterator[None]:
    """One import of answers as one transaction: committed when the block ends, rolled back
    on any error; a concurrent writer that stored the same (item, annotator) first is a 409.

    Raises
    ------
    Conflict
        ``concurrent_write`` (retry: answers already stored then count as duplicates).
    """
    try:
        yield
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "another request stored an answer for some of these items and annotators at the "
            "same time; retry (answers already stored are then counted as duplicates)",
            code="concurrent_write",
        ) from exc
    except BaseException:
        session.rollback()
        raise


def add_vendor_labels(
    *,
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    records: Iterable[LabelRecord],
    principal: Principal | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    idempotency_scope: str | None = None,
    source: str = "labels",
    only_items: Collection[str] | None = None,
    batch_size: int | None = None,
    repeat: Literal[0, 1] = 0,
) -> ImportResult:
    """Store a vendor's answers for a bake-off, each exactly once, in one transaction.

    Parameters
    ----------
    session
        Database session; committed on success, rolled back on any error.
    bakeoff_id, vendor_id
        Where the labels belong; the vendor must be a candidate of the bake-off.
    records
        :class:`adapters.base.VendorAnnotation` (from the format readers and adapters),
        :class:`service.models.VendorLabelCreate`, :class:`LabelIn` or CSV rows; consumed
        once, in chunks.
    principal
        The caller; a vendor key may only post its own vendor's labels.
    idempotency_key, fingerprint, idempotency_scope
        With a key, a request re-sent with the same key (and body fingerprint) is answered
        from the stored result and stores nothing; the record is written in the transaction
        that stores the labels. The scope defaults to ``labels:<bake-off>:<vendor>``.
    source
        Name used in error messages (a file name).
    only_items
        The item keys the records name, when the caller knows them (a vendor callback of a
        few items): lookups then read those items' rows, not the whole golden set's. A record
        naming another item is refused as outside the pinned version.
    batch_size
        Rows per bulk write (default: the ``import_batch_size`` setting).
    repeat
        ``1``: the records answer the second sending of preference pairs (sent in the other
        order under an opaque id, mapped back by :mod:`service.domain.dispatch_results`);
        they are checked against that sending's task and stored as its own answers.

    Returns
    -------
    ImportResult
        ``received``, ``stored`` and ``duplicates`` (the same answer already stored or sent
        earlier in the call; not written again).

    Raises
    ------
    Invalid
        A record names an item outside the pinned golden-set version, an unknown class, or a
        value of the wrong shape; the location names the record (1-based) and the field.
    Conflict
        ``answer_conflict``: a record gives another label for an (item, annotator) already
        answered; ``idempotency_key_reused``; or ``concurrent_write``: a concurrent request
        stored an answer for the same item and annotator first (retry).
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    check_vendor(principal, vendor_id)
    check_candidate(session, bakeoff_id, vendor_id)
    scope = idempotency_scope or f"labels:{bakeoff_id}:{vendor_id}"
    stored = idempotency.lookup(session, scope=scope, key=idempotency_key, fingerprint=fingerprint)
    if stored is not None:
        return ImportResult.model_validate({**stored, "replayed": True})
    with answers_transaction(session):
        batch = _prepare(
            session,
            bakeoff,
            vendor_id,
            source=source,
            only_items=only_items,
            vendor_key=is_vendor(principal),
            repeat=repeat,
        )
        if isinstance(records, LabelsAtPrecision):
            batch.tolerance_px = records.tolerance_px
        rows = _rows(batch, records)
        table = VENDOR_LABELS
        if repeat:  # few rows: the answer key's last column, after the bulk columns
            table, rows = VENDOR_LABEL_REPEATS, (row + (repeat,) for row in rows)
        written = append_rows(session, table, rows, batch_size=batch_size)
        _check_resent(session, batch, batch.resent)
        if written:
            _mark_received(session, batch.labeled_tasks)
            bump_data_version(session, bakeoff_id)
        result = ImportResult(
            received=batch.received,
            stored=written,
            duplicates=batch.duplicates,
            notes=reader_notes(records),  # what the file's reader said about it
        )
        idempotency.remember(
            session,
            scope=scope,
            key=idempotency_key,
            fingerprint=fingerprint,
            response=result.model_dump(mode="json"),
        )
    if written:  # committed: score now, so the first read after the import is a read
        score_precompute.after_change(session, bakeoff_id)
    return result


def _prepare(
    session: Session,
    bakeoff: BakeOff,
    vendor_id: int,
    *,
    source: str,
    only_items: Collection[str] | None,
    vendor_key: bool = False,
    repeat: int = 0,
) -> _Batch:
    """Read what the records are checked against: items, tasks, the vendor's stored keys.

    ``vendor_key``: a vendor posts itself, so its labels of items never sent to it cannot
    predate the bake-off (see :mod:`service.domain.label_times`).
    """
    bakeoff_id = int(bakeoff.id or 0)
    project = session.get(Project, bakeoff.project_id)
    instructions = session.get(InstructionsVersion, bakeoff.instructions_version_id)
    if project is None or instructions is None:  # pragma: no cover - foreign keys
        raise Conflict(f"bake-off {bakeoff_id} lost its project or instructions")
    # A small, known set of items (callbacks) reads only their rows; a bulk import reads the
    # golden set once, which is cheaper than one lookup per chunk.
    narrow = only_items is not None and len(only_items) <= _NARROW_LOOKUP_MAX
    items = pinned_item_ids(
        session, bakeoff.golden_set_version_id, keys=only_items if narrow else None
    )
    task = table_of(Task)
    task_query = sa_select(task.c.item_id, task.c.id, task.c.sent_at, task.c.swapped).where(
        and_(
            task.c.bakeoff_id == bakeoff_id,
            task.c.vendor_id == vendor_id,
            task.c.repeat == repeat,
        )
    )
    if narrow:
        task_query = task_query.where(task.c.item_id.in_(list(items.values())))
    seen = _stored_keys(
        session, bakeoff_id, vendor_id, list(items.values()) if narrow else None, repeat=repeat
    )
    to_bulk = bulk_time(session)
    task_rows = session.execute(task_query).all()
    now = utcnow()
    return _Batch(
        bakeoff_id=bakeoff_id,
        vendor_id=vendor_id,
        source=source,
        task_type=project.task_type,
        classes=frozenset(class_names(project)),
        items=items,
        tasks={r[0]: r[1] for r in task_rows},
        seen=seen,
        pinned_version=instructions.version,
        created=to_bulk(now),
        time=to_bulk,
        now=now,
        sent_at={r[0]: r[2] for r in task_rows if r[2] is not None},
        created_floor=bakeoff.created_at if vendor_key else None,
        swapped=frozenset(r[0] for r in task_rows if r[3]),
        repeat=repeat,
    )


def _mark_received(session: Session, labeled_tasks: set[int]) -> None:
    """Tasks of the items this call labeled become ``received`` (by primary key)."""
    # A semi-join over all of the vendor's labels made every callback O(labels so far).
    task, now = table_of(Task), utcnow()
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
            yield VendorAnnotation(
                item_id=m["key"],
                label=m["value"],
                annotator_id=m["annotator_id"],
                score=m["score"],
                started_at=m["started_at"],
                completed_at=m["completed_at"],
                cost=m["cost"],
                instructions_version=m["instructions_version"],
                external_id=m["external_id"],
            )
        tail = rows[-1]._mapping
        last = (tail["item_id"], tail["id"])
