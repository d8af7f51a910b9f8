"""Hand-built systems for the report tests."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from reports.inputs import PricingTerms, SystemEvaluation

MakeSystem = Callable[..., SystemEvaluation]


def _items(n: int) -> list[str]:
    return [f"item{i:05d}" for i in range(n)]


@pytest.fixture
def make_system() -> MakeSystem:
    """Build a system whose first ``n_correct`` of ``n`` items are right.

    Latency is ``latency_h`` hours for every item (plus a small per-item ramp so that
    quantiles are well defined) and each item costs ``cost``.
    """

    def make(
        name: str,
        *,
        n: int = 400,
        n_correct: int | None = None,
        correct: np.ndarray | None = None,
        latency_h: float | None = 2.0,
        cost: float | None = 0.05,
        pricing: PricingTerms | None = None,
    ) -> SystemEvaluation:
        index = _items(n)
        if correct is None:
            k = n if n_correct is None else n_correct
            correct = np.r_[np.ones(k), np.zeros(n - k)]
        latency = (
            pd.Series(latency_h * 3600 * (1 + np.arange(n) / n), index=index)
            if latency_h is not None
            else None
        )
        costs = pd.Series(np.full(n, cost), index=index) if cost is not None else None
        return SystemEvaluation(
            name,
            pd.Series(np.asarray(correct, dtype=np.float64), index=index),
            latency_s=latency,
            item_costs=costs,
            pricing=pricing,
        )

    return make


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)
