"""Bernoulli CUSUM: exact run lengths checked by hand, against each other and by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.sequential import (
    CusumDesign,
    bernoulli_cusum,
    cusum_alarm_curve,
    cusum_alarm_probability,
    cusum_average_run_length,
    design_bernoulli_cusum,
)


def _walk(threshold: int) -> CusumDesign:
    """A +1/-1 chart: at accuracy 1/2 it is a simple random walk reflected at 0."""
    return CusumDesign(
        p0=0.5,
        p1=0.25,
        step_error=1,
        step_correct=1,
        threshold=threshold,
        scale=1.0,
        arl_in_control=math.nan,
        arl_out_of_control=math.nan,
        target_arl=math.nan,
    )


@pytest.mark.parametrize("threshold", [1, 2, 5, 40, 2500], ids=lambda h: f"H{h}")
def test_arl_of_reflected_symmetric_walk_is_h_times_h_plus_one(threshold: int) -> None:
    # E_k = 1 + (E_{k+1} + E_{k-1}) / 2 with E_0 = 2 + E_1 and E_H = 0 solve to
    # E_k = H (H + 1) - k (k + 1); H = 2500 takes the banded solver.
    arl = cusum_average_run_length(_walk(threshold), 0.5)
    assert arl == pytest.approx(threshold * (threshold + 1), rel=1e-9)


def test_alarm_probability_by_hand_and_summing_to_the_arl() -> None:
    walk = _walk(2)
    # From 0: wrong (1/2) -> 1, right -> 0; from 1: wrong -> alarm. Within 2 steps: 1/4.
    assert cusum_alarm_probability(walk, 1, accuracy=0.5) == 0.0
    assert cusum_alarm_probability(walk, 2, accuracy=0.5) == pytest.approx(0.25)
    design = design_bernoulli_cusum(0.9, 0.7, target_arl=100)
    # ARL = sum_{n >= 0} P(no alarm within n): two exact computations must agree.
    curve = cusum_alarm_curve(design, 20_000, accuracy=0.9)
    assert cusum_alarm_probability(design, 37, accuracy=0.9) == curve[36]
    survival = 1.0 + float(np.sum(1.0 - curve))
    assert survival == pytest.approx(design.arl_in_control, rel=1e-6)


def test_threshold_is_the_smallest_that_reaches_the_target() -> None:
    design = design_bernoulli_cusum(0.95, 0.85, target_arl=1000)
    assert design.arl_in_control >= 1000
    smaller = CusumDesign(**{**design.__dict__, "threshold": design.threshold - 1})
    assert cusum_average_run_length(smaller, 0.95) < 1000
    assert design.arl_out_of_control < design.arl_in_control / 10
    assert design.false_alarm_rate == pytest.approx(1 / design.arl_in_control)
    # the whole-number steps follow the log-likelihood ratio
    ratio = -math.log(0.85 / 0.95) / math.log(0.15 / 0.05)
    assert design.step_correct / design.step_error == pytest.approx(ratio, abs=0.5 / 20)


def test_false_alarm_rate_and_detection_delay_by_simulation() -> None:
    rng = np.random.default_rng(7)
    design = design_bernoulli_cusum(0.95, 0.85, target_arl=500)
    week = 100
    stated = cusum_alarm_probability(design, week, accuracy=0.95)
    weeks = 1500
    alarmed = sum(bernoulli_cusum(rng.random(week) < 0.95, design).in_alarm for _ in range(weeks))
    se = math.sqrt(stated * (1 - stated) / weeks)
    assert abs(alarmed / weeks - stated) < 4 * se, (alarmed / weeks, stated)

    delays = []
    for _ in range(400):
        first = bernoulli_cusum(rng.random(2000) < 0.85, design).first_alarm
        assert first is not None
        delays.append(first + 1)
    se_delay = np.std(delays) / math.sqrt(len(delays))
    assert abs(np.mean(delays) - design.arl_out_of_control) < 4 * se_delay


def test_path_restarts_after_each_alarm_and_reports_the_statistic() -> None:
    design = design_bernoulli_cusum(0.9, 0.7, target_arl=50)
    errors_to_alarm = -(-design.threshold // design.step_error)
    outcomes = [0] * errors_to_alarm + [1] * 3 + [0] * errors_to_alarm
    path = bernoulli_cusum(np.array(outcomes, dtype=bool), design)
    assert path.alarms == (errors_to_alarm - 1, 2 * errors_to_alarm + 2)
    assert path.first_alarm == errors_to_alarm - 1
    assert path.statistic[errors_to_alarm - 1] >= path.threshold
    assert path.statistic[errors_to_alarm] == 0.0  # restarted, then a right answer
    assert bernoulli_cusum([], design).first_alarm is None


def test_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="p1 must be below p0"):
        design_bernoulli_cusum(0.8, 0.9)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        design_bernoulli_cusum(1.0, 0.9)
    with pytest.raises(ValueError, match="target_arl"):
        design_bernoulli_cusum(0.9, 0.8, target_arl=1)
    design = design_bernoulli_cusum(0.9, 0.8, target_arl=50)
    with pytest.raises(ValueError, match=r"positions \[1\]"):
        bernoulli_cusum([1, 2, 0], design)
    with pytest.raises(ValueError, match="whole number of honeypots"):
        cusum_alarm_probability(design, 0, accuracy=0.9)


@given(st.lists(st.booleans(), max_size=300), st.sampled_from([(0.95, 0.85), (0.9, 0.6)]))
@settings(max_examples=100, deadline=None)
def test_path_invariants(outcomes: list[bool], levels: tuple[float, float]) -> None:
    design = _designs(levels)
    path = bernoulli_cusum(outcomes, design)
    assert path.statistic.shape == (len(outcomes),)
    assert (path.statistic >= 0).all()
    # an alarm is exactly a crossing of the threshold, and right answers never raise S
    crossings = np.flatnonzero(path.statistic >= path.threshold - 1e-12).tolist()
    assert list(path.alarms) == crossings
    for i in range(1, len(outcomes)):
        if outcomes[i] and i - 1 not in path.alarms:
            assert path.statistic[i] <= path.statistic[i - 1]
    # all right: no alarm, ever
    assert bernoulli_cusum([True] * len(outcomes), design).alarms == ()


_CACHE: dict[tuple[float, float], CusumDesign] = {}


def _designs(levels: tuple[float, float]) -> CusumDesign:
    if levels not in _CACHE:
        _CACHE[levels] = design_bernoulli_cusum(*levels, target_arl=300)
    return _CACHE[levels]
