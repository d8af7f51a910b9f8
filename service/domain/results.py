"""The results of a bake-off: each candidate's metrics against the pinned gold.

Metrics come from :mod:`metrics` (classification summary, unscored box/mask matching). Results
are cached in memory by (database, bake-off, data version): importing labels, or moving the
bake-off to another golden-set version, bumps ``BakeOff.data_version`` and the next read
recomputes.

Main metric by task type: ``accuracy`` (classification; several annotators per item are merged
by majority vote), ``exact_match`` (multilabel and spans: the whole set must equal gold), ``f1``
at IoU 0.5 (detection: box IoU; segmentation: mask IoU, polygons rasterised with the item's
``width``/``height`` from its data).
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Hashable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine
from sqlalchemy import select as sa_select
from sqlmodel import Session

from metrics.aggregation import majority_vote
from metrics.classification import classification_summary
from metrics.detection import DetectionGold, Detections, match_unscored
from metrics.masks import mask_to_bbox, to_rle
from metrics.types import LABEL, TASK, WORKER
from service.core.types import utcnow
from service.domain._common import table_of
from service.domain.access import is_vendor
from service.domain.bakeoffs import get_bakeoff, vendor_aliases
from service.domain.errors import Forbidden
from service.domain.security import Principal
from service.domain.stored_labels import stored_frames
from service.models import (
    BakeOff,
    BakeOffResults,
    GoldenItem,
    GoldLabel,
    Project,
    Vendor,
    VendorResult,
)

__all__ = ["bakeoff_results", "clear_cache"]

_CACHE: OrderedDict[Hashable, BakeOffResults] = OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 64


def clear_cache() -> None:
    """Forget every cached result."""
    with _LOCK:
        _CACHE.clear()


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _canonical(value: Any) -> str:
    if isinstance(value, list):
        return json.dumps(sorted(json.dumps(v, sort_keys=True) for v in value))
    return json.dumps(value, sort_keys=True)


def _one_label_per_item(labels: pd.DataFrame) -> pd.Series[Any]:
    """Majority vote over annotators (one label per item)."""
    answers = pd.DataFrame(
        {
            TASK: labels["item_id"].to_numpy(),
            WORKER: labels["annotator"].to_numpy(),
            LABEL: labels["key"].to_numpy(),
        }
    )
    return majority_vote(answers, tie_break="smallest")


def _set_metrics(
    gold: pd.Series[Any], labels: pd.DataFrame
) -> tuple[dict[str, float | None], pd.Series[Any]]:
    gold_keys = gold.map(_canonical)
    labels = labels.assign(key=labels["value"].map(_canonical))
    voted = _one_label_per_item(labels)
    summary = classification_summary(gold_keys, voted)
    correct = (voted == gold_keys.reindex(voted.index)).astype(float)
    return (
        {
            "exact_match": _finite(summary.accuracy),
            "exact_match_all": _finite(summary.accuracy_all),
        },
        correct,
    )


def _classification(
    gold: pd.Series[Any], labels: pd.DataFrame
) -> tuple[dict[str, float | None], pd.Series[Any]]:
    labels = labels.assign(key=labels["value"].astype(str))
    voted = _one_label_per_item(labels)
    summary = classification_summary(gold.astype(str), voted)
    correct = (voted == gold.astype(str).reindex(voted.index)).astype(float)
    return (
        {
            "accuracy": _finite(summary.accuracy),
            "accuracy_all": _finite(summary.accuracy_all),
            "balanced_accuracy": _finite(summary.balanced_accuracy),
            "macro_f1": _finite(summary.macro_f1),
            "cohen_kappa": _finite(summary.cohen_kappa),
        },
        correct,
    )


def _boxes(
    gold: pd.Series[Any],
    labels: pd.DataFrame,
    categories: dict[str, int],
    *,
    sizes: dict[int, tuple[int, int]] | None = None,
) -> tuple[dict[str, float | None], float]:
    """Unscored one-to-one matching at IoU 0.5: boxes, or masks when ``sizes`` is given.

    For masks, ``sizes`` maps item id to ``(height, width)`` (needed for polygons); objects
    that cannot be rasterised (polygons of an item without a size) are left out.
    """
    segm = sizes is not None

    def flatten(
        series: pd.Series[Any],
    ) -> tuple[list[int], list[int], list[list[float]], list[dict[str, Any]]]:
        img: list[int] = []
        cat: list[int] = []
        boxes: list[list[float]] = []
        rles: list[dict[str, Any]] = []
        for item_id, value in series.items():
            key = int(item_id)  # type: ignore[call-overload]
            for obj in value or []:
                if segm:
                    height, width = (sizes or {}).get(key, (None, None))
                    try:
                        rle = to_rle(obj["segmentation"], height=height, width=width)
                    except (KeyError, TypeError, ValueError):
                        continue
                    rles.append(rle)
                    boxes.append([float(v) for v in mask_to_bbox([rle])[0]])
                else:
                    bbox = obj.get("bbox")
                    if bbox is None:
                        continue
                    boxes.append([float(v) for v in bbox])
                img.append(key)
                cat.append(categories.setdefault(obj["category"], len(categories) + 1))
        return img, cat, boxes, rles

    g_img, g_cat, g_box, g_rle = flatten(gold)
    # one annotator per item: the first answer for each item
    first = labels.drop_duplicates("item_id").set_index("item_id")["value"]
    l_img, l_cat, l_box, l_rle = flatten(first)
    gold_set = DetectionGold.from_arrays(
        image_ids=np.asarray(g_img, dtype=np.int64),
        category_ids=np.asarray(g_cat, dtype=np.int64),
        boxes=np.asarray(g_box, dtype=np.float64).reshape(-1, 4),
        all_image_ids=np.asarray(sorted(int(i) for i in gold.index), dtype=np.int64),
        rles=g_rle if segm else None,
    )
    dets = Detections.from_arrays(
        image_ids=np.asarray(l_img, dtype=np.int64),
        category_ids=np.asarray(l_cat, dtype=np.int64),
        boxes=np.asarray(l_box, dtype=np.float64).reshape(-1, 4),
        rles=l_rle if segm else None,
    )
    result = match_unscored(
        gold_set,
        dets,
        iou_threshold=0.5,
        iou_type="segm" if segm else "bbox",
        labeled_images=np.asarray(first.index, dtype=np.int64),
    )
    tp = float(result.per_class["tp"].sum()) if len(result.per_class) else 0.0
    return (
        {
            "f1": _finite(result.f1.value),
            "precision": _finite(result.precision.value),
            "recall": _finite(result.recall.value),
            "mean_iou": _finite(result.mean_iou.value),
        },
        tp,
    )


def _image_sizes(session: Session, version_id: int) -> dict[int, tuple[int, int]]:
    """``{item id: (height, width)}`` from the items' data (for polygon masks)."""
    gl, item = table_of(GoldLabel), table_of(GoldenItem)
    rows = session.execute(
        sa_select(item.c.id, item.c.data)
        .join(gl, gl.c.item_id == item.c.id)
        .where(gl.c.version_id == version_id)
    ).all()
    sizes: dict[int, tuple[int, int]] = {}
    for item_id, data in rows:
        height, width = (data or {}).get("height"), (data or {}).get("width")
        if isinstance(height, int) and isinstance(width, int):
            sizes[int(item_id)] = (height, width)
    return sizes


def _latencies(labels: pd.DataFrame, tasks: pd.DataFrame) -> pd.Series[float]:
    spans = pd.Series(dtype=float)
    if len(tasks):
        done = tasks.dropna(subset=["sent_at", "completed_at"])
        if len(done):
            spans = (done["completed_at"] - done["sent_at"]).dt.total_seconds()
    if spans.empty and len(labels):
        done = labels.dropna(subset=["started_at", "completed_at"])
        if len(done):
            spans = (done["completed_at"] - done["started_at"]).dt.total_seconds()
    return spans.astype(float)


def _vendor_cost(vendor: Vendor, labels: pd.DataFrame, tasks: pd.DataFrame, n_items: int) -> float:
    reported = pd.concat([labels["cost"], tasks["cost"] if len(tasks) else pd.Series(dtype=float)])
    if reported.notna().any():
        return float(reported.fillna(0).sum())
    n_objects = len(labels)
    if len(labels) and labels["value"].map(lambda v: isinstance(v, list)).all():
        n_objects = int(labels["value"].map(len).sum())
    priced = vendor.price_per_item * n_items + vendor.price_per_label * n_objects
    return float(priced)


def _compute(session: Session, bakeoff: BakeOff, *, reveal: bool) -> BakeOffResults:
    project = session.get(Project, bakeoff.project_id)
    if project is None:  # pragma: no cover - foreign key
        raise Forbidden("bake-off without project")
    task_type = project.task_type
    gl = table_of(GoldLabel)
    gold_rows = session.execute(
        sa_select(gl.c.item_id, gl.c.value).where(gl.c.version_id == bakeoff.golden_set_version_id)
    ).all()
    gold = pd.Series({int(i): v for i, v in gold_rows}, dtype=object)
    label_frame, task_frame = stored_frames(session, bakeoff.id or 0)
    label_frame = label_frame[label_frame["item_id"].isin(gold.index)]
    aliases = vendor_aliases(session, bakeoff.id or 0)
    categories: dict[str, int] = {}
    sizes = (
        _image_sizes(session, bakeoff.golden_set_version_id)
        if task_type == "segmentation"
        else None
    )
    results: list[VendorResult] = []
    n_gold = len(gold)
    for vendor_id, alias in sorted(aliases.items(), key=lambda kv: (len(kv[1]), kv[1])):
        vendor = session.get(Vendor, vendor_id)
        if vendor is None:  # pragma: no cover - foreign key
            continue
        labels = label_frame[label_frame["vendor_id"] == vendor_id]
        tasks = task_frame[task_frame["vendor_id"] == vendor_id]
        n_labelled = int(labels["item_id"].nunique())
        metrics: dict[str, float | None] = {}
        n_correct: float | None = None
        main = {
            "classification": "accuracy",
            "multilabel": "exact_match",
            "spans": "exact_match",
            "detection": "f1",
            "segmentation": "f1",
        }[task_type]
        if n_gold and n_labelled:
            if task_type == "classification":
                metrics, correct = _classification(gold, labels)
                n_correct = float(correct.sum())
            elif task_type in ("multilabel", "spans"):
                metrics, correct = _set_metrics(gold, labels)
                n_correct = float(correct.sum())
            else:
                metrics, n_correct = _boxes(gold, labels, categories, sizes=sizes)
        latency = _latencies(labels, tasks)
        cost = _vendor_cost(vendor, labels, tasks, n_labelled) if n_labelled else None
        results.append(
            VendorResult(
                vendor_id=vendor_id if reveal else None,
                vendor=vendor.name if reveal else alias,
                n_gold=n_gold,
                n_labelled=n_labelled,
                n_labels=len(labels),
                coverage=n_labelled / n_gold if n_gold else 0.0,
                main_metric=main,
                main_value=metrics.get(main),
                metrics=metrics,
                latency_p50_s=_finite(float(latency.quantile(0.5))) if len(latency) else None,
                latency_p95_s=_finite(float(latency.quantile(0.95))) if len(latency) else None,
                total_cost=cost,
                cost_per_correct=(cost / n_correct) if cost is not None and n_correct else None,
            )
        )
    return BakeOffResults(
        bakeoff_id=bakeoff.id or 0,
        data_version=bakeoff.data_version,
        task_type=task_type,
        golden_set_version_id=bakeoff.golden_set_version_id,
        n_gold=n_gold,
        blinded=not reveal,
        computed_at=utcnow(),
        vendors=results,
    )


def bakeoff_results(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> BakeOffResults:
    """Every candidate's metrics, recomputed whenever the bake-off's data version changes.

    A ``qa`` key sees candidates as "Candidate A/B/..." while the bake-off is blinded; vendor keys
    may not read results.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    if is_vendor(principal):
        raise Forbidden("vendor keys cannot read bake-off results")
    reveal = not (bakeoff.blinded and principal is not None and principal.role == "qa")
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    updated: datetime = bakeoff.updated_at
    key = (
        str(engine.url),
        id(engine),
        bakeoff_id,
        bakeoff.data_version,
        bakeoff.golden_set_version_id,
        updated.isoformat(),
        reveal,
    )
    with _LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            _CACHE.move_to_end(key)
            return cached
    result = _compute(session, bakeoff, reveal=reveal)
    with _LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result
