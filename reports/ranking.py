"""Rank candidate systems on accuracy, speed and cost, with paired uncertainty.

The score of a system is the weighted mean of three normalised components:

* accuracy: the main metric over *all* golden items (a skipped item counts as wrong);
* speed: the 95th-percentile latency (lower is better) or the throughput;
* cost: the cost per correct label (lower is better).

No verdict without evidence: a system that labelled nothing gets "no results yet",
and one below the coverage floor (:data:`reports.inputs.DEFAULT_MIN_COVERAGE`, or the
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

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.intervals import mean_interval, proportion_interval, resolve_rng
from metrics.statistics import compact_letter_display
from reports._bootstrap import bootstrap_replicates, sample_quantile
from reports._pairwise import compute_tests, score_gaps, verdict_of
from reports._verdict import GROUP_RULE, leader_advice, summary_sentences
from reports.breakdowns import box_bias_breakdown
from reports.inputs import RankingConfig, SystemEvaluation
from reports.results import Estimate, Ranking, SystemRanking, SystemStatus

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


def _matrices(systems: Sequence[SystemEvaluation], deadline_s: float | None) -> _Matrices:
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
    return _Matrices(items, scores, labelled, latency, costs, binary)


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
    n_labelled: int,
    n_items: int,
    p95: float,
    cost_per_item: float,
) -> tuple[SystemStatus, list[str]]:
    """Why a system is not ranked (empty when it is), and its status."""
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
            out.append(f"cost per item ${cost_per_item:.4f} > allowed ${c.max_cost_per_item:.4f}")
    if out and status == "ranked":
        status = "excluded"
    return status, out


@dataclass(frozen=True)
class _Points:
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


def _compute_points(m: _Matrices, systems: Sequence[SystemEvaluation]) -> _Points:
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
    return _Points(
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
class _Weights:
    accuracy: float
    speed: float
    cost: float

    @property
    def total(self) -> float:
        return self.accuracy + self.speed + self.cost


def _compute_weights(
    cfg: RankingConfig, pts: _Points, elig_idx: npt.NDArray[np.intp], notes: list[str]
) -> _Weights:
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
    return _Weights(w_acc, w_speed, w_cost)


def _score_of(
    cfg: RankingConfig,
    w: _Weights,
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
        coverage floor 0.95, 1,000 paired resamples, 95 % intervals, alpha 0.05).
    rng
        Random generator of the bootstrap; ``None`` uses
        ``default_rng(metrics.intervals.DEFAULT_SEED)`` so that the same data always
        gives the same report.

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
    gen = resolve_rng(rng)
    m = _matrices(systems, cfg.deadline_s)
    n, v = m.scores.shape
    notes: list[str] = []
    pts = _compute_points(m, systems)

    checked = [
        _violations(
            cfg,
            accuracy=float(pts.accuracy[j]),
            coverage=float(pts.coverage[j]),
            n_labelled=int(pts.n_labelled[j]),
            n_items=n,
            p95=float(pts.p95[j]),
            cost_per_item=float(pts.cost_per_item[j]),
        )
        for j in range(v)
    ]
    status = [c[0] for c in checked]
    violations = [c[1] for c in checked]
    eligible = np.array([st == "ranked" for st in status])
    elig_idx = np.flatnonzero(eligible)
    w = _compute_weights(cfg, pts, elig_idx, notes)

    if cfg.speed == "p95_latency":
        speed_point = np.where(pts.never_back, np.inf, pts.p95)
    else:
        speed_point = np.where(pts.never_back & ~np.isfinite(pts.throughput), 0.0, pts.throughput)
    score_point = np.full(v, np.nan)
    components = np.full((3, v), np.nan)
    if elig_idx.size:
        sp, ca, cs, cc = _score_of(
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
    reps = bootstrap_replicates(m.scores, m.latency, m.costs, n_resamples=b_total, rng=gen, q=0.95)
    rep_speed = (
        np.where(pts.never_back, np.inf, reps.p95_latency)
        if cfg.speed == "p95_latency"
        else np.tile(speed_point, (b_total, 1))
    )
    rep_score = np.full((b_total, v), np.nan)
    if elig_idx.size:
        rep_score[:, elig_idx] = _score_of(
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
                violations=violations[j],
                score=Estimate(value=float(score_point[j])) if is_ranked else None,
                score_gap=gaps.get(j),
                accuracy=_accuracy_estimate(m.scores[:, j], m.binary, cfg.confidence),
                coverage=float(pts.coverage[j]),
                n_labelled=int(pts.n_labelled[j]),
                n_items=n,
                p95_latency_s=_estimate(pts.p95[j], reps.p95_latency[:, j], cfg.confidence)
                if pts.has_latency[j]
                else None,
                throughput_per_hour=_throughput_estimate(systems[j], pts.throughput[j]),
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
        main_metric=systems[0].main_metric,
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
