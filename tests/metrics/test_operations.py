"""Cost and latency: definitions checked by hand and against numpy."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.operations import cost_per_correct_label, cost_summary, latency, latency_summary


def _times(seed: int, n: int) -> tuple[pd.Series[Any], pd.Series[Any], np.ndarray[Any, Any]]:
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-05-01 09:00", tz="UTC")
    sent = start + pd.to_timedelta(rng.integers(0, 3600, n), unit="s")
    secs = rng.gamma(2.0, 300.0, n).round(3)
    done = sent + pd.to_timedelta(secs, unit="s")
    index = [f"t{i}" for i in range(n)]
    return pd.Series(sent, index=index), pd.Series(done, index=index), secs


def test_percentiles_match_numpy_and_throughput_by_hand() -> None:
    sent, done, secs = _times(0, 500)
    s = latency_summary(sent, done)
    expected = np.percentile(secs, [50, 90, 95, 99])
    assert (s.p50_s, s.p90_s, s.p95_s, s.p99_s) == pytest.approx(tuple(expected), abs=1e-6)
    assert s.mean_s == pytest.approx(secs.mean(), abs=1e-6)
    assert s.max_s == pytest.approx(secs.max(), abs=1e-6)
    hours = (done.max() - sent.min()).total_seconds() / 3600
    assert s.throughput_per_hour == pytest.approx(500 / hours)
    assert latency(sent, done).value == pytest.approx(np.median(secs), abs=1e-6)


def test_pending_tasks_are_counted_not_timed() -> None:
    sent, done, secs = _times(1, 10)
    done = done.copy()
    done.iloc[[2, 5]] = pd.NaT
    s = latency_summary(sent, done.drop(done.index[7]))
    assert s.n_completed == 7 and s.n_pending == 3
    kept = np.delete(secs, [2, 5, 7])
    assert s.p50_s == pytest.approx(np.percentile(kept, 50), abs=1e-6)


def test_nothing_completed() -> None:
    sent, done, _ = _times(2, 3)
    s = latency_summary(sent, done.iloc[:0])
    assert s.n_completed == 0 and s.n_pending == 3 and np.isnan(s.p50_s)


def test_latency_errors() -> None:
    sent, done, _ = _times(3, 3)
    with pytest.raises(ValueError, match="completed before they were dispatched: \\['t0'\\]"):
        latency(sent, done.where(done.index != "t0", sent["t0"] - pd.Timedelta(seconds=1)))
    with pytest.raises(ValueError, match="never dispatched"):
        latency(sent.iloc[1:], done)
    with pytest.raises(TypeError, match="Series of timestamps"):
        latency([1, 2], done)  # type: ignore[arg-type]


def test_cost_summary_by_hand() -> None:
    answers = pd.DataFrame(
        {
            "task": ["a", "a", "a", "b", "c"],
            "worker": ["x", "y", "z", "x", "x"],
            "label": ["cat", "cat", "dog", "dog", "cat"],
        }
    )
    gold = pd.Series({"a": "cat", "b": "dog", "c": "dog"})
    c = cost_summary(answers, cost=10.0, gold=gold)
    assert (c.n_labels, c.n_items, c.n_correct) == (5, 3, 3)
    assert c.cost_per_label == 2.0
    assert c.cost_per_item == pytest.approx(10 / 3)
    assert c.cost_per_correct_label == pytest.approx(10 / 3)
    per_answer = pd.Series([1.0, 1.0, 1.0, 2.0, 5.0], index=answers.index)
    assert cost_summary(answers, cost=per_answer).total_cost == 10.0
    assert cost_summary(answers, cost=3).n_correct is None
    none_right = cost_per_correct_label(gold, pd.Series({"a": "dog"}), cost=4.0)
    assert np.isnan(none_right.value)


def test_cost_errors() -> None:
    answers = pd.DataFrame({"task": ["a"], "worker": ["x"], "label": ["cat"]})
    with pytest.raises(ValueError, match="non-negative"):
        cost_summary(answers, cost=-1.0)
    with pytest.raises(TypeError, match="cost must be a number"):
        cost_summary(answers, cost="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="same index as answers"):
        cost_summary(answers, cost=pd.Series([1.0, 2.0]))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 1e5, allow_nan=False), min_size=1, max_size=50),
    st.integers(-(10**6), 10**6),
)
def test_hypothesis_percentiles_ordered_and_shift_invariant(
    seconds: list[float], shift: int
) -> None:
    index = [f"t{i}" for i in range(len(seconds))]
    sent = pd.Series(pd.Timestamp("2024-01-01"), index=index)
    done = sent + pd.to_timedelta(np.array(seconds), unit="s")
    s = latency_summary(sent, done)
    assert 0 <= s.p50_s <= s.p90_s <= s.p95_s <= s.p99_s <= s.max_s + 1e-6
    moved = latency_summary(sent + pd.Timedelta(seconds=shift), done + pd.Timedelta(seconds=shift))
    assert moved.p99_s == pytest.approx(s.p99_s, abs=1e-6)
