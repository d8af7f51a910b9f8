"""What procurement and ML leads do on the dashboards, in a real headless Chromium.

* download the ranking, the metrics with intervals and the costs as CSV and XLSX, and find
  them formatted (ranks as integers, rounded numbers, the currency on money columns), with
  the same numbers as the report JSON (the scoring engine's);
* read every bake-off's leader and the ranking weights each used, trends by bake-off name;
* cancel a running run (leads), and see a warning when no worker has picked it up;
* read every dashboard page on a phone (390 x 844) without sideways scrolling.

Playwright drives Debian's ``/usr/bin/chromium``; no console errors, no off-site requests.
Screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session

import service.models as m
from reports.inputs import DEFAULT_RANKING_WEIGHTS
from service.api.routes.dispatch import get_run_queue
from service.core.types import utcnow
from service.domain import bakeoffs
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service.conftest import LabelGold

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The page's width against the phone's, and the elements that stick out (not those inside a
# scrolling box such as a wide table's wrapper, whose overflow scrolls inside the card).
WIDTHS_JS = """
() => {
  const inner = window.innerWidth;
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const inScroller = e => { for (let p = e.parentElement; p; p = p.parentElement) {
    if (scrolls(p)) return true; } return false; };
  const wide = Array.from(document.querySelectorAll('body *')).filter(e =>
    e.getBoundingClientRect().right > inner + 1 && !inScroller(e)
  ).map(e => `${e.tagName}#${e.id} in ${(e.closest('[id]') || {}).id} `
    + `(${Math.round(e.getBoundingClientRect().right)}) ${(e.textContent || '').slice(0, 30)}`);
  const docs = [document.documentElement, document.body].map(e => e.scrollWidth);
  return {scroll: document.documentElement.scrollWidth, inner, wide: wide.slice(0, 8), docs,
    wrappers: Array.from(document.querySelectorAll('body *')).filter(e => scrolls(e) &&
      e.getBoundingClientRect().right > inner + 1).map(e => e.tagName + '#' + e.id).slice(0, 5),
    spill: Array.from(document.querySelectorAll('body *')).filter(e => !scrolls(e) &&
      getComputedStyle(e).overflowX === 'visible' && e.scrollWidth > e.clientWidth + 1 &&
      e.clientWidth > 0 && !inScroller(e)
    ).map(e => `${e.tagName}.${e.className} ${e.scrollWidth}/${e.clientWidth}`).slice(0, 8)};
}
"""
# Pairs of drawn charts whose boxes overlap (issue 13: paired charts overlapped at 390 px).
OVERLAPS_JS = """
() => {
  const boxes = Array.from(document.querySelectorAll('.js-plotly-plot')).map(e =>
    [e.closest('[id]') ? e.closest('[id]').id : '', e.getBoundingClientRect()]);
  const out = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, b] = [boxes[i][1], boxes[j][1]];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1
        && b.top < a.bottom - 1) out.push(`${boxes[i][0]} / ${boxes[j][0]}`);
  }
  return {n: boxes.length, overlaps: out};
}
"""
OTHER_WEIGHTS = {"accuracy": 0.5, "speed": 0.1, "cost": 0.4}


class _Queue:
    """A stand-in run queue with a worker heartbeat the test sets."""

    def __init__(self) -> None:
        self.kicked: list[int] = []
        self.beat: float | None = None

    def kick(self, bakeoff_id: int) -> None:
        self.kicked.append(bakeoff_id)

    def last_worker_beat(self, bakeoff_id: int) -> float | None:
        del bakeoff_id
        return self.beat


@pytest.fixture
def queue() -> _Queue:
    return _Queue()


@pytest.fixture
def server(engine: Engine, queue: _Queue) -> Iterator[str]:
    app = app_on(engine)
    app.dependency_overrides[get_run_queue] = lambda: queue
    with serve(app) as url:
        yield url


@pytest.fixture
def project(session: Session, seeded: Any, label_gold: LabelGold) -> Any:
    """Three bake-offs: Q1 (completed), Q2 (other weights, labelled), Q3 (running, no labels)."""
    label_gold(seeded.bakeoff_id, seeded.vendor_id, seeded.gold, {"img-1"}, 2.0)
    label_gold(seeded.bakeoff_id, seeded.other_vendor_id, seeded.gold, {"img-2"}, 5.0)
    bakeoffs.update_bakeoff(
        session=session,
        bakeoff_id=seeded.bakeoff_id,
        data=m.BakeOffUpdate(status="completed", production_volume=30_000),
    )
    ids = {}
    for name, weights in (("Q2 animals", OTHER_WEIGHTS), ("Q3 animals", None)):
        b = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name=name,
                project_id=seeded.project_id,
                golden_set_version_id=seeded.version_id,
                instructions_version_id=seeded.instructions_id,
                vendor_ids=[seeded.vendor_id, seeded.other_vendor_id],
                ranking_weights=weights or dict(DEFAULT_RANKING_WEIGHTS),
            ),
        )
        assert b.id is not None
        ids[name] = b.id
    label_gold(ids["Q2 animals"], seeded.vendor_id, seeded.gold, {"img-1", "img-3"}, 2.0)
    label_gold(ids["Q2 animals"], seeded.other_vendor_id, seeded.gold, set(), 4.0)
    q3 = ids["Q3 animals"]
    bakeoffs.create_tasks(session=session, bakeoff_id=q3)
    bakeoffs.update_bakeoff(session=session, bakeoff_id=q3, data=m.BakeOffUpdate(status="running"))
    session.execute(  # started two minutes ago; no worker has taken a step since
        update(m.Task)
        .where(m.Task.bakeoff_id == q3)  # type: ignore[arg-type]
        .values(created_at=utcnow() - timedelta(minutes=2))
    )
    session.commit()
    return {"seed": seeded, "q2": ids["Q2 animals"], "q3": q3}


def _sign_in(page: Any, url: str, key: str) -> None:
    page.goto(url)
    assert "/ui/login" in page.url
    page.fill("#api_key", key)
    page.click("#sign-in")
    page.wait_for_url(url.split("?")[0] + "*")


def _wait_figures(page: Any) -> None:
    expected = page.evaluate("document.querySelectorAll('.figure').length")
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot').length === {expected}", timeout=20_000
    )


def _download(page: Any, selector: str, suffix: str = ".csv") -> Path:
    with page.expect_download() as info:
        page.click(selector)
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename.endswith(suffix)
    return Path(download.path())


def test_lead_downloads_formatted_csv_and_xlsx(
    browser: Any, server: str, project: Any, api_keys: dict[str, str]
) -> None:
    seed = project["seed"]
    context = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = context.new_page()
    problems = watch_page(page, base=server)
    plotly_headers: list[dict[str, str]] = []
    page.on(
        "response",
        lambda r: plotly_headers.append(r.headers) if r.url.endswith("plotly.min.js") else None,
    )
    url = f"{server}/ui/dashboards/bakeoffs/{seed.bakeoff_id}?resamples=200"
    _sign_in(page, url, api_keys["lead"])
    _wait_figures(page)
    report = page.evaluate(
        f"fetch('/ui/dashboards/bakeoffs/{seed.bakeoff_id}/report.json?resamples=200')"
        ".then(r => r.json())"
    )
    assert "accuracy 0.6 · speed 0.2 · cost 0.2 (the default)" in page.text_content(
        "#bakeoff-weights"
    )
    # money on the page carries its currency
    ranking_text = page.text_content("#ranking table") or ""
    assert "USD 0.0500" in ranking_text and "USD 0.0200" in ranking_text
    assert "USD 1,500.00" in (page.text_content("#cost") or "")  # 30,000 x 0.05
    assert plotly_headers and plotly_headers[0].get("content-encoding") == "gzip"

    ranking = list(csv.DictReader(io.StringIO(_download(page, "#export-ranking").read_text())))
    by_name = {r["system"]: r for r in ranking}
    assert {r["rank"] for r in ranking} == {"1", "2"}  # integers, never "1.0"
    for s in report["ranking"]["systems"]:
        row = by_name[s["name"]]
        assert row["cost per item (USD)"] == f"{s['cost_per_item']['value']:.4f}"
        assert row["cost per correct label (USD)"] == f"{s['cost_per_correct']['value']:.4f}"
        assert row["accuracy"] == f"{s['accuracy']['value']:.3f}"
        assert row["currency"] == "USD"

    metrics = list(csv.DictReader(io.StringIO(_download(page, "#export-metrics").read_text())))
    engine = {
        (system, name): e
        for system, sc in report["scores"].items()
        for name, e in sc["metrics"].items()
    }
    checked = 0
    for r in metrics:
        e = engine.get((r["system"], r["metric"]))
        if e is None or e["value"] is None:
            continue
        assert float(r["value"]) == pytest.approx(e["value"], abs=5e-5)
        assert len(r["value"].split(".")[1]) == 4  # rounded, no 0.8333333333333334
        if e["low"] is not None:
            assert float(r["low"]) == pytest.approx(e["low"], abs=5e-5)
            assert float(r["high"]) == pytest.approx(e["high"], abs=5e-5)
        checked += 1
    assert checked >= 4
    totals = [r for r in metrics if r["metric"] == "total_cost"]
    assert totals and all(
        r["currency"] == "USD" and len(r["value"].split(".")[1]) == 2 for r in totals
    )

    costs = list(csv.DictReader(io.StringIO(_download(page, "#export-costs").read_text())))
    projected = {p["system"]: p for p in report["cost_projection"]}
    assert {r["system"] for r in costs} == set(projected)
    for r in costs:
        assert r["projected cost (USD)"] == f"{projected[r['system']]['projected_cost']:.2f}"
        assert r["production volume"] == "30000"

    xlsx = _download(page, "#export-xlsx", ".xlsx").read_bytes()
    book = openpyxl.load_workbook(io.BytesIO(xlsx))
    assert book.sheetnames == ["ranking", "metrics", "costs"]
    sheet = book["ranking"]
    header = [c.value for c in sheet[1]]
    rank = sheet.cell(2, header.index("rank") + 1)
    assert rank.value == 1 and isinstance(rank.value, int)
    cost = sheet.cell(2, header.index("cost per item (USD)") + 1)
    assert isinstance(cost.value, float) and cost.number_format == '"USD" #,##0.0000'
    page.screenshot(path=str(SCREENSHOTS / "dashboard-exports.png"), full_page=False)
    context.close()
    assert problems == []


def test_project_page_names_every_leader_weights_and_trends_by_bake_off(
    browser: Any, server: str, project: Any, api_keys: dict[str, str]
) -> None:
    seed = project["seed"]
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    problems = watch_page(page, base=server)
    url = f"{server}/ui/dashboards/projects/{seed.project_id}?resamples=200"
    _sign_in(page, url, api_keys["viewer"])
    _wait_figures(page)
    rows = page.evaluate(
        """() => Array.from(document.querySelectorAll('#bakeoffs tbody tr')).map(tr => ({
             id: Number(tr.dataset.bakeoff),
             leader: tr.querySelector('.leader').textContent.trim(),
             weights: tr.querySelector('.weights').textContent.trim()}))"""
    )
    by_id = {r["id"]: r for r in rows}
    assert len(rows) == 3 and all(r["leader"] for r in rows)  # filled for every bake-off
    vendors = ("Key Vendor Inc.", "Other Vendor Ltd.")
    for b in (seed.bakeoff_id, project["q2"]):  # six gold items: a tie is said, not hidden
        leader = by_id[b]["leader"]
        assert leader in vendors or (leader.startswith(vendors) and "(tied with " in leader)
    assert by_id[project["q3"]]["leader"] == "no labels yet"
    assert (
        by_id[project["q2"]]["weights"] == "accuracy 0.5 · speed 0.1 · cost 0.4 (not the default)"
    )
    assert by_id[seed.bakeoff_id]["weights"] == "accuracy 0.6 · speed 0.2 · cost 0.2"

    axes = page.evaluate(
        """() => ['fig-trends', 'fig-cost_trends'].map(id => {
             const el = document.getElementById(id);
             return {x: el.layout.xaxis.categoryarray, ticks: el.layout.xaxis.ticktext,
                     traces: el.data.map(t => ({name: t.name, colour: t.line.color,
                                                x: t.x, y: t.y}))};
           })"""
    )
    trends, cost = axes
    assert trends["x"] == ["Q1 animals", "Q2 animals"]  # bake-off names in time order
    assert "accuracy 0.5 · speed 0.1 · cost 0.4" in trends["ticks"][1]
    assert "Q" in trends["ticks"][0].split("<br>")[1]  # the quarter, not a timestamp
    assert len(cost["traces"]) == 2 and all(len(t["y"]) == 2 for t in cost["traces"])
    assert all(y > 0 for t in cost["traces"] for y in t["y"])
    # one colour per vendor on every chart of the page
    ranking = page.evaluate(
        "() => { const t = document.getElementById('fig-ranking').data[0];"
        " return Object.fromEntries(t.y.map((n, i) => [n, t.marker.color[i]])); }"
    )
    for chart in (trends, cost):
        for t in chart["traces"]:
            assert t["colour"] == ranking[t["name"]]
    page.screenshot(path=str(SCREENSHOTS / "dashboard-project-leaders.png"), full_page=True)
    context.close()
    assert problems == []


def test_lead_cancels_a_run_nobody_picked_up(
    browser: Any, server: str, project: Any, queue: _Queue, api_keys: dict[str, str]
) -> None:
    q3 = project["q3"]
    url = f"{server}/ui/dashboards/bakeoffs/{q3}?resamples=200"

    viewer = browser.new_context(viewport={"width": 1440, "height": 900})
    page = viewer.new_page()
    problems = watch_page(page, base=server)
    _sign_in(page, url, api_keys["viewer"])
    assert page.query_selector("#cancel-run") is None  # leads only
    viewer.close()

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    problems += watch_page(page, base=server)
    _sign_in(page, url, api_keys["lead"])
    warning = page.locator("#run-worker-warning")
    assert warning.is_visible()
    text = warning.text_content() or ""
    assert text.startswith("No worker has picked this run up for ") and "bakeoff worker" in text
    page.screenshot(path=str(SCREENSHOTS / "dashboard-no-worker.png"), full_page=False)

    # A worker takes its first step: the next poll hides the warning, no reload needed.
    page.evaluate("window.__sameDocument = true")
    queue.beat = time.time()
    page.wait_for_function(
        "() => document.getElementById('run-worker-warning').hidden", timeout=15_000
    )
    assert page.evaluate("window.__sameDocument === true")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-run")
    page.wait_for_function(
        "() => document.getElementById('run-status').textContent === 'cancelled'",
        timeout=15_000,
    )
    assert page.query_selector("#cancel-run") is None
    assert not page.locator("#run-worker-warning").is_visible()
    overall = page.text_content("#run-overall-counts") or ""
    assert "0/12 received, 12 failed" in overall  # open tasks failed as "cancelled"
    context.close()
    assert problems == []


@pytest.mark.parametrize("which", ["index", "project", "bakeoff"])
def test_dashboards_fit_a_phone(
    browser: Any, server: str, project: Any, api_keys: dict[str, str], which: str
) -> None:
    seed = project["seed"]
    path = {
        "index": "/ui/dashboards",
        "project": f"/ui/dashboards/projects/{seed.project_id}?resamples=200",
        "bakeoff": f"/ui/dashboards/bakeoffs/{seed.bakeoff_id}?resamples=200",
    }[which]
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    problems = watch_page(page, base=server)
    _sign_in(page, f"{server}{path}", api_keys["lead"])
    _wait_figures(page)
    page.wait_for_timeout(300)  # plotly's responsive resize
    widths = page.evaluate(WIDTHS_JS)
    assert widths["inner"] == 390
    assert widths["scroll"] <= widths["inner"], str(widths)
    charts = page.evaluate(OVERLAPS_JS)
    assert charts["overlaps"] == [], charts
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"dashboard-phone-{which}.png"), full_page=True)
    context.close()
    assert problems == []
