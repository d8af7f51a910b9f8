"""Multi-label and span scorers against metrics.multilabel, metrics.spans and sklearn."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score, hamming_loss
from sklearn.preprocessing import MultiLabelBinarizer

from metrics.multilabel import multilabel_summary
from metrics.scoring import ScoringOptions, UnknownLabelsError, score
from metrics.spans import span_scores

TYPES = ["LOC", "ORG", "PER"]


def _sets(seed: int, n: int = 150) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = [f"t{i}" for i in range(n)]
    gold = pd.Series([sorted(set(rng.choice(TYPES, rng.integers(1, 3)))) for _ in index], index)
    labels = pd.Series(
        [g if rng.random() < 0.7 else sorted(set(rng.choice(TYPES, 2))) for g in gold], index
    )
    return gold, labels[rng.random(n) < 0.95]


def test_multilabel_equals_summary_and_sklearn() -> None:
    gold, labels = _sets(0)
    s = score("multilabel", gold, labels, options=ScoringOptions(min_coverage=0.9))
    ref = multilabel_summary(gold.map(frozenset), labels.map(frozenset))
    assert s.main_metric == "exact_match" and s.main_title.startswith("exact match")
    for name, ref_name in (
        ("exact_match", "exact_match"),
        ("micro_f1", "micro_f1"),
        ("macro_f1", "macro_f1"),
        ("hamming_loss", "hamming_loss"),
        ("jaccard", "jaccard_samples"),
        ("coverage", "coverage"),
    ):
        assert s.value(name) == pytest.approx(getattr(ref, ref_name), abs=1e-12), name
    binarizer = MultiLabelBinarizer(classes=TYPES)
    y_true = binarizer.fit_transform(gold[labels.index])
    y_pred = binarizer.transform(labels)
    assert s.value("micro_f1") == pytest.approx(f1_score(y_true, y_pred, average="micro"))
    assert s.value("hamming_loss") == pytest.approx(hamming_loss(y_true, y_pred))
    exact = sum(set(a) == set(b) for a, b in zip(labels, gold[labels.index], strict=True))
    assert s.value("exact_match_all") == pytest.approx(exact / len(gold))
    assert all(r.ci is not None and r.ci.low <= r.value <= r.ci.high for r in s.summary.values())


def test_multilabel_crowd_votes_whole_sets_and_refuses_unknown_classes() -> None:
    gold = pd.Series([["a", "b"], ["a"]], index=["t1", "t2"])
    answers = pd.DataFrame(
        {
            "task": ["t1", "t1", "t1", "t2"],
            "worker": ["x", "y", "z", "x"],
            "label": [["b", "a"], ["a", "b"], ["a"], ["a"]],
        }
    )
    s = score("multilabel", gold, answers)
    assert s.value("exact_match") == 1.0 and s.n_labels == 6
    with pytest.raises(UnknownLabelsError, match="'c'"):
        score("multilabel", gold, pd.Series([["c"]], index=["t1"]))


def _spans(seed: int, n: int = 80) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    index = [f"d{i}" for i in range(n)]
    gold, pred = [], []
    for _ in index:
        g, p = [], []
        for slot in range(int(rng.integers(0, 4))):
            start = slot * 20 + int(rng.integers(0, 5))
            end = start + int(rng.integers(2, 8))
            span: dict[str, Any] = {"start": start, "end": end, "type": str(rng.choice(TYPES))}
            g.append(span)
            r = rng.random()
            if r < 0.6:
                p.append(span)
            elif r < 0.8:
                p.append(dict(span, end=span["end"] + 1))
        if rng.random() < 0.1:
            p.append({"start": 90, "end": 95, "type": "ORG"})
        gold.append(g)
        pred.append(p)
    return pd.Series(gold, index, dtype=object), pd.Series(pred, index, dtype=object)[: n - 4]


def _frame(values: pd.Series) -> pd.DataFrame:
    rows = [(t, s["start"], s["end"], s["type"]) for t, v in values.items() for s in v]
    return pd.DataFrame(rows, columns=["task", "start", "end", "label"])


def test_spans_equal_span_scores_and_per_item_f1() -> None:
    gold, pred = _spans(1)
    s = score("spans", gold, pred, options=ScoringOptions(min_coverage=0.9))
    tasks = list(pred.index)
    exact = span_scores(_frame(gold), _frame(pred), mode="exact", tasks=tasks)
    partial = span_scores(_frame(gold), _frame(pred), mode="partial", tasks=tasks)
    assert s.value("span_precision") == pytest.approx(exact.precision.value)
    assert s.value("span_recall") == pytest.approx(exact.recall.value)
    assert s.value("span_f1") == pytest.approx(exact.f1.value)
    assert s.value("span_macro_f1") == pytest.approx(exact.macro_f1.value)
    assert s.value("partial_f1") == pytest.approx(partial.f1.value)
    per_item = []
    for t in tasks:
        g = {(x["start"], x["end"], x["type"]) for x in gold[t]}
        p = {(x["start"], x["end"], x["type"]) for x in pred[t]}
        per_item.append(1.0 if not g and not p else 2 * len(g & p) / (len(g) + len(p)))
    assert s.value("per_item_span_f1") == pytest.approx(np.mean(per_item))
    assert s.value("per_item_span_f1_all") == pytest.approx(np.sum(per_item) / len(gold))
    assert s.main_title == "per-item span F1 (exact)"
    assert s.per_class.loc["PER", "f1"] == pytest.approx(exact.per_type.loc["PER", "f1"])
    for name, r in s.summary.items():
        assert r.ci is not None and r.ci.low - 1e-12 <= r.value <= r.ci.high + 1e-12, name


def test_an_empty_answer_is_an_answer_and_none_is_not() -> None:
    gold = pd.Series([[], [{"start": 0, "end": 3, "type": "PER"}]], index=["a", "b"], dtype=object)
    pred = pd.Series([[], None], index=["a", "b"], dtype=object)
    s = score("spans", gold, pred, options=ScoringOptions(min_coverage=0.0))
    assert s.n_answered == 1 and s.value("per_item_span_f1") == 1.0
    assert s.value("per_item_span_f1_all") == 0.5
