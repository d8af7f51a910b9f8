"""Helpers that run pycocotools' COCOeval on the same data as :mod:`metrics.detection`."""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from metrics.detection import DetectionGold, Detections
from metrics.masks import mask_area, mask_to_bbox, to_rle

__all__ = ["run_cocoeval", "gold_from_coco", "detections_from_results"]


def run_cocoeval(
    gt: Mapping[str, Any],
    results: Sequence[Mapping[str, Any]],
    iou_type: str,
    max_dets: Sequence[int] = (1, 10, 100),
) -> COCOeval:
    """Evaluate with pycocotools, silently; returns the COCOeval after summarize()."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(dict(gt))
        coco_gt.createIndex()
        if results:
            coco_dt = coco_gt.loadRes(copy.deepcopy(list(results)))
        else:  # loadRes cannot take an empty list; build what it would have built
            coco_dt = COCO()
            coco_dt.dataset = {
                "images": list(gt["images"]),
                "categories": copy.deepcopy(gt["categories"]),
                "annotations": [],
            }
            coco_dt.createIndex()
        ev = COCOeval(coco_gt, coco_dt, iou_type)
        ev.params.maxDets = list(max_dets)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def _image_sizes(gt: Mapping[str, Any]) -> dict[int, tuple[int, int]]:
    return {int(im["id"]): (int(im["height"]), int(im["width"])) for im in gt["images"]}


def gold_from_coco(gt: Mapping[str, Any], *, masks: bool = False) -> DetectionGold:
    """Flat arrays from a COCO instances dict (the test's own minimal reader)."""
    anns = gt["annotations"]
    sizes = _image_sizes(gt)
    rles = None
    if masks:
        rles = [
            to_rle(
                a["segmentation"],
                height=sizes[a["image_id"]][0],
                width=sizes[a["image_id"]][1],
            )
            for a in anns
        ]
    boxes: npt.NDArray[np.float64] = np.array([a["bbox"] for a in anns], dtype=float).reshape(-1, 4)
    return DetectionGold.from_arrays(
        image_ids=[a["image_id"] for a in anns],
        category_ids=[a["category_id"] for a in anns],
        boxes=boxes,
        areas=[a["area"] for a in anns],
        iscrowd=[bool(a.get("iscrowd", 0)) for a in anns],
        ann_ids=[a["id"] for a in anns],
        all_image_ids=[im["id"] for im in gt["images"]],
        all_category_ids=[c["id"] for c in gt["categories"]],
        rles=rles,
    )


def detections_from_results(
    results: Sequence[Mapping[str, Any]], *, masks: bool = False
) -> Detections:
    """Flat arrays from a COCO results list, with COCO.loadRes' area rule."""
    rles = [to_rle(r["segmentation"]) for r in results] if masks else None
    has_box = bool(results) and "bbox" in results[0] and results[0]["bbox"] != []
    if not results:
        boxes = np.zeros((0, 4))
        areas = np.zeros(0)
    elif has_box:
        boxes = np.array([r["bbox"] for r in results], dtype=float).reshape(-1, 4)
        areas = boxes[:, 2] * boxes[:, 3]
    else:
        assert rles is not None
        boxes = mask_to_bbox(rles)
        areas = mask_area(rles)
    return Detections.from_arrays(
        image_ids=[r["image_id"] for r in results],
        category_ids=[r["category_id"] for r in results],
        boxes=boxes,
        scores=[r["score"] for r in results] if all("score" in r for r in results) else None,
        areas=areas,
        rles=rles,
    )
