"""COCO segm evaluation: Bakeoff vs faster-coco-eval, same data, same process.

Data (seeded): ``--n-images`` images (default 5,000) of COCO sizes, 80 categories, about 7 gold
masks per image (random polygons, 1% crowd) and ``--dets`` scored detections per image (jittered
copies of the gold, mostly the right class, plus false positives), all as compressed RLE.

Timed, best of ``--repeat`` runs: Bakeoff's :func:`metrics.detection.evaluate_coco` with
``iou_type="segm"`` on flat arrays, against faster-coco-eval's ``COCOeval_faster``
(evaluate + accumulate + summarize, from its ``COCO``/``loadRes`` objects). The 12 numbers are
checked against faster-coco-eval on the full set, and against pycocotools on the first
``--check-images`` images (pycocotools is the reference; it takes minutes on the full set).

Prints a table with the ratio; exits 1 when the numbers differ (1e-12) or Bakeoff is slower
than faster-coco-eval (target: at least as fast), 2 when faster-coco-eval is not installed.

Run: ``.venv/bin/python benchmarks/bench_coco_segm.py [--n-images 5000] [--repeat 3]``
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import sys
import time
from typing import Any

import numpy as np
from pycocotools import mask as mask_utils

from metrics.detection import DetectionGold, Detections, evaluate_coco

_SIZES = np.array([[640, 480], [480, 640], [640, 427], [500, 375], [612, 612]], dtype=np.int64)


def _polygon(
    rng: np.random.Generator, cx: float, cy: float, r: float, w: int, h: int
) -> list[float]:
    angles = np.sort(rng.uniform(0, 2 * np.pi, 8))
    radii = r * rng.uniform(0.6, 1.0, 8)
    xs = np.clip(cx + radii * np.cos(angles), 0, w - 1)
    ys = np.clip(cy + radii * np.sin(angles), 0, h - 1)
    return np.column_stack((xs, ys)).ravel().round(2).tolist()


def make_data(n_images: int, n_dets: int, seed: int) -> dict[str, Any]:
    """Gold and detections as JSON-shaped COCO (RLE counts as strings)."""
    rng = np.random.default_rng(seed)
    images: list[dict[str, Any]] = []
    gold: list[dict[str, Any]] = []
    dets: list[dict[str, Any]] = []
    for image_id in range(1, n_images + 1):
        w, h = (int(v) for v in _SIZES[rng.integers(len(_SIZES))])
        images.append({"id": image_id, "width": w, "height": h})
        centres = []
        for _ in range(max(1, rng.poisson(7))):
            cat = int(rng.integers(1, 81))
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = float(rng.choice([8.0, 30.0, 90.0]) * rng.uniform(0.7, 1.3))
            rle = mask_utils.frPyObjects([_polygon(rng, cx, cy, r, w, h)], h, w)[0]
            rle["counts"] = rle["counts"].decode("ascii")
            crowd = int(rng.uniform() < 0.01)
            gold.append(
                {
                    "id": len(gold) + 1,
                    "image_id": image_id,
                    "category_id": cat,
                    "segmentation": rle,
                    "area": float(mask_utils.area(rle)),
                    "bbox": [float(v) for v in mask_utils.toBbox(rle)],
                    "iscrowd": crowd,
                }
            )
            centres.append((cat, cx, cy, r))
        for k in range(n_dets):
            if k < 2 * len(centres):
                cat, cx, cy, r = centres[k % len(centres)]
                cat = cat if rng.uniform() < 0.9 else int(rng.integers(1, 81))
                cx, cy, r = cx + rng.normal(0, r * 0.15), cy + rng.normal(0, r * 0.15), r
                score = rng.uniform(0.4, 1.0)
            else:
                cat, cx, cy = int(rng.integers(1, 81)), rng.uniform(0, w), rng.uniform(0, h)
                r, score = float(rng.choice([8.0, 30.0, 90.0])), rng.uniform(0.0, 0.6)
            rle = mask_utils.frPyObjects([_polygon(rng, cx, cy, r, w, h)], h, w)[0]
            rle["counts"] = rle["counts"].decode("ascii")
            dets.append(
                {
                    "image_id": image_id,
                    "category_id": cat,
                    "segmentation": rle,
                    "score": round(float(score), 4),
                }
            )
    categories = [{"id": c, "name": f"c{c}"} for c in range(1, 81)]
    return {"gt": {"images": images, "categories": categories, "annotations": gold}, "dt": dets}


def _ours(data: dict[str, Any]) -> np.ndarray:
    gt, dt = data["gt"], data["dt"]
    anns = gt["annotations"]
    gold = DetectionGold.from_arrays(
        image_ids=[a["image_id"] for a in anns],
        category_ids=[a["category_id"] for a in anns],
        boxes=[a["bbox"] for a in anns],
        areas=[a["area"] for a in anns],
        iscrowd=[a["iscrowd"] for a in anns],
        ann_ids=[a["id"] for a in anns],
        all_image_ids=[im["id"] for im in gt["images"]],
        all_category_ids=[c["id"] for c in gt["categories"]],
        rles=[a["segmentation"] for a in anns],
    )
    rles = [d["segmentation"] for d in dt]
    as_bytes = [{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in rles]
    detections = Detections.from_arrays(
        image_ids=[d["image_id"] for d in dt],
        category_ids=[d["category_id"] for d in dt],
        boxes=np.array([mask_utils.toBbox(r) for r in as_bytes], dtype=np.float64).reshape(-1, 4),
        scores=[d["score"] for d in dt],
        areas=np.array([mask_utils.area(r) for r in as_bytes], dtype=np.float64),
        rles=rles,
    )
    return np.asarray(evaluate_coco(gold, detections, iou_type="segm").stats)


def _reference(data: dict[str, Any], *, faster: bool) -> np.ndarray:
    if faster:
        from faster_coco_eval import COCO, COCOeval_faster

        evaluator: Any = COCOeval_faster
    else:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        evaluator = COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = copy.deepcopy(data["gt"])
        coco.createIndex()
        ev = evaluator(coco, coco.loadRes(copy.deepcopy(data["dt"])), "segm")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats[:12], dtype=np.float64)


def _subset(data: dict[str, Any], n: int) -> dict[str, Any]:
    keep = {im["id"] for im in data["gt"]["images"][:n]}
    gt = dict(data["gt"])
    gt["images"] = [im for im in gt["images"] if im["id"] in keep]
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in keep]
    return {"gt": gt, "dt": [d for d in data["dt"] if d["image_id"] in keep]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=5000)
    ap.add_argument("--dets", type=int, default=20, help="detections per image")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--check-images", type=int, default=300)
    args = ap.parse_args()
    try:
        import faster_coco_eval  # noqa: F401
    except ImportError:
        print("faster-coco-eval is not installed (pip install 'bakeoff[bench]')")
        return 2
    started = time.perf_counter()
    data = make_data(args.n_images, args.dets, args.seed)
    n_gold, n_det = len(data["gt"]["annotations"]), len(data["dt"])
    print(
        f"data: {args.n_images} images, {n_gold} gold masks, {n_det} detections "
        f"({time.perf_counter() - started:.1f} s to generate)"
    )
    small = _subset(data, args.check_images)
    warm = time.perf_counter()
    _ours(small)  # loads (or compiles) the numba kernels once
    print(f"numba kernels loaded in {time.perf_counter() - warm:.2f} s (not timed below)")
    ok = True
    pyco, mine_small = _reference(small, faster=False), _ours(small)
    diff = float(np.max(np.abs(pyco - mine_small)))
    print(f"vs pycocotools on {args.check_images} images: max |difference| {diff:.2e}")
    ok &= diff <= 1e-12
    times: dict[str, float] = {"bakeoff": np.inf, "faster-coco-eval": np.inf}
    stats: dict[str, np.ndarray] = {}
    for _ in range(args.repeat):
        for tool in times:
            t0 = time.perf_counter()
            stats[tool] = _ours(data) if tool == "bakeoff" else _reference(data, faster=True)
            times[tool] = min(times[tool], time.perf_counter() - t0)
    diff = float(np.max(np.abs(stats["bakeoff"] - stats["faster-coco-eval"])))
    ratio = times["faster-coco-eval"] / times["bakeoff"]
    print(f"{'tool':<18}{'best s':>10}")
    for tool, seconds in times.items():
        print(f"{tool:<18}{seconds:>10.2f}")
    print(
        f"ratio faster-coco-eval / bakeoff: {ratio:.2f}x (target >= 1.0); "
        f"max |stats difference| {diff:.2e}"
    )
    ok &= diff <= 1e-12 and ratio >= 1.0
    print("OK" if ok else "MISSED: numbers differ or slower than faster-coco-eval")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
