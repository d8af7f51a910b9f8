"""Score one candidate's labels against gold, per golden item, for the report.

Per task type, the per-item score the ranking resamples is

* classification: majority vote over the vendor's annotators equals gold (1/0);
* multilabel and spans: the whole label set equals gold (exact match);
* detection and segmentation: the image's F1 of boxes matched one-to-one at IoU 0.5
  (an image with neither gold nor counted labels scores 1).

Items a candidate never answered are NaN (wrong in the ranking). Everything numeric
comes from :mod:`metrics`; this module only arranges inputs and outputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.aggregation import majority_vote
from metrics.agreement import worker_accuracy, worker_consensus_agreement
from metrics.classification import classification_summary
from metrics.detection import (
    DetectionGold,
    Detections,
    DetectionSet,
    GoldInstances,
    box_bias,
    match_unscored,
)
from metrics.types import LABEL, TASK, WORKER, MetricResult

__all__ = ["Scored", "score_labels", "box_scores"]


def _canonical(value: Any) -> str:
    if isinstance(value, list):
        return json.dumps(sorted(json.dumps(v, sort_keys=True) for v in value))
    return json.dumps(value, sort_keys=True)


def _answers(labels: pd.DataFrame, keys: pd.Series[Any]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            TASK: labels["item"].to_numpy(),
            WORKER: labels["annotator"].to_numpy(),
            LABEL: keys.to_numpy(),
        }
    )


def _annotator_results(
    answers: pd.DataFrame, gold_keys: pd.Series[Any]
) -> tuple[MetricResult | None, MetricResult | None, pd.Series[int] | None]:
    workers = answers[WORKER]
    if workers.nunique() < 2 or (workers == "").all():
        return None, None, None
    named = answers[workers != ""]
    counts = named.groupby(WORKER).size().astype(np.int64)
    return worker_accuracy(named, gold_keys), worker_consensus_agreement(named), counts


@dataclass(frozen=True)
class Scored:
    """A candidate's per-item scores and the metric results shown next to them."""

    scores: pd.Series[float]
    metrics: dict[str, MetricResult]
    per_class: MetricResult | None = None
    confusion: pd.DataFrame | None = None
    annotator_gold: MetricResult | None = None
    annotator_peers: MetricResult | None = None
    annotator_items: pd.Series[int] | None = None
    box_bias: pd.DataFrame | None = None
    labels_per_item: float = 1.0


def score_labels(task_type: str, gold: pd.Series[Any], labels: pd.DataFrame) -> Scored:
    """Score ``labels`` (columns ``item``, ``annotator``, ``value``) against ``gold``.

    ``gold`` is indexed by item key; the result's ``scores`` has the same index.
    """
    index = gold.index
    empty: pd.Series[float] = pd.Series(np.nan, index=index, dtype=float)
    if labels.empty:
        return Scored(scores=empty, metrics={})
    if task_type == "classification":
        gold_keys = gold.astype(str)
        answers = _answers(labels, labels["value"].astype(str))
        voted = majority_vote(answers, tie_break="smallest")
        summary = classification_summary(gold_keys, voted)
        right = (voted == gold_keys.reindex(voted.index)).astype(np.float64)
        scores = right.reindex(index).astype(np.float64)
        g, p, c = _annotator_results(answers, gold_keys)
        return Scored(
            scores=scores,
            metrics={
                name: MetricResult(name, float(getattr(summary, name)))
                for name in (
                    "accuracy",
                    "coverage",
                    "balanced_accuracy",
                    "macro_f1",
                    "micro_f1",
                    "cohen_kappa",
                )
            },
            per_class=MetricResult("f1", float(summary.macro_f1), per_item=summary.per_class.f1),
            confusion=summary.confusion.to_frame(),
            annotator_gold=g,
            annotator_peers=p,
            annotator_items=c,
        )
    if task_type in ("multilabel", "spans"):
        gold_keys = gold.map(_canonical)
        answers = _answers(labels, labels["value"].map(_canonical))
        voted = majority_vote(answers, tie_break="smallest")
        right = (voted == gold_keys.reindex(voted.index)).astype(np.float64)
        scores = right.reindex(index).astype(np.float64)
        g, p, c = _annotator_results(answers, gold_keys)
        n_objects = labels["value"].map(lambda v: len(v) if isinstance(v, list) else 1)
        return Scored(
            scores=scores,
            metrics={"exact_match": MetricResult("exact_match", float(right.mean()))},
            annotator_gold=g,
            annotator_peers=p,
            annotator_items=c,
            labels_per_item=float(n_objects.mean()),
        )
    return _score_boxes(gold, labels)


def _flatten_boxes(
    values: pd.Series[Any], item_number: dict[str, int], categories: dict[str, int]
) -> tuple[list[int], list[int], list[list[float]]]:
    img: list[int] = []
    cat: list[int] = []
    boxes: list[list[float]] = []
    for item, value in values.items():
        for obj in value or []:
            bbox = obj.get("bbox") if isinstance(obj, dict) else None
            if bbox is None:
                continue
            img.append(item_number[str(item)])
            cat.append(categories.setdefault(str(obj.get("category")), len(categories) + 1))
            boxes.append([float(v) for v in bbox])
    return img, cat, boxes


def _score_boxes(gold: pd.Series[Any], labels: pd.DataFrame) -> Scored:
    item_number = {key: i + 1 for i, key in enumerate(gold.index)}
    categories: dict[str, int] = {}
    g_img, g_cat, g_box = _flatten_boxes(gold, item_number, categories)
    first = labels.drop_duplicates("item").set_index("item")["value"]
    l_img, l_cat, l_box = _flatten_boxes(first, item_number, categories)
    gold_set = DetectionGold.from_arrays(
        image_ids=np.asarray(g_img, dtype=np.int64),
        category_ids=np.asarray(g_cat, dtype=np.int64),
        boxes=np.asarray(g_box, dtype=np.float64).reshape(-1, 4),
        all_image_ids=np.arange(1, len(gold) + 1, dtype=np.int64),
    )
    dets = Detections.from_arrays(
        image_ids=np.asarray(l_img, dtype=np.int64),
        category_ids=np.asarray(l_cat, dtype=np.int64),
        boxes=np.asarray(l_box, dtype=np.float64).reshape(-1, 4),
    )
    labelled = np.asarray([item_number[str(k)] for k in first.index], dtype=np.int64)
    return box_scores(
        gold_set,
        dets,
        image_ids=np.arange(1, len(gold) + 1, dtype=np.int64),
        keys=gold.index,
        labelled=labelled,
        names={v: k for k, v in categories.items()},
        n_labels=len(l_box),
    )


def box_scores(
    gold_set: GoldInstances,
    dets: DetectionSet,
    *,
    image_ids: npt.NDArray[np.int64],
    keys: pd.Index,
    labelled: npt.NDArray[np.int64] | None,
    names: Mapping[int, str],
    n_labels: int,
) -> Scored:
    """Per-image F1 at IoU 0.5, per-class F1 and box bias of one candidate's boxes.

    ``image_ids[i]`` is the gold image whose item key is ``keys[i]``; ``labelled`` the
    images the candidate answered (``None``: all). An image with neither gold nor
    counted labels scores 1; an unanswered image is NaN (wrong in the ranking).
    """
    match = match_unscored(gold_set, dets, iou_threshold=0.5, labeled_images=labelled)
    order = np.argsort(image_ids, kind="stable")
    sorted_ids = image_ids[order]
    k = len(image_ids)

    def position(ids: npt.ArrayLike) -> npt.NDArray[np.intp]:
        return np.asarray(order[np.searchsorted(sorted_ids, np.asarray(ids, dtype=np.int64))])

    tp = np.bincount(position(match.pairs["image_id"].to_numpy(dtype=np.int64)), minlength=k)
    n_lab = np.bincount(position(dets.image_ids[~match.label_ignored]), minlength=k)
    crowd = np.asarray(getattr(gold_set, "iscrowd", np.zeros(len(gold_set.image_ids), bool)))
    n_gold = np.bincount(position(gold_set.image_ids[~crowd]), minlength=k)
    denom = n_lab + n_gold
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1), 1.0)
    per_image: pd.Series[float] = pd.Series(f1, index=keys, dtype=float)
    if labelled is not None:
        per_image[~np.isin(image_ids, labelled)] = np.nan
    bias = box_bias(match)
    long_bias = pd.DataFrame(
        [
            {
                "class": names.get(int(str(cid)), str(cid)),
                "edge": edge,
                "mean_offset": float(row[edge]),
                "n": int(row["n"]),
            }
            for cid, row in bias.iterrows()
            for edge in ("left", "top", "right", "bottom")
        ],
        columns=["class", "edge", "mean_offset", "n"],
    )
    per_class_f1 = match.per_class["f1"].rename(index=lambda c: names.get(int(c), str(c)))
    n_answered = len(labelled) if labelled is not None else k
    per_item = n_labels / max(n_answered, 1)
    return Scored(
        scores=per_image,
        metrics={
            "f1": match.f1,
            "precision": match.precision,
            "recall": match.recall,
            "mean_iou": match.mean_iou,
        },
        per_class=MetricResult("f1", float(match.f1.value), per_item=per_class_f1.astype(float)),
        box_bias=long_bias if len(long_bias) else None,
        labels_per_item=float(per_item) if per_item else 1.0,
    )
