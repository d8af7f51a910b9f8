"""Boxes on the review item page in a real headless Chromium: gold visible over a dark halo, marks
for matched / missed / extra / wrong-class boxes with a legend, labels that name the candidate and
do not overlap, per-candidate toggles, zoom and pan; drawing and resizing a box on the image and
finding the stored correction through the API; the gold-may-be-wrong view; the layout at 1440x900
and 390x844.

As in ``test_review_browser.py``: uvicorn on a free localhost port over a seeded SQLite file,
Debian's Chromium through Playwright, off-site requests aborted and reported, console errors
reported; screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel

import service.models as m
from service.core.config import Settings
from service.core.db import create_db_engine
from service.domain.api_keys import create_api_key
from service.domain.flags import compute_flags
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service._review_seed import (
    ReviewSeed,
    seed_classification,
    seed_detection,
    seed_segmentation,
)

# One seeded server for the module: its tests run on one xdist worker, in this order.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("review_boxes")]


@dataclass(frozen=True)
class Served:
    base_url: str
    engine: Engine
    animals: ReviewSeed
    streets: ReviewSeed
    cells: ReviewSeed
    qa_key: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path_factory.mktemp('boxes') / 'review.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        animals = seed_classification(session)
        streets = seed_detection(session, empty_scene=True)
        cells = seed_segmentation(session)
        qa = create_api_key(session=session, data=m.ApiKeyCreate(name="reviewer-bo", role="qa"))
        for seed in (animals, streets, cells):
            compute_flags(session=session, bakeoff_id=seed.bakeoff_id)
    settings = Settings(environment="test", auto_migrate=False, database_url=url)
    with serve(app_on(engine, settings)) as base_url:
        yield Served(base_url, engine, animals, streets, cells, qa.key)
    engine.dispose()


@pytest.fixture
def api(served: Served) -> Iterator[httpx.Client]:
    # a first queue read builds the flags: on a loaded machine it can take more than 5 s
    with httpx.Client(
        base_url=served.base_url, headers={"X-API-Key": served.qa_key}, timeout=60
    ) as client:
        yield client


def _open(browser: Any, served: Served, **context_args: Any) -> tuple[Any, Any, list[str]]:
    """A signed-in page on an offline context, and the list of problems it collects."""
    base = served.base_url
    context = browser.new_context(**context_args)
    problems: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith((base, "data:")):
            r.continue_()
        else:
            problems.append(f"off-site request: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    problems += watch_page(page)
    page.goto(f"{base}/ui/login?next=/ui/review")
    page.fill("#api_key", served.qa_key)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/ui/review")
    return context, page, problems


def _flag(api: httpx.Client, bakeoff_id: int, **match: Any) -> int:
    flags = api.get(f"/review/bakeoffs/{bakeoff_id}/queue", params={"limit": 100}).json()["data"]
    found = [f for f in flags if all(f[k] == v for k, v in match.items())]
    assert found, match
    return int(found[0]["id"])


def _box(page: Any, selector: str) -> dict[str, float]:
    box: dict[str, float] | None = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def _overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        a["x"] < b["x"] + b["width"]
        and b["x"] < a["x"] + a["width"]
        and a["y"] < b["y"] + b["height"]
        and b["y"] < a["y"] + a["height"]
    )


def _visible_labels(page: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = page.evaluate(
        """Array.from(document.querySelectorAll('#overlay .boxlabel'))
             .filter(t => t.getClientRects().length)
             .map(t => { const r = t.getBoundingClientRect();
               return {text: t.textContent.trim(), x: r.x, y: r.y, width: r.width,
                       height: r.height}; })"""
    )
    return out


def test_boxes_legend_marks_labels_toggles_zoom_and_pan(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    missed = _flag(api, served.streets.bakeoff_id, item_key="scene-1", candidate="Candidate B")
    context, page, problems = _open(browser, served, viewport={"width": 1440, "height": 900})
    page.goto(f"{served.base_url}/ui/review/flags/{missed}")
    page.wait_for_selector("#overlay .boxlabel")

    # The reason in words, and a legend of every mark, each drawn differently.
    assert page.locator("#explanation").inner_text().startswith("Candidate B missed 1 sign.")
    legend = page.locator("#legend li")
    assert [legend.nth(i).get_attribute("data-status") for i in range(legend.count())] == [
        "gold",
        "matched",
        "missed",
        "extra",
        "wrong_class",
        "low_iou",
    ]
    assert "FN" in page.locator('#legend li[data-status="missed"]').inner_text()
    styles = page.evaluate(
        """Array.from(document.querySelectorAll('#legend li')).map(li => {
             const box = li.querySelector('.box'), s = getComputedStyle(box);
             return [s.strokeDasharray, s.fillOpacity, s.strokeWidth,
                     !!li.querySelector('.halo')].join('|'); })"""
    )
    assert len(set(styles)) == 6, styles

    # Gold: a solid bright outline over a dark halo, drawn on top of the candidates.
    gold = page.evaluate(
        """(() => { const g = document.querySelector('#overlay .layer.gold');
             const box = getComputedStyle(g.querySelector('.shape .box'));
             const halo = getComputedStyle(g.querySelector('.shape .halo'));
             return {stroke: box.stroke, dash: box.strokeDasharray, halo: halo.stroke,
                     last: [...document.querySelectorAll('#overlay .layer')].pop() === g}; })()"""
    )
    assert gold == {
        "stroke": "rgb(255, 214, 10)",
        "dash": "none",
        "halo": "rgb(17, 17, 17)",
        "last": True,
    }

    # B's missed sign is marked on B's layer, and labels name their source without overlapping.
    b_layer = '#overlay .layer[data-key="2"]'
    assert page.locator(f"{b_layer} .shape.s-missed").count() == 1
    labels = _visible_labels(page)
    texts = [label["text"] for label in labels]
    assert "B missed sign" in texts and "gold: sign" in texts and "gold: vehicle" in texts
    for a, b in itertools.combinations(labels, 2):
        assert not _overlap(a, b), (a["text"], b["text"])
    page.screenshot(path=str(SCREENSHOTS / "review-boxes-legend.png"))

    # Per-candidate toggles hide and show a candidate's boxes and labels.
    toggle = page.locator('#labels tr[data-key="2"] .layer-toggle')
    toggle.uncheck()
    assert page.locator(f"{b_layer} .box").first.is_hidden()
    assert "B missed sign" not in [label["text"] for label in _visible_labels(page)]
    assert page.locator('#overlay .layer[data-key="gold"] .box').first.is_visible()
    toggle.check()
    assert page.locator(f"{b_layer} .box").first.is_visible()

    # Zoom with the buttons, the keys and the wheel; pan by dragging; 0 fits again.
    gold_box = "#overlay .layer.gold .shape .box"
    before = _box(page, gold_box)
    page.click("#zoom-in")
    page.click("#zoom-in")
    zoomed = _box(page, gold_box)
    assert zoomed["width"] == pytest.approx(before["width"] * 1.5625, rel=0.02)
    assert page.locator("#zoom-level").inner_text() == "156%"
    view = _box(page, "#viewport")
    cx, cy = view["x"] + view["width"] / 2, view["y"] + view["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 30, steps=4)
    page.mouse.up()
    panned = _box(page, gold_box)
    assert panned["x"] == pytest.approx(zoomed["x"] + 60, abs=1)
    assert panned["y"] == pytest.approx(zoomed["y"] + 30, abs=1)
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -300)
    assert _box(page, gold_box)["width"] > panned["width"] * 1.2
    page.screenshot(path=str(SCREENSHOTS / "review-boxes-zoomed.png"))
    page.keyboard.press("-")
    assert page.locator("#zoom-level").inner_text() != "100%"
    page.keyboard.press("0")
    assert _box(page, gold_box)["width"] == pytest.approx(before["width"], rel=0.01)
    assert page.locator("#zoom-level").inner_text() == "100%"
    # At fit, the wheel scrolls the page and a drag pans nothing; Ctrl+wheel and + zoom.
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -300)
    page.mouse.down()
    page.mouse.move(cx + 60, cy + 30, steps=4)
    page.mouse.up()
    assert page.locator("#zoom-level").inner_text() == "100%"
    assert _box(page, gold_box)["x"] == pytest.approx(before["x"], abs=1)
    page.keyboard.down("Control")
    page.mouse.wheel(0, -300)
    page.keyboard.up("Control")
    assert page.locator("#zoom-level").inner_text() != "100%"
    page.keyboard.press("0")
    page.keyboard.press("+")
    assert page.locator("#zoom-level").inner_text() == "125%"

    # A wrong class is marked as such and named: C called the pedestrian a vehicle.
    wrong = _flag(api, served.streets.bakeoff_id, item_key="scene-2", candidate="Candidate C")
    page.goto(f"{served.base_url}/ui/review/flags/{wrong}")
    page.wait_for_selector("#overlay .boxlabel")
    assert page.locator('#overlay .layer[data-key="3"] .shape.s-wrong_class').count() == 1
    assert "C: vehicle ≠ pedestrian" in [label["text"] for label in _visible_labels(page)]
    context.close()
    assert problems == []


def test_draw_and_resize_a_box_then_save_the_correction(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    flag_id = _flag(
        api, served.streets.bakeoff_id, item_key="scene-2", reason="candidates_disagree"
    )
    context, page, problems = _open(browser, served, viewport={"width": 1440, "height": 900})
    page.goto(f"{served.base_url}/ui/review/flags/{flag_id}")
    page.wait_for_selector("#overlay")
    gold = page.evaluate("JSON.parse(document.getElementById('review-data').textContent).gold")
    page.keyboard.press("c")
    page.wait_for_selector("#edit-layer .edit-body")  # starts from gold's boxes
    page.select_option("#edit-class", "sign")

    svg = _box(page, "#overlay")
    scale = svg["width"] / 160  # the image is 160 x 96

    def at(x: float, y: float) -> tuple[float, float]:
        return svg["x"] + x * scale, svg["y"] + y * scale

    # Draw (10, 60) -> (40, 80), then drag its bottom-right corner to (50, 90).
    page.mouse.move(*at(10, 60))
    page.mouse.down()
    page.mouse.move(*at(40, 80), steps=5)
    page.mouse.up()
    handle = '#edit-layer .selected .corner[data-cx="1"][data-cy="1"]'
    corner = _box(page, handle)
    page.mouse.move(corner["x"] + corner["width"] / 2, corner["y"] + corner["height"] / 2)
    page.mouse.down()
    page.mouse.move(*at(50, 90), steps=5)
    page.mouse.up()
    # The JSON fallback follows the drawing.
    drawn = page.evaluate("JSON.parse(document.getElementById('corrected-json').value)")
    assert drawn[:-1] == gold and drawn[-1]["category"] == "sign"
    page.screenshot(path=str(SCREENSHOTS / "review-box-edit.png"))

    # Enter saves (the hint says so); it changes gold, so a second Enter confirms.
    page.locator("body").press("Enter")
    page.wait_for_selector("#confirm:not([hidden])")
    assert "changing gold" in page.locator("#confirm-text").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: f"/flags/{flag_id}" not in url, timeout=10_000)
    context.close()
    assert problems == []

    item = api.get(f"/review/flags/{flag_id}", params={"status": "all"}).json()
    [review] = item["reviews"]
    assert review["decision"] == "correct"
    value = review["corrected_value"]
    assert value[:-1] == gold
    assert value[-1]["category"] == "sign"
    assert value[-1]["bbox"] == pytest.approx([10, 60, 40, 30], abs=0.5)


def test_move_a_polygon_point_then_save_the_correction(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    flag_id = _flag(api, served.cells.bakeoff_id, item_key="m1", candidate="Candidate B")
    context, page, problems = _open(browser, served, viewport={"width": 1440, "height": 900})
    page.goto(f"{served.base_url}/ui/review/flags/{flag_id}")
    page.wait_for_selector("#overlay")
    gold = page.evaluate("JSON.parse(document.getElementById('review-data').textContent).gold")
    page.keyboard.press("c")
    page.wait_for_selector("#edit-layer .edit-body")
    svg = _box(page, "#overlay")
    scale = svg["width"] / 64  # the item is 64 x 48, drawn without an image

    def at(x: float, y: float) -> tuple[float, float]:
        return svg["x"] + x * scale, svg["y"] + y * scale

    page.mouse.click(*at(45, 15))  # select the nucleus: its points get handles
    assert page.locator("#edit-layer .selected .vertex").count() == 4
    first = _box(page, '#edit-layer .selected .vertex[data-v="0"]')
    page.mouse.move(first["x"] + first["width"] / 2, first["y"] + first["height"] / 2)
    page.mouse.down()
    page.mouse.move(*at(36, 6), steps=5)
    page.mouse.up()
    page.keyboard.press("Enter")
    page.wait_for_selector("#confirm:not([hidden])")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: f"/flags/{flag_id}" not in url, timeout=10_000)
    context.close()
    assert problems == []

    [review] = api.get(f"/review/flags/{flag_id}", params={"status": "all"}).json()["reviews"]
    assert review["decision"] == "correct"
    cell, nucleus = review["corrected_value"]
    assert cell == gold[0]
    assert nucleus["category"] == "nucleus"
    moved = nucleus["segmentation"][0]
    assert moved[:2] == pytest.approx([36, 6], abs=0.3)
    assert moved[2:] == gold[1]["segmentation"][0][2:]


def test_gold_may_be_wrong_has_its_own_view(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    context, page, problems = _open(browser, served, viewport={"width": 1440, "height": 900})
    page.goto(f"{served.base_url}/ui/review/bakeoffs/{served.animals.bakeoff_id}")
    count = int(page.locator("#gold-count").inner_text())
    assert count >= 1
    page.click("#tab-gold")
    page.wait_for_url("**candidate=gold*")
    assert page.locator("#tab-gold").get_attribute("aria-current") == "page"
    shown = page.eval_on_selector_all(
        "#queue li[data-flag-id]", "els => els.map(e => +e.dataset.flagId)"
    )
    gold_flags = api.get(
        f"/review/bakeoffs/{served.animals.bakeoff_id}/queue", params={"candidate": "gold"}
    ).json()["data"]
    assert len(shown) == count == len(gold_flags)
    assert set(shown) == {f["id"] for f in gold_flags}
    assert all(f["target"] == "gold" for f in gold_flags)
    assert "img-10" in page.locator("#queue").inner_text()  # the planted gold error
    assert "Gold may be wrong: gold says cat" in page.locator("#queue").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "review-queue-gold-view.png"), full_page=True)
    context.close()
    assert problems == []


def test_layout_labels_above_the_fold_and_no_overflow_on_a_phone(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    cls = _flag(api, served.animals.bakeoff_id, item_key="img-10", target="gold")
    det = _flag(api, served.streets.bakeoff_id, item_key="scene-1", candidate="Candidate B")
    base = served.base_url
    context, page, problems = _open(browser, served, viewport={"width": 1440, "height": 900})
    page.goto(f"{base}/ui/review/flags/{cls}")
    page.wait_for_selector("#labels")
    table = _box(page, "#labels")
    assert table["y"] + table["height"] <= 900, table
    page.screenshot(path=str(SCREENSHOTS / "review-item-1440x900.png"))
    context.close()

    context, page, more = _open(browser, served, viewport={"width": 390, "height": 844})
    for url in (
        f"/ui/review/bakeoffs/{served.animals.bakeoff_id}",
        f"/ui/review/bakeoffs/{served.streets.bakeoff_id}?layout=table",
        f"/ui/review/flags/{cls}",
        f"/ui/review/flags/{det}",
    ):
        page.goto(base + url)
        page.wait_for_selector("main")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (url, width)
    page.screenshot(path=str(SCREENSHOTS / "review-item-390x844.png"), full_page=True)
    context.close()
    assert problems == [] and more == []


def test_the_json_fallback_follows_the_drawing_and_saves_with_ctrl_enter(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    flag_id = _flag(api, served.streets.bakeoff_id, item_key="scene-2", candidate="Candidate C")
    context, page, problems = _open(browser, served, viewport={"width": 1440, "height": 900})
    page.goto(f"{served.base_url}/ui/review/flags/{flag_id}")
    page.wait_for_selector("#overlay")
    page.keyboard.press("c")
    page.wait_for_selector("#edit-layer .edit-body")
    page.click("#correct-panel details summary")
    corrected = [{"category": "pedestrian", "bbox": [60, 30, 14, 40]}]
    page.fill("#corrected-json", '[{"category": "pedestrian", "bbox": [60, 30, 14, 40]}]')
    # The drawing follows the text.
    assert page.get_attribute("#edit-layer .edit-body", "height") == "40"
    page.locator("#corrected-json").press("Control+Enter")
    page.wait_for_selector("#confirm:not([hidden])")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: f"/flags/{flag_id}" not in url, timeout=10_000)
    context.close()
    assert problems == []
    [review] = api.get(f"/review/flags/{flag_id}", params={"status": "all"}).json()["reviews"]
    assert (review["decision"], review["corrected_value"]) == ("correct", corrected)


def test_a_never_defaults_to_a_candidate_that_drew_nothing(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    empty = _flag(api, served.streets.bakeoff_id, item_key="scene-4", candidate="Candidate A")
    context, page, problems = _open(browser, served, viewport={"width": 1440, "height": 900})
    page.goto(f"{served.base_url}/ui/review/flags/{empty}")
    page.wait_for_selector("#overlay")
    assert "(drew nothing)" in page.locator('#labels tr[data-key="1"]').inner_text()
    page.keyboard.press("a")
    assert "drew nothing; pick it explicitly" in page.locator("#status").inner_text()
    assert page.locator("#confirm").is_hidden()
    # Picked on purpose, it still says what it would do to gold before anything is stored.
    page.keyboard.press("1")
    page.keyboard.press("a")
    page.wait_for_selector("#confirm:not([hidden])")
    assert "removing all of gold's 1 box (vehicle)" in page.locator("#confirm-text").inner_text()
    page.keyboard.press("Escape")
    item_flags = [
        f
        for f in api.get(f"/review/bakeoffs/{served.streets.bakeoff_id}/queue").json()["data"]
        if f["item_key"] == "scene-4" and f["target"] == "item"
    ]
    assert item_flags  # the candidates disagree there too: a flag on the whole item
    for f in item_flags:
        page.goto(f"{served.base_url}/ui/review/flags/{f['id']}")
        page.wait_for_selector("#overlay")
        page.keyboard.press("a")
        assert "No candidate picked" in page.locator("#status").inner_text()
    context.close()
    assert problems == []
    for fid in [empty] + [f["id"] for f in item_flags]:
        item = api.get(f"/review/flags/{fid}").json()
        assert item["reviews"] == [] and item["flag"]["status"] == "open"
