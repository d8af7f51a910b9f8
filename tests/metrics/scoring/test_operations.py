"""Cost and latency of a scored candidate: unreturned items count."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from metrics.scoring import Scored, ScoringOptions, score, with_operations


def _scored(n: int = 10, answered: int = 8) -> Scored:
    index = [f"t{i:03d}" for i in range(n)]
    gold = pd.Series(["a"] * n, index=index)
    labels = pd.Series(["a"] * (answered - 1) + ["b"], index=index[:answered])
    return score(
        "classification", gold, labels, options=ScoringOptions(min_coverage=0.0, classes=("a", "b"))
    )


def test_costs_divide_by_all_items_and_correct_items() -> None:
    s = _scored()
    ops = with_operations(s, item_costs=pd.Series(0.5, index=s.items.index[:8])).operations
    assert ops is not None and ops.total_cost == pytest.approx(4.0)
    assert ops.cost_per_item is not None and ops.cost_per_item.value == pytest.approx(0.4)
    assert ops.cost_per_correct is not None and ops.cost_per_correct.value == pytest.approx(4 / 7)
    ci = ops.cost_per_correct.ci
    assert ci is not None and ci.low <= 4 / 7 <= ci.high


def test_price_list_bills_answered_items_and_labels() -> None:
    s = _scored()
    ops = with_operations(s, prices=(0.1, 0.02)).operations
    assert ops is not None and ops.total_cost == pytest.approx(8 * 0.12)


def test_unreturned_items_cost_the_deadline_in_latency() -> None:
    s = _scored(n=20, answered=15)
    sent = pd.Series(pd.Timestamp("2024-01-01", tz="UTC"), index=s.items.index)
    done = sent[:15] + pd.to_timedelta(np.arange(1, 16), unit="s")
    ops = with_operations(s, dispatched=sent, completed=done, deadline_s=3600.0).operations
    assert ops is not None and ops.n_unreturned == 5 and ops.n_completed == 15
    assert ops.latency["p95_s"].value == pytest.approx(3600.0)
    assert ops.latency["p50_s"].value == pytest.approx(
        np.percentile([*range(1, 16), *[3600] * 5], 50)
    )
    no_deadline = with_operations(s, dispatched=sent, completed=done)
    assert no_deadline.operations is not None
    returned_only = np.percentile(range(1, 16), 95)
    assert no_deadline.operations.latency["p95_s"].value == pytest.approx(returned_only)
    assert any(w.code == "unreturned_latency" for w in no_deadline.warnings)


def test_nothing_back_yet_mixes_aware_dispatch_with_missing_completions() -> None:
    s = _scored(n=4, answered=2)
    sent = pd.Series(pd.Timestamp("2024-01-01", tz="UTC"), index=s.items.index)
    done = pd.Series([pd.NaT] * 4, index=s.items.index, dtype=object)
    ops = with_operations(s, dispatched=sent, completed=done, deadline_s=60.0).operations
    assert ops is not None and ops.n_completed == 0
    assert ops.latency["max_s"].value == 60.0  # the unreturned items count the deadline
