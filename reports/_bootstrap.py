"""Paired bootstrap of the ranking's quantities on one set of item resamples.

Resamples are drawn with :func:`metrics.statistics.bootstrap_indices` (in chunks, so
that 100,000 items times 1,000 resamples never sit in memory at once). Every resample
is turned into a vector of counts (how often each golden item was drawn); the same
counts are applied to every system, which makes the bootstrap *paired*. Given a seed
instead of a generator, the resamples are the scoring engine's for that seed
(:func:`metrics.scoring.resample_counts`: the very draws of ``default_rng(seed)``), so
a report that scores and ranks inside :func:`metrics.scoring.shared_resamples` draws
them once. Sums over
items become one matrix product per chunk of resamples; the 95th-percentile latency
of a resample (linear interpolation, as :mod:`metrics.operations`) is found in a narrow
window of ranks around the observed one (with an
exact fallback for the rare resample whose quantile falls outside it), so a report on
100,000 items and several systems stays fast. That product runs on one BLAS thread
(:func:`_one_blas_thread`): OpenBLAS's idle threads spin, and on a busy machine cost more
CPU time than they save (about 0.5 s of a 100,000-item, 5-vendor report); and for some
shapes its threaded product adds in another order than its one-thread product (the last
bits differ), so the replicates no longer depend on the machine's number of cores. (For
100,000 items and 5 vendors the numbers are the same either way.)
"""

from __future__ import annotations

import hashlib
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from metrics.scoring import resample_counts
from metrics.statistics import bootstrap_indices

__all__ = [
    "Replicates",
    "ReplicatesCache",
    "paired_resample_counts",
    "bootstrap_replicates",
    "replicates_key",
    "sample_quantile",
]

FloatArray = npt.NDArray[np.float64]
_CHUNK_CELLS = 4_000_000  # resample-count cells materialised at once (about 32 MB)


def paired_resample_counts(
    n_items: int, n_resamples: int, rng: np.random.Generator | int, *, chunk: int | None = None
) -> Iterator[FloatArray]:
    """Yield bootstrap resamples of ``n_items`` items as count matrices.

    Row ``b`` of each yielded ``(chunk, n_items)`` matrix says how many times each item
    was drawn in resample ``b`` (the counts sum to ``n_items``). Applying the same rows
    to every system makes the bootstrap paired.

    Parameters
    ----------
    n_items, n_resamples
        Items per resample (drawn with replacement) and resamples in all.
    rng
        The random generator (seed it for a reproducible report), or a seed: the same
        counts as ``default_rng(seed)`` gives, taken from the scoring engine's resamples
        (shared with its intervals inside :func:`metrics.scoring.shared_resamples`).
    chunk
        Rows per yielded matrix; by default about 4 million cells (a seed always uses the
        default).

    Examples
    --------
    >>> import numpy as np
    >>> chunks = list(paired_resample_counts(5, 3, np.random.default_rng(0)))
    >>> [c.sum(axis=1).tolist() for c in chunks]
    [[5.0, 5.0, 5.0]]
    """
    for counts in _integer_counts(n_items, n_resamples, rng, chunk=chunk):
        yield counts.astype(np.float64)


def _integer_counts(
    n_items: int, n_resamples: int, rng: np.random.Generator | int, *, chunk: int | None = None
) -> Iterator[npt.NDArray[np.integer]]:
    """:func:`paired_resample_counts`' matrices, as the integers they are drawn as."""
    if n_items < 1 or n_resamples < 1:
        raise ValueError(f"need n_items >= 1 and n_resamples >= 1, got {n_items}, {n_resamples}")
    if not isinstance(rng, np.random.Generator):
        if chunk is not None:
            raise ValueError("chunk applies to a generator; a seed uses the engine's chunks")
        yield from resample_counts(n_items, n_resamples=n_resamples, seed=int(rng))
        return
    rows = chunk or max(1, min(n_resamples, _CHUNK_CELLS // n_items))
    done = 0
    while done < n_resamples:
        k = min(rows, n_resamples - done)
        draws = bootstrap_indices(n_items, n_resamples=k, rng=rng)
        draws += (np.arange(k, dtype=draws.dtype) * n_items)[:, None]
        counts = np.bincount(draws.ravel(), minlength=k * n_items)
        yield counts.reshape(k, n_items)
        done += k


def _one_blas_thread() -> threadpool_limits:
    """Run the BLAS library (the count matrices' products) on one thread inside ``with``."""
    return threadpool_limits(limits=1, user_api="blas")


def sample_quantile(values: FloatArray, q: float) -> float:
    """``numpy.quantile`` (linear interpolation) over the non-NaN values; NaN if none.

    The same definition as :mod:`metrics.operations` uses for latency percentiles.
    """
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return float("nan")
    return float(np.quantile(finite, q))


@dataclass(frozen=True)
class _QuantilePlan:
    order: npt.NDArray[np.intp]  # completed items, by increasing latency
    values: FloatArray  # latencies in that order
    lo: int
    hi: int


def _plan(latency: FloatArray, q: float) -> _QuantilePlan | None:
    done = np.flatnonzero(~np.isnan(latency))
    if done.size == 0:
        return None
    order = done[np.argsort(latency[done], kind="stable")]
    m = order.size
    centre = int(np.floor((m - 1) * q))
    half = int(8 * np.sqrt(m * q * (1 - q))) + 32
    return _QuantilePlan(order, latency[order], max(0, centre - half), min(m, centre + half + 1))


def _positions(cum: FloatArray, lo: int, target: FloatArray) -> npt.NDArray[np.intp]:
    """First sorted position whose cumulative weight reaches ``target``, per row."""
    return np.asarray(lo + (cum < target[:, None]).sum(axis=1), dtype=np.intp)


def _quantile_rows(
    w: FloatArray, plan: _QuantilePlan, below: FloatArray, total: FloatArray, q: float
) -> FloatArray:
    """Linear-interpolation quantile (numpy's default) under each row of integer weights.

    Row ``r`` stands for the sample in which sorted value ``i`` occurs ``w[r, order[i]]``
    times; with ``N`` draws, the quantile sits at 0-based rank ``h = (N - 1) q`` of that
    sample: the values at ranks ``floor(h)`` and ``floor(h) + 1``, interpolated. Rank
    ``j`` is the first sorted position whose cumulative weight exceeds ``j``. ``below``
    is each row's weight under the window ``[lo, hi)`` searched first.
    """
    h = np.maximum(total - 1.0, 0.0) * q
    j1 = np.floor(h + 1e-9)
    frac = np.clip(h - j1, 0.0, 1.0)
    t1 = j1 + 1.0
    t2 = np.minimum(j1 + 2.0, np.maximum(total, 1.0))
    window = w[:, plan.order[plan.lo : plan.hi]]
    cum = below[:, None] + np.cumsum(window, axis=1)
    last = plan.values.size - 1
    v1 = plan.values[np.minimum(_positions(cum, plan.lo, t1), last)]
    v2 = plan.values[np.minimum(_positions(cum, plan.lo, t2), last)]
    out = v1 + frac * (v2 - v1)
    outside = (below >= t1) | (cum[:, -1] < t2)
    for r in np.flatnonzero(outside | (total <= 0)):
        if total[r] <= 0:
            out[r] = np.nan
            continue
        full = np.cumsum(w[r, plan.order])[None, :]
        a = plan.values[min(int(_positions(full, 0, t1[r : r + 1])[0]), last)]
        b = plan.values[min(int(_positions(full, 0, t2[r : r + 1])[0]), last)]
        out[r] = a + frac[r] * (b - a)
    return np.asarray(out, dtype=np.float64)


@dataclass(frozen=True)
class Replicates:
    """Bootstrap replicates, shape ``(n_resamples, n_systems)``; NaN where undefined."""

    accuracy: FloatArray
    p95_latency: FloatArray
    cost_per_item: FloatArray
    cost_per_correct: FloatArray


class ReplicatesCache(Protocol):
    """Where replicates computed once are kept (e.g. the service's database, next to the
    stored scores), under :func:`replicates_key`."""

    def get(self, key: str) -> Replicates | None:
        """The replicates stored under ``key``; ``None`` when there are none."""

    def put(self, key: str, value: Replicates) -> None:
        """Keep ``value`` under ``key``."""


_CODE: list[str] = []


def _code_digest() -> str:
    """Digest of this module's source: replicates of other bootstrap code are not served
    (the resamples' own code is :mod:`metrics`, which the caller's store keys on)."""
    if not _CODE:
        _CODE.append(hashlib.sha256(Path(__file__).read_bytes()).hexdigest())
    return _CODE[0]


def replicates_key(
    scores: FloatArray,
    latency: FloatArray | None,
    costs: FloatArray | None,
    *,
    n_resamples: int,
    seed: int,
    q: float,
) -> str:
    """Digest of everything :func:`bootstrap_replicates` computes from, given a seed: the
    per-item arrays (bit for bit), the resamples, the seed, the quantile and this code.

    Examples
    --------
    >>> import numpy as np
    >>> a = replicates_key(np.ones((3, 2)), None, None, n_resamples=10, seed=0, q=0.95)
    >>> a == replicates_key(np.ones((3, 2)), None, None, n_resamples=10, seed=1, q=0.95)
    False
    """
    digest = hashlib.blake2b(digest_size=32)
    digest.update(repr((n_resamples, seed, q, _code_digest())).encode())
    for name, array in (("scores", scores), ("latency", latency), ("costs", costs)):
        digest.update(name.encode())
        if array is None:
            digest.update(b"none")
            continue
        values = np.ascontiguousarray(array, dtype="<f8")
        digest.update(repr(values.shape).encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


def bootstrap_replicates(
    scores: FloatArray,
    latency: FloatArray | None,
    costs: FloatArray | None,
    *,
    n_resamples: int,
    rng: np.random.Generator | int,
    q: float = 0.95,
    cache: ReplicatesCache | None = None,
) -> Replicates:
    """Paired bootstrap replicates of accuracy, latency quantile and cost per (correct) item.

    Parameters
    ----------
    scores
        ``(n_items, n_systems)`` per-item scores in ``[0, 1]`` (skipped items as 0).
    latency
        ``(n_items, n_systems)`` seconds, NaN where not completed; ``None`` when unknown.
    costs
        ``(n_items, n_systems)`` amounts, a NaN column for a system without costs.
    n_resamples, rng
        How many resamples, from which generator (or seed: see
        :func:`paired_resample_counts`).
    q
        The latency quantile (0.95 for p95).
    cache
        With a seed, replicates are read from here when kept under their
        :func:`replicates_key` (they are a function of it), else computed and kept there.
        A generator's draws depend on its state: never cached.
    """
    if cache is None or isinstance(rng, np.random.Generator):
        return _bootstrap_replicates_impl(
            scores, latency, costs, n_resamples=n_resamples, rng=rng, q=q
        )
    key = replicates_key(scores, latency, costs, n_resamples=n_resamples, seed=int(rng), q=q)
    found = cache.get(key)
    if found is not None:
        return found
    value = _bootstrap_replicates_impl(
        scores, latency, costs, n_resamples=n_resamples, rng=rng, q=q
    )
    cache.put(key, value)
    return value


def _bootstrap_replicates_impl(
    scores: FloatArray,
    latency: FloatArray | None,
    costs: FloatArray | None,
    *,
    n_resamples: int,
    rng: np.random.Generator | int,
    q: float,
) -> Replicates:
    n, v = scores.shape
    plans = [_plan(latency[:, j], q) if latency is not None else None for j in range(v)]
    has_cost = (
        np.array([not np.all(np.isnan(costs[:, j])) for j in range(v)])
        if costs is not None
        else np.zeros(v, dtype=bool)
    )
    # One matrix product per chunk gives every sum we need.
    columns = [scores]
    if costs is not None:
        columns.append(np.nan_to_num(costs))
    below_cols = np.zeros((n, v))
    done_cols = np.zeros((n, v))
    for j, plan in enumerate(plans):
        if plan is not None:
            below_cols[plan.order[: plan.lo], j] = 1.0
            done_cols[plan.order, j] = 1.0
    columns += [below_cols, done_cols]
    design = np.ascontiguousarray(np.hstack(columns))

    acc = np.empty((n_resamples, v))
    p95 = np.full((n_resamples, v), np.nan)
    cpi = np.full((n_resamples, v), np.nan)
    cpc = np.full((n_resamples, v), np.nan)
    buffers = threading.local()

    def rows(counts: npt.NDArray[np.integer], row: int) -> None:
        """One chunk's replicates, written into its own rows (chunks are independent)."""
        k = counts.shape[0]
        # each thread's float copy of the counts is reused: no fresh 32 MB per chunk
        buffer: FloatArray | None = getattr(buffers, "w", None)
        if buffer is None or buffer.shape[0] < k:
            buffer = buffers.w = np.empty(counts.shape, dtype=np.float64)
        w = buffer[:k]
        np.copyto(w, counts, casting="unsafe")
        sums = w @ design
        s_scores = sums[:, :v]
        acc[row : row + k] = s_scores / n
        offset = v
        if costs is not None:
            s_cost = sums[:, v : 2 * v]
            cpi[row : row + k] = np.where(has_cost, s_cost / n, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                cpc[row : row + k] = np.where(
                    has_cost, np.where(s_scores > 0, s_cost / s_scores, np.inf), np.nan
                )
            offset = 2 * v
        below = sums[:, offset : offset + v]
        total = sums[:, offset + v : offset + 2 * v]
        for j, plan in enumerate(plans):
            if plan is not None:
                p95[row : row + k, j] = _quantile_rows(w, plan, below[:, j], total[:, j], q)

    # one limit around the loop: set per chunk, it cost 0.05 s of a 100,000-item report.
    # Chunks run on two threads (NumPy releases the interpreter lock in the product and
    # most of the quantile search; the rest of a report waits for this): the same
    # arithmetic per chunk, so the same numbers. At most two chunks wait at a time, so
    # counts drawn from a generator never pile up in memory.
    with _one_blas_thread(), ThreadPoolExecutor(2, thread_name_prefix="replicates") as pool:
        pending: deque[Future[None]] = deque()
        row = 0
        for counts in _integer_counts(n, n_resamples, rng):
            pending.append(pool.submit(rows, counts, row))
            row += counts.shape[0]
            while len(pending) > 2:
                pending.popleft().result()
        for future in pending:
            future.result()
    return Replicates(acc, p95, cpi, cpc)
