"""Deliveries through the HTTP API: roles, 422 on bad input, the vendor's batch, import, quality."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from tests.service.conftest import Seed

Headers = dict[str, dict[str, str]]


def _body(seeded: Seed, **extra: object) -> dict[str, object]:
    return {
        "name": "week 1",
        "project_id": seeded.project_id,
        "vendor_id": seeded.vendor_id,
        "golden_set_version_id": seeded.version_id,
        "honeypot_rate": 0.1,
        "seed": 5,
        "items": [{"key": f"p{i}", "data": {"image": f"p/{i}.jpg"}} for i in range(54)],
        **extra,
    }


def test_a_delivery_round_trip_through_the_api(
    client: TestClient, seeded: Seed, auth: Headers
) -> None:
    created = client.post("/deliveries", json=_body(seeded), headers=auth["lead"])
    assert created.status_code == 201, created.text
    delivery = created.json()
    assert (delivery["n_items"], delivery["n_honeypots"], delivery["progress"]) == (54, 6, 0.0)
    did = delivery["id"]
    # the vendor reads its batch; QA and viewers may not
    batch = client.get(f"/deliveries/{did}/batch", headers=auth["vendor"])
    assert batch.status_code == 200, batch.text
    items = batch.json()["items"]
    assert len(items) == 60 and all(set(i) == {"item_id", "data"} for i in items)
    assert client.get(f"/deliveries/{did}/batch", headers=auth["qa"]).status_code == 403
    # the vendor answers every item (one honeypot wrong) and uploads its file
    lines = [
        json.dumps({"item_id": i["item_id"], "label": "cat", "annotator_id": "a1"}) for i in items
    ]
    imported = client.post(
        f"/deliveries/{did}/labels/import?format=jsonl",
        content=("\n".join(lines) + "\n").encode(),
        headers={**auth["vendor"], "Content-Type": "application/x-ndjson"},
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["stored"] == 60
    read = client.get(f"/deliveries/{did}", headers=auth["viewer"]).json()
    assert read["status"] == "labeled" and read["progress"] == 1.0
    quality = client.get(f"/deliveries/{did}/quality", headers=auth["qa"])
    assert quality.status_code == 200, quality.text
    q = quality.json()
    assert q["metric"] == "accuracy" and q["overall"]["n_honeypots"] == 6
    # "cat" is right on the honeypots whose gold is cat (img-1, img-4, img-6 of six)
    assert 0 < q["overall"]["value"] < 1
    assert q["design"]["false_alarm_rate"] > 0 and q["alerts"][0]["n_outcomes"] == 6
    listed = client.get(f"/deliveries?project_id={seeded.project_id}", headers=auth["viewer"])
    assert listed.json()["count"] == 1


def test_bad_input_is_422_naming_the_place(client: TestClient, seeded: Seed, auth: Headers) -> None:
    lead = auth["lead"]
    cases = [
        (_body(seeded, honeypot_rate=1.5), ["body", "honeypot_rate"]),
        (_body(seeded, items=[]), ["body", "items"]),
        (_body(seeded, agreed_accuracy=0.8, alert_accuracy=0.9), ["body", "alert_accuracy"]),
        (
            _body(seeded, items=[{"key": "a", "data": {}}, {"key": "a", "data": {}}]),
            ["body", "items", 1, "key"],
        ),
        (_body(seeded, golden_set_version_id=None), ["body", "golden_set_version_id"]),
    ]
    for body, loc in cases:
        response = client.post("/deliveries", json=body, headers=lead)
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == loc, response.text
    did = client.post("/deliveries", json=_body(seeded), headers=lead).json()["id"]
    bad = client.post(
        f"/deliveries/{did}/labels/import?format=jsonl",
        content=b'{"item_id": "nope", "label": "cat"}\n',
        headers={**lead, "Content-Type": "application/x-ndjson"},
    )
    assert bad.status_code == 422 and "not an item of delivery" in bad.text
    assert client.post("/deliveries", json=_body(seeded), headers=auth["qa"]).status_code == 403
    assert client.get("/deliveries/999999", headers=lead).status_code == 404


def test_a_vendor_or_golden_set_in_use_by_a_delivery_is_not_deleted(
    client: TestClient, seeded: Seed, auth: Headers
) -> None:
    made = client.post(
        "/vendors",
        json={"name": "Production Only Ltd.", "adapter_kind": "file"},
        headers=auth["lead"],
    ).json()
    body = _body(seeded, vendor_id=made["id"])
    assert client.post("/deliveries", json=body, headers=auth["lead"]).status_code == 201
    refused = client.delete(f"/vendors/{made['id']}", headers=auth["admin"])
    assert refused.status_code == 409, refused.text
    assert client.get(f"/vendors/{made['id']}", headers=auth["admin"]).status_code == 200
