"""Honeypot scheduling: rate, rotation across batches, minimum gap, seeding, uniformity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable

import numpy as np
import pytest
from scipy.stats import chisquare

from metrics.honeypots import honeypot_count, schedule_honeypots


def _run(
    gold: list[str], batches: int, n: int, *, rate: float, min_gap: int, seed: int
) -> list[Hashable]:
    rng = np.random.default_rng(seed)
    history: list[Hashable] = []
    for _ in range(batches):
        plan = schedule_honeypots(gold, n, rate=rate, history=history, min_gap=min_gap, rng=rng)
        history.extend(plan.gold_ids)
    return history


@pytest.mark.parametrize("min_gap", [0, 3, 9], ids=lambda g: f"gap{g}")
def test_rotation_and_gap_hold_across_batches(min_gap: int) -> None:
    gold = [f"g{i}" for i in range(10)]
    history = _run(gold, batches=30, n=97, rate=0.03, min_gap=min_gap, seed=min_gap)
    assert len(history) == 30 * 3
    # every aligned block of 10 is a permutation of the gold set: no recurrence before
    # every other item was used
    for start in range(0, len(history) - 9, 10):
        assert sorted(map(str, history[start : start + 10])) == sorted(gold)
    last: dict[Hashable, int] = {}
    for i, item in enumerate(history):
        if item in last:
            assert i - last[item] - 1 >= min_gap
        last[item] = i


def test_count_positions_and_seed() -> None:
    gold = [f"g{i}" for i in range(50)]
    plan = schedule_honeypots(gold, 9_800, rate=0.02, rng=np.random.default_rng(5))
    assert honeypot_count(9_800, rate=0.02) == 200 == len(plan.gold_ids) == plan.positions.size
    assert plan.batch_size == 10_000
    assert np.all(np.diff(plan.positions) > 0)
    assert plan.production_positions.size == 9_800
    assert set(plan.positions) | set(plan.production_positions) == set(range(10_000))
    again = schedule_honeypots(gold, 9_800, rate=0.02, rng=np.random.default_rng(5))
    assert again.gold_ids == plan.gold_ids and np.array_equal(again.positions, plan.positions)
    assert schedule_honeypots(gold, 100, rate=0.0).gold_ids == ()


def test_order_and_positions_are_uniform() -> None:
    gold = ["a", "b", "c", "d"]
    rng = np.random.default_rng(9)
    firsts: Counter[Hashable] = Counter()
    slots = np.zeros(10)
    for _ in range(4000):
        plan = schedule_honeypots(gold, 8, rate=0.2, rng=rng)
        firsts[plan.gold_ids[0]] += 1
        slots[plan.positions] += 1
    assert chisquare(list(firsts.values())).pvalue > 0.001
    assert chisquare(slots).pvalue > 0.001


def test_history_with_retired_items_and_a_changed_gold_set() -> None:
    history = ["old", "a", "b"]  # "old" left the gold set; a and b were used this cycle
    plan = schedule_honeypots(
        ["a", "b", "c", "d"], 2, rate=0.5, history=history, rng=np.random.default_rng(0)
    )
    assert sorted(map(str, plan.gold_ids)) == ["c", "d"]


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unique"):
        schedule_honeypots(["a", "a"], 10, rate=0.1)
    with pytest.raises(ValueError, match="gold set is empty"):
        schedule_honeypots([], 100, rate=0.1)
    with pytest.raises(ValueError, match="min_gap=2 must be below the 2 gold items"):
        schedule_honeypots(["a", "b"], 100, rate=0.1, min_gap=2)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        honeypot_count(10, rate=1.0)
