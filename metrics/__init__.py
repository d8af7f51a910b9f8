"""Pure, typed metrics for label quality against an expert golden set.

No I/O happens in this package: inputs are numpy arrays and pandas objects,
outputs are :class:`metrics.types.MetricResult` or frozen dataclasses.
"""

from metrics.types import LABEL, SCORE, TASK, WORKER, ConfidenceInterval, MetricResult

__all__ = ["LABEL", "SCORE", "TASK", "WORKER", "ConfidenceInterval", "MetricResult"]
