"""Assemble a whole bake-off report from the systems' metric results."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from reports._bootstrap import ReplicatesCache
from reports.breakdowns import (
    annotator_breakdown,
    box_bias_breakdown,
    class_breakdown,
    confusion_matrices,
    cost_projection,
    keypoint_breakdown,
    latency_summaries,
    slice_breakdown,
    trend_breakdown,
)
from reports.inputs import RankingConfig, SystemEvaluation, TrendPoint, currencies_of
from reports.ranking import align_items, rank_systems
from reports.results import Report
from reports.scores import overlay_scores, system_scores

__all__ = ["build_report"]


def _finite(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


def build_report(
    systems: Sequence[SystemEvaluation],
    *,
    title: str = "Bake-off report",
    config: RankingConfig | None = None,
    metadata: pd.DataFrame | None = None,
    history: Sequence[TrendPoint] = (),
    production_volume: int | None = None,
    rng: np.random.Generator | int | None = None,
    generated_at: datetime | None = None,
    min_slice_items: int = 5,
    replicates: ReplicatesCache | None = None,
) -> Report:
    """Rank the systems and compute every breakdown of the report.

    Parameters
    ----------
    systems
        One :class:`~reports.inputs.SystemEvaluation` per candidate.
    title
        Shown at the top of the HTML and stored in the JSON.
    config
        Weights, hard constraints and statistical settings of the bake-off.
    metadata
        Golden-item metadata for slices (index: item id; one column per field).
    history
        The project's earlier bake-offs (and the current one) for trends. When the
        current bake-off is absent from it, it is added from the ranking.
    production_volume
        Items per production period for the cost projection; ``None`` skips it.
    rng
        Generator of the bootstrap, or its seed (``None``: a fixed seed, reproducible
        report); see :func:`reports.ranking.rank_systems`.
    generated_at
        Timestamp stored in the report (default: now, UTC).
    min_slice_items
        Smallest metadata slice reported.
    replicates
        Where the ranking's bootstrap replicates are kept (see
        :func:`reports.ranking.rank_systems`).

    Returns
    -------
    Report
        The whole report; render it with :mod:`reports.render`. Systems built from the
        scoring engine (:func:`reports.scores.system_evaluation`) show its numbers:
        ``Report.scores``, and in the ranking rows the main metric, cost and latency
        estimates and "not enough results" below the coverage floor.
    """
    cfg = config or RankingConfig()
    scores = {s.name: system_scores(s.scored) for s in systems if s.scored is not None}
    ranking = overlay_scores(
        rank_systems(systems, config=cfg, rng=rng, replicates=replicates), scores
    )
    n_items = len(align_items(systems))
    when = generated_at or datetime.now(UTC)
    accuracy = {r.name: r.accuracy.value for r in ranking.systems if r.accuracy.value is not None}
    coverage = {r.name: r.coverage for r in ranking.systems}
    cost_per_correct = {
        r.name: r.cost_per_correct.value for r in ranking.systems if r.cost_per_correct is not None
    }
    currencies = currencies_of(systems)
    shared = set(currencies.values())
    weights = {
        "accuracy": cfg.weights.accuracy,
        "speed": cfg.weights.speed,
        "cost": cfg.weights.cost,
    }

    points = list(history)
    if points and not any(p.bakeoff == title for p in points):
        # The current bake-off joins the trend with its coverage: a run with too few
        # labels is shown nowhere in the trend and never raises a decline.
        points += [
            TrendPoint(
                bakeoff=title,
                when=when,
                system=name,
                value=value,
                n_items=n_items,
                coverage=coverage[name],
                weights=weights,
                cost_per_correct=cost_per_correct.get(name),
                currency=currencies.get(name),
            )
            for name, value in accuracy.items()
            if any(p.system == name for p in points)
        ]
    trends, warnings = trend_breakdown(
        points,
        alpha=cfg.alpha,
        confidence=cfg.confidence,
        min_coverage=cfg.constraints.coverage_floor,
    )

    return Report(
        title=title,
        generated_at=when,
        n_items=n_items,
        main_metric=systems[0].main_metric,
        production_volume=production_volume,
        ranking=ranking,
        metrics={
            s.name: {name: _finite(r.value) for name, r in sorted(s.metrics.items())}
            for s in systems
        },
        per_class=class_breakdown(systems),
        slices=(
            slice_breakdown(systems, metadata, min_items=min_slice_items, confidence=cfg.confidence)
            if metadata is not None
            else []
        ),
        annotators=annotator_breakdown(systems),
        box_bias=box_bias_breakdown(
            systems, threshold=cfg.box_bias_threshold, confidence=cfg.confidence
        ),
        per_keypoint=keypoint_breakdown(systems),
        confusion=confusion_matrices(systems),
        latency=latency_summaries(systems),
        cost_projection=(
            cost_projection(systems, volume=production_volume, accuracy=accuracy)
            if production_volume is not None
            else []
        ),
        trends=trends,
        trend_warnings=warnings,
        scores=scores,
        currencies=currencies,
        currency=shared.pop() if len(shared) == 1 else None,
    )
