"""COCO AP/AR on flat arrays, with the exact arithmetic of ``pycocotools`` ``COCOeval``.

Private engine behind :func:`metrics.detection.evaluate_coco`. It reproduces
``COCOeval.evaluate()``, ``accumulate()`` and ``summarize()`` step by step, but on
flat numpy arrays and with the per-(image, category) loops compiled by numba:

1. Annotations are grouped by (category, image); detections are sorted inside each
   group by descending score (ties keep input order, like COCOeval's mergesort) and
   cut at the largest ``maxDets``.
2. IoUs are computed per group (boxes: the same formula and operation order as
   ``maskApi.c`` ``bbIou``; masks: ``pycocotools.mask.iou``).
3. For each area range and IoU threshold the greedy matching of ``evaluateImg`` runs,
   with its rules: non-ignored gold first, crowd gold may match many detections, ties
   in IoU go to the later gold, unmatched detections outside the area range are ignored.
4. Per category, detections of all images are merged by descending score (ties: image
   order, then rank), precision is made monotone and sampled at the 101 recall
   thresholds with ``searchsorted(side="left")``, as ``accumulate`` does.

All kernels use ``cache=True``: the first call on a machine compiles them (a few
seconds) and stores the machine code next to this file; later processes load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from numba import njit

from metrics._rle_kernels import mask_iou_groups, run_lengths
from metrics.masks import Rle

__all__ = [
    "IOU_THRESHOLDS",
    "RECALL_THRESHOLDS",
    "AREA_RANGES",
    "AREA_LABELS",
    "coco_eval_arrays",
    "summarize",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# The same expressions as pycocotools' Params.setDetParams, so the floats are identical.
IOU_THRESHOLDS: Final[FloatArray] = np.linspace(
    0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True
)
RECALL_THRESHOLDS: Final[FloatArray] = np.linspace(
    0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True
)
AREA_RANGES: Final[FloatArray] = np.array(
    [[0**2, 1e5**2], [0**2, 32**2], [32**2, 96**2], [96**2, 1e5**2]], dtype=np.float64
)
AREA_LABELS: Final = ("all", "small", "medium", "large")

_EPS: Final = float(np.spacing(1))


@njit(cache=True, nogil=True)
def _box_iou_groups(
    g_lo: IntArray,
    g_hi: IntArray,
    d_lo: IntArray,
    d_cnt: IntArray,
    off: IntArray,
    gbox: FloatArray,
    gcrowd: BoolArray,
    dbox: FloatArray,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    for k in range(g_lo.shape[0]):
        n_g = g_hi[k] - g_lo[k]
        n_d = d_cnt[k]
        if n_g == 0 or n_d == 0:
            continue
        base = off[k]
        for d in range(n_d):
            di = d_lo[k] + d
            dx = dbox[di, 0]
            dy = dbox[di, 1]
            dw = dbox[di, 2]
            dh = dbox[di, 3]
            da = dw * dh
            for g in range(n_g):
                gi = g_lo[k] + g
                gx = gbox[gi, 0]
                gy = gbox[gi, 1]
                gw = gbox[gi, 2]
                gh = gbox[gi, 3]
                o = 0.0
                w = min(dw + dx, gw + gx) - max(dx, gx)
                if w > 0:
                    h = min(dh + dy, gh + gy) - max(dy, gy)
                    if h > 0:
                        inter = w * h
                        if gcrowd[gi]:
                            u = da
                        else:
                            u = da + gw * gh - inter
                        o = inter / u
                out[base + d * n_g + g] = o


@njit(cache=True, nogil=True)
def _evaluate_groups(
    group_cat: IntArray,
    g_lo: IntArray,
    g_hi: IntArray,
    d_lo: IntArray,
    d_cnt: IntArray,
    off: IntArray,
    ious: FloatArray,
    gt_area: FloatArray,
    gt_crowd: BoolArray,
    gt_ignore: BoolArray,
    gt_id_nonzero: BoolArray,
    dt_area: FloatArray,
    iou_thrs: FloatArray,
    area_rng: FloatArray,
    n_cat: int,
) -> tuple[BoolArray, BoolArray, IntArray]:  # pragma: no cover - compiled
    n_area = area_rng.shape[0]
    n_thr = iou_thrs.shape[0]
    n_det = dt_area.shape[0]
    tp = np.zeros((n_area, n_thr, n_det), dtype=np.bool_)
    ig = np.zeros((n_area, n_thr, n_det), dtype=np.bool_)
    npig = np.zeros((n_cat, n_area), dtype=np.int64)
    max_g = 0
    for k in range(g_lo.shape[0]):
        max_g = max(max_g, g_hi[k] - g_lo[k])
    order = np.empty(max_g, dtype=np.int64)
    flags = np.empty(max_g, dtype=np.bool_)
    gtm = np.empty(max_g, dtype=np.bool_)
    for k in range(g_lo.shape[0]):
        n_g = g_hi[k] - g_lo[k]
        n_d = d_cnt[k]
        c = group_cat[k]
        for a in range(n_area):
            lo = area_rng[a, 0]
            hi = area_rng[a, 1]
            # gold sorted by ignore flag, stable: regular gold first
            n_ok = 0
            for j in range(n_g):
                gj = g_lo[k] + j
                bad = gt_ignore[gj] or gt_area[gj] < lo or gt_area[gj] > hi
                flags[j] = bad
                if not bad:
                    order[n_ok] = j
                    n_ok += 1
            p = n_ok
            for j in range(n_g):
                if flags[j]:
                    order[p] = j
                    p += 1
            npig[c, a] += n_ok
            for t in range(n_thr):
                thr = min(iou_thrs[t], 1 - 1e-10)
                for j in range(n_g):
                    gtm[j] = False
                for d in range(n_d):
                    di = d_lo[k] + d
                    best = thr
                    m = -1
                    row = off[k] + d * n_g
                    for jj in range(n_g):
                        j = order[jj]
                        if gtm[jj] and not gt_crowd[g_lo[k] + j]:
                            continue
                        if m > -1 and m < n_ok and jj >= n_ok:
                            break
                        v = ious[row + j]
                        if v < best:
                            continue
                        best = v
                        m = jj
                    matched_nz = False
                    dig = False
                    if m > -1:
                        gtm[m] = True
                        matched_nz = gt_id_nonzero[g_lo[k] + order[m]]
                        dig = m >= n_ok
                    if matched_nz:
                        tp[a, t, di] = not dig
                        ig[a, t, di] = dig
                    else:
                        ig[a, t, di] = dig or dt_area[di] < lo or dt_area[di] > hi
    return tp, ig, npig


@njit(cache=True, nogil=True)
def _accumulate(
    acc_order: IntArray,
    cat_lo: IntArray,
    cat_hi: IntArray,
    rank: IntArray,
    scores: FloatArray,
    tp: BoolArray,
    ig: BoolArray,
    npig: IntArray,
    max_dets: IntArray,
    rec_thrs: FloatArray,
    eps: float,
) -> tuple[FloatArray, FloatArray, FloatArray]:  # pragma: no cover - compiled
    n_area, n_thr, _ = tp.shape
    n_cat = npig.shape[0]
    n_m = max_dets.shape[0]
    n_r = rec_thrs.shape[0]
    precision = -np.ones((n_thr, n_r, n_cat, n_area, n_m))
    recall = -np.ones((n_thr, n_cat, n_area, n_m))
    score_at = -np.ones((n_thr, n_r, n_cat, n_area, n_m))
    longest = 0
    for k in range(n_cat):
        longest = max(longest, cat_hi[k] - cat_lo[k])
    idx = np.empty(longest, dtype=np.int64)
    rc = np.empty(longest, dtype=np.float64)
    pr = np.empty(longest, dtype=np.float64)
    for k in range(n_cat):
        for m in range(n_m):
            md = max_dets[m]
            nd = 0
            for q in range(cat_lo[k], cat_hi[k]):
                j = acc_order[q]
                if rank[j] < md:
                    idx[nd] = j
                    nd += 1
            for a in range(n_area):
                npos = npig[k, a]
                if npos == 0:
                    continue
                for t in range(n_thr):
                    ctp = 0.0
                    cfp = 0.0
                    for i in range(nd):
                        j = idx[i]
                        if tp[a, t, j]:
                            ctp += 1.0
                        elif not ig[a, t, j]:
                            cfp += 1.0
                        rc[i] = ctp / npos
                        pr[i] = ctp / (cfp + ctp + eps)
                    recall[t, k, a, m] = rc[nd - 1] if nd > 0 else 0.0
                    for i in range(nd - 1, 0, -1):
                        if pr[i] > pr[i - 1]:
                            pr[i - 1] = pr[i]
                    p = 0
                    for r in range(n_r):
                        x = rec_thrs[r]
                        while p < nd and rc[p] < x:
                            p += 1
                        if p < nd:
                            precision[t, r, k, a, m] = pr[p]
                            score_at[t, r, k, a, m] = scores[idx[p]]
                        else:
                            precision[t, r, k, a, m] = 0.0
                            score_at[t, r, k, a, m] = 0.0
    return precision, recall, score_at


def _index_in(universe: IntArray, values: IntArray) -> tuple[IntArray, BoolArray]:
    """Position of each value in the sorted ``universe`` and whether it is there."""
    if universe.shape[0] == 0:
        return np.zeros(values.shape[0], dtype=np.int64), np.zeros(values.shape[0], dtype=bool)
    pos = np.searchsorted(universe, values)
    pos_c = np.minimum(pos, universe.shape[0] - 1)
    found = universe[pos_c] == values
    return pos_c.astype(np.int64), found


@dataclass(frozen=True, eq=False)
class KeypointInputs:
    """What OKS needs beyond the box/area arrays, in the same row order as they are.

    ``gt_keypoints`` ``(N, K, 3)`` and ``dt_keypoints`` ``(M, K, 3)`` hold ``x, y, v``;
    ``gt_num_keypoints`` ``(N,)`` is the file's ``num_keypoints`` (gold with 0 is ignored, as
    COCOeval does); ``variances`` ``(C, K)`` is ``(2 * sigma) ** 2`` per category index.
    """

    gt_keypoints: FloatArray
    gt_num_keypoints: IntArray
    dt_keypoints: FloatArray
    variances: FloatArray


@njit(cache=True, nogil=True)
def _oks_groups(
    g_lo: IntArray,
    g_hi: IntArray,
    d_lo: IntArray,
    d_cnt: IntArray,
    off: IntArray,
    gkp: FloatArray,
    gbox: FloatArray,
    garea: FloatArray,
    gvar: FloatArray,
    dkp: FloatArray,
    out: FloatArray,
) -> None:  # pragma: no cover - compiled
    """Object keypoint similarity, with COCOeval.computeOks' arithmetic and its rule for gold
    without visible keypoints (distance to a box three times the gold box, all keypoints)."""
    n_k = gkp.shape[1]
    e = np.empty(n_k, dtype=np.float64)
    for k in range(g_lo.shape[0]):
        n_g = g_hi[k] - g_lo[k]
        n_d = d_cnt[k]
        if n_g == 0 or n_d == 0:
            continue
        base = off[k]
        for g in range(n_g):
            gi = g_lo[k] + g
            visible = 0
            for j in range(n_k):
                if gkp[gi, j, 2] > 0:
                    visible += 1
            x0 = gbox[gi, 0] - gbox[gi, 2]
            x1 = gbox[gi, 0] + gbox[gi, 2] * 2
            y0 = gbox[gi, 1] - gbox[gi, 3]
            y1 = gbox[gi, 1] + gbox[gi, 3] * 2
            denominator = garea[gi] + _EPS
            for d in range(n_d):
                di = d_lo[k] + d
                n_e = 0
                for j in range(n_k):
                    xd = dkp[di, j, 0]
                    yd = dkp[di, j, 1]
                    if visible > 0:
                        if gkp[gi, j, 2] <= 0:
                            continue
                        dx = xd - gkp[gi, j, 0]
                        dy = yd - gkp[gi, j, 1]
                    else:
                        dx = max(0.0, x0 - xd) + max(0.0, xd - x1)
                        dy = max(0.0, y0 - yd) + max(0.0, yd - y1)
                    e[n_e] = (dx**2 + dy**2) / gvar[gi, j] / denominator / 2
                    n_e += 1
                total = 0.0
                for j in range(n_e):
                    total += np.exp(-e[j])
                out[base + d * n_g + g] = total / n_e if n_e else 0.0


def coco_eval_arrays(
    *,
    image_ids: IntArray,
    category_ids: IntArray,
    gt_image: IntArray,
    gt_category: IntArray,
    gt_id: IntArray,
    gt_area: FloatArray,
    gt_crowd: BoolArray,
    gt_box: FloatArray | None,
    gt_rle: Sequence[Rle] | None,
    dt_image: IntArray,
    dt_category: IntArray,
    dt_score: FloatArray,
    dt_area: FloatArray,
    dt_box: FloatArray | None,
    dt_rle: Sequence[Rle] | None,
    max_dets: IntArray,
    keypoints: KeypointInputs | None = None,
    area_ranges: FloatArray = AREA_RANGES,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Run COCOeval's evaluate + accumulate on validated flat arrays.

    ``image_ids``/``category_ids`` are the sorted unique ids COCOeval iterates over.
    Gold and detections outside them are dropped (detections in unknown images must be
    rejected by the caller). The similarity is OKS when ``keypoints`` is given (then
    ``gt_box`` is the gold boxes OKS needs for gold without visible keypoints), else box IoU
    when ``gt_box`` is given, else mask IoU.

    Returns
    -------
    precision, recall, scores
        Arrays shaped ``(T, R, K, A, M)``, ``(T, K, A, M)``, ``(T, R, K, A, M)`` exactly
        as ``COCOeval.eval["precision"|"recall"|"scores"]``.
    """
    n_img = image_ids.shape[0]
    n_cat = category_ids.shape[0]

    gi, gi_ok = _index_in(image_ids, gt_image)
    gc, gc_ok = _index_in(category_ids, gt_category)
    keep_g = np.flatnonzero(gi_ok & gc_ok)
    gkey_all = gc[keep_g] * n_img + gi[keep_g]
    gsort = keep_g[np.argsort(gkey_all, kind="stable")]
    gkey = gc[gsort] * n_img + gi[gsort]

    di, di_ok = _index_in(image_ids, dt_image)
    dc, dc_ok = _index_in(category_ids, dt_category)
    keep_d = np.flatnonzero(di_ok & dc_ok)
    dkey_all = dc[keep_d] * n_img + di[keep_d]
    # group, then descending score; lexsort is stable so ties keep input order
    dsort = keep_d[np.lexsort((-dt_score[keep_d], dkey_all))]
    dkey = dc[dsort] * n_img + di[dsort]
    n_det = dsort.shape[0]

    groups = np.union1d(gkey, dkey)
    g_lo = np.searchsorted(gkey, groups, side="left").astype(np.int64)
    g_hi = np.searchsorted(gkey, groups, side="right").astype(np.int64)
    d_lo = np.searchsorted(dkey, groups, side="left").astype(np.int64)
    d_hi = np.searchsorted(dkey, groups, side="right").astype(np.int64)
    max_det_last = int(max_dets[-1])
    d_cnt = np.minimum(d_hi - d_lo, max_det_last).astype(np.int64)
    group_of_det = np.searchsorted(groups, dkey)
    rank = np.arange(n_det, dtype=np.int64) - d_lo[group_of_det]

    sizes = (g_hi - g_lo) * d_cnt
    off = np.zeros(groups.shape[0] + 1, dtype=np.int64)
    np.cumsum(sizes, out=off[1:])
    ious = np.zeros(int(off[-1]), dtype=np.float64)

    s_gt_crowd = np.ascontiguousarray(gt_crowd[gsort], dtype=np.bool_)
    s_gt_ignore = s_gt_crowd
    if keypoints is not None:
        if gt_box is None:
            raise ValueError("OKS needs the gold boxes (for gold without visible keypoints)")
        s_gt_ignore = s_gt_crowd | (keypoints.gt_num_keypoints[gsort] == 0)
        _oks_groups(
            g_lo,
            g_hi,
            d_lo,
            d_cnt,
            off,
            np.ascontiguousarray(keypoints.gt_keypoints[gsort], dtype=np.float64),
            np.ascontiguousarray(gt_box[gsort], dtype=np.float64),
            np.ascontiguousarray(gt_area[gsort], dtype=np.float64),
            np.ascontiguousarray(keypoints.variances[gc[gsort]], dtype=np.float64),
            np.ascontiguousarray(keypoints.dt_keypoints[dsort], dtype=np.float64),
            ious,
        )
    elif gt_box is not None:
        if dt_box is None:
            raise ValueError("box IoU needs boxes for the detections too")
        _box_iou_groups(
            g_lo,
            g_hi,
            d_lo,
            d_cnt,
            off,
            np.ascontiguousarray(gt_box[gsort], dtype=np.float64),
            s_gt_crowd,
            np.ascontiguousarray(dt_box[dsort], dtype=np.float64),
            ious,
        )
    else:
        if dt_rle is None and len(dt_image) == 0:  # no detections: nothing to rasterise
            dt_rle = []
        if gt_rle is None or dt_rle is None:
            raise ValueError("mask IoU needs RLEs for gold and detections")
        gt_runs, dt_runs = run_lengths(gt_rle), run_lengths(dt_rle)
        mask_iou_groups(
            g_lo,
            g_hi,
            d_lo,
            d_cnt,
            off,
            gsort.astype(np.int64),
            dsort.astype(np.int64),
            gt_runs.runs,
            gt_runs.start,
            gt_runs.area,
            s_gt_crowd,
            dt_runs.runs,
            dt_runs.start,
            dt_runs.area,
            ious,
        )

    tp, ig, npig = _evaluate_groups(
        (groups // max(n_img, 1)).astype(np.int64),
        g_lo,
        g_hi,
        d_lo,
        d_cnt,
        off,
        ious,
        np.ascontiguousarray(gt_area[gsort], dtype=np.float64),
        s_gt_crowd,
        np.ascontiguousarray(s_gt_ignore),
        np.ascontiguousarray(gt_id[gsort] != 0),
        np.ascontiguousarray(dt_area[dsort], dtype=np.float64),
        IOU_THRESHOLDS,
        np.ascontiguousarray(area_ranges, dtype=np.float64),
        n_cat,
    )

    s_score = np.ascontiguousarray(dt_score[dsort], dtype=np.float64)
    s_cat = dc[dsort]
    # per category, all images merged by descending score; stable, so ties keep
    # (image, rank) order exactly like COCOeval's concatenate + mergesort
    acc_order = np.lexsort((-s_score, s_cat)).astype(np.int64)
    cats_sorted = s_cat[acc_order]
    cat_range = np.arange(n_cat, dtype=np.int64)
    cat_lo = np.searchsorted(cats_sorted, cat_range, side="left").astype(np.int64)
    cat_hi = np.searchsorted(cats_sorted, cat_range, side="right").astype(np.int64)
    precision, recall, scores = _accumulate(
        acc_order,
        cat_lo,
        cat_hi,
        rank,
        s_score,
        tp,
        ig,
        npig,
        np.ascontiguousarray(max_dets, dtype=np.int64),
        RECALL_THRESHOLDS,
        _EPS,
    )
    return precision, recall, scores


def _summarize_one(
    precision: FloatArray,
    recall: FloatArray,
    max_dets: Sequence[int],
    *,
    ap: bool,
    iou_thr: float | None = None,
    area: str = "all",
    max_det: int = 100,
) -> float:
    aind = [i for i, lbl in enumerate(AREA_LABELS) if lbl == area]
    mind = [i for i, m in enumerate(max_dets) if m == max_det]
    s: npt.NDArray[Any]
    if ap:
        s = precision
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
        s = s[:, :, :, aind, mind]
    else:
        s = recall
        if iou_thr is not None:
            s = s[np.where(iou_thr == IOU_THRESHOLDS)[0]]
        s = s[:, :, aind, mind]
    valid = s[s > -1]
    if len(valid) == 0:
        return -1.0
    return float(np.mean(valid))


def summarize(
    precision: FloatArray, recall: FloatArray, max_dets: Sequence[int]
) -> tuple[float, ...]:
    """The 12 numbers of ``COCOeval.summarize()`` for bbox/segm, in its order."""
    m = list(max_dets)
    return (
        _summarize_one(precision, recall, m, ap=True),
        _summarize_one(precision, recall, m, ap=True, iou_thr=0.5, max_det=m[2]),
        _summarize_one(precision, recall, m, ap=True, iou_thr=0.75, max_det=m[2]),
        _summarize_one(precision, recall, m, ap=True, area="small", max_det=m[2]),
        _summarize_one(precision, recall, m, ap=True, area="medium", max_det=m[2]),
        _summarize_one(precision, recall, m, ap=True, area="large", max_det=m[2]),
        _summarize_one(precision, recall, m, ap=False, max_det=m[0]),
        _summarize_one(precision, recall, m, ap=False, max_det=m[1]),
        _summarize_one(precision, recall, m, ap=False, max_det=m[2]),
        _summarize_one(precision, recall, m, ap=False, area="small", max_det=m[2]),
        _summarize_one(precision, recall, m, ap=False, area="medium", max_det=m[2]),
        _summarize_one(precision, recall, m, ap=False, area="large", max_det=m[2]),
    )
