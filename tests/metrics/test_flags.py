"""metrics.flags: planted vendor errors, ambiguous items and gold errors rank at the top."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from cleanlab.filter import find_label_issues as cl_find_label_issues
from cleanlab.rank import get_label_quality_scores as cl_scores
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.detection import box_iou
from metrics.flags import (
    FLAG_COLUMNS,
    Flags,
    box_candidates_disagree_flags,
    box_gold_may_be_wrong_flags,
    box_model_vs_label_flags,
    box_vendor_vs_gold_flags,
    candidates_disagree_flags,
    disagreement_groups,
    gold_may_be_wrong_flags,
    model_vs_label_flags,
    multiannotator_flags,
    precision_at_k,
    vendor_vs_gold_flags,
)

CLASSES = ["cat", "dog", "fox", "owl", "yak"]


class Bakeoff:
    """Generated classification bake-off with known truth and planted problems."""

    def __init__(self, n: int = 400, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        k = len(CLASSES)
        names = np.array(CLASSES, dtype=object)
        self.tasks = [f"t{i:04d}" for i in range(n)]
        true = rng.integers(0, k, n)
        # Gold is right except on planted items.
        gold = true.copy()
        self.gold_errors = set(rng.choice(self.tasks, 15, replace=False).tolist())
        gi = [self.tasks.index(t) for t in self.gold_errors]
        gold[gi] = (true[gi] + 1) % k
        self.gold = pd.Series(names[gold], index=self.tasks)
        # Ambiguous items: candidates split between "cat" and "dog".
        rest = [t for t in self.tasks if t not in self.gold_errors]
        self.ambiguous = set(rng.choice(rest, 20, replace=False).tolist())
        rows = []
        self.vendor_errors: set[tuple[str, str]] = set()
        for w, acc in [("A", 0.98), ("B", 0.96), ("C", 0.95), ("D", 0.98)]:
            for i, t in enumerate(self.tasks):
                if t in self.ambiguous:
                    lab = "cat" if w in ("A", "C") else "dog"
                    conf = 0.6
                elif rng.random() < acc:
                    lab, conf = names[true[i]], 0.9
                else:
                    lab, conf = names[(true[i] + int(rng.integers(1, k))) % k], 0.5
                rows.append((t, w, lab, conf))
                if lab != self.gold[t]:
                    self.vendor_errors.add((t, w))
        self.answers = pd.DataFrame(rows, columns=["task", "worker", "label", "score"])
        logits = rng.normal(0.0, 1.0, (n, k))
        logits[np.arange(n), true] += 3.0
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        self.pred_probs = pd.DataFrame(probs, index=self.tasks, columns=CLASSES)


@pytest.fixture(scope="module")
def bakeoff() -> Bakeoff:
    return Bakeoff()


def _check_frame(flags: Flags) -> None:
    f = flags.frame
    assert tuple(f.columns) == FLAG_COLUMNS
    scores = f["score"].to_numpy()
    assert ((scores >= 0) & (scores <= 1)).all()
    assert (np.diff(scores) <= 1e-12).all(), "flags must be sorted by score, best first"


class TestVendorVsGold:
    def test_every_difference_is_flagged_once(self, bakeoff: Bakeoff) -> None:
        flags = vendor_vs_gold_flags(bakeoff.answers, bakeoff.gold)
        _check_frame(flags)
        got = set(zip(flags.frame["task"], flags.frame["worker"], strict=True))
        assert got == bakeoff.vendor_errors
        assert len(flags) == len(bakeoff.vendor_errors)
        assert (flags.frame["reason"] == "vendor_vs_gold").all()
        assert (flags.frame["suggested_label"] == bakeoff.gold[flags.frame["task"]].values).all()

    def test_confidently_wrong_ranks_first(self) -> None:
        answers = pd.DataFrame(
            {
                "task": ["a", "a", "a", "b", "b", "b", "c", "c"],
                "worker": ["V1", "V2", "V3", "V1", "V2", "V3", "V1", "V2"],
                "label": ["dog", "cat", "cat", "dog", "cat", "dog", "dog", "cat"],
                "score": [0.99, 0.9, 0.9, 0.3, 0.9, 0.3, 0.99, 0.8],
            }
        )
        gold = pd.Series({"a": "cat", "b": "cat", "c": "cat"})
        flags = vendor_vs_gold_flags(answers, gold)
        # a/V1: confident, both others back gold -> 0.99 * 1; c/V1: 0.99 * 1;
        # b/V1 and b/V3: unsure and half the others disagree with gold -> 0.3 * 0.5.
        f = flags.frame
        assert f[["task", "worker"]].values.tolist()[:2] == [["a", "V1"], ["c", "V1"]]
        assert f["score"].tolist() == pytest.approx([0.99, 0.99, 0.15, 0.15])

    def test_model_counts_as_evidence(self) -> None:
        answers = pd.DataFrame({"task": ["a", "b"], "worker": ["V", "V"], "label": ["dog", "dog"]})
        gold = pd.Series({"a": "cat", "b": "cat"})
        probs = pd.DataFrame([[0.9, 0.1], [0.2, 0.8]], index=["a", "b"], columns=["cat", "dog"])
        f = vendor_vs_gold_flags(answers, gold, pred_probs=probs).frame
        assert f["task"].tolist() == ["a", "b"]
        assert f["score"].tolist() == pytest.approx([0.9, 0.2])

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.sampled_from(["x", "y", "z"]), min_size=6, max_size=30))
    def test_invariant_to_renaming_tasks(self, labels: list[str]) -> None:
        n = len(labels) // 2
        answers = pd.DataFrame(
            {
                "task": [f"t{i}" for i in range(n)] * 2,
                "worker": ["A"] * n + ["B"] * n,
                "label": labels[: 2 * n],
            }
        )
        gold = pd.Series(["x"] * n, index=[f"t{i}" for i in range(n)])
        before = answers.copy()
        a = vendor_vs_gold_flags(answers, gold).frame
        pd.testing.assert_frame_equal(answers, before)
        renamed = answers.assign(task=answers["task"].str.replace("t", "item-"))
        b = vendor_vs_gold_flags(renamed, gold.rename(lambda t: t.replace("t", "item-"))).frame
        assert a["score"].tolist() == b["score"].tolist()
        assert [t.replace("t", "item-") for t in a["task"]] == b["task"].tolist()

    def test_gold_worker_in_answers_rejected(self, bakeoff: Bakeoff) -> None:
        bad = bakeoff.answers.assign(worker="gold")
        with pytest.raises(ValueError, match="gold"):
            vendor_vs_gold_flags(bad, bakeoff.gold)


class TestModelVsLabel:
    def test_equals_cleanlab_per_worker(self, bakeoff: Bakeoff) -> None:
        flags = model_vs_label_flags(bakeoff.answers, bakeoff.pred_probs, gold=bakeoff.gold)
        _check_frame(flags)
        for worker in ["A", "B", "C", "D", "gold"]:
            if worker == "gold":
                labels = bakeoff.gold
            else:
                rows = bakeoff.answers[bakeoff.answers["worker"] == worker]
                labels = pd.Series(rows["label"].to_numpy(), index=rows["task"].to_numpy())
            codes = pd.Categorical(labels, categories=CLASSES).codes
            probs = bakeoff.pred_probs.loc[labels.index].to_numpy()
            mask = cl_find_label_issues(codes, probs, n_jobs=1)
            quality = cl_scores(codes, probs)
            mine = flags.frame[flags.frame["worker"] == worker].set_index("task")
            assert set(mine.index) == set(labels.index[mask])
            expected = pd.Series(1 - quality[mask], index=labels.index[mask])
            np.testing.assert_allclose(
                mine["score"].to_numpy(), expected.reindex(mine.index).to_numpy(), atol=1e-12
            )

    def test_gold_errors_found_by_model(self, bakeoff: Bakeoff) -> None:
        flags = model_vs_label_flags(None, bakeoff.pred_probs, gold=bakeoff.gold)
        k = len(bakeoff.gold_errors)
        p = precision_at_k(flags, bakeoff.gold_errors, k=k)
        print(f"model-vs-gold precision@{k} = {p:.3f}")  # noqa: T201
        assert p >= 0.8


class TestGoldMayBeWrong:
    @pytest.mark.parametrize("with_model", [False, True], ids=["candidates", "with-model"])
    def test_planted_gold_errors_rank_first(self, bakeoff: Bakeoff, with_model: bool) -> None:
        flags = gold_may_be_wrong_flags(
            bakeoff.answers, bakeoff.gold, pred_probs=bakeoff.pred_probs if with_model else None
        )
        _check_frame(flags)
        k = len(bakeoff.gold_errors)
        p = precision_at_k(flags, bakeoff.gold_errors, k=k)
        print(f"gold-may-be-wrong ({with_model=}) precision@{k} = {p:.3f}")  # noqa: T201
        assert p >= 0.9
        assert (flags.frame["worker"] == "gold").all()

    def test_model_must_agree(self) -> None:
        answers = pd.DataFrame({"task": ["a"] * 3, "worker": ["A", "B", "C"], "label": ["dog"] * 3})
        gold = pd.Series({"a": "cat"})
        agree = pd.DataFrame([[0.2, 0.8]], index=["a"], columns=["cat", "dog"])
        disagree = pd.DataFrame([[0.9, 0.1]], index=["a"], columns=["cat", "dog"])
        assert len(gold_may_be_wrong_flags(answers, gold, pred_probs=agree)) == 1
        assert gold_may_be_wrong_flags(answers, gold, pred_probs=agree).frame["score"][
            0
        ] == pytest.approx(0.9)
        assert len(gold_may_be_wrong_flags(answers, gold, pred_probs=disagree)) == 0


class TestCandidatesDisagree:
    def test_planted_ambiguous_items_rank_first_and_group(self, bakeoff: Bakeoff) -> None:
        flags = candidates_disagree_flags(bakeoff.answers, gold=bakeoff.gold)
        _check_frame(flags)
        k = len(bakeoff.ambiguous)
        p = precision_at_k(flags, bakeoff.ambiguous, k=k)
        print(f"candidates-disagree precision@{k} = {p:.3f}")  # noqa: T201
        # Items where two vendors err differently by chance are as ambiguous by entropy.
        assert p >= 0.8
        assert bakeoff.ambiguous <= set(flags.frame["task"])
        groups = disagreement_groups(flags.by_reason("candidates_disagree"))
        assert groups.index[0] == "cat | dog"
        assert groups["n_flags"].iloc[0] >= 15
        assert set(groups["example_tasks"].iloc[0]) <= bakeoff.ambiguous

    def test_entropy_values(self) -> None:
        answers = pd.DataFrame(
            {
                "task": ["u"] * 4 + ["s"] * 4 + ["h"] * 4,
                "worker": list("ABCD") * 3,
                "label": ["a", "a", "a", "a", "a", "b", "c", "d", "a", "a", "b", "b"],
            }
        )
        f = candidates_disagree_flags(answers, min_entropy=0.0).frame.set_index("task")
        assert "u" not in f.index  # unanimous
        assert f.loc["s", "score"] == pytest.approx(1.0)
        assert f.loc["h", "score"] == pytest.approx(np.log(2) / np.log(4))
        assert f.loc["h", "group"] == "a | b"


class TestMultiannotator:
    def test_spammer_answers_rank_first(self) -> None:
        rng = np.random.default_rng(5)
        n, k = 150, 3
        true = rng.integers(0, k, n)
        rows = []
        wrong: set[tuple[str, str]] = set()
        for w, acc in [("a1", 0.92), ("a2", 0.9), ("a3", 0.9), ("spam", 0.2)]:
            for i in range(n):
                lab = true[i] if rng.random() < acc else (true[i] + int(rng.integers(1, k))) % k
                rows.append((f"t{i}", w, "xyz"[lab]))
                if lab != true[i]:
                    wrong.add((f"t{i}", w))
        answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
        logits = rng.normal(0, 1, (n, k))
        logits[np.arange(n), true] += 2.0
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        pred = pd.DataFrame(probs, index=[f"t{i}" for i in range(n)], columns=list("xyz"))
        flags = multiannotator_flags(answers, pred)
        _check_frame(flags)
        p = precision_at_k(flags, wrong, k=50, on="pair")
        print(f"multi-annotator flags precision@50 = {p:.3f}")  # noqa: T201
        assert p >= 0.9


# --------------------------------------------------------------------------- boxes


def _box(
    task: str, worker: str | None, label: str, x: float, y: float, w: float = 20.0
) -> dict[str, object]:
    row: dict[str, object] = {"task": task, "label": label, "x": x, "y": y, "width": w, "height": w}
    if worker is not None:
        row["worker"] = worker
    return row


class TestBoxVendorVsGold:
    def test_each_error_kind(self) -> None:
        gold = pd.DataFrame(
            [
                _box("ok", None, "car", 0, 0),
                _box("miss", None, "car", 0, 0),
                _box("miss", None, "car", 100, 100),
                _box("cls", None, "car", 0, 0),
                _box("loc", None, "car", 0, 0),
            ]
        )
        cand = pd.DataFrame(
            [
                _box("ok", "V", "car", 1, 0),
                _box("miss", "V", "car", 0, 0),
                _box("extra", "V", "person", 50, 50),
                _box("cls", "V", "person", 0, 0),
                _box("loc", "V", "car", 10, 5),
            ]
        )
        flags = box_vendor_vs_gold_flags(cand, gold, tasks=["ok", "miss", "cls", "loc", "extra"])
        _check_frame(flags)
        f = flags.frame.set_index("task")
        assert "ok" not in f.index
        assert f.loc["miss", "kind"] == "missed"
        assert f.loc["extra", "kind"] == "extra"
        assert f.loc["cls", "kind"] == "wrong_class"
        assert f.loc["loc", "kind"] == "low_iou"
        iou = box_iou([[0, 0, 20, 20]], [[10, 5, 20, 20]])[0, 0]
        assert f.loc["loc", "score"] == pytest.approx(0.95 * (1 - iou / 0.5))
        assert f.loc["miss", "detail"] == "missed=1 extra=0 wrong_class=0 low_iou=0"

    def test_planted_vendor_box_errors(self) -> None:
        gold, cand, planted, _ = _box_bakeoff()
        flags = box_vendor_vs_gold_flags(cand, gold)
        got = set(zip(flags.frame["task"], flags.frame["worker"], strict=True))
        assert planted <= got
        p = precision_at_k(flags, planted, k=len(planted), on="pair")
        print(f"box vendor-vs-gold precision@{len(planted)} = {p:.3f}")  # noqa: T201
        assert p >= 0.9


def _box_bakeoff(
    n: int = 40, seed: int = 0, *, vendor_errors: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame, set[tuple[str, str]], dict[str, str]]:
    """Gold + three candidates; planted vendor errors and planted gold errors."""
    rng = np.random.default_rng(seed)
    truth: list[dict[str, object]] = []
    for i in range(n):
        for j in range(int(rng.integers(1, 4))):
            truth.append(
                _box(f"img{i:02d}", None, str(rng.choice(["car", "bus"])), 60.0 * j, 0.0, 40.0)
            )
    truth_df = pd.DataFrame(truth)
    gold = truth_df.copy()
    gold_errors: dict[str, str] = {}
    tasks = sorted(truth_df["task"].unique())
    for m, t in enumerate(rng.choice(tasks, 6, replace=False)):
        idx = gold.index[gold["task"] == t][0]
        if m % 3 == 0:
            gold.loc[idx, "label"] = "bus" if gold.loc[idx, "label"] == "car" else "car"
            gold_errors[t] = "wrong_class"
        elif m % 3 == 1:
            gold = gold.drop(index=idx)
            gold_errors[t] = "missed"
        else:
            extra = pd.DataFrame([_box(t, None, "car", 300, 300, 40.0)])
            gold = pd.concat([gold, extra], ignore_index=True)
            gold_errors[t] = "extra"
    cands = []
    planted: set[tuple[str, str]] = set()
    clean = [t for t in tasks if t not in gold_errors]
    vendor_bad = set(rng.choice(clean, 8, replace=False).tolist())
    for w in ["A", "B", "C"]:
        c = truth_df.assign(worker=w)
        c["x"] = c["x"] + rng.uniform(-1, 1, len(c))
        if w == "C" and vendor_errors:
            for t in vendor_bad:
                idx = c.index[c["task"] == t][0]
                c.loc[idx, "label"] = "bus" if c.loc[idx, "label"] == "car" else "car"
                planted.add((t, "C"))
        cands.append(c)
    cand = pd.concat(cands, ignore_index=True)
    return gold.reset_index(drop=True), cand, planted, gold_errors


class TestBoxGoldAndDisagreement:
    def test_planted_gold_errors_found_with_kind(self) -> None:
        gold, cand, _, gold_errors = _box_bakeoff()
        flags = box_gold_may_be_wrong_flags(cand, gold)
        _check_frame(flags)
        k = len(gold_errors)
        p = precision_at_k(flags, gold_errors, k=k)
        print(f"box gold-may-be-wrong precision@{k} = {p:.3f}")  # noqa: T201
        assert p == 1.0
        f = flags.frame.set_index("task")
        for t, kind in gold_errors.items():
            assert f.loc[t, "kind"] == kind

    def test_candidates_disagree_on_boxes(self) -> None:
        gold, cand, _, _ = _box_bakeoff(seed=1, vendor_errors=False)
        tasks = sorted(gold["task"].unique())
        # Planted ambiguity: on 5 items candidate B draws the bus twice as wide, C skips it.
        amb = set(tasks[:5])
        mod = cand.copy()
        for t in amb:
            b = mod.index[(mod["task"] == t) & (mod["worker"] == "B")][0]
            mod.loc[b, "width"] = 95.0
            c = mod.index[(mod["task"] == t) & (mod["worker"] == "C")][0]
            mod = mod.drop(index=c)
        flags = box_candidates_disagree_flags(mod, tasks=tasks)
        _check_frame(flags)
        p = precision_at_k(flags, amb, k=len(amb))
        print(f"box candidates-disagree precision@{len(amb)} = {p:.3f}")  # noqa: T201
        assert p == 1.0
        assert flags.frame["worker"].isna().all()

    def test_model_vs_label_boxes_finds_gold_errors(self) -> None:
        gold, cand, _, gold_errors = _box_bakeoff(seed=2)
        # A confident detector that agrees with the truth (the candidates' consensus).
        truth = cand[cand["worker"] == "A"].drop(columns="worker").assign(score=0.99)
        flags = box_model_vs_label_flags(truth, gold_boxes=gold)
        p = precision_at_k(flags, gold_errors, k=len(gold_errors))
        print(f"box model-vs-gold precision@{len(gold_errors)} = {p:.3f}")  # noqa: T201
        assert p >= 0.8


def test_concat_resorts_and_empty_is_typed() -> None:
    a = vendor_vs_gold_flags(
        pd.DataFrame({"task": ["x"], "worker": ["A"], "label": ["dog"], "score": [0.4]}),
        pd.Series({"x": "cat"}),
    )
    b = gold_may_be_wrong_flags(
        pd.DataFrame({"task": ["y"] * 2, "worker": ["A", "B"], "label": ["dog"] * 2}),
        pd.Series({"y": "cat"}),
    )
    merged = Flags.concat([a, b, Flags.concat([])])
    assert merged.frame["task"].tolist() == ["y", "x"]
    empty = Flags.concat([])
    assert tuple(empty.frame.columns) == FLAG_COLUMNS
    assert len(disagreement_groups(empty)) == 0


_answers = st.lists(
    st.tuples(st.integers(0, 5), st.sampled_from("ABCD"), st.sampled_from(["x", "y", "z"])),
    min_size=1,
    max_size=40,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=40, deadline=None)
@given(_answers, st.lists(st.sampled_from(["x", "y", "z"]), min_size=6, max_size=6))
def test_item_flags_invariant_to_renaming_classes(
    rows: list[tuple[int, str, str]], gold_labels: list[str]
) -> None:
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"])
    gold = pd.Series(gold_labels, index=range(6))
    before = answers.copy()
    rename = {"x": "kiwi", "y": "lime", "z": "fig"}
    renamed = answers.assign(label=answers["label"].map(rename))

    def disagree(a: pd.DataFrame, g: pd.Series[str]) -> Flags:
        return candidates_disagree_flags(a, gold=g, min_entropy=0.0)

    def outvoted(a: pd.DataFrame, g: pd.Series[str]) -> Flags:
        return gold_may_be_wrong_flags(a, g)

    def differs(a: pd.DataFrame, g: pd.Series[str]) -> Flags:
        return vendor_vs_gold_flags(a, g)

    for fn in (disagree, outvoted, differs):
        a = fn(answers, gold).frame
        b = fn(renamed, gold.map(rename)).frame
        _check_frame(Flags(a))
        assert a[["task", "score"]].values.tolist() == b[["task", "score"]].values.tolist()
        assert a["worker"].tolist() == b["worker"].tolist()
    pd.testing.assert_frame_equal(answers, before)


def test_a_systematic_box_edge_bias_flags_the_items_it_shows_on() -> None:
    """boxwise draws every vehicle 4.8 px wider on the right (its shadow); careful jitters."""
    from metrics.flags import box_edge_bias_flags

    rng = np.random.default_rng(3)
    gold_rows, cand_rows = [], []
    for t in range(20):
        x, y = float(rng.uniform(0, 100)), float(rng.uniform(0, 100))
        gold_rows.append(
            {"task": f"i{t}", "label": "vehicle", "x": x, "y": y, "width": 40.0, "height": 20.0}
        )
        gold_rows.append(
            {"task": f"i{t}", "label": "sign", "x": x + 60, "y": y, "width": 10.0, "height": 10.0}
        )
        cand_rows.append(
            {
                "task": f"i{t}",
                "worker": "boxwise",
                "label": "vehicle",
                "x": x,
                "y": y,
                "width": 44.8,
                "height": 20.0,
            }
        )
        cand_rows.append(
            {
                "task": f"i{t}",
                "worker": "boxwise",
                "label": "sign",
                "x": x + 60,
                "y": y,
                "width": 10.0,
                "height": 10.0,
            }
        )
        jitter = float(rng.normal(0, 1.0))
        cand_rows.append(
            {
                "task": f"i{t}",
                "worker": "careful",
                "label": "vehicle",
                "x": x + jitter,
                "y": y,
                "width": 40.0,
                "height": 20.0,
            }
        )
    flags = box_edge_bias_flags(pd.DataFrame(cand_rows), pd.DataFrame(gold_rows)).frame
    assert set(flags["worker"]) == {"boxwise"} and set(flags["kind"]) == {"box_bias"}
    assert len(flags) == 20 and set(flags["group"]) == {"vehicle"}
    assert "vehicle right edge +4.8 px on average over 20 boxes" in flags["detail"].iloc[0]
