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

Objects are dicts: ``category`` (name) and ``bbox`` (COCO ``[x, y, w, h]``) or, for
masks, ``segmentation`` (COCO RLE, or polygons with the item's ``height``/``width`` on
the object); optional ``score`` and, in gold, ``iscrowd``, ``area`` and ``id`` (COCO's
annotation area and id, used by COCO AP/AR; default: box area, file order).

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

from collections.abc import Mapping
from dataclasses import dataclass
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
from metrics.masks import mask_area, mask_to_bbox, to_rle
from metrics.scoring import _assemble
from metrics.scoring._crowd import is_missing
from metrics.scoring._intervals import Ratio
from metrics.scoring.base import Scored, ScoringOptions, ScoringWarning
from metrics.types import TASK, WORKER

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


def _one_answer(
    labels: pd.Series[Any] | pd.DataFrame, gold_index: pd.Index
) -> tuple[pd.Series[Any], list[ScoringWarning]]:
    """One answer per image: a crowd's is its first annotator's (by id), with a warning."""
    warnings: list[ScoringWarning] = []
    if isinstance(labels, pd.DataFrame):
        rows = labels[np.array([not is_missing(v) for v in labels["label"].to_numpy()], dtype=bool)]
        if rows[TASK].duplicated().any():
            warnings.append(
                ScoringWarning(
                    "several_annotators",
                    "several annotators per image: boxes cannot be voted, so each image is "
                    "scored on its first annotator's answer (by annotator id)",
                )
            )
        rows = rows.sort_values([TASK, WORKER], kind="stable").drop_duplicates(TASK)
        labels = pd.Series(rows["label"].to_numpy(), index=rows[TASK].to_numpy(), dtype=object)
    if not isinstance(labels, pd.Series):
        raise TypeError(f"labels must be a Series or an answers DataFrame, got {type(labels)}")
    if not labels.index.is_unique:
        dupes = labels.index[labels.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"labels has duplicate tasks {dupes}; pass the answers table")
    kept = labels[np.array([not is_missing(v) for v in labels.to_numpy()], dtype=bool)]
    inside = kept.index.isin(gold_index)
    if (~inside).any():
        warnings.append(
            ScoringWarning(
                "labels_outside_gold",
                f"{int((~inside).sum())} label(s) on items that are not in gold were ignored",
            )
        )
    kept = kept[inside]
    # gold order, whatever order the door read them in: sums run in one order everywhere
    return kept.reindex(gold_index[gold_index.isin(kept.index)]), warnings


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
        or an answers table (first annotator per image).
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
    answer, warnings = _one_answer(labels, gold.index)
    position = {task: i + 1 for i, task in enumerate(gold.index)}
    g = _flatten(gold, position, segm=segm)
    lab = _flatten(answer, position, segm=segm)
    known = set(g.category) | set(options.classes or ())
    warnings += _assemble.check_vocabulary(
        set(lab.category), known, options=options, what="categories"
    )
    if g.unusable or lab.unusable:
        warnings.append(
            ScoringWarning(
                "unusable_objects",
                f"{g.unusable} gold and {lab.unusable} labelled mask(s) could not be "
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
        areas=(
            [float(a) for a in g.areas if a is not None]
            if None not in g.areas
            else (mask_area(g.rles) if segm else None)
        ),
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
    coco = _coco(gold_set, lab, dets, iou_type=iou_type)
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=f1,
        n_answers=pd.Series(1, index=answer.index, dtype=np.int64),
        n_objects=answer.map(len).astype(np.int64),
        tie=pd.Series(False, index=answer.index, dtype=bool),
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
        n_labels=len(lab.image),
        options=options,
        metadata=metadata,
        warnings=tuple(warnings),
        box_bias=_bias_table(match, name_of),
        coco=coco,
    )


def _coco(
    gold_set: DetectionGold, lab: _Flat, dets: Detections, *, iou_type: Literal["bbox", "segm"]
) -> dict[str, float]:
    scored = all(s is not None for s in lab.scores)
    scores = np.asarray(
        [float(s) if scored and s is not None else 1.0 for s in lab.scores], dtype=np.float64
    )
    known = np.isin(dets.category_ids, gold_set.all_category_ids)
    with_scores = Detections.from_arrays(
        image_ids=dets.image_ids[known],
        category_ids=dets.category_ids[known],
        boxes=dets.boxes[known],
        scores=scores[known],
        rles=[r for r, k in zip(lab.rles, known, strict=True) if k] if dets.rles else None,
    )
    result = evaluate_coco(gold_set, with_scores, iou_type=iou_type)
    return {name: float(v) for name, v in zip(COCO_STAT_NAMES, result.stats, strict=True)}


def _bias_table(match: Any, name_of: Mapping[int, str]) -> pd.DataFrame | None:
    bias = box_bias(match)
    rows = [
        {
            "class": name_of.get(int(str(cid)), str(cid)),
            "edge": edge,
            "mean_offset": float(row[edge]),
            "n": int(row["n"]),
        }
        for cid, row in bias.iterrows()
        for edge in _EDGES
    ]
    return pd.DataFrame(rows, columns=["class", "edge", "mean_offset", "n"]) if rows else None
