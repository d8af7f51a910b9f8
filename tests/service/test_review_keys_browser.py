"""The review tool's keyboard safety in a real headless Chromium: 50 flags reviewed with the keys
alone, with cancelled and confirmed gold changes, ``k`` back after auto-advance and undo, and every
decision read back through the ``/review`` API exactly as pressed.

As in ``test_review_browser.py``: uvicorn on a free localhost port over a seeded SQLite file,
Debian's Chromium through Playwright (skips where missing, fails under ``CI=true``), every request
that leaves localhost aborted and reported, console errors reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
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
from tests.service._review_seed import ReviewSeed, seed_many_classification

pytestmark = [pytest.mark.browser, pytest.mark.slow]

N_ITEMS = 50
# review.js has set up its key handlers (the page's HTML is there before its script runs).
KEYS_READY = "body[data-keys=ready]"


@dataclass(frozen=True)
class Served:
    base_url: str
    engine: Engine
    seed: ReviewSeed
    qa_key: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        seed = seed_many_classification(session, n=60)
        qa = create_api_key(session=session, data=m.ApiKeyCreate(name="reviewer-kim", role="qa"))
        compute_flags(session=session, bakeoff_id=seed.bakeoff_id)
    settings = Settings(environment="test", auto_migrate=False, database_url=url)
    with serve(app_on(engine, settings)) as base_url:
        yield Served(base_url=base_url, engine=engine, seed=seed, qa_key=qa.key)
    engine.dispose()


def _offline_page(browser: Any, base: str, **context_args: Any) -> tuple[Any, Any, list[str]]:
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
    return context, page, problems


def _sign_in(page: Any, base: str, key: str, then: str) -> None:
    page.goto(f"{base}/ui/login?next={then}")
    page.fill("#api_key", key)
    page.click("#sign-in")
    page.wait_for_url(f"{base}{then}")


def _data(page: Any) -> dict[str, Any]:
    out: dict[str, Any] = page.evaluate(
        "JSON.parse(document.getElementById('review-data').textContent)"
    )
    return out


def _counter(page: Any) -> str:
    text: str = page.locator("#counter").inner_text()
    return text


def _leave(page: Any, flag_id: int) -> None:
    """Wait until the page shows another flag than ``flag_id``."""
    page.wait_for_function(
        "id => { const d = document.getElementById('review-data');"
        " return d && JSON.parse(d.textContent).flag_id !== id; }",
        arg=flag_id,
        timeout=10_000,
    )
    page.wait_for_selector(KEYS_READY)


def _reload_of(page: Any, flag_id: int, *, mine: bool) -> None:
    page.wait_for_function(
        "([id, mine]) => { const d = document.getElementById('review-data');"
        " if (!d) return false; const j = JSON.parse(d.textContent);"
        " return j.flag_id === id && j.mine === mine; }",
        arg=[flag_id, mine],
        timeout=10_000,
    )
    page.wait_for_selector(KEYS_READY)


def test_fifty_flags_by_keyboard_store_exactly_what_was_pressed(
    browser: Any, served: Served
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = served.base_url
    queue = f"/ui/review/bakeoffs/{served.seed.bakeoff_id}"
    context, page, problems = _offline_page(browser, base, viewport={"width": 1440, "height": 900})
    _sign_in(page, base, served.qa_key, queue)
    page.keyboard.press("Enter")
    page.wait_for_selector(KEYS_READY)
    total = int(_counter(page).split(" of ")[1])
    assert total >= 100  # 60 flags on C, 40 where the candidates split

    # flag id -> the decisions expected, oldest first: (decision, corrected value, undone)
    expected: dict[int, list[tuple[str, Any, bool]]] = {}
    skipped: list[int] = []
    position = 1
    for i in range(N_ITEMS):
        d = _data(page)
        fid, gold = int(d["flag_id"]), d["gold"]
        assert _counter(page) == f"flag {position} of {total}", (i, _counter(page))
        by_key = {layer["key"]: layer for layer in d["layers"]}
        step = i % 5
        if i == 16:
            # `u` on a flag without a decision of mine undoes my last one (the flag before)
            # and goes there; it is open again and decided anew with `g`
            # (the flag before this one was decided with `g`).
            before = position - 1
            page.keyboard.press("u")
            _leave(page, fid)
            prev = int(_data(page)["flag_id"])
            assert _counter(page) == f"flag {before} of {total}"
            assert _data(page)["mine"] is False
            assert page.locator("#flag-status").inner_text() == "open"
            history = expected[prev]
            history[-1] = (history[-1][0], history[-1][1], True)
            page.keyboard.press("g")
            history.append(("confirm_gold", None, False))
            _leave(page, prev)
            assert int(_data(page)["flag_id"]) == fid
            assert _counter(page) == f"flag {position} of {total}"
        if step == 0:
            page.keyboard.press("g")
            expected[fid] = [("confirm_gold", None, False)]
        elif step == 1:
            # Candidate B agrees with gold: accepting it changes nothing and asks nothing.
            page.keyboard.press("2")
            assert page.locator("#labels tr.picked").get_attribute("data-key") == "2"
            assert by_key["2"]["changes_gold"] is False
            page.keyboard.press("a")
            expected[fid] = [("accept_candidate", by_key["2"]["value"], False)]
        elif step == 2:
            # Candidate C does not: the page says so; Esc cancels, a second try is confirmed.
            page.keyboard.press("3")
            page.keyboard.press("a")
            page.wait_for_selector("#confirm:not([hidden])")
            text = page.locator("#confirm-text").inner_text()
            assert f"from {gold} to {by_key['3']['value']}" in text
            if i == 2:
                page.screenshot(path=str(SCREENSHOTS / "review-confirm-gold-change.png"))
            page.keyboard.press("Escape")
            assert page.locator("#confirm").is_hidden()
            assert "unchanged" in page.locator("#status").inner_text()
            assert int(_data(page)["flag_id"]) == fid  # still here, nothing stored
            page.keyboard.press("a")
            page.wait_for_selector("#confirm:not([hidden])")
            page.keyboard.press("Enter")
            expected[fid] = [("accept_candidate", by_key["3"]["value"], False)]
        elif step == 3:
            # Correct to "bird" (type-ahead in the focused list), confirmed unless it is gold.
            page.keyboard.press("c")
            page.wait_for_selector("#correct-panel:not([hidden])")
            page.keyboard.press("b")
            assert page.eval_on_selector("#corrected", "el => el.value") == "bird"
            page.keyboard.press("Enter")
            if gold != "bird":
                page.wait_for_selector("#confirm:not([hidden])")
                page.keyboard.press("Enter")
            expected[fid] = [("correct", "bird", False)]
        else:
            page.keyboard.press("j")
            skipped.append(fid)
        _leave(page, fid)
        position += 1
        if i in (10, 30):
            # After auto-advance, `k` goes back to the flag just decided; `u` undoes it there
            # (the counter holds), `g` decides again and auto-advance returns here.
            here = int(_data(page)["flag_id"])
            page.keyboard.press("k")
            _leave(page, here)
            assert int(_data(page)["flag_id"]) == fid
            assert _counter(page) == f"flag {position - 1} of {total}"
            assert _data(page)["mine"] is True
            page.keyboard.press("u")
            _reload_of(page, fid, mine=False)
            assert _counter(page) == f"flag {position - 1} of {total}"
            assert page.locator("#flag-status").inner_text() == "open"
            history = expected[fid]
            history[-1] = (history[-1][0], history[-1][1], True)
            page.keyboard.press("g")
            history.append(("confirm_gold", None, False))
            _leave(page, fid)
            assert int(_data(page)["flag_id"]) == here
            assert _counter(page) == f"flag {position} of {total}"
    page.screenshot(path=str(SCREENSHOTS / "review-after-fifty.png"), full_page=True)
    context.close()
    assert problems == []

    assert len(expected) == 40 and len(skipped) == 10
    headers = {"X-API-Key": served.qa_key}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as api:
        for fid, decisions in expected.items():
            item = api.get(f"/review/flags/{fid}", params={"status": "all"}).json()
            got = [(r["decision"], r["corrected_value"], r["undone"]) for r in item["reviews"]]
            assert got == decisions, fid
            assert item["flag"]["status"] == "resolved"
        for fid in skipped:
            item = api.get(f"/review/flags/{fid}", params={"status": "all"}).json()
            assert item["reviews"] == [] and item["flag"]["status"] == "open"
        stats = api.get(f"/review/bakeoffs/{served.seed.bakeoff_id}/stats").json()
        assert stats["resolved"] == 40


def test_a_without_a_pick_proposes_nothing_on_a_flag_about_the_whole_item(
    browser: Any, served: Served
) -> None:
    base = served.base_url
    queue = f"/ui/review/bakeoffs/{served.seed.bakeoff_id}"
    context, page, problems = _offline_page(browser, base, viewport={"width": 1360, "height": 900})
    _sign_in(page, base, served.qa_key, f"{queue}?reason=candidates_disagree")
    page.keyboard.press("Enter")
    page.wait_for_selector(KEYS_READY)
    d = _data(page)
    assert d["target"] == "item"
    for _ in range(5):
        page.keyboard.press("a")
    assert "No candidate picked" in page.locator("#status").inner_text()
    assert page.locator("#confirm").is_hidden()
    assert int(_data(page)["flag_id"]) == d["flag_id"]
    context.close()
    assert problems == []
    with httpx.Client(base_url=base, headers={"X-API-Key": served.qa_key}, timeout=60) as api:
        item = api.get(f"/review/flags/{d['flag_id']}").json()
        assert item["reviews"] == [] and item["flag"]["status"] == "open"
