"""The engine's bootstrap resamples: drawn from ``default_rng(seed)``, counted per item.

The resamples themselves, without the engine: NumPy alone is imported, so a caller can draw
them on another thread while the engine's own code is still loading
(:func:`draw_resamples`; ``bakeoff report`` does, :mod:`service.domain.score_prefetch`).
:mod:`metrics.scoring._intervals` shares one draw among every interval of a block.

Resamples are :func:`metrics.statistics.bootstrap_indices` of ``default_rng(seed)``, drawn in
chunks of rows (100,000 items times 1,000 resamples never sit in memory at once as
positions): the same seed and number of items give the same resamples for every metric and
every candidate, so intervals are paired.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["DrawnResamples", "count_chunks", "counts_of", "draw_resamples", "resamples"]

#: Cells of a chunk of resamples: rows of ``n_items`` positions, about 4 million at once.
CHUNK_CELLS = 4_000_000


def _draw(n_items: int, k: int, rng: np.random.Generator) -> npt.NDArray[np.integer]:
    """``k`` resamples of ``n_items`` positions: :func:`metrics.statistics.bootstrap_indices`.

    Below 2**31 items they are drawn as 32-bit integers: NumPy then generates the same
    numbers (its bounded generator works in 32 bits whenever the range fits) in about 60 %
    of the time (``tests/metrics/scoring/test_intervals_shared.py`` checks they are equal).
    """
    if n_items < 2**31:
        return rng.integers(0, n_items, size=(k, n_items), dtype=np.int32)
    from metrics.statistics import bootstrap_indices  # SciPy: only for 2**31 items or more

    return bootstrap_indices(n_items, n_resamples=k, rng=rng)


def resamples(n_items: int, *, n_resamples: int, seed: int) -> Iterator[npt.NDArray[np.integer]]:
    """Bootstrap resamples of ``n_items`` item positions, in chunks of rows ``(k, n_items)``.

    Examples
    --------
    >>> [c.shape for c in resamples(3, n_resamples=4, seed=0)]
    [(4, 3)]
    """
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_resamples, CHUNK_CELLS // max(n_items, 1)))
    done = 0
    while done < n_resamples:
        k = min(rows, n_resamples - done)
        yield _draw(n_items, k, rng)
        done += k


def counts_of(idx: npt.NDArray[np.integer], n_items: int) -> npt.NDArray[np.integer]:
    """How often each item is drawn in each resample (rows of ``idx``), compactly typed.

    One ``bincount`` per row (a row's counts stay in cache), written straight into bytes
    unless some item is drawn 256 times or more.
    """
    counts: npt.NDArray[np.integer] = np.empty((idx.shape[0], n_items), dtype=np.uint8)
    for r, row in enumerate(idx):
        drawn = np.bincount(row, minlength=n_items)
        if int(drawn.max(initial=0)) >= 256:
            return np.stack([np.bincount(x, minlength=n_items) for x in idx]).astype(np.int64)
        counts[r] = drawn
    return counts


def count_chunks(n_items: int, *, n_resamples: int, seed: int) -> Iterator[npt.NDArray[np.integer]]:
    """:func:`resamples` as counts per item, ``(k, n_items)`` per chunk.

    Examples
    --------
    >>> [c.sum(axis=1).tolist() for c in count_chunks(5, n_resamples=3, seed=0)]
    [[5, 5, 5]]
    """
    for idx in resamples(n_items, n_resamples=n_resamples, seed=seed):
        yield counts_of(idx, n_items)


@dataclass(frozen=True, eq=False)
class DrawnResamples:
    """Every chunk of :func:`count_chunks` for one number of items, resamples and seed,
    drawn at once by :func:`draw_resamples` (ahead of need, on another thread, say), for a
    :func:`metrics.scoring.shared_resamples` block to :func:`~metrics.scoring.use_drawn`."""

    n_items: int
    n_resamples: int
    seed: int
    chunks: tuple[npt.NDArray[np.integer], ...]


def draw_resamples(n_items: int, *, n_resamples: int, seed: int) -> DrawnResamples:
    """:func:`count_chunks`, every chunk of it, now.

    Examples
    --------
    >>> drawn = draw_resamples(5, n_resamples=3, seed=0)
    >>> [c.shape for c in drawn.chunks]
    [(3, 5)]
    """
    chunks = tuple(count_chunks(n_items, n_resamples=n_resamples, seed=seed))
    return DrawnResamples(n_items, n_resamples, seed, chunks)
