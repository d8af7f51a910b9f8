"""The review pages in a real headless Chromium: sign in, open the queue, review three flags with
the keyboard, and find the decisions in the database and the audit log.

The app runs under uvicorn on a free localhost port (in a thread) on a seeded SQLite file.
Playwright for Python drives Debian's ``/usr/bin/chromium``; the test skips with a clear reason
where it (or Playwright) is missing. Every request that leaves localhost is aborted (the pages
must work offline). Screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

import service.models as m
from service.core.config import Settings
from service.core.db import create_db_engine
from service.domain.api_keys import create_api_key
from service.domain.flags import compute_flags
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service._review_seed import ReviewSeed, seed_classification, seed_detection

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass(frozen=True)
class Served:
    base_url: str
    engine: Engine
    animals: ReviewSeed
    streets: ReviewSeed
    qa_key: str
    qa_key_id: int


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The app on a seeded SQLite file, served by uvicorn on a free localhost port."""
    url = f"sqlite:///{tmp_path / 'review.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        animals = seed_classification(session)
        streets = seed_detection(session)
        qa = create_api_key(session=session, data=m.ApiKeyCreate(name="reviewer-rita", role="qa"))
        for seed in (animals, streets):
            compute_flags(session=session, bakeoff_id=seed.bakeoff_id)
    settings = Settings(environment="test", auto_migrate=False, database_url=url)
    with serve(app_on(engine, settings)) as base_url:
        yield Served(
            base_url=base_url,
            engine=engine,
            animals=animals,
            streets=streets,
            qa_key=qa.key,
            qa_key_id=qa.id,
        )
    engine.dispose()


def _flag_id(url: str) -> int:
    return int(url.split("/ui/review/flags/")[1].split("?")[0])


def test_reviewer_signs_in_and_reviews_three_flags_with_the_keyboard(
    browser: Any, served: Served
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    base = served.base_url
    # Offline: only this server may be reached.
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith((base, "data:")) else route.abort()
        ),
    )
    page = context.new_page()
    problems = watch_page(page)

    # Signed out, the queue sends us to the sign-in form, which brings us back.
    queue_url = f"{base}/ui/review/bakeoffs/{served.animals.bakeoff_id}"
    page.goto(queue_url)
    assert "/ui/login" in page.url
    page.fill("#api_key", served.qa_key)
    page.screenshot(path=str(SCREENSHOTS / "review-login.png"))
    page.click("#sign-in")
    page.wait_for_url(queue_url)
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["bakeoff_api_key"]["httpOnly"] is True
    assert cookies["bakeoff_api_key"]["sameSite"] == "Strict"
    assert page.locator("#who").inner_text().startswith("reviewer-rita")
    rows = page.locator("#queue .flag-link")
    assert rows.count() >= 8
    page.screenshot(path=str(SCREENSHOTS / "review-queue.png"), full_page=True)

    # Enter opens the first flag; g, 1 + a and c (+ a class + Enter) decide three flags; any
    # that would change gold asks first and is confirmed with Enter.
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/review/flags/*")
    page.wait_for_selector("#decide")
    page.screenshot(path=str(SCREENSHOTS / "review-item-classification.png"), full_page=True)
    decided: list[tuple[int, str]] = []
    for key, decision in (("g", "confirm_gold"), ("a", "accept_candidate"), ("c", "correct")):
        current = _flag_id(page.url)
        if key == "c":
            page.keyboard.press("c")
            page.wait_for_selector("#correct-panel:not([hidden])")
            assert page.evaluate("document.activeElement.id") == "corrected"
            page.keyboard.press("d")  # type-ahead picks "dog" in the focused list
            assert page.eval_on_selector("#corrected", "el => el.value") == "dog"
            page.keyboard.press("Enter")
            # "dog" is not gold: the page says so and waits for a second Enter.
            page.wait_for_selector("#confirm:not([hidden])")
            assert "changing gold" in page.locator("#confirm-text").inner_text()
            page.keyboard.press("Enter")
        else:
            if key == "a":
                page.keyboard.press("1")  # pick Candidate A: `a` has no default on every flag
            page.keyboard.press(key)
            if key == "a" and page.locator("#confirm:not([hidden])").count():
                page.keyboard.press("Enter")  # accepting this candidate would change gold
        page.wait_for_url(
            lambda url, c=current: f"/flags/{c}" not in url.split("?")[0], timeout=10_000
        )
        decided.append((current, decision))
    page.wait_for_selector("#decide")
    assert page.locator("#throughput").inner_text().count("reviewer-rita") == 1
    assert "3" in page.locator("#throughput tbody tr").first.inner_text()
    page.screenshot(path=str(SCREENSHOTS / "review-item-after-three.png"), full_page=True)

    # A detection item: gold and every candidate's boxes drawn over the image.
    page.goto(f"{base}/ui/review/bakeoffs/{served.streets.bakeoff_id}?reason=vendor_vs_gold")
    page.locator("#queue a.flag-link").first.click()
    page.wait_for_selector("#overlay rect")
    assert page.locator("#overlay rect").count() >= 4
    layers = page.evaluate(
        "Array.from(document.querySelectorAll('#overlay .layer')).map("
        "g => getComputedStyle(g.querySelector('rect') || g).getPropertyValue('--c').trim())"
    )
    assert len(set(layers)) == len(layers) == 4  # gold + three candidates, distinct colours
    page.screenshot(path=str(SCREENSHOTS / "review-item-detection.png"), full_page=True)
    context.close()

    assert problems == []
    with Session(served.engine) as session:
        for flag_id, decision in decided:
            reviews = session.exec(select(m.Review).where(m.Review.flag_id == flag_id)).all()
            assert [(r.decision, r.reviewer_key_id, r.undone) for r in reviews] == [
                (decision, served.qa_key_id, False)
            ]
            flag = session.get(m.Flag, flag_id)
            assert flag is not None and flag.status == "resolved"
            events = session.exec(
                select(m.AuditEvent)
                .where(m.AuditEvent.entity_type == "flag")
                .where(m.AuditEvent.entity_id == str(flag_id))
                .where(m.AuditEvent.action == "review.decide")
            ).all()
            assert len(events) == 1
            assert events[0].actor == "reviewer-rita"
            assert events[0].actor_key_id == served.qa_key_id
            assert events[0].before is not None and events[0].before["status"] == "open"
            assert events[0].after is not None and events[0].after["decision"] == decision
        corrected = session.exec(select(m.Review).where(col(m.Review.decision) == "correct")).one()
        assert corrected.corrected_value == "dog"
