"""Seeded generator of a COCO-sized detection benchmark (gold + scored detections).

Default size: 5,000 images, 80 categories, about 7 gold boxes per image (Poisson, 1% crowd
regions, category frequencies skewed like COCO's) and exactly 100 scored detections per
image: a few jittered copies of each gold box (mostly the right class, higher scores)
plus random false positives (lower scores). Scores are rounded to 4 decimals, so equal
scores occur and tie-breaking must match COCOeval's. Box sizes span COCO's small,
medium and large ranges; gold ``area`` is a mask-like share of the box area.

The data is held as flat arrays; :meth:`CocoBenchData.gold_dict` and
:meth:`CocoBenchData.results_list` build the JSON-shaped inputs that pycocotools and
faster-coco-eval need (fresh objects on every call, as those libraries modify them).

Run ``python benchmarks/coco_data.py --out DIR`` to write ``gold.json``/``results.json``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from metrics.detection import DetectionGold, Detections

__all__ = ["CocoBenchData", "make_coco_bbox_benchmark"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_SIZES = np.array([[640, 480], [480, 640], [640, 427], [500, 375], [612, 612]], dtype=np.int64)


@dataclass(frozen=True, eq=False)
class CocoBenchData:
    """Gold annotations and scored detections as flat arrays."""

    image_ids: IntArray
    widths: IntArray
    heights: IntArray
    category_ids: IntArray
    gt_image: IntArray
    gt_category: IntArray
    gt_id: IntArray
    gt_box: FloatArray
    gt_area: FloatArray
    gt_crowd: npt.NDArray[np.bool_]
    dt_image: IntArray
    dt_category: IntArray
    dt_box: FloatArray
    dt_score: FloatArray

    def gold(self) -> DetectionGold:
        """Gold for :func:`metrics.detection.evaluate_coco`."""
        return DetectionGold(
            image_ids=self.gt_image,
            category_ids=self.gt_category,
            ann_ids=self.gt_id,
            boxes=self.gt_box,
            areas=self.gt_area,
            iscrowd=self.gt_crowd,
            all_image_ids=self.image_ids,
            all_category_ids=self.category_ids,
        )

    def detections(self) -> Detections:
        """Scored detections for :func:`metrics.detection.evaluate_coco`."""
        return Detections(
            image_ids=self.dt_image,
            category_ids=self.dt_category,
            boxes=self.dt_box,
            scores=self.dt_score,
        )

    def gold_dict(self) -> dict[str, Any]:
        """A COCO instances dict (new objects on each call)."""
        images = [
            {"id": int(i), "width": int(w), "height": int(h), "file_name": f"{int(i)}.jpg"}
            for i, w, h in zip(
                self.image_ids.tolist(), self.widths.tolist(), self.heights.tolist(), strict=True
            )
        ]
        anns = []
        for aid, img, cat, box, area, crowd in zip(
            self.gt_id.tolist(),
            self.gt_image.tolist(),
            self.gt_category.tolist(),
            self.gt_box.tolist(),
            self.gt_area.tolist(),
            self.gt_crowd.tolist(),
            strict=True,
        ):
            x, y, w, h = box
            anns.append(
                {
                    "id": aid,
                    "image_id": img,
                    "category_id": cat,
                    "bbox": box,
                    "area": area,
                    "iscrowd": int(crowd),
                    "segmentation": [[x, y, x + w, y, x + w, y + h, x, y + h]],
                }
            )
        cats = [{"id": int(c), "name": f"class{int(c)}"} for c in self.category_ids.tolist()]
        return {"images": images, "annotations": anns, "categories": cats}

    def results_list(self) -> list[dict[str, Any]]:
        """A COCO results list (new objects on each call)."""
        return [
            {"image_id": img, "category_id": cat, "bbox": box, "score": score}
            for img, cat, box, score in zip(
                self.dt_image.tolist(),
                self.dt_category.tolist(),
                self.dt_box.tolist(),
                self.dt_score.tolist(),
                strict=True,
            )
        ]


def _boxes(rng: np.random.Generator, n: int, widths: IntArray, heights: IntArray) -> FloatArray:
    """Random boxes inside their images, sizes log-uniform from 6 px to 400 px."""
    side = np.exp(rng.uniform(np.log(6.0), np.log(400.0), n))
    aspect = np.exp(rng.normal(0.0, 0.5, n))
    w = np.minimum(side * aspect, widths - 1.0)
    h = np.minimum(side / aspect, heights - 1.0)
    x = rng.uniform(0.0, 1.0, n) * (widths - w)
    y = rng.uniform(0.0, 1.0, n) * (heights - h)
    return np.round(np.stack([x, y, w, h], axis=1), 2)


def make_coco_bbox_benchmark(
    *,
    n_images: int = 5000,
    n_categories: int = 80,
    gold_per_image: float = 7.0,
    dets_per_image: int = 100,
    crowd_share: float = 0.01,
    seed: int = 0,
) -> CocoBenchData:
    """Generate the benchmark data set (deterministic for a given ``seed``)."""
    rng = np.random.default_rng(seed)
    image_ids = np.arange(1, n_images + 1, dtype=np.int64) * 7  # sparse ids, like COCO
    size = _SIZES[rng.integers(0, len(_SIZES), n_images)]
    widths, heights = size[:, 0].copy(), size[:, 1].copy()
    category_ids = np.arange(1, n_categories + 1, dtype=np.int64) + (
        np.arange(n_categories, dtype=np.int64) // 10
    )  # gaps in the ids, like COCO
    freq = 1.0 / np.arange(1, n_categories + 1) ** 0.8
    freq /= freq.sum()

    n_gold = rng.poisson(gold_per_image, n_images)
    gt_img_idx = np.repeat(np.arange(n_images), n_gold)
    n_gt = gt_img_idx.shape[0]
    gt_box = _boxes(rng, n_gt, widths[gt_img_idx], heights[gt_img_idx])
    gt_cat = category_ids[rng.choice(n_categories, n_gt, p=freq)]
    gt_area = np.round(gt_box[:, 2] * gt_box[:, 3] * rng.uniform(0.4, 0.9, n_gt), 2)
    gt_crowd = rng.uniform(size=n_gt) < crowd_share

    # true-positive-like detections: 1-3 jittered copies of each gold box
    copies = rng.integers(1, 4, n_gt)
    src = np.repeat(np.arange(n_gt), copies)
    jitter = rng.normal(0.0, 0.08, (src.shape[0], 4)) * np.repeat(
        np.maximum(gt_box[src][:, 2:], 1.0), 2, axis=1
    )
    near = gt_box[src] + jitter
    near[:, 2:] = np.maximum(near[:, 2:], 1.0)
    near = np.round(near, 2)
    near_cat = gt_cat[src].copy()
    wrong = rng.uniform(size=src.shape[0]) < 0.15
    near_cat[wrong] = category_ids[rng.choice(n_categories, int(wrong.sum()), p=freq)]
    near_score = rng.beta(5.0, 2.0, src.shape[0])
    near_img = gt_img_idx[src]

    # fill every image up to exactly dets_per_image with false positives
    per_img_near = np.bincount(near_img, minlength=n_images)
    keep_near = np.ones(src.shape[0], dtype=bool)
    over = np.flatnonzero(per_img_near > dets_per_image)
    for i in over:  # rare: drop surplus copies
        rows = np.flatnonzero(near_img == i)[dets_per_image:]
        keep_near[rows] = False
    near_img, near, near_cat, near_score = (
        near_img[keep_near],
        near[keep_near],
        near_cat[keep_near],
        near_score[keep_near],
    )
    n_fill = dets_per_image - np.bincount(near_img, minlength=n_images)
    fill_img = np.repeat(np.arange(n_images), n_fill)
    fill_box = _boxes(rng, fill_img.shape[0], widths[fill_img], heights[fill_img])
    fill_cat = category_ids[rng.choice(n_categories, fill_img.shape[0], p=freq)]
    fill_score = rng.beta(1.5, 5.0, fill_img.shape[0])

    dt_img_idx = np.concatenate([near_img, fill_img])
    order = rng.permutation(dt_img_idx.shape[0])  # results files come in any order
    dt_img_idx = dt_img_idx[order]
    dt_box = np.concatenate([near, fill_box])[order]
    dt_cat = np.concatenate([near_cat, fill_cat])[order]
    dt_score = np.round(np.concatenate([near_score, fill_score])[order], 4)

    return CocoBenchData(
        image_ids=image_ids,
        widths=widths,
        heights=heights,
        category_ids=category_ids,
        gt_image=image_ids[gt_img_idx],
        gt_category=gt_cat.astype(np.int64),
        gt_id=np.arange(1, n_gt + 1, dtype=np.int64),
        gt_box=gt_box,
        gt_area=gt_area,
        gt_crowd=gt_crowd,
        dt_image=image_ids[dt_img_idx],
        dt_category=dt_cat.astype(np.int64),
        dt_box=dt_box,
        dt_score=dt_score,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="Write the COCO benchmark data set as JSON.")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-images", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    data = make_coco_bbox_benchmark(n_images=args.n_images, seed=args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gold.json").write_text(json.dumps(data.gold_dict()))
    (args.out / "results.json").write_text(json.dumps(data.results_list()))
    print(f"wrote {args.out}/gold.json ({data.gt_image.shape[0]} boxes) and results.json")


if __name__ == "__main__":
    main()
