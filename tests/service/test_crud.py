"""CRUD, pagination, filtering and row-level access through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

import service.models as m

pytestmark = pytest.mark.dbs

ONTOLOGY = {"classes": [{"name": "low"}, {"name": "mid"}, {"name": "high"}], "ordinal": True}


def test_projects_crud_pagination_and_conflicts(
    client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    for i in range(5):
        body = {"name": f"p{i}", "task_type": "classification", "ontology": ONTOLOGY}
        assert client.post("/projects", json=body, headers=auth["lead"]).status_code == 201
    dup = client.post(
        "/projects",
        json={"name": "p0", "task_type": "classification", "ontology": ONTOLOGY},
        headers=auth["lead"],
    )
    assert dup.status_code == 409
    page = client.get("/projects", params={"skip": 1, "limit": 2}, headers=auth["viewer"]).json()
    assert page["count"] == 5 and [p["name"] for p in page["data"]] == ["p1", "p2"]
    assert page["data"][0]["ontology"]["ordinal"] is True
    pid = page["data"][0]["id"]
    patched = client.patch(f"/projects/{pid}", json={"description": "d"}, headers=auth["lead"])
    assert patched.json()["description"] == "d" and patched.json()["name"] == "p1"
    assert client.get(f"/projects/{pid + 100}", headers=auth["lead"]).status_code == 404
    bad = client.post(
        "/projects",
        json={"name": "x", "task_type": "tabular", "ontology": ONTOLOGY},
        headers=auth["lead"],
    )
    assert bad.status_code == 422
    assert client.delete(f"/projects/{pid}", headers=auth["admin"]).status_code == 204
    assert client.get("/projects", headers=auth["viewer"]).json()["count"] == 4


def test_instructions_are_versioned_with_examples(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    url = f"/projects/{seeded.project_id}/instructions"
    body = {
        "text": "# v2\nA cat on a poster is not a cat.",
        "examples": [
            {
                "title": "poster",
                "data": {"image": "poster.jpg"},
                "label": "cat",
                "counter_example": True,
                "explanation": "printed animals do not count",
            }
        ],
    }
    created = client.post(url, json=body, headers=auth["lead"])
    assert created.status_code == 201, created.text
    assert created.json()["version"] == 2
    assert created.json()["examples"][0]["counter_example"] is True
    listed = client.get(url, headers=auth["qa"]).json()
    assert [v["version"] for v in listed["data"]] == [1, 2]
    # a vendor sees only the version its bake-off pins
    vendor_view = client.get(url, headers=auth["vendor"]).json()
    assert [v["version"] for v in vendor_view["data"]] == [1]
    assert client.get(f"{url}/2", headers=auth["vendor"]).status_code == 403
    assert client.get(f"{url}/1", headers=auth["vendor"]).status_code == 200


def test_bakeoff_validation_and_candidate_aliases(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    body = {
        "name": "bad",
        "project_id": seeded.project_id,
        "golden_set_version_id": seeded.version_id,
        "instructions_version_id": seeded.instructions_id + 99,
        "vendor_ids": [seeded.vendor_id],
    }
    response = client.post("/bakeoffs", json=body, headers=auth["lead"])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "instructions_version_id"]
    got = client.get(f"/bakeoffs/{seeded.bakeoff_id}", headers=auth["viewer"]).json()
    assert got["vendor_ids"] == [seeded.vendor_id, seeded.other_vendor_id]
    assert got["status"] == "draft" and got["blinded"] is True
    running = client.patch(
        f"/bakeoffs/{seeded.bakeoff_id}", json={"status": "running"}, headers=auth["lead"]
    )
    assert running.json()["status"] == "running"
    locked = client.patch(
        f"/bakeoffs/{seeded.bakeoff_id}",
        json={"vendor_ids": [seeded.vendor_id]},
        headers=auth["lead"],
    )
    assert locked.status_code == 409
    filtered = client.get(
        "/bakeoffs",
        params={"status": "running", "vendor_id": seeded.other_vendor_id},
        headers=auth["viewer"],
    ).json()
    assert filtered["count"] == 1


def test_tasks_are_created_once_and_vendors_see_only_their_own(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    url = f"/bakeoffs/{seeded.bakeoff_id}/tasks"
    assert client.post(url, headers=auth["lead"]).json() == {"created": 12}
    assert client.post(url, headers=auth["lead"]).json() == {"created": 0}
    # a vendor sees its items only once they are sent (its latency clock starts then)
    assert client.get("/tasks", headers=auth["vendor"]).json()["count"] == 0
    own = client.get(
        "/tasks", params={"vendor_id": seeded.vendor_id, "limit": 100}, headers=auth["lead"]
    ).json()["data"]
    assert client.get(f"/tasks/{own[0]['id']}", headers=auth["vendor"]).status_code == 404
    sent = {"status": "sent", "sent_at": datetime.now(UTC).isoformat()}
    for task in own:
        assert client.patch(f"/tasks/{task['id']}", json=sent, headers=auth["lead"]).is_success
    assert client.get(f"/tasks/{own[0]['id']}", headers=auth["vendor"]).status_code == 200
    mine = client.get("/tasks", params={"limit": 100}, headers=auth["vendor"]).json()
    assert mine["count"] == 6
    assert {t["vendor_id"] for t in mine["data"]} == {seeded.vendor_id}
    assert all(t["item_data"]["image"].endswith(".jpg") for t in mine["data"])
    assert "cat" not in str(mine)  # no gold in what a vendor reads
    everyone = client.get("/tasks", params={"bakeoff_id": seeded.bakeoff_id}, headers=auth["qa"])
    assert everyone.json()["count"] == 12
    theirs = client.get(
        "/tasks", params={"vendor_id": seeded.other_vendor_id}, headers=auth["vendor"]
    )
    assert theirs.status_code == 403
    other_task = client.get(
        "/tasks", params={"vendor_id": seeded.other_vendor_id}, headers=auth["lead"]
    ).json()["data"][0]["id"]
    assert client.get(f"/tasks/{other_task}", headers=auth["vendor"]).status_code == 404
    # labels arriving mark the tasks received
    labels = {"labels": [{"item_key": k, "value": v} for k, v in seeded.gold.items()]}
    client.post(
        f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels",
        json=labels,
        headers=auth["vendor"],
    )
    received = client.get("/tasks", params={"status": "received"}, headers=auth["vendor"]).json()
    assert received["count"] == 6
    assert all(t["completed_at"] is not None for t in received["data"])
    patched = client.patch(
        f"/tasks/{other_task}",
        json={"status": "failed", "last_error": "timeout"},
        headers=auth["lead"],
    )
    assert patched.json()["status"] == "failed" and patched.json()["attempts"] == 0


def test_vendor_key_reads_only_its_own_vendor(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    own = client.get(f"/vendors/{seeded.vendor_id}", headers=auth["vendor"])
    assert own.status_code == 200
    other = client.get(f"/vendors/{seeded.other_vendor_id}", headers=auth["vendor"])
    assert other.status_code == 403
    assert "Other Vendor" not in other.text
    listed = client.get(f"/bakeoffs/{seeded.bakeoff_id}/labels", headers=auth["vendor"])
    assert listed.status_code == 403


def test_vendor_crud_and_delete_refused_while_used(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    created = client.post(
        "/vendors",
        json={
            "name": "Acme",
            "adapter_kind": "simulator",
            "price_per_item": 0.03,
            "price_per_label": 0.01,
            "price_per_hour": 12.5,
            "minimum_commitment": 1000,
        },
        headers=auth["lead"],
    )
    assert created.status_code == 201
    vid = created.json()["id"]
    assert (
        client.get("/vendors", params={"adapter_kind": "simulator"}, headers=auth["qa"]).json()[
            "count"
        ]
        == 1
    )
    patched = client.patch(f"/vendors/{vid}", json={"price_per_item": 0.04}, headers=auth["lead"])
    assert patched.json()["price_per_item"] == 0.04
    assert (
        client.delete(f"/vendors/{seeded.other_vendor_id}", headers=auth["admin"]).status_code
        == 409
    )
    assert client.delete(f"/vendors/{vid}", headers=auth["admin"]).status_code == 204


def test_api_keys_are_shown_once_and_stored_hashed(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    created = client.post(
        "/api-keys",
        json={"name": "acme-bot", "role": "vendor", "vendor_id": seeded.other_vendor_id},
        headers=auth["admin"],
    )
    assert created.status_code == 201
    key = created.json()["key"]
    listed = client.get("/api-keys", headers=auth["admin"]).text
    assert key not in listed and "acme-bot" in listed
    me = client.get("/api-keys/me", headers={"X-API-Key": key}).json()
    assert me["role"] == "vendor" and me["vendor_id"] == seeded.other_vendor_id
    missing_vendor = client.post(
        "/api-keys", json={"name": "x", "role": "vendor"}, headers=auth["admin"]
    )
    assert missing_vendor.status_code == 422


def test_a_project_scoped_lead_key_sees_only_its_project(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    other = client.post(
        "/projects",
        json={"name": "other", "task_type": "classification", "ontology": ONTOLOGY},
        headers=auth["lead"],
    ).json()
    created = client.post(
        "/api-keys",
        json={"name": "scoped", "role": "lead", "project_id": seeded.project_id},
        headers=auth["admin"],
    ).json()
    scoped = {"X-API-Key": created["key"]}
    listed = client.get("/projects", headers=scoped).json()
    assert [p["id"] for p in listed["data"]] == [seeded.project_id]
    assert client.get(f"/projects/{other['id']}", headers=scoped).status_code == 403
    refused = client.post(
        "/golden-sets", json={"name": "x", "project_id": other["id"]}, headers=scoped
    )
    assert refused.status_code == 403
    assert client.get("/bakeoffs", headers=scoped).json()["count"] == 1
    assert client.get(f"/bakeoffs/{seeded.bakeoff_id}/results", headers=scoped).status_code == 200


def test_sending_masked_settings_back_keeps_the_secret(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    secret = "s3cret-webhook-key-0001"
    created = client.post(
        "/vendors",
        json={
            "name": "Round Trip Labs",
            "adapter_kind": "http",
            "adapter_settings": {"base_url": "http://a.example", "webhook_secret": secret},
        },
        headers=auth["lead"],
    ).json()
    read = client.get(f"/vendors/{created['id']}", headers=auth["lead"]).json()
    assert read["adapter_settings"]["webhook_secret"] == "********"
    settings = dict(read["adapter_settings"], timeout_s=3)
    patched = client.patch(
        f"/vendors/{created['id']}", json={"adapter_settings": settings}, headers=auth["lead"]
    )
    assert patched.status_code == 200, patched.text
    stored = session.get(m.Vendor, created["id"])
    assert stored is not None
    session.refresh(stored)
    assert stored.adapter_settings == {
        "base_url": "http://a.example",
        "webhook_secret": secret,
        "timeout_s": 3,
    }
    # pointing it elsewhere with the mask drops the secret: it never follows a new endpoint
    moved = dict(read["adapter_settings"], base_url="http://b.example")
    patched = client.patch(
        f"/vendors/{created['id']}", json={"adapter_settings": moved}, headers=auth["lead"]
    )
    assert patched.status_code == 200, patched.text
    session.refresh(stored)
    assert stored.adapter_settings == {"base_url": "http://b.example"}
