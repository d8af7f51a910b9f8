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
from metrics.agreement import (
    fleiss_kappa,
    krippendorff_alpha,
    worker_accuracy,
    worker_consensus_agreement,
)
from metrics.scoring._assemble import check_labels, is_missing, outside_gold_warning
from metrics.scoring.base import CrowdAgreement, ScoringOptions, ScoringWarning
from metrics.types import LABEL, TASK, WORKER

if TYPE_CHECKING:  # the fusion module loads pycocotools: only region scorers need it
    from metrics.fusion import ItemFusion

__all__ = [
    "NO_CONSENSUS",
    "Fusion",
    "Votes",
    "annotator_table",
    "crowd_agreement",
    "fuse",
    "answered_mask",
    "is_missing",
    "no_majority_warning",
    "one",
    "region_annotator_table",
    "same",
    "vote",
]

Key = Callable[[Any], Hashable]

#: A tied vote's answer under ``ties="wrong"``: no gold class has this name.
NO_CONSENSUS = "<no consensus>"


def answered_mask(values: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """``not is_missing(v)`` for every value, without a Python call per value.

    :func:`pandas.isna` flags a superset (``pd.NA``, ``NaT`` too, which are answers here);
    only the flagged values are checked one by one.
    """
    kept = np.ones(len(values), dtype=bool)
    for i in np.flatnonzero(pd.isna(values)):
        kept[i] = not is_missing(values[i])
    return kept


def same(value: Any) -> Any:
    """The identity: a class label is its own vote key (lets :func:`vote` skip mapping)."""
    return value


def one(_value: Any) -> int:
    """One label per answer (a class): lets :func:`vote` skip mapping."""
    return 1


@dataclass(frozen=True, eq=False)
class Votes:
    """The candidate's one answer per answered gold item, and how it was reached.

    Attributes
    ----------
    answer
        Index ``task`` (answered gold items, gold order): the answer (original value).
    positions
        The answered items' positions in the gold index (aligned with ``answer``): the
        doors line per-item arrays up with gold by them, without looking keys up again.
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
    positions: npt.NDArray[np.intp]
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
        kept = labels[answered_mask(labels.to_numpy())]
        where = kept.index.get_indexer(gold_index)  # each gold item's row in kept, or -1
        inside = where >= 0
        positions = np.flatnonzero(inside).astype(np.intp)
        order = gold_index[positions]
        answer = kept.iloc[where[inside]]
        answer.index = order
        return Votes(
            answer=answer,
            positions=positions,
            n_answers=pd.Series(1, index=order, dtype=np.int64),
            n_objects=_sizes(answer.to_numpy(), size, order),
            tie=pd.Series(False, index=order, dtype=bool),
            answers=None,
            warnings=outside_gold_warning(len(kept) - len(positions)),
        )
    rows = labels[answered_mask(labels[LABEL].to_numpy())]
    where = gold_index.get_indexer(pd.Index(rows[TASK].to_numpy()))  # gold position, or -1
    inside = where >= 0
    rows, where = rows[inside], where[inside]
    outside = outside_gold_warning(int((~inside).sum()))
    if rows.empty:
        empty = gold_index[:0]
        return Votes(
            answer=pd.Series([], index=empty, dtype=object),
            positions=np.zeros(0, dtype=np.intp),
            n_answers=pd.Series([], index=empty, dtype=int),
            n_objects=pd.Series([], index=empty, dtype=int),
            tie=pd.Series([], index=empty, dtype=bool),
            answers=None,
            warnings=outside,
        )
    values = rows[LABEL].to_numpy()
    keys = values if key is same else rows[LABEL].map(key).to_numpy()
    answers = pd.DataFrame(
        {TASK: rows[TASK].to_numpy(), WORKER: _strings(rows[WORKER]), LABEL: keys}
    )
    value_of = None if key is same else dict(zip(keys, values, strict=True))
    if _one_answer_each(where, len(gold_index)):
        return _single_answers(answers, values, value_of, where, gold_index, size, outside)
    if value_of is None:
        value_of = dict(zip(keys, values, strict=True))
    consensus = majority_vote(answers, ties=options.ties, rng=np.random.default_rng(options.seed))
    # under ties="wrong" a tied item has no consensus label (None): answered, scored wrong
    voted, tied = consensus.label, consensus.tied
    present = gold_index.isin(voted.index)
    positions = np.flatnonzero(present).astype(np.intp)
    order = gold_index[positions]
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
        positions=positions,
        n_answers=pd.Series(per_task.size().reindex(order).to_numpy(np.int64), index=order),
        n_objects=pd.Series(objects.reindex(order).fillna(0).to_numpy(np.int64), index=order),
        tie=tied.reindex(order).astype(bool),
        answers=answers,
        warnings=outside,
    )


def _one_answer_each(where: npt.NDArray[np.intp], n_items: int) -> bool:
    """No gold position occurs twice in ``where``: every answered item has one answer."""
    return bool(np.bincount(where, minlength=n_items).max(initial=0) <= 1)


def _sizes(values: npt.NDArray[Any], size: Callable[[Any], int], index: pd.Index) -> pd.Series[int]:
    """Labels per answer (``size`` of each value), index ``index``."""
    if size is one:
        return pd.Series(np.ones(len(values), dtype=np.int64), index=index, dtype=int)
    sizes = np.fromiter(map(size, values), dtype=np.int64, count=len(values))
    return pd.Series(sizes, index=index, dtype=int)


def _strings(column: pd.Series[Any]) -> npt.NDArray[np.object_]:
    """``column.astype(str)`` as an object array; a column of strings is taken as it is."""
    values = column.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    return np.asarray(column.astype(str).to_numpy(), dtype=object)


def _single_answers(
    answers: pd.DataFrame,
    values: npt.NDArray[Any],
    value_of: dict[Any, Any] | None,
    where: npt.NDArray[np.intp],
    gold_index: pd.Index,
    size: Callable[[Any], int],
    outside: tuple[ScoringWarning, ...],
) -> Votes:
    """The vote when every item has one answer: that answer (no tie is possible).

    The same result as the majority vote, without grouping hundreds of thousands of
    answers by item: the rows in the order of their gold positions ``where``. ``value_of``
    maps a vote key to the value it stands for (``None``: the key is the value).
    """
    rows = np.argsort(where, kind="stable")
    positions = where[rows].astype(np.intp)
    order = gold_index[positions]
    picked = values[rows]
    answer = pd.Series(answers[LABEL].to_numpy()[rows], index=order, name=LABEL)
    if value_of is not None:
        answer = answer.map(value_of)
    return Votes(
        answer=answer,
        positions=positions,
        n_answers=pd.Series(1, index=order, dtype=np.int64),
        n_objects=_sizes(picked, size, order),
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


def crowd_agreement(answers: pd.DataFrame | None) -> CrowdAgreement | None:
    """Fleiss' kappa and Krippendorff's alpha (nominal) among a crowd's annotators.

    ``answers`` is :attr:`Votes.answers` (the gold items' answers, one row each): the
    numbers are :func:`metrics.agreement.fleiss_kappa` and
    :func:`metrics.agreement.krippendorff_alpha` of that table, the functions
    ``bakeoff agreement`` reports, so both commands give the same values for a file of
    gold items. Fleiss' kappa is given only when every answered item has the same number
    of answers (the measure's design); the note says why it is absent otherwise. ``None``
    when no item has two answers (nothing to agree on).
    """
    if answers is None or answers.empty:
        return None
    counts = answers.groupby(TASK, sort=False).size()
    low, high = int(counts.min()), int(counts.max())
    if high < 2:
        return None
    kappa: float | None = None
    note: str | None = None
    if low == high:
        kappa = float(fleiss_kappa(answers).value)
    else:
        note = (
            f"items have {low} to {high} answers; Fleiss' kappa needs the same number on "
            "every item (Krippendorff's alpha allows missing answers)"
        )
    alpha = krippendorff_alpha(answers, level="nominal")
    return CrowdAgreement(
        fleiss_kappa=kappa,
        fleiss_kappa_note=note,
        krippendorff_alpha=float(alpha.value),
        level="nominal",
        n_items=int((counts >= 2).sum()),
        min_answers=low,
        max_answers=high,
    )


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
    rows = labels[answered_mask(labels[LABEL].to_numpy())]
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
    positions = np.flatnonzero(gold_index.isin(list(by_task))).astype(np.intp)
    order = gold_index[positions]
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
        positions=positions,
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
