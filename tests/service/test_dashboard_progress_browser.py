"""The run-progress panel in a real headless Chromium: bars update live, then the page reloads.

A uvicorn server runs the app in a thread on a SQLite *file* (WAL), so the test can change
task rows while the server reads them; Playwright for Python drives Debian's
``/usr/bin/chromium`` (skips with a clear reason where it is missing). Screenshots go to
``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import service.models as m
from service.api.routes.dispatch import get_run_queue
from service.core.db import create_db_engine
from service.domain import bakeoffs
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service.test_dashboard_progress import (
    PARTIAL_A,
    PARTIAL_B,
    Counts,
    expected_rows,
    label_received,
    set_statuses,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


BARS_JS = """
() => Array.from(document.querySelectorAll('#run-vendors .run-vendor')).map(row => {
  const counts = {};
  row.querySelectorAll('[data-count]').forEach(s => {
    counts[s.getAttribute('data-count')] = Number(s.textContent);
  });
  const widths = Array.from(row.querySelectorAll('.run-bar .seg')).map(
    s => s.getBoundingClientRect().width / s.parentElement.getBoundingClientRect().width);
  return {name: row.querySelector('.run-name').firstChild.textContent.trim(), counts, widths};
})
"""

# After the first look: Key Vendor gets everything back, Other Vendor two more items.
LATER_A: tuple[m.TaskStatus, ...] = ("received",) * 3 + ("failed", "received", "received")
LATER_B: tuple[m.TaskStatus, ...] = (
    "received",
    "timed_out",
    "received",
    "received",
    "sent",
    "sent",
)
DONE_B: tuple[m.TaskStatus, ...] = (
    "received",
    "timed_out",
    "received",
    "received",
    "received",
    "failed",
)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file (WAL), so the test thread and the server thread use separate connections."""
    eng = create_db_engine(f"sqlite:///{tmp_path / 'bakeoff.db'}")
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def running(session: Session, seeded: Any) -> Any:
    """The seeded bake-off running: some tasks received, some sent, nothing labelled yet."""
    bakeoffs.create_tasks(session=session, bakeoff_id=seeded.bakeoff_id)
    bakeoffs.update_bakeoff(
        session=session, bakeoff_id=seeded.bakeoff_id, data=m.BakeOffUpdate(status="running")
    )
    set_statuses(session, seeded.bakeoff_id, seeded.vendor_id, PARTIAL_A)
    set_statuses(session, seeded.bakeoff_id, seeded.other_vendor_id, PARTIAL_B)
    return seeded


class _Kicks(list[int]):
    """A stand-in run queue: remembers the bake-offs it was asked to run."""

    def kick(self, bakeoff_id: int) -> None:
        self.append(bakeoff_id)


@pytest.fixture
def kicks() -> _Kicks:
    return _Kicks()


@pytest.fixture
def server(engine: Engine, kicks: _Kicks) -> Iterator[str]:
    """The app on a free local port, bound to the test database and a stand-in run queue."""
    app = app_on(engine)
    app.dependency_overrides[get_run_queue] = lambda: kicks
    with serve(app) as url:
        yield url


def _bars(page: Any) -> list[Counts]:
    rows: list[dict[str, Any]] = page.evaluate(BARS_JS)
    out: list[Counts] = []
    for row in rows:
        c = row["counts"]
        out.append(
            Counts(
                name=row["name"],
                received=c["received"],
                failed=c["failed"],
                timed_out=c["timed_out"],
                open=c["open"],
                total=c["total"],
            )
        )
        # The drawn segments are as wide as their share of the vendor's tasks.
        total = c["total"] or 1  # a draft's bars are empty
        shares = [c["received"] / total, c["failed"] / total, c["timed_out"] / total]
        assert row["widths"] == pytest.approx(shares, abs=0.02), row
    return out


def test_viewer_watches_the_bars_fill_without_reloading(
    browser: Any, server: str, session: Session, running: Any, api_keys: dict[str, str]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch_page(page, base=server)
    url = f"{server}/ui/dashboards/bakeoffs/{running.bakeoff_id}?resamples=200"
    page.goto(url)
    assert "/ui/login" in page.url
    page.fill("#api_key", api_keys["viewer"])
    page.click("#sign-in")
    page.wait_for_url(f"**/ui/dashboards/bakeoffs/{running.bakeoff_id}*")

    # First look: the seeded counts, blinded names, a note instead of results.
    page.wait_for_selector("#run-progress")
    assert _bars(page) == [
        expected_rows("Key Vendor Inc.", PARTIAL_A),
        expected_rows("Other Vendor Ltd.", PARTIAL_B),
    ]
    assert page.text_content("#run-status") == "running"
    assert "Results appear as labels arrive" in (page.text_content("#results-pending") or "")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-progress-running.png"), full_page=True)
    page.evaluate("window.__sameDocument = true")

    # More results arrive in the database: the panel catches up by itself (no reload).
    set_statuses(session, running.bakeoff_id, running.vendor_id, LATER_A)
    set_statuses(session, running.bakeoff_id, running.other_vendor_id, LATER_B)
    page.wait_for_function(
        "() => document.querySelector('#run-vendors .run-vendor [data-count=received]')"
        ".textContent === '5'",
        timeout=15_000,
    )
    assert page.evaluate("window.__sameDocument === true")
    assert _bars(page) == [
        expected_rows("Key Vendor Inc.", LATER_A),
        expected_rows("Other Vendor Ltd.", LATER_B),
    ]
    overall = page.text_content("#run-overall-counts") or ""
    assert overall == "8/12 received, 1 failed, 1 timed out, 2 open"
    page.screenshot(path=str(SCREENSHOTS / "dashboard-progress-updated.png"), full_page=True)

    # The labels are stored, the last tasks finish, and the run completes (as a worker's last
    # step does): the page reloads once, by itself, and shows the report.
    for vendor_id, statuses in ((running.vendor_id, LATER_A), (running.other_vendor_id, DONE_B)):
        keys = [k for k, st in zip(sorted(running.gold), statuses, strict=True) if st == "received"]
        label_received(session, running.bakeoff_id, vendor_id, keys, running.gold)
    set_statuses(session, running.bakeoff_id, running.other_vendor_id, DONE_B)
    bakeoffs.update_bakeoff(
        session=session, bakeoff_id=running.bakeoff_id, data=m.BakeOffUpdate(status="completed")
    )
    page.wait_for_selector("#verdict", timeout=20_000)
    assert page.evaluate("window.__sameDocument === undefined")  # it did reload
    assert page.get_attribute("#run-progress", "data-poll") == "off"
    # The reload follows the first poll that saw the run done: before or after the status flip.
    assert page.text_content("#run-status") in ("running", "completed")
    assert page.query_selector("#results-pending") is None
    assert _bars(page) == [
        expected_rows("Key Vendor Inc.", LATER_A),
        expected_rows("Other Vendor Ltd.", DONE_B),
    ]
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length > 0")
    page.screenshot(path=str(SCREENSHOTS / "dashboard-progress-done.png"), full_page=True)
    context.close()

    assert problems == []
    assert (SCREENSHOTS / "dashboard-progress-updated.png").stat().st_size > 10_000


def test_lead_starts_a_draft_run_from_the_page(
    browser: Any, server: str, seeded: Any, api_keys: dict[str, str], kicks: _Kicks
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch_page(page, base=server)
    page.goto(f"{server}/ui/login?next=/ui/dashboards/bakeoffs/{seeded.bakeoff_id}")
    page.fill("#api_key", api_keys["lead"])
    page.click("#sign-in")
    page.wait_for_url(f"**/ui/dashboards/bakeoffs/{seeded.bakeoff_id}")
    assert page.text_content("#run-status") == "draft"
    assert page.get_attribute("#run-progress", "data-poll") == "off"
    assert _bars(page) == [  # no tasks yet: empty bars and a note
        expected_rows("Key Vendor Inc.", ()),
        expected_rows("Other Vendor Ltd.", ()),
    ]
    assert page.is_visible("#run-empty")

    # The form posts with its CSRF token from this origin; the run starts and is polled.
    page.click("#start-run")
    page.wait_for_url(f"**/ui/dashboards/bakeoffs/{seeded.bakeoff_id}")
    page.wait_for_selector("#run-vendors .run-vendor")
    assert kicks == [seeded.bakeoff_id]
    assert page.text_content("#run-status") == "running"
    assert page.get_attribute("#run-progress", "data-poll") == "on"
    pending: tuple[m.TaskStatus, ...] = ("pending",) * 6
    assert _bars(page) == [
        expected_rows("Key Vendor Inc.", pending),  # a lead sees the names
        expected_rows("Other Vendor Ltd.", pending),
    ]
    assert page.query_selector("#start-run") is None
    page.wait_for_function(
        "() => document.getElementById('run-live').textContent.includes('updated')",
        timeout=10_000,
    )
    context.close()
    assert problems == []
