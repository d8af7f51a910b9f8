"""Per-system quantities of the ranking: aligned matrices, constraints, the score.

Split from :mod:`reports.ranking` (which orchestrates): the matrices of per-item
scores, latencies (missing items at the deadline) and costs; the point estimates and
constraint checks (coverage floor, "no results yet"); and the weighted, normalised score.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports._bootstrap import sample_quantile
from reports._format import money
from reports.inputs import RankingConfig, SystemEvaluation
from reports.results import Estimate, SystemStatus

__all__ = [
    "Matrices",
    "Points",
    "Weights",
    "align_items",
    "matrices",
    "compute_points",
    "compute_weights",
    "violations",
    "score_of",
    "throughput_estimate",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Matrices:
    """Systems' per-item data aligned on one item order: shape ``(n_items, n_systems)``."""

    items: pd.Index
    scores: FloatArray  # NaN -> 0
    labelled: npt.NDArray[np.bool_]
    latency: FloatArray | None  # NaN where not completed
    costs: FloatArray | None  # NaN -> 0
    binary: bool


def align_items(systems: Sequence[SystemEvaluation]) -> pd.Index:
    """Return the golden item ids shared by the report: the union over the systems.

    Parameters
    ----------
    systems
        The candidate systems; their ``item_scores`` are indexed by item id.

    Returns
    -------
    pandas.Index
        Sorted union of the item ids (a system lacking an id skipped that item).

    Raises
    ------
    ValueError
        When there are no systems, names repeat, or there are no items.
    """
    if not systems:
        raise ValueError("no systems to report on: pass at least one SystemEvaluation")
    names = [s.name for s in systems]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"system names must be unique; repeated: {dupes}")
    items = systems[0].item_scores.index
    for system in systems[1:]:
        items = items.union(system.item_scores.index)
    if len(items) == 0:
        raise ValueError("no golden items: every system's item_scores is empty")
    try:
        return items.sort_values()
    except TypeError:
        return items


def _fill_deadline(latency: FloatArray, deadline_s: float | None) -> FloatArray:
    """Latency with every item that never came back counted at the deadline.

    Columns with no completed item at all stay NaN (such a system is infinitely slow
    for the score). Without a deadline, the longest latency observed anywhere is used.
    """
    done = ~np.isnan(latency)
    if not done.any():
        return latency
    deadline = float(np.max(latency[done])) if deadline_s is None else float(deadline_s)
    some: npt.NDArray[np.bool_] = np.asarray(done.any(axis=0), dtype=bool)
    filled = np.where(done, latency, deadline)
    return np.where(some[None, :], filled, np.nan)


def matrices(systems: Sequence[SystemEvaluation], deadline_s: float | None) -> Matrices:
    items = align_items(systems)
    raw = np.column_stack(
        [s.item_scores.reindex(items).to_numpy(dtype=np.float64) for s in systems]
    )
    labelled = ~np.isnan(raw)
    scores = np.where(labelled, raw, 0.0)
    binary = bool(np.all((scores == 0.0) | (scores == 1.0)))
    latency: FloatArray | None = None
    if any(s.latency_s is not None for s in systems):
        latency = np.column_stack(
            [
                (
                    s.latency_s.reindex(items).to_numpy(dtype=np.float64)
                    if s.latency_s is not None
                    else np.full(len(items), np.nan)
                )
                for s in systems
            ]
        )
        latency = _fill_deadline(latency, deadline_s)
    costs: FloatArray | None = None
    if any(s.item_costs is not None for s in systems):
        costs = np.column_stack(
            [
                (
                    np.nan_to_num(s.item_costs.reindex(items).to_numpy(dtype=np.float64))
                    if s.item_costs is not None
                    else np.full(len(items), np.nan)
                )
                for s in systems
            ]
        )
    return Matrices(items, scores, labelled, latency, costs, binary)


def _normalise(
    values: FloatArray,
    *,
    higher_is_better: bool,
    method: str,
    reference: FloatArray | None = None,
) -> FloatArray:
    """Normalise each row (a replicate) of ``(..., n_systems)`` values to [0, 1].

    Best and worst are taken over the finite values of ``reference`` (default: each
    row itself); a non-finite value (an infinite latency or cost per correct label:
    nothing came back, nothing was right) scores 0. With a ``reference`` the result is
    not clipped: replicates are normalised by the *observed* best and worst, held fixed,
    so the score is a smooth function of the resampled quantities (renormalising every
    replicate by its own best makes the leader's score 1 in almost every resample and
    the paired differences non-normal, which made the score tests anti-conservative).
    """
    v = np.asarray(values, dtype=np.float64)
    ref = v if reference is None else np.asarray(reference, dtype=np.float64)
    ref_finite = np.isfinite(ref)
    vv = np.where(ref_finite, ref, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows with no finite value
        hi = np.nanmax(vv, axis=-1, keepdims=True)
        lo = np.nanmin(vv, axis=-1, keepdims=True)
    best, worst = (hi, lo) if higher_is_better else (lo, hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "minmax":
            span = best - worst
            flat = (span == 0) | np.isnan(span)
            out = np.where(flat, 1.0, (v - worst) / np.where(flat, 1.0, span))
        elif higher_is_better:
            out = np.where(best > 0, v / np.where(best > 0, best, 1.0), 1.0)
        else:
            out = np.where(v > 0, best / np.where(v > 0, v, 1.0), 1.0)
    out = np.where(np.isfinite(v), out, 0.0)
    out = np.where(np.isnan(out), 0.0, out)
    return out if reference is not None else np.clip(out, 0.0, 1.0)


def _throughput(system: SystemEvaluation) -> float:
    if system.throughput is not None:
        return float(system.throughput.value)
    if system.latency_summary is not None:
        return float(system.latency_summary.throughput_per_hour)
    return float("nan")


def throughput_estimate(system: SystemEvaluation, value: float) -> Estimate | None:
    if not np.isfinite(value):
        return None
    ci = system.throughput.ci if system.throughput is not None else None
    return Estimate(value=float(value), low=ci.low if ci else None, high=ci.high if ci else None)


def violations(
    config: RankingConfig,
    *,
    accuracy: float,
    coverage: float,
    n_labelled: int,
    n_items: int,
    p95: float,
    cost_per_item: float,
    currency: str | None = None,
) -> tuple[SystemStatus, list[str]]:
    """Why a system is not ranked (empty when it is), and its status.

    ``currency`` is the system's (its price list's); amounts are shown in it, never in a
    currency the system was not priced in.
    """
    c = config.constraints
    out: list[str] = []
    status: SystemStatus = "ranked"
    floor = c.coverage_floor
    if n_labelled == 0:
        out.append(f"no results yet (0 of {n_items:,} golden items labelled)")
        status = "no_results"
    elif coverage < floor:
        out.append(
            f"not enough results: labelled {n_labelled:,} of {n_items:,} golden items "
            f"(coverage {coverage:.3f} < floor {floor:.3f})"
        )
        status = "not_enough_results"
    if c.min_accuracy is not None and not accuracy >= c.min_accuracy:
        out.append(f"accuracy {accuracy:.3f} < required {c.min_accuracy:.3f}")
    if c.max_p95_latency_s is not None:
        if not np.isfinite(p95):
            out.append("p95 latency unknown (no completion times)")
        elif p95 > c.max_p95_latency_s:
            out.append(
                f"p95 latency {p95 / 3600:.1f} h > allowed {c.max_p95_latency_s / 3600:.1f} h"
            )
    if c.max_cost_per_item is not None:
        if not np.isfinite(cost_per_item):
            out.append("cost per item unknown")
        elif cost_per_item > c.max_cost_per_item:
            out.append(
                f"cost per item {money(cost_per_item, currency, 4)} > allowed "
                f"{money(c.max_cost_per_item, currency, 4)}"
            )
    if out and status == "ranked":
        status = "excluded"
    return status, out


@dataclass(frozen=True)
class Points:
    """Point estimates per system, shape ``(n_systems,)``."""

    accuracy: FloatArray
    coverage: FloatArray
    n_labelled: npt.NDArray[np.intp]
    has_latency: npt.NDArray[np.bool_]
    never_back: npt.NDArray[np.bool_]
    has_cost: npt.NDArray[np.bool_]
    p95: FloatArray
    cost_per_item: FloatArray
    cost_per_correct: FloatArray
    throughput: FloatArray


def compute_points(m: Matrices, systems: Sequence[SystemEvaluation]) -> Points:
    n, v = m.scores.shape
    coverage = m.labelled.mean(axis=0)
    has_latency = np.array(
        [m.latency is not None and bool(np.any(~np.isnan(m.latency[:, j]))) for j in range(v)]
    )
    # A system whose items never came back (nothing completed, or nothing labelled) is
    # infinitely slow for the speed score, rather than of unknown speed.
    never_back = np.array(
        [
            not has_latency[j] and (systems[j].latency_s is not None or coverage[j] == 0)
            for j in range(v)
        ]
    )
    has_cost = np.array([s.item_costs is not None for s in systems])
    p95 = np.array(
        [
            sample_quantile(m.latency[:, j], 0.95) if m.latency is not None else np.nan
            for j in range(v)
        ]
    )
    total_cost = m.costs.sum(axis=0) if m.costs is not None else np.full(v, np.nan)
    total_cost = np.where(has_cost, total_cost, np.nan)
    correct = m.scores.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost_per_correct = np.where(correct > 0, total_cost / correct, np.inf)
    return Points(
        accuracy=m.scores.mean(axis=0),
        coverage=coverage,
        n_labelled=m.labelled.sum(axis=0).astype(np.intp),
        has_latency=has_latency,
        never_back=never_back,
        has_cost=has_cost,
        p95=p95,
        cost_per_item=total_cost / n,
        cost_per_correct=np.where(has_cost, cost_per_correct, np.nan),
        throughput=np.array([_throughput(s) for s in systems], dtype=np.float64),
    )


@dataclass(frozen=True)
class Weights:
    accuracy: float
    speed: float
    cost: float

    @property
    def total(self) -> float:
        return self.accuracy + self.speed + self.cost


def compute_weights(
    cfg: RankingConfig, pts: Points, elig_idx: npt.NDArray[np.intp], notes: list[str]
) -> Weights:
    """Which components enter the score: each needs data for every ranked system."""
    w_acc, w_speed, w_cost = cfg.weights.accuracy, cfg.weights.speed, cfg.weights.cost
    if cfg.speed == "p95_latency":
        known = pts.has_latency | pts.never_back
    else:
        known = np.isfinite(pts.throughput) | pts.never_back
    speed_ok = bool(elig_idx.size) and bool(np.all(known[elig_idx]))
    cost_ok = bool(elig_idx.size) and bool(np.all(pts.has_cost[elig_idx]))
    if w_speed > 0 and not speed_ok and elig_idx.size:
        notes.append(
            f"Speed ({cfg.speed.replace('_', ' ')}) is not known for every eligible system, "
            "so it is left out of the score."
        )
        w_speed = 0.0
    if w_cost > 0 and not cost_ok and elig_idx.size:
        notes.append("Cost is not known for every eligible system, so it is left out of the score.")
        w_cost = 0.0
    if w_acc + w_speed + w_cost == 0 and elig_idx.size:
        notes.append("Only accuracy is available, so the score is normalised accuracy.")
        w_acc = 1.0
    return Weights(w_acc, w_speed, w_cost)


def score_of(
    cfg: RankingConfig,
    w: Weights,
    acc: FloatArray,
    speed: FloatArray,
    cpc: FloatArray,
    reference: tuple[FloatArray, FloatArray, FloatArray] | None = None,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Scores of the ranked columns and their components, per row (replicate).

    ``reference``: the observed (accuracy, speed, cost per correct) whose best and worst
    normalise every row (see :func:`_normalise`); ``None`` normalises each row by itself.
    """
    ref_acc, ref_speed, ref_cpc = reference if reference is not None else (None, None, None)
    ca = _normalise(acc, higher_is_better=True, method=cfg.normalisation, reference=ref_acc)
    cs = (
        _normalise(
            speed,
            higher_is_better=cfg.speed == "throughput",
            method=cfg.normalisation,
            reference=ref_speed,
        )
        if w.speed > 0
        else np.zeros_like(acc)
    )
    cc = (
        _normalise(cpc, higher_is_better=False, method=cfg.normalisation, reference=ref_cpc)
        if w.cost > 0
        else np.zeros_like(acc)
    )
    total = w.total if w.total > 0 else 1.0
    return (w.accuracy * ca + w.speed * cs + w.cost * cc) / total, ca, cs, cc
