"""Fault: a vendor that fails 30% of calls, hangs on some, duplicates and loses callbacks.

Real processes, as in production: the API (uvicorn), one ``bakeoff worker`` and the vendor
simulator, on a SQLite file with the SQLite queue. The simulated vendor answers 30% of its HTTP
calls with 503, hangs past the adapter's timeout on 10%, sends 30% of its result callbacks twice,
drops 10% of them (the worker's polling fallback must fetch those) and delivers out of order.
The run must complete with every task received and every label stored exactly once.
"""

from __future__ import annotations

import os
import subprocess
import sys
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
    free_port,
)
from adapters.testing import toy_golden
from service.core.db import create_db_engine
from service.core.migrations import upgrade_head
from service.domain.api_keys import create_api_key

pytestmark = pytest.mark.slow

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


class _Procs:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env = tmp, env
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, args: list[str], name: str) -> None:
        log = (self.tmp / f"{name}.log").open("ab")
        self.procs.append(
            subprocess.Popen(  # noqa: S603 - our own modules
                [sys.executable, *args], cwd=REPO, env=self.env, stdout=log, stderr=log
            )
        )

    def log(self, name: str) -> str:
        path = self.tmp / f"{name}.log"
        return path.read_text()[-3000:] if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _post(client: httpx.Client, url: str, body: Any) -> Any:
    answer = client.post(url, json=body)
    assert answer.status_code < 300, (url, answer.status_code, answer.text)
    return answer.json()


def test_vendor_failing_30_percent_of_calls_still_gives_every_label_once(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'bakeoff.db'}"
    upgrade_head(database_url)
    engine = create_db_engine(database_url)
    with Session(engine) as session:
        admin = create_api_key(session=session, data=m.ApiKeyCreate(name="fault", role="admin"))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "BAKEOFF_ENVIRONMENT": "test",
        "BAKEOFF_DATABASE_URL": database_url,
        "BAKEOFF_AUTO_MIGRATE": "false",
        "BAKEOFF_QUEUE_PATH": str(tmp_path / "queue.db"),
        "BAKEOFF_PUBLIC_URL": api_url,
        "BAKEOFF_DISPATCH_POLL_INTERVAL_S": "0.2",
        "BAKEOFF_DISPATCH_CALLBACK_POLL_INTERVAL_S": "1",
        "BAKEOFF_DISPATCH_SLICE_S": "3",
        "BAKEOFF_DISPATCH_BATCH_SIZE": "8",
        "BAKEOFF_DISPATCH_MAX_ATTEMPTS": "50",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("BAKEOFF_REDIS_URL", None)
    procs = _Procs(tmp_path, env)
    golden = toy_golden(n=N_ITEMS)
    config = SimulatorConfig(vendors=[_flaky_vendor()], time_scale=0.01)
    try:
        procs.spawn(["-m", "service.dispatch", "--workers", "1"], "worker")
        procs.spawn(
            ["-m", "uvicorn", "--factory", "service.main:create_app", "--port", str(port)], "api"
        )
        with SimulatorProcess(config, golden.gold_json(), workdir=tmp_path / "sim") as sim:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{api_url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, procs.log("api")
                time.sleep(0.2)
            client = httpx.Client(base_url=api_url, headers={"X-API-Key": admin.key}, timeout=30)
            project = _post(
                client,
                "/projects",
                {
                    "name": "flaky",
                    "task_type": golden.task_type,
                    "ontology": golden.ontology.model_dump(mode="json"),
                },
            )
            instructions = _post(
                client, f"/projects/{project['id']}/instructions", {"text": "label it"}
            )
            gs = _post(client, "/golden-sets", {"name": "flaky-gold", "project_id": project["id"]})
            _post(
                client,
                f"/golden-sets/{gs['id']}/items",
                [{"key": i.item_id, "data": i.data} for i in golden.items],
            )
            version = _post(client, f"/golden-sets/{gs['id']}/versions", {"note": "v1"})
            _post(
                client,
                f"/golden-sets/{gs['id']}/versions/{version['version']}/labels",
                {"labels": [{"item_key": k, "value": v} for k, v in golden.gold_json().items()]},
            )
            vendor = _post(
                client,
                "/vendors",
                {
                    "name": "flaky",
                    "adapter_kind": "simulator",
                    "adapter_settings": {
                        "url": sim.url,
                        "webhook_secret": SECRET,
                        "timeout_s": 0.5,
                        "backoff_base_s": 0.02,
                        "backoff_max_s": 0.1,
                        "max_retries": 8,
                        "failure_threshold": 1000,
                    },
                },
            )
            bakeoff = _post(
                client,
                "/bakeoffs",
                {
                    "name": "flaky run",
                    "project_id": project["id"],
                    "golden_set_version_id": version["id"],
                    "instructions_version_id": instructions["id"],
                    "vendor_ids": [vendor["id"]],
                },
            )
            started = client.post(f"/bakeoffs/{bakeoff['id']}/run")
            assert started.status_code == 202, started.text
            deadline = time.monotonic() + 120
            progress: dict[str, Any] = {}
            while time.monotonic() < deadline:
                progress = client.get(f"/bakeoffs/{bakeoff['id']}/progress").json()
                if progress["done"] and progress["status"] != "running":
                    break
                time.sleep(0.3)
            assert progress.get("status") == "completed", (progress, procs.log("worker"))
            assert progress["counts"]["received"] == N_ITEMS
    finally:
        procs.stop()

    with Session(engine) as session:
        label = m.VendorLabel.__table__  # type: ignore[attr-defined]
        task = m.Task.__table__  # type: ignore[attr-defined]
        per_item = session.execute(
            select(label.c.item_id, func.count())
            .where(label.c.bakeoff_id == bakeoff["id"])
            .group_by(label.c.item_id)
        ).all()
        statuses = (
            session.execute(select(task.c.status).where(task.c.bakeoff_id == bakeoff["id"]))
            .scalars()
            .all()
        )
        keys = session.execute(
            select(func.count(), func.count(label.c.external_key.distinct())).where(
                label.c.bakeoff_id == bakeoff["id"]
            )
        ).one()
    engine.dispose()
    assert len(per_item) == N_ITEMS
    assert {int(n) for _, n in per_item} == {PER_ITEM}, "an item has lost or duplicated labels"
    assert keys[0] == keys[1] == N_ITEMS * PER_ITEM
    assert len(statuses) == N_ITEMS and set(statuses) == {"received"}
