"""The rating scorer: per-criterion statistics equal their references; coverage, scale,
crowds and refusals are said out loud."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from metrics.scoring import ScoringOptions, UnknownLabelsError, score

krippendorff = pytest.importorskip("krippendorff")

OPTIONS = ScoringOptions(n_resamples=200, rating_scale=(1, 5))


def _data(n: int = 120, seed: int = 0) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = pd.Index([f"i{k:03d}" for k in range(n)], name="task")
    gold = pd.Series(
        [{"help": int(rng.integers(1, 6)), "fact": int(rng.integers(1, 6))} for _ in range(n)],
        index=index,
    )
    labels = pd.Series(
        [{c: int(np.clip(r + rng.integers(-1, 2), 1, 5)) for c, r in g.items()} for g in gold],
        index=index,
    )
    return gold, labels


def test_per_criterion_statistics_equal_the_references() -> None:
    gold, labels = _data()
    scored = score("rating", gold, labels, options=OPTIONS)
    for c in ("help", "fact"):
        g = np.array([v[c] for v in gold])
        v = np.array([x[c] for x in labels])
        for w in ("linear", "quadratic"):
            ref = cohen_kappa_score(g, v, labels=[1, 2, 3, 4, 5], weights=w)
            assert scored.value(f"{w}_weighted_kappa:{c}") == pytest.approx(ref, abs=1e-9)
        for level in ("ordinal", "interval"):
            ref = krippendorff.alpha(
                reliability_data=np.vstack([g, v]).astype(float), level_of_measurement=level
            )
            assert scored.value(f"krippendorff_alpha_{level}:{c}") == pytest.approx(ref, abs=1e-9)
        assert scored.value(f"mae:{c}") == pytest.approx(np.abs(v - g).mean(), abs=1e-12)
        assert scored.value(f"leniency_bias:{c}") == pytest.approx((v - g).mean(), abs=1e-12)
        assert scored.per_class.loc[c, "support"] == len(g)
    closeness = np.mean(
        [np.mean([1 - abs(x[c] - y[c]) / 4 for c in y]) for x, y in zip(labels, gold, strict=True)]
    )
    assert scored.value("rating_agreement") == pytest.approx(closeness, abs=1e-12)
    for name, result in scored.summary.items():
        assert result.ci is not None, name
        assert result.ci.low - 1e-12 <= result.value <= result.ci.high + 1e-12, name


def test_single_criterion_names_the_statistics_without_suffix() -> None:
    gold = pd.Series([{"rating": r} for r in [1, 2, 3, 4, 5, 3]], index=list("abcdef"))
    labels = pd.Series([{"rating": r} for r in [1, 3, 3, 4, 4, 3]], index=list("abcdef"))
    scored = score("rating", gold, labels, options=OPTIONS)
    ref = cohen_kappa_score(
        [1, 2, 3, 4, 5, 3], [1, 3, 3, 4, 4, 3], labels=[1, 2, 3, 4, 5], weights="quadratic"
    )
    assert scored.value("quadratic_weighted_kappa") == pytest.approx(ref, abs=1e-9)
    assert scored.value("quadratic_weighted_kappa:rating") == pytest.approx(ref, abs=1e-9)
    assert scored.main_metric == "rating_agreement"
    assert scored.ranking_metric == "rating_agreement_all"


def test_coverage_missing_criteria_and_the_ranking_metric() -> None:
    gold = pd.Series([{"a": 1, "b": 5}, {"a": 3, "b": 3}, {"a": 5, "b": 1}], index=list("xyz"))
    labels = pd.Series([{"a": 1, "b": 5}, {"a": 3}, None], index=list("xyz"))
    scored = score("rating", gold, labels, options=ScoringOptions(rating_scale=(1, 5)))
    assert scored.n_answered == 2 and scored.status == "not_enough_results"
    assert scored.items["score"].tolist()[:2] == [1.0, 0.5]
    assert scored.value("rating_agreement") == pytest.approx(0.75)
    assert scored.value("rating_agreement_all") == pytest.approx(0.5)
    codes = {w.code for w in scored.warnings}
    assert {"missing_criteria", "low_coverage"} <= codes


def test_scale_from_metadata_or_inferred_with_a_warning() -> None:
    gold = pd.Series([{"r": 2}, {"r": 3}], index=["a", "b"])
    labels = pd.Series([{"r": 3}, {"r": 3}], index=["a", "b"])
    meta = pd.DataFrame({"scale_min": [1, 1], "scale_max": [5, 5]}, index=["a", "b"])
    with_meta = score("rating", gold, labels, metadata=meta)
    assert with_meta.extra["rating_scale"] == (1, 5)
    assert with_meta.value("rating_agreement") == pytest.approx(1 - 0.5 / 4)
    inferred = score("rating", gold, labels)
    assert inferred.extra["rating_scale"] == (2, 3)
    assert [w.code for w in inferred.warnings] == ["rating_scale_inferred"]


def test_bad_ratings_are_refused_naming_the_item() -> None:
    gold = pd.Series([{"r": 2}, {"r": 3}], index=["a", "b"])
    with pytest.raises(ValueError, match=r"item 'b'.*outside the scale 1..5"):
        score("rating", gold, pd.Series([{"r": 2}, {"r": 6}], index=["a", "b"]), options=OPTIONS)
    with pytest.raises(ValueError, match=r"item 'a'.*not an integer"):
        score("rating", gold, pd.Series([{"r": 2.5}], index=["a"]), options=OPTIONS)
    with pytest.raises(ValueError, match=r"item 'a'.*not an integer"):
        score("rating", gold, pd.Series([{"r": True}], index=["a"]), options=OPTIONS)
    with pytest.raises(UnknownLabelsError, match="criteria 'style'"):
        score("rating", gold, pd.Series([{"style": 2}], index=["a"]), options=OPTIONS)
    lenient = ScoringOptions(rating_scale=(1, 5), unknown_labels="wrong")
    scored = score("rating", gold, pd.Series([{"r": 2, "style": 2}], index=["a"]), options=lenient)
    assert "vocabulary_mismatch" in {w.code for w in scored.warnings}


def test_crowd_takes_the_lower_median_and_tables_each_annotator() -> None:
    gold, _ = _data(n=40, seed=3)
    rows = []
    for task, g in gold.items():
        for worker, shift in (("kind", 1), ("fair", 0), ("fair2", 0)):
            rows.append((task, worker, {c: int(min(5, r + shift)) for c, r in g.items()}))
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    scored = score("rating", gold, answers, options=OPTIONS)
    assert scored.value("rating_agreement") == 1.0  # the two fair raters outvote
    table = scored.per_annotator
    assert table is not None
    bias, closeness = table["leniency_bias"].astype(float), table["agreement_with_gold"]
    assert bias["fair"] == 0.0 < bias["kind"]
    assert float(closeness["kind"]) < 1.0 == float(closeness["fair"])
    assert scored.items["n_answers"].eq(3).all()


def test_inputs_are_not_modified_and_order_does_not_matter() -> None:
    gold, labels = _data(n=30, seed=5)
    before = gold.copy(deep=True), labels.copy(deep=True)
    a = score("rating", gold, labels, options=OPTIONS)
    b = score("rating", gold.iloc[::-1], labels.iloc[::-1], options=OPTIONS)
    assert gold.equals(before[0]) and labels.equals(before[1])
    for name in a.summary:
        assert a.value(name) == pytest.approx(b.value(name), nan_ok=True)
        assert a.summary[name].ci == b.summary[name].ci


def test_vectorised_resamples_give_the_same_intervals_as_one_table_at_a_time() -> None:
    """The bootstrap computes a rating table's statistics for all resamples at once; a
    Table without that path (one call per resample) gives the very same intervals."""
    from dataclasses import replace

    from metrics.scoring._intervals import bootstrap
    from metrics.scoring.rating import _agreement_table, _pair_cells

    gold, labels = _data(n=80, seed=3)
    g = np.array([v["help"] for v in gold], dtype=np.float64)
    v = np.array([x["help"] for x in labels], dtype=np.float64)
    v[:5] = np.nan  # unrated items are left out of the table
    names = [f"{s}:help" for s in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")]
    fast, _ = _agreement_table(_pair_cells(g, v, (1, 5)), (1, 5), names)
    slow = replace(fast, compute_many=None)
    assert fast.compute_many is not None
    got = [bootstrap(len(g), tables=[t], n_resamples=300, seed=1, level=0.95) for t in (fast, slow)]
    assert got[0].keys() == got[1].keys() == set(names)
    for name in names:
        a, b = got[0][name], got[1][name]
        assert a is not None and b is not None
        assert (a.low, a.high) == (b.low, b.high), name


def test_pooled_agreement_equals_the_references_on_stacked_item_criterion_targets() -> None:
    """Pooled over three criteria (some pairs missing on either side): every (item,
    criterion) pair is one target; sklearn, pingouin and krippendorff on the stacked data
    give the unsuffixed statistics to 1e-9, and the interval resamples whole items."""
    pingouin = pytest.importorskip("pingouin")
    rng = np.random.default_rng(5)
    n, criteria = 90, ("help", "fact", "tone")
    index = pd.Index([f"i{k:03d}" for k in range(n)], name="task")
    gold_rows, label_rows = [], []
    for k in range(n):
        g = {c: int(rng.integers(1, 6)) for c in criteria if not (c == "tone" and k % 7 == 0)}
        shift = {"help": 1, "fact": 0, "tone": -1}  # criteria differ: pooling is not trivial
        v = {
            c: int(np.clip(r + shift[c] * (rng.random() < 0.4) + rng.integers(-1, 2), 1, 5))
            for c, r in g.items()
            if not (c == "fact" and k % 11 == 0)
        }
        gold_rows.append(g)
        label_rows.append(v)
    gold, labels = pd.Series(gold_rows, index=index), pd.Series(label_rows, index=index)
    scored = score("rating", gold, labels, options=OPTIONS)

    stacked = [
        (f"{t}|{c}", g[c], v[c])
        for t, g, v in zip(index, gold_rows, label_rows, strict=True)
        for c in criteria
        if c in g and c in v
    ]
    targets = [s[0] for s in stacked]
    sg = np.array([s[1] for s in stacked])
    sv = np.array([s[2] for s in stacked])
    assert len(stacked) < n * len(criteria)  # missing pairs are left out, not scored
    for w in ("linear", "quadratic"):
        ref = cohen_kappa_score(sg, sv, labels=[1, 2, 3, 4, 5], weights=w)
        assert scored.value(f"{w}_weighted_kappa") == pytest.approx(ref, abs=1e-9)
    long = pd.DataFrame(
        {"t": targets * 2, "r": ["gold"] * len(sg) + ["cand"] * len(sv), "x": np.r_[sg, sv]}
    )
    icc = pingouin.intraclass_corr(long, targets="t", raters="r", ratings="x")
    icc = icc.set_index("Type")["ICC"]
    for ours, theirs in (
        ("icc_2_1", "ICC(A,1)"),
        ("icc_3_1", "ICC(C,1)"),
        ("icc_2_k", "ICC(A,k)"),
        ("icc_3_k", "ICC(C,k)"),
    ):
        assert scored.value(ours) == pytest.approx(float(icc[theirs]), abs=1e-9), ours
    for level in ("ordinal", "interval"):
        ref = krippendorff.alpha(
            reliability_data=np.vstack([sg, sv]).astype(float), level_of_measurement=level
        )
        assert scored.value(f"krippendorff_alpha_{level}") == pytest.approx(ref, abs=1e-9)
    # pooled differs from each criterion's own value (it is not one criterion relabelled)
    pooled = scored.value("quadratic_weighted_kappa")
    assert all(pooled != scored.value(f"quadratic_weighted_kappa:{c}") for c in criteria)
    # the interval resamples items (a resampled item brings all of its criteria): the
    # same as a bootstrap over item positions done by hand
    ci = scored.summary["quadratic_weighted_kappa"].ci
    assert ci is not None and ci.low < pooled < ci.high
    by_item = {
        t: [(g[c], v[c]) for c in criteria if c in g and c in v]
        for t, g, v in zip(index, gold_rows, label_rows, strict=True)
    }
    from metrics.scoring._intervals import resamples

    reps = []
    for chunk in resamples(n, n_resamples=OPTIONS.n_resamples, seed=OPTIONS.seed):
        for row in chunk:
            pairs = [p for i in row for p in by_item[index[i]]]
            a, b = zip(*pairs, strict=True)
            reps.append(cohen_kappa_score(a, b, labels=[1, 2, 3, 4, 5], weights="quadratic"))
    low, high = np.percentile(reps, [2.5, 97.5])
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=1e-9)
