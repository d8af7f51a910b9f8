"""The ranking's bootstrap replicates, kept under a digest of what they are computed from.

A report read in a new process takes the replicates stored next to the scores instead of
drawing 1,000 resamples again (issue 10: a 100,000-item report under 5 s). These tests check
that a kept value is only ever served for the very inputs it was computed from, and that a
ranking from kept replicates is the ranking computed directly, number for number.
"""

from __future__ import annotations

import numpy as np
import pytest

from reports._bootstrap import Replicates, bootstrap_replicates, replicates_key
from reports.inputs import RankingConfig
from reports.ranking import rank_systems
from tests.reports.conftest import MakeSystem


class _Dict:
    """A ReplicatesCache in a dict, counting reads and writes."""

    def __init__(self) -> None:
        self.kept: dict[str, Replicates] = {}
        self.gets: list[str] = []
        self.puts: list[str] = []

    def get(self, key: str) -> Replicates | None:
        self.gets.append(key)
        return self.kept.get(key)

    def put(self, key: str, value: Replicates) -> None:
        self.puts.append(key)
        self.kept[key] = value


def _inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = (rng.random((300, 3)) < [0.9, 0.8, 0.7]).astype(np.float64)
    latency = rng.lognormal(3.0, 0.5, (300, 3))
    latency[rng.random((300, 3)) < 0.05] = np.nan
    costs = np.full((300, 3), 0.05) + rng.random((300, 3)) * 0.01
    return scores, latency, costs


def _same(a: Replicates, b: Replicates) -> bool:
    return all(
        np.array_equal(getattr(a, f), getattr(b, f), equal_nan=True)
        for f in ("accuracy", "p95_latency", "cost_per_item", "cost_per_correct")
    )


def test_kept_replicates_are_the_computed_ones_and_read_back() -> None:
    scores, latency, costs = _inputs()
    cache = _Dict()
    direct = bootstrap_replicates(scores, latency, costs, n_resamples=200, rng=7)
    first = bootstrap_replicates(scores, latency, costs, n_resamples=200, rng=7, cache=cache)
    second = bootstrap_replicates(scores, latency, costs, n_resamples=200, rng=7, cache=cache)
    assert _same(direct, first) and second is first
    assert len(cache.puts) == 1 and len(cache.gets) == 2


@pytest.mark.parametrize("change", ["scores", "latency", "costs", "seed", "resamples", "q"])
def test_any_other_input_has_another_key(change: str) -> None:
    scores, latency, costs = _inputs()
    base = {"n_resamples": 200, "seed": 7, "q": 0.95}
    key = replicates_key(scores, latency, costs, **base)  # type: ignore[arg-type]
    args = {"scores": scores.copy(), "latency": latency.copy(), "costs": costs.copy()}
    other = dict(base)
    if change in args:
        args[change][5, 1] = 0.5 if change != "scores" else 1.0 - args[change][5, 1]
    else:
        other[{"seed": "seed", "resamples": "n_resamples", "q": "q"}[change]] = (
            8 if change == "seed" else 201 if change == "resamples" else 0.9
        )
    assert replicates_key(**args, **other) != key  # type: ignore[arg-type]
    assert replicates_key(scores, None, costs, **base) != key  # type: ignore[arg-type]


def test_a_generator_is_never_cached() -> None:
    scores, latency, costs = _inputs()
    cache = _Dict()
    rng = np.random.default_rng(7)
    bootstrap_replicates(scores, latency, costs, n_resamples=50, rng=rng, cache=cache)
    assert not cache.gets and not cache.puts


def test_a_ranking_from_kept_replicates_is_the_direct_ranking(make_system: MakeSystem) -> None:
    rng = np.random.default_rng(4)
    systems = [
        make_system(name, correct=(rng.random(400) < p).astype(np.float64), cost=c, latency_h=h)
        for name, p, c, h in [("a", 0.9, 0.05, 2.0), ("b", 0.85, 0.03, 1.0), ("c", 0.9, 0.04, 3.0)]
    ]
    config = RankingConfig(n_resamples=300)
    direct = rank_systems(systems, config=config, rng=3)
    cache = _Dict()
    computed = rank_systems(systems, config=config, rng=3, replicates=cache)
    read = rank_systems(systems, config=config, rng=3, replicates=cache)
    assert len(cache.puts) == 1 and len(cache.gets) == 2
    assert computed.model_dump() == direct.model_dump() == read.model_dump()
