"""File vendors: download a vendor's package and upload the file it returns."""

from __future__ import annotations

from typing import IO, Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from service.api.deps import CurrentKey, IdempotencyKey, SessionDep
from service.api.uploads import spool_body
from service.domain import file_vendors
from service.domain.file_vendors import PackageFormat
from service.models import ImportResult

__all__ = ["router"]

router = APIRouter(prefix="/bakeoffs", tags=["file vendors"])

_PACKAGE = "/{bakeoff_id}/vendors/{vendor_id}/package"


@router.get(
    _PACKAGE,
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "The package (zip)."}},
)
def download_package(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    vendor_id: int,
    format: Annotated[PackageFormat, Query(description="Format of the items file.")] = "csv",
) -> Response:
    """Download a file vendor's package (no gold); its pending tasks become sent."""
    package = file_vendors.download_package(
        session=session,
        bakeoff_id=bakeoff_id,
        vendor_id=vendor_id,
        format=format,
        principal=principal,
    )
    return Response(
        content=package.content,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{package.filename}"',
            "X-Bakeoff-Package": package.batch_id,
            "X-Bakeoff-Tasks-Sent": str(package.sent),
        },
    )


@router.post(
    f"{_PACKAGE}/results",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string"}}
                for t in ("text/csv", "application/json", "application/x-ndjson")
            },
        }
    },
)
async def upload_results(
    request: Request,
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    vendor_id: int,
    idempotency_key: IdempotencyKey = None,
    format: Annotated[PackageFormat, Query(description="Format of the returned file.")] = "csv",
    filename: str = "upload",
) -> ImportResult:
    """Upload a file vendor's returned file (one transaction; 422 names the bad row)."""
    spool, digest = await spool_body(request)

    def run(body: IO[bytes]) -> ImportResult:
        with body:
            return file_vendors.upload_results(
                session=session,
                bakeoff_id=bakeoff_id,
                vendor_id=vendor_id,
                format=format,
                source=body,
                filename=filename,
                principal=principal,
                idempotency_key=idempotency_key,
                fingerprint=digest,
            )

    return await run_in_threadpool(run, spool)
