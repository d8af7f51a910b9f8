"""The ``http`` kind against an in-process protocol vendor (``httpx.MockTransport``)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from adapters.base import (
    JobNotFound,
    LabelingVendor,
    VendorJob,
    VendorRejected,
    VendorResponseInvalid,
    VendorUnavailable,
)
from adapters.http import (
    CallbackRejected,
    HttpAdapter,
    HttpVendorSettings,
    VendorFailing,
    env_prefix_for,
    reset_vendor_guards,
    sign_callback,
    verify_callback,
)
from adapters.http_protocol import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    BatchRequest,
    CallbackPayload,
    ItemResult,
    WireAnnotation,
    openapi_schema,
)
from adapters.testing import ToyGolden, VendorContract, toy_golden


def _answer(batch: BatchRequest, item_id: str) -> object:
    """A well-formed answer of the batch's task type, from the item id alone (no gold)."""
    classes = batch.ontology.class_names
    if batch.task_type == "rating":  # every criterion, inside the scale
        low, high = batch.ontology.rating_scale or (1, 5)
        return {c: low + len(item_id) % (high - low + 1) for c in classes}
    if batch.task_type == "transcription":
        return f"heard {item_id}"
    return classes[len(item_id) % len(classes)]


class ProtocolVendor:
    """A minimal, correct protocol-v1 vendor; labels each item without any gold."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.jobs: dict[str, BatchRequest] = {}
        self.cancelled: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path.removeprefix("/api")
        if request.method == "POST" and path == "/v1/batches":
            batch = BatchRequest.model_validate_json(request.content)
            job_id = "job-" + hashlib.sha256(batch.batch_id.encode()).hexdigest()[:10]
            self.jobs[job_id] = batch
            return httpx.Response(
                202,
                json={
                    "job_id": job_id,
                    "batch_id": batch.batch_id,
                    "accepted": len(batch.items),
                    "state": "running",
                },
            )
        parts = path.split("/")
        job_id = parts[3] if len(parts) > 3 else ""
        found = self.jobs.get(job_id)
        if found is None:
            return httpx.Response(404, json={"error": "unknown_job"})
        batch = found
        if request.method == "DELETE":
            self.cancelled.add(job_id)
            return httpx.Response(204)
        if path.endswith("/results"):
            results = [
                {
                    "item_id": it.item_id,
                    "annotations": [
                        {
                            "result_id": f"{job_id}:{it.item_id}",
                            "label": _answer(batch, it.item_id),
                            "annotator_id": "w1",
                            "completed_at": "2024-05-01T10:00:00Z",
                            "cost": 0.1,
                        }
                    ],
                }
                for it in batch.items
            ]
            # two pages, to exercise the cursor
            cursor = request.url.params.get("cursor")
            half = len(results) // 2
            page = results[:half] if cursor is None else results[half:]
            return httpx.Response(
                200,
                json={
                    "job_id": job_id,
                    "results": page,
                    "next_cursor": "p2" if cursor is None else None,
                },
            )
        return httpx.Response(
            200,
            json={
                "job_id": job_id,
                "state": "completed",
                "done": len(batch.items),
                "total": len(batch.items),
            },
        )


@pytest.fixture(autouse=True)
def _fresh_guards() -> None:
    reset_vendor_guards()


def make_adapter(
    handler: Callable[[httpx.Request], httpx.Response], **values: object
) -> HttpAdapter:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    settings: dict[str, Any] = {
        "base_url": "https://vendor.example/api",
        "backoff_base_s": 0.0,
        "api_key": "k-123",
        "mode": "poll",
    }
    settings.update(values)
    return HttpAdapter("acme", client=client, sleep=lambda _s: None, **settings)


class TestHttpContract(VendorContract):
    @pytest.fixture
    def vendor(self) -> ProtocolVendor:
        return ProtocolVendor()

    @pytest.fixture
    def adapter(self, vendor: ProtocolVendor) -> LabelingVendor:
        return make_adapter(vendor)

    @pytest.fixture
    def finish(self) -> Callable[[VendorJob], None]:
        return lambda _job: None

    @pytest.fixture
    def sent(self, vendor: ProtocolVendor) -> Callable[[], list[object]]:
        def payloads() -> list[object]:
            return [
                {"url": str(r.url), "body": json.loads(r.content) if r.content else None}
                for r in vendor.requests
            ]

        return payloads


class TestHttpContractDetection(TestHttpContract):
    task_type = "detection"


class TestHttpContractPreference(TestHttpContract):
    task_type = "preference"


class TestHttpContractRating(TestHttpContract):
    """A rubric: no gold rating in any request (the contract scans every body)."""

    task_type = "rating"


class TestHttpContractTranscription(TestHttpContract):
    """Transcripts: no gold transcript in any request."""

    task_type = "transcription"


def test_requests_carry_bearer_token_and_protocol_version() -> None:
    vendor = ProtocolVendor()
    adapter = make_adapter(vendor)
    adapter.submit(toy_golden().batch())
    request = vendor.requests[0]
    assert request.headers["Authorization"] == "Bearer k-123"
    assert request.headers["Bakeoff-Protocol"] == "1"
    body = json.loads(request.content)
    assert body["protocol_version"] == "1"
    assert body["callback_url"] is None  # poll mode never hands out a callback


def test_callback_mode_sends_the_callback_url() -> None:
    vendor = ProtocolVendor()
    adapter = make_adapter(vendor, mode="callback")
    adapter.submit(toy_golden().batch(callback_url="https://bakeoff.example/cb/acme"))
    assert json.loads(vendor.requests[0].content)["callback_url"] == (
        "https://bakeoff.example/cb/acme"
    )


def test_results_follow_the_cursor_and_keep_vendor_metadata() -> None:
    adapter = make_adapter(ProtocolVendor())
    golden = toy_golden()
    results = adapter.fetch_results(adapter.submit(golden.batch()))
    assert len(results) == len(golden.items)
    assert results[0].cost == pytest.approx(0.1)
    assert results[0].completed_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert results[0].annotator_id == "w1"


def flaky(failures: list[int | type[Exception]]) -> Callable[[httpx.Request], httpx.Response]:
    """Fail with each entry in turn (status code or exception class), then behave."""
    vendor = ProtocolVendor()
    queue = list(failures)

    def handler(request: httpx.Request) -> httpx.Response:
        if queue:
            failure = queue.pop(0)
            if isinstance(failure, int):
                return httpx.Response(failure, json={"error": "boom"})
            raise failure("injected", request=request)  # type: ignore[call-arg]
        return vendor(request)

    return handler


def test_retries_5xx_and_timeouts_then_succeeds() -> None:
    sleeps: list[float] = []
    adapter = make_adapter(flaky([503, httpx.ReadTimeout, 500, httpx.ConnectError]), max_retries=4)
    adapter._sleep = sleeps.append
    job = adapter.submit(toy_golden().batch())
    assert job.external_id.startswith("job-")
    assert len(sleeps) == 4


def test_gives_up_after_max_retries_with_vendor_unavailable() -> None:
    adapter = make_adapter(flaky([503] * 10), max_retries=2)
    with pytest.raises(VendorUnavailable, match="HTTP 503") as info:
        adapter.submit(toy_golden().batch())
    assert isinstance(info.value.__cause__, httpx.HTTPStatusError)


def test_backoff_is_exponential_with_full_jitter_and_a_cap() -> None:
    class Top:
        def uniform(self, _a: float, b: float) -> float:
            return b

    adapter = make_adapter(ProtocolVendor(), backoff_base_s=0.5, backoff_max_s=3.0)
    adapter._rng = Top()  # type: ignore[assignment]
    assert [adapter._backoff(a, None) for a in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert adapter._backoff(0, 2.5) == 2.5  # Retry-After wins when longer


def test_jitter_spreads_delays() -> None:
    adapter = make_adapter(ProtocolVendor(), backoff_base_s=1.0, backoff_max_s=60)
    delays = {round(adapter._backoff(3, None), 6) for _ in range(50)}
    assert len(delays) > 40
    assert all(0 <= d <= 8.0 for d in delays)


def test_4xx_is_not_retried() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, json={"error": "bad", "detail": "no"})

    adapter = make_adapter(handler)
    with pytest.raises(VendorRejected, match="HTTP 400"):
        adapter.submit(toy_golden().batch())
    assert len(calls) == 1


def test_429_is_retried_and_retry_after_honoured() -> None:
    sleeps: list[float] = []
    vendor = ProtocolVendor()
    answers = [httpx.Response(429, headers={"Retry-After": "2"})]

    def handler(request: httpx.Request) -> httpx.Response:
        return answers.pop(0) if answers else vendor(request)

    adapter = make_adapter(handler)
    adapter._sleep = sleeps.append
    adapter.submit(toy_golden().batch())
    assert sleeps == [2.0]


def test_404_on_a_job_is_job_not_found() -> None:
    adapter = make_adapter(ProtocolVendor())
    job = VendorJob(
        vendor="acme", external_id="gone", item_ids=("a",), submitted_at=datetime.now(UTC)
    )
    with pytest.raises(JobNotFound):
        adapter.fetch_results(job)


def test_malformed_answer_is_vendor_response_invalid() -> None:
    adapter = make_adapter(lambda _r: httpx.Response(202, json={"jobid": 1}))
    with pytest.raises(VendorResponseInvalid, match="job_id"):
        adapter.submit(toy_golden().batch())


def test_answer_for_another_batch_is_invalid() -> None:
    answer = {"job_id": "j", "batch_id": "someone-else", "accepted": 1}
    adapter = make_adapter(lambda _r: httpx.Response(202, json=answer))
    with pytest.raises(VendorResponseInvalid, match="another batch id") as info:
        adapter.submit(toy_golden().batch())
    assert "someone-else" not in str(info.value)  # nothing of the answer is repeated


# Adapter errors become ``Task.last_error``, which every reader of a run sees, and base_url
# can name any host: an error reports the status and our own words, never the answer.
INTERNAL = "INTERNAL-ANSWER-MARKER"


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, text=f"<html>{INTERNAL}</html>"),
        httpx.Response(403, json={"error": "forbidden", "detail": INTERNAL}),
        httpx.Response(202, json={"job_id": "j", "batch_id": "b", "accepted": INTERNAL}),
        httpx.Response(202, json={"job_id": "j", "batch_id": "b", "accepted": 1, INTERNAL: 1}),
        httpx.Response(202, text=f"{INTERNAL} is not JSON"),
    ],
    ids=["4xx-text", "4xx-json", "bad-value", "extra-field", "not-json"],
)
def test_errors_never_carry_the_answer(answer: httpx.Response) -> None:
    adapter = make_adapter(lambda _r: answer)
    with pytest.raises((VendorRejected, VendorResponseInvalid)) as info:
        adapter.submit(toy_golden().batch())
    assert INTERNAL not in str(info.value)
    assert str(answer.status_code) in str(info.value) or answer.status_code == 202


def test_transport_errors_name_the_failure_not_its_text() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"connect to 10.0.0.7: {INTERNAL}", request=request)

    adapter = make_adapter(handler, max_retries=0)
    with pytest.raises(VendorUnavailable, match="ConnectError") as info:
        adapter.submit(toy_golden().batch())
    assert INTERNAL not in str(info.value)


def test_circuit_opens_after_repeated_errors_and_recovers() -> None:
    now = [0.0]
    state = {"down": True}
    vendor = ProtocolVendor()
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503) if state["down"] else vendor(request)

    adapter = make_adapter(handler, max_retries=0, failure_threshold=3, cooldown_s=30)
    adapter._clock = lambda: now[0]
    batch = toy_golden().batch()
    for _ in range(3):
        with pytest.raises(VendorUnavailable):
            adapter.submit(batch)
    assert adapter.is_failing and adapter.circuit_state == "open"
    with pytest.raises(VendorFailing, match="failing"):
        adapter.submit(batch)
    assert len(calls) == 3  # the open breaker did not call the vendor
    # another adapter instance for the same vendor shares the breaker
    twin = make_adapter(handler, max_retries=0, failure_threshold=3, cooldown_s=30)
    twin._clock = lambda: now[0]
    with pytest.raises(VendorFailing):
        twin.submit(batch)
    now[0] = 31.0
    assert str(adapter.circuit_state) == "half_open"
    state["down"] = False
    adapter.submit(batch)
    assert str(adapter.circuit_state) == "closed"


def test_4xx_does_not_trip_the_breaker() -> None:
    adapter = make_adapter(lambda _r: httpx.Response(422), failure_threshold=1)
    with pytest.raises(VendorRejected):
        adapter.submit(toy_golden().batch())
    assert str(adapter.circuit_state) == "closed"


def test_rate_limit_spaces_requests() -> None:
    now = [0.0]
    sleeps: list[float] = []

    def sleep(s: float) -> None:
        sleeps.append(s)
        now[0] += s

    adapter = make_adapter(ProtocolVendor(), rate_limit_per_s=4.0)
    adapter._clock = lambda: now[0]
    adapter._sleep = sleep
    job = adapter.submit(toy_golden().batch())
    for _ in range(3):
        adapter.poll(job)
    assert sleeps == pytest.approx([0.25, 0.25, 0.25])


def test_concurrency_limit_holds_across_threads() -> None:
    vendor = ProtocolVendor()
    active = [0]
    peak = [0]
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.02)
        with lock:
            active[0] -= 1
        return vendor(request)

    adapter = make_adapter(handler, max_concurrency=2)
    job = adapter.submit(toy_golden().batch())
    threads = [threading.Thread(target=adapter.poll, args=(job,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


def test_settings_come_from_the_vendor_env_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    assert env_prefix_for("acme-labs") == "BAKEOFF_VENDOR_ACME_LABS_"
    monkeypatch.setenv("BAKEOFF_VENDOR_ACME_LABS_BASE_URL", "https://env.example")
    monkeypatch.setenv("BAKEOFF_VENDOR_ACME_LABS_WEBHOOK_SECRET", "from-env")
    monkeypatch.setenv("BAKEOFF_VENDOR_ACME_LABS_MAX_CONCURRENCY", "7")
    settings = HttpVendorSettings.for_vendor("acme-labs")
    assert settings.base_url == "https://env.example"
    assert settings.max_concurrency == 7
    assert settings.webhook_secret is not None
    assert settings.webhook_secret.get_secret_value() == "from-env"
    assert "from-env" not in repr(settings)
    assert HttpVendorSettings.for_vendor("acme-labs", max_concurrency=2).max_concurrency == 2


def test_the_env_token_goes_only_to_the_env_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    """A lead stores base_url through the API; the operator's token must not follow it."""
    monkeypatch.setenv("BAKEOFF_VENDOR_ACME_LABS_BASE_URL", "https://api.acme.example")
    monkeypatch.setenv("BAKEOFF_VENDOR_ACME_LABS_API_KEY", "ENV-TOKEN")
    seen: list[str | None] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Authorization"))
        return ProtocolVendor()(request)

    client = httpx.Client(transport=httpx.MockTransport(vendor))
    for url in ("https://api.acme.example/", "https://attacker.example"):
        adapter = HttpAdapter("acme-labs", client=client, base_url=url, mode="poll")
        adapter.submit(toy_golden().batch())
    assert seen == ["Bearer ENV-TOKEN", None]
    own = HttpVendorSettings.for_vendor("acme-labs", base_url="https://x", api_key="mine")
    assert own.api_key is not None and own.api_key.get_secret_value() == "mine"
    from_env = HttpVendorSettings.for_vendor("acme-labs")
    assert from_env.api_key is not None and from_env.api_key.get_secret_value() == "ENV-TOKEN"


def test_settings_refuse_unknown_fields() -> None:
    with pytest.raises(ValueError, match="colour"):
        HttpVendorSettings.for_vendor("x", base_url="https://x", colour="red")


# -- callbacks --------------------------------------------------------------------

SECRET = "s3cret-webhook-key-0123"
OTHER_SECRET = "another-webhook-key-4567"
OLD_SECRET = "rotated-out-webhook-key-89"


def _callback_body() -> bytes:
    payload = CallbackPayload(
        job_id="j1",
        batch_id="b1",
        results=[
            ItemResult(
                item_id="cla-001",
                annotations=[
                    WireAnnotation(result_id="r1", label="cat", annotator_id="w9", cost=0.2)
                ],
            )
        ],
        state="completed",
    )
    return payload.model_dump_json().encode()


def test_signed_callback_verifies_and_parses() -> None:
    body = _callback_body()
    headers = sign_callback(SECRET, body, timestamp=1_700_000_000, delivery_id="d-1")
    delivery = verify_callback(
        secret=SECRET, body=body, headers=headers, vendor="acme", now=1_700_000_010
    )
    assert delivery.delivery_id == "d-1"
    assert delivery.job_id == "j1" and delivery.state == "completed"
    (annotation,) = delivery.annotations
    assert annotation.item_id == "cla-001" and annotation.external_id == "r1"
    assert annotation.label == "cat" and annotation.cost == pytest.approx(0.2)


def test_signature_matches_the_documented_formula() -> None:
    import hmac

    body = b'{"x":1}'
    headers = sign_callback("k", body, timestamp=1234, delivery_id="abc")
    expected = hmac.new(b"k", b"1234.abc." + body, hashlib.sha256).hexdigest()
    assert headers[SIGNATURE_HEADER] == f"v1={expected}"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: ({**h, SIGNATURE_HEADER: "v1=" + "0" * 64}, b), "bad_signature"),
        (lambda h, b: (h, b.replace(b"cat", b"dog")), "bad_signature"),
        (lambda h, b: ({**h, DELIVERY_HEADER: "other"}, b), "bad_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != SIGNATURE_HEADER}, b), "unsigned"),
        (lambda h, b: ({**h, TIMESTAMP_HEADER: "yesterday"}, b), "unsigned"),
    ],
    ids=["forged", "tampered-body", "swapped-delivery", "missing-signature", "bad-timestamp"],
)
def test_tampered_callbacks_are_refused(
    mutate: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]], reason: str
) -> None:
    body = _callback_body()
    headers = sign_callback(SECRET, body, timestamp=1_700_000_000, delivery_id="d-1")
    headers, body = mutate(headers, body)
    with pytest.raises(CallbackRejected) as info:
        verify_callback(secret=SECRET, body=body, headers=headers, vendor="acme", now=1_700_000_000)
    assert info.value.reason == reason


def test_stale_and_future_timestamps_are_refused() -> None:
    body = _callback_body()
    headers = sign_callback(SECRET, body, timestamp=1_700_000_000, delivery_id="d")
    for now in (1_700_000_000 + 301, 1_700_000_000 - 301):
        with pytest.raises(CallbackRejected) as info:
            verify_callback(secret=SECRET, body=body, headers=headers, vendor="a", now=now)
        assert info.value.reason == "stale"


def test_wrong_secret_is_refused() -> None:
    body = _callback_body()
    headers = sign_callback(SECRET, body)
    with pytest.raises(CallbackRejected, match="bad_signature"):
        verify_callback(secret=OTHER_SECRET, body=body, headers=headers, vendor="a")


def test_malformed_signed_body_is_refused_with_location() -> None:
    body = b'{"job_id": "j", "batch_id": "b", "results": [{"item_id": "x", "annotations": []}]}'
    headers = sign_callback(SECRET, body)
    with pytest.raises(CallbackRejected, match=r"results\.0\.annotations") as info:
        verify_callback(secret=SECRET, body=body, headers=headers, vendor="a")
    assert info.value.reason == "malformed"


def test_rotated_secrets_accept_either_signature() -> None:
    body = _callback_body()
    old = sign_callback(OLD_SECRET, body, timestamp=1, delivery_id="d")[SIGNATURE_HEADER]
    new = sign_callback(SECRET, body, timestamp=1, delivery_id="d")
    headers = {**new, SIGNATURE_HEADER: f"{old}, {new[SIGNATURE_HEADER]}"}
    verify_callback(secret=OLD_SECRET, body=body, headers=headers, vendor="a", now=1)
    verify_callback(secret=SECRET, body=body, headers=headers, vendor="a", now=1)


@pytest.mark.parametrize("secret", ["", "short", "x" * 15], ids=["empty", "short", "15-chars"])
def test_callbacks_signed_with_a_short_secret_are_refused(secret: str) -> None:
    body = _callback_body()
    headers = sign_callback(secret, body, timestamp=1_700_000_000, delivery_id="d")
    with pytest.raises(CallbackRejected) as info:
        verify_callback(secret=secret, body=body, headers=headers, vendor="a", now=1_700_000_000)
    assert info.value.reason == "no_secret"
    sixteen = "y" * 16  # the minimum is accepted
    headers = sign_callback(sixteen, body, timestamp=1_700_000_000, delivery_id="d")
    verify_callback(secret=sixteen, body=body, headers=headers, vendor="a", now=1_700_000_000)


def test_openapi_document_matches_the_committed_file() -> None:
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "vendor-protocol.openapi.json"
    schema = openapi_schema()
    assert schema["openapi"].startswith("3.1")
    assert {"/v1/batches", "/v1/batches/{job_id}", "/v1/batches/{job_id}/results"} <= set(
        schema["paths"]
    )
    assert "BatchRequest" in schema["components"]["schemas"]
    # a gold field must never be part of what Bakeoff sends
    item = schema["components"]["schemas"]["WireItem"]
    assert set(item["properties"]) == {"item_id", "data"}
    assert json.loads(path.read_text()) == schema, (
        "regenerate: python -m adapters.http_protocol > docs/vendor-protocol.openapi.json"
    )


def test_golden_fixture_is_what_the_contract_expects() -> None:
    golden: ToyGolden = toy_golden("detection")
    assert len(golden.items) == len(golden.gold) == 12
