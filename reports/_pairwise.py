"""Pairwise tests, score gaps and the verdict of :mod:`reports.ranking`.

The score is tested by a z-test on the paired bootstrap standard error of the
difference (:func:`metrics.statistics.bootstrap_z_test`), the main metric by McNemar's
exact test (0/1 scores) or a paired t-test; each family is Holm-corrected, rejecting when
the adjusted p-value is ``<= alpha`` (:func:`metrics.statistics.holm`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from metrics.statistics import bootstrap_z_test, holm, paired_t_test
from reports import _stats
from reports.inputs import RankingConfig, SystemEvaluation
from reports.results import Estimate, PairwiseComparison, SystemStatus, Verdict

__all__ = ["PairTests", "compute_tests", "score_gaps", "verdict_of"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class PairTests:
    comparisons: list[PairwiseComparison]
    sig_score: dict[tuple[int, int], bool]
    sig_accuracy: dict[tuple[int, int], bool]


def _clean_p(p: float) -> float:
    return float(p) if np.isfinite(p) else 1.0


def compute_tests(
    ranked: list[int],
    systems: Sequence[SystemEvaluation],
    scores: FloatArray,
    binary: bool,
    score_point: FloatArray,
    rep_score: FloatArray,
    accuracy: FloatArray,
    rep_acc: FloatArray,
    cfg: RankingConfig,
) -> PairTests:
    """Pairwise tests among ranked systems, Holm-corrected per quantity (reject q <= alpha)."""
    pairs = [(ranked[x], ranked[y]) for x in range(len(ranked)) for y in range(x + 1, len(ranked))]
    comparisons: list[PairwiseComparison] = []
    sig_score: dict[tuple[int, int], bool] = {}
    sig_acc: dict[tuple[int, int], bool] = {}
    if not pairs:
        return PairTests(comparisons, sig_score, sig_acc)
    score_tests = [
        bootstrap_z_test(
            float(score_point[a] - score_point[b]),
            rep_score[:, a] - rep_score[:, b],
            level=cfg.confidence,
        )
        for a, b in pairs
    ]
    acc_ci = [
        bootstrap_z_test(
            float(accuracy[a] - accuracy[b]), rep_acc[:, a] - rep_acc[:, b], level=cfg.confidence
        ).ci
        for a, b in pairs
    ]
    if binary:
        acc_p = [_stats.mcnemar_exact(scores[:, a], scores[:, b]) for a, b in pairs]
        acc_name = "McNemar exact"
    else:
        t_tests = [
            paired_t_test(scores[:, a], scores[:, b], level=cfg.confidence) for a, b in pairs
        ]
        acc_p = [t.pvalue for t in t_tests]
        acc_ci = [t.ci for t in t_tests]
        acc_name = "paired t"
    for quantity, raw, cis, test_name, sig in (
        (
            "score",
            [t.pvalue for t in score_tests],
            [t.ci for t in score_tests],
            "paired bootstrap z",
            sig_score,
        ),
        ("accuracy", acc_p, acc_ci, acc_name, sig_acc),
    ):
        clean = [_clean_p(p) for p in raw]
        corrected = holm({str(i): p for i, p in enumerate(clean)}, alpha=cfg.alpha)
        point = score_point if quantity == "score" else accuracy
        for i, ((a, b), p, ci) in enumerate(zip(pairs, clean, cis, strict=True)):
            significant = corrected.reject[str(i)]
            sig[(min(a, b), max(a, b))] = significant
            finite_ci = ci is not None and np.isfinite(ci.low) and np.isfinite(ci.high)
            comparisons.append(
                PairwiseComparison(
                    a=systems[a].name,
                    b=systems[b].name,
                    quantity="score" if quantity == "score" else "accuracy",
                    test=test_name,
                    difference=float(point[a] - point[b]),
                    low=float(ci.low) if finite_ci and ci is not None else None,
                    high=float(ci.high) if finite_ci and ci is not None else None,
                    p_value=p,
                    p_adjusted=corrected.adjusted[str(i)],
                    significant=significant,
                )
            )
    return PairTests(comparisons, sig_score, sig_acc)


def score_gaps(
    ranked: list[int], score_point: FloatArray, rep_score: FloatArray, confidence: float
) -> dict[int, Estimate]:
    """Leader's score minus each ranked system's, with the paired difference's interval."""
    if not ranked:
        return {}
    lead = ranked[0]
    out = {lead: Estimate(value=0.0)}
    for j in ranked[1:]:
        t = bootstrap_z_test(
            float(score_point[lead] - score_point[j]),
            rep_score[:, lead] - rep_score[:, j],
            level=confidence,
        )
        ok = t.ci is not None and np.isfinite(t.ci.low) and np.isfinite(t.ci.high)
        out[j] = Estimate(
            value=float(t.difference),
            low=float(t.ci.low) if ok and t.ci is not None else None,
            high=float(t.ci.high) if ok and t.ci is not None else None,
        )
    return out


def verdict_of(
    ranked: list[int], status: Sequence[SystemStatus], sig_score: dict[tuple[int, int], bool]
) -> Verdict:
    if not ranked:
        return "no_results" if all(s == "no_results" for s in status) else "none_eligible"
    if len(ranked) == 1:
        return "only_one"
    lead = ranked[0]
    alone = all(sig_score.get((min(lead, j), max(lead, j)), False) for j in ranked[1:])
    return "pick" if alone else "tied"
