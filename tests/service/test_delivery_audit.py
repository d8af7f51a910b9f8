"""Delivery flags (cleanlab on uploaded probabilities) and the audit mode built on them."""

from __future__ import annotations

import io
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sqlmodel import Session, col, select

import service.models as m
from metrics.audit import AuditStratum, stratified_error_rate
from service.core.config import Settings
from service.domain import deliveries, delivery_audit, delivery_flags, delivery_labels
from service.domain.errors import Conflict, Invalid
from service.domain.vendor_labels import LabelIn
from tests.service.conftest import CLASSES, Seed


def _delivery(session: Session, seeded: Seed, n: int = 600) -> tuple[m.Delivery, dict[str, bool]]:
    """A labeled delivery; 10% of the production labels wrong. Returns {item key: wrong}."""
    delivery = deliveries.create_delivery(
        session=session,
        data=m.DeliveryCreate(
            name="week 1",
            project_id=seeded.project_id,
            vendor_id=seeded.vendor_id,
            golden_set_version_id=seeded.version_id,
            honeypot_rate=0.01,
            items=[m.DeliveryItemIn(key=f"p{i}", data={"image": f"p/{i}.jpg"}) for i in range(n)],
            seed=11,
            max_error_rate=0.2,
        ),
    )
    rng = np.random.default_rng(0)
    rows = session.exec(
        select(m.DeliveryItem)
        .where(m.DeliveryItem.delivery_id == delivery.id)
        .order_by(col(m.DeliveryItem.position))
    ).all()
    wrong: dict[str, bool] = {}
    records = []
    for r in rows:
        truth = CLASSES[r.position % 3]
        bad = r.gold_item_id is None and rng.random() < 0.1
        wrong[r.key] = bad
        records.append(LabelIn(r.key, CLASSES[(r.position + 1) % 3] if bad else truth, "a1"))
    delivery_labels.add_delivery_labels(
        session=session, delivery_id=delivery.id or 0, records=records
    )
    return delivery, wrong


def _probs_csv(session: Session, delivery: m.Delivery, *, skill: float = 2.5) -> bytes:
    rng = np.random.default_rng(1)
    rows = session.exec(
        select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == delivery.id)
    ).all()
    order = ["bird", "cat", "dog"]  # any column order
    lines = ["item_id," + ",".join(order)]
    for r in rows:
        logits = rng.normal(0, 1, 3)
        logits[order.index(CLASSES[r.position % 3])] += skill
        p = np.exp(logits) / np.exp(logits).sum()
        lines.append(r.key + "," + ",".join(f"{v:.12f}" for v in p))
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.dbs
def test_flags_rank_the_planted_errors_in_chunks(session: Session, seeded: Seed) -> None:
    delivery, wrong = _delivery(session, seeded)
    body = _probs_csv(session, delivery)
    small = delivery_flags.flag_delivery(
        session=session, delivery_id=delivery.id or 0, source=io.BytesIO(body), chunk_size=37
    )
    assert small.n_scored == 600 and small.n_honeypots_skipped == delivery.n_honeypots
    assert small.n_flagged > 0
    top = delivery_flags.ranked_flags(session=session, delivery_id=delivery.id or 0, limit=1000)
    assert [f.score for f in top.data] == sorted((f.score for f in top.data), reverse=True)
    precision = np.mean([wrong[f.item_id] for f in top.data])
    assert precision > 0.5, precision  # the base rate of errors is 10%
    # the chunk size changes nothing
    one = delivery_flags.flag_delivery(
        session=session, delivery_id=delivery.id or 0, source=io.BytesIO(body), chunk_size=10_000
    )
    assert [f.item_id for f in one.data] == [f.item_id for f in small.data]


def test_bad_probability_files_are_422(session: Session, seeded: Seed) -> None:
    delivery, _ = _delivery(session, seeded, n=50)
    did = delivery.id or 0
    for body, match in [
        (b"key,cat,dog,bird\n", "first column must be 'item_id'"),
        (b"item_id,cat,dog\n", r"missing \['bird'\]"),
        (b"item_id,cat,dog,bird\nnope,0.2,0.3,0.5\n", "row 2, column 'item_id': 'nope' is not"),
        (f"item_id,cat,dog,bird\n{did}-00,0.9,0.9,0.9\n".encode(), "row 2: .* sum to 2.7"),
    ]:
        with pytest.raises(Invalid, match=match):
            delivery_flags.flag_delivery(session=session, delivery_id=did, source=io.BytesIO(body))


@pytest.mark.dbs
def test_audit_draws_once_serves_in_order_and_estimates_the_error_rate(
    session: Session, seeded: Seed
) -> None:
    delivery, wrong = _delivery(session, seeded)
    did = delivery.id or 0
    delivery_flags.flag_delivery(
        session=session, delivery_id=did, source=io.BytesIO(_probs_csv(session, delivery))
    )
    status = delivery_audit.draw_audit(
        session=session, delivery_id=did, data=m.AuditDraw(half_width=0.04)
    )
    planned = {s.name: s.planned for s in status.strata}
    population = {s.name: s.population for s in status.strata}
    assert population["flagged"] + population["unflagged"] == 600
    # the flagged stratum is over-sampled
    assert (
        planned["flagged"] / population["flagged"] > planned["unflagged"] / population["unflagged"]
    )
    assert status.decision == "not_enough_reviews"
    with pytest.raises(Conflict, match="drawn, not chosen"):
        delivery_audit.draw_audit(session=session, delivery_id=did, data=m.AuditDraw())
    first = status.next_item
    assert first is not None and first.labels
    # an item other than the next one is refused
    other = next(k for k in wrong if k != first.item_id)
    with pytest.raises(Conflict, match="not the next drawn item"):
        delivery_audit.decide_audit(
            session=session,
            delivery_id=did,
            data=m.AuditDecisionIn(item_id=other, decision="error"),
        )
    # review the whole sample truthfully
    while status.next_item is not None:
        key = status.next_item.item_id
        status = delivery_audit.decide_audit(
            session=session,
            delivery_id=did,
            data=m.AuditDecisionIn(item_id=key, decision="error" if wrong[key] else "correct"),
        )
    assert status.remaining == 0 and status.reviewed == sum(planned.values())
    # the numbers are metrics.audit's on the reviewed counts
    direct = stratified_error_rate(
        [AuditStratum(s.name, s.population, s.reviewed, s.errors) for s in status.strata]
    )
    assert (status.estimate, status.ci_low, status.ci_high) == (
        direct.estimate,
        direct.ci.low,
        direct.ci.high,
    )
    truth = sum(wrong.values()) / 600
    assert status.ci_low is not None and status.ci_high is not None
    assert status.ci_low <= truth <= status.ci_high
    assert status.decision == "accept"  # SLA 20%, true rate about 10%
    assert "within the SLA of 20.0%" in status.reason
    with pytest.raises(Conflict, match="no drawn item waiting"):
        delivery_audit.decide_audit(
            session=session,
            delivery_id=did,
            data=m.AuditDecisionIn(item_id=other, decision="error"),
        )


def test_flags_from_a_registered_model(session: Session, seeded: Seed, tmp_path: Path) -> None:
    """A scikit-learn model in the operator's folder predicts from each item's features."""
    delivery, wrong = _delivery(session, seeded, n=300)
    did = delivery.id or 0
    rows = session.exec(select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == did)).all()
    rng = np.random.default_rng(5)
    centres = {c: rng.normal(0, 3, 4) for c in CLASSES}
    x, y = [], []
    for r in rows:  # features: the true class's centre plus noise (honeypots included)
        truth = CLASSES[r.position % 3]
        r.data = {**r.data, "features": (centres[truth] + rng.normal(0, 1, 4)).tolist()}
        session.add(r)
        x.append(r.data["features"])
        y.append(truth)
    session.commit()
    folder = tmp_path / "models"
    folder.mkdir()
    joblib.dump(LogisticRegression(max_iter=500).fit(x, y), folder / "animals.joblib")
    settings = Settings(environment="test", database_url="sqlite://", model_dir=str(folder))
    found = delivery_flags.flag_delivery_with_model(
        session=session, delivery_id=did, model="animals.joblib", settings=settings, chunk_size=41
    )
    assert found.n_scored == 300 and found.n_honeypots_skipped == delivery.n_honeypots
    ranked = delivery_flags.ranked_flags(session=session, delivery_id=did, limit=1000).data
    assert ranked and np.mean([wrong[f.item_id] for f in ranked]) > 0.5
    with pytest.raises(Invalid, match="registered"):
        delivery_flags.flag_delivery_with_model(
            session=session, delivery_id=did, model="nope.joblib", settings=settings
        )
