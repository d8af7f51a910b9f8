"""Paired tests between scored candidates on the main metric over all gold items.

Each pair is compared on the ranking metric (``<main>_all``: an unanswered item scores
0): McNemar's exact test when every per-item score is 0 or 1, otherwise a paired
bootstrap test of the mean difference (:mod:`metrics.statistics`, seeded like the
intervals). P-values are Holm-adjusted over all pairs.

Examples
--------
>>> import pandas as pd
>>> from metrics.scoring import score
>>> gold = pd.Series(["a"] * 30, index=range(30))
>>> good = score("classification", gold, gold)
>>> bad = score("classification", gold, pd.Series(["a"] * 10, index=range(10)))
>>> [(c.a, c.b, c.test, c.significant) for c in paired_comparisons({"good": good, "bad": bad})]
[('good', 'bad', 'McNemar exact', True)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.scoring.base import Scored
from metrics.statistics import holm, mcnemar_exact, paired_bootstrap_test

__all__ = ["PairedComparison", "paired_comparisons"]


@dataclass(frozen=True)
class PairedComparison:
    """``a`` versus ``b`` on the ranking metric; ``a_better``/``b_better`` count items."""

    a: str
    b: str
    metric: str
    test: str
    difference: float
    a_better: int
    b_better: int
    pvalue: float
    pvalue_holm: float
    significant: bool


def _mean_of(values: npt.NDArray[np.float64]) -> Callable[[npt.NDArray[np.intp]], float]:
    def statistic(idx: npt.NDArray[np.intp]) -> float:
        return float(values[idx].mean())

    return statistic


def paired_comparisons(
    scored: Mapping[str, Scored], *, alpha: float = 0.05
) -> list[PairedComparison]:
    """Every pair of candidates scored on the same gold, in the mapping's order.

    Raises
    ------
    ValueError
        When candidates were scored on different gold items.
    """
    names = list(scored)
    if len(names) < 2:
        return []
    first = scored[names[0]]
    for name in names[1:]:
        if not scored[name].items.index.equals(first.items.index):
            raise ValueError(f"{name!r} and {names[0]!r} were scored on different gold items")
    values = {
        n: np.nan_to_num(s.items["score"].to_numpy(dtype=np.float64)) for n, s in scored.items()
    }
    binary = all(bool(np.all((v == 0) | (v == 1))) for v in values.values())
    raw: dict[str, tuple[str, str, float, int, int, str]] = {}
    for a, b in combinations(names, 2):
        va, vb = values[a], values[b]
        better_a, better_b = int((va > vb).sum()), int((vb > va).sum())
        if binary:
            ones = pd.Series(np.ones(va.size, dtype=np.int64))
            p = mcnemar_exact(ones, pd.Series(va.astype(np.int64)), pd.Series(vb.astype(np.int64)))
            pvalue, test = p.pvalue, "McNemar exact"
        else:
            t = paired_bootstrap_test(
                _mean_of(va),
                _mean_of(vb),
                n_items=va.size,
                n_resamples=first.options.n_resamples,
                rng=np.random.default_rng(first.options.seed),
            )
            pvalue, test = t.pvalue, "paired bootstrap"
        raw[f"{a}\x00{b}"] = (a, b, float(pvalue), better_a, better_b, test)
    adjusted = holm({k: v[2] for k, v in raw.items()}, alpha=alpha)
    metric = first.item_score_metric
    return [
        PairedComparison(
            a=a,
            b=b,
            metric=metric,
            test=test,
            difference=float(values[a].mean() - values[b].mean()),
            a_better=better_a,
            b_better=better_b,
            pvalue=pvalue,
            pvalue_holm=adjusted.adjusted[key],
            significant=adjusted.reject[key],
        )
        for key, (a, b, pvalue, better_a, better_b, test) in raw.items()
    ]
