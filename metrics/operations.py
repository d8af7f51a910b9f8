"""Operational numbers of a vendor: cost per label / item / correct label, latency, throughput.

Latency is ``completed_at - dispatched_at`` per task, in seconds; percentiles use linear
interpolation between order statistics (:func:`numpy.percentile`'s default). Throughput
is completed tasks per hour of wall-clock time from the first dispatch to the last
completion. Tasks not completed (``NaT``) count in ``n_pending``, not in latency.

Examples
--------
>>> import pandas as pd
>>> sent = pd.Series(pd.to_datetime(["2024-05-01 10:00"] * 4), index=list("abcd"))
>>> done = pd.Series(pd.to_datetime(["2024-05-01 10:01", "2024-05-01 10:02",
...                                  "2024-05-01 10:04", None]), index=list("abcd"))
>>> s = latency_summary(sent, done)
>>> s.p50_s, s.n_completed, s.n_pending, s.throughput_per_hour
(120.0, 3, 1, 45.0)
>>> answers = pd.DataFrame({"task": ["a", "a", "b"], "worker": ["x", "y", "x"],
...                         "label": ["cat", "dog", "dog"]})
>>> c = cost_summary(answers, cost=6.0, gold=pd.Series({"a": "cat", "b": "dog"}))
>>> c.cost_per_label, c.cost_per_item, c.cost_per_correct_label
(2.0, 3.0, 3.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metrics import _validation
from metrics.types import LABEL, TASK, MetricResult

__all__ = [
    "LatencySummary",
    "CostSummary",
    "latency",
    "latency_summary",
    "cost_summary",
    "cost_per_correct_label",
    "CostPerCorrectEstimate",
    "estimated_cost_per_correct",
]


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles (seconds) and throughput of one vendor.

    ``nan`` where undefined (no completed task; throughput over a zero-length window).
    """

    n_completed: int
    n_pending: int
    mean_s: float
    p50_s: float
    p90_s: float
    p95_s: float
    p99_s: float
    max_s: float
    throughput_per_hour: float


@dataclass(frozen=True)
class CostSummary:
    """What a vendor cost, per unit of work delivered.

    Attributes
    ----------
    total_cost
        Sum of the costs, in the currency given.
    n_labels, n_items, n_correct
        Answers delivered, distinct tasks answered, answers equal to gold (``None``
        without gold).
    cost_per_label, cost_per_item, cost_per_correct_label
        ``total_cost`` divided by each count (``nan`` when the count is 0 or unknown).
    """

    total_cost: float
    n_labels: int
    n_items: int
    n_correct: int | None
    cost_per_label: float
    cost_per_item: float
    cost_per_correct_label: float


def _timestamps(values: object, *, name: str) -> pd.Series[Any]:
    if not isinstance(values, pd.Series):
        raise TypeError(f"{name} must be a pandas Series of timestamps indexed by {TASK!r}")
    if not values.index.is_unique:
        raise ValueError(f"{name} has duplicate task ids")
    try:
        return pd.to_datetime(values)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must hold timestamps: {exc}") from exc


def latency(dispatched: pd.Series[Any], completed: pd.Series[Any]) -> MetricResult:
    """Median latency in seconds; ``per_item`` is the latency per completed task.

    Parameters
    ----------
    dispatched
        When each task was sent to the vendor, indexed by ``task``.
    completed
        When its answer came back, indexed by ``task`` (missing or ``NaT``: not yet).

    Raises
    ------
    TypeError
        If the inputs are not Series of timestamps.
    ValueError
        If a completed task was never dispatched, or completed before it was dispatched.
    """
    per_item = _latencies(dispatched, completed)
    value = float(np.median(per_item.to_numpy())) if len(per_item) else float("nan")
    return MetricResult("latency_p50_s", value, per_item)


def _latencies(dispatched: pd.Series[Any], completed: pd.Series[Any]) -> pd.Series[float]:
    sent = _timestamps(dispatched, name="dispatched")
    done = _timestamps(completed, name="completed").dropna()
    unknown = done.index.difference(sent.index)
    if len(unknown):
        raise ValueError(f"completed has task(s) never dispatched: {list(unknown[:5])}")
    sent_aligned = sent.reindex(done.index)
    if sent_aligned.isna().any():
        bad = list(done.index[sent_aligned.isna().to_numpy()][:5])
        raise ValueError(f"dispatched has no time for completed task(s) {bad}")
    seconds = (done - sent_aligned).dt.total_seconds()
    negative = seconds < 0
    if negative.any():
        raise ValueError(
            f"task(s) completed before they were dispatched: {list(seconds.index[negative][:5])}"
        )
    out = seconds.astype(float).rename("latency_s")
    out.index.name = TASK
    return out


def latency_summary(dispatched: pd.Series[Any], completed: pd.Series[Any]) -> LatencySummary:
    """Latency percentiles p50/p90/p95/p99 (seconds) and throughput (tasks per hour).

    See :func:`latency` for the inputs and errors.
    """
    seconds = _latencies(dispatched, completed).to_numpy()
    sent = _timestamps(dispatched, name="dispatched")
    done = _timestamps(completed, name="completed").dropna()
    n = len(seconds)
    n_pending = int(len(sent) - n)
    nan = float("nan")
    if n == 0:
        return LatencySummary(0, n_pending, nan, nan, nan, nan, nan, nan, nan)
    p50, p90, p95, p99 = (float(v) for v in np.percentile(seconds, [50, 90, 95, 99]))
    window_h = (done.max() - sent.min()).total_seconds() / 3600.0
    throughput = n / window_h if window_h > 0 else nan
    return LatencySummary(
        n_completed=n,
        n_pending=n_pending,
        mean_s=float(seconds.mean()),
        p50_s=p50,
        p90_s=p90,
        p95_s=p95,
        p99_s=p99,
        max_s=float(seconds.max()),
        throughput_per_hour=throughput,
    )


def _total(cost: float | pd.Series[Any], answers: pd.DataFrame) -> float:
    if isinstance(cost, pd.Series):
        if not cost.index.equals(answers.index):
            raise ValueError(
                "cost as a Series must have the same index as answers (one per answer)"
            )
        values = pd.to_numeric(cost, errors="coerce")
        if values.isna().any():
            raise ValueError("cost has missing or non-numeric values")
        total = float(values.sum())
    elif isinstance(cost, int | float) and not isinstance(cost, bool):
        total = float(cost)
    else:
        raise TypeError(f"cost must be a number or a Series of numbers; got {type(cost).__name__}")
    if not np.isfinite(total) or total < 0:
        raise ValueError(f"cost must be finite and non-negative; got {total!r}")
    return total


def cost_summary(
    answers: pd.DataFrame,
    *,
    cost: float | pd.Series[Any],
    gold: pd.Series[Any] | None = None,
) -> CostSummary:
    """Cost per label, per item and per correct label.

    Parameters
    ----------
    answers
        The vendor's answers: columns ``task``, ``worker``, ``label``.
    cost
        What the vendor charged: a total, or a Series of per-answer costs with the same
        index as ``answers``.
    gold
        Gold label per task; with it, ``cost_per_correct_label`` is defined (answers on
        tasks without gold are not counted as correct).

    Raises
    ------
    TypeError, ValueError
        On malformed answers, a non-numeric or negative cost.
    """
    _validation.check_answers(answers)
    total = _total(cost, answers)
    n_labels = len(answers)
    n_items = int(answers[TASK].nunique())
    n_correct: int | None = None
    if gold is not None:
        _validation.check_labels_series(gold, name="gold", allow_missing=False)
        expected = gold.reindex(answers[TASK].to_numpy()).to_numpy()
        n_correct = int((answers[LABEL].to_numpy() == expected).sum())

    def per(count: int | None) -> float:
        return total / count if count else float("nan")

    return CostSummary(
        total_cost=total,
        n_labels=n_labels,
        n_items=n_items,
        n_correct=n_correct,
        cost_per_label=per(n_labels),
        cost_per_item=per(n_items),
        cost_per_correct_label=per(n_correct),
    )


def cost_per_correct_label(
    gold: pd.Series[Any], labels: pd.Series[Any], *, cost: float
) -> MetricResult:
    """Total cost divided by the number of a vendor's labels that equal gold.

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series(["a", "b", "a"], index=[1, 2, 3])
    >>> cost_per_correct_label(gold, pd.Series(["a", "a", "a"], index=[1, 2, 3]), cost=10.0).value
    5.0
    """
    _validation.check_gold_and_labels(gold, labels)
    aligned = labels.dropna()
    answers = pd.DataFrame(
        {TASK: aligned.index.to_numpy(), "worker": "vendor", LABEL: aligned.to_numpy()}
    )
    summary = cost_summary(answers, cost=cost, gold=gold)
    return MetricResult(
        "cost_per_correct_label",
        summary.cost_per_correct_label,
        params={"total_cost": summary.total_cost, "n_correct": summary.n_correct},
    )


@dataclass(frozen=True)
class CostPerCorrectEstimate:
    """Cost per correct label where correctness is estimated, not known per label.

    Attributes
    ----------
    value
        ``total_cost / (n_labels * correct_rate)``; ``nan`` when no label is estimated correct.
    low, high
        The same with the correct rate at its interval's high and low end (the cost falls as
        the correct rate rises); ``nan`` without an interval.
    """

    value: float
    low: float
    high: float


def estimated_cost_per_correct(
    total_cost: float,
    n_labels: int,
    correct_rate: float,
    *,
    correct_ci: tuple[float, float] | None = None,
) -> CostPerCorrectEstimate:
    """Cost per correct label from an estimated correct rate (audit or honeypots).

    Production labels have no gold, so the number of correct labels is estimated as
    ``n_labels * correct_rate``; the interval maps the correct rate's interval through the
    same (decreasing) function.

    Raises
    ------
    ValueError
        A negative or non-finite cost, a negative count, or rates outside ``[0, 1]``.

    Examples
    --------
    >>> e = estimated_cost_per_correct(90.0, 100, 0.9, correct_ci=(0.8, 0.95))
    >>> round(e.value, 6), round(e.low, 6), round(e.high, 6)
    (1.0, 0.947368, 1.125)
    """
    if not np.isfinite(total_cost) or total_cost < 0:
        raise ValueError(f"total_cost must be finite and non-negative; got {total_cost!r}")
    if n_labels < 0:
        raise ValueError(f"n_labels must be non-negative; got {n_labels}")
    rates = [correct_rate, *(correct_ci or ())]
    if any(not 0.0 <= r <= 1.0 for r in rates):
        raise ValueError(f"correct rates must lie in [0, 1]; got {rates}")

    def per(rate: float) -> float:
        correct = n_labels * rate
        return total_cost / correct if correct > 0 else float("nan")

    if correct_ci is None:
        return CostPerCorrectEstimate(per(correct_rate), float("nan"), float("nan"))
    return CostPerCorrectEstimate(per(correct_rate), per(correct_ci[1]), per(correct_ci[0]))
