"""Multi-label metrics against scikit-learn on the same binarised inputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm
from sklearn.preprocessing import MultiLabelBinarizer

from metrics.multilabel import (
    exact_match_ratio,
    hamming_loss,
    jaccard,
    multilabel_indicators,
    multilabel_macro_f1,
    multilabel_micro_f1,
    multilabel_precision_recall_f1,
    multilabel_statistic,
    multilabel_summary,
)

TOL = 1e-9
CLASSES = ["cat", "dog", "indoor", "outdoor", "person", "car"]


def _sets(seed: int, n: int, skip: float) -> tuple[pd.Series[Any], pd.Series[Any]]:
    rng = np.random.default_rng(seed)
    index = [f"img-{i}" for i in range(n)]
    gold = [frozenset(c for c in CLASSES if rng.random() < 0.3) for _ in range(n)]
    pred = []
    for g in gold:
        flip = {c for c in CLASSES if rng.random() < 0.15}
        pred.append(frozenset(set(g) ^ flip))
    labels = pd.Series(pred, index=index)
    keep = rng.random(n) >= skip
    return pd.Series(gold, index=index), labels[keep]


def _reference(gold: pd.Series[Any], labels: pd.Series[Any]) -> tuple[Any, Any]:
    common = labels.index
    g = list(gold.loc[common])
    p = list(labels)
    mlb = MultiLabelBinarizer().fit(g + p)
    return mlb.transform(g), mlb.transform(p)


@pytest.mark.parametrize(
    ("seed", "n", "skip"),
    [pytest.param(0, 100, 0.0, id="full"), pytest.param(1, 250, 0.2, id="skips")],
)
def test_matches_sklearn(seed: int, n: int, skip: float) -> None:
    gold, labels = _sets(seed, n, skip)
    y_true, y_pred = _reference(gold, labels)
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    per = multilabel_precision_recall_f1(gold, labels)
    np.testing.assert_allclose(per.precision, p, atol=TOL)
    np.testing.assert_allclose(per.recall, r, atol=TOL)
    np.testing.assert_allclose(per.f1, f, atol=TOL)
    np.testing.assert_array_equal(per.support, s)
    assert multilabel_micro_f1(gold, labels).value == pytest.approx(
        skm.f1_score(y_true, y_pred, average="micro", zero_division=0), abs=TOL
    )
    assert multilabel_macro_f1(gold, labels).value == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=TOL
    )
    assert hamming_loss(gold, labels).value == pytest.approx(
        skm.hamming_loss(y_true, y_pred), abs=TOL
    )
    assert exact_match_ratio(gold, labels).value == pytest.approx(
        skm.accuracy_score(y_true, y_pred), abs=TOL
    )
    for average in ("samples", "micro", "macro"):
        assert jaccard(gold, labels, average=average).value == pytest.approx(
            skm.jaccard_score(y_true, y_pred, average=average, zero_division=1.0), abs=TOL
        )
    s_all = multilabel_summary(gold, labels)
    assert s_all.coverage == pytest.approx(len(labels) / len(gold))
    assert s_all.micro_f1 == multilabel_micro_f1(gold, labels).value
    assert s_all.hamming_loss == hamming_loss(gold, labels).value


def test_indicators_and_skips() -> None:
    gold = pd.Series([{"a"}, {"b"}, set()], index=["x", "y", "z"])
    labels = pd.Series([["a", "b"], None], index=["x", "y"])
    g, p = multilabel_indicators(gold, labels)
    assert list(g.index) == ["x"] and list(g.columns) == ["a", "b"]
    assert p.to_numpy().tolist() == [[True, True]]
    s = multilabel_summary(gold, labels)
    assert s.coverage == pytest.approx(1 / 3) and s.n_labelled == 1


def test_empty_sets_and_nothing_labelled() -> None:
    gold = pd.Series([frozenset(), frozenset()])
    assert jaccard(gold, gold).value == 1.0
    assert exact_match_ratio(gold, gold).value == 1.0
    assert hamming_loss(gold, gold).value == 0.0
    none = pd.Series([], dtype=object)
    s = multilabel_summary(pd.Series([{"a"}]), none)
    assert s.coverage == 0.0 and np.isnan(s.exact_match)


def test_strings_are_not_label_sets() -> None:
    with pytest.raises(TypeError, match=r"gold\['t1'\] must be a collection of classes"):
        hamming_loss(pd.Series(["cat"], index=["t1"]), pd.Series([{"cat"}], index=["t1"]))
    with pytest.raises(ValueError, match="average must be one of"):
        jaccard(pd.Series([{"a"}]), pd.Series([{"a"}]), average="weighted")  # type: ignore[arg-type]


label_set = st.frozensets(st.sampled_from(CLASSES), max_size=4)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(label_set, label_set), min_size=1, max_size=25))
def test_hypothesis_reference_ranges_perfect_and_unmodified(
    pairs: list[tuple[frozenset[str], frozenset[str]]],
) -> None:
    gold = pd.Series([g for g, _ in pairs])
    labels = pd.Series([p for _, p in pairs])
    before = labels.copy()
    s = multilabel_summary(gold, labels)
    pd.testing.assert_series_equal(labels, before)
    for value in (s.exact_match, s.hamming_loss, s.micro_f1, s.macro_f1, s.jaccard_samples):
        assert np.isnan(value) or 0.0 <= value <= 1.0
    perfect = multilabel_summary(gold, gold)
    assert perfect.exact_match == 1.0 and perfect.jaccard_samples == 1.0
    assert perfect.hamming_loss == 0.0
    if any(gold):
        assert perfect.micro_f1 == 1.0
    y_true, y_pred = _reference(gold, labels)
    # with one column scikit-learn reads the indicator matrix as a binary target
    if y_true.shape[1] >= 2:
        assert s.hamming_loss == pytest.approx(skm.hamming_loss(y_true, y_pred), abs=TOL)
        assert s.micro_f1 == pytest.approx(
            skm.f1_score(y_true, y_pred, average="micro", zero_division=0), abs=TOL
        )
        assert s.macro_f1 == pytest.approx(
            skm.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=TOL
        )


@pytest.mark.parametrize(
    "metric",
    ["coverage", "exact_match", "hamming_loss", "micro_f1", "macro_f1", "jaccard_samples"],
)
def test_statistic_on_all_items_equals_summary(metric: Any) -> None:
    gold, labels = _sets(3, 120, 0.1)
    stat = multilabel_statistic(gold, labels, metric=metric)
    expected = getattr(multilabel_summary(gold, labels), metric)
    assert stat(np.arange(len(gold))) == pytest.approx(expected, abs=TOL)
    # a resample with repeats equals the summary on the repeated rows
    idx = np.array([0, 0, 5, 7, 7, 7, 11])
    rows = [f"r{i}" for i in range(len(idx))]
    g2 = pd.Series(gold.to_numpy()[idx], index=rows)
    l2 = labels.reindex(gold.index).iloc[idx].set_axis(rows).dropna()
    assert stat(idx) == pytest.approx(getattr(multilabel_summary(g2, l2), metric), abs=TOL)
