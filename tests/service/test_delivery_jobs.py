"""Flag runs partitioned into chunk jobs: equal to the one-process flags, merged exactly once,
and a worker process killed mid-chunk loses nothing and doubles nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

import service.models as m
from service.core.config import Settings
from service.core.db import create_db_engine
from service.core.types import utcnow
from service.domain import delivery_flags, delivery_jobs
from tests.service.conftest import CLASSES, Seed, seed_bakeoff
from tests.service.test_delivery_audit import _delivery

REPO = Path(__file__).resolve().parents[2]


def _with_model(session: Session, seeded: Seed, folder: Path, n: int = 300) -> int:
    delivery, _ = _delivery(session, seeded, n=n)
    did = delivery.id or 0
    rows = session.exec(select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == did)).all()
    rng = np.random.default_rng(5)
    centres = {c: rng.normal(0, 2, 4) for c in CLASSES}
    x, y = [], []
    for r in rows:
        truth = CLASSES[r.position % 3]
        r.data = {**r.data, "features": (centres[truth] + rng.normal(0, 1, 4)).tolist()}
        session.add(r)
        x.append(r.data["features"])
        y.append(truth)
    session.commit()
    folder.mkdir(exist_ok=True)
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), folder / "animals.joblib")
    return did


def _flags(session: Session, did: int) -> dict[int, tuple[float | None, bool]]:
    rows = session.exec(select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == did)).all()
    return {r.id or 0: (r.flag_score, r.flagged) for r in rows}


def _drain(session: Session, run_id: int, settings: Settings, order_seed: int = 0) -> None:
    """Process every chunk as a crowd of workers would: shuffled, with duplicate deliveries."""
    rng = np.random.default_rng(order_seed)
    todo = delivery_jobs.advance_run(session=session, run_id=run_id, sweep=True)
    while todo:
        todo = list(rng.permutation(todo + todo[: len(todo) // 2]))  # some enqueued twice
        follow: list[int] = []
        for chunk_id in todo:
            delivery_jobs.process_chunk(session=session, chunk_id=int(chunk_id), settings=settings)
            follow += delivery_jobs.advance_run(session=session, run_id=run_id)
        follow += delivery_jobs.advance_run(session=session, run_id=run_id, sweep=True)
        todo = sorted(set(follow))


@pytest.mark.dbs
def test_chunk_jobs_give_the_one_process_flags(
    session: Session, seeded: Seed, tmp_path: Path
) -> None:
    folder = tmp_path / "models"
    did = _with_model(session, seeded, folder)
    settings = Settings(environment="test", database_url="sqlite://", model_dir=str(folder))
    delivery_flags.flag_delivery_with_model(
        session=session, delivery_id=did, model="animals.joblib", settings=settings, chunk_size=41
    )
    expected = _flags(session, did)
    assert sum(f for _, f in expected.values()) > 0
    run = delivery_jobs.start_flag_run(
        session=session,
        delivery_id=did,
        data=m.DeliveryFlagRunCreate(model="animals.joblib", chunk_size=41),
        settings=settings,
    )
    assert run.n_chunks == -(-(300 + run_delivery_honeypots(session, did)) // 41)
    _drain(session, run.id or 0, settings)
    session.refresh(run)
    assert run.state == "merged"
    got = _flags(session, did)
    assert {k: v[1] for k, v in got.items()} == {k: v[1] for k, v in expected.items()}
    for k, (score, _) in expected.items():
        assert (score is None) == (got[k][0] is None)
        if score is not None:
            assert got[k][0] == pytest.approx(score, abs=1e-12)
    public = delivery_jobs.flag_run_public(session, run)
    assert public.n_chunks_scored == run.n_chunks and public.n_scored == 300
    # merging or processing again changes nothing
    assert delivery_jobs.advance_run(session=session, run_id=run.id or 0, sweep=True) == []
    chunks = session.exec(
        select(m.DeliveryFlagChunk).where(m.DeliveryFlagChunk.run_id == run.id)
    ).all()
    assert not any(delivery_jobs.process_chunk(session=session, chunk_id=c.id or 0) for c in chunks)
    assert all(c.attempts == 2 for c in chunks)  # one claim per phase, duplicates refused
    assert _flags(session, did) == got


@pytest.mark.dbs
def test_a_run_overwrites_stale_scores_and_flags(
    session: Session, seeded: Seed, tmp_path: Path
) -> None:
    """The chunk's score write and the merge write only the rows whose value changes: every
    stale value (a honeypot's score, an old flag, a wrong score) must still be replaced."""
    folder = tmp_path / "models"
    did = _with_model(session, seeded, folder)
    settings = Settings(environment="test", database_url="sqlite://", model_dir=str(folder))
    delivery_flags.flag_delivery_with_model(
        session=session, delivery_id=did, model="animals.joblib", settings=settings, chunk_size=41
    )
    expected = _flags(session, did)
    rows = session.exec(select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == did)).all()
    rng = np.random.default_rng(11)
    for n, r in enumerate(rows):  # a third keep their values, the rest get stale ones
        if n % 3:
            r.flag_score = None if n % 7 == 0 else float(rng.random())
            r.flagged = not r.flagged
            session.add(r)
    session.commit()
    assert any(v[0] is not None for k, v in _flags(session, did).items() if expected[k][0] is None)
    run = delivery_jobs.start_flag_run(
        session=session,
        delivery_id=did,
        data=m.DeliveryFlagRunCreate(model="animals.joblib", chunk_size=41),
        settings=settings,
    )
    _drain(session, run.id or 0, settings)
    session.expire_all()
    assert _same(_flags(session, did), expected)


@pytest.mark.dbs
@pytest.mark.parametrize("phase", [1, 2])
def test_a_run_whose_chunks_an_earlier_version_stored_fails_saying_so(
    phase: int, session: Session, seeded: Seed, tmp_path: Path
) -> None:
    """A run in progress across an upgrade: chunks stored before :data:`CHUNK_FORMAT` (or
    by another one) fail the run with what to do, at the merge of the thresholds (phase 1)
    or when the chunk is scored (phase 2), and never write a flag."""
    folder = tmp_path / "models"
    did = _with_model(session, seeded, folder, n=120)
    settings = Settings(environment="test", database_url="sqlite://", model_dir=str(folder))
    run = delivery_jobs.start_flag_run(
        session=session,
        delivery_id=did,
        data=m.DeliveryFlagRunCreate(model="animals.joblib", chunk_size=41),
        settings=settings,
    )
    run_id = run.id or 0
    chunks = session.exec(
        select(m.DeliveryFlagChunk)
        .where(m.DeliveryFlagChunk.run_id == run_id)
        .order_by(col(m.DeliveryFlagChunk.chunk))
    ).all()
    for c in chunks:
        assert delivery_jobs.process_chunk(session=session, chunk_id=c.id or 0, settings=settings)
    if phase == 2:
        again = delivery_jobs.advance_run(session=session, run_id=run_id)
        assert len(again) == len(chunks)
    old = chunks[1]
    session.refresh(old)
    old.partial = {k: v for k, v in (old.partial or {}).items() if k != "format"}
    session.add(old)
    session.commit()
    if phase == 1:
        assert delivery_jobs.advance_run(session=session, run_id=run_id, sweep=True) == []
    else:
        assert not delivery_jobs.process_chunk(session=session, chunk_id=old.id or 0)
    session.refresh(run)
    assert run.state == "failed"
    assert "earlier version of Bakeoff" in (run.error or "")
    assert "start the flag run again" in (run.error or "")
    assert not any(f for _, f in _flags(session, did).values())
    assert delivery_jobs.advance_run(session=session, run_id=run_id, sweep=True) == []


def run_delivery_honeypots(session: Session, did: int) -> int:
    delivery = session.get(m.Delivery, did)
    assert delivery is not None
    return delivery.n_honeypots


def test_an_unregistered_model_is_422(session: Session, seeded: Seed, tmp_path: Path) -> None:
    from service.domain.errors import Invalid

    folder = tmp_path / "models"
    did = _with_model(session, seeded, folder, n=60)
    settings = Settings(environment="test", database_url="sqlite://", model_dir=str(folder))
    with pytest.raises(Invalid, match="registered"):
        delivery_jobs.start_flag_run(
            session=session,
            delivery_id=did,
            data=m.DeliveryFlagRunCreate(model="nope.joblib"),
            settings=settings,
        )


_DYING_WORKER = """
import os, sys
from sqlmodel import Session
from adapters.model import ModelAdapter
from service.core.config import Settings
from service.core.db import create_db_engine
from service.core.types import utcnow
from service.domain import delivery_jobs

url, folder, chunk_id = sys.argv[1], sys.argv[2], int(sys.argv[3])
def die(self, items, classes):  # the worker process is killed in the middle of the chunk
    os._exit(9)
ModelAdapter.predict_proba = die
settings = Settings(environment="test", database_url=url, model_dir=folder)
with Session(create_db_engine(url)) as session:
    delivery_jobs.process_chunk(session=session, chunk_id=chunk_id, settings=settings, lease_s=10.0)
"""


def test_a_worker_killed_mid_chunk_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    engine: Engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    folder = tmp_path / "models"
    with Session(engine) as session:
        vendors = [m.Vendor(name=n, adapter_kind="file") for n in ("acme", "other")]
        session.add_all(vendors)
        session.commit()
        seeded = seed_bakeoff(session, name="jobs", vendor_ids=[v.id or 0 for v in vendors])
        did = _with_model(session, seeded, folder)
        settings = Settings(environment="test", database_url=url, model_dir=str(folder))
        delivery_flags.flag_delivery_with_model(
            session=session,
            delivery_id=did,
            model="animals.joblib",
            settings=settings,
            chunk_size=50,
        )
        expected = _flags(session, did)
        run = delivery_jobs.start_flag_run(
            session=session,
            delivery_id=did,
            data=m.DeliveryFlagRunCreate(model="animals.joblib", chunk_size=100),
            settings=settings,
        )
        run_id = run.id or 0
        victim = session.exec(
            select(m.DeliveryFlagChunk)
            .where(m.DeliveryFlagChunk.run_id == run_id)
            .order_by(col(m.DeliveryFlagChunk.chunk))
        ).all()[1]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", _DYING_WORKER, url, str(folder), str(victim.id)],
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 9  # killed mid-chunk
    with Session(engine) as session:
        chunk = session.get(m.DeliveryFlagChunk, victim.id)
        assert chunk is not None
        assert chunk.state == "pending" and chunk.attempts == 1 and chunk.partial is None
        # while its lease holds, nobody else takes the chunk; once it expires, the sweep does
        todo = delivery_jobs.advance_run(session=session, run_id=run_id, sweep=True)
        assert victim.id not in todo
        assert not delivery_jobs.process_chunk(
            session=session, chunk_id=victim.id or 0, settings=settings
        )
        assert chunk.lease_until is not None
        time.sleep(max(0.0, (chunk.lease_until - utcnow()).total_seconds()) + 0.2)
        assert victim.id in delivery_jobs.advance_run(session=session, run_id=run_id, sweep=True)
        _drain(session, run_id, settings)
        merged = session.get(m.DeliveryFlagRun, run_id)
        assert merged is not None and merged.state == "merged" and merged.n_scored == 300
        session.refresh(chunk)
        assert chunk.attempts == 3  # the killed claim, then phase 1 and phase 2 once each
        assert _same(_flags(session, did), expected)
    engine.dispose()


def _same(a: dict[int, tuple[float | None, bool]], b: dict[int, tuple[float | None, bool]]) -> bool:
    if a.keys() != b.keys():
        return False
    for k in a:
        if a[k][1] != b[k][1] or (a[k][0] is None) != (b[k][0] is None):
            return False
        if a[k][0] is not None and abs((a[k][0] or 0) - (b[k][0] or 0)) > 1e-12:
            return False
    return True


def test_the_huey_tasks_carry_a_run_to_the_merge(tmp_path: Path) -> None:
    from service.dispatch.queue import RunQueue

    url = f"sqlite:///{tmp_path / 'queue-jobs.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    folder = tmp_path / "models"
    settings = Settings(
        environment="test", database_url=url, model_dir=str(folder), queue_path=str(tmp_path / "q")
    )
    queue = RunQueue(settings, engine=engine)
    with Session(engine) as session:
        vendors = [m.Vendor(name=n, adapter_kind="file") for n in ("acme", "other")]
        session.add_all(vendors)
        session.commit()
        seeded = seed_bakeoff(session, name="queue", vendor_ids=[v.id or 0 for v in vendors])
        did = _with_model(session, seeded, folder)
        run = delivery_jobs.start_flag_run(
            session=session,
            delivery_id=did,
            data=m.DeliveryFlagRunCreate(model="animals.joblib", chunk_size=64),
            settings=settings,
        )
        run_id, n_chunks = run.id or 0, run.n_chunks
    assert queue.kick_flag_run(run_id) == n_chunks
    executed = 0
    while queue.huey.pending_count():
        task = queue.huey.dequeue()
        assert task is not None
        queue.huey.execute(task)
        executed += 1
    assert executed == 2 * n_chunks  # each chunk once per phase, no duplicates
    with Session(engine) as session:
        merged = session.get(m.DeliveryFlagRun, run_id)
        assert merged is not None and merged.state == "merged" and merged.n_scored == 300
    queue.sweep_flag_runs()
    assert queue.huey.pending_count() == 0  # nothing left to do
    engine.dispose()


def test_the_api_starts_a_run_on_the_queue_and_lists_it(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    session: Session,
    seeded: Seed,
    tmp_path: Path,
    settings: Settings,
) -> None:
    from service.api.routes.dispatch import get_run_queue

    folder = tmp_path / "models"
    did = _with_model(session, seeded, folder, n=60)
    settings.model_dir = str(folder)
    enqueued: list[int] = []

    class Recorder:
        def enqueue_flag_chunks(self, chunk_ids: list[int]) -> int:
            enqueued.extend(chunk_ids)
            return len(chunk_ids)

    client.app.dependency_overrides[get_run_queue] = Recorder  # type: ignore[attr-defined]
    body = {"model": "animals.joblib", "chunk_size": 16}
    r = client.post(f"/deliveries/{did}/flags/runs", json=body, headers=auth["qa"])
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["state"] == "running" and run["n_chunks"] == -(
        -(60 + _honeypots(session, did)) // 16
    )
    assert len(enqueued) == run["n_chunks"]  # every chunk on the queue, once
    _drain(session, run["id"], settings)
    done = client.get(f"/deliveries/{did}/flags/runs", headers=auth["qa"]).json()[0]
    assert done["state"] == "merged" and done["n_chunks_scored"] == run["n_chunks"]
    assert done["n_scored"] == 60
    listed = client.get(f"/deliveries/{did}/flags/runs", headers=auth["viewer"])
    assert listed.status_code == 403  # flags are QA's (labels), as GET /flags
    listed = client.get(f"/deliveries/{did}/flags/runs", headers=auth["lead"])
    assert [x["id"] for x in listed.json()] == [run["id"]]
    bad = client.post(
        f"/deliveries/{did}/flags/runs", json={"model": "nope.joblib"}, headers=auth["qa"]
    )
    assert bad.status_code == 422 and "nope.joblib" in bad.text


def _honeypots(session: Session, did: int) -> int:
    delivery = session.get(m.Delivery, did)
    assert delivery is not None
    return delivery.n_honeypots
