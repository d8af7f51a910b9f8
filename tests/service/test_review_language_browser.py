"""The review page of language items in a real headless Chromium, with no console errors.

A preference item shows the prompt and both responses side by side with each candidate's
choice and the gold; its flags come from the service (``compute_flags``: a vendor's answers
opposite to gold, annotators who split). A transcript item shows the gold text and each
candidate's word-level diff from the engine's alignment; its flags come from the service too
(word error rate against gold).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, SQLModel

import service.models as m
from service.core.config import Settings
from service.core.db import create_db_engine
from service.domain.api_keys import create_api_key
from service.domain.flags import compute_flags
from service.domain.vendor_labels import add_vendor_labels
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service._review_seed import ReviewSeed, _label, _setup

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PAIRS = {
    "pair-1": ("What is the capital of France?", "Paris.", "Lyon, the capital of France."),
    "pair-2": ("Name a prime above 10.", "Eleven.", "Twelve is prime."),
    "pair-3": ("Say hi in French.", "Salut !", "Bonjour."),
}
GOLD = {"pair-1": "A", "pair-2": "A", "pair-3": "tie"}
TRANSCRIPTS = {
    "clip-1": "the cat sat on the mat",
    "clip-2": "hello world",
    "clip-3": "it is three o clock",
}


@dataclass(frozen=True)
class Served:
    base_url: str
    prefs: ReviewSeed
    speech: ReviewSeed
    key: str


def _seed(session: Session, name: str) -> ReviewSeed:
    items = [
        m.GoldenItemCreate(key=k, data={"prompt": p, "response_a": a, "response_b": b})
        for k, (p, a, b) in PAIRS.items()
    ]
    seed = _setup(
        session,
        name=name,
        task_type="preference",
        classes=("A", "B", "tie"),
        items=items,
        gold=dict(GOLD),
        examples=[],
        vendor_names=(f"{name} Acme", f"{name} Blue", f"{name} Cheap"),
    )
    _label(session, seed, "B", dict(GOLD))
    _label(session, seed, "C", {"pair-1": "B", "pair-2": "A", "pair-3": "tie"})
    # vendor A: two annotators who split on pair-2
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids["A"],
        records=[
            m.VendorLabelCreate(item_key=k, value=v, annotator_id=who)
            for who, answers in (("ann-1", GOLD), ("ann-2", {**GOLD, "pair-2": "B"}))
            for k, v in answers.items()
        ],
    )
    return seed


def _seed_transcripts(session: Session) -> ReviewSeed:
    """A transcription bake-off: three clips, vendor A with two annotators, B exact, C off."""
    items = [
        m.GoldenItemCreate(key=k, data={"audio": f"https://example.org/{k}.wav"})
        for k in TRANSCRIPTS
    ]
    seed = _setup(
        session,
        name="speech",
        task_type="transcription",
        classes=(),
        items=items,
        gold=dict(TRANSCRIPTS),
        examples=[],
        vendor_names=("speech Acme", "speech Blue", "speech Cheap"),
    )
    _label(session, seed, "B", dict(TRANSCRIPTS))
    _label(session, seed, "C", {**TRANSCRIPTS, "clip-1": "a cat sat on the mat today"})
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids["A"],
        records=[
            m.VendorLabelCreate(item_key=k, value=v, annotator_id=who)
            for who in ("ann-1", "ann-2")
            for k, v in {**TRANSCRIPTS, "clip-1": "the cat sat on a mat"}.items()
        ],
    )
    return seed


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'language.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        prefs = _seed(session, "prefs")
        compute_flags(session=session, bakeoff_id=prefs.bakeoff_id)
        speech = _seed_transcripts(session)
        compute_flags(session=session, bakeoff_id=speech.bakeoff_id)
        key = create_api_key(session=session, data=m.ApiKeyCreate(name="rev", role="lead")).key
    settings = Settings(environment="test", auto_migrate=False, database_url=url)
    with serve(app_on(engine, settings)) as base_url:
        yield Served(base_url, prefs, speech, key)
    engine.dispose()


def test_preference_and_transcript_items_on_the_review_page(browser: Any, served: Served) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    base = served.base_url
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith((base, "data:")) else route.abort()
        ),
    )
    page = context.new_page()
    problems = watch_page(page)
    page.goto(f"{base}/ui/login")
    page.fill("#api_key", served.key)
    page.click("#sign-in")
    page.wait_for_url("**/ui**")

    # the service's flags for the pair bake-off: C's opposite answer first, A's split
    page.goto(f"{base}/ui/review/bakeoffs/{served.prefs.bakeoff_id}")
    rows = page.locator("#queue tbody tr")
    assert rows.count() >= 2
    queue = page.locator("#queue").inner_text()
    assert "pair-1" in queue and "pair-2" in queue
    page.goto(f"{base}/ui/review/bakeoffs/{served.prefs.bakeoff_id}?reason=vendor_vs_gold")
    page.locator("#queue a.flag-link").first.click()
    page.wait_for_selector("#language-pair")
    assert page.locator("#item-key").inner_text() == "pair-1"
    assert page.locator("#pair-prompt").inner_text().endswith("What is the capital of France?")
    assert "Paris." in page.locator("#response-a").inner_text()
    assert "Lyon" in page.locator("#response-b").inner_text()
    box_a = page.locator("#response-a").bounding_box()
    box_b = page.locator("#response-b").bounding_box()
    assert box_a is not None and box_b is not None
    assert box_b["x"] > box_a["x"] + box_a["width"] / 2 and abs(box_b["y"] - box_a["y"]) < 2
    choices = page.locator("#pair-choices tbody tr")
    texts = [choices.nth(k).inner_text() for k in range(choices.count())]
    assert texts[0].startswith("Gold") and "response A" in texts[0]
    assert any("response B" in t and "disagrees" in t for t in texts)
    page.screenshot(path=str(SCREENSHOTS / "review-item-preference.png"), full_page=True)

    # a transcript item: gold and each candidate's word diff (the farthest from gold first)
    page.goto(f"{base}/ui/review/bakeoffs/{served.speech.bakeoff_id}?reason=vendor_vs_gold")
    page.locator("#queue a.flag-link").first.click()
    page.wait_for_selector("#language-transcript")
    assert page.locator("#item-key").inner_text() == "clip-1"
    assert "the cat sat on the mat" in page.locator("#gold-transcript").inner_text()
    diffs = page.locator("#language-transcript .diff")
    assert diffs.count() == 4  # vendor A's two annotators, B and C
    flagged = page.locator('#language-transcript .diff[data-candidate*="Cheap"]')
    assert flagged.locator(".w.sub").count() == 1  # "the" heard as "a"
    assert flagged.locator(".w.ins").inner_text() == "today"
    assert "WER 0.33" in flagged.inner_text()  # 2 errors over 6 gold words
    exact = page.locator('#language-transcript .diff[data-candidate*="Blue"]')
    assert exact.locator(".w.sub, .w.del, .w.ins").count() == 0
    page.screenshot(path=str(SCREENSHOTS / "review-item-transcript.png"), full_page=True)
    context.close()
    assert problems == [], problems
