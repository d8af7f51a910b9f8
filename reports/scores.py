"""From the scoring engine's :class:`~metrics.scoring.Scored` to the report's inputs and rows.

Every door shows a candidate's numbers through :func:`system_scores` (one JSON shape,
:class:`reports.results.SystemScores`), and the report is built from
:func:`system_evaluation`, so the report's values and intervals are the engine's. The
ranking orders and compares candidates; :func:`overlay_scores` then shows, in each
ranking row, the engine's main metric, cost and latency estimates, and "not enough
results" for a candidate below the coverage floor.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from metrics.operations import LatencySummary
from metrics.scoring import Scored
from metrics.types import MetricResult
from reports.inputs import PricingTerms, SystemEvaluation
from reports.results import CrowdAgreement, Estimate, Ranking, SystemRanking, SystemScores

__all__ = [
    "estimate",
    "system_scores",
    "system_evaluation",
    "overlay_scores",
    "annotator_rows",
    "table_rows",
]


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def estimate(result: MetricResult | None) -> Estimate | None:
    """A metric result as ``{value, low, high}`` (non-finite numbers become ``null``)."""
    if result is None:
        return None
    ci = result.ci
    return Estimate(
        value=_finite(result.value),
        low=_finite(ci.low) if ci is not None else None,
        high=_finite(ci.high) if ci is not None else None,
    )


def annotator_rows(scored: Scored) -> dict[str, dict[str, float | None]] | None:
    """The engine's per-annotator table as JSON rows (``None`` without a named crowd).

    One row per annotator id with every column of :attr:`Scored.per_annotator` (e.g.
    ``n_items``, ``agreement_with_gold``, ``agreement_with_peers``); a missing or
    non-finite value is ``None``. ``bakeoff evaluate --json`` and ``/results`` both show
    these rows, so the two doors cannot disagree.
    """
    return table_rows(scored.per_annotator)


def table_rows(table: pd.DataFrame | None) -> dict[str, dict[str, float | None]] | None:
    """An engine table (per class, per annotator) as JSON rows: ``{index: {column: value}}``,
    numbers as floats, missing or non-finite ones as ``None``."""
    if table is None:
        return None
    return {
        str(annotator): {
            str(column): (
                float(v)
                if isinstance(v, int | float | np.number) and math.isfinite(float(v))
                else None
            )
            for column, v in row.items()
        }
        for annotator, row in table.iterrows()
    }


def system_scores(scored: Scored) -> SystemScores:
    """The one JSON shape of a candidate's scores (values, intervals, status, warnings)."""
    ops = scored.operations
    metrics = {name: estimate(r) for name, r in scored.summary.items()}
    return SystemScores(
        task_type=scored.task_type,
        main_metric=scored.main_metric,
        ranking_metric=scored.ranking_metric,
        main_title=scored.main_title,
        ranking_title=scored.ranking_title,
        status=scored.status,
        n_items=scored.n_items,
        n_answered=scored.n_answered,
        n_labels=scored.n_labels,
        n_ties=scored.n_ties,
        coverage=scored.coverage,
        min_coverage=scored.min_coverage,
        metrics={k: v for k, v in metrics.items() if v is not None},
        coco=dict(scored.coco) if scored.coco is not None else None,
        total_cost=_finite(ops.total_cost) if ops is not None else None,
        cost_per_item=estimate(ops.cost_per_item) if ops is not None else None,
        cost_per_correct=estimate(ops.cost_per_correct) if ops is not None else None,
        latency=(
            {k: e for k, r in ops.latency.items() if (e := estimate(r)) is not None}
            if ops is not None
            else {}
        ),
        n_unreturned=ops.n_unreturned if ops is not None else 0,
        deadline_s=ops.deadline_s if ops is not None else None,
        warnings=[w.message for w in scored.warnings],
        crowd_agreement=_crowd_agreement(scored),
    )


def _crowd_agreement(scored: Scored) -> CrowdAgreement | None:
    """The engine's crowd agreement as JSON (non-finite numbers become ``null``)."""
    agreement = scored.crowd_agreement
    if agreement is None:
        return None
    return CrowdAgreement(
        fleiss_kappa=_finite(agreement.fleiss_kappa),
        fleiss_kappa_note=agreement.fleiss_kappa_note,
        krippendorff_alpha=_finite(agreement.krippendorff_alpha),
        level=agreement.level,
        n_items=agreement.n_items,
        min_answers=agreement.min_answers,
        max_answers=agreement.max_answers,
    )


def _latency_summary(scored: Scored) -> LatencySummary | None:
    ops = scored.operations
    if ops is None or not ops.latency:
        return None

    def v(name: str) -> float:
        r = ops.latency.get(name)
        return float(r.value) if r is not None else float("nan")

    return LatencySummary(
        n_completed=ops.n_completed,
        n_pending=ops.n_unreturned,
        mean_s=v("mean_s"),
        p50_s=v("p50_s"),
        p90_s=v("p90_s"),
        p95_s=v("p95_s"),
        p99_s=v("p99_s"),
        max_s=v("max_s"),
        throughput_per_hour=v("throughput_per_hour"),
    )


def system_evaluation(
    name: str,
    scored: Scored,
    *,
    pricing: PricingTerms | None = None,
    hours_per_item: float = 0.0,
) -> SystemEvaluation:
    """The report's input for one candidate, read from its :class:`Scored`.

    Per-class rows show F1; annotators their agreement with gold and with their peers.
    """
    ops = scored.operations
    ann = scored.per_annotator
    per_class = (
        MetricResult("f1", float("nan"), per_item=scored.per_class["f1"].astype(np.float64))
        if "f1" in scored.per_class.columns and len(scored.per_class)
        else None
    )
    return SystemEvaluation(
        name=name,
        item_scores=scored.item_scores,
        # the ranking rows, figures and verdict show the ranked quantity under this name
        main_metric=scored.ranking_title,
        latency_s=ops.latency_s if ops is not None else None,
        item_costs=ops.item_costs if ops is not None else None,
        latency_summary=_latency_summary(scored),
        metrics=dict(scored.summary),
        per_class=per_class,
        confusion=scored.confusion,
        annotator_gold=(
            MetricResult("agreement_with_gold", float("nan"), ann["agreement_with_gold"])
            if ann is not None
            else None
        ),
        annotator_peers=(
            MetricResult("agreement_with_peers", float("nan"), ann["agreement_with_peers"])
            if ann is not None
            else None
        ),
        annotator_items=ann["n_items"] if ann is not None else None,
        box_bias=scored.box_bias,
        pricing=pricing,
        labels_per_item=scored.n_labels / scored.n_answered if scored.n_answered else 1.0,
        hours_per_item=hours_per_item,
        scored=scored,
    )


def _row(row: SystemRanking, scores: SystemScores) -> SystemRanking:
    update: dict[str, object] = {}
    main = scores.metrics.get(scores.ranking_metric)
    if main is not None:
        update["accuracy"] = main
    if scores.cost_per_item is not None:
        update["cost_per_item"] = scores.cost_per_item
    if scores.cost_per_correct is not None and row.cost_per_correct is not None:
        update["cost_per_correct"] = scores.cost_per_correct
    if "p95_s" in scores.latency and row.p95_latency_s is not None:
        update["p95_latency_s"] = scores.latency["p95_s"]
    return row.model_copy(update=update)


def overlay_scores(ranking: Ranking, scores: dict[str, SystemScores]) -> Ranking:
    """Show the engine's estimates in the ranking rows of the systems in ``scores``.

    The ranking's order, tests, status and tie groups are kept.
    """
    rows = [_row(r, scores[r.name]) if r.name in scores else r for r in ranking.systems]
    return ranking.model_copy(update={"systems": rows})
