"""Inter-annotator agreement against statsmodels, krippendorff and scikit-learn."""

from __future__ import annotations

import warnings
from typing import Any, cast

import krippendorff
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from metrics.aggregation import encode_answers
from metrics.agreement import (
    Level,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    worker_accuracy,
    worker_consensus_agreement,
)
from metrics.classification import KappaWeights, confusion_matrix_codes, kappa_from_confusion

TOL = 1e-9
LEVELS: list[Level] = ["nominal", "ordinal", "interval", "ratio"]


def _long(wide: np.ndarray[Any, Any]) -> pd.DataFrame:
    """(raters, units) reliability matrix with NaN for missing -> long answers table."""
    raters, units = wide.shape
    rows = [
        (f"u{u}", f"w{r}", wide[r, u])
        for r in range(raters)
        for u in range(units)
        if not np.isnan(wide[r, u])
    ]
    return pd.DataFrame(rows, columns=["task", "worker", "label"])


def _reliability(seed: int, raters: int, units: int, k: int, missing: float) -> Any:
    rng = np.random.default_rng(seed)
    truth = rng.integers(1, k + 1, units)
    data = np.where(
        rng.random((raters, units)) < 0.6, truth, rng.integers(1, k + 1, (raters, units))
    )
    data = data.astype(np.float64)
    data[rng.random((raters, units)) < missing] = np.nan
    return data


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize(
    ("seed", "raters", "units", "k", "missing"),
    [
        pytest.param(0, 3, 40, 4, 0.0, id="complete"),
        pytest.param(1, 5, 60, 5, 0.3, id="missing"),
        pytest.param(2, 2, 100, 3, 0.1, id="two-raters"),
        pytest.param(3, 8, 25, 7, 0.5, id="sparse"),
    ],
)
def test_krippendorff_alpha_matches_package(
    level: Level, seed: int, raters: int, units: int, k: int, missing: float
) -> None:
    data = _reliability(seed, raters, units, k, missing)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(_long(data), level=level).value == pytest.approx(expected, abs=TOL)


def test_krippendorff_alpha_with_non_integer_values() -> None:
    data = np.array(
        [[1.5, 2.0, np.nan, 4.25, 7.0], [1.5, 3.0, 2.0, 4.0, np.nan], [2.0, 2.0, 2.5, 4.25, 6.0]]
    )
    for level in LEVELS:
        expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        got = krippendorff_alpha(_long(data), level=level).value
        assert got == pytest.approx(expected, abs=TOL), level


def test_krippendorff_published_example() -> None:
    """Krippendorff (2011) 'Computing Krippendorff's alpha-reliability', section C."""
    nan = np.nan
    data = np.array(
        [
            [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
            [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
            [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
            [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
        ]
    )
    answers = _long(data)
    assert krippendorff_alpha(answers, level="nominal").value == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(answers, level="interval").value == pytest.approx(0.849, abs=5e-4)


@pytest.mark.parametrize(
    ("seed", "raters", "units", "k"),
    [pytest.param(0, 3, 50, 3, id="3x50"), pytest.param(1, 10, 200, 5, id="10x200")],
)
def test_fleiss_kappa_matches_statsmodels(seed: int, raters: int, units: int, k: int) -> None:
    data = _reliability(seed, raters, units, k, 0.0)
    table, _ = aggregate_raters(data.T.astype(int))
    expected = sm_fleiss_kappa(table, method="fleiss")
    assert fleiss_kappa(_long(data)).value == pytest.approx(expected, abs=TOL)


def test_fleiss_kappa_known_value() -> None:
    """Fleiss (1971) table of 10 subjects x 14 raters x 5 categories (Wikipedia example)."""
    table = np.array(
        [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ]
    )
    rows = []
    for i, counts in enumerate(table):
        labels = np.repeat(np.arange(5), counts)
        rows += [(i, f"r{j}", int(lab)) for j, lab in enumerate(labels)]
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    assert fleiss_kappa(answers).value == pytest.approx(0.20993, abs=1e-5)
    assert fleiss_kappa(answers).value == pytest.approx(sm_fleiss_kappa(table), abs=TOL)


def test_fleiss_kappa_unequal_raters() -> None:
    answers = pd.DataFrame(
        {
            "task": [1, 1, 2, 2, 2, 3, 3, 3, 3, 4],
            "worker": ["a", "b", "a", "b", "c", "a", "b", "c", "d", "a"],
            "label": ["x", "x", "y", "y", "x", "y", "y", "y", "x", "x"],
        }
    )
    r = fleiss_kappa(answers)
    # by hand: P_i = 1, 1/3, 1/2 (task 4 has one answer and is left out)
    p_bar = (1 + 1 / 3 + 1 / 2) / 3
    p_x, p_y = 4 / 9, 5 / 9
    p_e = p_x**2 + p_y**2
    assert r.value == pytest.approx((p_bar - p_e) / (1 - p_e), abs=TOL)
    assert r.params["n_tasks"] == 3
    assert r.per_item is not None and list(r.per_item.index) == [1, 2, 3]


def test_pairwise_cohen_kappa_matches_sklearn() -> None:
    data = _reliability(4, 4, 80, 3, 0.2)
    answers = _long(data)
    r = pairwise_cohen_kappa(answers, weights="linear")
    assert r.per_item is not None
    for pair, value in r.per_item.items():
        a, b = cast(tuple[str, str], pair)
        ia, ib = int(a[1:]), int(b[1:])
        both = ~np.isnan(data[ia]) & ~np.isnan(data[ib])
        ref = cohen_kappa_score(data[ia][both], data[ib][both], weights="linear")
        assert value == pytest.approx(ref, abs=TOL)
    shared = [
        int((~np.isnan(data[int(a[1:])]) & ~np.isnan(data[int(b[1:])])).sum())
        for a, b in cast(list[tuple[str, str]], r.per_item.index.tolist())
    ]
    assert r.params["pair_weights"] == "shared_items"
    assert r.value == pytest.approx(float(np.average(r.per_item, weights=shared)), abs=TOL)
    equal = pairwise_cohen_kappa(answers, weights="linear", pair_weights="equal")
    assert equal.value == pytest.approx(float(r.per_item.mean()), abs=TOL)


# --------------------------------------------------------------------------- pairwise kappa


def _loop_pairwise_kappa(
    answers: pd.DataFrame, weights: KappaWeights, min_overlap: int
) -> tuple[pd.Series[float], float]:
    """The earlier definition: a loop over worker pairs, kappa from each confusion matrix."""
    enc = encode_answers(answers)
    n_t, n_w, n_k = len(enc.tasks), len(enc.workers), len(enc.classes)
    wide = np.full((n_t, n_w), -1, dtype=np.int64)
    wide[enc.task, enc.worker] = enc.label
    answered = wide >= 0
    pairs: list[tuple[object, object]] = []
    kappas: list[float] = []
    for a in range(n_w):
        for b in range(a + 1, n_w):
            both = answered[:, a] & answered[:, b]
            if int(both.sum()) < min_overlap:
                continue
            cm = confusion_matrix_codes(wide[both, a], wide[both, b], n_k)
            pairs.append((enc.workers[a], enc.workers[b]))
            kappas.append(kappa_from_confusion(cm, weights=weights))
    index = pd.MultiIndex.from_tuples(pairs, names=["worker_a", "worker_b"])
    per_pair = pd.Series(np.asarray(kappas, dtype=np.float64), index=index)
    defined = per_pair.dropna()
    return per_pair, float(defined.mean()) if len(defined) else float("nan")


crowd = st.tuples(
    st.integers(2, 9),  # workers
    st.integers(1, 25),  # tasks
    st.integers(1, 6),  # classes
    st.floats(0.2, 1.0),  # chance a worker answers a task
    st.integers(0, 2**31 - 1),
)


def _crowd(params: tuple[int, int, int, float, int]) -> tuple[pd.DataFrame, Any]:
    workers, tasks, k, density, seed = params
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, tasks)
    wide = np.where(rng.random((workers, tasks)) < 0.6, truth, rng.integers(0, k, (workers, tasks)))
    wide = wide.astype(np.float64)
    wide[rng.random((workers, tasks)) >= density] = np.nan
    return _long(wide), wide


@settings(max_examples=60, deadline=None)
@given(crowd, st.sampled_from(["none", "linear", "quadratic"]), st.integers(1, 4))
def test_hypothesis_pairwise_kappa_equals_loop_and_sklearn(
    params: tuple[int, int, int, float, int], weights: KappaWeights, min_overlap: int
) -> None:
    answers, wide = _crowd(params)
    if answers.empty:
        return
    before = answers.copy()
    got = pairwise_cohen_kappa(answers, weights=weights, min_overlap=min_overlap)
    pd.testing.assert_frame_equal(answers, before)
    ref, ref_mean = _loop_pairwise_kappa(answers, weights, min_overlap)
    assert got.per_item is not None
    assert got.per_item.index.tolist() == ref.index.tolist()
    np.testing.assert_allclose(got.per_item.to_numpy(), ref.to_numpy(), atol=TOL, rtol=0)
    shared: list[int] = []
    pairs = cast(list[tuple[str, str]], got.per_item.index.tolist())
    for (a, b), value in zip(pairs, got.per_item.to_numpy(), strict=True):
        ia, ib = int(a[1:]), int(b[1:])
        both = ~np.isnan(wide[ia]) & ~np.isnan(wide[ib])
        shared.append(int(both.sum()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # sklearn warns on one class / undefined kappa
            sk = cohen_kappa_score(wide[ia][both], wide[ib][both], weights=_SK[weights])
        assert (np.isnan(value) and np.isnan(sk)) or value == pytest.approx(sk, abs=TOL)
    defined = ~np.isnan(got.per_item.to_numpy())
    equal = pairwise_cohen_kappa(
        answers, weights=weights, min_overlap=min_overlap, pair_weights="equal"
    )
    if not defined.any():
        assert np.isnan(got.value) and np.isnan(equal.value) and np.isnan(ref_mean)
        return
    assert equal.value == pytest.approx(ref_mean, abs=TOL)
    w = np.asarray(shared, dtype=np.float64)[defined]
    assert got.value == pytest.approx(
        float(np.average(got.per_item.to_numpy()[defined], weights=w)), abs=TOL
    )
    assert got.params["shared_items"] == int(w.sum())
    assert -1.0 - TOL <= got.value <= 1.0 + TOL
    # shuffling rows and renaming tasks, workers and (nominal) classes changes nothing
    if weights == "none":
        moved = answers.sample(frac=1.0, random_state=params[4] % 1000).assign(
            task=lambda d: "T" + d["task"], label=lambda d: -d["label"]
        )
        again = pairwise_cohen_kappa(moved, min_overlap=min_overlap)
        assert again.per_item is not None
        aligned = again.per_item.to_dict()
        for (a, b), value in zip(pairs, got.per_item.to_numpy(), strict=True):
            other = aligned.get((a, b), aligned.get((b, a)))
            assert other is not None
            assert (np.isnan(value) and np.isnan(other)) or other == pytest.approx(value, abs=TOL)
        assert (np.isnan(got.value) and np.isnan(again.value)) or again.value == pytest.approx(
            got.value, abs=TOL
        )


_SK: dict[KappaWeights, str | None] = {"none": None, "linear": "linear", "quadratic": "quadratic"}


@pytest.mark.parametrize("weights", ["none", "linear", "quadratic"])
def test_pairwise_kappa_sparse_paths_match_loop(
    weights: KappaWeights, monkeypatch: pytest.MonkeyPatch
) -> None:
    import metrics.agreement as agreement_module

    answers, _ = _crowd((7, 30, 5, 0.5, 123))
    ref, _ = _loop_pairwise_kappa(answers, weights, 1)
    monkeypatch.setattr(agreement_module, "_DENSE_LIMIT", 0)
    monkeypatch.setattr(agreement_module, "_DENSE_ROWS", 0)
    got = pairwise_cohen_kappa(answers, weights=weights).per_item
    assert got is not None
    assert got.index.tolist() == ref.index.tolist()
    np.testing.assert_allclose(got.to_numpy(), ref.to_numpy(), atol=TOL, rtol=0)


def test_pairwise_kappa_weights_pairs_by_shared_items() -> None:
    # a-b agree perfectly on 4 tasks (kappa 1); a-c and b-c meet on one task each
    answers = pd.DataFrame(
        {
            "task": [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6],
            "worker": ["a", "b"] * 4 + ["a", "c", "b", "c"],
            "label": ["x", "x", "y", "y", "x", "x", "y", "y", "x", "y", "y", "x"],
        }
    )
    r = pairwise_cohen_kappa(answers)
    assert r.per_item is not None
    assert r.per_item.to_dict() == {("a", "b"): 1.0, ("a", "c"): 0.0, ("b", "c"): 0.0}
    assert r.value == pytest.approx((4 * 1.0 + 1 * 0.0 + 1 * 0.0) / 6)
    assert pairwise_cohen_kappa(answers, pair_weights="equal").value == pytest.approx(1 / 3)
    assert r.params["n_pairs"] == 3 and r.params["shared_items"] == 6
    with pytest.raises(ValueError, match="pair_weights must be one of"):
        pairwise_cohen_kappa(answers, pair_weights="pairs")  # type: ignore[arg-type]


def test_worker_consensus_and_gold() -> None:
    answers = pd.DataFrame(
        {
            "task": [1, 1, 1, 2, 2, 2, 3, 3],
            "worker": ["a", "b", "c", "a", "b", "c", "a", "b"],
            "label": ["x", "x", "y", "y", "y", "x", "x", "y"],
        }
    )
    cons = worker_consensus_agreement(answers)
    assert cons.per_item is not None
    # task 1: a, b agree (others tie x/y -> smallest "x"), c does not;
    # task 2: a, b see others tie x/y -> "x", disagree; c sees {y, y}, disagrees;
    # task 3: a's others = {y}, b's others = {x}: both disagree
    assert cons.per_item.to_dict() == {"a": 1 / 3, "b": 1 / 3, "c": 0.0}
    assert cons.value == pytest.approx(2 / 8)
    gold = pd.Series({1: "x", 2: "y", 3: "y"})
    acc = worker_accuracy(answers, gold)
    assert acc.per_item is not None
    assert acc.per_item.to_dict() == {"a": 2 / 3, "b": 1.0, "c": 0.0}
    assert acc.value == pytest.approx(5 / 8)


def test_undefined_cases_are_nan() -> None:
    same = pd.DataFrame({"task": [1, 1, 2, 2], "worker": ["a", "b"] * 2, "label": ["x"] * 4})
    assert np.isnan(fleiss_kappa(same).value)
    assert np.isnan(krippendorff_alpha(same).value)
    lonely = pd.DataFrame({"task": [1, 2], "worker": ["a", "b"], "label": ["x", "y"]})
    assert np.isnan(krippendorff_alpha(lonely).value)
    assert np.isnan(fleiss_kappa(lonely).value)


@pytest.mark.parametrize(
    ("answers", "error", "match"),
    [
        pytest.param([1, 2], TypeError, "must be a pandas DataFrame", id="not-frame"),
        pytest.param(
            pd.DataFrame({"task": [1], "label": [1]}), ValueError, "missing column", id="no-worker"
        ),
        pytest.param(
            pd.DataFrame({"task": [1, 1], "worker": ["a", "a"], "label": [1, 2]}),
            ValueError,
            r"more than one answer for the same \(task, worker\) pair: \(1, 'a'\)",
            id="duplicate",
        ),
        pytest.param(
            pd.DataFrame({"task": [], "worker": [], "label": []}),
            ValueError,
            "no labelled rows",
            id="empty",
        ),
    ],
)
def test_bad_answers(answers: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        fleiss_kappa(answers)
    with pytest.raises(error, match=match):
        krippendorff_alpha(answers)


def test_interval_needs_numbers() -> None:
    answers = pd.DataFrame({"task": [1, 1], "worker": ["a", "b"], "label": ["lo", "hi"]})
    with pytest.raises(TypeError, match="needs numeric labels"):
        krippendorff_alpha(answers, level="interval")


# --------------------------------------------------------------------------- hypothesis

reliability = st.tuples(
    st.integers(2, 5), st.integers(2, 12), st.integers(0, 2**31 - 1), st.floats(0.0, 0.5)
)


@settings(max_examples=50, deadline=None)
@given(reliability, st.sampled_from(LEVELS))
def test_hypothesis_alpha_reference_range_and_invariance(
    params: tuple[int, int, int, float], level: Level
) -> None:
    raters, units, seed, missing = params
    data = _reliability(seed, raters, units, 4, missing)
    answers = _long(data)
    before = answers.copy()
    values = data[~np.isnan(data)]
    pairable = (~np.isnan(data)).sum(axis=0) >= 2
    if len(np.unique(values)) < 2 or not pairable.any():
        return
    ours = krippendorff_alpha(answers, level=level).value
    pd.testing.assert_frame_equal(answers, before)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the package divides 0 by 0
        ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    if np.isnan(ref):
        assert np.isnan(ours)
        return
    assert ours == pytest.approx(ref, abs=TOL)
    assert ours <= 1.0 + TOL
    # renaming tasks/workers and shuffling rows changes nothing
    shuffled = answers.sample(frac=1.0, random_state=seed % 1000).assign(
        task=lambda d: "T" + d["task"], worker=lambda d: d["worker"] + "!"
    )
    assert krippendorff_alpha(shuffled, level=level).value == pytest.approx(ours, abs=TOL)


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 15), st.integers(0, 2**31 - 1))
def test_hypothesis_perfect_agreement_is_one(raters: int, units: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, units)
    rows = [(u, r, int(truth[u])) for u in range(units) for r in range(raters)]
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    if len(set(truth.tolist())) < 2:
        assert np.isnan(fleiss_kappa(answers).value)
        return
    assert fleiss_kappa(answers).value == pytest.approx(1.0)
    assert krippendorff_alpha(answers).value == pytest.approx(1.0)
    assert worker_consensus_agreement(answers).value == 1.0
    # nominal labels renamed -> same kappa
    renamed = answers.assign(label=answers["label"].map({0: "c", 1: "a", 2: "b"}))
    assert fleiss_kappa(renamed).value == pytest.approx(1.0)


@pytest.mark.parametrize("level", LEVELS)
def test_sparse_coincidence_path_matches_package(
    level: Level, monkeypatch: pytest.MonkeyPatch
) -> None:
    import metrics.agreement as agreement_module

    monkeypatch.setattr(agreement_module, "_DENSE_LIMIT", 0)
    data = _reliability(11, 4, 50, 6, 0.2)
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
    assert krippendorff_alpha(_long(data), level=level).value == pytest.approx(expected, abs=TOL)


def test_all_disagree_is_below_chance() -> None:
    # every task: three raters, three different labels
    rows = [(t, w, (t + w) % 3) for t in range(12) for w in range(3)]
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    wide = np.array([[(t + w) % 3 for t in range(12)] for w in range(3)], dtype=float)
    table, _ = aggregate_raters(wide.T.astype(int))
    assert fleiss_kappa(answers).value == pytest.approx(sm_fleiss_kappa(table), abs=TOL)
    assert fleiss_kappa(answers).value == pytest.approx(-0.5)
    alpha = krippendorff_alpha(answers).value
    assert alpha == pytest.approx(
        krippendorff.alpha(reliability_data=wide, level_of_measurement="nominal"), abs=TOL
    )
    assert alpha < 0
    assert worker_consensus_agreement(answers).value == 0.0
