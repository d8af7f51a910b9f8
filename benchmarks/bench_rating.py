"""Rating agreement on 1 million (gold, vendor) pairs: Bakeoff vs sklearn, pingouin,
krippendorff.

Same seeded ratings (scale 1..5, a lenient vendor) for every package, in one process.
Bakeoff's timed path is the public :func:`metrics.rating.agreement_statistics` on pandas
Series (validation, one ``np.bincount`` pair table, then *all ten* statistics: linear
and quadratic weighted kappa, four ICC forms, Krippendorff's alpha ordinal and interval,
Gwet's AC1 and AC2). Each reference is timed on its own statistic(s):
``cohen_kappa_score`` (linear + quadratic), ``pingouin.intraclass_corr`` (all forms, on
``--icc-n`` pairs, default 2,000: its long-format two-way ANOVA took 45 s at 10,000 pairs
here, so it cannot run at 1M), ``krippendorff.alpha`` (ordinal + interval).
Bakeoff's all-ten time is compared with each; a ratio below 1 (slower) or any value
differing by more than 1e-9 exits 1.

Usage: ``python benchmarks/bench_rating.py [--n 1000000] [--icc-n 2000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
import pingouin
from sklearn.metrics import cohen_kappa_score

from metrics.rating import agreement_statistics


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    gold = rng.integers(1, 6, n)
    shift = (rng.random(n) < 0.3).astype(np.int64) + rng.integers(-1, 2, n) * (rng.random(n) < 0.2)
    return gold, np.clip(gold + shift, 1, 5)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--icc-n", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    scale = (1, 5)
    labels = list(range(1, 6))
    ok = True
    rows: list[tuple[str, float, float]] = []

    g, v = _data(args.n, 2024)
    gold, vendor = pd.Series(g), pd.Series(v)
    t_ours, ours = best_of(lambda: agreement_statistics(gold, vendor, scale=scale), args.repeat)

    def kappas() -> tuple[float, float]:
        return (
            float(cohen_kappa_score(g, v, labels=labels, weights="linear")),
            float(cohen_kappa_score(g, v, labels=labels, weights="quadratic")),
        )

    t_ref, (lin, quad) = best_of(kappas, args.repeat)
    ok &= abs(ours["linear_weighted_kappa"].value - lin) <= 1e-9
    ok &= abs(ours["quadratic_weighted_kappa"].value - quad) <= 1e-9
    rows.append(("sklearn cohen_kappa_score x2", t_ref, t_ours))

    data = np.vstack([g, v]).astype(np.float64)

    def alphas() -> tuple[float, float]:
        return (
            float(krippendorff.alpha(reliability_data=data, level_of_measurement="ordinal")),
            float(krippendorff.alpha(reliability_data=data, level_of_measurement="interval")),
        )

    t_ref, (ordinal, interval) = best_of(alphas, args.repeat)
    ok &= abs(ours["krippendorff_alpha_ordinal"].value - ordinal) <= 1e-9
    ok &= abs(ours["krippendorff_alpha_interval"].value - interval) <= 1e-9
    rows.append(("krippendorff.alpha ordinal+interval", t_ref, t_ours))

    gi, vi = _data(args.icc_n, 7)
    gold_i, vendor_i = pd.Series(gi), pd.Series(vi)
    t_icc, ours_icc = best_of(
        lambda: agreement_statistics(gold_i, vendor_i, scale=scale), args.repeat
    )
    long = pd.DataFrame(
        {
            "t": np.r_[np.arange(args.icc_n), np.arange(args.icc_n)],
            "r": np.repeat(["gold", "vendor"], args.icc_n),
            "x": np.r_[gi, vi],
        }
    )

    def icc() -> dict[str, float]:
        table = pingouin.intraclass_corr(long, targets="t", raters="r", ratings="x")
        return {str(k): float(v) for k, v in table.set_index("Type")["ICC"].items()}

    t_ref, ref_icc = best_of(icc, max(1, args.repeat - 2))
    for ours_name, ref_name in (
        ("icc_2_1", "ICC(A,1)"),
        ("icc_3_1", "ICC(C,1)"),
        ("icc_2_k", "ICC(A,k)"),
        ("icc_3_k", "ICC(C,k)"),
    ):
        ok &= abs(ours_icc[ours_name].value - float(ref_icc[ref_name])) <= 1e-9
    rows.append((f"pingouin.intraclass_corr (n={args.icc_n:,})", t_ref, t_icc))

    print(f"rating pairs: {args.n:,}  scale 1..5  best of {args.repeat}")
    print("bakeoff: agreement_statistics = all 10 statistics from one pair table")
    fast = True
    for name, ref, mine in rows:
        ratio = ref / mine
        fast &= ratio >= 1.0
        print(f"{name:44s} ref {ref:8.3f} s  bakeoff {mine:8.3f} s  speed-up {ratio:7.1f}x")
    print(f"results agree to 1e-9: {ok}   at least as fast as every reference: {fast}")
    return 0 if ok and fast else 1


if __name__ == "__main__":
    sys.exit(main())
