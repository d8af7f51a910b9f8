"""Multi-label classification metrics of one system's label sets against gold.

Inputs are two :class:`pandas.Series` indexed by ``task`` whose values are collections
of classes (``set``, ``frozenset``, ``list`` or ``tuple``; an empty collection means "no
class applies"). As for single labels, a system may skip tasks (absent or ``NaN``):
:func:`multilabel_summary` reports ``coverage`` and every other number is computed over
the labelled tasks.

The classes are those occurring in the gold or predicted sets of the labelled tasks
(what scikit-learn sees after ``MultiLabelBinarizer`` on the same inputs); Hamming loss
is averaged over those classes. Undefined precision/recall/F1 (no predictions or no gold
for a class) count as 0, like scikit-learn's ``zero_division=0``; Jaccard of two empty
sets is 1.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series([{"cat"}, {"cat", "indoor"}, set()], index=["t1", "t2", "t3"])
>>> vendor = pd.Series([{"cat"}, {"cat"}, {"dog"}], index=["t1", "t2", "t3"])
>>> s = multilabel_summary(gold, vendor)
>>> s.exact_match, round(s.hamming_loss, 4), round(s.micro_f1, 4)
(0.3333333333333333, 0.2222, 0.6667)
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics import _validation
from metrics.classification import PerClassScores
from metrics.types import TASK, MetricResult

__all__ = [
    "JaccardAverage",
    "MultilabelSummary",
    "multilabel_indicators",
    "multilabel_precision_recall_f1",
    "multilabel_micro_f1",
    "multilabel_macro_f1",
    "hamming_loss",
    "exact_match_ratio",
    "jaccard",
    "multilabel_summary",
    "MultilabelMetricName",
    "multilabel_statistic",
]

JaccardAverage: TypeAlias = Literal["samples", "micro", "macro"]
MultilabelMetricName: TypeAlias = Literal[
    "coverage", "exact_match", "hamming_loss", "micro_f1", "macro_f1", "jaccard_samples"
]
_ML_METRICS: tuple[MultilabelMetricName, ...] = (
    "coverage",
    "exact_match",
    "hamming_loss",
    "micro_f1",
    "macro_f1",
    "jaccard_samples",
)
BoolMatrix: TypeAlias = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MultilabelSummary:
    """Every multi-label number of one system over its labelled tasks."""

    coverage: float
    exact_match: float
    hamming_loss: float
    micro_f1: float
    macro_f1: float
    jaccard_samples: float
    n_gold: int
    n_labelled: int
    per_class: PerClassScores


@dataclass(frozen=True)
class _Indicators:
    tasks: pd.Index
    classes: npt.NDArray[np.generic]
    gold: BoolMatrix
    pred: BoolMatrix
    n_gold: int


def _check_sets(values: pd.Series[Any], *, name: str, allow_missing: bool) -> None:
    for task, value in values.items():
        if value is None or (isinstance(value, float) and np.isnan(value)):
            if allow_missing:
                continue
            raise ValueError(f"{name} has a missing label set for task {task!r}")
        if isinstance(value, str | bytes) or not isinstance(value, Collection):
            raise TypeError(
                f"{name}[{task!r}] must be a collection of classes (set, list, tuple); "
                f"got {type(value).__name__}"
            )


def _indicators(gold: pd.Series[Any], labels: pd.Series[Any]) -> _Indicators:
    _validation.check_gold_and_labels(gold, labels)
    _check_sets(gold, name="gold", allow_missing=False)
    _check_sets(labels, name="labels", allow_missing=True)
    aligned = labels.reindex(gold.index)
    mask = aligned.map(lambda v: isinstance(v, Collection) and not isinstance(v, str)).to_numpy(
        dtype=bool
    )
    g_sets = [frozenset(v) for v in gold.to_numpy()[mask]]
    p_sets = [frozenset(v) for v in aligned.to_numpy()[mask]]
    universe = set().union(*g_sets, *p_sets) if g_sets else set()
    try:
        classes = np.asarray(sorted(universe), dtype=object)
    except TypeError:
        classes = np.asarray(list(universe), dtype=object)
    position = {c: i for i, c in enumerate(classes.tolist())}
    g = np.zeros((len(g_sets), len(classes)), dtype=bool)
    p = np.zeros_like(g)
    for row, (gs, ps) in enumerate(zip(g_sets, p_sets, strict=True)):
        g[row, [position[c] for c in gs]] = True
        p[row, [position[c] for c in ps]] = True
    return _Indicators(gold.index[mask], classes, g, p, len(gold))


def multilabel_indicators(
    gold: pd.Series[Any], labels: pd.Series[Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gold and predicted 0/1 indicator frames over the labelled tasks.

    Returns
    -------
    tuple of DataFrame
        ``(gold, pred)``, each indexed by ``task`` with one boolean column per class.

    Examples
    --------
    >>> import pandas as pd
    >>> g, p = multilabel_indicators(pd.Series([{"a", "b"}]), pd.Series([["b"]]))
    >>> g.to_numpy().tolist(), p.to_numpy().tolist()
    ([[True, True]], [[False, True]])
    """
    ind = _indicators(gold, labels)
    index = pd.Index(ind.tasks, name=TASK)
    columns = pd.Index(ind.classes, name="class")
    return (
        pd.DataFrame(ind.gold, index=index, columns=columns),
        pd.DataFrame(ind.pred, index=index, columns=columns),
    )


def _counts(ind: _Indicators) -> tuple[npt.NDArray[np.float64], ...]:
    tp = (ind.gold & ind.pred).sum(axis=0).astype(np.float64)
    n_pred = ind.pred.sum(axis=0).astype(np.float64)
    n_true = ind.gold.sum(axis=0).astype(np.float64)
    return tp, n_pred, n_true


def _per_class(ind: _Indicators) -> PerClassScores:
    tp, n_pred, n_true = _counts(ind)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_pred > 0, tp / n_pred, 0.0)
        recall = np.where(n_true > 0, tp / n_true, 0.0)
        f1 = np.where(n_pred + n_true > 0, 2 * tp / (n_pred + n_true), 0.0)
    index = pd.Index(ind.classes, name="class")
    return PerClassScores(
        precision=pd.Series(precision, index=index, name="precision"),
        recall=pd.Series(recall, index=index, name="recall"),
        f1=pd.Series(f1, index=index, name="f1"),
        support=pd.Series(ind.gold.sum(axis=0).astype(np.int64), index=index, name="support"),
    )


def _micro_f1(ind: _Indicators) -> float:
    tp, n_pred, n_true = _counts(ind)
    denom = float(n_pred.sum() + n_true.sum())
    return 2.0 * float(tp.sum()) / denom if denom else 0.0 if ind.gold.shape[0] else float("nan")


def _samples_jaccard(ind: _Indicators) -> npt.NDArray[np.float64]:
    inter = (ind.gold & ind.pred).sum(axis=1).astype(np.float64)
    union = (ind.gold | ind.pred).sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 1.0)


def multilabel_precision_recall_f1(gold: pd.Series[Any], labels: pd.Series[Any]) -> PerClassScores:
    """Precision, recall, F1 and support per class (index ``class``).

    Equals :func:`sklearn.metrics.precision_recall_fscore_support` with
    ``average=None, zero_division=0`` on the binarised labelled tasks.

    Examples
    --------
    >>> import pandas as pd
    >>> s = multilabel_precision_recall_f1(pd.Series([{"a", "b"}, {"a"}]),
    ...                                    pd.Series([{"a"}, {"a", "b"}]))
    >>> s.precision.tolist(), s.recall.tolist()
    ([1.0, 0.0], [1.0, 0.0])
    """
    return _per_class(_indicators(gold, labels))


def multilabel_micro_f1(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """F1 of all (task, class) decisions pooled.

    Examples
    --------
    >>> import pandas as pd
    >>> multilabel_micro_f1(pd.Series([{"a", "b"}]), pd.Series([{"a"}])).value
    0.6666666666666666
    """
    return MetricResult("micro_f1", _micro_f1(_indicators(gold, labels)))


def multilabel_macro_f1(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Unweighted mean of the per-class F1 (``per_item``: F1 per class).

    Examples
    --------
    >>> import pandas as pd
    >>> multilabel_macro_f1(pd.Series([{"a", "b"}]), pd.Series([{"a"}])).value
    0.5
    """
    per = _per_class(_indicators(gold, labels))
    value = float(per.f1.mean()) if len(per.f1) else float("nan")
    return MetricResult("macro_f1", value, per.f1)


def hamming_loss(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Share of (task, class) decisions that are wrong (``per_item``: per task).

    Examples
    --------
    >>> import pandas as pd
    >>> hamming_loss(pd.Series([{"a", "b"}, {"c"}]), pd.Series([{"a"}, {"c"}])).value
    0.16666666666666666
    """
    ind = _indicators(gold, labels)
    wrong = ind.gold ^ ind.pred
    n_cls = wrong.shape[1]
    per_task = wrong.mean(axis=1) if n_cls else np.zeros(wrong.shape[0])
    value = float(wrong.mean()) if wrong.size else (0.0 if wrong.shape[0] else float("nan"))
    return MetricResult("hamming_loss", value, pd.Series(per_task, index=ind.tasks, name="hamming"))


def exact_match_ratio(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Share of labelled tasks whose predicted set equals the gold set exactly.

    Examples
    --------
    >>> import pandas as pd
    >>> exact_match_ratio(pd.Series([{"a", "b"}, {"c"}]), pd.Series([["b", "a"], ["a"]])).value
    0.5
    """
    ind = _indicators(gold, labels)
    exact = (ind.gold == ind.pred).all(axis=1).astype(np.float64)
    value = float(exact.mean()) if exact.size else float("nan")
    return MetricResult("exact_match", value, pd.Series(exact, index=ind.tasks, name="exact"))


def jaccard(
    gold: pd.Series[Any], labels: pd.Series[Any], *, average: JaccardAverage = "samples"
) -> MetricResult:
    """Jaccard index ``|G ∩ P| / |G ∪ P|``.

    Parameters
    ----------
    gold, labels
        Label sets per task.
    average
        ``"samples"``: mean over tasks (two empty sets score 1; ``per_item`` per task);
        ``"micro"``: pooled over all decisions; ``"macro"``: mean over classes.

    Examples
    --------
    >>> import pandas as pd
    >>> jaccard(pd.Series([{"a", "b"}, {"c"}]), pd.Series([{"a"}, {"c"}])).value
    0.75
    """
    _validation.check_option(average, name="average", allowed=("samples", "micro", "macro"))
    ind = _indicators(gold, labels)
    params = {"average": average}
    if average == "samples":
        per = _samples_jaccard(ind)
        value = float(per.mean()) if per.size else float("nan")
        return MetricResult(
            "jaccard", value, pd.Series(per, index=ind.tasks, name="jaccard"), params
        )
    inter = (ind.gold & ind.pred).sum(axis=0).astype(np.float64)
    union = (ind.gold | ind.pred).sum(axis=0).astype(np.float64)
    if average == "micro":
        total = float(union.sum())
        return MetricResult(
            "jaccard", float(inter.sum()) / total if total else float("nan"), params=params
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
    series = pd.Series(per_class, index=pd.Index(ind.classes, name="class"), name="jaccard")
    value = float(per_class.mean()) if per_class.size else float("nan")
    return MetricResult("jaccard", value, series, params)


def multilabel_summary(gold: pd.Series[Any], labels: pd.Series[Any]) -> MultilabelSummary:
    """Every multi-label number of one system at once (see the module docstring)."""
    ind = _indicators(gold, labels)
    n = ind.gold.shape[0]
    nan = float("nan")
    per = _per_class(ind)
    wrong = ind.gold ^ ind.pred
    return MultilabelSummary(
        coverage=n / ind.n_gold,
        exact_match=float((ind.gold == ind.pred).all(axis=1).mean()) if n else nan,
        hamming_loss=float(wrong.mean()) if wrong.size else (0.0 if n else nan),
        micro_f1=_micro_f1(ind) if n else nan,
        macro_f1=float(per.f1.mean()) if len(per.f1) else nan,
        jaccard_samples=float(_samples_jaccard(ind).mean()) if n else nan,
        n_gold=ind.n_gold,
        n_labelled=n,
        per_class=per,
    )


def _summary_numbers(
    g: BoolMatrix, p: BoolMatrix, n_gold: int
) -> dict[MultilabelMetricName, float]:
    """All summary numbers from labelled-row indicators (classes: columns used)."""
    nan = float("nan")
    n = g.shape[0]
    used = (g | p).any(axis=0)
    g, p = g[:, used], p[:, used]
    tp = (g & p).sum(axis=0).astype(np.float64)
    n_pred = p.sum(axis=0).astype(np.float64)
    n_true = g.sum(axis=0).astype(np.float64)
    denom = n_pred + n_true
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(denom > 0, 2 * tp / np.where(denom > 0, denom, 1.0), 0.0)
    total = float(denom.sum())
    inter = (g & p).sum(axis=1).astype(np.float64)
    union = (g | p).sum(axis=1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        jac = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 1.0)
    return {
        "coverage": n / n_gold if n_gold else nan,
        "exact_match": float((g == p).all(axis=1).mean()) if n else nan,
        "hamming_loss": float((g ^ p).mean()) if g.size else (0.0 if n else nan),
        "micro_f1": (2.0 * float(tp.sum()) / total if total else 0.0) if n else nan,
        "macro_f1": float(f1.mean()) if f1.size else nan,
        "jaccard_samples": float(jac.mean()) if n else nan,
    }


def multilabel_statistic(
    gold: pd.Series[Any], labels: pd.Series[Any], *, metric: MultilabelMetricName
) -> Callable[[npt.NDArray[np.intp]], float]:
    """A resampling statistic (positions into ``gold`` -> number) for one multi-label metric.

    For :func:`metrics.statistics.paired_bootstrap`: the indicator matrices are built
    once; each call only selects rows.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> stat = multilabel_statistic(pd.Series([{"a"}, {"b"}]), pd.Series([{"a"}, {"a"}]),
    ...                             metric="exact_match")
    >>> stat(np.array([0, 1])), stat(np.array([0, 0]))
    (0.5, 1.0)
    """
    _validation.check_option(metric, name="metric", allowed=_ML_METRICS)
    _validation.check_gold_and_labels(gold, labels)
    _check_sets(gold, name="gold", allow_missing=False)
    _check_sets(labels, name="labels", allow_missing=True)
    aligned = labels.reindex(gold.index)
    labelled = aligned.map(lambda v: isinstance(v, Collection) and not isinstance(v, str)).to_numpy(
        dtype=bool
    )
    g_sets = [frozenset(v) for v in gold.to_numpy()]
    p_sets = [frozenset(v) if ok else frozenset() for v, ok in zip(aligned, labelled, strict=True)]
    universe = set().union(*g_sets, *p_sets)
    position = {c: i for i, c in enumerate(universe)}
    g = np.zeros((len(g_sets), len(universe)), dtype=bool)
    p = np.zeros_like(g)
    for row, (gs, ps) in enumerate(zip(g_sets, p_sets, strict=True)):
        g[row, [position[c] for c in gs]] = True
        p[row, [position[c] for c in ps]] = True

    def statistic(idx: npt.NDArray[np.intp]) -> float:
        rows = idx[labelled[idx]]
        return _summary_numbers(g[rows], p[rows], len(idx))[metric]

    return statistic
