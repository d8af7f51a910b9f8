"""Every bake-off's leader on the project dashboard: stored next to its scores, read by a new
process, never served for another state.

* labels landing (inline or in the background) store the bake-off's scores and then its
  leader: a "fresh process" (every in-memory cache forgotten) lists it without ranking;
* the stored leader is keyed by everything the ranking depends on: other weights rank again
  (and are stored for the next process), a QA reader of a blinded bake-off is never shown
  the named leader, and new labels make the old leader unreadable (it goes with its scores);
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

import service.models as m
from reports.report import build_report
from reports.results import Report
from service.core.config import get_settings
from service.core.db import create_db_engine
from service.domain import dashboards, reporting, score_precompute, scoring
from service.domain.bakeoffs import update_bakeoff
from service.domain.dashboards import BakeoffRow, bakeoff_rows, leader_text
from service.domain.security import Principal
from service.domain.vendor_labels import add_vendor_labels
from tests.one_truth_data import GENERATORS, Seeded, seed_case

QA = Principal(key_id=1, name="qa reader", role="qa")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database another thread can score in (an in-memory one is never scored ahead)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leaders.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    made = create_db_engine(url)
    SQLModel.metadata.create_all(made)
    yield made
    made.dispose()


@pytest.fixture
def mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set ``BAKEOFF_SCORES_ON_IMPORT`` for one test."""

    def set_mode(value: str) -> None:
        monkeypatch.setenv("BAKEOFF_SCORES_ON_IMPORT", value)
        get_settings.cache_clear()

    yield set_mode
    get_settings.cache_clear()


@pytest.fixture
def rankings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Titles of the reports ranked (``reports.report.build_report`` runs the ranking)."""
    calls: list[str] = []

    def counted(*args: Any, **kw: Any) -> Report:
        calls.append(str(kw.get("title")))
        return build_report(*args, **kw)

    monkeypatch.setattr(reporting, "build_report", counted)
    return calls


def _fresh_process() -> None:
    """Forget everything this process remembers: only the database is left."""
    scoring.clear_cache()
    reporting.clear_cache()
    dashboards.clear_cache()


def _seed(session: Session) -> Seeded:
    case = GENERATORS["classification"](np.random.default_rng(3), 40, 1.0)
    seeded = seed_case(session, case)
    assert score_precompute.wait_idle(60)
    return seeded


def _row(
    session: Session, seeded: Seeded, rankings: list[str], principal: Principal | None = None
) -> tuple[BakeoffRow, int]:
    """The bake-off's row as a fresh process lists it; how many rankings listing it ran."""
    bakeoff = session.get(m.BakeOff, seeded.bakeoff_id)
    assert bakeoff is not None
    overview = reporting.project_overview(
        session=session, project_id=bakeoff.project_id, principal=principal
    )
    _fresh_process()  # the overview's own report (the current ranking) is not measured
    rankings.clear()
    (row,) = bakeoff_rows(session=session, overview=overview, principal=principal)
    return row, len(rankings)


def _engine_leader(session: Session, seeded: Seeded, principal: Principal | None = None) -> str:
    """The leader of the ranking engine's report, built now."""
    _fresh_process()
    report = reporting.bakeoff_report(
        session=session, bakeoff_id=seeded.bakeoff_id, principal=principal
    )
    return leader_text(report.ranking)


def _named(leader: str, seeded: Seeded) -> bool:
    """Whether ``leader`` names a vendor first (alone, or tied with others)."""
    return any(leader == n or leader.startswith(f"{n} (tied with ") for n in seeded.names)


def _stored_leaders(session: Session) -> int:
    return int(session.execute(sa_select(func.count()).select_from(m.BakeOffLeaderRow)).one()[0])


@pytest.mark.parametrize("how", ["inline", "background"])
def test_a_fresh_process_reads_the_leader_stored_when_labels_landed(
    how: str, engine: Engine, mode: Callable[[str], None], rankings: list[str]
) -> None:
    mode(how)
    with Session(engine) as session:
        seeded = _seed(session)
        assert _stored_leaders(session) == 1
        row, ranked = _row(session, seeded, rankings)
        assert ranked == 0  # read, not ranked
        expected = _engine_leader(session, seeded)
    assert len(rankings) == 1  # the engine's own report ranks (the test can see a ranking)
    assert row.leader == expected and _named(row.leader, seeded)
    assert row.verdict


def test_other_weights_rank_again_and_are_stored_for_the_next_process(
    engine: Engine, mode: Callable[[str], None], rankings: list[str]
) -> None:
    mode("inline")
    with Session(engine) as session:
        seeded = _seed(session)
        update_bakeoff(
            session=session,
            bakeoff_id=seeded.bakeoff_id,
            data=m.BakeOffUpdate(ranking_weights={"accuracy": 0.1, "speed": 0.1, "cost": 0.8}),
        )
        first, ranked = _row(session, seeded, rankings)
        assert ranked == 1  # the stored leader was of the old weights
        assert _stored_leaders(session) == 2  # both weightings, next to the same scores
        second, ranked = _row(session, seeded, rankings)
        assert ranked == 0  # the next process reads the new weights' leader
        expected = _engine_leader(session, seeded)
    assert first.leader == second.leader == expected
    assert first.verdict == second.verdict


def test_a_qa_reader_of_a_blinded_bake_off_never_gets_the_named_leader(
    engine: Engine, mode: Callable[[str], None], rankings: list[str]
) -> None:
    mode("inline")
    with Session(engine) as session:
        seeded = _seed(session)
        bakeoff = session.get(m.BakeOff, seeded.bakeoff_id)
        assert bakeoff is not None and bakeoff.blinded
        blinded, ranked = _row(session, seeded, rankings, QA)
        assert ranked == 1  # the named leader stored for viewers is not QA's
        again, ranked = _row(session, seeded, rankings, QA)
        assert ranked == 0  # ...but QA's own is, once ranked
        named, ranked = _row(session, seeded, rankings)
        assert ranked == 0
        expected = _engine_leader(session, seeded, QA)
    assert blinded.leader == again.leader == expected
    assert blinded.leader.startswith("Candidate ")
    assert _named(named.leader, seeded)


def test_new_labels_make_the_stored_leader_unreadable(
    engine: Engine, mode: Callable[[str], None], rankings: list[str]
) -> None:
    mode("inline")
    with Session(engine) as session:
        seeded = _seed(session)
        mode("off")  # nothing scores the new labels ahead: the page must not read old ones
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
        _, ranked = _row(session, seeded, rankings)
        assert ranked == 1
        # the new scores replaced the old row, and the old leader went with it
        assert _stored_leaders(session) == 1
