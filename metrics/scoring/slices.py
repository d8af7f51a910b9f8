"""The main metric per metadata slice (e.g. ``lighting=dim``), with bounded intervals.

A slice is the gold items sharing one value of one metadata field. Columns with fewer
than 2 or more than 50 distinct values (ids, file names) are not sliced; an item
without a value is in no slice of that field. An unanswered item counts as wrong
(score 0), as in the ranking metric.

Intervals follow the project's policy, :func:`metrics.intervals.mean_interval` (the
modified Wilson interval for 0/1 scores, the effective-sample-size Wilson interval
otherwise), so they stay within ``[0, 1]``. ``p_value`` compares
the slice with the rest of the items: Fisher's exact test for 0/1 scores (Pearson's
chi-square once the table is large), Welch's t-test otherwise.

Examples
--------
>>> import pandas as pd
>>> scores = pd.Series([1.0, 1.0, 0.0, 1.0, 0.0, 0.0], index=list("abcdef"))
>>> meta = pd.DataFrame({"light": ["day"] * 3 + ["dim"] * 3}, index=list("abcdef"))
>>> table = slice_table(scores, meta, min_items=2)
>>> table[["key", "value", "n_items", "score"]].to_dict("records")[0]
{'key': 'light', 'value': 'dim', 'n_items': 3, 'score': 0.3333333333333333}
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.intervals import mean_interval

__all__ = ["SLICE_COLUMNS", "slice_table"]

#: Columns of :func:`slice_table`.
SLICE_COLUMNS: tuple[str, ...] = (
    "key",
    "value",
    "n_items",
    "score",
    "low",
    "high",
    "overall",
    "gap",
    "p_value",
)
_MAX_SLICE_VALUES = 50


def _two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    from scipy import stats  # on use: 0.5 s to import, and only slices need it

    table = np.array([[k1, n1 - k1], [k2, n2 - k2]], dtype=np.float64)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if table.sum() < 5000 or expected.min() < 10:
        return float(stats.fisher_exact(table.astype(np.int64))[1])
    return float(stats.chi2_contingency(table, correction=False)[1])


def metadata_slices(
    metadata: pd.DataFrame,
) -> list[tuple[str, str, npt.NDArray[np.bool_], npt.NDArray[np.bool_]]]:
    """Each (field, value, in-slice mask, field-present mask) worth comparing."""
    out = []
    for key in metadata.columns:
        column = metadata[key]
        present = column.notna().to_numpy()
        n_values = column.dropna().nunique()
        if n_values > _MAX_SLICE_VALUES or n_values < 2:
            continue
        codes, uniques = pd.factorize(column.astype(str), sort=True)
        for code, value in enumerate(uniques):
            mask = present & (codes == code)
            if mask.any():
                out.append((str(key), str(value), mask, present))
    return out


def slice_table(
    item_scores: pd.Series[float],
    metadata: pd.DataFrame,
    *,
    min_items: int = 5,
    level: float = 0.95,
) -> pd.DataFrame:
    """The main metric of one candidate per metadata slice, worst first.

    Parameters
    ----------
    item_scores
        The main metric per gold item (index ``task``); NaN (unanswered) counts as 0.
    metadata
        Index ``task``, one column per metadata field.
    min_items
        Smallest slice reported.
    level
        Interval level.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SLICE_COLUMNS`, sorted by ``score`` then ``gap``, then names.

    Raises
    ------
    TypeError
        When ``metadata`` is not a DataFrame.
    ValueError
        When ``metadata`` has duplicate item ids.
    """
    if not isinstance(metadata, pd.DataFrame):
        raise TypeError(f"metadata must be a pandas DataFrame, got {type(metadata).__name__}")
    if not metadata.index.is_unique:
        raise ValueError("metadata has duplicate item ids in its index")
    scores = item_scores.reindex(metadata.index).fillna(0.0).to_numpy(dtype=np.float64)
    known = metadata.index.isin(item_scores.index)
    binary = bool(np.all((scores == 0) | (scores == 1)))
    overall = float(item_scores.fillna(0.0).mean()) if len(item_scores) else float("nan")
    rows: list[dict[str, object]] = []
    for key, value, slice_mask, present_mask in metadata_slices(metadata):
        mask = slice_mask & known
        n_in = int(mask.sum())
        if n_in < min_items:
            continue
        inside = scores[mask]
        rest = scores[present_mask & known & ~mask]
        mean = float(inside.mean())
        p_value: float | None = None
        ci = mean_interval(inside, level=level)
        if binary:
            if rest.size:
                p_value = _two_proportion_p(int(inside.sum()), n_in, int(rest.sum()), rest.size)
        else:
            if rest.size > 1 and n_in > 1:
                from scipy import stats

                p = float(stats.ttest_ind(inside, rest, equal_var=False).pvalue)
                p_value = p if np.isfinite(p) else None
        rows.append(
            {
                "key": key,
                "value": value,
                "n_items": n_in,
                "score": mean,
                "low": ci.low,
                "high": ci.high,
                "overall": overall,
                "gap": mean - overall,
                "p_value": p_value,
            }
        )
    table = pd.DataFrame(rows, columns=list(SLICE_COLUMNS))
    if table.empty:
        return table
    return table.sort_values(["score", "gap", "key", "value"], kind="stable").reset_index(drop=True)
