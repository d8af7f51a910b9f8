"""The vendor simulator: a real server on localhost, its noise model, faults and callbacks."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from adapters.base import Box, LabelingVendor, TaskType, VendorAnnotation, VendorJob
from adapters.http import CallbackRejected, reset_vendor_guards, verify_callback
from adapters.http_protocol import BatchRequest, WireItem
from adapters.simulator import (
    AnnotatorPool,
    BoxBias,
    ClassNoise,
    Faults,
    LatencySpec,
    PriceList,
    SimulatedVendor,
    SimulatorAdapter,
    SimulatorConfig,
    SimulatorProcess,
    free_port,
    load_config,
)
from adapters.simulator.noise import pick_annotators, sample_latency, simulate_answer
from adapters.simulator.server import SimulatorState
from adapters.testing import VendorContract, toy_golden

pytestmark = pytest.mark.enable_socket

SECRET = "sim-webhook-secret-0123"

VENDORS = [
    SimulatedVendor(
        name="acme",
        seed=1,
        accuracy=0.8,
        annotators=AnnotatorPool(count=3, per_item=2, skill_spread=0.05),
        latency=LatencySpec(distribution="lognormal", mean_s=5.0),
        prices=PriceList(per_item=0.1, per_label=0.01),
        webhook_secret=SecretStr(SECRET),
    ),
    SimulatedVendor(
        name="flaky",
        seed=2,
        accuracy=0.9,
        latency=LatencySpec(distribution="constant", mean_s=1.0),
        faults=Faults(
            error_rate=0.3,
            timeout_rate=0.1,
            hang_s=0.6,
            duplicate_callback_rate=0.5,
            out_of_order=True,
        ),
        webhook_secret=SecretStr(SECRET),
    ),
    SimulatedVendor(
        name="locked", api_key=SecretStr("vendor-key"), webhook_secret=SecretStr(SECRET)
    ),
    SimulatedVendor(
        name="dupes",
        latency=LatencySpec(distribution="exponential", mean_s=20.0),
        faults=Faults(duplicate_callback_rate=1.0, out_of_order=True, error_rate=0.2),
        webhook_secret=SecretStr(SECRET),
    ),
]


@pytest.fixture(scope="module")
def simulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimulatorProcess]:
    oracle: dict[str, Any] = {}
    tasks: tuple[TaskType, ...] = ("classification", "detection", "preference")
    for task in tasks:
        oracle.update(toy_golden(task).oracle_json())
    config = SimulatorConfig(vendors=VENDORS, time_scale=0.001)
    with SimulatorProcess(config, oracle, workdir=tmp_path_factory.mktemp("sim")) as sim:
        yield sim


@pytest.fixture(autouse=True)
def _fresh_guards() -> None:
    reset_vendor_guards()


class Recorder:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> None:
        request.read()
        self.requests.append(request)


@pytest.mark.slow  # starts the simulator process (shared by the module)
class TestSimulatorContract(VendorContract):
    @pytest.fixture
    def recorder(self) -> Recorder:
        return Recorder()

    @pytest.fixture
    def adapter(self, simulator: SimulatorProcess, recorder: Recorder) -> LabelingVendor:
        client = httpx.Client(event_hooks={"request": [recorder]}, timeout=5.0)
        return SimulatorAdapter("acme", url=simulator.url, mode="poll", client=client)

    @pytest.fixture
    def finish(self, adapter: LabelingVendor) -> Callable[[VendorJob], None]:
        def wait(job: VendorJob) -> None:
            deadline = time.monotonic() + 10
            while adapter.poll(job).state != "completed":
                if time.monotonic() > deadline:
                    raise AssertionError("simulated job did not finish")
                time.sleep(0.02)

        return wait

    @pytest.fixture
    def sent(self, recorder: Recorder, simulator: SimulatorProcess) -> Callable[[], list[object]]:
        def payloads() -> list[object]:
            out: list[object] = [
                {"url": str(r.url), "body": json.loads(r.content) if r.content else None}
                for r in recorder.requests
            ]
            # and what the server says it received, verbatim
            received = httpx.get(f"{simulator.url}/_debug/received").json()
            out.extend(json.loads(r["body"]) for r in received)
            return out

        return payloads


class TestSimulatorContractDetection(TestSimulatorContract):
    task_type = "detection"


class TestSimulatorContractPreference(TestSimulatorContract):
    """Preference pairs: what the simulator receives is checked like every other batch."""

    task_type = "preference"


def test_simulated_labels_follow_the_oracle_it_was_given_out_of_band(
    simulator: SimulatorProcess,
) -> None:
    golden = toy_golden("detection")
    adapter = SimulatorAdapter("acme", url=simulator.url, mode="poll")
    job = adapter.submit(golden.batch(bakeoff_id="oob"))
    time.sleep(0.2)
    results = adapter.fetch_results(job)
    # the simulator knows the truth (its own oracle file) though the batch never had it
    received = httpx.get(f"{simulator.url}/_debug/received").json()
    assert all("101.125" not in r["body"] for r in received)
    hits = 0
    for a in results:
        assert isinstance(a.label, list)
        truth = golden.gold[a.item_id]
        assert isinstance(truth, list)
        for box in a.label:
            assert isinstance(box, Box)
            hits += any(isinstance(t, Box) and abs(t.bbox[0] - box.bbox[0]) < 1 for t in truth)
    assert hits >= len(results)  # boxes land on the true objects


def test_bearer_token_is_enforced(simulator: SimulatorProcess) -> None:
    batch = toy_golden().batch()
    wrong = SimulatorAdapter("locked", url=simulator.url, api_key="nope", max_retries=0)
    with pytest.raises(Exception, match="401"):
        wrong.submit(batch)
    right = SimulatorAdapter("locked", url=simulator.url, api_key=SecretStr("vendor-key"))
    assert right.submit(batch).external_id


def test_faulty_vendor_still_delivers_everything_through_retries(
    simulator: SimulatorProcess,
) -> None:
    golden = toy_golden(n=30, id_prefix="flt-")
    adapter = SimulatorAdapter(
        "flaky",
        url=simulator.url,
        mode="poll",
        timeout_s=0.3,
        max_retries=12,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        failure_threshold=50,
    )
    job = adapter.submit(golden.batch(bakeoff_id="faults"))
    again = adapter.submit(golden.batch(bakeoff_id="faults"))
    assert again.external_id == job.external_id  # a retried POST did not create a second job
    deadline = time.monotonic() + 20
    while adapter.poll(job).state != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    results = adapter.fetch_results(job)
    assert sorted(a.item_id for a in results) == sorted(i.item_id for i in golden.items)


class CallbackSink:
    """A real HTTP server standing in for Bakeoff's callback route."""

    def __init__(self) -> None:
        self.deliveries: list[str] = []
        self.annotations: list[VendorAnnotation] = []
        self.refused: list[str] = []
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers["Content-Length"]))
                try:
                    delivery = verify_callback(
                        secret=SECRET,
                        body=body,
                        headers=dict(self.headers.items()),
                        vendor="sim",
                    )
                except CallbackRejected as exc:
                    with sink.lock:
                        sink.refused.append(exc.reason)
                    self.send_response(401)
                    self.end_headers()
                    return
                with sink.lock:
                    sink.deliveries.append(delivery.delivery_id)
                    sink.annotations.extend(delivery.annotations)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink() -> Iterator[CallbackSink]:
    s = CallbackSink()
    yield s
    s.close()


def test_callbacks_are_signed_and_duplicates_carry_the_same_result_ids(
    simulator: SimulatorProcess, sink: CallbackSink
) -> None:
    golden = toy_golden(n=40, id_prefix="cb-")
    adapter = SimulatorAdapter(
        "dupes",
        url=simulator.url,
        mode="callback",
        max_retries=12,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        failure_threshold=50,
    )
    adapter.submit(golden.batch(bakeoff_id="cbk", callback_url=f"http://127.0.0.1:{sink.port}/"))
    deadline = time.monotonic() + 15
    while True:
        with sink.lock:
            unique = {(a.item_id, a.external_id) for a in sink.annotations}
        if len(unique) == len(golden.items) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert {i for i, _ in unique} == {i.item_id for i in golden.items}
    assert sink.refused == []
    assert len(set(sink.deliveries)) == len(sink.deliveries)  # fresh delivery id each POST
    time.sleep(0.2)
    with sink.lock:
        assert len(sink.annotations) == 2 * len(unique)  # every result twice, same ids


def test_no_callback_without_a_callback_url(simulator: SimulatorProcess) -> None:
    adapter = SimulatorAdapter("acme", url=simulator.url, mode="callback")
    job = adapter.submit(toy_golden(n=3, id_prefix="nocb-").batch(bakeoff_id="nocb"))
    assert job.external_id


# -- the noise model, without the server --------------------------------------------

CLASSES = ["cat", "dog", "bird"]


def _answers(
    vendor: SimulatedVendor, truth: Any, n: int, task: TaskType = "classification"
) -> list[Any]:
    return [
        simulate_answer(
            vendor,
            item_id=f"i{i}",
            data={"width": 640, "height": 480},
            truth=truth,
            task_type=task,
            classes=CLASSES,
            annotator=f"{vendor.name}-a0",
        ).label
        for i in range(n)
    ]


def test_class_accuracy_and_confusion_follow_the_config() -> None:
    vendor = SimulatedVendor(
        name="v",
        accuracy=0.9,
        per_class={"cat": ClassNoise(accuracy=0.6, confuse_with={"dog": 1.0})},
    )
    cats = _answers(vendor, "cat", 2000)
    assert cats.count("cat") / 2000 == pytest.approx(0.6, abs=0.04)
    assert cats.count("bird") == 0  # only the configured confusion
    birds = _answers(vendor, "bird", 2000)
    assert birds.count("bird") / 2000 == pytest.approx(0.9, abs=0.03)
    assert {"cat", "dog"} <= set(birds)  # default confusion: any other class


def test_answers_are_deterministic() -> None:
    vendor = SimulatedVendor(name="v", accuracy=0.5, seed=7)
    assert _answers(vendor, "cat", 50) == _answers(vendor, "cat", 50)
    other = SimulatedVendor(name="v", accuracy=0.5, seed=8)
    assert _answers(vendor, "cat", 50) != _answers(other, "cat", 50)


def test_box_bias_widens_and_shifts_boxes() -> None:
    truth = [
        Box(category="cat", bbox=(100.0, 100.0, 50.0, 20.0)),
        Box(category="dog", bbox=(300.0, 200.0, 40.0, 40.0)),
    ]
    vendor = SimulatedVendor(
        name="v",
        accuracy=1.0,
        box_bias=BoxBias(width_scale=1.1),
        class_box_bias={"dog": BoxBias(dx=0.25)},  # e.g. the tail drawn in
    )
    (boxes,) = _answers(vendor, truth, 1, "detection")
    cat, dog = boxes
    assert cat.bbox == pytest.approx((97.5, 100.0, 55.0, 20.0))  # 10% wider, same centre
    assert dog.bbox == pytest.approx((310.0, 200.0, 40.0, 40.0))  # shifted by a quarter


def test_miss_and_false_positive_rates() -> None:
    truth = [Box(category="cat", bbox=(10.0 * k, 10.0, 5.0, 5.0)) for k in range(10)]
    vendor = SimulatedVendor(name="v", accuracy=1.0, miss_rate=0.3, false_positive_rate=0.5)
    answers = _answers(vendor, truth, 300, "detection")
    kept = [sum(1 for b in a if b.bbox[1] == 10.0 and b.bbox[2] == 5.0) for a in answers]
    assert statistics.mean(kept) == pytest.approx(7.0, abs=0.3)
    extra = [len(a) - k for a, k in zip(answers, kept, strict=True)]
    assert statistics.mean(extra) == pytest.approx(0.5, abs=0.15)
    for a in answers:
        for b in a:
            assert 0 <= b.bbox[0] <= 640 and 0 <= b.bbox[1] <= 480


def test_annotator_pool_and_skill_spread() -> None:
    vendor = SimulatedVendor(
        name="v", accuracy=0.7, annotators=AnnotatorPool(count=5, per_item=3, skill_spread=0.2)
    )
    picked = pick_annotators(vendor, "x")
    assert len(picked) == 3 and len(set(picked)) == 3
    seen = {a for i in range(200) for a in pick_annotators(vendor, f"i{i}")}
    assert len(seen) == 5
    rates = []
    for annotator in sorted(seen):
        labels = [
            simulate_answer(
                vendor,
                item_id=f"i{i}",
                data={},
                truth="cat",
                task_type="classification",
                classes=CLASSES,
                annotator=annotator,
            ).label
            for i in range(600)
        ]
        rates.append(labels.count("cat") / 600)
    assert max(rates) - min(rates) > 0.1  # annotators differ in skill


def test_latency_distribution_mean() -> None:
    for dist in ("constant", "uniform", "exponential", "lognormal"):
        vendor = SimulatedVendor(
            name="v", latency=LatencySpec(distribution=dist, mean_s=60.0, sigma=0.5)
        )
        draws = [sample_latency(vendor, f"i{i}", "a") for i in range(4000)]
        assert statistics.mean(draws) == pytest.approx(60.0, rel=0.06), dist
        assert min(draws) >= 0


def test_prices_and_timestamps_on_accepted_work() -> None:
    vendor = SimulatedVendor(
        name="v",
        accuracy=1.0,
        annotators=AnnotatorPool(count=2, per_item=2),
        latency=LatencySpec(distribution="constant", mean_s=360.0),
        prices=PriceList(per_item=1.0, per_label=0.5, per_hour=10.0),
    )
    golden = toy_golden(n=4)
    state = SimulatorState(config=SimulatorConfig(vendors=[vendor]), oracle=dict(golden.gold))
    batch = BatchRequest(
        batch_id="b",
        bakeoff_id="x",
        task_type="classification",
        ontology=golden.ontology,
        instructions=golden.instructions,
        items=[WireItem(item_id=i.item_id, data=i.data) for i in golden.items],
    )
    job = state.accept(vendor, batch)
    assert state.accept(vendor, batch) is job
    for item in job.items:
        total = sum(a.cost or 0 for a in item.result.annotations)
        assert total == pytest.approx(1.0 + 2 * 0.5 + 2 * 1.0)  # item + 2 labels + 2 x 0.1 h
        for a in item.result.annotations:
            assert a.started_at is not None and a.completed_at is not None
            assert (a.completed_at - a.started_at).total_seconds() == pytest.approx(360.0)


def test_config_file_errors_name_the_field(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text(json.dumps({"vendors": [{"name": "a", "accuracy": 2}]}))
    with pytest.raises(ValueError, match=r"vendors\.0\.accuracy"):
        load_config(path)
    path.write_text(json.dumps({"vendors": [{"name": "a"}, {"name": "a"}]}))
    with pytest.raises(ValueError, match="unique"):
        load_config(path)


def test_command_line_refuses_a_bad_config(tmp_path: Path) -> None:
    path = tmp_path / "sim.json"
    path.write_text('{"vendors": []}')
    proc = subprocess.run(
        [sys.executable, "-m", "adapters.simulator", "--config", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "sim.json" in proc.stderr and "vendors" in proc.stderr


def test_spans_segmentation_and_multilabel_answers() -> None:
    from adapters.base import Mask, Span

    vendor = SimulatedVendor(
        name="v", accuracy=1.0, span_shift=2, box_bias=BoxBias(width_scale=2.0)
    )
    text = "the cat sat on the dog mat"
    spans = [Span(start=4, end=7, type="cat"), Span(start=19, end=22, type="dog")]
    for i in range(50):
        (answer,) = [
            simulate_answer(
                vendor,
                item_id=f"s{i}",
                data={"text": text},
                truth=spans,
                task_type="spans",
                classes=CLASSES,
                annotator="a",
            ).label
        ]
        assert isinstance(answer, list) and len(answer) == 2
        for got, want in zip(answer, spans, strict=True):
            assert isinstance(got, Span) and got.type == want.type
            assert abs(got.start - want.start) <= 2 and abs(got.end - want.end) <= 2
            assert 0 <= got.start < got.end <= len(text)
    square = [[0.0, 0.0, 10.0, 0.0, 10.0, 10.0, 0.0, 10.0]]
    masks = [Mask(category="cat", segmentation=square)]
    seg = simulate_answer(
        vendor,
        item_id="m",
        data={},
        truth=masks,
        task_type="segmentation",
        classes=CLASSES,
        annotator="a",
    ).label
    assert isinstance(seg, list) and isinstance(seg[0], Mask)
    xs = seg[0].segmentation[0][0::2]  # type: ignore[index]
    assert max(xs) - min(xs) == pytest.approx(20.0)  # twice as wide, same centre
    multi = SimulatedVendor(name="m", accuracy=1.0, miss_rate=0.0)
    labels = simulate_answer(
        multi,
        item_id="x",
        data={},
        truth=["cat", "dog"],
        task_type="multilabel",
        classes=CLASSES,
        annotator="a",
    ).label
    assert labels == ["cat", "dog"]


class TestSimulatorContractRating(TestSimulatorContract):
    task_type = "rating"


class TestSimulatorContractTranscription(TestSimulatorContract):
    task_type = "transcription"
