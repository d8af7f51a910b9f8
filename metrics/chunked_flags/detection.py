"""Detection flags in chunks: cleanlab ObjectLab cut at its dataset-wide reductions.

:data:`FLAGGER` runs :mod:`metrics.box_issues_partitioned` (the computation of
:func:`metrics.label_issues.find_box_label_issues`, cleanlab's
``object_detection.filter.find_label_issues`` and ``rank.get_label_quality_scores``):

* :meth:`~DetectionFlagger.encode`: each answer's boxes (the vendor's label, a list of
  ``{"category", "bbox": [x, y, w, h]}``) and the model's boxes for the item (the same form,
  each with a confidence ``score`` in ``[0, 1]``) as flat arrays;
* first pass: the chunk's smallest label-prediction similarity and its per-class
  true-positive counts per prediction score; merge: the minimum and each class's average
  precision (cleanlab's issue thresholds);
* second pass: each answer's ObjectLab quality and issue flag (an answer is an issue when
  one of its boxes looks overlooked, swapped or badly located);
* issues: the flagged answers.

The model's confidences are read to :data:`SCORE_DECIMALS` (4) decimals, as detectors
report them: the first pass keeps one entry per distinct score per class, so this bounds
it at 10,001 entries per class whatever the delivery's size (at full precision it grew by
about 55 bytes per model box; a shift of at most 5e-5 in a confidence moves no flag that
is not on a knife's edge). Over any cut into chunks the qualities and the flags equal
:func:`~metrics.label_issues.find_box_label_issues` on all answers at once with the
confidences so read (``tests/metrics/test_chunked_flags_detection.py``; ties of scores:
see :mod:`metrics.box_issues_partitioned`). Each answer is one "image" for cleanlab: an item
with two answers counts its model boxes twice, as the all-at-once call on the same rows does.

Examples
--------
>>> car = {"category": "car", "bbox": [0, 0, 10, 10]}
>>> labels = [[car], [car], [{"category": "car", "bbox": [40, 40, 10, 10]}]]
>>> model = [[car | {"score": 0.99}]] * 3
>>> chunks = [FLAGGER.encode(labels[:2], model[:2], ["car"]),
...           FLAGGER.encode(labels[2:], model[2:], ["car"])]
>>> merged = FLAGGER.merge([FLAGGER.first_pass(c) for c in chunks])
>>> FLAGGER.issues([FLAGGER.second_pass(c, merged) for c in chunks]).tolist()
[2]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.box_issues_partitioned import (
    BoxPartial,
    CleanlabLabels,
    CleanlabPredictions,
    MergedBoxStats,
    box_partial,
    merge_box_partials,
    score_box_partition,
)
from metrics.chunked_flags.base import Arrays, ChunkScores, Predictions
from metrics.label_issues import BOX_COLUMNS, _to_cleanlab_detection
from metrics.types import LABEL, SCORE, TASK

__all__ = ["FLAGGER", "SCORE_DECIMALS", "DetectionFlagger"]

#: Decimals the model's confidences are read to (bounds the first pass: see the module).
SCORE_DECIMALS: Final = 4


def _objects(value: Any, what: str, n: int) -> list[Mapping[str, Any]]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"answer {n}: the {what} must be a list of boxes, got {value!r:.80}")
    for j, obj in enumerate(value):
        if not isinstance(obj, Mapping) or "category" not in obj or "bbox" not in obj:
            raise ValueError(
                f"answer {n}: {what} object {j} needs 'category' and 'bbox', got {obj!r:.80}"
            )
    return list(value)


def _box(obj: Mapping[str, Any], what: str, n: int, j: int) -> list[float]:
    box = obj["bbox"]
    try:
        out = [float(v) for v in box]
    except (TypeError, ValueError):
        out = []
    if len(out) != 4 or not all(math.isfinite(v) for v in out) or out[2] < 0 or out[3] < 0:
        raise ValueError(
            f"answer {n}: {what} object {j}: bbox must be [x, y, w, h] finite with w, h >= 0, "
            f"got {box!r:.80}"
        )
    return out


class DetectionFlagger:
    """Model-label disagreement for boxes: cleanlab ObjectLab (see the module docstring)."""

    task_type: str = "detection"
    method: str = (
        "cleanlab ObjectLab (object_detection.find_label_issues): an answer is flagged when a "
        "box looks overlooked, swapped or badly located against the model's boxes, by "
        "per-class thresholds from the model's average precision over every answer "
        "(confidences to 4 decimals); quality = ObjectLab's label quality score"
    )

    def encode(
        self, labels: Sequence[Any], predictions: Predictions, classes: Sequence[str]
    ) -> dict[str, npt.NDArray[Any]]:
        """Flat arrays of every answer's boxes and the model's scored boxes (confidences
        rounded to :data:`SCORE_DECIMALS`).

        Raises
        ------
        ValueError
            Not as many predictions as answers, a malformed box, a category outside
            ``classes`` or a model box without a ``score`` in ``[0, 1]``.
        """
        if len(labels) != len(predictions):
            raise ValueError(f"{len(labels)} answers but {len(predictions)} predictions")
        code = {str(c): k for k, c in enumerate(classes)}
        out: dict[str, list[Any]] = {k: [] for k in ("lt", "lc", "lb", "pt", "pc", "pb", "ps")}
        for n, (label, pred) in enumerate(zip(labels, predictions, strict=True)):
            for what, value, t, c, b in (
                ("label", label, "lt", "lc", "lb"),
                ("prediction", pred, "pt", "pc", "pb"),
            ):
                for j, obj in enumerate(_objects(value, what, n)):
                    category = str(obj["category"])
                    if category not in code:
                        raise ValueError(
                            f"answer {n}: {what} object {j}: category {category!r} is not in "
                            f"the ontology {sorted(code)[:10]}"
                        )
                    out[t].append(n)
                    out[c].append(code[category])
                    out[b].append(_box(obj, what, n, j))
                    if what == "prediction":
                        score = obj.get("score")
                        if (
                            not isinstance(score, int | float)
                            or isinstance(score, bool)
                            or not 0.0 <= float(score) <= 1.0
                        ):
                            raise ValueError(
                                f"answer {n}: prediction object {j} needs a confidence "
                                f"'score' in [0, 1], got {score!r}"
                            )
                        out["ps"].append(float(score))
        return {
            "n_answers": np.asarray([len(labels)], dtype=np.int64),
            "n_classes": np.asarray([len(code)], dtype=np.int64),
            "label_answer": np.asarray(out["lt"], dtype=np.int64),
            "label_class": np.asarray(out["lc"], dtype=np.int64),
            "label_box": np.asarray(out["lb"], dtype=np.float64).reshape(-1, 4),
            "pred_answer": np.asarray(out["pt"], dtype=np.int64),
            "pred_class": np.asarray(out["pc"], dtype=np.int64),
            "pred_box": np.asarray(out["pb"], dtype=np.float64).reshape(-1, 4),
            "pred_score": np.round(np.asarray(out["ps"], dtype=np.float64), SCORE_DECIMALS),
        }

    def first_pass(self, arrays: Arrays) -> dict[str, Any]:
        """The chunk's minimum similarity and per-class true positives per score."""
        labels, preds, k = _cleanlab(arrays)
        return box_partial(labels, preds, k).to_json()

    def merge(self, partials: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The minimum similarity and each class's average-precision threshold."""
        parts = [BoxPartial.from_json(p) for p in partials]
        k = len(parts[0].n_gts) if parts else 0
        return merge_box_partials(parts, k).to_json()

    def second_pass(self, arrays: Arrays, merged: dict[str, Any]) -> ChunkScores:
        """ObjectLab's quality per answer; ``detail["flagged"]``: the answers flagged."""
        labels, preds, _ = _cleanlab(arrays)
        scored = score_box_partition(labels, preds, MergedBoxStats.from_json(merged))
        return ChunkScores(scored.quality, int(scored.is_issue.sum()), {"flagged": scored.is_issue})

    def issues(self, scored: Sequence[ChunkScores]) -> npt.NDArray[np.int64]:
        """The flagged answers, over every chunk in order."""
        if not scored:
            return np.zeros(0, dtype=np.int64)
        flagged = np.concatenate([np.asarray(s.detail["flagged"], dtype=bool) for s in scored])
        return np.flatnonzero(flagged).astype(np.int64)


def _cleanlab(arrays: Arrays) -> tuple[CleanlabLabels, CleanlabPredictions, int]:
    """cleanlab's per-answer label and prediction forms (via the engine's converter)."""
    n, k = int(arrays["n_answers"][0]), int(arrays["n_classes"][0])
    boxes = pd.DataFrame(np.asarray(arrays["label_box"]).reshape(-1, 4), columns=list(BOX_COLUMNS))
    boxes.insert(0, LABEL, np.asarray(arrays["label_class"], dtype=np.int64))
    boxes.insert(0, TASK, np.asarray(arrays["label_answer"], dtype=np.int64))
    preds = pd.DataFrame(np.asarray(arrays["pred_box"]).reshape(-1, 4), columns=list(BOX_COLUMNS))
    preds.insert(0, LABEL, np.asarray(arrays["pred_class"], dtype=np.int64))
    preds.insert(0, TASK, np.asarray(arrays["pred_answer"], dtype=np.int64))
    preds[SCORE] = np.asarray(arrays["pred_score"], dtype=np.float64)
    labels, predictions = _to_cleanlab_detection(
        boxes, preds, pd.Index(range(n)), pd.Index(range(k))
    )
    return labels, predictions, k


FLAGGER: Final = DetectionFlagger()
