"""metrics.label_issues: planted errors rank at the top, and results equal cleanlab's own."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from cleanlab.filter import find_label_issues as cl_find_label_issues
from cleanlab.multiannotator import get_label_quality_multiannotator
from cleanlab.object_detection.filter import find_label_issues as cl_od_find
from cleanlab.object_detection.rank import get_label_quality_scores as cl_od_scores
from cleanlab.rank import get_label_quality_scores as cl_scores
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from metrics.label_issues import (
    find_box_label_issues,
    find_label_issues,
    multiannotator_quality,
    out_of_fold_pred_probs,
)

CLASSES = ["cat", "dog", "fox", "owl"]


def _classification(
    n: int = 600, noise: float = 0.08, seed: int = 0
) -> tuple[pd.Series[str], pd.DataFrame, set[str]]:
    """True classes, a decent model's probabilities, and labels with planted flips."""
    rng = np.random.default_rng(seed)
    k = len(CLASSES)
    true = rng.integers(0, k, n)
    logits = rng.normal(0.0, 1.0, (n, k))
    logits[np.arange(n), true] += 3.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    given = true.copy()
    flip = rng.choice(n, int(noise * n), replace=False)
    given[flip] = (true[flip] + rng.integers(1, k, len(flip))) % k
    tasks = [f"item-{i:04d}" for i in range(n)]
    labels = pd.Series(np.array(CLASSES, dtype=object)[given], index=tasks)
    pred_probs = pd.DataFrame(probs, index=tasks, columns=CLASSES)
    return labels, pred_probs, {tasks[i] for i in flip}


def _precision_at_k(ranked: list[str], planted: set[str], k: int) -> float:
    top = ranked[:k]
    return sum(t in planted for t in top) / len(top)


class TestClassification:
    def test_planted_flips_rank_first(self) -> None:
        labels, probs, planted = _classification()
        res = find_label_issues(labels, probs)
        ranked = res.ranked(only_issues=False).index.tolist()
        k = len(planted)
        p_at_k = _precision_at_k(ranked, planted, k)
        print(f"classification precision@{k} = {p_at_k:.3f}")  # noqa: T201
        assert p_at_k >= 0.8
        flagged = set(res.ranked().index)
        recall = len(flagged & planted) / len(planted)
        assert recall >= 0.8

    @pytest.mark.parametrize(
        "filter_by", ["prune_by_noise_rate", "confident_learning", "both"], ids=str
    )
    @pytest.mark.parametrize(
        "method", ["self_confidence", "normalized_margin", "confidence_weighted_entropy"], ids=str
    )
    def test_equals_cleanlab_called_directly(self, filter_by: str, method: str) -> None:
        labels, probs, _ = _classification(n=300, seed=1)
        res = find_label_issues(labels, probs, filter_by=filter_by, quality_method=method)  # type: ignore[arg-type]
        codes = pd.Categorical(labels, categories=CLASSES).codes
        p = probs.to_numpy()
        expected_mask = cl_find_label_issues(codes, p, filter_by=filter_by, n_jobs=1)
        expected_q = cl_scores(codes, p, method=method)
        np.testing.assert_array_equal(res.frame["is_label_issue"].to_numpy(), expected_mask)
        np.testing.assert_allclose(res.frame["label_quality"].to_numpy(), expected_q, atol=1e-12)
        assert res.frame.index.tolist() == labels.index.tolist()
        assert res.frame.index.name == "task"
        assert (res.frame["predicted_label"] == probs.idxmax(axis=1)).all()

    def test_pred_probs_rows_are_aligned_by_task_not_position(self) -> None:
        labels, probs, _ = _classification(n=200, seed=2)
        shuffled = probs.sample(frac=1.0, random_state=3)
        a = find_label_issues(labels, probs).frame
        b = find_label_issues(labels, shuffled).frame
        pd.testing.assert_frame_equal(a, b)

    def test_inputs_unmodified_and_metric_result(self) -> None:
        labels, probs, _ = _classification(n=200, seed=4)
        lab0, prob0 = labels.copy(), probs.copy()
        res = find_label_issues(labels, probs)
        pd.testing.assert_series_equal(labels, lab0)
        pd.testing.assert_frame_equal(probs, prob0)
        mr = res.to_metric_result()
        assert mr.name == "label_issue_rate"
        assert mr.value == pytest.approx(res.n_issues / 200)
        assert mr.per_item is not None and len(mr.per_item) == 200

    def test_bad_inputs_name_the_problem(self) -> None:
        labels, probs, _ = _classification(n=50, seed=5)
        with pytest.raises(ValueError, match="zebra"):
            find_label_issues(labels.replace({labels.iloc[0]: "zebra"}), probs)
        values = probs.to_numpy().copy()
        values[3, 0] += 0.5
        broken = pd.DataFrame(values, index=probs.index, columns=probs.columns)
        with pytest.raises(ValueError, match="sum to 1.*item-0003"):
            find_label_issues(labels, broken)
        with pytest.raises(ValueError, match="no row"):
            find_label_issues(labels, probs.iloc[1:])
        with pytest.raises(TypeError, match="DataFrame"):
            find_label_issues(labels, probs.to_numpy())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="Series"):
            find_label_issues(labels.to_numpy(), probs)  # type: ignore[arg-type]


class TestOutOfFold:
    def _blobs(self, n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, pd.Series[str], set[str]]:
        rng = np.random.default_rng(seed)
        k = 3
        centers = rng.normal(0, 4.0, (k, 8))
        true = rng.integers(0, k, n)
        x = centers[true] + rng.normal(0, 1.0, (n, 8))
        given = true.copy()
        flip = rng.choice(n, 20, replace=False)
        given[flip] = (true[flip] + 1) % k
        tasks = [f"t{i}" for i in range(n)]
        names = np.array(["a", "b", "c"], dtype=object)
        return (
            pd.DataFrame(x, index=tasks),
            pd.Series(names[given], index=tasks),
            {tasks[i] for i in flip},
        )

    def test_matches_sklearn_cross_val_predict(self) -> None:
        features, labels, _ = self._blobs()
        out = out_of_fold_pred_probs(features, labels, rng=np.random.default_rng(7))
        seed = int(np.random.default_rng(7).integers(0, 2**31 - 1))
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
        y = pd.Categorical(labels, categories=["a", "b", "c"]).codes
        expected = cross_val_predict(
            make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed)),
            features.to_numpy(),
            y,
            cv=folds,
            method="predict_proba",
        )
        np.testing.assert_allclose(out.to_numpy(), expected, atol=1e-9)
        assert out.columns.tolist() == ["a", "b", "c"]
        assert out.index.tolist() == labels.index.tolist()

    def test_planted_flips_found_from_features(self) -> None:
        features, labels, planted = self._blobs(seed=1)
        probs = out_of_fold_pred_probs(features, labels, rng=np.random.default_rng(0))
        ranked = find_label_issues(labels, probs).ranked(only_issues=False).index.tolist()
        p_at_k = _precision_at_k(ranked, planted, len(planted))
        print(f"out-of-fold precision@{len(planted)} = {p_at_k:.3f}")  # noqa: T201
        assert p_at_k >= 0.9

    def test_rare_class_rejected(self) -> None:
        features, labels, _ = self._blobs(n=30)
        labels = labels.copy()
        labels.iloc[0] = "lonely"
        with pytest.raises(ValueError, match="lonely"):
            out_of_fold_pred_probs(features, labels)


def _multiannotator(
    n: int = 150, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame, npt.NDArray[np.int64]]:
    """Four good annotators and one who answers at random ("spammer")."""
    rng = np.random.default_rng(seed)
    k = 3
    true = rng.integers(0, k, n)
    rows = []
    for w, acc in [("ann1", 0.9), ("ann2", 0.85), ("ann3", 0.88), ("ann4", 0.9), ("spam", 0.0)]:
        for i in range(n):
            if rng.random() < 0.8:  # not every annotator labels every item
                lab = true[i] if rng.random() < acc else rng.integers(0, k)
                rows.append((f"t{i}", w, ["x", "y", "z"][lab]))
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), true] += 1.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    pred = pd.DataFrame(probs, index=[f"t{i}" for i in range(n)], columns=["x", "y", "z"])
    return answers, pred, true


class TestMultiannotator:
    def test_spammer_is_worst_and_consensus_is_accurate(self) -> None:
        answers, probs, true = _multiannotator()
        res = multiannotator_quality(answers, probs)
        assert res.annotators.index[0] == "spam"
        assert res.annotators.index.name == "worker"
        truth = pd.Series(np.array(["x", "y", "z"])[true], index=probs.index)
        acc = (res.consensus["consensus_label"] == truth.reindex(res.consensus.index)).mean()
        assert acc >= 0.9
        # The spammer's wrong answers are the lowest-quality labels.
        lq = res.label_quality.sort_values("label_quality")
        k = 20
        wrong = lq.apply(lambda r: r["label"] != truth[r["task"]], axis=1)
        p_at_k = float(wrong.head(k).mean())
        print(f"multi-annotator precision@{k} = {p_at_k:.3f}")  # noqa: T201
        assert p_at_k >= 0.8

    def test_equals_cleanlab_called_directly(self) -> None:
        answers, probs, _ = _multiannotator(n=80, seed=3)
        res = multiannotator_quality(answers, probs)
        wide = answers.pivot(index="task", columns="worker", values="label")
        tasks = answers["task"].unique()
        workers = answers["worker"].unique()
        wide = wide.reindex(index=tasks, columns=workers)
        codes = wide.apply(
            lambda c: pd.Categorical(c, categories=["x", "y", "z"]).codes.astype(float)
        ).replace(-1.0, np.nan)
        out = get_label_quality_multiannotator(codes, probs.loc[tasks].to_numpy(), verbose=False)
        lq = out["label_quality"]
        np.testing.assert_allclose(
            res.consensus["consensus_quality"].to_numpy(),
            lq["consensus_quality_score"].to_numpy(),
            atol=1e-9,
        )
        assert res.consensus["consensus_label"].tolist() == [
            "xyz"[i] for i in lq["consensus_label"]
        ]
        stats = out["annotator_stats"]
        np.testing.assert_allclose(
            res.annotators.loc[stats.index.tolist(), "annotator_quality"].to_numpy(),
            stats["annotator_quality"].to_numpy(),
            atol=1e-9,
        )

    def test_duplicate_answers_rejected(self) -> None:
        answers, probs, _ = _multiannotator(n=20)
        dup = pd.concat([answers, answers.iloc[:1]], ignore_index=True)
        with pytest.raises(ValueError, match="more than one answer"):
            multiannotator_quality(dup, probs)


def _detection(n_images: int = 60, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    """Confident detector boxes = truth; labels with planted swaps, misses and shifts."""
    rng = np.random.default_rng(seed)
    classes = ["car", "person", "bike"]
    truth = []
    for i in range(n_images):
        for _ in range(int(rng.integers(1, 4))):
            w, h = rng.uniform(40, 90, 2)
            x, y = rng.uniform(0, 400, 2)
            truth.append((f"img{i:03d}", str(rng.choice(classes)), x, y, w, h))
    cols = ["task", "label", "x", "y", "width", "height"]
    true_df = pd.DataFrame(truth, columns=cols)
    preds = true_df.copy()
    preds["score"] = 0.99
    labels = true_df.copy()
    planted_images = rng.choice(n_images, min(12, n_images // 2), replace=False)
    planted = set()
    drop = []
    for n, img in enumerate(planted_images):
        task = f"img{img:03d}"
        idx = labels.index[labels["task"] == task][0]
        planted.add(task)
        if n % 3 == 0:  # swapped class
            labels.loc[idx, "label"] = classes[(classes.index(labels.loc[idx, "label"]) + 1) % 3]
        elif n % 3 == 1:  # overlooked box
            drop.append(idx)
        else:  # badly located box
            labels.loc[idx, "x"] += labels.loc[idx, "width"] * 0.8
    labels = labels.drop(index=drop).reset_index(drop=True)
    return labels, preds, planted


class TestObjectDetection:
    def test_planted_box_errors_rank_first(self) -> None:
        labels, preds, planted = _detection()
        tasks = sorted(preds["task"].unique())
        res = find_box_label_issues(labels, preds, tasks=tasks)
        ranked = res.ranked(only_issues=False).index.tolist()
        p_at_k = _precision_at_k(ranked, planted, len(planted))
        print(f"box precision@{len(planted)} = {p_at_k:.3f}")  # noqa: T201
        assert p_at_k >= 0.8

    def test_equals_cleanlab_called_directly(self) -> None:
        labels, preds, _ = _detection(n_images=30, seed=2)
        tasks = sorted(preds["task"].unique())
        classes = ["bike", "car", "person"]
        res = find_box_label_issues(labels, preds, tasks=tasks)
        cl_labels, cl_preds = [], []
        for t in tasks:
            lab = labels[labels["task"] == t]
            xyxy = lab[["x", "y", "width", "height"]].to_numpy().copy()
            xyxy[:, 2:] += xyxy[:, :2]
            cl_labels.append(
                {"bboxes": xyxy, "labels": np.array([classes.index(c) for c in lab["label"]])}
            )
            pr = preds[preds["task"] == t]
            per = np.empty(3, dtype=object)
            for k, c in enumerate(classes):
                sub = pr[pr["label"] == c]
                arr = sub[["x", "y", "width", "height", "score"]].to_numpy().copy()
                arr[:, 2:4] += arr[:, :2]
                per[k] = arr.reshape(-1, 5)
            cl_preds.append(per)
        expected_q = cl_od_scores(cl_labels, cl_preds, verbose=False)
        expected_mask = cl_od_find(cl_labels, cl_preds)
        np.testing.assert_allclose(res.frame["label_quality"].to_numpy(), expected_q, atol=1e-12)
        np.testing.assert_array_equal(res.frame["is_label_issue"].to_numpy(), expected_mask)

    def test_image_without_any_box_is_clean(self) -> None:
        labels, preds, _ = _detection(n_images=10, seed=4)
        tasks = sorted(preds["task"].unique()) + ["empty-image"]
        res = find_box_label_issues(labels, preds, tasks=tasks)
        assert res.frame.loc["empty-image", "n_boxes"] == 0
        assert not res.frame.loc["empty-image", "is_label_issue"]

    def test_bad_boxes_rejected(self) -> None:
        labels, preds, _ = _detection(n_images=5)
        broken = labels.copy()
        broken.loc[0, "width"] = -3.0
        with pytest.raises(ValueError, match="negative"):
            find_box_label_issues(broken, preds)
        with pytest.raises(ValueError, match="score"):
            find_box_label_issues(labels, preds.drop(columns="score"))
