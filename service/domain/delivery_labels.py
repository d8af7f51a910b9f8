"""A vendor's labels for a delivery: validated, each answer stored exactly once, one transaction.

The bake-off's one-answer rule (docs/vendor-labels.md), on ``deliverylabel``:

* at most one answer per (delivery, item, annotator); the database enforces it (unique
  ``delivery_id, item_id, annotator_id`` with a missing annotator stored as ``""``);
* the same answer again (same label, by :func:`service.domain.answer_checks.same_answer`)
  is a duplicate: counted, not written;
* a different label for a stored (item, annotator), or two in one request, is refused with
  409 ``answer_conflict``. Nothing of a refused request is stored.

The checks are the bake-off store's own (:mod:`service.domain.answer_checks`); only the
items (the delivery's), the table and a negative cost being refused are this door's.

Labels arrive as a file in any format of the one format layer
(:func:`service.domain.label_io.read_vendor_labels`, which reads through
:func:`adapters.formats.registry.read_label_file`) or as adapter results
(:class:`adapters.base.VendorAnnotation`), and are written by
:func:`service.core.bulk_write.append_rows`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select as sa_select
from sqlmodel import Session

from adapters.base import TaskType, VendorAnnotation
from adapters.formats.csv import LabelRow
from service.core.bulk_write import append_rows, bulk_time, fetch_rows
from service.core.delivery_tables import DELIVERY_LABELS
from service.core.types import utcnow
from service.domain._common import get_or_404, table_of
from service.domain.answer_checks import (
    admit_answer,
    answer_conflict,
    answer_fields,
    check_amounts,
    check_resent,
    normalized_text,
)
from service.domain.answer_geometry import reader_notes
from service.domain.deliveries import get_delivery
from service.domain.errors import Conflict, Invalid
from service.domain.label_io import ReadFormat, read_vendor_labels
from service.domain.projects import class_names
from service.domain.security import Principal
from service.domain.vendor_labels import LabelIn, answers_transaction
from service.models import Delivery, DeliveryLabel, ImportResult, Project

__all__ = ["DeliveryLabelRecord", "add_delivery_labels", "import_delivery_labels"]

DeliveryLabelRecord = VendorAnnotation | LabelIn | LabelRow
_Key = tuple[int, str]


@dataclass
class _Batch:
    delivery_id: int
    source: str
    task_type: TaskType
    classes: frozenset[str]
    items: dict[str, int]
    seen: dict[_Key, str | None]  # stored (None) or sent in this call (JSON text)
    created: Any
    time: Any
    received: int = 0
    duplicates: int = 0
    resent: list[tuple[int, str, str, str]] = field(default_factory=list)

    def conflict(self, where: str, key: str, annotator: str, *, stored: Any = None) -> Conflict:
        return answer_conflict(self.source, where, key, annotator, stored=stored)


def _rows(batch: _Batch, records: Iterable[DeliveryLabelRecord]) -> Iterator[tuple[Any, ...]]:
    number = 0
    fast = batch.task_type == "classification"
    dumped = {c: json.dumps(c) for c in batch.classes}
    items_get, dumped_get, seen = batch.items.get, dumped.get, batch.seen
    delivery_id, created = batch.delivery_id, batch.created
    try:
        for number, record in enumerate(records, start=1):
            # Fast path: a CSV row (checked by its reader) naming an item and a known class,
            # not answered before; anything else (errors included) takes the general path.
            if fast and type(record) is LabelRow:
                item_id = items_get(record[0])
                text = dumped_get(record[1])
                if item_id is not None and text is not None and (item_id, "") not in seen:
                    seen[(item_id, "")] = text
                    yield (delivery_id, item_id, "", text, None, None, None, None, None, created)
                    continue
            key, value, annotator, score, started, completed, cost, _, ext, where = answer_fields(
                record, number
            )
            item_id = batch.items.get(key)
            if item_id is None:
                raise Invalid(
                    f"{batch.source}: {where}: item {key!r} is not an item of delivery "
                    f"{batch.delivery_id}",
                    location=("body", where, "item_id"),
                )
            text = normalized_text(
                value,
                source=batch.source,
                where=where,
                task_type=batch.task_type,
                classes=batch.classes,
            )
            check_amounts(score, cost, source=batch.source, where=where, refuse_negative_cost=True)
            admitted = admit_answer(
                seen, (item_id, annotator or ""), text, task_type=batch.task_type
            )
            if admitted == "conflict":
                raise batch.conflict(where, key, annotator or "")
            if admitted == "resent":
                batch.resent.append((item_id, annotator or "", text, where))
            if admitted != "new":
                batch.duplicates += 1
                continue
            yield (
                batch.delivery_id,
                item_id,
                annotator or "",
                text,
                score,
                None if started is None else batch.time(started),
                None if completed is None else batch.time(completed),
                cost,
                ext,
                batch.created,
            )
    finally:
        batch.received = number


def _check_resent(session: Session, batch: _Batch, keys: dict[int, str]) -> None:
    if not batch.resent:
        return
    label = table_of(DeliveryLabel)
    wanted = {(i, a): (text, where) for i, a, text, where in batch.resent}
    ids = sorted({i for i, _, _, _ in batch.resent})
    for start in range(0, len(ids), 5000):
        rows = session.execute(
            sa_select(label.c.item_id, label.c.annotator_id, label.c.value)
            .where(label.c.delivery_id == batch.delivery_id)
            .where(label.c.item_id.in_(ids[start : start + 5000]))
        ).all()
        check_resent(
            (((int(i), a or ""), value) for i, a, value in rows),
            wanted,
            task_type=batch.task_type,
            conflict=lambda where, k, value: batch.conflict(where, keys[k[0]], k[1], stored=value),
        )


def add_delivery_labels(
    *,
    session: Session,
    delivery_id: int,
    records: Iterable[DeliveryLabelRecord],
    principal: Principal | None = None,
    source: str = "labels",
) -> ImportResult:
    """Store a vendor's answers for a delivery, each exactly once, in one transaction.

    Raises
    ------
    Invalid
        A record names an item outside the delivery, an unknown class, a value of the wrong
        shape or a non-finite score or cost; the location names the record.
    Conflict
        ``answer_conflict`` (another label for a stored item and annotator) or
        ``concurrent_write`` (a concurrent request stored one first; retry).
    """
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    project = get_or_404(session, Project, delivery.project_id)
    items: dict[str, int] = dict(
        fetch_rows(
            session, "SELECT key, id FROM deliveryitem WHERE delivery_id = {}", (delivery_id,)
        )
    )
    stored = fetch_rows(
        session,
        "SELECT item_id, annotator_id FROM deliverylabel WHERE delivery_id = {}",
        (delivery_id,),
    )
    batch = _Batch(
        delivery_id=delivery_id,
        source=source,
        task_type=project.task_type,
        classes=frozenset(class_names(project)),
        items=items,
        seen={(int(i), a or ""): None for i, a in stored},
        created=bulk_time(session)(utcnow()),
        time=bulk_time(session),
    )
    with answers_transaction(session):
        written = append_rows(session, DELIVERY_LABELS, _rows(batch, records))
        _check_resent(session, batch, {v: k for k, v in items.items()})
        _update_status(session, delivery, len(items))
        result = ImportResult(
            received=batch.received,
            stored=written,
            duplicates=batch.duplicates,
            notes=reader_notes(records),
        )
    return result


def _update_status(session: Session, delivery: Delivery, n_items: int) -> None:
    labeled = fetch_rows(
        session,
        "SELECT count(DISTINCT item_id) FROM deliverylabel WHERE delivery_id = {}",
        (delivery.id,),
    )[0][0]
    if delivery.status == "open" and int(labeled) >= n_items:
        delivery.status = "labeled"
        session.add(delivery)


def import_delivery_labels(
    *,
    session: Session,
    delivery_id: int,
    format: ReadFormat,
    source: IO[bytes] | Path,
    principal: Principal | None = None,
    filename: str = "upload",
    question: str | None = None,
) -> ImportResult:
    """Import a vendor's label file for a delivery through the one format layer.

    Formats that need gold context to place labels (COCO results, YOLO, doccano, prodigy)
    are refused: a delivery's items carry no gold.
    """
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    project = get_or_404(session, Project, delivery.project_id)
    records = read_vendor_labels(
        format, source, task_type=project.task_type, name=filename, question=question
    )
    try:
        return add_delivery_labels(
            session=session,
            delivery_id=delivery_id,
            records=records,
            principal=principal,
            source=filename,
        )
    finally:
        close = getattr(records, "close", None)
        if close is not None:
            close()
