"""Delivery flags in chunks vs cleanlab's own batched call on the same arrays, and peak memory.

The labels and probabilities (``--n`` rows x ``--k`` classes, float64 on disk) sit in a
``numpy.memmap`` file, as a delivery's uploaded probabilities would: neither path holds them
in memory. Bakeoff runs the classification flagger the delivery flag run's workers run
(:func:`metrics.chunked_flags.flagger_for`: ``encode``, ``first_pass`` per chunk of
``--chunk`` rows, ``merge``, then ``encode`` and ``second_pass`` per chunk again, ``issues``),
all in this process, and must flag exactly the rows that
``cleanlab.experimental.label_issues_batched.find_label_issues_batched`` flags, within
``TARGET_RATIO`` of its time, with a peak of traced Python/NumPy allocations under
``--max-gb``. Exit status 1 when a target is missed. (The workers also store each chunk's
arrays between the passes; that is the flag run's I/O, measured by bench_delivery_workers.)

Run: ``.venv/bin/python benchmarks/bench_delivery_flags.py [--n 10000000] [--k 10]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from cleanlab.experimental.label_issues_batched import find_label_issues_batched

from metrics.chunked_flags import ChunkScores, flagger_for

TARGET_RATIO = 2.0


def _write(
    folder: Path, n: int, k: int, chunk: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """Planted data: a confident model, 5% of the labels flipped; written chunk by chunk."""
    labels = np.lib.format.open_memmap(folder / "labels.npy", mode="w+", dtype=np.int64, shape=(n,))
    probs = np.lib.format.open_memmap(
        folder / "probs.npy", mode="w+", dtype=np.float64, shape=(n, k)
    )
    rng = np.random.default_rng(0)
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        true = rng.integers(0, k, m)
        logits = rng.normal(0.0, 1.0, (m, k))
        logits[np.arange(m), true] += 3.0
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        given = true.copy()
        flip = rng.random(m) < 0.05
        given[flip] = (true[flip] + rng.integers(1, k, int(flip.sum()))) % k
        labels[start : start + m] = given
        probs[start : start + m] = p
    labels.flush()
    probs.flush()
    return (
        np.load(folder / "labels.npy", mmap_mode="r"),
        np.load(folder / "probs.npy", mmap_mode="r"),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--chunk", type=int, default=200_000)
    ap.add_argument("--max-gb", type=float, default=4.0)
    args = ap.parse_args()
    classes = [f"class_{j}" for j in range(args.k)]
    names = np.array(classes, dtype=object)
    with tempfile.TemporaryDirectory() as tmp:
        labels, probs = _write(Path(tmp), args.n, args.k, args.chunk)

        flagger = flagger_for("classification")

        def chunks() -> Iterator[dict[str, npt.NDArray[Any]]]:
            for start in range(0, args.n, args.chunk):
                p = np.asarray(probs[start : start + args.chunk])
                given = names[labels[start : start + args.chunk]]
                yield flagger.encode(list(given), p, classes)

        def flag() -> npt.NDArray[np.int64]:
            merged = flagger.merge([flagger.first_pass(arrays) for arrays in chunks()])
            scored: list[ChunkScores] = [flagger.second_pass(a, merged) for a in chunks()]
            return flagger.issues(scored)

        # Times: the better of two runs each, untraced (tracemalloc slows every allocation,
        # so a traced run is not timed); then one traced run of ours for the peak.
        t_direct = t_ours = float("inf")
        for _ in range(2):
            t0 = time.perf_counter()
            direct = find_label_issues_batched(
                labels, probs, batch_size=args.chunk, verbose=False, n_jobs=1
            )
            t_direct = min(t_direct, time.perf_counter() - t0)
            t0 = time.perf_counter()
            ours = flag()
            t_ours = min(t_ours, time.perf_counter() - t0)

        tracemalloc.start()
        traced = flag()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()

    same = np.array_equal(np.sort(ours), np.asarray(direct)) and np.array_equal(ours, traced)
    overlap = len(np.intersect1d(ours, direct)) / max(1, len(direct))
    ratio = t_ours / t_direct
    peak_gb = peak / 1e9
    print(f"rows {args.n:,} x {args.k} classes, chunks of {args.chunk:,}")
    print(f"cleanlab find_label_issues_batched: {t_direct:.2f} s, {len(direct):,} issues")
    print(f"bakeoff chunked flagger (workers' path): {t_ours:.2f} s, {ours.size:,} issues")
    print(f"ratio {ratio:.2f}x (target <= {TARGET_RATIO}x); same issues: {same} ")
    print(f"overlap {overlap:.4f}; peak traced memory {peak_gb:.2f} GB (target < {args.max_gb})")
    ok = ratio <= TARGET_RATIO and peak_gb < args.max_gb and same
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
