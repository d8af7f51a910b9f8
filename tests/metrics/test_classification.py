"""Single-label classification metrics against scikit-learn, plus invariants."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from metrics.classification import (
    KappaWeights,
    _summaries_from_counts,
    _summary_from_counts,
    accuracy,
    accuracy_all,
    balanced_accuracy,
    classification_summary,
    cohen_kappa,
    confusion_matrix,
    confusion_matrix_codes,
    coverage,
    encode_labels,
    kappa_from_confusion,
    macro_f1,
    micro_f1,
    precision_recall_f1,
)

TOL = 1e-9


def _pair(seed: int, n: int, k: int, skip: float) -> tuple[pd.Series[Any], pd.Series[Any]]:
    rng = np.random.default_rng(seed)
    tasks = [f"item-{i}" for i in range(n)]
    gold = pd.Series(rng.integers(0, k, n), index=tasks)
    noisy = np.where(rng.random(n) < 0.7, gold.to_numpy(), rng.integers(0, k, n))
    labels = pd.Series(noisy, index=tasks)
    keep = rng.random(n) >= skip
    return gold, labels[keep].sample(frac=1.0, random_state=seed)


CASES = [
    pytest.param(0, 200, 2, 0.0, id="binary-full"),
    pytest.param(1, 300, 5, 0.2, id="five-classes-skips"),
    pytest.param(2, 50, 12, 0.5, id="many-classes-half-skipped"),
    pytest.param(3, 500, 3, 0.05, id="three-classes"),
]


def _labelled(gold: pd.Series[Any], labels: pd.Series[Any]) -> tuple[Any, Any]:
    common = labels.dropna().index
    return gold.loc[common].to_numpy(), labels.loc[common].to_numpy()


@pytest.mark.parametrize(("seed", "n", "k", "skip"), CASES)
def test_matches_sklearn(seed: int, n: int, k: int, skip: float) -> None:
    gold, labels = _pair(seed, n, k, skip)
    y_true, y_pred = _labelled(gold, labels)
    assert accuracy(gold, labels).value == pytest.approx(
        skm.accuracy_score(y_true, y_pred), abs=TOL
    )
    assert balanced_accuracy(gold, labels).value == pytest.approx(
        skm.balanced_accuracy_score(y_true, y_pred), abs=TOL
    )
    assert macro_f1(gold, labels).value == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=TOL
    )
    assert micro_f1(gold, labels).value == pytest.approx(
        skm.f1_score(y_true, y_pred, average="micro", zero_division=0), abs=TOL
    )
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, zero_division=0)
    scores = precision_recall_f1(gold, labels)
    np.testing.assert_allclose(scores.precision.to_numpy(), p, atol=TOL)
    np.testing.assert_allclose(scores.recall.to_numpy(), r, atol=TOL)
    np.testing.assert_allclose(scores.f1.to_numpy(), f, atol=TOL)
    np.testing.assert_array_equal(scores.support.to_numpy(), s)
    weights: list[tuple[KappaWeights, str | None]] = [
        ("none", None),
        ("linear", "linear"),
        ("quadratic", "quadratic"),
    ]
    for ours, theirs in weights:
        assert cohen_kappa(gold, labels, weights=ours).value == pytest.approx(
            skm.cohen_kappa_score(y_true, y_pred, weights=theirs), abs=TOL
        )
    cm = confusion_matrix(gold, labels)
    np.testing.assert_array_equal(
        cm.counts, skm.confusion_matrix(y_true, y_pred, labels=cm.classes)
    )


def test_skipped_items_count_against_accuracy_all_only() -> None:
    gold = pd.Series(["a", "b", "a", "b"], index=["t1", "t2", "t3", "t4"])
    labels = pd.Series(["a", "b", None], index=["t1", "t2", "t3"])
    assert accuracy(gold, labels).value == 1.0
    assert accuracy_all(gold, labels).value == 0.5
    assert coverage(gold, labels).value == 0.5
    summary = classification_summary(gold, labels)
    assert (summary.accuracy, summary.accuracy_all, summary.coverage) == (1.0, 0.5, 0.5)
    assert summary.n_labelled == 2 and summary.n_gold == 4


def test_summary_agrees_with_individual_functions() -> None:
    gold, labels = _pair(7, 400, 4, 0.1)
    s = classification_summary(gold, labels, weights="quadratic")
    assert s.accuracy == accuracy(gold, labels).value
    assert s.balanced_accuracy == balanced_accuracy(gold, labels).value
    assert s.macro_f1 == macro_f1(gold, labels).value
    assert s.micro_f1 == micro_f1(gold, labels).value
    assert s.cohen_kappa == cohen_kappa(gold, labels, weights="quadratic").value
    assert s.coverage == coverage(gold, labels).value


def test_string_labels_and_task_order_do_not_matter() -> None:
    gold, labels = _pair(4, 300, 3, 0.1)
    names = {0: "cat", 1: "dog", 2: "emu"}
    g2 = gold.map(names).sample(frac=1.0, random_state=1)
    l2 = labels.map(names)
    assert accuracy(g2, l2).value == pytest.approx(accuracy(gold, labels).value, abs=TOL)
    assert cohen_kappa(g2, l2).value == pytest.approx(cohen_kappa(gold, labels).value, abs=TOL)


def test_integer_fast_path_equals_generic_path() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(100, 110, 10_000)
    p = np.where(rng.random(10_000) < 0.6, y, rng.integers(100, 110, 10_000))
    fast = encode_labels(pd.Series(y), pd.Series(p))
    slow = encode_labels(pd.Series(y.astype(str)), pd.Series(p.astype(str)))
    assert fast.classes.tolist() == [int(c) for c in slow.classes]
    np.testing.assert_array_equal(fast.gold, slow.gold)
    np.testing.assert_array_equal(fast.pred, slow.pred)


def test_confusion_matrix_codes_ignores_skipped() -> None:
    cm = confusion_matrix_codes(np.array([0, 1, 1, 0]), np.array([0, -1, 1, 1]), 2)
    assert cm.tolist() == [[1, 1], [0, 1]]


def test_one_class_kappa_is_nan_and_accuracy_is_one() -> None:
    gold = pd.Series(["x"] * 5)
    assert np.isnan(cohen_kappa(gold, gold).value)
    assert accuracy(gold, gold).value == 1.0
    assert np.isnan(kappa_from_confusion(np.zeros((2, 2), dtype=np.int64)))


def test_nothing_labelled_gives_nan_but_coverage_zero() -> None:
    gold = pd.Series([1, 2], index=["a", "b"])
    empty = pd.Series([], dtype="float64")
    assert np.isnan(accuracy(gold, empty).value)
    assert coverage(gold, empty).value == 0.0
    assert accuracy_all(gold, empty).value == 0.0
    assert np.isnan(classification_summary(gold, empty).cohen_kappa)


@pytest.mark.parametrize(
    ("gold", "labels", "error", "match"),
    [
        pytest.param(
            [1, 2], pd.Series([1, 2]), TypeError, "gold must be a pandas Series", id="list"
        ),
        pytest.param(
            pd.Series([1, 2], index=["a", "a"]),
            pd.Series([1]),
            ValueError,
            "gold has duplicate task id",
            id="dup-gold",
        ),
        pytest.param(
            pd.Series([1, 2], index=["a", "b"]),
            pd.Series([1], index=["zz"]),
            ValueError,
            "labels has task\\(s\\) not in gold: 'zz'",
            id="unknown-task",
        ),
        pytest.param(
            pd.Series([1, None], index=["a", "b"]),
            pd.Series([1], index=["a"]),
            ValueError,
            "gold has missing labels for task\\(s\\) 'b'",
            id="gold-nan",
        ),
        pytest.param(
            pd.Series([], dtype="int64"),
            pd.Series([], dtype="int64"),
            ValueError,
            "empty",
            id="empty",
        ),
    ],
)
def test_bad_input_is_named(gold: Any, labels: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        accuracy(gold, labels)


def test_bad_weights_option() -> None:
    s = pd.Series([1, 2])
    with pytest.raises(ValueError, match="weights must be one of"):
        cohen_kappa(s, s, weights="cubic")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- hypothesis

label_lists = st.integers(min_value=1, max_value=40).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 4), min_size=n, max_size=n),
        st.lists(st.one_of(st.none(), st.integers(0, 4)), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(label_lists)
def test_hypothesis_ranges_reference_and_inputs_unmodified(
    data: tuple[list[int], list[int | None]],
) -> None:
    gold_values, label_values = data
    gold = pd.Series(gold_values, index=[f"t{i}" for i in range(len(gold_values))])
    labels = pd.Series(label_values, index=gold.index, dtype="float64")
    gold_copy, labels_copy = gold.copy(), labels.copy()
    s = classification_summary(gold, labels)
    pd.testing.assert_series_equal(gold, gold_copy)
    pd.testing.assert_series_equal(labels, labels_copy)
    assert 0.0 <= s.coverage <= 1.0
    assert 0.0 <= s.accuracy_all <= 1.0
    mask = labels.notna().to_numpy()
    if not mask.any():
        assert np.isnan(s.accuracy)
        return
    y_true = gold.to_numpy()[mask]
    y_pred = labels.to_numpy()[mask].astype(int)
    assert 0.0 <= s.accuracy <= 1.0
    assert s.accuracy == pytest.approx(skm.accuracy_score(y_true, y_pred), abs=TOL)
    assert s.macro_f1 == pytest.approx(
        skm.f1_score(y_true, y_pred, average="macro", zero_division=0), abs=TOL
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = skm.cohen_kappa_score(y_true, y_pred)
    if np.isnan(ref):
        assert np.isnan(s.cohen_kappa)
    else:
        assert s.cohen_kappa == pytest.approx(ref, abs=TOL)
        assert -1.0 - TOL <= s.cohen_kappa <= 1.0 + TOL


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c"]), min_size=2, max_size=30))
def test_hypothesis_perfect_agreement(values: list[str]) -> None:
    gold = pd.Series(values)
    s = classification_summary(gold, gold.copy())
    assert s.accuracy == 1.0 and s.macro_f1 == 1.0 and s.balanced_accuracy == 1.0
    if len(set(values)) > 1:
        assert s.cohen_kappa == pytest.approx(1.0)
    else:
        assert np.isnan(s.cohen_kappa)


@settings(max_examples=40, deadline=None)
@given(label_lists, st.randoms(use_true_random=False))
def test_hypothesis_rename_and_permute_invariance(
    data: tuple[list[int], list[int | None]], rnd: Any
) -> None:
    gold_values, label_values = data
    gold = pd.Series(gold_values, index=[f"t{i}" for i in range(len(gold_values))])
    labels = pd.Series(label_values, index=gold.index, dtype="float64").dropna().astype(int)
    # rename classes by an order-preserving map (kappa weights depend on rank only)
    renamed_gold = gold.map(lambda v: f"class-{v}")
    renamed_labels = labels.map(lambda v: f"class-{v}")
    order = list(gold.index)
    rnd.shuffle(order)
    a = classification_summary(gold, labels, weights="linear")
    b = classification_summary(renamed_gold.loc[order], renamed_labels, weights="linear")
    for field in ("accuracy", "accuracy_all", "coverage", "balanced_accuracy", "macro_f1"):
        x, y = getattr(a, field), getattr(b, field)
        assert (np.isnan(x) and np.isnan(y)) or x == pytest.approx(y, abs=TOL)
    assert (np.isnan(a.cohen_kappa) and np.isnan(b.cohen_kappa)) or a.cohen_kappa == pytest.approx(
        b.cohen_kappa, abs=TOL
    )


@pytest.mark.parametrize(
    "offset",
    [pytest.param(0, id="from-zero"), pytest.param(-7, id="negative"), pytest.param(40, id="gap")],
)
def test_direct_integer_path_matches_sklearn(offset: int) -> None:
    rng = np.random.default_rng(offset + 100)
    classes = np.array([0, 2, 3, 7]) + offset  # classes 1, 4, 5, 6 never occur
    y = rng.choice(classes, 2_000)
    p = np.where(rng.random(2_000) < 0.6, y, rng.choice(classes, 2_000))
    gold, labels = pd.Series(y), pd.Series(p)
    cm = confusion_matrix(gold, labels)
    assert cm.classes.tolist() == classes.tolist()
    np.testing.assert_array_equal(cm.counts, skm.confusion_matrix(y, p))
    for w, ref in (("none", None), ("linear", "linear"), ("quadratic", "quadratic")):
        assert cohen_kappa(gold, labels, weights=w).value == pytest.approx(  # type: ignore[arg-type]
            skm.cohen_kappa_score(y, p, weights=ref), abs=TOL
        )
    assert balanced_accuracy(gold, labels).value == pytest.approx(
        skm.balanced_accuracy_score(y, p), abs=TOL
    )


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(1, 12),
    per_item=st.integers(0, 40),
    absent=st.floats(0.0, 0.6),
    weights=st.sampled_from(["none", "linear", "quadratic"]),
)
def test_summaries_of_many_tables_equal_one_at_a_time(
    seed: int, k: int, per_item: int, absent: float, weights: Any
) -> None:
    """The bootstrap's stacked tables give the one-table numbers bit for bit (NaN alike)."""
    rng = np.random.default_rng(seed)
    tables = rng.poisson(per_item / max(k, 1), size=(30, k, k))
    tables[rng.random((30, k)) < absent] = 0  # classes without gold items in some tables
    tables[0] = 0  # an empty table
    tables[1] = np.diag(rng.integers(1, 5, size=k))  # every answer right
    n_gold = int(tables.reshape(30, -1).sum(axis=1).max()) + 3
    many = _summaries_from_counts(tables, n_gold, weights=weights)
    for i in range(30):
        one = np.array(_summary_from_counts(tables[i], n_gold, weights=weights))
        assert np.array_equal(many[i], one, equal_nan=True), (i, many[i], one)
