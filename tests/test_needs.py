"""tests.needs: a missing service skips a test locally and fails it under ``CI=true``.

A tiny test module runs in a child pytest that loads the suite's fixtures (``-p tests.conftest``)
with PostgreSQL and Redis pointed at a closed port and a shared-data folder that does not exist.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.needs import in_ci, require

REPO = Path(__file__).resolve().parents[1]
CLOSED = "127.0.0.1:1"  # nothing listens on port 1: the connection is refused at once

PROBE = """
import pytest


def test_postgres(postgres_url):
    pass


def test_redis(redis_url):
    pass


@pytest.mark.postgres
def test_postgres_marker():
    pass


@pytest.mark.shared_data("no-such-folder-for-test-needs")
def test_shared_data():
    pass


def test_bare_skip():
    pytest.skip("a skip that does not go through require")


def test_not_applicable():
    pytest.skip("not applicable: this adapter has no such feature")


@pytest.mark.xfail(reason="a known failure", strict=True)
def test_xfail():
    assert False


def test_plain():
    pass
"""


def _outcomes(tmp_path: Path, *, ci: str | None) -> dict[str, tuple[str, str]]:
    """Run :data:`PROBE` in a child pytest; ``{test: (outcome, message)}`` from its JUnit XML."""
    probe = tmp_path / "test_probe.py"
    probe.write_text(PROBE)
    xml = tmp_path / "junit.xml"
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env.update(
        BAKEOFF_TEST_POSTGRES_URL=f"postgresql+psycopg://postgres@{CLOSED}/test",
        BAKEOFF_TEST_REDIS_URL=f"redis://{CLOSED}/0",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    if ci is not None:
        env["CI"] = ci
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "tests.conftest",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={xml}",
            str(probe),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert xml.exists(), done.stdout + done.stderr
    outcomes: dict[str, tuple[str, str]] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = "failed" if child.tag in ("failure", "error") else "skipped"
                message = f"{child.get('message', '')} {child.text or ''}"
        outcomes[case.get("name", "")] = (outcome, message)
    return outcomes


@pytest.mark.slow
def test_under_ci_a_missing_service_fails_and_no_skip_survives(tmp_path: Path) -> None:
    got = _outcomes(tmp_path, ci="true")
    assert {name: outcome for name, (outcome, _) in got.items()} == {
        "test_postgres": "failed",
        "test_redis": "failed",
        "test_postgres_marker": "failed",
        "test_shared_data": "failed",
        "test_bare_skip": "failed",
        "test_not_applicable": "skipped",  # the one skip CI allows: the test does not apply
        "test_xfail": "skipped",  # JUnit's word for xfail: it stays an expected failure
        "test_plain": "passed",
    }
    assert f"PostgreSQL not reachable at {CLOSED}" in got["test_postgres"][1]
    assert "Redis not reachable at 127.0.0.1:1" in got["test_redis"][1]
    assert "no-such-folder-for-test-needs" in got["test_shared_data"][1]
    for name in ("test_postgres", "test_redis", "test_postgres_marker", "test_shared_data"):
        assert "CI=true" in got[name][1], got[name]
    assert "a skip that does not go through require" in got["test_bare_skip"][1]
    assert "may not skip in CI" in got["test_bare_skip"][1]


@pytest.mark.slow
def test_locally_a_missing_service_skips_and_says_why(tmp_path: Path) -> None:
    got = _outcomes(tmp_path, ci=None)
    assert {name: outcome for name, (outcome, _) in got.items()} == {
        "test_postgres": "skipped",
        "test_redis": "skipped",
        "test_postgres_marker": "skipped",
        "test_shared_data": "skipped",
        "test_bare_skip": "skipped",
        "test_not_applicable": "skipped",
        "test_xfail": "skipped",
        "test_plain": "passed",
    }
    assert "needs postgresql: PostgreSQL not reachable at 127.0.0.1:1" in got["test_postgres"][1]
    assert "BAKEOFF_TEST_POSTGRES_URL" in got["test_postgres"][1]
    assert "needs redis: Redis not reachable" in got["test_redis"][1]
    assert "needs shared-data: not found" in got["test_shared_data"][1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("", False), ("false", False)],
    ids=["true", "upper", "one", "yes", "empty", "false"],
)
def test_in_ci_reads_the_ci_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("CI", value)
    assert in_ci() is expected


def test_require_without_a_problem_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    require("postgresql", None)  # neither skips nor fails


def test_require_with_a_problem_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="needs redis: down"):
        require("redis", "down")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="needs redis: down"):
        require("redis", "down")
