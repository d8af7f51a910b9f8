"""Aggregating several annotators' answers per task: counts, majority vote, Dawid-Skene.

Input is the long ``answers`` table with columns ``task``, ``worker``, ``label``
(see :mod:`metrics.types`). :func:`encode_answers` turns it into integer codes once;
:func:`count_answers` gives the ``(tasks, classes)`` count table that Fleiss' kappa,
Krippendorff's alpha and :func:`majority_vote` are computed from. :func:`majority_vote`
is the one aggregation of crowd answers that scoring and the review-queue flags share; it
returns a :class:`Consensus` that says which tasks were tied and how the ties were
resolved (``ties="wrong"``, ``"random"`` or ``"dawid_skene"``, see :class:`DawidSkene`).

Examples
--------
>>> import pandas as pd
>>> answers = pd.DataFrame({
...     "task": ["t1", "t1", "t1", "t2", "t2"],
...     "worker": ["a", "b", "c", "a", "b"],
...     "label": ["cat", "cat", "dog", "dog", "dog"],
... })
>>> vote = majority_vote(answers)
>>> vote.label.to_dict(), vote.n_tied
({'t1': 'cat', 't2': 'dog'}, 0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias, overload

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from metrics import _validation
from metrics.types import LABEL, TASK, WORKER

__all__ = [
    "TieBreak",
    "TiePolicy",
    "Consensus",
    "DawidSkene",
    "EncodedAnswers",
    "AnswerCounts",
    "encode_answers",
    "count_answers",
    "majority_vote",
]

TieBreak: TypeAlias = Literal["smallest", "random"]
TiePolicy: TypeAlias = Literal["wrong", "random", "dawid_skene"]
_TIE_POLICIES: tuple[TiePolicy, ...] = ("wrong", "random", "dawid_skene")
IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]


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
    if n_t * n_w <= max(8 * len(key), 1_000_000):
        dup = bool(np.bincount(key, minlength=n_t * n_w).max(initial=0) > 1)
    else:  # sparse (task, worker) grid: sorting beats a huge bincount and np.unique's hash
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


# --------------------------------------------------------------------------- consensus


@dataclass(frozen=True, eq=False)
class Consensus:
    """One label per task from several answers, with the tied votes made explicit.

    Attributes
    ----------
    label
        The consensus label, indexed by ``task`` (tasks in order of first appearance).
        Under ``ties="wrong"`` a tied task has no label (``None``): nobody's answer is
        taken, so the task scores as wrong and is flagged for review.
    tied
        ``True`` where two or more classes share the top vote count, indexed by ``task``.
    n_tied
        ``int(tied.sum())``: how many tasks were ties.
    tied_classes
        For the tied tasks only (indexed by ``task``): the tuple of classes that tied,
        in class order.
    ties
        The tie policy that produced ``label``.
    """

    label: pd.Series[Any]
    tied: pd.Series[bool]
    n_tied: int
    tied_classes: pd.Series[Any]
    ties: TiePolicy

    def ties_per_class(self, gold: pd.Series[Any]) -> pd.Series[int]:
        """How many tied tasks each gold class has (for per-class tables).

        Parameters
        ----------
        gold
            Gold label per task, indexed by ``task``; tasks without gold are left out.

        Returns
        -------
        pandas.Series
            Count of tied tasks per gold class, indexed by class (classes of ``gold``,
            sorted when comparable; 0 where none tied).

        Examples
        --------
        >>> import pandas as pd
        >>> answers = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b"] * 2,
        ...                         "label": ["x", "y", "x", "x"]})
        >>> majority_vote(answers).ties_per_class(pd.Series({1: "y", 2: "x"})).to_dict()
        {'x': 0, 'y': 1}
        """
        _validation.check_labels_series(gold, name="gold", allow_missing=True)
        known = gold.dropna()
        tied = self.tied.reindex(known.index, fill_value=False).astype(bool)
        counts = known[tied.to_numpy()].value_counts()
        try:
            classes = pd.Index(sorted(known.unique()))
        except TypeError:
            classes = pd.Index(known.unique())
        return counts.reindex(classes, fill_value=0).astype(np.int64).rename("n_tied")


@overload
def majority_vote(
    answers: pd.DataFrame, *, tie_break: TieBreak, rng: np.random.Generator | None = None
) -> pd.Series[Any]: ...


@overload
def majority_vote(
    answers: pd.DataFrame,
    *,
    ties: TiePolicy | None = None,
    rng: np.random.Generator | None = None,
) -> Consensus: ...


def majority_vote(
    answers: pd.DataFrame,
    *,
    ties: TiePolicy | None = None,
    rng: np.random.Generator | None = None,
    tie_break: TieBreak | None = None,
) -> pd.Series[Any] | Consensus:
    """The most frequent label per task, with an explicit policy for tied votes.

    A task is *tied* when two or more classes share its top vote count (e.g. three
    annotators, three different answers). How ties are resolved changes scores: breaking
    them by the alphabetically first class (the earlier default) hands every tie to the
    early-alphabet classes. So the policy is explicit and ties are returned:

    - ``"wrong"`` (the default): a tied task gets no consensus label. Scoring counts it
      as wrong (like a missing answer) and the review queue flags it. Deterministic,
      independent of row order and of any seed, so every door that aggregates the same
      answers agrees; it does not reward a crowd for failing to agree.
    - ``"random"``: one of the tied classes uniformly at random, drawn from ``rng``
      (``np.random.default_rng(0)`` when ``None``, so runs are reproducible); unbiased
      across classes in expectation. The draw depends on the table's row order.
    - ``"dawid_skene"``: the tied class with the highest posterior under a
      :class:`DawidSkene` model fitted to all the answers (annotators' confusion matrices
      decide; an exact posterior tie goes to the first class in class order).

    Untied tasks always keep their majority label.

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label``; missing labels are dropped.
    ties
        ``"wrong"``, ``"random"`` or ``"dawid_skene"``; ``"wrong"`` when neither this nor
        ``tie_break`` is given.
    rng
        Random generator for ``ties="random"`` (and ``tie_break="random"``).
    tie_break
        Deprecated call form, kept for existing callers: ``"smallest"`` or ``"random"``
        returns a plain ``pandas.Series`` of labels (no tie information) exactly as
        before. Cannot be combined with ``ties``.

    Returns
    -------
    Consensus
        Per-task ``label``, the boolean ``tied`` Series, ``n_tied`` and the tied classes.
        With ``tie_break=...``: a ``pandas.Series`` indexed by ``task``.

    Raises
    ------
    TypeError, ValueError
        See :func:`encode_answers`; also for an unknown policy or both ``ties`` and
        ``tie_break``.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": ["a", "b", "c"] * 2,
    ...                         "label": ["x", "x", "y", "x", "y", "z"]})
    >>> vote = majority_vote(answers)
    >>> vote.label.to_dict(), vote.tied.to_dict(), vote.n_tied
    ({1: 'x', 2: None}, {1: False, 2: True}, 1)
    >>> vote.tied_classes.to_dict()
    {2: ('x', 'y', 'z')}
    >>> majority_vote(answers, ties="random", rng=np.random.default_rng(1)).label[1]
    'x'
    >>> majority_vote(answers, tie_break="smallest").to_dict()
    {1: 'x', 2: 'x'}
    """
    if tie_break is not None:
        if ties is not None:
            raise ValueError("pass either ties= or the older tie_break=, not both")
        _validation.check_option(tie_break, name="tie_break", allowed=("smallest", "random"))
        counts = count_answers(answers)
        winner = _vote_from_counts(counts.counts, tie_break=tie_break, rng=rng)
        return pd.Series(counts.classes[winner], index=counts.tasks, name=LABEL)
    policy: TiePolicy = "wrong" if ties is None else ties
    _validation.check_option(policy, name="ties", allowed=_TIE_POLICIES)
    enc = encode_answers(answers)
    return _majority_vote_impl(enc, ties=policy, rng=rng)


def _majority_vote_impl(
    enc: EncodedAnswers, *, ties: TiePolicy, rng: np.random.Generator | None
) -> Consensus:
    counts = _counts_from_encoded(enc).counts
    n_t = counts.shape[0]
    is_max = counts == counts.max(axis=1, keepdims=True) if n_t else np.zeros_like(counts, bool)
    tied = is_max.sum(axis=1) > 1
    winner = np.asarray(counts.argmax(axis=1), dtype=np.int64) if n_t else np.zeros(0, np.int64)
    if ties == "random" and tied.any():
        gen = rng if rng is not None else np.random.default_rng(0)
        noise = gen.random((int(tied.sum()), counts.shape[1]))
        winner[tied] = np.where(is_max[tied], noise, -1.0).argmax(axis=1)
    elif ties == "dawid_skene" and tied.any():
        post = DawidSkene()._fit_encoded(enc).probas_.to_numpy()
        winner[tied] = np.where(is_max[tied], post[tied], -1.0).argmax(axis=1)
    labels = pd.Series(enc.classes[winner], index=enc.tasks, name=LABEL, dtype=object)
    if ties == "wrong":
        labels[tied] = None
    classes = enc.classes
    tied_classes = pd.Series(
        [tuple(classes[row].tolist()) for row in is_max[tied]],
        index=enc.tasks[tied],
        name="tied_classes",
        dtype=object,
    )
    return Consensus(
        label=labels,
        tied=pd.Series(tied, index=enc.tasks, name="tied", dtype=bool),
        n_tied=int(tied.sum()),
        tied_classes=tied_classes,
        ties=ties,
    )


# --------------------------------------------------------------------------- Dawid-Skene

_EPS = 1e-10


class DawidSkene:
    """Dawid and Skene's (1979) latent class model, fitted by EM (sklearn-style).

    Each worker ``w`` has a confusion matrix ``errors[w][k, c] = P(w answers k | true
    class c)``; classes have priors ``p``. EM starts from the majority-vote shares, then
    alternates the M-step (priors and confusion matrices from the current posteriors)
    and the E-step (posteriors from priors and matrices) until the evidence lower bound
    per answer improves by less than ``tol`` or ``n_iter`` rounds have run. The
    algorithm, initialisation, clipping at 1e-10 and stopping rule follow crowd-kit's
    ``DawidSkene`` (``crowdkit.aggregation.classification.dawid_skene``), so the two agree
    to rounding.

    Parameters
    ----------
    n_iter
        Most EM rounds.
    tol
        Stop when the lower bound per answer improves by less than this.

    Attributes
    ----------
    probas_
        Posterior class probabilities, shape ``(T, K)``: index ``task``, columns classes.
    labels_
        Most probable class per task (first class in class order on an exact tie).
    priors_
        Class priors, indexed by class.
    errors_
        Confusion matrices: index ``(worker, label)`` (the labels each worker gave),
        columns true classes; each worker's column sums to 1.
    n_iter_
        EM rounds run.
    loss_history_
        Lower bound per answer after each round.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({
    ...     "task": [1, 1, 1, 2, 2, 2, 3, 3, 3],
    ...     "worker": ["a", "b", "c"] * 3,
    ...     "label": ["x", "x", "y", "y", "y", "y", "x", "y", "x"],
    ... })
    >>> DawidSkene().fit(answers).labels_.to_dict()
    {1: 'x', 2: 'y', 3: 'x'}
    """

    probas_: pd.DataFrame
    labels_: pd.Series[Any]
    priors_: pd.Series[float]
    errors_: pd.DataFrame
    n_iter_: int
    loss_history_: list[float]

    def __init__(self, *, n_iter: int = 100, tol: float = 1e-5) -> None:
        self.n_iter = n_iter
        self.tol = tol

    def fit(self, answers: pd.DataFrame) -> DawidSkene:
        """Fit the model to ``answers`` (columns ``task``, ``worker``, ``label``).

        Returns
        -------
        DawidSkene
            ``self``, fitted.

        Raises
        ------
        TypeError, ValueError
            See :func:`encode_answers`; also for a non-positive ``n_iter`` or negative
            ``tol``, or no labelled answer.
        """
        _validation.check_positive_int(self.n_iter, name="n_iter")
        if not float(self.tol) >= 0.0:
            raise ValueError(f"tol must be >= 0; got {self.tol!r}")
        enc = encode_answers(answers)
        if len(enc.label) == 0:
            raise ValueError("answers has no labelled rows; Dawid-Skene needs answers")
        return self._fit_encoded(enc)

    def fit_predict(self, answers: pd.DataFrame) -> pd.Series[Any]:
        """:meth:`fit`, then the most probable class per task (``labels_``)."""
        return self.fit(answers).labels_

    def predict_proba(self) -> pd.DataFrame:
        """Posterior class probabilities of the fitted tasks, shape ``(T, K)``."""
        self._check_fitted()
        return self.probas_

    def predict(self) -> pd.Series[Any]:
        """Most probable class of each fitted task."""
        self._check_fitted()
        return self.labels_

    def _check_fitted(self) -> None:
        """Raise sklearn's ``NotFittedError`` (a ``ValueError``) before :meth:`fit`."""
        if not hasattr(self, "probas_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(
                "This DawidSkene instance is not fitted yet; call fit(answers) first"
            )

    def _fit_encoded(self, enc: EncodedAnswers) -> DawidSkene:
        n_t, n_w, n_k = len(enc.tasks), len(enc.workers), len(enc.classes)
        counts = _counts_from_encoded(enc).counts.astype(np.float64)
        # (worker, label) rows x tasks: which answers each (worker, label) gave
        rows = enc.worker * n_k + enc.label
        given = sparse.csr_matrix((np.ones(len(rows)), (rows, enc.task)), shape=(n_w * n_k, n_t))
        used = np.bincount(rows, minlength=n_w * n_k) > 0
        answers_by_task = given.T.tocsr()
        probas = counts / counts.sum(axis=1, keepdims=True)
        priors = probas.mean(axis=0)
        errors = self._m_step(given, probas, used, n_w, n_k)
        loss, history = -np.inf, []
        for _ in range(self.n_iter):
            probas = self._e_step(answers_by_task, priors, errors, used)
            priors = probas.mean(axis=0)
            errors = self._m_step(given, probas, used, n_w, n_k)
            new_loss = self._lower_bound(answers_by_task, probas, priors, errors, used)
            history.append(new_loss / len(rows))
            if history[-1] - loss < self.tol:
                break
            loss = history[-1]
        probas = np.maximum(probas, _EPS)
        classes = pd.Index(enc.classes)
        self.probas_ = pd.DataFrame(probas, index=enc.tasks, columns=classes)
        self.labels_ = pd.Series(
            enc.classes[probas.argmax(axis=1)], index=enc.tasks, name=LABEL, dtype=object
        )
        self.priors_ = pd.Series(np.maximum(priors, _EPS), index=classes, name="prior")
        index = pd.MultiIndex.from_arrays(
            [enc.workers[np.flatnonzero(used) // n_k], enc.classes[np.flatnonzero(used) % n_k]],
            names=[WORKER, LABEL],
        )
        self.errors_ = pd.DataFrame(errors[used], index=index, columns=classes)
        self.n_iter_ = len(history)
        self.loss_history_ = history
        return self

    @staticmethod
    def _m_step(
        given: sparse.csr_matrix,
        probas: FloatArray,
        used: npt.NDArray[np.bool_],
        n_w: int,
        n_k: int,
    ) -> FloatArray:
        """Confusion matrices: rows (worker, observed label), columns true class."""
        mass = np.asarray(given @ probas, dtype=np.float64)
        mass = np.where(used[:, None], np.maximum(mass, _EPS), 0.0)
        per_worker = mass.reshape(n_w, n_k, n_k).sum(axis=1, keepdims=True)
        return np.asarray((mass.reshape(n_w, n_k, n_k) / per_worker).reshape(n_w * n_k, n_k))

    @staticmethod
    def _log_errors(errors: FloatArray, used: npt.NDArray[np.bool_]) -> FloatArray:
        out = np.zeros_like(errors)
        out[used] = np.log(errors[used])
        return out

    def _e_step(
        self,
        answers_by_task: sparse.csr_matrix,
        priors: FloatArray,
        errors: FloatArray,
        used: npt.NDArray[np.bool_],
    ) -> FloatArray:
        log_post = np.log(np.maximum(priors, _EPS)) + np.asarray(
            answers_by_task @ self._log_errors(errors, used), dtype=np.float64
        )
        log_post -= log_post.max(axis=1, keepdims=True)
        post = np.exp(log_post)
        return np.asarray(post / post.sum(axis=1, keepdims=True))

    def _lower_bound(
        self,
        answers_by_task: sparse.csr_matrix,
        probas: FloatArray,
        priors: FloatArray,
        errors: FloatArray,
        used: npt.NDArray[np.bool_],
    ) -> float:
        # as crowd-kit: the prior term enters once per answer, and q is clipped at 1e-10
        # for the entropy only
        log_lik = np.asarray(answers_by_task @ self._log_errors(errors, used), dtype=np.float64)
        n_answers = np.asarray(answers_by_task.sum(axis=1), dtype=np.float64).reshape(-1)
        log_prior = np.log(np.maximum(priors, _EPS))
        joint = float((probas * (log_lik + n_answers[:, None] * log_prior)).sum())
        q = np.maximum(probas, _EPS)
        entropy = -float((q * np.log(q)).sum())
        return joint + entropy
