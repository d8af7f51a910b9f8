"""One answer per item from a candidate's labels: the single vote used by every scorer.

A candidate's labels are either a ``pandas.Series`` indexed by ``task`` (one answer per
item; ``None``/``NaN`` = skipped) or the long answers table (columns ``task``,
``worker``, ``label``) of a crowd. A crowd's answer per item is the majority vote of
:func:`metrics.aggregation.majority_vote` over hashable *keys* of the labels (a class
name, or a canonical string for a set of classes or spans); tied votes are counted and
flagged per item, whatever ``tie_break`` chose.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metrics.aggregation import count_answers, majority_vote
from metrics.agreement import worker_accuracy, worker_consensus_agreement
from metrics.scoring.base import ScoringOptions, ScoringWarning
from metrics.types import LABEL, TASK, WORKER

__all__ = ["Votes", "is_missing", "vote", "annotator_table"]

Key = Callable[[Any], Hashable]


def is_missing(value: object) -> bool:
    """``None`` or a float NaN (an unanswered item); an empty list is an answer."""
    return value is None or (isinstance(value, float) and np.isnan(value))


@dataclass(frozen=True, eq=False)
class Votes:
    """The candidate's one answer per answered gold item, and how it was reached.

    Attributes
    ----------
    answer
        Index ``task`` (answered gold items, gold order): the answer (original value).
    n_answers
        Index ``task``: answers received per item.
    n_objects
        Index ``task``: labels delivered per item over all answers (``size`` of each).
    tie
        Index ``task``: the crowd vote was tied.
    answers
        The crowd's long table restricted to gold items, with ``label`` holding the
        keys; ``None`` for one answer per item.
    warnings
        Labels on items outside gold (dropped).
    """

    answer: pd.Series[Any]
    n_answers: pd.Series[int]
    n_objects: pd.Series[int]
    tie: pd.Series[bool]
    answers: pd.DataFrame | None
    warnings: tuple[ScoringWarning, ...]


def _outside(n: int) -> tuple[ScoringWarning, ...]:
    if not n:
        return ()
    return (
        ScoringWarning(
            "labels_outside_gold", f"{n} label(s) on items that are not in gold were ignored"
        ),
    )


def vote(
    labels: pd.Series[Any] | pd.DataFrame,
    gold_index: pd.Index,
    *,
    key: Key,
    size: Callable[[Any], int],
    options: ScoringOptions,
) -> Votes:
    """Reduce ``labels`` to one answer per answered gold item.

    Parameters
    ----------
    labels
        A Series indexed by ``task``, or the long answers table.
    gold_index
        The gold items (order kept in the output).
    key
        Hashable key of a label value (equal keys = the same answer).
    size
        Labels (objects) in one answer: 1 for a class, the length of a list.
    options
        ``tie_break`` and ``seed`` of the vote.

    Raises
    ------
    TypeError
        When ``labels`` is neither a Series nor a DataFrame.
    ValueError
        When the answers table lacks a column or a Series has duplicate tasks.
    """
    if isinstance(labels, pd.Series):
        if not labels.index.is_unique:
            dupes = labels.index[labels.index.duplicated()].unique()[:5].tolist()
            raise ValueError(f"labels has duplicate tasks {dupes}; pass the answers table")
        kept = labels[np.array([not is_missing(v) for v in labels.to_numpy()], dtype=bool)]
        inside = kept.index.isin(gold_index)
        kept = kept[inside]
        order = gold_index[gold_index.isin(kept.index)]
        answer = kept.reindex(order)
        ones = pd.Series(1, index=order, dtype=np.int64)
        return Votes(
            answer=answer,
            n_answers=ones,
            n_objects=answer.map(size).astype(np.int64),
            tie=pd.Series(False, index=order, dtype=bool),
            answers=None,
            warnings=_outside(int((~inside).sum())),
        )
    if not isinstance(labels, pd.DataFrame):
        raise TypeError(
            "labels must be a Series indexed by task or a DataFrame with columns "
            f"{TASK!r}, {WORKER!r}, {LABEL!r}; got {type(labels).__name__}"
        )
    missing = [c for c in (TASK, WORKER, LABEL) if c not in labels.columns]
    if missing:
        raise ValueError(f"labels lacks column(s) {missing}; expected {TASK}, {WORKER}, {LABEL}")
    rows = labels[np.array([not is_missing(v) for v in labels[LABEL].to_numpy()], dtype=bool)]
    inside = rows[TASK].isin(gold_index).to_numpy()
    rows = rows[inside]
    outside = _outside(int((~inside).sum()))
    if rows.empty:
        empty = gold_index[:0]
        return Votes(
            answer=pd.Series([], index=empty, dtype=object),
            n_answers=pd.Series([], index=empty, dtype=int),
            n_objects=pd.Series([], index=empty, dtype=int),
            tie=pd.Series([], index=empty, dtype=bool),
            answers=None,
            warnings=outside,
        )
    keys = rows[LABEL].map(key)
    answers = pd.DataFrame(
        {
            TASK: rows[TASK].to_numpy(),
            WORKER: rows[WORKER].astype(str).to_numpy(),
            LABEL: keys.to_numpy(),
        }
    )
    value_of = dict(zip(keys.to_numpy(), rows[LABEL].to_numpy(), strict=True))
    voted = majority_vote(
        answers, tie_break=options.tie_break, rng=np.random.default_rng(options.seed)
    )
    counts = count_answers(answers)
    top = counts.counts.max(axis=1, keepdims=True)
    tied = pd.Series(((counts.counts == top).sum(axis=1) > 1), index=counts.tasks, dtype=bool)
    order = gold_index[gold_index.isin(voted.index)]
    per_task = answers.groupby(TASK, sort=False)
    objects = rows[LABEL].map(size).groupby(rows[TASK].to_numpy(), sort=False).sum()
    return Votes(
        answer=voted.reindex(order).map(value_of),
        n_answers=pd.Series(per_task.size().reindex(order).to_numpy(np.int64), index=order),
        n_objects=pd.Series(objects.reindex(order).fillna(0).to_numpy(np.int64), index=order),
        tie=tied.reindex(order).astype(bool),
        answers=answers,
        warnings=outside,
    )


def annotator_table(answers: pd.DataFrame | None, gold_keys: pd.Series[Any]) -> pd.DataFrame | None:
    """Per annotator of a crowd: items, agreement with gold and with the other annotators.

    ``answers`` holds label keys (comparable with ``gold_keys``); ``None`` unless there
    are at least two named annotators.
    """
    if answers is None:
        return None
    named = answers[answers[WORKER] != ""]
    if named[WORKER].nunique() < 2:
        return None
    with_gold = worker_accuracy(named, gold_keys).per_item
    with_peers = worker_consensus_agreement(named).per_item
    table = pd.DataFrame(
        {"n_items": named.groupby(WORKER)[TASK].nunique().astype(np.int64)},
    )
    table["agreement_with_gold"] = (
        with_gold.reindex(table.index).astype(float) if with_gold is not None else np.nan
    )
    table["agreement_with_peers"] = (
        with_peers.reindex(table.index).astype(float) if with_peers is not None else np.nan
    )
    table.index.name = WORKER
    return table
