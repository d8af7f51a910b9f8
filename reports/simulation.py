"""Simulated bake-offs with known truth: how often does the verdict mislead?

Each function runs the real :func:`reports.ranking.rank_systems` on bake-offs drawn from
vendors whose true accuracy, speed and cost are known, and counts what the issue that
introduced this module asks about:

* :func:`interval_coverage`: how often the 95 % accuracy interval holds the true
  accuracy, per ``(n, p)``;
* :func:`false_picks`: "pick X, significantly ahead" for an X that is not truly best;
* :func:`false_separations`: any significant pair among identical vendors (the
  family-wise error of the Holm-corrected tests);
* :func:`separation_share`: share of pairs separated among 8-12 vendors with large gaps;
* :func:`skipper_first`: a vendor that skips the hardest 30 % ranked first;
* :func:`power_at_advice`: how often a bake-off of the advised size separates the
  leaders (the "how many items" advice promises ``RankingConfig.power``).

Item outcomes share a latent difficulty ``u_i ~ U(0, 1)``: with probability ``rho`` a
vendor is right iff ``u_i < p``, otherwise right with probability ``p`` independently,
so vendors err on the same hard items as in real bake-offs. Everything is seeded by the
``rng`` passed in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.intervals import proportion_interval
from reports._verdict import sample_size_mcnemar
from reports.inputs import Constraints, RankingConfig, SystemEvaluation
from reports.ranking import rank_systems
from reports.results import Ranking

__all__ = [
    "VendorSpec",
    "simulate_bakeoff",
    "interval_coverage",
    "exact_coverage",
    "false_picks",
    "false_separations",
    "separation_share",
    "skipper_first",
    "power_at_advice",
    "exact_mcnemar_power",
]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class VendorSpec:
    """A vendor with known truth.

    Attributes
    ----------
    name
        Display name.
    accuracy
        True probability of a right answer on an item it returns.
    latency_h
        Mean latency in hours (exponential).
    cost
        Price per returned item.
    skip_hardest
        Share of items, the hardest by latent difficulty, that it never returns.
    """

    name: str
    accuracy: float
    latency_h: float = 2.0
    cost: float = 0.05
    skip_hardest: float = 0.0


def simulate_bakeoff(
    vendors: Sequence[VendorSpec], n: int, rng: np.random.Generator, *, rho: float = 0.5
) -> list[SystemEvaluation]:
    """Draw one bake-off of ``n`` golden items.

    Returns
    -------
    list of SystemEvaluation
        One per vendor, items ``0..n-1``; skipped items are NaN in scores and latency
        and cost nothing.
    """
    index = pd.RangeIndex(n)
    difficulty = rng.random(n)
    hard_order = np.argsort(-difficulty, kind="stable")
    out: list[SystemEvaluation] = []
    for v in vendors:
        shared = rng.random(n) < rho
        if v.skip_hardest > 0:
            # Accuracy holds on the easy items it returns: rescale the difficulty.
            keep = 1.0 - v.skip_hardest
            u = difficulty / keep
        else:
            u = difficulty
        right = np.where(shared, u < v.accuracy, rng.random(n) < v.accuracy).astype(np.float64)
        latency = rng.exponential(v.latency_h * 3600.0, n)
        cost = np.full(n, v.cost)
        if v.skip_hardest > 0:
            skipped = hard_order[: int(round(v.skip_hardest * n))]
            right[skipped] = np.nan
            latency[skipped] = np.nan
            cost[skipped] = 0.0
        out.append(
            SystemEvaluation(
                v.name,
                pd.Series(right, index=index),
                latency_s=pd.Series(latency, index=index),
                item_costs=pd.Series(cost, index=index),
            )
        )
    return out


def exact_coverage(n: int, p: float, *, level: float = 0.95) -> float:
    """Coverage of the policy's proportion interval, summed over every outcome."""
    from scipy import stats

    k = np.arange(n + 1)
    pmf = stats.binom.pmf(k, n, p)
    covered = np.array(
        [ci.low <= p <= ci.high for ci in (proportion_interval(int(x), n, level=level) for x in k)]
    )
    return float(pmf[covered].sum())


def interval_coverage(
    n: int,
    p: float,
    rng: np.random.Generator,
    *,
    runs: int,
    full_rankings: int = 0,
    config: RankingConfig | None = None,
) -> float:
    """Share of simulated bake-offs whose accuracy interval holds the true ``p``.

    The interval is the one :func:`rank_systems` reports (checked on
    ``full_rankings`` complete rankings, which must agree with the policy function),
    evaluated on ``runs`` binomial draws.

    Raises
    ------
    RuntimeError
        When a full ranking's interval differs from :func:`proportion_interval`.
    """
    cfg = config or RankingConfig(n_resamples=100)
    for _ in range(full_rankings):
        system = simulate_bakeoff([VendorSpec("v", p)], n, rng, rho=0.0)[0]
        row = rank_systems([system], config=cfg, rng=rng).systems[0]
        k = int(np.nansum(system.item_scores.to_numpy()))
        want = proportion_interval(k, n, level=cfg.confidence)
        if (row.accuracy.low, row.accuracy.high) != (want.low, want.high):
            raise RuntimeError(f"ranking interval {row.accuracy} differs from the policy {want}")
    draws = rng.binomial(n, p, size=runs)
    bounds = {
        int(x): proportion_interval(int(x), n, level=cfg.confidence) for x in np.unique(draws)
    }
    return float(np.mean([bounds[int(x)].low <= p <= bounds[int(x)].high for x in draws]))


def _truly_best(vendors: Sequence[VendorSpec]) -> set[str]:
    """Vendors no other vendor beats on every count (accuracy over all items first)."""
    acc_all = {v.name: v.accuracy * (1 - v.skip_hardest) for v in vendors}
    best = max(acc_all.values())
    top = {name for name, a in acc_all.items() if a == best}
    # Identical specs: nobody is truly best.
    specs = {(v.accuracy, v.latency_h, v.cost, v.skip_hardest) for v in vendors if v.name in top}
    return set() if len(top) > 1 and len(specs) == 1 else top


def _rank(
    vendors: Sequence[VendorSpec], n: int, rng: np.random.Generator, config: RankingConfig
) -> Ranking:
    return rank_systems(simulate_bakeoff(vendors, n, rng), config=config, rng=rng)


def false_picks(
    vendors: Sequence[VendorSpec],
    n: int,
    rng: np.random.Generator,
    *,
    runs: int,
    config: RankingConfig | None = None,
) -> float:
    """Share of runs whose verdict is "pick X" for an X that is not truly best."""
    cfg = config or RankingConfig()
    best = _truly_best(vendors)
    bad = 0
    for _ in range(runs):
        ranking = _rank(vendors, n, rng, cfg)
        if ranking.verdict == "pick" and ranking.systems[0].name not in best:
            bad += 1
    return bad / runs


def false_separations(
    k: int,
    n: int,
    rng: np.random.Generator,
    *,
    runs: int,
    accuracy: float = 0.9,
    config: RankingConfig | None = None,
) -> dict[str, float]:
    """Family-wise rate of any significant pair among ``k`` identical vendors.

    Returns
    -------
    dict
        ``"score"`` and ``"accuracy"``: share of runs with at least one significant
        pair of that quantity.
    """
    cfg = config or RankingConfig()
    vendors = [VendorSpec(f"v{j:02d}", accuracy) for j in range(k)]
    hits = {"score": 0, "accuracy": 0}
    for _ in range(runs):
        ranking = _rank(vendors, n, rng, cfg)
        for quantity in hits:
            if any(c.significant for c in ranking.comparisons if c.quantity == quantity):
                hits[quantity] += 1
    return {q: h / runs for q, h in hits.items()}


def separation_share(
    accuracies: Sequence[float],
    n: int,
    rng: np.random.Generator,
    *,
    runs: int,
    config: RankingConfig | None = None,
) -> dict[str, float]:
    """Mean share of vendor pairs separated, for vendors with the given true accuracies.

    Returns
    -------
    dict
        ``"score"`` and ``"accuracy"``: mean share of significant pairs; ``"pick"``:
        share of runs whose verdict picks the truly best vendor.
    """
    cfg = config or RankingConfig()
    vendors = [VendorSpec(f"v{j:02d}", a) for j, a in enumerate(accuracies)]
    best = _truly_best(vendors)
    shares = {"score": 0.0, "accuracy": 0.0, "pick": 0.0}
    for _ in range(runs):
        ranking = _rank(vendors, n, rng, cfg)
        for quantity in ("score", "accuracy"):
            tests = [c for c in ranking.comparisons if c.quantity == quantity]
            shares[quantity] += sum(c.significant for c in tests) / max(len(tests), 1)
        shares["pick"] += ranking.verdict == "pick" and ranking.systems[0].name in best
    return {q: s / runs for q, s in shares.items()}


def skipper_first(
    n: int,
    rng: np.random.Generator,
    *,
    runs: int,
    min_coverage: float | None = None,
) -> dict[str, float]:
    """The issue's skipper: covers 70 % (skips the hardest), faster and cheaper.

    Against a vendor that labels everything at 0.87. Returns the share of runs where
    the skipper is ranked first and where it is picked.
    """
    vendors = [
        VendorSpec("complete", 0.87, latency_h=2.0, cost=0.05),
        VendorSpec("skipper", 0.985, latency_h=1.0, cost=0.03, skip_hardest=0.30),
    ]
    cfg = RankingConfig(constraints=Constraints(min_coverage=min_coverage))
    first = picked = 0
    for _ in range(runs):
        ranking = _rank(vendors, n, rng, cfg)
        top = ranking.systems[0]
        if top.rank == 1 and top.name == "skipper":
            first += 1
            picked += ranking.verdict in ("pick", "only_one")
    return {"first": first / runs, "picked": picked / runs}


def _exact_pair(p10: float, p01: float, size: int = 1_000_000) -> tuple[FloatArray, FloatArray]:
    """Two 0/1 vectors whose discordant shares are exactly ``p10`` and ``p01``."""
    a = np.ones(size)
    b = np.ones(size)
    n10, n01 = int(round(p10 * size)), int(round(p01 * size))
    b[:n10] = 0.0
    a[n10 : n10 + n01] = 0.0
    return a, b


def power_at_advice(
    better: float,
    worse: float,
    rng: np.random.Generator,
    *,
    runs: int,
    rho: float = 0.0,
    config: RankingConfig | None = None,
) -> tuple[int, float, float]:
    """Items the advice asks for to separate two vendors on accuracy, and the power there.

    The advice (Connor's formula for McNemar's test) is computed from the true
    discordant shares; bake-offs of that size are then simulated and the share whose
    Holm-corrected McNemar test separates the two is the power.

    Returns
    -------
    (int, float, float)
        Advised items, the simulated power and the exact power of McNemar's exact test
        at that size (:func:`exact_mcnemar_power`); the target is ``config.power``.
    """
    cfg = config or RankingConfig()
    # Discordant shares under the outcome model: both vendors use the shared difficulty
    # with probability rho**2, otherwise their outcomes are independent.
    both_right = rho**2 * min(better, worse) + (1 - rho**2) * better * worse
    p10 = better - both_right
    p01 = worse - both_right
    a, b = _exact_pair(p10, p01)
    _, need = sample_size_mcnemar(a, b, alpha=cfg.alpha, power=cfg.power)
    if need is None:
        raise ValueError("the two vendors are equally accurate: no sample size separates them")
    vendors = [VendorSpec("better", better), VendorSpec("worse", worse)]
    hits = 0
    for _ in range(runs):
        systems = simulate_bakeoff(vendors, need, rng, rho=rho)
        ranking = rank_systems(systems, config=cfg, rng=rng)
        hits += any(
            c.significant and (c.difference > 0) == (c.a == "better")
            for c in ranking.comparisons
            if c.quantity == "accuracy"
        )
    return need, hits / runs, exact_mcnemar_power(need, p10, p01, alpha=cfg.alpha)


def exact_mcnemar_power(n: int, p10: float, p01: float, *, alpha: float = 0.05) -> float:
    """Power of McNemar's exact test on ``n`` items, summed over every outcome.

    ``p10`` / ``p01``: shares of items only the first / only the second system gets
    right. The number of discordant items is binomial, and given it the first system's
    share of them is binomial too; the test rejects when its exact p-value is
    ``<= alpha``.
    """
    from scipy import stats

    psi = p10 + p01
    if psi <= 0:
        return 0.0
    discordant = np.arange(n + 1)
    weight = stats.binom.pmf(discordant, n, psi)
    total = 0.0
    for d, w in zip(discordant, weight, strict=True):
        if w < 1e-12 or d == 0:
            continue
        b = np.arange(d + 1)
        p = np.minimum(1.0, 2.0 * stats.binom.cdf(np.minimum(b, d - b), d, 0.5))
        total += float(w) * float(stats.binom.pmf(b, d, p10 / psi)[p <= alpha].sum())
    return total
