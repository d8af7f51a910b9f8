"""Rubric / Likert rating metrics: weighted kappa, ICC, MAE, leniency/severity bias.

Label value shape (planned ``rating`` task type): an integer score on an ordinal scale
per item (and criterion: one task per item x criterion). Pure functions, no I/O.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series([1, 2, 3, 4])
>>> rating_bias(gold, pd.Series([2, 3, 3, 5])).value
0.75
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from metrics.types import ConfidenceInterval, MetricResult

__all__ = ["IccForm", "icc", "rating_bias", "rating_mae", "weighted_kappa"]

IccForm = Literal["ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)"]


def _paired(
    gold: pd.Series[float], labels: pd.Series[float]
) -> tuple[pd.Index, npt.NDArray[np.float64]]:
    if not isinstance(gold, pd.Series) or not isinstance(labels, pd.Series):
        raise TypeError("gold and labels must be pandas Series indexed by task")
    common = gold.dropna().index.intersection(labels.dropna().index)
    pairs = np.column_stack(
        [gold.loc[common].to_numpy(np.float64), labels.loc[common].to_numpy(np.float64)]
    )
    if not np.isfinite(pairs).all():
        raise ValueError("ratings must be finite numbers")
    return common, np.asarray(pairs, dtype=np.float64)


def weighted_kappa(
    gold: pd.Series[float],
    labels: pd.Series[float],
    *,
    weights: Literal["linear", "quadratic"] = "quadratic",
) -> MetricResult:
    """Cohen's weighted kappa over the tasks both rated (scikit-learn's formula)."""
    _, pairs = _paired(gold, labels)
    value = float(cohen_kappa_score(pairs[:, 0], pairs[:, 1], weights=weights))
    return MetricResult(f"{weights}_weighted_kappa", value, params={"weights": weights})


def rating_mae(gold: pd.Series[float], labels: pd.Series[float]) -> MetricResult:
    """Mean absolute error of the ratings against gold (per-item errors in ``per_item``)."""
    common, pairs = _paired(gold, labels)
    err = np.abs(pairs[:, 1] - pairs[:, 0])
    value = float(err.mean()) if err.size else float("nan")
    return MetricResult("mae", value, per_item=pd.Series(err, index=common))


def rating_bias(
    gold: pd.Series[float], labels: pd.Series[float], *, level: float = 0.95
) -> MetricResult:
    """Leniency (> 0) or severity (< 0): mean signed difference ``label - gold``.

    Interval: Student t on the per-item differences (call it per vendor and criterion).
    """
    common, pairs = _paired(gold, labels)
    diff = pairs[:, 1] - pairs[:, 0]
    value = float(diff.mean()) if diff.size else float("nan")
    ci = None
    if diff.size >= 2:
        half = float(stats.t.ppf(0.5 + level / 2, diff.size - 1)) * float(
            diff.std(ddof=1) / np.sqrt(diff.size)
        )
        ci = ConfidenceInterval(value - half, value + half, level)
    return MetricResult("leniency_bias", value, per_item=pd.Series(diff, index=common), ci=ci)


def icc(ratings: npt.ArrayLike, *, form: IccForm = "ICC(2,1)") -> MetricResult:
    """Intraclass correlation of an ``(n_targets, k_raters)`` table without gaps.

    Two-way ANOVA forms of Shrout & Fleiss (1979): ``ICC(2,·)`` raters random
    (absolute agreement), ``ICC(3,·)`` raters fixed (consistency); ``1`` one rater,
    ``k`` the mean of the ``k`` raters.

    Examples
    --------
    Shrout & Fleiss (1979), Table 2 (published: .29, .71, .62, .91):

    >>> t = [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
    >>> [round(icc(t, form=f).value, 2) for f in ("ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)")]
    [0.29, 0.71, 0.62, 0.91]
    """
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] < 2:
        raise ValueError(f"ratings must be (n_targets >= 2, k_raters >= 2), got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("ratings has missing or non-finite values; ICC needs a full table")
    n, k = x.shape
    grand = x.mean()
    ss_rows = k * float(((x.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((x.mean(axis=0) - grand) ** 2).sum())
    ss_err = float(((x - grand) ** 2).sum()) - ss_rows - ss_cols
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    if form == "ICC(2,1)":
        value = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
    elif form == "ICC(3,1)":
        value = (msr - mse) / (msr + (k - 1) * mse)
    elif form == "ICC(2,k)":
        value = (msr - mse) / (msr + (msc - mse) / n)
    elif form == "ICC(3,k)":
        value = (msr - mse) / msr
    else:
        raise ValueError(
            f"form must be one of ICC(2,1), ICC(3,1), ICC(2,k), ICC(3,k); got {form!r}"
        )
    return MetricResult("icc", float(value), params={"form": form})
