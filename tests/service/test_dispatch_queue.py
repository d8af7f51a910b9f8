"""The Huey queue: where it lives, chain tokens, resume of silent runs, and the CLI."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel
from typer.testing import CliRunner

import service.models as m
from adapters import registry
from adapters.testing import toy_golden
from service.core.config import Settings, get_settings
from service.core.db import create_db_engine, get_engine
from service.core.types import utcnow
from service.dispatch.queue import RunQueue, queue_location
from service.domain import bakeoffs, golden_sets, projects, vendors
from tests.service.conftest import ServerFolders


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"redis_url": "redis://h:6379/1"}, "redis://h:6379/1"),
        ({"queue_path": "/srv/q.db"}, "/srv/q.db"),
        ({"database_url": "sqlite:////srv/data/bakeoff.db"}, "/srv/data/bakeoff-queue.db"),
        ({"database_url": "sqlite://"}, ":memory:"),
    ],
    ids=["redis", "explicit-path", "next-to-sqlite", "in-memory"],
)
def test_queue_location(values: dict[str, str], expected: str) -> None:
    assert queue_location(Settings.model_validate({"environment": "test", **values})) == expected


def test_postgres_without_redis_uses_a_local_sqlite_queue() -> None:
    settings = Settings(environment="test", database_url="postgresql+psycopg://u@h/db")
    assert queue_location(settings).endswith("bakeoff-data/bakeoff-queue.db")


@pytest.fixture(autouse=True)
def _operator_models(server_folders: ServerFolders) -> ServerFolders:
    """The seeded bake-offs' model candidate is the operator-registered ``identity`` model."""
    return server_folders


def _seed(session: Session, *, status: str) -> int:
    golden = toy_golden(n=2)
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name=f"p-{status}-{time.monotonic_ns()}",
            task_type="classification",
            ontology=golden.ontology.model_dump(mode="json"),
        ),
    )
    assert project.id is not None
    ins = projects.create_instructions(
        session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="t")
    )
    gs = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name="g", project_id=project.id)
    )
    assert gs.id is not None and ins.id is not None
    golden_sets.add_items(
        session=session,
        golden_set_id=gs.id,
        items=[m.GoldenItemCreate(key=i.item_id, data=dict(i.data)) for i in golden.items],
    )
    version = golden_sets.create_version(session=session, golden_set_id=gs.id)
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=gs.id,
        version=version.version,
        labels=[m.GoldLabelCreate(item_key=k, value=v) for k, v in golden.gold_json().items()],
    )
    vendor = vendors.create_vendor(
        session=session,
        data=m.VendorCreate(
            name=f"v-{time.monotonic_ns()}",
            adapter_kind="model",
            adapter_settings={"model": "identity"},
        ),
    )
    assert vendor.id is not None and version.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="b",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=ins.id,
            vendor_ids=[vendor.id],
        ),
    )
    bakeoff.status = status  # type: ignore[assignment]
    session.add(bakeoff)
    session.commit()
    assert bakeoff.id is not None
    return bakeoff.id


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[RunQueue]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    settings = Settings(
        environment="test",
        database_url=url,
        queue_path=str(tmp_path / "queue.db"),
        dispatch_poll_interval_s=0.0,
        dispatch_slice_s=0.0,
    )
    yield RunQueue(settings, engine=engine)
    engine.dispose()


def test_kick_enqueues_one_chain_and_a_new_kick_replaces_it(queue: RunQueue) -> None:
    with Session(queue.engine) as session:
        bakeoff_id = _seed(session, status="running")
    queue.kick(bakeoff_id)
    first = queue.huey.get(f"bakeoff.chain.{bakeoff_id}", peek=True)
    queue.kick(bakeoff_id)
    second = queue.huey.get(f"bakeoff.chain.{bakeoff_id}", peek=True)
    assert first != second
    assert queue.huey.pending_count() == 2
    # the older chain stops at once, without touching the run
    queue._advance_impl(bakeoff_id, str(first))
    with Session(queue.engine) as session:
        assert session.get(m.BakeOff, bakeoff_id).status == "running"  # type: ignore[union-attr]
        assert session.exec(m.Task.__table__.select()).all() == []  # type: ignore[attr-defined]


def test_the_current_chain_runs_the_bakeoff_to_the_end(queue: RunQueue) -> None:
    with Session(queue.engine) as session:
        bakeoff_id = _seed(session, status="draft")
        from service.domain import dispatch

        dispatch.start_run(session=session, bakeoff_id=bakeoff_id, kicker=queue)
    token = queue.huey.get(f"bakeoff.chain.{bakeoff_id}", peek=True)
    for _ in range(20):  # each call is one slice (slice_s=0: one step, then hand over)
        queue._advance_impl(bakeoff_id, str(token))
        with Session(queue.engine) as session:
            if session.get(m.BakeOff, bakeoff_id).status == "completed":  # type: ignore[union-attr]
                break
    else:
        raise AssertionError("the chain did not finish the run")


def test_resume_kicks_only_running_and_silent_bakeoffs(queue: RunQueue) -> None:
    with Session(queue.engine) as session:
        running = _seed(session, status="running")
        _seed(session, status="completed")
        _seed(session, status="draft")
    assert queue.resume_all() == [running]
    # just kicked: its heartbeat is fresh, so a periodic resume leaves it alone
    assert queue.resume_all(stale_after_s=60) == []
    queue.huey.put(f"bakeoff.beat.{running}", time.time() - 600)
    assert queue.resume_all(stale_after_s=60) == [running]


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    monkeypatch.setenv("BAKEOFF_DATABASE_URL", url)
    monkeypatch.setenv("BAKEOFF_AUTO_MIGRATE", "false")
    monkeypatch.setenv("BAKEOFF_QUEUE_PATH", str(tmp_path / "q.db"))
    monkeypatch.setenv("BAKEOFF_DISPATCH_POLL_INTERVAL_S", "0")
    get_settings.cache_clear()
    get_engine.cache_clear()
    SQLModel.metadata.create_all(get_engine())
    yield url
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_cli_run_inline_shows_progress_and_a_summary(cli_env: str) -> None:
    from service.cli.main import app

    with Session(get_engine()) as session:
        bakeoff_id = _seed(session, status="draft")
    result = CliRunner().invoke(app, ["run", str(bakeoff_id), "--inline", "--timeout", "60"])
    assert result.exit_code == 0, result.output
    assert "completed" in result.output and "received" in result.output
    with Session(get_engine()) as session:
        assert session.get(m.BakeOff, bakeoff_id).status == "completed"  # type: ignore[union-attr]


def test_cli_run_no_wait_hands_the_run_to_the_queue(cli_env: str) -> None:
    from service.cli.main import app
    from service.dispatch.queue import get_queue

    with Session(get_engine()) as session:
        bakeoff_id = _seed(session, status="draft")
    result = CliRunner().invoke(app, ["run", str(bakeoff_id), "--no-wait"])
    assert result.exit_code == 0, result.output
    assert "started" in result.output
    assert get_queue().huey.pending_count() == 1


def test_cli_run_unknown_bakeoff_is_one_line_and_exit_1(cli_env: str) -> None:
    from service.cli.main import app

    result = CliRunner().invoke(app, ["run", "424242", "--inline"])
    assert result.exit_code == 1
    assert "bake-off 424242" in result.output and "not found" in result.output


def test_registry_is_untouched() -> None:
    assert "memory" not in registry.registry


def test_the_worker_heartbeat_is_written_by_worker_steps_only(queue: RunQueue) -> None:
    from service.domain import dispatch

    with Session(queue.engine) as session:
        bakeoff_id = _seed(session, status="draft")
        dispatch.start_run(session=session, bakeoff_id=bakeoff_id, kicker=queue)
        # a kick (the web process) is no sign of a worker
        assert queue.last_worker_beat(bakeoff_id) is None
        assert isinstance(queue, dispatch.WorkerMonitor)
        later = utcnow() + timedelta(seconds=dispatch.NO_WORKER_AFTER_S + 5)
        status = dispatch.worker_status(
            session=session, bakeoff_id=bakeoff_id, monitor=queue, now=later
        )
        assert status is not None and status.stalled and status.last_seen_at is None
        assert status.message is not None
        assert status.message.startswith("No worker has picked this run up for 3")
        fresh = dispatch.worker_status(session=session, bakeoff_id=bakeoff_id, monitor=queue)
        assert fresh is not None and not fresh.stalled and fresh.message is None
        # a worker took a step two minutes ago and has been silent since
        queue.huey.put(f"bakeoff.worker.{bakeoff_id}", time.time() - 120)
        stale = dispatch.run_progress(session=session, bakeoff_id=bakeoff_id, monitor=queue)
        assert stale.worker is not None and stale.worker.stalled
        assert stale.worker.last_seen_at is not None
        assert (stale.worker.message or "").startswith("No worker has advanced this run for 12")
        # the progress API's default: no monitor, no claim
        assert dispatch.run_progress(session=session, bakeoff_id=bakeoff_id).worker is None
    token = queue.huey.get(f"bakeoff.chain.{bakeoff_id}", peek=True)
    before = time.time()
    queue._advance_impl(bakeoff_id, str(token))  # one worker step writes the heartbeat
    beat = queue.last_worker_beat(bakeoff_id)
    assert beat is not None and beat >= before
