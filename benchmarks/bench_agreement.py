"""Fleiss' kappa and Krippendorff's alpha on 100,000 items x 5 raters: Bakeoff vs references.

Same seeded data, one process. Bakeoff takes its long ``task, worker, label`` table (with
validation); statsmodels takes the ``(items, raters)`` matrix through ``aggregate_raters``
+ ``fleiss_kappa``; the ``krippendorff`` package takes the ``(raters, items)`` reliability
matrix. Alpha is compared at every level of measurement (10% of answers missing for
alpha). Exits 1 if any number differs by more than 1e-9.

Usage: ``python benchmarks/bench_agreement.py [--items 100000] [--raters 5] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from metrics.agreement import Level, fleiss_kappa, krippendorff_alpha


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def long_table(wide: np.ndarray[Any, Any]) -> pd.DataFrame:
    """(items, raters) matrix with NaN for missing -> long answers table."""
    items, raters = wide.shape
    task = np.repeat(np.arange(items), raters)
    worker = np.tile(np.arange(raters), items)
    label = wide.reshape(-1)
    keep = ~np.isnan(label)
    return pd.DataFrame({"task": task[keep], "worker": worker[keep], "label": label[keep]})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--raters", type=int, default=5)
    parser.add_argument("--classes", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(7)
    truth = rng.integers(1, args.classes + 1, args.items)
    noise = rng.integers(1, args.classes + 1, (args.items, args.raters))
    complete = np.where(rng.random((args.items, args.raters)) < 0.6, truth[:, None], noise)
    with_missing = complete.astype(np.float64)
    with_missing[rng.random(with_missing.shape) < 0.1] = np.nan

    ok = True
    rows = []

    answers = long_table(complete.astype(np.float64)).astype({"label": np.int64})
    t_ours, ours = best_of(lambda: fleiss_kappa(answers).value, args.repeat)
    t_ref, ref = best_of(
        lambda: sm_fleiss_kappa(aggregate_raters(complete)[0], method="fleiss"), args.repeat
    )
    ok &= abs(ours - ref) <= 1e-9
    rows.append(("Fleiss' kappa", "statsmodels", t_ours, t_ref, ours, ref))

    answers_missing = long_table(with_missing)
    reliability = with_missing.T
    levels: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
    for level in levels:
        t_ours, ours = best_of(
            partial(lambda lv: krippendorff_alpha(answers_missing, level=lv).value, level),
            args.repeat,
        )
        t_ref, ref = best_of(
            partial(
                lambda lv: krippendorff.alpha(
                    reliability_data=reliability, level_of_measurement=lv
                ),
                level,
            ),
            args.repeat,
        )
        ok &= abs(ours - ref) <= 1e-9
        rows.append((f"alpha ({level})", "krippendorff", t_ours, t_ref, ours, ref))

    print(f"items: {args.items:,}  raters: {args.raters}  best of {args.repeat}")
    print(f"{'measure':18} {'bakeoff s':>10} {'reference s':>12} {'ratio':>7}  value (ours / ref)")
    for name, ref_name, t_o, t_r, v_o, v_r in rows:
        print(
            f"{name:18} {t_o:10.4f} {t_r:12.4f} {t_r / t_o:6.1f}x  "
            f"{v_o:.12f} / {v_r:.12f} ({ref_name})"
        )
    print(f"results agree: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
