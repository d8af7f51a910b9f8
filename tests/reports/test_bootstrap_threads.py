"""The ranking bootstrap runs its chunks of resamples on two threads: the same numbers.

Each chunk's replicates are written into its own rows from a float copy of its counts in
its thread's buffer. These tests hold the replicates to one thread's, bit for bit, and to
the plain definition (counts times values, the quantile of the repeated latencies), for a
seed (the engine's resamples) and a generator, with a short last chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

import reports._bootstrap as bootstrap
from reports._bootstrap import Replicates, paired_resample_counts

N_ITEMS, N_RESAMPLES, Q = 150_000, 70, 0.95  # 26 rows a chunk: chunks of 26, 26 and 18


def _inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    scores = (rng.random((N_ITEMS, 3)) < [0.9, 0.8, 0.7]).astype(np.float64)
    latency = rng.gamma(2.0, 30.0, (N_ITEMS, 3))
    latency[rng.random((N_ITEMS, 3)) < 0.05] = np.nan  # items not returned
    latency[:, 2] = np.nan  # a system without times
    costs = np.tile([0.05, 0.02, np.nan], (N_ITEMS, 1))  # and one without costs
    return scores, latency, costs


def _replicates(draw: Callable[[], np.random.Generator | int]) -> Replicates:
    scores, latency, costs = _inputs()
    return bootstrap._bootstrap_replicates_impl(
        scores, latency, costs, n_resamples=N_RESAMPLES, rng=draw(), q=Q
    )


def _draw(kind: str) -> Callable[[], np.random.Generator | int]:
    return lambda: np.random.default_rng(9) if kind == "generator" else 5


@pytest.mark.parametrize("kind", ["seed", "generator"])
def test_two_threads_give_one_threads_replicates_bit_for_bit(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    threaded = _replicates(_draw(kind))
    with monkeypatch.context() as patch:

        def one_thread(_workers: int, **kwargs: Any) -> ThreadPoolExecutor:
            return ThreadPoolExecutor(1, **kwargs)

        patch.setattr(bootstrap, "ThreadPoolExecutor", one_thread)
        serial = _replicates(_draw(kind))
    for name in ("accuracy", "p95_latency", "cost_per_item", "cost_per_correct"):
        a, b = getattr(threaded, name), getattr(serial, name)
        assert a.tobytes() == b.tobytes(), name


@pytest.mark.parametrize("kind", ["seed", "generator"])
def test_replicates_are_the_definition_on_every_chunk(kind: str) -> None:
    scores, latency, costs = _inputs()
    got = _replicates(_draw(kind))
    counts = np.vstack(list(paired_resample_counts(N_ITEMS, N_RESAMPLES, _draw(kind)())))
    assert counts.shape == (N_RESAMPLES, N_ITEMS)
    np.testing.assert_allclose(got.accuracy, counts @ scores / N_ITEMS, rtol=1e-12)
    np.testing.assert_allclose(got.cost_per_item[:, :2], counts @ costs[:, :2] / N_ITEMS)
    assert np.isnan(got.cost_per_item[:, 2]).all() and np.isnan(got.p95_latency[:, 2]).all()
    for r in (0, 25, 26, 51, 52, N_RESAMPLES - 1):  # first and last rows of every chunk
        for j in range(2):
            done = ~np.isnan(latency[:, j])
            repeated = np.repeat(latency[done, j], counts[r, done].astype(np.int64))
            assert got.p95_latency[r, j] == pytest.approx(np.quantile(repeated, Q), abs=1e-9)
