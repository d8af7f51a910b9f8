"""The delivery audit page in a real headless Chromium: a QA reviewer draws the sample, works
it in draw order, and the delivery's verdict updates from "not enough reviews" to a decision
with the numbers behind it, matching what the API says.

The app runs under uvicorn on a free localhost port on a seeded SQLite file; requests that
leave localhost are aborted. Screenshots go to ``artifacts/screenshots/``.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

import service.models as m
from service.core.config import Settings
from service.core.db import create_db_engine
from service.domain import delivery_audit, delivery_flags
from service.domain.api_keys import create_api_key
from tests.live import SCREENSHOTS, app_on, serve, watch_page
from tests.service.conftest import seed_bakeoff
from tests.service.test_delivery_audit import _delivery, _probs_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@dataclass(frozen=True)
class Served:
    base_url: str
    engine: Engine
    delivery_id: int
    wrong: dict[str, bool]
    qa_key: str


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        vendors = [m.Vendor(name=n, adapter_kind="file") for n in ("acme", "other")]
        session.add_all(vendors)
        session.commit()
        seed = seed_bakeoff(session, name="audit", vendor_ids=[v.id or 0 for v in vendors])
        delivery, wrong = _delivery(session, seed, n=300)
        delivery_id = delivery.id or 0
        delivery_flags.flag_delivery(
            session=session,
            delivery_id=delivery_id,
            source=io.BytesIO(_probs_csv(session, delivery)),
        )
        qa = create_api_key(session=session, data=m.ApiKeyCreate(name="auditor-ann", role="qa"))
        qa_key = qa.key
    settings = Settings(environment="test", auto_migrate=False, database_url=url)
    with serve(app_on(engine, settings)) as base_url:
        yield Served(base_url, engine, delivery_id, wrong, qa_key)
    engine.dispose()


def test_a_reviewer_works_the_audit_sample_and_the_verdict_updates(
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
    audit_url = f"{base}/ui/deliveries/{served.delivery_id}/audit"
    page.goto(audit_url)
    assert "/ui/login" in page.url
    page.fill("#api_key", served.qa_key)
    page.click("#sign-in")
    page.wait_for_url(audit_url)
    assert page.locator("#decision").inner_text() == "not enough reviews"

    page.fill("input[name=half_width]", "0.08")
    page.click("#draw-sample")
    page.wait_for_selector("#decide")
    page.screenshot(path=str(SCREENSHOTS / "delivery-audit-item.png"), full_page=True)
    verdicts = [page.locator("#decision").inner_text()]
    reviewed = 0
    while page.locator("#decide").count():
        item_id = page.locator("#decide input[name=item_id]").get_attribute("value")
        assert item_id is not None
        page.click("#error" if served.wrong[item_id] else "#correct")
        page.wait_for_load_state()
        reviewed += 1
        verdicts.append(page.locator("#decision").inner_text())
    page.screenshot(path=str(SCREENSHOTS / "delivery-audit-verdict.png"), full_page=True)
    assert page.locator("#done").count() == 1
    # the verdict moved from "not enough reviews" to a decision, shown with its numbers
    assert verdicts[0] == "not enough reviews" and verdicts[-1] == "accept"
    numbers = page.locator("#numbers").inner_text()
    assert "Error rate" in numbers and "SLA 20.0%" in numbers
    # the page shows what the API computes
    with Session(served.engine) as session:
        status = delivery_audit.audit_status(session=session, delivery_id=served.delivery_id)
        decided = session.exec(
            select(m.DeliveryAudit)
            .where(m.DeliveryAudit.delivery_id == served.delivery_id)
            .where(col(m.DeliveryAudit.decision).is_not(None))
        ).all()
    assert status.reviewed == reviewed == len(decided)
    assert all(d.reviewer_key_id is not None for d in decided)
    assert status.estimate is not None
    assert f"{status.estimate * 100:.1f}%" in numbers
    truth = float(np.mean(list(served.wrong.values())))
    assert status.ci_low is not None and status.ci_high is not None
    assert status.ci_low <= truth <= status.ci_high
    assert problems == []
