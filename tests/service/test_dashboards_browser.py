"""The dashboards in a real headless Chromium: sign in, no console errors, every figure drawn.

A uvicorn server runs the app in a thread on the test database; Playwright for Python
drives Debian's ``/usr/bin/chromium`` (skips with a clear reason where it is missing).
Screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

import service.models as m
from service.domain import bakeoffs
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service.conftest import LabelGold

pytestmark = [pytest.mark.browser, pytest.mark.slow]


FIGURE_DATA_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
  id: el.id,
  traces: el.data.length,
  points: el.data.map(t => Math.max(
    (t.x || []).length, (t.y || []).length, (t.z || []).length)),
}))
"""

CHART_TEXT_JS = """
() => Array.from(document.querySelectorAll('.figure')).map(el => {
  const next = el.nextElementSibling;
  const table = next && next.tagName === 'DETAILS' ? next.querySelector('table') : null;
  return {id: el.id, role: el.getAttribute('role'), label: el.getAttribute('aria-label') || '',
    rows: table ? table.tBodies[0].rows.length : 0};
})
"""


@pytest.fixture
def labelled(session: Session, seeded: Any, label_gold: LabelGold) -> Any:
    label_gold(seeded.bakeoff_id, seeded.vendor_id, seeded.gold, {"img-1"}, 2.0)
    label_gold(seeded.bakeoff_id, seeded.other_vendor_id, seeded.gold, {"img-2"}, 5.0)
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
    label_gold(q2.id, seeded.vendor_id, seeded.gold, {"img-1", "img-3"}, 2.0)
    label_gold(q2.id, seeded.other_vendor_id, seeded.gold, set(), 4.0)
    return seeded


@pytest.fixture
def server(engine: Engine) -> Iterator[str]:
    """The app on a free local port, bound to the test database."""
    with serve(app_on(engine)) as url:
        yield url


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
    # every chart is named, and the numbers it plots are in a table right under it
    charts = page.evaluate(CHART_TEXT_JS)
    assert len(charts) == expected
    for c in charts:
        assert c["role"] == "img" and c["label"].strip() and c["rows"] > 0, c
    return figures


def test_viewer_signs_in_and_reads_the_dashboards(
    browser: Any, server: str, labelled: Any, api_keys: dict[str, str]
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems = watch_page(page, base=server)
    overview = f"{server}/ui/dashboards/projects/{labelled.project_id}?resamples=200"

    # Signed out: the page sends the browser to the shared sign-in form, then back.
    page.goto(overview)
    assert "/ui/login" in page.url
    page.fill("#api_key", api_keys["viewer"])
    page.click("#sign-in")
    page.wait_for_url(f"**/ui/dashboards/projects/{labelled.project_id}*")

    figures = _figures(page)
    assert {f["id"] for f in figures} == {
        "fig-ranking",
        "fig-pareto",
        "fig-trends",
        "fig-cost_trends",
    }
    trends = next(f for f in figures if f["id"] == "fig-trends")
    assert trends["traces"] == 2 and trends["points"] == [2, 2]  # 2 vendors x 2 bake-offs
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "dashboard-overview.png"), full_page=True)

    page.click(f"a[href='/ui/dashboards/bakeoffs/{labelled.bakeoff_id}']")
    page.wait_for_url(f"**/ui/dashboards/bakeoffs/{labelled.bakeoff_id}")
    figures = _figures(page)
    ids = {f["id"] for f in figures}
    assert {"fig-ranking", "fig-pareto", "fig-slices", "fig-latency", "fig-per_class"} <= ids
    assert "fig-confusion_0" in ids and "fig-confusion_1" in ids
    page.screenshot(path=str(SCREENSHOTS / "dashboard-bakeoff.png"), full_page=True)
    context.close()

    assert problems == []
    assert (SCREENSHOTS / "dashboard-bakeoff.png").stat().st_size > 10_000
