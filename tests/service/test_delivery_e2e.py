"""End to end: weekly deliveries through the API, a worker and the vendor simulator.

A vendor chosen by a bake-off gets six weekly deliveries with 10% honeypots. The simulator
answers through the ``simulator`` adapter (poll mode) at 95% accuracy for three weeks, then
its workforce changes (the vendor's simulator profile moves to one at 70%). The honeypot
alert (agreed accuracy 90%, alert at 70%) must be silent as of the third delivery and fire
in the first degraded one. On the last delivery, model probabilities are uploaded, the
cleanlab flags rank the planted errors (precision at k printed), a QA reviewer works the
drawn audit sample through the API with the true answers, and the audited interval covers
the delivery's true error rate; the delivery is rejected against a 12% SLA.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlmodel import Session, col, select

import service.models as m
from adapters.simulator import LatencySpec, SimulatedVendor, SimulatorConfig, SimulatorProcess
from adapters.simulator.adapter import free_port
from service.core.db import create_db_engine
from tests.factories import admin_key, local_stack

pytestmark = pytest.mark.slow

CLASSES = ("cat", "dog", "bird")
WEEKS = 6
DROP_AT = 3  # deliveries 0..2 good, 3.. degraded
N_PRODUCTION = 270  # + 30 honeypots at 10%
N_GOLD = 40


def _post(client: httpx.Client, url: str, body: Any, status: int = 201) -> Any:
    answer = client.post(url, json=body)
    assert answer.status_code == status, (url, answer.status_code, answer.text)
    return answer.json()


def _truth(key: str) -> str:
    return CLASSES[random.Random(key).randrange(3)]


def _wait_labeled(client: httpx.Client, delivery_id: int, log: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        body: dict[str, Any] = client.get(f"/deliveries/{delivery_id}").json()
        if body["status"] == "labeled":
            return body
        time.sleep(0.3)
    raise AssertionError(f"delivery {delivery_id} not labeled: {body}\n{log}")


def test_weekly_deliveries_alert_after_the_drop_and_the_audit_covers_the_truth(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'e2e.db'}"
    key = admin_key(database_url, "delivery-e2e")
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    with local_stack(tmp_path / "stack", database_url) as stack:
        stack.start_api()
        stack.start_worker(workers=2)
        stack.wait_ready()
        client = httpx.Client(base_url=stack.api_url, headers={"X-API-Key": key}, timeout=30)
        with client:
            project = _post(
                client,
                "/projects",
                {
                    "name": "production",
                    "task_type": "classification",
                    "ontology": {"classes": [{"name": c} for c in CLASSES]},
                },
            )
            _post(client, f"/projects/{project['id']}/instructions", {"text": "# animals"})
            gs = _post(client, "/golden-sets", {"name": "gold", "project_id": project["id"]})
            gold = {f"g{i}": CLASSES[i % 3] for i in range(N_GOLD)}
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
            deliveries = [
                _post(
                    client,
                    "/deliveries",
                    {
                        "name": f"week {w + 1}",
                        "project_id": project["id"],
                        "vendor_id": vendor["id"],
                        "golden_set_version_id": version["id"],
                        "honeypot_rate": 0.1,
                        "agreed_accuracy": 0.9,
                        "alert_accuracy": 0.7,
                        "alert_target_arl": 500,
                        "max_error_rate": 0.12,
                        "seed": w,
                        "items": [
                            {"key": f"w{w}-{i}", "data": {"image": f"img/w{w}-{i}.jpg"}}
                            for i in range(N_PRODUCTION)
                        ],
                    },
                )
                for w in range(WEEKS)
            ]
            # the simulator knows the truth of every item it will see (honeypots: the gold)
            engine = create_db_engine(database_url)
            with Session(engine) as session:
                gold_key = {g.id: g.key for g in session.exec(select(m.GoldenItem)).all()}
                items = session.exec(select(m.DeliveryItem).order_by(col(m.DeliveryItem.id))).all()
                oracle = {
                    i.key: gold[gold_key[i.gold_item_id]] if i.gold_item_id else _truth(i.key)
                    for i in items
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
                    for name, seed, accuracy in (("good", 1, 0.95), ("bad", 2, 0.7))
                ],
            )
            with SimulatorProcess(config, oracle, workdir=tmp_path / "sim", port=port):
                for w, delivery in enumerate(deliveries):
                    if w == DROP_AT:  # the vendor's workforce changes
                        patched = client.patch(
                            f"/vendors/{vendor['id']}",
                            json={
                                "adapter_settings": {
                                    "url": sim_url,
                                    "mode": "poll",
                                    "profile": "bad",
                                }
                            },
                        )
                        assert patched.status_code == 200, patched.text
                    sent = client.post(f"/deliveries/{delivery['id']}/dispatch")
                    assert sent.status_code == 202, sent.text
                    done = _wait_labeled(client, delivery["id"], stack.log("worker"))
                    assert done["n_labeled"] == N_PRODUCTION + 30 and done["progress"] == 1.0

            # -- the alert: silent through the good weeks, firing in the first bad one
            last_good = client.get(f"/deliveries/{deliveries[DROP_AT - 1]['id']}/quality").json()
            assert last_good["alerts"][0]["in_alarm"] is False, last_good["alerts"][0]
            assert last_good["overall"]["n_honeypots"] == 30 * DROP_AT
            last = client.get(f"/deliveries/{deliveries[-1]['id']}/quality").json()
            alert = last["alerts"][0]
            assert alert["in_alarm"] and alert["first_alarm_index"] >= 30 * DROP_AT
            assert alert["first_alarm_delivery_id"] == deliveries[DROP_AT]["id"], alert
            print(  # noqa: T201 - the numbers the issue asks to report
                f"\nalert: first alarm at honeypot {alert['first_alarm_index']} "
                f"(drop at {30 * DROP_AT}); stated false-alarm probability per week of "
                f"{last['design']['honeypots_per_week']} honeypots: "
                f"{last['design']['false_alarm_probability_per_week']:.4f}, "
                f"in-control ARL {last['design']['arl_in_control']:.0f}"
            )

            # -- flags on the last (degraded) delivery from a model's probabilities
            target = deliveries[-1]["id"]
            with Session(engine) as session:
                rows = session.exec(
                    select(m.DeliveryItem).where(m.DeliveryItem.delivery_id == target)
                ).all()
                stored = {
                    lab.item_id: lab.value
                    for lab in session.exec(
                        select(m.DeliveryLabel).where(m.DeliveryLabel.delivery_id == target)
                    ).all()
                }
            production = [r for r in rows if r.gold_item_id is None]
            wrong = {r.key: stored[r.id or 0] != oracle[r.key] for r in production}
            true_rate = sum(wrong.values()) / len(wrong)
            rng = np.random.default_rng(0)
            lines = ["item_id," + ",".join(CLASSES)]
            for r in rows:
                logits = rng.normal(0, 1, 3)
                logits[CLASSES.index(oracle[r.key])] += 3.0
                p = np.exp(logits) / np.exp(logits).sum()
                lines.append(r.key + "," + ",".join(f"{v:.12f}" for v in p))
            flagged = client.post(
                f"/deliveries/{target}/flags",
                content=("\n".join(lines) + "\n").encode(),
                headers={"Content-Type": "text/csv"},
            )
            assert flagged.status_code == 200, flagged.text
            ranked = client.get(f"/deliveries/{target}/flags?limit=50").json()["data"]
            k = min(50, len(ranked))
            precision = sum(wrong[f["item_id"]] for f in ranked[:k]) / k
            print(f"flags: precision@{k} = {precision:.2f}, base rate {true_rate:.2f}")  # noqa: T201
            assert precision > 2 * true_rate

            # -- the audit: drawn, worked in order with the true answers, verdict
            drawn = client.post(f"/deliveries/{target}/audit", json={"half_width": 0.06})
            assert drawn.status_code == 201, drawn.text
            status = drawn.json()
            while status["next_item"] is not None:
                item_id = status["next_item"]["item_id"]
                decision = "error" if wrong[item_id] else "correct"
                answer = client.post(
                    f"/deliveries/{target}/audit/decisions",
                    json={"item_id": item_id, "decision": decision},
                )
                assert answer.status_code == 200, answer.text
                status = answer.json()
            print(  # noqa: T201 - the numbers the issue asks to report
                f"audit: {status['reviewed']} reviewed, estimate {status['estimate']:.3f} "
                f"[{status['ci_low']:.3f}, {status['ci_high']:.3f}], truth {true_rate:.3f}: "
                f"{status['decision']}"
            )
            assert status["ci_low"] <= true_rate <= status["ci_high"]
            assert status["decision"] == "reject" and "above the SLA of 12.0%" in status["reason"]
            engine.dispose()
