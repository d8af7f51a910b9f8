"""The vendor simulator: a real HTTP server that speaks the Bakeoff vendor protocol v1.

Each configured vendor lives under ``/vendors/{name}`` (its protocol ``base_url``).
Labels are simulated around the truth from the oracle file (read at start-up, never
received over the protocol), with the vendor's confusion, box bias, misses, false
positives, annotator skill, latency, prices and faults.

Run it with ``python -m adapters.simulator --port 8765 --config sim.json``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import hashlib
import random
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from adapters.base import JobState
from adapters.http import sign_callback
from adapters.http_protocol import (
    BatchAccepted,
    BatchRequest,
    BatchStatus,
    CallbackPayload,
    ItemResult,
    ProtocolError,
    ResultPage,
    WireAnnotation,
)
from adapters.simulator.config import OracleTruth, SimulatedVendor, SimulatorConfig
from adapters.simulator.noise import (
    pair_content,
    pick_annotators,
    sample_latency,
    simulate_answer,
    simulate_repeat,
)

__all__ = ["SimulatorState", "create_app"]

_PAGE = 200
_CALLBACK_ATTEMPTS = 6


@dataclass
class _ItemJob:
    result: ItemResult
    ready_at: float  # monotonic seconds
    attempts: int = 0
    retry_at: float = 0.0


@dataclass
class _Job:
    """A batch being worked on. ``items`` are sorted by the time they are ready."""

    job_id: str
    batch_id: str
    vendor: str
    callback_url: str | None
    items: list[_ItemJob]
    state: JobState = "running"
    completed_sent: bool = False
    cursor: int = 0  # items[:cursor] were handed to the callback loop
    retries: list[_ItemJob] = field(default_factory=list)
    ready_times: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.items.sort(key=lambda i: (i.ready_at, i.result.item_id))
        self.ready_times = [i.ready_at for i in self.items]

    def ready_count(self, now: float) -> int:
        return bisect.bisect_right(self.ready_times, now)

    def ready(self, now: float) -> list[_ItemJob]:
        return self.items[: self.ready_count(now)]


@dataclass
class SimulatorState:
    """In-memory state of a running simulator (lost on restart, like a real vendor's outage)."""

    config: SimulatorConfig
    oracle: dict[str, OracleTruth]
    vendors: dict[str, SimulatedVendor] = field(init=False)
    jobs: dict[str, _Job] = field(default_factory=dict)
    batches: dict[tuple[str, str], str] = field(default_factory=dict)
    received: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=10_000))
    callbacks_sent: int = 0
    fault_rng: random.Random = field(default_factory=lambda: random.Random(0))
    # per vendor: the first item id each preference pair (by content) was seen under
    pairs_seen: dict[tuple[str, tuple[str, frozenset[str]]], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vendors = {v.name: v for v in self.config.vendors}

    def accept(self, vendor: SimulatedVendor, batch: BatchRequest) -> _Job:
        key = (vendor.name, batch.batch_id)
        if key in self.batches and self.batches[key] in self.jobs:
            job = self.jobs[self.batches[key]]
            job.state = "running"  # a cancelled batch posted again is resumed
            return job
        job_id = f"{vendor.name}-" + hashlib.sha256(batch.batch_id.encode()).hexdigest()[:20]
        now_wall, now = datetime.now(UTC), time.monotonic()
        classes = batch.ontology.class_names
        items: list[_ItemJob] = []
        for item in batch.items:
            annotations: list[WireAnnotation] = []
            slowest = 0.0
            first_id = self._first_sending(vendor, batch.task_type, item.item_id, item.data)
            # a pair seen before goes to the annotators who judged it then
            annotators = pick_annotators(vendor, first_id)
            for annotator in annotators:
                if first_id != item.item_id:
                    answer = simulate_repeat(
                        vendor,
                        first_id=first_id,
                        item_id=item.item_id,
                        data=item.data,
                        truth=self.oracle.get(first_id),
                        annotator=annotator,
                    )
                else:
                    answer = simulate_answer(
                        vendor,
                        item_id=item.item_id,
                        data=item.data,
                        truth=self.oracle.get(item.item_id),
                        task_type=batch.task_type,
                        classes=classes,
                        annotator=annotator,
                    )
                seconds = sample_latency(vendor, item.item_id, annotator)
                slowest = max(slowest, seconds)
                prices = vendor.prices
                cost = (
                    prices.per_item / len(annotators)
                    + prices.per_label * answer.n_labels
                    + prices.per_hour * seconds / 3600
                )
                annotations.append(
                    WireAnnotation(
                        # stable across resubmissions: one answer per item and annotator
                        result_id=f"{batch.bakeoff_id}:{item.item_id}:{annotator}",
                        label=answer.label,
                        annotator_id=annotator,
                        score=round(answer.score, 4),
                        started_at=now_wall,
                        completed_at=now_wall + timedelta(seconds=seconds),
                        cost=round(cost, 6),
                    )
                )
            items.append(
                _ItemJob(
                    result=ItemResult(item_id=item.item_id, annotations=annotations),
                    ready_at=now + slowest * self.config.time_scale,
                )
            )
        job = _Job(job_id, batch.batch_id, vendor.name, batch.callback_url, items)
        self.jobs[job_id] = job
        self.batches[key] = job_id
        return job

    def _first_sending(
        self, vendor: SimulatedVendor, task_type: str, item_id: str, data: dict[str, Any]
    ) -> str:
        """The id a preference pair was first seen under by this vendor (by its content,
        whatever its order: the service sends a repeat under an id of its own)."""
        content = pair_content(data) if task_type == "preference" else None
        if content is None:
            return item_id
        return self.pairs_seen.setdefault((vendor.name, content), item_id)

    def status(self, job: _Job) -> BatchStatus:
        done = job.ready_count(time.monotonic())
        state: JobState = job.state
        if state == "running" and done == len(job.items):
            state = "completed"
        return BatchStatus(job_id=job.job_id, state=state, done=done, total=len(job.items))


def _error(status: int, error: str, detail: str = "") -> JSONResponse:
    return JSONResponse(ProtocolError(error=error, detail=detail).model_dump(), status_code=status)


def create_app(state: SimulatorState) -> FastAPI:
    """Build the simulator's FastAPI app around ``state``."""

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            task = asyncio.create_task(_deliver_forever(state, client))
            try:
                yield
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    app = FastAPI(title="Bakeoff vendor simulator", lifespan=lifespan)

    async def _vendor_or_fault(name: str, request: Request) -> SimulatedVendor | JSONResponse:
        vendor = state.vendors.get(name)
        if vendor is None:
            return _error(404, "unknown_vendor", f"simulated vendors: {sorted(state.vendors)}")
        if vendor.api_key is not None:
            expected = f"Bearer {vendor.api_key.get_secret_value()}"
            if request.headers.get("authorization") != expected:
                return _error(401, "unauthorized", "missing or wrong bearer token")
        faults = vendor.faults
        roll = state.fault_rng.random()
        if roll < faults.error_rate / 2:
            return _error(503, "injected_fault", "simulated outage")
        if roll < faults.error_rate / 2 + faults.timeout_rate:
            await asyncio.sleep(faults.hang_s)
        return vendor

    def _late_fault(vendor: SimulatedVendor) -> JSONResponse | None:
        # A fault after the work is done: the client must retry idempotently.
        if state.fault_rng.random() < vendor.faults.error_rate / 2:
            return _error(503, "injected_fault", "simulated outage after processing")
        return None

    @app.get("/healthz")
    async def healthz() -> dict[str, object]:
        return {"ok": True, "vendors": sorted(state.vendors)}

    @app.get("/_debug/received")
    async def received() -> list[dict[str, Any]]:
        """The last 10,000 batch bodies received, verbatim (tests check they hold no gold)."""
        return list(state.received)

    @app.post("/vendors/{name}/v1/batches", status_code=202)
    async def submit(name: str, request: Request) -> Response:
        vendor = await _vendor_or_fault(name, request)
        if isinstance(vendor, JSONResponse):
            return vendor
        raw = await request.body()
        try:
            batch = BatchRequest.model_validate_json(raw)
        except ValueError as exc:
            return _error(422, "invalid_batch", str(exc)[:500])
        state.received.append({"vendor": name, "body": raw.decode()})
        job = state.accept(vendor, batch)
        late = _late_fault(vendor)
        if late is not None:
            return late
        accepted = BatchAccepted(
            job_id=job.job_id, batch_id=job.batch_id, accepted=len(job.items), state="running"
        )
        return JSONResponse(accepted.model_dump(mode="json"), status_code=202)

    @app.get("/vendors/{name}/v1/batches/{job_id}")
    async def get_batch(name: str, job_id: str, request: Request) -> Response:
        vendor = await _vendor_or_fault(name, request)
        if isinstance(vendor, JSONResponse):
            return vendor
        job = state.jobs.get(job_id)
        if job is None or job.vendor != name:
            return _error(404, "unknown_job", job_id)
        return JSONResponse(state.status(job).model_dump(mode="json"))

    @app.get("/vendors/{name}/v1/batches/{job_id}/results")
    async def get_results(
        name: str, job_id: str, request: Request, cursor: str | None = None
    ) -> Response:
        vendor = await _vendor_or_fault(name, request)
        if isinstance(vendor, JSONResponse):
            return vendor
        job = state.jobs.get(job_id)
        if job is None or job.vendor != name:
            return _error(404, "unknown_job", job_id)
        start = int(cursor) if cursor and cursor.isdigit() else 0
        n_ready = job.ready_count(time.monotonic()) if job.state != "cancelled" else 0
        page = job.items[start : min(start + _PAGE, n_ready)]
        nxt = str(start + len(page)) if start + len(page) < n_ready else None
        body = ResultPage(job_id=job_id, results=[i.result for i in page], next_cursor=nxt)
        return JSONResponse(body.model_dump(mode="json"))

    @app.delete("/vendors/{name}/v1/batches/{job_id}", status_code=204)
    async def cancel(name: str, job_id: str, request: Request) -> Response:
        vendor = await _vendor_or_fault(name, request)
        if isinstance(vendor, JSONResponse):
            return vendor
        job = state.jobs.get(job_id)
        if job is None or job.vendor != name:
            return _error(404, "unknown_job", job_id)
        job.state = "cancelled"
        return Response(status_code=204)

    return app


async def _deliver_forever(state: SimulatorState, client: httpx.AsyncClient) -> None:
    while True:
        await asyncio.sleep(0.02)
        jobs = [
            j
            for j in state.jobs.values()
            if j.callback_url and j.state == "running" and not j.completed_sent
        ]
        if jobs:
            await asyncio.gather(*(_deliver(state, client, j) for j in jobs))


async def _deliver(state: SimulatorState, client: httpx.AsyncClient, job: _Job) -> None:
    vendor = state.vendors[job.vendor]
    now = time.monotonic()
    ready = job.ready_count(now)
    due = job.items[job.cursor : ready]
    job.cursor = max(job.cursor, ready)
    if job.retries:
        due += [i for i in job.retries if i.retry_at <= now]
        job.retries = [i for i in job.retries if i.retry_at > now]
    if vendor.faults.out_of_order:
        state.fault_rng.shuffle(due)
    size = state.config.callback_batch_size
    for start in range(0, len(due), size):
        chunk = due[start : start + size]
        last = start + size >= len(due) and job.cursor == len(job.items) and not job.retries
        payload = CallbackPayload(
            job_id=job.job_id,
            batch_id=job.batch_id,
            results=[i.result for i in chunk],
            state="completed" if last else "running",
        )
        if state.fault_rng.random() < vendor.faults.callback_error_rate:
            continue  # lost in transit: Bakeoff has to poll for these
        ok = await _post(state, client, vendor, job, payload)
        if not ok:
            retry_at = time.monotonic()
            for item in chunk:
                item.attempts += 1
                if item.attempts < _CALLBACK_ATTEMPTS:  # else given up: Bakeoff polls
                    item.retry_at = retry_at + 0.05 * 2**item.attempts
                    job.retries.append(item)
            continue
        if state.fault_rng.random() < vendor.faults.duplicate_callback_rate:
            await _post(state, client, vendor, job, payload)
    if job.cursor == len(job.items) and not job.retries:
        job.completed_sent = True


async def _post(
    state: SimulatorState,
    client: httpx.AsyncClient,
    vendor: SimulatedVendor,
    job: _Job,
    payload: CallbackPayload,
) -> bool:
    if job.callback_url is None:
        return False
    body = payload.model_dump_json().encode()
    secret = vendor.webhook_secret.get_secret_value() if vendor.webhook_secret else ""
    headers = sign_callback(secret, body, delivery_id=uuid.uuid4().hex)
    try:
        response = await client.post(job.callback_url, content=body, headers=headers)
    except httpx.HTTPError:
        return False
    state.callbacks_sent += 1
    # 4xx (refused signature, replay, unknown batch) is final; retry only 5xx.
    return response.status_code < 500
