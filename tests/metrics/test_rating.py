"""Rating metrics: sklearn weighted kappa, published ICC values, planted leniency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from metrics.rating import icc, rating_bias, rating_mae, weighted_kappa

_SHROUT_FLEISS = [
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
]


@pytest.mark.parametrize("weights", ["linear", "quadratic"], ids=["linear", "quadratic"])
def test_weighted_kappa_equals_sklearn(weights: str) -> None:
    rng = np.random.default_rng(0)
    gold = pd.Series(rng.integers(1, 6, 300))
    labels = (gold + rng.integers(-1, 2, 300)).clip(1, 5)
    expected = cohen_kappa_score(gold, labels, weights=weights)
    got = weighted_kappa(gold, labels, weights="linear" if weights == "linear" else "quadratic")
    assert got.value == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize(
    ("form", "published"),
    [("ICC(2,1)", 0.29), ("ICC(3,1)", 0.71), ("ICC(2,k)", 0.62), ("ICC(3,k)", 0.91)],
    ids=["2-1", "3-1", "2-k", "3-k"],
)
def test_icc_matches_shrout_fleiss_table_2(form: str, published: float) -> None:
    value = icc(_SHROUT_FLEISS, form=form).value  # type: ignore[arg-type]
    assert round(value, 2) == published


def test_icc_refuses_gaps() -> None:
    with pytest.raises(ValueError, match="full table"):
        icc([[1.0, np.nan], [2.0, 3.0]])


def test_planted_leniency_is_found_and_mae() -> None:
    rng = np.random.default_rng(1)
    gold = pd.Series(rng.integers(1, 6, 2000).astype(float))
    lenient = gold + (rng.random(2000) < 0.4)  # +1 on 40% of items: bias 0.4
    result = rating_bias(gold, lenient)
    assert result.ci is not None and result.ci.low <= 0.4 <= result.ci.high
    assert rating_mae(gold, lenient).value == pytest.approx(float((lenient - gold).abs().mean()))
    assert rating_bias(gold, gold).value == 0.0
