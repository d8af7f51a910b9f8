"""Consensus of several annotators' regions and spans (:mod:`metrics.fusion`).

Hand-computed cases for each rule, and the property every fusion must have: identical
answers fuse to that answer.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools import mask as coco_mask

from metrics.fusion import fuse_boxes, fuse_keypoints, fuse_masks, fuse_spans, pose_similarity


def _box(cat: str, x: float, y: float, w: float, h: float) -> dict[str, Any]:
    return {"category": cat, "bbox": [x, y, w, h]}


def _square(cat: str, x: int, y: int, side: int, size: int = 20) -> dict[str, Any]:
    m = np.zeros((size, size), dtype=np.uint8)
    m[y : y + side, x : x + side] = 1
    return {"category": cat, "segmentation": coco_mask.encode(np.asfortranarray(m))}


def _decode(obj: dict[str, Any]) -> np.ndarray:
    return np.asarray(coco_mask.decode(obj["segmentation"]), dtype=bool)


class TestBoxes:
    def test_majority_cluster_is_kept_with_median_corners(self) -> None:
        a = [_box("car", 0, 0, 10, 10)]
        b = [_box("car", 2, 0, 10, 12), _box("dog", 50, 50, 5, 5)]
        c = [_box("car", 1, 1, 12, 10)]
        fused = fuse_boxes([a, b, c])
        # corners (x1, y1, x2, y2): (0,0,10,10), (2,0,12,12), (1,1,13,11) -> median (1,0,12,11)
        assert fused.objects == [_box("car", 1.0, 0.0, 11.0, 11.0)]
        assert fused.no_majority == 1  # the dog: one annotator of three

    def test_half_is_not_a_majority(self) -> None:
        fused = fuse_boxes([[_box("car", 0, 0, 10, 10)], []])
        assert fused.objects == [] and fused.no_majority == 1

    def test_even_cluster_takes_the_mean_of_the_middle_corners(self) -> None:
        answers = [[_box("car", x, 0, 10, 10)] for x in (0, 1, 2, 3)]
        fused = fuse_boxes(answers)
        assert fused.objects == [_box("car", 1.5, 0.0, 10.0, 10.0)]

    def test_categories_never_mix(self) -> None:
        fused = fuse_boxes([[_box("car", 0, 0, 10, 10)], [_box("van", 0, 0, 10, 10)]])
        assert fused.objects == [] and fused.no_majority == 2

    def test_one_region_per_annotator_in_a_cluster(self) -> None:
        # annotator 0 draws two overlapping cars; annotator 1 one: one pair joins, the
        # other car of annotator 0 stays alone (1 of 2 annotators: no majority)
        a = [_box("car", 0, 0, 10, 10), _box("car", 1, 0, 10, 10)]
        b = [_box("car", 1, 0, 10, 10)]
        fused = fuse_boxes([a, b])
        assert fused.objects == [_box("car", 1.0, 0.0, 10.0, 10.0)]
        assert fused.no_majority == 1

    def test_below_the_threshold_no_cluster(self) -> None:
        # IoU of [0,0,10,10] and [6,0,10,10] = 40 / 160 = 0.25
        a, b = [_box("car", 0, 0, 10, 10)], [_box("car", 6, 0, 10, 10)]
        assert fuse_boxes([a, b]).objects == []
        assert fuse_boxes([a, b], iou_threshold=0.25).objects == [_box("car", 3.0, 0.0, 10.0, 10.0)]

    def test_complete_linkage(self) -> None:
        # x=0 and x=4 overlap 0.43 (< 0.5) although each overlaps x=2 at 0.67: one of them
        # joins the middle box, the other stays out (3 annotators: a pair is a majority)
        answers = [[_box("car", x, 0, 10, 10)] for x in (0, 2, 4)]
        fused = fuse_boxes(answers)
        assert fused.objects == [_box("car", 1.0, 0.0, 10.0, 10.0)]
        assert fused.no_majority == 1

    def test_bad_threshold_and_box(self) -> None:
        with pytest.raises(ValueError, match="threshold"):
            fuse_boxes([], iou_threshold=0)
        with pytest.raises(ValueError, match="bbox"):
            fuse_boxes([[{"category": "car", "bbox": [1, 2]}]])


class TestMasks:
    def test_pixel_majority_of_the_item_annotators(self) -> None:
        a, b, c = _square("cell", 0, 0, 10), _square("cell", 1, 0, 10), _square("cell", 0, 1, 10)
        fused = fuse_masks([[a], [b], [c]])
        assert fused.no_majority == 0 and len(fused.objects) == 1
        votes = _decode(a).astype(int) + _decode(b).astype(int) + _decode(c).astype(int)
        np.testing.assert_array_equal(_decode(fused.objects[0]), votes >= 2)

    def test_minority_region_and_unusable_polygon(self) -> None:
        lone = {"category": "cell", "segmentation": [[0, 0, 4, 0, 4, 4]]}  # no image size
        fused = fuse_masks([[_square("cell", 0, 0, 5)], [lone], []])
        assert fused.objects == [] and fused.no_majority == 1 and fused.n_unusable == 1


class TestKeypoints:
    SIGMAS = {"person": np.array([0.1, 0.1, 0.1])}

    def test_similarity_is_cocos_oks_when_the_poses_agree_on_visibility(self) -> None:
        g = np.array([[10.0, 10, 2], [20, 10, 2], [15, 20, 1]])
        d = g + np.array([[1.0, 0, 0], [0, 2, 0], [1, 1, 0]])
        area = 100.0
        var = (2 * self.SIGMAS["person"]) ** 2
        d2 = ((d[:, :2] - g[:, :2]) ** 2).sum(axis=1)
        expected = float(np.exp(-d2 / var / (area + np.spacing(1)) / 2).mean())
        sim = pose_similarity(g, d, self.SIGMAS["person"], area_a=area, area_b=area)
        assert sim == pytest.approx(expected, abs=1e-12)

    def test_median_per_keypoint_and_majority_of_labels(self) -> None:
        p1 = {"category": "person", "points": [[10, 10, 2], [20, 10, 2], [15, 20, 0]], "area": 400}
        p2 = {"category": "person", "points": [[11, 10, 2], [21, 10, 1], [15, 21, 1]], "area": 400}
        p3 = {"category": "person", "points": [[12, 11, 1], [22, 10, 1], [0, 0, 0]], "area": 400}
        fused = fuse_keypoints([[p1], [p2], [p3]], sigmas=self.SIGMAS)
        assert fused.no_majority == 0
        # kp0: median x of 10,11,12 = 11; y of 10,10,11 = 10; v: two of three say 2 -> 2
        # kp1: x 21, y 10; v: one of three says 2 -> 1; kp2: labelled by 1 of 3 -> dropped
        assert fused.objects == [
            {"category": "person", "points": [[11.0, 10.0, 2.0], [21.0, 10.0, 1.0], [0, 0, 0]]}
        ]

    def test_far_poses_do_not_cluster(self) -> None:
        p1 = {"category": "person", "points": [[10, 10, 2], [20, 10, 2], [15, 20, 2]]}
        p2 = {"category": "person", "points": [[110, 110, 2], [120, 110, 2], [115, 120, 2]]}
        fused = fuse_keypoints([[p1], [p2]], sigmas=self.SIGMAS)
        assert fused.objects == [] and fused.no_majority == 2


class TestSpans:
    def test_character_majority_of_the_same_type(self) -> None:
        answers = [
            [(0, 5, "PER"), (10, 14, "LOC")],
            [(0, 4, "PER"), (10, 14, "ORG")],
            [(1, 5, "PER")],
        ]
        fused = fuse_spans(answers)
        # PER covered 2/3 on 0..5 (char 0: 2, 1-3: 3, 4: 2): all majority -> (0, 5)
        # LOC and ORG at 10..14: one annotator each -> no majority (two runs dropped)
        assert fused.objects == [(0, 5, "PER")]
        assert fused.no_majority == 2

    def test_adjacent_spans_stay_apart_and_a_partial_run_is_counted(self) -> None:
        answers = [[(0, 4, "LOC"), (4, 8, "LOC")], [(0, 4, "LOC"), (4, 9, "LOC")]]
        fused = fuse_spans(answers)
        assert fused.objects == [(0, 4, "LOC"), (4, 8, "LOC")]
        assert fused.no_majority == 1  # the run 0..9 has char 8 on one annotator only

    def test_no_entities_is_a_vote(self) -> None:
        assert fuse_spans([[(0, 3, "PER")], [], []]).objects == []
        assert fuse_spans([[], []]).objects == []


_coord = st.integers(min_value=0, max_value=60)


@st.composite
def _boxes(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(min_value=0, max_value=5))
    return [
        _box(
            draw(st.sampled_from(["car", "van"])),
            draw(_coord),
            draw(_coord),
            draw(st.integers(1, 30)),
            draw(st.integers(1, 30)),
        )
        for _ in range(n)
    ]


@st.composite
def _spans(draw: st.DrawFn) -> list[tuple[int, int, str]]:
    """Spans that do not overlap within a type (adjacent ones allowed)."""
    out: list[tuple[int, int, str]] = []
    for kind in ("PER", "LOC"):
        cuts = sorted(draw(st.sets(st.integers(0, 40), max_size=8)))
        for s, e in zip(cuts[::2], cuts[1::2], strict=False):
            if draw(st.booleans()):
                out.append((s, e, kind))
        if len(cuts) >= 3 and draw(st.booleans()):
            out.append((cuts[1], cuts[2], kind)) if (cuts[1], cuts[2], kind) not in out else None
    return sorted(set(out))


def _disjoint_per_type(spans: list[tuple[int, int, str]]) -> bool:
    for kind in {k for _, _, k in spans}:
        mine = sorted((s, e) for s, e, k in spans if k == kind)
        if any(e > s2 for (_, e), (s2, _) in zip(mine, mine[1:], strict=False)):
            return False
    return True


@settings(max_examples=60, deadline=None)
@given(_boxes(), st.integers(2, 5))
def test_identical_box_answers_fuse_to_themselves(answer: list[dict[str, Any]], n: int) -> None:
    fused = fuse_boxes([answer] * n)
    key = [(o["category"], [float(v) for v in o["bbox"]]) for o in answer]
    assert sorted(key) == sorted((o["category"], o["bbox"]) for o in fused.objects)
    assert fused.no_majority == 0


@settings(max_examples=60, deadline=None)
@given(_spans(), st.integers(2, 5))
def test_identical_span_answers_fuse_to_themselves(
    answer: list[tuple[int, int, str]], n: int
) -> None:
    if not _disjoint_per_type(answer):
        return
    fused = fuse_spans([answer] * n)
    assert fused.objects == sorted(answer) and fused.no_majority == 0


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14), st.integers(1, 6)), max_size=3),
    st.integers(2, 4),
)
def test_identical_mask_answers_fuse_to_themselves(
    squares: list[tuple[int, int, int]], n: int
) -> None:
    answer = [_square("cell", x, y, side) for x, y, side in squares]
    fused = fuse_masks([answer] * n)
    assert fused.no_majority == 0
    got = sorted(_decode(o).tobytes() for o in fused.objects)
    assert got == sorted(_decode(o).tobytes() for o in answer)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 80), st.integers(0, 80), st.sampled_from([0, 1, 2])),
            min_size=3,
            max_size=3,
        ),
        max_size=3,
    ),
    st.integers(2, 4),
)
def test_identical_pose_answers_fuse_to_themselves(
    poses: list[list[tuple[int, int, int]]], n: int
) -> None:
    answer = [
        {"category": "person", "points": [[float(x), float(y), float(v)] for x, y, v in p]}
        for p in poses
        if any(v > 0 for _, _, v in p)
    ]
    fused = fuse_keypoints([answer] * n, sigmas={"person": [0.1, 0.1, 0.1]})
    expected = sorted(
        [[float(x), float(y), float(v)] if v > 0 else [0.0, 0.0, 0.0] for x, y, v in p]
        for p in poses
        if any(v > 0 for _, _, v in p)
    )
    got: list[list[list[float]]] = sorted(o["points"] for o in fused.objects)
    assert got == expected
    assert fused.no_majority == 0
