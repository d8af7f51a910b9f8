"""The resampled kappa of the preference engine equals scikit-learn's on every resample."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from metrics.scoring.preference import _kappa_statistic


def _sklearn(g: np.ndarray, v: np.ndarray, idx: np.ndarray) -> float:
    gs, vs = g[idx], v[idx]
    keep = np.array([x is not None for x in vs])
    gs, vs = gs[keep].astype(str), vs[keep].astype(str)
    if gs.size == 0 or len(set(gs) | set(vs)) < 2:
        return float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(cohen_kappa_score(gs, vs, labels=["A", "B", "tie"]))


@pytest.mark.parametrize("seed", range(5))
def test_every_resample_matches_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    g = rng.choice(["A", "B", "tie"], n, p=[0.45, 0.35, 0.2]).astype(object)
    v = np.where(rng.random(n) < 0.7, g, rng.choice(["A", "B", "tie"], n)).astype(object)
    v[rng.random(n) < 0.1] = None  # unanswered items
    compute = _kappa_statistic(g, v)
    for _ in range(200):
        idx = rng.integers(0, n, n).astype(np.intp)
        ours, theirs = compute(idx), _sklearn(g, v, idx)
        assert (math.isnan(ours) and math.isnan(theirs)) or abs(ours - theirs) < 1e-12


def test_degenerate_resamples_are_nan_like_the_metric() -> None:
    g = np.array(["A", "A", "B"], dtype=object)
    v = np.array(["A", "A", None], dtype=object)
    compute = _kappa_statistic(g, v)
    assert math.isnan(compute(np.array([0, 1], dtype=np.intp)))  # one class only
    assert math.isnan(compute(np.array([2, 2], dtype=np.intp)))  # nothing answered
    full = compute(np.arange(3, dtype=np.intp))
    assert math.isnan(full)  # answered items all "A" on both sides
    assert pd.isna(full)
