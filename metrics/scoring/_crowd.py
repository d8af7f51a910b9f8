"""One answer per item from a candidate's labels: the single vote used by every scorer.

A candidate's labels are either a ``pandas.Series`` indexed by ``task`` (one answer per
item; ``None``/``NaN`` = skipped) or the long answers table (columns ``task``,
``worker``, ``label``) of a crowd. A crowd's answer per item is the majority vote of
:func:`metrics.aggregation.majority_vote` over hashable *keys* of the labels (a class
name, or a canonical string for a set of classes or spans); tied votes are counted and
flagged per item, and settled by the explicit policy ``options.ties`` (the review-queue
flags use the same function and default, so an item scored wrong for a tie is flagged).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metrics.aggregation import majority_vote
from metrics.agreement import worker_accuracy, worker_consensus_agreement
from metrics.scoring.base import ScoringOptions, ScoringWarning
from metrics.types import LABEL, TASK, WORKER

__all__ = ["NO_CONSENSUS", "Votes", "is_missing", "vote", "annotator_table"]

Key = Callable[[Any], Hashable]

#: A tied vote's answer under ``ties="wrong"``: no gold class has this name.
NO_CONSENSUS = "<no consensus>"


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
    no_consensus: Any = NO_CONSENSUS,
) -> Votes:
    """Reduce ``labels`` to one answer per answered gold item.

    Under ``options.ties == "wrong"`` a tied item's answer is ``no_consensus``: a value of the
    task's shape that equals no gold (the item stays answered, so coverage is unchanged).

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
        ``ties`` and ``seed`` of the vote.

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
    if not answers[TASK].duplicated().any():
        return _single_answers(rows, answers, gold_index, value_of, size, outside)
    consensus = majority_vote(answers, ties=options.ties, rng=np.random.default_rng(options.seed))
    # under ties="wrong" a tied item has no consensus label (None): answered, scored wrong
    voted, tied = consensus.label, consensus.tied
    order = gold_index[gold_index.isin(voted.index)]
    per_task = answers.groupby(TASK, sort=False)
    objects = rows[LABEL].map(size).groupby(rows[TASK].to_numpy(), sort=False).sum()
    answer = voted.reindex(order).map(value_of)
    if tied.any():
        no_label = voted.reindex(order).isna().to_numpy()
        answer = answer.astype(object)
        for position in np.flatnonzero(no_label):
            answer.iat[int(position)] = no_consensus
    return Votes(
        answer=answer,
        n_answers=pd.Series(per_task.size().reindex(order).to_numpy(np.int64), index=order),
        n_objects=pd.Series(objects.reindex(order).fillna(0).to_numpy(np.int64), index=order),
        tie=tied.reindex(order).astype(bool),
        answers=answers,
        warnings=outside,
    )


def _single_answers(
    rows: pd.DataFrame,
    answers: pd.DataFrame,
    gold_index: pd.Index,
    value_of: dict[Any, Any],
    size: Callable[[Any], int],
    outside: tuple[ScoringWarning, ...],
) -> Votes:
    """The vote when every item has one answer: that answer (no tie is possible).

    The same result as the majority vote, without grouping hundreds of thousands of
    answers by item.
    """
    tasks = pd.Index(answers[TASK].to_numpy())
    order = gold_index[gold_index.isin(tasks)]
    position = tasks.get_indexer(order)
    keys = answers[LABEL].to_numpy()[position]
    answer = pd.Series(keys, index=order, name=LABEL).map(value_of)
    objects = rows[LABEL].map(size).to_numpy(np.int64)[position]
    return Votes(
        answer=answer,
        n_answers=pd.Series(1, index=order, dtype=np.int64),
        n_objects=pd.Series(objects, index=order),
        tie=pd.Series(False, index=order, dtype=bool, name="tied"),
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
