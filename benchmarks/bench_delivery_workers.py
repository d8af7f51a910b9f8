"""Flagging a delivery with one worker process vs two, over PostgreSQL and Redis.

A delivery of ``--items`` production items (``--features`` features each, one answer each,
10% wrong) is flagged by a registered scikit-learn random forest (``--trees`` trees; its
``predict_proba`` is the CPU-bound step, as model inference is in production) as a flag run
of ``--chunk`` items per job (:mod:`service.domain.delivery_jobs`). The Huey worker
processes (one thread each, BLAS/OpenMP pools of one thread, checked) are started first,
load the model (a running worker loads it once, at its first chunk) and wait on Redis; the
clock runs from :meth:`~service.dispatch.queue.RunQueue.kick_flag_run` until the run's
``finished_at`` (stamped by the merge, so the bench's polling adds nothing to it). Before
each run the delivery's scores and flags are cleared and its tables vacuumed, so every run
is a first run. Each repeat flags the delivery with 1 and then 2 worker processes and takes
the ratio within that pair; the verdict is the median of ``--repeat`` pairs. Every run must
give the same flags.

**What a wall-clock speed-up needs.** Two workers can only run twice as fast with at least
as many *free* cores as workers, plus the CPU PostgreSQL (and Redis, and this script) spend:
a worker waits on PostgreSQL for each query, so with one worker the database's CPU is in
series with it, with two it competes with them. The bench prints the machine's core count
and load average first and measures, during each run, the CPU of every process involved and
what the rest of the machine took (``/proc/stat`` minus ours). A run in which other
processes took more than ``--max-other`` cores on average, or a machine with fewer than 2
cores, gives no verdict (exit status 3) instead of a misleading ratio. Either way it prints
where the CPU went (worker compute per phase, Huey's consumer, PostgreSQL backends, Redis,
the bench) and the speed-up 2 workers can reach from it on 2 free cores (Amdahl's law, the
serial part being the two merges and the barrier between the phases), which other load
does not change.

Exit status: 0 target met, 1 target missed or flags differ, 2 it cannot run (PostgreSQL or
Redis unreachable, a worker did not start or died, the run failed), 3 the machine was too
busy or too small to judge.

PostgreSQL: ``BAKEOFF_TEST_POSTGRES_URL`` (default the local test database; a scratch schema,
dropped afterwards); Redis: ``BAKEOFF_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``;
a queue name of its own). CPU accounting reads ``/proc`` (Linux, PostgreSQL and Redis on
this host); elsewhere the CPU lines read 0.

Usage::

    python benchmarks/bench_delivery_workers.py [--items 40000] [--chunk 2000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sqlalchemy import Engine, text
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
_ONE_THREAD = dict.fromkeys(
    ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS"), "1"
)
load_s: list[float] = []  # seconds each worker took to load the model (before the clock)
TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

#: Phases timed inside a worker (inclusive thread CPU and wall seconds, per call), by the
#: function that does them; names a version of the code lacks are skipped.
_PHASES = {
    "task": "service.dispatch.queue:RunQueue._flag_chunk_impl",
    "process_chunk": "service.domain.delivery_jobs:process_chunk",
    "claim": "service.domain.delivery_jobs:_claim",
    "parse": "service.domain.delivery_jobs:_parse",
    "read_items": "service.domain.delivery_jobs:_read_chunk",
    "predict": "adapters.model:ModelAdapter.predict_proba",
    "predictions": "service.domain.delivery_jobs:_model_predictions",
    "score": "service.domain.delivery_jobs:_score",
    "write_scores": "service.domain.delivery_jobs:_write_scores",
    "advance": "service.domain.delivery_jobs:advance_run",
    "merge_thresholds": "service.domain.delivery_jobs:_set_thresholds",
    "merge_flags": "service.domain.delivery_jobs:_merge",
}

_WORKER = """
import functools, importlib, json, os, sys, threading, time
url, redis, name, models, stats_path, phases = sys.argv[1:7]
from service.core.config import Settings
import sklearn.ensemble, adapters.model, service.domain.delivery_jobs  # noqa: E401,F401
import service.dispatch.queue
from threadpoolctl import threadpool_info
stats, lock = {}, threading.Lock()

def backend(a, k):  # the PostgreSQL backend serving the call's session (in a transaction)
    try:
        session = k.get("session", a[0] if a else None)
        return session.connection().connection.dbapi_connection.info.backend_pid
    except Exception:  # not a session, or not PostgreSQL
        return None

def backend_cpu(pid):  # its CPU seconds so far, None off this host
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    except Exception:
        return None

def timed(label, fn):
    @functools.wraps(fn)  # Huey names tasks by the function's module and name
    def wrapper(*a, **k):
        pid = backend(a, k) if label.startswith("merge") else None
        p0 = backend_cpu(pid) if pid is not None else None
        c0, w0 = time.thread_time(), time.perf_counter()
        try:
            return fn(*a, **k)
        finally:
            c, w = time.thread_time() - c0, time.perf_counter() - w0
            p1 = backend_cpu(pid) if p0 is not None else None
            with lock:
                s = stats.setdefault(label, [0, 0.0, 0.0, 0.0])
                s[0] += 1; s[1] += c; s[2] += w; s[3] += (p1 - p0) if p1 is not None else 0.0
                if label == "task":
                    tmp = stats_path + ".tmp"
                    with open(tmp, "w") as f:
                        json.dump(stats, f)
                    os.replace(tmp, stats_path)
    return wrapper

for label, where in json.loads(phases).items():
    module, _, attr = where.partition(":")
    owner = importlib.import_module(module)
    *path, last = attr.split(".")
    for part in path:
        owner = getattr(owner, part)
    if hasattr(owner, last):
        setattr(owner, last, timed(label, getattr(owner, last)))
settings = Settings(environment="test", database_url=url, redis_url=redis, queue_name=name,
                    model_dir=models)
# a running worker loaded the model at its first chunk; this one loads it before the clock
load, loaded = getattr(service.domain.delivery_jobs, "_adapter", None), None
t0 = time.perf_counter()
try:
    if load is not None:
        load("forest.joblib", "features", settings)
        loaded = time.perf_counter() - t0
except Exception:  # another version of the code: the first chunk loads it, as it does anyway
    pass
consumer = service.dispatch.queue.RunQueue(settings).consumer(workers=1)
pools = sorted({(p["internal_api"], p["num_threads"]) for p in threadpool_info()})
print("ready " + json.dumps([pools, loaded]), flush=True)  # the clock may start
consumer.run()
"""


# -- CPU accounting (Linux /proc) -------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (``/proc``; 0 where unreadable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _machine_busy() -> float:
    """CPU seconds the whole machine has been busy (all cores), from ``/proc/stat``."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / TICK


def _pg_pids(engine: Engine, app: str) -> tuple[list[int], list[int]]:
    """PostgreSQL backends of our worker connections, and the server's background processes."""
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT pid, application_name, backend_type FROM pg_stat_activity")
        ).all()
    ours = [int(p) for p, a, _ in rows if a == app]
    background = [int(p) for p, _, b in rows if b != "client backend"]
    return ours, background


def _redis_pid() -> int | None:
    import redis

    try:
        return int(redis.Redis.from_url(REDIS).info("server")["process_id"])
    except Exception:  # noqa: BLE001 - accounting only
        return None


@dataclass
class Run:
    """One timed flag run and where its CPU went."""

    workers: int
    wall: float
    window: float
    worker_cpu: float
    pg_cpu: float
    pg_background_cpu: float
    redis_cpu: float
    bench_cpu: float
    machine_cpu: float
    phases: dict[str, tuple[int, float, float, float]] = field(default_factory=dict)

    @property
    def ours(self) -> float:
        return self.worker_cpu + self.pg_cpu + self.redis_cpu + self.bench_cpu

    @property
    def others(self) -> float:
        """Cores the rest of the machine used on average during the run."""
        other = self.machine_cpu - self.ours - self.pg_background_cpu
        return max(0.0, other) / self.window

    def cpu(self, phase: str) -> float:
        return self.phases.get(phase, (0, 0.0, 0.0, 0.0))[1]

    def wall_in(self, phase: str) -> float:
        return self.phases.get(phase, (0, 0.0, 0.0, 0.0))[2]

    def pg_in(self, phase: str) -> float:
        """CPU seconds of the worker's PostgreSQL backend during ``phase`` (the merges)."""
        return self.phases.get(phase, (0, 0.0, 0.0, 0.0))[3]


# -- the delivery ---------------------------------------------------------------------


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


def _start_workers(
    n: int, url: str, name: str, models: Path, stats: Path
) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, **_ONE_THREAD, "PYTHONPATH": str(REPO)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WORKER,
                url,
                REDIS,
                name,
                str(models),
                str(stats / f"worker{k}.json"),
                json.dumps(_PHASES),
            ],
            env=env,
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        for k in range(n)
    ]
    for w in workers:  # wait until each has imported everything (not timed)
        line = w.stdout.readline().decode().strip() if w.stdout else ""
        if not line.startswith("ready"):
            raise RuntimeError("a worker process did not start")
        pools, loaded = json.loads(line.removeprefix("ready"))
        if loaded is None:
            print("  (a worker could not load the model before the clock: its first chunk does)")
        else:
            load_s.append(loaded)
        if any(threads != 1 for _, threads in pools):
            raise RuntimeError(f"a worker's BLAS/OpenMP pools are not single-threaded: {pools}")
    return workers


def _stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for w in workers:
        w.terminate()
    for w in workers:
        try:
            w.wait(timeout=30)
        except subprocess.TimeoutExpired:
            w.kill()


def _phases(stats: Path) -> dict[str, tuple[int, float, float, float]]:
    total: dict[str, tuple[int, float, float, float]] = {}
    for path in stats.glob("worker*.json"):
        for label, (n, cpu, wall, pg) in json.loads(path.read_text()).items():
            m, c, w, p = total.get(label, (0, 0.0, 0.0, 0.0))
            total[label] = (m + n, c + cpu, w + wall, p + pg)
    return total


def _reset(engine: Engine, did: int) -> None:
    """Every run is a first run: no scores, flags or queue flags, dead rows vacuumed away."""
    with engine.connect() as conn:
        conn.execute(
            text(
                "UPDATE deliveryitem SET flag_score = NULL, flagged = false "
                "WHERE delivery_id = :d AND (flag_score IS NOT NULL OR flagged)"
            ),
            {"d": did},
        )
        conn.execute(text("DELETE FROM flag WHERE delivery_id = :d"), {"d": did})
        conn.commit()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE deliveryitem, deliverylabel, deliveryflagchunk, flag"))


def _flag_once(
    engine: Engine,
    settings: Settings,
    did: int,
    n_workers: int,
    args: argparse.Namespace,
    app: str,
) -> tuple[Run, dict[int, tuple[float | None, bool]]]:
    _reset(engine, did)
    queue = RunQueue(settings, engine=engine)
    queue.huey.flush()
    with tempfile.TemporaryDirectory() as folder:
        stats = Path(folder)
        workers = _start_workers(
            n_workers, settings.database_url, settings.queue_name, args.models, stats
        )
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
            redis_pid = _redis_pid()
            pg_before, background = _pg_pids(engine, app)
            pg_start = {p: _cpu_seconds(p) for p in pg_before}
            bg_start = sum(_cpu_seconds(p) for p in background)
            redis_start = _cpu_seconds(redis_pid) if redis_pid else 0.0
            cpu_start = sum(_cpu_seconds(w.pid) for w in workers)
            bench_start = time.process_time()
            machine_start = _machine_busy()
            kicked = datetime.now(UTC)
            start = time.perf_counter()
            queue.kick_flag_run(run_id)
            while True:
                time.sleep(args.poll)  # the end time is the merge's stamp, not this loop's
                with Session(queue.engine) as session:
                    state = session.get(DeliveryFlagRun, run_id)
                    if state is not None and state.state != "running":
                        break
                if any(w.poll() is not None for w in workers):
                    raise RuntimeError("a worker process exited")
            machine = _machine_busy() - machine_start
            window = time.perf_counter() - start  # what the CPU counts cover
            bench = time.process_time() - bench_start
            cpu = sum(_cpu_seconds(w.pid) for w in workers) - cpu_start
            pg_after, _ = _pg_pids(engine, app)
            pg = sum(_cpu_seconds(p) - pg_start.get(p, 0.0) for p in pg_after)
            bg = sum(_cpu_seconds(p) for p in background) - bg_start
            red = (_cpu_seconds(redis_pid) - redis_start) if redis_pid else 0.0
            if state.state != "merged" or state.finished_at is None:
                raise RuntimeError(f"the flag run failed: {state.error}")
            finished = state.finished_at
            if finished.tzinfo is None:
                finished = finished.replace(tzinfo=UTC)
            wall = (finished - kicked).total_seconds()
            if not 0 < wall <= time.perf_counter() - start + 0.05:
                wall = time.perf_counter() - start  # clocks disagree: the loop's own time
            time.sleep(0.3)  # the last task's stats are written after the merge
            result = Run(n_workers, wall, window, cpu, pg, bg, red, bench, machine, _phases(stats))
            with Session(queue.engine) as session:
                flags = {
                    int(i or 0): (s, bool(f))
                    for i, s, f in session.exec(
                        select(
                            DeliveryItem.id, DeliveryItem.flag_score, DeliveryItem.flagged
                        ).where(DeliveryItem.delivery_id == did)
                    ).all()
                }
            return result, flags
        finally:
            _stop(workers)


# -- reporting --------------------------------------------------------------------------


def _breakdown(r: Run) -> list[str]:
    """Where a run's CPU went: per process, and per phase inside the workers."""
    predict = r.cpu("predict")
    parse_rest = r.cpu("parse") - max(predict, r.cpu("predictions"))
    merges = r.cpu("merge_thresholds") + r.cpu("merge_flags")
    advance_rest = r.cpu("advance") - merges
    task_rest = r.cpu("task") - r.cpu("process_chunk") - r.cpu("advance")
    compute = r.cpu("task")
    consumer = r.worker_cpu - compute
    lines = [
        f"    CPU seconds: worker compute {compute:.2f}, Huey consumer {max(consumer, 0):.2f}, "
        f"postgres {r.pg_cpu:.2f} (+{r.pg_background_cpu:.2f} server background, shared), "
        f"redis {r.redis_cpu:.2f}, bench {r.bench_cpu:.2f}; the rest of the machine "
        f"{r.others:.2f} cores on average",
        f"    worker compute: predict {predict:.2f}, parse other {parse_rest:.2f} "
        f"(read items {r.cpu('read_items'):.2f}, the rest the flagger's first pass and "
        f"packing), score {r.cpu('score'):.2f}, write scores "
        f"{r.cpu('write_scores'):.2f}, claims {r.cpu('claim'):.2f}, merge thresholds "
        f"{r.cpu('merge_thresholds'):.2f}, merge flags {r.cpu('merge_flags'):.2f}, "
        f"advance checks {advance_rest:.2f}, task other {task_rest:.2f}; the merges' "
        f"PostgreSQL {r.pg_in('merge_thresholds') + r.pg_in('merge_flags'):.2f}",
        f"    worker wall in tasks {r.wall_in('task'):.2f}s of which waiting (PostgreSQL, "
        f"CPU queue) {r.wall_in('task') - compute:.2f}s; merges' wall "
        f"{r.wall_in('merge_thresholds') + r.wall_in('merge_flags'):.2f}s",
    ]
    return lines


def _bounds(r: Run) -> tuple[float, float, float]:
    """Serial CPU seconds, the 1-worker time on a quiet machine, and 2 workers' best ratio.

    Counted in CPU seconds, so other processes' load does not enter: with one worker every
    CPU second of ours is in series (the worker waits on PostgreSQL), so a quiet machine
    takes about ``ours`` seconds. Serial: the two merges (the worker's CPU and its
    PostgreSQL backend's) and the barrier between the phases (half a phase-1 chunk: one
    worker may wait for the other's last chunk). Two workers on
    two free cores take at least ``serial + (ours - serial) / 2`` (Amdahl's law).
    """
    chunks = max(1, r.phases.get("parse", (1, 0.0, 0.0, 0.0))[0])
    merges = sum(r.cpu(m) + r.pg_in(m) for m in ("merge_thresholds", "merge_flags"))
    pg_share = r.pg_cpu / max(r.worker_cpu, 1e-9)  # PostgreSQL's CPU per worker CPU second
    serial = merges + 0.5 * (r.cpu("parse") * (1 + pg_share)) / chunks
    quiet = r.ours
    best = quiet / (serial + (quiet - serial) / 2) if quiet else 0.0
    return serial, quiet, best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--items", type=int, default=40_000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--trees", type=int, default=600)
    ap.add_argument("--chunk", type=int, default=2_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--warmup", type=float, default=1.0, help="Seconds after workers import.")
    ap.add_argument("--poll", type=float, default=0.5, help="Seconds between the bench's polls.")
    ap.add_argument(
        "--max-other",
        type=float,
        default=0.3,
        help="Cores other processes may use on average during a run before it is not judged.",
    )
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    load = os.getloadavg()
    print(
        f"machine: {cores} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} "
        f"(1, 5, 15 min); a wall-clock ratio needs 2 free cores for the workers plus "
        f"PostgreSQL's share"
    )
    if cores < 2:
        print(f"cannot judge: {cores} core(s), 2 worker processes cannot run at once")
        return 3
    if load[0] > args.max_other:
        print(
            f"the machine is busy (load {load[0]:.2f} > --max-other {args.max_other}): expect no "
            f"verdict, only the CPU breakdown"
        )
    problem = _reachable()
    if problem:
        print(f"cannot run: {problem}", file=sys.stderr)
        return 2
    schema = f"bench_workers_{uuid.uuid4().hex[:10]}"
    app = f"bench_{schema}"
    admin = create_db_engine(BASE)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.commit()
    url = make_url(BASE).update_query_dict({"options": f"-csearch_path={schema}"})
    engine = create_db_engine(url.render_as_string(hide_password=False))
    worker_url = url.update_query_dict({"application_name": app}).render_as_string(
        hide_password=False
    )
    runs: list[tuple[Run, Run]] = []
    try:
        SQLModel.metadata.create_all(engine)
        with tempfile.TemporaryDirectory() as folder:
            args.models = Path(folder)
            settings = Settings(
                environment="test",
                database_url=worker_url,
                redis_url=REDIS,
                queue_name=f"bench-{schema}",
                model_dir=folder,
            )
            with Session(engine) as session:
                t0 = time.perf_counter()
                did = _seed(session, args, args.models)
                print(f"seeded {args.items:,} items in {time.perf_counter() - t0:.1f}s")
            n_chunks = -(-args.items // args.chunk)
            print(
                f"delivery of {args.items:,} items x {args.features} features, random forest "
                f"of {args.trees} trees, {n_chunks} chunk jobs of {args.chunk:,} items"
            )
            results: dict[int, dict[int, tuple[float | None, bool]]] = {}
            same = True
            for k in range(args.repeat):
                pair: list[Run] = []
                for n in (1, 2):
                    run, flags = _flag_once(engine, settings, did, n, args, app)
                    if n in results:
                        same = same and _same(results[n], flags)
                    results.setdefault(n, flags)
                    pair.append(run)
                    print(
                        f"  repeat {k + 1}, {n} worker process(es): {run.wall:.2f}s; CPU "
                        f"workers {run.worker_cpu:.2f}s ({run.worker_cpu / run.wall:.2f} cores "
                        f"busy), postgres {run.pg_cpu:.2f}s; other processes took "
                        f"{run.others:.2f} cores"
                    )
                    print("\n".join(_breakdown(run)))
                runs.append((pair[0], pair[1]))
                print(f"  repeat {k + 1}: ratio {pair[0].wall / pair[1].wall:.2f}x")
            same = same and _same(results[1], results[2])
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.commit()
        admin.dispose()
    ratios = [one.wall / two.wall for one, two in runs]
    ratio = statistics.median(ratios)
    print(
        f"1 worker: {statistics.median(r[0].wall for r in runs):.2f}s, 2 workers: "
        f"{statistics.median(r[1].wall for r in runs):.2f}s (medians); ratio per repeat "
        f"{', '.join(f'{x:.2f}x' for x in ratios)}; median {ratio:.2f}x (target {TARGET}x)"
    )
    one = min((r[0] for r in runs), key=lambda r: r.wall)
    serial, quiet, best = _bounds(one)
    print(
        f"from the fastest 1-worker run's CPU: {quiet:.2f}s in all (worker "
        f"{one.worker_cpu:.2f}, postgres {one.pg_cpu:.2f}, redis and bench "
        f"{one.redis_cpu + one.bench_cpu:.2f}), of which serial {serial:.2f}s "
        f"({serial / quiet:.1%}: the merges and the barrier between the phases); on 2 free "
        f"cores 2 workers can reach {best:.2f}x (Amdahl)"
    )
    if load_s:
        print(
            f"each worker loaded the model before the clock in {statistics.median(load_s):.2f}s "
            f"(median; once per worker process, not per run)"
        )
    end = os.getloadavg()
    print(f"load average at the end {end[0]:.2f}; same flags with 1 and 2 workers: {same}")
    if not same:
        print("FAIL: the flags differ between the runs")
        return 1
    busy = max(r.others for pair in runs for r in pair)
    if busy > args.max_other:
        print(
            f"NO VERDICT: other processes took up to {busy:.2f} cores during a run "
            f"(limit --max-other {args.max_other}); the ratio {ratio:.2f}x measures the "
            f"machine's load, not the design. Rerun on a quiet machine."
        )
        return 3
    if ratio < TARGET:
        print(f"MISS: {ratio:.2f}x < {TARGET}x")
        return 1
    print("OK")
    return 0


def _same(a: dict[int, tuple[float | None, bool]], b: dict[int, tuple[float | None, bool]]) -> bool:
    return a.keys() == b.keys() and all(
        a[k][1] == b[k][1]
        and (a[k][0] is None) == (b[k][0] is None)
        and abs((a[k][0] or 0.0) - (b[k][0] or 0.0)) <= 1e-12
        for k in a
    )


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RuntimeError as exc:  # a worker did not start, exited, or the run failed
        print(f"cannot run: {exc}", file=sys.stderr)
        sys.exit(2)
