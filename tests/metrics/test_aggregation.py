"""Majority vote and answer counts, and Snow et al. (2008)'s published numbers.

Snow, O'Connor, Jurafsky, Ng (2008), "Cheap and Fast -- But is it Good?", EMNLP: majority
vote over the 10 non-expert labels per item, with random tie-breaking, reaches accuracy
0.897 on RTE, 0.94 on temporal ordering and 0.994 on WSD (one error in 177, a gold error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import krippendorff
import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss_kappa

from metrics.aggregation import count_answers, encode_answers, majority_vote
from metrics.agreement import fleiss_kappa, krippendorff_alpha, worker_accuracy
from metrics.classification import accuracy

REPO = Path(__file__).resolve().parents[2]
SNOW = REPO.parent / "shared" / "data" / "snow2008"


def test_majority_vote_smallest_and_random_tie_break() -> None:
    answers = pd.DataFrame(
        {
            "task": ["t1", "t1", "t2", "t2", "t2", "t3"],
            "worker": ["a", "b", "a", "b", "c", "a"],
            "label": ["y", "x", "y", "y", "x", "z"],
        }
    )
    assert majority_vote(answers, tie_break="smallest").to_dict() == {
        "t1": "x",
        "t2": "y",
        "t3": "z",
    }
    seen = {
        majority_vote(answers, tie_break="random", rng=np.random.default_rng(s))["t1"]
        for s in range(30)
    }
    assert seen == {"x", "y"}
    again = majority_vote(answers, tie_break="random", rng=np.random.default_rng(3))
    assert again.equals(majority_vote(answers, tie_break="random", rng=np.random.default_rng(3)))


def test_missing_labels_are_dropped_and_counts_are_per_task() -> None:
    answers = pd.DataFrame(
        {"task": [1, 1, 1, 2], "worker": ["a", "b", "c", "a"], "label": [3, None, 3, 1]}
    )
    counts = count_answers(answers)
    assert counts.classes.tolist() == [1.0, 3.0]
    assert counts.counts.tolist() == [[0, 2], [1, 0]]
    assert encode_answers(answers).tasks.tolist() == [1, 2]


def test_bad_tie_break() -> None:
    answers = pd.DataFrame({"task": [1], "worker": ["a"], "label": ["x"]})
    with pytest.raises(ValueError, match="tie_break must be one of"):
        majority_vote(answers, tie_break="first")  # type: ignore[call-overload]


# --------------------------------------------------------------------------- Snow et al. 2008


def _snow(name: str) -> tuple[pd.DataFrame, pd.Series[Any]]:
    path = SNOW / f"{name}.standardized.tsv"
    if not path.exists():
        pytest.skip(f"Snow et al. 2008 data not found at {path}")
    raw = pd.read_csv(path, sep="\t", dtype=str)
    raw.columns = ["annotation", "worker", "task", "label", "gold"]
    gold = raw.groupby("task", sort=False)["gold"].first()
    return raw[["task", "worker", "label"]], gold


def _expected_vote_accuracy(answers: pd.DataFrame, gold: pd.Series[Any]) -> float:
    """Accuracy of majority vote in expectation over uniformly random tie-breaking."""
    counts = count_answers(answers)
    is_max = counts.counts == counts.counts.max(axis=1, keepdims=True)
    gold_code = pd.Index(counts.classes).get_indexer(gold.loc[counts.tasks].to_numpy())
    hit = is_max[np.arange(len(gold_code)), gold_code]
    return float((hit / is_max.sum(axis=1)).mean())


@pytest.mark.parametrize(
    ("name", "published", "places", "n_items"),
    [
        pytest.param("rte", 0.897, 3, 800, id="rte"),
        pytest.param("temp", 0.94, 2, 462, id="temp"),
        pytest.param("wsd", 0.994, 3, 177, id="wsd"),
    ],
)
def test_snow_2008_majority_vote_accuracy(
    name: str, published: float, places: int, n_items: int
) -> None:
    answers, gold = _snow(name)
    assert len(gold) == n_items
    assert round(_expected_vote_accuracy(answers, gold), places) == published
    # one seeded random tie-break lands close to the expectation
    vote = majority_vote(answers, tie_break="random", rng=np.random.default_rng(0))
    assert accuracy(gold, vote).value == pytest.approx(published, abs=0.02)


def test_snow_2008_wsd_single_error_is_the_gold_error() -> None:
    answers, gold = _snow("wsd")
    vote = majority_vote(answers).label
    wrong = vote[vote != gold.loc[vote.index]]
    assert len(wrong) == 1
    task = wrong.index[0]
    votes = answers[answers["task"] == task]["label"]
    assert (votes != gold[task]).sum() == 9  # "9-to-1 against" the original gold label


@pytest.mark.parametrize("name", ["rte", "temp", "wsd"])
def test_snow_2008_agreement_matches_references(name: str) -> None:
    answers, gold = _snow(name)
    counts = count_answers(answers)
    assert fleiss_kappa(answers).value == pytest.approx(sm_fleiss_kappa(counts.counts), abs=1e-9)
    wide = answers.pivot(index="worker", columns="task", values="label").astype(float)
    ref = krippendorff.alpha(reliability_data=wide.to_numpy(), level_of_measurement="nominal")
    numeric = answers.assign(label=answers["label"].astype(int))
    assert krippendorff_alpha(numeric).value == pytest.approx(ref, abs=1e-9)
    acc = worker_accuracy(answers, gold)
    assert acc.value == pytest.approx(
        float((answers["label"].to_numpy() == gold.loc[answers["task"]].to_numpy()).mean())
    )


def test_duplicate_answer_found_on_a_sparse_task_worker_grid() -> None:
    # 2,001 tasks x 2,001 workers but one answer each: the check sorts instead of counting
    n = 2001
    answers = pd.DataFrame({"task": range(n), "worker": range(n), "label": ["x"] * n})
    assert len(encode_answers(answers).task) == n
    twice = pd.concat([answers, answers.iloc[[7]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"more than one answer .*\(7, 7\)"):
        encode_answers(twice)
