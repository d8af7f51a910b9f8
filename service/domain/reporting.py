"""A bake-off's scores -> the report (ranking, breakdowns, trends).

The service is the only layer that touches the database. The numbers come from
:func:`service.domain.scoring.score_bakeoff` (the scoring engine, :mod:`metrics.scoring`),
read into :class:`reports.inputs.SystemEvaluation` objects by
:func:`reports.scores.system_evaluation` and handed to :func:`reports.report.build_report`;
so the report shows exactly what ``GET /bakeoffs/{id}/results`` and ``bakeoff evaluate``
show. The ranked quantity is the main metric over all gold items (``accuracy_all`` etc.:
an unanswered item counts as wrong); a candidate below the coverage floor
(``constraints["min_coverage"]``, default 0.95) gets "not enough results" instead of a
rank.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from metrics.scoring import shared_resamples
from reports import Replicates
from reports.inputs import (
    DEFAULT_RANKING_WEIGHTS,
    Constraints,
    RankingConfig,
    RankingWeights,
    SystemEvaluation,
    TrendPoint,
)
from reports.report import build_report
from reports.results import Report
from reports.scores import system_evaluation
from service.core import scored_json
from service.domain import score_store
from service.domain._common import get_or_404, table_of
from service.domain.access import check_project, is_vendor
from service.domain.bakeoffs import get_bakeoff, vendor_aliases
from service.domain.errors import Forbidden
from service.domain.results import bakeoff_results
from service.domain.score_state import one_state
from service.domain.scoring import Candidate, fingerprint, min_coverage, score_bakeoff
from service.domain.security import Principal
from service.models import (
    BakeOff,
    Project,
    Vendor,
)

__all__ = [
    "ProjectOverview",
    "BakeoffSummary",
    "ranking_config",
    "reveals_names",
    "bakeoff_systems",
    "bakeoff_report",
    "project_history",
    "project_overview",
    "clear_cache",
]

log = logging.getLogger(__name__)

_HOUR = 3600.0
_CACHE: OrderedDict[Hashable, Report] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 32


def ranking_config(bakeoff: BakeOff, *, n_resamples: int = 1000) -> RankingConfig:
    """The bake-off's weights and hard constraints as a :class:`RankingConfig`.

    Weights are read from ``ranking_weights`` (``accuracy``, ``speed``, ``cost``);
    constraints from ``constraints``: ``min_accuracy``, ``min_coverage`` (default
    0.95: below it, "not enough results"), ``max_cost_per_item``, and
    ``max_p95_latency_h`` (hours) or ``max_p95_latency_s``.

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
            **{k: float(weights.get(k, v)) for k, v in DEFAULT_RANKING_WEIGHTS.items()}
        ),
        constraints=Constraints(
            min_accuracy=c.get("min_accuracy"),
            max_p95_latency_s=latency_s,
            max_cost_per_item=c.get("max_cost_per_item"),
            min_coverage=min_coverage(bakeoff),
        ),
        n_resamples=n_resamples,
    )


def reveals_names(bakeoff: BakeOff, principal: Principal | None) -> bool:
    """Whether ``principal``'s report of ``bakeoff`` names vendors (``False``: a QA reader
    of a blinded bake-off, who sees the aliases "Candidate A", ...)."""
    return not (bakeoff.blinded and principal is not None and principal.role == "qa")


def _blinded(candidate: Candidate) -> Any:
    """The candidate's Scored with annotators renamed ``annotator 1, 2, ...``.

    Vendors often name annotators after themselves, so blinded readers see numbers.
    """
    table = candidate.scored.per_annotator
    if table is None:
        return candidate.scored
    ordered = sorted(str(a) for a in table.index)
    numbers = {a: f"annotator {n}" for n, a in enumerate(ordered, start=1)}
    return replace(candidate.scored, per_annotator=table.rename(index=numbers))


def bakeoff_systems(
    *,
    session: Session,
    bakeoff: BakeOff,
    reveal: bool = True,
    n_resamples: int = 1000,
    seed: int = 0,
) -> tuple[list[SystemEvaluation], pd.DataFrame]:
    """Every candidate of a bake-off as report input; and the item metadata.

    Parameters
    ----------
    session
        Database session.
    bakeoff
        The bake-off (already access-checked by the caller).
    reveal
        Vendor names (``True``) or the blinded aliases ("Candidate A").
    n_resamples, seed
        Bootstrap resamples and seed of the engine's intervals.

    Returns
    -------
    (list of SystemEvaluation, pandas.DataFrame)
        One system per candidate (keyed by golden item key) and the items' metadata.

    Raises
    ------
    ValueError
        No gold, or no candidates.
    """
    scores = score_bakeoff(session=session, bakeoff=bakeoff, n_resamples=n_resamples, seed=seed)
    if scores.n_gold == 0:
        raise ValueError(f"bake-off {bakeoff.id} has no gold: its golden-set version has no labels")
    systems = [
        system_evaluation(
            c.name if reveal else c.alias,
            c.scored if reveal else _blinded(c),
            pricing=c.pricing,
            hours_per_item=c.hours_per_item,
        )
        for c in scores.candidates
    ]
    if not systems:
        raise ValueError(f"bake-off {bakeoff.id} has no candidate vendors")
    return systems, scores.metadata


def project_history(
    *,
    session: Session,
    project_id: int,
    principal: Principal | None = None,
    until: BakeOff | None = None,
) -> list[TrendPoint]:
    """Each vendor's main metric (skipped items wrong) in every bake-off of a project.

    Uses :func:`service.domain.results.bakeoff_results` (cached per data version), so a
    dashboard showing many bake-offs stays cheap. Cancelled bake-offs, those created
    after ``until``, and vendors with "not enough results" (no labels, coverage below the
    floor) are left out. Vendors are named (trends across bake-offs need the real names,
    so blinded QA views get no history).
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
            if v.status != "ok":  # no labels or low coverage: no evidence of a trend
                continue
            value = v.main_value
            if value is None or not math.isfinite(value):
                continue
            points.append(
                TrendPoint(
                    bakeoff=other.name,
                    when=other.created_at,
                    system=v.vendor,
                    value=float(value),
                    n_items=results.n_gold,
                    coverage=v.coverage,
                    # a run still going is not compared (labels imported into a draft are
                    # complete data: file vendors never "run")
                    completed=other.status != "running" or other.id == (until and until.id),
                    weights=other.ranking_weights,
                    cost_per_correct=v.cost_per_correct,
                    currency=_currency(session, v.vendor_id),
                )
            )
    return points


def _currency(session: Session, vendor_id: int | None) -> str | None:
    vendor = None if vendor_id is None else session.get(Vendor, vendor_id)
    return None if vendor is None else vendor.currency


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
    reveal = reveals_names(bakeoff, principal)
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


@dataclass(frozen=True)
class _StoredReplicates:
    """The ranking's bootstrap replicates kept next to the bake-off's stored scores (a
    :class:`reports.ReplicatesCache`): read bit for bit instead of drawn again, and stored
    once when the scores under ``fingerprint`` are stored."""

    session: Session
    bakeoff_id: int
    fingerprint: str

    def get(self, key: str) -> Replicates | None:
        body = score_store.read_replicates(
            self.session, bakeoff_id=self.bakeoff_id, fingerprint=self.fingerprint, key=key
        )
        if body is None:
            return None
        try:
            value = scored_json.loads(body, types=(Replicates,))
        except (ValueError, KeyError, TypeError):
            log.exception("stored replicates cannot be read; drawing them again")
            return None
        return value if isinstance(value, Replicates) else None

    def put(self, key: str, value: Replicates) -> None:
        try:
            body = scored_json.dumps(value, types=(Replicates,))
        except TypeError:  # pragma: no cover - plain float arrays always encode
            log.exception("replicates of bake-off %s cannot be stored", self.bakeoff_id)
            return
        score_store.store_replicates(
            self.session,
            bakeoff_id=self.bakeoff_id,
            fingerprint=self.fingerprint,
            key=key,
            body=body,
        )


def _build(
    session: Session,
    bakeoff: BakeOff,
    *,
    reveal: bool,
    principal: Principal | None,
    n_resamples: int,
    seed: int,
) -> Report:
    # one draw of resamples for the engine's intervals and the ranking's paired tests: the
    # ranking's seed gives the very resamples the engine drew for the same seed
    with shared_resamples(), one_state():
        systems, meta = bakeoff_systems(
            session=session, bakeoff=bakeoff, reveal=reveal, n_resamples=n_resamples, seed=seed
        )
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
            rng=seed,
            min_slice_items=3,  # the engine's slices (service.domain.scoring) use the same
            replicates=_StoredReplicates(
                session,
                bakeoff.id or 0,
                fingerprint(session, bakeoff, n_resamples=n_resamples, seed=seed),
            ),
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
