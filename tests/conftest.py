"""Fixtures shared by the whole test suite (database, app client, API keys).

Database fixtures
-----------------
``engine``
    A fresh database with every table (``SQLModel.metadata.create_all``): in-memory SQLite
    (``StaticPool``) by default. Modules or tests marked ``@pytest.mark.dbs`` run once on SQLite
    and once on PostgreSQL; the PostgreSQL run skips with a clear reason when
    127.0.0.1:5432 (or ``BAKEOFF_TEST_POSTGRES_URL``) is unreachable.
``session``
    A :class:`sqlmodel.Session` on ``engine``.
``postgres_url``
    A SQLAlchemy URL into a unique throwaway schema (dropped afterwards); skips if unreachable.
``redis_url``
    The Redis URL (``BAKEOFF_TEST_REDIS_URL``, default 127.0.0.1:6379); skips if it does not
    answer ``PING``.
``client``
    A :class:`fastapi.testclient.TestClient` on :func:`service.main.create_app` whose
    ``get_session`` dependency uses ``engine``.
``api_keys``
    ``{role: plaintext}`` for one key per role (``admin``, ``lead``, ``qa``, ``viewer``,
    ``vendor``); the ``vendor`` key belongs to ``key_vendor``.
``auth``
    ``{role: {"X-API-Key": key}}`` request headers for each role.

Missing services and data
-------------------------
Every "skips" above goes through :func:`tests.needs.require`: locally the test skips with the
reason, under ``CI=true`` it fails. The markers ``postgres``, ``redis`` and
``shared_data("<folder>", ...)`` declare the same needs on a test or module. Under ``CI=true``
any other skip fails as well (see :func:`pytest_runtest_makereport`), so CI cannot hide one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

import service.models as models
from service.client import BakeoffClient
from service.core.config import Settings, get_settings
from service.core.db import create_db_engine, get_session
from service.domain.api_keys import create_api_key
from service.main import create_app
from tests.live import launch_chromium
from tests.needs import (
    NOT_APPLICABLE,
    in_ci,
    redis_problem,
    redis_url,
    require,
    shared_data_problem,
    tcp_problem,
)

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
# Imports do not score in a background thread during tests (a thread outliving its test would
# race the next test's database); the first read scores and stores instead. Tests of scoring
# after imports (tests/service/test_score_store.py) set the mode themselves.
os.environ.setdefault("BAKEOFF_SCORES_ON_IMPORT", "off")
_pg_reason: list[str | None] = []


_redis_reason: list[str | None] = []


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "dbs: run the test on SQLite and again on PostgreSQL (skips where none is)"
    )
    config.addinivalue_line(
        "markers",
        "shared_data(*folders): needs ../shared/data/<folder> (skips where missing, "
        "fails under CI=true)",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Check what the markers declare before any fixture is built."""
    for mark in item.iter_markers("shared_data"):
        require("shared-data", shared_data_problem(*mark.args))
    if item.get_closest_marker("postgres") is not None:
        require("postgresql", _postgres_unreachable_reason())
    if item.get_closest_marker("redis") is not None:
        require("redis", _redis_unreachable_reason())


def _fail_skip_in_ci(report: pytest.TestReport | pytest.CollectReport) -> None:
    """Under ``CI=true`` turn a skip into a failure, unless the test is not applicable."""
    if not (in_ci() and report.skipped) or hasattr(report, "wasxfail"):
        return
    where, reason = "", str(report.longrepr)
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line, reason = report.longrepr
        where = f"{path}:{line}: "
    if reason.removeprefix("Skipped: ").startswith(NOT_APPLICABLE):
        return
    report.longrepr = (
        f"{where}{reason}\nCI=true: a test may not skip in CI; provide what it needs "
        f"(.ci/run does), or fix the test (only a '{NOT_APPLICABLE} ...' skip is allowed)"
    )
    report.outcome = "failed"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Under ``CI=true`` a skipped test is reported as failed (xfail stays xfail)."""
    del item, call
    report = yield
    _fail_skip_in_ci(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(
    collector: pytest.Collector,
) -> Generator[None, pytest.CollectReport, pytest.CollectReport]:
    """Under ``CI=true`` a module that skips at import (``importorskip``) is an error."""
    del collector
    report = yield
    _fail_skip_in_ci(report)
    return report


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "db_backend" not in metafunc.fixturenames:
        return
    if metafunc.definition.get_closest_marker("dbs") is None:
        return
    metafunc.parametrize(
        "db_backend",
        ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
        ids=["sqlite", "postgresql"],
    )


def _postgres_base_url() -> str:
    return os.environ.get("BAKEOFF_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _postgres_unreachable_reason() -> str | None:
    """``None`` when PostgreSQL answers, else why not (checked once per run)."""
    if _pg_reason:
        return _pg_reason[0]
    url = make_url(_postgres_base_url())
    host, port = url.host or "127.0.0.1", url.port or 5432
    reason = tcp_problem(host, port, what="PostgreSQL")
    if reason is None:
        try:
            engine = create_db_engine(url.render_as_string(hide_password=False))
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            engine.dispose()
        except Exception as exc:  # noqa: BLE001 - any failure means "not available"
            reason = f"PostgreSQL at {host}:{port} refused the connection: {exc}"
    _pg_reason.append(reason)
    return reason


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL into a fresh, unique PostgreSQL schema; the schema is dropped afterwards."""
    require("postgresql", _postgres_unreachable_reason())
    base = _postgres_base_url()
    schema = f"bakeoff_test_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    admin = create_db_engine(base)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        conn.commit()
    url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.commit()
        admin.dispose()


def _redis_unreachable_reason() -> str | None:
    """``None`` when Redis answers ``PING``, else why not (checked once per run)."""
    if not _redis_reason:
        _redis_reason.append(redis_problem(redis_url()))
    return _redis_reason[0]


@pytest.fixture(name="redis_url")
def redis_url_fixture() -> str:
    """The URL of a Redis that answers ``PING`` (``BAKEOFF_TEST_REDIS_URL`` to override)."""
    require("redis", _redis_unreachable_reason())
    return redis_url()


@pytest.fixture
def db_backend() -> str:
    """``sqlite`` unless the test is marked ``dbs`` (then parametrized over both)."""
    return "sqlite"


@pytest.fixture
def engine(db_backend: str, request: pytest.FixtureRequest) -> Iterator[Engine]:
    """A fresh database holding every table (SQLite in memory, or a PostgreSQL schema)."""
    if db_backend == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        eng = create_db_engine(url)
    else:
        eng = create_db_engine("sqlite://")
    SQLModel.metadata.create_all(eng)
    try:
        yield eng
    finally:
        eng.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on ``engine``."""
    with Session(engine) as s:
        yield s


@pytest.fixture
def settings() -> Settings:
    """Test settings: no automatic migrations (tables come from ``create_all``)."""
    return Settings(environment="test", auto_migrate=False, database_url="sqlite://")


_APPS: dict[str, FastAPI] = {}


def _app_for(settings: Settings) -> FastAPI:
    """One app per distinct settings for the whole run (building routes is the slow part)."""
    key = settings.model_dump_json()
    if key not in _APPS:
        _APPS[key] = create_app(settings)
    return _APPS[key]


@pytest.fixture
def client(engine: Engine, settings: Settings) -> Iterator[TestClient]:
    """A TestClient on the app with its session and settings bound to the test database.

    The app object is shared by tests with equal ``settings`` (override the ``settings`` fixture
    for a different one); its dependency overrides point at this test's ``engine``.
    """
    app = _app_for(settings)

    def _session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_settings] = lambda: settings
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        app.dependency_overrides.clear()


@pytest.fixture
def key_vendor(session: Session) -> models.Vendor:
    """The vendor the ``vendor`` API key belongs to."""
    vendor = models.Vendor(name="Key Vendor Inc.", adapter_kind="file", price_per_item=0.05)
    session.add(vendor)
    session.commit()
    session.refresh(vendor)
    return vendor


@pytest.fixture
def api_keys(session: Session, key_vendor: models.Vendor) -> dict[str, str]:
    """One plaintext API key per role: ``{"admin": ..., ..., "vendor": ...}``."""
    keys: dict[str, str] = {}
    for role in models.ROLES:
        created = create_api_key(
            session=session,
            data=models.ApiKeyCreate(
                name=f"test-{role}",
                role=role,
                vendor_id=key_vendor.id if role == "vendor" else None,
            ),
        )
        keys[role] = created.key
    return keys


@pytest.fixture
def auth(api_keys: dict[str, str]) -> dict[str, dict[str, str]]:
    """Request headers per role: ``auth["lead"] == {"X-API-Key": "..."}``."""
    return {role: {"X-API-Key": key} for role, key in api_keys.items()}


@pytest.fixture
def bk(client: TestClient, api_keys: dict[str, str]) -> Iterator[BakeoffClient]:
    """The Python client with the lead's key, its requests handed to the in-process app."""

    def forward(request: httpx.Request) -> httpx.Response:
        response = client.request(
            request.method,
            request.url.raw_path.decode(),
            content=request.read(),
            headers=dict(request.headers),
        )
        return httpx.Response(
            response.status_code, headers=dict(response.headers), content=response.content
        )

    http = httpx.Client(base_url="http://bakeoff.test", transport=httpx.MockTransport(forward))
    with BakeoffClient(api_key=api_keys["lead"], http=http) as c:
        yield c
    http.close()


__all__ = ["DEFAULT_POSTGRES_URL"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium for one module's browser tests (skips where it is missing)."""
    with launch_chromium() as chromium:
        yield chromium
