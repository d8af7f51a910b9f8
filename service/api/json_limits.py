"""Refuse JSON request bodies nested too deep or holding non-finite numbers (HTTP 422).

Installed by :func:`service.api.hardening.install_hardening`; the rule is the one of every file
reader, :mod:`adapters.formats._json_safe`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from starlette.concurrency import run_in_threadpool

from adapters.formats._json_safe import JsonLimitError, json_problem

__all__ = ["JsonLimitsMiddleware", "FILE_BODY_PATH"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNSAFE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
FILE_BODY_PATH: Final = re.compile(r"/(import|package/results)/?$")
"""Bodies that format readers parse (and check) themselves, streaming."""


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


class JsonLimitsMiddleware:
    """Refuse JSON request bodies nested too deep or holding non-finite numbers (HTTP 422).

    Every unsafe request whose body is JSON (a ``json`` content type, or none) goes through
    :func:`adapters.formats._json_safe.json_problem`, the rule the file readers use: at most
    :data:`~adapters.formats._json_safe.MAX_JSON_DEPTH` levels, no ``NaN`` / ``Infinity`` /
    ``1e999``. Bulk-import bodies (``/import``, ``/package/results``) are streamed to their
    format readers, which apply the same rule. The body is read once here (it is within
    ``max_body_bytes``) and handed on unchanged.
    """

    _THREAD_BYTES: Final = 256 * 1024

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method", "GET").upper() not in _UNSAFE_METHODS
            or FILE_BODY_PATH.search(str(scope.get("path", "")))
        ):
            await self.app(scope, receive, send)
            return
        content_type = (_header(scope, b"content-type") or "").lower()
        if content_type and "json" not in content_type:
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                await self.app(scope, _replay([], message, receive), send)
                return
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problem = await _json_body_problem(body, threaded=len(body) > self._THREAD_BYTES)
        if problem is not None:
            loc = ["body", problem.path] if problem.path else ["body"]
            payload = {"detail": [{"loc": loc, "msg": problem.problem, "type": "json_limit"}]}
            await _send_body(send, 422, json.dumps(payload).encode("utf-8"))
            return
        await self.app(scope, _replay([body], None, receive), send)


async def _json_body_problem(body: bytes, *, threaded: bool) -> JsonLimitError | None:
    if not body:
        return None
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None  # FastAPI answers that with its own 422
    if threaded:
        return await run_in_threadpool(json_problem, text)
    return json_problem(text)


def _replay(bodies: list[bytes], pending: Message | None, receive: Receive) -> Receive:
    """A ``receive`` that hands out the bodies already read, then ``pending``, then the rest."""
    queue: list[Message] = [{"type": "http.request", "body": b, "more_body": False} for b in bodies]
    if pending is not None:
        queue.append(pending)

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay


async def _send_body(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode("ascii")),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
