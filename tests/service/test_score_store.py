"""Stored scores: exact, never stale, computed once when labels land, once per state.

* the stored form of every task type's engine output decodes to the same objects, bit for
  bit (every table, series, interval and warning);
* an import scores the bake-off (inline or in the background) and a read after it, in a
  "fresh process" (memory forgotten), runs no engine;
* a row of an older state (labels, gold version, prices, coverage floor) is never served;
* two readers of a state nobody stored yet run the engine once (threads of one process,
  and on PostgreSQL two engines standing for two processes).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, update
from sqlmodel import Session, SQLModel, select

import service.models as m
from service.core import scored_json
from service.core.config import get_settings
from service.core.db import create_db_engine
from service.domain import score_precompute, score_state, score_store, scoring, vendors
from service.domain.bakeoffs import update_bakeoff
from service.domain.results import bakeoff_results
from service.domain.vendor_labels import add_vendor_labels
from tests.one_truth_data import GENERATORS, Case, seed_case


def _same(a: Any, b: Any, where: str = "") -> None:
    """Deep, exact equality: types, dtypes, indexes, and floats to the last bit."""
    assert type(a) is type(b), (where, type(a), type(b))
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_exact=True, check_index_type=True)
        assert list(a.dtypes) == list(b.dtypes), where
        for j in range(a.shape[1]):
            _same_values(a.iloc[:, j].to_numpy(), b.iloc[:, j].to_numpy(), f"{where}[{j}]")
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_exact=True, check_index_type=True)
        _same_values(a.to_numpy(), b.to_numpy(), where)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        _same_values(a, b, where)
    elif isinstance(a, float | np.floating):
        assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), (where, a, b)
    elif dataclasses.is_dataclass(a) and not isinstance(a, type):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, Mapping):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, list | tuple):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


def _same_values(a: np.ndarray[Any, Any], b: np.ndarray[Any, Any], where: str) -> None:
    if a.dtype.kind in "fc":
        assert a.tobytes() == b.tobytes(), where  # NaN payloads and signed zeros too
    elif a.dtype.kind == "O":
        for i, (x, y) in enumerate(zip(a.tolist(), b.tolist(), strict=True)):
            if isinstance(x, float) and math.isnan(x):
                assert isinstance(y, float) and math.isnan(y), (where, i)
            else:
                _same(x, y, f"{where}<{i}>")


@pytest.mark.parametrize("task", list(GENERATORS))
def test_stored_scores_are_the_engine_output_bit_for_bit(task: str, session: Session) -> None:
    case = GENERATORS[task](np.random.default_rng(7), 30, 0.6)
    seeded = seed_case(session, case)
    bakeoff = session.get(m.BakeOff, seeded.bakeoff_id)
    assert bakeoff is not None
    fresh = scoring._compute(session, bakeoff, n_resamples=200, seed=0)
    types = (scoring.BakeoffScores, scoring.Candidate)
    body = scored_json.dumps(fresh, types=types)
    doc, blobs = _parts(body)  # plain JSON and raw numbers: nothing in a row can run code
    assert len(blobs) == sum(entry["n"] for entry in doc["arrays"])
    _same(scored_json.loads(body, types=types), fresh, task)


def _parts(body: bytes) -> tuple[Any, bytes]:
    """A stored row's JSON document and the arrays' bytes after it."""
    assert body.startswith(scored_json.MAGIC)
    rest = body[len(scored_json.MAGIC) :]
    (length,) = struct.unpack("<Q", rest[:8])
    return json.loads(zlib.decompress(rest[8 : 8 + length])), rest[8 + length :]


def test_large_arrays_are_stored_once_as_bytes_and_read_back_as_copies() -> None:
    rng = np.random.default_rng(0)
    latency = rng.lognormal(3.0, 0.5, 5000)  # random-looking: kept raw
    scores = (rng.random(5000) < 0.9).astype(np.float64)  # compresses well
    index = pd.Index([f"it-{i:05d}" for i in range(5000)], dtype=object)
    value = {
        "a": pd.Series(latency, index=index),
        "b": latency.copy(),  # equal bytes: stored once
        "c": scores,
        "small": np.arange(3.0),  # under 4 KiB: inline
    }
    body = scored_json.dumps(value)
    doc, blobs = _parts(body)
    assert [(e["n"], e["z"]) for e in doc["arrays"]][0] == (latency.nbytes, False)
    assert doc["arrays"][1]["z"] and doc["arrays"][1]["n"] < scores.nbytes / 5
    assert len(doc["arrays"]) == 2 and len(blobs) == latency.nbytes + doc["arrays"][1]["n"]
    back = scored_json.loads(body)
    assert back["a"].to_numpy().tobytes() == latency.tobytes()
    assert back["b"].tobytes() == latency.tobytes() and back["c"].tobytes() == scores.tobytes()
    assert back["small"].tolist() == [0.0, 1.0, 2.0]
    back["b"][0] = -1.0  # each use is an array of its own, writable
    assert back["a"].iloc[0] == latency[0]


def test_rows_stored_before_arrays_were_kept_apart_still_read() -> None:
    values = np.array([0.5, float("nan"), -0.0])
    doc = {
        "indexes": [],
        "value": {
            "$m": [
                [
                    "x",
                    {"$a": "<f8", "shape": [3], "b64": base64.b64encode(values.tobytes()).decode()},
                ]
            ]
        },
    }
    back = scored_json.loads(zlib.compress(json.dumps(doc).encode()))
    assert back["x"].tobytes() == values.tobytes()


def test_a_truncated_or_inconsistent_row_is_refused_as_unreadable() -> None:
    body = scored_json.dumps({"x": np.arange(1000.0)})
    for bad in (body[:-1], body[: len(scored_json.MAGIC) + 4], body + b"\0"):
        with pytest.raises(ValueError, match="stored scores"):
            scored_json.loads(bad)


def test_a_stored_row_cannot_name_a_type_outside_the_result_types() -> None:
    doc = {"indexes": [], "value": {"$dc": "subprocess:Popen", "f": {}}}
    body = zlib.compress(json.dumps(doc).encode())
    with pytest.raises(ValueError, match="refusing"):
        scored_json.loads(body)
    with pytest.raises(TypeError, match="cannot store"):
        scored_json.dumps(Path("x"))


# --------------------------------------------------------------------------- the store


@pytest.fixture
def file_engine(tmp_path: Path) -> Iterator[Engine]:
    """A SQLite file database (an in-memory one is never scored in the background)."""
    engine = create_db_engine(f"sqlite:///{tmp_path / 'scores.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set ``BAKEOFF_SCORES_ON_IMPORT`` for one test."""

    def set_mode(value: str) -> None:
        monkeypatch.setenv("BAKEOFF_SCORES_ON_IMPORT", value)
        get_settings.cache_clear()

    yield set_mode
    get_settings.cache_clear()  # read again once monkeypatch has restored the variable


@pytest.fixture
def engine_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts runs of the engine over a bake-off (``scoring._compute``)."""
    calls: list[int] = []
    real = scoring._compute

    def counted(session: Session, bakeoff: m.BakeOff, **kw: Any) -> scoring.BakeoffScores:
        calls.append(bakeoff.id or 0)
        time.sleep(0.2)  # widen the window two readers could both compute in
        return real(session, bakeoff, **kw)

    monkeypatch.setattr(scoring, "_compute", counted)
    return calls


def _case() -> Case:
    return GENERATORS["classification"](np.random.default_rng(3), 25, 1.0)


def _more_labels(session: Session, bakeoff_id: int, vendor_id: int) -> None:
    add_vendor_labels(
        session=session,
        bakeoff_id=bakeoff_id,
        vendor_id=vendor_id,
        records=[m.VendorLabelCreate(item_key="i000", value="cat", annotator_id="late")],
    )


def _vendor_id(session: Session, bakeoff_id: int) -> int:
    link = session.exec(
        select(m.BakeOffVendorLink).where(m.BakeOffVendorLink.bakeoff_id == bakeoff_id)
    ).first()
    assert link is not None
    return link.vendor_id


@pytest.mark.parametrize("how", ["inline", "background"])
def test_import_scores_and_the_first_read_runs_no_engine(
    how: str, file_engine: Engine, mode: Any, engine_calls: list[int]
) -> None:
    mode(how)
    with Session(file_engine) as session:
        seeded = seed_case(session, _case())
        assert score_precompute.wait_idle(60)
        # each import of the case stored its scores: the last one is the current state
        assert engine_calls and set(engine_calls) == {seeded.bakeoff_id}
        assert score_store.stored_row_count(session, seeded.bakeoff_id) == 1
    before = len(engine_calls)
    scoring.clear_cache()  # a fresh process: nothing in memory, the row in the database
    with Session(file_engine) as session:
        results = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
    assert len(engine_calls) == before
    assert results.scored_now is False
    assert all(v.status for v in results.vendors)


def test_a_read_before_any_import_scores_once_and_says_so(
    file_engine: Engine, mode: Any, engine_calls: list[int]
) -> None:
    mode("off")
    with Session(file_engine) as session:
        seeded = seed_case(session, _case())
        assert engine_calls == []
        first = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
        scoring.clear_cache()
        second = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
    assert engine_calls == [seeded.bakeoff_id]
    assert first.scored_now is True and second.scored_now is False
    assert second.computed_at == first.computed_at
    strip = {"scored_now"}
    assert second.model_dump(exclude=strip) == first.model_dump(exclude=strip)


def test_a_row_of_an_older_state_is_never_served(
    file_engine: Engine, mode: Any, engine_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    mode("off")
    with Session(file_engine) as session:
        seeded = seed_case(session, _case())
        bakeoff_id = seeded.bakeoff_id
        vendor_id = _vendor_id(session, bakeoff_id)
        old = bakeoff_results(session=session, bakeoff_id=bakeoff_id)
        n_labels = {v.vendor: v.n_labels for v in old.vendors}
        changes: list[tuple[str, Callable[[], object]]] = [
            ("labels", lambda: _more_labels(session, bakeoff_id, vendor_id)),
            (
                "prices",
                lambda: vendors.update_vendor(
                    session=session, vendor_id=vendor_id, data=m.VendorUpdate(price_per_item=9.0)
                ),
            ),
            (
                "coverage floor",
                lambda: update_bakeoff(
                    session=session,
                    bakeoff_id=bakeoff_id,
                    data=m.BakeOffUpdate(constraints={"min_coverage": 0.5}),
                ),
            ),
            ("engine code", lambda: monkeypatch.setattr(score_state, "_CODE", "a new release")),
        ]
        for what, change in changes:
            calls = len(engine_calls)
            change()
            scoring.clear_cache()
            session.expire_all()
            new = bakeoff_results(session=session, bakeoff_id=bakeoff_id)
            assert new.scored_now is True, what
            assert len(engine_calls) == calls + 1, what
            assert score_store.stored_row_count(session, bakeoff_id) == 1, what  # old deleted
    assert {v.vendor: v.n_labels for v in new.vendors} != n_labels  # the late label counts
    priced = next(v for v in new.vendors if v.vendor_id == vendor_id)
    assert priced.scores is not None and priced.scores.min_coverage == 0.5
    assert priced.total_cost is not None and priced.total_cost > 100  # 9.0 per item


def _two_readers(engines: tuple[Engine, Engine], bakeoff_id: int) -> list[Any]:
    out: list[Any] = [None, None]
    barrier = threading.Barrier(2)

    def read(i: int) -> None:
        with Session(engines[i]) as session:
            barrier.wait()
            out[i] = bakeoff_results(session=session, bakeoff_id=bakeoff_id)

    threads = [threading.Thread(target=read, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


def test_two_readers_in_one_process_run_the_engine_once(
    file_engine: Engine, mode: Any, engine_calls: list[int]
) -> None:
    mode("off")
    with Session(file_engine) as session:
        seeded = seed_case(session, _case())
    first, second = _two_readers((file_engine, file_engine), seeded.bakeoff_id)
    assert engine_calls == [seeded.bakeoff_id]
    assert sorted([first.scored_now, second.scored_now]) == [False, True]
    strip = {"scored_now"}
    assert first.model_dump(exclude=strip) == second.model_dump(exclude=strip)


@pytest.mark.postgres
def test_two_processes_on_postgresql_run_the_engine_once(
    postgres_url: str, mode: Any, engine_calls: list[int]
) -> None:
    mode("off")
    engines = (create_db_engine(postgres_url), create_db_engine(postgres_url))
    try:
        SQLModel.metadata.create_all(engines[0])
        with Session(engines[0]) as session:
            seeded = seed_case(session, _case())
        # two engines: two writer locks in this process, so only PostgreSQL's lock holds
        first, second = _two_readers(engines, seeded.bakeoff_id)
    finally:
        for e in engines:
            e.dispose()
    assert engine_calls == [seeded.bakeoff_id]
    assert sorted([first.scored_now, second.scored_now]) == [False, True]


def test_a_stream_of_imports_is_scored_a_few_times_not_once_per_import(
    file_engine: Engine, mode: Any, engine_calls: list[int]
) -> None:
    mode("off")
    with Session(file_engine) as session:
        seeded = seed_case(session, _case())
        vendor_id = _vendor_id(session, seeded.bakeoff_id)
        mode("background")
        for k in range(8):  # callbacks: one label each, while the first scoring runs
            add_vendor_labels(
                session=session,
                bakeoff_id=seeded.bakeoff_id,
                vendor_id=vendor_id,
                records=[m.VendorLabelCreate(item_key="i001", value="cat", annotator_id=f"c{k}")],
            )
        assert score_precompute.wait_idle(60)
        assert 1 <= len(engine_calls) <= 3, engine_calls
        scoring.clear_cache()
        results = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
    assert results.scored_now is False  # the last run scored the last import


def test_scoring_keeps_the_callers_unfinished_transaction(session: Session) -> None:
    """In-memory SQLite shares one connection: the store must not roll the caller back."""
    seeded = seed_case(session, _case())
    session.add(m.Vendor(name="added, not yet committed", adapter_kind="file"))
    session.flush()
    bakeoff = session.get(m.BakeOff, seeded.bakeoff_id)
    assert bakeoff is not None
    scoring.clear_cache()
    scoring.score_bakeoff(session=session, bakeoff=bakeoff, n_resamples=50)
    session.commit()
    names = {v.name for v in session.exec(select(m.Vendor)).all()}
    assert "added, not yet committed" in names


def test_an_unreadable_row_is_computed_again_and_replaced(
    file_engine: Engine, mode: Any, engine_calls: list[int]
) -> None:
    mode("off")
    with Session(file_engine) as session:
        seeded = seed_case(session, _case())
        bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
        bad = zlib.compress(json.dumps({"indexes": [], "value": {"$dc": "os:system"}}).encode())
        session.execute(update(m.BakeOffScoresRow).values(body=bad))
        session.commit()
        scoring.clear_cache()
        again = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
        scoring.clear_cache()
        third = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
        assert score_store.stored_row_count(session, seeded.bakeoff_id) == 1
    assert len(engine_calls) == 2
    assert again.scored_now is True and third.scored_now is False


# ------------------------------------------------------------------ storing behind


@pytest.fixture(params=["sqlite-file", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database whose scores have connections of their own (a SQLite file, PostgreSQL)."""
    if request.param == "postgresql":
        engine = create_db_engine(request.getfixturevalue("postgres_url"))
    else:
        engine = create_db_engine(f"sqlite:///{tmp_path / 'behind.db'}")
    SQLModel.metadata.create_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def slow_writes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each score row's write takes 0.5 s more; the names of the threads that wrote."""
    writers: list[str] = []
    real = score_store._write

    def slow(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.5)
        real(*args, **kwargs)
        writers.append(threading.current_thread().name)

    monkeypatch.setattr(score_store, "_write", slow)
    return writers


def test_scores_stored_behind_are_stored_once_and_a_reader_waits_for_them(
    store_engine: Engine, mode: Any, engine_calls: list[int], slow_writes: list[str]
) -> None:
    from service.domain.reporting import bakeoff_report

    mode("off")
    with Session(store_engine) as session:
        seeded = seed_case(session, _case())
    other: list[Any] = []
    with Session(store_engine) as session, score_store.writing_behind():
        first = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
        assert first.scored_now and slow_writes == []  # answered before its row is stored
        # in this process the scores are in memory: a report ranks them at once
        report = bakeoff_report(session=session, bakeoff_id=seeded.bakeoff_id)
        assert len(engine_calls) == 1

        def read_elsewhere() -> None:  # another process: nothing in memory
            with Session(store_engine) as own:
                other.append(bakeoff_results(session=own, bakeoff_id=seeded.bakeoff_id))

        scoring.clear_cache()
        reader = threading.Thread(target=read_elsewhere)
        reader.start()
        reader.join(60)
    assert slow_writes == [f"store-scores-{seeded.bakeoff_id}"]  # once, on its own thread
    assert engine_calls == [seeded.bakeoff_id]  # the reader waited for the row and read it
    assert other and other[0].scored_now is False
    strip = {"scored_now"}
    assert other[0].model_dump(exclude=strip) == first.model_dump(exclude=strip)
    with Session(store_engine) as session:
        assert score_store.stored_row_count(session, seeded.bakeoff_id) == 1
        # the ranking's replicates waited for the scores and were stored next to them
        assert session.exec(select(m.BakeOffReplicatesRow)).all()
    assert report.ranking.systems


def test_a_failed_store_behind_lets_the_next_reader_compute(
    store_engine: Engine, mode: Any, engine_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = score_store._write
    failing = [True]

    def broken_once(*args: Any, **kwargs: Any) -> None:
        if failing.pop() if failing else False:
            raise RuntimeError("connection lost")
        real(*args, **kwargs)

    mode("off")
    with Session(store_engine) as session:
        seeded = seed_case(session, _case())
    monkeypatch.setattr(score_store, "_write", broken_once)
    with Session(store_engine) as session, score_store.writing_behind():
        first = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
    assert failing == []
    scoring.clear_cache()
    with Session(store_engine) as session:
        assert score_store.stored_row_count(session, seeded.bakeoff_id) == 0
        again = bakeoff_results(session=session, bakeoff_id=seeded.bakeoff_id)
        assert score_store.stored_row_count(session, seeded.bakeoff_id) == 1
    assert first.scored_now and again.scored_now  # the lock was let go: computed, stored
    assert len(engine_calls) == 2
