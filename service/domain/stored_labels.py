"""A bake-off's stored vendor labels and tasks as DataFrames, for results and reports.

Both :mod:`service.domain.results` and :mod:`service.domain.reporting` score the same rows;
this is the one place that reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import Text, cast
from sqlalchemy import select as sa_select
from sqlmodel import Session

from service.core.bulk_read import fetch_columns, read_columns
from service.domain._common import table_of
from service.models import Task, VendorLabel

__all__ = [
    "LABEL_COLUMNS",
    "TASK_COLUMNS",
    "decode_json",
    "fetch_columns",
    "label_frame",
    "stored_frames",
    "task_frame",
]

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


def _utc(values: npt.NDArray[Any]) -> pd.Series[Any]:
    """A :func:`service.core.bulk_read.read_columns` time column as UTC ``datetime64[us]``."""
    return pd.Series(pd.DatetimeIndex(values).tz_localize("UTC"))


def stored_frames(session: Session, bakeoff_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The bake-off's vendor labels (:func:`label_frame`), and its tasks that were
    dispatched or carry a cost (:func:`task_frame`)."""
    return label_frame(session, bakeoff_id), task_frame(session, bakeoff_id)


def label_frame(session: Session, bakeoff_id: int) -> pd.DataFrame:
    """The bake-off's vendor labels, with columns :data:`LABEL_COLUMNS` (``annotator`` is
    ``""`` when the vendor gave none; timestamps are UTC ``datetime64``)."""
    vl = table_of(VendorLabel)
    vendor_id, item_id, annotator, value, started, completed, cost, repeat = read_columns(
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
        ("int", "int", "text", "text", "time", "time", "float", "int"),
        group_by=0,  # one vendor's labels per array: texts stay far below 1 GB
    )
    return pd.DataFrame(
        {
            "vendor_id": vendor_id,
            "item_id": item_id,
            "annotator": pd.Series(annotator, dtype=object).fillna(""),
            "value": pd.Series(decode_json(value), dtype=object),
            "started_at": _utc(started),
            "completed_at": _utc(completed),
            "cost": pd.Series(cost, dtype=np.float64),
            # 1: the answer to a preference pair's second sending (self-consistency)
            "repeat": np.asarray(repeat, dtype=np.int64),
        }
    )


def task_frame(session: Session, bakeoff_id: int) -> pd.DataFrame:
    """The bake-off's tasks that were dispatched or carry a cost, with columns
    :data:`TASK_COLUMNS`.

    The engine times a task from its dispatch to its completion and takes its cost
    (:mod:`service.domain.scoring`); a task with neither a dispatch time nor a cost says
    nothing to score, and a bake-off can hold one per item and vendor: such tasks are left
    in the database. That is every task of a file vendor: importing its labels marks its
    tasks completed, with no dispatch time (their latency comes from the labels' own
    times). For 100,000 items x 5 vendors, reading those 500,000 completion times cost
    PostgreSQL about 0.3 s and the report 0.07 s, for nothing.
    """
    tk = table_of(Task)
    vendor_id, item_id, sent, completed, cost, repeat = read_columns(
        session,
        sa_select(
            tk.c.vendor_id, tk.c.item_id, tk.c.sent_at, tk.c.completed_at, tk.c.cost, tk.c.repeat
        )
        .where(tk.c.bakeoff_id == bakeoff_id)
        .where(tk.c.sent_at.is_not(None) | tk.c.cost.is_not(None)),
        ("int", "int", "time", "time", "float", "int"),
        group_by=0,
    )
    return pd.DataFrame(
        {
            "vendor_id": vendor_id,
            "item_id": item_id,
            "sent_at": _utc(sent),
            "completed_at": _utc(completed),
            "cost": pd.Series(cost, dtype=np.float64),
            "repeat": np.asarray(repeat, dtype=np.int64),
        }
    )


def decode_json(texts: Iterable[str | None]) -> list[Any]:
    """Decode stored JSON texts, each distinct scalar text once (class names repeat).

    Containers (boxes, spans) are decoded per row so that no two rows share a mutable value.
    """
    raw = np.asarray(texts if isinstance(texts, np.ndarray) else list(texts), dtype=object)
    codes, distinct = pd.factorize(raw)  # None: code -1
    decoded = np.empty(len(distinct) + 1, dtype=object)  # the last one stands for None
    containers = np.zeros(len(distinct) + 1, dtype=bool)
    for i, text in enumerate(distinct):
        value = json.loads(text)
        decoded[i] = value
        containers[i] = isinstance(value, dict | list)
    out = decoded[codes]
    for row in np.flatnonzero(containers[codes]):
        out[row] = json.loads(raw[row])
    return list(out)
