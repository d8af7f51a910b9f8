"""Deliveries: honeypots mixed in and indistinguishable, labels stored once, progress and cost."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

import service.models as m
from adapters.base import Instructions, Ontology, OntologyClass, WorkItem
from adapters.formats import FormatError
from adapters.testing import ToyGolden, assert_no_gold
from metrics.scoring import ScoringOptions, score
from service.domain import deliveries, delivery_labels, delivery_quality
from service.domain.errors import Conflict, Forbidden, Invalid
from service.domain.security import Principal
from service.domain.vendor_labels import LabelIn
from tests.service.conftest import GOLD, Seed


def _items(n: int, prefix: str = "prod") -> list[m.DeliveryItemIn]:
    return [
        m.DeliveryItemIn(key=f"{prefix}-{i}", data={"image": f"{prefix}/{i}.jpg"}) for i in range(n)
    ]


def _create(
    session: Session, seeded: Seed, n: int = 94, *, rate: float = 0.06, seed: int = 1, **kw: object
) -> m.Delivery:
    return deliveries.create_delivery(
        session=session,
        data=m.DeliveryCreate(
            name="week 1",
            project_id=seeded.project_id,
            vendor_id=seeded.vendor_id,
            golden_set_version_id=seeded.version_id,
            honeypot_rate=rate,
            items=_items(n),
            seed=seed,
            **kw,  # type: ignore[arg-type]
        ),
    )


def _rows(session: Session, delivery_id: int) -> list[m.DeliveryItem]:
    return list(
        session.exec(
            select(m.DeliveryItem)
            .where(m.DeliveryItem.delivery_id == delivery_id)
            .order_by(col(m.DeliveryItem.position))
        ).all()
    )


def _toy(seeded: Seed, session: Session) -> ToyGolden:
    """The seeded gold as the shared no-gold checker takes it."""
    gold_items = session.exec(
        select(m.GoldenItem).where(m.GoldenItem.golden_set_id == seeded.golden_set_id)
    ).all()
    return ToyGolden(
        task_type="classification",
        ontology=Ontology(classes=tuple(OntologyClass(name=c) for c in ("cat", "dog", "bird"))),
        instructions=Instructions(version=1, text="# Label the animal"),
        items=tuple(WorkItem(item_id=i.key, data=i.data) for i in gold_items),
        gold=dict(GOLD),
    )


@pytest.mark.dbs
def test_honeypots_are_mixed_at_the_rate_and_look_like_production(
    session: Session, seeded: Seed
) -> None:
    delivery = _create(session, seeded)
    assert delivery.n_items == 94 and delivery.n_honeypots == 6  # 6% of 100
    rows = _rows(session, delivery.id or 0)
    assert [r.position for r in rows] == list(range(100))
    honeypots = [r for r in rows if r.gold_item_id is not None]
    assert len(honeypots) == 6 and all(r.source_key is None for r in honeypots)
    # rotation: six honeypots from six gold items use each once
    assert len({r.gold_item_id for r in honeypots}) == 6
    # production items keep their order and data
    production = [r for r in rows if r.gold_item_id is None]
    assert [r.source_key for r in production] == [f"prod-{i}" for i in range(94)]
    batch = deliveries.delivery_batch(session=session, delivery_id=delivery.id or 0)
    assert [i["item_id"] for i in batch.items] == [f"{delivery.id}-{p:02d}" for p in range(100)]
    assert all(set(i) == {"item_id", "data"} for i in batch.items)
    assert {frozenset(i["data"]) for i in batch.items} == {frozenset({"image"})}
    text = json.dumps(batch.model_dump(mode="json"))
    # no customer key, no gold key, no gold item id or honeypot marker leaves
    for leak in ("prod-", 'img-1"', "gold", "honeypot", "source_key"):
        assert leak not in text, leak
    honeypot_ids = {r.key for r in honeypots}
    assert honeypot_ids <= {i["item_id"] for i in batch.items}
    # the gold values are not in the payload either (the shared contract check)
    assert_no_gold([batch.model_dump(mode="json")], _toy(seeded, session))
    stored = session.get(m.Delivery, delivery.id)
    assert stored is not None and stored.sent_at is not None


def test_rotation_carries_across_deliveries_of_the_vendor(session: Session, seeded: Seed) -> None:
    used: list[int] = []
    for week in range(4):
        delivery = _create(session, seeded, n=48, rate=0.04, seed=week)  # 2 honeypots each
        used += [r.gold_item_id or 0 for r in _rows(session, delivery.id or 0) if r.gold_item_id]
    assert deliveries.honeypot_history(session, seeded.project_id, seeded.vendor_id) == used
    assert len(used) == 8
    assert len(set(used[:6])) == 6  # all six gold items before any repeats
    assert Counter(used).most_common(1)[0][1] == 2


def test_bad_deliveries_are_refused_with_their_place(session: Session, seeded: Seed) -> None:
    with pytest.raises(Invalid, match="appears twice") as exc:
        deliveries.create_delivery(
            session=session,
            data=m.DeliveryCreate(
                name="dup",
                project_id=seeded.project_id,
                vendor_id=seeded.vendor_id,
                golden_set_version_id=seeded.version_id,
                items=[*_items(3), m.DeliveryItemIn(key="prod-1", data={"image": "x"})],
            ),
        )
    assert exc.value.location == ("body", "items", 3, "key")
    with pytest.raises(Invalid, match="needs a golden_set_version_id"):
        deliveries.create_delivery(
            session=session,
            data=m.DeliveryCreate(
                name="x", project_id=seeded.project_id, vendor_id=seeded.vendor_id, items=_items(3)
            ),
        )
    with pytest.raises(Invalid, match="could tell honeypots apart"):
        deliveries.create_delivery(
            session=session,
            data=m.DeliveryCreate(
                name="x",
                project_id=seeded.project_id,
                vendor_id=seeded.vendor_id,
                golden_set_version_id=seeded.version_id,
                honeypot_rate=0.5,
                items=[m.DeliveryItemIn(key="a", data={"image": "a.jpg", "camera": "front"})],
            ),
        )
    with pytest.raises(Invalid, match="alert_accuracy"):
        _create(session, seeded, agreed_accuracy=0.9, alert_accuracy=0.95)
    assert session.exec(select(m.Delivery)).all() == []


def _answers(session: Session, delivery_id: int) -> str:
    rows = _rows(session, delivery_id)
    gold_key = {i.id: i.key for i in session.exec(select(m.GoldenItem)).all()}
    lines = []
    for r in rows:
        truth = GOLD[gold_key[r.gold_item_id]] if r.gold_item_id else "cat"
        lines.append(json.dumps({"item_id": r.key, "label": truth, "annotator_id": "ann-1"}))
    return "\n".join(lines) + "\n"


@pytest.mark.dbs
def test_labels_import_once_from_a_file_and_progress_and_cost_follow(
    session: Session, seeded: Seed
) -> None:
    delivery = _create(session, seeded)
    delivery_id = delivery.id or 0
    deliveries.delivery_batch(session=session, delivery_id=delivery_id)
    body = _answers(session, delivery_id).encode()
    first = delivery_labels.import_delivery_labels(
        session=session, delivery_id=delivery_id, format="jsonl", source=io.BytesIO(body)
    )
    assert (first.received, first.stored, first.duplicates) == (100, 100, 0)
    again = delivery_labels.import_delivery_labels(
        session=session, delivery_id=delivery_id, format="jsonl", source=io.BytesIO(body)
    )
    assert (again.received, again.stored, again.duplicates) == (100, 0, 100)
    stored = session.get(m.Delivery, delivery_id)
    assert stored is not None and stored.status == "labeled"
    public = deliveries.delivery_public(session, stored)
    assert public.n_labeled == 100 and public.progress == 1.0
    # key_vendor's price list: 0.05 per item, no per-label price
    assert public.total_cost == pytest.approx(5.0) and public.cost_per_item == pytest.approx(0.05)
    assert public.latency_p50_s is None  # no completion times reported


@pytest.mark.dbs
def test_a_different_answer_is_a_conflict_and_nothing_is_stored(
    session: Session, seeded: Seed
) -> None:
    delivery = _create(session, seeded)
    delivery_id = delivery.id or 0
    key = f"{delivery_id}-00"
    delivery_labels.add_delivery_labels(
        session=session, delivery_id=delivery_id, records=[LabelIn(key, "cat", "a")]
    )
    with pytest.raises(Conflict, match="different label is already stored"):
        delivery_labels.add_delivery_labels(
            session=session,
            delivery_id=delivery_id,
            records=[LabelIn(f"{delivery_id}-01", "dog", "a"), LabelIn(key, "dog", "a")],
        )
    with pytest.raises(Invalid, match="unknown class 'lion'"):
        delivery_labels.add_delivery_labels(
            session=session, delivery_id=delivery_id, records=[LabelIn(key, "lion", "b")]
        )
    with pytest.raises(Invalid, match="not an item of delivery"):
        delivery_labels.add_delivery_labels(
            session=session, delivery_id=delivery_id, records=[LabelIn("img-1", "cat", "b")]
        )
    labels = session.exec(select(m.DeliveryLabel)).all()
    assert [(x.annotator_id, x.value) for x in labels] == [("a", "cat")]


def test_vendor_keys_reach_only_their_own_deliveries(session: Session, seeded: Seed) -> None:
    delivery = _create(session, seeded)
    mine = Principal(key_id=1, name="v", role="vendor", vendor_id=seeded.vendor_id, project_id=None)
    other = Principal(
        key_id=2, name="w", role="vendor", vendor_id=seeded.other_vendor_id, project_id=None
    )
    assert deliveries.delivery_batch(session=session, delivery_id=delivery.id or 0, principal=mine)
    with pytest.raises(Forbidden):
        deliveries.delivery_batch(session=session, delivery_id=delivery.id or 0, principal=other)


# --------------------------------------------------------------------------- honeypot quality


def _label_week(
    session: Session,
    delivery: m.Delivery,
    *,
    at: datetime,
    wrong_honeypots: bool,
    annotators: tuple[str, ...] = ("ann-1", "ann-2"),
) -> None:
    """Answer every item; honeypots right (or all wrong), annotators taking turns."""
    gold_key = {i.id: i.key for i in session.exec(select(m.GoldenItem)).all()}
    records = []
    for n, r in enumerate(_rows(session, delivery.id or 0)):
        truth = GOLD[gold_key[r.gold_item_id]] if r.gold_item_id else "cat"
        label = (
            ("bird" if truth != "bird" else "cat") if wrong_honeypots and r.gold_item_id else truth
        )
        records.append(
            LabelIn(
                r.key,
                label,
                annotators[n % len(annotators)],
                completed_at=at + timedelta(minutes=n),
            )
        )
    delivery_labels.add_delivery_labels(
        session=session, delivery_id=delivery.id or 0, records=records
    )


@pytest.mark.dbs
def test_honeypot_accuracy_per_week_and_annotator_comes_from_the_engine(
    session: Session, seeded: Seed
) -> None:
    start = datetime(2026, 11, 2, 9, tzinfo=UTC)  # a Monday: ISO week 2026-W45
    first = _create(
        session,
        seeded,
        n=470,
        rate=0.06,
        seed=3,
        agreed_accuracy=0.9,
        alert_accuracy=0.6,
        alert_target_arl=200,
    )
    _label_week(session, first, at=start, wrong_honeypots=False)
    second = _create(
        session,
        seeded,
        n=470,
        rate=0.06,
        seed=4,
        agreed_accuracy=0.9,
        alert_accuracy=0.6,
        alert_target_arl=200,
    )
    _label_week(session, second, at=start + timedelta(days=7), wrong_honeypots=True)

    before = delivery_quality.delivery_quality(session=session, delivery_id=first.id or 0)
    assert before.metric == "accuracy" and before.overall is not None
    assert before.overall.n_honeypots == 30 and before.overall.value == 1.0
    assert [a.in_alarm for a in before.alerts] == [False, False, False]

    after = delivery_quality.delivery_quality(session=session, delivery_id=second.id or 0)
    vendor_weeks = {a.week: a for a in after.weekly if a.annotator_id is None}
    assert set(vendor_weeks) == {"2026-W45", "2026-W46"}
    assert vendor_weeks["2026-W45"].value == 1.0 and vendor_weeks["2026-W46"].value == 0.0
    # parity: the same numbers as the engine on the same honeypots
    answers = delivery_quality.honeypot_answers(session, second)
    week2 = answers[answers["at"] >= start + timedelta(days=7)]
    ann1 = week2[week2["annotator"] == "ann-1"]
    direct = score(
        "classification",
        ann1.set_index("item")["gold"],
        ann1.set_index("item")["label"],
        options=ScoringOptions(min_coverage=0.0, classes=("cat", "dog", "bird")),
    )
    row = next(a for a in after.weekly if a.week == "2026-W46" and a.annotator_id == "ann-1")
    assert row.n_honeypots == len(ann1)
    ci = direct.summary["accuracy"].ci
    assert ci is not None and (row.value, row.ci_low, row.ci_high) == (
        direct.value("accuracy"),
        ci.low,
        ci.high,
    )
    vendor_alert = after.alerts[0]
    assert vendor_alert.annotator_id is None and vendor_alert.in_alarm
    assert vendor_alert.first_alarm_delivery_id == second.id  # after the drop, not before
    assert vendor_alert.first_alarm_index is not None and vendor_alert.first_alarm_index >= 30
    design = after.design
    assert design.honeypots_per_week == 30
    assert design.false_alarm_probability_per_week is not None
    assert 0 < design.false_alarm_probability_per_week < 0.5
    assert design.arl_in_control >= 200


def test_quality_without_honeypot_answers_says_so(session: Session, seeded: Seed) -> None:
    delivery = _create(session, seeded)
    quality = delivery_quality.delivery_quality(session=session, delivery_id=delivery.id or 0)
    assert quality.overall is None and quality.alerts == []
    assert "no honeypot has been answered yet" in quality.warnings[0]


@pytest.mark.dbs
def test_csv_fast_path_stores_once_and_refuses_a_changed_answer(
    session: Session, seeded: Seed
) -> None:
    delivery = _create(session, seeded, n=18, rate=0.1)  # 2 honeypots
    did = delivery.id or 0
    keys = [r.key for r in _rows(session, did)]
    body = ("item_id,label\n" + "".join(f"{k},cat\n" for k in keys)).encode()
    first = delivery_labels.import_delivery_labels(
        session=session, delivery_id=did, format="csv", source=io.BytesIO(body)
    )
    again = delivery_labels.import_delivery_labels(
        session=session, delivery_id=did, format="csv", source=io.BytesIO(body)
    )
    assert (first.stored, again.stored, again.duplicates) == (20, 0, 20)
    changed = f"item_id,label\n{keys[3]},dog\n".encode()
    with pytest.raises(Conflict, match="different label is already stored"):
        delivery_labels.import_delivery_labels(
            session=session, delivery_id=did, format="csv", source=io.BytesIO(changed)
        )
    twice = f"item_id,label\n{keys[0]},cat\n{keys[0]},dog\n".encode()
    other = _create(session, seeded, n=18, rate=0.1, seed=9)
    twice = twice.replace(f"{did}-".encode(), f"{other.id}-".encode())
    with pytest.raises(FormatError, match="duplicate item_id"):  # the CSV reader refuses it
        delivery_labels.import_delivery_labels(
            session=session, delivery_id=other.id or 0, format="csv", source=io.BytesIO(twice)
        )
    with pytest.raises(Invalid, match="row 2: item 'nope'"):
        delivery_labels.import_delivery_labels(
            session=session,
            delivery_id=did,
            format="csv",
            source=io.BytesIO(b"item_id,label\nnope,cat\n"),
        )
    stored = session.exec(select(m.DeliveryLabel).where(m.DeliveryLabel.delivery_id == did)).all()
    assert len(stored) == 20 and {x.value for x in stored} == {"cat"}
