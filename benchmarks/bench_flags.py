"""Cleanlab-based flagging of 1,000,000 items x 10 classes vs calling cleanlab directly.

Target: Bakeoff's wrapper within 2x of the same cleanlab calls made by hand, in
the same process on the same data, flagging exactly the items cleanlab flags. The
direct path gets ready-made integer codes and a bare ``(N, K)`` array; the wrapper
starts from what the service holds (class-name labels in a ``Series`` and a
``DataFrame`` of probabilities indexed by task), validates them, and returns typed
flags. Exit status 1 when either target is missed, 0 when both are met.

Run: ``.venv/bin/python benchmarks/bench_flags.py [--n 1000000] [--k 10] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd
from cleanlab.filter import find_label_issues as cl_find_label_issues
from cleanlab.rank import get_label_quality_scores as cl_scores

from metrics.flags import model_vs_label_flags
from metrics.label_issues import find_label_issues

TARGET_RATIO = 2.0  # wrapper time / cleanlab-direct time


def _best(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.05)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    n, k = args.n, args.k
    true = rng.integers(0, k, n)
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), true] += 3.0
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    given = true.copy()
    flip = rng.choice(n, int(args.noise * n), replace=False)
    given[flip] = (true[flip] + rng.integers(1, k, len(flip))) % k

    classes = [f"class_{j}" for j in range(k)]
    tasks = pd.Index([f"item-{i:07d}" for i in range(n)], name="task")
    labels = pd.Series(np.array(classes, dtype=object)[given], index=tasks)
    pred_probs = pd.DataFrame(probs, index=tasks, columns=classes)

    def direct() -> object:
        mask = cl_find_label_issues(given, probs, n_jobs=1)
        quality = cl_scores(given, probs)
        return mask, quality

    def wrapper() -> object:
        return find_label_issues(labels, pred_probs, n_jobs=1)

    def flags() -> object:
        return model_vs_label_flags(None, pred_probs, gold=labels, n_jobs=1)

    t_direct = _best(direct, args.repeat)
    t_wrapper = _best(wrapper, args.repeat)
    t_flags = _best(flags, args.repeat)

    res = find_label_issues(labels, pred_probs, n_jobs=1)
    mask = np.asarray(cl_find_label_issues(given, probs, n_jobs=1))
    same = bool(np.array_equal(res.frame["is_label_issue"].to_numpy(), mask))
    found = res.frame["is_label_issue"].to_numpy()
    planted = np.zeros(n, dtype=bool)
    planted[flip] = True
    precision = float((found & planted).sum() / max(found.sum(), 1))
    recall = float((found & planted).sum() / planted.sum())

    print(f"items={n:,} classes={k} planted errors={len(flip):,} (best of {args.repeat})")
    print(f"cleanlab direct (find_label_issues + rank): {t_direct:8.2f} s")
    for name, t in [
        ("metrics.label_issues.find_label_issues:", t_wrapper),
        ("metrics.flags.model_vs_label_flags:", t_flags),
    ]:
        print(f"{name:44s}{t:8.2f} s  ratio {t / t_direct:.2f}x")
    print(
        f"same issues as cleanlab: {same}; flagged {int(found.sum()):,}, "
        f"precision {precision:.3f}, recall {recall:.3f}"
    )
    ratio = max(t_wrapper, t_flags) / t_direct
    fast = ratio <= TARGET_RATIO
    print(f"target: ratio <= {TARGET_RATIO:.2f}x -> {'MET' if fast else 'MISSED'} ({ratio:.2f}x)")
    print(f"target: same issues as cleanlab -> {'MET' if same else 'MISSED'}")
    return 0 if fast and same else 1


if __name__ == "__main__":
    sys.exit(main())
