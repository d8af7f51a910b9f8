"""Audit sampling: the estimator by hand, coverage by simulation, plans by brute force."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import binom
from statsmodels.stats.proportion import proportion_confint

from metrics.audit import (
    AuditStratum,
    acceptance_plan,
    audit_verdict,
    stratified_error_rate,
    stratified_sample_sizes,
)


def test_estimate_is_the_weighted_mean_with_weights_population_over_sample() -> None:
    flagged = np.array([1] * 30 + [0] * 70)
    unflagged = np.array([1] * 4 + [0] * 196)
    pops = (1_000, 99_000)
    est = stratified_error_rate(
        [AuditStratum("flagged", pops[0], 100, 30), AuditStratum("unflagged", pops[1], 200, 4)]
    )
    w = np.concatenate([np.full(100, pops[0] / 100), np.full(200, pops[1] / 200)])
    y = np.concatenate([flagged, unflagged])
    assert est.estimate == pytest.approx(float(np.sum(w * y) / np.sum(w)), abs=1e-12)
    assert est.weights == (10.0, 495.0)
    # Cochran eq. 5.7 by hand, sample variances from numpy (ddof=1)
    total = sum(pops)
    var = sum(
        (n_pop / total) ** 2 * (1 - len(ys) / n_pop) * np.var(ys, ddof=1) / len(ys)
        for n_pop, ys in zip(pops, (flagged, unflagged), strict=True)
    )
    assert est.standard_error == pytest.approx(math.sqrt(var), rel=1e-12)
    z = 1.959963984540054
    smooth = [(30 + z * z / 2) / (100 + z * z), (4 + z * z / 2) / (200 + z * z)]
    shares = [0.01, 0.99]
    m = shares[0] * smooth[0] + shares[1] * smooth[1]
    v = sum(
        w_h**2 * (1 - n / n_pop) * p * (1 - p) / n
        for w_h, p, n, n_pop in zip(shares, smooth, (100, 200), pops, strict=True)
    )
    n_eff = m * (1 - m) / v
    assert est.effective_n == pytest.approx(n_eff, rel=1e-12)
    low, high = proportion_confint(est.estimate * n_eff, n_eff, alpha=0.05, method="wilson")
    assert (est.ci.low, est.ci.high) == pytest.approx((low, high), abs=1e-9)
    assert est.reviewed == 300 and est.population == 100_000


def test_no_error_seen_still_has_an_upper_bound_and_a_census_is_exact() -> None:
    est = stratified_error_rate(
        [AuditStratum("flagged", 100, 20, 0), AuditStratum("unflagged", 900, 30, 0)]
    )
    assert est.estimate == 0.0 and est.standard_error == 0.0
    assert est.ci.low == 0.0 and 0.02 < est.ci.high < 0.2
    census = stratified_error_rate([AuditStratum("a", 5, 5, 1), AuditStratum("b", 5, 5, 0)])
    assert (census.estimate, census.ci.low, census.ci.high) == (0.1, 0.1, 0.1)


@pytest.mark.parametrize(
    ("rates", "sizes"),
    [((0.35, 0.03), (150, 300)), ((0.2, 0.005), (100, 400)), ((0.6, 0.05), (30, 100))],
    ids=["common-errors", "rare-unflagged-errors", "small-flagged-sample"],
)
def test_coverage_by_simulation_over_a_fixed_delivery(
    rates: tuple[float, float], sizes: tuple[int, int]
) -> None:
    rng = np.random.default_rng(11)
    pops = (2_000, 48_000)
    delivery = [rng.random(n) < r for n, r in zip(pops, rates, strict=True)]
    truth = sum(int(v.sum()) for v in delivery) / sum(pops)
    reps = 1000
    covered = 0
    for _ in range(reps):
        strata = [
            AuditStratum(
                name, pops[h], sizes[h], int(rng.choice(delivery[h], sizes[h], replace=False).sum())
            )
            for h, name in enumerate(("flagged", "unflagged"))
        ]
        ci = stratified_error_rate(strata).ci
        covered += ci.low <= truth <= ci.high
    assert covered / reps >= 0.93, covered / reps


@pytest.mark.parametrize(
    ("errors", "decision"),
    [(2, "accept"), (60, "reject"), (12, "inconclusive")],
    ids=["accept", "reject", "inconclusive"],
)
def test_verdict_against_the_sla(errors: int, decision: str) -> None:
    est = stratified_error_rate([AuditStratum("all", 10_000, 400, errors)])
    verdict = audit_verdict(est, max_error_rate=0.04)
    assert verdict.decision == decision
    assert verdict.reviewed == 400 and verdict.population == 10_000
    assert "400 of 10000 labels reviewed" in verdict.reason
    assert f"{est.estimate:.1%}" in verdict.reason and "SLA of 4.0%" in verdict.reason


def test_sample_sizes_reach_the_target_half_width() -> None:
    pops = [("flagged", 5_000), ("unflagged", 95_000)]
    plan = stratified_sample_sizes(pops, [0.3, 0.02], half_width=0.01)
    assert plan.expected_half_width <= 0.01
    sizes = {s.name: s.sample for s in plan.strata}
    # Neyman: n_h proportional to N_h sqrt(p_h (1 - p_h)) (before rounding and top-up)
    ratio = (5_000 * math.sqrt(0.3 * 0.7)) / (95_000 * math.sqrt(0.02 * 0.98))
    assert sizes["flagged"] / sizes["unflagged"] == pytest.approx(ratio, rel=0.05)
    # the half-width seen on simulated reviews matches the planned one
    rng = np.random.default_rng(3)
    widths = [
        stratified_error_rate(
            [
                AuditStratum(h, n, sizes[h], int(rng.binomial(sizes[h], p)))
                for (h, n), p in zip(pops, (0.3, 0.02), strict=True)
            ]
        ).standard_error
        * 1.959964
        for _ in range(300)
    ]
    assert np.mean(widths) == pytest.approx(0.01, rel=0.1)


def test_sample_sizes_respect_minimum_and_population() -> None:
    plan = stratified_sample_sizes([("a", 3), ("b", 10_000)], [0.0, 0.1], half_width=0.02)
    sizes = {s.name: s.sample for s in plan.strata}
    assert sizes["a"] == 2  # a zero guess still gets the minimum
    tiny = stratified_sample_sizes([("a", 5), ("b", 8)], [0.5, 0.5], half_width=0.01)
    assert [s.sample for s in tiny.strata] == [5, 8]  # everything, then stop
    with pytest.raises(ValueError, match="one entry per stratum"):
        stratified_sample_sizes([("a", 5)], [0.1, 0.2], half_width=0.1)


@pytest.mark.parametrize(
    ("aql", "ltpd"), [(0.01, 0.05), (0.02, 0.10), (0.005, 0.03)], ids=["1-5", "2-10", "05-3"]
)
def test_acceptance_plan_is_the_smallest_by_brute_force(aql: float, ltpd: float) -> None:
    plan = acceptance_plan(aql, ltpd)
    found = None
    for n in range(1, 2000):
        for c in range(n + 1):
            if binom.cdf(c, n, ltpd) > 0.10:
                break
            if binom.cdf(c, n, aql) >= 0.95:
                found = (n, c)
                break
        if found:
            break
    assert (plan.n, plan.c) == found
    assert plan.accept_probability_at_aql >= 0.95 and plan.accept_probability_at_ltpd <= 0.10


def test_bad_strata_are_named() -> None:
    with pytest.raises(ValueError, match="'flagged' has 10 labels but none reviewed"):
        stratified_error_rate([AuditStratum("flagged", 10, 0, 0), AuditStratum("u", 5, 5, 0)])
    with pytest.raises(ValueError, match="errors 3 exceed the 2 labels reviewed"):
        stratified_error_rate([AuditStratum("u", 5, 2, 3)])
    with pytest.raises(ValueError, match="sampled 6 exceeds its population 5"):
        stratified_error_rate([AuditStratum("u", 5, 6, 0)])
    with pytest.raises(ValueError, match="1 reviewed label"):
        stratified_error_rate([AuditStratum("u", 5, 1, 0)])
    with pytest.raises(ValueError, match="unique"):
        stratified_error_rate([AuditStratum("u", 5, 2, 0), AuditStratum("u", 5, 2, 0)])
    with pytest.raises(ValueError, match="ltpd must be above aql"):
        acceptance_plan(0.05, 0.01)


@given(
    st.lists(
        st.tuples(st.integers(2, 5000), st.integers(0, 400), st.floats(0, 1)),
        min_size=1,
        max_size=4,
    ),
    st.randoms(use_true_random=False),
)
@settings(max_examples=150, deadline=None)
def test_estimate_invariants(raw: list[tuple[int, int, float]], order: Any) -> None:
    strata = []
    for h, (population, sampled, share) in enumerate(raw):
        n = max(2, min(population, sampled))
        strata.append(AuditStratum(f"s{h}", population, n, int(round(share * n))))
    est = stratified_error_rate(strata)
    assert 0.0 <= est.ci.low <= est.estimate <= est.ci.high <= 1.0
    assert est.standard_error >= 0.0
    shuffled = list(strata)
    order.shuffle(shuffled)
    again = stratified_error_rate(shuffled)  # stratum order does not matter
    assert again.estimate == pytest.approx(est.estimate, abs=1e-12)
    assert (again.ci.low, again.ci.high) == pytest.approx((est.ci.low, est.ci.high), abs=1e-9)
    # no error found anywhere: the estimate is 0 and the upper bound still positive
    clean = stratified_error_rate(
        [AuditStratum(s.name, s.population, s.sampled, 0) for s in strata]
    )
    assert clean.estimate == 0.0
    assert clean.ci.high > 0.0 or all(s.sampled == s.population for s in strata)
