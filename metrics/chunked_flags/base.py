"""One protocol for model-label disagreement flags computed chunk by chunk.

A production delivery (100,000 to 10 million labels) is flagged in chunks of items that
separate workers process (:mod:`service.domain.delivery_jobs`). Every task type the engine
scores plugs in here with one module implementing :class:`ChunkFlagger`; the service only
moves a flagger's arrays and JSON partials between phases and never branches on task type:

1. :meth:`ChunkFlagger.encode` per chunk: the vendor's answers and the model's predictions
   for them (uploaded or from a registered model) become plain NumPy arrays (stored as
   ``.npz``, no pickles). Bad data raises :class:`ValueError` naming the answer.
2. :meth:`ChunkFlagger.first_pass` per chunk: a JSON-able partial (e.g. cleanlab's
   per-class confident thresholds of the chunk); :meth:`ChunkFlagger.merge` combines the
   partials of every chunk, in chunk order.
3. :meth:`ChunkFlagger.second_pass` per chunk, with the merged partial: each answer's label
   quality in ``[0, 1]`` (lower = more likely wrong) and the chunk's count of issues.
4. :meth:`ChunkFlagger.issues` over every chunk's :class:`ChunkScores`, in chunk order: the
   answers flagged.

The contract each implementation is tested against: run over any cut of the answers into
chunks, the qualities and the flagged set equal the peer's (cleanlab where it has the
method, else the engine's own per-item metric) run on all answers at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Arrays", "ChunkScores", "ChunkFlagger", "Predictions", "concatenate_quality"]

#: What a chunk stores between its phases: named NumPy arrays (saved as ``.npz``).
Arrays = Mapping[str, npt.NDArray[Any]]

#: The model's predictions for a chunk's answers, one per answer: an array (e.g. ``(n, K)``
#: probabilities or ``(n,)`` numbers, as uploaded in a CSV) or a list of JSON-able values
#: (e.g. structured predictions from a JSON Lines upload or an entry-point model).
Predictions = Sequence[Any] | npt.NDArray[Any]


@dataclass(frozen=True)
class ChunkScores:
    """One chunk's label quality per answer (shape ``(n,)``) and its count of issues.

    ``detail`` holds named arrays a flagger's :meth:`ChunkFlagger.issues` needs beyond the
    per-answer quality (e.g. the multi-label search's per-class qualities ``(n, K)`` and
    per-class issue counts ``(K,)``); the service stores them with the chunk and hands them
    back unchanged, in chunk order. Empty for most task types.
    """

    quality: npt.NDArray[np.float64]
    n_issues: int
    detail: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)


@runtime_checkable
class ChunkFlagger(Protocol):
    """Model-label disagreement for one task type, computable in chunks.

    Attributes
    ----------
    task_type
        The engine's task type (``metrics.scoring`` module name).
    method
        One line saying what decides a flag and whose method it is, shown with the run.
    """

    task_type: str
    method: str

    def encode(
        self, labels: Sequence[Any], predictions: Predictions, classes: Sequence[str]
    ) -> dict[str, npt.NDArray[Any]]:
        """The chunk's answers and predictions (one per answer) as arrays.

        Raises
        ------
        ValueError
            An answer or a prediction the task type cannot read (the message names it).
        """
        ...

    def first_pass(self, arrays: Arrays) -> dict[str, Any]:
        """The chunk's JSON-able contribution to what every chunk needs (may be empty)."""
        ...

    def merge(self, partials: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Every chunk's partial combined, in chunk order (JSON-able)."""
        ...

    def second_pass(self, arrays: Arrays, merged: dict[str, Any]) -> ChunkScores:
        """Each answer's label quality in ``[0, 1]`` and the chunk's count of issues."""
        ...

    def issues(self, scored: Sequence[ChunkScores]) -> npt.NDArray[np.int64]:
        """Indices (over every chunk's answers, in chunk order) of the flagged answers."""
        ...


def concatenate_quality(scored: Sequence[ChunkScores]) -> npt.NDArray[np.float64]:
    """Every chunk's qualities, in chunk order."""
    if not scored:
        return np.zeros(0, dtype=np.float64)
    return np.concatenate([s.quality for s in scored]).astype(np.float64, copy=False)
