"""What a bake-off's scores depend on: its :func:`fingerprint`, and the rows the engine reads.

Kept apart from :mod:`service.domain.scoring` (which runs the engine) so that reading a
bake-off's state imports no scoring code: :mod:`service.domain.score_prefetch` reads it in a
thread while the engine's code is still being imported.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Text, cast, func
from sqlalchemy import select as sa_select
from sqlmodel import Session

from metrics.defaults import DEFAULT_MIN_COVERAGE
from service.core.config import get_settings
from service.domain._common import table_of
from service.domain.stored_labels import fetch_columns, stored_frames
from service.models import BakeOff, BakeOffVendorLink, GoldenItem, GoldLabel, Project, Task, Vendor

__all__ = [
    "DEFAULT_MIN_COVERAGE",
    "StoredRows",
    "fingerprint",
    "min_coverage",
    "one_state",
    "read_gold",
    "read_rows",
]

_CODE: str | None = None


def min_coverage(bakeoff: BakeOff) -> float:
    """The bake-off's coverage floor: ``constraints["min_coverage"]``, default 0.95."""
    value = (bakeoff.constraints or {}).get("min_coverage")
    return DEFAULT_MIN_COVERAGE if value is None else float(value)


@dataclass(frozen=True)
class StoredRows:
    """What the engine reads of a bake-off from the database: the pinned gold's columns
    (item id, key, metadata and gold value as JSON text, and for boxes and masks the item's
    data), and the :func:`~service.domain.stored_labels.stored_frames` labels and tasks."""

    gold: list[list[Any]]
    labels: pd.DataFrame
    tasks: pd.DataFrame


def read_rows(session: Session, bakeoff: BakeOff, task_type: str) -> StoredRows:
    """The bake-off's rows the engine scores (see :class:`StoredRows`)."""
    labels, tasks = stored_frames(session, bakeoff.id or 0)
    return StoredRows(read_gold(session, bakeoff, task_type), labels, tasks)


def read_gold(session: Session, bakeoff: BakeOff, task_type: str) -> list[list[Any]]:
    """The pinned gold's columns, by item key (see :class:`StoredRows`)."""
    gl, gi = table_of(GoldLabel), table_of(GoldenItem)
    columns = [gi.c.id, gi.c.key, cast(gi.c.meta, Text), cast(gl.c.value, Text)]
    if task_type in ("detection", "segmentation"):
        columns.append(cast(gi.c.data, Text))
    return fetch_columns(
        session,
        sa_select(*columns)
        .join(gl, gl.c.item_id == gi.c.id)
        .where(gl.c.version_id == bakeoff.golden_set_version_id)
        .order_by(gi.c.key),
    )


def _source(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:  # pragma: no cover - our own modules
        raise RuntimeError(f"cannot find the source of {module}")
    return Path(spec.origin)


def _code_digest() -> str:
    """Digest of the code the scores come from (:mod:`metrics`, the arranging of rows into
    the engine's inputs, the reading of rows, the stored form): scores of other code are not
    served, a deploy recomputes. The files are found without importing them."""
    global _CODE
    if _CODE is None:
        digest = hashlib.sha256()
        files = sorted(_source("metrics").parent.rglob("*.py"))
        files += [_source("service.domain.scoring"), Path(__file__)]  # arranging the rows
        files += [_source("service.domain.stored_labels")]  # what is read, how
        files += [_source("service.core.scored_json"), _source("reports.inputs")]  # stored
        for path in files:
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        _CODE = digest.hexdigest()
    return _CODE


#: (bake-off id, data version, resamples, seed) -> fingerprint, inside :func:`one_state`
_ONE_STATE: ContextVar[dict[tuple[int, int, int, int], str] | None] = ContextVar(
    "one_state", default=None
)


@contextmanager
def one_state() -> Iterator[None]:
    """Within this block a bake-off's :func:`fingerprint` is read once and then reused.

    A report reads the bake-off's scores, its results (for the trend) and its stored
    ranking replicates, each under the fingerprint: reading it once makes them one state
    (with tasks moving in between, the parts could otherwise disagree), and spares the
    aggregate over every task each read costs (about 0.15 s at 500,000 tasks). A new data
    version (labels written inside the block) is read again.
    """
    token = _ONE_STATE.set({})
    try:
        yield
    finally:
        _ONE_STATE.reset(token)


def fingerprint(session: Session, bakeoff: BakeOff, *, n_resamples: int, seed: int) -> str:
    """Digest of everything :func:`score_bakeoff` depends on (read once per bake-off inside
    :func:`one_state`).

    The data version (labels, gold corrections), the pinned gold version, the coverage
    floor, the project's task type and ontology, the candidates with their aliases and
    prices, the tasks' dispatch/return times and costs (which move without new labels when
    items time out), the dispatch deadline, the bootstrap settings and the code.
    """
    pinned = _ONE_STATE.get()
    key = (bakeoff.id or 0, bakeoff.data_version, n_resamples, seed)
    if pinned is not None and key in pinned:
        return pinned[key]
    digest = _read_fingerprint(session, bakeoff, n_resamples=n_resamples, seed=seed)
    if pinned is not None:
        pinned[key] = digest
    return digest


def _read_fingerprint(session: Session, bakeoff: BakeOff, *, n_resamples: int, seed: int) -> str:
    project = session.get(Project, bakeoff.project_id)
    v, link, t = table_of(Vendor), table_of(BakeOffVendorLink), table_of(Task)
    vendors = session.execute(
        sa_select(
            v.c.id,
            v.c.name,
            link.c.alias,
            v.c.price_per_item,
            v.c.price_per_label,
            v.c.price_per_hour,
            v.c.minimum_commitment,
            v.c.currency,
        )
        .join(link, link.c.vendor_id == v.c.id)
        .where(link.c.bakeoff_id == bakeoff.id)
        .order_by(v.c.id)
    ).all()
    tasks = session.execute(
        sa_select(
            func.count(),
            func.count(t.c.sent_at),
            func.max(t.c.sent_at),
            func.count(t.c.completed_at),
            func.max(t.c.completed_at),
            func.count(t.c.cost),
            func.sum(t.c.cost),
        ).where(t.c.bakeoff_id == bakeoff.id)
    ).one()
    state = [
        bakeoff.id,
        bakeoff.data_version,
        bakeoff.golden_set_version_id,
        min_coverage(bakeoff),
        None if project is None else project.task_type,
        None if project is None else project.ontology,
        [[str(x) for x in row] for row in vendors],
        [str(x) for x in tasks],
        get_settings().dispatch_task_timeout_s,
        n_resamples,
        seed,
        _code_digest(),
    ]
    text = json.dumps(state, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
