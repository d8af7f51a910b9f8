"""Box IoU and one-to-one matching of unscored human labels against gold.

Private: the public names are re-exported by :mod:`metrics.detection`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import linear_sum_assignment

from metrics._instances import DetectionSet, GoldInstances, check_dets, check_gold
from metrics.masks import _rle_iou
from metrics.types import MetricResult

__all__ = ["BoxFormat", "UnscoredMatchResult", "box_iou", "match_unscored", "box_bias"]

BoxFormat = Literal["xywh", "xyxy"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_EDGES = ("left", "top", "right", "bottom")


def _as_boxes(name: str, x: npt.ArrayLike) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1 and arr.shape[0] == 0:
        arr = arr.reshape(0, 4)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (N, 4), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} has NaN or infinite coordinates")
    return arr


def box_iou(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    *,
    fmt: BoxFormat = "xywh",
    crowd: npt.ArrayLike | None = None,
) -> FloatArray:
    """Intersection over union of every box in ``a`` with every box in ``b``.

    Parameters
    ----------
    a, b
        ``(N, 4)`` and ``(M, 4)`` boxes: ``[x, y, width, height]`` (``fmt="xywh"``, COCO)
        or ``[x1, y1, x2, y2]`` (``fmt="xyxy"``, Pascal VOC without the +1).
    fmt
        Box layout of both inputs.
    crowd
        Optional ``(M,)`` booleans: where true, ``b[j]`` is a crowd region and the union
        is replaced by the area of ``a[i]`` (COCO's rule).

    Returns
    -------
    numpy.ndarray
        ``(N, M)`` float64 IoUs; for ``xywh`` identical to ``pycocotools.mask.iou``.

    Raises
    ------
    ValueError
        For wrong shapes, NaN coordinates, or negative sizes.

    Examples
    --------
    >>> box_iou([[0, 0, 2, 2]], [[1, 0, 2, 2], [5, 5, 1, 1]]).round(4).tolist()
    [[0.3333, 0.0]]
    >>> box_iou([[0, 0, 2, 2]], [[1, 0, 3, 2]], fmt="xyxy").round(4).tolist()
    [[0.3333]]
    """
    if fmt not in ("xywh", "xyxy"):
        raise ValueError(f"fmt must be 'xywh' or 'xyxy', got {fmt!r}")
    aa = _as_boxes("a", a)
    bb = _as_boxes("b", b)
    flags = (
        np.zeros(bb.shape[0], dtype=bool)
        if crowd is None
        else np.asarray(crowd, dtype=bool).reshape(-1)
    )
    if flags.shape[0] != bb.shape[0]:
        raise ValueError(f"crowd has {flags.shape[0]} flags for {bb.shape[0]} boxes in b")
    if fmt == "xywh":
        if (aa[:, 2:] < 0).any() or (bb[:, 2:] < 0).any():
            raise ValueError("boxes must have non-negative width and height")
        ax1, ay1, aw, ah = (aa[:, i : i + 1] for i in range(4))
        bx1, by1, bw, bh = (bb[None, :, i] for i in range(4))
        # same operation order as pycocotools' bbIou, so results are bit-identical
        w = np.minimum(aw + ax1, bw + bx1) - np.maximum(ax1, bx1)
        h = np.minimum(ah + ay1, bh + by1) - np.maximum(ay1, by1)
        area_a = aw * ah
        area_b = bw * bh
    else:
        if (aa[:, 2:] < aa[:, :2]).any() or (bb[:, 2:] < bb[:, :2]).any():
            raise ValueError("xyxy boxes need x2 >= x1 and y2 >= y1")
        ax1, ay1, ax2, ay2 = (aa[:, i : i + 1] for i in range(4))
        bx1, by1, bx2, by2 = (bb[None, :, i] for i in range(4))
        w = np.minimum(ax2, bx2) - np.maximum(ax1, bx1)
        h = np.minimum(ay2, by2) - np.maximum(ay1, by1)
        area_a = (ax2 - ax1) * (ay2 - ay1)
        area_b = (bx2 - bx1) * (by2 - by1)
    hit = (w > 0) & (h > 0)
    inter = np.where(hit, w * h, 0.0)
    union = np.where(flags[None, :], area_a, area_a + area_b - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(hit, inter / np.where(hit, union, 1.0), 0.0)
    return np.asarray(out, dtype=np.float64).reshape(aa.shape[0], bb.shape[0])


@dataclass(frozen=True, eq=False)
class UnscoredMatchResult:
    """One-to-one matching of a candidate's labels with gold at one IoU threshold.

    Attributes
    ----------
    precision, recall, f1
        Micro-averaged over all classes; ``per_item`` is per class (index ``category_id``).
    mean_iou
        Mean IoU of matched pairs (``per_item`` per class).
    localization_error
        Mean absolute box-edge offset of matched pairs, in pixels, averaged over the four
        edges (``per_item`` per class).
    per_class
        Index ``category_id``; columns ``n_gold``, ``n_labels``, ``tp``, ``fp``, ``fn``,
        ``ignored``, ``precision``, ``recall``, ``f1``, ``mean_iou``, ``localization_error``.
    pairs
        One row per matched pair: ``image_id``, ``category_id``, ``gold_index``,
        ``label_index`` (row positions in the inputs), ``iou``, signed edge offsets
        label minus gold ``left``, ``top``, ``right``, ``bottom`` and the gold box's
        ``gold_width``, ``gold_height``.
    label_match
        ``(L,)`` gold row matched to each label, ``-1`` when unmatched.
    label_ignored
        ``(L,)`` true for unmatched labels on a crowd region (neither TP nor FP) and for
        labels on images outside ``labeled_images``.
    coverage
        Share of gold images the candidate labeled (1.0 unless ``labeled_images`` given).
    """

    iou_threshold: float
    iou_type: Literal["bbox", "segm"]
    precision: MetricResult
    recall: MetricResult
    f1: MetricResult
    mean_iou: MetricResult
    localization_error: MetricResult
    per_class: pd.DataFrame
    pairs: pd.DataFrame
    label_match: IntArray
    label_ignored: BoolArray
    coverage: float

    def to_metric_results(self) -> tuple[MetricResult, ...]:
        """Precision, recall, F1, mean IoU and localisation error."""
        return (self.precision, self.recall, self.f1, self.mean_iou, self.localization_error)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den > 0 else float("nan")


def _pairs(
    rows_a: IntArray, key: IntArray, rows_b: IntArray, key_b: IntArray
) -> tuple[IntArray, IntArray]:
    """Every (a, b) with ``a`` in ``rows_a``, ``b`` in ``rows_b`` and the same group key."""
    if rows_a.shape[0] == 0 or rows_b.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    b_sorted = rows_b[np.argsort(key_b[rows_b], kind="stable")]
    kb = key_b[b_sorted]
    lo = np.searchsorted(kb, key[rows_a], side="left")
    hi = np.searchsorted(kb, key[rows_a], side="right")
    counts = hi - lo
    a = np.repeat(rows_a, counts)
    start = np.repeat(lo - np.concatenate([[0], np.cumsum(counts)[:-1]]), counts)
    b = b_sorted[start + np.arange(a.shape[0])]
    return a.astype(np.int64), b.astype(np.int64)


def _pair_box_iou(lb: FloatArray, gb: FloatArray, crowd: bool) -> FloatArray:
    """Element-wise :func:`box_iou` (``xywh``), same arithmetic."""
    w = np.minimum(lb[:, 2] + lb[:, 0], gb[:, 2] + gb[:, 0]) - np.maximum(lb[:, 0], gb[:, 0])
    h = np.minimum(lb[:, 3] + lb[:, 1], gb[:, 3] + gb[:, 1]) - np.maximum(lb[:, 1], gb[:, 1])
    hit = (w > 0) & (h > 0)
    inter = np.where(hit, w * h, 0.0)
    area_l = lb[:, 2] * lb[:, 3]
    union = area_l if crowd else area_l + gb[:, 2] * gb[:, 3] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(hit, inter / np.where(hit, union, 1.0), 0.0)


def match_unscored(
    gold: GoldInstances,
    labels: DetectionSet,
    *,
    iou_threshold: float = 0.5,
    iou_type: Literal["bbox", "segm"] = "bbox",
    labeled_images: npt.ArrayLike | None = None,
) -> UnscoredMatchResult:
    """Pair unscored labels with gold one-to-one and score them per class.

    In each (image, category) the pairing is an optimal assignment
    (:func:`scipy.optimize.linear_sum_assignment`): it has the largest possible number
    of pairs with IoU ``>= iou_threshold`` and, among those, the largest total IoU.
    A label is a true positive when paired, a false positive otherwise; an unpaired gold
    box is a false negative. Crowd gold is never paired or counted: an unpaired label
    covering a crowd region (intersection / label area ``>= iou_threshold``) is ignored.

    Parameters
    ----------
    gold
        Gold instances.
    labels
        The candidate's labels; ``scores`` are ignored.
    iou_threshold
        Minimum IoU of a pair, in ``(0, 1]``.
    iou_type
        ``"bbox"`` or ``"segm"`` (needs ``rles`` on both sides).
    labeled_images
        Gold images the candidate returned an answer for. Gold on other images is left out
        of every count (``coverage`` reports the share). ``None``: all gold images.

    Returns
    -------
    UnscoredMatchResult

    Raises
    ------
    ValueError
        For a threshold outside ``(0, 1]``, inconsistent arrays, or labels on images
        that are not in gold.

    Examples
    --------
    >>> from metrics.detection import DetectionGold, Detections
    >>> gold = DetectionGold.from_arrays(
    ...     image_ids=[1, 1], category_ids=[1, 1], boxes=[[0, 0, 10, 10], [20, 0, 10, 10]]
    ... )
    >>> labels = Detections.from_arrays(
    ...     image_ids=[1, 1], category_ids=[1, 1], boxes=[[1, 0, 10, 10], [50, 50, 5, 5]]
    ... )
    >>> res = match_unscored(gold, labels)
    >>> res.precision.value, res.recall.value, round(res.mean_iou.value, 4)
    (0.5, 0.5, 0.8182)
    """
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ValueError(f"iou_threshold must be in (0, 1], got {iou_threshold!r}")
    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', got {iou_type!r}")
    segm = iou_type == "segm"
    n_gold = check_gold(gold, need_masks=segm)
    n_lab = check_dets(labels, gold, need_masks=segm, scored=False)
    thr = float(iou_threshold)

    g_img = np.asarray(gold.image_ids, dtype=np.int64)
    g_cat = np.asarray(gold.category_ids, dtype=np.int64)
    g_box = np.asarray(gold.boxes, dtype=np.float64)
    g_crowd = np.asarray(gold.iscrowd, dtype=bool)
    l_img = np.asarray(labels.image_ids, dtype=np.int64)
    l_cat = np.asarray(labels.category_ids, dtype=np.int64)
    l_box = np.asarray(labels.boxes, dtype=np.float64)

    all_images = np.unique(np.asarray(gold.all_image_ids, dtype=np.int64))
    if labeled_images is None:
        g_in = np.ones(n_gold, dtype=bool)
        l_in = np.ones(n_lab, dtype=bool)
        coverage = 1.0
    else:
        done = np.unique(np.asarray(labeled_images, dtype=np.int64))
        g_in = np.isin(g_img, done)
        l_in = np.isin(l_img, done)
        coverage = _ratio(np.isin(all_images, done).sum(), all_images.shape[0])

    label_match = np.full(n_lab, -1, dtype=np.int64)
    label_iou = np.zeros(n_lab, dtype=np.float64)
    label_ignored = ~l_in
    lab_rows = np.flatnonzero(l_in)
    # one integer key per (image, category) present on either side
    keys, inverse = np.unique(
        np.concatenate([np.stack([l_img, l_cat], 1), np.stack([g_img, g_cat], 1)]).reshape(-1, 2),
        axis=0,
        return_inverse=True,
    )
    inverse = inverse.reshape(-1)
    l_key, g_key = inverse[:n_lab], inverse[n_lab:]
    del keys

    def iou_pairs(li: IntArray, gi: IntArray, crowd: bool) -> FloatArray:
        """IoU of label ``li[k]`` with gold ``gi[k]`` for every k."""
        if li.shape[0] == 0:
            return np.zeros(0, dtype=np.float64)
        if not segm:
            return _pair_box_iou(l_box[li], g_box[gi], crowd)
        assert gold.rles is not None and labels.rles is not None  # checked above
        out = np.empty(li.shape[0], dtype=np.float64)
        flag = np.ones(1, dtype=np.uint8) if crowd else np.zeros(1, dtype=np.uint8)
        for k in range(li.shape[0]):
            out[k] = _rle_iou([labels.rles[li[k]]], [gold.rles[gi[k]]], flag)[0, 0]
        return out

    pl, pg = _pairs(lab_rows, l_key, np.flatnonzero(g_in & ~g_crowd), g_key)
    ious = iou_pairs(pl, pg, False)
    ok = ious >= thr
    pl, pg, ious = pl[ok], pg[ok], ious[ok]
    if pl.shape[0]:
        # a label or gold box with several candidates makes its group need an assignment
        multi = (np.bincount(pl, minlength=n_lab)[pl] > 1) | (
            np.bincount(pg, minlength=n_gold)[pg] > 1
        )
        simple = ~np.isin(l_key[pl], np.unique(l_key[pl[multi]]))
        label_match[pl[simple]] = pg[simple]
        label_iou[pl[simple]] = ious[simple]
        hard = ~simple
        if hard.any():
            hk = l_key[pl[hard]]
            order = np.argsort(hk, kind="stable")
            hl, hg, hi, hk = pl[hard][order], pg[hard][order], ious[hard][order], hk[order]
            cuts = np.flatnonzero(np.diff(hk)) + 1
            for sl in np.split(np.arange(hk.shape[0]), cuts):
                rows_l, li = np.unique(hl[sl], return_inverse=True)
                cols_g, gi = np.unique(hg[sl], return_inverse=True)
                bonus = float(min(rows_l.shape[0], cols_g.shape[0]) + 1)
                iou_m = np.zeros((rows_l.shape[0], cols_g.shape[0]))
                valid = np.zeros(iou_m.shape, dtype=bool)
                iou_m[li.reshape(-1), gi.reshape(-1)] = hi[sl]
                valid[li.reshape(-1), gi.reshape(-1)] = True
                weight = np.where(valid, bonus + iou_m, 0.0)
                r, c = linear_sum_assignment(weight, maximize=True)
                take = valid[r, c]
                label_match[rows_l[r[take]]] = cols_g[c[take]]
                label_iou[rows_l[r[take]]] = iou_m[r[take], c[take]]

    crowd_rows = np.flatnonzero(g_in & g_crowd)
    if crowd_rows.size:
        free = lab_rows[label_match[lab_rows] < 0]
        cl, cg = _pairs(free, l_key, crowd_rows, g_key)
        cover = iou_pairs(cl, cg, True)
        label_ignored[cl[cover >= thr]] = True

    matched = np.flatnonzero(label_match >= 0)
    gm = label_match[matched]
    lb = l_box[matched]
    gb = g_box[gm]
    offsets = np.stack(
        [
            lb[:, 0] - gb[:, 0],
            lb[:, 1] - gb[:, 1],
            (lb[:, 0] + lb[:, 2]) - (gb[:, 0] + gb[:, 2]),
            (lb[:, 1] + lb[:, 3]) - (gb[:, 1] + gb[:, 3]),
        ],
        axis=1,
    ).reshape(-1, 4)
    pairs = pd.DataFrame(
        {
            "image_id": l_img[matched],
            "category_id": l_cat[matched],
            "gold_index": gm,
            "label_index": matched.astype(np.int64),
            "iou": label_iou[matched],
            **{edge: offsets[:, i] for i, edge in enumerate(_EDGES)},
            "gold_width": gb[:, 2],
            "gold_height": gb[:, 3],
        }
    )

    cats = np.union1d(
        np.union1d(np.asarray(gold.all_category_ids, dtype=np.int64), g_cat), l_cat
    ).astype(np.int64)
    counted_gold = g_in & ~g_crowd
    counted_lab = ~label_ignored
    n_g = pd.Series(g_cat[counted_gold]).value_counts().reindex(cats, fill_value=0)
    n_l = pd.Series(l_cat[counted_lab]).value_counts().reindex(cats, fill_value=0)
    tp = pd.Series(l_cat[matched]).value_counts().reindex(cats, fill_value=0)
    ign = pd.Series(l_cat[label_ignored & l_in]).value_counts().reindex(cats, fill_value=0)
    by_cat = pairs.groupby("category_id")
    m_iou = by_cat["iou"].mean().reindex(cats)
    abs_err = pairs[list(_EDGES)].abs().mean(axis=1)
    loc = abs_err.groupby(pairs["category_id"]).mean().reindex(cats)
    per_class = pd.DataFrame(
        {
            "n_gold": n_g.to_numpy(),
            "n_labels": n_l.to_numpy(),
            "tp": tp.to_numpy(),
            "fp": (n_l - tp).to_numpy(),
            "fn": (n_g - tp).to_numpy(),
            "ignored": ign.to_numpy(),
        },
        index=pd.Index(cats, name="category_id"),
    )
    t = per_class["tp"].to_numpy(dtype=np.float64)
    f_p = per_class["fp"].to_numpy(dtype=np.float64)
    f_n = per_class["fn"].to_numpy(dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class["precision"] = np.where(t + f_p > 0, t / (t + f_p), np.nan)
        per_class["recall"] = np.where(t + f_n > 0, t / (t + f_n), np.nan)
        per_class["f1"] = np.where(t + f_p + f_n > 0, 2 * t / (2 * t + f_p + f_n), np.nan)
    per_class["mean_iou"] = m_iou.to_numpy()
    per_class["localization_error"] = loc.to_numpy()

    tp_all, fp_all, fn_all = float(t.sum()), float(f_p.sum()), float(f_n.sum())
    params: dict[str, object] = {"iou_threshold": thr, "iou_type": iou_type}

    def result(name: str, value: float, column: str) -> MetricResult:
        series = per_class[column].astype(np.float64)
        return MetricResult(name=name, value=value, per_item=series, params=params)

    return UnscoredMatchResult(
        iou_threshold=thr,
        iou_type=iou_type,
        precision=result("precision", _ratio(tp_all, tp_all + fp_all), "precision"),
        recall=result("recall", _ratio(tp_all, tp_all + fn_all), "recall"),
        f1=result("f1", _ratio(2 * tp_all, 2 * tp_all + fp_all + fn_all), "f1"),
        mean_iou=result(
            "mean_iou",
            float(label_iou[matched].mean()) if matched.size else float("nan"),
            "mean_iou",
        ),
        localization_error=result(
            "localization_error",
            float(abs_err.mean()) if matched.size else float("nan"),
            "localization_error",
        ),
        per_class=per_class,
        pairs=pairs,
        label_match=label_match,
        label_ignored=label_ignored,
        coverage=coverage,
    )


def box_bias(match: UnscoredMatchResult) -> pd.DataFrame:
    """Mean signed offset of each box edge, label minus gold, per class.

    Positive ``left``/``right`` mean the label's edge lies to the right of gold's;
    positive ``top``/``bottom`` mean it lies below. The ``*_rel`` columns divide each
    offset by the gold box's width (left/right) or height (top/bottom) first.

    Parameters
    ----------
    match
        The result of :func:`match_unscored`.

    Returns
    -------
    pandas.DataFrame
        Index ``category_id`` (classes with at least one matched pair); columns ``n``,
        ``left``, ``top``, ``right``, ``bottom``, ``left_rel``, ``top_rel``,
        ``right_rel``, ``bottom_rel``.

    Examples
    --------
    >>> from metrics.detection import DetectionGold, Detections
    >>> gold = DetectionGold.from_arrays(image_ids=[1], category_ids=[7], boxes=[[0, 0, 10, 10]])
    >>> labels = Detections.from_arrays(image_ids=[1], category_ids=[7], boxes=[[1, 0, 10, 10]])
    >>> bias = box_bias(match_unscored(gold, labels))
    >>> bias.loc[7, ["left", "top", "right", "bottom", "left_rel"]].tolist()
    [1.0, 0.0, 1.0, 0.0, 0.1]
    """
    p = match.pairs
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = pd.DataFrame(
            {
                "left_rel": p["left"] / p["gold_width"],
                "top_rel": p["top"] / p["gold_height"],
                "right_rel": p["right"] / p["gold_width"],
                "bottom_rel": p["bottom"] / p["gold_height"],
            }
        ).replace([np.inf, -np.inf], np.nan)
    frame = pd.concat([p[["category_id", *_EDGES]], rel], axis=1)
    grouped = frame.groupby("category_id")
    out = grouped.mean()
    out.insert(0, "n", grouped.size().astype(np.int64))
    out.index.name = "category_id"
    return out
