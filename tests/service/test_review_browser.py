"""The review pages in a real headless Chromium: sign in, open the queue, review three flags with
the keyboard, and find the decisions in the database and the audit log.

The app runs under uvicorn on a free localhost port (in a thread) on a seeded SQLite file.
Playwright for Python drives Debian's ``/usr/bin/chromium``; the test skips with a clear reason
where it (or Playwright) is missing. Every request that leaves localhost is aborted (the pages
must work offline). Screenshots go to ``artifacts/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

import service.models as m
from service.core.config import Settings, get_settings
from service.core.db import create_db_engine, get_session
from service.domain.api_keys import create_api_key
from service.domain.flags import compute_flags
from service.main import create_app
from tests.service._review_seed import ReviewSeed, seed_classification, seed_detection

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "artifacts" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@dataclass(frozen=True)
class Served:
    base_url: str
    engine: Engine
    animals: ReviewSeed
    streets: ReviewSeed
    qa_key: str
    qa_key_id: int


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed (run .ci/ensure-chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


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
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_settings] = lambda: settings
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield Served(
            base_url=f"http://127.0.0.1:{port}",
            engine=engine,
            animals=animals,
            streets=streets,
            qa_key=qa.key,
            qa_key_id=qa.id,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        engine.dispose()


def _watch(page: Any, problems: list[str]) -> None:
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}")
            if msg.type in ("error", "warning")
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))


def _flag_id(url: str) -> int:
    return int(url.split("/ui/review/flags/")[1].split("?")[0])


def test_reviewer_signs_in_and_reviews_three_flags_with_the_keyboard(
    browser: Any, served: Served
) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
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
    problems: list[str] = []
    _watch(page, problems)

    # Signed out, the queue sends us to the sign-in form, which brings us back.
    queue_url = f"{base}/ui/review/bakeoffs/{served.animals.bakeoff_id}"
    page.goto(queue_url)
    assert "/ui/login" in page.url
    page.fill("#api_key", served.qa_key)
    page.screenshot(path=str(SHOTS / "review-login.png"))
    page.click("#sign-in")
    page.wait_for_url(queue_url)
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["bakeoff_api_key"]["httpOnly"] is True
    assert cookies["bakeoff_api_key"]["sameSite"] == "Strict"
    assert page.locator("#who").inner_text().startswith("reviewer-rita")
    rows = page.locator("#queue tbody tr")
    assert rows.count() >= 8
    page.screenshot(path=str(SHOTS / "review-queue.png"), full_page=True)

    # Enter opens the first flag; g, a and c (+ a class + Enter) decide three flags.
    page.keyboard.press("Enter")
    page.wait_for_url("**/ui/review/flags/*")
    page.wait_for_selector("#decide")
    page.screenshot(path=str(SHOTS / "review-item-classification.png"), full_page=True)
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
        else:
            page.keyboard.press(key)
        page.wait_for_url(
            lambda url, c=current: f"/flags/{c}" not in url.split("?")[0], timeout=10_000
        )
        decided.append((current, decision))
    page.wait_for_selector("#decide")
    assert page.locator("#throughput").inner_text().count("reviewer-rita") == 1
    assert "3" in page.locator("#throughput tbody tr").first.inner_text()
    page.screenshot(path=str(SHOTS / "review-item-after-three.png"), full_page=True)

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
    page.screenshot(path=str(SHOTS / "review-item-detection.png"), full_page=True)
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
