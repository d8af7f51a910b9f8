"""Start-up time of the ``bakeoff`` command: ``--help`` and ``evaluate``, numba cache warm and cold.

Targets: ``bakeoff --help`` under 0.3 s; ``bakeoff evaluate`` of 1,000 classification items
(two systems, 1,000 bootstrap resamples) under 1.5 s, with Numba's on-disk cache warm and
cold. Each command runs in a fresh subprocess (what a user waits for); the best of
``--repeat`` runs is reported as wall-clock time and as the CPU time of the child
(user + system), which a busy machine inflates much less than wall time. Cold runs point
``NUMBA_CACHE_DIR`` at a new empty folder each time, so any JIT-compiled kernel would be
compiled again. A small COCO detection evaluation (Numba kernels) is reported without a
target, to show what a cold cache costs where Numba is used.

The exit status is 1 when a target is missed (by wall-clock time, or by CPU time with
``--judge cpu`` on a machine whose load makes wall-clock time meaningless).

Run: ``.venv/bin/python benchmarks/bench_cli_startup.py [--repeat 5] [--judge wall|cpu]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

# run as a script, its folder is on sys.path; mypy checks coco_data.py as benchmarks.coco_data
from coco_data import make_coco_bbox_benchmark  # type: ignore[import-not-found]

HELP_TARGET_S = 0.3
EVALUATE_TARGET_S = 1.5
REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Timing:
    """Best wall-clock and CPU seconds over the runs of one command."""

    wall_s: float
    cpu_s: float


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _bakeoff(*args: str) -> list[str]:
    return [sys.executable, "-m", "service.cli.main", *args]


def _time(cmd: list[str], *, repeat: int, cold: bool) -> Timing:
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(repeat):
        env = dict(os.environ)
        with tempfile.TemporaryDirectory(prefix="numba-cold-") as cache:
            if cold:
                env["NUMBA_CACHE_DIR"] = cache
            cpu0 = _child_cpu()
            start = time.perf_counter()
            done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, check=False)
            walls.append(time.perf_counter() - start)
            cpus.append(_child_cpu() - cpu0)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr.decode()[-2000:]}")
    return Timing(wall_s=min(walls), cpu_s=min(cpus))


def _classification_files(folder: Path, n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 10, n)
    (folder / "gold.csv").write_text(
        "item_id,label\n" + "".join(f"item{i},{g}\n" for i, g in enumerate(gold))
    )
    args = ["--gold", str(folder / "gold.csv")]
    for name, accuracy in (("acme", 0.92), ("bolt", 0.85)):
        wrong = rng.random(n) > accuracy
        given = np.where(wrong, rng.integers(0, 10, n), gold)
        path = folder / f"{name}.csv"
        path.write_text("item_id,label\n" + "".join(f"item{i},{v}\n" for i, v in enumerate(given)))
        args += ["--labels", f"{name}={path}"]
    return args


def _detection_files(folder: Path) -> list[str]:
    data = make_coco_bbox_benchmark(n_images=100, n_categories=10, dets_per_image=20, seed=1)
    (folder / "gold.json").write_text(json.dumps(data.gold_dict()))
    (folder / "results.json").write_text(json.dumps(data.results_list()))
    return ["--gold", str(folder / "gold.json"), "--labels", f"model={folder / 'results.json'}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="runs per command (best is kept)")
    ap.add_argument("--items", type=int, default=1000, help="classification items to evaluate")
    ap.add_argument(
        "--judge",
        choices=("wall", "cpu"),
        default="wall",
        help="which time the targets are checked against",
    )
    args = ap.parse_args()
    judge: Literal["wall", "cpu"] = args.judge
    load = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    print(f"python {sys.version.split()[0]}, {cores} cores, load average {load:.1f}")
    if load > cores:
        print("  the machine is busy: wall-clock times are inflated; CPU times are what")
        print("  each command costs (judge them with --judge cpu)")

    rows: list[tuple[str, Timing, float | None]] = []
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as tmp:
        folder = Path(tmp)
        classification = _classification_files(folder, args.items)
        detection = _detection_files(folder)
        evaluate = ["evaluate", "--task", "classification", *classification]
        detect = ["evaluate", "--task", "detection", *detection]
        for cold in (False, True):
            cache = "cold" if cold else "warm"
            if not cold:  # fill the default Numba cache once, so "warm" is warm
                _time(_bakeoff(*detect), repeat=1, cold=False)
            rows.append(
                (
                    f"bakeoff --help (numba cache {cache})",
                    _time(_bakeoff("--help"), repeat=args.repeat, cold=cold),
                    HELP_TARGET_S,
                )
            )
            rows.append(
                (
                    f"bakeoff evaluate, {args.items} items x 2 systems (numba cache {cache})",
                    _time(_bakeoff(*evaluate), repeat=args.repeat, cold=cold),
                    EVALUATE_TARGET_S,
                )
            )
            rows.append(
                (
                    f"bakeoff evaluate --task detection, 100 images (numba cache {cache})",
                    _time(_bakeoff(*detect), repeat=max(1, args.repeat // 2), cold=cold),
                    None,
                )
            )

    missed = 0
    print(f"\n{'command':<72} {'wall s':>7} {'cpu s':>7} {'target':>7}")
    for name, timing, target in rows:
        value = timing.wall_s if judge == "wall" else timing.cpu_s
        verdict = ""
        if target is not None:
            ok = value < target
            missed += not ok
            verdict = f"< {target:.1f} {'ok' if ok else 'MISSED'}"
        print(f"{name:<72} {timing.wall_s:7.2f} {timing.cpu_s:7.2f} {verdict:>7}")
    print(f"\ntargets judged on {judge} time (best of {args.repeat}): {missed} missed")
    raise SystemExit(1 if missed else 0)


if __name__ == "__main__":
    main()
