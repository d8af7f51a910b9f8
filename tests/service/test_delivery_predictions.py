"""Uploaded label-shaped predictions (JSON Lines): checked by line and field, bucketed by chunk."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session, col, select

import service.models as m
from adapters.base import TaskType
from service.domain import deliveries, delivery_predictions, projects
from service.domain.delivery_probs import UPLOAD_READERS, bucket_by_chunk, unpack, uploaded_rows
from service.domain.errors import Invalid
from tests.service.conftest import Seed

CLASSES = ["car", "bus"]


def _delivery(session: Session, seeded: Seed, task_type: TaskType, n: int = 30) -> m.Delivery:
    ontology: dict[str, Any] = {"classes": [{"name": c} for c in CLASSES]}
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(name=f"p-{task_type}", task_type=task_type, ontology=ontology),
    )
    return deliveries.create_delivery(
        session=session,
        data=m.DeliveryCreate(
            name="week 1",
            project_id=project.id or 0,
            vendor_id=seeded.vendor_id,
            honeypot_rate=0,
            items=[m.DeliveryItemIn(key=f"p{i}", data={"image": f"p/{i}.jpg"}) for i in range(n)],
        ),
    )


def _items(session: Session, delivery: m.Delivery) -> list[m.DeliveryItem]:
    return list(
        session.exec(
            select(m.DeliveryItem)
            .where(m.DeliveryItem.delivery_id == delivery.id)
            .order_by(col(m.DeliveryItem.position))
        ).all()
    )


def _box(i: int) -> list[dict[str, Any]]:
    return [{"category": CLASSES[i % 2], "bbox": [i, 2.0, 10.0, 5.5], "score": 0.5 + i / 100}]


def _jsonl(records: list[Any]) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


@pytest.mark.dbs
def test_lines_are_sorted_into_the_runs_chunks(session: Session, seeded: Seed) -> None:
    delivery = _delivery(session, seeded, "detection", n=30)
    items = _items(session, delivery)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(items))[:27]  # three items left out of the file
    body = _jsonl([{"item_id": items[i].key, "prediction": _box(int(i))} for i in order])
    body = body.replace(b"\n", b"\n\n", 2)  # blank lines are skipped
    buckets = dict(
        bucket_by_chunk(
            session,
            delivery.id or 0,
            io.BytesIO(body),
            CLASSES,
            n_positions=30,
            chunk_size=7,
            read_rows=4,
            reader=UPLOAD_READERS["detection_json_lines"],
        )
    )
    by_id = {it.id: it for it in items}
    seen = set()
    for chunk, blob in buckets.items():
        arrays = unpack(blob)
        assert set(arrays) == {"in_ids", "in_json"}
        for item_id in arrays["in_ids"].tolist():
            position = by_id[item_id].position
            assert position // 7 == chunk
            seen.add(position)
        ids = arrays["in_ids"]
        labels = [f"label of {i}" for i in ids.tolist()]
        kept, kept_labels, preds, missing = uploaded_rows(
            blob, ids, labels, len(ids), list(range(len(ids)))
        )
        assert kept.tolist() == ids.tolist() and kept_labels == labels and missing == 0
        for item_id, pred in zip(ids.tolist(), preds, strict=True):
            assert pred == _box(by_id[item_id].position)
    assert seen == {int(i) for i in order}


def test_a_chunk_job_gets_each_answers_prediction_and_counts_the_missing(
    session: Session, seeded: Seed
) -> None:
    delivery = _delivery(session, seeded, "transcription", n=6)
    items = _items(session, delivery)
    body = _jsonl([{"item_id": it.key, "prediction": f"text {it.position}"} for it in items[:4]])
    ((_, blob),) = bucket_by_chunk(
        session,
        delivery.id or 0,
        io.BytesIO(body),
        [],
        n_positions=6,
        chunk_size=10,
        reader=UPLOAD_READERS["transcription_json_lines"],
    )
    # two answers on item 1, one on items 2 and 5 (5 is not in the file)
    ids = np.asarray([items[1].id, items[1].id, items[2].id, items[5].id], dtype=np.int64)
    take = [0, 0, 1, 2]  # answers -> answered items (1, 2, 5)
    kept, labels, preds, missing = uploaded_rows(blob, ids, ["a", "b", "c", "d"], 3, take)
    assert kept.tolist() == ids[:3].tolist() and labels == ["a", "b", "c"]
    assert preds == ["text 1", "text 1", "text 2"] and missing == 1
    none = uploaded_rows(None, ids, ["a", "b", "c", "d"], 3, take)
    assert none[0].size == 0 and none[3] == 3


def test_reads_a_file_on_disk_in_blocks(session: Session, seeded: Seed, tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_bytes(_jsonl([{"item_id": f"p{i}", "prediction": _box(i)} for i in range(25)]))
    blocks = list(
        delivery_predictions.prediction_chunks(
            path, task_type="detection", classes=CLASSES, chunk_lines=10
        )
    )
    assert [len(b.keys) for b in blocks] == [10, 10, 5]
    assert [b.first_row for b in blocks] == [1, 11, 21]  # line numbers


GOOD = {"item_id": "p0", "prediction": _box(0)}


@pytest.mark.parametrize(
    ("line", "loc", "match"),
    [
        (b"{not json", ["body", "line 2"], "line 2: not JSON"),
        (b"[1, 2]", ["body", "line 2"], "expected an object"),
        ({"prediction": []}, ["body", "line 2", "item_id"], "field 'item_id': is missing"),
        ({"item_id": "p1"}, ["body", "line 2", "prediction"], "field 'prediction': is missing"),
        (
            {"item_id": "p1", "prediction": [], "label": "x"},
            ["body", "line 2", "label"],
            "field 'label': is not a field",
        ),
        ({"item_id": " ", "prediction": []}, ["body", "line 2", "item_id"], "non-empty"),
        (
            {"item_id": "p1", "prediction": [{"category": "car", "bbox": [0, 0, 1]}]},
            ["body", "line 2", "prediction", 0, "bbox", 3],
            "line 2, field 'prediction': not a list of detection objects",
        ),
        (
            {"item_id": "p1", "prediction": [{"category": "tram", "bbox": [0, 0, 1, 1]}]},
            ["body", "line 2", "prediction", 0, "category"],
            "tram",
        ),
        (
            {"item_id": "p1", "prediction": [{"category": "car", "bbox": [0, 0, 1, 1]}]},
            ["body", "line 2", "prediction", 0, "score"],
            "box 0 has no confidence 'score'",
        ),
        (
            {
                "item_id": "p1",
                "prediction": [{"category": "car", "bbox": [0, 0, 1, 1], "score": 1.5}],
            },
            ["body", "line 2", "prediction", 0, "score"],
            "not in \\[0, 1\\]",
        ),
        (
            {"item_id": "nope", "prediction": []},
            ["body", "row 2", "item_id"],
            "row 2, column 'item_id': 'nope' is not an item of delivery",
        ),
        (GOOD, ["body", "row 2", "item_id"], "'p0' is given twice \\(first in row 1\\)"),
    ],
    ids=[
        "not-json",
        "not-object",
        "no-item-id",
        "no-prediction",
        "extra-field",
        "empty-key",
        "bad-bbox",
        "unknown-class",
        "no-score",
        "score-range",
        "unknown-item",
        "twice",
    ],
)
def test_every_bad_line_is_a_422_naming_line_and_field(
    session: Session, seeded: Seed, line: Any, loc: list[Any], match: str
) -> None:
    delivery = _delivery(session, seeded, "detection", n=3)
    body = _jsonl([GOOD, line, {"item_id": "p2", "prediction": _box(2)}])
    for item in _items(session, delivery):  # the vendor-facing keys
        body = body.replace(f'"{item.source_key}"'.encode(), f'"{item.key}"'.encode())
    match = match.replace("'p0'", "'[^']+'")
    with pytest.raises(Invalid, match=match) as info:
        list(
            bucket_by_chunk(
                session,
                delivery.id or 0,
                io.BytesIO(body),
                CLASSES,
                n_positions=3,
                chunk_size=2,
                reader=UPLOAD_READERS["detection_json_lines"],
            )
        )
    assert list(info.value.location) == loc
    assert info.value.message.startswith(f"predictions: {loc[1]}")


@pytest.mark.parametrize(
    ("task_type", "prediction", "loc"),
    [
        ("spans", [{"start": 4, "end": 2, "type": "car"}], ["body", "line 1", "prediction", 0]),
        ("spans", [{"start": 0, "end": 2, "type": "car", "score": 0.9}], None),
        ("keypoints", [{"category": "car", "points": [[1, 2, 7]]}], None),
        ("segmentation", [{"category": "car", "segmentation": [[0, 1, "x"]]}], None),
        ("transcription", ["not", "a", "string"], ["body", "line 1", "prediction"]),
    ],
    ids=["span-order", "span-score", "keypoint-visibility", "polygon-number", "transcript"],
)
def test_each_task_type_uses_its_vendor_label_checks(
    task_type: TaskType, prediction: Any, loc: list[Any] | None
) -> None:
    body = _jsonl([{"item_id": "p0", "prediction": prediction}])
    with pytest.raises(Invalid, match="predictions: line 1, field 'prediction'") as info:
        list(
            delivery_predictions.prediction_chunks(
                io.BytesIO(body), task_type=task_type, classes=CLASSES, chunk_lines=5
            )
        )
    assert list(info.value.location[:3]) == ["body", "line 1", "prediction"]
    if loc is not None:
        assert list(info.value.location) == loc


def test_refuses_task_types_without_label_shaped_predictions() -> None:
    with pytest.raises(Invalid, match="label-shaped predictions are for"):
        list(
            delivery_predictions.prediction_chunks(
                io.BytesIO(b""), task_type="classification", classes=CLASSES, chunk_lines=5
            )
        )


def test_a_line_longer_than_the_limit_is_refused_by_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(delivery_predictions, "MAX_LINE_BYTES", 64)
    body = _jsonl(
        [{"item_id": "p0", "prediction": "hi"}, {"item_id": "p1", "prediction": "x" * 99}]
    )
    with pytest.raises(Invalid, match="line 2: is longer than 64 bytes"):
        list(
            delivery_predictions.prediction_chunks(
                io.BytesIO(body), task_type="transcription", classes=[], chunk_lines=5
            )
        )


def test_line_numbers_count_blank_lines() -> None:
    body = _jsonl([GOOD, b"", b"   ", {"item_id": "p1"}])
    with pytest.raises(Invalid, match="line 4, field 'prediction': is missing"):
        list(
            delivery_predictions.prediction_chunks(
                io.BytesIO(body), task_type="detection", classes=CLASSES, chunk_lines=5
            )
        )
    blocks = list(
        delivery_predictions.prediction_chunks(
            io.BytesIO(_jsonl([GOOD, b"", GOOD, GOOD])),
            task_type="detection",
            classes=CLASSES,
            chunk_lines=5,
        )
    )
    assert [(b.first_row, len(b.keys)) for b in blocks] == [(1, 1), (3, 2)]
