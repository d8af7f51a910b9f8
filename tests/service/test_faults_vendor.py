"""Fault: a vendor that fails 30% of calls, hangs on some, duplicates and loses callbacks.

Real processes, as in production: the API (uvicorn), one ``bakeoff worker`` and the vendor
simulator, on a SQLite file with the SQLite queue. The simulated vendor answers 30% of its HTTP
calls with 503, hangs past the adapter's timeout on 10%, sends 30% of its result callbacks twice,
drops 10% of them (the worker's polling fallback must fetch those) and delivers out of order.
The run must complete with every task received and every label stored exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlmodel import Session

import service.models as m
from adapters.simulator import (
    AnnotatorPool,
    Faults,
    LatencySpec,
    SimulatedVendor,
    SimulatorConfig,
    SimulatorProcess,
)
from adapters.testing import toy_golden
from service.core.db import create_db_engine
from tests.factories import admin_key, bakeoff_via_api, local_stack

pytestmark = [pytest.mark.slow, pytest.mark.enable_socket]

REPO = Path(__file__).resolve().parents[2]
SECRET = "fault-webhook-secret"
N_ITEMS = 40
PER_ITEM = 2  # answers per item (two annotators)


def _flaky_vendor() -> SimulatedVendor:
    return SimulatedVendor(
        name="flaky",
        seed=7,
        accuracy=0.8,
        annotators=AnnotatorPool(count=3, per_item=PER_ITEM, skill_spread=0.05),
        latency=LatencySpec(distribution="exponential", mean_s=20.0),
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


def test_vendor_failing_30_percent_of_calls_still_gives_every_label_once(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'bakeoff.db'}"
    key = admin_key(database_url, "fault")
    stack = local_stack(tmp_path, database_url, settings={"BAKEOFF_DISPATCH_MAX_ATTEMPTS": "50"})
    golden = toy_golden(n=N_ITEMS)
    config = SimulatorConfig(vendors=[_flaky_vendor()], time_scale=0.01)
    with stack, SimulatorProcess(config, golden.gold_json(), workdir=tmp_path / "sim") as sim:
        stack.start_worker(workers=1)
        stack.start_api()
        stack.wait_ready(timeout_s=60)
        settings = {
            "url": sim.url,
            "webhook_secret": SECRET,
            "timeout_s": 0.5,
            "backoff_base_s": 0.02,
            "backoff_max_s": 0.1,
            "max_retries": 8,
            "failure_threshold": 1000,
        }
        bakeoff_id = bakeoff_via_api(
            stack.api_url, key, golden, [("flaky", "simulator", settings, 0.0)], name="flaky"
        )
        client = httpx.Client(base_url=stack.api_url, headers={"X-API-Key": key}, timeout=30)
        started = client.post(f"/bakeoffs/{bakeoff_id}/run")
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 120
        progress: dict[str, Any] = {}
        while time.monotonic() < deadline:
            progress = client.get(f"/bakeoffs/{bakeoff_id}/progress").json()
            if progress["done"] and progress["status"] != "running":
                break
            time.sleep(0.3)
        assert progress.get("status") == "completed", (progress, stack.log("worker"))
        assert progress["counts"]["received"] == N_ITEMS

    engine = create_db_engine(database_url)
    with Session(engine) as session:
        label = m.VendorLabel.__table__  # type: ignore[attr-defined]
        task = m.Task.__table__  # type: ignore[attr-defined]
        per_item = session.execute(
            select(label.c.item_id, func.count())
            .where(label.c.bakeoff_id == bakeoff_id)
            .group_by(label.c.item_id)
        ).all()
        statuses = (
            session.execute(select(task.c.status).where(task.c.bakeoff_id == bakeoff_id))
            .scalars()
            .all()
        )
        answers = (
            select(label.c.item_id, label.c.annotator_id)
            .where(label.c.bakeoff_id == bakeoff_id)
            .distinct()
            .subquery()
        )
        keys = (
            session.execute(
                select(func.count()).where(label.c.bakeoff_id == bakeoff_id)
            ).scalar_one(),
            session.execute(select(func.count()).select_from(answers)).scalar_one(),
        )
    engine.dispose()
    assert len(per_item) == N_ITEMS
    assert {int(n) for _, n in per_item} == {PER_ITEM}, "an item has lost or duplicated labels"
    assert keys[0] == keys[1] == N_ITEMS * PER_ITEM
    assert len(statuses) == N_ITEMS and set(statuses) == {"received"}
