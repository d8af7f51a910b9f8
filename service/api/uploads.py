"""Request-body spooling for bulk imports and temp-file responses for exports.

Uploads are copied chunk by chunk into a :class:`tempfile.SpooledTemporaryFile` (memory up to
8 MiB, then disk) while their sha256 is computed for ``Idempotency-Key`` checks; the format
readers then stream from that file. Exports are written to a spooled file and streamed back.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import IO, Any

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from service.domain.label_export import ExportPlan

__all__ = [
    "spool_body",
    "export_response",
    "export_bytes_response",
    "plan_response",
    "closing_iterator",
    "SPOOL_BYTES",
]

SPOOL_BYTES = 8 * 1024 * 1024


async def spool_body(request: Request) -> tuple[IO[bytes], str]:
    """Copy the request body to a spooled temp file; return it (rewound) and its sha256."""
    digest = hashlib.sha256()
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    async for chunk in request.stream():
        if chunk:
            digest.update(chunk)
            spool.write(chunk)
    spool.seek(0)
    return spool, digest.hexdigest()


@contextmanager
def closing_iterator(iterator: Iterator[Any]) -> Iterator[Iterator[Any]]:
    """Close a (generator) reader when done, before its source file is closed."""
    try:
        yield iterator
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _chunks(spool: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := spool.read(1 << 16):
            yield chunk
    finally:
        spool.close()


async def export_response(
    write: Callable[[IO[str]], Any], *, media_type: str, filename: str
) -> StreamingResponse:
    """Run ``write(text_file)`` in a worker thread, then stream the file back."""

    def _run() -> IO[bytes]:
        spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        write(text)
        text.flush()
        text.detach()
        spool.seek(0)
        return spool

    spool = await run_in_threadpool(_run)
    return StreamingResponse(
        _chunks(spool),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def export_bytes_response(
    build: Callable[[], bytes], *, media_type: str, filename: str
) -> StreamingResponse:
    """Run ``build()`` (a whole file, e.g. a zip) in a worker thread, then stream it back."""
    content = await run_in_threadpool(build)
    return StreamingResponse(
        iter([content]),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def plan_response(plan: ExportPlan) -> StreamingResponse:
    """Stream an export (:mod:`service.domain.label_export`), made in a worker thread."""
    if plan.build is not None:
        return await export_bytes_response(
            plan.build, media_type=plan.media_type, filename=plan.filename
        )
    if plan.write is None:  # pragma: no cover - a plan sets one of the two
        raise ValueError(f"export {plan.filename!r} has nothing to write")
    return await export_response(plan.write, media_type=plan.media_type, filename=plan.filename)
