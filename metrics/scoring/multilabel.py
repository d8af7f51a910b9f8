"""Score multi-label classification: main metric **exact match** (the whole label set).

An item scores 1 when the candidate's set of classes equals gold's, else 0 (subset
accuracy). ``exact_match`` is over answered items, ``exact_match_all`` over all gold
items (unanswered = wrong; the ranking metric). Also: ``coverage``, ``micro_f1``,
``macro_f1``, ``hamming_loss`` and ``jaccard`` (sample-averaged), from
:func:`metrics.multilabel.multilabel_summary`, and per-class precision/recall/F1.
A crowd's answer per item is the majority vote over whole label sets.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series([["a"], ["a", "b"]], index=["t1", "t2"])
>>> s = score(gold, pd.Series([["a"], ["a"]], index=["t1", "t2"]))
>>> s.value("exact_match"), round(s.value("micro_f1"), 4)
(0.5, 0.8)
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

import numpy as np
import pandas as pd

from metrics.multilabel import MultilabelMetricName, multilabel_statistic, multilabel_summary
from metrics.scoring import _assemble
from metrics.scoring._crowd import annotator_table, vote
from metrics.scoring.base import Scored, ScoringOptions

__all__ = ["MAIN_METRIC", "MAIN_TITLE", "score"]

MAIN_METRIC = "exact_match"
MAIN_TITLE = "exact match (whole label set)"

_SECONDARY: dict[str, MultilabelMetricName] = {
    "micro_f1": "micro_f1",
    "macro_f1": "macro_f1",
    "hamming_loss": "hamming_loss",
    "jaccard": "jaccard_samples",
}


def _as_set(value: Any) -> frozenset[Any]:
    if isinstance(value, str) or not isinstance(value, Collection):
        raise TypeError(f"a multi-label value must be a collection of classes, got {value!r}")
    return frozenset(value)


def _key(value: Any) -> str:
    return json.dumps(sorted(str(v) for v in _as_set(value)))


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's label sets against gold.

    Parameters
    ----------
    gold
        Gold set of classes per task (lists, sets...; index ``task``).
    labels
        The candidate's set per task (``None``/``NaN``: skipped; an empty list is an
        answer: "no class"), or a crowd's answers table.
    options, metadata
        As in :func:`metrics.scoring.classification.score`.

    Raises
    ------
    UnknownLabelsError
        A class outside the vocabulary while ``options.unknown_labels == "refuse"``.
    TypeError, ValueError
        Malformed gold or labels.
    """
    gold = _assemble.check_gold(gold).map(_as_set)
    votes = vote(labels, gold.index, key=_key, size=lambda v: len(_as_set(v)), options=options)
    voted = votes.answer.map(_as_set)
    raw = votes.answers["label"].map(json.loads) if votes.answers is not None else voted
    used = {c for v in raw for c in v}
    known = {c for v in gold for c in v} | set(options.classes or ())
    warnings = _assemble.check_vocabulary(used, known, options=options)
    summary = multilabel_summary(gold, voted)
    answered = gold.index.isin(voted.index)
    aligned = voted.reindex(gold.index)
    exact = np.array(
        [ok and a == g for a, g, ok in zip(aligned, gold, answered, strict=True)], dtype=bool
    )
    score_ = exact.astype(np.float64)
    statistics = {
        name: (multilabel_statistic(gold, voted, metric=metric), float(getattr(summary, metric)))
        for name, metric in _SECONDARY.items()
    }
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=score_,
        n_answers=votes.n_answers,
        n_objects=votes.n_objects,
        tie=votes.tie,
    )
    per_class = pd.DataFrame(
        {
            "precision": summary.per_class.precision,
            "recall": summary.per_class.recall,
            "f1": summary.per_class.f1,
            "support": summary.per_class.support.astype(np.int64),
        }
    )
    per_class.index.name = "class"
    gold_keys = gold.map(_key)
    return _assemble.finish(
        task_type="multilabel",
        main=MAIN_METRIC,
        title=MAIN_TITLE,
        items=items,
        summary=_assemble.summarise(
            len(gold),
            ratios=_assemble.main_ratios(MAIN_METRIC, score_, answered),
            statistics=statistics,
            options=options,
        ),
        per_class=per_class,
        n_labels=int(votes.n_objects.sum()),
        options=options,
        metadata=metadata,
        warnings=(*votes.warnings, *warnings),
        per_annotator=annotator_table(votes.answers, gold_keys),
    )
