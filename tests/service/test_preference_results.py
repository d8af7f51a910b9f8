"""A preference bake-off through the API: import, labels, results read from the engine."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import cohen_kappa_score

pytestmark = pytest.mark.dbs

_GOLD = ["A", "B", "tie", "A", "B", "A", "B", "A"]
_VENDOR = ["A", "A", "tie", "A", "B", "tie", "B", "A"]


def _bakeoff(client: TestClient, lead: dict[str, str], vendor_id: int) -> int:
    project = client.post(
        "/projects",
        json={
            "name": "prefs",
            "task_type": "preference",
            "ontology": {"classes": [{"name": "A"}, {"name": "B"}, {"name": "tie"}]},
        },
        headers=lead,
    )
    assert project.status_code in (200, 201), project.text
    pid = project.json()["id"]
    gs = client.post("/golden-sets", json={"name": "g", "project_id": pid}, headers=lead).json()
    blob = "\n".join(
        json.dumps({"item_id": f"i{i}", "label": g}) for i, g in enumerate(_GOLD)
    ).encode()
    imported = client.post(f"/golden-sets/{gs['id']}/import", content=blob, headers=lead)
    assert imported.status_code == 201, imported.text
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    ins = client.post(
        f"/projects/{pid}/instructions", json={"text": "pick the better reply"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": pid,
            "golden_set_version_id": version["id"],
            "instructions_version_id": ins["id"],
            "vendor_ids": [vendor_id],
        },
        headers=lead,
    )
    assert bakeoff.status_code in (200, 201), bakeoff.text
    return int(bakeoff.json()["id"])


def test_preference_results_equal_sklearn(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    bid = _bakeoff(client, lead, key_vendor.id)
    labels = [{"item_key": f"i{i}", "value": v} for i, v in enumerate(_VENDOR)]
    posted = client.post(
        f"/bakeoffs/{bid}/vendors/{key_vendor.id}/labels", json={"labels": labels}, headers=lead
    )
    assert posted.status_code == 200, posted.text
    result = client.get(f"/bakeoffs/{bid}/results", headers=lead).json()["vendors"][0]
    assert result["main_metric"] == "agreement"
    assert result["main_value"] == pytest.approx(6 / 8)
    assert result["metrics"]["agreement_without_ties"] == pytest.approx(5 / 6)
    assert result["metrics"]["cohen_kappa"] == pytest.approx(
        cohen_kappa_score(_GOLD, _VENDOR), abs=1e-9
    )


def test_a_preference_outside_a_b_tie_is_a_422(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    bid = _bakeoff(client, lead, key_vendor.id)
    posted = client.post(
        f"/bakeoffs/{bid}/vendors/{key_vendor.id}/labels",
        json={"labels": [{"item_key": "i0", "value": "C"}]},
        headers=lead,
    )
    assert posted.status_code == 422, posted.text
    assert "'A', 'B' or 'tie'" in posted.text or "unknown class" in posted.text
