"""One answer per item from a candidate's labels: the single vote used by every scorer.

A candidate's labels are either a ``pandas.Series`` indexed by ``task`` (one answer per
item; ``None``/``NaN`` = skipped) or the long answers table (columns ``task``,
``worker``, ``label``) of a crowd. A crowd's answer per item is the majority vote of
:func:`metrics.aggregation.majority_vote` over hashable *keys* of the labels (a class
name, or a canonical string for a set of classes or spans); tied votes are counted and
flagged per item, and settled by the explicit policy ``options.ties`` (the review-queue
flags use the same function and default, so an item scored wrong for a tie is flagged).

Boxes, masks, keypoints and spans cannot be voted as whole answers: :func:`fuse` builds a
crowd's answer per item with :mod:`metrics.fusion` (IoU/OKS clustering with majority;
character-level majority for spans), counts the regions left out for want of a majority
(:func:`no_majority_warning`), and :func:`region_annotator_table` scores each annotator
on its own against gold and against that consensus.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.aggregation import majority_vote
from metrics.agreement import worker_accuracy, worker_consensus_agreement
from metrics.scoring._assemble import check_labels, is_missing, outside_gold_warning
from metrics.scoring.base import ScoringOptions, ScoringWarning
from metrics.types import LABEL, TASK, WORKER

if TYPE_CHECKING:  # the fusion module loads pycocotools: only region scorers need it
    from metrics.fusion import ItemFusion

__all__ = [
    "NO_CONSENSUS",
    "Fusion",
    "Votes",
    "annotator_table",
    "fuse",
    "is_missing",
    "no_majority_warning",
    "region_annotator_table",
    "vote",
]

Key = Callable[[Any], Hashable]

#: A tied vote's answer under ``ties="wrong"``: no gold class has this name.
NO_CONSENSUS = "<no consensus>"


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
    check_labels(labels)
    if isinstance(labels, pd.Series):
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
            warnings=outside_gold_warning(int((~inside).sum())),
        )
    rows = labels[np.array([not is_missing(v) for v in labels[LABEL].to_numpy()], dtype=bool)]
    inside = rows[TASK].isin(gold_index).to_numpy()
    rows = rows[inside]
    outside = outside_gold_warning(int((~inside).sum()))
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


@dataclass(frozen=True, eq=False)
class Fusion:
    """A crowd's fused answer per answered gold item (see :func:`fuse`).

    Attributes
    ----------
    votes
        The answer per item and its counts, as :func:`vote` gives them (``tie`` is
        never set: fusion has no tie; ``answers`` is ``None``).
    answers
        The crowd's long table restricted to gold items (original values), or ``None``
        for one answer per item.
    no_majority
        Index ``task``: regions (or span runs) left out for want of a majority.
    n_unusable
        Regions that could not be read and took no part in the vote.
    """

    votes: Votes
    answers: pd.DataFrame | None
    no_majority: pd.Series[int]
    n_unusable: int


def fuse(
    labels: pd.Series[Any] | pd.DataFrame,
    gold_index: pd.Index,
    *,
    fuse_item: Callable[[list[Any]], ItemFusion],
    size: Callable[[Any], int],
) -> Fusion:
    """Reduce ``labels`` to one answer per answered gold item by region fusion.

    An item with one answer keeps it as it is; an item with several gets
    ``fuse_item(answers)``, the answers ordered by annotator id (then file order), so the
    consensus does not depend on the order the door read the rows in.

    Parameters
    ----------
    labels
        A Series indexed by ``task`` or the long answers table.
    gold_index
        The gold items (order kept in the output).
    fuse_item
        One item's consensus from its answers (a :mod:`metrics.fusion` function).
    size
        Labels (objects) in one answer.
    """
    if isinstance(labels, pd.Series):
        votes = vote(labels, gold_index, key=id, size=size, options=_ONE)
        empty = pd.Series(0, index=votes.answer.index, dtype=np.int64)
        return Fusion(votes=votes, answers=None, no_majority=empty, n_unusable=0)
    check_labels(labels)
    rows = labels[np.array([not is_missing(v) for v in labels[LABEL].to_numpy()], dtype=bool)]
    inside = rows[TASK].isin(gold_index).to_numpy()
    outside = outside_gold_warning(int((~inside).sum()))
    rows = pd.DataFrame(
        {
            TASK: rows[TASK].to_numpy()[inside],
            WORKER: rows[WORKER].astype(str).to_numpy()[inside],
            LABEL: rows[LABEL].to_numpy()[inside],
        }
    )
    rows = rows.sort_values([TASK, WORKER], kind="stable")
    by_task: dict[Any, list[Any]] = {}
    for task, value in zip(rows[TASK].to_numpy(), rows[LABEL].to_numpy(), strict=True):
        by_task.setdefault(task, []).append(value)
    order = gold_index[gold_index.isin(list(by_task))]
    answer: list[Any] = []
    dropped: list[int] = []
    unusable = 0
    for task in order:
        values = by_task[task]
        if len(values) == 1:
            answer.append(values[0])
            dropped.append(0)
            continue
        fused = fuse_item(values)
        answer.append(fused.objects)
        dropped.append(fused.no_majority)
        unusable += fused.n_unusable
    n_answers = np.asarray([len(by_task[t]) for t in order], dtype=np.int64)
    n_objects = np.asarray([sum(size(v) for v in by_task[t]) for t in order], dtype=np.int64)
    votes = Votes(
        answer=pd.Series(answer, index=order, dtype=object),
        n_answers=pd.Series(n_answers, index=order),
        n_objects=pd.Series(n_objects, index=order),
        tie=pd.Series(False, index=order, dtype=bool),
        answers=None,
        warnings=outside,
    )
    several = bool((n_answers > 1).any())
    return Fusion(
        votes=votes,
        answers=rows.reset_index(drop=True) if several else None,
        no_majority=pd.Series(dropped, index=order, dtype=np.int64),
        n_unusable=unusable,
    )


_ONE = ScoringOptions(n_resamples=1)


def no_majority_warning(fusion: Fusion, what: str) -> tuple[ScoringWarning, ...]:
    """Say how many fused items lost a region (``what``: "boxes", "spans") for want of a
    majority; nothing when every region had one or no item had several answers."""
    several = fusion.votes.n_answers > 1
    if not several.any():
        return ()
    hit = fusion.no_majority[several.to_numpy()]
    n_items, n_regions = int((hit > 0).sum()), int(hit.sum())
    if not n_items:
        return ()
    return (
        ScoringWarning(
            "crowd_no_majority",
            f"{n_items} of {int(several.sum())} items with several annotators had {what} "
            f"without a majority ({n_regions} in all: drawn by at most half of the item's "
            "annotators), left out of the consensus",
        ),
    )


def region_annotator_table(
    answers: pd.DataFrame | None,
    gold: pd.Series[Any],
    consensus: pd.Series[Any],
    *,
    item_f1: Callable[[pd.Series[Any], pd.Series[Any]], npt.NDArray[np.float64]],
) -> pd.DataFrame | None:
    """Per annotator of a crowd of regions or spans: items, mean per-item F1 against gold
    (``agreement_with_gold``) and against the fused consensus (``agreement_with_peers``).

    ``item_f1(reference, answer)`` is the scorer's per-item F1 of ``answer`` (a Series
    indexed by task) against ``reference``, in the order of ``answer``'s index. An
    annotator's several answers on one item: the first (file order) is scored. ``None``
    unless there are at least two named annotators.
    """
    if answers is None:
        return None
    named = answers[answers[WORKER] != ""]
    if named[WORKER].nunique() < 2:
        return None
    rows = []
    for worker, own in named.groupby(WORKER, sort=True):
        own = own.drop_duplicates(TASK)
        mine = pd.Series(own[LABEL].to_numpy(), index=own[TASK].to_numpy(), dtype=object)
        with_gold = item_f1(gold, mine)
        peers = mine[mine.index.isin(consensus.index)]
        with_peers = item_f1(consensus, peers) if len(peers) else np.zeros(0)
        rows.append(
            {
                WORKER: worker,
                "n_items": len(mine),
                "agreement_with_gold": float(with_gold.mean()) if len(with_gold) else np.nan,
                "agreement_with_peers": float(with_peers.mean()) if len(with_peers) else np.nan,
            }
        )
    table = pd.DataFrame(rows).set_index(WORKER)
    table["n_items"] = table["n_items"].astype(np.int64)
    return table
