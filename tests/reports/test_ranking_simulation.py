"""Simulated bake-offs with known truth, small: the full version is benchmarks/bench_ranking_sim.py.

Rates are checked against their targets with room for Monte-Carlo error: a bound of
``target + 3 * sqrt(target (1 - target) / runs)``, so a broken procedure (the old
percentile intervals covered 0.995 only 42 % of the time; the old score tests could
not separate 8 vendors) fails, while a correct one passes with near certainty.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports import simulation as sim
from reports.inputs import Constraints, RankingConfig, SystemEvaluation
from reports.ranking import rank_systems

V = sim.VendorSpec
CFG = RankingConfig(n_resamples=400)


def _upper(target: float, runs: int) -> float:
    return target + 3 * float(np.sqrt(target * (1 - target) / runs))


@pytest.mark.parametrize(
    ("n", "p"),
    [(100, 0.995), (300, 0.995), (100, 0.70), (1000, 0.97)],
    ids=["100-0.995", "300-0.995", "100-0.70", "1000-0.97"],
)
def test_interval_coverage_by_simulation(n: int, p: float) -> None:
    rng = np.random.default_rng(1)
    runs = 4000
    rate = sim.interval_coverage(n, p, rng, runs=runs, full_rankings=2, config=CFG)
    # 0.93-0.97 except at n=100, p=0.995, where no non-randomised interval reaches the
    # band (0.911 or 0.987): there the policy errs on the safe side.
    low, high = (0.95, 1.0) if (n, p) == (100, 0.995) else (0.93, 0.97)
    slack = 3 * float(np.sqrt(0.05 * 0.95 / runs))
    assert low - slack <= rate <= high + slack


@pytest.mark.slow
def test_identical_vendors_are_rarely_separated() -> None:
    rng = np.random.default_rng(2)
    runs = 60
    rates = sim.false_separations(4, 200, rng, runs=runs, config=CFG)
    assert rates["score"] <= _upper(0.05, runs)
    assert rates["accuracy"] <= _upper(0.05, runs)


def test_no_confident_pick_among_identical_vendors() -> None:
    rng = np.random.default_rng(3)
    runs = 60
    rate = sim.false_picks([V("a", 0.9), V("b", 0.9), V("c", 0.9)], 200, rng, runs=runs, config=CFG)
    assert rate <= _upper(0.05, runs)


@pytest.mark.parametrize("k", [8, 12], ids=["8-vendors", "12-vendors"])
def test_many_vendors_with_large_gaps_are_separated(k: int) -> None:
    rng = np.random.default_rng(4)
    shares = sim.separation_share(
        np.linspace(0.99, 0.30, k).tolist(), 1000, rng, runs=3, config=CFG
    )
    # 1,000 bootstrap resamples and Holm over 28 pairs used to separate none of them.
    assert shares["accuracy"] >= 0.9
    assert shares["score"] >= 0.8


@pytest.mark.parametrize("floor", [None, 0.0], ids=["default-floor", "no-floor"])
def test_a_vendor_that_skips_hard_items_is_never_ranked_first(floor: float | None) -> None:
    rng = np.random.default_rng(5)
    res = sim.skipper_first(300, rng, runs=15, min_coverage=floor)
    assert res == {"first": 0.0, "picked": 0.0}


@pytest.mark.slow
def test_power_at_the_advised_sample_size() -> None:
    rng = np.random.default_rng(6)
    runs = 80
    need, power, exact = sim.power_at_advice(0.90, 0.85, rng, runs=runs, config=CFG)
    assert 700 < need < 760  # Connor's 689, continuity-corrected
    assert 0.75 <= exact <= 0.85
    slack = 3 * float(np.sqrt(0.8 * 0.2 / runs))
    assert 0.75 - slack <= power <= 0.85 + slack


def test_the_skipper_gets_not_enough_results_and_the_latency_counts_its_deadline() -> None:
    rng = np.random.default_rng(7)
    vendors = [
        V("complete", 0.87),
        V("skipper", 0.985, latency_h=1.0, cost=0.03, skip_hardest=0.3),
    ]
    systems = sim.simulate_bakeoff(vendors, 300, rng)
    ranking = rank_systems(systems, config=CFG)
    rows = {s.name: s for s in ranking.systems}
    assert rows["skipper"].status == "not_enough_results" and rows["skipper"].rank is None
    assert "not enough results" in rows["skipper"].violations[0]
    assert ranking.verdict == "only_one"
    # Without the floor: ranked, below the complete vendor; its p95 is the deadline.
    free = rank_systems(
        systems, config=RankingConfig(constraints=Constraints(min_coverage=0.0), n_resamples=400)
    )
    rows = {s.name: s for s in free.systems}
    assert rows["complete"].rank == 1 and rows["skipper"].rank == 2
    assert rows["skipper"].accuracy.value == pytest.approx(
        float(np.nansum(systems[1].item_scores)) / 300
    )
    deadline = max(float(np.nanmax(s.latency_s)) for s in systems if s.latency_s is not None)
    assert rows["skipper"].p95_latency_s is not None
    assert rows["skipper"].p95_latency_s.value == pytest.approx(deadline)
    # An explicit deadline is used instead.
    timed = rank_systems(
        systems,
        config=RankingConfig(
            constraints=Constraints(min_coverage=0.0), n_resamples=400, deadline_s=48 * 3600.0
        ),
    )
    skipper = next(s for s in timed.systems if s.name == "skipper")
    assert skipper.p95_latency_s is not None
    assert skipper.p95_latency_s.value == pytest.approx(48 * 3600.0)


def test_a_cancelled_run_says_no_results_yet() -> None:
    index = pd.RangeIndex(600)
    empty = [
        SystemEvaluation(name, pd.Series(np.nan, index=index), item_costs=pd.Series(0.0, index))
        for name in ("boxwise", "acme")
    ]
    ranking = rank_systems(empty, config=CFG)
    assert ranking.verdict == "no_results"
    assert all(s.rank is None and s.status == "no_results" for s in ranking.systems)
    assert ranking.summary[0].startswith("No results yet")
    assert not any("best score" in line for line in ranking.summary)
