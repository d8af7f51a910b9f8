"""Cohen's kappa + confusion matrix on 10 million labels: Bakeoff vs scikit-learn.

Same seeded data for both, in one process. Bakeoff's timed path is the public API on
pandas Series indexed by task (validation, alignment, integer encoding, one
``np.bincount`` confusion matrix, kappa from it); scikit-learn's is ``cohen_kappa_score``
(which builds its own confusion matrix). Exits 1 if any number differs by more than 1e-9.

Usage: ``python benchmarks/bench_kappa.py [--n 10000000] [--classes 10] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from metrics.classification import confusion_matrix, kappa_from_confusion


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(2024)
    y_true = rng.integers(0, args.classes, args.n)
    noise = rng.integers(0, args.classes, args.n)
    y_pred = np.where(rng.random(args.n) < 0.7, y_true, noise)
    gold = pd.Series(y_true)
    labels = pd.Series(y_pred)

    def ours() -> tuple[float, float, float, Any]:
        cm = confusion_matrix(gold, labels)
        counts = cm.counts
        return (
            kappa_from_confusion(counts),
            kappa_from_confusion(counts, weights="linear"),
            kappa_from_confusion(counts, weights="quadratic"),
            counts,
        )

    def reference() -> float:
        return float(cohen_kappa_score(y_true, y_pred))

    t_ours, (k, k_lin, k_quad, counts) = best_of(ours, args.repeat)
    t_ref, k_ref = best_of(reference, args.repeat)

    ok = abs(k - k_ref) <= 1e-9
    # the weighted variants and the matrix are checked once, untimed
    ok &= abs(k_lin - cohen_kappa_score(y_true, y_pred, weights="linear")) <= 1e-9
    ok &= abs(k_quad - cohen_kappa_score(y_true, y_pred, weights="quadratic")) <= 1e-9
    ok &= bool((counts == sk_confusion_matrix(y_true, y_pred)).all())

    print(f"labels: {args.n:,}  classes: {args.classes}  best of {args.repeat}")
    print(f"bakeoff  confusion matrix + 3 kappas : {t_ours:8.3f} s   kappa={k:.12f}")
    print(f"sklearn  cohen_kappa_score (1 kappa) : {t_ref:8.3f} s   kappa={k_ref:.12f}")
    print(f"speed-up: {t_ref / t_ours:.1f}x   results agree: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
