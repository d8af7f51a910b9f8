"""A bake-off's stored vendor labels and tasks as DataFrames, for results and reports.

Both :mod:`service.domain.results` and :mod:`service.domain.reporting` score the same rows;
this is the one place that reads them.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Sequence
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Select, Text, cast
from sqlalchemy import select as sa_select
from sqlmodel import Session

from service.domain._common import table_of
from service.models import Task, VendorLabel

__all__ = ["LABEL_COLUMNS", "TASK_COLUMNS", "decode_json", "fetch_columns", "stored_frames"]

LABEL_COLUMNS = (
    "vendor_id",
    "item_id",
    "annotator",
    "value",
    "started_at",
    "completed_at",
    "cost",
    "repeat",
)
TASK_COLUMNS = ("vendor_id", "item_id", "sent_at", "completed_at", "cost", "repeat")


def fetch_columns(session: Session, statement: Select[Any]) -> list[list[Any]]:
    """The columns of ``statement``'s result, read through the driver's own cursor.

    Large reads (hundreds of thousands of label rows) skip SQLAlchemy's per-row objects
    and result processors: the values are the driver's (JSON as text, SQLite timestamps
    as ISO strings, PostgreSQL's as ``datetime``), so callers convert whole columns at
    once. One list per selected column, in order.
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


def _utc(values: list[Any]) -> pd.Series[Any]:
    """Driver timestamps (ISO text from SQLite, ``datetime`` from PostgreSQL) in UTC.

    SQLite keeps no zone: its naive values are UTC (:class:`service.core.types.UTCDateTime`).
    The result has the dtype ``pandas.to_datetime`` gives the ``datetime`` objects SQLAlchemy
    would have made (microseconds), so both databases give the same frames.
    """
    column = pd.Series(values, dtype=object)
    if any(isinstance(v, str) for v in values):
        return pd.to_datetime(column, utc=True, format="ISO8601").dt.as_unit("us")
    return pd.to_datetime(column, utc=True)


def stored_frames(session: Session, bakeoff_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bake-off's vendor labels and tasks.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Labels with columns :data:`LABEL_COLUMNS` (``annotator`` is ``""`` when the vendor
        gave none) and tasks with :data:`TASK_COLUMNS`; timestamps are UTC ``datetime64``.
    """
    vl, tk = table_of(VendorLabel), table_of(Task)
    label_columns = fetch_columns(
        session,
        sa_select(
            vl.c.vendor_id,
            vl.c.item_id,
            vl.c.annotator_id,
            cast(vl.c.value, Text),
            vl.c.started_at,
            vl.c.completed_at,
            vl.c.cost,
            vl.c.repeat,
        ).where(vl.c.bakeoff_id == bakeoff_id),
    )
    task_columns = fetch_columns(
        session,
        sa_select(
            tk.c.vendor_id, tk.c.item_id, tk.c.sent_at, tk.c.completed_at, tk.c.cost, tk.c.repeat
        ).where(tk.c.bakeoff_id == bakeoff_id),
    )
    vendor_id, item_id, annotator, value, started, completed, cost, repeat = label_columns
    labels = pd.DataFrame(
        {
            "vendor_id": np.asarray(vendor_id, dtype=np.int64),
            "item_id": np.asarray(item_id, dtype=np.int64),
            "annotator": pd.Series(annotator, dtype=object).fillna(""),
            "value": pd.Series(decode_json(value), dtype=object),
            "started_at": _utc(started),
            "completed_at": _utc(completed),
            "cost": pd.Series(cost),
            # 1: the answer to a preference pair's second sending (self-consistency)
            "repeat": np.asarray(repeat, dtype=np.int64),
        }
    )
    vendor_id, item_id, sent, completed, cost, repeat = task_columns
    tasks = pd.DataFrame(
        {
            "vendor_id": np.asarray(vendor_id, dtype=np.int64),
            "item_id": np.asarray(item_id, dtype=np.int64),
            "sent_at": _utc(sent),
            "completed_at": _utc(completed),
            "cost": pd.Series(cost),
            "repeat": np.asarray(repeat, dtype=np.int64),
        }
    )
    return labels, tasks


def decode_json(texts: Sequence[str | None]) -> list[Any]:
    """Decode stored JSON texts, each distinct scalar text once (class names repeat).

    Containers (boxes, spans) are decoded per row so that no two rows share a mutable value.
    """
    memo: dict[str, Any] = {}
    out: list[Any] = []
    for raw in texts:
        if raw is None:
            out.append(None)
            continue
        hit = memo.get(raw, memo)
        if hit is not memo:
            out.append(hit)
            continue
        value = json.loads(raw)
        if not isinstance(value, dict | list):
            memo[raw] = value
        out.append(value)
    return out
