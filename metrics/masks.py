"""Instance masks: COCO RLE and polygons, wrapped around :mod:`pycocotools.mask`.

This is the one module of :mod:`metrics` that talks to ``pycocotools.mask``.
A segmentation is either

* a COCO **RLE** mapping ``{"size": [height, width], "counts": ...}`` whose ``counts``
  is the compressed string (``str`` or ``bytes``) or the uncompressed run lengths
  (``list[int]``, as COCO uses for crowd regions), or
* **polygons**: a list of flat ``[x1, y1, x2, y2, ...]`` lists, one per part of the
  object. Polygons need the image's ``height`` and ``width`` to be rasterised.

Every function here converts to compressed RLE first, the same way
``pycocotools.coco.COCO.annToRLE`` does (polygon parts are merged into one mask),
so IoUs and areas equal those that ``COCOeval`` computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
from pycocotools import mask as _mask_utils

__all__ = [
    "Rle",
    "Polygons",
    "Segmentation",
    "to_rle",
    "to_rles",
    "mask_area",
    "mask_to_bbox",
    "mask_iou",
    "mask_majority",
]

Rle: TypeAlias = Mapping[str, Any]
"""A COCO run-length encoding ``{"size": [h, w], "counts": str | bytes | list[int]}``."""

Polygons: TypeAlias = Sequence[Sequence[float]]
"""One object's polygons: flat ``[x1, y1, x2, y2, ...]`` coordinate lists."""

Segmentation: TypeAlias = Rle | Polygons

_CHUNK = 255


def _size_of(rle: Rle) -> tuple[int, int]:
    size = rle.get("size")
    if (
        not isinstance(size, Sequence)
        or len(size) != 2
        or not all(isinstance(v, int | np.integer) and v >= 0 for v in size)
    ):
        raise ValueError(f"RLE 'size' must be [height, width] with non-negative ints, got {size!r}")
    return int(size[0]), int(size[1])


def to_rle(
    segmentation: Segmentation, *, height: int | None = None, width: int | None = None
) -> dict[str, Any]:
    """Convert one segmentation to a compressed COCO RLE.

    Parameters
    ----------
    segmentation
        A compressed or uncompressed RLE mapping, or a list of polygons.
    height, width
        The image size; required for polygons, ignored for RLE (which carries ``size``).

    Returns
    -------
    dict
        ``{"size": [h, w], "counts": bytes}``, accepted by every ``pycocotools.mask`` call.

    Raises
    ------
    ValueError
        If polygons come without an image size, a polygon has fewer than 3 points or an
        odd number of coordinates, or an RLE lacks ``size``/``counts``.
    TypeError
        If ``segmentation`` is neither a mapping nor a list of lists.

    Examples
    --------
    >>> rle = to_rle([[0, 0, 4, 0, 4, 4, 0, 4]], height=8, width=8)
    >>> rle["size"], float(mask_area([rle])[0])
    ([8, 8], 16.0)
    """
    if isinstance(segmentation, Mapping):
        if "counts" not in segmentation or "size" not in segmentation:
            raise ValueError("an RLE segmentation needs both 'size' and 'counts'")
        h, w = _size_of(segmentation)
        counts = segmentation["counts"]
        if isinstance(counts, list):
            if sum(int(c) for c in counts) != h * w:
                raise ValueError(
                    f"uncompressed RLE counts sum to {sum(int(c) for c in counts)}, "
                    f"expected height*width = {h * w}"
                )
            return dict(_mask_utils.frPyObjects({"size": [h, w], "counts": counts}, h, w))
        if isinstance(counts, str):
            counts = counts.encode("ascii")
        if not isinstance(counts, bytes):
            raise TypeError(f"RLE 'counts' must be str, bytes or list[int], got {type(counts)}")
        return {"size": [h, w], "counts": counts}
    if isinstance(segmentation, str | bytes) or not isinstance(segmentation, Sequence):
        raise TypeError(
            f"a segmentation must be an RLE mapping or a list of polygons, got {type(segmentation)}"
        )
    if height is None or width is None:
        raise ValueError("polygons need the image height and width to be rasterised")
    polys: list[list[float]] = []
    for i, poly in enumerate(segmentation):
        if isinstance(poly, str | bytes) or not isinstance(poly, Sequence):
            raise TypeError(f"polygon {i} must be a list of coordinates, got {type(poly)}")
        coords = [float(v) for v in poly]
        if len(coords) < 6 or len(coords) % 2:
            raise ValueError(
                f"polygon {i} needs an even number (>= 6) of coordinates, got {len(coords)}"
            )
        if not np.all(np.isfinite(coords)):
            raise ValueError(f"polygon {i} has a NaN or infinite coordinate")
        polys.append(coords)
    if not polys:
        raise ValueError("a polygon segmentation needs at least one polygon")
    rles = _mask_utils.frPyObjects(polys, int(height), int(width))
    return dict(_mask_utils.merge(rles))


def to_rles(
    segmentations: Sequence[Segmentation],
    *,
    heights: Sequence[int] | None = None,
    widths: Sequence[int] | None = None,
) -> list[dict[str, Any]]:
    """Convert many segmentations with :func:`to_rle` (``heights``/``widths`` per item)."""
    out: list[dict[str, Any]] = []
    for i, seg in enumerate(segmentations):
        h = None if heights is None else int(heights[i])
        w = None if widths is None else int(widths[i])
        out.append(to_rle(seg, height=h, width=w))
    return out


def mask_area(rles: Sequence[Rle]) -> npt.NDArray[np.float64]:
    """Pixel area of each compressed RLE, shape ``(N,)``.

    Examples
    --------
    >>> rle = to_rle({"size": [2, 3], "counts": [1, 4, 1]})
    >>> mask_area([rle]).tolist()
    [4.0]
    """
    out = np.zeros(len(rles), dtype=np.float64)
    items = list(rles)
    # pycocotools builds a uint8 array of the count, so it fails past 255 items at once
    for start in range(0, len(items), _CHUNK):
        chunk = items[start : start + _CHUNK]
        out[start : start + len(chunk)] = np.asarray(_mask_utils.area(chunk), dtype=np.float64)
    return out


def mask_to_bbox(rles: Sequence[Rle]) -> npt.NDArray[np.float64]:
    """Tight ``[x, y, width, height]`` box of each compressed RLE, shape ``(N, 4)``."""
    if len(rles) == 0:
        return np.zeros((0, 4), dtype=np.float64)
    return np.asarray(_mask_utils.toBbox(list(rles)), dtype=np.float64).reshape(len(rles), 4)


def mask_iou(
    a: Sequence[Segmentation],
    b: Sequence[Segmentation],
    *,
    crowd: npt.ArrayLike | None = None,
    height: int | None = None,
    width: int | None = None,
) -> npt.NDArray[np.float64]:
    """Intersection over union of every mask in ``a`` with every mask in ``b``.

    Parameters
    ----------
    a, b
        Segmentations (RLE mappings or polygon lists); all of one image, so same size.
    crowd
        Optional ``(len(b),)`` booleans: where true, ``b[j]`` is a crowd region and the
        "union" is the area of ``a[i]`` alone, as in COCO.
    height, width
        Image size, needed only for polygons.

    Returns
    -------
    numpy.ndarray
        ``(len(a), len(b))`` float64 IoUs in ``[0, 1]``.

    Raises
    ------
    ValueError
        If masks differ in size, or :func:`to_rle` rejects one.

    Examples
    --------
    >>> sq = [[0, 0, 4, 0, 4, 4, 0, 4]]
    >>> half = [[0, 0, 2, 0, 2, 4, 0, 4]]
    >>> mask_iou([sq], [half], height=8, width=8).tolist()
    [[0.5]]
    """
    ra = [to_rle(s, height=height, width=width) for s in a]
    rb = [to_rle(s, height=height, width=width) for s in b]
    flags = (
        np.zeros(len(rb), dtype=np.uint8)
        if crowd is None
        else np.asarray(crowd, dtype=bool).astype(np.uint8).reshape(-1)
    )
    if flags.shape[0] != len(rb):
        raise ValueError(f"crowd has {flags.shape[0]} flags for {len(rb)} masks in b")
    if not ra or not rb:
        return np.zeros((len(ra), len(rb)), dtype=np.float64)
    sizes = {tuple(r["size"]) for r in ra} | {tuple(r["size"]) for r in rb}
    if len(sizes) > 1:
        raise ValueError(f"masks must share one image size, got {sorted(sizes)}")
    return _rle_iou(ra, rb, flags)


def mask_majority(rles: Sequence[Rle], *, more_than: float) -> dict[str, Any]:
    """The pixels covered by more than ``more_than`` of the masks, as one compressed RLE.

    Parameters
    ----------
    rles
        Compressed RLEs of one image (same size), at least one.
    more_than
        A pixel is kept when strictly more masks than this cover it (half the voters
        for a majority).

    Raises
    ------
    ValueError
        If ``rles`` is empty or the masks differ in size.

    Examples
    --------
    >>> a = to_rle([[0, 0, 4, 0, 4, 4, 0, 4]], height=8, width=8)
    >>> b = to_rle([[0, 0, 2, 0, 2, 4, 0, 4]], height=8, width=8)
    >>> float(mask_area([mask_majority([a, b, b], more_than=1.5)])[0])
    8.0
    """
    if not rles:
        raise ValueError("mask_majority needs at least one mask")
    sizes = {_size_of(r) for r in rles}
    if len(sizes) > 1:
        raise ValueError(f"masks must share one image size, got {sorted(sizes)}")
    counts = np.zeros(next(iter(sizes)), dtype=np.int64)
    for rle in rles:
        counts += _mask_utils.decode(dict(rle)).astype(np.int64)
    kept = np.asfortranarray((counts > more_than).astype(np.uint8))
    out = dict(_mask_utils.encode(kept))
    return {"size": [int(v) for v in out["size"]], "counts": out["counts"]}


def _rle_iou(
    ra: Sequence[Rle], rb: Sequence[Rle], crowd: npt.NDArray[np.uint8]
) -> npt.NDArray[np.float64]:
    """IoU of compressed RLEs, exactly as ``pycocotools.mask.iou`` computes it."""
    if len(ra) == 0 or len(rb) == 0:
        return np.zeros((len(ra), len(rb)), dtype=np.float64)
    out = _mask_utils.iou(list(ra), list(rb), crowd.tolist())
    return np.asarray(out, dtype=np.float64).reshape(len(ra), len(rb))
