"""Requests sent at the same time: one does the work, the others replay or get 409, never 500.

Security issue 11, item 10. Ten requests with one ``Idempotency-Key`` used to fail with 500 on
the unique index (gold import 9/10 on SQLite, package results 8/10 on PostgreSQL,
``/corrections`` 6/10), and five "apply corrections" at once made four new versions. Each test
runs on a SQLite *file* (an in-memory database shares one connection, so nothing would run
concurrently) and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, SQLModel, select

import service.models as m
from service.core.db import create_db_engine
from service.domain import bakeoffs
from tests.service._review_seed import ReviewSeed, seed_classification
from tests.service.conftest import Seed, ServerFolders

pytestmark = [
    pytest.mark.dbs,
    pytest.mark.filterwarnings("ignore:May not flag all label issues:UserWarning"),
]

N = 10
Headers = dict[str, dict[str, str]]


@pytest.fixture
def engine(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database several connections can write at once: a SQLite file, or PostgreSQL."""
    if db_backend == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    eng = create_db_engine(url)
    SQLModel.metadata.create_all(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def _at_once(send: Callable[[], Any], n: int = N) -> list[Any]:
    with ThreadPoolExecutor(n) as pool:
        futures = [pool.submit(send) for _ in range(n)]
        return [f.result() for f in futures]


def _check_statuses(responses: list[Any], ok: int) -> list[Any]:
    """No 5xx; every refusal is the documented 409; return the successful answers."""
    counts = Counter(r.status_code for r in responses)
    assert set(counts) <= {ok, 409}, [(r.status_code, r.text[:300]) for r in responses]
    for r in responses:
        if r.status_code == 409:
            assert r.json()["code"] == "idempotency_key_in_progress", r.text
    return [r for r in responses if r.status_code == ok]


def _versions(session: Session, golden_set_id: int) -> int:
    session.expire_all()
    count = session.exec(
        select(func.count())
        .select_from(m.GoldenSetVersion)
        .where(m.GoldenSetVersion.golden_set_id == golden_set_id)
    ).one()
    return int(count)


def _labels(session: Session, bakeoff_id: int, vendor_id: int) -> int:
    session.expire_all()
    count = session.exec(
        select(func.count())
        .select_from(m.VendorLabel)
        .where(m.VendorLabel.bakeoff_id == bakeoff_id)
        .where(m.VendorLabel.vendor_id == vendor_id)
    ).one()
    return int(count)


def test_one_key_gold_import_sent_at_once_makes_one_version(
    client: TestClient, auth: Headers, seeded: Seed, session: Session
) -> None:
    body = "\n".join(
        json.dumps({"item_id": f"new-{i}", "data": {}, "label": "cat"}) for i in range(300)
    ).encode()
    url = f"/golden-sets/{seeded.golden_set_id}/import"
    headers = {**auth["lead"], "Idempotency-Key": "gold-at-once"}
    done = _check_statuses(_at_once(lambda: client.post(url, content=body, headers=headers)), 201)
    assert done, "no request succeeded"
    assert [r.json()["replayed"] for r in done].count(False) == 1
    assert {r.json()["golden_set_version"] for r in done} == {seeded.version + 1}
    assert _versions(session, seeded.golden_set_id) == 2


def test_one_key_corrections_sent_at_once_make_one_version(
    client: TestClient, auth: Headers, seeded: Seed, session: Session
) -> None:
    url = f"/golden-sets/{seeded.golden_set_id}/corrections"
    body = {"labels": [{"item_key": "img-1", "value": "dog"}], "note": "fix"}
    headers = {**auth["lead"], "Idempotency-Key": "fix-at-once"}
    done = _check_statuses(_at_once(lambda: client.post(url, json=body, headers=headers)), 201)
    assert done and {r.json()["version"] for r in done} == {2}
    assert _versions(session, seeded.golden_set_id) == 2
    other = client.post(url, json={**body, "note": "other"}, headers=headers)
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"


def test_corrections_without_a_key_sent_at_once_are_numbered_or_refused_never_500(
    client: TestClient, auth: Headers, seeded: Seed, session: Session
) -> None:
    url = f"/golden-sets/{seeded.golden_set_id}/corrections"
    body = {"labels": [{"item_key": "img-1", "value": "dog"}]}
    responses = _at_once(lambda: client.post(url, json=body, headers=auth["lead"]))
    assert {r.status_code for r in responses} <= {201, 409}, [r.text for r in responses]
    made = [r.json()["version"] for r in responses if r.status_code == 201]
    assert made and len(made) == len(set(made))
    assert _versions(session, seeded.golden_set_id) == 1 + len(made)


def test_one_key_label_import_sent_at_once_stores_each_label_once(
    client: TestClient, auth: Headers, seeded: Seed, session: Session
) -> None:
    body = "\n".join(
        json.dumps({"item_id": k, "label": v, "annotator_id": "w1"}) for k, v in seeded.gold.items()
    ).encode()
    url = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.other_vendor_id}/labels/import"
    headers = {**auth["lead"], "Idempotency-Key": "labels-at-once"}
    done = _check_statuses(_at_once(lambda: client.post(url, content=body, headers=headers)), 200)
    assert done and [r.json()["replayed"] for r in done].count(False) == 1
    assert {r.json()["stored"] for r in done} == {len(seeded.gold)}
    assert _labels(session, seeded.bakeoff_id, seeded.other_vendor_id) == len(seeded.gold)


def test_one_key_package_results_sent_at_once_store_each_answer_once(
    client: TestClient,
    auth: Headers,
    seeded: Seed,
    session: Session,
    server_folders: ServerFolders,
) -> None:
    # the file vendor's packages go to the operator's folder (server_folders)
    bakeoffs.create_tasks(session=session, bakeoff_id=seeded.bakeoff_id)
    package = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/package"
    assert client.get(package, params={"format": "csv"}, headers=auth["vendor"]).status_code == 200
    body = ("item_id,label\n" + "".join(f"{k},{v}\n" for k, v in seeded.gold.items())).encode()
    headers = {**auth["vendor"], "Idempotency-Key": "package-at-once"}

    def send() -> Any:
        return client.post(
            f"{package}/results", params={"format": "csv"}, content=body, headers=headers
        )

    done = _check_statuses(_at_once(send), 200)
    assert done and [r.json()["replayed"] for r in done].count(False) == 1
    assert {r.json()["stored"] for r in done} == {len(seeded.gold)}
    assert _labels(session, seeded.bakeoff_id, seeded.vendor_id) == len(seeded.gold)


@pytest.fixture
def animals(session: Session) -> ReviewSeed:
    return seed_classification(session)


def test_five_confirmations_at_once_make_exactly_one_version(
    client: TestClient, auth: Headers, animals: ReviewSeed, session: Session
) -> None:
    bid = animals.bakeoff_id
    assert client.post(f"/review/bakeoffs/{bid}/flags", json={}, headers=auth["qa"]).is_success
    queue = client.get(
        f"/review/bakeoffs/{bid}/queue", params={"limit": "200"}, headers=auth["qa"]
    ).json()["data"]
    flag = next(f for f in queue if f["reason"] == "gold_may_be_wrong")
    decided = client.post(
        f"/review/flags/{flag['id']}/decisions",
        json={"decision": "accept_candidate"},
        headers=auth["qa"],
    )
    assert decided.is_success, decided.text
    url = f"/review/bakeoffs/{bid}/gold-corrections"
    digest = client.get(url, headers=auth["lead"]).json()["digest"]
    responses = _at_once(
        lambda: client.post(url, json={"digest": digest}, headers=auth["lead"]), n=5
    )
    counts = Counter(r.status_code for r in responses)
    assert counts == {200: 1, 409: 4}, [(r.status_code, r.text[:200]) for r in responses]
    codes: set[Any] = {r.json()["code"] for r in responses if r.status_code == 409}
    # a loser that starts after the winner sees its new version: also refused, nothing made
    assert codes <= {"nothing_to_apply", "corrections_changed", "gold_changed_elsewhere"}
    assert _versions(session, animals.golden_set_id) == 2
