"""The procurement view in a real headless Chromium: a simulated vendor's quality drops
halfway through six weekly deliveries, and the page shows the drop (lower weekly accuracy
after it, the alert marker on the week it fired, the rejected delivery) to a ``viewer``.

The app runs under uvicorn on a free localhost port on a seeded SQLite file; requests that
leave localhost are aborted and reported. Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import service.models as m
from service.core.config import Settings
from service.core.db import create_db_engine
from service.domain.api_keys import create_api_key
from service.domain.delivery_overview import procurement_view
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service._delivery_sim import Simulated, simulate_vendor

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass(frozen=True)
class Served:
    base_url: str
    engine: Engine
    sim: Simulated
    viewer_key: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'procurement.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        sim = simulate_vendor(session)
        viewer = create_api_key(
            session=session, data=m.ApiKeyCreate(name="procurement", role="viewer")
        )
        viewer_key = viewer.key
    settings = Settings(environment="test", auto_migrate=False, database_url=url)
    with serve(app_on(engine, settings)) as base_url:
        yield Served(base_url, engine, sim, viewer_key)
    engine.dispose()


def test_the_procurement_view_shows_the_quality_drop(browser: Any, served: Served) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    base = served.base_url
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith((base, "data:")) else route.abort()
        ),
    )
    page = context.new_page()
    problems = watch_page(page, base=base)
    sim = served.sim
    project_url = f"{base}/ui/dashboards/projects/{sim.project_id}"
    page.goto(project_url)
    assert "/ui/login" in page.url
    page.fill("#api_key", served.viewer_key)
    page.click("#sign-in")
    page.wait_for_url(project_url + "*")
    page.click("#deliveries-link")  # linked from the project dashboard
    page.wait_for_url(f"{project_url}/deliveries")
    page.screenshot(path=str(SCREENSHOTS / "procurement-deliveries.png"), full_page=True)

    vendor = page.locator("section.vendor")
    assert vendor.count() == 1
    assert vendor.get_attribute("data-vendor") == "Acme Labels"
    # the link back to the bake-off that chose the vendor
    link = vendor.locator("a.bakeoff-link")
    assert link.inner_text() == "Q1 production"
    assert link.get_attribute("href") == f"/ui/dashboards/bakeoffs/{sim.bakeoff_id}"
    # weekly accuracy: lower after the drop than before it, as the domain computes it
    rows = vendor.locator("table.weekly tr.week")
    weeks = [rows.nth(i).get_attribute("data-week") for i in range(rows.count())]
    assert weeks == sim.weeks
    shown = [float(rows.nth(i).get_attribute("data-accuracy") or "nan") for i in range(len(weeks))]
    assert min(shown[: sim.drop_week]) > max(shown[sim.drop_week :])
    with Session(served.engine) as session:
        view = procurement_view(session=session, project_id=sim.project_id)
    expected = view.vendors[0]
    assert shown == [w.accuracy for w in expected.weekly]
    for i, w in enumerate(expected.weekly):
        assert w.accuracy is not None and w.ci_low is not None and w.ci_high is not None
        cell = rows.nth(i).locator("td").nth(2).inner_text()
        assert f"{w.accuracy * 100:.1f}%" in cell
        assert f"[{w.ci_low * 100:.1f}%, {w.ci_high * 100:.1f}%]" in cell
    # the alert marker sits on one week after the drop, and on the delivery where it fired
    marked = [i for i in range(rows.count()) if rows.nth(i).locator(".alert-marker").count()]
    assert len(marked) == 1 and marked[0] >= sim.drop_week
    alert_row = vendor.locator(
        f"table.deliveries tr[data-delivery='{expected.first_alarm_delivery_id}']"
    )
    assert alert_row.locator(".alert-marker").count() == 1
    assert "Alert" in vendor.locator(".alert-summary").inner_text()
    # the audited last delivery is rejected against its SLA, with its error rate shown
    last = vendor.locator(f"table.deliveries tr[data-delivery='{sim.delivery_ids[-1]}']")
    assert last.locator(".rejected-marker").count() == 1
    row = next(r for r in expected.deliveries if r.delivery_id == sim.delivery_ids[-1])
    assert row.error_rate is not None
    assert f"{row.error_rate * 100:.1f}%" in last.inner_text()
    assert problems == []
    context.close()
