"""A model judge in a language bake-off: the review queue flags where it disagrees with a label.

A candidate whose answers are a model judge's (an LLM judge's labels imported as a vendor) is
named in the flag request (``judge_vendor_id``); every other candidate's answer it disagrees
with is flagged ``model_vs_label``, farthest first, by the distances used against gold (an
opposite preference before a tie; ratings by distance on the scale). A request naming a
vendor outside the bake-off, or a judge in a classification bake-off, is a 422 naming the
field.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import service.models as m
from tests.one_truth_data import Case, seed_case

pytestmark = pytest.mark.dbs

PAIRS_GOLD = {"p1": "A", "p2": "B", "p3": "tie", "p4": "A"}
RATINGS_GOLD = {
    "r1": {"help": 4, "fact": 4},
    "r2": {"help": 2, "fact": 3},
    "r3": {"help": 5, "fact": 5},
}


def _vendor_ids(session: Session, names: dict[str, str]) -> dict[str, int]:
    rows = session.exec(select(m.Vendor)).all()
    return {names[v.name]: int(v.id or 0) for v in rows if v.name in names}


def _queue(client: TestClient, lead: dict[str, str], bid: int) -> list[dict[str, Any]]:
    queue = client.get(
        f"/review/bakeoffs/{bid}/queue", params={"reason": "model_vs_label"}, headers=lead
    )
    assert queue.status_code == 200, queue.text
    return sorted(queue.json()["data"], key=lambda f: (-f["score"], f["item_key"]))


def test_a_judge_disagreeing_with_a_preference_is_flagged_opposites_first(
    session: Session, client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    case = Case(
        "preference",
        ["A", "B", "tie"],
        PAIRS_GOLD,
        {
            # the judge is wrong on p2 (says A) and p4 (says tie)
            "judge": [
                ("p1", None, "A"),
                ("p2", None, "A"),
                ("p3", None, "tie"),
                ("p4", None, "tie"),
            ],
            # the humans: right everywhere but p1 (opposite of gold and judge)
            "humans": [
                ("p1", "h1", "B"),
                ("p1", "h2", "A"),
                ("p2", "h1", "B"),
                ("p3", "h1", "tie"),
                ("p4", "h1", "A"),
            ],
        },
    )
    seeded = seed_case(session, case)
    ids = _vendor_ids(session, seeded.names)
    lead = auth["lead"]
    url = f"/review/bakeoffs/{seeded.bakeoff_id}/flags"
    without = client.post(url, json={}, headers=lead)
    assert without.status_code == 200, without.text
    assert "model_vs_label" not in without.json()["open_by_reason"]  # no judge named

    computed = client.post(url, json={"judge_vendor_id": ids["judge"]}, headers=lead)
    assert computed.status_code == 200, computed.text
    flags = _queue(client, lead, seeded.bakeoff_id)
    # p2: humans B vs judge A (opposite, 1); p1: B and A vs A (0.5); p4: A vs tie (0.5)
    got = [(f["item_key"], f["score"], f["suggested_label"]) for f in flags]
    assert got == [("p2", 1.0, "A"), ("p1", 0.5, "A"), ("p4", 0.5, "tie")], flags
    assert {f["vendor_id"] for f in flags} == {ids["humans"]}  # never the judge itself
    assert (
        flags[0]["detail"] == "answers B 1; model judge A 1" and flags[0]["kind"] == "label_issue"
    )
    # the judge is still a candidate against gold
    gold_flags = client.get(
        f"/review/bakeoffs/{seeded.bakeoff_id}/queue",
        params={"reason": "vendor_vs_gold"},
        headers=lead,
    ).json()["data"]
    assert {f["item_key"] for f in gold_flags if f["vendor_id"] == ids["judge"]} == {"p2", "p4"}


def test_a_judge_disagreeing_with_ratings_is_flagged_by_distance_on_the_scale(
    session: Session, client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    meta = {k: {"scale_min": "1", "scale_max": "5"} for k in RATINGS_GOLD}
    case = Case(
        "rating",
        ["help", "fact"],
        RATINGS_GOLD,
        {
            "judge": [(k, None, v) for k, v in RATINGS_GOLD.items()],
            "raters": [
                ("r1", None, {"help": 4, "fact": 4}),  # as the judge: no flag
                ("r2", None, {"help": 4, "fact": 3}),  # help 2 steps off: 0.25 on average
                ("r3", None, {"help": 1, "fact": 1}),  # 4 steps off on both: 1.0
            ],
        },
        meta=meta,
    )
    seeded = seed_case(session, case)
    ids = _vendor_ids(session, seeded.names)
    lead = auth["lead"]
    computed = client.post(
        f"/review/bakeoffs/{seeded.bakeoff_id}/flags",
        json={"judge_vendor_id": ids["judge"], "reasons": ["model_vs_label"]},
        headers=lead,
    )
    assert computed.status_code == 200, computed.text
    assert computed.json()["open_by_reason"] == {"model_vs_label": 2}
    got = [(f["item_key"], f["score"]) for f in _queue(client, lead, seeded.bakeoff_id)]
    assert got == [("r3", 1.0), ("r2", pytest.approx(0.25))]


def test_a_judge_outside_the_bakeoff_or_in_a_classification_one_is_a_422(
    session: Session, client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    pairs = seed_case(
        session, Case("preference", ["A", "B", "tie"], PAIRS_GOLD, {"v": [("p1", None, "A")]})
    )
    lead = auth["lead"]
    refused = client.post(
        f"/review/bakeoffs/{pairs.bakeoff_id}/flags",
        json={"judge_vendor_id": 987_654},
        headers=lead,
    )
    assert refused.status_code == 422, refused.text
    assert "judge_vendor_id" in refused.text and "987654" in refused.text
    digits = seed_case(session, Case("classification", ["0", "1"], {"d1": "0"}, {"v": []}))
    vid = _vendor_ids(session, digits.names)["v"]
    refused = client.post(
        f"/review/bakeoffs/{digits.bakeoff_id}/flags", json={"judge_vendor_id": vid}, headers=lead
    )
    assert refused.status_code == 422, refused.text
    assert "judge_vendor_id" in refused.text and "classification" in refused.text
