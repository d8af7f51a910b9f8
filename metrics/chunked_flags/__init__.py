"""Model-label disagreement flags in chunks, one module per task type (see :mod:`.base`).

:func:`flagger_for` returns the :class:`ChunkFlagger` of a task type; each module is imported
on first use (cleanlab, pycocotools and jiwer load only where a run needs them).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from metrics.chunked_flags.base import (
    Arrays,
    ChunkFlagger,
    ChunkScores,
    Predictions,
    concatenate_quality,
)

__all__ = [
    "Arrays",
    "ChunkFlagger",
    "ChunkScores",
    "FLAGGER_MODULES",
    "Predictions",
    "concatenate_quality",
    "flagger_for",
]

#: Task type -> the module whose ``FLAGGER`` implements it. One line per task type.
FLAGGER_MODULES: dict[str, str] = {
    "classification": "metrics.chunked_flags.classification",
    "multilabel": "metrics.chunked_flags.multilabel",
    "preference": "metrics.chunked_flags.preference",
    "rating": "metrics.chunked_flags.rating",
    "detection": "metrics.chunked_flags.detection",
    "segmentation": "metrics.chunked_flags.segmentation",
    "keypoints": "metrics.chunked_flags.keypoints",
    "spans": "metrics.chunked_flags.spans",
    "transcription": "metrics.chunked_flags.transcription",
}


def flagger_for(task_type: str, *, ontology: Mapping[str, Any] | None = None) -> ChunkFlagger:
    """The flagger of ``task_type``; with the project's ``ontology``, configured by it where
    the task type's metric reads it (a module's ``for_ontology``: keypoint sigmas).

    Raises
    ------
    KeyError
        No flagger for it (the message lists the task types that have one).
    """
    module = FLAGGER_MODULES.get(task_type)
    if module is None:
        raise KeyError(f"no model-label flags for {task_type!r}; have {sorted(FLAGGER_MODULES)}")
    found = importlib.import_module(module)
    configure = getattr(found, "for_ontology", None)
    flagger = configure(ontology) if configure is not None and ontology else found.FLAGGER
    assert isinstance(flagger, ChunkFlagger)
    return flagger
