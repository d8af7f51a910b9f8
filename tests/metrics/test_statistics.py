"""Bootstrap, McNemar, paired tests and Holm against statsmodels and by construction."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from metrics.classification import accuracy, classification_summary, macro_f1
from metrics.statistics import (
    DEFAULT_SEED,
    bootstrap_indices,
    bootstrap_z_test,
    classification_bootstrap,
    classification_statistic,
    compact_letter_display,
    format_p_value,
    holm,
    mcnemar_exact,
    mean_interval,
    paired_bootstrap,
    paired_bootstrap_test,
    paired_permutation_test,
    paired_t_test,
    proportion_interval,
    resamples_for_holm,
    resolve_rng,
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
            if m in ("cohen_kappa", "macro_f1"):
                assert fast[name][m].ci == slow[f"{name}/{m}"].ci
    # Proportions follow the interval policy (modified Wilson), not the percentile.
    for name, labels in systems.items():
        labelled = labels.reindex(gold.index).notna()
        correct = int((labels.reindex(gold.index) == gold)[labelled].sum())
        want_acc = proportion_interval(correct, int(labelled.sum()))
        want_cov = proportion_interval(int(labelled.sum()), len(gold))
        assert fast[name]["accuracy"].ci == want_acc
        assert fast[name]["coverage"].ci == want_cov
    legacy = classification_bootstrap(
        gold,
        systems,
        metrics=metrics,
        n_resamples=50,
        rng=np.random.default_rng(11),
        proportion_method=None,
    )
    for name in systems:
        for m in metrics:
            assert legacy[name][m].ci == slow[f"{name}/{m}"].ci


# --------------------------------------------------------------------------- intervals


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 2000), frac=st.floats(0, 1), level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_wilson_and_clopper_pearson_match_statsmodels(n: int, frac: float, level: float) -> None:
    k = int(round(frac * n))
    for ours, theirs in (("wilson", "wilson"), ("clopper_pearson", "beta")):
        ci = proportion_interval(k, n, level=level, method=ours)  # type: ignore[arg-type]
        low, high = proportion_confint(k, n, alpha=1 - level, method=theirs)
        assert ci.low == pytest.approx(float(low), abs=TOL)
        assert ci.high == pytest.approx(float(high), abs=TOL)
        assert 0.0 <= ci.low <= k / n <= ci.high <= 1.0


@pytest.mark.parametrize("n", [20, 60, 100, 101, 300], ids=lambda n: f"n{n}")
def test_modified_wilson_differs_only_next_to_the_bounds(n: int) -> None:
    cutoff = 2 if n <= 50 else 3 if n <= 100 else 0
    for k in range(n + 1):
        mod = proportion_interval(k, n)
        low, high = proportion_confint(k, n, alpha=0.05, method="wilson")
        if 1 <= k <= cutoff:  # Brown, Cai & DasGupta (2001), section 4.1.1
            assert mod.low == pytest.approx(0.5 * stats.chi2.ppf(0.05, 2 * k) / n, abs=TOL)
        else:
            assert mod.low == pytest.approx(float(low), abs=TOL)
        if 1 <= n - k <= cutoff:
            want = 1 - 0.5 * stats.chi2.ppf(0.05, 2 * (n - k)) / n
            assert mod.high == pytest.approx(want, abs=TOL)
        else:
            assert mod.high == pytest.approx(float(high), abs=TOL)
        assert 0.0 <= mod.low <= k / n <= mod.high <= 1.0


def test_an_all_correct_sample_does_not_collapse_to_one() -> None:
    ci = proportion_interval(100, 100)
    assert ci.high == 1.0 and ci.low < 0.97
    # True accuracy 0.995 at n = 100: covered whenever 98 or more items are right.
    assert proportion_interval(98, 100).high > 0.995


@pytest.mark.parametrize(
    ("n", "p"),
    [(n, p) for n in (100, 300, 1000) for p in (0.70, 0.90, 0.97, 0.995)],
    ids=lambda v: str(v),
)
def test_exact_coverage_of_the_interval_policy(n: int, p: float) -> None:
    """Coverage summed over every outcome (no Monte-Carlo noise)."""
    k = np.arange(n + 1)
    pmf = stats.binom.pmf(k, n, p)
    bounds = np.array([proportion_interval(int(x), n).as_pair() for x in k])
    covered = (bounds[:, 0] <= p) & (p <= bounds[:, 1])
    coverage = float(pmf[covered].sum())
    # 0.93-0.97, except where no non-randomised interval can land in that band
    # (n=100, p=0.995: 0.911 when 98 of 100 is excluded, 0.987 when it is not).
    cum = np.r_[0.0, np.cumsum(pmf)]
    reachable = cum[None, :] - cum[:, None]
    if bool(((reachable >= 0.93) & (reachable <= 0.97)).any()):
        assert 0.93 <= coverage <= 0.97
    else:
        assert coverage >= 0.95


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0, 1), min_size=1, max_size=60))
def test_mean_interval_stays_in_bounds_and_holds_the_mean(values: list[float]) -> None:
    ci = mean_interval(values)
    m = float(np.mean(values))
    assert 0.0 <= ci.low <= m + 1e-12
    assert m - 1e-12 <= ci.high <= 1.0


def test_mean_interval_of_binary_scores_is_the_proportion_interval() -> None:
    x = np.r_[np.ones(87), np.zeros(13)]
    assert mean_interval(x) == proportion_interval(87, 100)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        mean_interval([0.5, 1.5])


def test_mean_interval_is_close_to_the_t_interval_in_the_middle() -> None:
    x = np.random.default_rng(1).beta(5, 3, 2000)
    ci = mean_interval(x)
    half = 1.96 * x.std(ddof=1) / np.sqrt(x.size)
    assert ci.low == pytest.approx(x.mean() - half, abs=2e-3)
    assert ci.high == pytest.approx(x.mean() + half, abs=2e-3)


def test_seed_policy() -> None:
    assert DEFAULT_SEED == 0
    a = bootstrap_indices(10, n_resamples=3)
    b = bootstrap_indices(10, n_resamples=3, rng=np.random.default_rng(DEFAULT_SEED))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="Generator"):
        resolve_rng(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("p", "text"),
    [
        (0.0, "< 1e-300"),
        (1.5e-304, "< 1e-300"),
        (2e-300, "2e-300"),
        (0.0075, "0.0075"),
        (float("nan"), "n/a"),
        (None, "n/a"),
    ],
    ids=["zero", "underflow", "floor", "small", "nan", "none"],
)
def test_p_values_never_print_as_zero(p: float | None, text: str) -> None:
    assert format_p_value(p) == text


# --------------------------------------------------------------------------- many pairs


def test_mcnemar_p_value_underflow_is_printed_not_zero() -> None:
    gold = pd.Series([1] * 3000)
    r = mcnemar_exact(gold, pd.Series([1] * 3000), pd.Series([0] * 3000))
    ref = mcnemar([[0, 3000], [0, 0]], exact=True).pvalue
    assert r.pvalue == pytest.approx(ref, abs=TOL)
    assert format_p_value(r.pvalue) == "< 1e-300"


def test_resamples_for_holm_lets_the_smallest_p_survive() -> None:
    for m in (1, 6, 28, 66):
        b = resamples_for_holm(m)
        assert m * 2 / (b + 1) <= 0.05 / 10 + 1e-15
    assert resamples_for_holm(1, minimum=1000) == 1000


def test_bootstrap_test_with_28_pairs_can_be_separated() -> None:
    a = np.r_[np.ones(90), np.zeros(10)]
    b = np.r_[np.ones(60), np.zeros(40)]
    one = paired_bootstrap_test(
        lambda i: float(a[i].mean()), lambda i: float(b[i].mean()), n_items=100, n_resamples=1000
    )
    many = paired_bootstrap_test(
        lambda i: float(a[i].mean()),
        lambda i: float(b[i].mean()),
        n_items=100,
        n_resamples=1000,
        n_comparisons=28,
    )
    assert one.pvalue * 28 > 0.05  # the old floor: 2/1001 times 28 pairs
    assert many.n_resamples == resamples_for_holm(28)
    assert many.pvalue * 28 <= 0.05


def test_bootstrap_z_test_matches_the_normal_formula() -> None:
    reps = np.random.default_rng(3).normal(0.05, 0.02, 4000)
    r = bootstrap_z_test(0.05, reps)
    se = reps.std(ddof=1)
    assert r.pvalue == pytest.approx(2 * stats.norm.sf(0.05 / se), rel=1e-12)
    assert r.ci is not None
    assert r.ci.low == pytest.approx(0.05 - 1.959963984540054 * se, rel=1e-9)
    assert (r.ci.low > 0) == (r.pvalue < 0.05)
    assert bootstrap_z_test(0.0, np.zeros(10)).pvalue == 1.0
    assert bootstrap_z_test(0.1, np.full(10, 0.1)).pvalue == 0.0
    assert np.isnan(bootstrap_z_test(0.1, np.array([np.nan])).pvalue)


def test_paired_t_test_matches_scipy() -> None:
    gen = np.random.default_rng(4)
    a, b = gen.uniform(0, 1, 80), gen.uniform(0, 1, 80)
    b[:5] = np.nan  # not answered: scored 0
    r = paired_t_test(a, b)
    ref = stats.ttest_rel(a, np.nan_to_num(b))
    assert r.pvalue == pytest.approx(float(ref.pvalue), abs=TOL)
    assert r.difference == pytest.approx(float(np.mean(a - np.nan_to_num(b))), abs=TOL)
    assert paired_t_test(np.ones(5), np.ones(5)).pvalue == 1.0
    with pytest.raises(ValueError, match="same length"):
        paired_t_test(np.ones(3), np.ones(4))


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 7),
    bits=st.lists(st.booleans(), min_size=21, max_size=21),
)
def test_compact_letters_agree_with_every_pairwise_decision(k: int, bits: list[bool]) -> None:
    names = [f"s{i}" for i in range(k)]
    pairs = [(names[i], names[j]) for i in range(k) for j in range(i + 1, k)]
    separated = dict(zip(pairs, bits, strict=False))
    cld = compact_letter_display(names, separated)
    for x, y in pairs:
        share = bool(set(cld.letters[x]) & set(cld.letters[y]))
        assert share == (not separated.get((x, y), False))
    assert all(cld.letters[n] for n in names)
    for letter, group in enumerate(cld.groups):
        assert all(chr(ord("a") + letter) in cld.letters[n] for n in group)


def test_compact_letters_are_transitive_where_leader_tiers_were_not() -> None:
    # a~b, b~c, a!c: leader tiers put b with a and c alone, hiding that b~c.
    cld = compact_letter_display(["a", "b", "c"], {("a", "c"): True})
    assert cld.letters == {"a": "a", "b": "ab", "c": "b"}
    with pytest.raises(ValueError, match="unique"):
        compact_letter_display(["a", "a"], {})
