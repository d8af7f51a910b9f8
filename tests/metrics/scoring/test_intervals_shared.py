"""The engine's fast bootstrap paths give the numbers of the direct computation.

Resamples shared across candidates, confusion tables built from a shared reference,
ratio sums over the items off the mode and the p95 found in a window of ranks are all
shortcuts; each is checked here against the plain definition on the same resamples.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from metrics.resampling import draw_resamples, resamples
from metrics.scoring import _crowd
from metrics.scoring._intervals import (
    Quantile,
    Ratio,
    Table,
    _Cells,
    _count_chunks,
    _modes,
    _quantile_plan,
    _quantile_reps,
    _ratio_sums,
    _table_reps,
    _TablePlan,
    bootstrap,
    resample_counts,
    shared_resamples,
    use_drawn,
)
from metrics.scoring.base import ScoringOptions


def _idx_and_counts(n: int, b: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    idx = np.vstack(list(resamples(n, n_resamples=b, seed=seed)))
    counts = np.vstack(list(_count_chunks(n, n_resamples=b, seed=seed))).astype(np.int64)
    return idx, counts


def test_counts_are_the_draws_of_the_resamples() -> None:
    idx, counts = _idx_and_counts(57, 40, 3)
    for r in range(idx.shape[0]):
        assert np.array_equal(counts[r], np.bincount(idx[r], minlength=57))
    assert set(counts.sum(axis=1)) == {57}


def test_resamples_drawn_ahead_are_the_blocks_own_draws() -> None:
    # drawn on another thread, as a report's prefetch draws them while rows arrive
    with ThreadPoolExecutor(1) as pool:
        drawn = pool.submit(draw_resamples, 101, n_resamples=90, seed=7).result()
    own = list(resample_counts(101, n_resamples=90, seed=7))
    assert [c.shape for c in drawn.chunks] == [c.shape for c in own]
    assert all(np.array_equal(a, b) for a, b in zip(drawn.chunks, own, strict=True))
    assert not use_drawn(drawn)  # outside a block: nothing to keep them in
    with shared_resamples():
        assert use_drawn(drawn)
        assert not use_drawn(draw_resamples(101, n_resamples=90, seed=7))  # held already
        kept = list(resample_counts(101, n_resamples=90, seed=7))
        assert all(a is b for a, b in zip(kept, drawn.chunks, strict=True))
        other = list(resample_counts(101, n_resamples=90, seed=8))  # other settings: drawn
        assert not any(np.array_equal(a, b) for a, b in zip(other, own, strict=True))


@pytest.mark.parametrize("q", [0.05, 0.5, 0.95, 0.99])
def test_windowed_quantile_is_numpys_quantile_of_each_resample(q: float) -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(3.0, 0.5, 400)
    values[rng.random(400) < 0.1] = np.nan
    values[:20] = 600.0  # ties (a deadline)
    idx, counts = _idx_and_counts(400, 60, 11)
    plan = _quantile_plan(Quantile(values, q))
    assert plan is not None
    narrow = replace(  # a window too narrow for most resamples: the exact fallback runs
        plan, start=plan.start + plan.width - 3 if plan.high else 0, width=3
    )
    for p in (plan, narrow):
        got = _quantile_reps(p, counts)
        for r in range(idx.shape[0]):
            drawn = values[idx[r]]
            want = np.quantile(drawn[np.isfinite(drawn)], q)
            assert got[r] == pytest.approx(want, rel=1e-12, abs=1e-12)


def test_tables_from_a_reference_equal_tables_of_the_drawn_items() -> None:
    rng = np.random.default_rng(5)
    n, k = 300, 4
    gold = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < 0.8, gold, rng.integers(0, k, n))
    cells = np.where(rng.random(n) < 0.05, -1, gold * k + pred).astype(np.intp)
    table = Table(cells=cells, n_cells=k * k, names=("all",), compute=lambda t: list(t))
    referenced = replace(table, reference=(gold * (k + 1)).astype(np.intp))
    idx, counts = _idx_and_counts(n, 30, 2)
    want = np.array(
        [np.bincount(cells[idx[r]][cells[idx[r]] >= 0], minlength=k * k) for r in range(30)]
    )
    key = (n, 30, 2)
    with shared_resamples():
        for plan in (_TablePlan.of(table), _TablePlan.of(referenced), _TablePlan.of(referenced)):
            got = _table_reps(plan, counts, 0, key)
            assert np.array_equal(got, want)


def test_ratio_sums_off_the_mode_equal_the_full_product() -> None:
    rng = np.random.default_rng(3)
    n = 500
    design = np.column_stack(
        [
            np.where(rng.random(n) < 0.97, 0.05, 0.0),
            (rng.random(n) < 0.9).astype(float),
            rng.random(n),
            np.ones(n),
        ]
    )
    modes = _modes(design)
    assert modes[0] == 0.05 and modes[1] == 1.0 and modes[3] == 1.0
    differ = np.flatnonzero(np.any(design != modes, axis=1)).astype(np.intp)
    _, counts = _idx_and_counts(n, 25, 9)
    got = _ratio_sums(modes, differ, np.ascontiguousarray(design[differ] - modes), counts)
    np.testing.assert_allclose(got, counts @ design, rtol=1e-12)


def test_shared_resamples_do_not_change_intervals() -> None:
    rng = np.random.default_rng(1)
    n = 250
    gold = rng.integers(0, 3, n)

    def intervals(pred: np.ndarray) -> Mapping[str, object]:
        cells = (gold * 3 + pred).astype(np.intp)
        table = Table(
            cells=cells,
            n_cells=9,
            names=("diag",),
            compute=lambda t: [float(np.trace(t.reshape(3, 3)))],
            reference=(gold * 4).astype(np.intp),
        )
        cost = np.where(pred == gold, 0.1, 0.3)
        return bootstrap(
            n,
            ratios={"cost": Ratio(cost, np.ones(n))},
            tables=[table],
            quantiles={"p95": Quantile(rng.lognormal(size=n), 0.95)},
            n_resamples=200,
            seed=4,
            level=0.95,
        )

    preds = [np.where(rng.random(n) < p, gold, (gold + 1) % 3) for p in (0.9, 0.7)]
    state = rng.bit_generator.state
    alone = [intervals(p) for p in preds]
    rng.bit_generator.state = state
    with shared_resamples():
        together = [intervals(p) for p in preds]
    assert alone == together


@pytest.mark.parametrize("key", [_crowd.same, lambda v: v], ids=["same", "lambda"])
def test_single_answer_vote_equals_the_grouped_vote(
    monkeypatch: pytest.MonkeyPatch, key: _crowd.Key
) -> None:
    gold_index = pd.Index([f"t{i:02d}" for i in range(12)], name="task")
    answers = pd.DataFrame(
        {
            "task": ["t03", "t00", "x99", "t07", "t05", "t11"],
            "worker": [""] * 6,
            "label": ["b", "a", "a", None, "c", "a"],
        }
    )
    options = ScoringOptions()
    fast = _crowd.vote(answers, gold_index, key=key, size=lambda _: 1, options=options)
    monkeypatch.setattr(_crowd, "_single_answers", None)  # any use would fail
    monkeypatch.setattr(_crowd, "_one_answer_each", lambda *_a: False)
    grouped = _crowd.vote(answers, gold_index, key=key, size=lambda _: 1, options=options)
    for name in ("answer", "n_answers", "n_objects", "tie"):
        pd.testing.assert_series_equal(getattr(fast, name), getattr(grouped, name))
    assert np.array_equal(fast.positions, grouped.positions)
    assert fast.positions.tolist() == [0, 3, 5, 11]
    assert fast.answers is not None and grouped.answers is not None
    pd.testing.assert_frame_equal(fast.answers, grouped.answers)
    assert fast.warnings == grouped.warnings


@pytest.mark.parametrize("n", [1, 7, 4_001, 100_000], ids=lambda n: f"n={n}")
def test_resamples_are_bootstrap_indices_of_the_same_generator(n: int) -> None:
    """32-bit draws are NumPy's 64-bit ones (same numbers, same generator state after)."""
    from metrics.statistics import bootstrap_indices

    b = 90
    ours = np.vstack(list(resamples(n, n_resamples=b, seed=5)))
    rng = np.random.default_rng(5)
    rows = max(1, min(b, 4_000_000 // n))
    plain = np.vstack(
        [
            bootstrap_indices(n, n_resamples=min(rows, b - done), rng=rng)
            for done in range(0, b, rows)
        ]
    )
    assert np.array_equal(ours, plain)


def test_counts_fall_back_to_int64_when_an_item_is_drawn_256_times() -> None:
    from metrics.resampling import counts_of as _counts_of

    idx = np.zeros((2, 300), dtype=np.int32)  # item 0 drawn 300 times in each resample
    idx[1, :10] = np.arange(10)
    counts = _counts_of(idx, 300)
    assert counts.dtype == np.int64
    assert counts[0, 0] == 300 and counts[1, 0] == 291 and counts[1, 1] == 1


@pytest.mark.parametrize("n_classes", [3, 40])
def test_cell_sums_by_slices_equal_reduceat_and_bincount(n_classes: int) -> None:
    from metrics.scoring._intervals import _SLICED_GROUP, _Cells

    rng = np.random.default_rng(12)
    n = _SLICED_GROUP * 8  # 3 classes: groups of ~5,000 items (slices); 40: ~400 (reduceat)
    gold = rng.integers(0, n_classes, n)
    cells = np.where(rng.random(n) < 0.02, -1, gold * (n_classes + 1)).astype(np.intp)
    grouped = _Cells.of(cells, np.arange(n, dtype=np.intp), n_classes * n_classes)
    sliced = grouped.order.size >= _SLICED_GROUP * grouped.starts.size
    assert sliced == (n_classes == 3)
    idx, counts = _idx_and_counts(n, 12, 4)
    got = grouped.sums(counts.astype(np.uint8))
    want = np.array([np.bincount(c[c >= 0], minlength=n_classes**2) for c in cells[idx]])
    assert got.dtype == np.int64
    assert np.array_equal(got, want)


def test_counts_at_most_is_the_comparison_count_of_each_row() -> None:
    from metrics.scoring._intervals import _counts_at_most

    rng = np.random.default_rng(8)
    bound = 50
    cum = np.sort(rng.integers(0, bound + 1, (30, 17)), axis=1).astype(np.int64)
    cum[0] = 0  # a row of equal values, at the bounds
    cum[1] = bound
    x = rng.integers(0, bound + 1, 30).astype(np.int64)
    x[:2] = (0, bound)
    want = (cum <= x[:, None]).sum(axis=1)
    assert np.array_equal(_counts_at_most(cum.copy(), x, bound), want)


def test_candidates_scored_on_threads_share_one_block_exactly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The service scores a bake-off's candidates on several threads inside one
    :func:`shared_resamples` block (each in a copy of its context): every chunk's reference
    table is then summed by whichever thread comes first, and must be the same table."""
    rng = np.random.default_rng(8)
    n, k = 40_000, 3  # 200 resamples of 40,000 items: several chunks
    gold = rng.integers(0, k, n)
    preds = [np.where(rng.random(n) < p, gold, (gold + 1) % k) for p in (0.95, 0.9, 0.8, 0.7)]
    barrier = threading.Barrier(len(preds))

    def intervals(pred: np.ndarray, wait: bool = False) -> Mapping[str, object]:
        table = Table(
            cells=(gold * k + pred).astype(np.intp),
            n_cells=k * k,
            names=("first class right",),
            compute=lambda t: [float(t[0])],  # depends on the draws of each class
            reference=(gold * (k + 1)).astype(np.intp),
        )
        if wait:
            barrier.wait()  # every thread reaches the first chunk together
        return bootstrap(n, tables=[table], n_resamples=200, seed=6, level=0.95)

    alone = [intervals(p) for p in preds]
    summed = _Cells.sums

    def slow_sums(self: _Cells, counts: np.ndarray) -> np.ndarray:
        time.sleep(0.01)  # lets the other threads reach the same chunk meanwhile
        return summed(self, counts)

    monkeypatch.setattr(_Cells, "sums", slow_sums)
    with shared_resamples():
        for _ in _count_chunks(n, n_resamples=200, seed=6):  # drawn once, before the threads
            pass
        contexts = [contextvars.copy_context() for _ in preds]
        with ThreadPoolExecutor(len(preds)) as pool:
            together = list(
                pool.map(
                    lambda cp: cp[0].run(intervals, cp[1], True), zip(contexts, preds, strict=True)
                )
            )
    assert together == alone
