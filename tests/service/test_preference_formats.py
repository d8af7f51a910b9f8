"""Preference labels from Label Studio and Argilla files through every door: the Python
client (API import), ``bakeoff evaluate``; the same engine numbers from each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli.main import app
from service.client import BakeoffAPIError, BakeoffClient

pytestmark = pytest.mark.dbs

LS_FILES = Path(__file__).resolve().parents[1] / "data" / "external" / "labelstudio_language"
PAIRWISE = LS_FILES / "preference_pairwise.json"
# Gold of the four items of the real Label Studio export. Its answers (two raters; one
# skipped p4) are p1: A, A; p2: B, A; p3: tie, B; p4: B. A split vote has no consensus and
# counts as answered and wrong, so agreement is 2/4 (p1 and p4).
GOLD = {"p1": "A", "p2": "B", "p3": "B", "p4": "B"}


def _bakeoff(client: TestClient, lead: dict[str, str], vendor_id: int) -> int:
    project = client.post(
        "/projects",
        json={
            "name": "prefs",
            "task_type": "preference",
            "ontology": {"classes": [{"name": "A"}, {"name": "B"}, {"name": "tie"}]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    blob = "\n".join(
        json.dumps(
            {
                "item_id": k,
                "label": v,
                "data": {"prompt": f"q {k}", "response_a": "a", "response_b": "b"},
            }
        )
        for k, v in GOLD.items()
    ).encode()
    assert client.post(f"/golden-sets/{gs['id']}/import", content=blob, headers=lead).is_success
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    ins = client.post(
        f"/projects/{project['id']}/instructions", json={"text": "pick one"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": project["id"],
            "golden_set_version_id": version["id"],
            "instructions_version_id": ins["id"],
            "vendor_ids": [vendor_id],
        },
        headers=lead,
    )
    assert bakeoff.is_success, bakeoff.text
    return int(bakeoff.json()["id"])


def test_a_label_studio_pairwise_export_through_the_client_and_evaluate(
    client: TestClient,
    bk: BakeoffClient,
    auth: dict[str, dict[str, str]],
    key_vendor: object,
    tmp_path: Path,
) -> None:
    vendor_id = int(key_vendor.id)  # type: ignore[attr-defined]
    bid = _bakeoff(client, auth["lead"], vendor_id)
    imported = bk.add_vendor_labels(bid, vendor_id, PAIRWISE)
    assert imported.stored == 7  # eight answers, one skipped in Label Studio
    result = client.get(f"/bakeoffs/{bid}/results", headers=auth["lead"]).json()["vendors"][0]
    assert result["main_metric"] == "agreement"
    assert result["main_value"] == pytest.approx(2 / 4)

    gold = tmp_path / "gold.csv"
    gold.write_text("item_id,label\n" + "".join(f"{k},{v}\n" for k, v in GOLD.items()))
    cli = CliRunner().invoke(
        app,
        ["evaluate", "--task", "preference", "--gold", str(gold), "--labels", f"ls={PAIRWISE}"]
        + ["--json", "--resamples", "20"],
    )
    assert cli.exit_code == 0, cli.output
    metrics = json.loads(cli.stdout)["systems"]["ls"]["metrics"]
    assert metrics["agreement"]["value"] == pytest.approx(result["main_value"])


def test_argilla_records_through_the_api_and_a_422_naming_the_place(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    key_vendor: object,
) -> None:
    vendor_id = int(key_vendor.id)  # type: ignore[attr-defined]
    bid = _bakeoff(client, auth["lead"], vendor_id)
    answers = {"p1": "A", "p2": "response_b", "p3": "A", "p4": "right"}
    records = [
        {
            "id": k,
            "fields": {"prompt": "q"},
            "responses": {"preference": [{"value": v, "user_id": "u1"}]},
            "suggestions": {},
        }
        for k, v in answers.items()
    ]
    url = f"/bakeoffs/{bid}/vendors/{vendor_id}/labels/import"
    bad = [{**records[0], "responses": {"preference": [{"value": "C", "user_id": "u1"}]}}]
    refused = client.post(
        url,
        params={"format": "argilla", "filename": "records.json"},
        content=json.dumps(bad).encode(),
        headers=auth["lead"],
    )
    assert refused.status_code == 422, refused.text
    assert "[record 0].responses.preference[0].value" in refused.text and "C" in refused.text
    posted = client.post(
        url,
        params={"format": "argilla", "filename": "records.jsonl"},
        content="\n".join(json.dumps(r) for r in records).encode(),
        headers=auth["lead"],
    )
    assert posted.status_code == 200, posted.text
    result = client.get(f"/bakeoffs/{bid}/results", headers=auth["lead"]).json()["vendors"][0]
    assert result["main_value"] == pytest.approx(3 / 4)


def test_a_rating_export_given_as_preferences_is_refused_by_the_client(
    client: TestClient,
    bk: BakeoffClient,
    auth: dict[str, dict[str, str]],
    key_vendor: object,
) -> None:
    vendor_id = int(key_vendor.id)  # type: ignore[attr-defined]
    bid = _bakeoff(client, auth["lead"], vendor_id)
    with pytest.raises(BakeoffAPIError, match="does not fit a preference task"):
        bk.add_vendor_labels(bid, vendor_id, LS_FILES / "rating_and_choices.json")
