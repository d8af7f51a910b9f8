"""The ``http`` kind: vendors that integrate by API, over the Bakeoff vendor protocol v1.

Bakeoff POSTs a batch (items without gold, pinned instructions, ontology, callback URL)
to ``{base_url}/v1/batches``; the vendor either POSTs signed results back to the
callback URL, or Bakeoff polls ``/v1/batches/{job_id}`` and ``.../results``. The wire
format is in :mod:`adapters.http_protocol` and ``docs/vendor-protocol.md``.

Transport behaviour, per vendor:

- retries with exponential backoff and full jitter on 5xx, 429, timeouts and connection
  errors (``Retry-After`` is honoured); 4xx are not retried;
- at most ``max_concurrency`` requests in flight and at most ``rate_limit_per_s``
  requests per second (per process);
- a circuit breaker: after ``failure_threshold`` consecutive failed calls the vendor is
  *failing* and calls raise :class:`VendorFailing` at once for ``cooldown_s``, then one
  trial call decides whether it recovers.

Callbacks are verified by :func:`verify_callback` (HMAC-SHA256 over timestamp, delivery
id and body; stale timestamps refused). Replays of a delivery id are refused by the
service, which remembers delivery ids in its database.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, TypeVar, get_args

import httpx
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.base import (
    AdapterError,
    Batch,
    JobNotFound,
    JobStatus,
    TaskType,
    VendorAnnotation,
    VendorJob,
    VendorRejected,
    VendorResponseInvalid,
    VendorUnavailable,
)
from adapters.http_protocol import (
    DELIVERY_HEADER,
    PROTOCOL_VERSION,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    VERSION_HEADER,
    BatchAccepted,
    BatchRequest,
    BatchStatus,
    CallbackPayload,
    ItemResult,
    ResultPage,
    WireItem,
)

__all__ = [
    "ALL_TASK_TYPES",
    "CallbackDelivery",
    "CallbackRejected",
    "CircuitState",
    "HttpAdapter",
    "HttpVendorSettings",
    "VendorFailing",
    "WEBHOOK_SECRET_MIN_LENGTH",
    "batch_id_for",
    "env_prefix_for",
    "env_secret_follows",
    "reset_vendor_guards",
    "sign_callback",
    "to_annotations",
    "verify_callback",
]

ALL_TASK_TYPES: frozenset[TaskType] = frozenset(get_args(TaskType))
CircuitState = Literal["closed", "open", "half_open"]
WEBHOOK_SECRET_MIN_LENGTH = 16
log = logging.getLogger(__name__)
"""Shortest webhook secret :func:`verify_callback` accepts (an empty key lets anyone sign)."""
_M = TypeVar("_M", bound=BaseModel)


def env_prefix_for(vendor: str) -> str:
    """Environment prefix of a vendor's settings: ``acme-labs`` -> ``BAKEOFF_VENDOR_ACME_LABS_``."""
    slug = "".join(c if c.isalnum() else "_" for c in vendor.upper())
    return f"BAKEOFF_VENDOR_{slug}_"


def env_secret_follows(
    vendor: str, values: Mapping[str, Any], *, endpoint: str, secret: str
) -> dict[str, Any]:
    """``values``, with ``secret`` set to ``None`` if the environment's would go elsewhere.

    An operator who puts a vendor's token in ``BAKEOFF_VENDOR_<SLUG>_<SECRET>`` means it for
    the endpoint in ``BAKEOFF_VENDOR_<SLUG>_<ENDPOINT>``. Whoever may store settings through
    the API (a lead) must not be able to point the vendor at another host and receive it.

    Examples
    --------
    >>> import os
    >>> os.environ["BAKEOFF_VENDOR_DOCTEST_API_KEY"] = "tok"
    >>> env_secret_follows("doctest", {"base_url": "https://evil"}, endpoint="base_url",
    ...                    secret="api_key")
    {'base_url': 'https://evil', 'api_key': None}
    >>> del os.environ["BAKEOFF_VENDOR_DOCTEST_API_KEY"]
    """
    out = dict(values)
    if endpoint not in out or secret in out:
        return out
    environ = {k.upper(): v for k, v in os.environ.items()}
    prefix = env_prefix_for(vendor)
    if f"{prefix}{secret.upper()}" not in environ:
        return out
    env_endpoint = environ.get(f"{prefix}{endpoint.upper()}")
    if env_endpoint is None or env_endpoint.rstrip("/") != str(out[endpoint]).rstrip("/"):
        out[secret] = None
    return out


class HttpVendorSettings(BaseSettings):
    """Settings of one HTTP vendor; every field can come from ``BAKEOFF_VENDOR_<SLUG>_<FIELD>``.

    Build with :meth:`for_vendor`, which applies the vendor's prefix. Explicit values
    (e.g. stored with the vendor in the database) win over the environment.
    """

    model_config = SettingsConfigDict(env_prefix="BAKEOFF_VENDOR_", extra="forbid")

    base_url: str = Field(description="Vendor endpoint root; the protocol paths hang below it.")
    api_key: SecretStr | None = Field(default=None, description="Sent as a Bearer token.")
    webhook_secret: SecretStr | None = Field(
        default=None, description="Shared secret the vendor signs callbacks with."
    )
    mode: Literal["callback", "poll"] = "callback"
    timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=4, ge=0)
    backoff_base_s: float = Field(default=0.5, ge=0)
    backoff_max_s: float = Field(default=30.0, ge=0)
    max_concurrency: int = Field(default=4, ge=1)
    rate_limit_per_s: float | None = Field(default=None, gt=0)
    failure_threshold: int = Field(default=5, ge=1)
    cooldown_s: float = Field(default=60.0, ge=0)
    task_types: frozenset[TaskType] = ALL_TASK_TYPES

    @classmethod
    def for_vendor(cls, vendor: str, **values: Any) -> HttpVendorSettings:
        """Read the settings of ``vendor`` from its env prefix, overridden by ``values``.

        A token from the environment goes only to the endpoint from the environment: when
        ``values`` (settings stored through the API) name another ``base_url``, the
        environment's ``api_key`` is not used (see :func:`env_secret_follows`).
        """
        values = env_secret_follows(vendor, values, endpoint="base_url", secret="api_key")
        return cls(_env_prefix=env_prefix_for(vendor), **values)  # type: ignore[call-arg]


class VendorFailing(VendorUnavailable):
    """The vendor's circuit breaker is open after repeated errors; calls are not attempted."""


class CallbackRejected(AdapterError):
    """A callback failed verification.

    ``reason`` is ``"no_secret"`` (the secret is missing or shorter than
    :data:`WEBHOOK_SECRET_MIN_LENGTH`), ``"unsigned"`` (headers missing), ``"bad_signature"``,
    ``"stale"`` (timestamp outside the tolerance) or ``"malformed"`` (not a CallbackPayload).
    """

    def __init__(
        self,
        reason: Literal["no_secret", "unsigned", "bad_signature", "stale", "malformed"],
        detail: str,
    ) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"callback refused ({reason}): {detail}")


@dataclass(frozen=True)
class CallbackDelivery:
    """A verified callback: who delivered what, as vendor-neutral annotations."""

    delivery_id: str
    timestamp: datetime
    job_id: str
    batch_id: str
    state: str | None
    annotations: tuple[VendorAnnotation, ...]


def batch_id_for(batch: Batch, vendor: str) -> str:
    """The idempotency key of a batch: the same items to the same vendor give the same id."""
    digest = hashlib.sha256()
    for part in (vendor, batch.bakeoff_id, str(batch.instructions.version)):
        digest.update(part.encode() + b"\0")
    for item in sorted(i.item_id for i in batch.items):
        digest.update(item.encode() + b"\0")
    return f"{batch.bakeoff_id}-{digest.hexdigest()[:24]}"


def _signed_bytes(timestamp: str, delivery_id: str, body: bytes) -> bytes:
    return timestamp.encode() + b"." + delivery_id.encode() + b"." + body


def sign_callback(
    secret: SecretStr | str, body: bytes, *, timestamp: int | None = None, delivery_id: str = ""
) -> dict[str, str]:
    """Headers that sign a callback body (what a vendor sends with each POST).

    ``Bakeoff-Signature: v1=<hex HMAC-SHA256(secret, "{timestamp}.{delivery_id}." + body)>``.
    """
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    ts = str(int(time.time()) if timestamp is None else timestamp)
    delivery = delivery_id or uuid.uuid4().hex
    mac = hmac.new(key.encode(), _signed_bytes(ts, delivery, body), hashlib.sha256).hexdigest()
    return {
        TIMESTAMP_HEADER: ts,
        DELIVERY_HEADER: delivery,
        SIGNATURE_HEADER: f"v1={mac}",
        VERSION_HEADER: PROTOCOL_VERSION,
        "Content-Type": "application/json",
    }


def verify_callback(
    *,
    secret: SecretStr | str,
    body: bytes,
    headers: Mapping[str, str],
    vendor: str,
    now: float | None = None,
    tolerance_s: float = 300.0,
) -> CallbackDelivery:
    """Verify a vendor callback and parse it into annotations.

    Parameters
    ----------
    secret
        The vendor's webhook secret.
    body
        The raw request body, exactly as received.
    headers
        The request headers (case-insensitive mapping such as Starlette's, or plain dict).
    vendor
        The vendor's slug (used for error messages).
    now
        Current Unix time; defaults to :func:`time.time`.
    tolerance_s
        How far the signed timestamp may be from ``now``, either way.

    Raises
    ------
    CallbackRejected
        If the secret is shorter than :data:`WEBHOOK_SECRET_MIN_LENGTH`, a header is missing,
        the signature does not match, the timestamp is stale, or the body is not a valid
        :class:`~adapters.http_protocol.CallbackPayload`.
    """
    key = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if len(key) < WEBHOOK_SECRET_MIN_LENGTH:
        raise CallbackRejected(
            "no_secret",
            f"{vendor}: no webhook secret of at least {WEBHOOK_SECRET_MIN_LENGTH} characters; "
            "callbacks are refused",
        )
    lowered = {k.lower(): v for k, v in headers.items()}
    ts = lowered.get(TIMESTAMP_HEADER.lower())
    delivery = lowered.get(DELIVERY_HEADER.lower())
    signature = lowered.get(SIGNATURE_HEADER.lower())
    if not ts or not delivery or not signature:
        raise CallbackRejected(
            "unsigned",
            f"{vendor}: headers {TIMESTAMP_HEADER}, {DELIVERY_HEADER} and {SIGNATURE_HEADER} "
            "are required",
        )
    try:
        ts_value = int(ts)
    except ValueError as exc:
        raise CallbackRejected(
            "unsigned", f"{TIMESTAMP_HEADER} {ts!r} is not Unix seconds"
        ) from exc
    expected = hmac.new(key.encode(), _signed_bytes(ts, delivery, body), hashlib.sha256).hexdigest()
    offered = [p.strip()[3:] for p in signature.split(",") if p.strip().startswith("v1=")]
    if not any(hmac.compare_digest(expected, o) for o in offered):
        raise CallbackRejected("bad_signature", f"{vendor}: signature does not match the body")
    current = time.time() if now is None else now
    if abs(current - ts_value) > tolerance_s:
        raise CallbackRejected(
            "stale", f"{vendor}: timestamp {ts_value} is more than {tolerance_s:.0f} s from now"
        )
    try:
        payload = CallbackPayload.model_validate_json(body)
    except ValidationError as exc:
        raise CallbackRejected("malformed", f"{vendor}: {_first_error(exc)}") from exc
    return CallbackDelivery(
        delivery_id=delivery,
        timestamp=datetime.fromtimestamp(ts_value, tz=UTC),
        job_id=payload.job_id,
        batch_id=payload.batch_id,
        state=payload.state,
        annotations=tuple(to_annotations(payload.results)),
    )


def to_annotations(results: list[ItemResult]) -> list[VendorAnnotation]:
    """Flatten protocol item results into vendor-neutral annotations."""
    return [
        VendorAnnotation(
            item_id=r.item_id,
            label=a.label,
            annotator_id=a.annotator_id,
            score=a.score,
            started_at=a.started_at,
            completed_at=a.completed_at,
            cost=a.cost,
            external_id=a.result_id,
        )
        for r in results
        for a in r.annotations
    ]


def _first_error(exc: ValidationError) -> str:
    """``"results.0.item_id: Field required"``: our field names and message, never the input.

    An unexpected field is reported without its name: the name comes from the answer.
    """
    err = exc.errors(include_input=False, include_url=False)[0]
    loc = [str(p) for p in err["loc"]]
    if err["type"] == "extra_forbidden" and loc:
        return f"{'.'.join(loc[:-1]) or 'body'}: has a field the protocol does not define"
    return f"{'.'.join(loc) or 'body'}: {err['msg']}"


@dataclass
class _Guard:
    """Per-vendor, per-process shared state: concurrency, rate limit and circuit breaker."""

    slots: threading.BoundedSemaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_slot_at: float = 0.0
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False


_guards: dict[str, _Guard] = {}
_guards_lock = threading.Lock()


def _guard_for(vendor: str, concurrency: int) -> _Guard:
    with _guards_lock:
        guard = _guards.get(vendor)
        if guard is None:
            guard = _Guard(slots=threading.BoundedSemaphore(concurrency))
            _guards[vendor] = guard
        return guard


def reset_vendor_guards(vendor: str | None = None) -> None:
    """Forget breaker and rate state (one vendor, or all); for tests and operator resets."""
    with _guards_lock:
        if vendor is None:
            _guards.clear()
        else:
            _guards.pop(vendor, None)


class HttpAdapter:
    """A vendor reached over the Bakeoff vendor protocol v1.

    Parameters
    ----------
    vendor
        The vendor's slug; selects the ``BAKEOFF_VENDOR_<SLUG>_`` settings prefix.
    client
        The HTTP client to use (inject ``httpx.Client(transport=httpx.MockTransport(...))``
        in tests). By default one is created with the vendor's timeout.
    settings
        Ready-made settings; otherwise they are read from the environment and ``values``.
    sleep, clock, rng
        Seams for tests: the backoff sleeper, a monotonic clock, and the jitter source.
    **values
        Setting overrides, e.g. ``base_url="https://vendor.example"``.

    Examples
    --------
    >>> import httpx
    >>> def vendor(request: httpx.Request) -> httpx.Response:
    ...     return httpx.Response(200, json={"job_id": "j1", "state": "running", "done": 1,
    ...                                      "total": 2})
    >>> client = httpx.Client(transport=httpx.MockTransport(vendor))
    >>> adapter = HttpAdapter("acme", client=client, base_url="https://acme.example")
    >>> from adapters.base import VendorJob
    >>> from datetime import datetime, UTC
    >>> job = VendorJob(vendor="acme", external_id="j1", item_ids=("a", "b"),
    ...                 submitted_at=datetime.now(UTC))
    >>> adapter.poll(job).done
    1
    """

    kind: str = "http"
    #: Settings a remote caller (the service's API) may give: every field of the settings model.
    api_settings: ClassVar[frozenset[str]] = frozenset(HttpVendorSettings.model_fields)

    def __init__(
        self,
        vendor: str,
        *,
        client: httpx.Client | None = None,
        settings: HttpVendorSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        **values: Any,
    ) -> None:
        self.name = vendor
        self.settings = settings or HttpVendorSettings.for_vendor(vendor, **values)
        self.supported_tasks: frozenset[TaskType] = frozenset(self.settings.task_types)
        self._client = client or httpx.Client(timeout=self.settings.timeout_s)
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()
        self._guard = _guard_for(vendor, self.settings.max_concurrency)

    # -- the LabelingVendor protocol ------------------------------------------------

    def submit(self, batch: Batch) -> VendorJob:
        """POST the batch; a resubmission of the same items returns the same job."""
        if batch.task_type not in self.supported_tasks:
            raise VendorRejected(f"{self.name} does not accept {batch.task_type!r} tasks")
        request = BatchRequest(
            batch_id=batch_id_for(batch, self.name),
            bakeoff_id=batch.bakeoff_id,
            task_type=batch.task_type,
            ontology=batch.ontology,
            instructions=batch.instructions,
            items=[WireItem(item_id=i.item_id, data=i.data) for i in batch.items],
            callback_url=batch.callback_url if self.settings.mode == "callback" else None,
        )
        accepted = self._call("POST", "/v1/batches", BatchAccepted, body=request)
        if accepted.batch_id != request.batch_id:
            raise VendorResponseInvalid(
                f"{self.name} answered batch {request.batch_id!r} with another batch id"
            )
        return VendorJob(
            vendor=self.name,
            external_id=accepted.job_id,
            item_ids=tuple(i.item_id for i in batch.items),
            submitted_at=datetime.now(UTC),
        )

    def poll(self, job: VendorJob) -> JobStatus:
        """GET the job's progress."""
        status = self._call("GET", f"/v1/batches/{job.external_id}", BatchStatus)
        return JobStatus(
            state=status.state, done=status.done, total=status.total, detail=status.detail
        )

    def fetch_results(self, job: VendorJob) -> list[VendorAnnotation]:
        """GET every finished item of the job, following the result cursor."""
        results: list[ItemResult] = []
        cursor: str | None = None
        for _ in range(100_000):
            params = {"cursor": cursor} if cursor else None
            page = self._call(
                "GET", f"/v1/batches/{job.external_id}/results", ResultPage, params=params
            )
            results.extend(page.results)
            if not page.next_cursor or page.next_cursor == cursor:
                break
            cursor = page.next_cursor
        return to_annotations(results)

    def cancel(self, job: VendorJob) -> None:
        """DELETE the job; an unknown job counts as cancelled."""
        try:
            self._call("DELETE", f"/v1/batches/{job.external_id}", None)
        except JobNotFound:
            return

    # -- health -------------------------------------------------------------------

    @property
    def circuit_state(self) -> CircuitState:
        """``"open"`` while the vendor is marked failing."""
        with self._guard.lock:
            if self._guard.opened_at is None:
                return "closed"
            if self._clock() - self._guard.opened_at < self.settings.cooldown_s:
                return "open"
            return "half_open"

    @property
    def is_failing(self) -> bool:
        """True while the circuit breaker is open."""
        return self.circuit_state == "open"

    # -- transport ----------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        model: type[_M] | None,
        *,
        body: BaseModel | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        self._enter_breaker()
        try:
            response = self._send_with_retries(method, path, body=body, params=params)
        except VendorUnavailable:
            self._record(success=False)
            raise
        except AdapterError:
            self._record(success=True)  # the vendor is up; the request was wrong
            raise
        self._record(success=True)
        if model is None:
            return None
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise VendorResponseInvalid(
                f"{self.name}: {method} {path} answered {_first_error(exc)}"
            ) from exc

    def _send_with_retries(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None,
        params: dict[str, str] | None,
    ) -> httpx.Response:
        url = self.settings.base_url.rstrip("/") + path
        headers = {VERSION_HEADER: PROTOCOL_VERSION, "Accept": "application/json"}
        if self.settings.api_key is not None:
            headers["Authorization"] = f"Bearer {self.settings.api_key.get_secret_value()}"
        content = None
        if body is not None:
            content = body.model_dump_json().encode()
            headers["Content-Type"] = "application/json"
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._send_once(method, url, content, headers, params)
            except httpx.TimeoutException as exc:
                error: VendorUnavailable = VendorUnavailable(
                    f"{self.name}: {method} {path} timed out after {self.settings.timeout_s} s"
                )
                cause: BaseException = exc
            except httpx.TransportError as exc:
                log.info("%s: %s %s failed: %s", self.name, method, path, exc)
                error = VendorUnavailable(
                    f"{self.name}: {method} {path} failed ({type(exc).__name__})"
                )
                cause = exc
            else:
                if response.status_code < 400:
                    return response
                if response.status_code == 404 and "/v1/batches/" in path:
                    raise JobNotFound(f"{self.name} does not know job in {path}")
                if response.status_code != 429 and response.status_code < 500:
                    # The status only: the body of an answer from whatever host base_url
                    # names must not end up in task errors that other users read.
                    log.info("%s: %s %s refused: %s", self.name, method, path, response.text[:300])
                    raise VendorRejected(
                        f"{self.name}: {method} {path} refused with HTTP {response.status_code}"
                    )
                retry_after = _retry_after(response)
                error = VendorUnavailable(
                    f"{self.name}: {method} {path} answered HTTP {response.status_code}"
                )
                cause = httpx.HTTPStatusError(
                    error.args[0], request=response.request, response=response
                )
            if attempt >= self.settings.max_retries:
                raise error from cause
            self._sleep(self._backoff(attempt, retry_after))
            attempt += 1

    def _send_once(
        self,
        method: str,
        url: str,
        content: bytes | None,
        headers: dict[str, str],
        params: dict[str, str] | None,
    ) -> httpx.Response:
        with self._guard.slots:
            self._wait_for_rate_slot()
            return self._client.request(
                method,
                url,
                content=content,
                headers=headers,
                params=params,
                timeout=self.settings.timeout_s,
            )

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        ceiling = min(self.settings.backoff_max_s, self.settings.backoff_base_s * 2**attempt)
        delay = self._rng.uniform(0.0, ceiling)  # "full jitter"
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.settings.backoff_max_s))
        return delay

    def _wait_for_rate_slot(self) -> None:
        rate = self.settings.rate_limit_per_s
        if rate is None:
            return
        with self._guard.lock:
            now = self._clock()
            slot = max(now, self._guard.next_slot_at)
            self._guard.next_slot_at = slot + 1.0 / rate
        if slot > now:
            self._sleep(slot - now)

    def _enter_breaker(self) -> None:
        guard = self._guard
        with guard.lock:
            if guard.opened_at is None:
                return
            if self._clock() - guard.opened_at < self.settings.cooldown_s:
                raise VendorFailing(
                    f"{self.name} is marked failing after {guard.failures} consecutive errors; "
                    f"next try in {self.settings.cooldown_s:.0f} s"
                )
            if guard.trial_in_flight:
                raise VendorFailing(f"{self.name} is failing; a trial call is in flight")
            guard.trial_in_flight = True

    def _record(self, *, success: bool) -> None:
        guard = self._guard
        with guard.lock:
            guard.trial_in_flight = False
            if success:
                guard.failures = 0
                guard.opened_at = None
                return
            guard.failures += 1
            if guard.failures >= self.settings.failure_threshold:
                guard.opened_at = self._clock()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
