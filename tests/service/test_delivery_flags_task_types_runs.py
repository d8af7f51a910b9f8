"""Multi-label, rating and preference deliveries flagged from uploaded predictions through the
API and the worker chunk jobs: the flagged items are the flagger's on all answers at once and
reach the review queue, most likely wrong first."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import joblib
import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import service.models as m
from metrics.chunked_flags import concatenate_quality, flagger_for
from service.core.config import Settings, get_settings
from service.domain import delivery_flags, delivery_jobs, delivery_probs
from service.domain.delivery_labels import add_delivery_labels
from service.domain.delivery_probs import PredictionChunk, PredictionSource
from service.domain.errors import Invalid
from service.domain.vendor_labels import LabelIn
from tests.service.conftest import Seed, ServerFolders
from tests.service.test_delivery_jobs import _drain, _flags

Headers = dict[str, dict[str, str]]
CLASSES = ["car", "bus", "bike", "tram"]


def _delivery(
    client: TestClient, session: Session, seeded: Seed, lead: dict[str, str], task_type: str, n: int
) -> tuple[int, list[m.DeliveryItem]]:
    ontology = {"classes": [{"name": c} for c in CLASSES]}
    project = client.post(
        "/projects",
        json={"name": f"p-{task_type}", "task_type": task_type, "ontology": ontology},
        headers=lead,
    )
    assert project.status_code == 201, project.text
    delivery = client.post(
        "/deliveries",
        json={
            "name": "week 1",
            "project_id": project.json()["id"],
            "vendor_id": seeded.vendor_id,
            "honeypot_rate": 0,
            "items": [{"key": f"k{i}", "data": {"text": f"item {i}"}} for i in range(n)],
        },
        headers=lead,
    )
    assert delivery.status_code == 201, delivery.text
    did = int(delivery.json()["id"])
    items = session.exec(
        select(m.DeliveryItem)
        .where(m.DeliveryItem.delivery_id == did)
        .order_by(col(m.DeliveryItem.position))
    ).all()
    return did, list(items)


def _multilabel(
    items: list[m.DeliveryItem], seed: int = 0
) -> tuple[list[Any], bytes, set[str], npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    n, k = len(items), len(CLASSES)
    truth = rng.random((n, k)) < 0.35
    probs = np.clip(np.where(truth, 0.85, 0.15) + rng.normal(0, 0.1, (n, k)), 0.01, 0.99)
    flips = rng.random((n, k)) < 0.04
    given = truth ^ flips
    labels = [[CLASSES[j] for j in np.flatnonzero(row)] for row in given]
    order = [2, 0, 3, 1]  # any column order
    lines = ["item_id," + ",".join(CLASSES[j] for j in order)]
    for r, p in zip(items, probs, strict=True):
        lines.append(r.key + "," + ",".join(f"{p[j]:.12f}" for j in order))
    wrong = {r.key for r, f in zip(items, [bool(row.any()) for row in flips], strict=True) if f}
    return labels, ("\n".join(lines) + "\n").encode(), wrong, probs


def _rating(items: list[m.DeliveryItem], seed: int = 1) -> tuple[list[Any], bytes, set[str]]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, 6, len(items))
    predicted = np.clip(truth + rng.normal(0, 0.4, len(items)), 1, 5)
    bad = rng.random(len(items)) < 0.06
    ratings = np.where(bad & (truth <= 2), 5, np.where(bad, 1, truth))
    labels = [{"car": int(v)} for v in ratings]
    lines = ["item_id,prediction"] + [
        f"{r.key},{p:.12f}" for r, p in zip(items, predicted, strict=True)
    ]
    wrong = {r.key for r, b, t, v in zip(items, bad, truth, ratings, strict=True) if b and v != t}
    return labels, ("\n".join(lines) + "\n").encode(), wrong


def _label(session: Session, did: int, items: list[m.DeliveryItem], labels: list[Any]) -> None:
    records = [LabelIn(r.key, v, "a1") for r, v in zip(items, labels, strict=True)]
    add_delivery_labels(session=session, delivery_id=did, records=records)


def _upload_and_drain(
    client: TestClient, session: Session, qa: dict[str, str], did: int, body: bytes
) -> m.DeliveryFlagRun:
    from service.api.routes.dispatch import get_run_queue

    enqueued: list[int] = []

    class Recorder:
        def enqueue_flag_chunks(self, chunk_ids: list[int]) -> int:
            enqueued.extend(chunk_ids)
            return len(chunk_ids)

    client.app.dependency_overrides[get_run_queue] = Recorder  # type: ignore[attr-defined]
    r = client.post(
        f"/deliveries/{did}/flags/runs/upload?chunk_size=37",
        content=body,
        headers=qa | {"Content-Type": "text/csv"},
    )
    assert r.status_code == 202, r.text
    assert len(enqueued) == r.json()["n_chunks"] > 3
    assert r.json()["method"].startswith("cleanlab")
    settings = Settings(environment="test", database_url="sqlite://")
    _drain(session, int(r.json()["id"]), settings, order_seed=5)
    run = session.get(m.DeliveryFlagRun, int(r.json()["id"]))
    assert run is not None
    session.refresh(run)
    assert run.state == "merged", run.error
    return run


def _expected(
    task_type: str, labels: list[Any], predictions: Any, items: list[m.DeliveryItem]
) -> tuple[set[str], dict[str, float]]:
    """The flagger on every answer at once, in one chunk."""
    flagger = flagger_for(task_type)
    arrays = flagger.encode(labels, predictions, CLASSES)
    scored = [flagger.second_pass(arrays, flagger.merge([flagger.first_pass(arrays)]))]
    quality = concatenate_quality(scored)
    flagged = {items[int(i)].key for i in flagger.issues(scored)}
    return flagged, {r.key: 1.0 - float(q) for r, q in zip(items, quality, strict=True)}


def _check_queue(
    client: TestClient,
    session: Session,
    qa: dict[str, str],
    did: int,
    expected: set[str],
    scores: dict[str, float],
) -> list[str]:
    queue = client.get(f"/review/deliveries/{did}/queue?limit=500", headers=qa)
    assert queue.status_code == 200, queue.text
    page = queue.json()
    keys = [f["item_key"] for f in page["data"]]
    assert set(keys) == expected and page["count"] == len(expected)
    got = [f["score"] for f in page["data"]]
    assert got == sorted(got, reverse=True)  # most likely wrong first
    for f in page["data"]:
        assert f["score"] == pytest.approx(scores[f["item_key"]], abs=1e-12)
    stored = _flags(session, did)
    assert sum(flagged for _, flagged in stored.values()) == len(expected)
    return keys


@pytest.mark.dbs
def test_a_multilabel_delivery_is_flagged_from_uploaded_probabilities(
    client: TestClient, session: Session, seeded: Seed, auth: Headers
) -> None:
    did, items = _delivery(client, session, seeded, auth["lead"], "multilabel", 240)
    labels, body, wrong, probs = _multilabel(items)
    _label(session, did, items, labels)
    run = _upload_and_drain(client, session, auth["qa"], did, body)
    expected, scores = _expected("multilabel", labels, probs, items)
    assert run.n_scored == 240 and run.n_flagged == len(expected) > 0
    keys = _check_queue(client, session, auth["qa"], did, expected, scores)
    assert np.mean([k in wrong for k in keys]) > 0.5  # about 15% of answers have a flip
    # the one-process path is the same chunk jobs, in process
    one = delivery_flags.flag_delivery(
        session=session, delivery_id=did, source=io.BytesIO(body), chunk_size=1000
    )
    assert one.n_flagged == len(expected)
    assert {f.item_id for f in one.data} <= expected


@pytest.mark.dbs
def test_a_rating_delivery_is_flagged_from_uploaded_predictions(
    client: TestClient, session: Session, seeded: Seed, auth: Headers
) -> None:
    did, items = _delivery(client, session, seeded, auth["lead"], "rating", 200)
    labels, body, wrong = _rating(items)
    _label(session, did, items, labels)
    run = _upload_and_drain(client, session, auth["qa"], did, body)
    predicted = [float(line.split(",")[1]) for line in body.decode().split()[1:]]
    expected, scores = _expected("rating", labels, predicted, items)
    assert run.n_flagged == len(expected) > 0
    keys = _check_queue(client, session, auth["qa"], did, expected, scores)
    assert set(keys) <= wrong  # only answers far from the model: every one planted


def test_a_preference_delivery_is_flagged_in_one_call(
    client: TestClient, session: Session, seeded: Seed, auth: Headers
) -> None:
    did, items = _delivery(client, session, seeded, auth["lead"], "preference", 150)
    rng = np.random.default_rng(2)
    truth = rng.choice(3, len(items), p=[0.45, 0.45, 0.1])
    logits = rng.normal(0, 1, (len(items), 3))
    logits[np.arange(len(items)), truth] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = np.where(rng.random(len(items)) < 0.1, 1 - np.minimum(truth, 1), truth)
    choices = ["A", "B", "tie"]
    _label(session, did, items, [choices[c] for c in given])
    lines = ["item_id,tie,A,B"] + [
        f"{r.key},{p[2]:.12f},{p[0]:.12f},{p[1]:.12f}" for r, p in zip(items, probs, strict=True)
    ]
    body = ("\n".join(lines) + "\n").encode()
    r = client.post(
        f"/deliveries/{did}/flags", content=body, headers=auth["qa"] | {"Content-Type": "text/csv"}
    )
    assert r.status_code == 200, r.text
    expected, _ = _expected("preference", [choices[c] for c in given], probs, items)
    assert r.json()["n_flagged"] == len(expected) > 0
    assert {f["item_id"] for f in r.json()["data"]} <= expected


_BAD = [
    ("multilabel", b"item_id,car,bus,bike\n", r"missing \['tram'\]"),
    (
        "multilabel",
        b"item_id,car,bus,bike,tram\n{k0},0.2,1.3,0.5,0.1\n",
        "row 2, column 'bus': 1.3",
    ),
    ("multilabel", b"item_id,car,bus,bike,tram\n{k0},0.2,x,0.5,0.1\n", "row 2, column 'bus': 'x'"),
    ("rating", b"item_id,score\n", r"must be \['prediction'\]"),
    ("rating", b"item_id,prediction\n{k0},4\n{k1},\n", "row 3, column 'prediction': is empty"),
    ("rating", b"item_id,prediction\n{k0},4\n{k1},inf\n", "row 3, column 'prediction': 'inf'"),
    ("rating", b"item_id,prediction\n{k0},4\n{k0},3\n", "row 3, column 'item_id': '.*' is given"),
    ("rating", b"item_id,prediction\nnope,4\n", "row 2, column 'item_id': 'nope' is not an item"),
    ("preference", b"item_id,A,B,tie\n{k0},0.5,0.4,0.2\n", "row 2: the probabilities sum to 1.1"),
]


@pytest.mark.parametrize(
    ("task_type", "body", "match"),
    _BAD,
    ids=[
        "ml-header",
        "ml-range",
        "ml-text",
        "r-header",
        "r-empty",
        "r-inf",
        "r-twice",
        "r-unknown",
        "p-sum",
    ],
)
def test_bad_prediction_files_are_refused_by_row_and_column_and_write_nothing(
    client: TestClient,
    session: Session,
    seeded: Seed,
    auth: Headers,
    task_type: str,
    body: bytes,
    match: str,
) -> None:
    did, items = _delivery(client, session, seeded, auth["lead"], task_type, 5)
    filled = body.replace(b"{k0}", items[0].key.encode()).replace(b"{k1}", items[1].key.encode())
    for path in ["flags/runs/upload", "flags"]:
        r = client.post(
            f"/deliveries/{did}/{path}",
            content=filled,
            headers=auth["qa"] | {"Content-Type": "text/csv"},
        )
        assert r.status_code == 422, r.text
        (detail,) = r.json()["detail"]
        assert re.search(match, detail["msg"]), detail["msg"]
    assert session.exec(select(m.DeliveryFlagRun)).all() == []
    assert session.exec(select(m.DeliveryFlagChunk)).all() == []


def test_answers_the_flagger_cannot_read_are_a_422_and_leave_no_run(
    client: TestClient, session: Session, seeded: Seed, auth: Headers
) -> None:
    did, items = _delivery(client, session, seeded, auth["lead"], "rating", 4)
    _label(session, did, items, [{"car": 1, "bus": 2}] * 4)  # two criteria, one prediction
    body = b"item_id,prediction\n" + b"".join(f"{r.key},3\n".encode() for r in items)
    first = re.escape(repr(items[0].key))
    with pytest.raises(Invalid, match=f"chunk 0: item {first} .*rating flags need one criterion"):
        delivery_flags.flag_delivery(session=session, delivery_id=did, source=io.BytesIO(body))
    assert session.exec(select(m.DeliveryFlagRun)).all() == []
    run = delivery_jobs.list_flag_runs(session=session, delivery_id=did)
    assert run == []


def _set_features(session: Session, items: list[m.DeliveryItem], features: list[Any]) -> None:
    for r, f in zip(items, features, strict=True):
        r.data = {**r.data, "features": f}
        session.add(r)
    session.commit()


@pytest.mark.parametrize("task_type", ["multilabel", "rating"])
def test_a_registered_model_flags_multilabel_and_rating_on_the_workers(
    client: TestClient,
    session: Session,
    seeded: Seed,
    auth: Headers,
    server_folders: ServerFolders,
    task_type: str,
) -> None:
    """``identity`` (an entry point, numpy.asarray) reads each item's features as its
    prediction: ``(N, K)`` independent probabilities, or one rating per item."""
    from service.api.routes.dispatch import get_run_queue

    did, items = _delivery(client, session, seeded, auth["lead"], task_type, 160)
    predictions: Any
    if task_type == "multilabel":
        labels, _, _, probs = _multilabel(items, seed=4)
        predictions = probs
        _set_features(session, items, probs.tolist())
    else:
        labels, body, _ = _rating(items, seed=4)
        predictions = [float(line.split(",")[1]) for line in body.decode().split()[1:]]
        _set_features(session, items, predictions)
    _label(session, did, items, labels)
    enqueued: list[int] = []

    class Recorder:
        def enqueue_flag_chunks(self, chunk_ids: list[int]) -> int:
            enqueued.extend(chunk_ids)
            return len(chunk_ids)

    client.app.dependency_overrides[get_run_queue] = Recorder  # type: ignore[attr-defined]
    r = client.post(
        f"/deliveries/{did}/flags/runs",
        json={"model": "identity", "chunk_size": 41},
        headers=auth["qa"],
    )
    assert r.status_code == 202, r.text
    assert len(enqueued) == r.json()["n_chunks"] == 4
    _drain(session, int(r.json()["id"]), get_settings(), order_seed=2)
    run = session.get(m.DeliveryFlagRun, int(r.json()["id"]))
    assert run is not None
    session.refresh(run)
    assert run.state == "merged", run.error
    expected, scores = _expected(task_type, labels, predictions, items)
    assert run.n_flagged == len(expected) > 0
    _check_queue(client, session, auth["qa"], did, expected, scores)


def test_a_rating_regressor_file_predicts_one_rating_per_item(
    session: Session, client: TestClient, seeded: Seed, auth: Headers, server_folders: ServerFolders
) -> None:
    from sklearn.linear_model import LinearRegression

    did, items = _delivery(client, session, seeded, auth["lead"], "rating", 120)
    labels, body, _ = _rating(items, seed=6)
    target = np.asarray([float(line.split(",")[1]) for line in body.decode().split()[1:]])
    x = np.stack([target, np.ones_like(target)], axis=1) * 2.0  # predicts target exactly
    joblib.dump(LinearRegression().fit(x, target), server_folders.model_dir / "rater.joblib")
    _set_features(session, items, x.tolist())
    _label(session, did, items, labels)
    out = delivery_flags.flag_delivery_with_model(
        session=session, delivery_id=did, model="rater.joblib", chunk_size=50
    )
    expected, _ = _expected("rating", labels, target, items)
    assert out.n_scored == 120 and out.n_flagged == len(expected) > 0
    assert {f.item_id for f in out.data} == expected


def test_a_structured_reader_plugs_in_with_one_registry_line(
    session: Session,
    client: TestClient,
    seeded: Seed,
    auth: Headers,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A reader that yields JSON-able predictions (a list, not an array) is bucketed as JSON
    per chunk and gives the flags the CSV reader gives for the same predictions."""
    did, items = _delivery(client, session, seeded, auth["lead"], "rating", 90)
    labels, body, _ = _rating(items, seed=8)
    _label(session, did, items, labels)
    csv = delivery_flags.flag_delivery(
        session=session, delivery_id=did, source=io.BytesIO(body), chunk_size=20
    )
    before = _flags(session, did)

    def read_json_lines(
        source: IO[bytes] | Path, classes: Sequence[str], read_rows: int
    ) -> Iterator[PredictionChunk]:
        del classes
        assert not isinstance(source, Path)
        source.seek(0)
        rows = [json.loads(line) for line in source.read().splitlines() if line]
        for lo in range(0, len(rows), read_rows):
            part = rows[lo : lo + read_rows]
            yield PredictionChunk(lo + 1, [r["item_id"] for r in part], [r["y"] for r in part])

    monkeypatch.setitem(delivery_probs.UPLOAD_READERS, "json_lines", read_json_lines)
    monkeypatch.setitem(
        delivery_probs.PREDICTION_SOURCES, "rating", PredictionSource("json_lines", "per_item")
    )
    lines = [
        json.dumps({"item_id": key, "y": float(v)})
        for key, v in (line.split(",") for line in body.decode().split()[1:])
    ]
    run = delivery_probs.start_upload_run(
        session=session,
        delivery_id=did,
        source=io.BytesIO("\n".join(lines).encode()),
        chunk_size=20,
    )
    blobs = session.exec(
        select(m.DeliveryFlagChunk).where(m.DeliveryFlagChunk.run_id == run.id)
    ).all()
    assert all("in_json" in delivery_probs.unpack(c.arrays) for c in blobs)
    done = delivery_jobs.run_in_process(session=session, run_id=run.id or 0)
    assert done.state == "merged", done.error
    assert done.n_flagged == csv.n_flagged > 0
    assert _flags(session, did) == before
