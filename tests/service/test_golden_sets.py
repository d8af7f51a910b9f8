"""Golden sets through the API: import, versions, frozen gold, corrections, export."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytestmark = pytest.mark.dbs


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


@pytest.fixture
def project_id(client: TestClient, auth: dict[str, dict[str, str]]) -> int:
    response = client.post(
        "/projects",
        json={
            "name": "cars",
            "task_type": "detection",
            "ontology": {"classes": [{"name": "car"}, {"name": "truck"}]},
        },
        headers=auth["lead"],
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


@pytest.fixture
def golden_set_id(client: TestClient, auth: dict[str, dict[str, str]], project_id: int) -> int:
    response = client.post(
        "/golden-sets", json={"name": "street", "project_id": project_id}, headers=auth["lead"]
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


ROWS = [
    {
        "item_id": f"s-{i}",
        "data": {"image": f"s-{i}.png", "width": 640, "height": 480},
        "metadata": {"lighting": "dim" if i % 2 else "bright"},
        "label": [{"category": "car", "bbox": [10.0 * i, 20.0, 30.0, 40.0]}],
    }
    for i in range(5)
]


def test_import_creates_a_version_and_export_round_trips(
    client: TestClient, auth: dict[str, dict[str, str]], golden_set_id: int
) -> None:
    url = f"/golden-sets/{golden_set_id}/import?format=jsonl&note=expert+v1"
    response = client.post(url, content=_jsonl(ROWS), headers=auth["lead"])
    assert response.status_code == 201, response.text
    assert response.json()["stored"] == 5 and response.json()["golden_set_version"] == 1
    version = client.get(f"/golden-sets/{golden_set_id}/versions/1", headers=auth["qa"]).json()
    assert version["item_count"] == 5 and version["note"] == "expert v1"
    dim = client.get(
        f"/golden-sets/{golden_set_id}/items", params={"meta": "lighting=dim"}, headers=auth["qa"]
    ).json()
    assert sorted(i["key"] for i in dim["data"]) == ["s-1", "s-3"] and dim["count"] == 2
    exported = client.get(
        f"/golden-sets/{golden_set_id}/versions/1/export?format=jsonl", headers=auth["qa"]
    )
    assert exported.status_code == 200
    back = [json.loads(line) for line in exported.text.splitlines() if line.strip()]
    assert [(r["item_id"], r["label"], r["metadata"]) for r in back] == [
        (r["item_id"], r["label"], r["metadata"]) for r in ROWS
    ]


def test_a_bad_row_is_422_naming_the_line_and_stores_nothing(
    client: TestClient, auth: dict[str, dict[str, str]], golden_set_id: int
) -> None:
    rows = [*ROWS[:3], {**ROWS[3], "label": [{"category": "bus", "bbox": [0, 0, 1, 1]}]}]
    url = f"/golden-sets/{golden_set_id}/import?format=jsonl&filename=gold.jsonl"
    response = client.post(url, content=_jsonl(rows), headers=auth["lead"])
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert "record 4" in detail["loc"] and "unknown class 'bus'" in detail["msg"]
    versions = client.get(f"/golden-sets/{golden_set_id}/versions", headers=auth["lead"]).json()
    items = client.get(f"/golden-sets/{golden_set_id}/items", headers=auth["lead"]).json()
    assert versions["count"] == 0 and items["count"] == 0


def test_malformed_json_is_422_naming_the_line(
    client: TestClient, auth: dict[str, dict[str, str]], golden_set_id: int
) -> None:
    blob = _jsonl(ROWS[:2]) + b"\n{not json\n"
    url = f"/golden-sets/{golden_set_id}/import?format=jsonl&filename=gold.jsonl"
    response = client.post(url, content=blob, headers=auth["lead"])
    assert response.status_code == 422
    assert "gold.jsonl: line 3" in response.json()["detail"][0]["msg"]


def test_correction_makes_a_new_version_and_pinned_gold_is_frozen(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    gs = seeded.golden_set_id
    frozen = client.post(
        f"/golden-sets/{gs}/versions/1/labels",
        json={"labels": [{"item_key": "img-1", "value": "dog"}]},
        headers=auth["lead"],
    )
    assert frozen.status_code == 409, frozen.text
    corrected = client.post(
        f"/golden-sets/{gs}/corrections",
        json={"labels": [{"item_key": "img-1", "value": "dog"}], "note": "expert fix"},
        headers=auth["qa"],
    )
    assert corrected.status_code == 201, corrected.text
    assert corrected.json()["version"] == 2 and corrected.json()["item_count"] == 6
    v1 = client.get(f"/golden-sets/{gs}/versions/1/labels", headers=auth["qa"]).json()
    v2 = client.get(f"/golden-sets/{gs}/versions/2/labels", headers=auth["qa"]).json()
    old = {r["item_key"]: r["value"] for r in v1["data"]}
    new = {r["item_key"]: r["value"] for r in v2["data"]}
    assert old == seeded.gold
    assert new == {**seeded.gold, "img-1": "dog"}
    bakeoff = client.get(f"/bakeoffs/{seeded.bakeoff_id}", headers=auth["lead"]).json()
    assert bakeoff["golden_set_version_id"] == seeded.version_id


def test_vendor_keys_never_see_gold(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    gs = seeded.golden_set_id
    for url in (
        f"/golden-sets/{gs}/versions/1/labels",
        f"/golden-sets/{gs}/versions/1/export",
        f"/golden-sets/{gs}/items",
        f"/golden-sets/{gs}",
    ):
        response = client.get(url, headers=auth["vendor"])
        assert response.status_code == 403, url
        assert "cat" not in response.text and "dog" not in response.text


def test_reimport_makes_version_two_and_updates_metadata(
    client: TestClient, auth: dict[str, dict[str, str]], golden_set_id: int
) -> None:
    url = f"/golden-sets/{golden_set_id}/import"
    assert client.post(url, content=_jsonl(ROWS), headers=auth["lead"]).status_code == 201
    changed = [{**ROWS[0], "metadata": {"lighting": "night"}}, *ROWS[1:]]
    again = client.post(url, content=_jsonl(changed), headers=auth["lead"])
    assert again.status_code == 201 and again.json()["golden_set_version"] == 2
    items = client.get(f"/golden-sets/{golden_set_id}/items", headers=auth["qa"]).json()
    assert items["count"] == 5
    assert {i["key"]: i["meta"]["lighting"] for i in items["data"]}["s-0"] == "night"
    merged = client.post(
        url, params={"merge": "true"}, content=_jsonl(ROWS[:1]), headers=auth["lead"]
    ).json()
    version = client.get(f"/golden-sets/{golden_set_id}/versions/3", headers=auth["qa"]).json()
    assert merged["golden_set_version"] == 3 and version["item_count"] == 5


def test_gold_import_with_the_same_idempotency_key_is_stored_once(
    client: TestClient, auth: dict[str, dict[str, str]], golden_set_id: int
) -> None:
    url = f"/golden-sets/{golden_set_id}/import"
    headers = {**auth["lead"], "Idempotency-Key": "gold-upload-1"}
    first = client.post(url, content=_jsonl(ROWS), headers=headers)
    again = client.post(url, content=_jsonl(ROWS), headers=headers)
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["replayed"] is True and again.json()["golden_set_version"] == 1
    versions = client.get(f"/golden-sets/{golden_set_id}/versions", headers=auth["lead"]).json()
    assert versions["count"] == 1
    clash = client.post(url, content=_jsonl(ROWS[:2]), headers=headers)
    assert clash.status_code == 409
