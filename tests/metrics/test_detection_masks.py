"""Mask helpers: RLE/polygon conversion, areas, boxes and IoU against pycocotools."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as mask_utils

from metrics.masks import mask_area, mask_iou, mask_to_bbox, to_rle, to_rles

H, W = 30, 40


def _poly(x: int, y: int, w: int, h: int) -> list[list[float]]:
    return [[x, y, x + w, y, x + w, y + h, x, y + h]]


rect = st.tuples(st.integers(0, 30), st.integers(0, 20), st.integers(1, 12), st.integers(1, 12))


@settings(max_examples=60, deadline=None)
@given(
    a=st.lists(rect, min_size=1, max_size=5),
    b=st.lists(rect, min_size=1, max_size=5),
    data=st.data(),
)
def test_mask_iou_equals_pycocotools(a: list[Any], b: list[Any], data: st.DataObject) -> None:
    crowd = data.draw(st.lists(st.booleans(), min_size=len(b), max_size=len(b)))
    pa = [_poly(*r) for r in a]
    pb = [_poly(*r) for r in b]
    ra = [mask_utils.merge(mask_utils.frPyObjects(p, H, W)) for p in pa]
    rb = [mask_utils.merge(mask_utils.frPyObjects(p, H, W)) for p in pb]
    ref = np.asarray(mask_utils.iou(ra, rb, [int(c) for c in crowd])).reshape(len(a), len(b))
    np.testing.assert_array_equal(mask_iou(pa, pb, crowd=crowd, height=H, width=W), ref)
    # RLE input (compressed, as str counts in JSON) gives the same
    ja = [{"size": r["size"], "counts": r["counts"].decode()} for r in ra]
    np.testing.assert_array_equal(mask_iou(ja, rb, crowd=crowd), ref)


def test_uncompressed_rle_area_and_box() -> None:
    # column-major runs: 3 zeros, 4 ones, rest zeros in a 3x4 image
    rle = to_rle({"size": [3, 4], "counts": [3, 4, 5]})
    assert mask_area([rle]).tolist() == [4.0]
    np.testing.assert_array_equal(mask_to_bbox([rle]), mask_utils.toBbox([rle]))
    with pytest.raises(ValueError, match="sum to 11"):
        to_rle({"size": [3, 4], "counts": [3, 4, 4]})


def test_area_of_more_than_255_masks() -> None:
    # pycocotools.mask.area fails on more than 255 masks at once; mask_area chunks
    rles = to_rles(
        [_poly(0, 0, 1 + i % 5, 2) for i in range(600)], heights=[H] * 600, widths=[W] * 600
    )
    expected = [float(mask_utils.area(r)) for r in rles]
    assert mask_area(rles).tolist() == expected


def test_conversion_errors() -> None:
    with pytest.raises(ValueError, match="height and width"):
        to_rle(_poly(0, 0, 2, 2))
    with pytest.raises(ValueError, match="even number"):
        to_rle([[0, 0, 1, 1, 2]], height=5, width=5)
    with pytest.raises(ValueError, match="NaN"):
        to_rle([[0, 0, 1, float("nan"), 2, 2]], height=5, width=5)
    with pytest.raises(ValueError, match="'size' and 'counts'"):
        to_rle({"counts": "abc"})
    with pytest.raises(TypeError, match="RLE mapping or a list of polygons"):
        to_rle("abc")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one image size"):
        mask_iou([{"size": [2, 2], "counts": [4]}], [{"size": [3, 3], "counts": [9]}])
    with pytest.raises(ValueError, match="crowd has 2 flags"):
        mask_iou([_poly(0, 0, 2, 2)], [_poly(0, 0, 2, 2)], crowd=[1, 0], height=H, width=W)


def test_empty_inputs() -> None:
    assert mask_iou([], [_poly(0, 0, 2, 2)], height=H, width=W).shape == (0, 1)
    assert mask_area([]).shape == (0,)
    assert mask_to_bbox([]).shape == (0, 4)
