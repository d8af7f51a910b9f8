"""docker-compose.yml: the deployment the README describes, checked without a Docker engine.

The file is parsed and its wiring checked (health checks, start order, replicas behind one
port, settings names); ``docker compose config -q`` (or ``docker-compose config -q``) also
validates it against the Compose schema where a Compose CLI is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.core.config import Settings
from tests.needs import require

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
LONG_RUNNING = ("db", "redis", "api", "worker", "proxy", "label-studio")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment is written as a mapping"
    return {str(k): str(v) for k, v in env.items()}


def _test_command(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else str(test)


def test_all_pieces_are_there(services: dict[str, Any]) -> None:
    assert set(services) == {"db", "redis", "migrate", "api", "worker", "proxy", "label-studio"}


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_health_check_and_restarts(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]
    assert service["healthcheck"]["test"], f"{name} has no health check"
    assert service["restart"] == "unless-stopped"


def test_database_and_redis_health_checks(services: dict[str, Any]) -> None:
    assert "pg_isready" in _test_command(services["db"])
    assert "redis-cli ping" in _test_command(services["redis"])
    assert "/health" in _test_command(services["api"])


def test_migrations_run_once_before_api_and_workers(services: dict[str, Any]) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["alembic", "upgrade", "head"]
    assert (REPO / "alembic.ini").exists()
    assert migrate["depends_on"]["db"]["condition"] == "service_healthy"
    assert migrate.get("restart") == "no"
    for name in ("api", "worker"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["db"]["condition"] == "service_healthy"
        assert deps["redis"]["condition"] == "service_healthy"
        # replicas must not race each other to migrate
        assert _env(services[name])["BAKEOFF_AUTO_MIGRATE"] == "false"
    assert services["proxy"]["depends_on"]["api"]["condition"] == "service_healthy"


def test_api_replicas_sit_behind_one_published_port(services: dict[str, Any]) -> None:
    api, proxy = services["api"], services["proxy"]
    assert api["deploy"]["replicas"] >= 2
    assert "ports" not in api, "replicas cannot share a host port; the proxy publishes it"
    assert services["worker"]["deploy"]["replicas"] >= 1
    assert services["worker"]["command"][:2] == ["bakeoff", "worker"]
    assert proxy["ports"] == ["${BAKEOFF_PORT:-8000}:8000"]
    mount = proxy["volumes"][0]
    host_path = mount.split(":")[0]
    conf = (REPO / host_path).read_text()
    assert re.search(r"server\s+api:8000\s+resolve;", conf)
    assert re.search(r"listen\s+8000;", conf)
    assert "proxy_pass http://bakeoff_api;" in conf


def test_services_share_one_postgres_and_one_redis(services: dict[str, Any]) -> None:
    for name in ("migrate", "api", "worker"):
        env = _env(services[name])
        assert env["BAKEOFF_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@db:5432/" in env["BAKEOFF_DATABASE_URL"]
        assert env["BAKEOFF_REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["image"] == services["api"]["image"]


def test_compose_uses_only_settings_the_service_knows(services: dict[str, Any]) -> None:
    fields = set(Settings.model_fields)
    image_only = {"BAKEOFF_API_WORKERS"}  # read by the Dockerfile's uvicorn command
    for name in ("migrate", "api", "worker"):
        for key in _env(services[name]):
            if key in image_only:
                continue
            assert key.startswith("BAKEOFF_")
            assert key.removeprefix("BAKEOFF_").lower() in fields, f"{name}: unknown {key}"


def test_data_lives_in_named_volumes(compose: dict[str, Any], services: dict[str, Any]) -> None:
    assert set(compose["volumes"]) == {"pgdata", "redisdata", "lsdata", "vendorfiles"}
    assert "pgdata:/var/lib/postgresql/data" in services["db"]["volumes"]
    assert "redisdata:/data" in services["redis"]["volumes"]
    assert "--appendonly" in services["redis"]["command"]


def test_api_and_workers_share_vendor_files_and_read_operator_models(
    services: dict[str, Any],
) -> None:
    """File vendors' packages are written by a worker and served by an API replica; model
    candidates come only from the operator's read-only folder (never from an API caller)."""
    for name in ("api", "worker"):
        env = _env(services[name])
        assert env["BAKEOFF_MODEL_DIR"] == "/models"
        assert env["BAKEOFF_VENDOR_FILES_DIR"] == "/data/vendor-files"
        volumes = services[name]["volumes"]
        assert "vendorfiles:/data/vendor-files" in volumes
        assert any(v.endswith(":/models:ro") for v in volumes)


def test_label_studio_is_optional(services: dict[str, Any]) -> None:
    ls = services["label-studio"]
    assert ls["profiles"] == ["label-studio"]
    assert "label-studio" not in services["api"].get("depends_on", {})
    env = _env(ls)
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"


def test_image_contains_every_package() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    ignored = {
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for path in ("service", "adapters", "metrics", "reports", "alembic.ini", "pyproject.toml"):
        assert re.search(rf"^COPY .*\b{re.escape(path)}\b", dockerfile, re.MULTILINE), path
        assert path not in ignored
    assert "USER bakeoff" in dockerfile


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.parametrize("profile", [None, "label-studio"], ids=["default", "label-studio"])
def test_compose_config_validates(profile: str | None) -> None:
    cli = _compose_cli()
    require(
        "compose",
        None if cli is not None else "no `docker compose` plugin or `docker-compose` here",
    )
    assert cli is not None
    args = [*cli, "-f", str(COMPOSE)]
    if profile:
        args += ["--profile", profile]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BAKEOFF_", "POSTGRES_"))}
    done = subprocess.run(
        [*args, "config", "-q"], capture_output=True, text=True, env=env, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr
