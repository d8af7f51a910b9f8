"""The ranking bootstrap's matrix products run on one BLAS thread, whatever the caller set.

:func:`reports._bootstrap._bootstrap_replicates_impl` limits BLAS to one thread around
``counts @ design`` (idle OpenBLAS threads spin and cost a busy machine CPU time). For some
shapes OpenBLAS's threaded product sums in another order than its one-thread product (the
last bits differ), so before the limit the replicates depended on the machine's core count.
These tests check that the limit holds inside and is lifted after, and that the replicates
are the same number for number whether the caller runs BLAS on one thread or on several
(on this project's machine, OpenBLAS 0.3.31 on x86-64, they differ without the limit for
these inputs; not asserted, as it depends on the CPU's kernels).
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from reports import _bootstrap
from reports._bootstrap import Replicates, bootstrap_replicates


def _blas_threads() -> list[int]:
    return [int(lib["num_threads"]) for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_one_blas_thread_inside_and_restored_after() -> None:
    with threadpool_limits(limits=4, user_api="blas"):
        assert _blas_threads()
        assert set(_blas_threads()) == {4}
        with _bootstrap._one_blas_thread():
            assert set(_blas_threads()) == {1}
        assert set(_blas_threads()) == {4}


def _inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # large enough that OpenBLAS spreads a chunk's product over its threads
    rng = np.random.default_rng(7)
    n = 30_000
    scores = (rng.random((n, 3)) < [0.9, 0.8, 0.7]).astype(np.float64)
    scores[:, 2] = rng.random(n)  # fractional scores: sums that depend on their order
    latency = rng.lognormal(3.0, 0.5, (n, 3))
    latency[rng.random((n, 3)) < 0.05] = np.nan
    costs = rng.random((n, 3)) * 0.37
    costs[:, 1] = np.nan
    return scores, latency, costs


@pytest.mark.parametrize("rng", [11, "generator"])
def test_replicates_do_not_depend_on_the_callers_blas_threads(rng: int | str) -> None:
    scores, latency, costs = _inputs()

    def replicates(threads: int) -> Replicates:
        seed: np.random.Generator | int = np.random.default_rng(3) if rng == "generator" else 11
        with threadpool_limits(limits=threads, user_api="blas"):
            return bootstrap_replicates(scores, latency, costs, n_resamples=300, rng=seed)

    one, several = replicates(1), replicates(4)
    for name in ("accuracy", "p95_latency", "cost_per_item", "cost_per_correct"):
        a, b = getattr(one, name), getattr(several, name)
        assert a.shape == (300, 3)
        assert np.array_equal(a, b, equal_nan=True), name
