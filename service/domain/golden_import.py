"""Bulk import and export of golden sets (items + gold labels) in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy import and_, bindparam, insert
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from adapters.formats.jsonl import GoldRecord
from service.core.config import get_settings
from service.core.types import utcnow
from service.domain import idempotency
from service.domain._common import table_of
from service.domain.answer_geometry import reader_notes
from service.domain.errors import Conflict, Invalid
from service.domain.golden_sets import (
    create_version,
    get_golden_set,
    get_version,
    golden_set_project,
    item_ids_by_key,
)
from service.domain.label_io import CocoGoldRecords
from service.domain.labels import (
    check_fits,
    check_image_size,
    check_inside_image,
    normalize_value,
    to_json_value,
)
from service.domain.projects import class_names, get_project
from service.domain.security import Principal
from service.models import (
    GoldenItem,
    GoldenSet,
    GoldenSetCreate,
    GoldenSetImportResult,
    GoldLabel,
    ImportResult,
    Project,
)

__all__ = ["create_golden_set_with_gold", "import_gold", "iter_gold_records"]


def import_gold(
    *,
    session: Session,
    golden_set_id: int,
    records: Iterable[GoldRecord],
    principal: Principal | None = None,
    note: str = "",
    merge: bool = False,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    source: str = "gold",
    idempotency_scope: str | None = None,
    commit: bool = True,
) -> ImportResult:
    """Import golden items and their gold labels as a new version of the golden set.

    Parameters
    ----------
    records
        Streamed :class:`adapters.formats.jsonl.GoldRecord` (from any format reader).
    merge
        ``False``: the new version holds exactly the imported items' gold. ``True``: it starts
        from the latest version's gold and the imported labels replace or add to it.
        Items already in the golden set keep their id; when the file gives their ``data`` or
        ``metadata``, the file's values replace the stored ones.
    note
        Stored on the new version.
    idempotency_scope
        Where the key is remembered (default ``gold:<golden_set_id>``).
    commit
        ``False``: leave the commit to the caller, whose own writes (a new golden set) go in
        the same transaction; on any error everything is still rolled back.

    Returns
    -------
    ImportResult
        ``stored`` gold labels and the new ``golden_set_version`` number.

    Raises
    ------
    Invalid
        An unknown class, a wrong shape or a duplicate item (nothing is stored).
    """
    golden = get_golden_set(session=session, golden_set_id=golden_set_id, principal=principal)
    scope = idempotency_scope or f"gold:{golden_set_id}"
    replay = idempotency.lookup(session, scope=scope, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return ImportResult.model_validate({**replay, "replayed": True})
    project = golden_set_project(session, golden)
    classes = frozenset(class_names(project))
    ids = item_ids_by_key(session, golden_set_id)
    items, gold = table_of(GoldenItem), table_of(GoldLabel)
    batch = get_settings().import_batch_size
    now = utcnow()
    try:
        version = create_version(
            session=session, golden_set_id=golden_set_id, note=note, copy_labels=merge, commit=False
        )
        version_id = version.id or 0
        seen: set[str] = set()
        received = 0
        pending: list[tuple[str, dict[str, Any], dict[str, Any], Any]] = []

        def flush() -> None:
            new = [
                {"golden_set_id": golden_set_id, "key": k, "data": d, "meta": m, "created_at": now}
                for k, d, m, _ in pending
                if k not in ids
            ]
            for column, position in (("data", 1), ("meta", 2)):
                # a re-imported item whose file row gives data or metadata: the file wins
                changed = [
                    {"item_id": ids[row[0]], "new_value": row[position]}
                    for row in pending
                    if row[0] in ids and row[position]
                ]
                if changed:
                    session.execute(
                        items.update()
                        .where(items.c.id == bindparam("item_id"))
                        .values({column: bindparam("new_value")}),
                        changed,
                    )
            if new:
                result = session.execute(
                    insert(items).returning(items.c.key, items.c.id), new
                ).all()
                ids.update({r[0]: r[1] for r in result})
            item_ids = [ids[k] for k, *_ in pending]
            if merge:
                session.execute(
                    gold.delete().where(
                        and_(gold.c.version_id == version_id, gold.c.item_id.in_(item_ids))
                    )
                )
            session.execute(
                insert(gold),
                [
                    {
                        "version_id": version_id,
                        "item_id": ids[k],
                        "value": v,
                        "annotator_id": None,
                        "created_at": now,
                    }
                    for k, _, _, v in pending
                ],
            )
            pending.clear()

        for number, record in enumerate(records, start=1):
            received += 1
            if record.item_id in seen:
                raise Invalid(
                    f"{source}: record {number}: duplicate item {record.item_id!r}",
                    location=("body", f"record {number}", "item_id"),
                )
            seen.add(record.item_id)
            where = ("body", f"record {number}")
            check_fits(GoldenItem, "key", record.item_id, (*where, "item_id"))
            check_image_size(record.data, (*where, "data"))
            value = normalize_value(
                to_json_value(record.label),
                task_type=project.task_type,
                classes=classes,
                where=("body", f"record {number}", "label"),
            )
            check_inside_image(value, record.data, ("body", f"record {number}", "label"))
            pending.append((record.item_id, dict(record.data), dict(record.metadata), value))
            if len(pending) >= batch:
                flush()
        if pending:
            flush()
        if received == 0:
            raise Invalid(f"{source}: no golden items in the file", location=("body",))
        if isinstance(records, CocoGoldRecords) and records.coco_category_ids is not None:
            # a results array read against this version names categories by these ids
            version.coco_category_ids = {
                **(version.coco_category_ids or {}),
                **records.coco_category_ids,
            }
            session.add(version)
        result = ImportResult(
            received=received,
            stored=received,
            golden_set_version=version.version,
            notes=reader_notes(records),  # what the file's reader left out, said to the user
        )
        idempotency.remember(
            session,
            scope=scope,
            key=idempotency_key,
            fingerprint=fingerprint,
            response=result.model_dump(mode="json"),
        )
        if commit:  # else the caller commits (with what it created in the transaction)
            session.commit()
    except BaseException:
        session.rollback()
        raise
    return result


def create_golden_set_with_gold(
    *,
    session: Session,
    data: GoldenSetCreate,
    read: Callable[[Project], Iterator[GoldRecord]],
    principal: Principal | None = None,
    note: str = "",
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
    source: str = "gold",
) -> GoldenSetImportResult:
    """Create a golden set and import its gold file as version 1, in one transaction.

    A file refused by the reader or by the import (an unknown class, a wrong shape, a
    duplicate item) leaves nothing behind: no golden set, no version, no items.

    Parameters
    ----------
    data
        The golden set's name, description and project.
    read
        The gold file's reader, given the project (its task type and ontology).
    idempotency_key, fingerprint
        A request re-sent with the same key (per project and name) and body is answered from
        the stored result.

    Returns
    -------
    GoldenSetImportResult
        The import's result with the new golden set's and version's ids.

    Raises
    ------
    Invalid, FormatError
        The file does not read as gold of the project's task type (nothing is stored).
    Conflict
        The project already has a golden set of that name.
    """
    project = get_project(session=session, project_id=data.project_id, principal=principal)
    scope = f"golden-set-import:{data.project_id}:{data.name}"
    replay = idempotency.lookup(session, scope=scope, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return GoldenSetImportResult.model_validate({**replay, "replayed": True})
    try:
        golden = GoldenSet.model_validate(data)
        session.add(golden)
        try:
            session.flush()  # the id, not yet committed: the import commits it with the gold
        except IntegrityError as exc:
            raise Conflict(
                f"project {data.project_id} already has a golden set {data.name!r}"
            ) from exc
        records = read(project)
        try:
            imported = import_gold(
                session=session,
                golden_set_id=golden.id or 0,
                records=records,
                principal=principal,
                note=note,
                idempotency_key=None,  # remembered below, with the golden set's ids
                source=source,
                commit=False,
            )
        finally:
            close = getattr(records, "close", None)
            if close is not None:
                close()
        version = get_version(
            session=session, golden_set_id=golden.id or 0, version=imported.golden_set_version or 1
        )
        result = GoldenSetImportResult(
            **imported.model_dump(),
            golden_set_id=golden.id or 0,
            golden_set_version_id=version.id or 0,
        )
        idempotency.remember(
            session,
            scope=scope,
            key=idempotency_key,
            fingerprint=fingerprint,
            response=result.model_dump(mode="json"),
        )
        session.commit()
    except BaseException:
        session.rollback()  # the golden set goes with its refused gold
        raise
    return result


def iter_gold_records(
    *,
    session: Session,
    golden_set_id: int,
    version: int,
    principal: Principal | None = None,
    chunk_size: int = 5000,
) -> Iterator[GoldRecord]:
    """Stream a version's golden items with their gold labels (keyset pagination)."""
    found = get_version(
        session=session, golden_set_id=golden_set_id, version=version, principal=principal
    )
    items, gold = table_of(GoldenItem), table_of(GoldLabel)
    last = 0
    while True:
        rows = session.execute(
            sa_select(items.c.id, items.c.key, items.c.data, items.c.meta, gold.c.value)
            .join(gold, gold.c.item_id == items.c.id)
            .where(gold.c.version_id == found.id)
            .where(items.c.id > last)
            .order_by(items.c.id)
            .limit(chunk_size)
        ).all()
        if not rows:
            return
        for item_id, key, data, meta, value in rows:
            yield GoldRecord(item_id=key, label=value, data=data or {}, metadata=meta or {})
            last = item_id
