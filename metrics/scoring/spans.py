"""Score text spans (NER): main metric **per-item span F1 (exact)**.

An item's score is the F1 of its predicted spans against its gold spans, a span being
right when a gold span of the item has the same start, end and type (the CoNLL/seqeval
definition): ``2 * correct / (n_gold + n_predicted)``, and 1 for an item where neither
side has a span. ``per_item_span_f1`` is the mean over answered items,
``per_item_span_f1_all`` over all gold items (unanswered = 0; the ranking metric).

Also, pooled over answered items as :func:`metrics.spans.span_scores` computes them:
``span_precision``, ``span_recall``, ``span_f1`` (exact, micro), ``span_macro_f1``
(mean F1 over entity types) and ``partial_f1`` (overlap of the same type, one-to-one),
and a per-type table. An answer with no span ("no entities") is an answer; ``None``
is not.

A crowd is scored on its consensus per item (:func:`metrics.fusion.fuse_spans`: a
character is kept when more than half of the item's annotators cover it with a span of
that type), with a ``crowd_no_majority`` warning counting the span runs left out and
each annotator's mean per-item span F1 against gold and consensus in ``per_annotator``.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series([[(0, 5, "PER")], [(3, 6, "LOC")]], index=["d1", "d2"])
>>> s = score(gold, pd.Series([[(0, 5, "PER"), (7, 9, "LOC")], []], index=["d1", "d2"]))
>>> round(s.value("per_item_span_f1"), 4), round(s.value("span_f1"), 4)
(0.3333, 0.5)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.fusion import fuse_spans
from metrics.scoring import _assemble
from metrics.scoring._crowd import fuse, no_majority_warning, region_annotator_table
from metrics.scoring._intervals import Ratio
from metrics.scoring.base import Scored, ScoringOptions
from metrics.spans import _partial_matches, span_scores
from metrics.types import LABEL, TASK

__all__ = ["MAIN_METRIC", "MAIN_TITLE", "Span", "as_spans", "score"]

MAIN_METRIC = "per_item_span_f1"
MAIN_TITLE = "per-item span F1 (exact)"

Span = tuple[int, int, str]


def _one(span: Any) -> Span:
    if isinstance(span, Mapping):
        kind = span.get("type", span.get("label"))
        start, end = span.get("start"), span.get("end")
    elif isinstance(span, tuple | list) and len(span) == 3:
        start, end, kind = span
    else:
        start, end, kind = (getattr(span, a, None) for a in ("start", "end", "type"))
    if not isinstance(start, int | np.integer) or not isinstance(end, int | np.integer):
        raise TypeError(f"a span needs integer start and end, got {span!r}")
    if kind is None or not 0 <= int(start) < int(end):
        raise ValueError(f"a span needs 0 <= start < end and a type, got {span!r}")
    return int(start), int(end), str(kind)


def as_spans(value: Any) -> list[Span]:
    """A list of spans (dicts with ``start``, ``end``, ``type``/``label``, or tuples)."""
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise TypeError(f"a span answer must be a list of spans, got {value!r}")
    return sorted(_one(s) for s in value)


def _frame(spans: pd.Series[Any]) -> pd.DataFrame:
    rows = [(task, s, e, t) for task, value in spans.items() for s, e, t in value]
    frame = pd.DataFrame(rows, columns=[TASK, "start", "end", LABEL])
    return frame.astype({"start": "int64", "end": "int64"})


def _per_item(
    gold: pd.Series[Any], pred: pd.Series[Any], types: list[str]
) -> tuple[npt.NDArray[np.float64], ...]:
    """Per item (gold order): exact-correct, partial-correct, n_gold, n_pred, and the
    per-type exact counts ``(n, T)`` correct, gold, pred."""
    n, t = len(gold), len(types)
    col = {k: j for j, k in enumerate(types)}
    exact, partial, n_gold, n_pred = (np.zeros(n) for _ in range(4))
    tp_t, gold_t, pred_t = (np.zeros((n, t)) for _ in range(3))
    for i, (g, p) in enumerate(zip(gold, pred, strict=True)):
        if p is None:
            continue
        n_gold[i], n_pred[i] = len(g), len(p)
        common = Counter(g) & Counter(p)
        exact[i] = sum(common.values())
        for _, _, kind in g:
            gold_t[i, col[kind]] += 1
        for _, _, kind in p:
            pred_t[i, col[kind]] += 1
        for (_, _, kind), c in common.items():
            tp_t[i, col[kind]] += c
        for kind in {k for _, _, k in g} & {k for _, _, k in p}:
            gs = np.array([(s, e) for s, e, k in g if k == kind])
            ps = np.array([(s, e) for s, e, k in p if k == kind])
            partial[i] += _partial_matches(gs, ps)
    return exact, partial, n_gold, n_pred, tp_t, gold_t, pred_t


def _macro_statistic(
    tp: npt.NDArray[np.float64], g: npt.NDArray[np.float64], p: npt.NDArray[np.float64]
) -> _assemble.Statistic:
    def statistic(idx: npt.NDArray[np.intp]) -> float:
        tp_s, g_s, p_s = tp[idx].sum(axis=0), g[idx].sum(axis=0), p[idx].sum(axis=0)
        present = (g_s + p_s) > 0
        if not present.any():
            return float("nan")
        prec = np.where(p_s > 0, tp_s / np.where(p_s > 0, p_s, 1), 0.0)
        rec = np.where(g_s > 0, tp_s / np.where(g_s > 0, g_s, 1), 0.0)
        s = prec + rec
        f1 = np.where(s > 0, 2 * prec * rec / np.where(s > 0, s, 1), 0.0)
        return float(f1[present].mean())

    return statistic


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's spans against gold.

    Parameters
    ----------
    gold
        Gold spans per task (index ``task``): a list of spans, each a dict with
        ``start``, ``end`` and ``type`` (or ``label``), or a ``(start, end, type)`` tuple.
    labels
        The candidate's spans per task in the same shape (``None``: skipped; ``[]``:
        "no entities"), or a crowd's answers table (fused per item by
        :func:`metrics.fusion.fuse_spans`: character-level majority of the same type).
    options, metadata
        As in :func:`metrics.scoring.classification.score`.

    Raises
    ------
    UnknownLabelsError
        An entity type outside the vocabulary while ``unknown_labels == "refuse"``.
    TypeError, ValueError
        Malformed spans (non-integer offsets, ``start >= end``).
    """
    gold = _assemble.check_gold(gold).map(as_spans)
    fusion = fuse(
        labels,
        gold.index,
        fuse_item=lambda answers: fuse_spans([as_spans(a) for a in answers]),
        size=lambda v: len(as_spans(v)),
    )
    votes = fusion.votes
    voted = votes.answer.map(as_spans)
    raw = fusion.answers["label"].map(as_spans) if fusion.answers is not None else voted
    used = {s[2] for v in raw for s in v}
    known = {s[2] for v in gold for s in v} | set(options.classes or ())
    warnings = _assemble.check_vocabulary(used, known, options=options, what="entity types")
    answered = gold.index.isin(voted.index)
    aligned = [voted.get(t) if ok else None for t, ok in zip(gold.index, answered, strict=True)]
    types = sorted(known | used)
    exact, partial, n_gold, n_pred, tp_t, gold_t, pred_t = _per_item(
        gold, pd.Series(aligned, dtype=object), types
    )
    denom = n_gold + n_pred
    with np.errstate(divide="ignore", invalid="ignore"):
        item_f1 = np.where(denom > 0, 2 * exact / np.where(denom > 0, denom, 1), 1.0)
    kept = [t for t, ok in zip(gold.index, answered, strict=True) if ok]
    exact_scores = span_scores(_frame(gold), _frame(voted), mode="exact", tasks=kept)
    partial_scores = span_scores(_frame(gold), _frame(voted), mode="partial", tasks=kept)
    ratios = _assemble.main_ratios(MAIN_METRIC, item_f1, answered)
    ratios |= {
        "span_precision": Ratio(exact, n_pred),
        "span_recall": Ratio(exact, n_gold),
        "span_f1": Ratio(2 * exact, denom),
        "partial_f1": Ratio(2 * partial, denom),
    }
    macro = exact_scores.macro_f1.value
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=item_f1,
        n_answers=votes.n_answers,
        n_objects=votes.n_objects,
        tie=votes.tie,
    )
    table = exact_scores.per_type
    per_class = pd.DataFrame(
        {
            "precision": table["precision"],
            "recall": table["recall"],
            "f1": table["f1"],
            "support": table["n_gold"].astype(np.int64),
            "n_predicted": table["n_pred"].astype(np.int64),
            "partial_f1": partial_scores.per_type["f1"].reindex(table.index),
        }
    )
    per_class.index.name = "class"
    return _assemble.finish(
        task_type="spans",
        main=MAIN_METRIC,
        title=MAIN_TITLE,
        items=items,
        summary=_assemble.summarise(
            len(gold),
            ratios=ratios,
            statistics={"span_macro_f1": (_macro_statistic(tp_t, gold_t, pred_t), macro)},
            values={
                "span_precision": exact_scores.precision.value,
                "span_recall": exact_scores.recall.value,
                "span_f1": exact_scores.f1.value,
                "partial_f1": partial_scores.f1.value,
            },
            options=options,
        ),
        per_class=per_class,
        n_labels=int(votes.n_objects.sum()),
        options=options,
        metadata=metadata,
        warnings=(*votes.warnings, *no_majority_warning(fusion, "spans"), *warnings),
        per_annotator=region_annotator_table(
            fusion.answers, gold, voted, item_f1=lambda ref, ans: _item_f1(ref, ans, types)
        ),
    )


def _item_f1(
    reference: pd.Series[Any], answer: pd.Series[Any], types: list[str]
) -> npt.NDArray[np.float64]:
    """Per item of ``answer`` (its order): its exact span F1 against ``reference``."""
    ref = pd.Series([reference.get(t, []) for t in answer.index], dtype=object).map(as_spans)
    pred = answer.map(as_spans).reset_index(drop=True)
    kinds = sorted({*types, *(k for v in [*ref, *pred] for _, _, k in v)})
    exact, _, n_gold, n_pred, _, _, _ = _per_item(ref, pred, kinds)
    denom = n_gold + n_pred
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, 2 * exact / np.where(denom > 0, denom, 1), 1.0)
