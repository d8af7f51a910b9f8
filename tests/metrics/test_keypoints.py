"""COCO keypoint AP/AR equal ``COCOeval(iouType="keypoints")`` (generated and real cases)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from metrics.keypoints import (
    COCO_PERSON_SIGMAS,
    KeypointDetections,
    KeypointGold,
    evaluate_keypoints,
)

DATUMARO = (
    Path(__file__).resolve().parents[1]
    / "data"
    / "external"
    / "datumaro"
    / "person_keypoints_val.json"
)


def _pycocotools(gt: dict[str, Any], dt: list[dict[str, Any]], sigmas: np.ndarray) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(gt)
        coco.createIndex()
        ev = COCOeval(coco, coco.loadRes(copy.deepcopy(dt)), "keypoints")
        ev.params.kpt_oks_sigmas = sigmas
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats, dtype=np.float64)


def _ours(gt: dict[str, Any], dt: list[dict[str, Any]], sigmas: Any) -> np.ndarray:
    anns = gt["annotations"]
    gold = KeypointGold.from_arrays(
        image_ids=[a["image_id"] for a in anns],
        category_ids=[a["category_id"] for a in anns],
        keypoints=[a["keypoints"] for a in anns],
        boxes=[a["bbox"] for a in anns],
        areas=[a["area"] for a in anns],
        num_keypoints=[a["num_keypoints"] for a in anns],
        iscrowd=[a.get("iscrowd", 0) for a in anns],
        ann_ids=[a["id"] for a in anns],
        all_image_ids=[im["id"] for im in gt["images"]],
        all_category_ids=[c["id"] for c in gt["categories"]],
    )
    dets = KeypointDetections.from_arrays(
        image_ids=[d["image_id"] for d in dt],
        category_ids=[d["category_id"] for d in dt],
        keypoints=[d["keypoints"] for d in dt] or np.zeros((0, gold.keypoints.shape[1] * 3)),
        scores=[d["score"] for d in dt],
    )
    return np.asarray(evaluate_keypoints(gold, dets, sigmas=sigmas).stats)


def _case(seed: int, n_images: int, n_k: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    anns: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for image_id in range(1, n_images + 1):
        images.append({"id": image_id, "width": 640, "height": 480})
        for _ in range(int(rng.integers(0, 4))):
            cx, cy = rng.uniform(50, 590), rng.uniform(50, 430)
            size = float(rng.choice([20.0, 60.0, 150.0]))
            xy = np.column_stack(
                (cx + rng.normal(0, size / 3, n_k), cy + rng.normal(0, size / 3, n_k))
            )
            v = rng.choice([0, 1, 2], size=n_k, p=[0.2, 0.2, 0.6])
            if rng.uniform() < 0.1:
                v[:] = 0  # no visible keypoint: ignored gold, OKS by the box rule
            kp = np.column_stack((np.where(v > 0, xy[:, 0], 0), np.where(v > 0, xy[:, 1], 0), v))
            box = [cx - size / 2, cy - size / 2, size, size]
            anns.append(
                {
                    "id": len(anns) + 1,
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": kp.round(2).ravel().tolist(),
                    "num_keypoints": int((v > 0).sum()),
                    "bbox": box,
                    "area": size * size * 0.6,
                    "iscrowd": int(rng.uniform() < 0.05),
                }
            )
            for _ in range(int(rng.integers(0, 3))):
                noisy = xy + rng.normal(0, size * rng.uniform(0.02, 0.3), xy.shape)
                dets.append(
                    {
                        "image_id": image_id,
                        "category_id": 1,
                        "keypoints": np.column_stack((noisy, np.ones(n_k)))
                        .round(2)
                        .ravel()
                        .tolist(),
                        "score": round(float(rng.uniform()), 3),
                    }
                )
        if rng.uniform() < 0.3:  # a false positive somewhere random
            xy = rng.uniform(0, 400, (n_k, 2))
            dets.append(
                {
                    "image_id": image_id,
                    "category_id": 1,
                    "keypoints": np.column_stack((xy, np.ones(n_k))).round(2).ravel().tolist(),
                    "score": round(float(rng.uniform()), 3),
                }
            )
    gt = {"images": images, "categories": [{"id": 1, "name": "person"}], "annotations": anns}
    return gt, dets


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 100_000), n_images=st.integers(1, 12))
def test_equals_pycocotools_on_generated_person_poses(seed: int, n_images: int) -> None:
    gt, dt = _case(seed, n_images, 17)
    if not dt:
        dt = [{"image_id": 1, "category_id": 1, "keypoints": [0.0, 0.0, 1.0] * 17, "score": 0.1}]
    np.testing.assert_allclose(
        _ours(gt, dt, COCO_PERSON_SIGMAS), _pycocotools(gt, dt, COCO_PERSON_SIGMAS), atol=1e-9
    )


def test_equals_pycocotools_with_custom_sigmas_and_per_category_sigmas() -> None:
    gt, dt = _case(3, 30, 5)
    sigmas = np.array([0.05, 0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(_ours(gt, dt, sigmas), _pycocotools(gt, dt, sigmas), atol=1e-9)
    # per-category sigmas: category 1 given by mapping equals the same vector
    np.testing.assert_allclose(_ours(gt, dt, {1: sigmas}), _ours(gt, dt, sigmas), atol=0)
    with pytest.raises(ValueError, match="no sigmas for category 1"):
        _ours(gt, dt, {2: sigmas})


def test_datumaro_public_keypoints_fixture_equals_pycocotools() -> None:
    gt = json.loads(DATUMARO.read_text())
    gt["categories"] = [c for c in gt["categories"] if c["keypoints"]]
    gt["annotations"] = [a for a in gt["annotations"] if a.get("keypoints")]
    for a in gt["annotations"]:
        a.setdefault("num_keypoints", sum(v > 0 for v in a["keypoints"][2::3]))
    n_k = len(gt["annotations"][0]["keypoints"]) // 3
    dt = [
        {
            "image_id": a["image_id"],
            "category_id": a["category_id"],
            "keypoints": [c + (0.5 if i % 3 != 2 else 0) for i, c in enumerate(a["keypoints"])],
            "score": 0.9,
        }
        for a in gt["annotations"]
    ]
    sigmas = np.full(n_k, 0.1)
    ours, ref = _ours(gt, dt, sigmas), _pycocotools(gt, dt, sigmas)
    np.testing.assert_allclose(ours, ref, atol=1e-9)


def test_per_keypoint_errors_point_at_the_bad_keypoint() -> None:
    kp = np.array([[10, 10, 2, 50, 10, 2, 30, 40, 2]], dtype=float)
    moved = kp.copy()
    moved[0, 3] += 8  # the second keypoint is 8 px off
    gold = KeypointGold.from_arrays(
        image_ids=[1], category_ids=[1], keypoints=kp, boxes=[[10, 10, 40, 30]], areas=[1200.0]
    )
    dets = KeypointDetections.from_arrays(
        image_ids=[1], category_ids=[1], keypoints=moved, scores=[0.9]
    )
    result = evaluate_keypoints(gold, dets, sigmas=[0.1, 0.1, 0.1])
    np.testing.assert_allclose(result.per_keypoint_error_px, [0.0, 8.0, 0.0])
    assert result.per_keypoint_similarity[1] < 1.0 == result.per_keypoint_similarity[0]
