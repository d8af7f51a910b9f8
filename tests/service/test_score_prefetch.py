"""A bake-off's rows read ahead while the report's code is imported (PostgreSQL).

``bakeoff report`` starts :func:`service.domain.score_prefetch.start` before importing the
report: the engine then scores the rows read by the prefetch, in one snapshot, instead of
reading them again. These tests hold it to:

* the scores of prefetched rows are the engine's output on rows it reads itself, bit for
  bit, and the engine reads nothing more (for every task type);
* rows read before labels landed are never scored as the newer state;
* a prefetch that fails, or finds the scores stored, changes nothing but the work done;
* the resamples it draws while the rows arrive are the engine's (it does not draw them
  again), and a failed draw is drawn again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, select

import metrics.scoring
import service.models as m
from service.core import scored_json
from service.core.config import get_settings
from service.core.db import create_db_engine, get_engine
from service.domain import score_prefetch, score_state, score_store, scoring, stored_labels
from service.domain.vendor_labels import add_vendor_labels
from tests.one_truth_data import GENERATORS, seed_case

pytestmark = pytest.mark.postgres

_TYPES = (scoring.BakeoffScores, scoring.Candidate)


@pytest.fixture
def engine(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    """The configured database (what the prefetch opens) is this test's PostgreSQL schema."""
    monkeypatch.setenv("BAKEOFF_DATABASE_URL", postgres_url)
    monkeypatch.setenv("BAKEOFF_SCORES_ON_IMPORT", "off")
    get_settings.cache_clear()
    get_engine.cache_clear()
    made = create_db_engine(postgres_url)
    SQLModel.metadata.create_all(made)
    scoring.clear_cache()
    yield made
    made.dispose()
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
    scoring.clear_cache()


def _body(scores: scoring.BakeoffScores) -> bytes:
    """The scores as stored, without when they were computed."""
    return scored_json.dumps(replace(scores, computed_at=None, scored_now=False), types=_TYPES)


def _reference(session: Session, bakeoff_id: int) -> bytes:
    """The engine on rows it reads itself (no prefetch, nothing stored)."""
    bakeoff = session.get(m.BakeOff, bakeoff_id)
    assert bakeoff is not None
    return _body(scoring._compute(session, bakeoff, n_resamples=200, seed=0))


def _score(session: Session, bakeoff_id: int) -> scoring.BakeoffScores:
    session.expire_all()
    bakeoff = session.get(m.BakeOff, bakeoff_id)
    assert bakeoff is not None
    return scoring.score_bakeoff(session=session, bakeoff=bakeoff, n_resamples=200, seed=0)


def _draws_in_this_thread(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Resamples the engine draws itself (``scoring.resample_counts``: not the prefetch's)."""
    draws: list[int] = []
    real = metrics.scoring.resample_counts

    def counted(n_items: int, **kwargs: Any) -> Any:
        draws.append(n_items)
        return real(n_items, **kwargs)

    monkeypatch.setattr(scoring, "resample_counts", counted)
    return draws


def _reads_in_this_thread(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Rows the engine reads itself (``scoring.read_rows``: not the prefetch's reads)."""
    reads: list[str] = []
    real = score_state.read_rows

    def counted(*args: Any, **kwargs: Any) -> score_state.StoredRows:
        reads.append("rows")
        return real(*args, **kwargs)

    monkeypatch.setattr(scoring, "read_rows", counted)
    return reads


def _finished(bakeoff_id: int) -> None:
    """Wait until the prefetch started for ``bakeoff_id`` has read what it reads."""
    with score_prefetch._LOCK:
        pending = [f for (_, b), f in score_prefetch._PENDING.items() if b == bakeoff_id]
    for future in pending:
        future.exception(timeout=60)


@pytest.mark.parametrize("task", list(GENERATORS))
def test_prefetched_rows_are_scored_as_rows_read_by_the_engine(
    task: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        bakeoff_id = seed_case(
            session, GENERATORS[task](np.random.default_rng(3), 40, 0.8)
        ).bakeoff_id
        want = _reference(session, bakeoff_id)
        reads = _reads_in_this_thread(monkeypatch)
        draws = _draws_in_this_thread(monkeypatch)
        score_prefetch.start(bakeoff_id, n_resamples=200, seed=0)
        got = _score(session, bakeoff_id)
    assert got.scored_now
    assert reads == []  # the engine scored the prefetched rows
    assert draws == []  # on the resamples the prefetch drew
    assert _body(got) == want


def test_a_failed_draw_is_drawn_again(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> Any:
        raise MemoryError("no room for the resamples")

    with Session(engine) as session:
        seeded = seed_case(session, GENERATORS["classification"](np.random.default_rng(8), 30, 1))
        want = _reference(session, seeded.bakeoff_id)
        reads = _reads_in_this_thread(monkeypatch)
        draws = _draws_in_this_thread(monkeypatch)
        monkeypatch.setattr(score_prefetch, "_draw", broken)
        score_prefetch.start(seeded.bakeoff_id, n_resamples=200, seed=0)
        got = _score(session, seeded.bakeoff_id)
    assert reads == []
    assert draws == [30]  # once, before the candidates' threads
    assert _body(got) == want


def test_rows_read_before_labels_landed_are_not_scored(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        seeded = seed_case(session, GENERATORS["classification"](np.random.default_rng(4), 30, 1))
        bakeoff_id = seeded.bakeoff_id
        score_prefetch.start(bakeoff_id, n_resamples=200, seed=0)
        _finished(bakeoff_id)  # read in the state before the late label
        link = session.exec(
            select(m.BakeOffVendorLink).where(m.BakeOffVendorLink.bakeoff_id == bakeoff_id)
        ).first()
        assert link is not None
        add_vendor_labels(
            session=session,
            bakeoff_id=bakeoff_id,
            vendor_id=link.vendor_id,
            records=[m.VendorLabelCreate(item_key="i000", value="cat", annotator_id="late")],
        )
        want = _reference(session, bakeoff_id)
        reads = _reads_in_this_thread(monkeypatch)
        got = _score(session, bakeoff_id)
    assert reads == ["rows"]  # the prefetched state was older: read again
    assert _body(got) == want
    assert (
        sum(c.n_label_rows for c in got.candidates)
        == sum(
            len(a)
            for a in GENERATORS["classification"](np.random.default_rng(4), 30, 1).vendors.values()
        )
        + 1
    )


def test_a_failed_prefetch_is_read_again(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("connection lost")

    with Session(engine) as session:
        seeded = seed_case(session, GENERATORS["multilabel"](np.random.default_rng(5), 30, 0.9))
        want = _reference(session, seeded.bakeoff_id)
        reads = _reads_in_this_thread(monkeypatch)
        monkeypatch.setattr(stored_labels, "task_frame", broken)  # in the prefetch's thread
        score_prefetch.start(seeded.bakeoff_id, n_resamples=200, seed=0)
        _finished(seeded.bakeoff_id)
        monkeypatch.undo()
        reads = _reads_in_this_thread(monkeypatch)
        got = _score(session, seeded.bakeoff_id)
    assert reads == ["rows"]
    assert _body(got) == want


def test_nothing_is_read_ahead_when_the_scores_are_stored(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(engine) as session:
        seeded = seed_case(session, GENERATORS["classification"](np.random.default_rng(6), 30, 1))
        first = _score(session, seeded.bakeoff_id)  # computed and stored
        assert first.scored_now
        scoring.clear_cache()
        frames: list[int] = []
        real = stored_labels.label_frame

        def counted(session: Session, bakeoff_id: int) -> Any:
            frames.append(bakeoff_id)
            return real(session, bakeoff_id)

        monkeypatch.setattr(stored_labels, "label_frame", counted)
        score_prefetch.start(seeded.bakeoff_id, n_resamples=200, seed=0)
        _finished(seeded.bakeoff_id)
        again = _score(session, seeded.bakeoff_id)
        assert score_store.stored_row_count(session, seeded.bakeoff_id) == 1
    assert frames == []
    assert not again.scored_now
    assert _body(again) == _body(first)
