"""Pure, typed metrics for label quality against an expert golden set.

No I/O happens in this package: inputs are numpy arrays and pandas objects,
outputs are :class:`metrics.types.MetricResult` or frozen dataclasses.
"""

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
