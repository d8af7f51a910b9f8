"""Columns read by :func:`service.core.bulk_read.read_columns` equal SQLAlchemy's own rows.

Runs on SQLite and on PostgreSQL (``dbs``): PostgreSQL's path aggregates each column into
one binary array per group and decodes it with NumPy, so NULLs, microseconds, times before
PostgreSQL's 2000-01-01 epoch and awkward texts are each checked against what SQLAlchemy's
result processors return for the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Column, Engine, Float, Integer, MetaData, String, Table, insert, select
from sqlmodel import Session

from service.core.bulk_read import ColumnKind, read_columns
from service.core.types import UTCDateTime

pytestmark = pytest.mark.dbs

_META = MetaData()
_ROWS = Table(
    "bulk_read_rows",
    _META,
    Column("id", Integer, primary_key=True),
    Column("grp", Integer, nullable=False),
    Column("maybe", Integer, nullable=True),
    Column("amount", Float, nullable=True),
    Column("name", String, nullable=True),
    Column("at", UTCDateTime(), nullable=True),
)

ROWS: list[dict[str, Any]] = [
    {"grp": 1, "amount": 0.1, "name": "plain", "at": datetime(2026, 1, 1, 0, 0, 30, 312593, UTC)},
    {"grp": 1, "amount": None, "name": None, "at": None},
    {"grp": 2, "amount": 1e-300, "name": "", "at": datetime(1999, 12, 31, 23, 59, 59, 999999, UTC)},
    {"grp": 2, "amount": 123456.789, "name": "NA", "at": datetime(1970, 1, 1, tzinfo=UTC)},
    {"grp": 3, "amount": 0.08, "name": 'a, "b"\nc\\', "at": datetime(2000, 1, 1, tzinfo=UTC)},
    {"grp": 3, "amount": 2.5, "name": "é 日本", "at": datetime(1901, 7, 4, 12, 0, 0, 1, UTC)},
    {"grp": 1, "maybe": 7, "amount": 0.0, "name": "null", "at": datetime(2106, 2, 7, tzinfo=UTC)},
]
KINDS: tuple[ColumnKind, ...] = ("int", "int", "float", "text", "time")


@pytest.fixture
def rows(engine: Engine, session: Session) -> Session:
    _META.create_all(engine)
    session.execute(insert(_ROWS), [{"maybe": None, **row} for row in ROWS])
    session.commit()
    return session


def _statement() -> Any:
    t = _ROWS.c
    return select(t.id, t.grp, t.amount, t.name, t.at)


@pytest.mark.parametrize("group_by", [None, 1], ids=["one-group", "by-grp"])
def test_columns_equal_sqlalchemy_rows(rows: Session, group_by: int | None) -> None:
    ids, grp, amount, name, at = read_columns(rows, _statement(), KINDS, group_by=group_by)
    assert [c.dtype for c in (ids, grp, amount, name, at)] == [
        np.dtype(np.int64),
        np.dtype(np.int64),
        np.dtype(np.float64),
        np.dtype(object),
        np.dtype("datetime64[us]"),
    ]
    expected = {r.id: r for r in rows.execute(_statement()).all()}
    assert sorted(ids.tolist()) == sorted(expected)
    for i, row_id in enumerate(ids.tolist()):
        want = expected[row_id]
        assert grp[i] == want.grp
        if want.amount is None:
            assert np.isnan(amount[i])
        else:
            assert amount[i] == want.amount  # bit for bit: no text round trip
        assert name[i] == want.name
        if want.at is None:
            assert np.isnat(at[i])
        else:
            assert pd.Timestamp(at[i]).tz_localize("UTC") == want.at


def test_no_rows_gives_empty_columns_of_each_kind(rows: Session) -> None:
    empty = _statement().where(_ROWS.c.id < 0)
    columns = read_columns(rows, empty, KINDS, group_by=1)
    assert [c.size for c in columns] == [0] * len(KINDS)
    assert [c.dtype for c in columns] == [
        np.dtype(np.int64),
        np.dtype(np.int64),
        np.dtype(np.float64),
        np.dtype(object),
        np.dtype("datetime64[us]"),
    ]


def test_null_in_an_int_column_is_refused(rows: Session) -> None:
    with pytest.raises(ValueError, match="NULL"):
        read_columns(rows, select(_ROWS.c.maybe), ("int",))


def test_kinds_must_match_the_columns(rows: Session) -> None:
    with pytest.raises(ValueError, match="kinds names 1 columns; the statement selects 5"):
        read_columns(rows, _statement(), ("int",))
