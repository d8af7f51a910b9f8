"""Span (NER) scores against nervaluate (strict, ent_type) and seqeval (exact)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from nervaluate import Evaluator
from seqeval.metrics.sequence_labeling import precision_recall_fscore_support

from metrics.spans import span_scores

TOL = 1e-9
TYPES = ["LOC", "MISC", "ORG", "PER"]
SLOT = 20


def _docs(seed: int, n_docs: int = 30, slots: int = 8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gold and predicted spans; each slot of 20 characters holds at most one of each.

    So every prediction overlaps at most one gold span and vice versa.
    """
    rng = np.random.default_rng(seed)
    gold, pred = [], []
    for d in range(n_docs):
        for s in range(slots):
            base = s * SLOT
            has_gold = rng.random() < 0.6
            if has_gold:
                start = base + int(rng.integers(2, 8))
                end = start + int(rng.integers(2, 8))
                kind = TYPES[int(rng.integers(0, 4))]
                gold.append((f"doc{d}", start, end, kind))
                r = rng.random()
                if r < 0.55:
                    pred.append((f"doc{d}", start, end, kind))
                elif r < 0.75:
                    shift = int(rng.integers(-2, 3)) or 1
                    moved = start + shift if start + shift < end else start - 1
                    pred.append((f"doc{d}", moved, end, kind))
                elif r < 0.85:
                    pred.append((f"doc{d}", start, end, TYPES[(TYPES.index(kind) + 1) % 4]))
                # else: missed
            elif rng.random() < 0.2:
                start = base + int(rng.integers(2, 8))
                pred.append((f"doc{d}", start, start + 3, TYPES[int(rng.integers(0, 4))]))
    cols = ["task", "start", "end", "label"]
    return pd.DataFrame(gold, columns=cols), pd.DataFrame(pred, columns=cols)


def _nervaluate(gold: pd.DataFrame, pred: pd.DataFrame) -> dict[str, Any]:
    docs = sorted(set(gold["task"]) | set(pred["task"]))

    def as_dicts(frame: pd.DataFrame) -> list[list[dict[str, Any]]]:
        return [
            [
                {"label": r.label, "start": int(r.start), "end": int(r.end) - 1}
                for r in frame[frame["task"] == d].itertuples()
            ]
            for d in docs
        ]

    evaluator = Evaluator(as_dicts(gold), as_dicts(pred), tags=TYPES, loader="dict")
    result: dict[str, Any] = evaluator.evaluate()
    return result


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_nervaluate_per_type(seed: int) -> None:
    gold, pred = _docs(seed)
    ref = _nervaluate(gold, pred)
    for mode, strategy in (("exact", "strict"), ("partial", "ent_type")):
        ours = span_scores(gold, pred, mode=mode)  # type: ignore[arg-type]
        for kind, row in ours.per_type.iterrows():
            theirs = ref["entities"][kind][strategy]
            assert row["precision"] == pytest.approx(theirs.precision, abs=TOL), (mode, kind)
            assert row["recall"] == pytest.approx(theirs.recall, abs=TOL), (mode, kind)
            assert row["f1"] == pytest.approx(theirs.f1, abs=TOL), (mode, kind)
        overall = ref["overall"][strategy]
        if mode == "exact":
            assert ours.precision.value == pytest.approx(overall.precision, abs=TOL)
            assert ours.recall.value == pytest.approx(overall.recall, abs=TOL)
            assert ours.f1.value == pytest.approx(overall.f1, abs=TOL)


@pytest.mark.parametrize("seed", [3, 4])
def test_exact_matches_seqeval(seed: int) -> None:
    gold, pred = _docs(seed)
    docs = sorted(set(gold["task"]) | set(pred["task"]))
    length = 8 * SLOT + 10

    def tags(frame: pd.DataFrame, doc: str) -> list[str]:
        out = ["O"] * length
        for r in frame[frame["task"] == doc].itertuples():
            start, end = int(str(r.start)), int(str(r.end))
            out[start] = f"B-{r.label}"
            for i in range(start + 1, end):
                out[i] = f"I-{r.label}"
        return out

    y_true = [tags(gold, d) for d in docs]
    y_pred = [tags(pred, d) for d in docs]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None)
    ours = span_scores(gold, pred, mode="exact").per_type
    present = sorted(set(gold["label"]))
    np.testing.assert_allclose(ours.loc[present, "precision"], p, atol=TOL)
    np.testing.assert_allclose(ours.loc[present, "recall"], r, atol=TOL)
    np.testing.assert_allclose(ours.loc[present, "f1"], f, atol=TOL)
    np.testing.assert_array_equal(ours.loc[present, "n_gold"], s)
    mp, mr, mf, _ = precision_recall_fscore_support(y_true, y_pred, average="micro")
    res = span_scores(gold, pred, mode="exact")
    assert (res.precision.value, res.recall.value, res.f1.value) == pytest.approx((mp, mr, mf))


def test_partial_is_one_to_one_and_optimal() -> None:
    # one long prediction overlapping two gold spans counts once; the greedy choice
    # (closest boundaries) would leave the second prediction unmatched
    gold = pd.DataFrame(
        {"task": ["t"] * 2, "start": [0, 6], "end": [6, 11], "label": ["PER", "PER"]}
    )
    pred = pd.DataFrame(
        {"task": ["t"] * 2, "start": [4, 8], "end": [10, 13], "label": ["PER", "PER"]}
    )
    r = span_scores(gold, pred, mode="partial")
    assert r.per_type.loc["PER", "correct"] == 2
    one = pd.DataFrame({"task": ["t"], "start": [0], "end": [11], "label": ["PER"]})
    r1 = span_scores(gold, one, mode="partial")
    assert r1.precision.value == 1.0 and r1.recall.value == 0.5


def test_tasks_restrict_and_coverage() -> None:
    gold = pd.DataFrame(
        {"task": ["a", "b"], "start": [0, 0], "end": [3, 3], "label": ["PER", "PER"]}
    )
    pred = pd.DataFrame({"task": ["a"], "start": [0], "end": [3], "label": ["PER"]})
    assert span_scores(gold, pred).recall.value == 0.5
    scoped = span_scores(gold, pred, tasks=["a"])
    assert scoped.recall.value == 1.0 and scoped.coverage == 0.5


@pytest.mark.parametrize(
    ("frame", "error", "match"),
    [
        pytest.param([1], TypeError, "must be a pandas DataFrame", id="type"),
        pytest.param(
            pd.DataFrame({"task": ["a"], "start": [0], "label": ["X"]}),
            ValueError,
            "missing column",
            id="no-end",
        ),
        pytest.param(
            pd.DataFrame({"task": ["a"], "start": [5], "end": [5], "label": ["X"]}),
            ValueError,
            "need 0 <= start < end",
            id="empty-span",
        ),
        pytest.param(
            pd.DataFrame({"task": ["a"], "start": [0.5], "end": [2.0], "label": ["X"]}),
            TypeError,
            "integer character offsets",
            id="float-offsets",
        ),
    ],
)
def test_bad_spans(frame: Any, error: type[Exception], match: str) -> None:
    ok = pd.DataFrame({"task": ["a"], "start": [0], "end": [2], "label": ["X"]})
    with pytest.raises(error, match=match):
        span_scores(frame, ok)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["exact", "partial"]))
def test_hypothesis_ranges_perfect_and_rename(seed: int, mode: Any) -> None:
    gold, pred = _docs(seed, n_docs=4, slots=4)
    r = span_scores(gold, pred, mode=mode)
    for m in (r.precision, r.recall, r.f1):
        assert 0.0 <= m.value <= 1.0
    if len(gold):
        assert span_scores(gold, gold.copy(), mode=mode).f1.value == 1.0
    renamed = span_scores(
        gold.assign(task="x" + gold["task"]), pred.assign(task="x" + pred["task"]), mode=mode
    )
    assert renamed.f1.value == pytest.approx(r.f1.value)
    assert span_scores(gold, pred.iloc[::-1], mode=mode).f1.value == pytest.approx(r.f1.value)
