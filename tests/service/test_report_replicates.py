"""A report's ranking reads its bootstrap replicates stored next to the bake-off's scores.

Issue 10: a 100,000-item report must not draw 1,000 resamples again in every new process.
The replicates are stored when the bake-off is ranked (the dashboard's leader when labels
land, or the first report), keyed by a digest of what they are computed from:

* labels landing store them (with the scores and the leader); a report in a fresh process
  reads them, draws no resamples, and is the report computed without them, number for
  number;
* new labels replace the scores, and the replicates go with them;
* on SQLite files and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, func
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, select

import metrics.resampling as resampling
import service.models as m
from reports.results import Report
from service.core.config import get_settings
from service.core.db import create_db_engine
from service.domain import (
    dashboards,
    reporting,
    score_precompute,
    score_state,
    score_store,
    scoring,
)
from service.domain.vendor_labels import add_vendor_labels
from tests.one_truth_data import GENERATORS, Seeded, seed_case


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'replicates.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    made = create_db_engine(url)
    SQLModel.metadata.create_all(made)
    yield made
    made.dispose()


@pytest.fixture
def mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    def set_mode(value: str) -> None:
        monkeypatch.setenv("BAKEOFF_SCORES_ON_IMPORT", value)
        get_settings.cache_clear()

    yield set_mode
    get_settings.cache_clear()


@pytest.fixture
def draws(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Resample chunks drawn (each one: ``default_rng(seed)`` integers for every item)."""
    calls: list[int] = []
    real = resampling._draw

    def counted(n_items: int, k: int, rng: np.random.Generator) -> Any:
        calls.append(k)
        return real(n_items, k, rng)

    monkeypatch.setattr(resampling, "_draw", counted)
    return calls


def _fresh_process() -> None:
    scoring.clear_cache()
    reporting.clear_cache()
    dashboards.clear_cache()
    score_store.clear_memory()


def _stored(session: Session) -> int:
    return int(
        session.execute(sa_select(func.count()).select_from(m.BakeOffReplicatesRow)).one()[0]
    )


def _report(session: Session, seeded: Seeded) -> Report:
    _fresh_process()
    return reporting.bakeoff_report(session=session, bakeoff_id=seeded.bakeoff_id)


def _without_store(session: Session, seeded: Seeded, monkeypatch: pytest.MonkeyPatch) -> Report:
    """The report as computed with nothing kept (replicates neither read nor stored)."""

    def nothing(*_args: object, **_kwargs: object) -> None:
        return None

    with monkeypatch.context() as patch:
        patch.setattr(score_store, "read_replicates", nothing)
        patch.setattr(score_store, "store_replicates", nothing)
        return _report(session, seeded)


def _same(a: Report, b: Report) -> bool:
    return a.model_dump(exclude={"generated_at"}) == b.model_dump(exclude={"generated_at"})


def test_labels_landing_store_replicates_a_fresh_report_reads_them(
    engine: Engine,
    mode: Callable[[str], None],
    draws: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mode("inline")
    with Session(engine) as session:
        case = GENERATORS["classification"](np.random.default_rng(3), 60, 1.0)
        seeded = seed_case(session, case)
        assert score_precompute.wait_idle(60)
        assert _stored(session) == 1  # ranked for the dashboard's leader, kept
        draws.clear()
        read = _report(session, seeded)
        assert draws == []  # scores and replicates read: no resample drawn
        direct = _without_store(session, seeded, monkeypatch)
        assert draws  # computed: drawn
    assert _same(read, direct)


def test_a_first_report_stores_them_and_new_labels_take_them_away(
    engine: Engine, mode: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    mode("off")
    with Session(engine) as session:
        case = GENERATORS["classification"](np.random.default_rng(5), 60, 1.0)
        seeded = seed_case(session, case)
        assert _stored(session) == 0
        first = _report(session, seeded)  # scores and replicates computed, both stored
        assert _stored(session) == 1
        second = _report(session, seeded)
        assert _same(first, second)
        assert _same(second, _without_store(session, seeded, monkeypatch))
        vendor_id = session.exec(
            select(m.BakeOffVendorLink.vendor_id).where(
                m.BakeOffVendorLink.bakeoff_id == seeded.bakeoff_id
            )
        ).first()
        assert vendor_id is not None
        add_vendor_labels(
            session=session,
            bakeoff_id=seeded.bakeoff_id,
            vendor_id=vendor_id,
            records=[m.VendorLabelCreate(item_key="i000", value="cat", annotator_id="late")],
        )
        third = _report(session, seeded)  # new scores replace the old row and its replicates
        assert _stored(session) == 1
        assert _same(third, _without_store(session, seeded, monkeypatch))


def test_a_report_reads_the_bake_offs_state_once(
    engine: Engine, mode: Callable[[str], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Scores, the trend's results and the stored replicates of one report are read under
    one fingerprint, read once (each read is an aggregate over every task); labels that
    land inside the block are a new data version, read again."""
    mode("off")
    reads: list[int] = []
    real = score_state._read_fingerprint

    def counted(session: Session, bakeoff: m.BakeOff, **kwargs: Any) -> str:
        reads.append(bakeoff.id or 0)
        return real(session, bakeoff, **kwargs)

    monkeypatch.setattr(score_state, "_read_fingerprint", counted)
    with Session(engine) as session:
        seeded = seed_case(session, GENERATORS["classification"](np.random.default_rng(7), 40, 1))
        _report(session, seeded)
        assert reads == [seeded.bakeoff_id]
        reads.clear()
        bakeoff = session.get(m.BakeOff, seeded.bakeoff_id)
        assert bakeoff is not None
        with score_state.one_state():
            a = score_state.fingerprint(session, bakeoff, n_resamples=200, seed=0)
            assert score_state.fingerprint(session, bakeoff, n_resamples=200, seed=0) == a
            assert reads == [seeded.bakeoff_id]
            link = session.exec(
                select(m.BakeOffVendorLink).where(
                    m.BakeOffVendorLink.bakeoff_id == seeded.bakeoff_id
                )
            ).first()
            assert link is not None
            add_vendor_labels(
                session=session,
                bakeoff_id=seeded.bakeoff_id,
                vendor_id=link.vendor_id,
                records=[m.VendorLabelCreate(item_key="i000", value="cat", annotator_id="new")],
            )
            session.refresh(bakeoff)
            assert score_state.fingerprint(session, bakeoff, n_resamples=200, seed=0) != a
            assert len(reads) == 2
        score_state.fingerprint(session, bakeoff, n_resamples=200, seed=0)
        assert len(reads) == 3  # outside the block: read every time
