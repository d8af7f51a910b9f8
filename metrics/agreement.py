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
from metrics.classification import KappaWeights, confusion_matrix_codes, kappa_from_confusion
from metrics.types import LABEL, TASK, WORKER, MetricResult

__all__ = [
    "Level",
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_cohen_kappa",
    "worker_consensus_agreement",
    "worker_accuracy",
]

Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]
_LEVELS: tuple[Level, ...] = ("nominal", "ordinal", "interval", "ratio")
FloatArray: TypeAlias = npt.NDArray[np.float64]
_DENSE_LIMIT = 20_000_000  # (units x values) cells above which counts go sparse


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
    answers: pd.DataFrame, *, weights: KappaWeights = "none", min_overlap: int = 1
) -> MetricResult:
    """Cohen's kappa for every pair of workers on the tasks both answered.

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label``.
    weights
        ``"none"``, ``"linear"`` or ``"quadratic"`` (ranks of the classes present in the pair).
    min_overlap
        Pairs sharing fewer tasks are left out.

    Returns
    -------
    MetricResult
        ``value`` is the mean of the defined pairwise kappas (``nan`` if none);
        ``per_item`` is indexed by ``(worker_a, worker_b)`` with ``worker_a`` before
        ``worker_b`` in order of first appearance.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": [1, 1, 2, 2, 3, 3, 4, 4], "worker": ["a", "b"] * 4,
    ...                         "label": [0, 0, 1, 1, 1, 0, 0, 0]})
    >>> r = pairwise_cohen_kappa(answers)
    >>> round(r.value, 4), r.per_item.index.tolist()
    (0.5, [('a', 'b')])
    """
    _validation.check_option(weights, name="weights", allowed=("none", "linear", "quadratic"))
    _validation.check_positive_int(min_overlap, name="min_overlap")
    enc = encode_answers(answers)
    n_t, n_w, n_k = len(enc.tasks), len(enc.workers), len(enc.classes)
    wide = np.full((n_t, n_w), -1, dtype=np.int64)
    wide[enc.task, enc.worker] = enc.label
    answered = wide >= 0
    pairs: list[tuple[object, object]] = []
    kappas: list[float] = []
    workers = enc.workers.tolist()
    for a in range(n_w):
        for b in range(a + 1, n_w):
            both = answered[:, a] & answered[:, b]
            if int(both.sum()) < min_overlap:
                continue
            cm = confusion_matrix_codes(wide[both, a], wide[both, b], n_k)
            pairs.append((workers[a], workers[b]))
            kappas.append(kappa_from_confusion(cm, weights=weights))
    index = pd.MultiIndex.from_tuples(pairs, names=[f"{WORKER}_a", f"{WORKER}_b"])
    per_pair = pd.Series(np.asarray(kappas, dtype=np.float64), index=index, name="cohen_kappa")
    defined = per_pair.dropna()
    value = float(defined.mean()) if len(defined) else float("nan")
    return MetricResult(
        "pairwise_cohen_kappa",
        value,
        per_pair,
        params={"weights": weights, "min_overlap": min_overlap},
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
