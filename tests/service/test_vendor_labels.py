"""Vendor labels through the API: exactly once, idempotency keys, 422 with nothing stored."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import service.models as m
from service.core import bulk_write
from service.domain import vendor_labels
from service.domain.errors import Invalid

pytestmark = pytest.mark.dbs


def _labels_url(seed: Any, vendor_id: int | None = None) -> str:
    return f"/bakeoffs/{seed.bakeoff_id}/vendors/{vendor_id or seed.vendor_id}/labels"


def _count(client: TestClient, seed: Any, auth: dict[str, dict[str, str]]) -> int:
    response = client.get(f"/bakeoffs/{seed.bakeoff_id}/labels", headers=auth["lead"])
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


def test_labels_are_stored_once_when_resent(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    body = {"labels": [{"item_key": k, "value": v} for k, v in seeded.gold.items()]}
    first = client.post(_labels_url(seeded), json=body, headers=auth["vendor"])
    assert first.status_code == 200, first.text
    assert first.json() | {} == {
        "received": 6,
        "stored": 6,
        "duplicates": 0,
        "replayed": False,
        "golden_set_version": None,
        "notes": [],
    }
    again = client.post(_labels_url(seeded), json=body, headers=auth["vendor"])
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 6
    assert _count(client, seeded, auth) == 6


def test_idempotency_key_replays_the_first_answer(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    body = {"labels": [{"item_key": "img-1", "value": "cat", "annotator_id": "w1"}]}
    headers = {**auth["lead"], "Idempotency-Key": "batch-0001"}
    first = client.post(_labels_url(seeded), json=body, headers=headers)
    replay = client.post(_labels_url(seeded), json=body, headers=headers)
    assert first.json()["stored"] == 1 and first.json()["replayed"] is False
    assert replay.json()["stored"] == 1 and replay.json()["replayed"] is True
    assert _count(client, seeded, auth) == 1
    other_body = {"labels": [{"item_key": "img-2", "value": "dog"}]}
    clash = client.post(_labels_url(seeded), json=other_body, headers=headers)
    assert clash.status_code == 409
    assert clash.json()["code"] == "idempotency_key_reused"
    assert _count(client, seeded, auth) == 1


@pytest.mark.parametrize(
    ("bad", "where", "words"),
    [
        ({"item_key": "img-3", "value": "kat"}, "record 3", "unknown class 'kat'"),
        ({"item_key": "img-99", "value": "cat"}, "record 3", "img-99"),
        ({"item_key": "img-3", "value": ["cat"]}, "record 3", "expected a class name"),
    ],
    ids=["unknown-class", "unknown-item", "wrong-shape"],
)
def test_a_bad_label_gets_422_naming_it_and_nothing_is_stored(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    seeded: Any,
    bad: dict[str, object],
    where: str,
    words: str,
) -> None:
    good = [{"item_key": "img-1", "value": "cat"}, {"item_key": "img-2", "value": "dog"}]
    response = client.post(_labels_url(seeded), json={"labels": [*good, bad]}, headers=auth["lead"])
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert where in detail["loc"], detail
    assert words in detail["msg"]
    assert _count(client, seeded, auth) == 0


def test_vendor_key_posts_only_its_own_labels(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    body = {"labels": [{"item_key": "img-1", "value": "cat"}]}
    response = client.post(
        _labels_url(seeded, seeded.other_vendor_id), json=body, headers=auth["vendor"]
    )
    assert response.status_code == 403
    assert _count(client, seeded, auth) == 0


def test_jsonl_import_streams_a_file_and_export_round_trips(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    done = datetime.now(UTC).isoformat()  # a vendor's work cannot predate the bake-off
    lines = [
        {"item_id": k, "label": v, "annotator_id": a, "completed_at": done}
        for k, v in seeded.gold.items()
        for a in ("w1", "w2")
    ]
    blob = "\n".join(json.dumps(x) for x in lines).encode()
    url = _labels_url(seeded) + "/import?format=jsonl&filename=labels.jsonl"
    response = client.post(url, content=blob, headers=auth["vendor"])
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 12
    exported = client.get(_labels_url(seeded) + "/export?format=jsonl", headers=auth["lead"])
    assert exported.status_code == 200
    rows = [json.loads(line) for line in io.StringIO(exported.text) if line.strip()]
    assert sorted((r["item_id"], r["annotator_id"], r["label"]) for r in rows) == sorted(
        (x["item_id"], x["annotator_id"], x["label"]) for x in lines
    )
    again = client.post(url, content=blob, headers=auth["vendor"])
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 12


def test_a_bad_line_in_a_file_gets_422_naming_the_line_and_nothing_is_stored(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    blob = b'{"item_id": "img-1", "label": "cat"}\n{"item_id": "img-2", "label": 5}\n'
    url = _labels_url(seeded) + "/import?format=jsonl&filename=bad.jsonl"
    response = client.post(url, content=blob, headers=auth["lead"])
    assert response.status_code == 422, response.text
    msg = response.json()["detail"][0]["msg"]
    assert "bad.jsonl" in msg and "line 2" in msg
    assert _count(client, seeded, auth) == 0


def test_labelstudio_export_reimports_to_the_same_labels(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    body = {
        "labels": [{"item_key": k, "value": v, "annotator_id": "7"} for k, v in seeded.gold.items()]
    }
    client.post(_labels_url(seeded), json=body, headers=auth["lead"])
    exported = client.get(_labels_url(seeded) + "/export?format=labelstudio", headers=auth["lead"])
    assert exported.status_code == 200, exported.text
    tasks = json.loads(exported.text)
    assert len(tasks) == 6
    other = _labels_url(seeded, seeded.other_vendor_id) + "/import?format=labelstudio"
    response = client.post(other, content=exported.content, headers=auth["lead"])
    assert response.status_code == 200, response.text
    assert response.json()["stored"] == 6
    listed = client.get(
        f"/bakeoffs/{seeded.bakeoff_id}/labels",
        params={"vendor_id": seeded.other_vendor_id, "limit": 100},
        headers=auth["lead"],
    ).json()
    assert {r["item_key"]: r["value"] for r in listed["data"]} == seeded.gold


def test_awkward_characters_survive_the_bulk_path(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    classes = ['Ünïcode "q"', "back\\slash", "tab\tbed", "new\nline", "\\N"]
    project = client.post(
        "/projects",
        json={
            "name": "odd",
            "task_type": "classification",
            "ontology": {"classes": [{"name": c} for c in classes]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    keys = ["k\t1", "k\\2", "k\n3", "k 4", "\\N"]
    blob = "\n".join(
        json.dumps({"item_id": k, "label": c}) for k, c in zip(keys, classes, strict=True)
    )
    assert (
        client.post(
            f"/golden-sets/{gs['id']}/import", content=blob.encode(), headers=lead
        ).status_code
        == 201
    )
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    ins = client.post(
        f"/projects/{project['id']}/instructions", json={"text": "t"}, headers=lead
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
        {
            "item_key": k,
            "value": c,
            "annotator_id": f"w\t{i}\\",
            "external_id": f"e\n{i}",
            "score": 0.5 + i / 10,
            "completed_at": "2024-05-01T10:00:04+02:00",
        }
        for i, (k, c) in enumerate(zip(keys, reversed(classes), strict=True))
    ]
    posted = client.post(
        f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels",
        json={"labels": labels},
        headers=lead,
    )
    assert posted.status_code == 200, posted.text
    listed = client.get(f"/bakeoffs/{bakeoff['id']}/labels", headers=lead).json()["data"]
    got = {
        r["item_key"]: (r["value"], r["annotator_id"], r["score"], r["completed_at"])
        for r in listed
    }
    for label in labels:
        value, annotator, score, completed = got[label["item_key"]]
        assert (value, annotator) == (label["value"], label["annotator_id"])
        assert score == pytest.approx(label["score"])
        assert completed.startswith("2024-05-01T08:00:04")  # stored in UTC
    exported = client.get(
        f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels/export", headers=lead
    )
    ext = {
        json.loads(line)["item_id"]: json.loads(line)["external_id"]
        for line in exported.text.splitlines()
        if line
    }
    assert ext == {k: f"e\n{i}" for i, k in enumerate(keys)}


def test_a_concurrent_duplicate_is_a_409_and_rolls_back(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    seeded: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = {"labels": [{"item_key": "img-6", "value": "cat"}]}
    assert client.post(_labels_url(seeded), json=first, headers=auth["lead"]).status_code == 200

    def blind(*_args: object, **_kwargs: object) -> dict[object, None]:
        # as if another request stored img-6 after this one looked: the database refuses it
        return {}

    monkeypatch.setattr(vendor_labels, "_stored_keys", blind)
    monkeypatch.setattr(bulk_write, "get_settings", lambda: _Small())
    body = {"labels": [{"item_key": k, "value": v} for k, v in seeded.gold.items()]}
    response = client.post(_labels_url(seeded), json=body, headers=auth["lead"])
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "concurrent_write"
    assert "retry" in response.json()["detail"]
    assert _count(client, seeded, auth) == 1


class _Small:
    """Settings stand-in: two rows per chunk, so the clash comes after chunks were written."""

    import_batch_size = 2


def test_narrow_lookups_for_known_items_still_store_each_label_once(
    session: Session, seeded: Any
) -> None:
    """Callbacks name their items up front; lookups then read only those items' rows."""
    keys = sorted(seeded.gold)
    first, second = keys[:2], keys[2:4]

    def send(names: list[str], only: list[str]) -> Any:
        return vendor_labels.add_vendor_labels(
            session=session,
            bakeoff_id=seeded.bakeoff_id,
            vendor_id=seeded.vendor_id,
            records=[m.VendorLabelCreate(item_key=k, value=seeded.gold[k]) for k in names],
            only_items=only,
        )

    assert send(first, first).stored == 2
    # the same labels again, looked up narrowly: duplicates, nothing written
    again = send(first, first)
    assert (again.stored, again.duplicates) == (0, 2)
    # a later callback for other items, then one mixing old and new
    assert send(second, second).stored == 2
    mixed = send([first[0], keys[4]], [first[0], keys[4]])
    assert (mixed.stored, mixed.duplicates) == (1, 1)
    # an item the caller did not announce is refused like one outside the golden set
    with pytest.raises(Invalid):
        send([keys[5]], [keys[0]])
    stored = session.exec(
        select(m.GoldenItem.key, m.VendorLabel.annotator_id)
        .join(m.GoldenItem, col(m.GoldenItem.id) == col(m.VendorLabel.item_id))
        .where(m.VendorLabel.bakeoff_id == seeded.bakeoff_id)
    ).all()
    assert sorted(stored) == sorted((k, None) for k in [*first, *second, keys[4]])
