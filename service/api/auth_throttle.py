"""Slow down key guessing: too many wrong API keys from one client get HTTP 429.

Every request that presents a credential (``X-API-Key``, ``Authorization``, the sign-in cookie)
or posts the sign-in form is checked: a client (its IP address as the server sees it) with
``Settings.failed_auth_limit`` failures within ``Settings.auth_failure_window_s`` seconds is
answered ``429 {"code": "too_many_failed_auth"}`` with ``Retry-After`` (seconds until its oldest
failure leaves the window) before any key is looked up. A failure is an HTTP 401 answered to a
request that presented a credential, or a refused sign-in form (:func:`record_failure`).

The counts live in this process (a bounded in-memory table), so each worker of a multi-process
deployment counts on its own and a restart forgets them; behind a reverse proxy every client
has the proxy's address, so run the proxy's own rate limit there too.
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Final

from starlette.requests import Request

__all__ = ["FailedAuthThrottle", "AuthThrottleMiddleware", "record_failure", "client_of"]

_MAX_CLIENTS: Final = 10_000
_CREDENTIAL_HEADERS: Final = (b"x-api-key", b"authorization")
_COOKIE: Final = b"bakeoff_api_key="
_LOGIN: Final = "/ui/login"


class FailedAuthThrottle:
    """Failed authentications per client in a sliding window (in memory, this process).

    Parameters
    ----------
    limit
        Failures within ``window_s`` after which the client is refused; ``0`` turns it off.
    window_s
        The window, in seconds.
    clock
        Monotonic seconds (tests pass a fake one).
    max_clients
        Clients remembered at most; the least recently failing are forgotten first.
    """

    def __init__(
        self,
        *,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = _MAX_CLIENTS,
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._max_clients = max_clients
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float] | None:
        times = self._failures.get(client)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[client]
            return None
        return times

    def retry_after(self, client: str) -> int | None:
        """Seconds until ``client`` may try again, or ``None`` when it is not throttled."""
        if self.limit <= 0:
            return None
        now = self._clock()
        times = self._recent(client, now)
        if times is None or len(times) < self.limit:
            return None
        return max(1, math.ceil(times[-self.limit] + self.window_s - now))

    def failed(self, client: str) -> None:
        """Count one failed authentication of ``client``."""
        if self.limit <= 0:
            return
        now = self._clock()
        times = self._recent(client, now) or deque(maxlen=self.limit)
        times.append(now)
        self._failures[client] = times
        self._failures.move_to_end(client)
        while len(self._failures) > self._max_clients:
            self._failures.popitem(last=False)


def client_of(scope: Any) -> str:
    """The client's address as this server sees it (``"unknown"`` without one)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def record_failure(request: Request) -> None:
    """Count a failed sign-in that did not end in HTTP 401 (the sign-in form answers 400)."""
    throttle = getattr(request.app.state, "auth_throttle", None)
    if isinstance(throttle, FailedAuthThrottle):
        throttle.failed(client_of(request.scope))


def _presents_credential(scope: Any) -> bool:
    if scope.get("method") == "POST" and scope.get("path") == _LOGIN:
        return True
    for name, value in scope.get("headers", ()):
        key = bytes(name).lower()
        if key in _CREDENTIAL_HEADERS or (key == b"cookie" and _COOKIE in bytes(value)):
            return True
    return False


class AuthThrottleMiddleware:
    """Pure ASGI: refuse throttled clients with 429 and count 401 answers to credentials."""

    def __init__(self, app: Any, *, throttle: FailedAuthThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not _presents_credential(scope):
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        wait = self.throttle.retry_after(client)
        if wait is not None:
            body = json.dumps(
                {
                    "detail": f"too many failed sign-ins from this client; retry in {wait} s",
                    "code": "too_many_failed_auth",
                }
            ).encode("utf-8")
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode("ascii")),
                        (b"retry-after", str(wait).encode("ascii")),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.throttle.failed(client)
            await send(message)

        await self.app(scope, receive, counting_send)
