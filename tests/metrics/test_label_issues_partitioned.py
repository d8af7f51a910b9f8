"""Partitioned label issues equal the sequential chunked inspector (and cleanlab's batched call)."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.label_issues import find_label_issues_chunked
from metrics.label_issues_partitioned import (
    issues_from_partitions,
    merge_thresholds,
    score_partition,
    threshold_partial,
)


@pytest.mark.parametrize("chunk", [7, 100, 1000])
def test_partitions_merge_to_the_sequential_answer(chunk: int) -> None:
    rng = np.random.default_rng(3)
    n, k = 2500, 4
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), truth] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    codes = np.where(rng.random(n) < 0.1, (truth + 1) % k, truth)
    classes = ["a", "b", "c", "d"]
    names = np.asarray(classes, dtype=object)[codes]
    bounds = list(range(0, n, chunk))
    parts = [(codes[lo : lo + chunk], probs[lo : lo + chunk]) for lo in bounds]
    expected = find_label_issues_chunked(
        lambda: [(names[lo : lo + chunk], probs[lo : lo + chunk]) for lo in bounds],
        classes=classes,
    )
    # the partials can be computed in any order (any worker); the merge replays chunk order
    partials = {i: threshold_partial(c, p, k) for i, (c, p) in reversed(list(enumerate(parts)))}
    merged = merge_thresholds([partials[i] for i in range(len(parts))], k)
    scored = {i: score_partition(c, p, merged) for i, (c, p) in reversed(list(enumerate(parts)))}
    ordered = [scored[i] for i in range(len(parts))]
    quality = np.concatenate([s.label_quality for s in ordered])
    np.testing.assert_array_equal(quality, expected.label_quality)
    np.testing.assert_array_equal(issues_from_partitions(ordered), expected.issues)
    assert expected.issues.size > 0


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="codes must lie"):
        threshold_partial(np.array([0, 5]), np.full((2, 2), 0.5), 2)
    with pytest.raises(ValueError, match="expected"):
        threshold_partial(np.array([0]), np.full((2, 2), 0.5), 2)
