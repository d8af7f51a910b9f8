"""A bake-off's stored data -> metrics -> the report (ranking, breakdowns, trends).

The service is the only layer that touches the database: this module reads a bake-off's
pinned gold, its candidates' labels, tasks (dispatch and completion times, cost) and
pricing, scores every candidate with :mod:`metrics`, and hands the results to
:func:`reports.report.build_report` as :class:`reports.inputs.SystemEvaluation` objects.

Per task type, the ranked per-item score is

* classification: majority vote over the vendor's annotators equals gold (1/0);
* multilabel and spans: the whole label set equals gold (exact match);
* detection and segmentation: the image's F1 of boxes matched one-to-one at IoU 0.5
  (an image with neither gold nor labelled boxes scores 1).

An item the vendor never labelled scores 0 in the ranking (``accuracy_all``) and lowers
its coverage. Latency per item is the task's completion minus dispatch time (or, for
labels imported without tasks, the label's completion minus start); cost per item is the
task's cost, else the labels' reported cost, else the vendor's price list.
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from metrics.operations import latency_summary
from reports.inputs import (
    Constraints,
    PricingTerms,
    RankingConfig,
    RankingWeights,
    SystemEvaluation,
    TrendPoint,
)
from reports.report import build_report
from reports.results import Report
from service.domain._common import get_or_404, table_of
from service.domain.access import check_project, is_vendor
from service.domain.bakeoffs import get_bakeoff, vendor_aliases
from service.domain.errors import Forbidden
from service.domain.report_scoring import score_labels
from service.domain.results import bakeoff_results
from service.domain.security import Principal
from service.domain.stored_labels import stored_frames
from service.models import (
    BakeOff,
    GoldenItem,
    GoldLabel,
    Project,
    Vendor,
)

__all__ = [
    "MAIN_METRIC",
    "ProjectOverview",
    "BakeoffSummary",
    "ranking_config",
    "bakeoff_systems",
    "bakeoff_report",
    "project_history",
    "project_overview",
    "clear_cache",
]

MAIN_METRIC: dict[str, str] = {
    "classification": "accuracy",
    "multilabel": "exact_match",
    "spans": "exact_match",
    "detection": "per-image F1 (IoU 0.5)",
    "segmentation": "per-image F1 (IoU 0.5)",
}

_HOUR = 3600.0
_CACHE: OrderedDict[Hashable, Report] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 32


def ranking_config(bakeoff: BakeOff, *, n_resamples: int = 1000) -> RankingConfig:
    """The bake-off's weights and hard constraints as a :class:`RankingConfig`.

    Weights are read from ``ranking_weights`` (``accuracy``, ``speed``, ``cost``);
    constraints from ``constraints``: ``min_accuracy``, ``min_coverage``,
    ``max_cost_per_item``, and ``max_p95_latency_h`` (hours) or ``max_p95_latency_s``.

    Raises
    ------
    ValueError
        When a weight or constraint key is unknown or a value is invalid.
    """
    weights = dict(bakeoff.ranking_weights or {})
    unknown = set(weights) - {"accuracy", "speed", "cost"}
    if unknown:
        raise ValueError(
            f"bake-off {bakeoff.id}: unknown ranking weight(s) {sorted(unknown)}; "
            "use accuracy, speed, cost"
        )
    c = dict(bakeoff.constraints or {})
    known = {
        "min_accuracy",
        "min_coverage",
        "max_cost_per_item",
        "max_p95_latency_h",
        "max_p95_latency_s",
    }
    unknown = set(c) - known
    if unknown:
        raise ValueError(
            f"bake-off {bakeoff.id}: unknown constraint(s) {sorted(unknown)}; use {sorted(known)}"
        )
    latency_s = c.get("max_p95_latency_s")
    if c.get("max_p95_latency_h") is not None:
        latency_s = float(c["max_p95_latency_h"]) * _HOUR
    return RankingConfig(
        weights=RankingWeights(
            accuracy=float(weights.get("accuracy", 0.6)),
            speed=float(weights.get("speed", 0.2)),
            cost=float(weights.get("cost", 0.2)),
        ),
        constraints=Constraints(
            min_accuracy=c.get("min_accuracy"),
            max_p95_latency_s=latency_s,
            max_cost_per_item=c.get("max_cost_per_item"),
            min_coverage=c.get("min_coverage"),
        ),
        n_resamples=n_resamples,
    )


def _reveal(bakeoff: BakeOff, principal: Principal | None) -> bool:
    return not (bakeoff.blinded and principal is not None and principal.role == "qa")


@dataclass(frozen=True)
class _Stored:
    """One bake-off's rows, as frames."""

    gold: pd.Series[Any]  # item key -> gold value
    meta: pd.DataFrame  # index item key, one column per metadata field
    labels: pd.DataFrame  # vendor_id, item, annotator, value, started_at, completed_at, cost
    tasks: pd.DataFrame  # vendor_id, item, sent_at, completed_at, cost


def _load(session: Session, bakeoff: BakeOff) -> _Stored:
    gl, gi = table_of(GoldLabel), table_of(GoldenItem)
    rows = session.execute(
        sa_select(gi.c.id, gi.c.key, gi.c.meta, gl.c.value)
        .join(gl, gl.c.item_id == gi.c.id)
        .where(gl.c.version_id == bakeoff.golden_set_version_id)
        .order_by(gi.c.key)
    ).all()
    key_of = {int(r[0]): str(r[1]) for r in rows}
    gold = pd.Series({str(r[1]): r[3] for r in rows}, dtype=object)
    meta = pd.DataFrame.from_records(
        [
            {
                k: (v if isinstance(v, str | int | float | bool) else json.dumps(v))
                for k, v in (r[2] or {}).items()
            }
            for r in rows
        ],
        index=pd.Index([str(r[1]) for r in rows]),
    )
    labels, tasks = stored_frames(session, bakeoff.id or 0)
    for frame in (labels, tasks):
        frame["item"] = frame["item_id"].map(key_of)
    labels = labels[labels["item"].notna()].copy()
    tasks = tasks[tasks["item"].notna()].copy()
    labels["cost"] = pd.to_numeric(labels["cost"], errors="coerce")
    tasks["cost"] = pd.to_numeric(tasks["cost"], errors="coerce")
    return _Stored(gold=gold, meta=meta, labels=labels, tasks=tasks)


def _timestamps(
    labels: pd.DataFrame, tasks: pd.DataFrame
) -> tuple[pd.Series[Any], pd.Series[Any]] | None:
    """Per item: when it was dispatched and when it came back (``NaT``: not yet).

    From the tasks when they carry dispatch times; otherwise (labels imported without
    tasks) from the labels' start and completion times.
    """
    sent_tasks = tasks.dropna(subset=["sent_at"])
    if len(sent_tasks):
        grouped = sent_tasks.groupby("item")
        return grouped["sent_at"].min(), grouped["completed_at"].max()
    timed = labels.dropna(subset=["started_at"])
    if len(timed):
        grouped = timed.groupby("item")
        return grouped["started_at"].min(), grouped["completed_at"].max()
    return None


def _item_costs(
    vendor: Vendor, labels: pd.DataFrame, tasks: pd.DataFrame, objects_per_item: float
) -> pd.Series[float]:
    if tasks["cost"].notna().any():
        return tasks.groupby("item")["cost"].sum(min_count=1).fillna(0.0).astype(np.float64)
    if labels["cost"].notna().any():
        return labels.groupby("item")["cost"].sum(min_count=1).fillna(0.0).astype(np.float64)
    items = labels["item"].unique()
    price = vendor.price_per_item + vendor.price_per_label * objects_per_item
    return pd.Series(price, index=items, dtype=np.float64)


def _hours_per_item(labels: pd.DataFrame) -> float:
    done = labels.dropna(subset=["started_at", "completed_at"])
    if done.empty:
        return 0.0
    hours = (done["completed_at"] - done["started_at"]).dt.total_seconds() / _HOUR
    return float(max(hours.groupby(done["item"]).sum().mean(), 0.0))


def _blind_annotators(labels: pd.DataFrame) -> pd.DataFrame:
    """Replace one vendor's annotator ids by ``annotator 1, 2, ...``.

    Vendors often name annotators after themselves, so blinded readers see numbers.
    """
    ordered = sorted(str(a) for a in labels["annotator"].unique() if a)
    numbers = {a: f"annotator {n}" for n, a in enumerate(ordered, start=1)}
    return labels.assign(annotator=labels["annotator"].map(lambda a: numbers.get(a, a)))


def bakeoff_systems(
    *, session: Session, bakeoff: BakeOff, reveal: bool = True
) -> tuple[list[SystemEvaluation], pd.DataFrame]:
    """Score every candidate of a bake-off; return the systems and the item metadata.

    Parameters
    ----------
    session
        Database session.
    bakeoff
        The bake-off (already access-checked by the caller).
    reveal
        Vendor names (``True``) or the blinded aliases ("Candidate A").

    Returns
    -------
    (list of SystemEvaluation, pandas.DataFrame)
        One system per candidate (keyed by golden item key) and the items' metadata.
    """
    project = get_or_404(session, Project, bakeoff.project_id, what="Project")
    stored = _load(session, bakeoff)
    if stored.gold.empty:
        raise ValueError(f"bake-off {bakeoff.id} has no gold: its golden-set version has no labels")
    systems: list[SystemEvaluation] = []
    aliases = vendor_aliases(session, bakeoff.id or 0)
    for vendor_id, alias in sorted(aliases.items(), key=lambda kv: (len(kv[1]), kv[1])):
        vendor = session.get(Vendor, vendor_id)
        if vendor is None:  # pragma: no cover - foreign key
            continue
        labels = stored.labels[stored.labels["vendor_id"] == vendor_id]
        if not reveal:
            labels = _blind_annotators(labels)
        tasks = stored.tasks[stored.tasks["vendor_id"] == vendor_id]
        scored = score_labels(project.task_type, stored.gold, labels)
        stamps = _timestamps(labels, tasks)
        latency: pd.Series[float] = (
            (stamps[1] - stamps[0]).dt.total_seconds().astype(float).reindex(stored.gold.index)
            if stamps is not None
            else pd.Series(np.nan, index=stored.gold.index, dtype=float)
        )
        ops = latency_summary(*stamps) if stamps is not None else None
        costs = _item_costs(vendor, labels, tasks, scored.labels_per_item).reindex(
            stored.gold.index
        )
        # Costs are known when reported or priced; a vendor that returned nothing billed 0.
        has_cost = (
            bool(tasks["cost"].notna().any())
            or bool(labels["cost"].notna().any())
            or vendor.price_per_item > 0
            or vendor.price_per_label > 0
        )
        systems.append(
            SystemEvaluation(
                name=vendor.name if reveal else alias,
                item_scores=scored.scores,
                main_metric=MAIN_METRIC[project.task_type],
                latency_s=latency if stamps is not None else None,
                latency_summary=ops,
                item_costs=costs.fillna(0.0) if has_cost else None,
                metrics=scored.metrics,
                per_class=scored.per_class,
                confusion=scored.confusion,
                annotator_gold=scored.annotator_gold,
                annotator_peers=scored.annotator_peers,
                annotator_items=scored.annotator_items,
                box_bias=scored.box_bias,
                pricing=PricingTerms(
                    per_item=vendor.price_per_item,
                    per_label=vendor.price_per_label,
                    per_hour=vendor.price_per_hour,
                    minimum_commitment=vendor.minimum_commitment,
                    currency=vendor.currency,
                ),
                labels_per_item=scored.labels_per_item,
                hours_per_item=_hours_per_item(labels),
            )
        )
    if not systems:
        raise ValueError(f"bake-off {bakeoff.id} has no candidate vendors")
    return systems, stored.meta


def project_history(
    *,
    session: Session,
    project_id: int,
    principal: Principal | None = None,
    until: BakeOff | None = None,
) -> list[TrendPoint]:
    """Each vendor's main metric (skipped items wrong) in every bake-off of a project.

    Uses :func:`service.domain.results.bakeoff_results` (cached per data version), so a
    dashboard showing many bake-offs stays cheap. Cancelled bake-offs and those created
    after ``until`` are left out. Vendors are named (trends across bake-offs need the
    real names, so blinded QA views get no history).
    """
    stmt = select(BakeOff).where(BakeOff.project_id == project_id).order_by(col(BakeOff.created_at))
    points: list[TrendPoint] = []
    for other in session.exec(stmt).all():
        if other.status == "cancelled":
            continue
        if until is not None and other.created_at > until.created_at:
            continue
        results = bakeoff_results(session=session, bakeoff_id=other.id or 0, principal=principal)
        if results.blinded or results.n_gold == 0:
            continue
        for v in results.vendors:
            value = v.metrics.get(f"{v.main_metric}_all")
            if value is None and v.main_value is not None:
                value = v.main_value * v.coverage
            if value is None or not math.isfinite(value):
                continue
            points.append(
                TrendPoint(
                    bakeoff=other.name,
                    when=other.created_at,
                    system=v.vendor,
                    value=float(value),
                    n_items=results.n_gold,
                )
            )
    return points


def bakeoff_report(
    *,
    session: Session,
    bakeoff_id: int,
    principal: Principal | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
) -> Report:
    """The full report of one bake-off: ranking, breakdowns, cost projection, trends.

    Parameters
    ----------
    session
        Database session.
    bakeoff_id
        The bake-off.
    principal
        The caller (project scope and blinding apply; vendor keys are refused).
    n_resamples, seed
        Paired bootstrap resamples and the seed that makes the report reproducible.

    Raises
    ------
    NotFound
        No such bake-off (or not visible to the caller).
    Forbidden
        A vendor key.
    ValueError
        The bake-off has no gold or no candidates, or unknown weights/constraints.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    if is_vendor(principal):
        raise Forbidden("vendor keys cannot read bake-off reports")
    reveal = _reveal(bakeoff, principal)
    key = _cache_key(session, bakeoff, reveal=reveal, extra=(n_resamples, seed))
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    report = _build(
        session, bakeoff, reveal=reveal, principal=principal, n_resamples=n_resamples, seed=seed
    )
    with _LOCK:
        _CACHE[key] = report
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return report


def _cache_key(
    session: Session, bakeoff: BakeOff, *, reveal: bool, extra: tuple[int, ...]
) -> Hashable:
    """Everything a report depends on: this and the project's earlier bake-offs' state."""
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    states = session.execute(
        sa_select(
            table_of(BakeOff).c.id,
            table_of(BakeOff).c.data_version,
            table_of(BakeOff).c.updated_at,
            table_of(BakeOff).c.golden_set_version_id,
        ).where(table_of(BakeOff).c.project_id == bakeoff.project_id)
    ).all()
    vendors = session.execute(
        sa_select(
            table_of(Vendor).c.id,
            table_of(Vendor).c.name,
            table_of(Vendor).c.price_per_item,
            table_of(Vendor).c.price_per_label,
            table_of(Vendor).c.price_per_hour,
            table_of(Vendor).c.minimum_commitment,
        )
    ).all()
    return (
        str(engine.url),
        id(engine),
        bakeoff.id,
        reveal,
        extra,
        tuple(sorted(tuple(str(x) for x in row) for row in states)),
        tuple(sorted(tuple(str(x) for x in row) for row in vendors)),
    )


def clear_cache() -> None:
    """Forget every cached report."""
    with _LOCK:
        _CACHE.clear()


def _build(
    session: Session,
    bakeoff: BakeOff,
    *,
    reveal: bool,
    principal: Principal | None,
    n_resamples: int,
    seed: int,
) -> Report:
    systems, meta = bakeoff_systems(session=session, bakeoff=bakeoff, reveal=reveal)
    history = (
        project_history(
            session=session, project_id=bakeoff.project_id, principal=principal, until=bakeoff
        )
        if reveal
        else []
    )
    history = [p for p in history if any(s.name == p.system for s in systems)]
    if not any(p.bakeoff != bakeoff.name for p in history):
        history = []  # a trend needs an earlier bake-off
    return build_report(
        systems,
        title=bakeoff.name,
        config=ranking_config(bakeoff, n_resamples=n_resamples),
        metadata=meta if len(meta.columns) else None,
        history=history,
        production_volume=bakeoff.production_volume or None,
        rng=np.random.default_rng(seed),
        min_slice_items=3,
    )


@dataclass(frozen=True)
class BakeoffSummary:
    """One row of a project's list of bake-offs."""

    id: int
    name: str
    status: str
    created_at: Any
    n_vendors: int
    leader: str | None


@dataclass(frozen=True)
class ProjectOverview:
    """What procurement sees for a project: its bake-offs, the current ranking, trends."""

    project: Project
    bakeoffs: list[BakeoffSummary]
    current: Report | None
    current_id: int | None
    history: list[TrendPoint]


def project_overview(
    *,
    session: Session,
    project_id: int,
    principal: Principal | None = None,
    n_resamples: int = 1000,
) -> ProjectOverview:
    """All bake-offs of a project (newest first), the latest one's report, and trends.

    The "current" bake-off is the newest completed one, else the newest with any labels.
    """
    check_project(principal, project_id)
    if is_vendor(principal):
        raise Forbidden("vendor keys cannot read dashboards")
    project = get_or_404(session, Project, project_id, what="Project")
    rows = session.exec(
        select(BakeOff)
        .where(BakeOff.project_id == project_id)
        .order_by(col(BakeOff.created_at).desc())
    ).all()
    summaries: list[BakeoffSummary] = []
    current: Report | None = None
    current_id: int | None = None
    candidates = sorted(rows, key=lambda b: (b.status != "completed", -b.created_at.timestamp()))
    for b in candidates:
        if b.status == "cancelled":
            continue
        try:
            report = bakeoff_report(
                session=session, bakeoff_id=b.id or 0, principal=principal, n_resamples=n_resamples
            )
        except ValueError:
            continue
        if any(s.coverage > 0 for s in report.ranking.systems):
            current, current_id = report, b.id
            break
    for b in rows:
        leader: str | None = None
        if current is not None and b.id == current_id:
            ranked = [s for s in current.ranking.systems if s.rank == 1]
            leader = ranked[0].name if ranked else None
        summaries.append(
            BakeoffSummary(
                id=b.id or 0,
                name=b.name,
                status=b.status,
                created_at=b.created_at,
                n_vendors=len(vendor_aliases(session, b.id or 0)),
                leader=leader,
            )
        )
    history = project_history(session=session, project_id=project_id, principal=principal)
    return ProjectOverview(
        project=project,
        bakeoffs=summaries,
        current=current,
        current_id=current_id,
        history=history,
    )
