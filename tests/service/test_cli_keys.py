"""``bakeoff keys`` against a migrated SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from service.cli.main import app
from service.core.config import get_settings
from service.core.db import get_engine
from service.domain.api_keys import authenticate
from service.domain.errors import Unauthorized
from service.models import Vendor


@pytest.fixture
def db_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = tmp_path / "cli.db"
    monkeypatch.setenv("BAKEOFF_DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield path
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


def test_create_list_revoke(db_file: Path) -> None:
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--role", "admin", "--name", "alice"])
    assert created.exit_code == 0, created.output
    key = created.stdout.strip().splitlines()[0]
    assert key.startswith("bko_")
    with Session(get_engine()) as session:
        principal = authenticate(session=session, plaintext=key)
    assert principal.role == "admin" and principal.name == "alice"
    listed = runner.invoke(app, ["keys", "list"])
    assert listed.exit_code == 0 and "alice" in listed.stdout and key not in listed.stdout
    revoked = runner.invoke(app, ["keys", "revoke", str(principal.key_id)])
    assert revoked.exit_code == 0, revoked.output
    with Session(get_engine()) as session, pytest.raises(Unauthorized):
        authenticate(session=session, plaintext=key)


def test_vendor_key_needs_a_known_vendor(db_file: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["keys", "create", "--role", "vendor", "--vendor", "Nope"])
    assert missing.exit_code == 1
    assert "no vendor named 'Nope'" in missing.stderr
    with Session(get_engine()) as session:
        session.add(Vendor(name="Acme"))
        session.commit()
    ok = runner.invoke(app, ["keys", "create", "--role", "vendor", "--vendor", "Acme"])
    assert ok.exit_code == 0, ok.output
    no_vendor = runner.invoke(app, ["keys", "create", "--role", "vendor"])
    assert no_vendor.exit_code == 1 and "vendor_id" in no_vendor.stderr


@pytest.mark.slow
def test_serve_migrates_and_answers(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BAKEOFF_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service.cli.main", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(proc.stderr.read() if proc.stderr else b"") from None
                time.sleep(0.2)
        assert response.json() == {"message": "ok"}
        assert httpx.get(f"http://127.0.0.1:{port}/projects").status_code == 401
        assert (tmp_path / "serve.db").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
