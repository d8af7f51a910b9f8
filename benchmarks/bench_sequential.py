"""Honeypot CUSUM: the stated false-alarm rate and detection delay against simulation.

For each design (agreed accuracy ``p0``, accuracy to detect ``p1``, target in-control
ARL) the exact Markov-chain numbers of :mod:`metrics.sequential` are compared with
simulated charts: the share of in-control weeks (``--week`` honeypots each, the chart
starting fresh) that raise a false alarm, and the mean number of honeypots until the
alarm once accuracy is ``p1``. Exit status 1 when a simulated value is more than 4
standard errors from the stated one.

Run: ``.venv/bin/python benchmarks/bench_sequential.py [--weeks 20000] [--week 200]``
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np
import numpy.typing as npt

from metrics.sequential import (
    CusumDesign,
    cusum_alarm_probability,
    design_bernoulli_cusum,
)

DESIGNS = [(0.95, 0.85, 1000.0), (0.95, 0.90, 2000.0), (0.90, 0.80, 500.0), (0.98, 0.95, 5000.0)]


def _first_alarms(design: CusumDesign, wrong: npt.NDArray[np.bool_]) -> npt.NDArray[np.int64]:
    """First alarm (1-based count of honeypots) per row of ``wrong``; 0 when none."""
    reps, steps = wrong.shape
    s = np.zeros(reps, dtype=np.int64)
    first = np.zeros(reps, dtype=np.int64)
    for t in range(steps):
        s = np.where(wrong[:, t], s + design.step_error, np.maximum(0, s - design.step_correct))
        hit = (s >= design.threshold) & (first == 0)
        first[hit] = t + 1
    return first


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=20_000)
    ap.add_argument("--week", type=int, default=200, help="honeypots per simulated week")
    ap.add_argument("--runs", type=int, default=5_000, help="out-of-control runs")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    ok = True
    print(
        f"{'p0':>5} {'p1':>5} {'ARL0':>8} {'h':>6} {'P(FA)/week':>11} {'simulated':>10} "
        f"{'ARL1':>7} {'simulated':>10}"
    )
    for p0, p1, target in DESIGNS:
        design = design_bernoulli_cusum(p0, p1, target_arl=target)
        stated = cusum_alarm_probability(design, args.week, accuracy=p0)
        weeks = _first_alarms(design, rng.random((args.weeks, args.week)) >= p0)
        seen = float(np.mean(weeks > 0))
        se = math.sqrt(stated * (1 - stated) / args.weeks)
        horizon = int(20 * design.arl_out_of_control)
        delays = _first_alarms(design, rng.random((args.runs, horizon)) >= p1)
        if np.any(delays == 0):
            print(f"  {np.sum(delays == 0)} runs never alarmed within {horizon} honeypots")
            ok = False
        mean_delay = float(delays.mean())
        se_delay = float(delays.std(ddof=1)) / math.sqrt(args.runs)
        print(
            f"{p0:>5} {p1:>5} {design.arl_in_control:>8.0f} {design.decision_interval:>6.2f} "
            f"{stated:>11.4f} {seen:>10.4f} {design.arl_out_of_control:>7.1f} {mean_delay:>10.1f}"
        )
        if (
            abs(seen - stated) > 4 * se
            or abs(mean_delay - design.arl_out_of_control) > 4 * se_delay
        ):
            print("  MISS: simulation disagrees with the stated numbers beyond 4 standard errors")
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
