"""End to end: the API, a worker and the vendor simulator as real processes.

A bake-off with three simulated vendors (one with 10% injected faults: 5xx, timeouts,
duplicate and out-of-order callbacks) and one model candidate is created through the
REST API, started with ``POST /bakeoffs/{id}/run``, run by ``bakeoff worker`` and followed
with ``GET /bakeoffs/{id}/progress``. Each test then counts the stored labels: every one
exactly once. Runs on SQLite + the SQLite queue, and on PostgreSQL + Redis when both are
reachable (skipped with the reason otherwise).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import pytest
from pydantic import SecretStr
from sklearn.linear_model import LogisticRegression
from sqlalchemy import func
from sqlmodel import Session, col, select

import service.models as m
from adapters.simulator import (
    AnnotatorPool,
    Faults,
    LatencySpec,
    PriceList,
    SimulatedVendor,
    SimulatorConfig,
    SimulatorProcess,
)
from adapters.simulator.noise import pick_annotators, simulate_answer
from adapters.testing import ToyGolden, toy_golden
from service.core.config import Settings
from service.core.db import create_db_engine
from service.stack import LocalStack
from tests.factories import Candidate, admin_key, bakeoff_via_api, local_stack

pytestmark = pytest.mark.slow

SECRET = "e2e-webhook-secret"
N_ITEMS = 24


def _vendors(time_scale_latency: float) -> list[SimulatedVendor]:
    return [
        SimulatedVendor(
            name="careful",
            seed=1,
            accuracy=0.97,
            annotators=AnnotatorPool(count=4, per_item=2, skill_spread=0.02),
            latency=LatencySpec(distribution="lognormal", mean_s=time_scale_latency * 6, sigma=0.3),
            prices=PriceList(per_item=0.12),
            webhook_secret=SecretStr(SECRET),
        ),
        SimulatedVendor(
            name="cheap",
            seed=2,
            accuracy=0.7,
            latency=LatencySpec(distribution="exponential", mean_s=time_scale_latency),
            prices=PriceList(per_item=0.02),
            faults=Faults(
                error_rate=0.1,
                timeout_rate=0.1,
                hang_s=1.5,
                duplicate_callback_rate=0.1,
                out_of_order=True,
            ),
            webhook_secret=SecretStr(SECRET),
        ),
        SimulatedVendor(
            name="poller",
            seed=3,
            accuracy=0.85,
            latency=LatencySpec(distribution="uniform", mean_s=time_scale_latency, sigma=1.0),
            prices=PriceList(per_label=0.05),
        ),
    ]


# per vendor: answers per item
EXPECTED_PER_ITEM = {"careful": 2, "cheap": 1, "poller": 1, "model": 1}


@dataclass
class Stack:
    """The running processes (:class:`service.stack.LocalStack`) and how to reach them."""

    local: LocalStack
    headers: dict[str, str]

    @property
    def api_url(self) -> str:
        return self.local.api_url

    @property
    def database_url(self) -> str:
        return self.local.database_url

    def start_worker(self) -> subprocess.Popen[bytes]:
        return self.local.start_worker(workers=2)

    def log(self, name: str) -> str:
        return self.local.log(name)

    def progress(self, bakeoff_id: int) -> dict[str, Any]:
        answer = httpx.get(
            f"{self.api_url}/bakeoffs/{bakeoff_id}/progress", headers=self.headers, timeout=10
        )
        answer.raise_for_status()
        body: dict[str, Any] = answer.json()
        return body

    def wait_done(self, bakeoff_id: int, timeout_s: float = 90.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            progress = self.progress(bakeoff_id)
            if progress["done"] and progress["status"] != "running":
                return progress
            time.sleep(0.3)
        raise AssertionError(
            f"run not done after {timeout_s} s: {progress}\nworker log:\n{self.log('worker')}"
        )

    def stop(self) -> None:
        self.local.stop()


def _start_stack(tmp: Path, database_url: str, extra_env: dict[str, str]) -> Stack:
    key = admin_key(database_url, "e2e-admin")
    settings = {
        "BAKEOFF_DISPATCH_CALLBACK_POLL_INTERVAL_S": "2",
        "BAKEOFF_DISPATCH_MAX_ATTEMPTS": "30",
        # the simulator runs 100x fast: its vendors report simulated (future) completions
        "BAKEOFF_VENDOR_CLOCK_SKEW_S": "86400",
        **extra_env,
    }
    redis = settings.pop("BAKEOFF_REDIS_URL", None)
    local = local_stack(tmp, database_url, redis_url=redis, settings=settings)
    local.start_api()
    return Stack(local, {"X-API-Key": key})


def _simulated_candidates(sim_url: str) -> list[tuple[str, dict[str, Any]]]:
    """The simulated vendors of :func:`_vendors` and their adapter settings."""
    return [
        ("careful", {"url": sim_url, "webhook_secret": SECRET, "timeout_s": 5}),
        (
            "cheap",
            {
                "url": sim_url,
                "webhook_secret": SECRET,
                "timeout_s": 1.0,
                "backoff_base_s": 0.05,
                "backoff_max_s": 0.2,
                "max_retries": 6,
                "failure_threshold": 50,
            },
        ),
        ("poller", {"url": sim_url, "mode": "poll", "timeout_s": 5}),
    ]


def _create_bakeoff(
    stack: Stack,
    golden: ToyGolden,
    candidates: list[tuple[str, dict[str, Any]]],
    model_path: Path | None,
) -> int:
    """A bake-off over ``golden`` with simulator ``candidates`` (and a model candidate)."""
    vendors: list[Candidate] = [(name, "simulator", settings, 0.0) for name, settings in candidates]
    if model_path is not None:  # registered in the operator's model folder, named here
        vendors.append(("model", "model", {"model": model_path.name}, 0.001))
    return bakeoff_via_api(stack.api_url, stack.headers["X-API-Key"], golden, vendors, name="e2e")


def _model(tmp: Path, golden: ToyGolden) -> Path:
    x = np.array([i.data["features"] for i in golden.items])
    y = [str(golden.gold[i.item_id]) for i in golden.items]
    path = tmp / "models" / "model.joblib"
    path.parent.mkdir(exist_ok=True)
    joblib.dump(LogisticRegression().fit(x, y), path)
    return path


def _check_exactly_once(stack: Stack, bakeoff_id: int, golden: ToyGolden) -> None:
    engine = create_db_engine(stack.database_url)
    try:
        with Session(engine) as session:
            names = {v.id: v.name for v in session.exec(select(m.Vendor)).all()}
            rows = session.exec(
                select(m.VendorLabel.vendor_id, m.VendorLabel.item_id, func.count())
                .where(m.VendorLabel.bakeoff_id == bakeoff_id)
                .group_by(col(m.VendorLabel.vendor_id), col(m.VendorLabel.item_id))
            ).all()
            per_vendor: dict[str, list[int]] = {}
            for vendor_id, _item, n in rows:
                per_vendor.setdefault(names[vendor_id], []).append(int(n))
            tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == bakeoff_id)).all()
    finally:
        engine.dispose()
    for vendor, per_item in EXPECTED_PER_ITEM.items():
        counts = per_vendor.get(vendor, [])
        assert len(counts) == len(golden.items), (vendor, len(counts))
        assert set(counts) == {per_item}, (vendor, sorted(set(counts)))
    assert len(tasks) == len(golden.items) * len(EXPECTED_PER_ITEM)
    assert {t.status for t in tasks} == {"received"}
    for t in tasks:
        assert t.sent_at is not None and t.completed_at is not None
        assert t.cost is not None and t.cost > 0


def _run(stack: Stack, tmp: Path) -> None:
    """Create and run the bake-off; kill the worker once labels arrive; check the counts."""
    golden = toy_golden(n=N_ITEMS)
    worker = stack.start_worker()  # starts up while the rest is prepared
    config = SimulatorConfig(vendors=_vendors(50.0), time_scale=0.01)
    with SimulatorProcess(config, golden.gold_json(), workdir=tmp / "sim") as sim:
        stack.local.wait_ready(timeout_s=60)
        bakeoff_id = _create_bakeoff(
            stack, golden, _simulated_candidates(sim.url), _model(tmp, golden)
        )
        _run_and_check(stack, worker, bakeoff_id, golden)


def _run_and_check(
    stack: Stack, worker: subprocess.Popen[bytes], bakeoff_id: int, golden: ToyGolden
) -> None:
    final = _run_killing_the_worker(stack, worker, bakeoff_id)
    assert final["counts"]["received"] == N_ITEMS * 4
    _check_exactly_once(stack, bakeoff_id, golden)


def _run_killing_the_worker(
    stack: Stack, worker: subprocess.Popen[bytes], bakeoff_id: int, *, timeout_s: float = 90.0
) -> dict[str, Any]:
    """Start the run, SIGKILL the worker once labels arrive, start another; the final progress."""
    started = httpx.post(
        f"{stack.api_url}/bakeoffs/{bakeoff_id}/run", headers=stack.headers, timeout=30
    )
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 60
    while True:  # wait until the worker is mid-run: some labels in, some not
        progress = stack.progress(bakeoff_id)
        if progress["counts"]["received"] > 0:
            break
        assert time.monotonic() < deadline, stack.log("worker")
        time.sleep(0.05)
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)
    progress = stack.progress(bakeoff_id)
    assert not progress["done"], "the run finished before the worker was killed"
    assert progress["counts"]["pending"] + progress["counts"]["sent"] > 0
    time.sleep(0.5)  # results keep arriving by callback while no worker runs
    stack.start_worker()
    final = stack.wait_done(bakeoff_id, timeout_s=timeout_s)
    assert final["status"] == "completed", (final, stack.log("worker"))
    return final


def test_end_to_end_on_sqlite_with_faults_and_a_killed_worker(tmp_path: Path) -> None:
    """3 simulated vendors (10% faults on one) + a model, through the API and a worker on
    SQLite; the worker is SIGKILLed mid-run and a new one finishes it: every label once."""
    stack = _start_stack(
        tmp_path,
        f"sqlite:///{tmp_path / 'bakeoff.db'}",
        {},
    )
    try:
        _run(stack, tmp_path)
    finally:
        stack.stop()


@pytest.mark.postgres
@pytest.mark.redis
def test_end_to_end_on_postgresql_and_redis(
    tmp_path: Path, postgres_url: str, redis_url: str
) -> None:
    """The same run on PostgreSQL with the queue on Redis."""
    queue_name = f"bakeoff-test-{uuid.uuid4().hex[:10]}"
    stack = _start_stack(
        tmp_path,
        postgres_url,
        {"BAKEOFF_REDIS_URL": redis_url, "BAKEOFF_QUEUE_NAME": queue_name},
    )
    try:
        _run(stack, tmp_path)
    finally:
        stack.stop()
        from service.dispatch.queue import RunQueue

        settings = Settings(
            environment="test",
            database_url=postgres_url,
            redis_url=redis_url,
            queue_name=queue_name,
        )
        RunQueue(settings).huey.flush()


FLAKY_ITEMS = 40
FLAKY_PER_ITEM = 2  # two annotators answer each item


def _flaky_vendor() -> SimulatedVendor:
    """30% of HTTP calls fail (503), 10% hang past the timeout, 30% of callbacks are sent
    twice, 10% are lost (polling must fetch them), and deliveries come out of order."""
    return SimulatedVendor(
        name="flaky",
        seed=7,
        accuracy=0.8,
        annotators=AnnotatorPool(count=3, per_item=FLAKY_PER_ITEM, skill_spread=0.05),
        latency=LatencySpec(distribution="exponential", mean_s=50.0),
        faults=Faults(
            error_rate=0.3,
            timeout_rate=0.1,
            hang_s=1.0,
            duplicate_callback_rate=0.3,
            callback_error_rate=0.1,
            out_of_order=True,
        ),
        webhook_secret=SecretStr(SECRET),
    )


def test_a_killed_worker_and_a_vendor_failing_30_percent_still_store_every_label_once(
    tmp_path: Path,
) -> None:
    """Both faults in one run: the vendor fails 30% of calls (and duplicates, loses and
    reorders callbacks) while the worker is SIGKILLed mid-run and a new one finishes it.
    The stored answers are exactly the simulator's: none lost, none twice."""
    stack = _start_stack(
        tmp_path,
        f"sqlite:///{tmp_path / 'bakeoff.db'}",
        {
            "BAKEOFF_DISPATCH_MAX_ATTEMPTS": "50",
            "BAKEOFF_DISPATCH_CALLBACK_POLL_INTERVAL_S": "1",
        },
    )
    golden = toy_golden(n=FLAKY_ITEMS)
    flaky = _flaky_vendor()
    try:
        worker = stack.start_worker()
        config = SimulatorConfig(vendors=[flaky], time_scale=0.01)
        with SimulatorProcess(config, golden.gold_json(), workdir=tmp_path / "sim") as sim:
            stack.local.wait_ready(timeout_s=60)
            settings = {
                "url": sim.url,
                "webhook_secret": SECRET,
                "timeout_s": 0.5,
                "backoff_base_s": 0.02,
                "backoff_max_s": 0.1,
                "max_retries": 8,
                "failure_threshold": 1000,
            }
            bakeoff_id = _create_bakeoff(stack, golden, [("flaky", settings)], None)
            final = _run_killing_the_worker(stack, worker, bakeoff_id, timeout_s=150)
            assert final["counts"]["received"] == FLAKY_ITEMS
    finally:
        stack.stop()

    engine = create_db_engine(stack.database_url)
    try:
        with Session(engine) as session:
            stored = session.exec(
                select(m.GoldenItem.key, m.VendorLabel.annotator_id, m.VendorLabel.value)
                .join(m.GoldenItem, col(m.GoldenItem.id) == col(m.VendorLabel.item_id))
                .where(m.VendorLabel.bakeoff_id == bakeoff_id)
            ).all()
            tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == bakeoff_id)).all()
    finally:
        engine.dispose()
    classes = golden.ontology.class_names
    gold = golden.gold_json()
    expected = sorted(
        (
            item.item_id,
            annotator,
            simulate_answer(
                flaky,
                item_id=item.item_id,
                data=dict(item.data),
                truth=gold[item.item_id],
                task_type=golden.task_type,
                classes=classes,
                annotator=annotator,
            ).label,
        )
        for item in golden.items
        for annotator in pick_annotators(flaky, item.item_id)
    )
    got = sorted((str(k), str(a), v) for k, a, v in stored)
    assert len(expected) == FLAKY_ITEMS * FLAKY_PER_ITEM
    assert len(got) == len(set(got)), "an answer was stored twice"
    assert got == expected, "stored answers differ from what the vendor sent"
    assert len(tasks) == FLAKY_ITEMS and {t.status for t in tasks} == {"received"}


@pytest.mark.parametrize("task", ["rating", "transcription"])
def test_language_bakeoff_end_to_end_finds_the_planted_sizes(task: str, tmp_path: Path) -> None:
    """A rating (transcription) bake-off through the API, a worker and the simulator on
    SQLite: a lenient rater's leniency (a noisy transcriber's WER) is found in /results,
    the planted size inside its 95% interval; the fair vendor shows none."""
    golden = toy_golden(task, n=60)  # type: ignore[arg-type]
    planted = {"rating": 1.0, "transcription": 0.3}[task]
    noisy = {"rating_bias": planted} if task == "rating" else {"transcript_wer": planted}
    vendors = [
        SimulatedVendor(name="noisy", seed=4, **noisy),  # type: ignore[arg-type]
        SimulatedVendor(name="fair", seed=5),
    ]
    stack = _start_stack(tmp_path, f"sqlite:///{tmp_path / 'bakeoff.db'}", {})
    try:
        worker = stack.start_worker()
        config = SimulatorConfig(vendors=vendors, time_scale=0.01)
        with SimulatorProcess(config, golden.gold_json(), workdir=tmp_path / "sim") as sim:
            stack.local.wait_ready(timeout_s=60)
            settings = {"url": sim.url, "mode": "poll", "timeout_s": 5}
            bakeoff_id = _create_bakeoff(
                stack, golden, [("noisy", settings), ("fair", settings)], None
            )
            started = httpx.post(
                f"{stack.api_url}/bakeoffs/{bakeoff_id}/run", headers=stack.headers, timeout=30
            )
            assert started.status_code == 202, started.text
            final = stack.wait_done(bakeoff_id)
            assert final["status"] == "completed", (final, stack.log("worker"))
        results = httpx.get(
            f"{stack.api_url}/bakeoffs/{bakeoff_id}/results", headers=stack.headers, timeout=60
        ).json()
        worker.terminate()
    finally:
        stack.stop()
    scores = {v["vendor"]: v["scores"] for v in results["vendors"]}
    if task == "rating":
        # toy gold spans the whole 1-5 scale: a +1 shift is clipped on gold 5 (a fifth)
        expected = {"noisy": planted * 4 / 5, "fair": 0.0}
        for name, size in expected.items():
            bias = scores[name]["metrics"]["leniency_bias"]
            assert bias["low"] <= size <= bias["high"], (name, bias)
        assert scores["noisy"]["metrics"]["leniency_bias"]["low"] > 0
    else:
        wer = scores["noisy"]["metrics"]["wer"]
        assert wer["low"] <= planted <= wer["high"], wer
        assert scores["fair"]["metrics"]["wer"]["value"] == 0.0
