"""The flag frame shared by :mod:`metrics.flags` and :mod:`metrics.box_flags`."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.types import SCORE, TASK, WORKER

__all__ = [
    "GOLD",
    "FLAG_COLUMNS",
    "FlagReason",
    "FlagKind",
    "Flags",
    "disagreement_groups",
    "precision_at_k",
]

GOLD: Final = "gold"

FlagReason = Literal["vendor_vs_gold", "model_vs_label", "candidates_disagree", "gold_may_be_wrong"]
FlagKind = Literal[
    "wrong_class",
    "missed",
    "extra",
    "low_iou",
    "label_issue",
    "annotator_vs_consensus",
    "label_entropy",
    "box_disagreement",
    "gold_outvoted",
    "tied_vote",
]

FLAG_COLUMNS: Final = (
    TASK,
    WORKER,
    "reason",
    "kind",
    SCORE,
    "group",
    "suggested_label",
    "detail",
)


@dataclass(frozen=True)
class Flags:
    """Flags sorted by ``score`` (descending, ties kept in input order).

    Attributes
    ----------
    frame
        Columns :data:`FLAG_COLUMNS`: ``task``; ``worker`` (vendor, ``"gold"`` or
        ``None``); ``reason`` (:data:`FlagReason`); ``kind`` (:data:`FlagKind`);
        ``score`` (float in ``[0, 1]``); ``group`` (confused classes such as
        ``"cat | dog"`` or a class name, or ``None``); ``suggested_label`` (the
        label the evidence points to, or ``None``); ``detail`` (short text).
    """

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def top(self, k: int) -> pd.DataFrame:
        """The ``k`` highest-scoring flags."""
        return self.frame.head(k)

    def by_reason(self, reason: FlagReason) -> Flags:
        """Only the flags of one reason."""
        return Flags(self.frame[self.frame["reason"] == reason].reset_index(drop=True))

    @staticmethod
    def concat(parts: Iterable[Flags]) -> Flags:
        """All flags of ``parts`` in one queue, re-sorted by score."""
        frames = [p.frame for p in parts if len(p.frame)]
        if not frames:
            return _empty()
        merged = pd.concat(frames, ignore_index=True)
        return Flags(_sorted(merged))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(SCORE, ascending=False, kind="stable").reset_index(drop=True)


def _empty() -> Flags:
    return Flags(
        pd.DataFrame({c: pd.Series(dtype=object) for c in FLAG_COLUMNS}).astype({SCORE: np.float64})
    )


def _build(
    *,
    task: npt.ArrayLike,
    worker: npt.ArrayLike | None,
    reason: FlagReason,
    kind: npt.ArrayLike | FlagKind,
    score: npt.ArrayLike,
    group: npt.ArrayLike | None = None,
    suggested: npt.ArrayLike | None = None,
    detail: npt.ArrayLike | str = "",
) -> Flags:
    tasks = np.asarray(task, dtype=object)
    n = len(tasks)
    if n == 0:
        return _empty()

    def col(values: npt.ArrayLike | str | None) -> npt.NDArray[Any]:
        if values is None:
            return np.full(n, None, dtype=object)
        if isinstance(values, str):
            return np.full(n, values, dtype=object)
        return np.asarray(values, dtype=object)

    frame = pd.DataFrame(
        {
            TASK: tasks,
            WORKER: col(worker),
            "reason": np.full(n, reason, dtype=object),
            "kind": col(kind if not isinstance(kind, str) else str(kind)),
            SCORE: np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0),
            "group": col(group),
            "suggested_label": col(suggested),
            "detail": col(detail),
        }
    )
    return Flags(_sorted(frame))


def _pair(a: object, b: object) -> str:
    x, y = sorted((str(a), str(b)))
    return f"{x} | {y}"


def disagreement_groups(flags: Flags, *, examples: int = 3) -> pd.DataFrame:
    """Group flags by ``group`` (confused classes) for the instruction author.

    Parameters
    ----------
    flags
        Any flags; rows without a group are ignored.
    examples
        How many top-scoring example tasks to list per group.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group``, columns ``n_flags``, ``mean_score`` and
        ``example_tasks`` (tuple of task ids, best first); most flags first.
    """
    f = flags.frame[flags.frame["group"].notna()]
    if f.empty:
        return pd.DataFrame(
            {
                "n_flags": pd.Series(dtype=np.int64),
                "mean_score": pd.Series(dtype=np.float64),
                "example_tasks": pd.Series(dtype=object),
            },
            index=pd.Index([], name="group"),
        )
    grouped = f.groupby("group", sort=False)
    out = pd.DataFrame(
        {
            "n_flags": grouped.size().astype(np.int64),
            "mean_score": grouped[SCORE].mean(),
            "example_tasks": pd.Series(
                {key: tuple(rows[TASK].head(examples)) for key, rows in grouped}, dtype=object
            ),
        }
    )
    out.index.name = "group"
    return out.sort_values(["n_flags", "mean_score"], ascending=[False, False], kind="stable")


def precision_at_k(
    flags: Flags, truth: Iterable[Hashable], *, k: int, on: Literal["task", "pair"] = "task"
) -> float:
    """Fraction of the top ``k`` flags that hit a known error.

    Parameters
    ----------
    flags
        Flags, best first.
    truth
        Known errors: task ids (``on="task"``) or ``(task, worker)`` pairs (``on="pair"``).
    k
        Cut-off (at least 1).
    on
        Whether a hit is judged by task or by (task, worker).

    Returns
    -------
    float
        ``hits / min(k, len(flags))``; ``nan`` when there are no flags.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    top = flags.frame.head(k)
    if top.empty:
        return float("nan")
    known = set(truth)
    if on == "task":
        hits = sum(t in known for t in top[TASK])
    else:
        hits = sum((t, w) in known for t, w in zip(top[TASK], top[WORKER], strict=True))
    return hits / len(top)
