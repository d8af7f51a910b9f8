"""Rank candidate systems on accuracy, speed and cost, with paired uncertainty.

The score of a system is the weighted mean of three normalised components:

* accuracy: the main metric over *all* golden items (a skipped item counts as wrong);
* speed: the 95th-percentile latency (lower is better) or the throughput;
* cost: the cost per correct label (lower is better).

No verdict without evidence: a system that labelled nothing gets "no results yet",
and one below the coverage floor (:data:`metrics.defaults.DEFAULT_MIN_COVERAGE`, or the
bake-off's ``min_coverage``) gets "not enough results" instead of a rank. A missing
item counts as wrong in the accuracy and at the deadline in the p95 latency, so
skipping hard or slow items never pays. Normalisation is over the systems that are
ranked (the others are listed with the reason, but not ranked).

Statistics (one policy, :mod:`metrics.intervals`):

* accuracy: the modified Wilson interval (0/1 scores) or the bounded mean interval;
* latency and cost: percentile intervals of a paired bootstrap (the *same* item
  resamples for every system), widened to hold their point estimate;
* the score: no interval of its own (the leader is 1 in almost every resample under
  best-ratio normalisation); instead the gap to the leader with the normal interval of
  the paired bootstrap difference;
* pairs: the score by a z-test on the paired bootstrap standard error, the main metric
  by McNemar's exact test (0/1 scores) or a paired t-test; both Holm-corrected across
  all pairs, rejecting when the adjusted p-value is ``<= alpha``. Neither test's
  p-value is floored by the number of resamples, so 8-12 vendors can be separated.
* groups: a compact letter display of the score tests (two systems share a letter
  exactly when no test separates them), so groups never contradict a test.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from metrics.intervals import DEFAULT_SEED, mean_interval, proportion_interval, resolve_rng
from metrics.statistics import compact_letter_display
from reports._bootstrap import ReplicatesCache, bootstrap_replicates
from reports._pairwise import compute_tests, score_gaps, verdict_of
from reports._quantities import (
    align_items,
    compute_points,
    compute_weights,
    matrices,
    score_of,
    throughput_estimate,
    violations,
)
from reports._verdict import (
    GROUP_RULE,
    label_bias_sentences,
    leader_advice,
    summary_sentences,
)
from reports.breakdowns import box_bias_breakdown
from reports.inputs import RankingConfig, SystemEvaluation, currencies_of
from reports.results import Estimate, Ranking, SystemRanking

__all__ = ["rank_systems", "align_items", "pareto_front"]

FloatArray = npt.NDArray[np.float64]


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


def _tidy(x: float) -> float:
    """Round to 12 significant digits: summing 400 prices of 0.01 gives 0.010000000000001426."""
    return float(f"{x:.12g}")


def _estimate(
    point: float, replicates: FloatArray | None, confidence: float, *, tidy: bool = False
) -> Estimate:
    """Point estimate and percentile interval, widened so that it holds the point."""
    if not np.isfinite(point):
        return Estimate(value=None)
    value = _tidy(point) if tidy else float(point)
    if replicates is None:
        return Estimate(value=value)
    finite = replicates[np.isfinite(replicates)]
    if finite.size == 0:
        return Estimate(value=value)
    tail = (1 - confidence) / 2
    q_low, q_high = np.quantile(finite, [tail, 1 - tail])
    low, high = (_tidy(q_low), _tidy(q_high)) if tidy else (float(q_low), float(q_high))
    return Estimate(value=value, low=min(low, value), high=max(high, value))


def _accuracy_estimate(scores: FloatArray, binary: bool, confidence: float) -> Estimate:
    """The main metric over all items with the interval policy's interval."""
    if binary:
        ci = proportion_interval(int(round(scores.sum())), scores.size, level=confidence)
    else:
        ci = mean_interval(scores, level=confidence)
    return Estimate(value=float(scores.mean()), low=ci.low, high=ci.high)


def _seed_or_generator(
    rng: np.random.Generator | int | np.integer[Any],
) -> np.random.Generator | int:
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool):
        return int(rng)
    return resolve_rng(rng)  # type: ignore[arg-type]  # a TypeError names anything else


def rank_systems(
    systems: Sequence[SystemEvaluation],
    *,
    config: RankingConfig | None = None,
    rng: np.random.Generator | int | np.integer[Any] | None = None,
    replicates: ReplicatesCache | None = None,
) -> Ranking:
    """Score, rank and compare candidate systems on the same golden items.

    Parameters
    ----------
    systems
        One :class:`~reports.inputs.SystemEvaluation` per candidate.
    config
        Weights, hard constraints and statistical settings (defaults: weights 0.6/0.2/0.2,
        coverage floor 0.95, 1,000 paired resamples, 95 % intervals, alpha 0.05).
    rng
        Random generator of the bootstrap, or its seed; ``None`` is the seed
        :data:`metrics.intervals.DEFAULT_SEED`, so that the same data always gives the
        same report. A seed draws exactly what ``default_rng(seed)`` would, and reuses
        the scoring engine's resamples for that seed when they are shared
        (:func:`metrics.scoring.shared_resamples`).
    replicates
        Where the paired bootstrap's replicates are kept, given a seed (see
        :func:`reports._bootstrap.bootstrap_replicates`): the same numbers, read instead
        of drawn again when the same per-item data was ranked before.

    Returns
    -------
    Ranking
        Ranked systems first (best first), then the unranked ones with the reason;
        pairwise tests with Holm-adjusted p-values; letter groups; the Pareto front;
        the verdict and the sentences that explain it.

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
    >>> [(s.name, s.rank, s.letters) for s in ranking.systems], ranking.verdict
    ([('good', 1, 'a'), ('bad', 2, 'b')], 'pick')
    """
    cfg = config or RankingConfig()
    gen: np.random.Generator | int = DEFAULT_SEED if rng is None else _seed_or_generator(rng)
    m = matrices(systems, cfg.deadline_s)
    n, v = m.scores.shape
    notes: list[str] = []
    pts = compute_points(m, systems)
    currencies = currencies_of(systems)

    checked = [
        violations(
            cfg,
            accuracy=float(pts.accuracy[j]),
            coverage=float(pts.coverage[j]),
            n_labelled=int(pts.n_labelled[j]),
            n_items=n,
            p95=float(pts.p95[j]),
            cost_per_item=float(pts.cost_per_item[j]),
            currency=currencies.get(systems[j].name),
        )
        for j in range(v)
    ]
    status = [c[0] for c in checked]
    reasons = [c[1] for c in checked]
    eligible = np.array([st == "ranked" for st in status])
    elig_idx = np.flatnonzero(eligible)
    w = compute_weights(cfg, pts, elig_idx, notes)

    if cfg.speed == "p95_latency":
        speed_point = np.where(pts.never_back, np.inf, pts.p95)
    else:
        speed_point = np.where(pts.never_back & ~np.isfinite(pts.throughput), 0.0, pts.throughput)
    score_point = np.full(v, np.nan)
    components = np.full((3, v), np.nan)
    if elig_idx.size:
        sp, ca, cs, cc = score_of(
            cfg,
            w,
            pts.accuracy[elig_idx],
            speed_point[elig_idx],
            pts.cost_per_correct[elig_idx],
        )
        score_point[elig_idx] = sp
        components[:, elig_idx] = np.vstack([ca, cs, cc])

    # Paired bootstrap: the same item resamples for every system and quantity.
    b_total = cfg.n_resamples
    reps = bootstrap_replicates(
        m.scores, m.latency, m.costs, n_resamples=b_total, rng=gen, q=0.95, cache=replicates
    )
    rep_speed = (
        np.where(pts.never_back, np.inf, reps.p95_latency)
        if cfg.speed == "p95_latency"
        else np.tile(speed_point, (b_total, 1))
    )
    rep_score = np.full((b_total, v), np.nan)
    if elig_idx.size:
        rep_score[:, elig_idx] = score_of(
            cfg,
            w,
            reps.accuracy[:, elig_idx],
            rep_speed[:, elig_idx],
            reps.cost_per_correct[:, elig_idx],
            reference=(
                pts.accuracy[elig_idx],
                speed_point[elig_idx],
                pts.cost_per_correct[elig_idx],
            ),
        )[0]

    # Order: ranked by score (ties: accuracy, then name); the others after, by accuracy.
    ranked = sorted(
        elig_idx.tolist(), key=lambda j: (-score_point[j], -pts.accuracy[j], systems[j].name)
    )
    unranked = sorted(
        np.flatnonzero(~eligible).tolist(), key=lambda j: (-pts.accuracy[j], systems[j].name)
    )
    tests = compute_tests(
        ranked,
        systems,
        m.scores,
        m.binary,
        score_point,
        rep_score,
        pts.accuracy,
        reps.accuracy,
        cfg,
    )
    names = [s.name for s in systems]
    cld = compact_letter_display(
        [names[j] for j in ranked],
        {(names[a], names[b]): sig for (a, b), sig in tests.sig_score.items()},
    )
    gaps = score_gaps(ranked, score_point, rep_score, cfg.confidence)
    # Only systems with enough results are on the front: no claim without evidence.
    evident = np.array([st in ("ranked", "excluded") for st in status])
    front = [False] * v
    if evident.any():
        sub = np.flatnonzero(evident)
        for col, flag in zip(
            sub.tolist(),
            pareto_front(pts.accuracy[sub].tolist(), pts.cost_per_correct[sub].tolist()),
            strict=True,
        ):
            front[col] = flag

    rows: list[SystemRanking] = []
    for position, j in enumerate(ranked + unranked):
        is_ranked = position < len(ranked)
        letters = cld.letters.get(names[j], "")
        rows.append(
            SystemRanking(
                name=names[j],
                rank=position + 1 if is_ranked else None,
                status=status[j],
                eligible=bool(eligible[j]),
                violations=reasons[j],
                score=Estimate(value=float(score_point[j])) if is_ranked else None,
                score_gap=gaps.get(j),
                accuracy=_accuracy_estimate(m.scores[:, j], m.binary, cfg.confidence),
                coverage=float(pts.coverage[j]),
                n_labelled=int(pts.n_labelled[j]),
                n_items=n,
                p95_latency_s=_estimate(pts.p95[j], reps.p95_latency[:, j], cfg.confidence)
                if pts.has_latency[j]
                else None,
                throughput_per_hour=throughput_estimate(systems[j], pts.throughput[j]),
                cost_per_item=_estimate(
                    pts.cost_per_item[j], reps.cost_per_item[:, j], cfg.confidence, tidy=True
                )
                if pts.has_cost[j]
                else None,
                cost_per_correct=_estimate(
                    pts.cost_per_correct[j], reps.cost_per_correct[:, j], cfg.confidence, tidy=True
                )
                if pts.has_cost[j]
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
                tie_group=(ord(letters[0]) - ord("a") + 1) if letters else None,
                letters=letters,
                pareto_optimal=front[j],
            )
        )

    verdict = verdict_of(ranked, status, tests.sig_score)
    advice = leader_advice(
        ranked,
        systems,
        m.scores,
        m.binary,
        score_point,
        rep_score,
        cfg,
        tests.sig_score,
        tests.comparisons,
    )
    bias = [
        r
        for r in box_bias_breakdown(
            systems, threshold=cfg.box_bias_threshold, confidence=cfg.confidence
        )
        if r.significant
    ]
    used = {"accuracy": w.accuracy, "speed": w.speed, "cost": w.cost}
    summary = summary_sentences(
        rows,
        verdict,
        tests.comparisons,
        advice,
        notes,
        cfg,
        names_front=[names[j] for j in range(v) if front[j]],
        weights=used,
        box_bias=bias,
        n_items=n,
        currencies=currencies,
        main_metric=systems[0].main_metric,
        label_bias=label_bias_sentences(systems, cfg.confidence),
    )
    return Ranking(
        main_metric=systems[0].main_metric,
        verdict=verdict,
        weights={
            "accuracy": cfg.weights.accuracy,
            "speed": cfg.weights.speed,
            "cost": cfg.weights.cost,
        },
        constraints={
            "min_accuracy": cfg.constraints.min_accuracy,
            "max_p95_latency_s": cfg.constraints.max_p95_latency_s,
            "max_cost_per_item": cfg.constraints.max_cost_per_item,
            "min_coverage": cfg.constraints.coverage_floor,
        },
        speed_measure=cfg.speed,
        normalisation=cfg.normalisation,
        confidence=cfg.confidence,
        alpha=cfg.alpha,
        n_resamples=cfg.n_resamples,
        systems=rows,
        comparisons=tests.comparisons,
        tie_groups=cld.groups,
        group_rule=GROUP_RULE.format(alpha=cfg.alpha),
        pareto_front=[names[j] for j in range(v) if front[j]],
        sample_size=advice,
        summary=summary,
    )
