"""The compiled RLE kernels equal ``pycocotools.mask`` (decode, area, IoU with crowd)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from metrics._rle_kernels import mask_iou_groups, run_lengths


def _masks(seed: int, n: int, h: int, w: int) -> list[dict[str, object]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        m = np.zeros((h, w), dtype=np.uint8, order="F")
        if rng.uniform() < 0.9:  # some empty masks
            y, x = rng.integers(0, h), rng.integers(0, w)
            m[y : y + rng.integers(1, h + 1), x : x + rng.integers(1, w + 1)] = 1
            m[rng.uniform(size=(h, w)) < 0.05] ^= 1  # ragged edges: many runs
        out.append(mask_utils.encode(m))
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_g=st.integers(1, 6),
    n_d=st.integers(1, 6),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
)
def test_iou_equals_pycocotools(seed: int, n_g: int, n_d: int, h: int, w: int) -> None:
    gold, dets = _masks(seed, n_g, h, w), _masks(seed + 1, n_d, h, w)
    crowd = np.random.default_rng(seed).uniform(size=n_g) < 0.3
    expected = np.asarray(mask_utils.iou(dets, gold, crowd.astype(np.uint8).tolist()))
    g, d = run_lengths(gold), run_lengths(dets)
    np.testing.assert_array_equal(g.area, mask_utils.area(gold))
    out = np.zeros(n_d * n_g, dtype=np.float64)
    one = np.zeros(1, dtype=np.int64)
    mask_iou_groups(
        one,
        np.array([n_g]),
        one,
        np.array([n_d]),
        np.array([0, n_d * n_g]),
        np.arange(n_g, dtype=np.int64),
        np.arange(n_d, dtype=np.int64),
        g.runs,
        g.start,
        g.area,
        crowd,
        d.runs,
        d.start,
        d.area,
        out,
    )
    np.testing.assert_array_equal(out.reshape(n_d, n_g), expected.reshape(n_d, n_g))


def test_uncompressed_counts_decode_as_given() -> None:
    m = np.zeros((5, 4), dtype=np.uint8, order="F")
    m[1:3, 1:3] = 1
    compressed = mask_utils.encode(m)
    uncompressed = {"size": [5, 4], "counts": [6, 2, 3, 2, 7]}
    runs = run_lengths([compressed, uncompressed])
    assert runs.runs[runs.start[0] : runs.start[1]].tolist() == [6, 2, 3, 2, 7]
    assert runs.area.tolist() == [4, 4]
