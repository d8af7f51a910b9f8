"""``POST /golden-sets/import``: a golden set and its gold file in one transaction.

A refusal only the server can make (an unknown class) leaves no golden set, no version, no
item and no gold label behind, through the API and through the Python client (whose
``create_golden_set`` uses this door); a good file gives the same golden set as the two-step
path (``POST /golden-sets`` then ``POST /golden-sets/{id}/import``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import Session, select

import service.models as m
from service.client import BakeoffAPIError, BakeoffClient

# the transaction's rollback (a flushed golden set, a refused file) on SQLite and PostgreSQL
pytestmark = pytest.mark.dbs

Headers = dict[str, dict[str, str]]
# TestClient answers with httpx's or httpx2's Response, whichever starlette found.
Response = Any
GOOD = "item_id,label\na,cat\nb,dog\nc,cat\n"
UNKNOWN = "item_id,label\na,cat\nb,bird\nc,cat\n"  # "bird" is not one of the project's classes


def _rows(session: Session) -> tuple[int, int, int, int]:
    """Golden sets, versions, items and gold labels in the database."""
    session.expire_all()
    return tuple(  # type: ignore[return-value]
        session.exec(select(func.count()).select_from(table)).one()
        for table in (m.GoldenSet, m.GoldenSetVersion, m.GoldenItem, m.GoldLabel)
    )


def _file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gold.csv"
    path.write_text(text, encoding="utf-8")
    return path


def _post(
    client: TestClient,
    headers: dict[str, str],
    project_id: int,
    name: str,
    body: bytes,
    **form: str,
) -> Response:
    return client.post(
        "/golden-sets/import",
        data={"project_id": str(project_id), "name": name, **form},
        files={"file": ("gold.csv", body)},
        headers=headers,
    )


def test_an_unknown_class_through_the_client_leaves_no_golden_set(
    bk: BakeoffClient, session: Session, tmp_path: Path
) -> None:
    project = bk.create_project("p", "classification", ["cat", "dog"])
    before = _rows(session)
    with pytest.raises(BakeoffAPIError) as refused:
        bk.create_golden_set(project.id, "gold", _file(tmp_path, UNKNOWN))
    assert refused.value.status_code == 422
    assert "bird" in str(refused.value) and "record 2" in str(refused.value)
    assert _rows(session) == before
    # a DataFrame goes through the same door
    frame = pd.DataFrame({"item_id": ["a", "b"], "label": ["cat", "bird"]})
    with pytest.raises(BakeoffAPIError, match="bird"):
        bk.create_golden_set(project.id, "frame", frame)
    assert _rows(session) == before
    made = bk.create_golden_set(project.id, "gold", _file(tmp_path, GOOD))
    assert (made.version, made.item_count, made.stored) == (1, 3, 3)
    assert _rows(session) == (before[0] + 1, before[1] + 1, before[2] + 3, before[3] + 3)


def test_an_unknown_class_through_the_api_is_a_422_naming_where_and_leaves_nothing(
    client: TestClient, auth: Headers, bk: BakeoffClient, session: Session
) -> None:
    project = bk.create_project("p", "classification", ["cat", "dog"])
    before = _rows(session)
    response = client.post(
        "/golden-sets/import",
        data={"project_id": str(project.id), "name": "gold", "format": "csv"},
        files={"file": ("gold.csv", UNKNOWN.encode())},
        headers=auth["lead"],
    )
    assert response.status_code == 422, response.text
    (detail,) = response.json()["detail"]
    assert "bird" in detail["msg"]
    assert detail["loc"] == ["body", "record 2", "label"]
    assert _rows(session) == before
    # a malformed file, a task type the format cannot hold, an unknown project: nothing either
    for form, body, status in [
        ({"format": "csv"}, b"item_id,label\na,cat,extra\n", 422),
        ({"format": "coco"}, b'{"images": []}', 422),
        ({}, b"[1, 2]", 422),
    ]:
        refused = client.post(
            "/golden-sets/import",
            data={"project_id": str(project.id), "name": "gold", **form},
            files={"file": ("gold.csv", body)},
            headers=auth["lead"],
        )
        assert refused.status_code == status, refused.text
        assert _rows(session) == before
    missing = client.post(
        "/golden-sets/import",
        data={"project_id": "999", "name": "gold"},
        files={"file": ("gold.csv", GOOD.encode())},
        headers=auth["lead"],
    )
    assert missing.status_code == 404, missing.text
    assert _rows(session) == before
    # a name the project already uses: 409, and the first golden set is left as it was
    first = _post(client, auth["lead"], project.id, "gold", GOOD.encode())
    assert first.status_code == 201, first.text
    after = _rows(session)
    again = _post(client, auth["lead"], project.id, "gold", GOOD.encode())
    assert again.status_code == 409, again.text
    assert _rows(session) == after


def test_a_good_file_gives_the_same_golden_set_as_the_two_step_path(
    client: TestClient, auth: Headers, bk: BakeoffClient, tmp_path: Path
) -> None:
    project = bk.create_project("p", "detection", ["cat", "dog"])
    coco = {
        "images": [
            {"id": 7, "file_name": "a.jpg", "width": 64, "height": 48},
            {"id": 9, "file_name": "b.jpg", "width": 64, "height": 48},
        ],
        "categories": [{"id": 3, "name": "cat"}, {"id": 5, "name": "dog"}],
        "annotations": [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [1, 2, 10, 12], "iscrowd": 0},
            {"id": 2, "image_id": 9, "category_id": 5, "bbox": [4, 4, 20, 8], "iscrowd": 0},
        ],
    }
    body = json.dumps(coco).encode()
    lead = auth["lead"]
    one = client.post(
        "/golden-sets/import",
        data={"project_id": str(project.id), "name": "one", "note": "first"},
        files={"file": ("instances.json", body)},
        headers=lead,
    )
    assert one.status_code == 201, one.text
    created = one.json()
    assert (created["received"], created["stored"], created["golden_set_version"]) == (2, 2, 1)
    golden = client.post(
        "/golden-sets", json={"name": "two", "project_id": project.id}, headers=lead
    )
    two = client.post(
        f"/golden-sets/{golden.json()['id']}/import",
        params={"format": "coco", "filename": "instances.json", "note": "first"},
        content=body,
        headers=lead,
    )
    assert two.status_code == 201, two.text

    def version(golden_set_id: int) -> dict[str, object]:
        read = client.get(f"/golden-sets/{golden_set_id}/versions/1", headers=lead).json()
        return {k: read[k] for k in ("version", "note", "item_count", "parent_id")}

    assert version(created["golden_set_id"]) == version(golden.json()["id"])
    read = client.get(f"/golden-sets/{created['golden_set_id']}/versions/1", headers=lead).json()
    assert read["id"] == created["golden_set_version_id"]
    for fmt in ("jsonl", "coco"):  # the same items, data and gold; COCO keeps the file's ids
        exports = [
            client.get(
                f"/golden-sets/{g}/versions/1/export", params={"format": fmt}, headers=lead
            ).content
            for g in (created["golden_set_id"], golden.json()["id"])
        ]
        assert exports[0] == exports[1], fmt
    assert b'"id": 3' in exports[0] or b'"id":3' in exports[0]
    # the client's door gives the same gold again
    ref = bk.create_golden_set(project.id, "client", _json(tmp_path, coco))
    assert bk.gold(ref.golden_set_id, 1).equals(bk.gold(golden.json()["id"], 1))


def _json(tmp_path: Path, obj: object) -> Path:
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def test_a_resent_request_with_its_idempotency_key_creates_nothing_twice(
    client: TestClient, auth: Headers, bk: BakeoffClient, session: Session
) -> None:
    project = bk.create_project("p", "classification", ["cat", "dog"])
    headers = {**auth["lead"], "Idempotency-Key": "k-1"}
    first = _post(client, headers, project.id, "gold", GOOD.encode(), format="csv")
    assert first.status_code == 201, first.text
    after = _rows(session)
    again = _post(client, headers, project.id, "gold", GOOD.encode(), format="csv")
    assert again.status_code == 201, again.text
    replayed = again.json()
    assert replayed["replayed"] is True
    assert replayed["golden_set_id"] == first.json()["golden_set_id"]
    assert _rows(session) == after
