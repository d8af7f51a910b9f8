"""The scoring engine: one module per task type behind one protocol, one result type.

Where is X scored? In ``metrics.scoring.<task_type>``: :mod:`.classification`,
:mod:`.multilabel`, :mod:`.spans`, :mod:`.detection`, :mod:`.segmentation`; cost and
latency in :mod:`.operations`; metadata slices in :mod:`.slices`. Each returns a
:class:`~metrics.scoring.base.Scored`, which every door (CLI, API, client, reports,
dashboards, demo) formats without computing anything.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series(["cat", "dog"], index=["a", "b"])
>>> scored = score("classification", gold, pd.Series(["cat", "cat"], index=["a", "b"]))
>>> scored.main_metric, scored.value("accuracy_all"), scored.status
('accuracy', 0.5, 'ok')
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pandas as pd

from metrics.scoring import (
    classification,
    detection,
    multilabel,
    preference,
    segmentation,
    spans,
)
from metrics.scoring.base import (
    ITEM_COLUMNS,
    NO_RESULTS,
    NOT_ENOUGH_RESULTS,
    Operations,
    Scored,
    Scorer,
    ScoringOptions,
    ScoringWarning,
    Status,
    TaskType,
    UnknownLabels,
    UnknownLabelsError,
    WarningCode,
)
from metrics.scoring.operations import score_operations, with_operations
from metrics.scoring.slices import SLICE_COLUMNS, slice_table

__all__ = [
    "ITEM_COLUMNS",
    "NOT_ENOUGH_RESULTS",
    "NO_RESULTS",
    "SCORERS",
    "SLICE_COLUMNS",
    "Operations",
    "Scored",
    "Scorer",
    "ScoringOptions",
    "ScoringWarning",
    "Status",
    "TaskType",
    "UnknownLabels",
    "UnknownLabelsError",
    "WarningCode",
    "score",
    "score_operations",
    "slice_table",
    "with_operations",
]

#: The scorer of each task type.
SCORERS: Mapping[TaskType, Scorer] = MappingProxyType(
    {
        "classification": classification.score,
        "multilabel": multilabel.score,
        "spans": spans.score,
        "detection": detection.score,
        "segmentation": segmentation.score,
        "preference": preference.score,
    }
)


def score(
    task_type: TaskType,
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions | None = None,
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate with the scorer of ``task_type`` (see :data:`SCORERS`).

    Raises
    ------
    ValueError
        An unknown task type (and whatever the scorer raises).
    """
    scorer = SCORERS.get(task_type)
    if scorer is None:
        raise ValueError(f"unknown task type {task_type!r}; use one of {sorted(SCORERS)}")
    return scorer(gold, labels, options=options or ScoringOptions(), metadata=metadata)
