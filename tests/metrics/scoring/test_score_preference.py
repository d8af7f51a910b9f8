"""The preference scorer: numbers equal the pure metrics/sklearn; planted biases found."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from metrics.scoring import ScoringOptions, score


def _gold(n: int, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.choice(["A", "B", "tie"], n, p=[0.45, 0.45, 0.1]), index=range(n))


def test_summary_equals_references() -> None:
    gold = _gold(400, 0)
    rng = np.random.default_rng(1)
    labels = gold.where(rng.random(400) > 0.25, pd.Series(rng.choice(["A", "B"], 400)))
    labels = labels.iloc[:380]  # 20 unanswered
    s = score("preference", gold, labels, options=ScoringOptions(n_resamples=50))
    g = gold.loc[labels.index]
    assert s.task_type == "preference"
    assert s.value("agreement") == pytest.approx(float((g == labels).mean()), abs=1e-12)
    assert s.value("agreement_all") == pytest.approx(float((g == labels).sum() / 400), abs=1e-12)
    keep = (g != "tie") & (labels != "tie")
    assert s.value("agreement_without_ties") == pytest.approx(
        float((g[keep] == labels[keep]).mean()), abs=1e-12
    )
    assert s.value("cohen_kappa") == pytest.approx(cohen_kappa_score(g, labels), abs=1e-9)
    assert s.summary["cohen_kappa"].ci is not None
    assert s.n_answered == 380
    assert list(s.per_class.index) == ["A", "B", "tie"]


def test_refuses_values_outside_a_b_tie() -> None:
    gold = pd.Series(["A", "B"], index=[0, 1])
    with pytest.raises(ValueError, match=r"outside 'A', 'B', 'tie' at tasks \{'1': 'C'\}"):
        score("preference", gold, pd.Series(["A", "C"], index=[0, 1]))


def test_planted_position_and_length_bias_are_found_in_a_crowd() -> None:
    rng = np.random.default_rng(7)
    n = 3000
    gold = pd.Series(rng.choice(["A", "B"], n), index=range(n))
    length_a = rng.integers(10, 300, n)
    length_b = rng.integers(10, 300, n)
    rows = []
    for worker, (pos, length) in {"first-lover": (0.3, 0.0), "long-lover": (0.0, 0.3)}.items():
        swapped = rng.random(n) < 0.5
        label = gold.to_numpy().copy()
        to_first = rng.random(n) < pos
        label[to_first] = np.where(swapped, "B", "A")[to_first]
        to_long = rng.random(n) < length
        label[to_long] = np.where(length_a > length_b, "A", "B")[to_long]
        rows.append(pd.DataFrame({"task": range(n), "worker": worker, "label": label}))
        rows[-1]["swapped"] = swapped
    answers = pd.concat(rows, ignore_index=True)
    metadata = pd.DataFrame({"length_a": length_a, "length_b": length_b}, index=range(n))
    first = score(
        "preference",
        gold,
        answers[answers["worker"] == "first-lover"],
        options=ScoringOptions(n_resamples=20),
        metadata=metadata,
    )
    ci = first.summary["position_bias"].ci
    assert ci is not None and ci.low <= 0.15 <= ci.high
    assert abs(first.value("length_bias")) < 0.05
    longer = score(
        "preference",
        gold,
        answers[answers["worker"] == "long-lover"],
        options=ScoringOptions(n_resamples=20),
        metadata=metadata,
    )
    ci = longer.summary["length_bias"].ci
    assert ci is not None and ci.low <= 0.15 <= ci.high
    assert abs(longer.value("position_bias")) < 0.05


def test_self_consistency_from_repeats() -> None:
    gold = pd.Series(["A", "B"], index=[0, 1])
    answers = pd.DataFrame(
        {
            "task": [0, 0, 1, 1],
            "worker": ["w", "w", "w", "w"],
            "label": ["A", "A", "B", "A"],
            "swapped": [False, True, False, True],
        }
    )
    s = score("preference", gold, answers, options=ScoringOptions(n_resamples=10))
    result = s.summary["self_consistency"]
    assert result.value == pytest.approx(0.5)
    assert result.params == {"n_pairs": 2, "n_same": 1}
    assert "swap_consistency" not in s.summary


def test_self_consistency_finds_planted_rate_with_wilson_interval() -> None:
    # 400 pairs, 300 of them sent a second time in the other order; the vendor answers
    # 20% of the repeats differently (after un-swapping): the planted rate is found
    n, n_repeat, flip = 400, 300, 0.2
    gold = _gold(n, 3)
    rng = np.random.default_rng(4)
    first = gold.where(rng.random(n) > 0.1, "tie")
    changed = rng.random(n_repeat) < flip
    other = {"A": "B", "B": "tie", "tie": "A"}
    second = [other[v] if c else v for v, c in zip(first.iloc[:n_repeat], changed, strict=True)]
    swapped_first = rng.random(n) < 0.5
    # the repeats come first in the table: the vote must still take the first sending
    answers = pd.DataFrame(
        {
            "task": list(range(n_repeat)) + list(range(n)),
            "worker": "w",
            "label": second + list(first),
            "swapped": list(~swapped_first[:n_repeat]) + list(swapped_first),
            "repeat": [1] * n_repeat + [0] * n,
        }
    )
    s = score("preference", gold, answers, options=ScoringOptions(n_resamples=20))
    result = s.summary["self_consistency"]
    n_same = int((~changed).sum())
    assert result.value == pytest.approx(n_same / n_repeat, abs=1e-12)
    assert result.params == {"n_pairs": n_repeat, "n_same": n_same}
    # over 100 pairs the project's modified Wilson interval is the plain Wilson interval
    low, high = proportion_confint(n_same, n_repeat, alpha=0.05, method="wilson")
    assert result.ci is not None
    assert (result.ci.low, result.ci.high) == pytest.approx((low, high), abs=1e-12)
    assert result.ci.low <= 1 - flip <= result.ci.high
    # repeats never count twice: the main metric is the first sending's answers alone
    assert s.value("agreement") == pytest.approx(float((first == gold).mean()), abs=1e-12)
    assert int(s.items["n_answers"].sum()) == n


def test_bradley_terry_ranking_compared_with_gold() -> None:
    rng = np.random.default_rng(9)
    n, strength = 1500, {"m1": 1.0, "m2": 0.3, "m3": -0.2, "m4": -1.0}
    models = list(strength)
    a = rng.choice(models, n)
    b = np.array([rng.choice([m for m in models if m != x]) for x in a])
    p = 1 / (1 + np.exp([strength[y] - strength[x] for x, y in zip(a, b, strict=True)]))
    gold = pd.Series(np.where(rng.random(n) < p, "A", "B"), index=range(n))
    labels = gold.where(rng.random(n) > 0.1, "tie")
    metadata = pd.DataFrame({"model_a": a, "model_b": b}, index=range(n))
    s = score("preference", gold, labels, options=ScoringOptions(n_resamples=10), metadata=metadata)
    assert s.value("ranking_kendall_tau") == pytest.approx(1.0)
    fits = s.extra["bradley_terry"]
    assert list(fits["gold"].scores.index) == ["m1", "m2", "m3", "m4"]


def test_bradley_terry_strengths_and_tau_come_with_bootstrap_intervals() -> None:
    """Each model's log-strength from the labels (``bradley_terry:<model>``) and the tau
    with gold's ranking have intervals; a resample's refit from its win-table counts equals
    a fresh :func:`bradley_terry` of the resampled comparisons."""
    from metrics.preference import bradley_terry
    from metrics.scoring.preference import _ranking_table

    rng = np.random.default_rng(4)
    n, strength = 600, {"m1": 1.0, "m2": 0.2, "m3": -0.4, "m4": -0.8}
    models = list(strength)
    a = rng.choice(models, n)
    b = np.array([rng.choice([m for m in models if m != x]) for x in a])
    p = 1 / (1 + np.exp([strength[y] - strength[x] for x, y in zip(a, b, strict=True)]))
    gold = pd.Series(np.where(rng.random(n) < p, "A", "B"), index=range(n))
    noisy = np.where(rng.random(n) < 0.3, rng.choice(["A", "B", "tie"], n), gold.to_numpy())
    labels = pd.Series(noisy, index=range(n))
    metadata = pd.DataFrame({"model_a": a, "model_b": b}, index=range(n))
    s = score(
        "preference", gold, labels, options=ScoringOptions(n_resamples=200), metadata=metadata
    )
    fit = s.extra["bradley_terry"]["labels"].scores
    for model in models:
        e = s.summary[f"bradley_terry:{model}"]
        assert e.value == fit[model] and e.ci is not None
        assert e.ci.low < e.value < e.ci.high
    assert s.summary["bradley_terry:m1"].ci.low > s.summary["bradley_terry:m4"].ci.high  # type: ignore[union-attr]
    tau = s.summary["ranking_kendall_tau"]
    assert tau.ci is not None and tau.ci.low <= tau.value <= tau.ci.high
    # the table's refit on a resample = bradley_terry on the resampled comparisons
    fits = s.extra["bradley_terry"]
    table, points = _ranking_table(gold, labels, metadata, fits, tau.value)
    for seed in range(3):
        idx = np.random.default_rng(seed).integers(0, n, n)
        counts = np.bincount(table.cells[idx].ravel(), minlength=table.n_cells)
        got = dict(zip(table.names, table.compute(counts), strict=True))
        resampled = pd.DataFrame({"a": a[idx], "b": b[idx], "label": labels.to_numpy()[idx]})
        again = bradley_terry(resampled).scores
        for model in models:
            assert got[f"bradley_terry:{model}"] == pytest.approx(again[model], abs=1e-7)
    full = np.bincount(table.cells.ravel(), minlength=table.n_cells)
    for name, value in zip(table.names, table.compute(full), strict=True):
        assert value == pytest.approx(points[name], abs=1e-7), name
