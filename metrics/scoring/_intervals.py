"""The scoring engine's intervals: the project's policy (:mod:`metrics.intervals`).

* A mean of per-item scores in ``[0, 1]`` (accuracy, coverage, exact match, per-image
  F1, over answered or all items) gets :func:`metrics.intervals.mean_interval`: the
  modified Wilson interval for 0/1 scores, the effective-sample-size Wilson interval
  otherwise. It never leaves ``[0, 1]`` nor collapses to ``[1, 1]``, and it is what the
  ranking shows for the same scores.
* Anything else (pooled F1, kappa, macro averages, costs, latency percentiles) gets a
  percentile bootstrap over the gold items. Resamples come from
  :func:`metrics.statistics.bootstrap_indices`, drawn in chunks (100,000 items times
  1,000 resamples never sit in memory at once) from ``default_rng(seed)``: the same
  seed and number of items give the same resamples for every metric and every
  candidate, so intervals are paired.

A *ratio* statistic is ``sum(num[i]) / sum(den[i])`` over the resampled items: one
matrix product per chunk computes every ratio at once. Other statistics are functions
of the resampled item positions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from metrics.statistics import bootstrap_indices
from metrics.types import ConfidenceInterval

__all__ = ["Ratio", "Table", "Quantile", "bootstrap", "resamples"]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
Statistic = Callable[[IndexArray], float]

_CHUNK_CELLS = 4_000_000


@dataclass(frozen=True, eq=False)
class Ratio:
    """``sum(num) / sum(den)`` over items; ``proportion`` when every ``num``, ``den`` is 0/1."""

    num: FloatArray
    den: FloatArray

    @property
    def value(self) -> float:
        den = float(self.den.sum())
        return float(self.num.sum()) / den if den > 0 else float("nan")

    @property
    def mean_of_scores(self) -> bool:
        """A mean of per-item scores in ``[0, 1]`` over the items whose ``den`` is 1."""
        selector = bool(np.all((self.den == 0) | (self.den == 1)))
        return selector and bool(np.all((self.num >= 0) & (self.num <= self.den)))

    @property
    def scores(self) -> FloatArray:
        """The per-item scores the mean is over (for :attr:`mean_of_scores` ratios)."""
        return np.asarray(self.num[self.den == 1], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class Table:
    """Statistics of a contingency table (e.g. a confusion matrix) of the resampled items.

    ``cells[i]`` is item ``i``'s cell in ``[0, n_cells)`` (``-1``: not counted);
    ``compute`` maps the cell counts of one resample to one value per name in ``names``.
    One ``bincount`` per chunk of resamples builds every resample's table.
    """

    cells: npt.NDArray[np.intp]
    n_cells: int
    names: tuple[str, ...]
    compute: Callable[[npt.NDArray[np.int64]], Sequence[float]]


@dataclass(frozen=True, eq=False)
class Quantile:
    """The ``q`` quantile (numpy's linear interpolation) of ``values`` (NaN: left out)."""

    values: FloatArray
    q: float


def resamples(n_items: int, *, n_resamples: int, seed: int) -> Iterator[IndexArray]:
    """Bootstrap resamples of ``n_items`` item positions, in chunks of rows ``(k, n_items)``.

    Examples
    --------
    >>> [c.shape for c in resamples(3, n_resamples=4, seed=0)]
    [(4, 3)]
    """
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_resamples, _CHUNK_CELLS // max(n_items, 1)))
    done = 0
    while done < n_resamples:
        k = min(rows, n_resamples - done)
        yield bootstrap_indices(n_items, n_resamples=k, rng=rng)
        done += k


def _percentile(values: FloatArray, level: float) -> ConfidenceInterval | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return ConfidenceInterval(float(low), float(high), float(level))


def _table_reps(table: Table, idx: IndexArray) -> npt.NDArray[np.float64]:
    k = idx.shape[0]
    cells = table.cells[idx]
    keep = cells >= 0
    flat = (cells + (np.arange(k, dtype=np.intp) * table.n_cells)[:, None])[keep]
    counts = np.bincount(flat, minlength=k * table.n_cells).reshape(k, table.n_cells)
    return np.asarray([table.compute(row) for row in counts], dtype=np.float64)


def _quantile_reps(quantile: Quantile, counts: npt.NDArray[np.int64]) -> FloatArray:
    """The quantile of each resample (rows of ``counts``: draws per item)."""
    finite = np.flatnonzero(np.isfinite(quantile.values))
    out = np.full(counts.shape[0], np.nan)
    if finite.size == 0:
        return out
    order = finite[np.argsort(quantile.values[finite], kind="stable")]
    sorted_values = quantile.values[order]
    cum = np.cumsum(counts[:, order], axis=1)
    for r in range(counts.shape[0]):
        total = int(cum[r, -1])
        if total == 0:
            continue
        h = (total - 1) * quantile.q
        lo = int(np.floor(h))
        a = sorted_values[int(np.searchsorted(cum[r], lo, side="right"))]
        b = sorted_values[int(np.searchsorted(cum[r], min(lo + 1, total - 1), side="right"))]
        out[r] = a + (h - lo) * (b - a)
    return out


def bootstrap(
    n_items: int,
    *,
    ratios: Mapping[str, Ratio] | None = None,
    statistics: Mapping[str, Statistic] | None = None,
    tables: Sequence[Table] = (),
    quantiles: Mapping[str, Quantile] | None = None,
    n_resamples: int,
    seed: int,
    level: float,
) -> dict[str, ConfidenceInterval | None]:
    """Percentile bootstrap intervals of ratios and statistics on shared resamples.

    Parameters
    ----------
    n_items
        Gold items N; every array of ``ratios`` has shape ``(N,)``.
    ratios
        Name -> :class:`Ratio`.
    statistics
        Name -> function of resampled item positions (repeats allowed).
    tables
        Statistics of a contingency table of the resampled items (:class:`Table`).
    quantiles
        Name -> :class:`Quantile` of per-item values.
    n_resamples, seed, level
        Resamples, their seed, the interval's level.

    Returns
    -------
    dict
        Name -> interval (``None`` when no resample gave a finite value).
    """
    ratios = dict(ratios or {})
    statistics = dict(statistics or {})
    quantiles = dict(quantiles or {})
    names = [*ratios, *statistics, *quantiles, *(n for t in tables for n in t.names)]
    if n_items < 1 or not names:
        return dict.fromkeys(names)
    reps = {name: np.full(n_resamples, np.nan) for name in names}
    design: FloatArray | None = None
    if ratios:
        design = np.ascontiguousarray(
            np.column_stack(
                [r.num for r in ratios.values()] + [r.den for r in ratios.values()]
            ).astype(np.float64)
        )
    row = 0
    m = len(ratios)
    for idx in resamples(n_items, n_resamples=n_resamples, seed=seed):
        k = idx.shape[0]
        if design is not None or quantiles:
            flat = (idx + (np.arange(k, dtype=np.intp) * n_items)[:, None]).ravel()
            counts = np.bincount(flat, minlength=k * n_items).reshape(k, n_items)
            for name, quantile in quantiles.items():
                reps[name][row : row + k] = _quantile_reps(quantile, counts)
        if design is not None:
            sums = counts.astype(np.float64) @ design
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(sums[:, m:] > 0, sums[:, :m] / sums[:, m:], np.nan)
            for j, name in enumerate(ratios):
                reps[name][row : row + k] = values[:, j]
        for name, statistic in statistics.items():
            reps[name][row : row + k] = [statistic(i) for i in idx]
        for table in tables:
            values = _table_reps(table, idx)
            for j, name in enumerate(table.names):
                reps[name][row : row + k] = values[:, j]
        row += k
    return {name: _percentile(reps[name], level) for name in names}
