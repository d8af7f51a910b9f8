"""Read a query's result as NumPy columns, without one Python object per row.

Storage mechanics only (the queries and their rules stay in :mod:`service.domain`).

* PostgreSQL: the rows are aggregated server-side into one array per column and per group
  (``array_agg``), numbers and timestamps sent in the binary array format
  (``array_send``) and read with :func:`numpy.frombuffer`: 500,000 label rows cost about
  0.1 s of client CPU instead of 2.5 s for the rows and 5 s more to turn half a million
  ``datetime`` objects into ``datetime64`` (``benchmarks/bench_report_e2e.py``).
* SQLite and other databases: the rows of the DB-API cursor (:func:`fetch_columns`), each
  column converted at once.

Kinds of column (:data:`ColumnKind`): ``"int"`` (``int64``, no NULL), ``"float"``
(``float64``, NULL as NaN), ``"text"`` (``object``, NULL as ``None``) and ``"time"``
(``datetime64[us]`` in UTC, NULL as ``NaT``; SQLite's naive text and PostgreSQL's
``timestamp without time zone`` are read as UTC, as :class:`service.core.types.UTCDateTime`
stores them).
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from operator import itemgetter
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Float, Select, func, literal_column, select
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlmodel import Session

__all__ = ["ColumnKind", "fetch_columns", "read_columns"]

ColumnKind = Literal["int", "float", "text", "time"]

#: Element types of PostgreSQL's binary array format: OID -> big-endian NumPy dtype.
_ELEMENTS: dict[int, str] = {
    20: ">i8",  # int8
    21: ">i2",  # int2
    23: ">i4",  # int4
    700: ">f4",  # float4
    701: ">f8",  # float8
    1114: ">i8",  # timestamp: microseconds since 2000-01-01
    1184: ">i8",  # timestamptz: microseconds since 2000-01-01 UTC
}
_TIMES = (1114, 1184)
#: 2000-01-01 (PostgreSQL's epoch) in microseconds since 1970-01-01.
_PG_EPOCH_US = 946_684_800_000_000
_NAT = np.iinfo(np.int64).min  # '-infinity' on the wire, NaT in NumPy: NULL times
_INFINITY = np.iinfo(np.int64).max


def fetch_columns(session: Session, statement: Select[Any]) -> list[list[Any]]:
    """The columns of ``statement``'s result, read through the driver's own cursor.

    Large reads skip SQLAlchemy's per-row objects and result processors: the values are
    the driver's (JSON as text, SQLite timestamps as ISO strings, PostgreSQL's as
    ``datetime``). One list per selected column, in order.
    """
    connection = session.connection()
    compiled = statement.compile(
        dialect=connection.dialect, compile_kwargs={"render_postcompile": True}
    )
    params: Any = compiled.params
    if compiled.positiontup is not None:
        params = tuple(compiled.params[name] for name in compiled.positiontup)
    width = len(statement.selected_columns)
    collecting = gc.isenabled()
    gc.disable()  # millions of new tuples would trigger full collections for nothing
    try:
        cursor = connection.connection.cursor()
        try:
            cursor.execute(str(compiled), params)
            rows = cursor.fetchall()
        finally:
            cursor.close()
        return [list(map(itemgetter(j), rows)) for j in range(width)]
    finally:
        if collecting:
            gc.enable()


def read_columns(
    session: Session,
    statement: Select[Any],
    kinds: Sequence[ColumnKind],
    *,
    group_by: int | None = None,
) -> list[npt.NDArray[Any]]:
    """The columns of ``statement``'s result as NumPy arrays, one per selected column.

    Parameters
    ----------
    session
        The session (its transaction is used).
    statement
        A ``SELECT``; the order of its rows is kept only on the cursor path (give no
        ``ORDER BY``: callers index rows by their columns).
    kinds
        The kind of each selected column (see the module docstring).
    group_by
        On PostgreSQL, the position of a column whose equal values are aggregated
        together (e.g. the vendor): each group's arrays must stay under PostgreSQL's
        1 GB array limit, so large texts should be split by it.

    Returns
    -------
    list of numpy.ndarray
        Aligned columns: row ``i`` of every array is the same result row.

    Raises
    ------
    ValueError
        ``kinds`` does not match the selected columns, or an ``"int"`` column holds NULL.
    """
    if len(kinds) != len(statement.selected_columns):
        raise ValueError(
            f"kinds names {len(kinds)} columns; the statement selects "
            f"{len(statement.selected_columns)}"
        )
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        return _postgres_columns(session, statement, kinds, group_by)
    columns = fetch_columns(session, statement)
    return [_convert(values, kind) for values, kind in zip(columns, kinds, strict=True)]


def _convert(values: list[Any], kind: ColumnKind) -> npt.NDArray[Any]:
    """One cursor column as :func:`read_columns` returns it."""
    if kind == "int":
        if any(v is None for v in values):
            raise ValueError("an int column holds NULL")
        return np.asarray(values, dtype=np.int64)
    if kind == "float":
        return np.asarray(values, dtype=np.float64)  # None -> NaN
    if kind == "text":
        out = np.empty(len(values), dtype=object)
        out[:] = values
        return out
    column = pd.Series(values, dtype=object)
    first = next((v for v in values if v is not None), None)
    if isinstance(first, str):  # SQLite: naive ISO text, UTC
        parsed = pd.to_datetime(column, utc=True, format="ISO8601")
    else:
        parsed = pd.to_datetime(column, utc=True)
    return np.asarray(parsed.dt.as_unit("us").dt.tz_localize(None).to_numpy(), "datetime64[us]")


def _postgres_columns(
    session: Session, statement: Select[Any], kinds: Sequence[ColumnKind], group_by: int | None
) -> list[npt.NDArray[Any]]:
    rows = statement.subquery("rows")
    selected = list(rows.c)
    aggregates: list[Any] = []
    for column, kind in zip(selected, kinds, strict=True):
        if kind == "text":
            aggregates.append(func.array_agg(column))
            continue
        value: Any = column
        if kind == "float":  # the binary array format has no stride with NULLs in it
            value = func.coalesce(column, literal_column("'NaN'", Float))
        elif kind == "time":
            value = func.coalesce(column, literal_column("'-infinity'", TIMESTAMP(timezone=True)))
        aggregates.append(func.array_send(func.array_agg(value)))
    query = select(*aggregates).select_from(rows)
    if group_by is not None:
        query = query.group_by(selected[group_by])
    connection = session.connection()
    compiled = query.compile(dialect=connection.dialect)
    cursor: Any = connection.connection.cursor()
    try:
        cursor.execute(str(compiled), compiled.params, binary=True)
        groups = cursor.fetchall()
    finally:
        cursor.close()
    out: list[npt.NDArray[Any]] = []
    for j, kind in enumerate(kinds):
        parts = [_pg_column(group[j], kind) for group in groups if group[j] is not None]
        out.append(np.concatenate(parts) if parts else _empty(kind))
    return out


_DTYPES: dict[ColumnKind, np.dtype[Any]] = {
    "int": np.dtype(np.int64),
    "float": np.dtype(np.float64),
    "text": np.dtype(object),
    "time": np.dtype("datetime64[us]"),
}


def _empty(kind: ColumnKind) -> npt.NDArray[Any]:
    return np.empty(0, dtype=_DTYPES[kind])


def _pg_column(value: Any, kind: ColumnKind) -> npt.NDArray[Any]:
    """One group's aggregated column: a list (text) or ``array_send`` bytes (the rest)."""
    if kind == "text":
        out = np.empty(len(value), dtype=object)
        out[:] = value
        return out
    buffer = memoryview(value)
    header = np.frombuffer(buffer, dtype=">i4", count=3)
    ndim, has_nulls, oid = int(header[0]), int(header[1]), int(header[2]) & 0xFFFFFFFF
    if ndim == 0:
        return _empty(kind)
    if ndim != 1 or oid not in _ELEMENTS:
        raise ValueError(f"cannot read a {ndim}-dimensional array of type OID {oid}")
    if has_nulls:
        raise ValueError(f"NULL in a column read as {kind!r}")
    element = np.dtype([("length", ">i4"), ("value", _ELEMENTS[oid])])
    values = np.frombuffer(buffer, dtype=element, offset=20)["value"]
    if kind == "int":
        return values.astype(np.int64)
    if kind == "float":
        return values.astype(np.float64)
    if oid not in _TIMES:
        raise ValueError(f"a column read as 'time' has type OID {oid}")
    micros = values.astype(np.int64)
    known = (micros != _NAT) & (micros != _INFINITY)  # +-infinity: no instant, read as NaT
    micros[known] += _PG_EPOCH_US
    micros[~known] = _NAT
    return micros.view("datetime64[us]")
