"""Consensus of several annotators' boxes, masks, keypoints and spans on one item.

Classes are merged by :func:`metrics.aggregation.majority_vote`. Regions cannot be voted
as whole answers (two annotators never draw the same pixels), so each item's consensus
is built region by region, with one rule throughout: **a region is kept when more than
half of the item's annotators put one there**.

Boxes, masks, keypoints (:func:`fuse_boxes`, :func:`fuse_masks`, :func:`fuse_keypoints`)
    1. *Clustering.* The regions of all annotators of the item are clustered by
       similarity (box IoU, mask IoU, or the symmetric OKS of :func:`pose_similarity`),
       complete linkage: pairs of regions of the same category drawn by *different*
       annotators with similarity ``>= threshold`` are taken in descending similarity
       (ties: the order of the answers, then of the regions in an answer), and two
       clusters join when no annotator is in both and every pair of regions across
       them reaches the threshold. A cluster thus holds at most one region per
       annotator.
    2. *Majority.* A cluster is kept when more than half of the item's annotators
       (an empty answer, "nothing here", counts as an annotator) contributed to it;
       the others are dropped and counted in :attr:`ItemFusion.no_majority`.
    3. *Fused region.* A box is the per-coordinate median of the cluster's corners
       (``x1, y1, x2, y2``); a mask is the pixel majority: the pixels more than half of
       the item's annotators cover (crowd-kit's ``SegmentationMajorityVote`` rule, Lee
       2018, applied within the cluster); a pose takes, per keypoint labelled by more
       than half of the cluster, the median ``x`` and ``y`` of those who labelled it
       (``v = 2`` when at least half of them marked it visible, else 1) and ``v = 0``
       elsewhere. A mask with no majority pixel, or a pose with no majority keypoint,
       is dropped and counted.

Spans (:func:`fuse_spans`)
    Character-level majority of the same type: per entity type, a character is in the
    consensus when more than half of the item's annotators cover it with a span of that
    type; consecutive consensus characters form one span, split where more than half of
    the annotators start a span of that type (so adjacent spans stay apart). Each
    maximal run of labelled characters of one type that lacks a majority somewhere is
    counted in :attr:`ItemFusion.no_majority`.

Identical answers fuse to themselves (tested as a property); a single answer is the
consensus of its item.

Examples
--------
>>> a = [{"category": "car", "bbox": [0, 0, 10, 10]}]
>>> b = [{"category": "car", "bbox": [1, 0, 10, 10]}, {"category": "dog", "bbox": [50, 50, 5, 5]}]
>>> c = [{"category": "car", "bbox": [2, 0, 10, 10]}]
>>> fused = fuse_boxes([a, b, c])
>>> fused.objects, fused.no_majority
([{'category': 'car', 'bbox': [1.0, 0.0, 10.0, 10.0]}], 1)
>>> fuse_spans([[(0, 5, "PER")], [(0, 5, "PER"), (7, 9, "LOC")], [(0, 4, "PER")]]).objects
[(0, 5, 'PER')]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "ItemFusion",
    "fuse_boxes",
    "fuse_masks",
    "fuse_keypoints",
    "fuse_spans",
    "pose_similarity",
]

FloatArray = npt.NDArray[np.float64]
Span = tuple[int, int, str]


@dataclass(frozen=True)
class ItemFusion:
    """One item's consensus.

    Attributes
    ----------
    objects
        The fused regions (dicts with ``category`` and ``bbox``, ``segmentation`` or
        ``points``) or spans ``(start, end, type)``, sorted.
    no_majority
        Regions (clusters) or span runs that lacked a majority and were left out.
    n_unusable
        Regions that could not be read (a polygon without the image size) and took no
        part in the vote.
    """

    objects: list[Any]
    no_majority: int
    n_unusable: int = 0


def _clusters(
    owners: Sequence[int], categories: Sequence[str], sim: FloatArray, threshold: float
) -> list[list[int]]:
    """Complete-linkage clusters of regions, at most one region per owner."""
    n = len(owners)
    cluster = list(range(n))
    members: dict[int, list[int]] = {i: [i] for i in range(n)}
    pairs = sorted(
        (
            (-float(sim[i, j]), i, j)
            for i in range(n)
            for j in range(i + 1, n)
            if owners[i] != owners[j] and categories[i] == categories[j] and sim[i, j] >= threshold
        ),
    )
    for _, i, j in pairs:
        ci, cj = cluster[i], cluster[j]
        if ci == cj:
            continue
        a, b = members[ci], members[cj]
        if {owners[k] for k in a} & {owners[k] for k in b}:
            continue
        if min(float(sim[x, y]) for x in a for y in b) < threshold:
            continue
        keep, gone = min(ci, cj), max(ci, cj)
        members[keep] = sorted(members[keep] + members.pop(gone))
        for k in members[keep]:
            cluster[k] = keep
    return [members[k] for k in sorted(members)]


def _majority(cluster: Sequence[int], owners: Sequence[int], n_answers: int) -> bool:
    return 2 * len({owners[k] for k in cluster}) > n_answers


def _flat(
    answers: Sequence[Sequence[Mapping[str, Any]]],
) -> tuple[list[int], list[str], list[Mapping[str, Any]]]:
    owners: list[int] = []
    categories: list[str] = []
    objects: list[Mapping[str, Any]] = []
    for k, answer in enumerate(answers):
        for obj in answer:
            if not isinstance(obj, Mapping) or "category" not in obj:
                raise TypeError(f"answer {k}: a region needs a 'category', got {obj!r}")
            owners.append(k)
            categories.append(str(obj["category"]))
            objects.append(obj)
    return owners, categories, objects


def _check_threshold(threshold: float) -> None:
    if not 0.0 < float(threshold) <= 1.0:
        raise ValueError(f"the similarity threshold must lie in (0, 1], got {threshold!r}")


def fuse_boxes(
    answers: Sequence[Sequence[Mapping[str, Any]]], *, iou_threshold: float = 0.5
) -> ItemFusion:
    """Consensus boxes of one image from several annotators' answers.

    Parameters
    ----------
    answers
        One answer per annotator: a list of dicts with ``category`` and ``bbox``
        (COCO ``[x, y, w, h]``); ``[]`` is the answer "nothing here".
    iou_threshold
        Smallest box IoU of two regions of one cluster.

    Returns
    -------
    ItemFusion
        Fused ``{"category", "bbox"}`` dicts (see the module for the rule).

    Raises
    ------
    TypeError, ValueError
        A region without a category or a 4-number ``bbox``; a threshold outside (0, 1].
    """
    from metrics._matching import box_iou  # scipy: only for boxes

    _check_threshold(iou_threshold)
    owners, categories, objects = _flat(answers)
    boxes = np.zeros((len(objects), 4), dtype=np.float64)
    for i, obj in enumerate(objects):
        bbox = obj.get("bbox")
        if bbox is None or len(bbox) != 4:
            raise ValueError(f"a box needs bbox [x, y, w, h], got {obj!r}")
        boxes[i] = [float(v) for v in bbox]
    sim = box_iou(boxes, boxes) if len(objects) else np.zeros((0, 0))
    fused: list[dict[str, Any]] = []
    dropped = 0
    for cluster in _clusters(owners, categories, sim, iou_threshold):
        if not _majority(cluster, owners, len(answers)):
            dropped += 1
            continue
        b = boxes[cluster]
        corners = np.median(np.column_stack([b[:, :2], b[:, :2] + b[:, 2:]]), axis=0)
        x1, y1, x2, y2 = (float(v) for v in corners)
        fused.append({"category": categories[cluster[0]], "bbox": [x1, y1, x2 - x1, y2 - y1]})
    return ItemFusion(objects=fused, no_majority=dropped)


def fuse_masks(
    answers: Sequence[Sequence[Mapping[str, Any]]], *, iou_threshold: float = 0.5
) -> ItemFusion:
    """Consensus masks of one image from several annotators' answers.

    Parameters
    ----------
    answers
        One answer per annotator: a list of dicts with ``category`` and ``segmentation``
        (COCO RLE, or polygons with the image's ``height`` and ``width`` on the dict).
    iou_threshold
        Smallest mask IoU of two regions of one cluster.

    Returns
    -------
    ItemFusion
        Fused ``{"category", "segmentation"}`` dicts (compressed RLE). A region that
        cannot be rasterised takes no part and is counted in ``n_unusable``.
    """
    from metrics.masks import mask_area, mask_iou, mask_majority, to_rle  # pycocotools

    _check_threshold(iou_threshold)
    owners, categories, objects = _flat(answers)
    rles: list[dict[str, Any]] = []
    kept: list[int] = []
    for i, obj in enumerate(objects):
        try:
            rles.append(
                to_rle(obj["segmentation"], height=obj.get("height"), width=obj.get("width"))
            )
        except (KeyError, TypeError, ValueError):
            continue
        kept.append(i)
    owners = [owners[i] for i in kept]
    categories = [categories[i] for i in kept]
    sim = mask_iou(rles, rles) if rles else np.zeros((0, 0))
    fused: list[dict[str, Any]] = []
    dropped = 0
    for cluster in _clusters(owners, categories, sim, iou_threshold):
        if not _majority(cluster, owners, len(answers)):
            dropped += 1
            continue
        rle = mask_majority([rles[k] for k in cluster], more_than=len(answers) / 2)
        if float(mask_area([rle])[0]) == 0.0:
            dropped += 1
            continue
        fused.append({"category": categories[cluster[0]], "segmentation": rle})
    return ItemFusion(objects=fused, no_majority=dropped, n_unusable=len(objects) - len(kept))


def _pose(obj: Mapping[str, Any]) -> FloatArray:
    raw = obj.get("points")
    raw = obj.get("keypoints") if raw is None else raw
    if raw is None:
        raise ValueError(f"a pose needs 'points' [[x, y, v], ...], got {obj!r}")
    arr = np.asarray(raw, dtype=np.float64)
    if arr.size % 3 or arr.ndim not in (1, 2) or not np.all(np.isfinite(arr)):
        raise ValueError(f"pose points must be finite (x, y, v) triples, got {raw!r}")
    return arr.reshape(-1, 3)


def _pose_area(obj: Mapping[str, Any], kp: FloatArray) -> float:
    if obj.get("area") is not None:
        return float(obj["area"])
    seen = kp[kp[:, 2] > 0]
    if seen.shape[0] == 0:
        return 0.0
    extent = seen[:, :2].max(axis=0) - seen[:, :2].min(axis=0)
    return float(extent[0] * extent[1])


def pose_similarity(
    a: npt.ArrayLike, b: npt.ArrayLike, sigmas: npt.ArrayLike, *, area_a: float, area_b: float
) -> float:
    """Symmetric object keypoint similarity of two poses of one category.

    COCO's OKS, ``mean exp(-d^2 / (2 s^2 (2 sigma)^2))``, taken over the keypoints
    labelled (``v > 0``) in *both* poses, with ``s^2`` the mean of the two areas; 0 when
    no keypoint is labelled in both. It equals COCO's OKS of ``b`` against ``a`` when
    both label the same keypoints and have the same area.

    Parameters
    ----------
    a, b
        ``(K, 3)`` keypoints ``[x, y, v]``.
    sigmas
        ``(K,)`` per-keypoint falloffs.
    area_a, area_b
        The poses' areas (object area, or the extent of their keypoints).

    Examples
    --------
    >>> p = [[0, 0, 2], [10, 0, 2]]
    >>> pose_similarity(p, p, [0.1, 0.1], area_a=100.0, area_b=100.0)
    1.0
    """
    pa, pb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    s = np.asarray(sigmas, dtype=np.float64)
    both = (pa[:, 2] > 0) & (pb[:, 2] > 0)
    if not both.any():
        return 0.0
    d2 = ((pa[:, :2] - pb[:, :2]) ** 2).sum(axis=1)
    area = (area_a + area_b) / 2
    e = d2 / ((2 * s) ** 2) / (area + np.spacing(1)) / 2
    return float(np.exp(-e[both]).mean())


def fuse_keypoints(
    answers: Sequence[Sequence[Mapping[str, Any]]],
    *,
    sigmas: Mapping[str, npt.ArrayLike],
    oks_threshold: float = 0.5,
) -> ItemFusion:
    """Consensus poses of one image from several annotators' answers.

    Parameters
    ----------
    answers
        One answer per annotator: dicts with ``category`` and ``points``
        (``[[x, y, v], ...]``) or COCO's flat ``keypoints``; optional ``area``.
    sigmas
        Per category, the keypoint falloffs of :func:`pose_similarity`; a category
        without sigmas (outside the vocabulary) clusters with 0.1 per keypoint.
    oks_threshold
        Smallest similarity of two poses of one cluster.

    Returns
    -------
    ItemFusion
        Fused ``{"category", "points"}`` dicts (see the module for the rule).
    """
    _check_threshold(oks_threshold)
    owners, categories, objects = _flat(answers)
    poses = [_pose(obj) for obj in objects]
    areas = [_pose_area(obj, kp) for obj, kp in zip(objects, poses, strict=True)]
    n = len(poses)
    sim = np.zeros((n, n), dtype=np.float64)
    for i in range(n):
        for j in range(i + 1, n):
            if categories[i] != categories[j] or poses[i].shape != poses[j].shape:
                continue
            s = sigmas.get(categories[i])
            s_arr = np.full(poses[i].shape[0], 0.1) if s is None else np.asarray(s, np.float64)
            sim[i, j] = sim[j, i] = pose_similarity(
                poses[i], poses[j], s_arr, area_a=areas[i], area_b=areas[j]
            )
    fused: list[dict[str, Any]] = []
    dropped = 0
    for cluster in _clusters(owners, categories, sim, oks_threshold):
        if not _majority(cluster, owners, len(answers)):
            dropped += 1
            continue
        stack = np.stack([poses[k] for k in cluster])  # (m, K, 3)
        labelled = stack[:, :, 2] > 0
        out = np.zeros(stack.shape[1:], dtype=np.float64)
        for j in np.flatnonzero(2 * labelled.sum(axis=0) > len(cluster)).tolist():
            rows = stack[labelled[:, j], j]
            out[j, :2] = np.median(rows[:, :2], axis=0)
            out[j, 2] = 2.0 if 2 * int((rows[:, 2] == 2).sum()) >= rows.shape[0] else 1.0
        if not (out[:, 2] > 0).any():
            dropped += 1
            continue
        fused.append({"category": categories[cluster[0]], "points": out.tolist()})
    return ItemFusion(objects=fused, no_majority=dropped)


def _runs(mask: npt.NDArray[np.bool_], splits: npt.NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Maximal runs of ``mask``, also cut before each position where ``splits`` holds."""
    out: list[tuple[int, int]] = []
    start = -1
    for p, on in enumerate(mask.tolist()):
        if on and (start < 0 or splits[p]):
            if start >= 0:
                out.append((start, p))
            start = p
        elif not on and start >= 0:
            out.append((start, p))
            start = -1
    if start >= 0:
        out.append((start, len(mask)))
    return out


def fuse_spans(answers: Sequence[Sequence[Span]]) -> ItemFusion:
    """Consensus spans of one text from several annotators' answers.

    Parameters
    ----------
    answers
        One answer per annotator: ``(start, end, type)`` character spans
        (``0 <= start < end``); ``[]`` is the answer "no entities".

    Returns
    -------
    ItemFusion
        The consensus spans, sorted (see the module for the rule).

    Raises
    ------
    ValueError
        A span with ``start >= end`` or a negative start.
    """
    n = len(answers)
    length = 0
    types: set[str] = set()
    for answer in answers:
        for start, end, kind in answer:
            if not 0 <= int(start) < int(end):
                raise ValueError(f"a span needs 0 <= start < end, got {(start, end, kind)!r}")
            length = max(length, int(end))
            types.add(str(kind))
    fused: list[Span] = []
    dropped = 0
    for kind in sorted(types):
        cover = np.zeros(length, dtype=np.int64)
        starts = np.zeros(length, dtype=np.int64)
        for answer in answers:
            mine = np.zeros(length, dtype=bool)
            begins = np.zeros(length, dtype=bool)
            for start, end, k in answer:
                if str(k) == kind:
                    mine[int(start) : int(end)] = True
                    begins[int(start)] = True
            cover += mine
            starts += begins
        majority = 2 * cover > n
        fused += [(s, e, kind) for s, e in _runs(majority, 2 * starts > n)]
        labelled = _runs(cover > 0, np.zeros(length, dtype=bool))
        dropped += sum(1 for s, e in labelled if not majority[s:e].all())
    return ItemFusion(objects=sorted(fused), no_majority=dropped)
