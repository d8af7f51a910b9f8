"""Mask IoU on COCO run-length encodings, compiled, for COCO segm evaluation.

COCO's compressed RLE (``{"size": [h, w], "counts": "<string>"}``) stores the lengths of the
alternating runs of 0s and 1s of a column-major mask: each run length is written in 5-bit
groups as characters from ``'0'`` (48), a set 0x20 bit meaning "another group follows" and a
set 0x10 bit in the last group meaning "negative"; from the fourth run on, the stored value is
the difference to the run two before. These kernels decode that string and intersect two run
lists without building the masks, so the IoU of a pair is exactly ``pycocotools.mask.iou``'s:
``|a & b| / |a | b|``, or ``|a & b| / |a|`` when the gold ``b`` is a crowd region, 0 when
nothing overlaps. Evaluating every (image, category) group in one compiled call replaces one
``pycocotools`` call per group.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from numba import njit

from metrics.masks import Rle

__all__ = ["RunLengths", "run_lengths", "mask_iou_groups"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class RunLengths:
    """Many masks' runs in one array: mask ``i`` is ``runs[start[i]:start[i + 1]]``."""

    __slots__ = ("runs", "start", "area")

    def __init__(self, runs: IntArray, start: IntArray) -> None:
        self.runs = runs
        self.start = start
        self.area = _areas(runs, start)


@njit(cache=True, nogil=True)
def _count_runs(buf: npt.NDArray[np.uint8], lo: IntArray, hi: IntArray) -> IntArray:
    """How many runs each compressed string holds (one per group without the 0x20 bit)."""
    out = np.zeros(lo.shape[0], dtype=np.int64)
    for i in range(lo.shape[0]):
        n = 0
        for p in range(lo[i], hi[i]):
            if not ((buf[p] - 48) & 0x20):
                n += 1
        out[i] = n
    return out


@njit(cache=True, nogil=True)
def _decode(
    buf: npt.NDArray[np.uint8], lo: IntArray, hi: IntArray, start: IntArray, runs: IntArray
) -> None:
    for i in range(lo.shape[0]):
        m = start[i]
        first = m
        p = lo[i]
        while p < hi[i]:
            value = np.int64(0)
            shift = 0
            more = True
            while more:
                c = np.int64(buf[p]) - 48
                value |= (c & 0x1F) << shift
                more = (c & 0x20) != 0
                p += 1
                shift += 5
                if not more and (c & 0x10):
                    value |= np.int64(-1) << shift
            if m - first > 2:
                value += runs[m - 2]
            runs[m] = value
            m += 1


@njit(cache=True, nogil=True)
def _areas(runs: IntArray, start: IntArray) -> IntArray:
    n = start.shape[0] - 1
    out = np.zeros(n, dtype=np.int64)
    for i in range(n):
        a = 0
        for j in range(start[i] + 1, start[i + 1], 2):
            a += runs[j]
        out[i] = a
    return out


def run_lengths(rles: Sequence[Rle]) -> RunLengths:
    """Decode every mask's runs (compressed strings in one compiled pass; lists as they are)."""
    n = len(rles)
    compressed: list[bytes] = []
    index: list[int] = []
    plain: dict[int, IntArray] = {}
    for i, rle in enumerate(rles):
        counts = rle["counts"]
        if isinstance(counts, bytes | str):
            compressed.append(counts.encode("ascii") if isinstance(counts, str) else counts)
            index.append(i)
        else:
            plain[i] = np.asarray(counts, dtype=np.int64)
    lengths = np.zeros(n, dtype=np.int64)
    buf = np.frombuffer(b"".join(compressed), dtype=np.uint8)
    sizes = np.fromiter((len(c) for c in compressed), dtype=np.int64, count=len(compressed))
    hi = np.cumsum(sizes)
    lo = hi - sizes
    if compressed:
        lengths[np.asarray(index, dtype=np.int64)] = _count_runs(buf, lo, hi)
    for i, arr in plain.items():
        lengths[i] = arr.shape[0]
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=start[1:])
    runs = np.zeros(int(start[-1]), dtype=np.int64)
    if compressed:
        _decode(buf, lo, hi, start[np.asarray(index, dtype=np.int64)], runs)
    for i, arr in plain.items():
        runs[start[i] : start[i + 1]] = arr
    return RunLengths(runs, start)


@njit(cache=True, nogil=True)
def _intersection(a: IntArray, a0: int, a1: int, b: IntArray, b0: int, b1: int) -> int:
    """Pixels set in both masks, walking their runs (both cover the same h*w pixels)."""
    if a0 >= a1 or b0 >= b1:
        return 0
    ia, ib = a0, b0
    ra, rb = a[a0], b[b0]
    va, vb = False, False
    inter = 0
    while ia < a1 and ib < b1:
        step = ra if ra < rb else rb
        if va and vb:
            inter += step
        ra -= step
        rb -= step
        if ra == 0:
            ia += 1
            if ia < a1:
                ra = a[ia]
            va = not va
        if rb == 0:
            ib += 1
            if ib < b1:
                rb = b[ib]
            vb = not vb
    return inter


@njit(cache=True, nogil=True)
def mask_iou_groups(
    g_lo: IntArray,
    g_hi: IntArray,
    d_lo: IntArray,
    d_cnt: IntArray,
    off: IntArray,
    gsort: IntArray,
    dsort: IntArray,
    g_runs: IntArray,
    g_start: IntArray,
    g_area: IntArray,
    g_crowd: BoolArray,
    d_runs: IntArray,
    d_start: IntArray,
    d_area: IntArray,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    """``out[off[k] + d * n_g + g]`` = IoU of detection ``d`` and gold ``g`` of group ``k``.

    ``gsort``/``dsort`` map a group's sorted positions to mask indices; ``g_crowd`` is in
    sorted (``gsort``) order like the box kernel's crowd flags.
    """
    for k in range(g_lo.shape[0]):
        n_g = g_hi[k] - g_lo[k]
        n_d = d_cnt[k]
        if n_g == 0 or n_d == 0:
            continue
        base = off[k]
        for d in range(n_d):
            dm = dsort[d_lo[k] + d]
            da = d_area[dm]
            for g in range(n_g):
                gpos = g_lo[k] + g
                gm = gsort[gpos]
                inter = _intersection(
                    d_runs, d_start[dm], d_start[dm + 1], g_runs, g_start[gm], g_start[gm + 1]
                )
                o = 0.0
                if inter > 0:
                    u = da if g_crowd[gpos] else da + g_area[gm] - inter
                    if u > 0:
                        o = inter / u
                out[base + d * n_g + g] = o
