"""End to end: a vendor's self-consistency through the API, a worker and the simulator.

A preference bake-off is created through the REST API with half of each vendor's pairs
to be sent twice (``repeat_share`` set by ``PATCH``), run by ``bakeoff worker`` against
the vendor simulator (its own process), which recognises a pair seen again by content
and changes its mind on a planted share of them. ``GET /results`` shows the planted
consistency inside the ``self_consistency`` interval, a steady vendor fully consistent,
and neither vendor's agreement touched by the repeats; the report's verdict names the
fickle vendor with that size and interval.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlmodel import Session

from adapters.simulator import SimulatedVendor, SimulatorConfig, SimulatorProcess
from adapters.testing import toy_golden
from reports._verdict import SELF_CONSISTENCY_FLOOR
from service.core.db import create_db_engine
from service.domain.reporting import bakeoff_report
from tests.service.test_dispatch_e2e import _create_bakeoff, _start_stack

pytestmark = pytest.mark.slow

N = 120
PLANTED = 0.25  # share of repeated pairs the fickle vendor answers differently


def test_a_planted_inconsistency_is_found_through_api_worker_and_simulator(
    tmp_path: Path,
) -> None:
    golden = toy_golden("preference", n=N)
    vendors = [
        SimulatedVendor(name="fickle", seed=4, accuracy=1.0, inconsistency=PLANTED),
        SimulatedVendor(name="steady", seed=5, accuracy=1.0),
    ]
    database_url = f"sqlite:///{tmp_path / 'bakeoff.db'}"
    stack = _start_stack(tmp_path, database_url, {})
    try:
        worker = stack.start_worker()
        config = SimulatorConfig(vendors=vendors, time_scale=0.01)
        # the oracle names each pair's response A: the simulator judges by content
        with SimulatorProcess(config, golden.oracle_json(), workdir=tmp_path / "sim") as sim:
            stack.local.wait_ready(timeout_s=60)
            settings = {"url": sim.url, "mode": "poll", "timeout_s": 5}
            bakeoff_id = _create_bakeoff(
                stack, golden, [("fickle", settings), ("steady", settings)], None
            )
            patched = httpx.patch(
                f"{stack.api_url}/bakeoffs/{bakeoff_id}",
                json={"repeat_share": 0.5},
                headers=stack.headers,
                timeout=30,
            )
            assert patched.status_code == 200 and patched.json()["repeat_share"] == 0.5
            refused = httpx.patch(
                f"{stack.api_url}/bakeoffs/{bakeoff_id}",
                json={"repeat_share": 1.5},
                headers=stack.headers,
                timeout=30,
            )
            assert refused.status_code == 422 and "repeat_share" in refused.text
            started = httpx.post(
                f"{stack.api_url}/bakeoffs/{bakeoff_id}/run", headers=stack.headers, timeout=30
            )
            assert started.status_code == 202, started.text
            final = stack.wait_done(bakeoff_id)
            assert final["status"] == "completed", (final, stack.log("worker"))
            # every pair once, half of them twice, per vendor
            assert final["counts"]["received"] == 2 * (N + N // 2), final
        results = httpx.get(
            f"{stack.api_url}/bakeoffs/{bakeoff_id}/results", headers=stack.headers, timeout=60
        ).json()
        worker.terminate()
    finally:
        stack.stop()
    scores = {v["vendor"]: v["scores"]["metrics"] for v in results["vendors"]}
    fickle, steady = scores["fickle"], scores["steady"]
    consistency = fickle["self_consistency"]
    assert consistency["low"] <= 1 - PLANTED <= consistency["high"], consistency
    assert consistency["high"] < 1.0
    assert steady["self_consistency"]["value"] == 1.0
    # the second sendings never enter the main metric: both vendors were right every time
    assert fickle["agreement"]["value"] == 1.0 and steady["agreement"]["value"] == 1.0
    # the report's verdict names the fickle vendor with the size and interval /results shows
    engine = create_db_engine(database_url)
    try:
        with Session(engine) as session:
            summary = " ".join(
                bakeoff_report(session=session, bakeoff_id=bakeoff_id).ranking.summary
            )
    finally:
        engine.dispose()
    assert consistency["high"] < SELF_CONSISTENCY_FLOOR
    assert (
        f"Caveat: fickle answers repeated pairs inconsistently: self-consistency "
        f"{consistency['value']:.3f} (95% interval {consistency['low']:.3f} to "
        f"{consistency['high']:.3f}"
    ) in summary, summary
    assert "steady answers" not in summary
