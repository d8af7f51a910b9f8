"""Single-label classification metrics of one system's labels against gold.

Inputs are two :class:`pandas.Series` indexed by ``task``: ``gold`` (every golden
item) and ``labels`` (one system's answers). A system may skip items: those tasks
are absent from ``labels`` or hold ``NaN``. :func:`coverage` is the share of gold
items that were labelled; every other metric is computed over the labelled items
only, except :func:`accuracy_all`, which counts a skipped item as wrong.

Classes are the sorted union of the labels that occur; per-class results, the
macro averages and Cohen's kappa use the classes that occur among the *labelled*
items (gold or predicted), which is what scikit-learn does on the same inputs.
Weighted kappa measures distance by rank in that sorted class list, as
scikit-learn does.

Everything is computed from one confusion matrix built with :func:`numpy.bincount`
on integer codes; :func:`confusion_matrix_codes` and :func:`kappa_from_confusion`
are the array-level fast path.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series(["cat", "dog", "dog", "cat"], index=["t1", "t2", "t3", "t4"])
>>> vendor = pd.Series(["cat", "cat", "dog"], index=["t1", "t2", "t3"])  # skipped t4
>>> round(accuracy(gold, vendor).value, 4), accuracy_all(gold, vendor).value
(0.6667, 0.5)
>>> coverage(gold, vendor).value
0.75
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics import _validation
from metrics.types import TASK, MetricResult

__all__ = [
    "KappaWeights",
    "EncodedLabels",
    "ConfusionMatrix",
    "PerClassScores",
    "ClassificationSummary",
    "encode_labels",
    "confusion_matrix_codes",
    "kappa_from_confusion",
    "accuracy",
    "accuracy_all",
    "coverage",
    "balanced_accuracy",
    "precision_recall_f1",
    "macro_f1",
    "micro_f1",
    "confusion_matrix",
    "cohen_kappa",
    "classification_summary",
]

KappaWeights: TypeAlias = Literal["none", "linear", "quadratic"]
_WEIGHTS: tuple[KappaWeights, ...] = ("none", "linear", "quadratic")

IntArray: TypeAlias = npt.NDArray[np.int64]
FloatArray: TypeAlias = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EncodedLabels:
    """Gold and one system's labels as integer codes aligned on the gold tasks.

    Attributes
    ----------
    tasks
        The gold tasks, in gold order, shape ``(N,)``.
    classes
        Sorted union of gold and predicted classes, shape ``(K,)``.
    gold
        Gold class codes in ``[0, K)``, shape ``(N,)``.
    pred
        Predicted class codes, ``-1`` where the system skipped the task, shape ``(N,)``.
    """

    tasks: pd.Index
    classes: npt.NDArray[np.generic]
    gold: IntArray
    pred: IntArray

    @property
    def labelled(self) -> npt.NDArray[np.bool_]:
        """Mask of tasks the system labelled, shape ``(N,)``."""
        return self.pred >= 0


@dataclass(frozen=True)
class ConfusionMatrix:
    """Counts of (gold, predicted) class pairs over the labelled items.

    Attributes
    ----------
    classes
        Class labels, shape ``(K,)``; row ``i`` is gold class ``classes[i]``,
        column ``j`` predicted class ``classes[j]``.
    counts
        Integer counts, shape ``(K, K)``.
    """

    classes: npt.NDArray[np.generic]
    counts: IntArray

    def to_frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame: index ``gold``, columns ``predicted``."""
        return pd.DataFrame(
            self.counts,
            index=pd.Index(self.classes, name="gold"),
            columns=pd.Index(self.classes, name="predicted"),
        )


@dataclass(frozen=True)
class PerClassScores:
    """Precision, recall, F1 and support per class, each a Series indexed by class.

    Undefined ratios (no predictions or no gold items of a class) are ``0.0``,
    like scikit-learn's ``zero_division=0``.
    """

    precision: pd.Series[float]
    recall: pd.Series[float]
    f1: pd.Series[float]
    support: pd.Series[int]


@dataclass(frozen=True)
class ClassificationSummary:
    """All single-label metrics of one system, computed from one confusion matrix."""

    accuracy: float
    accuracy_all: float
    coverage: float
    balanced_accuracy: float
    macro_f1: float
    micro_f1: float
    cohen_kappa: float
    n_gold: int
    n_labelled: int
    confusion: ConfusionMatrix
    per_class: PerClassScores


# --------------------------------------------------------------------------- encoding


def _integer_codes(
    gold: npt.NDArray[np.integer], pred: npt.NDArray[np.integer]
) -> tuple[npt.NDArray[np.generic], IntArray, IntArray] | None:
    """Codes for small-range integer labels without sorting (``None`` if range is large)."""
    if gold.size == 0:
        return None
    lo = int(gold.min())
    hi = int(gold.max())
    if pred.size:
        lo = min(lo, int(pred.min()))
        hi = max(hi, int(pred.max()))
    span = hi - lo + 1
    if span > 1 << 16:
        return None
    g = gold.astype(np.int64, copy=False) - lo
    p = pred.astype(np.int64, copy=False) - lo
    present = np.bincount(g, minlength=span) > 0
    present |= np.bincount(p, minlength=span) > 0
    lookup = np.cumsum(present) - 1
    classes = (np.flatnonzero(present) + lo).astype(gold.dtype)
    if present.all():
        return classes, g, p
    return classes, lookup[g], lookup[p]


def _encode_values(
    gold_values: npt.NDArray[np.generic], pred_values: npt.NDArray[np.generic]
) -> tuple[npt.NDArray[np.generic], IntArray, IntArray]:
    if gold_values.dtype.kind in "iu" and pred_values.dtype.kind in "iu":
        fast = _integer_codes(gold_values, pred_values)  # type: ignore[arg-type]
        if fast is not None:
            return fast
    both = np.concatenate([gold_values, pred_values]) if pred_values.size else gold_values
    try:
        codes, uniques = pd.factorize(both, sort=True)
    except TypeError as exc:
        raise TypeError(
            "labels must be mutually comparable (e.g. all str or all int) so classes can be "
            f"sorted: {exc}"
        ) from exc
    codes64 = codes.astype(np.int64, copy=False)
    return np.asarray(uniques), codes64[: gold_values.size], codes64[gold_values.size :]


def _encode_impl(gold: pd.Series[Any], labels: pd.Series[Any]) -> EncodedLabels:
    aligned = labels if labels.index.equals(gold.index) else labels.reindex(gold.index)
    values = aligned.to_numpy()
    mask = ~pd.isna(values) if values.dtype.kind in "fcOUSMm" else None
    gold_values = gold.to_numpy()
    if mask is None or mask.all():
        classes, g, p = _encode_values(gold_values, values)
    else:
        pred_values = values[mask]
        if pred_values.dtype.kind == "f" and gold_values.dtype.kind in "iu":
            if np.all(np.mod(pred_values, 1) == 0):
                pred_values = pred_values.astype(gold_values.dtype)
        classes, g, p_lab = _encode_values(gold_values, pred_values)
        p = np.full(len(gold_values), -1, dtype=np.int64)
        p[mask] = p_lab
    return EncodedLabels(tasks=gold.index, classes=classes, gold=g, pred=p)


def encode_labels(gold: pd.Series[Any], labels: pd.Series[Any]) -> EncodedLabels:
    """Encode gold and one system's labels as integer codes aligned on the gold tasks.

    Parameters
    ----------
    gold
        Gold label per task, indexed by ``task``, no missing values.
    labels
        The system's label per task, indexed by ``task``; tasks may be missing
        (skipped) or hold ``NaN``; tasks outside ``gold`` are an error.

    Returns
    -------
    EncodedLabels
        Codes into the sorted union of classes; ``pred`` is ``-1`` for skipped tasks.

    Examples
    --------
    >>> import pandas as pd
    >>> enc = encode_labels(pd.Series(["b", "a"], index=[1, 2]), pd.Series(["c"], index=[2]))
    >>> enc.classes.tolist(), enc.gold.tolist(), enc.pred.tolist()
    (['a', 'b', 'c'], [1, 0], [-1, 2])
    """
    _validation.check_gold_and_labels(gold, labels)
    return _encode_impl(gold, labels)


# --------------------------------------------------------------------------- array fast path


def confusion_matrix_codes(y_true: IntArray, y_pred: IntArray, n_classes: int) -> IntArray:
    """Confusion matrix of integer class codes with one :func:`numpy.bincount`.

    Parameters
    ----------
    y_true, y_pred
        Class codes in ``[0, n_classes)``, shape ``(N,)``; pairs where ``y_pred`` is
        negative (skipped) are ignored.
    n_classes
        ``K``, the number of classes.

    Returns
    -------
    numpy.ndarray
        Counts, shape ``(K, K)``, rows gold and columns predicted.

    Examples
    --------
    >>> import numpy as np
    >>> confusion_matrix_codes(np.array([0, 1, 1]), np.array([0, 1, 0]), 2).tolist()
    [[1, 0], [1, 1]]
    """
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(y_pred, dtype=np.int64)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got {t.shape} and {p.shape}")
    if p.size and p.min() < 0:
        keep = p >= 0
        t, p = t[keep], p[keep]
    flat = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def _present(cm: IntArray) -> npt.NDArray[np.bool_]:
    return np.asarray((cm.sum(axis=0) > 0) | (cm.sum(axis=1) > 0), dtype=np.bool_)


def kappa_from_confusion(cm: IntArray, *, weights: KappaWeights = "none") -> float:
    """Cohen's kappa from a confusion matrix.

    Classes that occur in neither the rows nor the columns are dropped first, so the
    ranks used by linear and quadratic weights are those of the classes present
    (as in :func:`sklearn.metrics.cohen_kappa_score`).

    Parameters
    ----------
    cm
        Counts, shape ``(K, K)``.
    weights
        ``"none"`` (unweighted), ``"linear"`` or ``"quadratic"`` disagreement weights.

    Returns
    -------
    float
        Kappa in ``[-1, 1]``; ``nan`` when chance disagreement is zero (one class only
        or no items).

    Examples
    --------
    >>> import numpy as np
    >>> round(kappa_from_confusion(np.array([[20, 5], [10, 15]])), 6)
    0.4
    """
    _validation.check_option(weights, name="weights", allowed=_WEIGHTS)
    keep = _present(cm)
    c = np.asarray(cm, dtype=np.float64)[np.ix_(keep, keep)]
    k = c.shape[0]
    total = c.sum()
    if total == 0:
        return float("nan")
    expected = np.outer(c.sum(axis=1), c.sum(axis=0)) / total
    idx = np.arange(k, dtype=np.float64)
    if weights == "none":
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(idx[:, None] - idx[None, :])
    else:
        w = (idx[:, None] - idx[None, :]) ** 2
    denom = float((w * expected).sum())
    if denom == 0.0:
        return float("nan")
    return 1.0 - float((w * c).sum()) / denom


def _per_class_arrays(cm: IntArray) -> tuple[FloatArray, FloatArray, FloatArray, IntArray]:
    tp = np.diag(cm).astype(np.float64)
    pred_n = cm.sum(axis=0).astype(np.float64)
    true_n = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(pred_n > 0, tp / pred_n, 0.0)
        recall = np.where(true_n > 0, tp / true_n, 0.0)
        denom = pred_n + true_n
        f1 = np.where(denom > 0, 2.0 * tp / denom, 0.0)
    return precision, recall, f1, true_n.astype(np.int64)


def _summary_from_counts(
    cm: IntArray, n_gold: int, *, weights: KappaWeights = "none"
) -> tuple[float, float, float, float, float, float, float]:
    """(accuracy, accuracy_all, coverage, balanced_accuracy, macro_f1, micro_f1, kappa)."""
    n = int(cm.sum())
    correct = float(np.trace(cm))
    nan = float("nan")
    acc = correct / n if n else nan
    acc_all = correct / n_gold if n_gold else nan
    cov = n / n_gold if n_gold else nan
    if n == 0:
        return acc, acc_all, cov, nan, nan, nan, nan
    keep = _present(cm)
    sub = cm[np.ix_(keep, keep)]
    _, recall, f1, support = _per_class_arrays(sub)
    balanced = float(recall[support > 0].mean())
    macro = float(f1.mean())
    return acc, acc_all, cov, balanced, macro, acc, kappa_from_confusion(sub, weights=weights)


def _summaries_from_counts(
    tables: IntArray, n_gold: int, *, weights: KappaWeights = "none"
) -> FloatArray:
    """:func:`_summary_from_counts` of each of ``tables`` ``(R, K, K)``: shape ``(R, 7)``.

    For the bootstrap's thousand resampled confusion matrices. A table in which every
    class has gold items (the usual resample) is computed with array operations that add
    the same numbers in the same order as the one-table function, so the results are equal
    bit for bit; any other table goes through :func:`_summary_from_counts` itself.
    """
    r, k, _ = tables.shape
    out = np.empty((r, 7), dtype=np.float64)
    n = tables.reshape(r, k * k).sum(axis=1)
    support = tables.sum(axis=2)
    full = (n > 0) & (support > 0).all(axis=1)
    for i in np.flatnonzero(~full):
        out[i] = _summary_from_counts(tables[i], n_gold, weights=weights)
    rows = np.flatnonzero(full)
    if rows.size == 0:
        return out
    cm = tables[rows]
    n_full = n[rows]
    correct = np.trace(cm, axis1=1, axis2=2).astype(np.float64)
    nan = float("nan")
    out[rows, 0] = correct / n_full
    out[rows, 1] = correct / n_gold if n_gold else nan
    out[rows, 2] = n_full / n_gold if n_gold else nan
    tp = np.diagonal(cm, axis1=1, axis2=2).astype(np.float64)
    pred_n = cm.sum(axis=1).astype(np.float64)
    true_n = support[rows]
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(true_n > 0, tp / true_n, 0.0)
        denom = pred_n + true_n
        f1 = np.where(denom > 0, 2.0 * tp / denom, 0.0)
    out[rows, 3] = recall.mean(axis=1)
    out[rows, 4] = f1.mean(axis=1)
    out[rows, 5] = out[rows, 0]
    # kappa_from_confusion with every class present: the counts' sums are whole numbers
    # (exact in any order); the one sum of fractions adds each row's k * k cells in order
    c = cm.astype(np.float64)
    total = c.reshape(len(rows), k * k).sum(axis=1)
    expected = c.sum(axis=2)[:, :, None] * c.sum(axis=1)[:, None, :] / total[:, None, None]
    idx = np.arange(k, dtype=np.float64)
    if weights == "none":
        w = 1.0 - np.eye(k)
    elif weights == "linear":
        w = np.abs(idx[:, None] - idx[None, :])
    else:
        w = (idx[:, None] - idx[None, :]) ** 2
    chance = (w * expected).reshape(len(rows), k * k).sum(axis=1)
    observed = (w * c).reshape(len(rows), k * k).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[rows, 6] = np.where(chance == 0.0, nan, 1.0 - observed / chance)
    return out


# --------------------------------------------------------------------------- public metrics


def _direct_int_confusion(
    gold: pd.Series[Any], labels: pd.Series[Any]
) -> tuple[npt.NDArray[np.generic], IntArray] | None:
    """Classes and confusion matrix straight from aligned small-range integer labels.

    The fast path for fully labelled integer data: one ``bincount`` over
    ``gold * span + pred``; classes absent from both are dropped afterwards. ``None`` when
    the inputs do not qualify (the general path then encodes first).
    """
    if not labels.index.equals(gold.index):
        return None
    g = gold.to_numpy()
    p = labels.to_numpy()
    if g.dtype.kind not in "iu" or p.dtype.kind not in "iu" or g.size == 0:
        return None
    lo = min(int(g.min()), int(p.min()))
    hi = max(int(g.max()), int(p.max()))
    span = hi - lo + 1
    if span > 1 << 12:
        return None
    key = np.multiply(g, span, dtype=np.int64)
    key += p
    if lo != 0:
        key -= lo * (span + 1)
    full = np.bincount(key, minlength=span * span).reshape(span, span)
    present = (full.sum(axis=0) > 0) | (full.sum(axis=1) > 0)
    classes = (np.flatnonzero(present) + lo).astype(g.dtype)
    if present.all():
        return classes, full
    return classes, full[np.ix_(present, present)]


def _checked(
    gold: pd.Series[Any], labels: pd.Series[Any]
) -> tuple[npt.NDArray[np.generic], int, IntArray]:
    """Validate, then return (classes, number of gold items, confusion matrix)."""
    _validation.check_gold_and_labels(gold, labels)
    direct = _direct_int_confusion(gold, labels)
    if direct is not None:
        return direct[0], len(gold), direct[1]
    enc = _encode_impl(gold, labels)
    return enc.classes, len(enc.gold), confusion_matrix_codes(enc.gold, enc.pred, len(enc.classes))


def accuracy(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Share of labelled items whose label equals gold.

    Parameters
    ----------
    gold
        Gold label per task, indexed by ``task``.
    labels
        The system's label per task, indexed by ``task``; skipped tasks are absent or ``NaN``.

    Returns
    -------
    MetricResult
        ``value`` in ``[0, 1]`` (``nan`` if nothing was labelled); ``per_item`` is 1.0/0.0
        per labelled task.

    Raises
    ------
    TypeError, ValueError
        See :func:`metrics._validation.check_gold_and_labels`.

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series([0, 1, 1], index=["a", "b", "c"])
    >>> accuracy(gold, pd.Series([0, 0, 1], index=["a", "b", "c"])).value  # doctest: +ELLIPSIS
    0.666...
    """
    enc = encode_labels(gold, labels)
    m = enc.labelled
    correct = (enc.gold[m] == enc.pred[m]).astype(np.float64)
    per_item = pd.Series(correct, index=enc.tasks[m], name="correct")
    per_item.index.name = TASK
    value = float(correct.mean()) if correct.size else float("nan")
    return MetricResult("accuracy", value, per_item)


def accuracy_all(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Share of *gold* items labelled correctly; a skipped item counts as wrong.

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series([0, 1, 1, 0], index=["a", "b", "c", "d"])
    >>> accuracy_all(gold, pd.Series([0, 1], index=["a", "b"])).value
    0.5
    """
    enc = encode_labels(gold, labels)
    correct = (enc.gold == enc.pred).astype(np.float64)
    per_item = pd.Series(correct, index=enc.tasks, name="correct")
    per_item.index.name = TASK
    return MetricResult("accuracy_all", float(correct.mean()), per_item)


def coverage(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Share of gold items the system labelled.

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series([0, 1, 1, 0], index=["a", "b", "c", "d"])
    >>> coverage(gold, pd.Series([0, None, 1], index=["a", "b", "c"])).value
    0.5
    """
    enc = encode_labels(gold, labels)
    m = enc.labelled.astype(np.float64)
    per_item = pd.Series(m, index=enc.tasks, name="labelled")
    per_item.index.name = TASK
    return MetricResult("coverage", float(m.mean()), per_item)


def balanced_accuracy(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Mean per-class recall over the gold classes of the labelled items.

    Equals :func:`sklearn.metrics.balanced_accuracy_score` on the labelled items.
    ``per_item`` holds the recall per class (indexed by class).

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series([0, 0, 0, 1], index=list("abcd"))
    >>> balanced_accuracy(gold, pd.Series([0, 0, 0, 0], index=list("abcd"))).value
    0.5
    """
    classes, _, cm = _checked(gold, labels)
    keep = _present(cm)
    _, recall, _, support = _per_class_arrays(cm[np.ix_(keep, keep)])
    has = support > 0
    per_class = pd.Series(recall[has], index=pd.Index(classes[keep][has], name="class"))
    value = float(recall[has].mean()) if has.any() else float("nan")
    return MetricResult("balanced_accuracy", value, per_class.rename("recall"))


def precision_recall_f1(gold: pd.Series[Any], labels: pd.Series[Any]) -> PerClassScores:
    """Precision, recall, F1 and support per class over the labelled items.

    Classes are those occurring among the labelled items (gold or predicted), as in
    :func:`sklearn.metrics.precision_recall_fscore_support` with ``zero_division=0``.

    Examples
    --------
    >>> import pandas as pd
    >>> s = precision_recall_f1(pd.Series(["x", "y", "y"]), pd.Series(["x", "x", "y"]))
    >>> s.precision.round(3).tolist(), s.recall.tolist(), s.support.tolist()
    ([0.5, 1.0], [1.0, 0.5], [1, 2])
    """
    classes, _, cm = _checked(gold, labels)
    keep = _present(cm)
    precision, recall, f1, support = _per_class_arrays(cm[np.ix_(keep, keep)])
    index = pd.Index(classes[keep], name="class")
    return PerClassScores(
        precision=pd.Series(precision, index=index, name="precision"),
        recall=pd.Series(recall, index=index, name="recall"),
        f1=pd.Series(f1, index=index, name="f1"),
        support=pd.Series(support, index=index, name="support"),
    )


def macro_f1(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Unweighted mean of the per-class F1 over the labelled items (``per_item``: F1 per class).

    Examples
    --------
    >>> import pandas as pd
    >>> round(macro_f1(pd.Series(["x", "y", "y"]), pd.Series(["x", "x", "y"])).value, 4)
    0.6667
    """
    scores = precision_recall_f1(gold, labels)
    value = float(scores.f1.mean()) if len(scores.f1) else float("nan")
    return MetricResult("macro_f1", value, scores.f1)


def micro_f1(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Micro-averaged F1 over the labelled items (equals accuracy for single-label data).

    Examples
    --------
    >>> import pandas as pd
    >>> round(micro_f1(pd.Series(["x", "y", "y"]), pd.Series(["x", "x", "y"])).value, 4)
    0.6667
    """
    _, _, cm = _checked(gold, labels)
    n = int(cm.sum())
    return MetricResult("micro_f1", float(np.trace(cm)) / n if n else float("nan"))


def confusion_matrix(gold: pd.Series[Any], labels: pd.Series[Any]) -> ConfusionMatrix:
    """Confusion matrix over the labelled items; classes are every class seen in gold or labels.

    Examples
    --------
    >>> import pandas as pd
    >>> cm = confusion_matrix(pd.Series(["x", "y", "y"]), pd.Series(["x", "x", "y"]))
    >>> cm.to_frame().to_numpy().tolist()
    [[1, 0], [1, 1]]
    """
    classes, _, cm = _checked(gold, labels)
    return ConfusionMatrix(classes=classes, counts=cm)


def cohen_kappa(
    gold: pd.Series[Any], labels: pd.Series[Any], *, weights: KappaWeights = "none"
) -> MetricResult:
    """Cohen's kappa between gold and the system over the labelled items.

    Parameters
    ----------
    gold, labels
        As in :func:`accuracy`.
    weights
        ``"none"``, or ``"linear"``/``"quadratic"`` for ordinal classes (distance is the
        rank difference in the sorted classes present).

    Returns
    -------
    MetricResult
        ``value`` in ``[-1, 1]``; ``nan`` if undefined (one class only, or nothing labelled).
        Equals :func:`sklearn.metrics.cohen_kappa_score` on the labelled items.

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series([1, 2, 3, 3, 2])
    >>> round(cohen_kappa(gold, pd.Series([1, 2, 3, 2, 2])).value, 4)
    0.6875
    >>> round(cohen_kappa(gold, pd.Series([1, 2, 3, 2, 2]), weights="quadratic").value, 4)
    0.8
    """
    _validation.check_option(weights, name="weights", allowed=_WEIGHTS)
    _, _, cm = _checked(gold, labels)
    return MetricResult(
        "cohen_kappa", kappa_from_confusion(cm, weights=weights), params={"weights": weights}
    )


def classification_summary(
    gold: pd.Series[Any], labels: pd.Series[Any], *, weights: KappaWeights = "none"
) -> ClassificationSummary:
    """Every single-label metric of one system at once, from one confusion matrix.

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series(["x", "y", "y", "x"], index=list("abcd"))
    >>> s = classification_summary(gold, pd.Series(["x", "y", "x"], index=list("abc")))
    >>> s.coverage, round(s.accuracy, 4), s.accuracy_all, s.n_labelled
    (0.75, 0.6667, 0.5, 3)
    """
    _validation.check_option(weights, name="weights", allowed=_WEIGHTS)
    classes, n_gold, cm = _checked(gold, labels)
    acc, acc_all, cov, bal, macro, micro, kappa = _summary_from_counts(cm, n_gold, weights=weights)
    keep = _present(cm)
    precision, recall, f1, support = _per_class_arrays(cm[np.ix_(keep, keep)])
    index = pd.Index(classes[keep], name="class")
    per_class = PerClassScores(
        precision=pd.Series(precision, index=index, name="precision"),
        recall=pd.Series(recall, index=index, name="recall"),
        f1=pd.Series(f1, index=index, name="f1"),
        support=pd.Series(support, index=index, name="support"),
    )
    return ClassificationSummary(
        accuracy=acc,
        accuracy_all=acc_all,
        coverage=cov,
        balanced_accuracy=bal,
        macro_f1=macro,
        micro_f1=micro,
        cohen_kappa=kappa,
        n_gold=n_gold,
        n_labelled=int(cm.sum()),
        confusion=ConfusionMatrix(classes=classes, counts=cm),
        per_class=per_class,
    )
