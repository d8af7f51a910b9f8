"""Model-vs-label flags on small golden sets with rare classes: degrade, say so, never 422."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi.testclient import TestClient
from sqlmodel import Session

import service.models as m
from service.domain.vendor_labels import add_vendor_labels
from tests.service._review_seed import ReviewSeed, _setup


def _bakeoff(session: Session, gold: dict[str, str], classes: tuple[str, ...]) -> ReviewSeed:
    return _setup(
        session,
        name="digits",
        task_type="classification",
        classes=classes,
        items=[m.GoldenItemCreate(key=k, data={}) for k in gold],
        gold=dict(gold),
        examples=[],
        vendor_names=("Acme", "Bolt", "Crisp"),
    )


def _label(session: Session, seed: ReviewSeed, letter: str, labels: dict[str, str]) -> None:
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids[letter],
        records=[m.VendorLabelCreate(item_key=k, value=v) for k, v in labels.items()],
    )


def _features(gold: dict[str, str], classes: tuple[str, ...]) -> dict[str, list[float]]:
    """Well separated clusters, one per class (so a model learns them easily)."""
    rng = np.random.default_rng(0)
    centre = {c: np.eye(len(classes))[i] * 6.0 for i, c in enumerate(classes)}
    return {k: (centre[v] + rng.normal(0, 0.3, len(classes))).tolist() for k, v in gold.items()}


def _flags(client: TestClient, headers: dict[str, str], seed: ReviewSeed, body: Any) -> Any:
    r = client.post(f"/review/bakeoffs/{seed.bakeoff_id}/flags", json=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_a_singleton_class_is_left_out_and_said_so(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    classes = ("0", "1", "7")
    gold = {f"d{i:02d}": ("0" if i < 10 else "1") for i in range(20)}
    gold["d20"] = "7"  # the only 7: cross-validation cannot hold it out
    seed = _bakeoff(session, gold, classes)
    wrong = {"d03": "1", "d15": "0"}  # Acme mislabels two items the model knows well
    _label(session, seed, "A", {**gold, **wrong})
    _label(session, seed, "B", dict(gold))
    _label(session, seed, "C", dict(gold))
    body = _flags(client, auth["qa"], seed, {"features": _features(gold, classes)})

    assert any("['7']" in n and "single gold item" in n for n in body["notes"]), body["notes"]
    assert body["open_by_reason"].get("model_vs_label", 0) >= 2
    r = client.get(
        f"/review/bakeoffs/{seed.bakeoff_id}/queue",
        params={"reason": "model_vs_label"},
        headers=auth["qa"],
    )
    flagged = {f["item_key"] for f in r.json()["data"]}
    assert {"d03", "d15"} <= flagged
    assert "d20" not in flagged  # no model probabilities for the singleton class

    page = client.get(
        f"/ui/review/bakeoffs/{seed.bakeoff_id}", headers={**auth["qa"], "Accept": "text/html"}
    )
    assert page.status_code == 200
    assert 'id="flag-notes"' in page.text and "single gold item" in page.text


def test_fewer_folds_when_the_rarest_class_is_small(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    classes = ("a", "b")
    gold = {f"t{i:02d}": ("a" if i < 12 else "b") for i in range(15)}  # three b's
    seed = _bakeoff(session, gold, classes)
    _label(session, seed, "A", dict(gold))
    body = _flags(client, auth["qa"], seed, {"features": _features(gold, classes)})
    assert any("3-fold cross-validation" in n for n in body["notes"]), body["notes"]


def test_too_few_learnable_classes_skip_the_model_not_the_request(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    classes = ("a", "b", "c")
    gold = {"t0": "a", "t1": "a", "t2": "a", "t3": "b", "t4": "c"}
    seed = _bakeoff(session, gold, classes)
    _label(session, seed, "A", {**gold, "t0": "b"})
    body = _flags(client, auth["qa"], seed, {"features": _features(gold, classes)})
    assert any("model-vs-label flags skipped" in n for n in body["notes"]), body["notes"]
    assert "model_vs_label" not in body["open_by_reason"]
    assert body["open_by_reason"]["vendor_vs_gold"] == 1  # the other reasons still ran


def test_no_notes_when_every_class_is_learnable(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    classes = ("a", "b")
    gold = {f"t{i:02d}": ("a" if i % 2 else "b") for i in range(20)}
    seed = _bakeoff(session, gold, classes)
    _label(session, seed, "A", dict(gold))
    body = _flags(client, auth["qa"], seed, {"features": _features(gold, classes)})
    assert body["notes"] == []
