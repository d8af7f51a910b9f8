"""End-to-end report and results timings from a stored bake-off (issue 10, "Done when").

Targets, on a quiet machine:

* ``bakeoff report ID -o r.html --json r.json`` for 100,000 golden items x 5 vendors,
  run as a subprocess against the database (labels loaded from it), under 5 s. The report
  is then run again: its scores and its ranking's bootstrap replicates were stored by the
  first run, as labels landing store them by default (``BAKEOFF_SCORES_ON_IMPORT``
  ``background``); that second time is printed apart (the target is judged on the first);
* the first ``GET /bakeoffs/{id}/results`` after a label import, 50,000 items x 5 vendors,
  under 1 s. The user's path: the last vendor's labels are posted through the API door
  (``POST /bakeoffs/{id}/vendors/{vid}/labels``, in a process of its own, which scores the
  bake-off in the background once the import commits); the import's answer time and the
  time until its scores were stored are printed. Then the first read is timed in a fresh
  process (nothing in memory; after that process's first request, ``GET /health``, whose
  process set-up cost is printed apart), and, as the peer, the same read with the stored scores
  deleted (the engine runs: what every first read after an import cost before).

The report target is judged on the median wall time of ``--repeat`` (3) first reports,
each with the stored scores and replicates deleted before it: what a person waits for.
Each run also prints the child's CPU time, PostgreSQL's CPU time during it (its backends,
counted through the postmaster once they exit) and the cores every other process used;
when another process used more than a quarter of a core during a run, the wall time says
more about the machine than about the report and the script gives no verdict (exit 3).
The /results target is judged on the child's CPU time. Exits 1 when a target is missed,
2 when it cannot run.

Run: ``.venv/bin/python benchmarks/bench_report_e2e.py [--db sqlite|postgres] [--n 100000]
[--results-n 50000] [--vendors 5] [--repeat 3] [--max-other 0.25] [--skip-report]
[--skip-results]``

Measured (``--db postgres --skip-results``, 100,000 items x 5 vendors, on a 2-core machine
shared with other work at load 3-5, so every figure is inflated by contention; issue 10's
last missed target). Before the cuts below: 6.6 s CPU / 14.0 s wall for the first report
(nothing stored; 6.0-6.4 s CPU on a quieter machine), 2.8 s CPU for the second (stored).
After them: 5.34 and 5.66 s CPU / 12.3 and 11.8 s wall at load 3.4-3.7 (still over the 5 s
target at that load), 2.0-2.1 s CPU stored. Run back to back against one stored bake-off
(the report command alone, alternating the code before and after, load about 3): 6.48-6.59 s
CPU before, 5.17-5.50 s after, about -1.3 s (-20 %), with the same HTML and JSON byte for
byte but for the generation time. What each cut saved (CPU of that step, in the process,
same load):

* the interpreter's last collection, 0.4 s after the files were written: the ``bakeoff``
  script freezes every object on the way out (:func:`service.cli.main.main`);
* cyclic garbage collection during the report, 0.3 s (about 500 collections, same peak
  memory): ``bakeoff report`` pauses it (:mod:`service.cli.report`);
* storing the scores row, 0.43 -> 0.10 s (reading it back 0.15 -> 0.06 s): large arrays
  stored once, as raw bytes beside the JSON, random-looking floats uncompressed
  (:mod:`service.core.scored_json`; the row is 4.7 MB instead of 4.8 MB);
* compressing plotly.js, 0.20 -> 0.03 s: kept on disk between processes, verified by
  unpacking (:func:`reports.render.plotly_js_gzip`, ``$BAKEOFF_CACHE_DIR``);
* confusion tables of the resamples, 0.07 -> 0.04 s a candidate: differing items summed
  once per (reference cell, cell) pair; p95 latency resamples, 0.065 -> 0.060 s a
  candidate; the ranking's one-BLAS-thread limit set once, not per chunk (0.05 s);
  the crowd-agreement grouping skipped when no item has two answers (0.07 s).

On a quiet machine (load 0.1-1.2, nothing else running, 2026-12-03, all cuts merged): the
first report 5.03-5.20 s CPU / 6.7-6.9 s wall (four runs), the stored one 2.04-2.06 s CPU /
2.14-2.15 s wall. So the target is still missed on the first report, by 3-4 % of CPU and by
1.7-1.9 s of wall time (PostgreSQL's own work reading 500,000 labels is in the wall time, not
in the child's CPU); the second report, the default path, meets it.

Left, as measured then: imports 1.5 s (of which scipy.special 0.18 s, for ``ndtri``: its
array-API layer imports numpy.f2py; plotly 0.15 s), drawing the resamples and counting
them 0.7 s (must stay: the same resamples give the same numbers), the per-candidate
bootstraps 1.0 s, the ranking's bootstrap 0.4 s, reading labels 0.45 s.

Then (2026-12-04) the first report's waits were overlapped instead of cut, since the
CPU left was mostly work the report needs:

* ``bakeoff report`` starts reading the bake-off's rows before it imports the report's
  code (:mod:`service.domain.score_prefetch`): labels, tasks and gold on three
  connections sharing one ``REPEATABLE READ`` snapshot, used only under the fingerprint
  they were read in;
* while those rows arrive, the engine draws and counts the resamples (their size is the
  gold's, counted in SQL);
* the candidates are scored on up to four threads (NumPy releases the lock in most of
  a bootstrap), all in one shared resample block;
* the report reads the bake-off's fingerprint once (:func:`service.domain.score_state.
  one_state`), not three times: each is an aggregate over every task (PostgreSQL's CPU per
  report about 2.2 -> 1.9 s; the wall time moved less than this machine's noise).

Then the ranking's bootstrap runs its chunks of resamples on two threads (the same
replicates bit for bit; the rest of the report waits for it, so one core was idle), and
this script ``VACUUM ANALYZE`` s the database it built before timing: timed right after
the build, the reports raced PostgreSQL's autovacuum daemon (what it does within a minute
or two of a bulk load) and ran on plans made without statistics.

Measured on a 2-core machine whose speed drifted by up to 30 % within an hour (run back to
back against one stored, vacuumed bake-off, load about 1; the report's HTML and JSON equal
byte for byte but for the generation time):

* the code before this session's three overlaps: 7.2-8.4 s wall / 5.4-6.8 s CPU;
* after them: 5.6-7.3 s over 21 runs in seven batches of three (the same code without
  the prefetch 7.5-8.6 s);
* with the ranking on two threads, paired with the code just before it: 4.68, 5.01 and
  5.16 s against 5.22, 5.38 and 5.94 s;
* this script, after all of it, in two runs an hour apart: medians 5.46 s (5.07-5.65) and
  5.29 s (5.03-6.26) of three, **ratio 1.06-1.09: the 5 s target is still missed**, by
  about 0.3-0.5 s. Single runs now finish in 4.7-5.1 s when the machine is at its fastest.

Later the same day the first report's CPU was cut where it waited on work it did not need,
and more of it overlapped (paired runs alternating the code before and after, against one
stored, vacuumed bake-off):

* the table definitions no longer import pandas, SciPy and the engine
  (:mod:`reports.defaults`, :mod:`metrics.defaults`), so the prefetch asks PostgreSQL about
  0.3 s earlier;
* the engine reads only tasks that were dispatched or carry a cost: a file vendor's tasks
  (completed when its labels were imported, never dispatched) were 495,000 rows read for
  nothing;
* the prefetch draws the bootstrap resamples on a thread of its own as soon as it knows the
  gold's size, from the NumPy-only :mod:`metrics.resampling`, and the engine adopts them
  (:func:`metrics.scoring.use_drawn`): median 4.80 s before these three, 4.36 s after (six
  pairs);
* the scores are stored while the report ranks them (:func:`service.domain.score_store.
  writing_behind`): median 4.56 s before, 4.36 s after (eight pairs).

This script then, at load 1.3-1.6 and other processes under 0.05 cores, twice 25 minutes
apart: **medians 4.33 s (4.15, 4.33, 4.64) and 4.40 s (4.34, 4.40, 4.66) of three, ratio
0.87-0.88: the target is met**, with the stored report at 1.64-1.65 s; before the last cut,
4.79 s (4.66-5.21). The first run after the build is the
slowest every time (5.21, 4.64 s). The machine's own speed still moves these numbers by
10-30 % within an hour (a just-booted virtual machine pays for first touching its memory:
the same code took 4.9-6.2 s then and 4.45-4.8 s an hour later).

What bounds it now: the report uses about 5.2 s of CPU and PostgreSQL about 1 s, so two
cores cannot finish under about 3.1 s. Until the candidates start (2.2-2.4 s in) both cores
are busy with the imports, PostgreSQL's reads, the draw and the rows' decoding; then the
five candidates take 1.4 s on two threads (a third of their CPU is pandas, which holds the
interpreter lock), the ranking 0.5 s (while the scores are stored), the HTML 0.17 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import delete, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import service.models as m
from service.core.db import create_db_engine
from service.domain import bakeoffs, golden_import, golden_sets, projects, vendor_labels, vendors
from service.domain.api_keys import create_api_key
from service.domain.label_io import GoldRecord
from service.domain.vendor_labels import LabelIn
from service.models import BakeOffReplicatesRow, BakeOffScoresRow

# Setting up the stored bake-off is not what is timed: no scoring after those imports (the
# report below then times loading labels and the engine, as its target says).
os.environ["BAKEOFF_SCORES_ON_IMPORT"] = "off"

CLASSES = [f"class_{k}" for k in range(10)]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPORT_TARGET_S = 5.0
RESULTS_TARGET_S = 1.0

# The import door in a process of its own: POST the vendor's labels (JSON, as a vendor or the
# client does), time the answer, then wait until the scores it started are stored.
_IMPORT_CHILD = """
import json, sys, time, resource
from fastapi.testclient import TestClient
from service.domain import score_precompute
from service.main import create_app
bakeoff_id, vendor_id, key, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
body = open(path, "rb").read()
app = create_app()
with TestClient(app, headers={"X-API-Key": key}) as client:
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    r = client.post(
        f"/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    if r.status_code != 200:
        print("STATUS", r.status_code, r.text[:500])
        sys.exit(2)
    score_precompute.wait_idle()
    stored = time.perf_counter() - t0
    c2 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
    cpu_all = (c2.ru_utime - c0.ru_utime) + (c2.ru_stime - c0.ru_stime)
    print(f"IMPORT {wall:.4f} {cpu:.4f} {stored:.4f} {cpu_all:.4f} {r.json()['stored']}")
"""

# The first read, in a fresh process (nothing in memory): GET /results, after the process's
# first request (GET /health), which is timed apart.
_RESULTS_CHILD = """
import sys, time, resource
from fastapi.testclient import TestClient
from service.main import create_app
app = create_app()
bakeoff_id, key = int(sys.argv[1]), sys.argv[2]
def timed(path):
    c0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    r = client.get(path)
    wall = time.perf_counter() - t0
    c1 = resource.getrusage(resource.RUSAGE_SELF)
    if r.status_code != 200:
        print("STATUS", r.status_code, r.text[:500])
        sys.exit(2)
    return r, wall, (c1.ru_utime - c0.ru_utime) + (c1.ru_stime - c0.ru_stime)
with TestClient(app, headers={"X-API-Key": key}) as client:
    # a server's first request of any kind pays for process set-up (ORM mappers, ...)
    _, up_wall, up_cpu = timed("/health")
    r, wall, cpu = timed(f"/bakeoffs/{bakeoff_id}/results")
    doc = r.json()
    print(
        f"RESULT {wall:.4f} {cpu:.4f} {len(doc['vendors'])} {int(doc['scored_now'])} "
        f"{up_wall:.4f} {up_cpu:.4f}"
    )
"""


def _build(url: str, n_items: int, n_vendors: int, *, labelled: int) -> tuple[int, list[int]]:
    """Store a classification bake-off; the first ``labelled`` vendors get every label."""
    engine = create_db_engine(url)
    if url.startswith("sqlite"):
        SQLModel.metadata.create_all(engine)
    else:
        from service.core.migrations import upgrade_head

        upgrade_head(url)
    rng = np.random.default_rng(0)
    truth = rng.integers(0, len(CLASSES), n_items)
    with Session(engine) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="e2e",
                task_type="classification",
                ontology={"classes": [{"name": c} for c in CLASSES]},
            ),
        )
        if project.id is None:
            raise RuntimeError("project not stored")
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="# x")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="e2e-gold", project_id=project.id)
        )
        if golden.id is None or instructions.id is None:
            raise RuntimeError("golden set not stored")
        result = golden_import.import_gold(
            session=session,
            golden_set_id=golden.id,
            records=(
                GoldRecord(item_id=f"it-{i:06d}", label=CLASSES[int(truth[i])])
                for i in range(n_items)
            ),
        )
        version = golden_sets.get_version(
            session=session, golden_set_id=golden.id, version=result.golden_set_version or 1
        )
        ids = []
        for v in range(n_vendors):
            vendor = vendors.create_vendor(
                session=session,
                data=m.VendorCreate(name=f"e2e-vendor-{v}-{uuid.uuid4().hex[:6]}"),
            )
            if vendor.id is None:
                raise RuntimeError("vendor not stored")
            ids.append(vendor.id)
        if version.id is None:
            raise RuntimeError("golden version not stored")
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="e2e bake-off",
                project_id=project.id,
                golden_set_version_id=version.id,
                instructions_version_id=instructions.id,
                vendor_ids=ids,
            ),
        )
        if bakeoff.id is None:
            raise RuntimeError("bake-off not stored")
        bakeoff_id = bakeoff.id
        bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff_id)
        for v, vendor_id in enumerate(ids[:labelled]):
            _import_labels(session, bakeoff_id, vendor_id, truth, v, rng)
    engine.dispose()
    return bakeoff_id, ids


def _import_labels(
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    truth: np.ndarray,
    v: int,
    rng: np.random.Generator,
) -> None:
    n = len(truth)
    wrong = rng.random(n) > (0.95 - 0.02 * v)
    answer = np.where(wrong, rng.integers(0, len(CLASSES), n), truth)
    skipped = rng.random(n) < 0.01
    latency = rng.lognormal(3.0, 0.5, n)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = (
        LabelIn(
            item_key=f"it-{i:06d}",
            value=CLASSES[int(answer[i])],
            started_at=start,
            completed_at=start + timedelta(seconds=float(latency[i])),
            cost=0.05 + 0.01 * v,
        )
        for i in range(n)
        if not skipped[i]
    )
    vendor_labels.add_vendor_labels(
        session=session, bakeoff_id=bakeoff_id, vendor_id=vendor_id, records=records
    )


def _database(kind: str, tmp: Path) -> tuple[str, str | None]:
    """A throwaway database URL, and the admin URL to drop it with (PostgreSQL)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp / 'bench.db'}", None
    base = os.environ.get("BAKEOFF_BENCH_PG", DEFAULT_PG)
    name = f"bakeoff_e2e_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base).set(database=name).render_as_string(hide_password=False), base


def _drop(url: str, base: str | None) -> None:
    if base is None:
        return
    admin = create_db_engine(base).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _load() -> str:
    """The 1-minute load average and the number of cores, to read a wall time against."""
    return f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _env(url: str, *, scores_on_import: str = "off") -> dict[str, str]:
    env = dict(os.environ)
    env["BAKEOFF_DATABASE_URL"] = url
    env["BAKEOFF_AUTO_MIGRATE"] = "false"
    env["BAKEOFF_SCORES_ON_IMPORT"] = scores_on_import
    return env


TICK = os.sysconf("SC_CLK_TCK")
#: Other processes may use this share of a core during a timed report (more: no verdict).
MAX_OTHER_CORES = 0.25


def _process_cpu() -> dict[int, tuple[bool, float]]:
    """Every process's CPU seconds, with the children it has waited for, by pid: whether it
    is PostgreSQL's, and its time (from ``/proc``). A backend that exits during a run is
    counted in its postmaster's children time; this process is left out (its children time
    is the timed child's)."""
    out: dict[int, tuple[bool, float]] = {}
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        pid = int(stat.parent.name)
        if pid == me:
            continue
        try:
            text_ = stat.read_text()
        except OSError:
            continue
        name, rest = text_.split("(", 1)[1].rsplit(")", 1)
        fields = rest.split()
        out[pid] = (name.startswith("postgres"), sum(int(v) for v in fields[11:15]) / TICK)
    return out


def _after_backends_exit(
    before: dict[int, tuple[bool, float]], wait_s: float = 2.0
) -> dict[int, tuple[bool, float]]:
    """:func:`_process_cpu` once the PostgreSQL backends started since ``before`` have exited
    (the child's connections close as it exits), or after ``wait_s``."""
    deadline = time.perf_counter() + wait_s
    while True:
        now = _process_cpu()
        started = {pid for pid, (pg, _) in now.items() if pg} - before.keys()
        if not started or time.perf_counter() > deadline:
            return now
        time.sleep(0.01)


def _cpu_since(
    before: dict[int, tuple[bool, float]], after: dict[int, tuple[bool, float]], postgres: bool
) -> float:
    """CPU seconds PostgreSQL's processes (or every other process) used between the two."""
    return sum(
        cpu - before.get(pid, (pg, 0.0))[1] for pid, (pg, cpu) in after.items() if pg == postgres
    )


@dataclass(frozen=True)
class ReportTime:
    """One ``bakeoff report`` run: wall and CPU seconds of the child, the PostgreSQL
    server's CPU during it, and the cores other processes used meanwhile."""

    wall: float
    cpu: float
    postgres: float
    other_cores: float


def time_report(url: str, bakeoff_id: int, tmp: Path) -> ReportTime:
    """``bakeoff report ID -o r.html --json r.json`` in a process of its own."""
    cmd = [
        sys.executable,
        "-m",
        "service.cli.main",
        "report",
        str(bakeoff_id),
        "-o",
        str(tmp / "r.html"),
        "--json",
        str(tmp / "r.json"),
    ]
    before = _process_cpu()
    cpu0 = _child_cpu()
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=_env(url), capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    cpu = _child_cpu() - cpu0
    after = _after_backends_exit(before)
    if proc.returncode != 0:
        raise RuntimeError(f"bakeoff report failed ({proc.returncode}): {proc.stderr[-2000:]}")
    postgres = _cpu_since(before, after, postgres=True)
    other = _cpu_since(before, after, postgres=False) / max(wall, 1e-9)
    return ReportTime(wall, cpu, postgres, other)


def _settle(url: str) -> None:
    """``VACUUM ANALYZE`` a PostgreSQL database just built: what its autovacuum daemon does
    within a minute or two of a bulk load. Timed right after the build, the first reports
    raced that daemon's work (a 100,000 x 5 report 6.7-7.4 s instead of 5.0-5.6 s on the
    same machine) and ran on plans made without statistics."""
    if not url.startswith("postgresql"):
        return
    engine = create_db_engine(url).execution_options(isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def _forget_scores(url: str) -> None:
    """Delete the stored scores and ranking replicates: the next report computes them."""
    engine = create_db_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(BakeOffReplicatesRow))
        conn.execute(delete(BakeOffScoresRow))
    engine.dispose()


def _child(code: str, args: list[str], url: str, tag: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=_env(url, scores_on_import="background"),
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(f"{tag} ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{tag} failed: {proc.stdout[-1000:]} {proc.stderr[-2000:]}")
    return lines[-1].split()[1:]


def _labels_body(n: int, v: int, path: Path) -> None:
    """The last vendor's labels as the JSON body of ``POST .../labels``."""
    truth = np.random.default_rng(1).integers(0, 10, n)
    rng = np.random.default_rng(2)
    wrong = rng.random(n) > (0.95 - 0.02 * v)
    answer = np.where(wrong, rng.integers(0, len(CLASSES), n), truth)
    skipped = rng.random(n) < 0.01
    latency = rng.lognormal(3.0, 0.5, n)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    labels = [
        {
            "item_key": f"it-{i:06d}",
            "value": CLASSES[int(answer[i])],
            "started_at": start.isoformat(),
            "completed_at": (start + timedelta(seconds=float(latency[i]))).isoformat(),
            "cost": 0.05 + 0.01 * v,
        }
        for i in range(n)
        if not skipped[i]
    ]
    path.write_text(json.dumps({"labels": labels}), encoding="utf-8")


@dataclass(frozen=True)
class ResultsTimes:
    """Seconds (wall, CPU) of the import door, until its scores were stored, and of the
    first read after it; and the same read when nothing is stored (the engine runs)."""

    import_wall: float
    import_cpu: float
    stored_wall: float
    stored_cpu: float
    read_wall: float
    read_cpu: float
    read_scored_now: bool
    first_request_wall: float
    first_request_cpu: float
    cold_wall: float
    cold_cpu: float


def time_results(url: str, n: int, vendors_n: int, tmp: Path) -> ResultsTimes:
    """The user's path: the last vendor's labels through the API door (its own process),
    then the first ``GET /results`` in a fresh process; then, as the peer, the same read in
    another fresh process with the stored scores deleted (what every first read cost before
    scores were stored)."""
    bakeoff_id, ids = _build(url, n, vendors_n, labelled=vendors_n - 1)
    engine = create_db_engine(url)
    with Session(engine) as session:
        key = create_api_key(session=session, data=m.ApiKeyCreate(name="bench", role="admin")).key
    body = tmp / "labels.json"
    _labels_body(n, vendors_n - 1, body)
    imp = _child(_IMPORT_CHILD, [str(bakeoff_id), str(ids[-1]), key, str(body)], url, "IMPORT")
    read = _child(_RESULTS_CHILD, [str(bakeoff_id), key], url, "RESULT")
    with Session(engine) as session:
        session.execute(delete(BakeOffScoresRow))
        session.commit()
    engine.dispose()
    cold = _child(_RESULTS_CHILD, [str(bakeoff_id), key], url, "RESULT")
    return ResultsTimes(
        import_wall=float(imp[0]),
        import_cpu=float(imp[1]),
        stored_wall=float(imp[2]),
        stored_cpu=float(imp[3]),
        read_wall=float(read[0]),
        read_cpu=float(read[1]),
        read_scored_now=read[3] == "1",
        first_request_wall=float(read[4]),
        first_request_cpu=float(read[5]),
        cold_wall=float(cold[0]),
        cold_cpu=float(cold[1]),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--results-n", type=int, default=50_000)
    parser.add_argument("--vendors", type=int, default=5)
    parser.add_argument("--skip-results", action="store_true")
    parser.add_argument("--skip-report", action="store_true")
    parser.add_argument(
        "--repeat", type=int, default=3, help="first reports timed (the median is judged)"
    )
    parser.add_argument(
        "--max-other",
        type=float,
        default=MAX_OTHER_CORES,
        help="cores other processes may use during a timed report (more: no verdict)",
    )
    args = parser.parse_args()
    missed = no_verdict = False
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if not args.skip_report:
            try:
                url, base = _database(args.db, tmp)
            except Exception as exc:  # noqa: BLE001 - report why the benchmark cannot run
                print(f"cannot run: {exc}")
                return 2
            try:
                t0 = time.perf_counter()
                bakeoff_id, _ = _build(url, args.n, args.vendors, labelled=args.vendors)
                print(
                    f"built {args.n} items x {args.vendors} vendors in "
                    f"{time.perf_counter() - t0:.1f} s ({args.db})"
                )
                _settle(url)
                runs = []
                for _ in range(args.repeat):
                    _forget_scores(url)
                    run = time_report(url, bakeoff_id, tmp)
                    runs.append(run)
                    print(
                        f"report  {args.n:>7} items, nothing stored: wall {run.wall:6.2f} s  "
                        f"cpu {run.cpu:6.2f} s  postgres {run.postgres:5.2f} s  other "
                        f"processes {run.other_cores:4.2f} cores  ({_load()})"
                    )
                size = (tmp / "r.html").stat().st_size / 1e6
                wall = sorted(r.wall for r in runs)[len(runs) // 2]
                busy = max(r.other_cores for r in runs)
                print(
                    f"report  {args.n:>7} items: median wall {wall:6.2f} s of {len(runs)}  "
                    f"target {REPORT_TARGET_S} s (wall, quiet machine)  ratio "
                    f"{wall / REPORT_TARGET_S:.2f}  html {size:.1f} MB"
                )
                if busy > args.max_other:
                    print(
                        f"NO VERDICT: other processes used up to {busy:.2f} cores during a run "
                        f"(allowed {args.max_other}); run it on a quiet machine"
                    )
                    no_verdict = True
                missed |= wall > REPORT_TARGET_S
                run = time_report(url, bakeoff_id, tmp)
                print(
                    f"report  {args.n:>7} items, scores and ranking replicates stored (as "
                    f"labels landing store them by default): wall {run.wall:6.2f} s  cpu "
                    f"{run.cpu:6.2f} s  ({_load()})"
                )
            finally:
                _drop(url, base)
        if not args.skip_results:
            url, base = (
                _database(args.db, tmp / "r")
                if args.db != "sqlite"
                else (f"sqlite:///{tmp / 'results.db'}", None)
            )
            try:
                t = time_results(url, args.results_n, args.vendors, tmp)
                print(
                    f"import  {args.results_n:>7} labels (POST .../labels): answered in wall "
                    f"{t.import_wall:6.2f} s cpu {t.import_cpu:6.2f} s; scores stored "
                    f"{t.stored_wall:6.2f} s after it began (cpu {t.stored_cpu:6.2f} s)"
                )
                print(
                    f"results {args.results_n:>7} items, first read after the import (fresh "
                    f"process): wall {t.read_wall:6.2f} s  cpu {t.read_cpu:6.2f} s  target "
                    f"{RESULTS_TARGET_S} s (cpu)  ratio {t.read_cpu / RESULTS_TARGET_S:.2f}  "
                    f"({'computed' if t.read_scored_now else 'read as stored'}; {_load()})"
                )
                print(
                    f"        (that process's first request, GET /health, before it: wall "
                    f"{t.first_request_wall:6.2f} s  cpu {t.first_request_cpu:6.2f} s)"
                )
                print(
                    f"results {args.results_n:>7} items, nothing stored (the engine runs, as "
                    f"every first read did before): wall {t.cold_wall:6.2f} s  cpu "
                    f"{t.cold_cpu:6.2f} s  ({t.cold_wall / max(t.read_wall, 1e-9):.1f}x the "
                    f"stored read)"
                )
                missed |= t.read_cpu > RESULTS_TARGET_S or t.read_scored_now
            finally:
                _drop(url, base)
    if no_verdict:
        return 3
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
