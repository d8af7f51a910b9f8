"""Cost and latency of one scored candidate: the one place they are computed.

* Cost per item is the billed amount (reported per item, or the price list: price per
  item plus price per label times the labels delivered) over *all* gold items; cost per
  correct label divides the total by the candidate's correct items (the sum of its
  per-item main metric, unanswered = 0), so skipping items never makes a vendor look
  cheaper per item.
* Latency is completion minus dispatch per item. An item the candidate never returned
  costs the deadline (``deadline_s``): a vendor cannot look fast by timing out on slow
  items. Without a deadline such items are left out and a warning says so.

Intervals (cost per item, cost per correct label, p95 latency) are paired percentile
bootstraps on the resamples of the metrics (same seed, same items).

Examples
--------
>>> import pandas as pd
>>> from metrics.scoring.classification import score
>>> from metrics.scoring.base import ScoringOptions
>>> gold = pd.Series(["a", "b", "a", "b"], index=list("wxyz"))
>>> s = score(gold, pd.Series(["a", "b", "b"], index=list("wxy")),
...           options=ScoringOptions(min_coverage=0.5))
>>> sent = pd.Series(pd.to_datetime(["2024-01-01 00:00"] * 4), index=list("wxyz"))
>>> done = pd.Series(pd.to_datetime(["2024-01-01 00:01"] * 3), index=list("wxy"))
>>> ops = score_operations(s, prices=(0.5, 0.0), dispatched=sent, completed=done,
...                        deadline_s=600.0)
>>> ops.total_cost, ops.cost_per_item.value, ops.cost_per_correct.value
(1.5, 0.375, 0.75)
>>> ops.latency["max_s"].value, ops.n_unreturned
(600.0, 1)
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from metrics.scoring._intervals import Quantile, Ratio, bootstrap
from metrics.scoring.base import Operations, Scored, ScoringWarning
from metrics.types import TASK, MetricResult

__all__ = ["score_operations", "with_operations"]

_LEVELS = {"p50_s": 50.0, "p90_s": 90.0, "p95_s": 95.0, "p99_s": 99.0}


def _costs(
    scored: Scored,
    item_costs: pd.Series[Any] | None,
    prices: tuple[float, float] | None,
) -> pd.Series[float] | None:
    index = scored.items.index
    if item_costs is not None:
        values = pd.to_numeric(item_costs, errors="coerce").reindex(index).fillna(0.0)
        if (values < 0).any():
            raise ValueError(f"item_costs is negative for items {list(index[values < 0][:5])}")
        return values.astype(np.float64)
    if prices is None:
        return None
    per_item, per_label = (float(p) for p in prices)
    answered = scored.items["answered"].to_numpy(dtype=bool)
    n_objects = scored.items["n_objects"].to_numpy(dtype=np.float64)
    cost = np.where(answered, per_item + per_label * n_objects, 0.0)
    return pd.Series(cost, index=index, dtype=np.float64)


def _latency(
    scored: Scored,
    dispatched: pd.Series[Any] | None,
    completed: pd.Series[Any] | None,
    deadline_s: float | None,
) -> tuple[pd.Series[float] | None, float, int]:
    """Seconds per gold item (deadline filled in), throughput per hour, items back."""
    if dispatched is None or not pd.Series(dispatched).notna().any():
        return None, float("nan"), 0
    index = scored.items.index
    # naive timestamps are taken as UTC, so aware and naive inputs (or an all-NaT one) mix
    sent = pd.to_datetime(pd.Series(dispatched), utc=True).reindex(index)
    done = (
        pd.to_datetime(pd.Series(completed), utc=True)
        if completed is not None
        else pd.Series(pd.NaT, index=index, dtype="datetime64[ns, UTC]")
    ).reindex(index)
    seconds = (done - sent).dt.total_seconds().to_numpy(dtype=np.float64)
    seconds = np.where(seconds >= 0, seconds, np.nan)
    answered = scored.items["answered"].to_numpy(dtype=bool)
    filled = np.where(answered, seconds, deadline_s if deadline_s is not None else np.nan)
    latency = pd.Series(filled, index=index, dtype=np.float64, name="latency_s")
    latency.index.name = TASK
    n_done = int(np.isfinite(seconds[answered]).sum())
    window = (done.max() - sent.min()).total_seconds() / 3600.0 if n_done else float("nan")
    throughput = n_done / window if n_done and window > 0 else float("nan")
    return latency, throughput, n_done


def score_operations(
    scored: Scored,
    *,
    item_costs: pd.Series[Any] | None = None,
    prices: tuple[float, float] | None = None,
    dispatched: pd.Series[Any] | None = None,
    completed: pd.Series[Any] | None = None,
    deadline_s: float | None = None,
) -> Operations:
    """Total cost, cost per item and per correct label, latency percentiles, throughput.

    Parameters
    ----------
    scored
        The candidate's :class:`~metrics.scoring.base.Scored` (items, answers, scores).
    item_costs
        Billed amount per item (index ``task``; a missing item billed 0).
    prices
        ``(per_item, per_label)`` when no cost was reported: each answered item costs
        ``per_item + per_label * n_objects``.
    dispatched, completed
        Timestamps per item (index ``task``; missing or ``NaT``: not sent / not back).
    deadline_s
        Latency charged to an item never returned (``None``: left out, with a warning).

    Returns
    -------
    Operations

    Raises
    ------
    ValueError
        A negative cost.
    """
    options = scored.options
    costs = _costs(scored, item_costs, prices)
    latency, throughput, n_done = _latency(scored, dispatched, completed, deadline_s)
    n = scored.n_items
    ones = np.ones(n, dtype=np.float64)
    correct = np.nan_to_num(scored.items["score"].to_numpy(dtype=np.float64)).astype(np.float64)
    ratios: dict[str, Ratio] = {}
    if costs is not None:
        c = np.asarray(costs.to_numpy(), dtype=np.float64)
        ratios = {"cost_per_item": Ratio(c, ones), "cost_per_correct": Ratio(c, correct)}
    lat = np.asarray(
        latency.to_numpy() if latency is not None else np.full(n, np.nan), dtype=np.float64
    )
    finite = lat[np.isfinite(lat)]
    quantiles = {"p95_s": Quantile(lat, 0.95)} if finite.size else {}
    cis = bootstrap(
        n,
        ratios=ratios,
        quantiles=quantiles,
        n_resamples=options.n_resamples,
        seed=options.seed,
        level=options.level,
    )
    cost_results: dict[str, MetricResult] = {}
    for name, r in ratios.items():
        value = r.value
        cost_results[name] = MetricResult(name, value, ci=cis[name] if np.isfinite(value) else None)
    timing: dict[str, MetricResult] = {}
    if finite.size:
        for name, q in _LEVELS.items():
            value = float(np.percentile(finite, q))
            timing[name] = MetricResult(f"latency_{name}", value, ci=cis.get(name))
        timing["mean_s"] = MetricResult("latency_mean_s", float(finite.mean()))
        timing["max_s"] = MetricResult("latency_max_s", float(finite.max()))
        timing["throughput_per_hour"] = MetricResult("throughput_per_hour", throughput)
    unreturned = int((~scored.items["answered"]).sum()) if latency is not None else 0
    return Operations(
        total_cost=float(costs.sum()) if costs is not None else None,
        cost_per_item=cost_results.get("cost_per_item"),
        cost_per_correct=cost_results.get("cost_per_correct"),
        latency=timing,
        n_completed=n_done,
        n_unreturned=unreturned,
        deadline_s=deadline_s if latency is not None else None,
        item_costs=costs,
        latency_s=latency,
    )


def with_operations(scored: Scored, **kwargs: Any) -> Scored:
    """``scored`` with :func:`score_operations`' result attached (and its warning).

    Takes the keyword arguments of :func:`score_operations`.
    """
    ops = score_operations(scored, **kwargs)
    warnings = scored.warnings
    if ops.latency_s is not None and ops.deadline_s is None and ops.n_unreturned:
        warnings = (
            *warnings,
            ScoringWarning(
                "unreturned_latency",
                f"{ops.n_unreturned} item(s) never came back and no deadline is known: "
                "latency covers returned items only",
            ),
        )
    return replace(scored, operations=ops, warnings=warnings)
