"""COCO bbox evaluation: Bakeoff vs faster-coco-eval (and pycocotools), same data, same process.

Data: :func:`coco_data.make_coco_bbox_benchmark` (default 5,000 images, 80 categories,
~7 gold boxes and exactly 100 scored detections per image).

Timed, best of ``--repeat`` interleaved runs in this one process:

* ``bakeoff``: :func:`metrics.detection.evaluate_coco` on flat arrays (its native input);
* ``bakeoff+json``: the same, starting from the JSON-shaped dicts/lists (building the
  arrays is timed too), i.e. the same starting point as the references;
* ``faster-coco-eval``: ``COCO(gt)``, ``loadRes(results)``, ``COCOeval_faster``
  evaluate/accumulate/summarize;
* ``pycocotools`` (only with ``--with-pycocotools``; takes minutes): the same with
  ``COCO``/``COCOeval``.

The first call of ``evaluate_coco`` in a process loads the numba kernels from their
on-disk cache (or compiles them, a few seconds, on a fresh checkout); that one-off cost is
printed separately and excluded from the timings.

Peak memory: each tool runs once more in a child process that builds the same data and
the tool's input, resets the kernel's peak-RSS counter (``/proc/self/clear_refs``), runs
the evaluation and reports ``VmHWM`` (peak resident set) and the growth over the RSS
before the evaluation. ``--no-memory`` skips this.

Exit status is 1 when the 12 numbers of any tool differ from Bakeoff's.

Run: ``.venv/bin/python benchmarks/bench_coco.py [--n-images 5000] [--repeat 3]
[--with-pycocotools]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

# run as a script, its folder is on sys.path; mypy checks coco_data.py as benchmarks.coco_data
from coco_data import (  # type: ignore[import-not-found]
    CocoBenchData,
    make_coco_bbox_benchmark,
)

from metrics.detection import DetectionGold, Detections, evaluate_coco

TOOLS = ("bakeoff", "bakeoff+json", "faster-coco-eval", "pycocotools")


def _gold_from_dict(gt: dict[str, Any]) -> DetectionGold:
    anns = gt["annotations"]
    return DetectionGold(
        image_ids=np.fromiter((a["image_id"] for a in anns), np.int64, len(anns)),
        category_ids=np.fromiter((a["category_id"] for a in anns), np.int64, len(anns)),
        ann_ids=np.fromiter((a["id"] for a in anns), np.int64, len(anns)),
        boxes=np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4),
        areas=np.fromiter((a["area"] for a in anns), np.float64, len(anns)),
        iscrowd=np.fromiter((a["iscrowd"] for a in anns), bool, len(anns)),
        all_image_ids=np.fromiter((i["id"] for i in gt["images"]), np.int64),
        all_category_ids=np.fromiter((c["id"] for c in gt["categories"]), np.int64),
    )


def _dets_from_list(results: list[dict[str, Any]]) -> Detections:
    n = len(results)
    return Detections(
        image_ids=np.fromiter((r["image_id"] for r in results), np.int64, n),
        category_ids=np.fromiter((r["category_id"] for r in results), np.int64, n),
        boxes=np.array([r["bbox"] for r in results], dtype=np.float64).reshape(-1, 4),
        scores=np.fromiter((r["score"] for r in results), np.float64, n),
    )


def _prepare(tool: str, data: CocoBenchData) -> Callable[[], list[float]]:
    """Build the tool's input (untimed) and return the timed evaluation."""
    if tool == "bakeoff":
        gold, dets = data.gold(), data.detections()
        return lambda: list(evaluate_coco(gold, dets, iou_type="bbox").stats)
    if tool == "bakeoff+json":
        gt, res = data.gold_dict(), data.results_list()
        return lambda: list(
            evaluate_coco(_gold_from_dict(gt), _dets_from_list(res), iou_type="bbox").stats
        )
    if tool == "faster-coco-eval":
        from faster_coco_eval import COCO as FCOCO
        from faster_coco_eval import COCOeval_faster

        gt, res = data.gold_dict(), data.results_list()

        def run_fce() -> list[float]:
            coco_gt = FCOCO(gt)
            coco_dt = coco_gt.loadRes(res)
            ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=lambda *_: None)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            return [float(v) for v in ev.stats[:12]]

        return run_fce
    if tool == "pycocotools":
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval

        gt, res = data.gold_dict(), data.results_list()

        def run_pycoco() -> list[float]:
            with contextlib.redirect_stdout(io.StringIO()):
                coco_gt = COCO()
                coco_gt.dataset = gt
                coco_gt.createIndex()
                coco_dt = coco_gt.loadRes(res)
                ev = COCOeval(coco_gt, coco_dt, "bbox")
                ev.evaluate()
                ev.accumulate()
                ev.summarize()
            return [float(v) for v in ev.stats]

        return run_pycoco
    raise ValueError(f"unknown tool {tool!r}")


def _status() -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(rest.split()[0]) * 1024
    return out


def _child(tool: str, n_images: int, seed: int) -> None:
    """Run one tool once and print its stats and memory as one JSON line."""
    data = make_coco_bbox_benchmark(n_images=n_images, seed=seed)
    if tool.startswith("bakeoff"):  # load the kernels before measuring
        small = make_coco_bbox_benchmark(n_images=5, seed=1)
        evaluate_coco(small.gold(), small.detections())
    run = _prepare(tool, data)
    before = _status()["VmRSS"]
    reset = True
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        reset = False
    t0 = time.perf_counter()
    stats = run()
    seconds = time.perf_counter() - t0
    peak = _status()["VmHWM"]
    print(
        json.dumps(
            {
                "tool": tool,
                "seconds": seconds,
                "stats": stats,
                "rss_before": before,
                "peak_rss": peak,
                "peak_reset": reset,
            }
        )
    )


def _mib(n: float) -> str:
    return f"{n / 2**20:8.1f} MiB"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-images", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--with-pycocotools", action="store_true")
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--child", choices=TOOLS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.n_images, args.seed)
        return 0

    t0 = time.perf_counter()
    small = make_coco_bbox_benchmark(n_images=5, seed=1)
    evaluate_coco(small.gold(), small.detections())
    first_call = time.perf_counter() - t0

    data = make_coco_bbox_benchmark(n_images=args.n_images, seed=args.seed)
    print(
        f"data: {data.image_ids.shape[0]} images, {data.category_ids.shape[0]} categories, "
        f"{data.gt_image.shape[0]} gold boxes, {data.dt_image.shape[0]} detections"
    )
    print(f"first evaluate_coco call (numba cache load or compile): {first_call:.2f} s")

    tools = ["bakeoff", "bakeoff+json", "faster-coco-eval"]
    best = {t: float("inf") for t in tools}
    stats: dict[str, list[float]] = {}
    for _ in range(args.repeat):
        for tool in tools:
            run = _prepare(tool, data)
            t = time.perf_counter()
            stats[tool] = run()
            best[tool] = min(best[tool], time.perf_counter() - t)
            del run
    if args.with_pycocotools:
        run = _prepare("pycocotools", data)
        t = time.perf_counter()
        stats["pycocotools"] = run()
        best["pycocotools"] = time.perf_counter() - t
        del run

    names = ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl"]
    print("\n12 numbers:")
    print(" " * 18 + " ".join(f"{n:>8}" for n in names))
    for tool, values in stats.items():
        print(f"{tool:>17} " + " ".join(f"{v:8.5f}" for v in values))
    # identical (bit for bit) to pycocotools when it ran; faster-coco-eval itself averages
    # in another order and may differ from pycocotools in the last bit, so 1e-12 there
    mismatches = []
    ref_tool = "pycocotools" if "pycocotools" in stats else "faster-coco-eval"
    for tool, values in stats.items():
        diff = float(np.abs(np.subtract(values, stats["bakeoff"])).max())
        exact = tool.startswith("bakeoff") or tool == "pycocotools"
        if (exact and values != stats["bakeoff"]) or diff > 1e-12:
            mismatches.append(tool)
            print(f"MISMATCH: {tool} differs from bakeoff (max abs diff {diff:.3g})")
        elif tool != "bakeoff":
            how = "identical" if diff == 0 else f"within {diff:.2g}"
            print(f"{tool}: {how} to bakeoff")
    print(f"reference for exactness: {ref_tool}")

    print(f"\ntimes (best of {args.repeat}, same process):")
    for tool, seconds in best.items():
        print(f"{tool:>17}: {seconds:8.3f} s")
    print("\nratios (reference time / bakeoff time):")
    for ours in ("bakeoff", "bakeoff+json"):
        for ref in ("faster-coco-eval", "pycocotools"):
            if ref in best:
                print(f"  {ref} / {ours}: {best[ref] / best[ours]:7.1f}x")

    if not args.no_memory:
        print("\npeak memory (separate child process per tool, same data):")
        mem_tools = [*tools, *(["pycocotools"] if args.with_pycocotools else [])]
        peaks: dict[str, int] = {}
        for tool in mem_tools:
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                tool,
                "--n-images",
                str(args.n_images),
                "--seed",
                str(args.seed),
            ]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            rec = json.loads(out.strip().splitlines()[-1])
            peaks[tool] = rec["peak_rss"]
            growth = rec["peak_rss"] - rec["rss_before"]
            note = "" if rec["peak_reset"] else " (peak not reset: includes data generation)"
            print(
                f"{tool:>17}: peak RSS {_mib(rec['peak_rss'])}, "
                f"growth during evaluation {_mib(growth)}{note}"
            )
            if tool in mismatches or float(
                np.abs(np.subtract(rec["stats"], stats["bakeoff"])).max()
            ) > (0 if tool != "faster-coco-eval" else 1e-12):
                print(f"MISMATCH in child run of {tool}")
                mismatches.append(tool)
        if "pycocotools" in peaks:
            ok = peaks["bakeoff+json"] < peaks["pycocotools"]
            print(f"  bakeoff+json peak below pycocotools': {ok}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
