"""Bradley-Terry on 1,000,000 pairwise preferences: Bakeoff vs choix.

Same seeded comparisons for both, in one process: 20 models with log-strengths evenly spread
over -1.5..1.5 (an arena-sized leaderboard), each comparison between two different models,
won by A with the Bradley-Terry probability. Bakeoff's timed path is the public
:func:`metrics.preference.bradley_terry` on a DataFrame of model names and ``A``/``B``
labels (validation, indexing, the win table, Hunter's MM to ``tol=1e-12``); choix's is
``choix.ilsr_pairwise`` (maximum likelihood, ``alpha=0``, ``tol=1e-12``) on its own input, a
list of (winner, loser) index pairs built outside the timing. Exits 1 if any log-strength
(mean 0) differs by more than 1e-9 or Bakeoff is slower than choix.

Usage: ``python benchmarks/bench_bradley_terry.py [--n 1000000] [--models 20] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import choix
import numpy as np
import pandas as pd

from metrics.preference import bradley_terry


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(2024)
    m = args.models
    strength = np.linspace(-1.5, 1.5, m)
    a = rng.integers(0, m, args.n)
    b = (a + rng.integers(1, m, args.n)) % m
    a_wins = rng.random(args.n) < 1 / (1 + np.exp(strength[b] - strength[a]))
    names = np.array([f"model-{i:02d}" for i in range(m)], dtype=object)
    comparisons = pd.DataFrame({"a": names[a], "b": names[b], "label": np.where(a_wins, "A", "B")})
    winners, losers = np.where(a_wins, a, b), np.where(a_wins, b, a)
    data = list(zip(winners.tolist(), losers.tolist(), strict=True))

    t_ours, fit = best_of(lambda: bradley_terry(comparisons), args.repeat)
    t_ref, ref = best_of(
        lambda: choix.ilsr_pairwise(m, data, alpha=0.0, tol=1e-12, max_iter=10_000), args.repeat
    )
    ours = fit.scores.reindex(names).to_numpy()
    theirs = ref - ref.mean()
    diff = float(np.max(np.abs(ours - theirs)))
    ok = diff <= 1e-9
    ratio = t_ref / t_ours
    print(f"comparisons: {args.n:,}  models: {m}  best of {args.repeat}")
    print(f"bakeoff bradley_terry  : {t_ours:8.3f} s   ({fit.n_iter} MM iterations)")
    print(f"choix   ilsr_pairwise  : {t_ref:8.3f} s")
    print(f"speed-up: {ratio:.2f}x   log-strengths agree to 1e-9: {ok} (max diff {diff:.1e})")
    return 0 if ok and ratio >= 1.0 else 1


if __name__ == "__main__":
    sys.exit(main())
