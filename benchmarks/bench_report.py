"""A full bake-off report for 100,000 golden items and 5 vendors: time and size.

Targets: the report (ranking with 1,000 paired bootstrap resamples, every breakdown,
the self-contained HTML, JSON and CSV) builds in under 10 s and the HTML file is under
15 MB. Exit status 1 when either is missed. Printed peers, in the same process on the same data:

* the accuracy intervals of the same 5 vendors from the general-purpose
  ``metrics.statistics.paired_bootstrap`` (one statistic call per resample), against the
  report's matrix bootstrap, which also covers latency, cost and the score;
* the HTML size if every figure embedded its own plotly.js (plotly's
  ``write_html(include_plotlyjs=True)`` per figure) against the report's one copy.

Run: ``.venv/bin/python benchmarks/bench_report.py [--n 100000] [--vendors 5] [--resamples 1000]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.statistics import paired_bootstrap
from metrics.types import MetricResult
from reports.figures import build_figures
from reports.inputs import (
    Constraints,
    PricingTerms,
    RankingConfig,
    SystemEvaluation,
    TrendPoint,
)
from reports.render import plotly_js, render_csv, render_html, render_json
from reports.report import build_report

CLASSES = [f"class_{k}" for k in range(10)]
TARGET_SECONDS = 10.0  # build + HTML + JSON + CSV
TARGET_HTML_BYTES = 15e6


def make_systems(
    n: int, vendors: int, seed: int = 0
) -> tuple[list[SystemEvaluation], pd.DataFrame]:
    rng = np.random.default_rng(seed)
    index = pd.Index([f"item{i:06d}" for i in range(n)])
    metadata = pd.DataFrame(
        {
            "lighting": rng.choice(["bright", "dim", "night"], n, p=[0.7, 0.2, 0.1]),
            "camera": rng.choice([f"cam{c}" for c in range(8)], n),
            "site": rng.choice([f"site{c}" for c in range(20)], n),
        },
        index=index,
    )
    dim = (metadata["lighting"] != "bright").to_numpy()
    systems = []
    for v in range(vendors):
        p = np.where(dim, 0.86 + 0.02 * v, 0.95 - 0.005 * v)
        correct = (rng.random(n) < p).astype(np.float64)
        correct[rng.random(n) < 0.01] = np.nan  # 1 % skipped
        cm = pd.DataFrame(
            rng.integers(0, 200, (10, 10)) + np.eye(10, dtype=int) * 9000,
            index=CLASSES,
            columns=CLASSES,
        )
        box = pd.DataFrame(
            [
                {"class": c, "edge": e, "mean_offset": float(rng.normal(0, 2)), "n": 1000}
                for c in CLASSES
                for e in ("left", "top", "right", "bottom")
            ]
        )
        annot = [f"w{a}" for a in range(25)]
        systems.append(
            SystemEvaluation(
                f"vendor{v}",
                pd.Series(correct, index=index),
                latency_s=pd.Series(rng.lognormal(np.log(3600 * (1 + v)), 0.8, n), index=index),
                item_costs=pd.Series(np.full(n, 0.03 + 0.01 * v), index=index),
                metrics={"macro_f1": MetricResult("macro_f1", float(np.nanmean(correct)))},
                per_class=MetricResult(
                    "recall", 0.0, per_item=pd.Series(rng.uniform(0.8, 1, 10), index=CLASSES)
                ),
                confusion=cm,
                annotator_gold=MetricResult(
                    "accuracy", 0.0, per_item=pd.Series(rng.uniform(0.8, 1, 25), index=annot)
                ),
                annotator_items=pd.Series(np.full(25, n // 25), index=annot),
                box_bias=box,
                pricing=PricingTerms(per_item=0.03 + 0.01 * v, minimum_commitment=3000.0),
            )
        )
    return systems, metadata


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--vendors", type=int, default=5)
    parser.add_argument("--resamples", type=int, default=1000)
    args = parser.parse_args()

    systems, metadata = make_systems(args.n, args.vendors)
    history = [
        TrendPoint(f"2025-Q{q}", datetime(2025, 3 * q, 28, tzinfo=UTC), s.name, 0.95, 5000)
        for q in (1, 2, 3, 4)
        for s in systems
    ]
    plotly_js()  # load the bundle once, as a long-running service would
    config = RankingConfig(
        constraints=Constraints(
            min_accuracy=0.90, max_p95_latency_s=24 * 3600, max_cost_per_item=0.08
        ),
        n_resamples=args.resamples,
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        t0 = time.perf_counter()
        c0 = time.process_time()
        report = build_report(
            systems,
            title="2026-Q1",
            config=config,
            metadata=metadata,
            history=history,
            production_volume=100_000,
        )
        t_build = time.perf_counter() - t0
        html = render_html(report, out / "report.html")
        t_html = time.perf_counter() - t0
        render_json(report, out / "report.json")
        render_csv(report, out / "csv")
        t_all = time.perf_counter() - t0
        c_all = time.process_time() - c0
        size = html.stat().st_size
        json_size = (out / "report.json").stat().st_size
        n_figs = len(build_figures(report))

    # Peer 1: the general per-resample bootstrap for accuracy only.
    scores: list[npt.NDArray[np.float64]] = [
        np.nan_to_num(s.item_scores.to_numpy(dtype=np.float64)) for s in systems
    ]
    stats = {
        s.name: (lambda idx, a=a: float(a[idx].mean()))
        for s, a in zip(systems, scores, strict=True)
    }
    t0 = time.perf_counter()
    paired_bootstrap(
        stats, n_items=args.n, n_resamples=args.resamples, rng=np.random.default_rng(0)
    )
    t_peer = time.perf_counter() - t0
    t0 = time.perf_counter()
    from reports.ranking import rank_systems

    rank_systems(systems, config=config)
    t_rank = time.perf_counter() - t0

    per_figure_size = n_figs * len(plotly_js())
    print(f"items={args.n:,} vendors={args.vendors} resamples={args.resamples} figures={n_figs}")
    print(f"build_report (ranking + breakdowns): {t_build:6.2f} s")
    print(f"+ render_html:                       {t_html:6.2f} s")
    print(
        f"+ render_json + render_csv (total):  {t_all:6.2f} s   target < {TARGET_SECONDS:.0f} s: "
        f"{'OK' if t_all < TARGET_SECONDS else 'MISSED'}"
    )
    print(
        f"  (CPU time of this process: {c_all:.2f} s; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: wall time grows with contention)"
    )
    print(
        f"HTML size: {size / 1e6:6.2f} MB (plotly.js {len(plotly_js()) / 1e6:.2f} MB once)   "
        f"target < {TARGET_HTML_BYTES / 1e6:.0f} MB: "
        f"{'OK' if size < TARGET_HTML_BYTES else 'MISSED'}; JSON {json_size / 1e6:.2f} MB"
    )
    print(
        f"peer, plotly.js per figure: {per_figure_size / 1e6:6.1f} MB -> "
        f"{per_figure_size / size:.1f}x larger"
    )
    print(f"rank_systems (accuracy+latency+cost+score, paired): {t_rank:6.2f} s")
    print(
        f"peer, metrics.statistics.paired_bootstrap (accuracy only): {t_peer:6.2f} s -> "
        f"ratio {t_peer / t_rank:.1f}x"
    )
    return 0 if t_all < TARGET_SECONDS and size < TARGET_HTML_BYTES else 1


if __name__ == "__main__":
    sys.exit(main())
