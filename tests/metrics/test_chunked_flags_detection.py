"""Detection flags in chunks equal cleanlab ObjectLab on every answer at once, whatever the cut
(with the model's confidences read to 4 decimals, as the flagger reads them)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from metrics.box_issues_partitioned import BoxPartial, box_partial, merge_box_partials
from metrics.chunked_flags import ChunkScores, concatenate_quality, flagger_for
from metrics.label_issues import find_box_label_issues

N = 48
CUTS = [[], [1], [7, 8, 30], [12, 24, 36], list(range(4, N, 4))]
CUT_IDS = ["whole", "one-first", "uneven", "four", "many"]
CLASSES = ["car", "person", "sign"]


def _scene(seed: int = 0, *, tie: bool = False) -> tuple[list[Any], list[Any], set[int]]:
    """Labels with planted errors (a box dropped, a class swapped, a box moved) and a model's
    scored boxes: its confident boxes are near the true ones, plus low-score extras."""
    rng = np.random.default_rng(seed)
    labels: list[Any] = []
    preds: list[Any] = []
    planted: set[int] = set()
    for i in range(N):
        n_obj = int(rng.integers(1, 4))
        truth = []
        for _ in range(n_obj):
            x, y = rng.uniform(0, 200, 2)
            w, h = rng.uniform(20, 60, 2)
            truth.append({"category": CLASSES[int(rng.integers(3))], "bbox": [x, y, w, h]})
        label = [dict(o) for o in truth]
        if i % 6 == 1:
            label = label[1:]  # an overlooked object
            planted.add(i)
        elif i % 6 == 3:
            other = [c for c in CLASSES if c != label[0]["category"]]
            label[0] = {**label[0], "category": other[0]}  # a swapped class
            planted.add(i)
        elif i % 6 == 5:
            x, y, w, h = label[0]["bbox"]
            label[0] = {**label[0], "bbox": [x + 0.6 * w, y + 0.5 * h, w, h]}  # badly located
            planted.add(i)
        pred = []
        for o in truth:
            x, y, w, h = o["bbox"]
            jitter = rng.normal(0, 1.0, 4)
            score = 0.97 if tie else float(rng.uniform(0.96, 0.999))
            pred.append(
                {
                    "category": o["category"],
                    "bbox": [x + jitter[0], y + jitter[1], w + abs(jitter[2]), h + abs(jitter[3])],
                    "score": score,
                }
            )
        if rng.random() < 0.5:
            x, y = rng.uniform(0, 200, 2)
            pred.append(
                {
                    "category": CLASSES[int(rng.integers(3))],
                    "bbox": [x, y, 30.0, 30.0],
                    "score": float(rng.uniform(0.05, 0.3)),
                }
            )
        labels.append(label)
        preds.append(pred)
    return labels, preds, planted


def _frame(values: list[Any], *, scored: bool) -> pd.DataFrame:
    rows = [
        {"task": i, "label": o["category"], "x": o["bbox"][0], "y": o["bbox"][1]}
        | {"width": o["bbox"][2], "height": o["bbox"][3]}
        | ({"score": o["score"]} if scored else {})
        for i, v in enumerate(values)
        for o in v
    ]
    cols = ["task", "label", "x", "y", "width", "height"] + (["score"] if scored else [])
    return pd.DataFrame(rows, columns=cols)


def _to_four_decimals(preds: list[Any]) -> list[Any]:
    """The model's boxes with their confidences as the flagger reads them."""
    return [[o | {"score": float(np.round(o["score"], 4))} for o in v] for v in preds]


def _chunked(labels: list[Any], preds: list[Any], cut: list[int]) -> tuple[Any, set[int]]:
    flagger = flagger_for("detection")
    bounds = [0, *cut, len(labels)]
    arrays = [
        flagger.encode(labels[a:b], preds[a:b], CLASSES)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    merged = flagger.merge([flagger.first_pass(a) for a in arrays])
    scored: list[ChunkScores] = [flagger.second_pass(a, merged) for a in arrays]
    return concatenate_quality(scored), {int(i) for i in flagger.issues(scored)}


@pytest.fixture(scope="module")
def reference() -> tuple[list[Any], list[Any], set[int], pd.DataFrame]:
    labels, preds, planted = _scene()
    whole = find_box_label_issues(
        _frame(labels, scored=False),
        _frame(_to_four_decimals(preds), scored=True),
        tasks=range(N),
        classes=CLASSES,
    )
    return labels, preds, planted, whole.frame


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_detection_equals_objectlab_on_all_answers(
    cut: list[int], reference: tuple[list[Any], list[Any], set[int], pd.DataFrame]
) -> None:
    labels, preds, _, whole = reference
    quality, flagged = _chunked(labels, preds, cut)
    np.testing.assert_allclose(quality, whole["label_quality"].to_numpy(), rtol=0, atol=1e-9)
    assert flagged == set(np.flatnonzero(whole["is_label_issue"].to_numpy()).tolist())


def test_planted_errors_are_flagged_and_rank_first(
    reference: tuple[list[Any], list[Any], set[int], pd.DataFrame],
) -> None:
    labels, preds, planted, _ = reference
    quality, flagged = _chunked(labels, preds, [10, 20])
    assert flagged <= planted and len(flagged) >= len(planted) // 2  # no false alarm
    worst = set(np.argsort(quality, kind="stable")[: len(planted)].tolist())
    assert len(worst & planted) >= 0.8 * len(planted)  # the review order finds the rest


def test_min_similarity_is_dataset_wide() -> None:
    """A chunk's qualities depend on other chunks through cleanlab's minimum similarity: the
    merged value, not the chunk's own, reproduces the all-at-once qualities."""
    from cleanlab.object_detection.rank import get_label_quality_scores

    labels, preds, _ = _scene(3)
    flagger = flagger_for("detection")
    a, b = (
        flagger.encode(labels[:24], preds[:24], CLASSES),
        flagger.encode(labels[24:], preds[24:], CLASSES),
    )
    pa, pb = flagger.first_pass(a), flagger.first_pass(b)
    assert pa["min_similarity"] != pb["min_similarity"]
    merged = flagger.merge([pa, pb])
    alone = flagger.second_pass(a, flagger.merge([pa])).quality
    together = flagger.second_pass(a, merged).quality
    from metrics.chunked_flags.detection import _cleanlab

    cl_labels, cl_preds, _ = _cleanlab(flagger.encode(labels, preds, CLASSES))
    whole = get_label_quality_scores(cl_labels, cl_preds, verbose=False)
    np.testing.assert_allclose(together, whole[:24], rtol=0, atol=1e-9)
    assert (pa["min_similarity"] < pb["min_similarity"]) or not np.allclose(alone, whole[:24])


def test_partials_merge_in_any_order() -> None:
    labels, preds, _ = _scene(5)
    flagger = flagger_for("detection")
    parts = [
        flagger.first_pass(flagger.encode(labels[a : a + 12], preds[a : a + 12], CLASSES))
        for a in range(0, N, 12)
    ]
    assert flagger.merge(parts) == flagger.merge(parts[::-1])


def test_tied_scores_give_the_same_flags_for_every_cut() -> None:
    """Every model box has confidence 0.9: cleanlab's own order within the tie is an
    unstable sort's; the chunked result is the same for every cut and order."""
    labels, preds, _ = _scene(7, tie=True)
    results = [_chunked(labels, preds, cut)[1] for cut in CUTS]
    assert all(r == results[0] for r in results)
    rev = _chunked(labels[::-1], preds[::-1], [])[1]
    assert {N - 1 - i for i in rev} == results[0]


def test_partial_round_trips_json() -> None:
    import json

    labels, preds, _ = _scene(1)
    flagger = flagger_for("detection")
    from metrics.chunked_flags.detection import _cleanlab

    cl_labels, cl_preds, k = _cleanlab(flagger.encode(labels, preds, CLASSES))
    part = box_partial(cl_labels, cl_preds, k)
    again = BoxPartial.from_json(json.loads(json.dumps(part.to_json())))
    assert np.array_equal(
        merge_box_partials([again], k).class_ap, merge_box_partials([part], k).class_ap
    )


@pytest.mark.parametrize(
    ("label", "pred", "match"),
    [
        ([{"category": "car", "bbox": [0, 0, 1]}], [], "bbox must be"),
        ([{"category": "bus", "bbox": [0, 0, 1, 1]}], [], "'bus' is not in the ontology"),
        ([], [{"category": "car", "bbox": [0, 0, 1, 1]}], "needs a confidence 'score'"),
        ([], [{"category": "car", "bbox": [0, 0, 1, 1], "score": 1.5}], "'score' in"),
        ("car", [], "must be a list of boxes"),
        ([{"bbox": [0, 0, 1, 1]}], [], "needs 'category' and 'bbox'"),
    ],
    ids=["short-bbox", "unknown-class", "no-score", "score-range", "not-a-list", "no-category"],
)
def test_encode_refuses_bad_answers_by_place(label: Any, pred: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        flagger_for("detection").encode([[], label], [[], pred], CLASSES)
    assert "answer 1" in str(info.value)


def test_confidences_read_to_four_decimals_bound_the_first_pass() -> None:
    """12,000 model boxes of one class, every confidence distinct at full precision: the
    first pass keeps one entry per distinct 4-decimal score (at most 10,001 per class,
    whatever the delivery's size), and the flags are cleanlab's on those confidences."""
    rng = np.random.default_rng(11)
    n = 12_000
    labels = [[{"category": "car", "bbox": [10.0, 10.0, 20.0, 20.0]}] for _ in range(n)]
    shift = rng.normal(0, 3, (n, 2))
    preds = [
        [
            {
                "category": "car",
                "bbox": [10.0 + dx, 10.0 + dy, 20.0, 20.0],
                "score": float(score),
            }
        ]
        for (dx, dy), score in zip(shift, rng.uniform(0, 1, n), strict=True)
    ]
    assert len({p[0]["score"] for p in preds}) == n
    flagger = flagger_for("detection")
    arrays = flagger.encode(labels, preds, ["car"])
    expected = np.round(np.asarray([p[0]["score"] for p in preds]), 4)
    assert np.array_equal(arrays["pred_score"], expected)
    partial = flagger.first_pass(arrays)
    assert len(partial["scores"][0]) == len(np.unique(expected)) <= 10_001
    merged = flagger.merge([partial])
    flagged = set(flagger.issues([flagger.second_pass(arrays, merged)]).tolist())
    whole = find_box_label_issues(
        _frame(labels, scored=False),
        _frame(_to_four_decimals(preds), scored=True),
        tasks=range(n),
        classes=["car"],
    )
    assert flagged == set(np.flatnonzero(whole.frame["is_label_issue"].to_numpy()).tolist())
