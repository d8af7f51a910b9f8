"""Aggregating several annotators' answers per task: answer counts and majority vote.

Input is the long ``answers`` table with columns ``task``, ``worker``, ``label``
(see :mod:`metrics.types`). :func:`encode_answers` turns it into integer codes once;
:func:`count_answers` gives the ``(tasks, classes)`` count table that Fleiss' kappa,
Krippendorff's alpha and :func:`majority_vote` are computed from.

Examples
--------
>>> import pandas as pd
>>> answers = pd.DataFrame({
...     "task": ["t1", "t1", "t1", "t2", "t2"],
...     "worker": ["a", "b", "c", "a", "b"],
...     "label": ["cat", "cat", "dog", "dog", "dog"],
... })
>>> majority_vote(answers).to_dict()
{'t1': 'cat', 't2': 'dog'}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics import _validation
from metrics.types import LABEL, TASK, WORKER

__all__ = [
    "TieBreak",
    "EncodedAnswers",
    "AnswerCounts",
    "encode_answers",
    "count_answers",
    "majority_vote",
]

TieBreak: TypeAlias = Literal["smallest", "random"]
IntArray: TypeAlias = npt.NDArray[np.int64]


@dataclass(frozen=True)
class EncodedAnswers:
    """The answers table as integer codes (rows without a label are dropped).

    Attributes
    ----------
    tasks, workers
        Distinct task and worker ids in order of first appearance.
    classes
        Distinct labels, sorted when they are mutually comparable.
    task, worker, label
        Codes into ``tasks``, ``workers`` and ``classes``, shape ``(R,)`` for R answers.
    """

    tasks: pd.Index
    workers: pd.Index
    classes: npt.NDArray[np.generic]
    task: IntArray
    worker: IntArray
    label: IntArray


@dataclass(frozen=True)
class AnswerCounts:
    """How many workers gave each class to each task.

    Attributes
    ----------
    tasks
        Task ids, shape ``(T,)``.
    classes
        Class labels, shape ``(K,)``.
    counts
        Counts, shape ``(T, K)``.
    """

    tasks: pd.Index
    classes: npt.NDArray[np.generic]
    counts: IntArray


def _factorize(values: pd.Series[Any], *, sort: bool) -> tuple[IntArray, pd.Index]:
    try:
        codes, uniques = pd.factorize(values, sort=sort)
    except TypeError:
        codes, uniques = pd.factorize(values, sort=False)
    return codes.astype(np.int64, copy=False), pd.Index(uniques)


def _encode_answers_impl(answers: pd.DataFrame) -> EncodedAnswers:
    if answers[LABEL].isna().to_numpy().any():
        answers = answers[answers[LABEL].notna().to_numpy()]
    task, tasks = _factorize(answers[TASK], sort=False)
    worker, workers = _factorize(answers[WORKER], sort=False)
    label, classes = _factorize(answers[LABEL], sort=True)
    n_t, n_w = len(tasks), len(workers)
    key = task * n_w + worker
    if n_t * n_w <= 50_000_000:
        dup = bool(np.bincount(key, minlength=n_t * n_w).max(initial=0) > 1)
    else:  # sorting beats np.unique's hash table on a large key range
        ordered = np.sort(key)
        dup = bool((ordered[1:] == ordered[:-1]).any())
    if dup:
        bad = answers[answers.duplicated(subset=[TASK, WORKER], keep="first").to_numpy()]
        pairs = list(zip(bad[TASK].tolist(), bad[WORKER].tolist(), strict=True))[:5]
        raise ValueError(
            f"answers has more than one answer for the same ({TASK}, {WORKER}) pair: "
            + ", ".join(repr(p) for p in pairs)
        )
    return EncodedAnswers(
        tasks=pd.Index(tasks, name=TASK),
        workers=pd.Index(workers, name=WORKER),
        classes=classes.to_numpy(),
        task=task,
        worker=worker,
        label=label,
    )


def encode_answers(answers: pd.DataFrame, *, allow_missing: bool = True) -> EncodedAnswers:
    """Validate the long answers table and encode task, worker and label as integer codes.

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label``; one row per answer.
    allow_missing
        If ``True`` (default), rows whose ``label`` is missing are dropped.

    Returns
    -------
    EncodedAnswers

    Raises
    ------
    TypeError
        If ``answers`` is not a DataFrame.
    ValueError
        On missing columns, missing ids, or two answers for one (task, worker) pair.

    Examples
    --------
    >>> import pandas as pd
    >>> enc = encode_answers(pd.DataFrame({"task": [7, 7], "worker": ["a", "b"], "label": [2, 1]}))
    >>> enc.classes.tolist(), enc.label.tolist()
    ([1, 2], [1, 0])
    """
    _validation.check_answers(answers, allow_missing=allow_missing, check_duplicates=False)
    return _encode_answers_impl(answers)


def _counts_from_encoded(enc: EncodedAnswers) -> AnswerCounts:
    n_t, n_k = len(enc.tasks), len(enc.classes)
    flat = np.bincount(enc.task * n_k + enc.label, minlength=n_t * n_k)
    return AnswerCounts(tasks=enc.tasks, classes=enc.classes, counts=flat.reshape(n_t, n_k))


def count_answers(answers: pd.DataFrame) -> AnswerCounts:
    """Count, per task, how many workers chose each class.

    Returns
    -------
    AnswerCounts
        ``counts`` has shape ``(T, K)`` for T tasks and K classes.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1, 2], "worker": [1, 2, 1], "label": list("xyx")})
    >>> c = count_answers(answers)
    >>> c.counts.tolist()
    [[1, 1], [1, 0]]
    """
    return _counts_from_encoded(encode_answers(answers))


def _vote_from_counts(
    counts: IntArray, *, tie_break: TieBreak, rng: np.random.Generator | None
) -> IntArray:
    if tie_break == "smallest" or counts.size == 0:
        return np.asarray(counts.argmax(axis=1), dtype=np.int64)
    gen = rng if rng is not None else np.random.default_rng()
    is_max = counts == counts.max(axis=1, keepdims=True)
    noise = gen.random(counts.shape)
    return np.asarray(np.where(is_max, noise, -1.0).argmax(axis=1), dtype=np.int64)


def majority_vote(
    answers: pd.DataFrame,
    *,
    tie_break: TieBreak = "smallest",
    rng: np.random.Generator | None = None,
) -> pd.Series[Any]:
    """The most frequent label per task.

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label``.
    tie_break
        ``"smallest"``: the smallest of the tied labels (deterministic);
        ``"random"``: one of the tied labels uniformly at random, drawn from ``rng``.
    rng
        Random generator for ``tie_break="random"``; a fresh unseeded one if ``None``.

    Returns
    -------
    pandas.Series
        The majority label, indexed by ``task`` (tasks in order of first appearance).

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["y", "x"]})
    >>> majority_vote(answers).tolist()
    ['x']
    """
    _validation.check_option(tie_break, name="tie_break", allowed=("smallest", "random"))
    counts = count_answers(answers)
    winner = _vote_from_counts(counts.counts, tie_break=tie_break, rng=rng)
    return pd.Series(counts.classes[winner], index=counts.tasks, name=LABEL)
