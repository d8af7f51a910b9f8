"""Dispatch: send a bake-off's golden items to every candidate and collect their labels.

A run is a persisted state machine, one :class:`~service.models.Task` per (item, vendor)::

    pending --submit--> sent --results--> received
       |                  |--deadline---> timed_out
       '--max attempts--> failed   (also: vendor refused, run cancelled)

Everything lives in the database, so a run interrupted anywhere (worker killed, server
restarted) resumes from the rows:

- before a batch is submitted its idempotency key (``batch_id``, a hash of the items) is
  written to ``Task.job_id``; resubmitting the same pending items after a crash sends the
  same key and the vendor answers with the job it already has;
- ``pending -> sent`` is a conditional update, so a result that raced ahead is not undone;
- labels are stored by :func:`service.domain.vendor_labels.add_vendor_labels`, unique per
  (bake-off, vendor, vendor answer id): a duplicated or replayed result is stored once;
- a vendor that lost a job (``JobNotFound``) gets its items again.

:func:`tick` advances one run by one step; the queue (:mod:`service.dispatch`) calls it in a
loop. Routes call :func:`start_run`, :func:`run_progress`, :func:`cancel_run` and
:func:`receive_callback` (results and callbacks: :mod:`service.domain.dispatch_results`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol, runtime_checkable

from pydantic import BaseModel, Field
from sqlalchemy import and_, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, select

from adapters.base import (
    AdapterError,
    Batch,
    InstructionExample,
    Instructions,
    JobNotFound,
    LabelingVendor,
    Ontology,
    VendorJob,
    VendorRejected,
    VendorUnavailable,
    WorkItem,
)
from adapters.http import (
    HttpAdapter,
    VendorFailing,
    batch_id_for,
)
from adapters.pairs import swap_pair
from service.core.config import Settings, get_settings
from service.core.types import utcnow
from service.domain._common import get_or_404, table_of
from service.domain.access import is_blinded
from service.domain.bakeoffs import bakeoff_vendor_ids, create_tasks, get_bakeoff, vendor_aliases
from service.domain.dispatch_results import (
    CallbackResult,
    adapter_for,
    error_text,
    forget_adapters,
    receive_callback,
    store_results,
    vendor_slug,
)
from service.domain.errors import Conflict, Invalid, NotFound
from service.domain.repeats import repeat_item_id
from service.domain.security import Principal
from service.models import (
    BakeOff,
    GoldenItem,
    InstructionsVersion,
    Project,
    Task,
    TaskStatus,
    Vendor,
)

__all__ = [
    "CallbackResult",
    "NO_WORKER_AFTER_S",
    "RunKicker",
    "RunProgress",
    "TickResult",
    "VendorProgress",
    "WorkerMonitor",
    "WorkerStatus",
    "adapter_for",
    "cancel_run",
    "forget_adapters",
    "receive_callback",
    "run_progress",
    "start_run",
    "store_results",
    "tick",
    "vendor_slug",
    "worker_status",
]

log = logging.getLogger(__name__)
_STATUSES: tuple[TaskStatus, ...] = ("pending", "sent", "received", "failed", "timed_out")


class RunKicker(Protocol):
    """Something that makes a worker pick a run up (the queue)."""

    def kick(self, bakeoff_id: int) -> None: ...


@runtime_checkable
class WorkerMonitor(Protocol):
    """Something that knows when a worker last advanced a run (the queue's heartbeat)."""

    def last_worker_beat(self, bakeoff_id: int) -> float | None:
        """Unix time of the last step a worker took on the run; ``None``: never."""
        ...


#: Seconds a running bake-off may go without a worker step before the pages warn.
NO_WORKER_AFTER_S: Final = 30.0


# --------------------------------------------------------------------------- schemas


class VendorProgress(BaseModel):
    """One candidate's tasks by status."""

    vendor_id: int | None = Field(description="None when the caller sees the bake-off blinded.")
    name: str = Field(description="The vendor's name, or its alias when the caller is blinded.")
    total: int
    counts: dict[TaskStatus, int]
    cost: float = Field(description="Cost of the received tasks so far.")
    failing: bool = Field(description="Its last submissions failed; retrying with backoff.")
    last_error: str | None = None


class WorkerStatus(BaseModel):
    """Whether a worker is advancing a running bake-off (from the worker's heartbeat)."""

    last_seen_at: datetime | None = Field(
        description="When a worker last took a step on the run; null: never."
    )
    silent_s: float = Field(
        description="Seconds since that step, or since the run started when none was seen."
    )
    stalled: bool = Field(description="silent_s is past the threshold: nobody runs it.")
    message: str | None = Field(default=None, description="The warning, in words.")


class RunProgress(BaseModel):
    """A run's progress: per-vendor counts by task status."""

    bakeoff_id: int
    status: str
    total: int
    counts: dict[TaskStatus, int]
    done: bool = Field(description="No task is pending or sent any more.")
    vendors: list[VendorProgress]
    worker: WorkerStatus | None = Field(
        default=None,
        description="A running bake-off's worker heartbeat (null when not running or unknown).",
    )


class TickResult(BaseModel):
    """What one step of a run did."""

    submitted: int = 0
    received: int = 0
    requeued: int = 0
    timed_out: int = 0
    failed: int = 0
    open: int = 0
    done: bool = False
    stopped: bool = Field(default=False, description="The run is not running (cancelled...).")


# --------------------------------------------------------------------------- start, cancel


def start_run(
    *,
    session: Session,
    bakeoff_id: int,
    principal: Principal | None = None,
    kicker: RunKicker | None = None,
) -> RunProgress:
    """Start (or resume) a bake-off run: create its tasks and hand it to the workers.

    Starting a running bake-off again only wakes the workers up; nothing is duplicated.

    Raises
    ------
    Conflict
        The bake-off is cancelled or completed, or has no candidates or no gold items.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    if bakeoff.status in ("cancelled", "completed"):
        raise Conflict(f"bake-off {bakeoff_id} is {bakeoff.status}; create a new one to rerun it")
    if not bakeoff_vendor_ids(session, bakeoff_id):
        raise Conflict(f"bake-off {bakeoff_id} has no candidate vendors")
    create_tasks(session=session, bakeoff_id=bakeoff_id, principal=principal)
    total = session.exec(
        select(func.count()).select_from(Task).where(Task.bakeoff_id == bakeoff_id)
    ).one()
    if not total:
        raise Conflict(f"bake-off {bakeoff_id}: its golden-set version has no gold items")
    bakeoff = get_or_404(session, BakeOff, bakeoff_id, what="Bake-off")
    if bakeoff.status == "draft":
        bakeoff.status = "running"
        bakeoff.updated_at = utcnow()
        session.add(bakeoff)
        session.commit()
    if kicker is not None:
        kicker.kick(bakeoff_id)
    return run_progress(session=session, bakeoff_id=bakeoff_id, principal=principal)


def cancel_run(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> RunProgress:
    """Cancel a run: open tasks become ``failed`` ("cancelled") and vendors are told.

    Labels that still arrive are kept.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    if bakeoff.status == "completed":
        raise Conflict(f"bake-off {bakeoff_id} is already completed")
    task = table_of(Task)
    jobs = session.execute(
        sa_select(task.c.vendor_id, task.c.external_id, task.c.item_id)
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.status == "sent")
    ).all()
    now = utcnow()
    session.execute(
        task.update()
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.status.in_(("pending", "sent")))
        .values(status="failed", last_error="cancelled", updated_at=now)
    )
    model = get_or_404(session, BakeOff, bakeoff_id, what="Bake-off")
    model.status = "cancelled"
    model.updated_at = now
    session.add(model)
    session.commit()
    by_job: dict[tuple[int, str], list[int]] = defaultdict(list)
    for vendor_id, external_id, item_id in jobs:
        if external_id:
            by_job[(vendor_id, external_id)].append(item_id)
    for (vendor_id, external_id), _items in by_job.items():
        vendor = session.get(Vendor, vendor_id)
        if vendor is None:
            continue
        try:
            adapter = adapter_for(vendor)
            adapter.cancel(
                VendorJob(
                    vendor=adapter.name, external_id=external_id, item_ids=(), submitted_at=now
                )
            )
        except (AdapterError, Invalid) as exc:  # best effort: the run is cancelled anyway
            log.warning("cancel of %s job %s failed: %s", vendor.name, external_id, exc)
    return run_progress(session=session, bakeoff_id=bakeoff_id, principal=principal)


# --------------------------------------------------------------------------- progress


def worker_status(
    *,
    session: Session,
    bakeoff_id: int,
    monitor: WorkerMonitor,
    now: datetime | None = None,
    threshold_s: float = NO_WORKER_AFTER_S,
) -> WorkerStatus | None:
    """Is a worker advancing this run? ``None`` when the bake-off is not running.

    The worker writes a heartbeat at every step of a run (:mod:`service.dispatch.queue`).
    A run is *stalled* when no step was taken for ``threshold_s`` seconds: since the last
    heartbeat, or since its tasks were created when no worker ever took it up.
    """
    bakeoff = session.get(BakeOff, bakeoff_id)
    if bakeoff is None or bakeoff.status != "running":
        return None
    clock = now or utcnow()
    beat = monitor.last_worker_beat(bakeoff_id)
    seen = None if beat is None else datetime.fromtimestamp(beat, tz=UTC)
    if seen is not None:
        since = seen
    else:
        started = session.execute(
            sa_select(func.min(table_of(Task).c.created_at)).where(
                table_of(Task).c.bakeoff_id == bakeoff_id
            )
        ).scalar_one()
        since = started or bakeoff.updated_at
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    silent = max(0.0, (clock - since).total_seconds())
    stalled = silent >= threshold_s
    message: str | None = None
    if stalled and seen is None:
        message = (
            f"No worker has picked this run up for {silent:.0f} s: start one with "
            "`bakeoff worker` on the same database and queue."
        )
    elif stalled and seen is not None:
        message = (
            f"No worker has advanced this run for {silent:.0f} s (last step "
            f"{seen:%Y-%m-%d %H:%M:%S} UTC): the worker may have stopped."
        )
    return WorkerStatus(last_seen_at=seen, silent_s=silent, stalled=stalled, message=message)


def run_progress(
    *,
    session: Session,
    bakeoff_id: int,
    principal: Principal | None = None,
    monitor: WorkerMonitor | None = None,
) -> RunProgress:
    """Per-vendor task counts by status (and, given ``monitor``, the worker's heartbeat).

    Blinding follows the results: a ``qa`` key sees "Candidate A/B/..." and no vendor ids or
    errors (they name the vendor's host) while the bake-off is blinded; procurement
    (``viewer``) and leads see names.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    task = table_of(Task)
    rows = session.execute(
        sa_select(
            task.c.vendor_id,
            task.c.status,
            func.count(),
            func.coalesce(func.sum(task.c.cost), 0.0),
        )
        .where(task.c.bakeoff_id == bakeoff_id)
        .group_by(task.c.vendor_id, task.c.status)
    ).all()
    errors: dict[int, str] = dict(
        session.execute(
            sa_select(task.c.vendor_id, func.max(task.c.last_error))
            .where(task.c.bakeoff_id == bakeoff_id)
            .where(task.c.status == "pending")
            .where(task.c.last_error.is_not(None))
            .group_by(task.c.vendor_id)
        ).all()
    )
    blind = is_blinded(bakeoff, principal)
    aliases = vendor_aliases(session, bakeoff_id)
    vendors: dict[int, VendorProgress] = {}
    for vendor_id in bakeoff_vendor_ids(session, bakeoff_id):
        vendor = session.get(Vendor, vendor_id)
        name = aliases.get(vendor_id, "") if blind or vendor is None else vendor.name
        vendors[vendor_id] = VendorProgress(
            vendor_id=None if blind else vendor_id,
            name=name,
            total=0,
            counts=dict.fromkeys(_STATUSES, 0),
            cost=0.0,
            failing=vendor_id in errors,
            last_error=None if blind else errors.get(vendor_id),  # errors name vendor hosts
        )
    for vendor_id, status, count, cost in rows:
        progress = vendors.get(vendor_id)
        if progress is None:
            continue
        progress.counts[status] = int(count)
        progress.total += int(count)
        if status == "received":
            progress.cost = float(cost)
    counts = dict.fromkeys(_STATUSES, 0)
    for progress in vendors.values():
        for status, n in progress.counts.items():
            counts[status] += n
    total = sum(counts.values())
    return RunProgress(
        bakeoff_id=bakeoff_id,
        status=bakeoff.status,
        total=total,
        counts=counts,
        done=total > 0 and counts["pending"] == 0 and counts["sent"] == 0,
        vendors=list(vendors.values()),
        worker=(
            None
            if monitor is None
            else worker_status(session=session, bakeoff_id=bakeoff_id, monitor=monitor)
        ),
    )


# --------------------------------------------------------------------------- the state machine


def _instructions(session: Session, bakeoff: BakeOff) -> Instructions:
    version = session.get(InstructionsVersion, bakeoff.instructions_version_id)
    if version is None:  # pragma: no cover - foreign key
        raise Conflict(f"bake-off {bakeoff.id} lost its instructions")
    return Instructions(
        version=version.version,
        text=version.text,
        examples=tuple(InstructionExample.model_validate(e) for e in version.examples),
    )


def _callback_url(settings: Settings, vendor: Vendor) -> str:
    return f"{settings.public_url.rstrip('/')}/callbacks/{vendor.id}"


class _RunContext:
    def __init__(self, session: Session, bakeoff: BakeOff, settings: Settings) -> None:
        project = session.get(Project, bakeoff.project_id)
        if project is None:  # pragma: no cover - foreign key
            raise Conflict(f"bake-off {bakeoff.id} lost its project")
        self.bakeoff = bakeoff
        self.settings = settings
        self.task_type = project.task_type
        self.ontology = Ontology.model_validate(project.ontology)
        self.instructions = _instructions(session, bakeoff)


_last_poll: dict[tuple[int, int], float] = {}


def tick(
    *,
    session: Session,
    bakeoff_id: int,
    settings: Settings | None = None,
    now: datetime | None = None,
    force_poll: bool = False,
) -> TickResult:
    """Advance a run by one step: submit pending items, collect results, time out, finish.

    Safe to call from several workers at once, and again after any crash.
    """
    settings = settings or get_settings()
    bakeoff = session.get(BakeOff, bakeoff_id)
    if bakeoff is None:
        raise NotFound(f"Bake-off {bakeoff_id} not found")
    if bakeoff.status != "running":
        return TickResult(stopped=True, done=bakeoff.status == "completed")
    context = _RunContext(session, bakeoff, settings)
    result = TickResult()
    clock = now or utcnow()
    for vendor_id in bakeoff_vendor_ids(session, bakeoff_id):
        vendor = session.get(Vendor, vendor_id)
        if vendor is None:  # pragma: no cover - foreign key
            continue
        try:
            adapter = adapter_for(vendor)
        except Invalid as exc:
            result.failed += _fail_open(session, bakeoff_id, vendor_id, exc.message)
            continue
        _submit_pending(session, context, vendor, adapter, result)
        _collect(session, context, vendor, adapter, result, force_poll)
        result.timed_out += _time_out(session, context, vendor_id, clock)
    task = table_of(Task)
    result.open = int(
        session.execute(
            sa_select(func.count())
            .select_from(task)
            .where(task.c.bakeoff_id == bakeoff_id)
            .where(task.c.status.in_(("pending", "sent")))
        ).scalar_one()
    )
    if result.open == 0:
        fresh = session.get(BakeOff, bakeoff_id)
        if fresh is not None and fresh.status == "running":
            fresh.status = "completed"
            fresh.updated_at = utcnow()
            session.add(fresh)
            session.commit()
        result.done = True
    return result


def _rows(result: Any) -> int:
    """Rows matched by an UPDATE (``CursorResult.rowcount``)."""
    return int(getattr(result, "rowcount", 0) or 0)


def _fail_open(session: Session, bakeoff_id: int, vendor_id: int, error: str) -> int:
    task = table_of(Task)
    n = session.execute(
        task.update()
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.vendor_id == vendor_id)
        .where(task.c.status.in_(("pending", "sent")))
        .values(status="failed", last_error=error_text(error), updated_at=utcnow())
    )
    session.commit()
    return _rows(n)


def _submit_pending(
    session: Session,
    context: _RunContext,
    vendor: Vendor,
    adapter: LabelingVendor,
    result: TickResult,
) -> None:
    bakeoff_id = int(context.bakeoff.id or 0)
    vendor_id = int(vendor.id or 0)
    task, item = table_of(Task), table_of(GoldenItem)
    pending = session.execute(
        sa_select(
            task.c.id, task.c.attempts, item.c.key, item.c.data, task.c.swapped, task.c.repeat
        )
        .join(item, item.c.id == task.c.item_id)
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.vendor_id == vendor_id)
        .where(task.c.status == "pending")
        # second sendings after every first one: never side by side with their first
        .order_by(task.c.repeat, task.c.item_id)
    ).all()
    if not pending:
        return
    if context.task_type not in adapter.supported_tasks:
        result.failed += _fail_open(
            session,
            bakeoff_id,
            vendor_id,
            f"{vendor.name} ({vendor.adapter_kind}) does not do {context.task_type} tasks",
        )
        return
    size = max(1, context.settings.dispatch_batch_size)
    callback = _callback_url(context.settings, vendor)
    for start in range(0, len(pending), size):
        chunk = pending[start : start + size]
        ids = [row[0] for row in chunk]
        batch = Batch(
            bakeoff_id=f"bakeoff-{bakeoff_id}",
            task_type=context.task_type,
            ontology=context.ontology,
            instructions=context.instructions,
            # a swapped pair differs from the stored item only in the order of its responses;
            # a pair's second sending goes under an id the vendor cannot link to the first
            items=tuple(
                WorkItem(
                    item_id=repeat_item_id(bakeoff_id, vendor_id, row[2]) if row[5] else row[2],
                    data=swap_pair(row[3] or {}) if row[4] else dict(row[3] or {}),
                )
                for row in chunk
            ),
            callback_url=callback,
        )
        batch_id = batch_id_for(batch, adapter.name)
        session.execute(task.update().where(task.c.id.in_(ids)).values(job_id=batch_id))
        session.commit()  # the key is durable before the vendor hears of the batch
        # Dispatch time is taken before submitting: a synchronous vendor (a model) answers
        # inside submit(), and its completion must not precede its dispatch.
        sent_at = utcnow()
        try:
            job = adapter.submit(batch)
        except VendorFailing as exc:
            _note_error(session, ids, str(exc), count_attempt=False)
            return
        except VendorUnavailable as exc:
            result.failed += _note_error(
                session, ids, str(exc), max_attempts=context.settings.dispatch_max_attempts
            )
            return
        except (VendorRejected, AdapterError) as exc:
            result.failed += _fail_tasks(session, ids, f"refused: {exc}")
            continue
        n = session.execute(
            task.update()
            .where(task.c.id.in_(ids))
            .where(task.c.status == "pending")
            .values(
                status="sent",
                sent_at=sent_at,
                external_id=job.external_id,
                attempts=task.c.attempts + 1,
                last_error=None,
                updated_at=utcnow(),
            )
        )
        session.commit()
        result.submitted += _rows(n)


def _note_error(
    session: Session,
    ids: list[int],
    error: str,
    *,
    count_attempt: bool = True,
    max_attempts: int = 0,
) -> int:
    task = table_of(Task)
    values: dict[str, Any] = {"last_error": error_text(error), "updated_at": utcnow()}
    if count_attempt:
        values["attempts"] = task.c.attempts + 1
    session.execute(
        task.update().where(task.c.id.in_(ids)).where(task.c.status == "pending").values(**values)
    )
    failed = 0
    if count_attempt and max_attempts > 0:
        failed = _rows(
            session.execute(
                task.update()
                .where(task.c.id.in_(ids))
                .where(task.c.status == "pending")
                .where(task.c.attempts >= max_attempts)
                .values(status="failed")
            )
        )
    session.commit()
    return failed


def _fail_tasks(session: Session, ids: list[int], error: str) -> int:
    task = table_of(Task)
    n = session.execute(
        task.update()
        .where(task.c.id.in_(ids))
        .where(task.c.status.in_(("pending", "sent")))
        .values(status="failed", last_error=error_text(error), updated_at=utcnow())
    )
    session.commit()
    return _rows(n)


def _collect(
    session: Session,
    context: _RunContext,
    vendor: Vendor,
    adapter: LabelingVendor,
    result: TickResult,
    force: bool,
) -> None:
    import time

    bakeoff_id = int(context.bakeoff.id or 0)
    vendor_id = int(vendor.id or 0)
    interval = context.settings.dispatch_poll_interval_s
    if isinstance(adapter, HttpAdapter) and adapter.settings.mode == "callback":
        interval = context.settings.dispatch_callback_poll_interval_s
    key = (bakeoff_id, vendor_id)
    if not force and time.monotonic() - _last_poll.get(key, -1e18) < interval:
        return
    _last_poll[key] = time.monotonic()
    task, item = table_of(Task), table_of(GoldenItem)
    rows = session.execute(
        sa_select(task.c.external_id, item.c.key, task.c.sent_at, task.c.repeat)
        .join(item, item.c.id == task.c.item_id)
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.vendor_id == vendor_id)
        .where(task.c.status == "sent")
    ).all()
    jobs: dict[str, list[str]] = defaultdict(list)
    sent_at: dict[str, datetime] = {}
    for external_id, key_, when, repeat in rows:
        if external_id:
            # the ids the vendor was sent: a pair's second sending went under its opaque id
            jobs[external_id].append(
                repeat_item_id(bakeoff_id, vendor_id, key_) if repeat else key_
            )
            if when is not None:
                sent_at[external_id] = min(sent_at.get(external_id, when), when)
    for external_id, keys in jobs.items():
        job = VendorJob(
            vendor=adapter.name,
            external_id=external_id,
            item_ids=tuple(keys),
            submitted_at=sent_at.get(external_id, utcnow()),
        )
        try:
            annotations = adapter.fetch_results(job)
        except JobNotFound:
            result.requeued += _requeue(session, bakeoff_id, vendor_id, external_id)
            continue
        except AdapterError as exc:
            log.info("%s: polling job %s failed: %s", vendor.name, external_id, exc)
            continue
        wanted = set(keys)
        fresh = [a for a in annotations if a.item_id in wanted]
        if not fresh:
            continue
        try:
            stored = store_results(
                session=session,
                bakeoff_id=bakeoff_id,
                vendor=vendor,
                annotations=fresh,
                strict=False,
            )
        except (Invalid, Conflict) as exc:
            session.rollback()
            log.info("%s: storing job %s results failed: %s", vendor.name, external_id, exc)
            continue
        result.received += stored.stored


def _requeue(session: Session, bakeoff_id: int, vendor_id: int, external_id: str) -> int:
    task = table_of(Task)
    n = session.execute(
        task.update()
        .where(task.c.bakeoff_id == bakeoff_id)
        .where(task.c.vendor_id == vendor_id)
        .where(task.c.external_id == external_id)
        .where(task.c.status == "sent")
        .values(status="pending", last_error="vendor lost the job; resubmitting")
    )
    session.commit()
    return _rows(n)


def _time_out(session: Session, context: _RunContext, vendor_id: int, clock: datetime) -> int:
    task = table_of(Task)
    deadline = clock - timedelta(seconds=context.settings.dispatch_task_timeout_s)
    n = session.execute(
        task.update()
        .where(
            and_(
                task.c.bakeoff_id == context.bakeoff.id,
                task.c.vendor_id == vendor_id,
                task.c.status == "sent",
                task.c.sent_at < deadline,
            )
        )
        .values(status="timed_out", last_error="no result before the deadline", updated_at=clock)
    )
    session.commit()
    return _rows(n)
