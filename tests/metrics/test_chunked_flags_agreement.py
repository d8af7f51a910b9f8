"""Segmentation, keypoint, span and transcription flags: the engine's per-item metric with the
model in gold's place, the same for every cut into chunks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from metrics.chunked_flags import ChunkFlagger, concatenate_quality, flagger_for
from metrics.chunked_flags.keypoints import flagger as keypoint_flagger
from metrics.scoring.base import ScoringOptions

N = 40
CUTS = [[], [1], [7, 8, 30], list(range(4, N, 4))]
CUT_IDS = ["whole", "one-first", "uneven", "many"]


def _run(
    flagger: ChunkFlagger, labels: list[Any], preds: list[Any], classes: list[str], cut: list[int]
) -> tuple[Any, set[int]]:
    bounds = [0, *cut, len(labels)]
    arrays = [
        flagger.encode(labels[a:b], preds[a:b], classes)
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    merged = flagger.merge([flagger.first_pass(a) for a in arrays])
    scored = [flagger.second_pass(a, merged) for a in arrays]
    return concatenate_quality(scored), {int(i) for i in flagger.issues(scored)}


def _engine_items(score: Callable[..., Any], gold: list[Any], labels: list[Any], **kw: Any) -> Any:
    index = pd.Index([f"i{n:03d}" for n in range(len(gold))])
    s = score(pd.Series(gold, index=index), pd.Series(labels, index=index), **kw)
    return s.items["score"].to_numpy(dtype=np.float64)


# --------------------------------------------------------------------------- segmentation


def _square(x: float, y: float, side: float, cat: str = "cell", **extra: Any) -> dict[str, Any]:
    poly = [x, y, x + side, y, x + side, y + side, x, y + side]
    return {"category": cat, "segmentation": [poly], "height": 64, "width": 64} | extra


def _masks(seed: int = 0) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(seed)
    labels, preds = [], []
    for _ in range(N):
        k = int(rng.integers(0, 3))
        truth = [(float(rng.uniform(0, 40)), float(rng.uniform(0, 40))) for _ in range(k)]
        cats = [["cell", "nucleus"][int(rng.integers(2))] for _ in range(k)]
        shift = rng.uniform(0, 12, k)  # some labels drawn well off the model's mask
        labels.append(
            [_square(x + d, y, 16, c) for (x, y), c, d in zip(truth, cats, shift, strict=True)]
        )
        pred = [
            _square(x, y, 16, c, score=float(rng.uniform(0.5, 1)))
            for (x, y), c in zip(truth, cats, strict=True)
        ]
        if rng.random() < 0.4:  # a low-confidence extra the label rightly leaves out
            pred.append(_square(40, 40, 10, "cell", score=0.2))
        preds.append(pred)
    return labels, preds


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_segmentation_is_the_engines_mask_f1(cut: list[int]) -> None:
    from metrics.scoring.segmentation import score

    labels, preds = _masks()
    quality, flagged = _run(flagger_for("segmentation"), labels, preds, ["cell", "nucleus"], cut)
    confident = [[o for o in p if o["score"] >= 0.5] for p in preds]
    expect = _engine_items(score, confident, labels)
    np.testing.assert_allclose(quality, expect, rtol=0, atol=1e-12)
    assert flagged == set(np.flatnonzero(expect < 0.5).tolist())
    assert 0 < len(flagged) < N


def test_segmentation_one_mask_matches_pycocotools_iou() -> None:
    from pycocotools import mask as mask_utils

    from metrics.masks import to_rle

    flagger = flagger_for("segmentation")
    for shift in (0, 3, 6, 9, 12):
        label, pred = _square(10 + shift, 10, 16), _square(10, 10, 16, score=0.9)
        iou = mask_utils.iou(
            [to_rle(label["segmentation"], height=64, width=64)],
            [to_rle(pred["segmentation"], height=64, width=64)],
            [0],
        )[0][0]
        quality = flagger.encode([[label]], [[pred]], ["cell"])["quality"][0]
        assert quality == (1.0 if iou >= 0.5 else 0.0)


# --------------------------------------------------------------------------- keypoints

SIGMAS = {"hand": [0.05, 0.05, 0.05, 0.05]}


def _poses(seed: int = 0) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(seed)
    labels, preds = [], []
    for _ in range(N):
        k = int(rng.integers(0, 3))
        label, pred = [], []
        for _ in range(k):
            base = rng.uniform(20, 200, 2)
            pts = [[*(base + rng.uniform(0, 40, 2)), 2] for _ in range(4)]
            noise = rng.normal(0, float(rng.choice([0.5, 8.0])), (4, 2))  # some labels far off
            label.append(
                {
                    "category": "hand",
                    "points": [
                        [*(p[:2] + e), 2] for p, e in zip(np.asarray(pts), noise, strict=True)
                    ],
                }
            )
            pred.append({"category": "hand", "points": pts, "score": float(rng.uniform(0.5, 1))})
        labels.append(label)
        preds.append(pred)
    return labels, preds


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_keypoints_are_the_engines_oks_f1(cut: list[int]) -> None:
    from metrics.scoring.keypoints import score

    labels, preds = _poses()
    quality, flagged = _run(keypoint_flagger(SIGMAS), labels, preds, ["hand"], cut)
    options = ScoringOptions(keypoint_sigmas=(("hand", tuple(SIGMAS["hand"])),))
    expect = _engine_items(score, preds, labels, options=options)
    np.testing.assert_allclose(quality, expect, rtol=0, atol=1e-12)
    assert flagged == set(np.flatnonzero(expect < 0.5).tolist())
    assert 0 < len(flagged) < N


def test_keypoints_without_sigmas_name_the_fix() -> None:
    labels, preds = _poses()
    with pytest.raises(ValueError, match="give its keypoint sigmas"):
        flagger_for("keypoints").encode(labels, preds, ["hand"])


def test_keypoints_read_the_projects_sigmas() -> None:
    labels, preds = _poses()
    ontology = {"classes": [{"name": "hand"}], "keypoint_sigmas": SIGMAS}
    configured = flagger_for("keypoints", ontology=ontology)
    expect = keypoint_flagger(SIGMAS).encode(labels, preds, ["hand"])["quality"]
    np.testing.assert_array_equal(configured.encode(labels, preds, ["hand"])["quality"], expect)
    assert flagger_for("spans", ontology=ontology) is flagger_for("spans")  # nothing to read


# --------------------------------------------------------------------------- spans


def _spans(seed: int = 0) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(seed)
    labels, preds = [], []
    for _ in range(N):
        pred = []
        for s in sorted(rng.choice(50, int(rng.integers(0, 4)), replace=False).tolist()):
            pred.append({"start": 2 * s, "end": 2 * s + 1, "type": ["PER", "LOC"][s % 2]})
        label = [dict(sp, end=sp["end"] + 1) if rng.random() < 0.3 else dict(sp) for sp in pred]
        labels.append(label)
        preds.append(pred)
    return labels, preds


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_spans_are_the_engines_exact_span_f1(cut: list[int]) -> None:
    from metrics.scoring.spans import score

    labels, preds = _spans()
    quality, flagged = _run(flagger_for("spans"), labels, preds, ["PER", "LOC"], cut)
    expect = _engine_items(score, preds, labels)
    np.testing.assert_allclose(quality, expect, rtol=0, atol=1e-12)
    assert flagged == set(np.flatnonzero(expect < 0.5).tolist())
    assert 0 < len(flagged) < N


# --------------------------------------------------------------------------- transcription

WORDS = "the a cat dog sat ran on mat off under table".split()


def _texts(seed: int = 0) -> tuple[list[Any], list[Any]]:
    rng = np.random.default_rng(seed)
    labels, preds = [], []
    for _ in range(N):
        ref = [str(w) for w in rng.choice(WORDS, int(rng.integers(1, 8)))]
        hyp = [w if rng.random() > float(rng.choice([0.1, 0.7])) else "xx" for w in ref]
        preds.append(" ".join(ref))
        labels.append(" ".join(hyp))
    return labels, preds


@pytest.mark.parametrize("cut", CUTS, ids=CUT_IDS)
def test_transcription_is_one_minus_jiwer_wer(cut: list[int]) -> None:
    import jiwer

    from metrics.scoring.transcription import score
    from metrics.transcription import Normalization, normalize

    labels, preds = _texts()
    quality, flagged = _run(flagger_for("transcription"), labels, preds, [], cut)
    expect = np.array(
        [
            1 - min(1.0, jiwer.wer(normalize(p, Normalization()), normalize(lab, Normalization())))
            for lab, p in zip(labels, preds, strict=True)
        ]
    )
    np.testing.assert_allclose(quality, expect, rtol=0, atol=1e-9)
    np.testing.assert_allclose(quality, _engine_items(score, preds, labels), rtol=0, atol=1e-12)
    assert flagged == set(np.flatnonzero(expect < 0.5).tolist())
    assert 0 < len(flagged) < N


# --------------------------------------------------------------------------- shared


def test_registry_has_the_structured_types() -> None:
    for task_type in ("detection", "segmentation", "keypoints", "spans", "transcription"):
        flagger = flagger_for(task_type)
        assert flagger.task_type == task_type and "flag" in flagger.method


def test_a_polygon_without_size_takes_the_size_of_the_answers_rle() -> None:
    from metrics.masks import to_rle

    flagger = flagger_for("segmentation")
    polygon: list[list[float]] = [[0, 0, 16, 0, 16, 16, 0, 16]]
    label = {"category": "cell", "segmentation": polygon}
    rle = to_rle(polygon, height=64, width=64)
    rle = {"size": rle["size"], "counts": rle["counts"].decode()}
    pred = {"category": "cell", "segmentation": rle, "score": 0.9}
    assert flagger.encode([[label]], [[pred]], ["cell"])["quality"][0] == 1.0


def test_low_confidence_model_objects_are_not_claims() -> None:
    flagger = flagger_for("segmentation")
    label = [_square(0, 0, 16)]
    with_extra = [_square(0, 0, 16, score=0.9), _square(40, 40, 16, score=0.49)]
    assert flagger.encode([label], [with_extra], ["cell"])["quality"][0] == 1.0
    confident_extra = [_square(0, 0, 16, score=0.9), _square(40, 40, 16, score=0.5)]
    assert flagger.encode([label], [confident_extra], ["cell"])["quality"][0] == pytest.approx(
        2 / 3
    )


@pytest.mark.parametrize(
    ("task_type", "label", "pred", "match"),
    [
        (
            "segmentation",
            [{"category": "cell", "segmentation": [[0, 0, 4, 0, 4, 4]]}],
            [],
            "answer 1: label object 0: polygons need the image height",
        ),
        ("segmentation", [_square(0, 0, 4, "bone")], [], "'bone' is not in the ontology"),
        ("segmentation", [], [_square(0, 0, 4, score=2.0)], "score 2.0 not in"),
        ("keypoints", [{"category": "cell", "points": [[1, 2]]}], [], "answer 1: label object 0"),
        ("spans", [{"start": 3, "end": 1, "type": "cell"}], [], "answer 1: label"),
        ("spans", [], [{"start": 0, "end": 1, "type": "ORG"}], "'ORG'"),
        ("transcription", "text", ["not", "text"], "answer 1: the prediction must be"),
    ],
    ids=[
        "polygon-no-size",
        "unknown-class",
        "score-range",
        "bad-points",
        "span-order",
        "span-type",
        "transcript-type",
    ],
)
def test_encode_refuses_bad_answers_by_place(
    task_type: str, label: Any, pred: Any, match: str
) -> None:
    empty: Any = "" if task_type == "transcription" else []
    with pytest.raises(ValueError, match=match):
        flagger_for(task_type).encode([empty, label], [empty, pred], ["cell"])


@pytest.mark.parametrize(
    "task_type", ["detection", "segmentation", "keypoints", "spans", "transcription"]
)
def test_a_chunk_without_answers_scores_nothing(task_type: str) -> None:
    """A chunk of honeypots or unanswered items has no answers; it passes every phase."""
    flagger = flagger_for(task_type)
    arrays = flagger.encode([], [], ["cell"])
    scored = flagger.second_pass(arrays, flagger.merge([flagger.first_pass(arrays)]))
    assert scored.quality.shape == (0,) and scored.n_issues == 0
    assert flagger.issues([scored]).size == 0
