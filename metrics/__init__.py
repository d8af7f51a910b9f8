"""Pure, typed metrics for label quality against an expert golden set.

No I/O happens in this package: inputs are numpy arrays and pandas objects,
outputs are :class:`metrics.types.MetricResult` or frozen dataclasses.
"""

from metrics.aggregation import majority_vote
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
from metrics.masks import mask_iou
from metrics.statistics import (
    holm,
    mcnemar_exact,
    paired_bootstrap,
    paired_bootstrap_test,
    paired_permutation_test,
)
from metrics.types import LABEL, SCORE, TASK, WORKER, ConfidenceInterval, MetricResult

__all__ = ["LABEL", "SCORE", "TASK", "WORKER", "ConfidenceInterval", "MetricResult"]
__all__ += ["majority_vote"]
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
