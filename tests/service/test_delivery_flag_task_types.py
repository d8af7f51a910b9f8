"""Which task types a delivery can be flagged for: those with a chunked flagger and a source of
predictions; every other one is a 422 that names the supported types and why this one is not."""

from __future__ import annotations

from typing import get_args

import pytest
from fastapi.testclient import TestClient

from metrics.chunked_flags import FLAGGER_MODULES
from metrics.scoring.base import TaskType
from service.domain.delivery_probs import PREDICTION_SOURCES, UNFLAGGABLE, UPLOAD_READERS
from tests.service.conftest import Seed

Headers = dict[str, dict[str, str]]


def test_every_task_type_is_flaggable_or_has_its_reason() -> None:
    flaggable = set(FLAGGER_MODULES) & set(PREDICTION_SOURCES)
    assert flaggable == set(get_args(TaskType))  # every task type the engine scores
    assert set(UNFLAGGABLE) == set(get_args(TaskType)) - flaggable
    assert set(FLAGGER_MODULES) <= set(get_args(TaskType))
    assert {s.upload for s in PREDICTION_SOURCES.values()} <= set(UPLOAD_READERS)


def test_every_flag_door_refuses_an_unsupported_task_type_saying_why(
    client: TestClient, seeded: Seed, auth: Headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every task type has flags now: take one's flagger and predictions away for the refusal.
    task_type = "transcription"
    monkeypatch.delitem(FLAGGER_MODULES, task_type)
    monkeypatch.delitem(PREDICTION_SOURCES, task_type)
    monkeypatch.setitem(UNFLAGGABLE, task_type, "no flagger for it (this test)")
    lead, qa = auth["lead"], auth["qa"]
    ontology = {"classes": [{"name": "car"}, {"name": "bus"}]}
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
            "items": [{"key": "p0", "data": {"image": "p0.jpg"}}],
        },
        headers=lead,
    )
    assert delivery.status_code == 201, delivery.text
    did = delivery.json()["id"]
    csv = qa | {"Content-Type": "text/csv"}
    answers = [
        client.post(f"/deliveries/{did}/flags", content=b"item_id,car,bus\n", headers=csv),
        client.post(f"/deliveries/{did}/flags/runs/upload", content=b"item_id\n", headers=csv),
        client.post(f"/deliveries/{did}/flags/runs", json={"model": "m.joblib"}, headers=qa),
        client.post(f"/deliveries/{did}/flags/model", json={"model": "m.joblib"}, headers=qa),
    ]
    for answer in answers:
        assert answer.status_code == 422, answer.text
        (detail,) = answer.json()["detail"]
        assert detail["type"] == "task_type_not_supported"
        assert detail["loc"] == ["path", "delivery_id"]
        assert "support task types ['classification', 'detection', 'keypoints'" in detail["msg"]
        assert f"is {task_type!r}: {UNFLAGGABLE[task_type]}" in detail["msg"]
