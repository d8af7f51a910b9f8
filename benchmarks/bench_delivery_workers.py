"""Flagging a delivery with one worker process vs two, over PostgreSQL and Redis.

A delivery of ``--items`` production items (``--features`` features each, one answer each,
10% wrong) is flagged by a registered scikit-learn random forest (``--trees`` trees; its
``predict_proba`` is the CPU-bound step, as model inference is in production) as a flag run
of ``--chunk`` items per job (:mod:`service.domain.delivery_jobs`). The Huey worker
processes are started first and wait on Redis; the clock runs from
:meth:`~service.dispatch.queue.RunQueue.kick_flag_run` until the run is merged. The same
delivery is flagged with 1 and then 2 worker processes (one Huey thread each), alternating,
best of ``--repeat``; both runs must give the same flags.

Prints the times, the ratio (target: 2 workers >= 1.6 x faster), the machine's load
average and core count, and the CPU the worker processes actually got (their CPU seconds
over the wall time): on a shared machine the ratio cannot exceed the free cores. Exit
status 1 when the target is missed or the flags differ, 2 when PostgreSQL or Redis cannot
be reached.

PostgreSQL: ``BAKEOFF_TEST_POSTGRES_URL`` (default the local test database; a scratch schema,
dropped afterwards); Redis: ``BAKEOFF_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``;
a queue name of its own).

Usage::

    python benchmarks/bench_delivery_workers.py [--items 40000] [--chunk 2000] [--repeat 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel, select

from service.core.config import Settings
from service.core.db import create_db_engine
from service.dispatch.queue import RunQueue
from service.domain import deliveries, delivery_jobs, delivery_labels, projects, vendors
from service.domain.vendor_labels import LabelIn
from service.models import (
    DeliveryCreate,
    DeliveryFlagRun,
    DeliveryFlagRunCreate,
    DeliveryItem,
    DeliveryItemIn,
    ProjectCreate,
    VendorCreate,
)

TARGET = 1.6
REPO = Path(__file__).resolve().parents[1]
BASE = os.environ.get(
    "BAKEOFF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REDIS = os.environ.get("BAKEOFF_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CLASSES = [f"class_{k}" for k in range(10)]
_ONE_THREAD = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")

_WORKER = """
import sys
from service.core.config import Settings
from service.dispatch.queue import RunQueue
url, redis, name, models = sys.argv[1:5]
settings = Settings(environment="test", database_url=url, redis_url=redis, queue_name=name,
                    model_dir=models)
import sklearn.ensemble, adapters.model, service.domain.delivery_jobs  # noqa: E401,F401
consumer = RunQueue(settings).consumer(workers=1)
print("ready", flush=True)  # everything imported: the clock may start
consumer.run()
"""


def _reachable() -> str | None:
    try:
        engine = create_db_engine(BASE)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return f"PostgreSQL at {BASE}: {exc}"
    try:
        import redis

        redis.Redis.from_url(REDIS).ping()
    except Exception as exc:  # noqa: BLE001
        return f"Redis at {REDIS}: {exc}"
    return None


def _seed(session: Session, args: argparse.Namespace, models: Path) -> int:
    rng = np.random.default_rng(7)
    project = projects.create_project(
        session=session,
        data=ProjectCreate(
            name="bench",
            task_type="classification",
            ontology={"classes": [{"name": c} for c in CLASSES]},
        ),
    )
    vendor = vendors.create_vendor(session=session, data=VendorCreate(name="bench vendor"))
    centres = rng.normal(0, 1.0, (len(CLASSES), args.features))
    truth = rng.integers(0, len(CLASSES), args.items)
    x = centres[truth] + rng.normal(0, 1.5, (args.items, args.features))
    delivery = deliveries.create_delivery(
        session=session,
        data=DeliveryCreate(
            name="bench",
            project_id=project.id or 0,
            vendor_id=vendor.id or 0,
            honeypot_rate=0.0,
            items=[
                DeliveryItemIn(key=f"p{i}", data={"features": [round(v, 5) for v in x[i]]})
                for i in range(args.items)
            ],
        ),
    )
    did = delivery.id or 0
    keys = dict(
        session.exec(
            select(DeliveryItem.source_key, DeliveryItem.key).where(DeliveryItem.delivery_id == did)
        ).all()
    )
    wrong = rng.random(args.items) < 0.1
    given = np.where(wrong, (truth + 1) % len(CLASSES), truth)
    delivery_labels.add_delivery_labels(
        session=session,
        delivery_id=did,
        records=[LabelIn(keys[f"p{i}"], CLASSES[given[i]], "a1") for i in range(args.items)],
    )
    train = rng.integers(0, len(CLASSES), 5000)
    forest = RandomForestClassifier(
        n_estimators=args.trees, max_depth=14, random_state=0, n_jobs=1
    ).fit(centres[train] + rng.normal(0, 1.5, (5000, args.features)), train)
    forest.classes_ = np.asarray(CLASSES, dtype=object)[forest.classes_]
    joblib.dump(forest, models / "forest.joblib")
    return did


def _start_workers(n: int, url: str, name: str, models: Path) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, **_ONE_THREAD, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, REDIS, name, str(models)],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        for _ in range(n)
    ]
    for w in workers:  # wait until each has imported everything (not timed)
        if w.stdout is None or w.stdout.readline().strip() != b"ready":
            raise RuntimeError("a worker process did not start")
    return workers


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        try:
            w.wait(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _flag_once(
    engine: object, settings: Settings, did: int, n_workers: int, args: argparse.Namespace
) -> tuple[float, float, dict[int, tuple[float | None, bool]]]:
    queue = RunQueue(settings, engine=engine)  # type: ignore[arg-type]
    queue.huey.flush()
    workers = _start_workers(n_workers, settings.database_url, settings.queue_name, args.models)
    try:
        time.sleep(args.warmup)  # let the consumers start polling
        with Session(queue.engine) as session:
            run = delivery_jobs.start_flag_run(
                session=session,
                delivery_id=did,
                data=DeliveryFlagRunCreate(model="forest.joblib", chunk_size=args.chunk),
                settings=settings,
            )
            run_id = run.id or 0
        cpu_start = sum(_cpu_seconds(w.pid) for w in workers)
        start = time.perf_counter()
        queue.kick_flag_run(run_id)
        while True:
            with Session(queue.engine) as session:
                state = session.get(DeliveryFlagRun, run_id)
                if state is not None and state.state != "running":
                    break
            if any(w.poll() is not None for w in workers):
                raise RuntimeError("a worker process exited")
            time.sleep(0.25)
        elapsed = time.perf_counter() - start
        cpu = sum(_cpu_seconds(w.pid) for w in workers) - cpu_start
        if state.state != "merged":
            raise RuntimeError(f"the flag run failed: {state.error}")
        with Session(queue.engine) as session:
            flags = {
                int(i or 0): (s, bool(f))
                for i, s, f in session.exec(
                    select(DeliveryItem.id, DeliveryItem.flag_score, DeliveryItem.flagged).where(
                        DeliveryItem.delivery_id == did
                    )
                ).all()
            }
        return elapsed, cpu, flags
    finally:
        _stop(workers)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=40_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--trees", type=int, default=600)
    ap.add_argument("--chunk", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=1.0, help="Seconds after workers import.")
    args = ap.parse_args()
    problem = _reachable()
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    schema = f"bench_workers_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(BASE)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.commit()
    url = (
        make_url(BASE)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    engine = create_db_engine(url)
    try:
        SQLModel.metadata.create_all(engine)
        with tempfile.TemporaryDirectory() as folder:
            args.models = Path(folder)
            settings = Settings(
                environment="test",
                database_url=url,
                redis_url=REDIS,
                queue_name=f"bench-{schema}",
                model_dir=folder,
            )
            with Session(engine) as session:
                t0 = time.perf_counter()
                did = _seed(session, args, args.models)
                print(f"seeded {args.items:,} items in {time.perf_counter() - t0:.1f}s")
            load_before = os.getloadavg()
            times: dict[int, list[float]] = {1: [], 2: []}
            cores: dict[int, list[float]] = {1: [], 2: []}
            results: dict[int, dict[int, tuple[float | None, bool]]] = {}
            for _ in range(args.repeat):
                for n in (1, 2):
                    elapsed, cpu, flags = _flag_once(engine, settings, did, n, args)
                    times[n].append(elapsed)
                    cores[n].append(cpu / elapsed)
                    results[n] = flags
                    print(
                        f"  {n} worker process(es): {elapsed:.2f}s, workers' CPU {cpu:.2f}s "
                        f"= {cpu / elapsed:.2f} cores busy on average"
                    )
            load_after = os.getloadavg()
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.commit()
        admin.dispose()
    one, two = min(times[1]), min(times[2])
    ratio = one / two
    same = results[1].keys() == results[2].keys() and all(
        results[1][k][1] == results[2][k][1]
        and (results[1][k][0] is None) == (results[2][k][0] is None)
        and abs((results[1][k][0] or 0.0) - (results[2][k][0] or 0.0)) <= 1e-12
        for k in results[1]
    )
    n_chunks = -(-args.items // args.chunk)
    print(
        f"delivery of {args.items:,} items x {args.features} features, random forest of "
        f"{args.trees} trees, {n_chunks} chunk jobs of {args.chunk:,} items"
    )
    print(f"1 worker: {one:.2f}s   2 workers: {two:.2f}s   ratio {ratio:.2f}x (target {TARGET}x)")
    print(
        f"machine: {os.cpu_count()} cores; load average before {load_before[0]:.2f}, "
        f"after {load_after[0]:.2f} (other processes share these cores)"
    )
    c1, c2 = max(cores[1]), max(cores[2])
    print(
        f"cores the workers got: {c1:.2f} (1 worker), {c2:.2f} (2 workers): with the same CPU "
        f"work the free CPU allows about {c2 / c1:.2f}x"
    )
    print(f"same flags with 1 and 2 workers: {same}")
    if not same:
        print("FAIL: the flags differ between the runs")
        return 1
    if ratio < TARGET:
        print(f"MISS: {ratio:.2f}x < {TARGET}x")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
