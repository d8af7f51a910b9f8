"""Flag runs on uploaded probabilities: the same chunk jobs as model runs, 422s by row/column."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import service.models as m
from service.core.config import Settings
from service.domain import delivery_flags, delivery_jobs, delivery_probs
from service.domain.errors import Invalid
from tests.service.conftest import Seed
from tests.service.test_delivery_audit import _delivery, _probs_csv
from tests.service.test_delivery_jobs import _drain, _flags

Headers = dict[str, dict[str, str]]


def _shuffled(body: bytes, seed: int, drop: int = 0) -> bytes:
    """The same rows in another order (the file's order is the customer's, not ours)."""
    head, *rows = body.decode().strip().split("\n")
    order = np.random.default_rng(seed).permutation(len(rows))
    kept = [rows[i] for i in order][drop:]
    return ("\n".join([head, *kept]) + "\n").encode()


@pytest.mark.dbs
def test_an_upload_run_gives_the_one_process_flags(
    session: Session, seeded: Seed, tmp_path: Path
) -> None:
    delivery, _ = _delivery(session, seeded, n=300)
    did = delivery.id or 0
    body = _probs_csv(session, delivery)
    one = delivery_flags.flag_delivery(session=session, delivery_id=did, source=io.BytesIO(body))
    expected = _flags(session, did)
    assert one.n_flagged > 0
    run = delivery_probs.start_upload_run(
        session=session, delivery_id=did, source=io.BytesIO(_shuffled(body, 3)), chunk_size=41
    )
    assert (run.source, run.state) == ("upload", "running")
    assert run.n_chunks == -(-(300 + delivery.n_honeypots) // 41)
    # flags from a previous run are cleared only by the merge: nothing changed yet
    assert _flags(session, did) == expected
    settings = Settings(environment="test", database_url="sqlite://", model_dir=str(tmp_path))
    progress = [delivery_jobs.flag_run_public(session, run).n_chunks_parsed]
    _drain(session, run.id or 0, settings, order_seed=7)
    session.refresh(run)
    assert run.state == "merged", run.error
    progress.append(delivery_jobs.flag_run_public(session, run).n_chunks_scored)
    assert progress == [0, run.n_chunks]
    got = _flags(session, did)
    assert {k: v[1] for k, v in got.items()} == {k: v[1] for k, v in expected.items()}
    for k, (score, _) in expected.items():
        assert (score is None) == (got[k][0] is None)
        if score is not None:
            assert got[k][0] == pytest.approx(score, abs=1e-12)
    assert run.n_scored == one.n_scored and run.n_flagged == one.n_flagged
    assert run.n_without_probabilities == 0
    # the merge put the flags in the review queue, as the one-process path does
    queued = session.exec(select(m.Flag).where(m.Flag.delivery_id == did)).all()
    assert len(queued) == run.n_flagged


def test_items_left_out_of_the_file_are_counted_not_scored(session: Session, seeded: Seed) -> None:
    delivery, _ = _delivery(session, seeded, n=120)
    did = delivery.id or 0
    body = _shuffled(_probs_csv(session, delivery), 1, drop=25)
    run = delivery_probs.start_upload_run(
        session=session, delivery_id=did, source=io.BytesIO(body), chunk_size=50
    )
    settings = Settings(environment="test", database_url="sqlite://")
    _drain(session, run.id or 0, settings)
    session.refresh(run)
    assert run.state == "merged", run.error
    dropped = {line.split(",")[0] for line in _probs_csv(session, delivery).decode().split()[1:]}
    dropped -= {line.split(",")[0] for line in body.decode().split()[1:]}
    honeypots = {
        i.key
        for i in session.exec(select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == did))
        if i.gold_item_id is not None
    }
    assert run.n_without_probabilities == len(dropped - honeypots) > 0
    assert run.n_scored == 120 - run.n_without_probabilities


_BAD = [
    pytest.param(b"key,cat,dog,bird\n", "row 1, column 'item_id'", id="no-item-id"),
    pytest.param(b"item_id,cat,dog\n", r"missing \['bird'\]", id="missing-class"),
    pytest.param(
        b"item_id,cat,dog,bird\n{k0},0.2,abc,0.5\n", "row 2, column 'dog': 'abc'", id="nan"
    ),
    pytest.param(
        b"item_id,cat,dog,bird\n{k0},0.2,,0.8\n", "row 2, column 'dog': is empty", id="empty"
    ),
    pytest.param(
        b"item_id,cat,dog,bird\n{k0},0.2,0.3,0.5\n{k1},1.5,-0.5,0\n",
        "row 3, column 'cat': 1.5 is not a probability",
        id="range",
    ),
    pytest.param(b"item_id,cat,dog,bird\n{k0},0.2,0.3,0.4\n", "row 2: .* sum to 0.9", id="sum"),
    pytest.param(
        b"item_id,cat,dog,bird\n{k0},0.2,0.3,0.5\nnope,0.2,0.3,0.5\n",
        "row 3, column 'item_id': 'nope' is not an item",
        id="unknown-item",
    ),
    pytest.param(
        b"item_id,cat,dog,bird\n{k0},0.2,0.3,0.5\n{k1},0.2,0.3,0.5\n{k0},0.2,0.3,0.5\n",
        "row 4, column 'item_id': '.*' is given twice \\(first in row 2\\)",
        id="twice",
    ),
    pytest.param(b"item_id,cat,dog,bird\n,0.2,0.3,0.5\n", "row 2, column 'item_id'", id="no-id"),
]


@pytest.mark.parametrize(("body", "match"), _BAD)
def test_bad_files_are_refused_by_row_and_column_and_write_nothing(
    session: Session, seeded: Seed, body: bytes, match: str
) -> None:
    delivery, _ = _delivery(session, seeded, n=20)
    did = delivery.id or 0
    keys = [
        i.key for i in session.exec(select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == did))
    ]
    filled = body.replace(b"{k0}", keys[0].encode()).replace(b"{k1}", keys[1].encode())
    with pytest.raises(Invalid, match=match):
        delivery_probs.start_upload_run(
            session=session, delivery_id=did, source=io.BytesIO(filled), chunk_size=7
        )
    assert session.exec(select(m.DeliveryFlagRun)).all() == []
    assert session.exec(select(m.DeliveryFlagChunk)).all() == []
    # the one-process path refuses the same file with the same words
    if "twice" not in match:
        with pytest.raises(Invalid, match=match):
            delivery_flags.flag_delivery(
                session=session, delivery_id=did, source=io.BytesIO(filled)
            )


def test_the_api_starts_an_upload_run_and_shows_its_progress(
    client: TestClient, session: Session, seeded: Seed, auth: Headers, settings: Settings
) -> None:
    from service.api.routes.dispatch import get_run_queue

    delivery, _ = _delivery(session, seeded, n=90)
    did = delivery.id or 0
    enqueued: list[int] = []

    class Recorder:
        def enqueue_flag_chunks(self, chunk_ids: list[int]) -> int:
            enqueued.extend(chunk_ids)
            return len(chunk_ids)

    client.app.dependency_overrides[get_run_queue] = Recorder  # type: ignore[attr-defined]
    url = f"/deliveries/{did}/flags/runs/upload?chunk_size=30"
    csv = {"Content-Type": "text/csv"}
    bad = client.post(url, content=b"item_id,cat,dog,bird\nx,1,0,0\n", headers=auth["qa"] | csv)
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "row 2", "item_id"]
    r = client.post(url, content=_probs_csv(session, delivery), headers=auth["qa"] | csv)
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["source"] == "upload" and len(enqueued) == run["n_chunks"] > 1
    _drain(session, run["id"], settings)
    done = client.get(f"/deliveries/{did}/flags/runs", headers=auth["qa"]).json()[0]
    assert done["state"] == "merged" and done["n_chunks_scored"] == run["n_chunks"]
    assert done["n_scored"] == 90
    page = client.get(f"/ui/review/deliveries/{did}", headers=auth["qa"])
    assert page.status_code == 200
    assert f"{run['n_chunks']} of {run['n_chunks']} chunks scored" in page.text
    vendor = client.post(url, content=_probs_csv(session, delivery), headers=auth["vendor"] | csv)
    assert vendor.status_code == 403
