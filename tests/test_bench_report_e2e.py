"""benchmarks/bench_report_e2e.py runs end to end on a tiny bake-off over PostgreSQL: three
cold reports (the prefetch path), the stored report and the first /results read, each line
it judges printed, and no verdict (exit 3) when told the machine is too busy to judge."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import make_url

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_the_report_bench_times_cold_and_stored_reports_and_refuses_a_busy_verdict(
    postgres_url: str,
) -> None:
    # the bench makes a database of its own on the same server (not this test's schema)
    server = make_url(postgres_url).set(query={}).render_as_string(hide_password=False)
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench_report_e2e.py"),
            *("--db", "postgres", "--n", "300", "--results-n", "200", "--vendors", "2"),
            *("--max-other", "-1"),  # any load is too much: the verdict must be withheld
        ],
        env={**os.environ, "PYTHONPATH": str(REPO), "BAKEOFF_BENCH_PG": server},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = done.stdout
    assert done.returncode == 3, out + done.stderr
    assert "NO VERDICT" in out
    cold = re.findall(
        r"nothing stored: wall +(\d+\.\d+) s +cpu +(\d+\.\d+) s +postgres +(\d+\.\d+) s", out
    )
    assert len(cold) == 3 and all(float(w) > 0 and float(c) > 0 for w, c, _ in cold), out
    assert re.search(r"median wall +\d+\.\d+ s of 3 +target 5\.0 s", out), out
    assert re.search(r"ranking replicates stored .*wall +\d+\.\d+ s", out), out
    assert re.search(r"results +200 items, first read after the import .*read as stored", out), out
