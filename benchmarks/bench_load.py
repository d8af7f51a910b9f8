"""Load: 20 simulated vendors post signed result callbacks concurrently to 2 API workers.

What it does
------------
1. Creates a throwaway PostgreSQL database (``bakeoff_bench_<random>``; dropped at the end) and
   migrates it. Exits 2 with a message when PostgreSQL is unreachable (it cannot run).
2. Builds a classification bake-off over ``--items`` gold items with ``--vendors`` candidate
   vendors of kind ``http`` (each with its own webhook secret), creates the tasks and marks them
   sent in one batch per vendor (what dispatch records before a vendor calls back).
3. Starts ``uvicorn --factory service.main:create_app --workers 2`` on loopback.
4. For ``--duration`` seconds, each vendor (one asyncio task each) posts signed
   ``CallbackPayload`` deliveries to ``POST /callbacks/{vendor_id}``, one request in flight per
   vendor, ``--per-callback`` labels each (new annotator rounds once every item is answered).
   ``--dup-rate`` of the deliveries re-send an earlier payload under a new delivery id (a vendor
   retry): they must store nothing.
5. Reports labels/s stored, callbacks/s, latency p50/p95/p99, errors (any non-200), and compares
   every vendor's stored (item, annotator) answers with what it sent: lost and duplicated
   labels.

Target (issue 7): callbacks were made and stored, with no errors, no lost labels, no
duplicates. Exit status 1 otherwise; 2 when the benchmark cannot run at all.

Run::

    .venv/bin/python benchmarks/bench_load.py            # 60 s
    .venv/bin/python benchmarks/bench_load.py --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

import service.models as m
from adapters.http import sign_callback
from adapters.http_protocol import CallbackPayload, ItemResult, WireAnnotation
from service.core.db import create_db_engine
from service.core.migrations import upgrade_head
from service.domain import bakeoffs, golden_import, golden_sets, projects, vendors
from service.domain.label_io import GoldRecord

REPO = Path(__file__).resolve().parents[1]
CLASSES = ("cat", "dog", "bird")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@dataclass
class VendorLoad:
    """One simulated vendor's identity and what it sent."""

    vendor_id: int
    secret: str
    batch_id: str
    sent_keys: set[str] = field(default_factory=set)
    payloads: list[bytes] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    callbacks: int = 0
    duplicates_sent: int = 0
    duplicates_stored: int = 0


def _reachable(url: str) -> str | None:
    parsed = make_url(url)
    host, port = parsed.host or "127.0.0.1", parsed.port or 5432
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return None
    except OSError as exc:
        return f"PostgreSQL not reachable at {host}:{port} ({exc})"


def _create_database(base_url: str) -> str:
    name = f"bakeoff_bench_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _drop_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_db_engine(base_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _build(url: str, n_items: int, n_vendors: int) -> tuple[int, list[VendorLoad]]:
    engine = create_db_engine(url)
    loads: list[VendorLoad] = []
    with Session(engine) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="load",
                task_type="classification",
                ontology={"classes": [{"name": c} for c in CLASSES]},
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="# x")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="load-gold", project_id=project.id)
        )
        assert golden.id is not None and instructions.id is not None
        result = golden_import.import_gold(
            session=session,
            golden_set_id=golden.id,
            records=(
                GoldRecord(item_id=f"it-{i:06d}", label=CLASSES[i % 3]) for i in range(n_items)
            ),
        )
        version = golden_sets.get_version(
            session=session, golden_set_id=golden.id, version=result.golden_set_version or 1
        )
        assert version.id is not None
        ids = []
        for v in range(n_vendors):
            secret = f"load-secret-{v}-{uuid.uuid4().hex[:8]}"
            vendor = vendors.create_vendor(
                session=session,
                data=m.VendorCreate(
                    name=f"load-vendor-{v:02d}",
                    adapter_kind="http",
                    adapter_settings={
                        "base_url": "http://unused.invalid",
                        "webhook_secret": secret,
                    },
                ),
            )
            assert vendor.id is not None
            ids.append(vendor.id)
            loads.append(VendorLoad(vendor.id, secret, f"load-batch-{vendor.id}"))
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="load bake-off",
                project_id=project.id,
                golden_set_version_id=version.id,
                instructions_version_id=instructions.id,
                vendor_ids=ids,
            ),
        )
        assert bakeoff.id is not None
        bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff.id)
        task = m.Task.__table__  # type: ignore[attr-defined]
        for load in loads:
            session.execute(
                task.update()
                .where(task.c.bakeoff_id == bakeoff.id)
                .where(task.c.vendor_id == load.vendor_id)
                .values(job_id=load.batch_id, status="sent")
            )
        session.execute(
            text("UPDATE bakeoff SET status = 'running' WHERE id = :id"), {"id": bakeoff.id}
        )
        session.commit()
        bakeoff_id = bakeoff.id
    engine.dispose()
    return bakeoff_id, loads


def _payload(load: VendorLoad, n_items: int, start: int, count: int) -> tuple[bytes, list[str]]:
    results = []
    keys = []
    for k in range(start, start + count):
        item = f"it-{k % n_items:06d}"
        round_ = k // n_items
        result_id = f"r{round_}-{k % n_items}"
        results.append(
            ItemResult(
                item_id=item,
                annotations=[
                    WireAnnotation(
                        result_id=result_id,
                        label=CLASSES[(k + load.vendor_id) % 3],
                        annotator_id=f"ann-{round_}",
                        cost=0.01,
                    )
                ],
            )
        )
        keys.append(f"{item}|ann-{round_}")
    body = CallbackPayload(job_id=f"job-{load.vendor_id}", batch_id=load.batch_id, results=results)
    return body.model_dump_json().encode(), keys


async def _vendor(
    client: httpx.AsyncClient,
    load: VendorLoad,
    *,
    n_items: int,
    per_callback: int,
    dup_rate: float,
    until: float,
    rng: random.Random,
) -> None:
    cursor = 0
    while time.monotonic() < until:
        duplicate = bool(load.payloads) and rng.random() < dup_rate
        if duplicate:
            body, keys = rng.choice(load.payloads), list[str]()
        else:
            body, keys = _payload(load, n_items, cursor, per_callback)
        headers = sign_callback(load.secret, body, delivery_id=uuid.uuid4().hex)
        started = time.perf_counter()
        try:
            answer = await client.post(
                f"/callbacks/{load.vendor_id}", content=body, headers=headers
            )
        except httpx.HTTPError as exc:
            load.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        load.latencies.append(time.perf_counter() - started)
        load.callbacks += 1
        if answer.status_code != 200:
            load.errors.append(f"{answer.status_code}: {answer.text[:200]}")
            continue
        stored = int(answer.json()["stored"])
        if duplicate:
            load.duplicates_sent += 1
            load.duplicates_stored += stored
        else:
            cursor += per_callback
            load.sent_keys.update(keys)
            if len(load.payloads) < 50:
                load.payloads.append(body)


async def _drive(api_url: str, loads: list[VendorLoad], args: argparse.Namespace) -> float:
    limits = httpx.Limits(max_connections=len(loads) * 2, max_keepalive_connections=len(loads))
    async with httpx.AsyncClient(base_url=api_url, timeout=30, limits=limits) as client:
        started = time.monotonic()
        until = started + args.duration
        await asyncio.gather(
            *(
                _vendor(
                    client,
                    load,
                    n_items=args.items,
                    per_callback=args.per_callback,
                    dup_rate=args.dup_rate,
                    until=until,
                    rng=random.Random(load.vendor_id),
                )
                for load in loads
            )
        )
        return time.monotonic() - started


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"uvicorn exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"uvicorn did not answer on {url}:\n{log.read_text()[-3000:]}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (60)")
    parser.add_argument("--vendors", type=int, default=20, help="concurrent vendors (20)")
    parser.add_argument("--items", type=int, default=2000, help="gold items (2000)")
    parser.add_argument("--per-callback", type=int, default=25, help="labels per callback (25)")
    parser.add_argument("--dup-rate", type=float, default=0.1, help="duplicate deliveries (0.1)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers (2)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("BAKEOFF_TEST_POSTGRES_URL", DEFAULT_PG),
        help="server to create the throwaway database on",
    )
    args = parser.parse_args()

    reason = _reachable(args.postgres_url)
    if reason is not None:
        print(f"FAILED: cannot run: {reason}; set --postgres-url or BAKEOFF_TEST_POSTGRES_URL")
        return 2
    url = _create_database(args.postgres_url)
    proc: subprocess.Popen[bytes] | None = None
    log = Path(f"/tmp/bench_load_{os.getpid()}.log")
    try:
        upgrade_head(url)
        t0 = time.perf_counter()
        bakeoff_id, loads = _build(url, args.items, args.vendors)
        print(
            f"setup: {args.items} items x {args.vendors} vendors on {make_url(url).database} "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        port = _free_port()
        env = {
            **os.environ,
            "BAKEOFF_ENVIRONMENT": "test",
            "BAKEOFF_DATABASE_URL": url,
            "BAKEOFF_AUTO_MIGRATE": "false",
        }
        env.pop("BAKEOFF_REDIS_URL", None)
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own app
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "service.main:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    str(args.workers),
                    "--log-level",
                    "warning",
                    "--no-access-log",
                ],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        api_url = f"http://127.0.0.1:{port}"
        _wait_http(f"{api_url}/health", proc, log)
        elapsed = asyncio.run(_drive(api_url, loads, args))

        engine = create_db_engine(url)
        stored: dict[int, list[str]] = defaultdict(list)
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT l.vendor_id, i.key || '|' || l.annotator_id FROM vendorlabel l "
                    "JOIN goldenitem i ON i.id = l.item_id WHERE l.bakeoff_id = :b"
                ),
                {"b": bakeoff_id},
            )
            for vendor_id, key in rows:
                stored[int(vendor_id)].append(str(key))
        engine.dispose()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        _drop_database(args.postgres_url, url)

    latencies = np.array([x for load in loads for x in load.latencies]) * 1000
    errors = [e for load in loads for e in load.errors]
    callbacks = sum(load.callbacks for load in loads)
    sent = sum(len(load.sent_keys) for load in loads)
    total_stored = sum(len(v) for v in stored.values())
    lost = sum(len(load.sent_keys - set(stored[load.vendor_id])) for load in loads)
    duplicated = sum(len(v) - len(set(v)) for v in stored.values())
    unexpected = sum(len(set(stored[load.vendor_id]) - load.sent_keys) for load in loads)
    dup_sent = sum(load.duplicates_sent for load in loads)
    dup_stored = sum(load.duplicates_stored for load in loads)
    report = {
        "duration_s": round(elapsed, 1),
        "vendors": args.vendors,
        "api_workers": args.workers,
        "callbacks": callbacks,
        "callbacks_per_s": round(callbacks / elapsed, 1),
        "labels_sent": sent,
        "labels_stored": total_stored,
        "labels_per_s": round(total_stored / elapsed, 1),
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 1) if callbacks else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 1) if callbacks else None,
        "latency_ms_p99": round(float(np.percentile(latencies, 99)), 1) if callbacks else None,
        "errors": len(errors),
        "duplicate_deliveries": dup_sent,
        "labels_stored_by_duplicates": dup_stored,
        "lost_labels": lost,
        "duplicated_labels": duplicated,
        "unexpected_labels": unexpected,
    }
    print(
        f"{report['labels_per_s']} labels/s stored ({report['callbacks_per_s']} callbacks/s, "
        f"{args.per_callback} labels each) by {args.vendors} vendors over {elapsed:.0f} s; "
        f"latency p50 {report['latency_ms_p50']} ms, p99 {report['latency_ms_p99']} ms; "
        f"errors {len(errors)}; lost {lost}; duplicated {duplicated}; "
        f"{dup_sent} duplicate deliveries stored {dup_stored}"
    )
    if errors:
        print("first errors:", *errors[:5], sep="\n  ")
    print(json.dumps(report))
    missed = [
        name
        for name, bad in [
            ("no callbacks were made", callbacks == 0),
            ("no labels were stored", total_stored == 0),
            (f"{len(errors)} errors", bool(errors)),
            (f"{lost} lost labels", lost > 0),
            (f"{duplicated} duplicated labels", duplicated > 0),
            (f"{unexpected} unexpected labels", unexpected > 0),
            (f"duplicate deliveries stored {dup_stored} labels", dup_stored > 0),
        ]
        if bad
    ]
    print("target: MISSED (" + "; ".join(missed) + ")" if missed else "target: MET")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
