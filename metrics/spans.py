"""Text-span (NER) precision, recall and F1 per entity type: exact and partial overlap.

Spans are rows of a DataFrame with columns ``task``, ``start``, ``end``, ``label``:
character offsets ``[start, end)`` into the task's text and the entity type.

* ``mode="exact"``: a predicted span is correct when a gold span of the same task has the
  same type, start and end (the CoNLL/seqeval definition; nervaluate's ``strict``).
* ``mode="partial"``: a predicted span is correct when it overlaps (by at least one
  character) a gold span of the same task and type. Spans are paired one-to-one: within
  each (task, type) the pairing has the largest number of pairs and, among those, the
  largest total overlap (optimal assignment). nervaluate's ``ent_type`` pairs greedily
  in list order instead, so the two can differ when one prediction overlaps several gold
  spans; they agree whenever each span overlaps at most one span on the other side.

Precision is correct / predicted, recall correct / gold, per type and pooled over types
(micro); ``macro_f1`` is the mean F1 over types. Undefined ratios are 0 (nervaluate's
convention). ``tasks`` restricts scoring to the tasks a system answered (a task with no
predicted span is a valid answer: "no entities"), and gives ``coverage``.

Examples
--------
>>> import pandas as pd
>>> gold = pd.DataFrame({"task": ["d1", "d1"], "start": [0, 10], "end": [5, 16],
...                      "label": ["PER", "LOC"]})
>>> pred = pd.DataFrame({"task": ["d1", "d1"], "start": [0, 11], "end": [5, 16],
...                      "label": ["PER", "LOC"]})
>>> span_scores(gold, pred).f1.value
0.5
>>> span_scores(gold, pred, mode="partial").f1.value
1.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd

from metrics import _validation
from metrics.types import LABEL, TASK, MetricResult

__all__ = ["SpanMode", "START", "END", "SpanScores", "span_scores"]

SpanMode: TypeAlias = Literal["exact", "partial"]
START = "start"
END = "end"


@dataclass(frozen=True)
class SpanScores:
    """Span precision/recall/F1 of one system.

    Attributes
    ----------
    precision, recall, f1
        Pooled over entity types (micro); ``per_item`` is per type (index ``label``).
    macro_f1
        Mean of the per-type F1.
    per_type
        Index ``label`` (entity type); columns ``n_gold``, ``n_pred``, ``correct``,
        ``precision``, ``recall``, ``f1``.
    coverage
        Share of gold tasks that were scored (1.0 unless ``tasks`` was given).
    mode
        ``"exact"`` or ``"partial"``.
    """

    precision: MetricResult
    recall: MetricResult
    f1: MetricResult
    macro_f1: MetricResult
    per_type: pd.DataFrame
    coverage: float
    mode: SpanMode


def _check_spans(frame: object, *, name: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame with columns {TASK!r}, {START!r}, {END!r}, "
            f"{LABEL!r}; got {type(frame).__name__}"
        )
    missing = [c for c in (TASK, START, END, LABEL) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {', '.join(map(repr, missing))}; "
            f"expected {TASK!r}, {START!r}, {END!r}, {LABEL!r}"
        )
    for col in (TASK, LABEL, START, END):
        null = frame[col].isna().to_numpy()
        if null.any():
            raise ValueError(
                f"{name}[{col!r}] has missing values at row(s) {list(frame.index[null][:5])}"
            )
    for col in (START, END):
        if frame[col].dtype.kind not in "iu":
            raise TypeError(f"{name}[{col!r}] must hold integer character offsets")
    bad = (frame[START].to_numpy() < 0) | (frame[END].to_numpy() <= frame[START].to_numpy())
    if bad.any():
        raise ValueError(
            f"{name} has invalid span(s) at row(s) {list(frame.index[bad][:5])}: "
            "need 0 <= start < end"
        )
    return frame


def _group(frame: pd.DataFrame) -> dict[tuple[Any, Any], np.ndarray[Any, Any]]:
    out: dict[tuple[Any, Any], np.ndarray[Any, Any]] = {}
    if frame.empty:
        return out
    for key, part in frame.groupby([TASK, LABEL], sort=False):
        out[(key[0], key[1])] = part[[START, END]].to_numpy(dtype=np.int64)
    return out


def _exact_matches(gold: np.ndarray[Any, Any], pred: np.ndarray[Any, Any]) -> int:
    g = Counter(map(tuple, gold.tolist()))
    p = Counter(map(tuple, pred.tolist()))
    return sum(min(n, p[key]) for key, n in g.items() if key in p)


def _partial_matches(gold: np.ndarray[Any, Any], pred: np.ndarray[Any, Any]) -> int:
    lo = np.maximum(gold[:, None, 0], pred[None, :, 0])
    hi = np.minimum(gold[:, None, 1], pred[None, :, 1])
    overlap = np.maximum(hi - lo, 0).astype(np.float64)
    if not (overlap > 0).any():
        return 0
    # maximise the number of pairs first, then total overlap
    scale = float(overlap.max()) * min(overlap.shape) + 1.0
    weight = np.where(overlap > 0, scale + overlap, 0.0)
    from scipy.optimize import linear_sum_assignment  # imported on use: 0.4 s

    rows, cols = linear_sum_assignment(weight, maximize=True)
    return int((overlap[rows, cols] > 0).sum())


def span_scores(
    gold: pd.DataFrame,
    pred: pd.DataFrame,
    *,
    mode: SpanMode = "exact",
    tasks: Iterable[object] | None = None,
) -> SpanScores:
    """Precision, recall and F1 of predicted spans against gold, per entity type.

    Parameters
    ----------
    gold, pred
        Columns ``task``, ``start``, ``end`` (integer offsets, ``0 <= start < end``)
        and ``label`` (entity type).
    mode
        ``"exact"`` or ``"partial"`` (see the module docstring).
    tasks
        Tasks the system answered; gold and predictions on other tasks are left out.
        ``None``: every task in ``gold`` or ``pred``.

    Returns
    -------
    SpanScores

    Raises
    ------
    TypeError
        If an input is not a DataFrame or offsets are not integers.
    ValueError
        On missing columns or values, or a span with ``start >= end``.
    """
    _validation.check_option(mode, name="mode", allowed=("exact", "partial"))
    _check_spans(gold, name="gold")
    _check_spans(pred, name="pred")
    coverage = 1.0
    if tasks is not None:
        keep = set(tasks)
        gold_tasks = set(gold[TASK].tolist())
        coverage = len(gold_tasks & keep) / len(gold_tasks) if gold_tasks else float("nan")
        gold = gold[gold[TASK].isin(keep).to_numpy()]
        pred = pred[pred[TASK].isin(keep).to_numpy()]
    g_groups = _group(gold)
    p_groups = _group(pred)
    types = sorted({k[1] for k in g_groups} | {k[1] for k in p_groups}, key=str)
    counts = {t: [0, 0, 0] for t in types}  # n_gold, n_pred, correct
    for key, spans in g_groups.items():
        counts[key[1]][0] += len(spans)
    for key, spans in p_groups.items():
        counts[key[1]][1] += len(spans)
        if key in g_groups:
            match = _exact_matches if mode == "exact" else _partial_matches
            counts[key[1]][2] += match(g_groups[key], spans)
    table = pd.DataFrame(
        [counts[t] for t in types],
        index=pd.Index(types, name=LABEL),
        columns=["n_gold", "n_pred", "correct"],
        dtype=np.int64,
    )

    def ratio(num: pd.Series[Any], den: pd.Series[Any]) -> pd.Series[float]:
        return (num / den.where(den > 0)).fillna(0.0).astype(float)

    table["precision"] = ratio(table["correct"], table["n_pred"])
    table["recall"] = ratio(table["correct"], table["n_gold"])
    pr = table["precision"] + table["recall"]
    table["f1"] = (2 * table["precision"] * table["recall"] / pr.where(pr > 0)).fillna(0.0)
    n_gold, n_pred, correct = (int(table[c].sum()) for c in ("n_gold", "n_pred", "correct"))
    precision = correct / n_pred if n_pred else 0.0
    recall = correct / n_gold if n_gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    params = {"mode": mode}
    macro = float(table["f1"].mean()) if len(table) else float("nan")
    return SpanScores(
        precision=MetricResult("span_precision", precision, table["precision"], params),
        recall=MetricResult("span_recall", recall, table["recall"], params),
        f1=MetricResult("span_f1", f1, table["f1"], params),
        macro_f1=MetricResult("span_macro_f1", macro, table["f1"], params),
        per_type=table,
        coverage=coverage,
        mode=mode,
    )
