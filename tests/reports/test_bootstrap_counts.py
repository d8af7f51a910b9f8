"""The ranking bootstrap reads its resample counts from one reused buffer: the same counts.

:func:`reports._bootstrap._reused_counts` writes each chunk of counts into one float
buffer instead of a fresh array per chunk; these tests check each chunk equals
:func:`reports._bootstrap.paired_resample_counts`' (the public, fresh-array door), for a
seed (the engine's resamples) and for a generator, with a short last chunk.
"""

from __future__ import annotations

import numpy as np
import pytest

from reports._bootstrap import _reused_counts, paired_resample_counts


@pytest.mark.parametrize("rng", [5, "generator"])
def test_reused_counts_equal_paired_resample_counts(rng: int | str) -> None:
    n_items, n_resamples = 150_000, 70  # 26 rows a chunk: chunks of 26, 26 and 18

    def draw() -> np.random.Generator | int:
        return np.random.default_rng(9) if rng == "generator" else int(rng)

    reused = [w.copy() for w in _reused_counts(n_items, n_resamples, draw())]
    fresh = list(paired_resample_counts(n_items, n_resamples, draw()))
    assert [w.shape for w in reused] == [(26, n_items), (26, n_items), (18, n_items)]
    assert len(reused) == len(fresh)
    for a, b in zip(reused, fresh, strict=True):
        assert a.dtype == b.dtype == np.float64
        assert np.array_equal(a, b)
        assert (a.sum(axis=1) == n_items).all()


def test_reused_counts_share_one_buffer() -> None:
    chunks = list(_reused_counts(150_000, 70, 5))
    assert all(np.shares_memory(chunks[0], c) for c in chunks[1:])
    assert chunks[-1].flags.c_contiguous
