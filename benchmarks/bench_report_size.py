"""Size of the self-contained HTML reports of the demo's bake-offs (issue 13).

Runs ``bakeoff demo`` (in-process, in a temporary folder) and, for each bake-off's report,
prints its size in bytes beside the budget, what the bytes are (plotly.js packed, the
figures' JSON, the rest of the page) and, as the peer in the same process, the same report
with plotly.js embedded plain (as it ships), with the ratio.

Target: every report under 2.3 MB (it was 4.9 MB: plotly.js is 4.8 MB of it; packed with gzip
and base64 it is 1.96 MB, unpacked in the browser by ``DecompressionStream``). Exits 1 when a
report is over budget, 2 when the demo cannot run.

Run: ``.venv/bin/python benchmarks/bench_report_size.py [--digits 300] [--scenes 60]
[--pairs 120]`` (the demo's default sizes).
"""

from __future__ import annotations

import argparse
import base64
import re
import sys
import tempfile
from pathlib import Path

from rich.console import Console

from reports.render import plotly_js_gzip, render_html_string, unpack_plotly
from reports.results import Report
from service.demo.run import run_demo

BUDGET_BYTES = 2_300_000
_DATA_BLOCK = re.compile(r'<script type="application/json" id="data-[^"]*">(.*?)</script>', re.S)
_TABLES = re.compile(r'<details class="chart-numbers">.*?</details>', re.S)


def _parts(html: str) -> dict[str, int]:
    """Bytes of the page by what they are."""
    total = len(html.encode("utf-8"))
    packed = len(base64.b64encode(plotly_js_gzip())) if unpack_plotly(html) else 0
    figures = sum(len(m.encode("utf-8")) for m in _DATA_BLOCK.findall(html))
    tables = sum(len(m.encode("utf-8")) for m in _TABLES.findall(html))
    return {
        "total": total,
        "plotly.js": packed,
        "figure JSON": figures,
        "chart tables": tables,
        "rest": total - packed - figures - tables,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--digits", type=int, default=300)
    parser.add_argument("--scenes", type=int, default=60)
    parser.add_argument("--pairs", type=int, default=120)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            outcome = run_demo(
                Path(tmp) / "demo",
                console=Console(quiet=True),
                n_digits=args.digits,
                n_scenes=args.scenes,
                n_pairs=args.pairs,
            )
        except RuntimeError as exc:
            print(f"the demo could not run: {exc}")
            return 2
        missed = []
        print(
            f"demo: {args.digits} digits, {args.scenes} scenes, {args.pairs} pairs; "
            f"budget {BUDGET_BYTES:,} bytes per report"
        )
        for name, path in outcome.reports.items():
            html = path.read_text(encoding="utf-8")
            parts = _parts(html)
            if parts["total"] != path.stat().st_size:
                raise AssertionError("the page's bytes were not all counted")
            report = Report.model_validate_json(
                path.with_suffix(".json").read_text(encoding="utf-8")
            )
            plain = len(render_html_string(report, embed="plain").encode("utf-8"))
            ok = parts["total"] < BUDGET_BYTES
            if not ok:
                missed.append(name)
            breakdown = ", ".join(f"{k} {v:,}" for k, v in parts.items() if k != "total")
            print(
                f"{name:<10} {parts['total']:>10,} bytes  {'OK' if ok else 'MISSED'}  ({breakdown})"
            )
            print(
                f"{'':<10} peer, plotly.js embedded plain: {plain:>10,} bytes -> "
                f"{plain / parts['total']:.2f}x larger"
            )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
