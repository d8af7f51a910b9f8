"""Chunked model-label flags equal cleanlab run on every answer at once, whatever the cut."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from metrics.chunked_flags import FLAGGER_MODULES, ChunkFlagger, concatenate_quality, flagger_for

CUTS = [[], [1], [37, 38, 200], [50, 100, 150, 250, 299], list(range(25, 300, 25))]
CUT_IDS = ["whole", "one-first", "uneven", "five", "many"]


def _run(
    flagger: ChunkFlagger,
    labels: Sequence[Any],
    predictions: npt.NDArray[Any],
    classes: Sequence[str],
    cut: list[int],
) -> tuple[npt.NDArray[np.float64], set[int]]:
    bounds = [0, *cut, len(labels)]
    arrays = [
        flagger.encode(list(labels[a:b]), predictions[a:b], classes)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    merged = flagger.merge([flagger.first_pass(a) for a in arrays])
    scored = [flagger.second_pass(a, merged) for a in arrays]
    return concatenate_quality(scored), {int(i) for i in flagger.issues(scored)}


def _noisy_multilabel(
    n: int = 300, k: int = 4, seed: int = 0
) -> tuple[list[list[str]], npt.NDArray[np.float64], list[str]]:
    rng = np.random.default_rng(seed)
    classes = [f"c{j}" for j in range(k)]
    truth = rng.random((n, k)) < 0.35
    probs = np.clip(np.where(truth, 0.8, 0.2) + rng.normal(0, 0.15, (n, k)), 0.01, 0.99)
    given = truth ^ (rng.random((n, k)) < 0.06)  # 6% of memberships flipped
    labels = [[classes[j] for j in np.flatnonzero(row)] for row in given]
    return labels, probs, classes


def test_registry_names_each_flagger_by_its_task_type() -> None:
    for task_type in FLAGGER_MODULES:
        flagger = flagger_for(task_type)
        assert flagger.task_type == task_type and flagger.method
    with pytest.raises(KeyError, match="no model-label flags for 'nope'"):
        flagger_for("nope")


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_classification_equals_find_label_issues_batched(cut: list[int]) -> None:
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched
    from cleanlab.rank import get_label_quality_scores

    rng = np.random.default_rng(4)
    classes = ["bird", "cat", "dog"]
    truth = rng.integers(0, 3, 300)
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), truth] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    codes = np.where(rng.random(300) < 0.1, (truth + 1) % 3, truth)
    labels = [classes[c] for c in codes]
    quality, flagged = _run(flagger_for("classification"), labels, probs, classes, cut)
    expected = find_label_issues_batched(codes, probs, batch_size=10_000, n_jobs=1)
    assert flagged == {int(i) for i in expected} and flagged
    np.testing.assert_allclose(quality, get_label_quality_scores(codes, probs), atol=1e-9)


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_multilabel_equals_cleanlab_multilabel_search(cut: list[int]) -> None:
    from cleanlab.multilabel_classification.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    labels, probs, classes = _noisy_multilabel()
    as_ints = [[classes.index(c) for c in row] for row in labels]
    quality, flagged = _run(flagger_for("multilabel"), labels, probs, classes, cut)
    mask = find_label_issues(as_ints, probs, low_memory=True)
    assert flagged == set(np.flatnonzero(mask).tolist()) and 0 < len(flagged) < 300
    np.testing.assert_allclose(quality, get_label_quality_scores(as_ints, probs), atol=1e-9)


def test_multilabel_flags_find_the_flipped_memberships() -> None:
    labels, probs, classes = _noisy_multilabel(seed=2)
    rng = np.random.default_rng(2)  # the same draws as _noisy_multilabel(seed=2)
    rng.random((300, 4))
    rng.normal(0, 0.15, (300, 4))
    wrong: npt.NDArray[np.bool_] = np.asarray((rng.random((300, 4)) < 0.06).any(axis=1))
    _, flagged = _run(flagger_for("multilabel"), labels, probs, classes, [100, 200])
    assert np.mean([wrong[i] for i in flagged]) > 0.5  # the base rate is about 22%


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_preference_equals_find_label_issues_batched_over_the_choices(cut: list[int]) -> None:
    from cleanlab.experimental.label_issues_batched import find_label_issues_batched

    rng = np.random.default_rng(9)
    choices = ["A", "B", "tie"]
    truth = rng.choice(3, 300, p=[0.45, 0.45, 0.1])
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), truth] += 2.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    codes = np.where(rng.random(300) < 0.1, 1 - np.minimum(truth, 1), truth)
    labels = [choices[c] for c in codes]
    quality, flagged = _run(flagger_for("preference"), labels, probs, ["ignored"], cut)
    expected = find_label_issues_batched(codes, probs, batch_size=10_000, n_jobs=1)
    assert flagged == {int(i) for i in expected} and flagged
    assert quality.shape == (300,)


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_rating_equals_cleanlab_residual_quality_and_datalab_rule(cut: list[int]) -> None:
    from cleanlab.datalab.internal.issue_manager.regression.label import (
        find_issues_with_predictions,
    )
    from cleanlab.regression.rank import get_label_quality_scores

    rng = np.random.default_rng(3)
    truth = rng.integers(1, 6, 300)
    predicted = np.clip(truth + rng.normal(0, 0.5, 300), 1, 5)
    ratings = np.where(rng.random(300) < 0.05, 6 - truth, truth)
    labels: list[Any] = [
        {"helpfulness": int(r)} if i % 2 else int(r) for i, r in enumerate(ratings)
    ]
    quality, flagged = _run(flagger_for("rating"), labels, predicted, [], cut)
    found = find_issues_with_predictions(predicted, ratings.astype(float), 0.05, method="residual")
    np.testing.assert_allclose(quality, found["label_score"].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(
        quality, get_label_quality_scores(ratings.astype(float), predicted, method="residual")
    )
    assert flagged == set(np.flatnonzero(found["is_label_issue"].to_numpy()).tolist())
    assert flagged and all(ratings[i] != truth[i] for i in flagged)


@pytest.mark.parametrize(
    ("task_type", "labels", "predictions", "match"),
    [
        ("classification", ["cat", "emu"], [[0.5, 0.5], [0.5, 0.5]], r"\['emu'\] are not"),
        ("classification", ["cat", "dog"], [[0.5, 0.6], [0.5, 0.5]], r"answers \[0\]"),
        ("multilabel", [["cat"], "dog"], [[0.5, 0.5], [0.5, 0.5]], "answer 1: a multi-label"),
        ("multilabel", [["cat"], ["emu"]], [[0.5, 0.5], [0.5, 0.5]], "answer 1: 'emu'"),
        ("multilabel", [["cat"], []], [[0.5, 1.5], [0.5, 0.5]], r"answers \[0\]"),
        ("preference", ["A", "C"], [[0.5, 0.5, 0], [0.5, 0.5, 0]], r"\['C'\] are not"),
        ("rating", [3, {"a": 1, "b": 2}], [3.0, 2.0], "answer 1: rating flags need one"),
        ("rating", [3, "x"], [3.0, 2.0], "answer 1: a rating is a finite number"),
        ("rating", [3, 2], [3.0, float("nan")], r"answers \[1\]"),
    ],
    ids=[
        "class-unknown",
        "class-sum",
        "ml-not-list",
        "ml-unknown",
        "ml-range",
        "pref-unknown",
        "rating-criteria",
        "rating-text",
        "rating-nan",
    ],
)
def test_bad_answers_and_predictions_are_named(
    task_type: str, labels: list[Any], predictions: list[Any], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        flagger_for(task_type).encode(labels, np.asarray(predictions), ["cat", "dog"])


def test_encode_does_not_modify_its_inputs() -> None:
    labels, probs, classes = _noisy_multilabel(n=20)
    before = (list(map(list, labels)), probs.copy())
    flagger_for("multilabel").encode(labels, probs, classes)
    assert labels == before[0] and np.array_equal(probs, before[1])
