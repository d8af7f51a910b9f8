"""The results of a bake-off: each candidate's scores against the pinned gold.

A thin view of :func:`service.domain.scoring.score_bakeoff` (the scoring engine,
:mod:`metrics.scoring`): nothing is computed here. ``main_value`` is the ranked quantity
(``ranking_metric``, named by ``ranking_title``: the mean per-item score over all gold
items, an unanswered item scoring 0; for transcription word accuracy, not WER);
``metrics`` holds every summary metric's value and ``scores`` the same with intervals,
the status ("not enough results" below the coverage floor) and warnings, exactly as
``bakeoff evaluate --json`` and the report show them. The scores are read as stored when
the labels landed (``scored_now`` says when this request had to compute them instead).
"""

from __future__ import annotations

import math

from sqlmodel import Session

from reports.scores import annotator_rows, system_scores
from service.core.types import utcnow
from service.domain import scoring
from service.domain.access import Blinding, is_vendor
from service.domain.bakeoffs import get_bakeoff, vendor_aliases
from service.domain.errors import Forbidden
from service.domain.scoring import Candidate
from service.domain.security import Principal
from service.models import BakeOffResults, Project, Vendor, VendorResult

__all__ = ["bakeoff_results", "clear_cache"]

_MAIN = {
    "classification": "accuracy",
    "multilabel": "exact_match",
    "spans": "per_item_span_f1",
    "detection": "per_image_f1",
    "segmentation": "per_image_f1",
    "keypoints": "per_image_keypoint_f1",
    "preference": "agreement",
    "rating": "rating_agreement",
    "transcription": "wer",
}


def clear_cache() -> None:
    """Forget every cached result."""
    scoring.clear_cache()


def _finite(x: float | None) -> float | None:
    if x is None:
        return None
    value = float(x)
    return value if math.isfinite(value) else None


def _annotators(c: Candidate, blinding: Blinding) -> dict[str, dict[str, float | None]] | None:
    """The engine's per-annotator rows, annotators named as this caller may see them."""
    rows = annotator_rows(c.scored)
    if rows is None:
        return None
    return {blinding.annotator(c.vendor_id, a) or a: row for a, row in rows.items()}


def _vendor_result(c: Candidate, *, reveal: bool, n_gold: int, blinding: Blinding) -> VendorResult:
    scores = system_scores(c.scored)
    ops = c.scored.operations
    p50 = ops.latency.get("p50_s") if ops is not None else None
    p95 = ops.latency.get("p95_s") if ops is not None else None
    cpc = ops.cost_per_correct if ops is not None else None
    return VendorResult(
        vendor_id=c.vendor_id if reveal else None,
        vendor=c.name if reveal else c.alias,
        n_gold=n_gold,
        n_labelled=c.scored.n_answered,
        n_labels=c.n_label_rows,
        coverage=c.scored.coverage,
        main_metric=scores.main_metric,
        main_title=scores.main_title,
        ranking_metric=scores.ranking_metric,
        ranking_title=scores.ranking_title,
        main_value=(
            _finite(c.scored.value(scores.ranking_metric)) if c.scored.n_answered else None
        ),
        status=scores.status,
        metrics={name: e.value for name, e in scores.metrics.items()},
        latency_p50_s=_finite(p50.value) if p50 is not None else None,
        latency_p95_s=_finite(p95.value) if p95 is not None else None,
        total_cost=scores.total_cost if c.scored.n_answered or scores.total_cost else None,
        cost_per_correct=_finite(cpc.value) if cpc is not None else None,
        scores=scores,
        annotators=_annotators(c, blinding),
    )


def bakeoff_results(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> BakeOffResults:
    """Every candidate's scores at the bake-off's current data version (stored scores).

    A ``qa`` key sees candidates as "Candidate A/B/..." while the bake-off is blinded; vendor keys
    may not read results.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    if is_vendor(principal):
        raise Forbidden("vendor keys cannot read bake-off results")
    reveal = not (bakeoff.blinded and principal is not None and principal.role == "qa")
    scored = scoring.score_bakeoff(session=session, bakeoff=bakeoff)
    blinding = Blinding(session, bakeoff, principal)
    vendors = [
        _vendor_result(c, reveal=reveal, n_gold=scored.n_gold, blinding=blinding)
        for c in scored.candidates
    ]
    if not scored.candidates:  # no gold yet: list the candidates without numbers
        project = session.get(Project, bakeoff.project_id)
        main = _MAIN.get(project.task_type if project else "", "accuracy")
        for vendor_id, alias in sorted(
            vendor_aliases(session, bakeoff_id).items(), key=lambda kv: (len(kv[1]), kv[1])
        ):
            vendor = session.get(Vendor, vendor_id)
            vendors.append(
                VendorResult(
                    vendor_id=vendor_id if reveal else None,
                    vendor=(vendor.name if vendor else alias) if reveal else alias,
                    n_gold=0,
                    n_labelled=0,
                    n_labels=0,
                    coverage=0.0,
                    main_metric=main,
                    main_value=None,
                    status="no_results",
                )
            )
    return BakeOffResults(
        bakeoff_id=bakeoff.id or 0,
        data_version=bakeoff.data_version,
        task_type=scored.task_type,  # type: ignore[arg-type]
        golden_set_version_id=bakeoff.golden_set_version_id,
        n_gold=scored.n_gold,
        blinded=not reveal,
        computed_at=scored.computed_at or utcnow(),
        scored_now=scored.scored_now,
        vendors=vendors,
    )
