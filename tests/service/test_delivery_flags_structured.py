"""Structured task types end to end: a JSON Lines upload of the model's boxes, the flag run on
the workers, and the planted wrong boxes at the top of the review queue."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import service.models as m
from metrics.chunked_flags.segmentation import mask_agreement
from service.core.config import Settings
from service.domain import delivery_flags, delivery_labels
from service.domain.dispatch_results import forget_adapters
from service.domain.vendor_labels import LabelIn
from tests.service.conftest import Seed
from tests.service.test_delivery_jobs import _drain

Headers = dict[str, dict[str, str]]
CLASSES = ["car", "bus", "sign"]


def _scene(n: int, seed: int = 0) -> tuple[list[Any], list[Any], set[int]]:
    """Per item: the vendor's boxes (every 5th item with a planted error) and the model's."""
    rng = np.random.default_rng(seed)
    labels: list[Any] = []
    preds: list[Any] = []
    planted: set[int] = set()
    for i in range(n):
        truth: list[dict[str, Any]] = []
        for _ in range(int(rng.integers(1, 4))):
            x, y = (float(v) for v in rng.uniform(0, 200, 2))
            w, h = (float(v) for v in rng.uniform(20, 60, 2))
            truth.append({"category": CLASSES[int(rng.integers(3))], "bbox": [x, y, w, h]})
        label = [dict(o) for o in truth]
        if i % 5 == 2:
            planted.add(i)
            if i % 3 == 0:
                other = [c for c in CLASSES if c != label[0]["category"]][0]
                label[0] = {**label[0], "category": other}  # the wrong class
            elif i % 3 == 1:
                x, y, w, h = label[0]["bbox"]
                label[0] = {**label[0], "bbox": [x + 0.7 * w, y + 0.6 * h, w, h]}  # moved off
            else:
                label = label[1:]  # an object left out
        labels.append(label)
        preds.append(
            [
                {
                    "category": o["category"],
                    "bbox": [v + float(rng.normal(0, 0.5)) for v in o["bbox"]],
                    "score": float(rng.uniform(0.96, 0.999)),
                }
                for o in truth
            ]
        )
    return labels, preds, planted


def _labelled_delivery(
    client: TestClient,
    session: Session,
    seeded: Seed,
    lead: dict[str, str],
    task_type: str,
    data: list[dict[str, Any]],
    labels: list[Any],
) -> tuple[int, list[m.DeliveryItem], dict[str, int]]:
    """A project of ``task_type`` and its delivery of one item per ``data`` (keys s0, s1,
    ...), labelled ``labels`` by the vendor: the delivery's id, its items by position, and
    each item's vendor-facing key -> the scene row it was made from."""
    ontology = {"classes": [{"name": c} for c in CLASSES]}
    project = client.post(
        "/projects",
        json={"name": f"street {task_type}", "task_type": task_type, "ontology": ontology},
        headers=lead,
    )
    assert project.status_code == 201, project.text
    created = client.post(
        "/deliveries",
        json={
            "name": "week 1",
            "project_id": project.json()["id"],
            "vendor_id": seeded.vendor_id,
            "honeypot_rate": 0,
            "items": [{"key": f"s{i}", "data": d} for i, d in enumerate(data)],
        },
        headers=lead,
    )
    assert created.status_code == 201, created.text
    did = int(created.json()["id"])
    items = list(
        session.exec(
            select(m.DeliveryItem)
            .where(m.DeliveryItem.delivery_id == did)
            .order_by(col(m.DeliveryItem.position))
        ).all()
    )
    row = {it.key: int(str(it.source_key)[1:]) for it in items}  # vendor key -> scene row
    delivery_labels.add_delivery_labels(
        session=session,
        delivery_id=did,
        records=[LabelIn(it.key, labels[row[it.key]], "a1") for it in items],
    )
    return did, items, row


def _ndjson(predictions: Iterator[tuple[str, Any]]) -> bytes:
    """An upload body: one ``{"item_id", "prediction"}`` line per (item key, prediction)."""
    return b"".join(
        json.dumps({"item_id": key, "prediction": prediction}).encode() + b"\n"
        for key, prediction in predictions
    )


def _upload_drained(
    client: TestClient,
    session: Session,
    settings: Settings,
    did: int,
    qa: dict[str, str],
    body: bytes,
) -> int:
    """Upload ``body`` as a flag run in chunks of 16, run its chunks here; the run's id."""
    r = client.post(
        f"/deliveries/{did}/flags/runs/upload?chunk_size=16",
        content=body,
        headers=qa | {"Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 202, r.text
    run_id = int(r.json()["id"])
    _drain(session, run_id, settings)
    return run_id


def _record_enqueued(client: TestClient) -> list[int]:
    """The chunk jobs the API enqueues, recorded instead (the test drains them itself)."""
    from service.api.routes.dispatch import get_run_queue

    enqueued: list[int] = []

    class Recorder:
        def enqueue_flag_chunks(self, chunk_ids: list[int]) -> int:
            enqueued.extend(chunk_ids)
            return len(chunk_ids)

    client.app.dependency_overrides[get_run_queue] = Recorder  # type: ignore[attr-defined]
    return enqueued


@pytest.mark.dbs
def test_uploaded_boxes_put_the_planted_errors_at_the_top_of_the_review_queue(
    client: TestClient, session: Session, seeded: Seed, auth: Headers, settings: Settings
) -> None:
    lead, qa = auth["lead"], auth["qa"]
    n = 80
    labels, preds, planted = _scene(n)
    data = [{"image": f"s/{i}.jpg"} for i in range(n)]
    did, items, row = _labelled_delivery(client, session, seeded, lead, "detection", data, labels)
    body = _ndjson((it.key, preds[row[it.key]]) for it in reversed(items))  # any line order
    enqueued = _record_enqueued(client)
    url = f"/deliveries/{did}/flags/runs/upload?chunk_size=16"
    ndjson = {"Content-Type": "application/x-ndjson"}
    no_score = body.replace(b', "score"', b', "confidence"', 1)
    bad = client.post(url, content=no_score, headers=qa | ndjson)
    assert bad.status_code == 422, bad.text
    assert bad.json()["detail"][0]["loc"][:3] == ["body", "line 1", "prediction"]
    r = client.post(url, content=body, headers=qa | ndjson)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["n_chunks"] == 5 and len(enqueued) == 5
    _drain(session, run["id"], settings)
    done = client.get(f"/deliveries/{did}/flags/runs", headers=qa).json()[0]
    assert done["state"] == "merged", done
    assert done["n_scored"] == n and done["n_flagged"] > 0
    queue = client.get(f"/review/deliveries/{did}/queue?limit=100", headers=qa).json()
    assert queue["count"] == done["n_flagged"]
    queued = [row[q["item_key"]] for q in queue["data"]]
    assert set(queued) <= planted  # no false alarm: every queued item has a planted error
    assert len(queued) >= 0.8 * len(planted)
    scores = [q["score"] for q in queue["data"]]
    assert scores == sorted(scores, reverse=True)  # worst first
    # the one-process door (one call, other chunks) flags the same items
    flagged = {it.key for it in items if it.flagged}
    assert len(flagged) == done["n_flagged"]
    one = delivery_flags.flag_delivery(
        session=session, delivery_id=did, source=io.BytesIO(body), chunk_size=23
    )
    session.expire_all()
    assert one.n_flagged == done["n_flagged"]
    assert {it.key for it in items if it.flagged} == flagged


def _polygons(objects: list[Any]) -> list[Any]:
    """Boxes as polygon masks with no image size (COCO polygons carry none)."""
    out = []
    for o in objects:
        x, y, w, h = o["bbox"]
        poly = [x, y, x + w, y, x + w, y + h, x, y + h]
        out.append({k: v for k, v in o.items() if k != "bbox"} | {"segmentation": [poly]})
    return out


@pytest.mark.dbs
def test_polygon_masks_without_a_size_are_rasterised_at_the_items_size(
    client: TestClient, session: Session, seeded: Seed, auth: Headers, settings: Settings
) -> None:
    """A segmentation delivery whose labels and model masks are polygons: each is drawn at
    the ``height``/``width`` of its item, as the engine scores them, and the planted
    errors lead the queue (before, the run failed: a polygon needs an image size)."""
    lead, qa = auth["lead"], auth["qa"]
    n = 80
    size = {"height": 280, "width": 280}
    labels, preds, planted = _scene(n)
    data = [{"image": f"s/{i}.jpg", **size} for i in range(n)]
    masks = [_polygons(v) for v in labels]
    did, items, row = _labelled_delivery(client, session, seeded, lead, "segmentation", data, masks)
    _record_enqueued(client)
    body = _ndjson((it.key, _polygons(preds[row[it.key]])) for it in items)
    _upload_drained(client, session, settings, did, qa, body)
    done = client.get(f"/deliveries/{did}/flags/runs", headers=qa).json()[0]
    assert done["state"] == "merged", done
    assert done["n_scored"] == n and done["n_flagged"] > 0
    queue = client.get(f"/review/deliveries/{did}/queue?limit=100", headers=qa).json()
    queued = {row[q["item_key"]] for q in queue["data"]}
    # the engine's agreement on the same masks with the size written on every object
    sized = [[o | size for o in _polygons(v)] for v in labels]
    agreement = mask_agreement(sized, [[o | size for o in _polygons(v)] for v in preds], CLASSES)
    expected = {i for i in range(n) if agreement[i] < 0.5}
    assert expected and expected <= planted
    assert queued == expected


@pytest.fixture
def structured_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A model package an operator installs: the entry point ``structured`` of the group
    ``bakeoff.models``, a callable that returns each item's ``data["model_output"]`` (the
    label-shaped prediction a detector or segmenter would give)."""
    site = tmp_path / "site"
    dist = site / "toy_structured-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-structured\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bakeoff.models]\nstructured = toy_structured:run\n")
    (site / "toy_structured.py").write_text("def run(values):\n    return list(values)\n")
    monkeypatch.syspath_prepend(str(site))
    forget_adapters()
    yield "structured"
    forget_adapters()


@pytest.mark.dbs
@pytest.mark.parametrize("task_type", ["detection", "segmentation"])
def test_a_registered_model_flags_a_structured_delivery_as_its_uploaded_predictions_do(
    task_type: str,
    structured_model: str,
    client: TestClient,
    session: Session,
    seeded: Seed,
    auth: Headers,
    settings: Settings,
) -> None:
    """The model door (``POST .../flags/runs`` naming a registered model, predicted on the
    workers) and the upload door give the same scores and flags for the same predictions."""
    lead, qa = auth["lead"], auth["qa"]
    shape = _polygons if task_type == "segmentation" else list
    n = 60
    labels, preds, planted = _scene(n, seed=2)
    size = {"height": 280, "width": 280}
    data = [{"image": f"s/{i}.jpg", **size, "model_output": shape(p)} for i, p in enumerate(preds)]
    shaped = [shape(v) for v in labels]
    did, stored, row = _labelled_delivery(client, session, seeded, lead, task_type, data, shaped)
    _record_enqueued(client)

    def flags() -> dict[str, tuple[float | None, bool]]:
        session.expire_all()
        return {
            it.key: (it.flag_score, it.flagged)
            for it in session.exec(
                select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == did)
            ).all()
        }

    body = _ndjson((it.key, shape(preds[row[it.key]])) for it in stored)
    _upload_drained(client, session, settings, did, qa, body)
    want = flags()
    assert {row[k] for k, (_, f) in want.items() if f} <= planted
    assert any(f for _, f in want.values())
    by_model = client.post(
        f"/deliveries/{did}/flags/runs",
        json={"model": structured_model, "feature_key": "model_output", "chunk_size": 16},
        headers=qa,
    )
    assert by_model.status_code == 202, by_model.text
    _drain(session, by_model.json()["id"], settings)
    runs = client.get(f"/deliveries/{did}/flags/runs", headers=qa).json()
    done = next(r for r in runs if r["id"] == by_model.json()["id"])
    assert done["state"] == "merged", done
    assert done["source"] == "model" and done["n_scored"] == n
    assert flags() == want
