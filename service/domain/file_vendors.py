"""File vendors: hand a ``file``-kind vendor its package and take its returned file back.

A vendor without an API works from files (:mod:`adapters.file`). Through the service:

1. :func:`download_package` builds the vendor's package for a bake-off (items without gold,
   the pinned instructions, the ontology, a manifest; Label Studio also gets its labeling
   config) as a zip in the requested format, and performs the dispatch transition
   ``pending --submit--> sent`` (:mod:`service.domain.dispatch`) for the vendor's pending
   tasks: the same conditional update the worker does, so a task is marked sent once, and
   latency is measured from the first hand-over. The package is also written to the vendor's
   package directory on the server, where the dispatch worker's poller finds it (a sent task
   whose package vanished would be requeued).
2. :func:`upload_results` parses the returned file with :class:`adapters.file.FileAdapter`
   (timestamps from the file when present, otherwise upload time; cost from the file, the
   adapter's ``price_per_item``/``price_per_label`` settings, or else the vendor's price list)
   and stores it through :func:`service.domain.dispatch_results.store_results`, the path
   dispatch uses for received results: one transaction, one answer per (item, annotator)
   whichever route brought it, tasks become ``received`` with ``completed_at`` and ``cost``.

The package always holds *all* the vendor's items of the bake-off, ordered by item id, so it is
the same package on every download (the COCO image ids of a returned file refer to it).
"""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Literal

from sqlalchemy import select as sa_select
from sqlmodel import Session

from adapters.base import (
    AdapterError,
    Batch,
    InstructionExample,
    Instructions,
    Ontology,
    VendorAnnotation,
    VendorJob,
    VendorRejected,
    VendorResponseInvalid,
    WorkItem,
)
from adapters.file import FORMAT_TASKS, FileAdapter, FileResults, Manifest
from adapters.file import FileFormat as AdapterFormat
from adapters.formats import FormatError
from adapters.http import batch_id_for
from service.core.types import utcnow
from service.domain import idempotency
from service.domain._common import get_or_404, table_of
from service.domain.access import check_vendor
from service.domain.bakeoffs import check_candidate, get_bakeoff
from service.domain.dispatch_results import adapter_for, store_results
from service.domain.errors import Conflict, DomainError, Invalid
from service.domain.label_times import check_label_times
from service.domain.labels import normalize_value
from service.domain.projects import class_names
from service.domain.security import Principal
from service.models import (
    BakeOff,
    GoldenItem,
    ImportResult,
    InstructionsVersion,
    Project,
    Task,
    Vendor,
)

__all__ = [
    "PackageFormat",
    "PACKAGE_FORMATS",
    "VendorPackage",
    "download_package",
    "upload_results",
]

PackageFormat = Literal["csv", "coco", "labelstudio", "jsonl"]
"""Format names as the other label-file endpoints spell them."""

PACKAGE_FORMATS: dict[PackageFormat, AdapterFormat] = {
    "csv": "csv",
    "coco": "coco",
    "labelstudio": "label_studio",
    "jsonl": "jsonl",
}
_PACKAGE_FILES = ("manifest.json", "instructions.md", "ontology.json", "labeling_config.xml")


@dataclass(frozen=True)
class VendorPackage:
    """A downloadable package.

    Attributes
    ----------
    filename
        ``bakeoff-<id>-vendor-<id>-<format>.zip``.
    content
        The zip archive: ``items.<ext>``, ``instructions.md``, ``ontology.json``,
        ``manifest.json``, ``README.txt`` (and ``labeling_config.xml`` for Label Studio).
    batch_id
        The package id (``manifest.json``'s ``batch_id``).
    items
        Number of items in the package.
    sent
        Tasks this download moved from ``pending`` to ``sent`` (0 on a re-download).
    """

    filename: str
    content: bytes
    batch_id: str
    items: int
    sent: int


# --------------------------------------------------------------------------- shared


@dataclass(frozen=True)
class _Context:
    bakeoff: BakeOff
    vendor: Vendor
    configured: FileAdapter
    batch: Batch
    task_ids: dict[str, int]  # item key -> task id
    sent_at: dict[str, datetime]  # item key -> sent_at (tasks already sent)
    classes: frozenset[str]


def _file_adapter(vendor: Vendor) -> FileAdapter:
    if vendor.adapter_kind != "file":
        raise Conflict(
            f"vendor {vendor.name!r} is a {vendor.adapter_kind!r} vendor; only 'file' vendors "
            "exchange packages (the others are dispatched by the run)",
            code="not_a_file_vendor",
        )
    adapter = adapter_for(vendor)
    if not isinstance(adapter, FileAdapter):  # pragma: no cover - a re-registered 'file' kind
        raise Conflict(f"vendor {vendor.name!r}: its 'file' adapter is not a FileAdapter")
    return adapter


def _context(
    session: Session, *, bakeoff_id: int, vendor_id: int, principal: Principal | None
) -> _Context:
    check_vendor(principal, vendor_id)
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    check_candidate(session, bakeoff_id, vendor_id)
    vendor = get_or_404(session, Vendor, vendor_id, what="Vendor")
    configured = _file_adapter(vendor)
    project = get_or_404(session, Project, bakeoff.project_id, what="Project")
    version = get_or_404(
        session, InstructionsVersion, bakeoff.instructions_version_id, what="Instructions"
    )
    task, item = table_of(Task), table_of(GoldenItem)
    rows = session.execute(
        sa_select(task.c.id, task.c.sent_at, item.c.key, item.c.data)
        .join(item, item.c.id == task.c.item_id)
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.vendor_id == vendor_id)
        .order_by(task.c.item_id)
    ).all()
    if not rows:
        raise Conflict(
            f"bake-off {bakeoff_id} has no tasks for vendor {vendor_id} yet: start the run "
            f"(POST /bakeoffs/{bakeoff_id}/run) or create the tasks "
            f"(POST /bakeoffs/{bakeoff_id}/tasks)",
            code="no_tasks",
        )
    instructions = Instructions(
        version=version.version,
        text=version.text,
        examples=tuple(InstructionExample.model_validate(e) for e in version.examples),
    )
    batch = Batch(
        bakeoff_id=f"bakeoff-{bakeoff_id}",
        task_type=project.task_type,
        ontology=Ontology.model_validate(project.ontology),
        instructions=instructions,
        items=tuple(WorkItem(item_id=str(key), data=dict(data or {})) for _, _, key, data in rows),
    )
    return _Context(
        bakeoff=bakeoff,
        vendor=vendor,
        configured=configured,
        batch=batch,
        task_ids={str(key): int(task_id) for task_id, _, key, _ in rows},
        sent_at={str(key): when for _, when, key, _ in rows if when is not None},
        classes=frozenset(class_names(project)),
    )


def _adapter(context: _Context, fmt: PackageFormat, directory: Path) -> FileAdapter:
    """A FileAdapter for ``fmt`` with the vendor's slug and prices, writing under ``directory``."""
    adapter_format = PACKAGE_FORMATS[fmt]
    task_type = context.batch.task_type
    if task_type not in FORMAT_TASKS[adapter_format]:
        carriers = sorted(f for f, a in PACKAGE_FORMATS.items() if task_type in FORMAT_TASKS[a])
        raise Invalid(
            f"format {fmt!r} cannot carry {task_type} labels; use one of {carriers}",
            location=("query", "format"),
        )
    return FileAdapter(
        context.configured.name,
        directory=directory,
        format=adapter_format,
        price_per_item=context.configured.price_per_item,
        price_per_label=context.configured.price_per_label,
    )


def _submit(adapter: FileAdapter, batch: Batch) -> VendorJob:
    try:
        return adapter.submit(batch)
    except VendorRejected as exc:
        raise Invalid(str(exc), location=("query", "format")) from exc


# --------------------------------------------------------------------------- download


def _readme(context: _Context, fmt: PackageFormat, manifest: Manifest) -> str:
    bakeoff_id, vendor_id = context.bakeoff.id, context.vendor.id
    return (
        f"Bakeoff package {manifest.batch_id} for {context.vendor.name}\n"
        f"bake-off {bakeoff_id}, {manifest.task_type}, instructions version "
        f"{manifest.instructions_version}, {len(manifest.item_ids)} items, format {fmt}\n\n"
        f"Label every item of {manifest.items_file} following instructions.md and the classes "
        f"in ontology.json.\nReturn one {fmt} file (see docs/file-vendors.md for its columns) "
        f"with:\n\n  POST /bakeoffs/{bakeoff_id}/vendors/{vendor_id}/package/results"
        f"?format={fmt}\n\nSending the same file again stores nothing twice.\n"
    )


def _zip(folder: Path, manifest: Manifest, readme: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in (manifest.items_file, *_PACKAGE_FILES):
            path = folder / name
            if path.exists():
                archive.write(path, arcname=name)
        archive.writestr("README.txt", readme)
    return buffer.getvalue()


def download_package(
    *,
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    format: PackageFormat,
    principal: Principal | None = None,
) -> VendorPackage:
    """Build a ``file`` vendor's package and mark its pending tasks ``sent``.

    Parameters
    ----------
    session
        Database session; committed once the package is built.
    bakeoff_id, vendor_id
        The bake-off and one of its candidate vendors (``adapter_kind == "file"``).
    format
        ``csv`` (classification, multilabel), ``coco`` (detection, segmentation),
        ``labelstudio`` or ``jsonl`` (any task type).
    principal
        The caller; a ``vendor`` key may only download its own vendor's package.

    Returns
    -------
    VendorPackage
        The zip archive and how many tasks became ``sent``.

    Raises
    ------
    Forbidden
        A vendor key asks for another vendor's package.
    NotFound
        Unknown bake-off or vendor, or the vendor is not a candidate.
    Conflict
        The vendor is not a ``file`` vendor, the bake-off is cancelled, or it has no tasks yet.
    Invalid
        The format cannot carry the bake-off's task type (or, for COCO, an item lacks its
        image size).
    """
    context = _context(session, bakeoff_id=bakeoff_id, vendor_id=vendor_id, principal=principal)
    if context.bakeoff.status == "cancelled":
        raise Conflict(f"bake-off {bakeoff_id} is cancelled", code="bakeoff_cancelled")
    sent_at = utcnow()  # taken before the package is written, as dispatch does
    # On the server, where the dispatch worker polls sent packages for a results file.
    server = _adapter(context, format, context.configured.directory)
    job = _submit(server, context.batch)
    folder = server.package_dir(job)
    manifest = Manifest.model_validate_json((folder / "manifest.json").read_bytes())
    with tempfile.TemporaryDirectory(prefix="bakeoff-package-") as tmp:
        if manifest.format != server.format:  # the server copy was written in another format
            fresh = _adapter(context, format, Path(tmp))
            folder = fresh.package_dir(_submit(fresh, context.batch))
            manifest = Manifest.model_validate_json((folder / "manifest.json").read_bytes())
        content = _zip(folder, manifest, _readme(context, format, manifest))
    sent = _mark_sent(
        session,
        task_ids=list(context.task_ids.values()),
        job_id=batch_id_for(context.batch, server.name),
        external_id=job.external_id,
        sent_at=sent_at,
    )
    return VendorPackage(
        filename=f"bakeoff-{bakeoff_id}-vendor-{vendor_id}-{format}.zip",
        content=content,
        batch_id=job.external_id,
        items=len(context.batch.items),
        sent=sent,
    )


def _mark_sent(
    session: Session, *, task_ids: list[int], job_id: str, external_id: str, sent_at: datetime
) -> int:
    """Dispatch's ``pending -> sent`` transition: conditional, so each task is sent once."""
    task = table_of(Task)
    sent = 0
    for start in range(0, len(task_ids), 5000):
        result = session.execute(
            task.update()
            .where(task.c.id.in_(task_ids[start : start + 5000]))
            .where(task.c.status == "pending")
            .values(
                status="sent",
                sent_at=sent_at,
                job_id=job_id,
                external_id=external_id,
                attempts=task.c.attempts + 1,
                last_error=None,
                updated_at=utcnow(),
            )
        )
        sent += int(getattr(result, "rowcount", 0) or 0)
    session.commit()
    return sent


# --------------------------------------------------------------------------- upload


def _parse(context: _Context, fmt: PackageFormat, source: IO[bytes], filename: str) -> FileResults:
    """Read the returned file with the FileAdapter (the package is rebuilt in a temp dir),
    with the reader's notes."""
    with tempfile.TemporaryDirectory(prefix="bakeoff-results-") as tmp:
        adapter = _adapter(context, fmt, Path(tmp))
        job = _submit(adapter, context.batch)
        upload = Path(tmp) / "upload"
        with upload.open("wb") as out:
            shutil.copyfileobj(source, out)
        if fmt == "csv":
            _drop_item_columns(upload, context.batch)
        adapter.import_results(job, upload)
        try:
            return adapter.read_results(job)
        except VendorResponseInvalid as exc:
            cause = exc.__cause__
            if isinstance(cause, FormatError):
                where = cause.location or "file"
                raise Invalid(
                    f"{filename}: {where}: {cause.problem}", location=("body", where)
                ) from exc
            detail = str(exc).split(": ", 1)[-1].replace("results.", "the file ", 1)
            raise Invalid(f"{filename}: {detail}", location=("body",)) from exc
        except (AdapterError, ValueError) as exc:
            raise Invalid(f"{filename}: {exc}", location=("body",)) from exc


def _drop_item_columns(path: Path, batch: Batch) -> None:
    """Accept the package's ``items.csv`` with its ``label`` column filled in.

    Columns that are item data (``image``...) are dropped; any other unknown column is left
    for the CSV reader to refuse. Row numbers do not change.
    """
    data_keys = {k for item in batch.items for k in item.data}
    data_keys -= {"item_id", "annotator_id", "label"}
    if not data_keys:
        return
    with path.open(encoding="utf-8-sig", newline="") as source:
        header = next(csv.reader(source), None)
    if header is None:
        return
    drop = {n for n, name in enumerate(header) if name.strip() in data_keys}
    if not drop:
        return
    keep = [n for n in range(len(header)) if n not in drop]
    trimmed = path.with_name(path.name + ".trimmed")
    with (
        path.open(encoding="utf-8-sig", newline="") as source,
        trimmed.open("w", encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out, lineterminator="\n")
        for row in csv.reader(source):
            # a row of the wrong width is kept whole, so the reader names it
            writer.writerow([row[n] for n in keep] if len(row) == len(header) else row)
    trimmed.replace(path)


def _check(context: _Context, annotations: Sequence[VendorAnnotation], filename: str) -> None:
    """Classes and times, naming the record and its item (nothing is stored yet)."""
    task_type = context.batch.task_type
    now = utcnow()
    for number, a in enumerate(annotations, start=1):
        where = f"record {number}"
        try:
            normalize_value(
                a.label,
                task_type=task_type,
                classes=context.classes,
                where=("body", where, "label"),
            )
        except Invalid as exc:
            raise Invalid(
                f"{filename}: {where} (item {a.item_id!r}): {exc.message}", location=exc.location
            ) from exc
        check_label_times(  # the check every label route runs, named by record and item
            a.started_at,
            a.completed_at,
            sent_at=context.sent_at.get(a.item_id),
            now=now,
            where=where,
            source=f"{filename}: item {a.item_id!r}",
        )


def upload_results(
    *,
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    format: PackageFormat,
    source: IO[bytes],
    filename: str = "upload",
    principal: Principal | None = None,
    idempotency_key: str | None = None,
    fingerprint: str | None = None,
) -> ImportResult:
    """Store a ``file`` vendor's returned file exactly once, in one transaction.

    Parameters
    ----------
    session
        Database session; committed on success, rolled back on any error.
    bakeoff_id, vendor_id
        The bake-off and one of its candidate ``file`` vendors.
    format
        The file's format (the package's format).
    source
        The file's bytes (binary, read once).
    filename
        Name used in error messages.
    principal
        The caller; a ``vendor`` key may only upload its own vendor's results.
    idempotency_key, fingerprint
        A request re-sent with the same key (and body sha256) is answered from the stored
        result; with another body it is refused. Without a key, a re-sent file is still
        stored once: one answer per (item, annotator), whatever route sent it first
        (docs/vendor-labels.md).

    Returns
    -------
    ImportResult
        ``received`` answers, newly ``stored`` ones and ``duplicates`` (already stored).

    Raises
    ------
    Invalid
        The file is malformed, answers an item that is not in the package, names an unknown
        class, or says an item was completed before it was handed over; the message and
        location name the row, object or record.
    Conflict
        Not a ``file`` vendor, no tasks yet, the key was used with another body, or an answer
        differs from the one stored for its item and annotator (``answer_conflict``).
    Forbidden, NotFound
        As for :func:`download_package`.
    """
    context = _context(session, bakeoff_id=bakeoff_id, vendor_id=vendor_id, principal=principal)
    scope = f"file-results:{bakeoff_id}:{vendor_id}"
    replay = idempotency.lookup(session, scope=scope, key=idempotency_key, fingerprint=fingerprint)
    if replay is not None:
        return ImportResult.model_validate({**replay, "replayed": True})
    read = _parse(context, format, source, filename)
    annotations = read.annotations
    if not annotations:
        raise Invalid(f"{filename}: the file holds no answers", location=("body",))
    _check(context, annotations, filename)
    try:
        # the key is remembered with the result, in the transaction that stores the labels
        stored = store_results(
            session=session,
            bakeoff_id=bakeoff_id,
            vendor=context.vendor,
            annotations=annotations,
            strict=True,
            request_key=(scope, idempotency_key, fingerprint),
            notes=read.notes,
        )
    except DomainError:
        session.rollback()
        raise
    return ImportResult(
        received=stored.received,
        stored=stored.stored,
        duplicates=stored.duplicates,
        notes=list(read.notes),  # what the file's reader left out, as every door says it
    )
