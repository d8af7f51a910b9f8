"""A delivery's flags in the review pages, in a real headless Chromium: a QA reviewer finds the
delivery on the review index, works its queue (the delivery named on every row), corrects one
label and accepts another, and the API reads each decision back stored once.

The app runs under uvicorn on a free localhost port on a seeded SQLite file; requests that
leave localhost are aborted. Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, SQLModel, col, select

import service.models as m
from service.core.config import Settings
from service.core.db import create_db_engine
from service.domain import delivery_flags
from service.domain.api_keys import create_api_key
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service.conftest import seed_bakeoff
from tests.service.test_delivery_audit import _delivery, _probs_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_PIXEL = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8Dw"
    "HwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


@dataclass(frozen=True)
class Served:
    base_url: str
    engine: Engine
    delivery_id: int
    qa_key: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        vendors = [m.Vendor(name=n, adapter_kind="file") for n in ("acme", "other")]
        session.add_all(vendors)
        session.commit()
        seed = seed_bakeoff(session, name="queue", vendor_ids=[v.id or 0 for v in vendors])
        delivery, _ = _delivery(session, seed, n=150)
        delivery_id = delivery.id or 0
        # the page draws the item's image: give each item one the page can load
        session.execute(
            update(m.DeliveryItem)
            .where(col(m.DeliveryItem.delivery_id) == delivery_id)
            .values(data={"image": _PIXEL})
        )
        session.commit()
        delivery_flags.flag_delivery(
            session=session,
            delivery_id=delivery_id,
            source=io.BytesIO(_probs_csv(session, delivery)),
        )
        qa = create_api_key(session=session, data=m.ApiKeyCreate(name="reviewer-rae", role="qa"))
        qa_key = qa.key
    settings = Settings(environment="test", auto_migrate=False, database_url=url)
    with serve(app_on(engine, settings)) as base_url:
        yield Served(base_url, engine, delivery_id, qa_key)
    engine.dispose()


def test_a_reviewer_works_a_deliverys_flags_in_the_review_queue(
    browser: Any, served: Served
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    base = served.base_url
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith((base, "data:")) else route.abort()
        ),
    )
    page = context.new_page()
    problems = watch_page(page)
    page.goto(f"{base}/ui/review")
    assert "/ui/login" in page.url
    page.fill("#api_key", served.qa_key)
    page.click("#sign-in")
    page.wait_for_url(f"{base}/ui/review")
    did = served.delivery_id
    headers = {"X-API-Key": served.qa_key}
    before = httpx.get(f"{base}/review/deliveries/{did}/queue", headers=headers).json()
    assert before["count"] > 2
    row = page.locator(f"#deliveries tr[data-delivery-id='{did}']")
    assert row.locator("td.num").inner_text() == str(before["count"])
    row.locator("a").click()
    page.wait_for_url(f"{base}/ui/review/deliveries/{did}")
    ons = page.locator("#queue td.on").all_inner_texts()
    assert ons and all(t == "acme · delivery week 1" for t in ons)
    page.screenshot(path=str(SCREENSHOTS / "review-delivery-queue.png"), full_page=True)

    # the first flag: correct the vendor's label; the page moves on to the next open flag
    page.locator("#queue a.flag-link").first.click()
    page.wait_for_selector("#correct-form")
    first_url = page.url
    assert page.locator("#flag-delivery").inner_text() == "week 1"
    first_key = page.locator("#item-key").inner_text()
    assert first_key == before["data"][0]["item_key"]
    page.screenshot(path=str(SCREENSHOTS / "review-delivery-item.png"), full_page=True)
    page.select_option("#corrected", "bird")
    page.click("#btn-correct")
    page.wait_for_function(f"document.location.href !== {first_url!r}")
    page.wait_for_selector("#accept-form")
    second_key = page.locator("#item-key").inner_text()
    assert second_key == before["data"][1]["item_key"]
    page.click("#btn-accept")
    page.wait_for_selector("#accept-form")
    assert page.locator("#item-key").inner_text() == before["data"][2]["item_key"]

    # back on the first flag, the decision is shown once, with who made it
    page.goto(first_url)
    assert page.locator("#flag-status").inner_text() == "resolved"
    assert page.locator("#history li").all_inner_texts() == ['reviewer-rae: correct → "bird"']

    after = httpx.get(f"{base}/review/deliveries/{did}/queue", headers=headers).json()
    assert after["count"] == before["count"] - 2
    with Session(served.engine) as session:
        decided = session.exec(
            select(m.Review, m.Flag)
            .join(m.Flag, m.Flag.id == m.Review.flag_id)  # type: ignore[arg-type]
            .where(m.Flag.delivery_id == did)
        ).all()
    assert sorted((f.id, r.decision) for r, f in decided) == sorted(
        [
            (before["data"][0]["id"], "correct"),
            (before["data"][1]["id"], "accept_candidate"),
        ]
    )
    assert all(r.reviewer_key_id is not None for r, _ in decided)
    assert problems == []
