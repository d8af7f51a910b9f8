"""``?question=`` picks a Label Studio question (``from_name``) on the API's gold and vendor
imports; without it a two-question project is refused with the question names (422)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.testclient import TestClient


def _choices(question: str, label: str) -> dict[str, Any]:
    return {
        "type": "choices",
        "from_name": question,
        "to_name": "text",
        "value": {"choices": [label]},
    }


def _export(answers: dict[str, tuple[str, str]]) -> bytes:
    return json.dumps(
        [
            {
                "data": {"item_id": item, "text": f"text {item}"},
                "annotations": [
                    {"completed_by": 7, "result": [_choices("sentiment", s), _choices("topic", t)]}
                ],
            }
            for item, (s, t) in answers.items()
        ]
    ).encode()


def test_question_on_gold_and_vendor_imports(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    project = client.post(
        "/projects",
        json={
            "name": "p",
            "task_type": "classification",
            "ontology": {"classes": [{"name": "pos"}, {"name": "neg"}]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    gold = _export({"a": ("pos", "sports"), "b": ("neg", "politics")})
    url = f"/golden-sets/{gs['id']}/import"
    refused = client.post(url, params={"format": "labelstudio"}, content=gold, headers=lead)
    assert refused.status_code == 422
    assert "'sentiment', 'topic'" in refused.text
    imported = client.post(
        url, params={"format": "labelstudio", "question": "sentiment"}, content=gold, headers=lead
    )
    assert imported.status_code == 201, imported.text
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    instructions = client.post(
        f"/projects/{project['id']}/instructions", json={"text": "label"}, headers=lead
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
    labels = _export({"a": ("pos", "sports"), "b": ("pos", "sports")})
    vendor_url = f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels/import"
    refused = client.post(
        vendor_url, params={"format": "labelstudio"}, content=labels, headers=auth["vendor"]
    )
    assert refused.status_code == 422 and "'sentiment', 'topic'" in refused.text
    response = client.post(
        vendor_url,
        params={"format": "labelstudio", "question": "sentiment"},
        content=labels,
        headers=auth["vendor"],
    )
    assert response.status_code == 200, response.text
    result = client.get(f"/bakeoffs/{bakeoff['id']}/results", headers=lead).json()
    assert result["vendors"][0]["metrics"]["accuracy_all"] == 0.5
