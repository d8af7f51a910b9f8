"""The results endpoint: metrics from metrics/, blinding, recomputation when data change."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

pytestmark = pytest.mark.dbs


def _post(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    seeded: Any,
    vendor_id: int,
    labels: list[dict[str, Any]],
) -> None:
    response = client.post(
        f"/bakeoffs/{seeded.bakeoff_id}/vendors/{vendor_id}/labels",
        json={"labels": labels},
        headers=auth["lead"],
    )
    assert response.status_code == 200, response.text


def test_results_match_sklearn_and_follow_new_labels(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    keys = list(seeded.gold)
    answers = dict(seeded.gold, **{"img-3": "cat", "img-5": "cat"})
    _post(
        client,
        auth,
        seeded,
        seeded.vendor_id,
        [{"item_key": k, "value": answers[k], "cost": 0.05} for k in keys],
    )
    url = f"/bakeoffs/{seeded.bakeoff_id}/results"
    first = client.get(url, headers=auth["viewer"])
    assert first.status_code == 200, first.text
    body = first.json()
    a, b = body["vendors"]
    y_true = [seeded.gold[k] for k in keys]
    y_pred = [answers[k] for k in keys]
    assert a["vendor"] == "Key Vendor Inc." and a["main_metric"] == "accuracy"
    assert a["main_value"] == pytest.approx(accuracy_score(y_true, y_pred), abs=1e-9)
    assert a["metrics"]["macro_f1"] == pytest.approx(
        f1_score(y_true, y_pred, average="macro"), abs=1e-9
    )
    assert a["metrics"]["cohen_kappa"] == pytest.approx(cohen_kappa_score(y_true, y_pred), abs=1e-9)
    assert a["total_cost"] == pytest.approx(0.30)
    assert a["cost_per_correct"] == pytest.approx(0.30 / 4)
    assert b["n_labelled"] == 0 and b["main_value"] is None
    # vendor B: three annotators, majority vote per item; two items only
    _post(
        client,
        auth,
        seeded,
        seeded.other_vendor_id,
        [
            {"item_key": "img-1", "value": v, "annotator_id": w}
            for v, w in (("cat", "w1"), ("cat", "w2"), ("dog", "w3"))
        ]
        + [
            {"item_key": "img-2", "value": v, "annotator_id": w}
            for v, w in (("bird", "w1"), ("bird", "w2"), ("dog", "w3"))
        ],
    )
    second = client.get(url, headers=auth["viewer"]).json()
    assert second["data_version"] > body["data_version"]
    b = second["vendors"][1]
    assert b["n_labels"] == 6 and b["n_labelled"] == 2
    assert b["coverage"] == pytest.approx(2 / 6)
    # main_value is the ranking metric over all 6 gold items (unanswered = wrong), as in the
    # report; the answered-only accuracy is metrics["accuracy"]: img-1 right, img-2 wrong
    assert b["main_value"] == pytest.approx(1 / 6)
    assert b["metrics"]["accuracy"] == pytest.approx(0.5)
    assert b["metrics"]["accuracy_all"] == pytest.approx(1 / 6)
    assert b["status"] == "not_enough_results"  # coverage 1/3 is below the 0.95 floor
    assert b["scores"]["n_ties"] == 0 and b["scores"]["metrics"]["accuracy"]["low"] < 0.5
    assert b["total_cost"] == pytest.approx(0.02 * 2)  # price_per_item x labelled items


def test_qa_sees_candidates_blinded_until_a_lead_unblinds(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    url = f"/bakeoffs/{seeded.bakeoff_id}/results"
    blind = client.get(url, headers=auth["qa"]).json()
    assert [v["vendor"] for v in blind["vendors"]] == ["Candidate A", "Candidate B"]
    assert all(v["vendor_id"] is None for v in blind["vendors"]) and blind["blinded"] is True
    assert "Key Vendor" not in str(blind)
    client.patch(f"/bakeoffs/{seeded.bakeoff_id}", json={"blinded": False}, headers=auth["lead"])
    open_ = client.get(url, headers=auth["qa"]).json()
    assert [v["vendor"] for v in open_["vendors"]] == ["Key Vendor Inc.", "Other Vendor Ltd."]
    assert client.get(url, headers=auth["vendor"]).status_code == 403


def test_moving_to_a_corrected_gold_version_recomputes(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    _post(
        client,
        auth,
        seeded,
        seeded.vendor_id,
        [{"item_key": k, "value": v} for k, v in seeded.gold.items()],
    )
    url = f"/bakeoffs/{seeded.bakeoff_id}/results"
    assert client.get(url, headers=auth["lead"]).json()["vendors"][0]["main_value"] == 1.0
    corrected = client.post(
        f"/golden-sets/{seeded.golden_set_id}/corrections",
        json={"labels": [{"item_key": "img-1", "value": "bird"}]},
        headers=auth["qa"],
    ).json()
    assert client.get(url, headers=auth["lead"]).json()["vendors"][0]["main_value"] == 1.0
    client.patch(
        f"/bakeoffs/{seeded.bakeoff_id}",
        json={"golden_set_version_id": corrected["id"]},
        headers=auth["lead"],
    )
    moved = client.get(url, headers=auth["lead"]).json()
    assert moved["golden_set_version_id"] == corrected["id"]
    assert moved["vendors"][0]["main_value"] == pytest.approx(5 / 6)


def test_detection_results_use_box_matching(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    project = client.post(
        "/projects",
        json={
            "name": "boxes",
            "task_type": "detection",
            "ontology": {"classes": [{"name": "car"}, {"name": "truck"}]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    gold = [
        {"item_id": f"i{i}", "label": [{"category": "car", "bbox": [10 * i, 10, 20, 20]}]}
        for i in range(5)
    ]
    blob = "\n".join(json.dumps(g) for g in gold).encode()
    imported = client.post(f"/golden-sets/{gs['id']}/import", content=blob, headers=lead).json()
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    instructions = client.post(
        f"/projects/{project['id']}/instructions", json={"text": "box every car"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": project["id"],
            "golden_set_version_id": version["id"],
            "instructions_version_id": instructions["id"],
            "vendor_ids": [key_vendor.id],
        },
        headers=lead,
    ).json()
    assert imported["stored"] == 5
    labels = [
        {
            "item_key": f"i{i}",
            "value": [{"category": "car", "bbox": [10 * i + (15 if i == 0 else 1), 10, 20, 20]}],
        }
        for i in range(5)
    ]
    posted = client.post(
        f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels",
        json={"labels": labels},
        headers=lead,
    )
    assert posted.status_code == 200, posted.text
    result = client.get(f"/bakeoffs/{bakeoff['id']}/results", headers=lead).json()["vendors"][0]
    # the main metric is per-image F1 @ IoU 0.5 (never "accuracy"); i0's box is off
    assert result["main_metric"] == "per_image_f1"
    assert result["main_title"] == "per-image F1 @ IoU 0.5"
    assert result["metrics"]["box_precision"] == pytest.approx(0.8)
    assert result["metrics"]["box_recall"] == pytest.approx(0.8)
    assert result["main_value"] == pytest.approx(0.8)


def _square(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y, x + size, y, x + size, y + size, x, y + size]]


def test_segmentation_results_use_mask_iou(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    project = client.post(
        "/projects",
        json={
            "name": "masks",
            "task_type": "segmentation",
            "ontology": {"classes": [{"name": "cell"}]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    gold = [
        {
            "item_id": f"m{i}",
            "data": {"width": 100, "height": 100},
            "label": [{"category": "cell", "segmentation": _square(10, 10, 40)}],
        }
        for i in range(2)
    ]
    blob = "\n".join(json.dumps(g) for g in gold).encode()
    assert (
        client.post(f"/golden-sets/{gs['id']}/import", content=blob, headers=lead).status_code
        == 201
    )
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    ins = client.post(
        f"/projects/{project['id']}/instructions", json={"text": "outline cells"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": project["id"],
            "golden_set_version_id": version["id"],
            "instructions_version_id": ins["id"],
            "vendor_ids": [key_vendor.id],
        },
        headers=lead,
    ).json()
    labels = [
        {"item_key": "m0", "value": [{"category": "cell", "segmentation": _square(10, 10, 40)}]},
        {"item_key": "m1", "value": [{"category": "cell", "segmentation": _square(55, 55, 40)}]},
    ]
    posted = client.post(
        f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels",
        json={"labels": labels},
        headers=lead,
    )
    assert posted.status_code == 200, posted.text
    result = client.get(f"/bakeoffs/{bakeoff['id']}/results", headers=lead).json()["vendors"][0]
    assert result["main_metric"] == "per_image_f1"
    assert result["main_title"] == "per-image mask F1 @ IoU 0.5"
    assert result["metrics"]["mask_precision"] == pytest.approx(0.5)
    assert result["metrics"]["mask_recall"] == pytest.approx(0.5)
    assert result["metrics"]["mean_iou"] == pytest.approx(1.0)


def test_cost_counts_once_and_an_unreturned_item_costs_the_deadline(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any, session: Any
) -> None:
    """Tasks and labels both report the cost (as the dispatcher stores it): count it once.

    /results used to add the two (the demo's 84.00 against the report's 42.00). An item
    sent but never returned costs the dispatch deadline in latency.
    """
    from datetime import UTC, datetime, timedelta

    import numpy as np
    from sqlmodel import select

    import service.models as m
    from service.core.config import get_settings
    from service.domain.reporting import bakeoff_report

    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    items = {i.key: i.id for i in session.exec(select(m.GoldenItem)).all() if i.key in seeded.gold}
    keys = sorted(seeded.gold)
    for key in keys:
        returned = key != keys[-1]
        session.add(
            m.Task(
                bakeoff_id=seeded.bakeoff_id,
                vendor_id=seeded.vendor_id,
                item_id=items[key],
                status="received" if returned else "timed_out",
                sent_at=t0,
                completed_at=t0 + timedelta(hours=1) if returned else None,
                cost=0.05 if returned else None,
            )
        )
    session.commit()
    _post(
        client,
        auth,
        seeded,
        seeded.vendor_id,
        [{"item_key": k, "value": seeded.gold[k], "cost": 0.05} for k in keys[:-1]],
    )
    body = client.get(f"/bakeoffs/{seeded.bakeoff_id}/results", headers=auth["lead"]).json()
    vendor = body["vendors"][0]
    assert vendor["total_cost"] == pytest.approx(5 * 0.05)  # not 0.50
    scores = vendor["scores"]
    assert scores["cost_per_item"]["value"] == pytest.approx(0.25 / 6)  # all gold items
    assert scores["cost_per_correct"]["value"] == pytest.approx(0.25 / 5)
    deadline = get_settings().dispatch_task_timeout_s
    assert scores["deadline_s"] == deadline and scores["n_unreturned"] == 1
    assert scores["latency"]["max_s"]["value"] == deadline
    expected_p95 = float(np.percentile([3600.0] * 5 + [deadline], 95))
    assert vendor["latency_p95_s"] == pytest.approx(expected_p95)
    report = bakeoff_report(session=session, bakeoff_id=seeded.bakeoff_id, n_resamples=200)
    reported = report.scores["Key Vendor Inc."]
    assert reported.total_cost == pytest.approx(vendor["total_cost"])
    row = next(r for r in report.ranking.systems if r.name == "Key Vendor Inc.")
    assert row.p95_latency_s is not None
    assert row.p95_latency_s.value == pytest.approx(expected_p95)


def test_a_file_vendors_latency_comes_from_its_labels_times(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any, session: Any
) -> None:
    """Importing labels marks their tasks completed, with no dispatch time: the engine reads
    no such task (nothing to score in it) and times each item by its label."""
    from datetime import UTC, datetime, timedelta

    from sqlmodel import select

    import service.models as m
    from service.domain.stored_labels import task_frame

    t0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    keys = sorted(seeded.gold)
    items = {i.key: i.id for i in session.exec(select(m.GoldenItem)).all() if i.key in seeded.gold}
    for key in keys:
        session.add(
            m.Task(
                bakeoff_id=seeded.bakeoff_id,
                vendor_id=seeded.vendor_id,
                item_id=items[key],
                status="pending",
            )
        )
    session.commit()
    _post(
        client,
        auth,
        seeded,
        seeded.vendor_id,
        [
            {
                "item_key": k,
                "value": seeded.gold[k],
                "started_at": t0.isoformat(),
                "completed_at": (t0 + timedelta(seconds=30 * (i + 1))).isoformat(),
            }
            for i, k in enumerate(keys)
        ],
    )
    marked = session.exec(select(m.Task).where(m.Task.bakeoff_id == seeded.bakeoff_id)).all()
    assert marked and all(t.completed_at is not None and t.sent_at is None for t in marked)
    assert task_frame(session, seeded.bakeoff_id).empty
    body = client.get(f"/bakeoffs/{seeded.bakeoff_id}/results", headers=auth["lead"]).json()
    scores = body["vendors"][0]["scores"]
    assert scores["latency"]["max_s"]["value"] == pytest.approx(30.0 * len(keys))
    assert scores["n_unreturned"] == 0
