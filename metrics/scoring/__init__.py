"""The scoring engine: one module per task type behind one protocol, one result type.

Where is X scored? In ``metrics.scoring.<task_type>``: :mod:`.classification`,
:mod:`.multilabel`, :mod:`.spans`, :mod:`.detection`, :mod:`.segmentation`,
:mod:`.keypoints`, :mod:`.preference`, :mod:`.rating`, :mod:`.transcription`; cost and
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

import importlib
from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from metrics.scoring._intervals import (
    DrawnResamples,
    draw_resamples,
    resample_counts,
    shared_resamples,
    use_drawn,
)
from metrics.scoring.base import (
    ITEM_COLUMNS,
    NO_RESULTS,
    NOT_ENOUGH_RESULTS,
    CrowdAgreement,
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
    "CrowdAgreement",
    "DrawnResamples",
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
    "draw_resamples",
    "resample_counts",
    "score_operations",
    "shared_resamples",
    "slice_table",
    "use_drawn",
    "with_operations",
]


class _Scorers(Mapping[TaskType, Scorer]):
    """Read-only ``{task type: score}``, importing each scorer's module on first use.

    Scoring a CSV must not import the detection scorer (Numba, pycocotools: 0.4 s).
    """

    _MODULES: tuple[TaskType, ...] = (
        "classification",
        "multilabel",
        "spans",
        "detection",
        "segmentation",
        "keypoints",
        "preference",
        "rating",
        "transcription",
    )

    def __getitem__(self, task_type: TaskType) -> Scorer:
        if task_type not in self._MODULES:
            raise KeyError(task_type)
        scorer: Scorer = importlib.import_module(f"{__name__}.{task_type}").score
        return scorer

    def __iter__(self) -> Iterator[TaskType]:
        return iter(self._MODULES)

    def __len__(self) -> int:
        return len(self._MODULES)


#: The scorer of each task type.
SCORERS: Mapping[TaskType, Scorer] = _Scorers()


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
