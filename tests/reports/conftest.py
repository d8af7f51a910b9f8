"""Hand-built systems for the report tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from metrics.types import MetricResult
from reports.inputs import (
    Constraints,
    PricingTerms,
    RankingConfig,
    SystemEvaluation,
    TrendPoint,
)
from reports.report import build_report
from reports.results import Report

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


def _full_systems(n: int = 240) -> tuple[list[SystemEvaluation], pd.DataFrame]:
    """Three vendors with every optional input filled, plus item metadata."""
    gen = np.random.default_rng(3)
    index = _items(n)
    lighting = np.where(np.arange(n) % 4 == 0, "dim", "bright")
    metadata = pd.DataFrame(
        {"lighting": lighting, "camera": np.where(np.arange(n) % 2 == 0, "a", "b")},
        index=index,
    )
    classes = ["cat", "dog", "bird"]
    systems: list[SystemEvaluation] = []
    for name, p_ok, p_dim, lat_h, price in [
        ("acme", 0.95, 0.7, 3.0, 0.05),
        ("bolt", 0.9, 0.88, 1.0, 0.03),
        ("core", 0.8, 0.8, 30.0, 0.02),
    ]:
        p = np.where(lighting == "dim", p_dim, p_ok)
        correct = (gen.random(n) < p).astype(np.float64)
        confusion = pd.DataFrame(
            gen.integers(0, 30, (3, 3)) + np.eye(3, dtype=int) * 60, index=classes, columns=classes
        )
        box_bias = pd.DataFrame(
            [
                {"class": c, "edge": e, "mean_offset": float(gen.normal(0, 2)), "n": 40}
                for c in classes
                for e in ("left", "top", "right", "bottom")
            ]
        )
        annot = ["w1", "w2", "w3"]
        systems.append(
            SystemEvaluation(
                name,
                pd.Series(correct, index=index),
                latency_s=pd.Series(gen.exponential(lat_h * 3600, n), index=index),
                item_costs=pd.Series(np.full(n, price), index=index),
                metrics={
                    "macro_f1": MetricResult("macro_f1", float(correct.mean()) - 0.01),
                    "cohen_kappa": MetricResult("cohen_kappa", float(correct.mean()) - 0.1),
                },
                per_class=MetricResult(
                    "recall", 0.0, per_item=pd.Series(gen.uniform(0.6, 1.0, 3), index=classes)
                ),
                confusion=confusion,
                annotator_gold=MetricResult(
                    "accuracy", 0.0, per_item=pd.Series(gen.uniform(0.7, 1.0, 3), index=annot)
                ),
                annotator_peers=MetricResult(
                    "cohen_kappa", 0.0, per_item=pd.Series(gen.uniform(0.5, 0.9, 3), index=annot)
                ),
                annotator_items=pd.Series([80, 80, 80], index=annot),
                box_bias=box_bias,
                pricing=PricingTerms(per_item=price, minimum_commitment=4000.0),
            )
        )
    return systems, metadata


@pytest.fixture
def full_systems() -> tuple[list[SystemEvaluation], pd.DataFrame]:
    return _full_systems()


@pytest.fixture
def full_report(full_systems: tuple[list[SystemEvaluation], pd.DataFrame]) -> Report:
    """A report with every section filled (ranking, slices, trends, boxes...)."""
    systems, metadata = full_systems
    history = [
        TrendPoint("2025-Q3", datetime(2025, 9, 30, tzinfo=UTC), "acme", 0.97, 500),
        TrendPoint("2025-Q4", datetime(2025, 12, 31, tzinfo=UTC), "acme", 0.98, 500),
        TrendPoint("2025-Q4", datetime(2025, 12, 31, tzinfo=UTC), "bolt", 0.85, 500),
    ]
    return build_report(
        systems,
        title="2026-Q1",
        config=RankingConfig(constraints=Constraints(max_p95_latency_s=24 * 3600), n_resamples=300),
        metadata=metadata,
        history=history,
        production_volume=100_000,
        generated_at=datetime(2026, 3, 31, 12, 0, tzinfo=UTC),
    )
