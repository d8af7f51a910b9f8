"""The statistical tests the ranking needs, taken from :mod:`metrics.statistics`.

Kept in one place so that :mod:`reports.ranking` depends on a narrow surface.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

__all__ = ["holm", "mcnemar_exact"]


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return []
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return [float(x) for x in out]


def mcnemar_exact(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 correctness vectors."""
    n10 = int(np.count_nonzero((a == 1) & (b == 0)))
    n01 = int(np.count_nonzero((a == 0) & (b == 1)))
    if n10 + n01 == 0:
        return 1.0
    return float(stats.binomtest(n10, n10 + n01, 0.5).pvalue)
