"""The statistical tests the ranking needs, taken from :mod:`metrics.statistics`.

The ranking works on per-item correctness vectors; these thin adapters feed them to
the metrics package's implementations, so there is one McNemar and one Holm in the
project.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.statistics import holm as _holm
from metrics.statistics import mcnemar_exact as _mcnemar_exact

__all__ = ["holm", "mcnemar_exact"]


def holm(p_values: Sequence[float], *, alpha: float = 0.05) -> list[float]:
    """Holm step-down adjusted p-values, in the input order."""
    if not p_values:
        return []
    result = _holm({str(i): float(p) for i, p in enumerate(p_values)}, alpha=alpha)
    return [result.adjusted[str(i)] for i in range(len(p_values))]


def mcnemar_exact(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """Two-sided exact McNemar p-value for paired 0/1 correctness vectors.

    Correctness is expressed as labels against an all-ones gold, so that an item is
    right for a system exactly when its vector holds 1 there.
    """
    index = pd.RangeIndex(a.size)
    gold = pd.Series(np.ones(a.size, dtype=np.int64), index=index)
    result = _mcnemar_exact(
        gold,
        pd.Series(a.astype(np.int64), index=index),
        pd.Series(b.astype(np.int64), index=index),
    )
    return float(result.pvalue)
