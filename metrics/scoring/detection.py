"""Score object detection (boxes): main metric **per-image F1 @ IoU 0.5**.

A candidate's boxes are paired one-to-one with gold boxes of the same category at IoU
``>= iou_threshold`` (:func:`metrics.detection.match_unscored`). An image's score is
the F1 of its boxes, ``2 * matched / (n_gold + n_labelled)``, and 1 for an image where
neither side has a box. ``per_image_f1`` is the mean over answered images,
``per_image_f1_all`` over all gold images (unanswered = 0; the ranking metric). It is
never called "accuracy".

Also, pooled over answered images: ``box_precision``, ``box_recall``, ``box_f1``
(micro; ``mask_*`` for segmentation) and ``mean_iou`` of matched pairs; per-category
counts and F1; the box-edge bias against gold; and COCO AP/AR over all gold images
(:func:`metrics.detection.evaluate_coco`, the 12 ``COCOeval.summarize()`` numbers;
boxes without a confidence count with confidence 1). :mod:`.segmentation` is the same
with mask IoU.

A crowd (several annotators per image) is scored on its consensus per image, built by
:func:`metrics.fusion.fuse_boxes` / :func:`~metrics.fusion.fuse_masks` (IoU clustering;
a region is kept when more than half of the image's annotators drew one; median box,
pixel-majority mask); regions left out for want of a majority are counted in a
``crowd_no_majority`` warning, and ``per_annotator`` gives each annotator's mean
per-image F1 against gold and against the consensus.

Objects are dicts: ``category`` (name) and ``bbox`` (COCO ``[x, y, w, h]``) or, for
masks, ``segmentation`` (COCO RLE, or polygons with the item's ``height``/``width`` on
the object); optional ``score`` and ``area``, and, in gold, ``iscrowd`` and ``id``
(COCO's annotation area and id, used by COCO AP/AR; default area: the box's ``w*h``, or
the mask's pixel count under segm, per object; default id: file order). A result's
``area`` is the one ``COCO.loadRes`` gives it (a mask result's is its box's when the
results file carried boxes); the readers set it, the engine only uses it.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series([[{"category": "car", "bbox": [0, 0, 10, 10]}], []], index=["i1", "i2"])
>>> labels = pd.Series([[{"category": "car", "bbox": [1, 0, 10, 10]}], []], index=["i1", "i2"])
>>> s = score(gold, labels)
>>> s.main_title, s.value("per_image_f1"), s.value("box_f1")
('per-image F1 @ IoU 0.5', 1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.detection import (
    COCO_STAT_NAMES,
    DetectionGold,
    Detections,
    box_bias,
    evaluate_coco,
    match_unscored,
)
from metrics.fusion import ItemFusion, fuse_boxes, fuse_masks
from metrics.masks import mask_area, mask_to_bbox, to_rle
from metrics.scoring import _assemble
from metrics.scoring._crowd import fuse, no_majority_warning, region_annotator_table
from metrics.scoring._intervals import Ratio
from metrics.scoring.base import Scored, ScoringOptions, ScoringWarning

__all__ = ["MAIN_METRIC", "main_title", "score", "score_instances"]

MAIN_METRIC = "per_image_f1"
_EDGES = ("left", "top", "right", "bottom")


def main_title(iou_type: Literal["bbox", "segm"], iou_threshold: float) -> str:
    """The main metric's name in words, e.g. ``per-image F1 @ IoU 0.5``."""
    kind = "mask F1" if iou_type == "segm" else "F1"
    return f"per-image {kind} @ IoU {iou_threshold:g}"


@dataclass(frozen=True, eq=False)
class _Flat:
    image: list[int]
    category: list[str]
    boxes: list[list[float]]
    rles: list[dict[str, Any]]
    scores: list[float | None]
    crowd: list[bool]
    areas: list[float | None]
    ids: list[int | None]
    unusable: int


def _flatten(values: pd.Series[Any], position: Mapping[Any, int], *, segm: bool) -> _Flat:
    flat = _Flat([], [], [], [], [], [], [], [], 0)
    unusable = 0
    for task, value in values.items():
        if not isinstance(value, list | tuple):
            raise TypeError(f"task {task!r}: expected a list of objects, got {value!r}")
        for obj in value:
            if not isinstance(obj, Mapping) or "category" not in obj:
                raise TypeError(f"task {task!r}: an object needs a 'category', got {obj!r}")
            if segm:
                try:
                    rle = to_rle(
                        obj["segmentation"], height=obj.get("height"), width=obj.get("width")
                    )
                except (KeyError, TypeError, ValueError):
                    unusable += 1
                    continue
                flat.rles.append(rle)
                flat.boxes.append([float(v) for v in mask_to_bbox([rle])[0]])
            else:
                bbox = obj.get("bbox")
                if bbox is None or len(bbox) != 4:
                    raise ValueError(f"task {task!r}: a box needs bbox [x, y, w, h], got {obj!r}")
                flat.boxes.append([float(v) for v in bbox])
            flat.image.append(position[task])
            flat.category.append(str(obj["category"]))
            flat.scores.append(obj.get("score"))
            flat.crowd.append(bool(obj.get("iscrowd", False)))
            flat.areas.append(obj.get("area"))
            flat.ids.append(obj.get("id"))
    return _Flat(
        flat.image,
        flat.category,
        flat.boxes,
        flat.rles,
        flat.scores,
        flat.crowd,
        flat.areas,
        flat.ids,
        unusable,
    )


def _areas(flat: _Flat, *, segm: bool) -> npt.NDArray[np.float64]:
    """Each object's COCO area: its own ``area`` where it has one, else the mask's pixel
    count (segm) or the box's ``w*h`` (bbox).

    The fallback is per object, not all-or-nothing, because gold edited in review (a
    corrected box carries no area) sits beside gold imported with COCO's areas.
    """
    n = len(flat.boxes)
    if segm:
        default = mask_area(flat.rles) if n else np.zeros(0, dtype=np.float64)
    else:
        boxes = np.asarray(flat.boxes, dtype=np.float64).reshape(-1, 4)
        default = boxes[:, 2] * boxes[:, 3]
    own = np.asarray([np.nan if a is None else float(a) for a in flat.areas], dtype=np.float64)
    return np.where(np.isnan(own), np.asarray(default, dtype=np.float64), own)


def _fuse_item(
    iou_type: Literal["bbox", "segm"], iou_threshold: float
) -> Callable[[list[Any]], ItemFusion]:
    def fuse_item(answers: list[Any]) -> ItemFusion:
        if iou_type == "segm":
            return fuse_masks(answers, iou_threshold=iou_threshold)
        return fuse_boxes(answers, iou_threshold=iou_threshold)

    return fuse_item


def _categories(fused: list[str], answers: pd.DataFrame | None) -> set[str]:
    """Categories used by the candidate: every annotator's, not only the consensus'."""
    used = set(fused)
    if answers is not None:
        used |= {str(o["category"]) for v in answers["label"] for o in v if isinstance(o, Mapping)}
    return used


def _size(value: Any) -> int:
    if not isinstance(value, list | tuple):
        raise TypeError(f"expected a list of objects, got {value!r}")
    return len(value)


def _image_f1(
    reference: pd.Series[Any],
    answer: pd.Series[Any],
    *,
    iou_type: Literal["bbox", "segm"],
    iou_threshold: float,
) -> npt.NDArray[np.float64]:
    """Per item of ``answer`` (its order): the F1 of its objects against ``reference``."""
    index = answer.index
    ref = pd.Series([reference.get(t, []) for t in index], index=index, dtype=object)
    position = {task: i + 1 for i, task in enumerate(index)}
    segm = iou_type == "segm"
    g = _flatten(ref, position, segm=segm)
    lab = _flatten(answer, position, segm=segm)
    code = {name: i + 1 for i, name in enumerate(sorted({*g.category, *lab.category}))}
    n = len(index)
    gold_set = DetectionGold.from_arrays(
        image_ids=g.image,
        category_ids=[code[c] for c in g.category],
        boxes=np.asarray(g.boxes, dtype=np.float64).reshape(-1, 4),
        iscrowd=g.crowd,
        all_image_ids=np.arange(1, n + 1, dtype=np.int64),
        all_category_ids=np.asarray(sorted(code.values()), dtype=np.int64),
        rles=g.rles if segm else None,
    )
    dets = Detections.from_arrays(
        image_ids=lab.image,
        category_ids=[code[c] for c in lab.category],
        boxes=np.asarray(lab.boxes, dtype=np.float64).reshape(-1, 4),
        rles=lab.rles if segm else None,
    )
    match = match_unscored(
        gold_set,
        dets,
        iou_threshold=iou_threshold,
        iou_type=iou_type,
        labeled_images=np.arange(1, n + 1, dtype=np.int64),
    )
    tp, n_lab, n_gold, _ = _per_image(
        match, n, dets.image_ids, gold_set.image_ids, gold_set.iscrowd
    )
    denom = n_lab + n_gold
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1.0), 1.0)


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's boxes against gold boxes.

    Parameters
    ----------
    gold
        Gold objects per image (index ``task``): a list of dicts (see the module).
    labels
        The candidate's objects per image (``None``: skipped; ``[]``: "nothing here"),
        or a crowd's answers table (fused per image by :mod:`metrics.fusion`: IoU
        clustering with majority; each annotator is also scored on its own in
        ``per_annotator``).
    options, metadata
        As in :func:`metrics.scoring.classification.score`; ``iou_threshold`` sets the
        matching IoU and ``classes`` the category vocabulary.

    Raises
    ------
    UnknownLabelsError
        A category outside the vocabulary while ``unknown_labels == "refuse"``.
    TypeError, ValueError
        Malformed objects.
    """
    return score_instances(gold, labels, options=options, metadata=metadata, iou_type="bbox")


def _per_image(
    match: Any,
    n: int,
    label_image: npt.NDArray[np.int64],
    gold_image: npt.NDArray[np.int64],
    crowd: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], ...]:
    """Per image position: matched pairs, counted labels, gold, sum of matched IoU."""
    pairs = match.pairs
    img = pairs["image_id"].to_numpy(dtype=np.int64) - 1
    tp = np.bincount(img, minlength=n).astype(np.float64)
    iou = np.bincount(img, weights=pairs["iou"].to_numpy(dtype=np.float64), minlength=n).astype(
        np.float64
    )
    n_lab = np.bincount(label_image[~match.label_ignored] - 1, minlength=n).astype(np.float64)
    n_gold = np.bincount(gold_image[~crowd] - 1, minlength=n).astype(np.float64)
    return tp, n_lab, n_gold, iou


def score_instances(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
    iou_type: Literal["bbox", "segm"] = "bbox",
) -> Scored:
    """Boxes (``iou_type="bbox"``) or masks (``"segm"``); see :func:`score`."""
    segm = iou_type == "segm"
    gold = _assemble.check_gold(gold)
    fusion = fuse(
        labels, gold.index, fuse_item=_fuse_item(iou_type, options.iou_threshold), size=_size
    )
    answer = fusion.votes.answer
    warnings = list(fusion.votes.warnings)
    warnings += no_majority_warning(fusion, "masks" if segm else "boxes")
    position = {task: i + 1 for i, task in enumerate(gold.index)}
    g = _flatten(gold, position, segm=segm)
    lab = _flatten(answer, position, segm=segm)
    known = set(g.category) | set(options.classes or ())
    warnings += _assemble.check_vocabulary(
        _categories(lab.category, fusion.answers), known, options=options, what="categories"
    )
    if g.unusable or lab.unusable or fusion.n_unusable:
        warnings.append(
            ScoringWarning(
                "unusable_objects",
                f"{g.unusable} gold and {lab.unusable + fusion.n_unusable} labelled mask(s) "
                "could not be "
                "rasterised (polygons without the image size) and were left out",
            )
        )
    names = sorted(known, key=str) + sorted(set(lab.category) - known, key=str)
    code = {name: i + 1 for i, name in enumerate(names)}
    n = len(gold)
    all_images = np.arange(1, n + 1, dtype=np.int64)
    gold_set = DetectionGold.from_arrays(
        image_ids=g.image,
        category_ids=[code[c] for c in g.category],
        boxes=np.asarray(g.boxes, dtype=np.float64).reshape(-1, 4),
        iscrowd=g.crowd,
        areas=_areas(g, segm=segm),
        ann_ids=[int(i) for i in g.ids if i is not None] if None not in g.ids else None,
        all_image_ids=all_images,
        all_category_ids=np.asarray([code[c] for c in sorted(known, key=str)], dtype=np.int64),
        rles=g.rles if segm else None,
    )
    dets = Detections.from_arrays(
        image_ids=lab.image,
        category_ids=[code[c] for c in lab.category],
        boxes=np.asarray(lab.boxes, dtype=np.float64).reshape(-1, 4),
        rles=lab.rles if segm else None,
    )
    answered_ids = np.asarray([position[t] for t in answer.index], dtype=np.int64)
    match = match_unscored(
        gold_set,
        dets,
        iou_threshold=options.iou_threshold,
        iou_type=iou_type,
        labeled_images=answered_ids,
    )
    answered = np.isin(all_images, answered_ids)
    tp, n_lab, n_gold, iou = _per_image(
        match, n, dets.image_ids, gold_set.image_ids, gold_set.iscrowd
    )
    denom = n_lab + n_gold
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1.0), 1.0)
    a = answered.astype(np.float64)
    ratios = _assemble.main_ratios(MAIN_METRIC, f1, answered)
    kind = "mask" if segm else "box"
    ratios |= {
        f"{kind}_precision": Ratio(tp * a, n_lab * a),
        f"{kind}_recall": Ratio(tp * a, n_gold * a),
        f"{kind}_f1": Ratio(2 * tp * a, denom * a),
        "mean_iou": Ratio(iou * a, tp * a),
    }
    coco = _coco(gold_set, lab, dets, iou_type=iou_type, order=_coco_order(gold.index, options))
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=f1,
        n_answers=fusion.votes.n_answers,
        n_objects=fusion.votes.n_objects,
        tie=fusion.votes.tie,
    )
    name_of = {v: k for k, v in code.items()}
    per_class = match.per_class.rename(index=lambda c: name_of.get(int(c), str(c)))
    per_class = per_class.rename(columns={"n_gold": "support"})
    per_class.index.name = "class"
    return _assemble.finish(
        task_type="segmentation" if segm else "detection",
        main=MAIN_METRIC,
        title=main_title(iou_type, options.iou_threshold),
        items=items,
        summary=_assemble.summarise(
            n,
            ratios=ratios,
            values={
                f"{kind}_precision": match.precision.value,
                f"{kind}_recall": match.recall.value,
                f"{kind}_f1": match.f1.value,
                "mean_iou": match.mean_iou.value,
            },
            options=options,
            params={k: {"iou_threshold": options.iou_threshold} for k in ratios},
        ),
        per_class=per_class,
        n_labels=len(lab.image) if fusion.answers is None else int(fusion.votes.n_objects.sum()),
        options=options,
        metadata=metadata,
        warnings=tuple(warnings),
        box_bias=_bias_table(match, name_of),
        coco=coco,
        per_annotator=region_annotator_table(
            fusion.answers,
            gold,
            answer,
            item_f1=lambda ref, ans: _image_f1(
                ref, ans, iou_type=iou_type, iou_threshold=options.iou_threshold
            ),
        ),
    )


def _coco_order(index: pd.Index[Any], options: ScoringOptions) -> npt.NDArray[np.int64]:
    """The image id COCO AP/AR gives each gold position (1-based): the rank of its COCO
    image id, items without one after them in gold order."""
    coco_ids = dict(options.coco_image_ids)
    keys = [(0, coco_ids[t], i) if t in coco_ids else (1, 0, i) for i, t in enumerate(index)]
    order = np.empty(len(keys), dtype=np.int64)
    order[[k[2] for k in sorted(keys)]] = np.arange(1, len(keys) + 1, dtype=np.int64)
    return order


def _coco(
    gold_set: DetectionGold,
    lab: _Flat,
    dets: Detections,
    *,
    iou_type: Literal["bbox", "segm"],
    order: npt.NDArray[np.int64],
) -> dict[str, float]:
    scored = all(s is not None for s in lab.scores)
    scores = np.asarray(
        [float(s) if scored and s is not None else 1.0 for s in lab.scores], dtype=np.float64
    )
    known = np.isin(dets.category_ids, gold_set.all_category_ids)
    areas = _areas(lab, segm=iou_type == "segm")
    # images renumbered in COCO id order: pycocotools breaks score ties across images so
    gold_set = replace(
        gold_set,
        image_ids=order[gold_set.image_ids - 1],
        all_image_ids=np.sort(order[gold_set.all_image_ids - 1]),
    )
    with_scores = Detections.from_arrays(
        image_ids=order[dets.image_ids[known] - 1],
        category_ids=dets.category_ids[known],
        boxes=dets.boxes[known],
        scores=scores[known],
        areas=areas[known],
        rles=[r for r, k in zip(lab.rles, known, strict=True) if k] if dets.rles else None,
    )
    result = evaluate_coco(gold_set, with_scores, iou_type=iou_type)
    return {name: float(v) for name, v in zip(COCO_STAT_NAMES, result.stats, strict=True)}


def _bias_table(match: Any, name_of: Mapping[int, str]) -> pd.DataFrame | None:
    """Per class and box edge: mean signed offset (label - gold, px), its spread and count.

    The spread (``sd``, per matched pair) lets the report test whether a bias is real (an
    interval that excludes 0) rather than noise of a few boxes.
    """
    bias = box_bias(match)
    spread = match.pairs.groupby("category_id")[list(_EDGES)].std(ddof=1)
    rows = [
        {
            "class": name_of.get(int(str(cid)), str(cid)),
            "edge": edge,
            "mean_offset": float(row[edge]),
            "sd": float(spread.loc[cid, edge]) if cid in spread.index else float("nan"),
            "n": int(row["n"]),
        }
        for cid, row in bias.iterrows()
        for edge in _EDGES
    ]
    columns = ["class", "edge", "mean_offset", "sd", "n"]
    return pd.DataFrame(rows, columns=columns) if rows else None
