"""Chunked label issues: exactly cleanlab's batched answer, whatever the chunking."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt
import pytest
from cleanlab.experimental.label_issues_batched import find_label_issues_batched
from cleanlab.rank import get_label_quality_scores

from metrics.label_issues import find_label_issues_chunked

CLASSES = [f"c{k}" for k in range(5)]


def _data(
    n: int, seed: int
) -> tuple[
    npt.NDArray[np.str_], npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.bool_]
]:
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 5, n)
    logits = rng.normal(0, 1, (n, 5))
    logits[np.arange(n), true] += 2.5
    probs = np.exp(logits)
    probs /= probs.sum(axis=1, keepdims=True)
    given = true.copy()
    flip = rng.random(n) < 0.08
    given[flip] = (true[flip] + rng.integers(1, 5, int(flip.sum()))) % 5
    return np.array(CLASSES)[given], probs, given, flip


def _chunks(
    labels: npt.NDArray[np.str_], probs: npt.NDArray[np.float64], size: int
) -> Iterator[tuple[npt.NDArray[np.str_], npt.NDArray[np.float64]]]:
    for start in range(0, len(labels), size):
        yield labels[start : start + size], probs[start : start + size]


@pytest.mark.parametrize("size", [997, 5000, 20_000], ids=lambda s: f"chunk{s}")
@pytest.mark.parametrize("method", ["self_confidence", "normalized_margin"])
def test_parity_with_cleanlab_batched_and_rank(size: int, method: str) -> None:
    names, probs, codes, flipped = _data(20_000, 1)
    found = find_label_issues_chunked(
        lambda: _chunks(names, probs, size),
        classes=CLASSES,
        quality_method=method,  # type: ignore[arg-type]
    )
    expected = find_label_issues_batched(
        codes,
        probs,
        batch_size=20_000,
        verbose=False,
        quality_score_kwargs={"method": method},
        n_jobs=1,
    )
    # cleanlab returns the issues in index order; ours are ranked, most severe first
    np.testing.assert_array_equal(np.sort(found.issues), expected)
    assert np.all(np.diff(found.label_quality[found.issues]) >= 0)
    # the scores are cleanlab's rank scores with the dataset's confident thresholds
    direct = get_label_quality_scores(codes, probs, method=method, adjust_pred_probs=False)
    np.testing.assert_allclose(found.label_quality, direct, rtol=0, atol=1e-9)
    assert found.is_label_issue.sum() == len(expected)
    # the flags find planted errors far better than chance
    precision = flipped[found.issues].mean()
    assert precision > 0.6


def test_bad_chunks_are_named() -> None:
    names, probs, _, _ = _data(100, 2)
    with pytest.raises(ValueError, match="chunk 1: pred_probs must have shape"):
        find_label_issues_chunked(
            lambda: [(names[:50], probs[:50]), (names[50:], probs[50:, :4])], classes=CLASSES
        )
    bad = probs.copy()
    bad[3] *= 2
    with pytest.raises(ValueError, match=r"chunk 0: rows \[3\]"):
        find_label_issues_chunked(lambda: [(names, bad)], classes=CLASSES)
    with pytest.raises(ValueError, match="not columns of pred_probs"):
        find_label_issues_chunked(lambda: [(np.array(["zz"] * 100), probs)], classes=CLASSES)
    passes = iter([[(names, probs)], [(names[:10], probs[:10])]])
    with pytest.raises(ValueError, match="100 rows on the first pass and 10 on the second"):
        find_label_issues_chunked(lambda: next(passes), classes=CLASSES)
