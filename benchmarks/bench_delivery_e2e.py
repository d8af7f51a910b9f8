"""Issue 15's "Done when", end to end: a 1,000,000-label delivery stream through API, worker
and simulator, quality dropping halfway, 2% honeypots.

A vendor delivers ``--labels`` production labels over ``--weeks`` weekly deliveries
(100,000 a week by default), each with ``--honeypot-rate`` honeypots mixed in. It is the
``simulator`` adapter (poll mode) in its own process: ``--good`` accuracy for the first half of
the weeks, then ``--bad`` (the vendor's profile is switched, as a workforce change would). The
API and two Huey worker threads run as the local stack (:mod:`service.stack`) on a SQLite file
(``--database-url`` for PostgreSQL). Every delivery is created, dispatched, collected and
stored through them.

Measured and printed:

* **alert timing**: the honeypot CUSUM (agreed accuracy ``--good``, alert at ``--alert``) must
  be silent before the drop and fire after it; printed: the honeypot index of the first alarm
  against the drop's, and the delivery it fired in;
* **false alarm rate over repeated weeks**: the service's chart (its stated design, read from
  ``/quality``) is run over ``--false-alarm-weeks`` simulated in-control weeks of the same
  number of honeypots; the simulated weekly false-alarm share must lie within 3 standard
  errors of the stated probability. The service counts honeypots per ISO week, and the
  deliveries of one run all land in one calendar week, so a "week" here is the whole run's
  honeypots (2,040 at 100,000 labels, 20,400 at 1,000,000);
* **audit interval vs truth**: on the last (degraded) delivery the stratified audit sample
  (``--half-width``) is drawn and worked through the API with the simulator's true answers;
  the interval must cover the delivery's true error rate;
* **flag precision@k**: the same delivery is flagged from uploaded probabilities as a flag
  run of chunk jobs on the workers (``/flags/runs/upload``); precision at ``--k`` of the
  ranked flags against the planted errors must exceed twice the base rate;
* **time**: wall seconds per stage and in all, with the load average.

Measured here (2 shared cores, load 6-8, SQLite, 10 weekly deliveries of 10,000 labels):
100,000 labels + 2,040 honeypots in 422 s; alert silent before the drop, first alarm at
honeypot 1,070 (drop at 1,020) in the first degraded delivery; false alarms 0.025 of 1,000
simulated weeks of 2,040 honeypots against 0.0177 stated; flags precision@500 = 0.998
(base rate 0.205); audit 609 reviewed, 0.2136 [0.1937, 0.2350] against a true 0.2053.

At full size (1,000,000 labels + 20,410 honeypots, SQLite, load 1.0, 375 s): with a design
of 2,000,000 honeypots between false alarms (stated weekly false-alarm chance 0.0099) the
alert is silent before the drop and first fires at honeypot 10,324 (drop at 10,205), false
alarms 0.0080 of 2,000 simulated weeks; flags precision@1000 = 1.000 (base rate 0.201);
audit 644 reviewed, 0.1921 [0.1744, 0.2112] against a true 0.2011. The same run with a design
of 100,000 (stated weekly chance 0.169; simulated 0.160) fired at honeypot 5,689, before the
drop: a design must be chosen for the honeypots a chart sees in a week.

Exit status 1 when any check fails. The test in ``tests/service/test_delivery_e2e.py`` runs
the same path small; this script is the full size.

Usage::

    python benchmarks/bench_delivery_e2e.py [--labels 1000000] [--weeks 10]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlmodel import Session, col, select

import service.models as m
from adapters.simulator import LatencySpec, SimulatedVendor, SimulatorConfig, SimulatorProcess
from adapters.simulator.adapter import free_port
from metrics.sequential import (
    bernoulli_cusum,
    cusum_alarm_probability,
    design_bernoulli_cusum,
)
from service.core.db import create_db_engine
from service.stack import LocalStack

# run as a script, only benchmarks/ is on sys.path: the stack launcher lives in tests/
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.factories import admin_key, local_stack  # noqa: E402

CLASSES = tuple(f"class_{k}" for k in range(10))


def _post(client: httpx.Client, url: str, body: Any, status: int = 201) -> Any:
    answer = client.post(url, json=body)
    if answer.status_code != status:
        raise SystemExit(f"{url}: {answer.status_code} {answer.text[:500]}")
    return answer.json()


def _truth(key: str) -> str:
    return CLASSES[random.Random(key).randrange(len(CLASSES))]


def _wait(client: httpx.Client, delivery_id: int, stack: LocalStack, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/deliveries/{delivery_id}").json()
        if body["status"] == "labeled":
            return
        time.sleep(1.0)
    raise SystemExit(f"delivery {delivery_id} not labeled: {body}\n{stack.log('worker')}")


def _wait_run(client: httpx.Client, delivery_id: int, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        run = client.get(f"/deliveries/{delivery_id}/flags/runs").json()[0]
        if run["state"] != "running":
            return run
        time.sleep(1.0)
    raise SystemExit(f"flag run not done: {run}")


class _Clock:
    def __init__(self) -> None:
        self.stages: dict[str, float] = {}
        self.t0 = time.perf_counter()

    def lap(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.stages[name] = self.stages.get(name, 0.0) + now - since
        return now


def _setup(client: httpx.Client, args: argparse.Namespace, sim_url: str) -> dict[str, Any]:
    project = _post(
        client,
        "/projects",
        {
            "name": "production",
            "task_type": "classification",
            "ontology": {"classes": [{"name": c} for c in CLASSES]},
        },
    )
    _post(client, f"/projects/{project['id']}/instructions", {"text": "# classes"})
    gs = _post(client, "/golden-sets", {"name": "gold", "project_id": project["id"]})
    gold = {f"g{i}": CLASSES[i % len(CLASSES)] for i in range(args.gold)}
    _post(
        client,
        f"/golden-sets/{gs['id']}/items",
        [{"key": k, "data": {"image": f"img/{k}.jpg"}} for k in gold],
    )
    version = _post(client, f"/golden-sets/{gs['id']}/versions", {"note": "v1"})
    _post(
        client,
        f"/golden-sets/{gs['id']}/versions/{version['version']}/labels",
        {"labels": [{"item_key": k, "value": v} for k, v in gold.items()]},
        status=200,
    )
    vendor = _post(
        client,
        "/vendors",
        {
            "name": "acme",
            "adapter_kind": "simulator",
            "adapter_settings": {"url": sim_url, "mode": "poll", "profile": "good"},
            "price_per_item": 0.03,
        },
    )
    return {"project": project, "version": version, "vendor": vendor, "gold": gold}


def _create_weeks(client: httpx.Client, args: argparse.Namespace, ctx: dict[str, Any]) -> list[Any]:
    per_week = args.labels // args.weeks
    out = []
    for w in range(args.weeks):
        out.append(
            _post(
                client,
                "/deliveries",
                {
                    "name": f"week {w + 1}",
                    "project_id": ctx["project"]["id"],
                    "vendor_id": ctx["vendor"]["id"],
                    "golden_set_version_id": ctx["version"]["id"],
                    "honeypot_rate": args.honeypot_rate,
                    "agreed_accuracy": args.good,
                    "alert_accuracy": args.alert,
                    "alert_target_arl": args.target_arl,
                    "max_error_rate": args.sla,
                    "seed": w,
                    "items": [
                        {"key": f"w{w}-{i}", "data": {"image": f"img/w{w}-{i}.jpg"}}
                        for i in range(per_week)
                    ],
                },
            )
        )
    return out


def _probabilities(rows: list[m.DeliveryItem], oracle: dict[str, str], skill: float) -> bytes:
    rng = np.random.default_rng(0)
    lines = ["item_id," + ",".join(CLASSES)]
    for r in rows:
        logits = rng.normal(0, 1, len(CLASSES))
        logits[CLASSES.index(oracle[r.key])] += skill
        p = np.exp(logits) / np.exp(logits).sum()
        p[-1] = 1.0 - p[:-1].sum()  # the printed row sums to 1 within the reader's tolerance
        lines.append(r.key + "," + ",".join(f"{v:.12f}" for v in p))
    return ("\n".join(lines) + "\n").encode()


def main() -> int:  # noqa: PLR0915 - one linear script, stage by stage
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=1_000_000, help="production labels in all")
    ap.add_argument("--weeks", type=int, default=10)
    ap.add_argument("--honeypot-rate", type=float, default=0.02)
    ap.add_argument("--gold", type=int, default=2_000, help="gold items to rotate as honeypots")
    ap.add_argument("--good", type=float, default=0.95, help="accuracy before the drop")
    ap.add_argument("--bad", type=float, default=0.80, help="accuracy after the drop")
    ap.add_argument("--alert", type=float, default=0.85, help="accuracy the alert must catch")
    # the chart counts a calendar week's honeypots (20,410 here at full size): an in-control
    # run length of 100,000 honeypots states a 17% weekly false-alarm chance and fired before
    # the drop in a full-size run; 2,000,000 states 1% and costs about 100 honeypots of delay
    ap.add_argument("--target-arl", type=float, default=2_000_000.0)
    ap.add_argument("--sla", type=float, default=0.12)
    ap.add_argument("--false-alarm-weeks", type=int, default=2_000)
    ap.add_argument("--half-width", type=float, default=0.02)
    ap.add_argument("--k", type=int, default=1_000, help="precision at k of the flags")
    ap.add_argument("--chunk", type=int, default=50_000, help="flag run chunk size")
    ap.add_argument("--database-url", default=None)
    ap.add_argument("--timeout", type=float, default=7_200.0, help="per delivery, seconds")
    args = ap.parse_args()
    drop_at = args.weeks // 2
    clock = _Clock()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-delivery-e2e-") as tmp:
        database_url = args.database_url or f"sqlite:///{Path(tmp) / 'e2e.db'}"
        key = admin_key(database_url, "bench-delivery-e2e")
        port = free_port()
        sim_url = f"http://127.0.0.1:{port}"
        stack = local_stack(Path(tmp) / "stack", database_url)
        with stack:
            t = time.perf_counter()
            stack.start_api()
            stack.start_worker(workers=2)
            stack.wait_ready()
            client = httpx.Client(
                base_url=stack.api_url, headers={"X-API-Key": key}, timeout=args.timeout
            )
            ctx = _setup(client, args, sim_url)
            deliveries = _create_weeks(client, args, ctx)
            t = clock.lap("create deliveries (API)", t)
            engine = create_db_engine(database_url)
            with Session(engine) as session:
                gold_key = {g.id: g.key for g in session.exec(select(m.GoldenItem)).all()}
                oracle = {
                    key_: ctx["gold"][gold_key[gid]] if gid else _truth(key_)
                    for key_, gid in session.exec(
                        select(m.DeliveryItem.key, m.DeliveryItem.gold_item_id)
                    )
                }
            config = SimulatorConfig(
                time_scale=0.0,
                vendors=[
                    SimulatedVendor(
                        name=name,
                        seed=seed,
                        accuracy=accuracy,
                        latency=LatencySpec(distribution="constant", mean_s=0.0),
                    )
                    for name, seed, accuracy in (("good", 1, args.good), ("bad", 2, args.bad))
                ],
            )
            n_honeypots = [d["n_honeypots"] for d in deliveries]
            with SimulatorProcess(config, oracle, workdir=Path(tmp) / "sim", port=port):
                for w, delivery in enumerate(deliveries):
                    if w == drop_at:
                        client.patch(
                            f"/vendors/{ctx['vendor']['id']}",
                            json={
                                "adapter_settings": {
                                    "url": sim_url,
                                    "mode": "poll",
                                    "profile": "bad",
                                }
                            },
                        ).raise_for_status()
                    client.post(f"/deliveries/{delivery['id']}/dispatch").raise_for_status()
                    _wait(client, delivery["id"], stack, args.timeout)
                    t = clock.lap("dispatch, simulate, collect, store (worker)", t)
                    print(
                        f"  week {w + 1}: labeled ({time.perf_counter() - clock.t0:.0f} s)",
                        flush=True,
                    )

            # -- the alert
            quality = [client.get(f"/deliveries/{d['id']}/quality").json() for d in deliveries]
            t = clock.lap("quality and alerts (API)", t)
            before = quality[drop_at - 1]["alerts"][0]
            after = quality[-1]["alerts"][0]
            drop_index = sum(n_honeypots[:drop_at])
            fired = after["first_alarm_index"]
            print(
                f"alert: silent before the drop: {before['n_alarms'] == 0}; "
                f"first alarm at honeypot {fired} (drop at {drop_index}), in delivery "
                f"{after['first_alarm_delivery_id']} (first degraded: {deliveries[drop_at]['id']})"
            )
            if before["n_alarms"] or fired is None or fired < drop_index:
                failures.append("the alert fired before the drop or never")

            # -- false alarms over repeated in-control weeks, with the service's stated design
            design_public = quality[-1]["design"]
            design = design_bernoulli_cusum(
                args.good, args.alert, target_arl=design_public["target_arl"]
            )
            week = int(design_public["honeypots_per_week"])
            stated = cusum_alarm_probability(design, week, accuracy=args.good)
            rng = np.random.default_rng(11)
            alarms = 0
            for _ in range(args.false_alarm_weeks):
                path = bernoulli_cusum((rng.random(week) < args.good).astype(np.int64), design)
                alarms += bool(path.alarms)
            seen = alarms / args.false_alarm_weeks
            se = math.sqrt(max(stated * (1 - stated), 1e-12) / args.false_alarm_weeks)
            print(
                f"false alarms: {seen:.4f} of {args.false_alarm_weeks} simulated weeks of {week} "
                f"honeypots; stated {stated:.4f} (service: "
                f"{design_public['false_alarm_probability_per_week']:.4f})"
            )
            if abs(seen - stated) > 3 * se + 1.0 / args.false_alarm_weeks:
                failures.append("simulated false-alarm rate differs from the stated one")
            t = clock.lap("false-alarm simulation", t)

            # -- flags on the last delivery: uploaded probabilities, chunk jobs on the workers
            target = deliveries[-1]["id"]
            with Session(engine) as session:
                rows = list(
                    session.exec(
                        select(m.DeliveryItem)
                        .where(m.DeliveryItem.delivery_id == target)
                        .order_by(col(m.DeliveryItem.position))
                    ).all()
                )
                stored = dict(
                    session.exec(
                        select(m.DeliveryLabel.item_id, m.DeliveryLabel.value).where(
                            m.DeliveryLabel.delivery_id == target
                        )
                    ).all()
                )
            production = [r for r in rows if r.gold_item_id is None]
            wrong = {r.key: stored.get(r.id or 0) != oracle[r.key] for r in production}
            true_rate = sum(wrong.values()) / len(wrong)
            body = _probabilities(rows, oracle, skill=3.0)
            t = clock.lap("probabilities file (model stand-in)", t)
            started = client.post(
                f"/deliveries/{target}/flags/runs/upload?chunk_size={args.chunk}",
                content=body,
                headers={"Content-Type": "text/csv"},
            )
            if started.status_code != 202:
                raise SystemExit(f"upload run: {started.status_code} {started.text[:500]}")
            run = _wait_run(client, target, args.timeout)
            t = clock.lap("flag run (upload + chunk jobs on the workers)", t)
            ranked = client.get(f"/deliveries/{target}/flags?limit={args.k}").json()["data"]
            k = min(args.k, len(ranked))
            precision = sum(wrong[f["item_id"]] for f in ranked[:k]) / max(k, 1)
            print(
                f"flags: run {run['state']} in {run['n_chunks']} chunks, {run['n_flagged']} of "
                f"{run['n_scored']} flagged; precision@{k} = {precision:.3f} against a base "
                f"rate of {true_rate:.3f}"
            )
            if run["state"] != "merged" or precision <= 2 * true_rate:
                failures.append("flags do not rank the planted errors")

            # -- the audit, worked through the API with the true answers
            status = _post(client, f"/deliveries/{target}/audit", {"half_width": args.half_width})
            while status["next_item"] is not None:
                item_id = status["next_item"]["item_id"]
                status = _post(
                    client,
                    f"/deliveries/{target}/audit/decisions",
                    {"item_id": item_id, "decision": "error" if wrong[item_id] else "correct"},
                    status=200,
                )
            t = clock.lap("audit (API)", t)
            print(
                f"audit: {status['reviewed']} reviewed, error rate {status['estimate']:.4f} "
                f"[{status['ci_low']:.4f}, {status['ci_high']:.4f}], truth {true_rate:.4f}: "
                f"{status['decision']} against the SLA of {args.sla:.0%}"
            )
            if not status["ci_low"] <= true_rate <= status["ci_high"]:
                failures.append("the audit interval misses the true error rate")
            client.close()
            engine.dispose()
    total = time.perf_counter() - clock.t0
    labels = (args.labels // args.weeks) * args.weeks
    print(f"time: {total:.0f} s for {labels:,} labels + {sum(n_honeypots):,} honeypots")
    for name, seconds in clock.stages.items():
        print(f"  {name}: {seconds:.1f} s")
    print(f"load average {os.getloadavg()}, {os.cpu_count()} cores")
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
