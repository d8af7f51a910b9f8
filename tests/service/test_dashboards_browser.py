"""The dashboards in a real headless Chromium: sign in, no console errors, every figure drawn.

A uvicorn server runs the app in a thread on the test database; Playwright for Python
drives Debian's ``/usr/bin/chromium`` (skips with a clear reason where it is missing).
Screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session

import service.models as m
from service.core.config import Settings, get_settings
from service.core.db import get_session
from service.domain import bakeoffs
from service.domain.vendor_labels import add_vendor_labels
from service.main import create_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

FIGURE_DATA_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
  id: el.id,
  traces: el.data.length,
  points: el.data.map(t => Math.max(
    (t.x || []).length, (t.y || []).length, (t.z || []).length)),
}))
"""


def _label(
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    gold: dict[str, str],
    wrong: set[str],
    hours: float,
) -> None:
    add_vendor_labels(
        session=session,
        bakeoff_id=bakeoff_id,
        vendor_id=vendor_id,
        records=[
            m.VendorLabelCreate(
                item_key=key,
                value="bird" if key in wrong else value,
                started_at=T0,
                completed_at=T0 + timedelta(hours=hours),
            )
            for key, value in gold.items()
        ],
    )


@pytest.fixture
def labelled(session: Session, seeded: Any) -> Any:
    _label(session, seeded.bakeoff_id, seeded.vendor_id, seeded.gold, {"img-1"}, 2.0)
    _label(session, seeded.bakeoff_id, seeded.other_vendor_id, seeded.gold, {"img-2"}, 5.0)
    bakeoffs.update_bakeoff(
        session=session,
        bakeoff_id=seeded.bakeoff_id,
        data=m.BakeOffUpdate(status="completed", production_volume=50_000),
    )
    q2 = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="Q2 animals",
            project_id=seeded.project_id,
            golden_set_version_id=seeded.version_id,
            instructions_version_id=seeded.instructions_id,
            vendor_ids=[seeded.vendor_id, seeded.other_vendor_id],
        ),
    )
    assert q2.id is not None
    _label(session, q2.id, seeded.vendor_id, seeded.gold, {"img-1", "img-3"}, 2.0)
    _label(session, q2.id, seeded.other_vendor_id, seeded.gold, set(), 4.0)
    return seeded


@pytest.fixture
def server(engine: Engine) -> Iterator[str]:
    """The app on a free local port, bound to the test database."""
    settings = Settings(environment="test", auto_migrate=False, database_url="sqlite://")
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_settings] = lambda: settings
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (run .ci/ensure-chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _watch(page: Any, base: str) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(f"{msg.type}: {msg.text}") if msg.type in ("error", "warning") else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on(
        "request",
        lambda req: (
            problems.append(f"off-site request: {req.url}")
            if not req.url.startswith(base)
            else None
        ),
    )
    return problems


def _figures(page: Any) -> list[dict[str, Any]]:
    expected = page.evaluate("document.querySelectorAll('.figure').length")
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length === {expected}", timeout=20_000
    )
    figures: list[dict[str, Any]] = page.evaluate(FIGURE_DATA_JS)
    assert len(figures) == expected
    for f in figures:
        assert f["traces"] > 0, f["id"]
        assert all(n > 0 for n in f["points"]), f
    return figures


def test_viewer_signs_in_and_reads_the_dashboards(
    browser: Any, server: str, labelled: Any, api_keys: dict[str, str]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = _watch(page, server)
    overview = f"{server}/ui/dashboards/projects/{labelled.project_id}?resamples=200"

    # Signed out: the page sends the browser to the shared sign-in form, then back.
    page.goto(overview)
    assert "/ui/login" in page.url
    page.fill("#api_key", api_keys["viewer"])
    page.click("#sign-in")
    page.wait_for_url(f"**/ui/dashboards/projects/{labelled.project_id}*")

    figures = _figures(page)
    assert {f["id"] for f in figures} == {"fig-ranking", "fig-pareto", "fig-trends"}
    trends = next(f for f in figures if f["id"] == "fig-trends")
    assert trends["traces"] == 2 and trends["points"] == [2, 2]  # 2 vendors x 2 bake-offs
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "dashboard-overview.png"), full_page=True)

    page.click(f"a[href='/ui/dashboards/bakeoffs/{labelled.bakeoff_id}']")
    page.wait_for_url(f"**/ui/dashboards/bakeoffs/{labelled.bakeoff_id}")
    figures = _figures(page)
    ids = {f["id"] for f in figures}
    assert {"fig-ranking", "fig-pareto", "fig-slices", "fig-latency", "fig-per_class"} <= ids
    assert "fig-confusion_0" in ids and "fig-confusion_1" in ids
    page.screenshot(path=str(SHOTS / "dashboard-bakeoff.png"), full_page=True)
    context.close()

    assert problems == []
    assert (SHOTS / "dashboard-bakeoff.png").stat().st_size > 10_000
