"""Score keypoints (poses): main metric **per-image keypoint F1 @ OKS 0.5**.

A candidate's poses are paired one-to-one with gold poses of the same category, greedily
by object keypoint similarity (OKS, :mod:`metrics.keypoints`), keeping pairs with OKS
``>= iou_threshold``. An image's score is ``2 * matched / (n_gold + n_labelled)``, and 1
where neither side has a pose; gold poses with no labelled keypoint or ``iscrowd`` are
ignored (as COCOeval does). ``per_image_keypoint_f1`` is the mean over answered images,
``per_image_keypoint_f1_all`` over all gold images (unanswered = 0; the ranking metric).

Also, pooled over answered images: ``pose_precision``, ``pose_recall``, ``pose_f1`` and
``mean_oks`` of matched pairs; per-category counts and F1; the 10 COCO keypoint AP/AR
numbers (:func:`metrics.keypoints.evaluate_keypoints`, equal to
``COCOeval(iouType="keypoints")``; poses without a confidence count with confidence 1) in
:attr:`Scored.coco`; and, in ``Scored.extra["per_keypoint"]``, a table with one row per
category and keypoint: mean similarity and median pixel error.

A crowd is scored on its consensus pose per image (:func:`metrics.fusion.fuse_keypoints`:
symmetric-OKS clustering, a pose kept when more than half of the image's annotators drew
one, per-keypoint median), with a ``crowd_no_majority`` warning counting poses left out
and each annotator's mean per-image F1 against gold and consensus in ``per_annotator``.

Objects are dicts: ``category`` and ``points`` (``[[x, y, v], ...]`` in the category's
keypoint order) or COCO's flat ``keypoints`` (``[x1, y1, v1, ...]``); optional ``score``
and, in gold, ``bbox``, ``area``, ``iscrowd``, ``id``, ``num_keypoints`` (default: the
extent of the labelled keypoints, its area, not crowd, file order, the count of ``v > 0``).

Examples
--------
>>> import pandas as pd
>>> pose = {"category": "person", "points": [[10, 10, 2], [20, 10, 2], [15, 20, 2]]}
>>> opts = ScoringOptions(keypoint_sigmas=(("person", (0.1, 0.1, 0.1)),))
>>> s = score(pd.Series([[pose]], index=["i1"]), pd.Series([[pose]], index=["i1"]), options=opts)
>>> s.main_title, s.value("per_image_keypoint_f1"), round(s.coco["AP"], 9)
('per-image keypoint F1 @ OKS 0.5', 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.fusion import ItemFusion, fuse_keypoints
from metrics.keypoints import (
    COCO_PERSON_SIGMAS,
    KEYPOINT_STAT_NAMES,
    KeypointDetections,
    KeypointGold,
    evaluate_keypoints,
)
from metrics.scoring import _assemble
from metrics.scoring._crowd import fuse, no_majority_warning, region_annotator_table
from metrics.scoring._intervals import Ratio
from metrics.scoring.base import Scored, ScoringOptions, ScoringWarning

__all__ = ["MAIN_METRIC", "main_title", "score"]

MAIN_METRIC = "per_image_keypoint_f1"
FloatArray = npt.NDArray[np.float64]


def main_title(oks_threshold: float) -> str:
    """The main metric's name in words, e.g. ``per-image keypoint F1 @ OKS 0.5``."""
    return f"per-image keypoint F1 @ OKS {oks_threshold:g}"


@dataclass(eq=False)
class _Flat:
    image: list[int] = field(default_factory=list)
    category: list[str] = field(default_factory=list)
    points: list[FloatArray] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)
    crowd: list[bool] = field(default_factory=list)
    boxes: list[list[float]] = field(default_factory=list)
    areas: list[float] = field(default_factory=list)
    ids: list[int | None] = field(default_factory=list)
    num: list[int] = field(default_factory=list)


def _points(task: Any, obj: Mapping[str, Any]) -> FloatArray:
    raw = obj.get("points")
    raw = obj.get("keypoints") if raw is None else raw
    if raw is None:
        raise ValueError(f"task {task!r}: a pose needs 'points' [[x, y, v], ...], got {obj!r}")
    try:
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"task {task!r}: pose points must be numbers, got {raw!r}") from exc
    if arr.size % 3 or arr.ndim not in (1, 2) or (arr.ndim == 2 and arr.shape[1] != 3):
        raise ValueError(f"task {task!r}: pose points must be (x, y, v) triples, got {raw!r}")
    arr = arr.reshape(-1, 3)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"task {task!r}: pose points must be finite numbers, got {raw!r}")
    return arr


def _extent(kp: FloatArray) -> list[float]:
    seen = kp[kp[:, 2] > 0]
    if seen.shape[0] == 0:
        return [0.0, 0.0, 0.0, 0.0]
    x0, y0 = float(seen[:, 0].min()), float(seen[:, 1].min())
    return [x0, y0, float(seen[:, 0].max()) - x0, float(seen[:, 1].max()) - y0]


def _flatten(values: pd.Series[Any], position: Mapping[Any, int]) -> _Flat:
    flat = _Flat()
    for task, value in values.items():
        if not isinstance(value, list | tuple):
            raise TypeError(f"task {task!r}: expected a list of poses, got {value!r}")
        for obj in value:
            if not isinstance(obj, Mapping) or "category" not in obj:
                raise TypeError(f"task {task!r}: a pose needs a 'category', got {obj!r}")
            kp = _points(task, obj)
            box = obj.get("bbox")
            box = [float(v) for v in box] if box is not None else _extent(kp)
            area = obj.get("area")
            flat.image.append(position[task])
            flat.category.append(str(obj["category"]))
            flat.points.append(kp)
            flat.scores.append(None if obj.get("score") is None else float(obj["score"]))
            flat.crowd.append(bool(obj.get("iscrowd", False)))
            flat.boxes.append(box)
            flat.areas.append(float(area) if area is not None else box[2] * box[3])
            flat.ids.append(None if obj.get("id") is None else int(obj["id"]))
            n = obj.get("num_keypoints")
            flat.num.append(int(n) if n is not None else int(np.count_nonzero(kp[:, 2] > 0)))
    return flat


def _sigmas(
    names: list[str], n_k: Mapping[str, int], options: ScoringOptions
) -> dict[str, FloatArray]:
    given = {c: np.asarray(s, dtype=np.float64) for c, s in options.keypoint_sigmas}
    out: dict[str, FloatArray] = {}
    for c in names:
        k = n_k.get(c)
        if k is None:
            continue
        s = given.get(c, given.get("*"))
        if s is None:
            if k != COCO_PERSON_SIGMAS.shape[0]:
                raise ValueError(
                    f"category {c!r} has {k} keypoints and no sigmas; give its keypoint "
                    "sigmas in the ontology (keypoint_sigmas)"
                )
            s = COCO_PERSON_SIGMAS
        if s.shape[0] != k:
            raise ValueError(f"category {c!r}: {s.shape[0]} sigmas for {k} keypoints")
        out[c] = s
    return out


def _oks(g: FloatArray, d: FloatArray, area: float, sigmas: FloatArray) -> float:
    """COCOeval's OKS of one detection against one gold pose."""
    var = (2 * sigmas) ** 2
    dx, dy = d[:, 0] - g[:, 0], d[:, 1] - g[:, 1]
    e = (dx**2 + dy**2) / var / (area + np.spacing(1)) / 2
    visible = g[:, 2] > 0
    return float(np.exp(-e[visible]).mean()) if visible.any() else 0.0


def _match(
    g: _Flat, lab: _Flat, sig: Mapping[str, FloatArray], threshold: float, n: int
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, dict[str, list[int]]]:
    """Per image: matched pairs, labelled poses, scored gold poses, sum of matched OKS."""
    tp, n_lab, n_gold, oks_sum = (np.zeros(n) for _ in range(4))
    per_cat: dict[str, list[int]] = {}  # category -> [support, labelled, matched]
    usable = [not c and k > 0 for c, k in zip(g.crowd, g.num, strict=True)]
    for i, (img, cat) in enumerate(zip(g.image, g.category, strict=True)):
        if usable[i]:
            n_gold[img - 1] += 1
            per_cat.setdefault(cat, [0, 0, 0])[0] += 1
    for img, cat in zip(lab.image, lab.category, strict=True):
        n_lab[img - 1] += 1
        per_cat.setdefault(cat, [0, 0, 0])[1] += 1
    by_key: dict[tuple[int, str], tuple[list[int], list[int]]] = {}
    for i, key in enumerate(zip(g.image, g.category, strict=True)):
        if usable[i]:
            by_key.setdefault(key, ([], []))[0].append(i)
    for j, key in enumerate(zip(lab.image, lab.category, strict=True)):
        if key in by_key:
            by_key[key][1].append(j)
    for (img, cat), (gs, ds) in by_key.items():
        s = sig.get(cat)
        if not ds or s is None:
            continue
        pairs = sorted(
            (
                (_oks(g.points[a], lab.points[b], g.areas[a], s), a, b)
                for a in gs
                for b in ds
                if lab.points[b].shape == g.points[a].shape
            ),
            key=lambda t: (-t[0], t[1], t[2]),
        )
        used_g: set[int] = set()
        used_d: set[int] = set()
        for value, a, b in pairs:
            if value < threshold or a in used_g or b in used_d:
                continue
            used_g.add(a)
            used_d.add(b)
            tp[img - 1] += 1
            oks_sum[img - 1] += value
            per_cat[cat][2] += 1
    return tp, n_lab, n_gold, oks_sum, per_cat


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's poses against gold poses.

    Parameters
    ----------
    gold
        Gold poses per image (index ``task``): a list of dicts (see the module).
    labels
        The candidate's poses per image (``None``: skipped; ``[]``: "nothing here"), or an
        crowd's answers table (fused per image by :func:`metrics.fusion.fuse_keypoints`:
        OKS clustering with majority; each annotator also scored in ``per_annotator``).
    options, metadata
        As in :func:`metrics.scoring.classification.score`; ``iou_threshold`` is the
        smallest OKS of a matched pair and ``keypoint_sigmas`` the falloffs per category.

    Raises
    ------
    UnknownLabelsError
        A category outside the vocabulary while ``unknown_labels == "refuse"``.
    TypeError, ValueError
        Malformed poses, a pose whose keypoint count differs from its category's in gold,
        or a category without sigmas.
    """
    gold = _assemble.check_gold(gold)
    position = {task: i + 1 for i, task in enumerate(gold.index)}
    g = _flatten(gold, position)
    gold_k = {c: kp.shape[0] for c, kp in zip(g.category, g.points, strict=True)}
    fusion_sigmas = {
        **{c: np.asarray(v, dtype=np.float64) for c, v in options.keypoint_sigmas},
        **_sigmas(sorted(gold_k), gold_k, options),
    }

    def fuse_item(answers: list[Any]) -> ItemFusion:
        return fuse_keypoints(answers, sigmas=fusion_sigmas, oks_threshold=options.iou_threshold)

    fusion = fuse(labels, gold.index, fuse_item=fuse_item, size=_size)
    answer = fusion.votes.answer
    warnings = [*fusion.votes.warnings, *no_majority_warning(fusion, "poses")]
    lab = _flatten(answer, position)
    known = set(g.category) | set(options.classes or ())
    warnings += _assemble.check_vocabulary(
        _categories(lab.category, fusion.answers), known, options=options, what="categories"
    )
    n_k: dict[str, int] = {}
    for cat, kp in zip([*g.category, *lab.category], [*g.points, *lab.points], strict=True):
        if n_k.setdefault(cat, kp.shape[0]) != kp.shape[0]:
            raise ValueError(
                f"category {cat!r}: poses with {kp.shape[0]} and {n_k[cat]} keypoints; each "
                "pose lists every keypoint of its category in order (v = 0 where unlabelled)"
            )
    names = sorted(known, key=str)
    sig = _sigmas(names, n_k, options)
    n = len(gold)
    tp, n_lab, n_gold, oks_sum, per_cat = _match(g, lab, sig, options.iou_threshold, n)
    answered = np.isin(np.arange(1, n + 1), [position[t] for t in answer.index])
    denom = n_lab + n_gold
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1.0), 1.0)
    a = answered.astype(np.float64)
    ratios = _assemble.main_ratios(MAIN_METRIC, f1, answered)
    ratios |= {
        "pose_precision": Ratio(tp * a, n_lab * a),
        "pose_recall": Ratio(tp * a, n_gold * a),
        "pose_f1": Ratio(2 * tp * a, denom * a),
        "mean_oks": Ratio(oks_sum * a, tp * a),
    }
    coco, per_keypoint, coco_warn = _coco(g, lab, names, sig, n)
    warnings += coco_warn
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=f1,
        n_answers=fusion.votes.n_answers,
        n_objects=fusion.votes.n_objects,
        tie=fusion.votes.tie,
    )
    return _assemble.finish(
        task_type="keypoints",
        main=MAIN_METRIC,
        title=main_title(options.iou_threshold),
        items=items,
        summary=_assemble.summarise(
            n,
            ratios=ratios,
            options=options,
            params={k: {"oks_threshold": options.iou_threshold} for k in ratios},
        ),
        per_class=_per_class(per_cat),
        n_labels=int(fusion.votes.n_objects.sum()),
        options=options,
        metadata=metadata,
        warnings=tuple(warnings),
        coco=coco,
        extra={"per_keypoint": per_keypoint},
        per_annotator=region_annotator_table(
            fusion.answers,
            gold,
            answer,
            item_f1=lambda ref, ans: _image_f1(ref, ans, sig, options.iou_threshold),
        ),
    )


def _categories(fused: list[str], answers: pd.DataFrame | None) -> set[str]:
    """Categories used by the candidate: every annotator's, not only the consensus'."""
    used = set(fused)
    if answers is not None:
        used |= {str(o["category"]) for v in answers["label"] for o in v if isinstance(o, Mapping)}
    return used


def _size(value: Any) -> int:
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of poses, got {value!r}")
    return len(value)


def _image_f1(
    reference: pd.Series[Any], answer: pd.Series[Any], sig: Mapping[str, FloatArray], t: float
) -> FloatArray:
    """Per item of ``answer`` (its order): the F1 of its poses against ``reference``."""
    index = answer.index
    ref = pd.Series([reference.get(k, []) for k in index], index=index, dtype=object)
    position = {task: i + 1 for i, task in enumerate(index)}
    tp, n_lab, n_gold, _, _ = _match(
        _flatten(ref, position), _flatten(answer, position), sig, t, len(index)
    )
    denom = n_lab + n_gold
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1.0), 1.0)


def _per_class(per_cat: Mapping[str, list[int]]) -> pd.DataFrame:
    rows = []
    for cat in sorted(per_cat):
        support, labelled, matched = per_cat[cat]
        denom = support + labelled
        rows.append(
            {
                "class": cat,
                "support": support,
                "n_labels": labelled,
                "matched": matched,
                "f1": 2 * matched / denom if denom else float("nan"),
            }
        )
    frame = pd.DataFrame(rows, columns=["class", "support", "n_labels", "matched", "f1"])
    return frame.set_index("class")


def _coco(
    g: _Flat, lab: _Flat, names: list[str], sig: Mapping[str, FloatArray], n: int
) -> tuple[dict[str, float] | None, pd.DataFrame, list[ScoringWarning]]:
    """COCO keypoint AP/AR per group of categories with the same keypoint count."""
    columns = ["class", "keypoint", "similarity", "median_error_px"]
    scored = [c for c in names if c in sig]
    sizes = {sig[c].shape[0] for c in scored}
    if len(sizes) != 1:
        note = (
            []
            if not sizes
            else [
                ScoringWarning(
                    "unusable_objects",
                    "categories have different keypoint counts: COCO keypoint AP/AR "
                    "needs one count and was left out",
                )
            ]
        )
        return None, pd.DataFrame(columns=columns), note
    code = {c: i + 1 for i, c in enumerate(scored)}
    k = sizes.pop()
    gi = [i for i, c in enumerate(g.category) if c in code]
    di = [i for i, c in enumerate(lab.category) if c in code]
    all_scored = all(lab.scores[i] is not None for i in di)
    ids = [g.ids[i] for i in gi]
    gold_set = KeypointGold.from_arrays(
        image_ids=[g.image[i] for i in gi],
        category_ids=[code[g.category[i]] for i in gi],
        keypoints=np.asarray([g.points[i] for i in gi], dtype=np.float64).reshape(-1, k, 3),
        boxes=np.asarray([g.boxes[i] for i in gi], dtype=np.float64).reshape(-1, 4),
        areas=[g.areas[i] for i in gi],
        num_keypoints=[g.num[i] for i in gi],
        iscrowd=[g.crowd[i] for i in gi],
        ann_ids=None if None in ids else [int(i) for i in ids if i is not None],
        all_image_ids=np.arange(1, n + 1),
        all_category_ids=list(code.values()),
    )
    dets = KeypointDetections.from_arrays(
        image_ids=[lab.image[i] for i in di],
        category_ids=[code[lab.category[i]] for i in di],
        keypoints=np.asarray([lab.points[i] for i in di], dtype=np.float64).reshape(-1, k, 3),
        scores=[float(s) if all_scored and (s := lab.scores[i]) is not None else 1.0 for i in di],
    )
    rows: list[dict[str, Any]] = []
    stats: dict[str, float] | None = None
    # one call per category for the per-keypoint table, one for all categories for AP/AR
    result = evaluate_keypoints(gold_set, dets, sigmas={code[c]: sig[c] for c in scored})
    stats = {name: float(v) for name, v in zip(KEYPOINT_STAT_NAMES, result.stats, strict=True)}
    for c in scored:
        if len(scored) > 1:
            keep_g = gold_set.category_ids == code[c]
            keep_d = dets.category_ids == code[c]
            one = evaluate_keypoints(
                _subset_gold(gold_set, keep_g, code[c]),
                _subset_dets(dets, keep_d),
                sigmas=sig[c],
            )
        else:
            one = result
        for j in range(k):
            rows.append(
                {
                    "class": c,
                    "keypoint": j,
                    "similarity": float(one.per_keypoint_similarity[j]),
                    "median_error_px": float(one.per_keypoint_error_px[j]),
                }
            )
    return stats, pd.DataFrame(rows, columns=columns), []


def _subset_gold(gold: KeypointGold, keep: npt.NDArray[np.bool_], cat: int) -> KeypointGold:
    return KeypointGold.from_arrays(
        image_ids=gold.image_ids[keep],
        category_ids=gold.category_ids[keep],
        keypoints=gold.keypoints[keep],
        boxes=gold.boxes[keep],
        areas=gold.areas[keep],
        num_keypoints=gold.num_keypoints[keep],
        iscrowd=gold.iscrowd[keep],
        ann_ids=gold.ann_ids[keep],
        all_image_ids=gold.all_image_ids,
        all_category_ids=[cat],
    )


def _subset_dets(dets: KeypointDetections, keep: npt.NDArray[np.bool_]) -> KeypointDetections:
    return KeypointDetections.from_arrays(
        image_ids=dets.image_ids[keep],
        category_ids=dets.category_ids[keep],
        keypoints=dets.keypoints[keep],
        scores=dets.scores[keep],
    )
