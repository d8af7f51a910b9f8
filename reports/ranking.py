"""Rank candidate systems on accuracy, speed and cost, with paired uncertainty.

The score of a system is the weighted mean of three normalised components:

* accuracy: the main metric over *all* golden items (a skipped item counts as wrong);
* speed: the 95th-percentile latency (lower is better) or the throughput;
* cost: the cost per correct label (lower is better).

Normalisation is over the systems that meet every hard constraint (the others are
listed with the constraints they break, but not ranked). Every interval comes from the
*same* bootstrap resamples of the golden items for every system (a paired bootstrap),
so differences between systems are estimated far more tightly than either system's
level. Pairs are compared with paired tests (the score: a paired bootstrap test;
binary accuracy: McNemar's exact test) and Holm's correction across all pairs, and
systems that no test separates are reported as one tie group.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from reports import _stats
from reports._bootstrap import bootstrap_replicates, sample_quantile
from reports._verdict import leader_advice, summary_sentences
from reports.inputs import RankingConfig, SystemEvaluation
from reports.results import (
    Estimate,
    PairwiseComparison,
    Ranking,
    SystemRanking,
)

__all__ = ["rank_systems", "align_items", "pareto_front"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class _Matrices:
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


def _matrices(systems: Sequence[SystemEvaluation]) -> _Matrices:
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
    return _Matrices(items, scores, labelled, latency, costs, binary)


def _normalise(values: FloatArray, *, higher_is_better: bool, method: str) -> FloatArray:
    """Normalise each row (a replicate) of ``(..., n_systems)`` values to [0, 1].

    Best and worst are taken over the finite values; a non-finite value (an infinite
    latency or cost per correct label: nothing came back, nothing was right) scores 0.
    """
    v = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(v)
    vv = np.where(finite, v, np.nan)
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
    out = np.where(finite, out, 0.0)
    return np.where(np.isnan(out), 0.0, np.clip(out, 0.0, 1.0))


def pareto_front(accuracy: Sequence[float], cost: Sequence[float]) -> list[bool]:
    """Flag the points that no other point beats on both accuracy (up) and cost (down).

    Parameters
    ----------
    accuracy, cost
        One value per system; ``NaN`` cost means unknown (then only accuracy counts).

    Returns
    -------
    list of bool
        ``True`` for systems on the cost-accuracy Pareto front.

    Examples
    --------
    >>> pareto_front([0.9, 0.95, 0.85], [0.05, 0.08, 0.06])
    [True, True, False]
    """
    acc = np.asarray(accuracy, dtype=np.float64)
    cst = np.nan_to_num(np.asarray(cost, dtype=np.float64), nan=np.inf)
    flags: list[bool] = []
    for i in range(acc.size):
        dominated = np.any((acc >= acc[i]) & (cst <= cst[i]) & ((acc > acc[i]) | (cst < cst[i])))
        flags.append(not bool(dominated))
    return flags


def _estimate(point: float, replicates: FloatArray | None, confidence: float) -> Estimate:
    if not np.isfinite(point):
        return Estimate(value=None)
    if replicates is None:
        return Estimate(value=float(point))
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return Estimate(value=float(point))
    tail = (1 - confidence) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return Estimate(value=float(point), low=float(low), high=float(high))


def _bootstrap_p(diffs: FloatArray) -> float:
    """Two-sided p-value of "no difference" by inverting the percentile interval.

    The definition of :func:`metrics.statistics.paired_bootstrap_test` (twice the smaller
    share of resampled differences on either side of zero, ``+1``-corrected), applied to
    the replicates the ranking already drew, so that intervals and tests share resamples.
    """
    finite = diffs[np.isfinite(diffs)]
    if finite.size == 0:
        return 1.0
    if np.all(finite == 0):
        return 1.0
    below = (np.count_nonzero(finite <= 0) + 1) / (finite.size + 1)
    above = (np.count_nonzero(finite >= 0) + 1) / (finite.size + 1)
    return float(min(1.0, 2 * min(below, above)))


def _throughput(system: SystemEvaluation) -> float:
    if system.throughput is not None:
        return float(system.throughput.value)
    if system.latency_summary is not None:
        return float(system.latency_summary.throughput_per_hour)
    return float("nan")


def _throughput_estimate(system: SystemEvaluation, value: float) -> Estimate | None:
    if not np.isfinite(value):
        return None
    ci = system.throughput.ci if system.throughput is not None else None
    return Estimate(value=float(value), low=ci.low if ci else None, high=ci.high if ci else None)


def _violations(
    config: RankingConfig,
    *,
    accuracy: float,
    coverage: float,
    p95: float,
    cost_per_item: float,
) -> list[str]:
    c = config.constraints
    out: list[str] = []
    if c.min_accuracy is not None and not accuracy >= c.min_accuracy:
        out.append(f"accuracy {accuracy:.3f} < required {c.min_accuracy:.3f}")
    if c.min_coverage is not None and not coverage >= c.min_coverage:
        out.append(f"coverage {coverage:.3f} < required {c.min_coverage:.3f}")
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
            out.append(f"cost per item ${cost_per_item:.4f} > allowed ${c.max_cost_per_item:.4f}")
    return out


def _tie_groups(order: list[int], significant: dict[tuple[int, int], bool]) -> list[list[int]]:
    """Tiers: the best remaining system and all it is not significantly better than."""
    remaining = list(order)
    groups: list[list[int]] = []
    while remaining:
        head = remaining[0]
        group = [head] + [
            j for j in remaining[1:] if not significant.get((min(head, j), max(head, j)), False)
        ]
        groups.append(group)
        remaining = [j for j in remaining if j not in group]
    return groups


def rank_systems(
    systems: Sequence[SystemEvaluation],
    *,
    config: RankingConfig | None = None,
    rng: np.random.Generator | None = None,
) -> Ranking:
    """Score, rank and compare candidate systems on the same golden items.

    Parameters
    ----------
    systems
        One :class:`~reports.inputs.SystemEvaluation` per candidate.
    config
        Weights, hard constraints and statistical settings (defaults: weights 0.6/0.2/0.2,
        no constraints, 1,000 paired resamples, 95 % intervals, alpha 0.05).
    rng
        Random generator of the bootstrap; ``None`` uses a fixed seed (0) so that the
        same data always gives the same report.

    Returns
    -------
    Ranking
        Ranked systems first (best first), then the excluded ones; pairwise tests with
        Holm-adjusted p-values; tie groups; the Pareto front; and the verdict in words.

    Raises
    ------
    ValueError
        When there are no systems or no items, or names repeat.

    Examples
    --------
    >>> import pandas as pd
    >>> from reports.inputs import SystemEvaluation
    >>> good = SystemEvaluation("good", pd.Series([1.0] * 95 + [0.0] * 5))
    >>> bad = SystemEvaluation("bad", pd.Series([1.0] * 60 + [0.0] * 40))
    >>> ranking = rank_systems([bad, good])
    >>> [(s.name, s.rank) for s in ranking.systems]
    [('good', 1), ('bad', 2)]
    """
    cfg = config or RankingConfig()
    gen = rng if rng is not None else np.random.default_rng(0)
    m = _matrices(systems)
    n, v = m.scores.shape
    notes: list[str] = []

    accuracy = m.scores.mean(axis=0)
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
    cost_per_item = total_cost / n
    correct = m.scores.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cost_per_correct = np.where(correct > 0, total_cost / correct, np.inf)
    cost_per_correct = np.where(has_cost, cost_per_correct, np.nan)
    throughput = np.array([_throughput(s) for s in systems], dtype=np.float64)

    violations = [
        _violations(
            cfg,
            accuracy=float(accuracy[j]),
            coverage=float(coverage[j]),
            p95=float(p95[j]),
            cost_per_item=float(cost_per_item[j]),
        )
        for j in range(v)
    ]
    eligible = np.array([not viol for viol in violations])
    elig_idx = np.flatnonzero(eligible)

    # Which components enter the score: each needs data for every eligible system.
    w_acc, w_speed, w_cost = cfg.weights.accuracy, cfg.weights.speed, cfg.weights.cost
    if cfg.speed == "p95_latency":
        speed_ok = bool(elig_idx.size) and bool(np.all((has_latency | never_back)[elig_idx]))
    else:
        speed_ok = bool(elig_idx.size) and bool(
            np.all((np.isfinite(throughput) | never_back)[elig_idx])
        )
    cost_ok = bool(elig_idx.size) and bool(np.all(has_cost[elig_idx]))
    if w_speed > 0 and not speed_ok and elig_idx.size:
        notes.append(
            f"Speed ({cfg.speed.replace('_', ' ')}) is not known for every eligible system, "
            "so it is left out of the score."
        )
        w_speed = 0.0
    if w_cost > 0 and not cost_ok and elig_idx.size:
        notes.append("Cost is not known for every eligible system, so it is left out of the score.")
        w_cost = 0.0
    w_total = w_acc + w_speed + w_cost
    if w_total == 0 and elig_idx.size:
        notes.append("Only accuracy is available, so the score is normalised accuracy.")
        w_acc, w_total = 1.0, 1.0

    def score_of(acc: FloatArray, speed: FloatArray, cpc: FloatArray) -> tuple[FloatArray, ...]:
        """Scores of the eligible columns, per row (replicate)."""
        ca = _normalise(acc, higher_is_better=True, method=cfg.normalisation)
        cs = (
            _normalise(speed, higher_is_better=cfg.speed == "throughput", method=cfg.normalisation)
            if w_speed > 0
            else np.zeros_like(acc)
        )
        cc = (
            _normalise(cpc, higher_is_better=False, method=cfg.normalisation)
            if w_cost > 0
            else np.zeros_like(acc)
        )
        return (w_acc * ca + w_speed * cs + w_cost * cc) / w_total, ca, cs, cc

    if cfg.speed == "p95_latency":
        speed_point = np.where(never_back, np.inf, p95)
    else:
        speed_point = np.where(never_back & ~np.isfinite(throughput), 0.0, throughput)
    score_point = np.full(v, np.nan)
    components = np.full((3, v), np.nan)
    if elig_idx.size:
        sp, ca, cs, cc = score_of(
            accuracy[elig_idx], speed_point[elig_idx], cost_per_correct[elig_idx]
        )
        score_point[elig_idx] = sp
        components[:, elig_idx] = np.vstack([ca, cs, cc])

    # Paired bootstrap: the same item resamples for every system and quantity.
    b_total = cfg.n_resamples
    reps = bootstrap_replicates(m.scores, m.latency, m.costs, n_resamples=b_total, rng=gen, q=0.95)
    rep_acc, rep_p95, rep_cpi, rep_cpc = (
        reps.accuracy,
        reps.p95_latency,
        reps.cost_per_item,
        reps.cost_per_correct,
    )

    rep_speed = (
        np.where(never_back, np.inf, rep_p95)
        if cfg.speed == "p95_latency"
        else np.tile(speed_point, (b_total, 1))
    )
    rep_score = np.full((b_total, v), np.nan)
    if elig_idx.size:
        rep_score[:, elig_idx] = score_of(
            rep_acc[:, elig_idx], rep_speed[:, elig_idx], rep_cpc[:, elig_idx]
        )[0]

    # Order: eligible by score (ties: accuracy, then name); excluded after, by accuracy.
    ranked = sorted(
        elig_idx.tolist(), key=lambda j: (-score_point[j], -accuracy[j], systems[j].name)
    )
    excluded = sorted(
        np.flatnonzero(~eligible).tolist(), key=lambda j: (-accuracy[j], systems[j].name)
    )

    # Pairwise tests among ranked systems.
    comparisons: list[PairwiseComparison] = []
    sig_score: dict[tuple[int, int], bool] = {}
    pairs = [(ranked[x], ranked[y]) for x in range(len(ranked)) for y in range(x + 1, len(ranked))]
    if pairs:
        raw_score = [_bootstrap_p(rep_score[:, a] - rep_score[:, b]) for a, b in pairs]
        adj_score = _stats.holm(raw_score)
        for (a, b), p, q in zip(pairs, raw_score, adj_score, strict=True):
            significant = bool(q < cfg.alpha)
            sig_score[(min(a, b), max(a, b))] = significant
            comparisons.append(
                PairwiseComparison(
                    a=systems[a].name,
                    b=systems[b].name,
                    quantity="score",
                    test="paired bootstrap",
                    difference=float(score_point[a] - score_point[b]),
                    p_value=p,
                    p_adjusted=q,
                    significant=significant,
                )
            )
        if m.binary:
            raw_acc = [_stats.mcnemar_exact(m.scores[:, a], m.scores[:, b]) for a, b in pairs]
            test_name = "McNemar exact"
        else:
            raw_acc = [_bootstrap_p(rep_acc[:, a] - rep_acc[:, b]) for a, b in pairs]
            test_name = "paired bootstrap"
        adj_acc = _stats.holm(raw_acc)
        for (a, b), p, q in zip(pairs, raw_acc, adj_acc, strict=True):
            comparisons.append(
                PairwiseComparison(
                    a=systems[a].name,
                    b=systems[b].name,
                    quantity="accuracy",
                    test=test_name,
                    difference=float(accuracy[a] - accuracy[b]),
                    p_value=p,
                    p_adjusted=q,
                    significant=bool(q < cfg.alpha),
                )
            )

    groups = _tie_groups(ranked, sig_score)
    group_of = {j: g + 1 for g, members in enumerate(groups) for j in members}
    front = pareto_front(accuracy.tolist(), cost_per_correct.tolist())

    rows: list[SystemRanking] = []
    for position, j in enumerate(ranked + excluded):
        is_ranked = position < len(ranked)
        rows.append(
            SystemRanking(
                name=systems[j].name,
                rank=position + 1 if is_ranked else None,
                eligible=bool(eligible[j]),
                violations=violations[j],
                score=_estimate(score_point[j], rep_score[:, j], cfg.confidence)
                if is_ranked
                else None,
                accuracy=_estimate(accuracy[j], rep_acc[:, j], cfg.confidence),
                coverage=float(coverage[j]),
                n_items=n,
                p95_latency_s=_estimate(p95[j], rep_p95[:, j], cfg.confidence)
                if has_latency[j]
                else None,
                throughput_per_hour=_throughput_estimate(systems[j], throughput[j]),
                cost_per_item=_estimate(cost_per_item[j], rep_cpi[:, j], cfg.confidence)
                if has_cost[j]
                else None,
                cost_per_correct=_estimate(cost_per_correct[j], rep_cpc[:, j], cfg.confidence)
                if has_cost[j]
                else None,
                components=(
                    {
                        "accuracy": float(components[0, j]),
                        "speed": float(components[1, j]),
                        "cost": float(components[2, j]),
                    }
                    if is_ranked
                    else {}
                ),
                tie_group=group_of.get(j),
                pareto_optimal=front[j],
            )
        )

    advice = leader_advice(
        ranked,
        systems,
        m.scores,
        m.binary,
        score_point,
        rep_score,
        cfg,
        sig_score,
        comparisons,
    )
    summary = summary_sentences(rows, groups, systems, advice, notes, cfg, front)
    return Ranking(
        main_metric=systems[0].main_metric,
        weights={
            "accuracy": cfg.weights.accuracy,
            "speed": cfg.weights.speed,
            "cost": cfg.weights.cost,
        },
        constraints={
            "min_accuracy": cfg.constraints.min_accuracy,
            "max_p95_latency_s": cfg.constraints.max_p95_latency_s,
            "max_cost_per_item": cfg.constraints.max_cost_per_item,
            "min_coverage": cfg.constraints.min_coverage,
        },
        speed_measure=cfg.speed,
        normalisation=cfg.normalisation,
        confidence=cfg.confidence,
        alpha=cfg.alpha,
        n_resamples=cfg.n_resamples,
        systems=rows,
        comparisons=comparisons,
        tie_groups=[[systems[j].name for j in g] for g in groups],
        pareto_front=[systems[j].name for j in range(v) if front[j]],
        sample_size=advice,
        summary=summary,
    )
