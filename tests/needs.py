"""What a test needs from outside the repository, and what happens when it is missing.

Some tests need a service or a file that the repository does not contain: PostgreSQL, Redis,
Label Studio, Chromium (with Playwright), a Compose CLI, a package from the ``test`` extra, or
the public data in ``../shared/data``. Every such test asks for it through :func:`require` (or a
fixture or the ``shared_data`` marker that calls it), never through a bare ``pytest.skip``,
``skipif`` or ``importorskip``:

- locally, a missing dependency **skips** the test and says what is missing and how to get it;
- under ``CI=true`` it **fails** the test: CI (``.ci/run``) installs or starts everything first
  and stops when it cannot, so a missing service there is a broken build, not a quiet skip.

As a backstop, ``tests/conftest.py`` turns *any other* skip into a failure under ``CI=true``,
so a skip that bypasses :func:`require` cannot hide in CI either. The one exception is a test
that does not apply to a case at all (a contract test for a feature an adapter does not have):
its skip reason starts with :data:`NOT_APPLICABLE`, which a reviewer can grep for.
"""

from __future__ import annotations

import importlib
import os
import socket
from pathlib import Path
from types import ModuleType
from typing import Literal
from urllib.parse import urlsplit

import pytest

__all__ = [
    "DEFAULT_REDIS_URL",
    "NOT_APPLICABLE",
    "SHARED_DATA",
    "Need",
    "in_ci",
    "redis_problem",
    "redis_url",
    "require",
    "require_module",
    "shared_data_problem",
    "tcp_problem",
]

Need = Literal[
    "postgresql", "redis", "label-studio", "chromium", "compose", "shared-data", "package"
]

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
NOT_APPLICABLE = "not applicable:"

_HOW: dict[Need, str] = {
    "postgresql": "start it or set BAKEOFF_TEST_POSTGRES_URL (.ci/ensure-postgres)",
    "redis": "start it or set BAKEOFF_TEST_REDIS_URL (.ci/ensure-redis)",
    "label-studio": "run `bash .ci/ensure-labelstudio`",
    "chromium": "run `bash .ci/ensure-chromium`",
    "compose": "run `bash .ci/ensure-compose`",
    "shared-data": f"put the public data in {SHARED_DATA} (see its README.md; .ci/ensure-data)",
    "package": "install the test extra: `pip install -e '.[test]'`",
}


def in_ci() -> bool:
    """Whether this run is CI (``CI`` set to ``true``, ``1`` or ``yes``, any case)."""
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def require(need: Need, problem: str | None) -> None:
    """Go on when ``problem`` is ``None``; else skip the test, or fail it under ``CI=true``.

    Parameters
    ----------
    need
        What the test needs.
    problem
        Why it is not available, or ``None`` when it is.

    Raises
    ------
    pytest.skip.Exception
        Locally, when ``problem`` is not ``None``.
    pytest.fail.Exception
        Under ``CI=true``, when ``problem`` is not ``None``.
    """
    if problem is None:
        return
    message = f"needs {need}: {problem} ({_HOW[need]})"
    if in_ci():
        pytest.fail(
            f"{message}; CI=true, so a missing dependency fails instead of skipping",
            pytrace=False,
        )
    # reported at the test's own location, not this line (as a ``skipif`` mark is)
    raise pytest.skip.Exception(message, _use_item_location=True)


def require_module(name: str, need: Need = "package") -> ModuleType:
    """Import ``name``, or :func:`require` ``need`` with the import error as the problem."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require(need, f"cannot import {name}: {exc}")
        raise  # unreachable: require raised


def shared_data_problem(*names: str) -> str | None:
    """``None`` when every ``../shared/data/<name>`` exists, else which are missing."""
    missing = [str(SHARED_DATA / name) for name in names if not (SHARED_DATA / name).exists()]
    return f"not found: {', '.join(missing)}" if missing else None


def tcp_problem(host: str, port: int, *, what: str) -> str | None:
    """``None`` when ``host:port`` accepts a TCP connection within a second, else why not."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return None
    except (OSError, RuntimeError) as exc:  # RuntimeError: pytest-socket refused the host
        return f"{what} not reachable at {host}:{port} ({exc})"


def redis_url() -> str:
    """The Redis the tests use: ``BAKEOFF_TEST_REDIS_URL`` or :data:`DEFAULT_REDIS_URL`."""
    return os.environ.get("BAKEOFF_TEST_REDIS_URL", DEFAULT_REDIS_URL)


def redis_problem(url: str) -> str | None:
    """``None`` when the Redis at ``url`` answers ``PING``, else why not."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 6379
    problem = tcp_problem(host, port, what="Redis")
    if problem is not None:
        return problem
    try:
        with socket.create_connection((host, port), timeout=2.0) as conn:
            conn.sendall(b"PING\r\n")
            answer = conn.recv(64)
    except (OSError, RuntimeError) as exc:
        return f"Redis at {host}:{port} did not answer PING ({exc})"
    if not answer.startswith((b"+PONG", b"-NOAUTH")):
        return f"{host}:{port} is not a Redis server (PING answered {answer[:40]!r})"
    return None
