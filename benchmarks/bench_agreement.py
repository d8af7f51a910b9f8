"""Agreement at crowd scale: 10,000 annotators x 1M answers, against the reference packages.

One seeded crowd (3 answers per item from 10,000 annotator ids, 5 ordered classes, 70%
of answers the item's true class): Bakeoff's pairwise Cohen's kappa (every annotator
pair, from sparse co-occurrence counts, mean weighted by shared items), Fleiss' kappa and
Krippendorff's alpha at every level, each through the public API on the long
``task, worker, label`` table (validation and encoding included). The references get the
same data in their own input form: statsmodels ``fleiss_kappa`` the ``(items, classes)``
count table (``aggregate_raters``), the ``krippendorff`` package the ``(items, values)``
``value_counts`` matrix (its ``(raters, items)`` reliability matrix would need 3.3e9
cells). scikit-learn has no pairwise-over-a-crowd kappa: ``cohen_kappa_score`` is run on
a sample of annotator pairs and must match Bakeoff's per-pair values.

The ratio column is reference time / Bakeoff time for the same quantity; for pairwise
kappa it is Bakeoff's pairwise time against each package's single-coefficient time.

Then the same on the real crowd data in ``../shared/data/snow2008`` (Snow et al. 2008:
RTE, TEMP, WSD), checking every annotator pair against ``cohen_kappa_score``.

Exits 1 when the pairwise kappa takes 5 s or more (best of ``--repeat``), when any number
differs from its reference by more than 1e-9, or when the benchmark cannot run.

Usage: ``python benchmarks/bench_agreement.py [--answers 1000000] [--annotators 10000]
[--repeat 3] [--target 5] [--snow DIR]``
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from metrics.agreement import Level, fleiss_kappa, krippendorff_alpha, pairwise_cohen_kappa

TOL = 1e-9
LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
SNOW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "snow2008"


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def crowd(n_answers: int, n_annotators: int, per_item: int, k: int, seed: int) -> pd.DataFrame:
    """Long answers table: ``per_item`` distinct annotators per item, string ids."""
    rng = np.random.default_rng(seed)
    n_items = n_answers // per_item
    who = rng.integers(0, n_annotators, (n_items, per_item))
    while True:
        clash = np.zeros(n_items, dtype=bool)
        for a in range(per_item):
            for b in range(a + 1, per_item):
                clash |= who[:, a] == who[:, b]
        if not clash.any():
            break
        who[clash] = rng.integers(0, n_annotators, (int(clash.sum()), per_item))
    truth = rng.integers(1, k + 1, n_items)
    noise = rng.integers(1, k + 1, (n_items, per_item))
    labels = np.where(rng.random((n_items, per_item)) < 0.7, truth[:, None], noise)
    names = np.array([f"ann{i:05d}" for i in range(n_annotators)], dtype=object)
    return pd.DataFrame(
        {
            "task": np.repeat(np.arange(n_items), per_item),
            "worker": names[who.reshape(-1)],
            "label": labels.reshape(-1).astype(np.int64),
        }
    )


def sklearn_pairs(
    answers: pd.DataFrame, per_pair: pd.Series[float], n_pairs: int, seed: int
) -> float:
    """Largest |ours - cohen_kappa_score| over a sample of pairs (all when fewer)."""
    by_worker = {w: g.set_index("task")["label"] for w, g in answers.groupby("worker")}
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(per_pair), min(n_pairs, len(per_pair)), replace=False)
    worst = 0.0
    for pos in pick:
        a, b = per_pair.index[pos]
        both = by_worker[a].index.intersection(by_worker[b].index)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # one class / undefined kappa: nan on both sides
            ref = cohen_kappa_score(by_worker[a].loc[both], by_worker[b].loc[both])
        ours = float(per_pair.iloc[pos])
        if np.isnan(ref) != np.isnan(ours):
            return float("inf")
        if not np.isnan(ref):
            worst = max(worst, abs(ours - float(ref)))
    return worst


def _alpha(answers: pd.DataFrame, level: Level) -> float:
    return krippendorff_alpha(answers, level=level).value


def references(answers: pd.DataFrame, repeat: int) -> tuple[bool, list[tuple[Any, ...]]]:
    """Fleiss' kappa and alpha, ours vs statsmodels and krippendorff, on ``answers``."""
    ordered = answers.sort_values("task", kind="stable")
    per_item = ordered.groupby("task", sort=False).size()
    if per_item.nunique() != 1:
        raise ValueError("the reference comparison needs the same number of answers per item")
    # (items, answers) label matrix -> statsmodels' own (items, classes) count table
    table, values = aggregate_raters(
        ordered["label"].to_numpy().reshape(len(per_item), int(per_item.iloc[0]))
    )
    values = np.asarray(values, dtype=np.float64)
    rows: list[tuple[Any, ...]] = []
    ok = True
    t_ours, ours = best_of(lambda: fleiss_kappa(answers).value, repeat)
    t_ref, ref = best_of(lambda: sm_fleiss_kappa(table, method="fleiss"), repeat)
    ok &= abs(ours - ref) <= TOL
    rows.append(("Fleiss' kappa", "statsmodels", t_ours, t_ref, ours, ref))
    for level in LEVELS:
        t_ours, ours = best_of(partial(_alpha, answers, level), repeat)
        t_ref, ref = best_of(
            partial(
                krippendorff.alpha,
                value_counts=table,
                value_domain=values,
                level_of_measurement=level,
            ),
            repeat,
        )
        ok &= abs(ours - float(ref)) <= TOL
        rows.append((f"alpha ({level})", "krippendorff", t_ours, t_ref, ours, ref))
    return ok, rows


def print_rows(rows: list[tuple[Any, ...]]) -> None:
    print(f"{'measure':18} {'bakeoff s':>10} {'reference s':>12} {'ratio':>7}  value (ours / ref)")
    for name, ref_name, t_o, t_r, v_o, v_r in rows:
        print(
            f"{name:18} {t_o:10.4f} {t_r:12.4f} {t_r / t_o:6.2f}x  "
            f"{v_o:.12f} / {v_r:.12f} ({ref_name})"
        )


def synthetic(args: argparse.Namespace) -> bool:
    answers = crowd(args.answers, args.annotators, 3, 5, seed=7)
    n_workers = answers["worker"].nunique()
    print(
        f"crowd: {len(answers):,} answers, {answers['task'].nunique():,} items, "
        f"{n_workers:,} annotators, 3 answers per item; best of {args.repeat}"
    )
    t_pair, result = best_of(lambda: pairwise_cohen_kappa(answers), args.repeat)
    per_pair = result.per_item
    ok, rows = references(answers, args.repeat)
    worst = sklearn_pairs(answers, per_pair, 300, seed=1)
    ok &= worst <= TOL
    equal = pairwise_cohen_kappa(answers, pair_weights="equal").value
    print(
        f"pairwise Cohen's kappa: {t_pair:.3f} s for {result.params['n_pairs']:,} annotator "
        f"pairs ({result.params['n_defined']:,} defined); mean weighted by shared items "
        f"{result.value:.6f} (unweighted {equal:.6f}); target < {args.target:g} s"
    )
    print(f"  per-pair kappa vs sklearn cohen_kappa_score on 300 pairs: max |diff| {worst:.2e}")
    t_fleiss_ref, t_alpha_ref = rows[0][3], rows[1][3]
    print(
        f"  pairwise kappa time / statsmodels Fleiss time: {t_pair / t_fleiss_ref:.1f}x; "
        f"/ krippendorff nominal alpha time: {t_pair / t_alpha_ref:.1f}x"
    )
    print_rows(rows)
    fast = t_pair < args.target
    if not fast:
        print(f"MISSED: pairwise kappa took {t_pair:.3f} s (target < {args.target:g} s)")
    return bool(ok and fast)


def snow(directory: Path, repeat: int) -> bool:
    ok = True
    for name in ("rte", "temp", "wsd"):
        path = directory / f"{name}.standardized.tsv"
        if not path.exists():
            print(f"snow2008/{name}: not found at {path}; skipped")
            continue
        raw = pd.read_csv(path, sep="\t", dtype=str)
        raw.columns = ["annotation", "worker", "task", "label", "gold"]
        answers = raw[["task", "worker", "label"]].assign(label=raw["label"].astype(int))
        t_pair, result = best_of(partial(pairwise_cohen_kappa, answers), repeat)
        equal = pairwise_cohen_kappa(answers, pair_weights="equal").value
        worst = sklearn_pairs(answers, result.per_item, 100_000, seed=0)
        good, rows = references(answers, 1)
        ok &= good and worst <= TOL
        print(
            f"\nsnow2008/{name}: {len(answers):,} answers, {answers['task'].nunique()} items, "
            f"{answers['worker'].nunique()} annotators, {result.params['n_pairs']:,} pairs; "
            f"pairwise kappa {t_pair:.3f} s, weighted {result.value:.4f} "
            f"(unweighted {equal:.4f}); every pair vs sklearn: max |diff| {worst:.2e}"
        )
        print_rows(rows)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--answers", type=int, default=1_000_000)
    parser.add_argument("--annotators", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", type=float, default=5.0)
    parser.add_argument("--snow", type=Path, default=SNOW)
    args = parser.parse_args()
    try:
        ok = synthetic(args)
        ok &= snow(args.snow, args.repeat)
    except (MemoryError, ValueError, TypeError) as exc:  # could not run: say so and fail
        print(f"FAILED to run: {type(exc).__name__}: {exc}")
        return 1
    print(f"\nresults agree and target met: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
