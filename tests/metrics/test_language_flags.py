"""Language review flags: vendor far from gold (farthest first), annotators who split."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy.stats import entropy

from metrics.language_flags import (
    annotators_split_flags,
    judge_vs_label_flags,
    language_vs_gold_flags,
    rating_distance,
)


def _answers(rows: list[tuple[str, str, str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["task", "worker", "annotator", "label"])


def test_opposite_preferences_come_before_ties_and_agreement_is_not_flagged() -> None:
    answers = _answers(
        [
            ("t1", "v", "a", "B"),  # opposite of gold A: distance 1
            ("t2", "v", "a", "tie"),  # tie against a preference: 0.5
            ("t3", "v", "a", "A"),  # agrees: no flag
            ("t4", "w", "a", "A"),
            ("t4", "w", "b", "B"),  # half the annotators opposite: 0.5
        ]
    )
    gold = pd.Series({"t1": "A", "t2": "B", "t3": "A", "t4": "A"})
    frame = language_vs_gold_flags(answers, gold).frame
    assert frame[["task", "worker", "score"]].values.tolist() == [
        ["t1", "v", 1.0],
        ["t2", "v", 0.5],
        ["t4", "w", 0.5],
    ]
    assert set(frame["reason"]) == {"vendor_vs_gold"}
    assert frame.loc[0, "suggested_label"] == "A" and "gold A" in str(frame.loc[0, "detail"])


def test_ratings_are_flagged_by_their_distance_on_the_scale() -> None:
    answers = _answers([("t1", "v", "a", 5), ("t2", "v", "a", 2), ("t3", "v", "a", 3)])
    gold = pd.Series({"t1": 1, "t2": 3, "t3": 3})
    flags = language_vs_gold_flags(answers, gold, distance=rating_distance(1, 5)).frame
    assert flags[["task", "score"]].values.tolist() == [["t1", 1.0], ["t2", 0.25]]
    with pytest.raises(ValueError, match="high > low"):
        rating_distance(5, 5)


@pytest.mark.parametrize(
    "labels", [["A", "B"], ["A", "A", "B"], ["A", "B", "tie"], ["A", "A", "B", "tie"]]
)
def test_split_score_is_entropy_over_its_maximum(labels: list[str]) -> None:
    answers = _answers([("t", "v", f"a{k}", lab) for k, lab in enumerate(labels)])
    flags = annotators_split_flags(answers).frame
    counts = pd.Series(labels).value_counts().to_numpy()
    assert flags.loc[0, "score"] == pytest.approx(entropy(counts) / math.log(len(labels)))
    assert flags.loc[0, "worker"] == "v" and flags.loc[0, "kind"] == "label_entropy"


def test_agreeing_or_single_annotators_are_not_a_split_and_inputs_are_checked() -> None:
    answers = _answers([("t", "v", "a", "A"), ("t", "v", "b", "A"), ("u", "v", "a", "B")])
    assert len(annotators_split_flags(answers)) == 0
    with pytest.raises(ValueError, match="annotator"):
        annotators_split_flags(answers.drop(columns="annotator"))
    with pytest.raises(TypeError):
        language_vs_gold_flags(answers, {"t": "A"})  # type: ignore[arg-type]


def test_rubric_and_transcript_distances() -> None:
    from metrics.language_flags import rubric_distance, transcript_distance

    rubric = rubric_distance(1, 5)
    assert rubric({"help": 5, "fact": 1}, {"help": 4, "fact": 1}) == pytest.approx(0.125)
    assert rubric({"help": 5}, {}) == 1.0  # a criterion left out counts in full
    assert transcript_distance("the cat sat", "the cat sat") == 0.0
    assert transcript_distance("the cat sat", "a cat sat down") == pytest.approx(2 / 3)
    assert transcript_distance("hi", "one two three four") == 1.0  # capped
    answers = _answers([("t1", "v", "a", "the cat sat"), ("t2", "v", "a", "a dog")])
    gold = pd.Series({"t1": "the cat sat", "t2": "the dog"})
    flags = language_vs_gold_flags(answers, gold, distance=transcript_distance).frame
    assert flags[["task", "score"]].values.tolist() == [["t2", 0.5]]


def test_a_judge_is_averaged_over_its_answers_and_items_it_left_out_are_not_flagged() -> None:
    answers = _answers(
        [
            ("t1", "v", "a", "A"),
            ("t1", "v", "b", "B"),
            ("t2", "v", "a", "B"),  # the judge did not answer t2
            ("t3", "w", "a", "tie"),
        ]
    )
    # two judge prompts on t1 (A and B), one on t3
    judge = pd.DataFrame({"task": ["t1", "t1", "t3"], "label": ["A", "B", "A"]})
    frame = judge_vs_label_flags(answers, judge).frame
    # t1: (A,A)=0, (A,B)=1, (B,A)=1, (B,B)=0 -> 0.5; t3: tie vs A -> 0.5
    assert frame[["task", "worker", "score"]].values.tolist() == [
        ["t1", "v", 0.5],
        ["t3", "w", 0.5],
    ]
    assert set(frame["reason"]) == {"model_vs_label"} and set(frame["kind"]) == {"label_issue"}
    assert frame.loc[1, "suggested_label"] == "A"
    with pytest.raises(ValueError, match="judge needs"):
        judge_vs_label_flags(answers, pd.DataFrame({"task": ["t1"]}))
