"""benchmarks/bench_delivery_workers.py runs end to end on a tiny delivery: its worker
processes flag it over PostgreSQL and Redis with 1 and 2 workers, the same flags, a CPU
breakdown whose phases are found in the current flag-run code, and no verdict (exit 3) when
told the machine is too busy to judge."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.needs import redis_url

REPO = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]


def test_the_workers_bench_flags_alike_breaks_the_cpu_down_and_refuses_a_busy_verdict() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "benchmarks" / "bench_delivery_workers.py"),
            *("--items", "300", "--features", "4", "--trees", "5", "--chunk", "100"),
            *("--repeat", "1", "--warmup", "0.2", "--poll", "0.1"),
            *("--max-other", "-1"),  # any load is too much: the verdict must be withheld
        ],
        env={**os.environ, "PYTHONPATH": str(REPO), "BAKEOFF_TEST_REDIS_URL": redis_url()},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout
    assert done.returncode == 3, out + done.stderr
    assert "NO VERDICT" in out
    assert "same flags with 1 and 2 workers: True" in out
    assert re.search(r"machine: \d+ cores, load average", out)
    # the phases are timed inside the workers: the wrapped names exist in delivery_jobs
    for phase in ("predict", "read items", "write scores"):
        values = [float(v) for v in re.findall(rf"{phase} (\d+\.\d+)", out)]
        assert len(values) == 2 and all(v > 0 for v in values), (phase, out)
    assert re.search(r"2 workers can reach \d\.\d\dx \(Amdahl\)", out)
