"""Broken input gets a clear 4xx naming what is wrong and where, and writes nothing.

Every case posts one file of ``tests/data/broken/`` (or a broken JSON body) to the API and checks:
the status is 413, 415 or 422; the error body names the file and the row, line or field; and the
number of rows in *every* table is the same before and after the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlmodel import SQLModel

from service.core.config import Settings

BROKEN = Path(__file__).resolve().parents[1] / "data" / "broken"
MAX_BODY = 64 * 1024
MAX_UPLOAD = 256 * 1024

Headers = dict[str, dict[str, str]]


@pytest.fixture
def settings() -> Settings:
    """Small body limits so that the oversized-body cases stay small."""
    return Settings(
        environment="test",
        auto_migrate=False,
        database_url="sqlite://",
        max_body_bytes=MAX_BODY,
        max_upload_bytes=MAX_UPLOAD,
    )


def row_counts(engine: Engine) -> dict[str, int]:
    """Rows per table, for every table of the schema."""
    with engine.connect() as conn:
        return {
            table.name: int(conn.execute(select(func.count()).select_from(table)).scalar_one())
            for table in SQLModel.metadata.sorted_tables
        }


@dataclass(frozen=True)
class Detection:
    """A detection project (classes car, person) with gold for s-1, s-2 and a bake-off."""

    project_id: int
    golden_set_id: int
    empty_golden_set_id: int
    bakeoff_id: int
    vendor_id: int
    version: int


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


@pytest.fixture
def detection(client: TestClient, auth: Headers, key_vendor: Any) -> Detection:
    """Build a detection bake-off through the API (the vendor key's vendor is a candidate)."""
    admin = auth["admin"]
    project = _ok(
        client.post(
            "/projects",
            json={
                "name": "streets",
                "task_type": "detection",
                "ontology": {"classes": [{"name": "car"}, {"name": "person"}]},
            },
            headers=admin,
        ),
        201,
    )
    instructions = _ok(
        client.post(
            f"/projects/{project['id']}/instructions",
            json={"text": "# Box every car and person"},
            headers=admin,
        ),
        201,
    )
    golden = _ok(
        client.post(
            "/golden-sets",
            json={"name": "streets-gold", "project_id": project["id"]},
            headers=admin,
        ),
        201,
    )
    empty = _ok(
        client.post(
            "/golden-sets",
            json={"name": "streets-empty", "project_id": project["id"]},
            headers=admin,
        ),
        201,
    )
    gold = "".join(
        json.dumps(
            {
                "item_id": key,
                "data": {"image": f"{key}.png", "width": 100, "height": 80},
                "label": [{"category": "car", "bbox": [10, 10, 20, 20]}],
            }
        )
        + "\n"
        for key in ("s-1", "s-2")
    )
    imported = _ok(
        client.post(
            f"/golden-sets/{golden['id']}/import?format=jsonl",
            content=gold.encode(),
            headers={**admin, "Content-Type": "application/x-ndjson"},
        ),
        201,
    )
    versions = _ok(client.get(f"/golden-sets/{golden['id']}/versions", headers=admin))
    version_id = next(
        v["id"] for v in versions["data"] if v["version"] == imported["golden_set_version"]
    )
    bakeoff = _ok(
        client.post(
            "/bakeoffs",
            json={
                "name": "streets bake-off",
                "project_id": project["id"],
                "golden_set_version_id": version_id,
                "instructions_version_id": instructions["id"],
                "vendor_ids": [key_vendor.id],
            },
            headers=admin,
        ),
        201,
    )
    return Detection(
        project_id=project["id"],
        golden_set_id=golden["id"],
        empty_golden_set_id=empty["id"],
        bakeoff_id=bakeoff["id"],
        vendor_id=key_vendor.id,
        version=imported["golden_set_version"],
    )


@dataclass(frozen=True)
class Case:
    """One broken file, where it goes, and what the error must say."""

    file: str
    target: str  # gold | det_gold | labels | det_labels
    fmt: str
    words: tuple[str, ...]  # each must appear in the error text (case-insensitive)
    status: int = 422
    names_file: bool = True  # domain checks name the record and field, format errors the file


CASES: tuple[Case, ...] = (
    # golden-set imports into the classification project (cat, dog, bird)
    Case("gold_unknown_class.jsonl", "gold", "jsonl", ("record 2", "kat"), names_file=False),
    Case("gold_duplicate_ids.jsonl", "gold", "jsonl", ("line 3", "a-1")),
    Case("gold_not_utf8.jsonl", "gold", "jsonl", ("line 2", "utf-8")),
    Case("gold_invalid_json.jsonl", "gold", "jsonl", ("line 2", "json")),
    Case("gold_wrong_task_type.jsonl", "gold", "jsonl", ("line 2",)),
    Case("gold_missing_field.csv", "gold", "csv", ("row 3", "field")),
    Case("gold_wrong_header.csv", "gold", "csv", ("item_id",)),
    Case("gold_labelstudio_invalid.json", "gold", "labelstudio", ("annotations",)),
    Case("gold_labelstudio_not_a_list.json", "gold", "labelstudio", ("task 0", "data")),
    Case(
        "gold_box_outside_image.jsonl",
        "det_gold",
        "jsonl",
        ("record 2", "outside"),
        names_file=False,
    ),
    Case("gold_box_nan.jsonl", "det_gold", "jsonl", ("line 2", "bbox")),
    # COCO golden-set imports into the detection project (car, person)
    Case("coco_missing_images.json", "det_gold", "coco", ("images",)),
    Case("coco_truncated.json", "det_gold", "coco", ("json",)),
    Case("coco_not_utf8.json", "det_gold", "coco", ("utf-8",)),
    Case("coco_box_outside_image.json", "det_gold", "coco", ("annotations[1]", "image")),
    Case("coco_box_nan.json", "det_gold", "coco", ("annotations[1]", "nan")),
    Case("coco_negative_size.json", "det_gold", "coco", ("annotations[1]", "negative")),
    Case("coco_unknown_category_id.json", "det_gold", "coco", ("annotations[1]", "7")),
    Case("coco_category_not_in_ontology.json", "det_gold", "coco", ("unicorn",), names_file=False),
    Case("coco_duplicate_image_ids.json", "det_gold", "coco", ("images[2]", "1")),
    Case("coco_duplicate_annotation_ids.json", "det_gold", "coco", ("annotations[1]", "1")),
    Case("coco_annotation_unknown_image.json", "det_gold", "coco", ("annotations[1]", "9")),
    # vendor label files for the classification bake-off (items img-1 .. img-6)
    Case("labels_unknown_item.jsonl", "labels", "jsonl", ("record 2", "img-77")),
    Case("labels_unknown_class.jsonl", "labels", "jsonl", ("record 2", "wolf"), names_file=False),
    Case("labels_not_utf8.jsonl", "labels", "jsonl", ("line 2", "utf-8")),
    Case("labels_invalid_json.jsonl", "labels", "jsonl", ("line 2", "json")),
    Case("labels_extra_field.csv", "labels", "csv", ("row 3", "field")),
    Case("labels_wrong_task_type.jsonl", "labels", "jsonl", ("line 2", "class name")),
    Case("labels_boxes.csv", "det_labels", "csv", ("csv", "detection"), names_file=False),
    Case("labels_labelstudio_invalid.json", "labels", "labelstudio", ("annotations",)),
    # vendor label files for the detection bake-off
    Case("det_labels_box_nan.jsonl", "det_labels", "jsonl", ("line 2", "bbox")),
)


def _url(case: Case, seeded: Any, request: pytest.FixtureRequest) -> str:
    query = f"format={case.fmt}&filename={case.file}"
    if case.target == "gold":
        return f"/golden-sets/{seeded.golden_set_id}/import?{query}"
    if case.target == "labels":
        return f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels/import?{query}"
    detection: Detection = request.getfixturevalue("detection")  # built only when needed
    if case.target == "det_gold":
        return f"/golden-sets/{detection.empty_golden_set_id}/import?{query}"
    return f"/bakeoffs/{detection.bakeoff_id}/vendors/{detection.vendor_id}/labels/import?{query}"


def _error_text(body: Any) -> str:
    detail = body["detail"]
    if isinstance(detail, list):
        return " | ".join(
            f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg', '')}" for d in detail
        )
    return str(detail)


@pytest.mark.parametrize("case", CASES, ids=[c.file for c in CASES])
def test_broken_file_gets_4xx_naming_it_and_stores_nothing(
    client: TestClient,
    engine: Engine,
    auth: Headers,
    seeded: Any,
    request: pytest.FixtureRequest,
    case: Case,
) -> None:
    content = (BROKEN / case.file).read_bytes()
    url = _url(case, seeded, request)
    before = row_counts(engine)
    response = client.post(
        url,
        content=content,
        headers={**auth["lead"], "Idempotency-Key": f"broken-{case.file}"},
    )
    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/json")
    text = _error_text(response.json()).lower()
    if case.names_file:
        assert case.file.lower() in text, f"the error does not name the file: {text}"
    for word in case.words:
        assert word.lower() in text, f"the error does not say {word!r}: {text}"
    assert row_counts(engine) == before


def test_a_valid_coco_file_imports(
    client: TestClient, engine: Engine, auth: Headers, detection: Detection
) -> None:
    """The broken COCO files are broken, not the test: their valid twin imports."""
    before = row_counts(engine)
    response = client.post(
        f"/golden-sets/{detection.empty_golden_set_id}/import?format=coco&filename=coco_valid.json",
        content=(BROKEN / "coco_valid.json").read_bytes(),
        headers=auth["lead"],
    )
    assert response.status_code == 201, response.text
    assert response.json()["stored"] == 2
    after = row_counts(engine)
    assert after["goldlabel"] == before["goldlabel"] + 2


# --- broken JSON bodies --------------------------------------------------------------------


def _post_raw(
    client: TestClient, url: str, body: bytes, headers: dict[str, str], content_type: str
) -> Any:
    return client.post(url, content=body, headers={**headers, "Content-Type": content_type})


@dataclass(frozen=True)
class BodyCase:
    """A broken JSON body for a JSON route."""

    name: str
    route: str  # projects | labels | det_labels | items
    body: bytes
    words: tuple[str, ...]
    status: int = 422
    content_type: str = "application/json"


BODY_CASES: tuple[BodyCase, ...] = (
    BodyCase("invalid-json", "projects", b'{"name": "x", "task_type": ', ("json",)),
    BodyCase(
        "unknown-task-type",
        "projects",
        b'{"name": "x", "task_type": "video", "ontology": {"classes": []}}',
        ("task_type",),
    ),
    BodyCase(
        "not-utf8", "projects", b'{"name": "caf\xe9", "task_type": "classification"}', ("utf-8",)
    ),
    BodyCase("array-not-object", "projects", b"[1, 2, 3]", ("body",)),
    BodyCase(
        "labels-unknown-class",
        "labels",
        b'{"labels": [{"item_key": "img-1", "value": "cat"},'
        b' {"item_key": "img-2", "value": "owl"}]}',
        ("record 2", "owl"),
    ),
    BodyCase(
        "labels-nan-box",
        "det_labels",
        b'{"labels": [{"item_key": "s-1",'
        b' "value": [{"category": "car", "bbox": [1, NaN, 3, 4]}]}]}',
        ("labels[0]", "bbox[1]", "nan"),
    ),
    BodyCase(
        "labels-infinite-score",
        "labels",
        b'{"labels": [{"item_key": "img-1", "value": "cat", "score": Infinity}]}',
        ("score",),
    ),
    BodyCase(
        "gold-box-outside-image",
        "det_gold_labels",
        b'{"labels": [{"item_key": "s-2",'
        b' "value": [{"category": "car", "bbox": [90, 2, 30, 4]}]}]}',
        ("body.0.value.0.bbox", "outside"),
    ),
    BodyCase(
        "labels-form-encoded",
        "labels",
        b"labels=cat",
        ("body",),
        content_type="application/x-www-form-urlencoded",
    ),
    BodyCase(
        "items-duplicate-keys",
        "items",
        b'[{"key": "dup", "data": {}}, {"key": "dup", "data": {}}]',
        ("dup",),
    ),
)


def _body_url(case: BodyCase, seeded: Any, request: pytest.FixtureRequest) -> str:
    if case.route == "projects":
        return "/projects"
    if case.route == "labels":
        return f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels"
    if case.route == "items":
        return f"/golden-sets/{seeded.golden_set_id}/items"
    detection: Detection = request.getfixturevalue("detection")  # built only when needed
    if case.route == "det_labels":
        return f"/bakeoffs/{detection.bakeoff_id}/vendors/{detection.vendor_id}/labels"
    return f"/golden-sets/{detection.golden_set_id}/corrections"


@pytest.mark.parametrize("case", BODY_CASES, ids=[c.name for c in BODY_CASES])
def test_broken_json_body_gets_4xx_and_stores_nothing(
    client: TestClient,
    engine: Engine,
    auth: Headers,
    seeded: Any,
    request: pytest.FixtureRequest,
    case: BodyCase,
) -> None:
    url = _body_url(case, seeded, request)
    before = row_counts(engine)
    response = _post_raw(client, url, case.body, auth["lead"], case.content_type)
    assert 400 <= response.status_code < 500, response.text
    assert response.status_code == case.status, response.text
    text = _error_text(response.json()).lower()
    for word in case.words:
        assert word.lower() in text, f"the error does not say {word!r}: {text}"
    assert row_counts(engine) == before


# --- oversized bodies ----------------------------------------------------------------------


def _big_jsonl(size: int) -> bytes:
    line = json.dumps({"item_id": "img-1", "label": "cat", "annotator_id": "w" * 40}) + "\n"
    return (line * (size // len(line) + 1)).encode()


def _chunks(data: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_oversized_json_body_gets_413_and_stores_nothing(
    client: TestClient, engine: Engine, auth: Headers, seeded: Any, streamed: bool
) -> None:
    labels = [{"item_key": "img-1", "value": "cat", "annotator_id": f"w{i}"} for i in range(3000)]
    body = json.dumps({"labels": labels}).encode()
    assert len(body) > MAX_BODY
    before = row_counts(engine)
    url = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels"
    headers = {**auth["lead"], "Content-Type": "application/json"}
    response = client.post(url, content=_chunks(body) if streamed else body, headers=headers)
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert str(MAX_BODY) in response.json()["detail"]
    assert row_counts(engine) == before


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_oversized_import_gets_413_and_stores_nothing(
    client: TestClient, engine: Engine, auth: Headers, seeded: Any, streamed: bool
) -> None:
    body = _big_jsonl(MAX_UPLOAD + 1)
    before = row_counts(engine)
    url = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels/import?format=jsonl"
    response = client.post(url, content=_chunks(body) if streamed else body, headers=auth["lead"])
    assert response.status_code == 413, response.text
    assert response.json()["code"] == "payload_too_large"
    assert str(MAX_UPLOAD) in response.json()["detail"]
    assert row_counts(engine) == before


def test_import_between_the_two_limits_is_accepted(
    client: TestClient, engine: Engine, auth: Headers, seeded: Any
) -> None:
    """Imports get the larger upload limit: a file over the JSON limit still imports."""
    body = _big_jsonl(MAX_BODY * 2)
    assert MAX_BODY < len(body) < MAX_UPLOAD
    url = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels/import?format=jsonl"
    response = client.post(url, content=body, headers=auth["lead"])
    assert response.status_code == 200, response.text
    # every line is the same answer (item img-1, annotator w...w): stored once
    assert response.json()["stored"] == 1
    assert response.json()["duplicates"] == response.json()["received"] - 1


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        # a returned package is read whole: the documented 32 MiB body limit (issue 11)
        ("/bakeoffs/1/vendors/1/package/results", MAX_BODY),
        ("/golden-sets/1/import", MAX_UPLOAD),
        ("/bakeoffs/1/vendors/1/labels", MAX_BODY),
    ],
    ids=["file-vendor-results", "gold-import", "json-labels"],
)
def test_imports_get_the_upload_limit_other_bodies_the_body_limit(
    client: TestClient, auth: Headers, path: str, limit: int
) -> None:
    too_big = b"x" * (limit + 1)
    response = client.post(path, content=too_big, headers=auth["lead"])
    assert response.status_code == 413 and str(limit) in response.json()["detail"]
