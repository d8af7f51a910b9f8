"""Disagreement flags for bounding boxes (see :mod:`metrics.flags` for the four reasons).

Boxes are long frames with ``task``, ``worker`` (candidates only), ``label``, ``x``, ``y``,
``width``, ``height`` and optionally ``score``; gold boxes have no ``worker``. IoU comes from
:func:`metrics.detection.box_iou`; candidate and gold boxes are paired one-to-one by maximum total
IoU regardless of class, so that a wrong class shows as such.

Masks: frames that also carry a ``segmentation`` column (:data:`MASK`, each region's COCO RLE,
all regions of one task of one size) are compared by **mask IoU**
(:func:`metrics.masks.mask_iou`, equal to ``pycocotools.mask.iou``, the IoU the segmentation
scorer matches on), not by their boxes: two masks with the same tight box may barely overlap.
The box columns then hold each mask's tight box (used by the edge-bias flags).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics._flag_frame import GOLD, Flags, _build, _empty
from metrics.detection import box_iou
from metrics.label_issues import BOX_COLUMNS, _check_boxes, _find_box_label_issues_impl
from metrics.types import LABEL, SCORE, TASK, WORKER

__all__ = [
    "MASK",
    "box_edge_bias_flags",
    "box_vendor_vs_gold_flags",
    "box_model_vs_label_flags",
    "box_candidates_disagree_flags",
    "box_gold_may_be_wrong_flags",
]

# A single box error never reaches certainty, so several errors on one item outrank one.
_MAX_BOX_SEVERITY: Final = 0.95

MASK: Final = "segmentation"
"""Optional column of compressed COCO RLEs: regions are then compared by mask IoU."""


# --------------------------------------------------------------------------- boxes


def _match(
    iou: npt.NDArray[np.float64], *, min_iou: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One-to-one matching maximising total IoU over pairs with ``iou >= min_iou``."""
    from scipy.optimize import linear_sum_assignment

    if iou.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    weight = np.where(iou >= min_iou, iou, 0.0)
    r, c = linear_sum_assignment(weight, maximize=True)
    keep = weight[r, c] > 0
    return r[keep].astype(np.int64), c[keep].astype(np.int64)


def _split(frame: pd.DataFrame, keys: list[str]) -> dict[Any, pd.DataFrame]:
    if frame.empty:
        return {}
    grouped = frame.groupby(keys if len(keys) > 1 else keys[0], sort=False)
    # Not dict(grouped): GroupBy has a ``keys`` attribute, which dict() mistakes for a mapping.
    return {key: rows for key, rows in grouped}  # noqa: C416


def _boxes_arr(frame: pd.DataFrame | None) -> npt.NDArray[np.float64]:
    if frame is None or frame.empty:
        return np.zeros((0, 4))
    return frame[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)


@dataclass(frozen=True)
class _Regions:
    """One task's regions of one side: boxes ``[x, y, w, h]`` and, for masks, their RLEs."""

    boxes: npt.NDArray[np.float64]
    rles: list[Any] | None

    def __len__(self) -> int:
        return len(self.boxes)

    def take(self, index: Sequence[int] | npt.NDArray[np.int64]) -> _Regions:
        idx = [int(i) for i in index]
        return _Regions(self.boxes[idx], None if self.rles is None else [self.rles[i] for i in idx])


def _regions(frame: pd.DataFrame | None) -> _Regions:
    boxes = _boxes_arr(frame)
    if frame is None or frame.empty or MASK not in frame.columns:
        return _Regions(boxes, None)
    return _Regions(boxes, list(frame[MASK]))


def _region_iou(a: _Regions, b: _Regions) -> npt.NDArray[np.float64]:
    """Box IoU, or mask IoU where both sides are masks."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    if a.rles is None and b.rles is None:
        return box_iou(a.boxes, b.boxes)
    if a.rles is None or b.rles is None:
        raise ValueError(f"masks can only be compared with masks (column {MASK!r} on one side)")
    from metrics.masks import mask_iou  # pycocotools: only for masks

    return mask_iou(a.rles, b.rles)


def _labels_arr(frame: pd.DataFrame | None) -> npt.NDArray[Any]:
    if frame is None or frame.empty:
        return np.zeros(0, dtype=object)
    return frame[LABEL].to_numpy()


def _scores_arr(frame: pd.DataFrame | None) -> npt.NDArray[np.float64]:
    if frame is None or frame.empty:
        return np.zeros(0)
    if SCORE not in frame.columns:
        return np.ones(len(frame))
    s = frame[SCORE].to_numpy(dtype=np.float64)
    return np.where(np.isnan(s), 1.0, s)


def _task_list(tasks: Sequence[Hashable] | None, *frames: pd.DataFrame) -> list[Hashable]:
    if tasks is not None:
        return list(tasks)
    seen: dict[Hashable, None] = {}
    for f in frames:
        for t in f[TASK].tolist():
            seen.setdefault(t, None)
    return list(seen)


def _check_candidate_boxes(boxes: pd.DataFrame) -> pd.DataFrame:
    boxes = _check_boxes(boxes, name="boxes", with_score=False)
    if WORKER not in boxes.columns:
        raise ValueError("boxes lacks column 'worker' (which candidate drew each box)")
    if boxes[WORKER].isna().any():
        raise ValueError(
            f"boxes rows {np.flatnonzero(boxes[WORKER].isna().to_numpy())[:5]} lack a worker"
        )
    if SCORE in boxes.columns:
        s = boxes[SCORE].to_numpy(dtype=np.float64)
        bad = (s < 0) | (s > 1)
        if bad.any():
            raise ValueError(f"boxes.score must lie in [0, 1]; rows {np.flatnonzero(bad)[:5]}")
    return boxes


def box_vendor_vs_gold_flags(
    boxes: pd.DataFrame,
    gold_boxes: pd.DataFrame,
    *,
    iou_threshold: float = 0.5,
    match_iou: float = 0.1,
    tasks: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag each (item, vendor) whose boxes differ from gold.

    Gold and vendor boxes are matched one-to-one (maximum total IoU over pairs
    with IoU at least ``match_iou``). Errors: ``missed`` (unmatched gold box),
    ``extra`` (unmatched vendor box), ``wrong_class`` (matched, other class),
    ``low_iou`` (matched, same class, IoU below ``iou_threshold``).

    Each error's severity is ``0.95 * confidence * support``: ``confidence`` is
    the vendor box's score (1 when absent; 1 for a missed box, and
    ``1 - IoU / iou_threshold`` for a low IoU) and ``support`` the share of the
    *other* candidates that back gold on that box (drew it / gave it gold's class
    / drew it tightly; for an extra box: did not draw it); 1 with no other
    candidate. The item's ``score = 1 - prod(1 - severity)``.

    Parameters
    ----------
    boxes
        Candidates' boxes: ``task``, ``worker``, ``label``, ``x``, ``y``,
        ``width``, ``height`` [, ``score``] [, ``segmentation``: masks, compared by
        mask IoU; see the module].
    gold_boxes
        Gold boxes: ``task``, ``label``, ``x``, ``y``, ``width``, ``height``
        [, ``segmentation``].
    iou_threshold
        A matched box with lower IoU is a localisation error.
    match_iou
        Minimum IoU for two boxes to be matched at all.
    tasks
        Gold items (every vendor is expected to label each); default: tasks in ``gold_boxes``.

    Returns
    -------
    Flags
        ``reason="vendor_vs_gold"``; ``kind`` = the most severe error; ``group`` =
        its gold (or vendor) class; ``detail`` counts each kind.
    """
    boxes = _check_candidate_boxes(boxes)
    gold_boxes = _check_boxes(gold_boxes, name="gold_boxes", with_score=False)
    if not 0.0 < match_iou <= iou_threshold <= 1.0:
        raise ValueError("need 0 < match_iou <= iou_threshold <= 1")
    task_list = _task_list(tasks, gold_boxes)
    gold_by = _split(gold_boxes, [TASK])
    cand_by = _split(boxes, [TASK, WORKER])
    workers = list(dict.fromkeys(boxes[WORKER].tolist()))
    rows: list[tuple[Any, ...]] = []
    n_others = max(len(workers) - 1, 1)
    for task in task_list:
        g = gold_by.get(task)
        gb, gl = _regions(g), _labels_arr(g)
        per_worker = []
        # Per gold box: which workers drew it, gave it gold's class, drew it tightly.
        drew = np.zeros((len(workers), len(gb)), dtype=bool)
        same_class = np.zeros_like(drew)
        tight = np.zeros_like(drew)
        for wi, worker in enumerate(workers):
            c = cand_by.get((task, worker))
            cb, cl, cs = _regions(c), _labels_arr(c), _scores_arr(c)
            iou = _region_iou(gb, cb)
            r, k = _match(iou, min_iou=match_iou)
            drew[wi, r] = True
            same_class[wi, r] = gl[r] == cl[k] if len(r) else False
            tight[wi, r] = iou[r, k] >= iou_threshold
            extra = np.array(sorted(set(range(len(cb))) - set(k.tolist())), dtype=np.int64)
            per_worker.append((cb, cl, cs, iou, r, k, extra))
        for wi, worker in enumerate(workers):
            cb, cl, cs, iou, r, k, extra = per_worker[wi]
            others = np.arange(len(workers)) != wi
            sev: list[tuple[float, str, object]] = []

            def support(
                flags_: npt.NDArray[np.bool_], i: int, _o: npt.NDArray[np.bool_] = others
            ) -> float:
                return float(flags_[_o, i].sum()) / n_others if len(workers) > 1 else 1.0

            for i in sorted(set(range(len(gb))) - set(r.tolist())):
                sev.append((_MAX_BOX_SEVERITY * support(drew, i), "missed", gl[i]))
            for j in extra.tolist():
                backers = 0
                for wj in np.flatnonzero(others).tolist():
                    ob, ol, _, _, _, _, oextra = per_worker[wj]
                    near = _region_iou(cb.take([j]), ob.take(oextra)) if len(oextra) else None
                    if near is not None and (near[0] >= match_iou).any():
                        backers += 1
                sup = 1.0 - backers / n_others if len(workers) > 1 else 1.0
                sev.append((_MAX_BOX_SEVERITY * cs[j] * sup, "extra", cl[j]))
            for i, j in zip(r.tolist(), k.tolist(), strict=True):
                if gl[i] != cl[j]:
                    s_ = _MAX_BOX_SEVERITY * cs[j] * support(same_class, i)
                    sev.append((s_, "wrong_class", gl[i]))
                elif iou[i, j] < iou_threshold:
                    s_ = _MAX_BOX_SEVERITY * (1.0 - iou[i, j] / iou_threshold) * support(tight, i)
                    sev.append((s_, "low_iou", gl[i]))
            if not sev:
                continue
            score = 1.0 - float(np.prod([1.0 - s for s, _, _ in sev]))
            worst = max(sev, key=lambda e: e[0])
            counts = {
                kd: sum(1 for _, x, _ in sev if x == kd)
                for kd in ("missed", "extra", "wrong_class", "low_iou")
            }
            detail = " ".join(f"{kd}={n}" for kd, n in counts.items())
            rows.append((task, worker, worst[1], score, str(worst[2]), detail))
    if not rows:
        return _empty()
    cols = list(zip(*rows, strict=True))
    return _build(
        task=list(cols[0]),
        worker=list(cols[1]),
        reason="vendor_vs_gold",
        kind=list(cols[2]),
        score=list(cols[3]),
        group=list(cols[4]),
        detail=list(cols[5]),
    )


def box_model_vs_label_flags(
    predictions: pd.DataFrame,
    *,
    boxes: pd.DataFrame | None = None,
    gold_boxes: pd.DataFrame | None = None,
    tasks: Sequence[Hashable] | None = None,
    classes: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag items whose boxes a detector contradicts (cleanlab ObjectLab), per labeller.

    Parameters
    ----------
    predictions
        Out-of-sample model boxes with ``score``.
    boxes
        Optional candidates' boxes (with ``worker``); each worker is checked.
    gold_boxes
        Optional gold boxes, checked as worker ``"gold"``.
    tasks
        All items (also those without boxes); default: every task seen.
    classes
        Class order; default: sorted union of labels.

    Returns
    -------
    Flags
        ``reason="model_vs_label"``, ``kind="label_issue"``, ``score = 1 - label_quality``.
    """
    predictions = _check_boxes(predictions, name="predictions", with_score=True)
    parts: list[tuple[object, pd.DataFrame]] = []
    if boxes is not None:
        boxes = _check_candidate_boxes(boxes)
        parts.extend((w, g) for w, g in boxes.groupby(WORKER, sort=True))
    if gold_boxes is not None:
        parts.append((GOLD, _check_boxes(gold_boxes, name="gold_boxes", with_score=False)))
    frames = [predictions] + [p for _, p in parts]
    task_index = pd.Index(_task_list(tasks, *frames))
    if classes is None:
        labels = pd.concat([f[LABEL] for f in frames]).unique().tolist()
        class_index = pd.Index(sorted(labels, key=str))
    else:
        class_index = pd.Index(list(classes))
    out: list[Flags] = []
    for worker, b in parts:
        res = _find_box_label_issues_impl(b, predictions, task_index, class_index)
        f = res.frame
        hit = f["is_label_issue"].to_numpy()
        out.append(
            _build(
                task=f.index.to_numpy()[hit],
                worker=np.full(int(hit.sum()), worker, dtype=object),
                reason="model_vs_label",
                kind="label_issue",
                score=1.0 - f["label_quality"].to_numpy()[hit],
                detail=[f"{int(n)} boxes" for n in f["n_boxes"].to_numpy()[hit]],
            )
        )
    return Flags.concat(out)


def _pair_f1(
    ab: _Regions,
    al: npt.NDArray[Any],
    bb: _Regions,
    bl: npt.NDArray[Any],
    iou_threshold: float,
) -> tuple[float, list[object]]:
    """F1 of two region sets (same class, IoU >= threshold) and the classes left unmatched."""
    if len(ab) == 0 and len(bb) == 0:
        return 1.0, []
    iou = _region_iou(ab, bb)
    same = al[:, None] == bl[None, :] if len(ab) and len(bb) else np.zeros((len(ab), len(bb)), bool)
    r, c = _match(np.where(same, iou, 0.0), min_iou=iou_threshold)
    tp = len(r)
    f1 = 2.0 * tp / (len(ab) + len(bb))
    left = [al[i] for i in set(range(len(ab))) - set(r.tolist())]
    left += [bl[j] for j in set(range(len(bb))) - set(c.tolist())]
    return f1, left


def box_candidates_disagree_flags(
    boxes: pd.DataFrame,
    *,
    iou_threshold: float = 0.5,
    min_disagreement: float = 0.3,
    tasks: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag items where the candidates' boxes agree least with each other.

    Agreement of two candidates is the F1 of their boxes (same class, IoU at
    least ``iou_threshold``; two empty sets agree fully); ``score = 1 - mean
    pairwise F1``. ``group`` is the class most often left unmatched.

    Parameters
    ----------
    boxes
        Candidates' boxes with ``worker``.
    iou_threshold
        IoU for two boxes to count as the same object.
    min_disagreement
        Flag items whose score is at least this.
    tasks
        Items every candidate labelled (a candidate without a box on an item
        drew nothing there); default: every task in ``boxes``.

    Returns
    -------
    Flags
        ``worker=None``, ``reason="candidates_disagree"``, ``kind="box_disagreement"``.
    """
    boxes = _check_candidate_boxes(boxes)
    task_list = _task_list(tasks, boxes)
    workers = list(dict.fromkeys(boxes[WORKER].tolist()))
    by = _split(boxes, [TASK, WORKER])
    rows: list[tuple[Any, float, object, str]] = []
    if len(workers) < 2:
        return _empty()
    for task in task_list:
        sets = [by.get((task, w)) for w in workers]
        f1s: list[float] = []
        left: list[object] = []
        for i in range(len(workers)):
            for j in range(i + 1, len(workers)):
                f1, lft = _pair_f1(
                    _regions(sets[i]),
                    _labels_arr(sets[i]),
                    _regions(sets[j]),
                    _labels_arr(sets[j]),
                    iou_threshold,
                )
                f1s.append(f1)
                left.extend(lft)
        score = 1.0 - float(np.mean(f1s))
        if score >= min_disagreement - 1e-12:
            group = pd.Series(left).astype(str).value_counts().index[0] if left else None
            n_boxes = [0 if s is None else len(s) for s in sets]
            rows.append((task, score, group, f"boxes per candidate: {n_boxes}"))
    if not rows:
        return _empty()
    t, s, g, d = zip(*rows, strict=True)
    return _build(
        task=list(t),
        worker=None,
        reason="candidates_disagree",
        kind="box_disagreement",
        score=list(s),
        group=list(g),
        detail=list(d),
    )


def box_gold_may_be_wrong_flags(
    boxes: pd.DataFrame,
    gold_boxes: pd.DataFrame,
    *,
    iou_threshold: float = 0.5,
    min_agreement: float = 0.5,
    tasks: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag items whose gold boxes most candidates contradict in the same way.

    With ``n`` candidates, per gold box: if more than ``min_agreement * n``
    candidates matched it (IoU at least ``iou_threshold``) with one other class,
    gold's class is outvoted; if more than that many did *not* draw it at all,
    gold's box may be spurious. Per candidate box unmatched to gold: if more than
    ``min_agreement * n`` candidates drew it (same class, IoU at least the
    threshold), gold missed it. ``score`` is the largest such share on the item.

    Parameters
    ----------
    boxes
        Candidates' boxes with ``worker``.
    gold_boxes
        Gold boxes.
    iou_threshold
        IoU for two boxes to be the same object.
    min_agreement
        Share of candidates (exclusive) needed to outvote gold.
    tasks
        Gold items; default: tasks in either frame.

    Returns
    -------
    Flags
        ``worker="gold"``, ``reason="gold_may_be_wrong"``, ``kind`` one of
        ``wrong_class``, ``extra`` (gold box nobody drew) or ``missed``.
    """
    boxes = _check_candidate_boxes(boxes)
    gold_boxes = _check_boxes(gold_boxes, name="gold_boxes", with_score=False)
    task_list = _task_list(tasks, gold_boxes, boxes)
    workers = list(dict.fromkeys(boxes[WORKER].tolist()))
    n = len(workers)
    if n == 0:
        return _empty()
    gold_by = _split(gold_boxes, [TASK])
    cand_by = _split(boxes, [TASK, WORKER])
    rows: list[tuple[Any, str, float, object, object, str]] = []
    for task in task_list:
        g = gold_by.get(task)
        gb, gl = _regions(g), _labels_arr(g)
        matched_any = np.zeros(len(gb))
        other_class: list[list[object]] = [[] for _ in range(len(gb))]
        unmatched: list[tuple[_Regions, npt.NDArray[Any]]] = []
        for w in workers:
            c = cand_by.get((task, w))
            cb, cl = _regions(c), _labels_arr(c)
            iou = _region_iou(gb, cb)
            r, k = _match(iou, min_iou=iou_threshold)
            for i, j in zip(r.tolist(), k.tolist(), strict=True):
                matched_any[i] += 1
                if cl[j] != gl[i]:
                    other_class[i].append(cl[j])
            rest = sorted(set(range(len(cb))) - set(k.tolist()))
            unmatched.append((cb.take(rest), cl[rest]))
        best: tuple[str, float, object, object] | None = None
        for i in range(len(gb)):
            if other_class[i]:
                vc = pd.Series(other_class[i]).value_counts()
                share = float(vc.iloc[0]) / n
                if share > min_agreement and (best is None or share > best[1]):
                    best = ("wrong_class", share, gl[i], vc.index[0])
            absent = (n - matched_any[i]) / n
            if absent > min_agreement and (best is None or absent > best[1]):
                best = ("extra", absent, gl[i], None)
        # Boxes gold lacks: count candidates drawing the same unmatched box.
        for wi, (ub, ul) in enumerate(unmatched):
            for bi in range(len(ub)):
                votes = 1
                for wj, (vb, vl) in enumerate(unmatched):
                    if wj == wi or len(vb) == 0:
                        continue
                    iou = _region_iou(ub.take([bi]), vb)[0]
                    if np.any((iou >= iou_threshold) & (vl == ul[bi])):
                        votes += 1
                share = votes / n
                if share > min_agreement and (best is None or share > best[1]):
                    best = ("missed", share, ul[bi], ul[bi])
        if best is not None:
            kind, share, cls, sugg = best
            rows.append((task, kind, share, str(cls), sugg, f"{kind}: {share:.0%} of candidates"))
    if not rows:
        return _empty()
    cols = list(zip(*rows, strict=True))
    return _build(
        task=list(cols[0]),
        worker=np.full(len(rows), GOLD, dtype=object),
        reason="gold_may_be_wrong",
        kind=list(cols[1]),
        score=list(cols[2]),
        group=list(cols[3]),
        suggested=list(cols[4]),
        detail=list(cols[5]),
    )


_EDGE_NAMES: Final = ("left", "top", "right", "bottom")


def _edges(box: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``[x, y, w, h]`` rows as ``[left, top, right, bottom]``."""
    return np.column_stack((box[:, 0], box[:, 1], box[:, 0] + box[:, 2], box[:, 1] + box[:, 3]))


def box_edge_bias_flags(
    boxes: pd.DataFrame,
    gold_boxes: pd.DataFrame,
    *,
    min_px: float = 2.0,
    match_iou: float = 0.1,
    confidence: float = 0.95,
    tasks: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag the items where a candidate's systematic box-edge bias shows.

    Per candidate, class and edge, the offsets (candidate - gold, pixels) of one-to-one
    matched boxes are averaged; a bias is *systematic* when its ``confidence`` t-interval
    excludes 0 and its mean exceeds ``min_px`` (a convention, e.g. shadows included, rather
    than noise). Each item with a matched box of that class whose offset on that edge goes
    the bias's way by more than ``min_px`` is flagged, so QA sees the convention on real
    images.

    Parameters
    ----------
    boxes, gold_boxes, match_iou, tasks
        As :func:`box_vendor_vs_gold_flags`.
    min_px
        Smallest mean offset (pixels) that matters.
    confidence
        Level of the interval on the mean offset.

    Returns
    -------
    Flags
        ``reason="vendor_vs_gold"``, ``kind="box_bias"``, ``group`` the class, ``score`` the
        share of the item's boxes of that class that show the bias, ``detail`` e.g.
        ``"vehicle right edge +4.8 px on average over 29 boxes"``.
    """
    from scipy import stats

    boxes = _check_candidate_boxes(boxes)
    gold_boxes = _check_boxes(gold_boxes, name="gold_boxes", with_score=False)
    task_list = _task_list(tasks, gold_boxes)
    gold_by = _split(gold_boxes, [TASK])
    cand_by = _split(boxes, [TASK, WORKER])
    workers = list(dict.fromkeys(boxes[WORKER].tolist()))
    # (worker, class) -> list of (task, offsets[4])
    pairs: dict[tuple[Any, str], list[tuple[Any, npt.NDArray[np.float64]]]] = {}
    for task in task_list:
        g = gold_by.get(task)
        gr, gl = _regions(g), _labels_arr(g)
        for worker in workers:
            c = cand_by.get((task, worker))
            cr, cl = _regions(c), _labels_arr(c)
            r, k = _match(_region_iou(gr, cr), min_iou=match_iou)
            cb, gb = cr.boxes, gr.boxes
            for i, j in zip(r.tolist(), k.tolist(), strict=True):
                if gl[i] == cl[j]:
                    offset = _edges(cb[j : j + 1])[0] - _edges(gb[i : i + 1])[0]
                    pairs.setdefault((worker, str(gl[i])), []).append((task, offset))
    rows: list[tuple[Any, ...]] = []
    for (worker, cls), found in pairs.items():
        offsets = np.array([o for _, o in found])
        n = len(offsets)
        if n < 2:
            continue
        mean = offsets.mean(axis=0)
        sd = offsets.std(axis=0, ddof=1)
        half = stats.t.ppf(1 - (1 - confidence) / 2, n - 1) * sd / np.sqrt(n)
        for e, edge in enumerate(_EDGE_NAMES):
            if abs(mean[e]) <= min_px or abs(mean[e]) <= half[e]:
                continue
            sign = np.sign(mean[e])
            detail = f"{cls} {edge} edge {mean[e]:+.1f} px on average over {n} boxes"
            per_task: dict[Any, list[bool]] = {}
            for task, offset in found:
                per_task.setdefault(task, []).append(bool(sign * offset[e] > min_px))
            for task, shows in per_task.items():
                if any(shows):
                    rows.append((task, worker, float(np.mean(shows)), cls, detail))
    if not rows:
        return _empty()
    cols = list(zip(*rows, strict=True))
    return _build(
        task=list(cols[0]),
        worker=list(cols[1]),
        reason="vendor_vs_gold",
        kind="box_bias",
        score=list(cols[2]),
        group=list(cols[3]),
        detail=list(cols[4]),
    )
