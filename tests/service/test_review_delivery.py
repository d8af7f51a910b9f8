"""A delivery's flags in the review queue: the same ``flag`` rows, decided as ``review`` rows."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import service.models as m
from service.domain import delivery_flags, review, review_delivery
from service.domain.errors import Conflict, Invalid
from tests.service.conftest import Seed
from tests.service.test_delivery_audit import _delivery, _probs_csv

Headers = dict[str, dict[str, str]]


def _flags(session: Session, delivery_id: int) -> list[m.Flag]:
    return list(
        session.exec(
            select(m.Flag).where(m.Flag.delivery_id == delivery_id).order_by(col(m.Flag.id))
        ).all()
    )


@pytest.mark.dbs
def test_flagged_items_enter_the_queue_once_and_decisions_survive_a_rerun(
    session: Session, seeded: Seed
) -> None:
    delivery, wrong = _delivery(session, seeded, n=200)
    did = delivery.id or 0
    body = _probs_csv(session, delivery)
    found = delivery_flags.flag_delivery(session=session, delivery_id=did, source=io.BytesIO(body))
    flags = _flags(session, did)
    flagged = session.exec(
        select(m.DeliveryItem)
        .where(m.DeliveryItem.delivery_id == did)
        .where(col(m.DeliveryItem.flagged).is_(True))
    ).all()
    assert found.n_flagged == len(flags) == len(flagged) > 0
    assert {f.delivery_item_id for f in flags} == {i.id for i in flagged}
    assert all(f.bakeoff_id is None and f.item_id is None for f in flags)
    assert all(f.vendor_id == delivery.vendor_id and f.status == "open" for f in flags)
    by_item = {i.id: i.flag_score for i in flagged}
    assert all(f.score == pytest.approx(by_item[f.delivery_item_id]) for f in flags)

    queue = review_delivery.list_delivery_queue(session=session, delivery_id=did, limit=1000)
    assert queue.count == len(flags)
    assert [f.score for f in queue.data] == sorted((f.score for f in queue.data), reverse=True)
    assert all(f.delivery == "week 1" and f.delivery_id == did for f in queue.data)
    assert {f.item_key for f in queue.data} == {i.key for i in flagged}
    # the bake-off's queue is unchanged: delivery flags live beside it, not in it
    assert review.list_queue(session=session, bakeoff_id=seeded.bakeoff_id).count == 0

    first, second = queue.data[0], queue.data[1]
    result = review.decide(
        session=session,
        flag_id=first.id,
        body=review.DecisionCreate(decision="correct", corrected_value="bird"),
    )
    assert result.flag.status == "resolved" and result.review.corrected_value == "bird"
    assert result.next_id == second.id
    with pytest.raises(Conflict):
        review.decide(
            session=session, flag_id=first.id, body=review.DecisionCreate(decision="correct")
        )
    with pytest.raises(Invalid, match="no gold"):
        review.decide(
            session=session, flag_id=second.id, body=review.DecisionCreate(decision="confirm_gold")
        )
    with pytest.raises(Invalid, match="delivery's vendor"):
        review.decide(
            session=session,
            flag_id=second.id,
            body=review.DecisionCreate(decision="accept_candidate", candidate="Candidate A"),
        )
    accepted = review.decide(
        session=session,
        flag_id=second.id,
        body=review.DecisionCreate(decision="accept_candidate"),
    )
    label = session.exec(
        select(m.DeliveryLabel.value).where(m.DeliveryLabel.item_id == second.item_id)
    ).one()
    assert accepted.review.corrected_value == label
    review.undo(session=session, flag_id=second.id)
    assert session.get(m.Flag, second.id).status == "open"  # type: ignore[union-attr]

    # a second flag run replaces only open, undecided flags; decided ones keep their history
    delivery_flags.flag_delivery(session=session, delivery_id=did, source=io.BytesIO(body))
    again = _flags(session, did)
    assert len({f.delivery_item_id for f in again}) == len(again) == len(flags)
    kept = {f.id for f in again}
    assert first.id in kept and second.id in kept  # both have decisions (one undone)
    assert session.get(m.Flag, first.id).status == "resolved"  # type: ignore[union-attr]
    reviews = session.exec(select(m.Review).where(m.Review.flag_id == first.id)).all()
    assert len(reviews) == 1  # the decision is stored once
    item = review.get_item_review(session=session, flag_id=first.id, status="all")
    assert item.gold is None and item.flag.delivery == "week 1"
    assert [c.value for c in item.candidates] == [
        session.exec(
            select(m.DeliveryLabel.value).where(m.DeliveryLabel.item_id == first.item_id)
        ).one()
    ]
    assert wrong  # the planted errors exist (ranking is tested in test_delivery_audit)


def test_the_api_serves_the_delivery_queue_and_its_decisions(
    client: TestClient, session: Session, seeded: Seed, auth: Headers
) -> None:
    delivery, _ = _delivery(session, seeded, n=120)
    did = delivery.id or 0
    delivery_flags.flag_delivery(
        session=session, delivery_id=did, source=io.BytesIO(_probs_csv(session, delivery))
    )
    queue = client.get(f"/review/deliveries/{did}/queue", headers=auth["qa"])
    assert queue.status_code == 200, queue.text
    data = queue.json()
    assert data["count"] == len(_flags(session, did)) > 0
    flag_id = data["data"][0]["id"]
    shown = client.get(f"/review/flags/{flag_id}", headers=auth["qa"])
    assert shown.status_code == 200 and shown.json()["flag"]["delivery"] == "week 1"
    bad = client.post(
        f"/review/flags/{flag_id}/decisions", json={"decision": "confirm_gold"}, headers=auth["qa"]
    )
    assert bad.status_code == 422 and "no gold" in bad.text
    ok = client.post(
        f"/review/flags/{flag_id}/decisions",
        json={"decision": "correct", "corrected_value": "dog"},
        headers=auth["qa"],
    )
    assert ok.status_code == 201, ok.text
    wrong_class = client.post(
        f"/review/flags/{data['data'][1]['id']}/decisions",
        json={"decision": "correct", "corrected_value": "zebra"},
        headers=auth["qa"],
    )
    assert wrong_class.status_code == 422
    assert client.get(f"/review/deliveries/{did}/queue", headers=auth["qa"]).json()["count"] == (
        data["count"] - 1
    )


def test_the_bake_off_queue_page_links_the_deliveries_of_the_vendor_it_chose(
    client: TestClient, session: Session, seeded: Seed, auth: Headers
) -> None:
    delivery, _ = _delivery(session, seeded, n=90)
    delivery.bakeoff_id = seeded.bakeoff_id
    session.add(delivery)
    session.commit()
    did = delivery.id or 0
    delivery_flags.flag_delivery(
        session=session, delivery_id=did, source=io.BytesIO(_probs_csv(session, delivery))
    )
    n_open = len(_flags(session, did))
    page = client.get(f"/ui/review/bakeoffs/{seeded.bakeoff_id}", headers=auth["qa"])
    assert page.status_code == 200
    assert f'<a href="/ui/review/deliveries/{did}">delivery week 1</a>: {n_open} open' in page.text
    index = client.get("/ui/review", headers=auth["qa"])
    assert f'<a href="/ui/review/deliveries/{did}">week 1</a>' in index.text
