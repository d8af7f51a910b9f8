"""The classification scorer against metrics.classification, sklearn and by hand."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, cohen_kappa_score, f1_score

from metrics.agreement import fleiss_kappa, krippendorff_alpha
from metrics.classification import classification_summary
from metrics.scoring import (
    NO_RESULTS,
    NOT_ENOUGH_RESULTS,
    ScoringOptions,
    UnknownLabelsError,
    score,
)
from metrics.scoring.classification import score as score_classification

CLASSES = ["bird", "cat", "dog"]


def _data(seed: int, n: int = 200, skip: float = 0.1) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.Index([f"t{i}" for i in range(n)])
    gold = pd.Series(rng.choice(CLASSES, n), index=index)
    noisy = pd.Series(rng.choice(CLASSES, n), index=index)
    labels = gold.where(rng.random(n) < 0.8, noisy)
    return gold, labels[rng.random(n) >= skip]


def test_summary_equals_the_metric_functions_and_sklearn() -> None:
    gold, labels = _data(0)
    s = score("classification", gold, labels)
    ref = classification_summary(gold, labels)
    for name in ("accuracy", "accuracy_all", "coverage", "balanced_accuracy", "macro_f1"):
        assert s.value(name) == pytest.approx(getattr(ref, name), abs=1e-12), name
    answered = labels.index
    y_true, y_pred = gold[answered], labels
    assert s.value("accuracy") == pytest.approx(accuracy_score(y_true, y_pred))
    assert s.value("cohen_kappa") == pytest.approx(cohen_kappa_score(y_true, y_pred))
    assert s.value("macro_f1") == pytest.approx(f1_score(y_true, y_pred, average="macro"))
    assert s.value("accuracy_all") == pytest.approx((labels == gold[answered]).sum() / len(gold))
    assert s.main_metric == "accuracy" and s.ranking_metric == "accuracy_all"
    assert s.n_items == len(gold) and s.n_answered == len(labels)
    assert s.items["score"].isna().sum() == len(gold) - len(labels)
    assert s.per_class.loc["cat", "f1"] == pytest.approx(ref.per_class.f1["cat"])
    assert s.confusion is not None and int(s.confusion.to_numpy().sum()) == len(labels)


def test_every_metric_has_an_interval_around_it_within_bounds() -> None:
    gold, labels = _data(1)
    s = score("classification", gold, labels)
    for name, result in s.summary.items():
        assert result.ci is not None, name
        assert result.ci.low <= result.value <= result.ci.high, name
        if name != "cohen_kappa":
            assert 0.0 <= result.ci.low and result.ci.high <= 1.0, name


def test_all_correct_interval_is_wilson_not_degenerate() -> None:
    gold = pd.Series(["cat"] * 100, index=range(100))
    s = score("classification", gold, gold)
    ci = s.summary["accuracy"].ci
    assert ci is not None and ci.high == 1.0 and ci.low == pytest.approx(0.963, abs=1e-3)


def test_same_seed_same_intervals_and_paired_resamples() -> None:
    gold, labels = _data(2)
    a = score("classification", gold, labels, options=ScoringOptions(seed=7))
    b = score("classification", gold, labels.copy(), options=ScoringOptions(seed=7))
    c = score("classification", gold, labels, options=ScoringOptions(seed=8))
    assert a.summary["macro_f1"].ci == b.summary["macro_f1"].ci
    assert a.summary["macro_f1"].ci != c.summary["macro_f1"].ci


def test_unknown_classes_are_refused_or_scored_wrong() -> None:
    gold = pd.Series(["cat", "dog", "cat"], index=["a", "b", "c"])
    labels = pd.Series(["cat", "dgo", "kat"], index=["a", "b", "c"])
    with pytest.raises(UnknownLabelsError) as err:
        score("classification", gold, labels)
    assert err.value.unknown == ("dgo", "kat") and err.value.known == ("cat", "dog")
    assert "'dgo'" in str(err.value) and "cat, dog" in str(err.value)
    s = score("classification", gold, labels, options=ScoringOptions(unknown_labels="wrong"))
    assert s.value("accuracy") == pytest.approx(1 / 3)
    assert [w.code for w in s.warnings] == ["vocabulary_mismatch"]
    # integers against names: every label is unknown
    with pytest.raises(UnknownLabelsError):
        score("classification", gold, pd.Series([0, 1, 0], index=["a", "b", "c"]))
    # a class known to the ontology but absent from gold is allowed
    opts = ScoringOptions(classes=("bird", "cat", "dog"))
    relabelled = labels.replace({"kat": "bird", "dgo": "bird"})
    assert score("classification", gold, relabelled, options=opts).warnings == ()


def test_crowd_majority_vote_counts_ties_and_scores_annotators() -> None:
    gold = pd.Series(["cat", "dog", "cat"], index=["a", "b", "c"])
    answers = pd.DataFrame(
        {
            "task": ["a", "a", "a", "b", "b", "c", "c"],
            "worker": ["w1", "w2", "w3", "w1", "w2", "w1", "w3"],
            "label": ["cat", "cat", "dog", "cat", "dog", "cat", "cat"],
        }
    )
    s = score("classification", gold, answers, options=ScoringOptions(min_coverage=0.5))
    assert s.n_ties == 1 and bool(s.items.loc["b", "tie"])
    assert s.value("accuracy") == pytest.approx(2 / 3)  # tie on b: no consensus, wrong
    assert s.items["n_answers"].tolist() == [3, 2, 2]
    assert s.per_class.loc["dog", "n_ties"] == 1
    assert "<no consensus>" not in s.per_class.index  # a tie is no class
    assert any(w.code == "crowd_ties" and "1 of 3" in w.message for w in s.warnings)
    ann = s.per_annotator
    assert ann is not None and ann.loc["w1", "n_items"] == 3
    assert ann.loc["w1", "agreement_with_gold"] == pytest.approx(2 / 3)
    assert ann.loc["w3", "agreement_with_gold"] == pytest.approx(1 / 2)


def test_crowd_agreement_is_bakeoff_agreements_and_only_for_a_crowd() -> None:
    gold = pd.Series(["cat", "dog", "cat"], index=["a", "b", "c"])
    answers = pd.DataFrame(
        {
            "task": ["a", "a", "a", "b", "b", "c", "c"],
            "worker": ["w1", "w2", "w3", "w1", "w2", "w1", "w3"],
            "label": ["cat", "cat", "dog", "cat", "dog", "cat", "cat"],
        }
    )
    uneven = score("classification", gold, answers).crowd_agreement
    assert uneven is not None and uneven.fleiss_kappa is None
    assert uneven.fleiss_kappa_note is not None and "2 to 3 answers" in uneven.fleiss_kappa_note
    # reliability data: rows w1, w2, w3; columns a, b, c; cat 0, dog 1
    data = np.array([[0, 0, 0], [0, 1, np.nan], [1, np.nan, 0]])
    ref = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert uneven.krippendorff_alpha == pytest.approx(ref, abs=1e-12)
    assert (uneven.n_items, uneven.min_answers, uneven.max_answers) == (3, 2, 3)
    even = answers[answers["task"] != "a"]  # two answers on every item
    agreement = score("classification", gold, even).crowd_agreement
    assert agreement is not None and agreement.fleiss_kappa_note is None
    assert agreement.fleiss_kappa == fleiss_kappa(even).value
    assert agreement.krippendorff_alpha == krippendorff_alpha(even).value
    # one answer per item, as a Series or as a table: nothing to agree on
    assert score("classification", gold, gold).crowd_agreement is None
    single = answers.drop_duplicates("task")
    assert score("classification", gold, single).crowd_agreement is None


def test_no_labels_and_low_coverage_mean_not_enough_results() -> None:
    gold, labels = _data(3, n=300)
    empty = score("classification", gold, labels[:0])
    assert empty.status == NO_RESULTS and not empty.enough_results
    assert [w.code for w in empty.warnings] == ["no_labels"]
    assert empty.value("accuracy_all") == 0.0 and np.isnan(empty.value("accuracy"))
    two = score("classification", gold, gold[:2])
    assert two.value("accuracy") == 1.0 and two.status == NOT_ENOUGH_RESULTS
    assert any(w.code == "low_coverage" for w in two.warnings)
    floor = score("classification", gold, gold[:2], options=ScoringOptions(min_coverage=0.0))
    assert floor.enough_results


def test_slices_use_all_items_and_stay_within_bounds() -> None:
    gold, labels = _data(4, n=120)
    meta = pd.DataFrame({"light": ["day", "dim", "night"] * 40}, index=gold.index)
    s = score_classification(gold, labels, metadata=meta)
    assert s.per_slice is not None and len(s.per_slice) == 3
    for row in s.per_slice.to_dict("records"):
        inside = s.items["score"].fillna(0.0)[meta["light"] == row["value"]]
        assert row["score"] == pytest.approx(inside.mean())
        assert 0.0 <= row["low"] <= row["score"] <= row["high"] <= 1.0


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.sampled_from(CLASSES), min_size=1, max_size=40),
    st.lists(st.sampled_from([*CLASSES, None]), min_size=40, max_size=40),
    st.randoms(use_true_random=False),
)
def test_invariants(gold_values: list[str], label_values: list[str | None], rnd: object) -> None:
    n = len(gold_values)
    gold = pd.Series(gold_values, index=[f"t{i}" for i in range(n)])
    labels = pd.Series(label_values[:n], index=gold.index, dtype=object)
    before = labels.copy()
    opts = ScoringOptions(n_resamples=50, classes=tuple(CLASSES))
    s = score("classification", gold, labels, options=opts)
    pd.testing.assert_series_equal(labels, before)
    for name in ("accuracy", "accuracy_all", "coverage"):
        value = s.value(name)
        assert np.isnan(value) or 0.0 <= value <= 1.0
    assert s.value("accuracy_all") <= s.value("coverage") + 1e-12
    # renaming tasks and permuting their order changes nothing
    order = list(range(n))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    renamed = {t: f"x{t}" for t in gold.index}
    g2 = gold.iloc[order].rename(index=renamed)
    l2 = labels.iloc[order].rename(index=renamed)
    s2 = score("classification", g2, l2, options=opts)
    for name in ("accuracy", "accuracy_all", "coverage", "macro_f1", "cohen_kappa"):
        assert s2.value(name) == pytest.approx(s.value(name), nan_ok=True), name


def test_confusion_table_bootstrap_equals_the_per_resample_statistic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fast path (one bincount per chunk) and metrics.statistics' statistic agree."""
    import metrics.scoring.classification as module

    gold, labels = _data(5, n=250)
    fast = score("classification", gold, labels)
    monkeypatch.setattr(module, "_MAX_CELLS", 0)  # force classification_statistic
    slow = score("classification", gold, labels)
    for name in ("balanced_accuracy", "macro_f1", "cohen_kappa"):
        assert fast.summary[name].ci == slow.summary[name].ci, name
