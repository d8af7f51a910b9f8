"""Flags computed by the service for other label shapes: several annotators per vendor,
multilabel answers, and text embedded with the bundled MiniLM model."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

import service.models as m
from adapters.embedding import TextEmbedder
from service.domain.vendor_labels import add_vendor_labels
from tests.needs import require
from tests.service._review_seed import ReviewSeed, _setup


def _queue(client: TestClient, headers: dict[str, str], bakeoff_id: int, **params: str) -> Any:
    r = client.get(f"/review/bakeoffs/{bakeoff_id}/queue", params=params, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def _labels(
    session: Session, seed: ReviewSeed, letter: str, rows: list[tuple[str, Any, str | None]]
) -> None:
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids[letter],
        records=[m.VendorLabelCreate(item_key=k, value=v, annotator_id=a) for k, v, a in rows],
    )


def test_annotators_against_their_consensus(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    keys = [f"t{i:02d}" for i in range(24)]
    gold = {k: ("yes" if i % 2 else "no") for i, k in enumerate(keys)}
    seed = _setup(
        session,
        name="rte",
        task_type="classification",
        classes=("yes", "no"),
        items=[m.GoldenItemCreate(key=k, data={"text": f"sentence {k}"}) for k in keys],
        gold=dict(gold),
        examples=[],
        vendor_names=("Crowd One", "Crowd Two", "Crowd Three"),
    )
    flip = {"yes": "no", "no": "yes"}
    sloppy = {"t03", "t08", "t15"}  # annotator w3 of vendor A gets these wrong
    rows: list[tuple[str, Any, str | None]] = []
    for k in keys:
        rows.append((k, gold[k], "w1"))
        rows.append((k, gold[k], "w2"))
        rows.append((k, flip[gold[k]] if k in sloppy else gold[k], "w3"))
    _labels(session, seed, "A", rows)
    _labels(session, seed, "B", [(k, gold[k], None) for k in keys])
    probs = {k: {v: 0.8, flip[v]: 0.2} for k, v in gold.items()}
    r = client.post(
        f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={"pred_probs": probs}, headers=auth["qa"]
    )
    assert r.status_code == 200, r.text
    data = _queue(client, auth["qa"], seed.bakeoff_id, reason="model_vs_label")["data"]
    annotator = [f for f in data if f["kind"] == "annotator_vs_consensus"]
    assert {(f["item_key"], f["annotator"], f["candidate"]) for f in annotator} == {
        # blinded for qa: w1, w2, w3 are numbered in id order
        (k, "annotator 3", "Candidate A")
        for k in sloppy
    }
    assert all(f["suggested_label"] == gold[f["item_key"]] for f in annotator)
    # Accepting "the candidate" on an annotator flag means that annotator's label.
    r = client.post(
        f"/review/flags/{annotator[0]['id']}/decisions",
        json={"decision": "accept_candidate"},
        headers=auth["qa"],
    )
    assert r.status_code == 201
    assert r.json()["proposed_gold"] == flip[gold[annotator[0]["item_key"]]]


def test_multilabel_answers_compare_as_sets(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    gold = {"p1": ["beach", "sun"], "p2": ["city"], "p3": ["sun"]}
    seed = _setup(
        session,
        name="photos",
        task_type="multilabel",
        classes=("beach", "sun", "city"),
        items=[m.GoldenItemCreate(key=k, data={}) for k in gold],
        gold=dict(gold),
        examples=[],
        vendor_names=("Tagger A", "Tagger B", "Tagger C"),
    )
    _labels(
        session,
        seed,
        "A",
        [("p1", ["sun", "beach"], None), ("p2", ["city"], None), ("p3", ["sun"], None)],
    )
    _labels(
        session,
        seed,
        "B",
        [("p1", ["beach", "sun"], None), ("p2", ["city", "sun"], None), ("p3", ["sun"], None)],
    )
    _labels(
        session,
        seed,
        "C",
        [("p1", ["beach", "sun"], None), ("p2", ["city"], None), ("p3", ["beach"], None)],
    )
    r = client.post(f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={}, headers=auth["qa"])
    assert r.status_code == 200, r.text
    data = _queue(client, auth["qa"], seed.bakeoff_id, reason="vendor_vs_gold")["data"]
    # Order inside a label set does not matter: A's ["sun", "beach"] equals gold.
    assert {(f["item_key"], f["candidate"]) for f in data} == {
        ("p2", "Candidate B"),
        ("p3", "Candidate C"),
    }
    assert {tuple(f["suggested_label"]) for f in data} == {("city",), ("sun",)}
    flag = next(f for f in data if f["item_key"] == "p2")
    r = client.post(
        f"/review/flags/{flag['id']}/decisions",
        json={"decision": "correct", "corrected_value": ["city", "sun"]},
        headers=auth["qa"],
    )
    assert r.status_code == 201 and r.json()["proposed_gold"] == ["city", "sun"]


@pytest.mark.slow
def test_text_items_are_embedded_for_model_flags(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    require("package", None if TextEmbedder.available() else "the 'embed' extra is not installed")
    pets = [
        "My dog is hungry.",
        "The cat sleeps all day.",
        "I took my puppy to the vet.",
        "Our parrot talks a lot.",
        "The kitten chased a mouse.",
        "My hamster runs at night.",
    ]
    weather = [
        "Expect rain tomorrow.",
        "Heavy snow this morning.",
        "The forecast says fog.",
        "Strong wind tonight.",
        "A storm is coming.",
        "Sunshine all weekend.",
    ]
    texts = {f"s{i:02d}": t for i, t in enumerate(pets + weather)}
    gold = {k: ("pets" if i < len(pets) else "weather") for i, k in enumerate(texts)}
    gold["s01"] = "weather"  # planted: a pet sentence with a weather gold label
    seed = _setup(
        session,
        name="topics",
        task_type="classification",
        classes=("pets", "weather"),
        items=[m.GoldenItemCreate(key=k, data={"text": t}) for k, t in texts.items()],
        gold=dict(gold),
        examples=[],
        vendor_names=("Text A", "Text B", "Text C"),
    )
    r = client.post(
        f"/review/bakeoffs/{seed.bakeoff_id}/flags",
        json={"embed_text": True, "reasons": ["model_vs_label"]},
        headers=auth["qa"],
    )
    assert r.status_code == 200, r.text
    data = _queue(client, auth["qa"], seed.bakeoff_id)["data"]
    assert data and data[0]["item_key"] == "s01" and data[0]["target"] == "gold"
    assert data[0]["suggested_label"] == "pets"


def test_spans_page_highlights_each_source(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    text = "Alice met Bob in Paris."
    person = [{"start": 0, "end": 5, "type": "PER"}, {"start": 10, "end": 13, "type": "PER"}]
    place = [{"start": 17, "end": 22, "type": "LOC"}]
    gold = {"doc-1": person + place}
    seed = _setup(
        session,
        name="ner",
        task_type="spans",
        classes=("PER", "LOC"),
        items=[m.GoldenItemCreate(key="doc-1", data={"text": text})],
        gold=dict(gold),
        examples=[{"title": "Cities are LOC", "label": place}],
        vendor_names=("Span A", "Span B", "Span C"),
    )
    _labels(session, seed, "A", [("doc-1", person + place, None)])
    _labels(session, seed, "B", [("doc-1", person, None)])  # missed Paris
    _labels(session, seed, "C", [("doc-1", person + place, None)])
    assert (
        client.post(
            f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={}, headers=auth["qa"]
        ).status_code
        == 200
    )
    data = _queue(client, auth["qa"], seed.bakeoff_id, reason="vendor_vs_gold")["data"]
    assert [(f["item_key"], f["candidate"]) for f in data] == [("doc-1", "Candidate B")]
    page = client.get(
        f"/ui/review/flags/{data[0]['id']}", headers={**auth["qa"], "Accept": "text/html"}
    )
    assert page.status_code == 200
    # Gold, A and C mark three spans each, B two: 11 highlighted pieces.
    assert page.text.count("<mark ") == 11
    assert 'title="LOC">Paris' in page.text
    assert "Cities are LOC" in page.text


def test_segmentation_masks_are_flagged_and_drawn(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    def mask(category: str, x: float, y: float, w: float, h: float) -> dict[str, Any]:
        return {"category": category, "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]]}

    gold = {"m1": [mask("cell", 5, 5, 20, 20), mask("nucleus", 40, 10, 10, 10)]}
    seed = _setup(
        session,
        name="cells",
        task_type="segmentation",
        classes=("cell", "nucleus"),
        items=[m.GoldenItemCreate(key="m1", data={"width": 64, "height": 48})],
        gold=dict(gold),
        examples=[],
        vendor_names=("Seg A", "Seg B", "Seg C"),
    )
    _labels(session, seed, "A", [("m1", gold["m1"], None)])
    _labels(session, seed, "B", [("m1", gold["m1"][:1], None)])  # misses the nucleus
    _labels(session, seed, "C", [("m1", [gold["m1"][0], mask("cell", 40, 10, 10, 10)], None)])
    r = client.post(f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={}, headers=auth["qa"])
    assert r.status_code == 200, r.text
    data = _queue(client, auth["qa"], seed.bakeoff_id, reason="vendor_vs_gold")["data"]
    assert {(f["candidate"], f["kind"]) for f in data} == {
        ("Candidate B", "missed"),
        ("Candidate C", "wrong_class"),
    }
    page = client.get(
        f"/ui/review/flags/{data[0]['id']}", headers={**auth["qa"], "Accept": "text/html"}
    )
    assert page.status_code == 200
    # gold, A, B, C (gold's polygons also get a dark halo; B's missed one is marked as a box)
    assert page.text.count('<polygon class="mask"') == 2 + 2 + 1 + 2
    assert page.text.count('<polygon class="halo"') == 2


def test_crowd_flags_follow_the_scoring_vote_and_its_ties(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    from metrics.aggregation import majority_vote

    gold = {"u1": "yes", "u2": "yes", "w1": "yes", "t1": "yes", "t2": "yes", "t3": "no"}
    seed = _setup(
        session,
        name="crowd-ties",
        task_type="classification",
        classes=("yes", "no", "maybe"),
        items=[m.GoldenItemCreate(key=k, data={"text": k}) for k in gold],
        gold=dict(gold),
        examples=[],
        vendor_names=("Crowd One", "Crowd Two", "Crowd Three"),
    )
    votes = {
        "u1": ("yes", "yes", "yes"),  # unanimous, right
        "u2": ("no", "yes", "yes"),  # 2-1 majority, right (dissent seen first)
        "w1": ("maybe", "maybe", "yes"),  # 2-1 majority, wrong
        "t1": ("maybe", "no", "yes"),  # three-way tie, gold among them, first seen wrong
        "t2": ("yes", "no", "maybe"),  # three-way tie, first seen = gold: unflagged before
        "t3": ("maybe", "yes", "no"),  # tie again, gold "no" seen last
    }
    _labels(
        session,
        seed,
        "A",
        [(k, v, f"ann{i}") for k, vs in votes.items() for i, v in enumerate(vs)],
    )
    r = client.post(f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={}, headers=auth["qa"])
    assert r.status_code == 200, r.text
    data = _queue(client, auth["qa"], seed.bakeoff_id, reason="vendor_vs_gold")["data"]
    flagged = {f["item_key"]: f for f in data if f["candidate"] == "Candidate A"}
    # the scoring aggregation (default ties="wrong"): wrong = no consensus or not gold
    answers = pd.DataFrame(
        [(k, f"ann{i}", v) for k, vs in votes.items() for i, v in enumerate(vs)],
        columns=["task", "worker", "label"],
    )
    consensus = majority_vote(answers)
    scored_wrong = {k for k, v in consensus.label.items() if v != gold[str(k)]}
    assert set(flagged) == scored_wrong == {"w1", "t1", "t2", "t3"}
    assert flagged["w1"]["kind"] == "wrong_class"
    assert {k: flagged[k]["kind"] for k in ("t1", "t2", "t3")} == dict.fromkeys(
        ("t1", "t2", "t3"), "tied_vote"
    )
    assert all(flagged[k]["suggested_label"] == gold[k] for k in flagged)
    # seeded random ties: the flags follow whatever the vote picked
    r = client.post(
        f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={"ties": "random"}, headers=auth["qa"]
    )
    assert r.status_code == 200, r.text
    data = _queue(client, auth["qa"], seed.bakeoff_id, reason="vendor_vs_gold")["data"]
    random_vote = majority_vote(answers, ties="random")
    expected = {k for k, v in random_vote.label.items() if v != gold[str(k)]}
    open_flags = {
        f["item_key"] for f in data if f["candidate"] == "Candidate A" and f["status"] == "open"
    }
    assert open_flags == expected
    bad = client.post(
        f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={"ties": "first"}, headers=auth["qa"]
    )
    assert bad.status_code == 422
