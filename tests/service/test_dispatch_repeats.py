"""Preference pairs sent twice to one vendor, once in each order: its self-consistency.

The dispatcher sends the bake-off's ``repeat_share`` of each vendor's pairs a second time,
in the other order, under an opaque id: every payload is scanned (no gold, no marker, no id
that names the item), the answers to the second sending come back through the results door
to their own rows, the engine measures the planted inconsistency inside its interval, and
the main metric counts each pair once.
"""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

import service.models as m
from adapters.base import VendorAnnotation
from adapters.pairs import swap_pair
from adapters.testing import assert_no_gold, toy_golden
from service.domain import dispatch, scoring
from service.domain.dispatch_results import store_results
from service.domain.flags import load_bakeoff_data
from service.domain.repeats import repeat_item_id, repeat_keys
from tests.service.test_dispatch import (  # noqa: F401 - memory_kind is an autouse fixture
    SCRIPTS,
    SETTINGS,
    Script,
    build_bakeoff,
    memory_kind,
    tasks_by_status,
)

N = 200
SHARE = 0.5
FLIP = {"A": "B", "B": "A", "tie": "tie"}
OTHER = {"A": "B", "B": "tie", "tie": "A"}


def _sent(session: Session, n: int) -> tuple[int, dict[str, dict[str, object]]]:
    golden = toy_golden("preference", n=n)
    built = build_bakeoff(session, golden, {"mem": ("memory", {"tasks": ["preference"]})})
    bakeoff = session.get(m.BakeOff, built.bakeoff_id)
    assert bakeoff is not None and bakeoff.repeat_share == 0.0  # off unless asked for
    bakeoff.repeat_share = SHARE
    session.add(bakeoff)
    session.commit()
    SCRIPTS["mem"] = Script(hold=True)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    for _ in range(4 * n):
        dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
        if tasks_by_status(session, built.bakeoff_id).get("pending", 0) == 0:
            break
    payloads = SCRIPTS["mem"].sent
    assert_no_gold(payloads, golden)
    # nothing in a payload says "repeat", nor which sending an id repeats
    assert "repeat" not in json.dumps(payloads).lower()
    sent = {i["item_id"]: i["data"] for body in payloads for i in body["items"]}
    return built.bakeoff_id, sent


def test_repeats_go_out_unlinked_in_the_other_order(session: Session) -> None:
    n = 40
    bakeoff_id, sent = _sent(session, n)
    vendor_id = next(iter(session.exec(select(m.Vendor.id)).all()))
    assert vendor_id is not None
    tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == bakeoff_id)).all()
    assert sum(t.repeat for t in tasks) == round(SHARE * n) and len(tasks) == n + n // 2
    repeats = repeat_keys(session, bakeoff_id, vendor_id)
    assert len(repeats) == n // 2 and len(sent) == n + n // 2
    items = {i.key: i.data for i in session.exec(select(m.GoldenItem)).all()}
    for opaque, key in repeats.items():
        assert key not in opaque and opaque in sent
        # the second sending is the pair in the order the first sending was not
        assert {json.dumps(sent[opaque]), json.dumps(sent[key])} == {
            json.dumps(items[key]),
            json.dumps(swap_pair(items[key])),
        }
    # the id depends on the vendor and the server's secret, not on the key alone
    key = next(iter(repeats.values()))
    assert repeat_item_id(bakeoff_id, vendor_id + 1, key) not in sent


@pytest.mark.dbs  # PostgreSQL writes the second sendings' answers with COPY
def test_a_planted_inconsistency_is_found_and_repeats_count_once(session: Session) -> None:
    bakeoff_id, sent = _sent(session, N)
    vendor = session.exec(select(m.Vendor)).one()
    assert vendor.id is not None
    repeats = repeat_keys(session, bakeoff_id, vendor.id)
    items = {i.key: i.data for i in session.exec(select(m.GoldenItem)).all()}
    gold = {
        i.key: g.value
        for i, g in session.exec(
            select(m.GoldenItem, m.GoldLabel).where(m.GoldLabel.item_id == m.GoldenItem.id)
        ).all()
    }
    # a vendor right on every first sending, answering in the frame it was shown; on the
    # second sending it changes its mind on every fourth pair (planted: 0.75 consistent)
    answers, changed = [], 0
    for n, (item_id, data) in enumerate(sorted(sent.items())):
        key = repeats.get(item_id, item_id)
        shown_swapped = data != items[key]
        label = str(gold[key])
        if item_id in repeats and n % 4 == 0:
            label, changed = OTHER[label], changed + 1
        shown = FLIP[label] if shown_swapped else label
        answers.append(VendorAnnotation(item_id=item_id, label=shown, annotator_id="w1"))
    result = store_results(
        session=session, bakeoff_id=bakeoff_id, vendor=vendor, annotations=answers
    )
    assert (result.received, result.stored) == (len(sent), len(sent))
    assert tasks_by_status(session, bakeoff_id) == {"received": len(sent)}
    stored = session.exec(select(m.VendorLabel)).all()
    assert sum(x.repeat for x in stored) == len(repeats)
    # a delivery sent again is stored once (duplicates), whichever sending it answers
    again = store_results(
        session=session, bakeoff_id=bakeoff_id, vendor=vendor, annotations=answers
    )
    assert (again.stored, again.duplicates) == (0, len(sent))

    bakeoff = session.get(m.BakeOff, bakeoff_id)
    assert bakeoff is not None
    scores = scoring.score_bakeoff(session=session, bakeoff=bakeoff, n_resamples=20)
    scored = scores.candidates[0].scored
    consistency = scored.summary["self_consistency"]
    planted = 1 - changed / len(repeats)
    assert consistency.value == pytest.approx(planted, abs=1e-12)
    assert consistency.params == {"n_pairs": len(repeats), "n_same": len(repeats) - changed}
    assert consistency.ci is not None and consistency.ci.low <= 0.75 <= consistency.ci.high
    # the second sendings never enter the main metric: every first answer is right
    assert scored.value("agreement") == 1.0
    assert int(scored.items["n_answers"].sum()) == N
    # nor the review queue's flags: one answer per item and annotator, the first sending's
    assert len(load_bakeoff_data(session, bakeoff).labels) == N
