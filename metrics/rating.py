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

__all__ = [
    "AGREEMENT_STATISTICS",
    "IccForm",
    "agreement_statistics",
    "gwet_ac",
    "icc",
    "pair_table",
    "rating_bias",
    "rating_mae",
    "table_statistics",
    "table_statistics_many",
    "weighted_kappa",
]

IccForm = Literal["ICC(2,1)", "ICC(3,1)", "ICC(2,k)", "ICC(3,k)"]

#: Names of :func:`table_statistics`, in order.
AGREEMENT_STATISTICS: tuple[str, ...] = (
    "linear_weighted_kappa",
    "quadratic_weighted_kappa",
    "icc_2_1",
    "icc_3_1",
    "icc_2_k",
    "icc_3_k",
    "krippendorff_alpha_ordinal",
    "krippendorff_alpha_interval",
    "gwet_ac1",
    "gwet_ac2",
)


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


def pair_table(
    gold: npt.ArrayLike, labels: npt.ArrayLike, *, scale: tuple[int, int]
) -> npt.NDArray[np.int64]:
    """``(K, K)`` counts of (gold, label) rating pairs over the whole scale ``lo..hi``.

    Rows are gold ratings, columns the candidate's, both in scale order.

    Raises
    ------
    ValueError
        A rating outside the scale or not an integer.
    """
    lo, hi = int(scale[0]), int(scale[1])
    if hi <= lo:
        raise ValueError(f"the scale needs scale_min < scale_max, got {lo}..{hi}")
    g = np.asarray(gold, dtype=np.float64)
    v = np.asarray(labels, dtype=np.float64)
    if g.shape != v.shape or g.ndim != 1:
        raise ValueError(f"gold and labels must be 1-d of one length, got {g.shape}, {v.shape}")
    for name, x in (("gold", g), ("labels", v)):
        bad = ~np.isfinite(x) | (x != np.round(x)) | (x < lo) | (x > hi)
        if bad.any():
            raise ValueError(
                f"{name} has ratings outside the integer scale {lo}..{hi}: "
                f"{np.unique(x[bad])[:5].tolist()}"
            )
    k = hi - lo + 1
    cells = (g.astype(np.int64) - lo) * k + (v.astype(np.int64) - lo)
    return np.bincount(cells, minlength=k * k).reshape(k, k).astype(np.int64)


FloatArray = npt.NDArray[np.float64]


# Every statistic below works on a stack of pair tables ``(R, K, K)`` at once: the
# bootstrap computes them for a thousand resampled tables per criterion and candidate,
# and one vectorised pass is what keeps a rating report as quick as the other task types'.


def _kappa_many(p: FloatArray, w: FloatArray) -> FloatArray:
    expected = p.sum(axis=2)[:, :, None] * p.sum(axis=1)[:, None, :]
    den = (w * expected).sum(axis=(1, 2))
    num = (w * p).sum(axis=(1, 2))
    safe = np.where(den > 0, den, 1.0)
    return np.where(den > 0, 1.0 - num / safe, np.nan)


def _icc_many(counts: FloatArray, values: FloatArray) -> FloatArray:
    """ICC(2,1), ICC(3,1), ICC(2,k), ICC(3,k) of two raters from their pair tables, ``(R, 4)``."""
    n = counts.sum(axis=(1, 2))
    row, col = counts.sum(axis=2), counts.sum(axis=1)
    sg, sv = row @ values, col @ values
    sgg, svv = row @ values**2, col @ values**2
    sgv = np.einsum("i,rij,j->r", values, counts, values)
    ok = n >= 2
    n_ = np.where(ok, n, 2.0)
    m = (sg + sv) / (2 * n_)
    ss_total = sgg + svv - 2 * n_ * m * m
    ss_rows = (sgg + svv + 2 * sgv) / 2 - 2 * n_ * m * m
    ss_cols = n_ * ((sg / n_ - m) ** 2 + (sv / n_ - m) ** 2)
    ss_err = ss_total - ss_rows - ss_cols
    msr, msc, mse = ss_rows / (n_ - 1), ss_cols, ss_err / (n_ - 1)
    dens = (msr + mse + 2 * (msc - mse) / n_, msr + mse, msr + (msc - mse) / n_, msr)
    out = np.stack(
        [np.where(d != 0, (msr - mse) / np.where(d != 0, d, 1.0), np.nan) for d in dens], axis=1
    )
    out[~ok] = np.nan
    return out


def _alpha_many(counts: FloatArray, delta: FloatArray) -> FloatArray:
    """Krippendorff's alpha of pair tables ``(R, K, K)``; ``delta`` ``(K, K)`` or ``(R, K, K)``."""
    coincidence = counts + counts.transpose(0, 2, 1)
    n_c = coincidence.sum(axis=2)
    total = n_c.sum(axis=1)
    expected = (n_c[:, :, None] * n_c[:, None, :] * delta).sum(axis=(1, 2))
    observed = (coincidence * delta).sum(axis=(1, 2))
    ok = (expected > 0) & (total >= 2)
    return np.where(ok, 1.0 - (total - 1) * observed / np.where(ok, expected, 1.0), np.nan)


def _ordinal_delta_many(counts: FloatArray) -> FloatArray:
    n_c = (counts + counts.transpose(0, 2, 1)).sum(axis=2)
    k = n_c.shape[1]
    cum = np.concatenate([np.zeros((n_c.shape[0], 1)), np.cumsum(n_c, axis=1)], axis=1)
    i, j = np.meshgrid(np.arange(k), np.arange(k), indexing="ij")
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    between = cum[:, hi + 1] - cum[:, lo]
    return np.asarray((between - (n_c[:, i] + n_c[:, j]) / 2) ** 2, dtype=np.float64)


def _gwet_many(p: FloatArray, w: FloatArray) -> FloatArray:
    q = p.shape[1]
    pa = (w * p).sum(axis=(1, 2))
    pi = (p.sum(axis=2) + p.sum(axis=1)) / 2
    pe = float(w.sum()) / (q * (q - 1)) * (pi * (1 - pi)).sum(axis=1)
    return np.where(pe < 1, (pa - pe) / np.where(pe < 1, 1 - pe, 1.0), np.nan)


def _gwet_weights(q: int, weights: Literal["identity", "quadratic"]) -> FloatArray:
    if weights == "identity":
        return np.eye(q)
    idx = np.arange(q)
    return np.asarray(1.0 - (idx[:, None] - idx[None, :]) ** 2 / float((q - 1) ** 2))


def gwet_ac(counts: npt.ArrayLike, *, weights: Literal["identity", "quadratic"]) -> float:
    """Gwet's AC1 (``weights="identity"``) or AC2 of two raters from their pair table.

    ``q`` is the table's number of categories (the whole scale), as irrCAC's
    ``CAC(..., categories=scale)``: ``pe = T_w / (q (q - 1)) * sum_k pi_k (1 - pi_k)``.

    Examples
    --------
    Two raters who agree on 118 of 125 items in a skewed 2x2 table: Cohen's kappa is
    near 0 (the kappa paradox), AC1 is not (irrCAC 0.4.4 gives the same 0.9407763...):

    >>> round(gwet_ac([[118, 5], [2, 0]], weights="identity"), 4)
    0.9408
    """
    c = np.asarray(counts, dtype=np.float64)
    q = c.shape[0]
    n = float(c.sum())
    if n == 0 or q < 2:
        return float("nan")
    return float(_gwet_many((c / n)[None], _gwet_weights(q, weights))[0])


def table_statistics_many(counts: npt.ArrayLike, *, scale: tuple[int, int]) -> FloatArray:
    """:func:`table_statistics` of a stack of pair tables ``(R, K, K)``: array ``(R, 10)``.

    The columns follow :data:`AGREEMENT_STATISTICS`; an empty table gives a row of NaN.
    """
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 3 or c.shape[1] != c.shape[2]:
        raise ValueError(f"counts must be a stack of square tables (R, K, K), got {c.shape}")
    r, k = c.shape[0], c.shape[1]
    values = np.arange(scale[0], scale[0] + k, dtype=np.float64)
    idx = np.arange(k, dtype=np.float64)
    n = c.sum(axis=(1, 2))
    p = c / np.where(n > 0, n, 1.0)[:, None, None]
    linear = np.abs(idx[:, None] - idx[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.column_stack(
            [
                _kappa_many(p, linear),
                _kappa_many(p, linear**2),
                _icc_many(c, values),
                _alpha_many(c, _ordinal_delta_many(c)),
                _alpha_many(c, (values[:, None] - values[None, :]) ** 2),
                _gwet_many(p, _gwet_weights(k, "identity")) if k >= 2 else np.full(r, np.nan),
                _gwet_many(p, _gwet_weights(k, "quadratic")) if k >= 2 else np.full(r, np.nan),
            ]
        )
    out[n == 0] = np.nan
    return np.asarray(out, dtype=np.float64)


def table_statistics(counts: npt.ArrayLike, *, scale: tuple[int, int]) -> tuple[float, ...]:
    """Every :data:`AGREEMENT_STATISTICS` of gold and one candidate from their pair table.

    ``counts`` is :func:`pair_table`'s ``(K, K)`` table over the scale ``lo..hi``; each
    statistic treats gold and the candidate as two raters of the same items:

    * Cohen's weighted kappa, linear and quadratic weights over the whole scale
      (scikit-learn's ``cohen_kappa_score(labels=range(lo, hi + 1))``);
    * ICC(2,1), ICC(3,1), ICC(2,k), ICC(3,k) (k = 2), Shrout & Fleiss / pingouin;
    * Krippendorff's alpha, ordinal and interval metric (the ``krippendorff`` package);
    * Gwet's AC1 and AC2 (quadratic weights), :func:`gwet_ac`.
    """
    c = np.asarray(counts, dtype=np.float64)
    return tuple(float(x) for x in table_statistics_many(c[None], scale=scale)[0])


def agreement_statistics(
    gold: pd.Series[float], labels: pd.Series[float], *, scale: tuple[int, int]
) -> dict[str, MetricResult]:
    """:data:`AGREEMENT_STATISTICS` over the tasks both rated, by name.

    Examples
    --------
    >>> import pandas as pd
    >>> s = agreement_statistics(pd.Series([1, 2, 3, 4, 5]), pd.Series([1, 2, 3, 4, 4]),
    ...                          scale=(1, 5))
    >>> round(s["quadratic_weighted_kappa"].value, 4), round(s["icc_2_1"].value, 4)
    (0.9412, 0.9524)
    """
    _, pairs = _paired(gold, labels)
    table = pair_table(pairs[:, 0], pairs[:, 1], scale=scale)
    values = table_statistics(table, scale=scale)
    return {
        name: MetricResult(name, value, params={"scale": list(scale)})
        for name, value in zip(AGREEMENT_STATISTICS, values, strict=True)
    }
