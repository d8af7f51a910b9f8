"""Dispatch: the per-task state machine, callbacks, progress, cancel, and no gold sent.

The state machine is driven here step by step (``dispatch.tick``) against an in-memory
vendor kind registered for the tests, so every failure mode is scripted and fast. The
end-to-end runs through a real worker process are in ``test_dispatch_e2e.py``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

import service.models as m
from adapters import registry
from adapters.base import (
    Batch,
    Box,
    JobNotFound,
    JobStatus,
    VendorAnnotation,
    VendorJob,
    VendorRejected,
    VendorUnavailable,
)
from adapters.http import sign_callback
from adapters.http_protocol import CallbackPayload, ItemResult, WireAnnotation
from adapters.testing import ToyGolden, assert_no_gold, toy_golden
from service.api.routes.dispatch import get_run_queue
from service.core.config import Settings
from service.domain import bakeoffs, dispatch, golden_sets, projects, vendors
from service.domain.errors import Conflict, Invalid
from tests.service.conftest import ServerFolders

# --------------------------------------------------------------------------- a scripted vendor


@dataclass
class Script:
    """What the in-memory vendor does; shared by every adapter instance of one vendor."""

    fail_submits: int = 0  # the next N submits raise VendorUnavailable
    reject: bool = False  # every submit raises VendorRejected
    crash_after_accept: int = 0  # the next N submits are accepted, then the worker "dies"
    lose_jobs: int = 0  # the next N fetches raise JobNotFound
    duplicate_results: bool = False  # every result is returned twice
    hold: bool = False  # results are not ready yet
    error_rate: float = 0.0  # random VendorUnavailable on any call
    on_submit: Callable[[Batch], None] | None = None  # e.g. a callback racing the submit
    sent: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[str, Batch] = field(default_factory=dict)
    by_batch: dict[str, str] = field(default_factory=dict)
    calls: int = 0


SCRIPTS: defaultdict[str, Script] = defaultdict(Script)


class WorkerDied(BaseException):
    """Stands in for SIGKILL between the vendor accepting a batch and the DB update."""


class MemoryVendor:
    """A vendor kind held in memory; labels items without gold (class by item id hash)."""

    api_settings: ClassVar[frozenset[str]] = frozenset({"tasks", "annotators"})

    def __init__(self, vendor: str, *, tasks: list[str] | None = None, annotators: int = 1):
        self.name = vendor
        self.supported_tasks = frozenset(tasks or ["classification"])
        self.annotators = annotators
        self.script = SCRIPTS[vendor]

    def _maybe_fail(self) -> None:
        s = self.script
        s.calls += 1
        if s.error_rate and int(hashlib.sha256(str(s.calls).encode()).hexdigest(), 16) % 1000 < (
            s.error_rate * 1000
        ):
            raise VendorUnavailable(f"{self.name}: injected 5xx")

    def submit(self, batch: Batch) -> VendorJob:
        s = self.script
        s.sent.append(batch.model_dump(mode="json"))
        if s.reject:
            raise VendorRejected(f"{self.name}: no")
        if s.fail_submits:
            s.fail_submits -= 1
            raise VendorUnavailable(f"{self.name}: down")
        self._maybe_fail()
        if s.on_submit is not None:
            s.on_submit(batch)
        key = ",".join(sorted(i.item_id for i in batch.items))
        job_id = s.by_batch.setdefault(key, f"{self.name}-job-{len(s.by_batch)}")
        s.jobs[job_id] = batch
        if s.crash_after_accept:
            s.crash_after_accept -= 1
            raise WorkerDied
        return VendorJob(
            vendor=self.name,
            external_id=job_id,
            item_ids=tuple(i.item_id for i in batch.items),
            submitted_at=datetime.now(UTC),
        )

    def poll(self, job: VendorJob) -> JobStatus:
        n = len(self.fetch_results(job))
        return JobStatus(state="completed", done=n, total=n)

    def fetch_results(self, job: VendorJob) -> list[VendorAnnotation]:
        s = self.script
        if s.lose_jobs:
            s.lose_jobs -= 1
            s.jobs.pop(job.external_id, None)
            s.by_batch.clear()
        self._maybe_fail()
        batch = s.jobs.get(job.external_id)
        if batch is None:
            raise JobNotFound(job.external_id)
        if s.hold:
            return []
        classes = batch.ontology.class_names

        def answer(item_id: str) -> Any:
            cls = classes[int(hashlib.sha256(item_id.encode()).hexdigest(), 16) % 3]
            if batch.task_type == "detection":
                return [Box(category=cls, bbox=(1.0, 2.0, 3.0, 4.0))]
            return cls

        out = [
            VendorAnnotation(
                item_id=i.item_id,
                label=answer(i.item_id),
                annotator_id=f"w{a}",
                external_id=f"{job.external_id}:{i.item_id}:{a}",
                # its own clock, as sent (started and finished when the batch arrived)
                started_at=job.submitted_at,
                completed_at=job.submitted_at,
                cost=0.01,
            )
            for i in batch.items
            for a in range(self.annotators)
        ]
        return out + out if s.duplicate_results else out

    def cancel(self, job: VendorJob) -> None:
        self.script.jobs.pop(job.external_id, None)


@pytest.fixture(autouse=True)
def memory_kind() -> Iterator[None]:
    registry.register("memory", MemoryVendor, clobber=True)
    SCRIPTS.clear()
    dispatch.forget_adapters()
    dispatch._last_poll.clear()
    yield
    registry._registry.pop("memory", None)
    dispatch.forget_adapters()


# --------------------------------------------------------------------------- building a bake-off


@dataclass(frozen=True)
class Built:
    bakeoff_id: int
    vendor_ids: dict[str, int]
    golden: ToyGolden


def build_bakeoff(
    session: Session,
    golden: ToyGolden,
    candidates: dict[str, tuple[str, dict[str, Any]]],
    *,
    prices: dict[str, float] | None = None,
    suffix: str = "",
) -> Built:
    """A bake-off over ``golden`` with ``{name: (kind, adapter settings)}`` candidates."""
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name=f"toy-{golden.task_type}{suffix}",
            task_type=golden.task_type,
            ontology=golden.ontology.model_dump(mode="json"),
        ),
    )
    assert project.id is not None
    instructions = projects.create_instructions(
        session=session,
        project_id=project.id,
        data=m.InstructionsVersionCreate(
            text=golden.instructions.text,
            examples=[e.model_dump(mode="json") for e in golden.instructions.examples],
        ),
    )
    gs = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name=f"gold{suffix}", project_id=project.id)
    )
    assert gs.id is not None
    golden_sets.add_items(
        session=session,
        golden_set_id=gs.id,
        items=[
            m.GoldenItemCreate(key=i.item_id, data=dict(i.data), meta={"secret": "not sent"})
            for i in golden.items
        ],
    )
    version = golden_sets.create_version(session=session, golden_set_id=gs.id)
    gold = golden.gold_json()
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=gs.id,
        version=version.version,
        labels=[m.GoldLabelCreate(item_key=k, value=v) for k, v in gold.items()],
    )
    ids: dict[str, int] = {}
    for name, (kind, settings) in candidates.items():
        vendor = vendors.create_vendor(
            session=session,
            data=m.VendorCreate(
                name=name,
                adapter_kind=kind,
                adapter_settings=settings,
                price_per_item=(prices or {}).get(name, 0.0),
            ),
        )
        assert vendor.id is not None
        ids[name] = vendor.id
    assert version.id is not None and instructions.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name=f"toy{suffix}",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=list(ids.values()),
        ),
    )
    assert bakeoff.id is not None
    return Built(bakeoff.id, ids, golden)


SETTINGS = Settings(
    environment="test",
    auto_migrate=False,
    database_url="sqlite://",
    dispatch_poll_interval_s=0.0,
    dispatch_batch_size=5,
    dispatch_max_attempts=3,
)


def run_to_end(session: Session, bakeoff_id: int, *, steps: int = 50) -> dispatch.TickResult:
    for _ in range(steps):
        result = dispatch.tick(session=session, bakeoff_id=bakeoff_id, settings=SETTINGS)
        if result.done or result.stopped:
            return result
    raise AssertionError(f"run did not finish in {steps} steps: {result}")


def label_rows(session: Session, bakeoff_id: int) -> list[m.VendorLabel]:
    return list(
        session.exec(select(m.VendorLabel).where(m.VendorLabel.bakeoff_id == bakeoff_id)).all()
    )


def tasks_by_status(session: Session, bakeoff_id: int) -> dict[str, int]:
    rows = session.exec(
        select(m.Task.status, func.count())
        .where(m.Task.bakeoff_id == bakeoff_id)
        .group_by(m.Task.status)
    ).all()
    return {status: int(n) for status, n in rows}


# --------------------------------------------------------------------------- the state machine


@pytest.mark.dbs
def test_a_run_sends_every_item_and_stores_every_label_once(session: Session) -> None:
    golden = toy_golden(n=12)
    built = build_bakeoff(
        session,
        golden,
        {"alpha": ("memory", {"annotators": 2}), "beta": ("memory", {})},
        prices={"beta": 0.5},
    )
    progress = dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    assert progress.total == 24 and progress.counts["pending"] == 24 and not progress.done
    assert session.get(m.BakeOff, built.bakeoff_id).status == "running"  # type: ignore[union-attr]

    first = dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    assert first.submitted == 24  # 12 items x 2 vendors, in batches of 5
    result = run_to_end(session, built.bakeoff_id)
    assert result.done
    labels = label_rows(session, built.bakeoff_id)
    assert len(labels) == 12 * 2 + 12  # alpha has two annotators per item
    assert len({(x.vendor_id, x.item_id, x.annotator_id) for x in labels}) == len(labels)
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 24}
    bakeoff = session.get(m.BakeOff, built.bakeoff_id)
    assert bakeoff is not None and bakeoff.status == "completed"

    tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == built.bakeoff_id)).all()
    for task in tasks:
        assert task.sent_at is not None and task.completed_at is not None
        # the vendor's own completion time and prices are kept
        assert task.completed_at == task.sent_at
        per_item = 0.02 if task.vendor_id == built.vendor_ids["alpha"] else 0.01
        assert task.cost == pytest.approx(per_item)
        assert task.job_id and task.external_id and task.attempts == 1

    final = dispatch.run_progress(session=session, bakeoff_id=built.bakeoff_id)
    assert final.done and final.counts["received"] == 24 and final.status == "completed"
    alpha = next(v for v in final.vendors if v.name == "alpha")
    assert alpha.cost == pytest.approx(12 * 0.02)


def test_price_list_is_used_when_the_vendor_gives_no_cost(
    session: Session, server_folders: ServerFolders
) -> None:
    golden = toy_golden(n=3)
    built = build_bakeoff(
        session,
        golden,
        {"model": ("model", {"model": "identity"})},
        prices={"model": 0.25},
    )
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    run_to_end(session, built.bakeoff_id)
    tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == built.bakeoff_id)).all()
    # the model reports no cost of its own: the vendor's price list applies
    assert {t.cost for t in tasks} == {0.25}
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 3}


def test_a_crash_after_the_vendor_accepted_does_not_duplicate(session: Session) -> None:
    golden = toy_golden(n=8)
    built = build_bakeoff(session, golden, {"alpha": ("memory", {})})
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    SCRIPTS["alpha"].crash_after_accept = 1
    with pytest.raises(WorkerDied):
        dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    session.rollback()
    # the first chunk's key was written before the vendor heard of it; still pending
    counts = tasks_by_status(session, built.bakeoff_id)
    assert counts == {"pending": 8}
    run_to_end(session, built.bakeoff_id)
    script = SCRIPTS["alpha"]
    first_chunk = [b for b in script.sent if b["items"][0]["item_id"] == "cla-000"]
    assert len(first_chunk) == 2  # sent again after the "crash" ...
    assert len(script.by_batch) == 2  # ... but the vendor still has only 2 jobs (5 + 3 items)
    assert len(label_rows(session, built.bakeoff_id)) == 8


def test_results_racing_ahead_of_the_submit_are_not_undone(
    session: Session, engine: Engine
) -> None:
    """A fast vendor's callback lands before the dispatcher marks the tasks sent."""
    golden = toy_golden(n=3)
    built = build_bakeoff(session, golden, {"fast": ("memory", {})})
    vendor = session.get(m.Vendor, built.vendor_ids["fast"])
    assert vendor is not None

    def callback_first(batch: Batch) -> None:
        with Session(engine) as other:
            dispatch.store_results(
                session=other,
                bakeoff_id=built.bakeoff_id,
                vendor=vendor,
                annotations=[
                    VendorAnnotation(item_id=i.item_id, label="cat", external_id=f"cb-{i.item_id}")
                    for i in batch.items
                ],
            )

    SCRIPTS["fast"] = Script(on_submit=callback_first, hold=True)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    result = dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    assert result.submitted == 0 and result.done  # nothing was moved back to "sent"
    session.expire_all()
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 3}
    assert len(label_rows(session, built.bakeoff_id)) == 3


def test_duplicated_results_are_stored_once(session: Session) -> None:
    golden = toy_golden(n=6)
    built = build_bakeoff(session, golden, {"alpha": ("memory", {})})
    SCRIPTS["alpha"] = Script(duplicate_results=True)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    run_to_end(session, built.bakeoff_id)
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    assert len(label_rows(session, built.bakeoff_id)) == 6


def test_a_lost_job_is_submitted_again(session: Session) -> None:
    golden = toy_golden(n=4)
    built = build_bakeoff(session, golden, {"alpha": ("memory", {})})
    SCRIPTS["alpha"] = Script(lose_jobs=1)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    first = dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    assert first.requeued == 4
    run_to_end(session, built.bakeoff_id)
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 4}
    assert len(SCRIPTS["alpha"].sent) == 2


def test_an_unavailable_vendor_is_retried_then_its_tasks_fail(session: Session) -> None:
    golden = toy_golden(n=3)
    built = build_bakeoff(session, golden, {"down": ("memory", {}), "up": ("memory", {})})
    SCRIPTS["down"] = Script(fail_submits=10)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    progress = dispatch.run_progress(session=session, bakeoff_id=built.bakeoff_id)
    down = next(v for v in progress.vendors if v.name == "down")
    assert down.failing and down.last_error is not None and "down" in down.last_error
    assert down.counts["pending"] == 3
    run_to_end(session, built.bakeoff_id)
    assert tasks_by_status(session, built.bakeoff_id) == {"failed": 3, "received": 3}
    failed = session.exec(select(m.Task).where(m.Task.vendor_id == built.vendor_ids["down"])).all()
    assert all(t.attempts == SETTINGS.dispatch_max_attempts for t in failed)


def test_a_vendor_that_recovers_gets_everything(session: Session) -> None:
    golden = toy_golden(n=3)
    built = build_bakeoff(session, golden, {"flaky": ("memory", {})})
    SCRIPTS["flaky"] = Script(fail_submits=2)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    run_to_end(session, built.bakeoff_id)
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 3}


def test_a_refusing_vendor_fails_its_tasks_with_the_reason(session: Session) -> None:
    golden = toy_golden(n=2)
    built = build_bakeoff(session, golden, {"no": ("memory", {})})
    SCRIPTS["no"] = Script(reject=True)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    run_to_end(session, built.bakeoff_id)
    tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == built.bakeoff_id)).all()
    assert {t.status for t in tasks} == {"failed"}
    assert all(t.last_error and "refused" in t.last_error for t in tasks)


def test_a_vendor_without_the_task_type_fails_at_once(session: Session) -> None:
    golden = toy_golden("detection", n=2)
    built = build_bakeoff(session, golden, {"cls-only": ("memory", {})})
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    run_to_end(session, built.bakeoff_id)
    tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == built.bakeoff_id)).all()
    assert all(t.status == "failed" and "detection" in (t.last_error or "") for t in tasks)


def test_a_bad_adapter_setting_fails_the_vendor_with_a_clear_reason(session: Session) -> None:
    golden = toy_golden(n=2)
    with pytest.raises(Invalid, match="no-such-kind.*available kinds"):  # refused when created
        build_bakeoff(session, golden, {"typo": ("no-such-kind", {})})
    session.rollback()
    # a row that went bad after it was stored fails its tasks with the reason instead
    built = build_bakeoff(session, golden, {"typo": ("memory", {})}, suffix="-stored")
    vendor = session.exec(select(m.Vendor).where(m.Vendor.name == "typo")).one()
    vendor.adapter_kind = "no-such-kind"
    session.add(vendor)
    session.commit()
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    run_to_end(session, built.bakeoff_id)
    task = session.exec(select(m.Task).where(m.Task.bakeoff_id == built.bakeoff_id)).first()
    assert task is not None and task.status == "failed"
    assert "no-such-kind" in (task.last_error or "") and "available kinds" in (
        task.last_error or ""
    )


def test_sent_tasks_time_out(session: Session) -> None:
    golden = toy_golden(n=3)
    built = build_bakeoff(session, golden, {"slow": ("memory", {})})
    SCRIPTS["slow"] = Script(hold=True)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    assert tasks_by_status(session, built.bakeoff_id) == {"sent": 3}
    later = datetime.now(UTC) + timedelta(seconds=SETTINGS.dispatch_task_timeout_s + 60)
    result = dispatch.tick(
        session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS, now=later
    )
    assert result.timed_out == 3 and result.done
    assert tasks_by_status(session, built.bakeoff_id) == {"timed_out": 3}


def test_cancel_fails_open_tasks_and_blocks_restart(session: Session) -> None:
    golden = toy_golden(n=3)
    built = build_bakeoff(session, golden, {"slow": ("memory", {})})
    SCRIPTS["slow"] = Script(hold=True)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    progress = dispatch.cancel_run(session=session, bakeoff_id=built.bakeoff_id)
    assert progress.status == "cancelled" and progress.counts["failed"] == 3
    assert SCRIPTS["slow"].jobs == {}  # the vendor was told
    assert dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS).stopped
    with pytest.raises(Conflict, match="cancelled"):
        dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)


def test_starting_twice_creates_nothing_twice(session: Session) -> None:
    golden = toy_golden(n=3)
    built = build_bakeoff(session, golden, {"a": ("memory", {})})
    kicks: list[int] = []

    class Kicker:
        def kick(self, bakeoff_id: int) -> None:
            kicks.append(bakeoff_id)

    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id, kicker=Kicker())
    again = dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id, kicker=Kicker())
    assert again.total == 3 and kicks == [built.bakeoff_id] * 2


@pytest.mark.dbs
def test_ten_percent_faults_still_store_every_label_exactly_once(session: Session) -> None:
    golden = toy_golden(n=40)
    built = build_bakeoff(
        session,
        golden,
        {f"v{i}": ("memory", {"annotators": 2}) for i in range(3)},
    )
    for i in range(3):
        SCRIPTS[f"v{i}"] = Script(error_rate=0.10, duplicate_results=True, lose_jobs=1)
    settings = SETTINGS.model_copy(update={"dispatch_max_attempts": 50})
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    for _ in range(200):
        if dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=settings).done:
            break
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 120}
    labels = label_rows(session, built.bakeoff_id)
    assert len(labels) == 40 * 3 * 2
    assert len({(x.vendor_id, x.item_id, x.annotator_id) for x in labels}) == 240


# --------------------------------------------------------------------------- no gold, ever


def _dispatch_a_delivery_with_honeypots(
    session: Session, built: Built, sim_url: str
) -> list[dict[str, Any]]:
    """Send a production delivery (half honeypots) to the simulated vendor; what it got.

    Besides carrying no gold (checked with the bake-off's payloads by the caller), the batch
    marks nothing: every item has the same keys and id scheme, and neither the customer's
    keys, the gold items' keys nor a honeypot marker appear.
    """
    import httpx

    from service.domain import deliveries, delivery_dispatch

    bakeoff = session.get(m.BakeOff, built.bakeoff_id)
    assert bakeoff is not None
    production = [f"customer-{i}" for i in range(6)]
    delivery = deliveries.create_delivery(
        session=session,
        data=m.DeliveryCreate(
            name="week 1",
            project_id=bakeoff.project_id,
            vendor_id=built.vendor_ids["sim"],
            golden_set_version_id=bakeoff.golden_set_version_id,
            honeypot_rate=0.5,
            items=[
                m.DeliveryItemIn(
                    key=k, data={"image": f"prod/{n}.png", "width": 640, "height": 480}
                )
                for n, k in enumerate(production)
            ],
            seed=3,
        ),
    )
    assert delivery.n_honeypots == 6
    before = len(httpx.get(f"{sim_url}/_debug/received").json())
    delivery_dispatch.dispatch_step(
        session=session, delivery_id=delivery.id or 0, settings=SETTINGS
    )
    bodies = [json.loads(r["body"]) for r in httpx.get(f"{sim_url}/_debug/received").json()]
    sent = bodies[before:]
    items = [item for body in sent for item in body["items"]]
    assert len(items) == 12
    assert {frozenset(i) for i in items} == {frozenset({"item_id", "data"})}
    assert {frozenset(i["data"]) for i in items} == {frozenset({"image", "width", "height"})}
    prefix = f"{delivery.id}-"
    assert all(i["item_id"].startswith(prefix) for i in items)
    named = {i["item_id"] for i in items}
    assert not named & (set(production) | {i.item_id for i in built.golden.items})
    text = json.dumps(sent).lower()
    for marker in ("honeypot", "gold_item", "source_key", "customer-", "secret"):
        assert marker not in text, marker
    return sent


@pytest.mark.slow
def test_no_payload_of_any_kind_carries_gold(
    session: Session, tmp_path: Any, server_folders: ServerFolders
) -> None:
    """Run a detection bake-off through the memory, simulator (http) and file (COCO) kinds
    and inspect everything each sent (the model kind only ever sees
    ``data[feature_key]``, checked in tests/adapters/test_model.py)."""
    import httpx

    from adapters.simulator import SimulatedVendor, SimulatorConfig, SimulatorProcess

    det = toy_golden("detection", n=6)
    config = SimulatorConfig(vendors=[SimulatedVendor(name="sim")], time_scale=0.0)
    files = server_folders.vendor_files_dir
    with SimulatorProcess(config, det.gold_json(), workdir=tmp_path / "sim") as sim:
        built = build_bakeoff(
            session,
            det,
            {
                "mem": ("memory", {"tasks": ["detection"]}),
                "sim": ("simulator", {"url": sim.url, "mode": "poll"}),
                "files": ("file", {"format": "coco"}),
            },
        )
        dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
        for _ in range(100):
            dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
            if tasks_by_status(session, built.bakeoff_id).get("received") == 12:
                break
            time.sleep(0.02)
        # the file vendor has its package and has not answered yet
        assert tasks_by_status(session, built.bakeoff_id) == {"received": 12, "sent": 6}
        received = [json.loads(r["body"]) for r in httpx.get(f"{sim.url}/_debug/received").json()]
        delivered = _dispatch_a_delivery_with_honeypots(session, built, sim.url)
    packages = [json.loads(p.read_text()) for p in sorted(files.rglob("*.json"))] + [
        p.read_text() for p in sorted(files.rglob("*.md"))
    ]
    assert len(packages) >= 4
    for payloads in (SCRIPTS["mem"].sent, received, packages, delivered):
        assert_no_gold(payloads, det)
        # neither the gold boxes' coordinates nor the item metadata (slices) leave
        text = json.dumps(payloads)
        assert "secret" not in text and "101.125" not in text and "57.375" not in text


# --------------------------------------------------------------------------- the API


@pytest.fixture
def api(client: TestClient, engine: Engine) -> Iterator[TestClient]:
    kicks: list[int] = []

    class Kicker:
        def kick(self, bakeoff_id: int) -> None:
            kicks.append(bakeoff_id)

    client.app.dependency_overrides[get_run_queue] = lambda: Kicker()  # type: ignore[attr-defined]
    client.kicks = kicks  # type: ignore[attr-defined]
    yield client


def test_routes_start_follow_and_cancel_a_run(
    api: TestClient, session: Session, auth: dict[str, dict[str, str]]
) -> None:
    built = build_bakeoff(session, toy_golden(n=4), {"alpha": ("memory", {})})
    url = f"/bakeoffs/{built.bakeoff_id}"
    assert api.post(f"{url}/run", headers=auth["viewer"]).status_code == 403
    started = api.post(f"{url}/run", headers=auth["lead"])
    assert started.status_code == 202, started.text
    assert started.json()["counts"]["pending"] == 4
    assert api.kicks == [built.bakeoff_id]  # type: ignore[attr-defined]
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    progress = api.get(f"{url}/progress", headers=auth["qa"]).json()
    assert progress["done"] is True and progress["counts"]["received"] == 4
    # a blinded qa key sees aliases and no vendor ids; procurement sees names
    assert progress["vendors"][0]["name"].startswith("Candidate")
    assert progress["vendors"][0]["vendor_id"] is None
    viewer_view = api.get(f"{url}/progress", headers=auth["viewer"]).json()
    assert viewer_view["vendors"][0]["name"] == "alpha"
    lead_view = api.get(f"{url}/progress", headers=auth["lead"]).json()
    assert lead_view["vendors"][0]["name"] == "alpha"
    assert api.post(f"{url}/cancel", headers=auth["lead"]).status_code == 409  # completed
    missing = api.get("/bakeoffs/999999/progress", headers=auth["lead"])
    assert missing.status_code == 404


def test_run_refused_without_candidates_or_gold(
    api: TestClient, session: Session, auth: dict[str, dict[str, str]]
) -> None:
    built = build_bakeoff(session, toy_golden(n=2), {})
    answer = api.post(f"/bakeoffs/{built.bakeoff_id}/run", headers=auth["lead"])
    assert answer.status_code == 409 and "no candidate" in answer.json()["detail"]


SECRET = "hook-secret-0123456789"


def _signed(
    payload: CallbackPayload, *, delivery: str, ts: int | None = None
) -> tuple[bytes, dict[str, str]]:
    body = payload.model_dump_json().encode()
    return body, sign_callback(SECRET, body, delivery_id=delivery, timestamp=ts)


@pytest.mark.dbs
def test_callbacks_are_verified_and_stored_exactly_once(
    api: TestClient, session: Session, auth: dict[str, dict[str, str]]
) -> None:
    golden = toy_golden(n=4)
    built = build_bakeoff(
        session,
        golden,
        {"hooky": ("http", {"base_url": "http://unused.invalid", "webhook_secret": SECRET})},
    )
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    # what the dispatcher writes before it submits: the batch key
    batch_key = "bakeoff-batch-under-test"
    task_table = m.Task.__table__  # type: ignore[attr-defined]
    session.execute(
        task_table.update()
        .where(task_table.c.bakeoff_id == built.bakeoff_id)
        .values(job_id=batch_key, status="sent", sent_at=datetime.now(UTC))
    )
    session.commit()
    vendor_id = built.vendor_ids["hooky"]
    results = [
        ItemResult(
            item_id=i.item_id,
            annotations=[WireAnnotation(result_id=f"r-{i.item_id}", label="cat", cost=0.3)],
        )
        for i in golden.items
    ]
    payload = CallbackPayload(job_id="j", batch_id=batch_key, results=results[:3])
    body, headers = _signed(payload, delivery="d1")
    first = api.post(f"/callbacks/{vendor_id}", content=body, headers=headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": 3, "stored": 3, "duplicates": 0}
    # a replay of the same delivery is refused
    assert api.post(f"/callbacks/{vendor_id}", content=body, headers=headers).status_code == 409
    # the same results re-sent as a new delivery (duplicate callback), out of order
    again = CallbackPayload(job_id="j", batch_id=batch_key, results=[results[3], *results[:3]])
    body2, headers2 = _signed(again, delivery="d2")
    second = api.post(f"/callbacks/{vendor_id}", content=body2, headers=headers2)
    assert second.json() == {"received": 4, "stored": 1, "duplicates": 3}
    assert len(label_rows(session, built.bakeoff_id)) == 4
    session.expire_all()
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 4}
    task = session.exec(select(m.Task).where(m.Task.bakeoff_id == built.bakeoff_id)).first()
    assert task is not None and task.cost == pytest.approx(0.3)

    # forged, stale, unsigned, malformed, unknown batch, unknown vendor
    forged = {**headers2, "Bakeoff-Signature": "v1=" + "0" * 64, "Bakeoff-Delivery": "d3"}
    forged_sig = sign_callback("wrong", body2, delivery_id="d3")
    stale_body, stale = _signed(again, delivery="d4", ts=int(time.time()) - 3600)
    bad_body = b'{"job_id": "j", "batch_id": "x", "results": [{"item_id": "a"}]}'
    unknown = CallbackPayload(job_id="j", batch_id="never-sent", results=results[:1])
    unknown_body, unknown_headers = _signed(unknown, delivery="d6")
    cases = [
        (body2, forged, 401),
        (body2, forged_sig, 401),
        (stale_body, stale, 401),
        (body2, {"Content-Type": "application/json"}, 401),
        (bad_body, sign_callback(SECRET, bad_body, delivery_id="d5"), 422),
        (unknown_body, unknown_headers, 404),
    ]
    for content, hdrs, status in cases:
        answer = api.post(f"/callbacks/{vendor_id}", content=content, headers=hdrs)
        assert answer.status_code == status, (status, answer.text)
    # an unknown vendor gets the same answer as a bad signature: nothing about vendors
    unknown_vendor = api.post("/callbacks/999999", content=body2, headers=headers2)
    assert unknown_vendor.status_code == 401
    assert (
        unknown_vendor.json()
        == api.post(f"/callbacks/{vendor_id}", content=body2, headers=forged).json()
    )
    assert len(label_rows(session, built.bakeoff_id)) == 4


def test_callbacks_for_a_vendor_without_secret_are_refused(
    api: TestClient, session: Session
) -> None:
    built = build_bakeoff(session, toy_golden(n=1), {"nokey": ("http", {"base_url": "http://x"})})
    payload = CallbackPayload(job_id="j", batch_id="b")
    body, headers = _signed(payload, delivery="d")
    answer = api.post(f"/callbacks/{built.vendor_ids['nokey']}", content=body, headers=headers)
    assert answer.status_code == 401 and "nokey" not in answer.text


def test_callback_with_unknown_class_is_refused_whole(api: TestClient, session: Session) -> None:
    golden = toy_golden(n=2)
    built = build_bakeoff(
        session, golden, {"h": ("http", {"base_url": "http://x", "webhook_secret": SECRET})}
    )
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    task_table = m.Task.__table__  # type: ignore[attr-defined]
    session.execute(task_table.update().values(job_id="k"))
    session.commit()
    payload = CallbackPayload(
        job_id="j",
        batch_id="k",
        results=[
            ItemResult(item_id="cla-000", annotations=[WireAnnotation(result_id="1", label="cat")]),
            ItemResult(item_id="cla-001", annotations=[WireAnnotation(result_id="2", label="kat")]),
        ],
    )
    body, headers = _signed(payload, delivery="dx")
    answer = api.post(f"/callbacks/{built.vendor_ids['h']}", content=body, headers=headers)
    assert answer.status_code == 422 and "kat" in answer.text
    assert label_rows(session, built.bakeoff_id) == []


def test_polling_stores_good_items_and_fails_bad_ones(session: Session) -> None:
    golden = toy_golden(n=3)
    built = build_bakeoff(session, golden, {"alpha": ("memory", {})})
    vendor = session.get(m.Vendor, built.vendor_ids["alpha"])
    assert vendor is not None
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    annotations = [
        VendorAnnotation(item_id="cla-000", label="cat", external_id="a"),
        VendorAnnotation(item_id="cla-001", label="kat", external_id="b"),
        VendorAnnotation(item_id="not-in-gold", label="cat", external_id="c"),
    ]
    stored = dispatch.store_results(
        session=session,
        bakeoff_id=built.bakeoff_id,
        vendor=vendor,
        annotations=annotations,
        strict=False,
    )
    assert stored.stored == 1
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 1, "failed": 1, "pending": 1}
