"""Agreement among several annotators: Fleiss' kappa, Krippendorff's alpha, pairwise kappa.

Input is the long ``answers`` table with columns ``task``, ``worker``, ``label`` (one row
per answer; see :mod:`metrics.types`). Tasks may have different numbers of answers; a
missing ``label`` means "no answer" and is dropped.

Examples
--------
>>> import pandas as pd
>>> answers = pd.DataFrame({
...     "task":   [1, 1, 1, 2, 2, 2, 3, 3, 3],
...     "worker": ["a", "b", "c"] * 3,
...     "label":  ["x", "x", "x", "y", "y", "x", "y", "y", "y"],
... })
>>> round(fleiss_kappa(answers).value, 4)
0.55
>>> round(krippendorff_alpha(answers).value, 4)
0.6
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import sparse

from metrics import _validation
from metrics.aggregation import (
    EncodedAnswers,
    _counts_from_encoded,
    _encode_answers_impl,
    encode_answers,
)
from metrics.classification import KappaWeights
from metrics.types import LABEL, TASK, WORKER, MetricResult

__all__ = [
    "Level",
    "PairWeights",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_cohen_kappa",
    "worker_consensus_agreement",
    "worker_accuracy",
]

Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]
_LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
PairWeights: TypeAlias = Literal["shared_items", "equal"]
_PAIR_WEIGHTS: tuple[PairWeights, ...] = ("shared_items", "equal")
_KAPPA_WEIGHTS: tuple[KappaWeights, ...] = ("none", "linear", "quadratic")
FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
_DENSE_LIMIT = 20_000_000  # (units x values) cells above which counts go sparse
_DENSE_ROWS = 2_000_000  # (workers x classes) above which only the rows that occur are kept


def _require_rows(answers: pd.DataFrame) -> None:
    if answers[LABEL].notna().sum() == 0:
        raise ValueError("answers has no labelled rows; agreement needs at least one answer")


# --------------------------------------------------------------------------- Fleiss


def fleiss_kappa(answers: pd.DataFrame) -> MetricResult:
    """Fleiss' kappa, allowing a different number of raters per task.

    With ``n_i`` answers on task ``i`` of which ``n_ij`` chose class ``j``:
    ``P_i = (sum_j n_ij**2 - n_i) / (n_i (n_i - 1))``, ``P = mean_i P_i``,
    ``p_j = sum_i n_ij / sum_i n_i``, ``P_e = sum_j p_j**2`` and
    ``kappa = (P - P_e) / (1 - P_e)``. Tasks with fewer than two answers are left out.
    When every task has the same number of answers this is exactly
    :func:`statsmodels.stats.inter_rater.fleiss_kappa`.

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label``.

    Returns
    -------
    MetricResult
        ``value`` at most 1 (``nan`` when only one class is ever used or no task has two
        answers); ``per_item`` is ``P_i`` per task; ``params["n_tasks"]`` the tasks used.

    Raises
    ------
    TypeError, ValueError
        See :func:`metrics._validation.check_answers`; also if no row has a label.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1, 2, 2, 2], "worker": [1, 2, 1, 2, 3],
    ...                         "label": ["a", "a", "b", "b", "a"]})
    >>> round(fleiss_kappa(answers).value, 4)
    0.3056
    """
    _validation.check_answers(answers, allow_missing=True, check_duplicates=False)
    _require_rows(answers)
    return _fleiss_kappa_impl(_encode_answers_impl(answers))


def _fleiss_kappa_impl(enc: EncodedAnswers) -> MetricResult:
    counts = _counts_from_encoded(enc)
    c = counts.counts
    n_i = c.sum(axis=1)
    keep = n_i >= 2
    c = c[keep].astype(np.float64)
    n = n_i[keep].astype(np.float64)
    tasks = counts.tasks[keep]
    if c.shape[0] == 0:
        return MetricResult("fleiss_kappa", float("nan"), params={"n_tasks": 0})
    p_i = ((c * c).sum(axis=1) - n) / (n * (n - 1.0))
    p_bar = float(p_i.mean())
    p_j = c.sum(axis=0) / n.sum()
    p_e = float((p_j * p_j).sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        value = (p_bar - p_e) / (1.0 - p_e) if p_e != 1.0 else float("nan")
    per_item = pd.Series(p_i, index=pd.Index(tasks, name=TASK), name="agreement")
    return MetricResult("fleiss_kappa", float(value), per_item, params={"n_tasks": int(len(p_i))})


# --------------------------------------------------------------------------- Krippendorff


def _numeric_values(classes: npt.NDArray[np.generic], level: Level) -> FloatArray:
    try:
        values = np.asarray(classes, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"krippendorff_alpha(level={level!r}) needs numeric labels; "
            f"got non-numeric label(s) such as {classes[0]!r}"
        ) from exc
    if not np.isfinite(values).all():
        raise ValueError(f"krippendorff_alpha(level={level!r}) needs finite numeric labels")
    return values


def _domain(enc: EncodedAnswers, level: Level) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Numeric value per domain position, and each class code's position in the domain.

    Ordinal labels are placed in sorted order; interval and ratio labels need numbers.
    """
    k = len(enc.classes)
    position = np.arange(k, dtype=np.int64)
    if level in ("interval", "ratio"):
        return _numeric_values(enc.classes, level), position
    if level == "ordinal":
        try:
            order = np.argsort(enc.classes, kind="stable")
        except TypeError as exc:
            raise TypeError(
                "krippendorff_alpha(level='ordinal') needs labels that can be ordered "
                "(all numbers or all strings)"
            ) from exc
        position[order] = np.arange(k, dtype=np.int64)
    return np.arange(k, dtype=np.float64), position


def krippendorff_alpha(answers: pd.DataFrame, *, level: Level = "nominal") -> MetricResult:
    """Krippendorff's alpha for nominal, ordinal, interval or ratio labels; missing allowed.

    Computed from the coincidence matrix of pairable values (tasks with at least two
    answers); ordinal distances use the ranks of the labels and the pairable value
    counts, interval ``(c - k)**2``, ratio ``((c - k) / (c + k))**2``. Equals
    :func:`krippendorff.alpha` on the same reliability data.

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label``. Labels must be numeric for
        ``"interval"`` and ``"ratio"`` and orderable for ``"ordinal"``.
    level
        Level of measurement.

    Returns
    -------
    MetricResult
        ``value`` at most 1; ``nan`` when undefined (one value only, or no task with two
        answers). ``params`` holds ``level`` and ``n_pairable`` (pairable values).

    Raises
    ------
    TypeError
        If labels are not numeric (interval/ratio) or not orderable (ordinal).
    ValueError
        See :func:`metrics._validation.check_answers`.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1, 2, 2, 3, 3], "worker": [1, 2] * 3,
    ...                         "label": [1, 2, 3, 3, 4, 5]})
    >>> round(krippendorff_alpha(answers, level="interval").value, 4)
    0.8333
    """
    _validation.check_option(level, name="level", allowed=_LEVELS)
    _validation.check_answers(answers, allow_missing=True, check_duplicates=False)
    _require_rows(answers)
    return _krippendorff_alpha_impl(_encode_answers_impl(answers), level=level)


def _krippendorff_alpha_impl(enc: EncodedAnswers, *, level: Level) -> MetricResult:
    values, position = _domain(enc, level)
    n_k = len(values)
    label = position[enc.label]
    m_u = np.bincount(enc.task, minlength=len(enc.tasks))
    pairable = m_u[enc.task] >= 2
    params: dict[str, object] = {"level": level, "n_pairable": int(pairable.sum())}
    nan = MetricResult("krippendorff_alpha", float("nan"), params=params)
    if not pairable.any():
        return nan
    task = enc.task[pairable]
    label = label[pairable]
    weight = 1.0 / (m_u[task] - 1.0)
    n_total = float(len(label))
    if level == "interval":
        x = values[label]
        # sum over units of sum_{i != j} (x_i - x_j)^2 / (m_u - 1)
        n_units = len(enc.tasks)
        s1 = np.bincount(task, weights=x, minlength=n_units)
        s2 = np.bincount(task, weights=x * x, minlength=n_units)
        m = m_u.astype(np.float64)
        used = m >= 2
        observed = float((2.0 * (m[used] * s2[used] - s1[used] ** 2) / (m[used] - 1.0)).sum())
        expected = 2.0 * n_total * float((x * x).sum()) - 2.0 * float(x.sum()) ** 2
    else:
        n_units = len(enc.tasks)
        inv = 1.0 / np.maximum(m_u - 1.0, 1.0)
        if n_units * n_k <= _DENSE_LIMIT:
            dense = np.bincount(task * n_k + label, minlength=n_units * n_k)
            dense = dense.reshape(n_units, n_k).astype(np.float64)
            o = (dense * inv[:, None]).T @ dense
        else:
            n_u = sparse.csr_matrix((np.ones(len(label)), (task, label)), shape=(n_units, n_k))
            o = np.asarray((n_u.T @ (sparse.diags(inv) @ n_u)).todense(), dtype=np.float64)
        o -= np.diag(np.bincount(label, weights=weight, minlength=n_k))
        n_v = o.sum(axis=0)
        d = _distance_matrix(level, values, n_v)
        observed = float((o * d).sum())
        expected = float((np.outer(n_v, n_v) * d).sum())
    if expected == 0.0:
        return nan
    value = 1.0 - (n_total - 1.0) * observed / expected
    return MetricResult("krippendorff_alpha", float(value), params=params)


def _distance_matrix(level: Level, values: FloatArray, n_v: FloatArray) -> FloatArray:
    if level == "nominal":
        k = len(values)
        return 1.0 - np.eye(k)
    if level == "ordinal":
        csum = np.concatenate([[0.0], np.cumsum(n_v)])
        i = np.arange(len(n_v))
        lo = np.minimum(i[:, None], i[None, :])
        hi = np.maximum(i[:, None], i[None, :])
        between = csum[hi + 1] - csum[lo]
        return np.asarray((between - (n_v[:, None] + n_v[None, :]) / 2.0) ** 2)
    if level == "interval":
        return np.asarray((values[:, None] - values[None, :]) ** 2)
    total = values[:, None] + values[None, :]
    diff = values[:, None] - values[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(total != 0, diff / np.where(total != 0, total, 1.0), 0.0)
    return np.asarray(ratio**2)


# --------------------------------------------------------------------------- pairwise / per worker


def pairwise_cohen_kappa(
    answers: pd.DataFrame,
    *,
    weights: KappaWeights = "none",
    min_overlap: int = 1,
    pair_weights: PairWeights = "shared_items",
) -> MetricResult:
    """Cohen's kappa for every pair of workers on the tasks both answered, and their mean.

    Each pair's kappa is :func:`sklearn.metrics.cohen_kappa_score` on the tasks the two
    workers share (for ``"linear"``/``"quadratic"`` weights, the ranks of the classes
    present in that pair). The summary ``value`` is the mean of the defined pairwise
    kappas **weighted by the number of shared tasks** (``pair_weights="shared_items"``,
    the default): in a crowd where most pairs of annotators meet on one or two items, an
    unweighted mean is dominated by those nearly-empty pairs, whose kappa is mostly
    ``-1``, ``0``, ``1`` or undefined. ``pair_weights="equal"`` gives the plain mean of
    earlier versions.

    All pairs are computed at once from sparse co-occurrence counts: with ``E`` the
    ``(worker, class) x task`` incidence matrix, ``E @ E.T`` holds, for every two
    workers ``a, b`` and classes ``i, j``, the number of tasks where ``a`` said ``i``
    and ``b`` said ``j``, i.e. every pair's confusion matrix. Cost grows with the number
    of co-occurring answer pairs, not with workers squared (10,000 workers x 1M answers
    in about a second; ``benchmarks/bench_agreement.py``).

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label``.
    weights
        ``"none"``, ``"linear"`` or ``"quadratic"`` (ranks of the classes present in the pair).
    min_overlap
        Pairs sharing fewer tasks are left out.
    pair_weights
        How pairs enter ``value``: ``"shared_items"`` (weight = tasks the pair shares)
        or ``"equal"``.

    Returns
    -------
    MetricResult
        ``value`` is the mean of the defined pairwise kappas, weighted as ``pair_weights``
        says (``nan`` if none is defined); ``per_item`` is indexed by
        ``(worker_a, worker_b)`` with ``worker_a`` before ``worker_b`` in order of first
        appearance (pairs sharing at least ``min_overlap`` tasks); ``params`` holds the
        options, ``n_pairs`` (pairs reported), ``n_defined`` (pairs with a kappa) and
        ``shared_items`` (sum of the weights of the defined pairs).

    Raises
    ------
    TypeError, ValueError
        See :func:`metrics._validation.check_answers`; also on an unknown option.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1, 2, 2, 3, 3, 4, 4], "worker": ["a", "b"] * 4,
    ...                         "label": [0, 0, 1, 1, 1, 0, 0, 0]})
    >>> r = pairwise_cohen_kappa(answers)
    >>> round(r.value, 4), r.per_item.index.tolist(), r.params["pair_weights"]
    (0.5, [('a', 'b')], 'shared_items')
    """
    _validation.check_option(weights, name="weights", allowed=_KAPPA_WEIGHTS)
    _validation.check_option(pair_weights, name="pair_weights", allowed=_PAIR_WEIGHTS)
    _validation.check_positive_int(min_overlap, name="min_overlap")
    enc = encode_answers(answers)
    return _pairwise_cohen_kappa_impl(
        enc, weights=weights, min_overlap=int(min_overlap), pair_weights=pair_weights
    )


@dataclass(frozen=True)
class _PairCells:
    """Non-zero confusion cells of every worker pair ``a < b`` (codes), one row per cell."""

    a: IntArray
    b: IntArray
    i: IntArray  # a's class code
    j: IntArray  # b's class code
    count: FloatArray


def _pair_cells(enc: EncodedAnswers) -> _PairCells:
    """Every pair's confusion counts from one sparse product ``E @ E.T``.

    ``E`` has one row per (worker, class) and one column per task (1 where that worker
    gave that class to that task); entry ``((a, i), (b, j))`` of ``E @ E.T`` is cell
    ``(i, j)`` of the confusion matrix of workers ``a`` and ``b``.
    """
    n_k = max(len(enc.classes), 1)
    row = enc.worker * n_k + enc.label
    if len(enc.workers) * n_k <= _DENSE_ROWS:
        wl = np.arange(len(enc.workers) * n_k, dtype=np.int64)
    else:  # only the (worker, class) rows that occur
        wl, inverse = np.unique(row, return_inverse=True)
        row = inverse.reshape(-1)
    e = sparse.csr_matrix(
        (np.ones(len(row), dtype=np.float64), (row, enc.task)), shape=(len(wl), len(enc.tasks))
    )
    co = (e @ e.T).tocoo()
    # rows are ordered worker-major and a worker answers a task once, so the entries with
    # row < col are exactly the pairs of two different workers a < b
    keep = co.row < co.col
    ra, rb = wl[co.row[keep]], wl[co.col[keep]]
    return _PairCells(
        a=ra // n_k,
        b=rb // n_k,
        i=ra % n_k,
        j=rb % n_k,
        count=np.asarray(co.data[keep], dtype=np.float64),
    )


def _sum_by(index: IntArray, *, weights: FloatArray, minlength: int) -> FloatArray:
    """Sum of ``weights`` per value of ``index`` (:func:`numpy.bincount`, typed float)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=minlength), dtype=np.float64)


def _grouped_sum(keys: IntArray, values: FloatArray) -> tuple[IntArray, FloatArray]:
    """Distinct sorted ``keys`` and the sum of ``values`` per key."""
    uniq, inv = np.unique(keys, return_inverse=True)
    return uniq, _sum_by(inv.reshape(-1), weights=values, minlength=len(uniq))


def _cost(gap: FloatArray, weights: KappaWeights) -> FloatArray:
    return np.asarray(np.abs(gap) if weights == "linear" else gap * gap)


def _disagreement_dense(
    cells: _PairCells, p: IntArray, n: FloatArray, n_k: int, *, weights: KappaWeights
) -> tuple[FloatArray, FloatArray]:
    """Observed and chance-expected weighted disagreement per pair, marginals as arrays.

    ``r[p, i]`` (``s[p, j]``) counts the shared tasks where the first (second) worker of
    pair ``p`` said class ``i`` (``j``); shape ``(n_pairs, K)``.
    """
    n_pairs, c = len(n), cells.count
    r = _sum_by(p * n_k + cells.i, weights=c, minlength=n_pairs * n_k).reshape(n_pairs, n_k)
    s = _sum_by(p * n_k + cells.j, weights=c, minlength=n_pairs * n_k).reshape(n_pairs, n_k)
    if weights == "none":
        agree = _sum_by(p, weights=c * (cells.i == cells.j), minlength=n_pairs)
        return n - agree, n - (r * s).sum(axis=1) / n
    present = (r + s) > 0
    rank = (np.cumsum(present, axis=1) - 1).astype(np.float64)  # among the present classes
    observed = _sum_by(
        p, weights=c * _cost(rank[p, cells.i] - rank[p, cells.j], weights), minlength=n_pairs
    )
    if weights == "quadratic":
        # sum_ij r_i s_j (x_i - x_j)^2 = n sum r x^2 + n sum s x^2 - 2 (sum r x)(sum s x)
        rx, sx = (r * rank).sum(axis=1), (s * rank).sum(axis=1)
        total = n * ((r + s) * rank * rank).sum(axis=1) - 2.0 * rx * sx
    else:
        # sum_ij r_i s_j |x_i - x_j| = sum over present classes m of
        # R_m (n - S_m) + (n - R_m) S_m with R_m, S_m the mass at or below m (0 at the last)
        rc, sc = np.cumsum(r, axis=1), np.cumsum(s, axis=1)
        term = rc * (n[:, None] - sc) + (n[:, None] - rc) * sc
        total = np.where(present, term, 0.0).sum(axis=1)
    return observed, total / n


def _disagreement_sparse(
    cells: _PairCells, p: IntArray, n: FloatArray, n_k: int, *, weights: KappaWeights
) -> tuple[FloatArray, FloatArray]:
    """:func:`_disagreement_dense` on sorted ``pair * K + class`` keys (many pairs x classes)."""
    n_pairs, c = len(n), cells.count
    r_key, r_val = _grouped_sum(p * n_k + cells.i, c)
    s_key, s_val = _grouped_sum(p * n_k + cells.j, c)
    if weights == "none":
        agree = _sum_by(p, weights=c * (cells.i == cells.j), minlength=n_pairs)
        both, ri, si = np.intersect1d(r_key, s_key, assume_unique=True, return_indices=True)
        chance = _sum_by(both // n_k, weights=r_val[ri] * s_val[si], minlength=n_pairs)
        return n - agree, n - chance / n
    present = np.union1d(r_key, s_key)
    start = np.searchsorted(present, np.arange(n_pairs, dtype=np.int64) * n_k)
    rank_i = np.searchsorted(present, p * n_k + cells.i) - start[p]
    rank_j = np.searchsorted(present, p * n_k + cells.j) - start[p]
    gap = (rank_i - rank_j).astype(np.float64)
    observed = _sum_by(p, weights=c * _cost(gap, weights), minlength=n_pairs)
    r = np.zeros(len(present))
    s = np.zeros(len(present))
    r[np.searchsorted(present, r_key)] = r_val
    s[np.searchsorted(present, s_key)] = s_val
    owner = present // n_k
    rank = (np.arange(len(present)) - start[owner]).astype(np.float64)
    if weights == "quadratic":
        rx = _sum_by(owner, weights=r * rank, minlength=n_pairs)
        sx = _sum_by(owner, weights=s * rank, minlength=n_pairs)
        rxx = _sum_by(owner, weights=(r + s) * rank * rank, minlength=n_pairs)
        total = n * rxx - 2.0 * rx * sx
    else:
        before_r = np.concatenate([[0.0], np.cumsum(r)])[start]
        before_s = np.concatenate([[0.0], np.cumsum(s)])[start]
        rc = np.cumsum(r) - before_r[owner]
        sc = np.cumsum(s) - before_s[owner]
        n_own = n[owner]
        term = rc * (n_own - sc) + (n_own - rc) * sc
        total = _sum_by(owner, weights=term, minlength=n_pairs)
    return observed, total / n


def _pairwise_cohen_kappa_impl(
    enc: EncodedAnswers, *, weights: KappaWeights, min_overlap: int, pair_weights: PairWeights
) -> MetricResult:
    n_w, n_k = len(enc.workers), max(len(enc.classes), 1)
    cells = _pair_cells(enc)
    pair_key, p = np.unique(cells.a * n_w + cells.b, return_inverse=True)
    p = p.reshape(-1)
    n = _sum_by(p, weights=cells.count, minlength=len(pair_key))
    terms = _disagreement_dense if len(pair_key) * n_k <= _DENSE_LIMIT else _disagreement_sparse
    observed, expected = terms(cells, p, n, n_k, weights=weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = np.where(expected != 0.0, 1.0 - observed / expected, np.nan)
    keep = n >= min_overlap
    kappa, n, pair_key = kappa[keep], n[keep], pair_key[keep]
    workers = pd.Index(enc.workers, name=None)
    index = pd.MultiIndex(
        levels=[workers, workers],
        codes=[pair_key // n_w, pair_key % n_w],
        names=[f"{WORKER}_a", f"{WORKER}_b"],
        verify_integrity=False,
    )
    per_pair = pd.Series(kappa, index=index, name="cohen_kappa")
    defined = ~np.isnan(kappa)
    weight = n[defined] if pair_weights == "shared_items" else np.ones(int(defined.sum()))
    total_weight = float(weight.sum())
    value = float((kappa[defined] * weight).sum() / total_weight) if total_weight else float("nan")
    return MetricResult(
        "pairwise_cohen_kappa",
        value,
        per_pair,
        params={
            "weights": weights,
            "min_overlap": min_overlap,
            "pair_weights": pair_weights,
            "n_pairs": int(len(kappa)),
            "n_defined": int(defined.sum()),
            "shared_items": int(n[defined].sum()),
        },
    )


def worker_consensus_agreement(answers: pd.DataFrame) -> MetricResult:
    """Each worker's agreement with the leave-one-out majority of the other workers.

    For every answer, the consensus is the majority label of the *other* workers on that
    task (ties go to the smallest label); tasks answered by that worker alone are left
    out.

    Returns
    -------
    MetricResult
        ``value`` is the share of all scorable answers that agree with their consensus;
        ``per_item`` is the share per worker (indexed by ``worker``; ``nan`` for a worker
        with no scorable answer).

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1, 1, 2, 2, 2], "worker": ["a", "b", "c"] * 2,
    ...                         "label": ["x", "x", "y", "y", "y", "y"]})
    >>> worker_consensus_agreement(answers).per_item.to_dict()
    {'a': 1.0, 'b': 1.0, 'c': 0.5}
    """
    enc = encode_answers(answers)
    counts = _counts_from_encoded(enc).counts
    others = counts[enc.task].copy()
    rows = np.arange(len(enc.label))
    others[rows, enc.label] -= 1
    scorable = others.sum(axis=1) > 0
    agree = (others.argmax(axis=1) == enc.label) & scorable
    n_w = len(enc.workers)
    num = np.bincount(enc.worker, weights=agree.astype(np.float64), minlength=n_w)
    den = np.bincount(enc.worker, weights=scorable.astype(np.float64), minlength=n_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_worker = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    total = float(den.sum())
    value = float(num.sum()) / total if total else float("nan")
    per_item = pd.Series(per_worker, index=enc.workers, name="consensus_agreement")
    return MetricResult("worker_consensus_agreement", value, per_item)


def worker_accuracy(answers: pd.DataFrame, gold: pd.Series[Any]) -> MetricResult:
    """Each worker's agreement with gold on the gold tasks they answered.

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label``.
    gold
        Gold label per task, indexed by ``task``. Answers on tasks without gold are ignored.

    Returns
    -------
    MetricResult
        ``value`` is the share of all answers on gold tasks that equal gold; ``per_item``
        is the accuracy per worker (indexed by ``worker``; ``nan`` for a worker who
        answered no gold task).

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b"] * 2,
    ...                         "label": ["x", "y", "y", "y"]})
    >>> worker_accuracy(answers, pd.Series({1: "x", 2: "y"})).per_item.to_dict()
    {'a': 1.0, 'b': 0.5}
    """
    _validation.check_labels_series(gold, name="gold", allow_missing=False)
    enc = encode_answers(answers)
    labels = pd.Series(enc.classes[enc.label])
    task_ids = enc.tasks[enc.task]
    gold_for_row = gold.reindex(task_ids).to_numpy()
    has_gold = ~pd.isna(gold_for_row)
    correct = (labels.to_numpy() == gold_for_row) & has_gold
    n_w = len(enc.workers)
    num = np.bincount(enc.worker, weights=correct.astype(np.float64), minlength=n_w)
    den = np.bincount(enc.worker, weights=has_gold.astype(np.float64), minlength=n_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_worker = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    total = float(den.sum())
    value = float(num.sum()) / total if total else float("nan")
    per_item = pd.Series(per_worker, index=enc.workers, name="accuracy")
    return MetricResult("worker_accuracy", value, per_item)
