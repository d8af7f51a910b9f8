"""Pure, typed metrics for label quality against an expert golden set.

No I/O happens in this package: inputs are numpy arrays and pandas objects,
outputs are :class:`metrics.types.MetricResult` or frozen dataclasses.

Names are imported on first use (PEP 562 ``__getattr__``): ``import metrics.agreement``
must not pay for Numba, pycocotools and cleanlab, which ``bakeoff evaluate`` never needs.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metrics.aggregation import Consensus, DawidSkene, majority_vote
    from metrics.agreement import (
        fleiss_kappa,
        krippendorff_alpha,
        pairwise_cohen_kappa,
        worker_accuracy,
        worker_consensus_agreement,
    )
    from metrics.classification import (
        accuracy,
        accuracy_all,
        balanced_accuracy,
        classification_summary,
        cohen_kappa,
        confusion_matrix,
        coverage,
        macro_f1,
        micro_f1,
        precision_recall_f1,
    )
    from metrics.detection import (
        CocoEvalResult,
        DetectionGold,
        Detections,
        UnscoredMatchResult,
        box_bias,
        box_iou,
        evaluate_coco,
        match_unscored,
    )
    from metrics.flags import (
        Flags,
        box_candidates_disagree_flags,
        box_edge_bias_flags,
        box_gold_may_be_wrong_flags,
        box_model_vs_label_flags,
        box_vendor_vs_gold_flags,
        candidates_disagree_flags,
        disagreement_groups,
        gold_may_be_wrong_flags,
        model_vs_label_flags,
        multiannotator_flags,
        vendor_vs_gold_flags,
    )
    from metrics.intervals import format_p_value, mean_interval, proportion_interval
    from metrics.label_issues import (
        BoxLabelIssues,
        LabelIssues,
        MultiannotatorQuality,
        find_box_label_issues,
        find_label_issues,
        multiannotator_quality,
        out_of_fold_pred_probs,
    )
    from metrics.masks import mask_iou
    from metrics.multilabel import (
        exact_match_ratio,
        hamming_loss,
        jaccard,
        multilabel_macro_f1,
        multilabel_micro_f1,
        multilabel_precision_recall_f1,
        multilabel_summary,
    )
    from metrics.operations import cost_summary, latency, latency_summary
    from metrics.spans import span_scores
    from metrics.statistics import (
        bootstrap_z_test,
        classification_bootstrap,
        compact_letter_display,
        holm,
        mcnemar_exact,
        paired_bootstrap,
        paired_bootstrap_test,
        paired_permutation_test,
        paired_t_test,
    )
    from metrics.types import LABEL, SCORE, TASK, WORKER, ConfidenceInterval, MetricResult

__all__ = ["LABEL", "SCORE", "TASK", "WORKER", "ConfidenceInterval", "MetricResult"]
__all__ += ["Consensus", "DawidSkene", "majority_vote"]
__all__ += [
    "fleiss_kappa",
    "krippendorff_alpha",
    "pairwise_cohen_kappa",
    "worker_accuracy",
    "worker_consensus_agreement",
]
__all__ += [
    "accuracy",
    "accuracy_all",
    "balanced_accuracy",
    "classification_summary",
    "cohen_kappa",
    "confusion_matrix",
    "coverage",
    "macro_f1",
    "micro_f1",
    "precision_recall_f1",
]
__all__ += [
    "exact_match_ratio",
    "hamming_loss",
    "jaccard",
    "multilabel_macro_f1",
    "multilabel_micro_f1",
    "multilabel_precision_recall_f1",
    "multilabel_summary",
]
__all__ += ["cost_summary", "latency", "latency_summary", "span_scores"]
__all__ += [
    "bootstrap_z_test",
    "compact_letter_display",
    "format_p_value",
    "mean_interval",
    "paired_t_test",
    "proportion_interval",
    "classification_bootstrap",
    "holm",
    "mcnemar_exact",
    "paired_bootstrap",
    "paired_bootstrap_test",
    "paired_permutation_test",
]
__all__ += [
    "CocoEvalResult",
    "DetectionGold",
    "Detections",
    "UnscoredMatchResult",
    "box_bias",
    "box_iou",
    "evaluate_coco",
    "mask_iou",
    "match_unscored",
]
__all__ += [
    "BoxLabelIssues",
    "LabelIssues",
    "MultiannotatorQuality",
    "find_box_label_issues",
    "find_label_issues",
    "multiannotator_quality",
    "out_of_fold_pred_probs",
]
__all__ += [
    "Flags",
    "box_candidates_disagree_flags",
    "box_gold_may_be_wrong_flags",
    "box_model_vs_label_flags",
    "box_edge_bias_flags",
    "box_vendor_vs_gold_flags",
    "candidates_disagree_flags",
    "disagreement_groups",
    "gold_may_be_wrong_flags",
    "model_vs_label_flags",
    "multiannotator_flags",
    "vendor_vs_gold_flags",
]

# public name -> the module that defines it (tests/metrics/test_lazy_init.py checks both agree)
_SOURCES: dict[str, str] = {
    "Consensus": "metrics.aggregation",
    "DawidSkene": "metrics.aggregation",
    "majority_vote": "metrics.aggregation",
    "fleiss_kappa": "metrics.agreement",
    "krippendorff_alpha": "metrics.agreement",
    "pairwise_cohen_kappa": "metrics.agreement",
    "worker_accuracy": "metrics.agreement",
    "worker_consensus_agreement": "metrics.agreement",
    "accuracy": "metrics.classification",
    "accuracy_all": "metrics.classification",
    "balanced_accuracy": "metrics.classification",
    "classification_summary": "metrics.classification",
    "cohen_kappa": "metrics.classification",
    "confusion_matrix": "metrics.classification",
    "coverage": "metrics.classification",
    "macro_f1": "metrics.classification",
    "micro_f1": "metrics.classification",
    "precision_recall_f1": "metrics.classification",
    "CocoEvalResult": "metrics.detection",
    "DetectionGold": "metrics.detection",
    "Detections": "metrics.detection",
    "UnscoredMatchResult": "metrics.detection",
    "box_bias": "metrics.detection",
    "box_iou": "metrics.detection",
    "evaluate_coco": "metrics.detection",
    "match_unscored": "metrics.detection",
    "Flags": "metrics.flags",
    "box_candidates_disagree_flags": "metrics.flags",
    "box_gold_may_be_wrong_flags": "metrics.flags",
    "box_model_vs_label_flags": "metrics.flags",
    "box_edge_bias_flags": "metrics.flags",
    "box_vendor_vs_gold_flags": "metrics.flags",
    "candidates_disagree_flags": "metrics.flags",
    "disagreement_groups": "metrics.flags",
    "gold_may_be_wrong_flags": "metrics.flags",
    "model_vs_label_flags": "metrics.flags",
    "multiannotator_flags": "metrics.flags",
    "vendor_vs_gold_flags": "metrics.flags",
    "format_p_value": "metrics.intervals",
    "mean_interval": "metrics.intervals",
    "proportion_interval": "metrics.intervals",
    "BoxLabelIssues": "metrics.label_issues",
    "LabelIssues": "metrics.label_issues",
    "MultiannotatorQuality": "metrics.label_issues",
    "find_box_label_issues": "metrics.label_issues",
    "find_label_issues": "metrics.label_issues",
    "multiannotator_quality": "metrics.label_issues",
    "out_of_fold_pred_probs": "metrics.label_issues",
    "mask_iou": "metrics.masks",
    "exact_match_ratio": "metrics.multilabel",
    "hamming_loss": "metrics.multilabel",
    "jaccard": "metrics.multilabel",
    "multilabel_macro_f1": "metrics.multilabel",
    "multilabel_micro_f1": "metrics.multilabel",
    "multilabel_precision_recall_f1": "metrics.multilabel",
    "multilabel_summary": "metrics.multilabel",
    "cost_summary": "metrics.operations",
    "latency": "metrics.operations",
    "latency_summary": "metrics.operations",
    "span_scores": "metrics.spans",
    "bootstrap_z_test": "metrics.statistics",
    "classification_bootstrap": "metrics.statistics",
    "compact_letter_display": "metrics.statistics",
    "holm": "metrics.statistics",
    "mcnemar_exact": "metrics.statistics",
    "paired_bootstrap": "metrics.statistics",
    "paired_bootstrap_test": "metrics.statistics",
    "paired_permutation_test": "metrics.statistics",
    "paired_t_test": "metrics.statistics",
    "LABEL": "metrics.types",
    "SCORE": "metrics.types",
    "TASK": "metrics.types",
    "WORKER": "metrics.types",
    "ConfidenceInterval": "metrics.types",
    "MetricResult": "metrics.types",
}


def __getattr__(name: str) -> Any:
    """Import ``name`` from its module on first access, then cache it in this package."""
    source = _SOURCES.get(name)
    if source is None:
        if not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}"):
            return importlib.import_module(f"{__name__}.{name}")  # a submodule, as eagerly
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(source), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
