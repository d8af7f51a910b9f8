"""The HTML report opens in a real headless Chromium: no console errors, every figure drawn.

Playwright for Python drives Debian's ``/usr/bin/chromium``; the test skips with a
clear reason where it (or Playwright) is missing. Screenshots go to
``artifacts/screenshots/`` (git-ignored) for people to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reports.render import render_html
from reports.results import Report
from tests.live import SCREENSHOTS, watch_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


# Each plot's id, its trace count, and the number of points of each trace.
FIGURE_DATA_JS = """
() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(el => ({
  id: el.id,
  traces: el.data.length,
  points: el.data.map(t => Math.max(
    (t.x || []).length, (t.y || []).length, (t.z || []).length)),
}))
"""


def test_report_opens_offline_with_every_figure_drawn(
    browser: Any, full_report: Report, tmp_path: Path
) -> None:
    html = render_html(full_report, tmp_path / "report.html")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.route(
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )
    page = context.new_page()
    problems = watch_page(page)
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
    page.goto(html.as_uri())
    expected = page.evaluate("document.querySelectorAll('.figure').length")
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length === {expected}", timeout=20_000
    )
    figures = page.evaluate(FIGURE_DATA_JS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "report.png"), full_page=True)
    context.close()

    assert problems == []
    assert expected == 12
    assert {f["id"] for f in figures} == {
        "fig-ranking",
        "fig-pareto",
        "fig-cost_projection",
        "fig-per_class",
        "fig-slices",
        "fig-box_bias",
        "fig-latency",
        "fig-trends",
        "fig-cost_trends",
        "fig-confusion_0",
        "fig-confusion_1",
        "fig-confusion_2",
    }
    for f in figures:
        assert f["traces"] > 0, f["id"]
        assert all(n > 0 for n in f["points"]), f
    by_id = {f["id"]: f for f in figures}
    assert by_id["fig-ranking"]["points"] == [2, 3]  # 2 ranked scores, 3 systems' accuracy
    assert by_id["fig-latency"]["points"][:3] == [101, 101, 101]
    assert (SCREENSHOTS / "report.png").stat().st_size > 10_000
