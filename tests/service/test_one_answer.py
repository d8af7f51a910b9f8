"""One answer per (vendor, item, annotator) in a bake-off, whichever route brings it.

A classification bake-off with four items and two candidates: the ``vendor`` key's vendor (a
``file`` vendor: JSON labels, label-file imports, returned package files, the Python client)
and an ``http`` vendor that sends signed callbacks and is polled. The same answer again is a
duplicate; a different one is refused with 409 naming the item and annotator, and nothing of
that request is stored; the database refuses a second row even without an annotator.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

import service.models as m
from adapters.base import VendorAnnotation
from adapters.http import sign_callback
from adapters.http_protocol import CallbackPayload, ItemResult, WireAnnotation
from service.client import BakeoffAPIError, BakeoffClient
from service.domain import bakeoffs, golden_sets, projects, vendors
from service.domain.dispatch_results import store_results
from service.domain.vendor_labels import same_answer
from tests.service.conftest import ServerFolders

pytestmark = pytest.mark.dbs

CLASSES = ("cat", "dog", "bird")
GOLD = {"img-1": "cat", "img-2": "dog", "img-3": "bird", "img-4": "cat"}
SECRET = "one-answer-webhook-secret-0123456789"
BATCH = "batch-under-test"


@dataclass(frozen=True)
class Arena:
    bakeoff_id: int
    files_id: int  # the vendor key's vendor (kind "file")
    hook_id: int  # an http vendor with a webhook secret, its tasks sent as BATCH


@pytest.fixture
def arena(session: Session, key_vendor: m.Vendor, server_folders: ServerFolders) -> Arena:
    # the file vendor's packages go to the operator's folder (server_folders)
    hook = vendors.create_vendor(
        session=session,
        data=m.VendorCreate(
            name="Hook Labs",
            adapter_kind="http",
            adapter_settings={"base_url": "http://unused.invalid", "webhook_secret": SECRET},
        ),
    )
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name="animals",
            task_type="classification",
            ontology={"classes": [{"name": c} for c in CLASSES]},
        ),
    )
    assert project.id is not None
    instructions = projects.create_instructions(
        session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="# x")
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name="gold", project_id=project.id)
    )
    assert golden.id is not None
    golden_sets.add_items(
        session=session,
        golden_set_id=golden.id,
        items=[m.GoldenItemCreate(key=k, data={"image": f"{k}.jpg"}) for k in GOLD],
    )
    version = golden_sets.create_version(session=session, golden_set_id=golden.id)
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[m.GoldLabelCreate(item_key=k, value=v) for k, v in GOLD.items()],
    )
    assert key_vendor.id and hook.id and version.id and instructions.id
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="one answer",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=[key_vendor.id, hook.id],
        ),
    )
    assert bakeoff.id is not None
    bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff.id)
    task = m.Task.__table__  # type: ignore[attr-defined]
    session.execute(
        task.update()
        .where(task.c.bakeoff_id == bakeoff.id)
        .where(task.c.vendor_id == hook.id)
        .values(job_id=BATCH, status="sent", sent_at=datetime.now(UTC) - timedelta(minutes=5))
    )
    session.commit()
    return Arena(bakeoff.id, key_vendor.id, hook.id)


# --------------------------------------------------------------------------- helpers


def _labels(session: Session, arena: Arena, vendor_id: int) -> list[tuple[str, str | None, Any]]:
    session.expire_all()
    rows = session.exec(
        select(m.GoldenItem.key, m.VendorLabel.annotator_id, m.VendorLabel.value)
        .join(m.GoldenItem, col(m.GoldenItem.id) == col(m.VendorLabel.item_id))
        .where(m.VendorLabel.bakeoff_id == arena.bakeoff_id)
        .where(m.VendorLabel.vendor_id == vendor_id)
    ).all()
    return sorted(((str(k), a, v) for k, a, v in rows), key=lambda r: (r[0], r[1] or ""))


def _base(arena: Arena) -> str:
    return f"/bakeoffs/{arena.bakeoff_id}/vendors/{arena.files_id}"


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _csv(rows: list[dict[str, Any]]) -> bytes:
    named = any("annotator_id" in r for r in rows)
    head = "item_id,annotator_id,label" if named else "item_id,label"
    lines = [
        f"{r['item_id']},{r['annotator_id']},{r['label']}"
        if named
        else f"{r['item_id']},{r['label']}"
        for r in rows
    ]
    return ("\n".join([head, *lines]) + "\n").encode()


def _send(
    client: TestClient,
    arena: Arena,
    headers: dict[str, str],
    route: str,
    rows: list[dict[str, Any]],
) -> tuple[int, Any]:
    """Send ``rows`` (``item_id``, ``label``, optional ``annotator_id``) through ``route``."""
    base = _base(arena)
    if route == "client":

        def forward(request: httpx.Request) -> httpx.Response:
            answer = client.request(
                request.method,
                request.url.raw_path.decode(),
                content=request.read(),
                headers=dict(request.headers),
            )
            return httpx.Response(answer.status_code, content=answer.content)

        http = httpx.Client(base_url="http://bakeoff.test", transport=httpx.MockTransport(forward))
        bk = BakeoffClient(http=http, api_key=headers["X-API-Key"])
        try:
            result = bk.add_vendor_labels(
                arena.bakeoff_id, arena.files_id, pd.DataFrame(rows), format="jsonl"
            )
        except BakeoffAPIError as exc:
            return exc.status_code, {"detail": exc.detail}
        return 200, result.model_dump(mode="json")
    if route == "json":
        body = {
            "labels": [
                {"item_key": r["item_id"], "value": r["label"]}
                | ({"annotator_id": r["annotator_id"]} if "annotator_id" in r else {})
                for r in rows
            ]
        }
        answer = client.post(f"{base}/labels", json=body, headers=headers)
    elif route in ("import-jsonl", "import-csv"):
        fmt = route.split("-")[1]
        content = _jsonl(rows) if fmt == "jsonl" else _csv(rows)
        answer = client.post(
            f"{base}/labels/import", params={"format": fmt}, content=content, headers=headers
        )
    elif route == "package":
        answer = client.post(
            f"{base}/package/results", params={"format": "csv"}, content=_csv(rows), headers=headers
        )
    else:  # pragma: no cover - a typo in a parametrization
        raise ValueError(route)
    return answer.status_code, answer.json()


def _callback(
    client: TestClient, arena: Arena, delivery: str, answers: list[tuple[str, str, str, str]]
) -> Any:
    """A signed callback of ``(item, annotator, result id, label)`` answers."""
    payload = CallbackPayload(
        job_id="job-1",
        batch_id=BATCH,
        results=[
            ItemResult(
                item_id=item,
                annotations=[WireAnnotation(result_id=rid, label=label, annotator_id=annotator)],
            )
            for item, annotator, rid, label in answers
        ],
    )
    body = payload.model_dump_json().encode()
    headers = sign_callback(SECRET, body, delivery_id=delivery)
    return client.post(f"/callbacks/{arena.hook_id}", content=body, headers=headers)


ROUTES = ["json", "import-jsonl", "import-csv", "package", "client"]


# --------------------------------------------------------------------------- every route


@pytest.mark.parametrize("route", ROUTES)
def test_the_same_answer_again_is_a_duplicate_on_every_route(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    session: Session,
    arena: Arena,
    route: str,
) -> None:
    first = [{"item_id": "img-1", "annotator_id": "w1", "label": "cat"}]
    status, body = _send(client, arena, auth["vendor"], "json", first)
    assert status == 200, body
    again = [*first, {"item_id": "img-2", "annotator_id": "w1", "label": "dog"}]
    status, body = _send(client, arena, auth["vendor"], route, again)
    assert status == 200, body
    assert (body["received"], body["stored"], body["duplicates"]) == (2, 1, 1)
    assert _labels(session, arena, arena.files_id) == [
        ("img-1", "w1", "cat"),
        ("img-2", "w1", "dog"),
    ]


@pytest.mark.parametrize("route", ROUTES)
def test_a_different_answer_is_refused_with_409_on_every_route(
    client: TestClient,
    auth: dict[str, dict[str, str]],
    session: Session,
    arena: Arena,
    route: str,
) -> None:
    first = [{"item_id": "img-1", "annotator_id": "w1", "label": "cat"}]
    assert _send(client, arena, auth["vendor"], "json", first)[0] == 200
    other = [
        {"item_id": "img-2", "annotator_id": "w1", "label": "dog"},
        {"item_id": "img-1", "annotator_id": "w1", "label": "bird"},
    ]
    status, body = _send(client, arena, auth["vendor"], route, other)
    assert status == 409, body
    assert "'img-1'" in str(body["detail"]) and "'w1'" in str(body["detail"])
    if route != "client":
        assert body["code"] == "answer_conflict"
    # nothing of the refused request is stored, and the first answer stays
    assert _labels(session, arena, arena.files_id) == [("img-1", "w1", "cat")]


def test_a_file_vendor_answering_by_import_and_by_package_is_stored_once(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, arena: Arena
) -> None:
    rows = [{"item_id": k, "label": v} for k, v in GOLD.items()]
    assert _send(client, arena, auth["vendor"], "import-csv", rows)[0] == 200
    status, body = _send(client, arena, auth["vendor"], "package", rows)
    assert status == 200, body
    assert (body["stored"], body["duplicates"]) == (0, 4)
    assert _labels(session, arena, arena.files_id) == sorted((k, None, v) for k, v in GOLD.items())
    # the returned package still completes the tasks
    session.expire_all()
    statuses = session.exec(
        select(m.Task.status)
        .where(m.Task.bakeoff_id == arena.bakeoff_id)
        .where(m.Task.vendor_id == arena.files_id)
    ).all()
    assert set(statuses) == {"received"}


def test_one_request_answering_an_item_twice(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, arena: Arena
) -> None:
    same = [{"item_id": "img-3", "label": "bird"}, {"item_id": "img-3", "label": "bird"}]
    status, body = _send(client, arena, auth["vendor"], "json", same)
    assert status == 200 and (body["stored"], body["duplicates"]) == (1, 1)
    clash = [{"item_id": "img-4", "label": "cat"}, {"item_id": "img-4", "label": "dog"}]
    status, body = _send(client, arena, auth["vendor"], "json", clash)
    assert status == 409 and body["code"] == "answer_conflict"
    assert "record 2" in body["detail"] and "'img-4'" in body["detail"]
    assert "no annotator" in body["detail"]
    assert _labels(session, arena, arena.files_id) == [("img-3", None, "bird")]


# --------------------------------------------------------------------------- callbacks, polling


def test_signed_callbacks_with_new_result_ids_cannot_store_a_second_answer(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, arena: Arena
) -> None:
    first = _callback(
        client, arena, "d1", [("img-1", "w1", "r1", "cat"), ("img-2", "w1", "r2", "dog")]
    )
    assert first.status_code == 200, first.text
    # the same answer under a new result id: a duplicate
    resent = _callback(client, arena, "d2", [("img-1", "w1", "r1-bis", "cat")])
    assert resent.status_code == 200, resent.text
    assert resent.json() == {"received": 1, "stored": 0, "duplicates": 1}
    # another label for the same item and annotator: refused, naming both
    changed = _callback(client, arena, "d3", [("img-1", "w1", "r1-ter", "bird")])
    assert changed.status_code == 409, changed.text
    assert changed.json()["code"] == "answer_conflict"
    assert "'img-1'" in changed.json()["detail"] and "'w1'" in changed.json()["detail"]
    assert _labels(session, arena, arena.hook_id) == [
        ("img-1", "w1", "cat"),
        ("img-2", "w1", "dog"),
    ]
    # the stored answer keeps the first result id
    external = session.exec(
        select(m.VendorLabel.external_id)
        .where(m.VendorLabel.vendor_id == arena.hook_id)
        .order_by(col(m.VendorLabel.id))
    ).all()
    assert external == ["r1", "r2"]
    # and the bake-off still reads: results, report, CSV export
    results = client.get(f"/bakeoffs/{arena.bakeoff_id}/results", headers=auth["lead"])
    assert results.status_code == 200, results.text
    report = client.get(
        f"/ui/dashboards/bakeoffs/{arena.bakeoff_id}/report.json",
        params={"resamples": 100},
        headers=auth["lead"],
    )
    assert report.status_code == 200, report.text
    exported = client.get(
        f"/bakeoffs/{arena.bakeoff_id}/vendors/{arena.hook_id}/labels/export",
        params={"format": "csv"},
        headers=auth["lead"],
    )
    assert exported.status_code == 200, exported.text
    assert exported.text.splitlines() == [
        "item_id,annotator_id,label",
        "img-1,w1,cat",
        "img-2,w1,dog",
    ]


def test_polling_fails_the_task_of_an_item_answered_differently(
    session: Session, arena: Arena
) -> None:
    hook = session.get(m.Vendor, arena.hook_id)
    assert hook is not None
    stored = store_results(
        session=session,
        bakeoff_id=arena.bakeoff_id,
        vendor=hook,
        annotations=[VendorAnnotation(item_id="img-1", label="cat", annotator_id="w1")],
    )
    assert stored.stored == 1
    task = m.Task.__table__  # type: ignore[attr-defined]
    session.execute(  # as if the job were submitted again after a lost result
        task.update().where(task.c.vendor_id == arena.hook_id).values(status="sent")
    )
    session.commit()
    polled = store_results(
        session=session,
        bakeoff_id=arena.bakeoff_id,
        vendor=hook,
        annotations=[
            VendorAnnotation(item_id="img-1", label="dog", annotator_id="w1"),
            VendorAnnotation(item_id="img-2", label="dog", annotator_id="w1"),
        ],
        strict=False,
    )
    assert (polled.stored, polled.duplicates) == (1, 0)
    assert _labels(session, arena, arena.hook_id) == [
        ("img-1", "w1", "cat"),
        ("img-2", "w1", "dog"),
    ]
    session.expire_all()
    tasks = {
        key: (status, error)
        for key, status, error in session.exec(
            select(m.GoldenItem.key, m.Task.status, m.Task.last_error)
            .join(m.GoldenItem, col(m.GoldenItem.id) == col(m.Task.item_id))
            .where(m.Task.vendor_id == arena.hook_id)
        ).all()
    }
    assert tasks["img-2"][0] == "received"
    assert tasks["img-1"][0] == "failed"
    assert "'img-1'" in str(tasks["img-1"][1]) and "'w1'" in str(tasks["img-1"][1])


# --------------------------------------------------------------------------- annotators


def test_no_annotator_is_its_own_key_and_every_export_reads(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, arena: Arena
) -> None:
    plain = [{"item_id": "img-1", "label": "cat"}, {"item_id": "img-2", "label": "dog"}]
    assert _send(client, arena, auth["vendor"], "json", plain)[0] == 200

    def export(fmt: str) -> Any:
        return client.get(
            f"{_base(arena)}/labels/export", params={"format": fmt}, headers=auth["lead"]
        )

    assert export("csv").text.splitlines() == ["item_id,label", "img-1,cat", "img-2,dog"]
    # "no annotator" and "w1" are two answers for img-1; a second "no annotator" one is not
    named = [{"item_id": "img-1", "annotator_id": "w1", "label": "dog"}]
    status, body = _send(client, arena, auth["vendor"], "import-jsonl", named)
    assert status == 200 and body["stored"] == 1, body
    status, body = _send(client, arena, auth["vendor"], "json", [plain[0] | {"label": "bird"}])
    assert status == 409 and body["code"] == "answer_conflict"
    assert "'img-1'" in body["detail"] and "no annotator" in body["detail"]
    assert _labels(session, arena, arena.files_id) == [
        ("img-1", None, "cat"),
        ("img-1", "w1", "dog"),
        ("img-2", None, "dog"),
    ]
    # no CSV layout carries both kinds: a clear 409, not a 500; the other formats carry them
    mixed = export("csv")
    assert mixed.status_code == 409 and mixed.json()["code"] == "csv_unrepresentable"
    assert "jsonl" in mixed.json()["detail"]
    lines = [json.loads(line) for line in export("jsonl").text.splitlines()]
    assert sorted((x["item_id"], x.get("annotator_id") or "") for x in lines) == [
        ("img-1", ""),
        ("img-1", "w1"),
        ("img-2", ""),
    ]
    assert export("labelstudio").status_code == 200
    results = client.get(f"/bakeoffs/{arena.bakeoff_id}/results", headers=auth["lead"])
    assert results.status_code == 200, results.text
    # a vendor whose answers all name annotators exports item_id,annotator_id,label
    assert _callback(client, arena, "n1", [("img-1", "w1", "r1", "cat")]).status_code == 200
    exported = client.get(
        f"/bakeoffs/{arena.bakeoff_id}/vendors/{arena.hook_id}/labels/export",
        params={"format": "csv"},
        headers=auth["lead"],
    )
    assert exported.text.splitlines() == ["item_id,annotator_id,label", "img-1,w1,cat"]


def test_the_database_holds_one_answer_per_item_and_annotator_even_without_one(
    session: Session, arena: Arena
) -> None:
    item_id = session.exec(select(m.GoldenItem.id).where(m.GoldenItem.key == "img-1")).one()
    assert item_id is not None

    def row(annotator: str | None, value: str) -> m.VendorLabel:
        return m.VendorLabel(
            bakeoff_id=arena.bakeoff_id,
            vendor_id=arena.files_id,
            item_id=item_id,
            annotator_id=annotator,
            value=value,
        )

    session.add(row(None, "cat"))
    session.commit()
    stored = session.execute(text("SELECT annotator_id FROM vendorlabel")).scalars().all()
    assert stored == [""]  # "no annotator" is stored as "" and read back as None
    assert _labels(session, arena, arena.files_id) == [("img-1", None, "cat")]
    for annotator in (None, ""):
        session.add(row(annotator, "dog"))
        with pytest.raises(IntegrityError):
            session.commit()
        session.rollback()
    session.add(row("w1", "dog"))  # another annotator is another answer
    session.commit()
    assert len(_labels(session, arena, arena.files_id)) == 2


def test_same_answer_compares_multilabel_answers_as_sets() -> None:
    assert same_answer(["cat", "dog"], ["dog", "cat"], task_type="multilabel")
    assert not same_answer(["cat"], ["cat", "dog"], task_type="multilabel")
    assert not same_answer(["cat", "dog"], ["dog", "cat"], task_type="classification")
    assert same_answer({"x": 1.0}, {"x": 1}, task_type="detection")
    assert not same_answer("cat", "dog", task_type="classification")


def test_the_same_answer_stored_through_a_session_is_found_again(
    client: TestClient, auth: dict[str, dict[str, str]], arena: Arena
) -> None:
    """Identity is the stored label itself: an upload compares with what is in the table."""
    first = [{"item_id": "img-2", "label": "dog"}]
    assert _send(client, arena, auth["vendor"], "json", first)[0] == 200
    status, body = _send(client, arena, auth["vendor"], "import-jsonl", first)
    assert status == 200 and body["duplicates"] == 1
    listed = client.get(
        f"/bakeoffs/{arena.bakeoff_id}/labels",
        params={"vendor_id": arena.files_id},
        headers=auth["lead"],
    ).json()
    assert listed["count"] == 1
    assert listed["data"][0]["annotator_id"] is None and listed["data"][0]["external_id"] is None


def test_a_label_file_over_the_annotator_width_is_a_422_naming_the_row(
    client: TestClient, auth: dict[str, dict[str, str]], arena: Arena
) -> None:
    rows = [{"item_id": "img-1", "annotator_id": "w" * 201, "label": "cat"}]
    answer = client.post(
        f"{_base(arena)}/labels/import",
        params={"format": "jsonl", "filename": "wide.jsonl"},
        content=_jsonl(rows),
        headers=auth["vendor"],
    )
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert "annotator_id" in detail["msg"] and detail["loc"][-1] == "annotator_id"
