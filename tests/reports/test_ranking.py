"""Ranking on constructed cases: dominance, weights, ties, constraints, statistics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from reports._bootstrap import bootstrap_replicates, paired_resample_counts
from reports.inputs import Constraints, RankingConfig, RankingWeights, SystemEvaluation
from reports.ranking import pareto_front, rank_systems

MakeSystem = Callable[..., SystemEvaluation]

N_RES = 300


def _order(
    systems: list[SystemEvaluation],
    *,
    weights: RankingWeights,
    normalisation: Literal["best_ratio", "minmax"] = "best_ratio",
) -> list[str]:
    config = RankingConfig(weights=weights, normalisation=normalisation, n_resamples=N_RES)
    ranking = rank_systems(systems, config=config)
    return [s.name for s in ranking.systems if s.rank is not None]


@pytest.mark.parametrize(
    "weights",
    [(1, 0, 0), (0, 1, 0), (0, 0, 1), (0.6, 0.2, 0.2), (0.1, 0.1, 0.8)],
    ids=["accuracy", "speed", "cost", "default", "cost-heavy"],
)
@pytest.mark.parametrize("normalisation", ["best_ratio", "minmax"])
def test_dominated_vendor_never_wins(
    make_system: MakeSystem,
    weights: tuple[float, float, float],
    normalisation: Literal["best_ratio", "minmax"],
) -> None:
    strong = make_system("strong", n_correct=380, latency_h=2.0, cost=0.04)
    weak = make_system("weak", n_correct=360, latency_h=3.0, cost=0.05)
    order = _order(
        [weak, strong],
        weights=RankingWeights(*weights),
        normalisation=normalisation,
    )
    assert order[0] == "strong"


@settings(max_examples=25, deadline=None)
@given(
    data=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=60),  # correct of 60
            st.floats(min_value=0.1, max_value=48.0),  # latency hours
            st.floats(min_value=0.001, max_value=1.0),  # cost per item
        ),
        min_size=2,
        max_size=5,
    ),
    weights=st.tuples(*(st.floats(min_value=0.0, max_value=1.0) for _ in range(3))).filter(
        lambda w: sum(w) > 0.01
    ),
)
def test_dominated_never_ranks_above_its_dominator(
    data: list[tuple[int, float, float]], weights: tuple[float, float, float]
) -> None:
    n = 60
    k0, lat0, cost0 = data[0]
    data = [*data, (max(k0 - 1, 0), lat0 * 1.5, cost0 * 1.5)]  # at least one dominated pair
    index = [f"t{i}" for i in range(n)]
    systems = [
        SystemEvaluation(
            f"s{j}",
            pd.Series(np.r_[np.ones(k), np.zeros(n - k)].astype(np.float64), index=index),
            latency_s=pd.Series(np.full(n, lat * 3600.0), index=index),
            item_costs=pd.Series(np.full(n, cost), index=index),
        )
        for j, (k, lat, cost) in enumerate(data)
    ]
    ranking = rank_systems(
        systems, config=RankingConfig(weights=RankingWeights(*weights), n_resamples=100)
    )
    rank = {s.name: s.rank for s in ranking.systems}
    checked = 0
    for i, (ki, li, ci) in enumerate(data):
        for j, (kj, lj, cj) in enumerate(data):
            dominates = ki >= kj and li <= lj and ci <= cj and (ki, li, ci) != (kj, lj, cj)
            if dominates:
                ri, rj = rank[f"s{i}"], rank[f"s{j}"]
                assert ri is not None and rj is not None
                score = {s.name: s.score.value for s in ranking.systems if s.score}
                assert score[f"s{i}"] >= score[f"s{j}"] - 1e-12  # type: ignore[operator]
                checked += 1
    assert checked >= 1


def test_weights_change_the_order_as_expected(make_system: MakeSystem) -> None:
    precise = make_system("precise", n_correct=390, cost=0.08)
    cheap = make_system("cheap", n_correct=350, cost=0.02)
    by_accuracy = _order([precise, cheap], weights=RankingWeights(1.0, 0.0, 0.0))
    by_cost = _order([precise, cheap], weights=RankingWeights(0.2, 0.0, 0.8))
    assert by_accuracy == ["precise", "cheap"]
    assert by_cost == ["cheap", "precise"]


def test_speed_weight_prefers_the_faster_system(make_system: MakeSystem) -> None:
    fast = make_system("fast", n_correct=380, latency_h=1.0)
    slow = make_system("slow", n_correct=385, latency_h=20.0)
    assert _order([fast, slow], weights=RankingWeights(0.2, 0.8, 0.0)) == ["fast", "slow"]
    assert _order([fast, slow], weights=RankingWeights(1.0, 0.0, 0.0)) == ["slow", "fast"]


def test_a_tie_is_reported_as_a_tie(make_system: MakeSystem, rng: np.random.Generator) -> None:
    n = 300
    base = (rng.random(n) < 0.9).astype(float)
    other = base.copy()
    flip = rng.choice(n, size=6, replace=False)  # 6 discordant items: no test can separate
    other[flip] = 1 - other[flip]
    a = make_system("alpha", n=n, correct=base)
    b = make_system("beta", n=n, correct=other)
    config = RankingConfig(n_resamples=N_RES)
    ranking = rank_systems([a, b], config=config)
    assert ranking.tie_groups == [[ranking.systems[0].name, ranking.systems[1].name]]
    assert {s.tie_group for s in ranking.systems} == {1}
    assert "statistically tied" in ranking.summary[0]
    acc_advice = next(x for x in ranking.sample_size if x.quantity == "accuracy")
    assert not acc_advice.separated
    # The flips leave 5 items only alpha got right and 1 only beta did: a real but small
    # difference, so the advice is a finite number of items (Connor 1987, with Fleiss'
    # continuity correction for the exact test), not "never".
    only_a = int(np.count_nonzero((base == 1) & (other == 0)))
    only_b = int(np.count_nonzero((base == 0) & (other == 1)))
    assert (only_a, only_b) == (5, 1)
    p10, p01 = only_a / n, only_b / n
    z_alpha, z_power = norm.ppf(1 - config.alpha / 2), norm.ppf(config.power)
    psi, delta = p10 + p01, p10 - p01
    n0 = (z_alpha * np.sqrt(psi) + z_power * np.sqrt(psi - delta**2)) ** 2 / delta**2
    need = n0 / 4 * (1 + np.sqrt(1 + 4 / (n0 * abs(delta)))) ** 2
    assert acc_advice.required_items == int(np.ceil(need)) == 1026
    assert acc_advice.additional_items == 1026 - n
    assert "too small to separate" in acc_advice.message


def test_a_clear_winner_is_separated(make_system: MakeSystem) -> None:
    a = make_system("good", n_correct=390)
    b = make_system("poor", n_correct=250)
    ranking = rank_systems([b, a], config=RankingConfig(n_resamples=N_RES))
    assert [s.name for s in ranking.systems] == ["good", "poor"]
    assert ranking.tie_groups == [["good"], ["poor"]]
    assert ranking.summary[0].startswith("Pick good")
    assert all(x.separated for x in ranking.sample_size)


def test_identical_systems_need_infinitely_many_items(make_system: MakeSystem) -> None:
    a = make_system("a", n_correct=350)
    b = make_system("b", n_correct=350)
    ranking = rank_systems([a, b], config=RankingConfig(n_resamples=N_RES))
    advice = next(x for x in ranking.sample_size if x.quantity == "accuracy")
    assert advice.required_items is None
    assert "no number of extra golden items" in advice.message


def test_constraints_exclude_from_ranking_but_list_the_system(make_system: MakeSystem) -> None:
    ok = make_system("ok", n_correct=390, latency_h=2.0, cost=0.05)
    slow = make_system("slow", n_correct=399, latency_h=30.0, cost=0.05)
    sloppy = make_system("sloppy", n_correct=300, latency_h=1.0, cost=0.01)
    pricey = make_system("pricey", n_correct=395, latency_h=1.0, cost=0.2)
    constraints = Constraints(
        min_accuracy=0.95, max_p95_latency_s=24 * 3600, max_cost_per_item=0.08
    )
    ranking = rank_systems(
        [slow, sloppy, pricey, ok], config=RankingConfig(constraints=constraints, n_resamples=N_RES)
    )
    rows = {s.name: s for s in ranking.systems}
    assert rows["ok"].rank == 1 and rows["ok"].eligible
    assert [s.name for s in ranking.systems][0] == "ok"
    for name, words in [("slow", "p95 latency"), ("sloppy", "accuracy"), ("pricey", "cost")]:
        assert rows[name].rank is None and not rows[name].eligible
        assert rows[name].score is None
        assert any(words in v for v in rows[name].violations)
        assert any(line.startswith(f"{name} is not ranked") for line in ranking.summary)
    # An excluded system does not change the others' scores.
    alone = rank_systems([ok], config=RankingConfig(constraints=constraints, n_resamples=N_RES))
    assert alone.systems[0].score is not None and rows["ok"].score is not None
    assert alone.systems[0].score.value == pytest.approx(rows["ok"].score.value, abs=1e-12)


def test_no_eligible_system_ranks_none(make_system: MakeSystem) -> None:
    ranking = rank_systems(
        [make_system("a", n_correct=10)],
        config=RankingConfig(constraints=Constraints(min_accuracy=0.9), n_resamples=N_RES),
    )
    assert ranking.systems[0].rank is None
    assert "none is ranked" in ranking.summary[0]


def test_missing_cost_is_left_out_of_the_score_with_a_note(make_system: MakeSystem) -> None:
    a = make_system("a", n_correct=390, cost=None)
    b = make_system("b", n_correct=380)
    ranking = rank_systems([a, b], config=RankingConfig(n_resamples=N_RES))
    assert any("Cost is not known" in line for line in ranking.summary)
    assert ranking.systems[0].name == "a"


def test_skipped_items_count_as_wrong(make_system: MakeSystem) -> None:
    scores = np.r_[np.ones(300), np.full(100, np.nan)]
    s = make_system("skipper", correct=scores)
    row = rank_systems([s], config=RankingConfig(n_resamples=N_RES)).systems[0]
    assert row.accuracy.value == pytest.approx(0.75)
    assert row.coverage == pytest.approx(0.75)


def test_point_estimates_and_intervals(make_system: MakeSystem) -> None:
    a = make_system("a", n_correct=300, cost=0.06, latency_h=1.0)
    row = rank_systems([a], config=RankingConfig(n_resamples=N_RES)).systems[0]
    assert row.accuracy.value == pytest.approx(0.75)
    assert row.accuracy.low is not None and row.accuracy.high is not None
    assert row.accuracy.low < 0.75 < row.accuracy.high
    assert row.cost_per_item is not None and row.cost_per_item.value == pytest.approx(0.06)
    assert row.cost_per_correct is not None
    assert row.cost_per_correct.value == pytest.approx(0.06 * 400 / 300)
    lat = a.latency_s
    assert lat is not None and row.p95_latency_s is not None
    expected = np.quantile(lat.to_numpy(), 0.95)
    assert row.p95_latency_s.value == pytest.approx(expected)


def test_bootstrap_replicates_equal_brute_force(rng: np.random.Generator) -> None:
    n, v = 500, 3
    scores = (rng.random((n, v)) < 0.8).astype(float)
    latency = rng.exponential(3600.0, (n, v))
    latency[rng.random((n, v)) < 0.1] = np.nan
    costs = rng.uniform(0.01, 0.1, (n, v))
    reps = bootstrap_replicates(
        scores, latency, costs, n_resamples=40, rng=np.random.default_rng(7)
    )
    counts = np.vstack(list(paired_resample_counts(n, 40, np.random.default_rng(7))))
    for b in range(40):
        idx = np.repeat(np.arange(n), counts[b].astype(int))
        for j in range(v):
            assert reps.accuracy[b, j] == pytest.approx(scores[idx, j].mean(), abs=1e-12)
            lat = latency[idx, j]
            want = np.quantile(lat[~np.isnan(lat)], 0.95)
            assert reps.p95_latency[b, j] == pytest.approx(want, abs=1e-9)
            assert reps.cost_per_correct[b, j] == pytest.approx(
                costs[idx, j].sum() / scores[idx, j].sum(), rel=1e-12
            )


def test_accuracy_test_is_mcnemar_exact_and_holm(
    make_system: MakeSystem, rng: np.random.Generator
) -> None:
    n = 400
    cols = [(rng.random(n) < p).astype(float) for p in (0.92, 0.85, 0.8)]
    systems = [make_system(name, n=n, correct=c) for name, c in zip("xyz", cols, strict=True)]
    ranking = rank_systems(systems, config=RankingConfig(n_resamples=N_RES))
    acc = [c for c in ranking.comparisons if c.quantity == "accuracy"]
    assert len(acc) == 3
    col = dict(zip("xyz", cols, strict=True))
    raw = []
    for c in acc:
        a, b = col[c.a], col[c.b]
        table = [
            [np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
            [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))],
        ]
        ref = mcnemar(table, exact=True).pvalue
        assert c.p_value == pytest.approx(ref, abs=1e-9)
        assert c.test == "McNemar exact"
        raw.append(c.p_value)
    adjusted = multipletests(raw, method="holm")[1]
    for c, q in zip(acc, adjusted, strict=True):
        assert c.p_adjusted == pytest.approx(q, abs=1e-9)


def test_sample_size_matches_connor_formula_with_continuity_correction(
    make_system: MakeSystem,
) -> None:
    n = 200
    a = np.ones(n)
    b = np.ones(n)
    a[:6] = 0  # a wrong where b right: p01 = 0.03
    b[6:16] = 0  # b wrong where a right: p10 = 0.05
    ranking = rank_systems(
        [make_system("a", n=n, correct=a), make_system("b", n=n, correct=b)],
        config=RankingConfig(weights=RankingWeights(1, 0, 0), n_resamples=N_RES),
    )
    advice = next(x for x in ranking.sample_size if x.quantity == "accuracy")
    p10, p01 = 0.05, 0.03
    psi, d = p10 + p01, p10 - p01
    za, zb = 1.959963984540054, 0.8416212335729143
    n0 = (za * np.sqrt(psi) + zb * np.sqrt(psi - d * d)) ** 2 / d**2
    want = int(np.ceil(n0 / 4 * (1 + np.sqrt(1 + 4 / (n0 * d))) ** 2))  # Fleiss correction
    assert advice.leader == "a"
    assert advice.required_items == want
    assert advice.additional_items == want - n


def test_pareto_front() -> None:
    assert pareto_front([0.9, 0.95, 0.85, 0.95], [0.05, 0.08, 0.06, 0.09]) == [
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("build", "error", "match"),
    [
        (lambda: SystemEvaluation("x", pd.Series([0.5, 2.0])), ValueError, r"\[0, 1\]"),
        (lambda: SystemEvaluation("", pd.Series([1.0])), ValueError, "non-empty"),
        (lambda: SystemEvaluation("x", [1.0]), TypeError, "pandas Series"),  # type: ignore[arg-type]
        (
            lambda: SystemEvaluation("x", pd.Series([1.0, 0.0], index=["a", "a"])),
            ValueError,
            "duplicate item ids",
        ),
        (
            lambda: SystemEvaluation(
                "x", pd.Series([1.0], index=["a"]), latency_s=pd.Series([-1.0], index=["a"])
            ),
            ValueError,
            "negative",
        ),
        (lambda: RankingWeights(0, 0, 0), ValueError, "positive"),
        (lambda: RankingConfig(n_resamples=5), ValueError, "n_resamples"),
    ],
    ids=["range", "name", "type", "dupes", "latency", "weights", "resamples"],
)
def test_bad_input_is_rejected_with_a_clear_message(
    build: Callable[[], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        build()


def test_repeated_names_are_rejected(make_system: MakeSystem) -> None:
    with pytest.raises(ValueError, match="unique"):
        rank_systems([make_system("a"), make_system("a")])


def test_ranking_is_reproducible(make_system: MakeSystem) -> None:
    systems = [make_system("a", n_correct=350), make_system("b", n_correct=340)]
    first = rank_systems(systems, config=RankingConfig(n_resamples=N_RES))
    second = rank_systems(systems, config=RankingConfig(n_resamples=N_RES))
    assert first == second


def test_a_huge_sample_size_reads_as_practically_tied(make_system: MakeSystem) -> None:
    n = 1000
    a = np.ones(n)
    b = np.ones(n)
    a[:300] = 0
    b[300:601] = 0  # 300 vs 301 wrong among 601 discordant items
    ranking = rank_systems(
        [make_system("a", n=n, correct=a), make_system("b", n=n, correct=b)],
        config=RankingConfig(weights=RankingWeights(1, 0, 0), n_resamples=N_RES),
    )
    advice = next(x for x in ranking.sample_size if x.quantity == "accuracy")
    assert advice.required_items is not None and advice.required_items > 100 * n
    assert "practically tied" in advice.message


def test_throughput_ranks_from_metrics_operations(make_system: MakeSystem) -> None:
    from metrics.operations import latency_summary

    systems = []
    for name, minutes in (("quick", 1), ("slow", 30)):
        base = make_system(name, n_correct=390)
        sent = pd.Series(pd.Timestamp("2026-01-05", tz="UTC"), index=base.item_scores.index)
        done = sent + pd.to_timedelta(np.arange(1, 401) * minutes, unit="min")
        systems.append(
            SystemEvaluation(
                name,
                base.item_scores,
                latency_s=(done - sent).dt.total_seconds(),
                item_costs=base.item_costs,
                latency_summary=latency_summary(sent, done),
            )
        )
    ranking = rank_systems(
        systems,
        config=RankingConfig(
            speed="throughput", weights=RankingWeights(0.5, 0.5, 0.0), n_resamples=N_RES
        ),
    )
    rows = {s.name: s for s in ranking.systems}
    assert rows["quick"].rank == 1
    assert rows["quick"].throughput_per_hour is not None
    assert rows["quick"].throughput_per_hour.value == pytest.approx(60.0)


@pytest.mark.parametrize("normalisation", ["best_ratio", "minmax"])
def test_nothing_back_scores_zero_without_hiding_the_others(
    make_system: MakeSystem, normalisation: Literal["best_ratio", "minmax"]
) -> None:
    fast = make_system("fast", n_correct=380, latency_h=1.0, cost=0.05)
    slow = make_system("slow", n_correct=380, latency_h=4.0, cost=0.04)
    silent = SystemEvaluation(
        "silent",
        pd.Series(np.nan, index=fast.item_scores.index),
        latency_s=pd.Series(np.nan, index=fast.item_scores.index),
        item_costs=pd.Series(0.0, index=fast.item_scores.index),
    )
    ranking = rank_systems(
        [silent, slow, fast],
        config=RankingConfig(normalisation=normalisation, n_resamples=N_RES),
    )
    rows = {s.name: s for s in ranking.systems}
    assert [s.name for s in ranking.systems][-1] == "silent"
    assert rows["silent"].rank is None and rows["silent"].status == "no_results"
    assert rows["silent"].components == {}
    assert rows["fast"].components["speed"] == 1.0
    assert rows["slow"].components["cost"] == 1.0
    assert not any("is not known" in line for line in ranking.summary)
    assert any(line.startswith("silent is not ranked: no results yet") for line in ranking.summary)
    # Labels without any completion time: infinitely slow, not of unknown speed.
    untimed = SystemEvaluation(
        "untimed",
        fast.item_scores,
        latency_s=pd.Series(np.nan, index=fast.item_scores.index),
        item_costs=fast.item_costs,
    )
    ranking = rank_systems(
        [untimed, slow, fast],
        config=RankingConfig(normalisation=normalisation, n_resamples=N_RES),
    )
    rows = {s.name: s for s in ranking.systems}
    assert rows["untimed"].rank == 3
    assert rows["untimed"].components["speed"] == 0.0
    assert not any("is not known" in line for line in ranking.summary)


def test_sample_size_for_a_continuous_metric_uses_the_paired_differences(
    make_system: MakeSystem,
) -> None:
    # per-image F1-like scores: a is 0.1 better on half the items, equal elsewhere
    n = 60
    b = np.full(n, 0.7)
    a = b.copy()
    a[: n // 2] = 0.8
    a[5] = 0.2  # and clearly worse on one, so the differences vary
    ranking = rank_systems(
        [make_system("a", n=n, correct=a), make_system("b", n=n, correct=b)],
        config=RankingConfig(weights=RankingWeights(1, 0, 0), n_resamples=N_RES),
    )
    advice = next(x for x in ranking.sample_size if x.quantity == "accuracy")
    diffs = a - b
    za, zb = 1.959963984540054, 0.8416212335729143
    want = int(np.ceil(((za + zb) * diffs.std(ddof=1) / diffs.mean()) ** 2))
    assert advice.observed_difference == pytest.approx(diffs.mean())
    assert advice.required_items == want
    assert "observed difference is zero" not in advice.message


def test_costs_are_tidy_and_inside_their_interval(make_system: MakeSystem) -> None:
    # 400 items at 0.01 sum to 4.000000000000571 in floating point.
    row = rank_systems(
        [make_system("a", n_correct=390, cost=0.01)], config=RankingConfig(n_resamples=N_RES)
    ).systems[0]
    for est in (row.cost_per_item, row.cost_per_correct):
        assert est is not None and est.value is not None
        assert est.low is not None and est.high is not None
        assert est.low <= est.value <= est.high
    assert row.cost_per_item is not None and row.cost_per_item.value == 0.01


def test_accuracy_interval_is_wilson_not_a_collapsed_bootstrap(make_system: MakeSystem) -> None:
    row = rank_systems(
        [make_system("perfect", n=100, n_correct=100)], config=RankingConfig(n_resamples=N_RES)
    ).systems[0]
    low, high = proportion_confint(100, 100, alpha=0.05, method="wilson")
    assert row.accuracy.high == 1.0
    assert row.accuracy.low == pytest.approx(float(low), abs=1e-9)
    assert row.accuracy.low is not None and row.accuracy.low < 0.97


def test_holm_decisions_match_statsmodels_and_groups_match_the_tests(
    make_system: MakeSystem, rng: np.random.Generator
) -> None:
    n = 400
    cols = [(rng.random(n) < p).astype(float) for p in (0.95, 0.93, 0.90, 0.80, 0.79)]
    systems = [make_system(f"s{j}", n=n, correct=c) for j, c in enumerate(cols)]
    ranking = rank_systems(systems, config=RankingConfig(n_resamples=N_RES))
    letters = {s.name: s.letters for s in ranking.systems}
    for quantity in ("score", "accuracy"):
        comps = [c for c in ranking.comparisons if c.quantity == quantity]
        reject, adjusted, _, _ = multipletests([c.p_value for c in comps], method="holm")
        for c, r, q in zip(comps, reject, adjusted, strict=True):
            assert c.significant == bool(r)
            assert c.p_adjusted == pytest.approx(q, abs=1e-9)
            if quantity == "score":
                # One rule for groups and tests: sharing a letter <=> not separated.
                assert bool(set(letters[c.a]) & set(letters[c.b])) == (not c.significant)
    for group in ranking.tie_groups:
        for a in group:
            for b in group:
                if a != b:
                    pair = next(
                        c
                        for c in ranking.comparisons
                        if c.quantity == "score" and {c.a, c.b} == {a, b}
                    )
                    assert not pair.significant


def test_eight_vendors_far_apart_are_all_separated(make_system: MakeSystem) -> None:
    n = 300
    gen = np.random.default_rng(8)
    u = gen.random(n)
    systems = [
        make_system(f"v{j}", n=n, correct=(u < p).astype(float))
        for j, p in enumerate(np.linspace(0.99, 0.30, 8))
    ]
    ranking = rank_systems(systems, config=RankingConfig(n_resamples=N_RES))
    assert all(c.significant for c in ranking.comparisons)
    assert len(ranking.tie_groups) == 8
    assert ranking.verdict == "pick" and ranking.summary[0].startswith("Pick v0")
    tiny = [c for c in ranking.comparisons if c.p_value < 1e-300]
    assert all(c.p_value >= 0.0 for c in tiny)


def test_a_score_tie_does_not_hide_an_accuracy_difference(make_system: MakeSystem) -> None:
    # accurate but slow and dear vs sloppy but fast and cheap: tied on score.
    n = 40
    good = make_system("careful", n=n, n_correct=36, latency_h=20.0, cost=0.20)
    fast = make_system("quick", n=n, n_correct=24, latency_h=1.0, cost=0.01)
    ranking = rank_systems([good, fast], config=RankingConfig(n_resamples=N_RES))
    acc = next(c for c in ranking.comparisons if c.quantity == "accuracy")
    score = next(c for c in ranking.comparisons if c.quantity == "score")
    assert acc.significant and acc.p_value == pytest.approx(
        mcnemar([[24, 12], [0, 4]], exact=True).pvalue, abs=1e-9
    )
    text = " ".join(ranking.summary)
    if not score.significant:
        assert "not separated on score, but their accuracy differs significantly" in text
    else:
        assert "on score, but their accuracy differs significantly" in text
    assert "careful is higher by 0.300" in text


def test_the_verdict_shows_components_and_gaps_not_a_degenerate_interval(
    make_system: MakeSystem,
) -> None:
    a = make_system("good", n_correct=390, latency_h=2.0, cost=0.04)
    b = make_system("poor", n_correct=300, latency_h=3.0, cost=0.05)
    ranking = rank_systems([b, a], config=RankingConfig(n_resamples=N_RES))
    top, second = ranking.systems
    assert top.score is not None and top.score.low is None  # no 1.000-1.000 interval
    assert top.score_gap is not None and top.score_gap.value == 0.0
    gap = second.score_gap
    assert gap is not None and gap.value is not None and gap.low is not None
    assert gap.high is not None and 0 < gap.low < gap.value < gap.high
    assert top.score.value is not None and second.score is not None
    assert gap.value == pytest.approx(top.score.value - (second.score.value or 0.0))
    line = next(x for x in ranking.summary if x.startswith("Score = "))
    assert "good" in line and "p95 latency" in line and "cost per correct" in line
    assert "lead over the runner-up poor" in ranking.summary[0]
    assert any("compact letter display" in x for x in ranking.summary)


def test_the_verdict_names_a_significant_box_bias(make_system: MakeSystem) -> None:
    base = make_system("boxwise", n_correct=390)
    bias = pd.DataFrame(
        [
            {"class": "vehicle", "edge": "right", "mean_offset": 4.8, "n": 812, "sd": 4.0},
            {"class": "vehicle", "edge": "left", "mean_offset": 0.4, "n": 812, "sd": 4.0},
        ]
    )
    boxwise = SystemEvaluation(
        "boxwise",
        base.item_scores,
        latency_s=base.latency_s,
        item_costs=base.item_costs,
        box_bias=bias,
    )
    other = make_system("acme", n_correct=380)
    ranking = rank_systems([boxwise, other], config=RankingConfig(n_resamples=N_RES))
    caveat = [x for x in ranking.summary if x.startswith("Caveat: boxwise")]
    assert len(caveat) == 1
    assert "vehicle right edge +4.8 px" in caveat[0] and "further right than gold" in caveat[0]
    assert "left edge" not in caveat[0]


def test_coverage_floor_defaults_and_can_be_lowered(make_system: MakeSystem) -> None:
    scores = np.r_[np.ones(370), np.full(30, np.nan)]  # coverage 0.925
    thin = make_system("thin", correct=scores)
    full = make_system("full", n_correct=300)
    ranking = rank_systems([thin, full], config=RankingConfig(n_resamples=N_RES))
    rows = {s.name: s for s in ranking.systems}
    assert rows["thin"].status == "not_enough_results" and rows["thin"].rank is None
    assert rows["thin"].n_labelled == 370
    assert ranking.constraints["min_coverage"] == 0.95
    lowered = rank_systems(
        [thin, full],
        config=RankingConfig(constraints=Constraints(min_coverage=0.9), n_resamples=N_RES),
    )
    assert {s.name: s.rank for s in lowered.systems}["thin"] == 1
    with pytest.raises(ValueError, match="min_coverage"):
        Constraints(min_coverage=95)


def test_a_seed_ranks_on_the_resamples_of_its_generator(make_system: MakeSystem) -> None:
    """``rng=seed`` (the engine's resamples, shared or not) is ``rng=default_rng(seed)``."""
    from metrics.scoring import shared_resamples

    systems = [
        make_system("a", n_correct=380, latency_h=2.0, cost=0.04),
        make_system("b", n_correct=372, latency_h=2.5, cost=0.03),
        make_system("c", n_correct=330, latency_h=1.0, cost=0.05),
    ]
    config = RankingConfig(n_resamples=N_RES)
    plain = rank_systems(systems, config=config, rng=np.random.default_rng(11))
    seeded = rank_systems(systems, config=config, rng=11)
    with shared_resamples():
        first = rank_systems(systems, config=config, rng=np.int64(11))
        again = rank_systems(systems, config=config, rng=11)  # the kept draw
    for other in (seeded, first, again):
        assert other.model_dump() == plain.model_dump()
    default = rank_systems(systems, config=config)
    assert default.model_dump() == rank_systems(systems, config=config, rng=0).model_dump()
    with pytest.raises(TypeError, match="rng must be"):
        rank_systems(systems, config=config, rng="11")  # type: ignore[arg-type]
