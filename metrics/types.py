"""Shared result type and the long-format data contract of every metric.

Every annotation table that enters :mod:`metrics` is a long ``pandas.DataFrame``
with one row per (task, worker) answer:

=========  ===========================================================
column     meaning
=========  ===========================================================
``task``   the golden item's id (any hashable, usually ``str``)
``worker`` who produced the answer: an annotator, a vendor, or ``gold``
``label``  the answer (a class id or name)
=========  ===========================================================

Gold and a single vendor's labels are ``pandas.Series`` indexed by ``task``.
Per-task outputs are indexed by ``task``; per-worker outputs by ``worker``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import pandas as pd

__all__ = ["TASK", "WORKER", "LABEL", "SCORE", "MetricResult", "ConfidenceInterval"]

TASK: Final = "task"
WORKER: Final = "worker"
LABEL: Final = "label"
SCORE: Final = "score"


@dataclass(frozen=True)
class ConfidenceInterval:
    """A two-sided interval at ``level`` (e.g. 0.95) around a point estimate."""

    low: float
    high: float
    level: float = 0.95

    def as_pair(self) -> tuple[float, float]:
        return (self.low, self.high)


@dataclass(frozen=True)
class MetricResult:
    """The outcome of one metric on one system.

    Attributes
    ----------
    name
        The quantity, e.g. ``"accuracy"`` or ``"krippendorff_alpha"``.
    value
        The point estimate; ``nan`` when undefined (e.g. no items).
    per_item
        Optional per-item (or per-class / per-worker) breakdown; its index says which.
    params
        The options the metric was computed with (JSON-serialisable scalars).
    ci
        Optional confidence interval for ``value``.
    """

    name: str
    value: float
    per_item: pd.Series[float] | None = None
    params: Mapping[str, object] = field(default_factory=dict)
    ci: ConfidenceInterval | None = None
