"""Preference bake-offs: a share of pairs is sent swapped, recorded only on our side.

A run through the real simulator (HTTP, its own process) and the in-memory vendor: every
payload is scanned (no gold, no swap marker, a swapped pair differs from the item only in
the order of its responses), each vendor gets exactly the configured share swapped, the
answers come back to the item's own frame (a perfect vendor agrees with gold on every pair,
swapped or not), and a planted position bias is found by the engine from the swaps.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

import service.models as m
from adapters.pairs import swap_pair
from adapters.simulator import SimulatedVendor, SimulatorConfig, SimulatorProcess
from adapters.testing import assert_no_gold, toy_golden
from service.domain import dispatch, scoring
from tests.service.test_dispatch import (  # noqa: F401 - memory_kind is an autouse fixture
    SCRIPTS,
    SETTINGS,
    build_bakeoff,
    memory_kind,
    tasks_by_status,
)

N = 40


@pytest.mark.slow
def test_swapped_pairs_are_recorded_not_sent_and_measure_position_bias(
    session: Session, tmp_path: Path
) -> None:
    golden = toy_golden("preference", n=N)
    config = SimulatorConfig(
        vendors=[
            SimulatedVendor(name="fair", accuracy=1.0, seed=1),
            SimulatedVendor(name="first", accuracy=1.0, position_bias=0.8, seed=2),
        ],
        time_scale=0.0,
    )
    with SimulatorProcess(config, golden.oracle_json(), workdir=tmp_path / "sim") as sim:
        built = build_bakeoff(
            session,
            golden,
            {
                "fair": ("simulator", {"url": sim.url, "mode": "poll"}),
                "first": ("simulator", {"url": sim.url, "mode": "poll"}),
                "mem": ("memory", {"tasks": ["preference"]}),
            },
        )
        bakeoff = session.get(m.BakeOff, built.bakeoff_id)
        assert bakeoff is not None and bakeoff.swap_share == 0.5
        dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
        for _ in range(200):
            dispatch.tick(
                session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS, force_poll=True
            )
            if tasks_by_status(session, built.bakeoff_id).get("received") == 3 * N:
                break
            time.sleep(0.02)
        errors = {t.last_error for t in session.exec(select(m.Task)).all()}
        assert tasks_by_status(session, built.bakeoff_id) == {"received": 3 * N}, errors
        received = [json.loads(r["body"]) for r in httpx.get(f"{sim.url}/_debug/received").json()]

    tasks = session.exec(select(m.Task).where(m.Task.bakeoff_id == built.bakeoff_id)).all()
    items = {i.id: i for i in session.exec(select(m.GoldenItem)).all()}
    swapped: dict[int, set[str]] = {v: set() for v in built.vendor_ids.values()}
    for task in tasks:
        if task.swapped:
            swapped[task.vendor_id].add(items[task.item_id].key)
    # exactly the configured share per vendor, each vendor its own draw
    assert all(len(keys) == N // 2 for keys in swapped.values())
    assert swapped[built.vendor_ids["fair"]] != swapped[built.vendor_ids["first"]]

    by_id = {i.item_id: i.data for i in golden.items}
    for vendor, payloads in (("fair", received), ("mem", SCRIPTS["mem"].sent)):
        assert_no_gold(payloads, golden)
        assert "swap" not in json.dumps(payloads).lower()
        sent = {item["item_id"]: item["data"] for body in payloads for item in body["items"]}
        assert len(sent) == N
        vendor_swaps = swapped[built.vendor_ids[vendor]]
        if vendor == "fair":  # the simulator got both vendors' batches; pick fair's by data
            vendor_swaps = swapped[built.vendor_ids["fair"]] | swapped[built.vendor_ids["first"]]
        for key, data in sent.items():
            if data != by_id[key]:
                assert data == swap_pair(by_id[key]) and key in vendor_swaps

    # answers are stored in the item's own frame: a perfect vendor agrees with gold everywhere
    fair = session.exec(
        select(m.VendorLabel)
        .where(m.VendorLabel.bakeoff_id == built.bakeoff_id)
        .where(m.VendorLabel.vendor_id == built.vendor_ids["fair"])
    ).all()
    assert len(fair) == N
    assert {items[x.item_id].key: x.value for x in fair} == golden.gold_json()

    scores = scoring.score_bakeoff(session=session, bakeoff=bakeoff, n_resamples=50)
    by_name = {c.name: c.scored for c in scores.candidates}
    assert by_name["fair"].value("agreement") == 1.0
    fair_bias = by_name["fair"].summary["position_bias"]
    assert fair_bias.value == 0.0 and fair_bias.params["presented_both_ways"]
    biased = by_name["first"].summary["position_bias"]
    assert biased.ci is not None and biased.ci.low > 0.1
    assert by_name["first"].value("agreement") < 1.0


def test_a_direct_post_of_answers_to_swapped_pairs_is_stored_in_the_items_frame(
    session: Session,
) -> None:
    """A vendor that posts its answers itself (not a callback or a poll) answers what it was
    shown; the store turns answers to swapped pairs back, so gold agreement is exact."""
    from adapters.base import VendorAnnotation
    from service.domain.vendor_labels import add_vendor_labels
    from tests.service.test_dispatch import Script

    golden = toy_golden("preference", n=12)
    built = build_bakeoff(session, golden, {"mem": ("memory", {"tasks": ["preference"]})})
    SCRIPTS["mem"] = Script(hold=True)
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    sent = {i["item_id"]: i["data"] for body in SCRIPTS["mem"].sent for i in body["items"]}
    assert len(sent) == 12
    by_id = {i.item_id: i.data for i in golden.items}
    shown_swapped = {k for k, data in sent.items() if data != by_id[k]}
    assert len(shown_swapped) == 6
    flip = {"A": "B", "B": "A", "tie": "tie"}
    answers = [  # right answers, in the frame the vendor saw
        VendorAnnotation(
            item_id=k, label=flip[str(g)] if k in shown_swapped else str(g), annotator_id="w1"
        )
        for k, g in golden.gold.items()
    ]
    result = add_vendor_labels(
        session=session,
        bakeoff_id=built.bakeoff_id,
        vendor_id=built.vendor_ids["mem"],
        records=answers,
    )
    assert result.stored == 12
    items = {i.id: i.key for i in session.exec(select(m.GoldenItem)).all()}
    stored = session.exec(
        select(m.VendorLabel).where(m.VendorLabel.bakeoff_id == built.bakeoff_id)
    ).all()
    assert {items[x.item_id]: x.value for x in stored} == golden.gold_json()
