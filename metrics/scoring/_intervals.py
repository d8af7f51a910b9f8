"""The scoring engine's intervals: the project's policy (:mod:`metrics.intervals`).

* A mean of per-item scores in ``[0, 1]`` (accuracy, coverage, exact match, per-image
  F1, over answered or all items) gets :func:`metrics.intervals.mean_interval`: the
  modified Wilson interval for 0/1 scores, the effective-sample-size Wilson interval
  otherwise. It never leaves ``[0, 1]`` nor collapses to ``[1, 1]``, and it is what the
  ranking shows for the same scores.
* Anything else (pooled F1, kappa, macro averages, costs, latency percentiles) gets a
  percentile bootstrap over the gold items, on the resamples of :mod:`metrics.resampling`
  (the same seed and number of items give the same resamples for every metric and every
  candidate, so intervals are paired).

A *ratio* statistic is ``sum(num[i]) / sum(den[i])`` over the resampled items: one
matrix product per chunk computes every ratio at once. Other statistics are functions
of the resampled item positions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from metrics.resampling import DrawnResamples, count_chunks, draw_resamples, resamples
from metrics.types import ConfidenceInterval

__all__ = [
    "DrawnResamples",
    "Ratio",
    "Table",
    "Quantile",
    "bootstrap",
    "draw_resamples",
    "resample_counts",
    "resamples",
    "shared_resamples",
    "use_drawn",
]

FloatArray = npt.NDArray[np.float64]
IndexArray = npt.NDArray[np.intp]
Statistic = Callable[[IndexArray], float]

# Groups of at least this many items on average are summed one slice each (see _Cells.sums).
_SLICED_GROUP = 2048


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

    ``cells[i]`` is item ``i``'s cell in ``[0, n_cells)`` (``-1``: not counted); with
    several cells per item (``cells`` of shape ``(N, C)``, e.g. one per rubric criterion)
    each is counted, and a resampled item brings all of its cells;
    ``compute`` maps the cell counts of one resample to one value per name in ``names``.
    One ``bincount`` per chunk of resamples builds every resample's table.

    ``reference`` (optional, same shape as ``cells``, every entry in ``[0, n_cells)``) is
    the cell most items share across candidates, e.g. the diagonal cell of the item's
    gold class: the resampled tables of the reference are summed once (per
    :func:`shared_resamples` block) and each table only corrects them on the items whose
    cell differs. The result does not depend on it.

    ``compute_many`` (optional) maps a stack of tables ``(k, n_cells)`` to ``(k, len(names))``
    values, equal to ``compute`` row by row: a thousand resamples in a few array operations.
    """

    cells: npt.NDArray[np.intp]
    n_cells: int
    names: tuple[str, ...]
    compute: Callable[[npt.NDArray[np.int64]], Sequence[float]]
    reference: npt.NDArray[np.intp] | None = None
    compute_many: Callable[[npt.NDArray[np.int64]], FloatArray] | None = None


@dataclass(frozen=True, eq=False)
class Quantile:
    """The ``q`` quantile (numpy's linear interpolation) of ``values`` (NaN: left out)."""

    values: FloatArray
    q: float


@dataclass
class _Shared:
    """Resample counts and reference tables kept while :func:`shared_resamples` is open."""

    counts: dict[tuple[int, int, int], list[npt.NDArray[np.integer]]] = field(default_factory=dict)
    # reference key -> chunk index -> that chunk's reference tables (by index, not in a list:
    # candidates scored on several threads may reach one chunk at once)
    tables: dict[tuple[object, ...], dict[int, npt.NDArray[np.int64]]] = field(default_factory=dict)


_SHARED: ContextVar[_Shared | None] = ContextVar("bakeoff_shared_resamples", default=None)


@contextmanager
def shared_resamples() -> Iterator[None]:
    """Reuse one draw of bootstrap resamples for every interval computed in the block.

    Scoring several candidates of one bake-off draws the same resamples (same seed, same
    number of items) for each of them; inside this block they are drawn once and kept
    (as counts per item, one byte each: 100 MB for 100,000 items x 1,000 resamples), and
    so are the tables of a shared :attr:`Table.reference`. The intervals are the same
    with or without the block: only the work is shared. A block opened inside another
    joins it (a report scores its candidates in one block and ranks them on the same
    resamples, :func:`resample_counts`).

    Examples
    --------
    >>> with shared_resamples():
    ...     a = bootstrap(4, ratios={"r": Ratio(np.arange(4.0), np.ones(4))},
    ...                   n_resamples=50, seed=1, level=0.9)
    >>> a == bootstrap(4, ratios={"r": Ratio(np.arange(4.0), np.ones(4))},
    ...                n_resamples=50, seed=1, level=0.9)
    True
    """
    if _SHARED.get() is not None:
        yield
        return
    token = _SHARED.set(_Shared())
    try:
        yield
    finally:
        _SHARED.reset(token)


def resample_counts(
    n_items: int, *, n_resamples: int, seed: int
) -> Iterator[npt.NDArray[np.integer]]:
    """The bootstrap resamples as counts per item, ``(k, n_items)`` per chunk.

    Row ``b`` says how often each item position is drawn in resample ``b`` of
    :func:`resamples` (``default_rng(seed)``, chunks of about 4 million cells); inside
    :func:`shared_resamples` they are drawn once and kept for every later use.

    Examples
    --------
    >>> [c.sum(axis=1).tolist() for c in resample_counts(5, n_resamples=3, seed=0)]
    [[5, 5, 5]]
    """
    return _count_chunks(n_items, n_resamples=n_resamples, seed=seed)


def use_drawn(drawn: DrawnResamples) -> bool:
    """In the open :func:`shared_resamples` block, the resamples of ``drawn``'s settings are
    ``drawn``'s chunks from now on (not drawn again). ``False`` (nothing changes) outside a
    block, or when the block holds those resamples already.

    Examples
    --------
    >>> drawn = draw_resamples(5, n_resamples=3, seed=0)
    >>> with shared_resamples():
    ...     use_drawn(drawn)
    ...     [c is d for c, d in zip(resample_counts(5, n_resamples=3, seed=0), drawn.chunks)]
    True
    [True]
    """
    shared = _SHARED.get()
    key = (drawn.n_items, drawn.n_resamples, drawn.seed)
    if shared is None or key in shared.counts:
        return False
    shared.counts[key] = list(drawn.chunks)
    return True


def _count_chunks(
    n_items: int, *, n_resamples: int, seed: int
) -> Iterator[npt.NDArray[np.integer]]:
    """:func:`resamples` as counts per item, ``(k, n_items)`` per chunk (shared when open)."""
    shared = _SHARED.get()
    key = (n_items, n_resamples, seed)
    if shared is not None and key in shared.counts:
        yield from shared.counts[key]
        return
    kept: list[npt.NDArray[np.integer]] = []
    for counts in count_chunks(n_items, n_resamples=n_resamples, seed=seed):
        if shared is not None:
            kept.append(counts)
        yield counts
    if shared is not None:
        shared.counts[key] = kept


def _percentile(values: FloatArray, level: float) -> ConfidenceInterval | None:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return ConfidenceInterval(float(low), float(high), float(level))


@dataclass(frozen=True, eq=False)
class _Cells:
    """Items grouped by cell, to sum a resample's counts per cell with one ``reduceat``."""

    order: IndexArray  # item positions, grouped by cell
    starts: IndexArray  # where each non-empty cell's group starts in ``order``
    present: IndexArray  # the cell of each group
    n_cells: int

    @classmethod
    def of(cls, cells: IndexArray, items: IndexArray, n_cells: int) -> _Cells:
        """The items ``items`` (positions) by their cell ``cells[items]``; cells < 0 left out."""
        return cls.of_units(cells[items], items, n_cells)

    @classmethod
    def of_units(cls, unit_cells: IndexArray, unit_items: IndexArray, n_cells: int) -> _Cells:
        """Counted units by cell: unit ``u`` is in cell ``unit_cells[u]`` (< 0: left out)
        and belongs to item position ``unit_items[u]`` (an item may own several units)."""
        keep = unit_cells >= 0
        unit_cells, unit_items = unit_cells[keep], unit_items[keep]
        by_cell = np.argsort(unit_cells, kind="stable")
        order = unit_items[by_cell]
        grouped = unit_cells[by_cell]
        starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if order.size else order
        return cls(order, starts.astype(np.intp), grouped[starts], n_cells)

    def sums(self, counts: npt.NDArray[np.integer]) -> npt.NDArray[np.int64]:
        """Counts summed per cell, ``(k, n_cells)``.

        Few large groups (a reference table's cells: every item in one of K classes) are
        summed group by group, which is 2-3 times faster than ``reduceat`` casting bytes to
        int64 element by element; many small groups with one ``reduceat``. Both are integer
        sums: the same tables.
        """
        out = np.zeros((counts.shape[0], self.n_cells), dtype=np.int64)
        if not self.order.size:
            return out
        gathered = counts[:, self.order]
        if self.order.size >= _SLICED_GROUP * self.starts.size:
            ends = np.append(self.starts[1:], self.order.size)
            for cell, start, end in zip(self.present, self.starts, ends, strict=True):
                out[:, cell] = gathered[:, start:end].sum(axis=1, dtype=np.int64)
            return out
        out[:, self.present] = np.add.reduceat(gathered, self.starts, axis=1, dtype=np.int64)
        return out


@dataclass(frozen=True, eq=False)
class _TablePlan:
    """How to build a :class:`Table`'s resampled tables (see :func:`_table_reps`)."""

    table: Table
    full: _Cells | None  # no reference: every item
    reference: _Cells | None  # the reference cells of every item
    reference_key: bytes
    moves: _Cells | None  # items whose cell differs, by (reference cell, cell) pair
    shift: npt.NDArray[np.int64] | None  # pair -> table: -1 at its reference cell, +1 at its cell

    @classmethod
    def of(cls, table: Table) -> _TablePlan:
        if table.cells.ndim == 2:  # several cells per item: each item's row of cells
            if table.reference is not None:
                raise ValueError("a table with several cells per item takes no reference")
            n, c = table.cells.shape
            items = np.repeat(np.arange(n, dtype=np.intp), c)
            units = _Cells.of_units(table.cells.ravel().astype(np.intp), items, table.n_cells)
            return cls(table, units, None, b"", None, None)
        every = np.arange(table.cells.size, dtype=np.intp)
        if table.reference is None:
            return cls(table, _Cells.of(table.cells, every, table.n_cells), None, b"", None, None)
        reference = np.ascontiguousarray(table.reference, dtype=np.intp)
        cells = np.asarray(table.cells, dtype=np.intp)
        # an item counted in cell c instead of its reference cell r moves its draws from r
        # to c (c < 0: not counted, only taken from r); items are grouped by (r, c) pair
        differ = np.flatnonzero(cells != reference).astype(np.intp)
        pairs, pair_of = np.unique(
            reference[differ] * (table.n_cells + 1) + (cells[differ] + 1), return_inverse=True
        )
        shift = np.zeros((pairs.size, table.n_cells), dtype=np.int64)
        rows = np.arange(pairs.size)
        shift[rows, pairs // (table.n_cells + 1)] -= 1
        to = pairs % (table.n_cells + 1) - 1
        counted = to >= 0
        shift[rows[counted], to[counted]] += 1
        return cls(
            table,
            None,
            _Cells.of(reference, every, table.n_cells),
            hashlib.blake2b(reference.tobytes(), digest_size=16).digest(),
            _Cells.of_units(pair_of.astype(np.intp).ravel(), differ, pairs.size),
            shift,
        )


def _table_reps(
    plan: _TablePlan,
    counts: npt.NDArray[np.integer],
    chunk: int,
    key: tuple[int, int, int],
) -> FloatArray:
    """The table statistics of each resample (rows of ``counts``: draws per item).

    With a :attr:`Table.reference`, the resampled table is the reference's (computed once
    per :func:`shared_resamples` block for every table with the same reference) corrected
    on the items whose cell differs, so only those items are summed per table: once, by
    (reference cell, cell) pair, each pair's draws then moved from one cell to the other.
    Counts are integers: the tables are exact either way.
    """
    if plan.full is not None:
        tables = plan.full.sums(counts)
    else:
        if plan.reference is None or plan.moves is None or plan.shift is None:
            raise ValueError("a table plan with a reference needs its cell groups")
        shared = _SHARED.get()
        ref_key = (*key, plan.table.n_cells, plan.reference_key)
        kept = shared.tables.setdefault(ref_key, {}) if shared is not None else {}
        found = kept.get(chunk)
        # setdefault: of two threads that summed the same chunk, both use the first's
        base = kept.setdefault(chunk, plan.reference.sums(counts)) if found is None else found
        tables = base + plan.moves.sums(counts) @ plan.shift
    if plan.table.compute_many is not None:
        return np.asarray(plan.table.compute_many(tables), dtype=np.float64)
    compute = plan.table.compute
    return np.asarray([compute(row) for row in tables], dtype=np.float64)


@dataclass(frozen=True, eq=False)
class _QuantilePlan:
    """A :class:`Quantile`'s finite values sorted once, and the window its ranks fall in."""

    q: float
    order: IndexArray  # finite items by increasing value (stable)
    sorted_values: FloatArray
    missing: IndexArray  # items whose value is not finite
    start: int  # the window: sorted positions [start, start + width)
    width: int
    high: bool  # the window is at the top (q >= 0.5)


def _quantile_plan(quantile: Quantile) -> _QuantilePlan | None:
    values = quantile.values
    finite_mask = np.isfinite(values)
    finite = np.flatnonzero(finite_mask)
    if finite.size == 0:
        return None
    order = finite[np.argsort(values[finite], kind="stable")]
    m = order.size
    q = quantile.q
    width = min(m, int(min(q, 1.0 - q) * m + 6.0 * np.sqrt(m)) + 16)
    high = q >= 0.5
    return _QuantilePlan(
        q=q,
        order=order,
        sorted_values=values[order],
        missing=np.flatnonzero(~finite_mask),
        start=m - width if high else 0,
        width=width,
        high=high,
    )


def _counts_at_most(
    cum: npt.NDArray[np.int64], x: npt.NDArray[np.int64], bound: int
) -> npt.NDArray[np.intp]:
    """Per row ``r``: how many of ``cum[r]`` (non-decreasing, in ``[0, bound]``) are
    ``<= x[..., r]`` (each in ``[0, bound]``): ``(cum[r] <= x[..., r]).sum()``, as one
    ``searchsorted`` for every query of ``x`` (shape ``(rows,)`` or ``(m, rows)``).

    Row ``r`` is shifted by ``r * (bound + 1)``, so the rows laid end to end are one sorted
    array in which each shifted ``x[..., r]`` falls after every earlier row and before every
    later one. ``cum`` is shifted in place (the caller's own array, not used after).
    """
    shift = np.arange(cum.shape[0], dtype=np.int64) * (bound + 1)
    cum += shift[:, None]
    found = np.searchsorted(cum.ravel(), x + shift, side="right")
    return np.asarray(found - np.arange(cum.shape[0]) * cum.shape[1], dtype=np.intp)


def _quantile_reps(plan: _QuantilePlan | None, counts: npt.NDArray[np.integer]) -> FloatArray:
    """The quantile of each resample (rows of ``counts``: draws per item).

    Numpy's linear interpolation between the sorted values at ranks ``floor(h)`` and
    ``floor(h) + 1``, ``h = (total - 1) q``. The ranks are looked up in a window of the
    sorted values on the quantile's side (about ``(1 - q) n + 6 sqrt(n)`` values for a high
    quantile), with the whole sorted row for the rare resample whose rank falls outside:
    the same values as a search over every sorted value.
    """
    k = counts.shape[0]
    out = np.full(k, np.nan)
    if plan is None:
        return out
    total = np.full(k, counts.shape[1], dtype=np.int64)
    if plan.missing.size:
        total -= counts[:, plan.missing].sum(axis=1, dtype=np.int64)
    window = counts[:, plan.order[plan.start : plan.start + plan.width]]
    cum = np.cumsum(window, axis=1, dtype=np.int64)
    if plan.high:
        cum += (total - cum[:, -1])[:, None]
    h = (total - 1) * plan.q
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, total - 1)
    inside = lo >= cum[:, 0] - window[:, 0] if plan.high else hi < cum[:, -1]
    inside &= total > 0
    rows = np.flatnonzero(inside)
    # both ranks in one search; ``cum`` itself when every row's ranks are in the window
    # (nearly always): two copies of it per chunk were a third of this function's time
    found = _counts_at_most(
        cum if rows.size == k else cum[rows],
        np.stack([lo[rows], hi[rows]]),
        counts.shape[1],
    )
    at_lo = plan.start + found[0]
    at_hi = plan.start + found[1]
    a = plan.sorted_values[at_lo]
    b = plan.sorted_values[at_hi]
    out[rows] = a + (h[rows] - lo[rows]) * (b - a)
    for r in np.flatnonzero(~inside & (total > 0)):  # rank outside the window: every value
        row = np.cumsum(counts[r, plan.order].astype(np.int64))
        a_r = plan.sorted_values[int(np.searchsorted(row, lo[r], side="right"))]
        b_r = plan.sorted_values[int(np.searchsorted(row, hi[r], side="right"))]
        out[r] = a_r + (h[r] - lo[r]) * (b_r - a_r)
    return out


def _ratio_sums(
    modes: FloatArray,
    differ: IndexArray,
    delta: FloatArray,
    counts: npt.NDArray[np.integer],
) -> FloatArray:
    """``counts @ design`` per row, as ``n x mode + counts[:, differ] @ delta``.

    ``delta`` is ``(design - mode)[differ]``: every resample draws ``n`` items, so only the
    items whose value differs from the column's most common value are summed (a few
    percent for costs and 0/1 columns).
    """
    n = counts.shape[1]
    sums = np.broadcast_to(modes * n, (counts.shape[0], modes.size)).copy()
    if differ.size:
        sums += np.einsum("ij,jk->ik", counts[:, differ].astype(np.float64), delta)
    return sums


def _modes(design: FloatArray) -> FloatArray:
    """The most common finite value of each column (the smallest of equally common ones)."""
    out = np.zeros(design.shape[1])
    for j in range(design.shape[1]):
        column = design[:, j]
        values, counts = np.unique(column[np.isfinite(column)], return_counts=True)
        if values.size:
            out[j] = values[int(np.argmax(counts))]
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
    key = (n_items, n_resamples, seed)
    m = len(ratios)
    if ratios:
        design = np.column_stack(
            [r.num for r in ratios.values()] + [r.den for r in ratios.values()]
        ).astype(np.float64)
        modes = _modes(design)
        differ = np.flatnonzero(np.any(design != modes, axis=1)).astype(np.intp)
        delta = np.ascontiguousarray(design[differ] - modes)
    plans = {name: _quantile_plan(quantile) for name, quantile in quantiles.items()}
    table_plans = [_TablePlan.of(table) for table in tables]
    row = 0
    for chunk, counts in enumerate(_count_chunks(n_items, n_resamples=n_resamples, seed=seed)):
        k = counts.shape[0]
        for name, plan in plans.items():
            reps[name][row : row + k] = _quantile_reps(plan, counts)
        if ratios:
            sums = _ratio_sums(modes, differ, delta, counts)
            with np.errstate(divide="ignore", invalid="ignore"):
                values = np.where(sums[:, m:] > 0, sums[:, :m] / sums[:, m:], np.nan)
            for j, name in enumerate(ratios):
                reps[name][row : row + k] = values[:, j]
        for table_plan in table_plans:
            values = _table_reps(table_plan, counts, chunk, key)
            for j, name in enumerate(table_plan.table.names):
                reps[name][row : row + k] = values[:, j]
        row += k
    if statistics:
        row = 0
        for idx in resamples(n_items, n_resamples=n_resamples, seed=seed):
            idx = idx.astype(np.intp, copy=False)  # statistics get the documented positions
            k = idx.shape[0]
            for name, statistic in statistics.items():
                reps[name][row : row + k] = [statistic(i) for i in idx]
            row += k
    return {name: _percentile(reps[name], level) for name in names}
