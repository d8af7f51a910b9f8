"""Fault: the database goes away in the middle of a large streamed label import.

Two faults, each checked the same way: the import must fail cleanly (HTTP 503, nothing of it
stored, no idempotency record), and re-sending the same request with the same
``Idempotency-Key`` must store every label exactly once.

* On the shared PostgreSQL (a throwaway schema; skipped where none is reachable), a second
  connection runs ``pg_terminate_backend`` on the importing connection after a few of its
  ``COPY`` chunks have been sent.
* On a private PostgreSQL cluster the test starts itself (``initdb`` + ``pg_ctl`` in a
  temporary directory, on a free port; as the ``postgres`` user when run as root), the server
  is restarted while a ``COPY`` chunk is half sent. The shared server is never touched. The
  test skips only where ``initdb`` is not installed.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import service.models as m
from service.core import bulk_write
from service.core.config import Settings, get_settings
from service.core.db import create_db_engine, get_session
from service.domain import bakeoffs, golden_import, golden_sets, projects, vendors
from service.domain.api_keys import create_api_key
from service.domain.label_io import GoldRecord
from service.main import create_app

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

N_ITEMS = 6_000
ANNOTATORS = 5  # labels = N_ITEMS * ANNOTATORS
BATCH = 1_000  # rows per COPY chunk
KILL_AFTER_CHUNKS = 3
CLASSES = ("cat", "dog", "bird")


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on a fresh schema, its connections tagged with a unique application_name."""
    app_name = f"bakeoff-fault-{uuid.uuid4().hex[:12]}"
    url = make_url(postgres_url)
    options = url.query.get("options", "")
    url = url.update_query_dict({"application_name": app_name, "options": options})
    engine = create_db_engine(url.render_as_string(hide_password=False))
    SQLModel.metadata.create_all(engine)
    try:
        yield engine
    finally:
        engine.dispose()


def _count(engine: Engine, model: Any, **where: int) -> int:
    stmt = select(func.count()).select_from(model)
    for name, value in where.items():
        stmt = stmt.where(getattr(model, name) == value)
    with engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _build(engine: Engine) -> tuple[int, int, str]:
    """A classification bake-off over N_ITEMS gold items; returns (bake-off, vendor, admin key)."""
    with Session(engine) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="fault-animals",
                task_type="classification",
                ontology={"classes": [{"name": c} for c in CLASSES]},
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="# x")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="fault-gold", project_id=project.id)
        )
        assert golden.id is not None and instructions.id is not None
        result = golden_import.import_gold(
            session=session,
            golden_set_id=golden.id,
            records=(
                GoldRecord(item_id=f"it-{i:06d}", label=CLASSES[i % 3], data={"n": i})
                for i in range(N_ITEMS)
            ),
            note="fault test",
        )
        version = golden_sets.get_version(
            session=session, golden_set_id=golden.id, version=result.golden_set_version or 1
        )
        vendor = vendors.create_vendor(session=session, data=m.VendorCreate(name="fault-vendor"))
        assert vendor.id is not None and version.id is not None
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="fault bake-off",
                project_id=project.id,
                golden_set_version_id=version.id,
                instructions_version_id=instructions.id,
                vendor_ids=[vendor.id],
            ),
        )
        assert bakeoff.id is not None
        key = create_api_key(session=session, data=m.ApiKeyCreate(name="admin", role="admin"))
        return bakeoff.id, vendor.id, key.key


def _body() -> Iterator[bytes]:
    """The import file, streamed in chunks: every item answered by every annotator."""
    for i in range(N_ITEMS):
        lines = (
            json.dumps(
                {"item_id": f"it-{i:06d}", "label": CLASSES[(i + a) % 3], "annotator_id": f"a{a}"}
            )
            for a in range(ANNOTATORS)
        )
        yield ("\n".join(lines) + "\n").encode()


def test_connection_killed_mid_import_stores_nothing_and_the_retry_stores_each_label_once(
    pg_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    bakeoff_id, vendor_id, admin_key = _build(pg_engine)
    settings = Settings(
        environment="test", auto_migrate=False, database_url="sqlite://", import_batch_size=BATCH
    )
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        with Session(pg_engine) as s:
            yield s

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_settings] = lambda: settings
    monkeypatch.setattr(bulk_write, "get_settings", lambda: settings)

    killed: list[int] = []
    original_write = bulk_write.BulkWriter.write

    def write_then_kill(self: Any, rows: list[tuple[Any, ...]]) -> None:
        original_write(self, rows)
        chunks = getattr(self, "_chunks_sent", 0) + 1
        self._chunks_sent = chunks
        if chunks == KILL_AFTER_CHUNKS and not killed:
            pid = int(self.connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            admin = create_db_engine(
                make_url(str(pg_engine.url)).set(query={}).render_as_string(hide_password=False)
            )
            try:
                with admin.connect() as conn:
                    done = conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                    assert done.scalar_one() is True
            finally:
                admin.dispose()
            killed.append(pid)

    monkeypatch.setattr(bulk_write.BulkWriter, "write", write_then_kill)
    url = f"/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/import?format=jsonl"
    headers = {"X-API-Key": admin_key, "Idempotency-Key": "fault-import-0001"}
    total = N_ITEMS * ANNOTATORS
    with TestClient(app, raise_server_exceptions=False) as client:
        failed = client.post(url, content=_body(), headers=headers)
        assert killed, "the importing connection was never killed (import too small?)"
        assert failed.status_code == 503, failed.text
        assert failed.json()["code"] == "database_unavailable"
        # nothing half-written: no labels, no idempotency record, tasks untouched
        assert _count(pg_engine, m.VendorLabel, bakeoff_id=bakeoff_id) == 0
        assert _count(pg_engine, m.IdempotencyRecord) == 0

        retry = client.post(url, content=_body(), headers=headers)
        assert retry.status_code == 200, retry.text
        assert retry.json()["stored"] == total and retry.json()["replayed"] is False
        again = client.post(url, content=_body(), headers=headers)
        assert again.status_code == 200 and again.json()["replayed"] is True

    assert len(killed) == 1
    assert _count(pg_engine, m.VendorLabel, bakeoff_id=bakeoff_id) == total
    with pg_engine.connect() as conn:
        distinct = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT DISTINCT item_id, annotator_id FROM vendorlabel "
                "WHERE bakeoff_id = :b) AS answers"
            ),
            {"b": bakeoff_id},
        ).scalar_one()
    assert distinct == total


# --------------------------------------------------------------------------- a private cluster


@dataclass
class PrivateCluster:
    """A PostgreSQL cluster of this test's own: data directory, port, how to run pg_ctl."""

    data: Path
    port: int
    prefix: list[str]  # runs a command as the cluster's owner

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 - the PostgreSQL binaries on PATH
            [*self.prefix, "pg_ctl", "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c full_page_writes=off"
        )
        self.pg_ctl("-l", str(self.data / "server.log"), "-o", options, "-w", "start")

    def restart(self) -> None:
        """Fast shutdown (open connections are cut), then start again and wait."""
        self.pg_ctl("-m", "fast", "-w", "stop")
        self.start()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def private_cluster() -> Iterator[PrivateCluster]:
    """initdb + pg_ctl start in a temporary directory on a free port; stopped and removed after."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("initdb/pg_ctl not installed: cannot start a private PostgreSQL cluster")
    root = Path(tempfile.mkdtemp(prefix="bakeoff-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as "postgres"
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root and there is no 'postgres' user to run the cluster")
        os.chown(root, owner.pw_uid, owner.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    cluster = PrivateCluster(data=root / "data", port=_free_port(), prefix=prefix)
    try:
        subprocess.run(  # noqa: S603
            [*prefix, "initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust"]
            + ["-E", "UTF8", "--no-sync"],
            check=True,
            capture_output=True,
            timeout=120,
        )
        cluster.start()
        yield cluster
    finally:
        if (cluster.data / "postmaster.pid").exists():
            subprocess.run(  # noqa: S603
                [*prefix, "pg_ctl", "-D", str(cluster.data), "-m", "immediate", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.enable_socket
def test_a_server_restart_mid_copy_fails_the_import_and_the_retry_stores_each_label_once(
    private_cluster: PrivateCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_db_engine(private_cluster.url)
    SQLModel.metadata.create_all(engine)
    try:
        _import_across_a_restart(engine, private_cluster, monkeypatch)
    finally:
        engine.dispose()


def _import_across_a_restart(
    engine: Engine, cluster: PrivateCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    bakeoff_id, vendor_id, admin_key = _build(engine)
    settings = Settings(
        environment="test", auto_migrate=False, database_url="sqlite://", import_batch_size=BATCH
    )
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_settings] = lambda: settings
    monkeypatch.setattr(bulk_write, "get_settings", lambda: settings)

    restarts: list[int] = []
    chunks: list[int] = []
    original = bulk_write.write_copy

    def write_half_then_restart(copy: Any, text: str) -> None:
        chunks.append(len(text))
        if len(chunks) != KILL_AFTER_CHUNKS or restarts:
            original(copy, text)
            return
        half = text[: len(text) // 2]
        original(copy, half)  # the COPY is open and half sent ...
        copy.connection.pgconn.flush()
        cluster.restart()  # ... when the server goes down and comes back
        restarts.append(len(half))
        original(copy, text[len(half) :])

    monkeypatch.setattr(bulk_write, "write_copy", write_half_then_restart)
    url = f"/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/import?format=jsonl"
    headers = {"X-API-Key": admin_key, "Idempotency-Key": "restart-import-0001"}
    total = N_ITEMS * ANNOTATORS
    with TestClient(app, raise_server_exceptions=False) as client:
        failed = client.post(url, content=_body(), headers=headers)
        assert restarts, "the server was never restarted (import too small?)"
        log = (cluster.data / "server.log").read_text()
        assert "received fast shutdown request" in log and "ready to accept" in log
        assert failed.status_code == 503, failed.text
        assert failed.json()["code"] == "database_unavailable"
        assert _count(engine, m.VendorLabel, bakeoff_id=bakeoff_id) == 0
        assert _count(engine, m.IdempotencyRecord) == 0

        retry = client.post(url, content=_body(), headers=headers)
        assert retry.status_code == 200, retry.text
        assert retry.json()["stored"] == total and retry.json()["replayed"] is False
        again = client.post(url, content=_body(), headers=headers)
        assert again.status_code == 200 and again.json()["replayed"] is True

    assert len(restarts) == 1
    assert len(chunks) >= total // BATCH + KILL_AFTER_CHUNKS  # both attempts streamed by COPY
    with engine.connect() as conn:
        stored, answers = conn.execute(
            text(
                "SELECT count(*), count(DISTINCT (item_id, annotator_id)) FROM vendorlabel "
                "WHERE bakeoff_id = :b"
            ),
            {"b": bakeoff_id},
        ).one()
    assert stored == answers == total
