"""Review item page in a real headless Chromium: box-edit handles and box labels keep their
screen size at every zoom (and handles still resize the box when zoomed), and with more than 9
candidate rows the 10th and later are picked by typing both digits quickly (1 then 0), as the
page says.

Like the other review browser tests: uvicorn on a free localhost port over a seeded SQLite file,
Debian's Chromium through Playwright, off-site requests aborted and reported, console errors
reported; screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlmodel import Session, SQLModel

import service.models as m
from service.core.config import Settings
from service.core.db import create_db_engine
from service.domain.api_keys import create_api_key
from service.domain.flags import compute_flags
from tests.live import SCREENSHOTS, app_on, offline_page, serve, sign_in
from tests.service._review_seed import ReviewSeed, seed_crowd_classification, seed_detection

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("review_handles")]

N_WORKERS = 10  # candidate A's crowd: with B and C, 12 rows
KEYS_READY = "body[data-keys=ready]"  # review.js has set up its key handlers


@dataclass(frozen=True)
class Served:
    base_url: str
    crowd: ReviewSeed
    streets: ReviewSeed
    qa_key: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path_factory.mktemp('handles') / 'review.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        crowd = seed_crowd_classification(session, n_annotators=N_WORKERS)
        streets = seed_detection(session)
        qa = create_api_key(session=session, data=m.ApiKeyCreate(name="reviewer-hk", role="qa"))
        for seed in (crowd, streets):
            compute_flags(session=session, bakeoff_id=seed.bakeoff_id)
    settings = Settings(environment="test", auto_migrate=False, database_url=url)
    with serve(app_on(engine, settings)) as base_url:
        yield Served(base_url, crowd, streets, qa.key)
    engine.dispose()


@pytest.fixture
def api(served: Served) -> Iterator[httpx.Client]:
    # a first queue read builds the flags: on a loaded machine it can take more than 5 s
    with httpx.Client(
        base_url=served.base_url, headers={"X-API-Key": served.qa_key}, timeout=60
    ) as client:
        yield client


def _open(browser: Any, served: Served) -> tuple[Any, Any, list[str]]:
    context, page, problems = offline_page(
        browser, served.base_url, viewport={"width": 1440, "height": 900}
    )
    sign_in(page, served.base_url, served.qa_key, "/ui/review")
    return context, page, problems


def _flag(api: httpx.Client, bakeoff_id: int, **match: Any) -> int:
    flags = api.get(f"/review/bakeoffs/{bakeoff_id}/queue", params={"limit": 100}).json()["data"]
    found = [f for f in flags if all(f[k] == v for k, v in match.items())]
    assert found, match
    return int(found[0]["id"])


LABELS = "#overlay .layer:not(.hidden) .boxlabel"  # the candidates' and gold's box labels
EDIT_LABEL = "#edit-layer .edit-label"  # the class of a box being edited


def _label_sizes(page: Any, selector: str) -> list[dict[str, float]]:
    """Each label's font size as drawn on screen (CSS px: the SVG's font size in image units
    times the image's on-screen scale) and its on-screen box height."""
    sizes: list[dict[str, float]] = page.evaluate(
        """(sel) => {
            const svg = document.getElementById('overlay');
            const perUnit = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
            return Array.from(document.querySelectorAll(sel)).map((t) => ({
                font: parseFloat(getComputedStyle(t).fontSize) * perUnit,
                height: t.getBoundingClientRect().height,
            }));
        }""",
        selector,
    )
    assert sizes, selector
    return sizes


def _box(page: Any, selector: str) -> dict[str, float]:
    box: dict[str, float] | None = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def test_edit_handles_and_box_labels_keep_their_screen_size_at_every_zoom(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    flag_id = _flag(api, served.streets.bakeoff_id, item_key="scene-2", candidate="Candidate C")
    context, page, problems = _open(browser, served)
    page.goto(f"{served.base_url}/ui/review/flags/{flag_id}")
    page.wait_for_selector(KEYS_READY)
    page.keyboard.press("c")
    page.wait_for_selector("#edit-layer .edit-body")  # gold's pedestrian at (60, 30, 14, 36)
    body = _box(page, "#edit-layer .edit-body")
    page.mouse.click(body["x"] + body["width"] / 2, body["y"] + body["height"] / 2)
    handle = '#edit-layer .selected .corner[data-cx="1"][data-cy="1"]'
    at_fit = _box(page, handle)
    assert 7 <= at_fit["width"] <= 9  # 7 px and its outline
    labels_at_fit = _label_sizes(page, LABELS)
    edit_label_at_fit = _label_sizes(page, EDIT_LABEL)
    assert all(8 <= x["font"] <= 24 for x in labels_at_fit + edit_label_at_fit), labels_at_fit

    for _ in range(3):
        page.click("#zoom-in")
    assert page.locator("#zoom-level").inner_text() == "195%"
    zoomed_body = _box(page, "#edit-layer .edit-body")
    assert zoomed_body["width"] == pytest.approx(body["width"] * 1.953, rel=0.03)  # image grew
    zoomed = _box(page, handle)
    assert zoomed["width"] == pytest.approx(at_fit["width"], abs=0.5)  # handles did not
    assert zoomed["height"] == pytest.approx(at_fit["height"], abs=0.5)
    # ...and still sit on the box's corner.
    corner_x, corner_y = (
        zoomed_body["x"] + zoomed_body["width"],
        zoomed_body["y"] + zoomed_body["height"],
    )
    assert zoomed["x"] + zoomed["width"] / 2 == pytest.approx(corner_x, abs=2)
    assert zoomed["y"] + zoomed["height"] / 2 == pytest.approx(corner_y, abs=2)
    # Box labels, like the handles, keep their screen size while the image doubles.
    for selector, before in ((LABELS, labels_at_fit), (EDIT_LABEL, edit_label_at_fit)):
        after = _label_sizes(page, selector)
        assert len(after) == len(before), selector
        for b, a in zip(before, after, strict=True):
            assert a["font"] == pytest.approx(b["font"], abs=0.05), selector
            # (glyph boxes round differently under the transform: within 5%, not 95% taller)
            assert a["height"] == pytest.approx(b["height"], rel=0.05), selector
    page.screenshot(path=str(SCREENSHOTS / "review-handles-zoomed.png"))

    # A handle at this zoom still resizes the box in image coordinates.
    svg = _box(page, "#overlay")
    scale = svg["width"] / 160  # the image is 160 x 96
    page.mouse.move(zoomed["x"] + zoomed["width"] / 2, zoomed["y"] + zoomed["height"] / 2)
    page.mouse.down()
    page.mouse.move(svg["x"] + 80 * scale, svg["y"] + 70 * scale, steps=5)
    page.mouse.up()
    shapes = page.evaluate("JSON.parse(document.getElementById('corrected-json').value)")
    assert shapes[0]["bbox"] == pytest.approx([60, 30, 20, 40], abs=0.5)
    assert _box(page, handle)["width"] == pytest.approx(at_fit["width"], abs=0.5)

    page.click("#zoom-fit")
    assert page.locator("#zoom-level").inner_text() == "100%"
    assert _box(page, handle)["width"] == pytest.approx(at_fit["width"], abs=0.5)
    back = _label_sizes(page, LABELS)
    assert [x["font"] for x in back] == pytest.approx([x["font"] for x in labels_at_fit], abs=0.05)
    context.close()
    assert problems == []


def test_tenth_and_later_candidates_are_picked_with_two_quick_digits(
    browser: Any, served: Served, api: httpx.Client
) -> None:
    flag_id = _flag(api, served.crowd.bakeoff_id, item_key="img-11", target="item")
    context, page, problems = _open(browser, served)
    page.goto(f"{served.base_url}/ui/review/flags/{flag_id}")
    page.wait_for_selector(KEYS_READY)
    rows = page.locator("#labels tr[data-key]:not([data-key='gold'])")
    assert rows.count() == N_WORKERS + 2
    # Rows in number order (annotator 10 after annotator 9); the 10th is the dissenting worker.
    tenth = page.locator('#labels tr[data-key="10"]').inner_text()
    assert "Candidate A · annotator 10" in tenth and "fox" in tenth
    assert "Candidate C" in page.locator('#labels tr[data-key="12"]').inner_text()
    # The page says how: the whole range and the two-digit rule.
    line = page.locator("#pick").inner_text()
    assert "Press 1–12 to pick a candidate" in line
    assert "1 then 0 picks 10" in page.locator("#two-digit-hint").inner_text()

    def picked() -> list[str]:
        keys: list[str] = page.eval_on_selector_all(
            "#labels tr.picked", "rows => rows.map(r => r.dataset.key)"
        )
        return keys

    page.keyboard.press("1")
    assert picked() == ["1"]
    page.keyboard.press("2")  # quickly after 1: twelve
    assert picked() == ["12"]
    page.wait_for_timeout(1_200)  # past the window: digits start afresh
    page.keyboard.press("2")
    assert picked() == ["2"]
    page.wait_for_timeout(1_200)
    page.keyboard.press("1")
    page.keyboard.press("0")
    assert picked() == ["10"]
    assert "Picked Candidate A · annotator 10" in page.locator("#status").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "review-pick-tenth.png"))

    # Accepting the 10th row proposes its answer (fox) as gold, after the confirm step, and the
    # decision names that candidate and annotator.
    with page.expect_request(lambda r: r.url.endswith("/decide")) as sent:
        page.keyboard.press("a")
        page.wait_for_selector("#confirm:not([hidden])")
        assert "from cat to fox" in page.locator("#confirm-text").inner_text()
        page.keyboard.press("Enter")
    body = sent.value.post_data_json
    assert (body["decision"], body["candidate"], body["annotator"]) == (
        "accept_candidate",
        "Candidate A",
        "annotator 10",
    )
    page.wait_for_url(lambda url: f"/flags/{flag_id}" not in url, timeout=10_000)
    context.close()
    assert problems == []
    pending = api.get(f"/review/bakeoffs/{served.crowd.bakeoff_id}/gold-corrections").json()
    assert [(c["item_key"], c["gold"], c["proposed"]) for c in pending["data"]] == [
        ("img-11", "cat", "fox")
    ]
