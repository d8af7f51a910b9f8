"""Does the verdict hold up? Simulated bake-offs with known truth, against targets.

Runs :mod:`reports.simulation` (the real :func:`reports.ranking.rank_systems` on
bake-offs drawn from vendors with known accuracy, speed and cost) and prints one table:

=============================================  =========================================
measure                                        target
=============================================  =========================================
95 % accuracy interval coverage, n x p         0.93-0.97 (>= 0.95 where no
                                               non-randomised interval can reach the
                                               band: n=100, p=0.995)
false confident picks ("pick X" for X not      <= 0.05
truly best): identical, close, skipper
family-wise false separations, 2/4/8 identical <= 0.05 (score and accuracy tests)
vendors
share of pairs separated, 8 and 12 vendors     >= 0.95 (accuracy), >= 0.90 (score)
with large gaps (0.99 down to 0.30), n=1000
skipper (70 % coverage, skips the hardest)     0.00 (default floor and floor 0)
ranked first
power at the advised sample size               0.75-0.85
=============================================  =========================================

Exits 1 when a measure misses its target. Monte-Carlo error is printed next to each
rate (binomial standard error). Coverage and power are judged on their exact values
(summed over every binomial outcome), printed beside the simulated ones. Simulated
rates are judged with their Monte-Carlo error: a rate misses ``<= t`` only when it
exceeds ``t + 2.33 sqrt(t (1 - t) / runs)`` (a one-sided binomial test of "the true
rate is at most t" at the 1 % level), and ``>= t`` symmetrically; a procedure exactly
at its target would otherwise fail half the runs. The skipper must never be first.
The default run takes a few minutes.

Run: ``.venv/bin/python benchmarks/bench_ranking_sim.py [--runs 400] [--seed 0]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from reports import simulation as sim
from reports.inputs import RankingConfig

NS = (100, 300, 1000)
PS = (0.70, 0.90, 0.97, 0.995)


@dataclass(frozen=True)
class Row:
    measure: str
    value: float
    runs: int
    target: str
    ok: bool


def _se(rate: float, runs: int) -> float:
    return float(np.sqrt(max(rate * (1 - rate), 1e-12) / max(runs, 1)))


def _at_most(rate: float, target: float, runs: int) -> bool:
    """Rate consistent with ``<= target`` (one-sided binomial test at 1 %)."""
    return rate <= target + 2.33 * float(np.sqrt(target * (1 - target) / runs))


def _at_least(rate: float, target: float, runs: int) -> bool:
    """Rate consistent with ``>= target`` (one-sided binomial test at 1 %)."""
    return rate >= target - 2.33 * float(np.sqrt(target * (1 - target) / runs))


def _band_reachable(n: int, p: float) -> bool:
    """Whether any non-randomised interval's exact coverage can lie in [0.93, 0.97]."""
    from scipy import stats

    pmf = stats.binom.pmf(np.arange(n + 1), n, p)
    cum = np.r_[0.0, np.cumsum(pmf)]
    sums = cum[None, :] - cum[:, None]
    return bool(((sums >= 0.93) & (sums <= 0.97)).any())


def coverage_rows(rng: np.random.Generator, runs: int) -> list[Row]:
    rows: list[Row] = []
    for n in NS:
        for p in PS:
            draws = max(runs * 25, 5000)
            mc = sim.interval_coverage(n, p, rng, runs=draws, full_rankings=3)
            exact = sim.exact_coverage(n, p)
            reachable = _band_reachable(n, p)
            ok = 0.93 <= exact <= 0.97 if reachable else exact >= 0.95
            target = "0.93-0.97" if reachable else ">=0.95 (band unreachable)"
            rows.append(Row(f"coverage n={n} p={p} (exact {exact:.3f})", mc, draws, target, ok))
    return rows


def _timed(label: str, fn: Callable[[], Row | list[Row]]) -> list[Row]:
    t0 = time.perf_counter()
    out = fn()
    print(f"  ... {label} in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return out if isinstance(out, list) else [out]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=400, help="simulated bake-offs per scenario")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    runs: int = args.runs
    rng = np.random.default_rng(args.seed)
    cfg = RankingConfig()
    v = sim.VendorSpec
    rows: list[Row] = []

    rows += _timed("coverage", lambda: coverage_rows(rng, runs))

    def picks() -> list[Row]:
        out = []
        for label, vendors, n in (
            ("identical x2", [v("a", 0.9), v("b", 0.9)], 300),
            ("identical x4", [v(f"v{j}", 0.9) for j in range(4)], 300),
            ("close 0.90 vs 0.89", [v("a", 0.90), v("b", 0.89)], 300),
            (
                "skipper vs complete",
                [
                    v("complete", 0.87),
                    v("skipper", 0.985, latency_h=1.0, cost=0.03, skip_hardest=0.3),
                ],
                300,
            ),
        ):
            rate = sim.false_picks(vendors, n, rng, runs=runs, config=cfg)
            out.append(
                Row(
                    f"false confident picks: {label}",
                    rate,
                    runs,
                    "<=0.05",
                    _at_most(rate, 0.05, runs),
                )
            )
        return out

    rows += _timed("false picks", picks)

    def fwer() -> list[Row]:
        out = []
        for k in (2, 4, 8):
            r = max({2: 3 * runs, 4: runs, 8: runs // 2}[k], 50)
            rates = sim.false_separations(k, 300, rng, runs=r, config=cfg)
            for quantity, rate in rates.items():
                out.append(
                    Row(
                        f"family-wise false separations: {k} identical, {quantity}",
                        rate,
                        r,
                        "<=0.05",
                        _at_most(rate, 0.05, r),
                    )
                )
        return out

    rows += _timed("false separations", fwer)

    def many() -> list[Row]:
        out = []
        for k in (8, 12):
            r = max(runs // 10, 20)
            shares = sim.separation_share(
                np.linspace(0.99, 0.30, k).tolist(), 1000, rng, runs=r, config=cfg
            )
            out.append(
                Row(
                    f"{k} vendors 0.99..0.30, n=1000: pairs separated on accuracy",
                    shares["accuracy"],
                    r,
                    ">=0.95",
                    _at_least(shares["accuracy"], 0.95, r),
                )
            )
            out.append(
                Row(
                    f"{k} vendors 0.99..0.30, n=1000: pairs separated on score",
                    shares["score"],
                    r,
                    ">=0.90",
                    _at_least(shares["score"], 0.90, r),
                )
            )
        return out

    rows += _timed("many vendors", many)

    def skipper() -> list[Row]:
        out = []
        for floor, label in ((None, "default floor 0.95"), (0.0, "no floor")):
            res = sim.skipper_first(300, rng, runs=runs, min_coverage=floor)
            out.append(
                Row(f"skipper ranked first ({label})", res["first"], runs, "0", res["first"] == 0)
            )
        return out

    rows += _timed("skipper", skipper)

    def power() -> list[Row]:
        out = []
        for better, worse, rho in ((0.90, 0.85, 0.0), (0.95, 0.92, 0.5)):
            need, rate, exact = sim.power_at_advice(
                better, worse, rng, runs=runs, rho=rho, config=cfg
            )
            out.append(
                Row(
                    f"power at advised n={need} ({better} vs {worse}, rho={rho}; "
                    f"exact {exact:.3f})",
                    rate,
                    runs,
                    "0.75-0.85 (exact)",
                    0.75 <= exact <= 0.85,
                )
            )
        return out

    rows += _timed("power", power)

    width = max(len(r.measure) for r in rows)
    print(f"{'measure':<{width}}  {'value':>6}  {'+-se':>6}  {'runs':>6}  target")
    for r in rows:
        flag = "" if r.ok else "   <-- MISSED"
        print(
            f"{r.measure:<{width}}  {r.value:6.3f}  {_se(r.value, r.runs):6.3f}  {r.runs:6d}  "
            f"{r.target}{flag}"
        )
    missed = [r for r in rows if not r.ok]
    print(f"\n{len(rows) - len(missed)} of {len(rows)} measures on target.")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
