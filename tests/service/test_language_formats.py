"""Rating and transcription answers from Label Studio and Argilla files through the API:
the engine's numbers equal those of the same answers posted as Bakeoff JSON Lines."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapters.formats.registry import read_language_file

pytestmark = pytest.mark.dbs

LS_FILES = Path(__file__).resolve().parents[1] / "data" / "external" / "labelstudio_language"
RATING_GOLD = {
    "p1": {"helpfulness": 5, "fluency": 3},
    "p2": {"helpfulness": 2, "fluency": 2},
    "p3": {"helpfulness": 4, "fluency": 3},
}
TRANSCRIPT_GOLD = {"a1": "the cat sat on the mat", "a2": "hello world", "a3": "it is three o'clock"}


def _bakeoff(
    client: TestClient, lead: dict[str, str], vendor_id: int, task_type: str, gold: dict[str, Any]
) -> int:
    ontology: dict[str, Any] = {"classes": []}
    data: dict[str, Any] = {"audio": "https://example.org/a.wav"}
    if task_type == "rating":
        ontology = {
            "classes": [{"name": "helpfulness"}, {"name": "fluency"}],
            "rating_scale": [1, 5],
        }
        data = {"prompt": "q", "response": "a"}
    pid = client.post(
        "/projects",
        json={"name": f"p-{uuid.uuid4().hex[:8]}", "task_type": task_type, "ontology": ontology},
        headers=lead,
    ).json()["id"]
    gs = client.post("/golden-sets", json={"name": "g", "project_id": pid}, headers=lead).json()
    blob = "\n".join(json.dumps({"item_id": k, "label": v, "data": data}) for k, v in gold.items())
    imported = client.post(f"/golden-sets/{gs['id']}/import", content=blob.encode(), headers=lead)
    assert imported.status_code == 201, imported.text
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    ins = client.post(f"/projects/{pid}/instructions", json={"text": "x"}, headers=lead).json()
    created = client.post(
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
    assert created.is_success, created.text
    return int(created.json()["id"])


def _import(client: TestClient, lead: dict[str, str], bid: int, vid: int, **kw: Any) -> None:
    answer = client.post(f"/bakeoffs/{bid}/vendors/{vid}/labels/import", headers=lead, **kw)
    assert answer.status_code == 200, answer.text


def _metrics(client: TestClient, lead: dict[str, str], bid: int) -> dict[str, Any]:
    vendor = client.get(f"/bakeoffs/{bid}/results", headers=lead).json()["vendors"][0]
    return {"main": vendor["main_value"], **vendor["metrics"]}


@pytest.mark.parametrize(
    ("task_type", "file", "gold"),
    [
        ("rating", "rating_and_choices.json", RATING_GOLD),
        ("transcription", "transcription_textarea.json", TRANSCRIPT_GOLD),
    ],
    ids=["rating", "transcription"],
)
def test_a_label_studio_export_scores_like_the_same_answers_in_jsonl(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    key_vendor: Any,
    task_type: str,
    file: str,
    gold: dict[str, Any],
) -> None:
    lead, vid = auth["lead"], int(key_vendor.id)
    path = LS_FILES / file
    from_ls = _bakeoff(client, lead, vid, task_type, gold)
    _import(client, lead, from_ls, vid, params={"format": "labelstudio"}, content=path.read_bytes())
    rows = read_language_file(path, kind=task_type)  # type: ignore[arg-type]
    assert len(rows) == 6
    as_jsonl = _bakeoff(client, lead, vid, task_type, gold)
    body = "\n".join(json.dumps(r.to_json()) for r in rows).encode()
    _import(client, lead, as_jsonl, vid, params={"format": "jsonl"}, content=body)
    got, expected = _metrics(client, lead, from_ls), _metrics(client, lead, as_jsonl)
    assert got == expected
    assert got["main"] is not None


def test_argilla_ratings_score_through_the_api(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead, vid = auth["lead"], int(key_vendor.id)
    bid = _bakeoff(client, lead, vid, "rating", RATING_GOLD)
    records = [
        {
            "id": k,
            "fields": {"prompt": "q", "response": "a"},
            "responses": {q: [{"value": v, "user_id": "u1"}] for q, v in ratings.items()},
        }
        for k, ratings in RATING_GOLD.items()
    ]
    body = "\n".join(json.dumps(r) for r in records).encode()
    _import(client, lead, bid, vid, params={"format": "argilla"}, content=body)
    metrics = _metrics(client, lead, bid)
    # the vendor gave exactly the gold ratings: no error at all
    assert metrics["mae"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("task_type", "file", "gold", "worst"),
    [
        ("rating", "rating_and_choices.json", RATING_GOLD, "p2"),
        ("transcription", "transcription_textarea.json", TRANSCRIPT_GOLD, "a3"),
    ],
    ids=["rating", "transcription"],
)
def test_review_flags_for_ratings_and_transcripts(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    key_vendor: Any,
    task_type: str,
    file: str,
    gold: dict[str, Any],
    worst: str,
) -> None:
    lead, vid = auth["lead"], int(key_vendor.id)
    bid = _bakeoff(client, lead, vid, task_type, gold)
    content = (LS_FILES / file).read_bytes()
    _import(client, lead, bid, vid, params={"format": "labelstudio"}, content=content)
    computed = client.post(f"/review/bakeoffs/{bid}/flags", json={}, headers=lead)
    assert computed.status_code == 200, computed.text
    assert computed.json()["open_by_reason"].get("vendor_vs_gold", 0) > 0
    queue = client.get(
        f"/review/bakeoffs/{bid}/queue", params={"reason": "vendor_vs_gold"}, headers=lead
    )
    assert queue.status_code == 200, queue.text
    by_gold = sorted(queue.json()["data"], key=lambda f: -f["score"])
    # the farthest from gold first: p2's ratings (3/2 and 2/1 against 2/2), a3's transcripts
    # ("it is 3 o'clock" and "it is three o clock" against "it is three o'clock")
    assert by_gold[0]["item_key"] == worst, by_gold
