"""Bootstrap, McNemar, paired tests and Holm against statsmodels and by construction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests

from metrics.classification import accuracy, classification_summary, macro_f1
from metrics.statistics import (
    bootstrap_indices,
    classification_bootstrap,
    classification_statistic,
    holm,
    mcnemar_exact,
    paired_bootstrap,
    paired_bootstrap_test,
    paired_permutation_test,
)

TOL = 1e-9


def _systems(seed: int, n: int = 300) -> tuple[pd.Series[Any], dict[str, pd.Series[Any]]]:
    rng = np.random.default_rng(seed)
    idx = [f"t{i}" for i in range(n)]
    gold = pd.Series(rng.integers(0, 3, n), index=idx)
    systems = {}
    for name, p in (("good", 0.9), ("fair", 0.7), ("poor", 0.5)):
        pred = np.where(rng.random(n) < p, gold.to_numpy(), rng.integers(0, 3, n))
        keep = rng.random(n) > 0.05
        systems[name] = pd.Series(pred, index=idx)[keep]
    return gold, systems


def test_bootstrap_is_paired_and_reproducible() -> None:
    gold, systems = _systems(0)
    stats = {
        name: classification_statistic(gold, labels, metric="accuracy_all")
        for name, labels in systems.items()
    }
    a = paired_bootstrap(stats, n_items=len(gold), n_resamples=300, rng=np.random.default_rng(7))
    b = paired_bootstrap(stats, n_items=len(gold), n_resamples=300, rng=np.random.default_rng(7))
    for name in systems:
        np.testing.assert_array_equal(a[name].replicates, b[name].replicates)
    # paired: replicate r of every system uses the same items
    idx = bootstrap_indices(len(gold), n_resamples=300, rng=np.random.default_rng(7))
    for name, labels in systems.items():
        for r in (0, 123, 299):
            resampled_gold = pd.Series(gold.to_numpy()[idx[r]], index=range(len(gold)))
            resampled = labels.reindex(gold.index).to_numpy()[idx[r]]
            expected = float(np.mean(resampled == resampled_gold.to_numpy()))
            assert a[name].replicates[r] == pytest.approx(expected, abs=TOL)
    for name, labels in systems.items():
        res = a[name]
        assert res.estimate == pytest.approx(
            classification_summary(gold, labels).accuracy_all, abs=TOL
        )
        assert res.ci.low <= res.estimate <= res.ci.high
        assert res.ci.level == 0.95
        q = np.percentile(res.replicates, [2.5, 97.5])
        assert (res.ci.low, res.ci.high) == pytest.approx(tuple(q), abs=TOL)


@pytest.mark.parametrize(
    "metric",
    [
        "accuracy",
        "accuracy_all",
        "coverage",
        "balanced_accuracy",
        "macro_f1",
        "micro_f1",
        "cohen_kappa",
    ],
)
def test_classification_statistic_on_all_items_equals_summary(metric: Any) -> None:
    gold, systems = _systems(1)
    labels = systems["fair"]
    stat = classification_statistic(gold, labels, metric=metric)
    summary = classification_summary(gold, labels)
    assert stat(np.arange(len(gold))) == pytest.approx(getattr(summary, metric), abs=TOL)


def test_bootstrap_ci_covers_true_accuracy_most_of_the_time() -> None:
    rng = np.random.default_rng(3)
    covered = 0
    for _ in range(40):
        gold = pd.Series(np.zeros(200, dtype=int))
        labels = pd.Series(np.where(rng.random(200) < 0.8, 0, 1))
        stat = classification_statistic(gold, labels, metric="accuracy")
        res = paired_bootstrap({"s": stat}, n_items=200, n_resamples=300, rng=rng)["s"]
        covered += res.ci.low <= 0.8 <= res.ci.high
    assert covered >= 32  # nominal 95%: 38/40 expected


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mcnemar_matches_statsmodels(seed: int) -> None:
    gold, systems = _systems(seed, n=80)
    r = mcnemar_exact(gold, systems["good"], systems["fair"])
    ok_a = (systems["good"].reindex(gold.index) == gold).to_numpy()
    ok_b = (systems["fair"].reindex(gold.index) == gold).to_numpy()
    table = [
        [int((ok_a & ok_b).sum()), int((ok_a & ~ok_b).sum())],
        [int((~ok_a & ok_b).sum()), int((~ok_a & ~ok_b).sum())],
    ]
    ref = mcnemar(table, exact=True)
    assert r.statistic == pytest.approx(ref.statistic, abs=TOL)
    assert r.pvalue == pytest.approx(ref.pvalue, abs=TOL)
    assert (r.b, r.c, r.n) == (table[0][1], table[1][0], len(gold))


def test_mcnemar_drop_skipped_and_no_discordance() -> None:
    gold = pd.Series([1, 1, 1, 1], index=list("abcd"))
    a = pd.Series([1, 0, 1], index=list("abc"))
    b = pd.Series([1, 1, 1, 1], index=list("abcd"))
    assert mcnemar_exact(gold, a, b).c == 2
    assert mcnemar_exact(gold, a, b, skipped="drop").c == 1
    assert mcnemar_exact(gold, b, b).pvalue == 1.0


HOLM_CASES = [
    pytest.param([0.01, 0.04, 0.03, 0.5], 0.05, id="mixed"),
    pytest.param([0.0, 1.0, 0.025, 0.025], 0.05, id="ties-and-bounds"),
    pytest.param([0.2], 0.1, id="single"),
    *(
        pytest.param(list(np.random.default_rng(s).random(8) ** 3), 0.05, id=f"random-{s}")
        for s in range(4)
    ),
]


@pytest.mark.parametrize(("pvalues", "alpha"), HOLM_CASES)
def test_holm_matches_statsmodels(pvalues: list[float], alpha: float) -> None:
    names = [f"pair-{i}" for i in range(len(pvalues))]
    r = holm(dict(zip(names, pvalues, strict=True)), alpha=alpha)
    reject, corrected, _, _ = multipletests(pvalues, alpha=alpha, method="holm")
    np.testing.assert_allclose([r.adjusted[n] for n in names], corrected, atol=TOL)
    assert [r.reject[n] for n in names] == [bool(x) for x in reject]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=12))
def test_hypothesis_holm_invariants(pvalues: list[float]) -> None:
    names = [f"pair-{i}" for i in range(len(pvalues))]
    r = holm(dict(zip(names, pvalues, strict=True)))
    adjusted = [r.adjusted[n] for n in names]
    assert all(p - 1e-15 <= a <= 1.0 for p, a in zip(pvalues, adjusted, strict=True))
    # a smaller raw p-value never gets a larger adjusted one
    order = np.argsort(pvalues, kind="stable")
    assert all(np.diff(np.asarray(adjusted)[order]) >= -1e-15)
    # renaming / reordering the comparisons changes nothing
    rev = holm(dict(zip(reversed(names), reversed(pvalues), strict=True)))
    assert rev.adjusted == pytest.approx(r.adjusted)


def test_holm_rejects_bad_pvalues() -> None:
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        holm({"a": 1.5})
    with pytest.raises(TypeError, match="mapping"):
        holm([0.1, 0.2])  # type: ignore[arg-type]
    assert holm({}).adjusted == {}


def test_paired_tests_detect_a_real_difference_and_not_a_null_one() -> None:
    gold, systems = _systems(5, n=400)
    good = classification_statistic(gold, systems["good"], metric="macro_f1")
    poor = classification_statistic(gold, systems["poor"], metric="macro_f1")
    r = paired_bootstrap_test(
        good, poor, n_items=len(gold), n_resamples=500, rng=np.random.default_rng(1)
    )
    assert r.difference > 0.2 and r.pvalue < 0.01
    assert r.ci is not None and r.ci.low > 0
    same = paired_bootstrap_test(
        good, good, n_items=len(gold), n_resamples=200, rng=np.random.default_rng(1)
    )
    assert same.difference == 0.0 and same.pvalue == 1.0

    def metric(g: pd.Series[Any], lab: pd.Series[Any]) -> float:
        return macro_f1(g, lab).value

    p = paired_permutation_test(
        metric,
        gold,
        systems["good"],
        systems["poor"],
        n_permutations=100,
        rng=np.random.default_rng(2),
    )
    assert p.pvalue == pytest.approx(1 / 101)
    assert p.difference == pytest.approx(
        macro_f1(gold, systems["good"]).value - macro_f1(gold, systems["poor"]).value
    )
    flat = paired_permutation_test(
        lambda g, lab: accuracy(g, lab).value,
        gold,
        systems["good"],
        systems["good"],
        n_permutations=50,
        rng=np.random.default_rng(2),
    )
    assert flat.pvalue == 1.0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="n_items must be at least 1"):
        bootstrap_indices(0)
    with pytest.raises(ValueError, match="level must be in"):
        paired_bootstrap({}, n_items=3, level=1.5)
    gold = pd.Series([1, 2])
    with pytest.raises(ValueError, match="metric must be one of"):
        classification_statistic(gold, gold, metric="auc")  # type: ignore[arg-type]


def test_classification_bootstrap_equals_generic_paired_bootstrap() -> None:
    gold, systems = _systems(9, n=120)
    metrics: list[Any] = ["accuracy", "coverage", "cohen_kappa", "macro_f1"]
    fast = classification_bootstrap(
        gold, systems, metrics=metrics, n_resamples=50, rng=np.random.default_rng(11)
    )
    stats = {
        f"{name}/{m}": classification_statistic(gold, labels, metric=m)
        for name, labels in systems.items()
        for m in metrics
    }
    slow = paired_bootstrap(stats, n_items=len(gold), n_resamples=50, rng=np.random.default_rng(11))
    for name in systems:
        for m in metrics:
            np.testing.assert_allclose(
                fast[name][m].replicates, slow[f"{name}/{m}"].replicates, atol=TOL
            )
            assert fast[name][m].ci == slow[f"{name}/{m}"].ci
