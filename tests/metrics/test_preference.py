"""Pairwise preference metrics against references (sklearn, choix) and planted biases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from metrics.preference import (
    bradley_terry,
    length_bias,
    position_bias,
    preference_agreement,
    preference_kappa,
    ranking_correlation,
    swap_consistency,
)

choix = pytest.importorskip("choix")


def _random_prefs(n: int, seed: int) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    gold = pd.Series(rng.choice(["A", "B", "tie"], n, p=[0.45, 0.45, 0.1]))
    noisy = rng.random(n) < 0.3
    labels = gold.where(~noisy, pd.Series(rng.choice(["A", "B", "tie"], n)))
    return gold, labels


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["s0", "s1", "s2"])
def test_kappa_equals_sklearn(seed: int) -> None:
    gold, labels = _random_prefs(300, seed)
    expected = cohen_kappa_score(gold, labels)
    assert preference_kappa(gold, labels).value == pytest.approx(expected, abs=1e-9)


def test_agreement_with_and_without_ties() -> None:
    gold = pd.Series(["A", "B", "tie", "A", "tie"])
    labels = pd.Series(["A", "A", "tie", "tie", "B"])
    assert preference_agreement(gold, labels, ties="with").value == pytest.approx(2 / 5)
    assert preference_agreement(gold, labels, ties="without").value == pytest.approx(1 / 2)


def test_refuses_unknown_values() -> None:
    with pytest.raises(ValueError, match="outside 'A', 'B', 'tie'"):
        preference_agreement(pd.Series(["A"]), pd.Series(["C"]))


def test_planted_position_bias_is_found() -> None:
    rng = np.random.default_rng(3)
    n, planted = 4000, 0.2
    gold = pd.Series(rng.choice(["A", "B"], n))
    swapped = pd.Series(rng.random(n) < 0.5)
    labels = gold.copy()
    # a share `planted` of answers goes to whichever response is shown first
    moved = rng.random(n) < planted
    first = np.where(swapped, "B", "A")
    labels[moved] = first[moved]
    result = position_bias(gold, labels, swapped)
    # expected size: planted * P(gold was second) = planted / 2
    assert result.ci is not None
    assert result.ci.low <= planted / 2 <= result.ci.high
    assert result.ci.low > 0
    unbiased = position_bias(gold, gold, swapped)
    assert unbiased.value == pytest.approx(0.0)


def test_planted_length_bias_is_found() -> None:
    rng = np.random.default_rng(4)
    n = 4000
    gold = pd.Series(rng.choice(["A", "B"], n))
    la = pd.Series(rng.integers(10, 200, n).astype(float))
    lb = pd.Series(rng.integers(10, 200, n).astype(float))
    longer = np.where(la > lb, "A", "B")
    labels = gold.copy()
    moved = rng.random(n) < 0.3
    labels[moved] = longer[moved]
    result = length_bias(gold, labels, la, lb)
    assert result.ci is not None
    assert result.ci.low <= 0.15 <= result.ci.high
    assert length_bias(gold, gold, la, lb).value == pytest.approx(0.0)


def test_swap_consistency() -> None:
    answers = pd.DataFrame(
        {
            "task": [1, 1, 2, 2, 3],
            "worker": ["w", "w", "w", "w", "w"],
            "label": ["A", "A", "A", "B", "B"],
            "swapped": [False, True, False, True, False],
        }
    )
    result = swap_consistency(answers)
    assert result.value == pytest.approx(0.5)
    assert result.params["n_pairs"] == 2


def _tournament(seed: int, n_items: int = 6, n: int = 2000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    strength = np.linspace(-1, 1, n_items)
    a = rng.integers(0, n_items, n)
    b = (a + rng.integers(1, n_items, n)) % n_items
    p = 1 / (1 + np.exp(strength[b] - strength[a]))
    label = np.where(rng.random(n) < p, "A", "B")
    return pd.DataFrame({"a": a, "b": b, "label": label})


@pytest.mark.parametrize("seed", [0, 1], ids=["s0", "s1"])
def test_bradley_terry_equals_choix(seed: int) -> None:
    comparisons = _tournament(seed)
    ours = bradley_terry(comparisons).scores.sort_index()
    winners = np.where(comparisons["label"] == "A", comparisons["a"], comparisons["b"])
    losers = np.where(comparisons["label"] == "A", comparisons["b"], comparisons["a"])
    data = list(zip(winners.tolist(), losers.tolist(), strict=True))
    theirs = choix.ilsr_pairwise(6, data, alpha=0.0, tol=1e-14, max_iter=10_000)
    theirs = theirs - theirs.mean()
    np.testing.assert_allclose(ours.to_numpy(), theirs, atol=1e-9)


def test_bradley_terry_intervals_and_rank_correlation() -> None:
    comparisons = _tournament(5)
    bt = bradley_terry(comparisons, n_resamples=50, rng=np.random.default_rng(0))
    assert bt.ci is not None
    assert (bt.ci["low"] <= bt.scores).all() and (bt.scores <= bt.ci["high"]).all()
    truth = pd.Series(np.linspace(-1, 1, 6), index=range(6))
    assert ranking_correlation(bt.scores, truth).value > 0.8


def test_many_tables_fit_at_once_equal_choix_and_tau_equals_scipy() -> None:
    from scipy.stats import kendalltau

    from metrics.preference import bradley_terry_many, kendall_tau_many

    stack, theirs = [], []
    for seed in range(4):
        comparisons = _tournament(seed, n=400)
        winners = np.where(comparisons["label"] == "A", comparisons["a"], comparisons["b"])
        losers = np.where(comparisons["label"] == "A", comparisons["b"], comparisons["a"])
        wins = np.zeros((6, 6))
        np.add.at(wins, (winners, losers), 1.0)
        stack.append(wins)
        data = list(zip(winners.tolist(), losers.tolist(), strict=True))
        fit = choix.ilsr_pairwise(6, data, alpha=0.0, tol=1e-14, max_iter=10_000)
        theirs.append(fit - fit.mean())
    ours = bradley_terry_many(np.array(stack), tol=1e-13, max_iter=100_000)
    np.testing.assert_allclose(ours, np.array(theirs), atol=1e-9)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 4, (20, 6)).astype(float), rng.normal(size=(20, 6))
    expected = [kendalltau(x[r], y[r]).statistic for r in range(20)]
    np.testing.assert_allclose(kendall_tau_many(x, y), expected, atol=1e-12)
