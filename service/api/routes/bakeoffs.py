"""Bake-offs: setup, tasks, vendor labels (JSON or file import, export) and results."""

from __future__ import annotations

import json
from typing import IO, Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlmodel import SQLModel
from starlette.concurrency import run_in_threadpool

from service.api.deps import CurrentKey, IdempotencyKey, PageDep, SessionDep
from service.api.uploads import closing_iterator as _closing
from service.api.uploads import plan_response, spool_body
from service.domain import (
    bakeoffs,
    idempotency,
    label_export,
    label_io,
    results,
    vendor_labels,
)
from service.domain.label_io import ReadFormat
from service.models import (
    BakeOffCreate,
    BakeOffPublic,
    BakeOffResults,
    BakeOffsPublic,
    BakeOffStatus,
    BakeOffUpdate,
    ImportResult,
    VendorLabelCreate,
    VendorLabelsPublic,
)

__all__ = ["router", "VendorLabelsIn", "TasksCreated"]

router = APIRouter(prefix="/bakeoffs", tags=["bakeoffs"])


class VendorLabelsIn(SQLModel):
    """Labels from one vendor, by item key."""

    labels: list[VendorLabelCreate] = Field(min_length=1)


class TasksCreated(SQLModel):
    """How many tasks were created."""

    created: int


@router.get("", response_model=BakeOffsPublic)
def list_bakeoffs(
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    project_id: int | None = None,
    status: BakeOffStatus | None = None,
    vendor_id: int | None = None,
) -> BakeOffsPublic:
    """List bake-offs, filtered by project, status or candidate vendor."""
    rows, count = bakeoffs.list_bakeoffs(
        session=session,
        principal=principal,
        project_id=project_id,
        status=status,
        vendor_id=vendor_id,
        skip=page.skip,
        limit=page.limit,
    )
    return BakeOffsPublic(
        data=[bakeoffs.bakeoff_public(session, r, principal) for r in rows], count=count
    )


@router.post("", response_model=BakeOffPublic, status_code=201)
def create_bakeoff(
    session: SessionDep, principal: CurrentKey, body: BakeOffCreate
) -> BakeOffPublic:
    """Create a bake-off pinning a golden-set version and an instructions version."""
    bakeoff = bakeoffs.create_bakeoff(session=session, data=body, principal=principal)
    return bakeoffs.bakeoff_public(session, bakeoff, principal)


@router.get("/{bakeoff_id}", response_model=BakeOffPublic)
def get_bakeoff(session: SessionDep, principal: CurrentKey, bakeoff_id: int) -> BakeOffPublic:
    """Read a bake-off."""
    bakeoff = bakeoffs.get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    return bakeoffs.bakeoff_public(session, bakeoff, principal)


@router.patch("/{bakeoff_id}", response_model=BakeOffPublic)
def update_bakeoff(
    session: SessionDep, principal: CurrentKey, bakeoff_id: int, body: BakeOffUpdate
) -> BakeOffPublic:
    """Change a bake-off's setup, candidates (draft only), blinding or status."""
    bakeoff = bakeoffs.update_bakeoff(
        session=session, bakeoff_id=bakeoff_id, data=body, principal=principal
    )
    return bakeoffs.bakeoff_public(session, bakeoff, principal)


@router.delete("/{bakeoff_id}", status_code=204)
def delete_bakeoff(session: SessionDep, principal: CurrentKey, bakeoff_id: int) -> Response:
    """Delete a bake-off with its tasks and labels."""
    bakeoffs.delete_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    return Response(status_code=204)


@router.post("/{bakeoff_id}/tasks", response_model=TasksCreated, status_code=201)
def create_tasks(session: SessionDep, principal: CurrentKey, bakeoff_id: int) -> TasksCreated:
    """Create the missing tasks: one per gold item and candidate vendor."""
    created = bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff_id, principal=principal)
    return TasksCreated(created=created)


@router.get("/{bakeoff_id}/results", response_model=BakeOffResults)
def get_results(session: SessionDep, principal: CurrentKey, bakeoff_id: int) -> BakeOffResults:
    """Each candidate's metrics against the pinned gold (recomputed when data change)."""
    return results.bakeoff_results(session=session, bakeoff_id=bakeoff_id, principal=principal)


@router.get("/{bakeoff_id}/labels", response_model=VendorLabelsPublic)
def list_labels(
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    bakeoff_id: int,
    vendor_id: int | None = None,
    item_key: str | None = None,
    annotator_id: str | None = None,
) -> VendorLabelsPublic:
    """List the vendor labels of a bake-off, filtered by vendor, item or annotator."""
    data, count = bakeoffs.list_labels(
        session=session,
        bakeoff_id=bakeoff_id,
        principal=principal,
        vendor_id=vendor_id,
        item_key=item_key,
        annotator_id=annotator_id,
        skip=page.skip,
        limit=page.limit,
    )
    return VendorLabelsPublic(data=data, count=count)


@router.post("/{bakeoff_id}/vendors/{vendor_id}/labels", response_model=ImportResult)
def add_labels(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    vendor_id: int,
    body: VendorLabelsIn,
    idempotency_key: IdempotencyKey = None,
) -> ImportResult:
    """Add a vendor's labels (JSON); each label is stored once, re-sends are skipped."""
    digest = idempotency.fingerprint(json.dumps(body.model_dump(mode="json"), sort_keys=True))
    return vendor_labels.add_vendor_labels(
        session=session,
        bakeoff_id=bakeoff_id,
        vendor_id=vendor_id,
        records=body.labels,
        principal=principal,
        idempotency_key=idempotency_key,
        fingerprint=digest,
        source="request body",
    )


@router.post(
    "/{bakeoff_id}/vendors/{vendor_id}/labels/import",
    response_model=ImportResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string"}} for t in set(label_io.MEDIA_TYPES.values())
            },
        }
    },
)
async def import_labels(
    request: Request,
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    vendor_id: int,
    idempotency_key: IdempotencyKey = None,
    format: Annotated[
        ReadFormat,
        Query(
            description="File format of the body (VOC and YOLO as a zip of their files); "
            "auto (the default) tells it from the content, as the CLI and the client do."
        ),
    ] = "auto",
    filename: str = "upload",
    question: Annotated[
        str | None,
        Query(
            description="The Label Studio control (from_name), Labelbox question or "
            "SageMaker label attribute to read."
        ),
    ] = None,
) -> ImportResult:
    """Import a vendor's label file (streamed; one transaction; 422 names the bad row)."""
    spool, digest = await spool_body(request)

    def run(body: IO[bytes]) -> ImportResult:
        with body:
            bakeoff = bakeoffs.get_bakeoff(
                session=session, bakeoff_id=bakeoff_id, principal=principal
            )
            task_type = bakeoffs.bakeoff_task_type(session, bakeoff)
            records = label_io.read_vendor_labels(
                format,
                body,
                task_type=task_type,
                name=filename,
                gold=lambda: label_io.gold_context(session, bakeoff, format),
                question=question,
            )
            with _closing(records):
                return vendor_labels.add_vendor_labels(
                    session=session,
                    bakeoff_id=bakeoff_id,
                    vendor_id=vendor_id,
                    records=records,
                    principal=principal,
                    idempotency_key=idempotency_key,
                    fingerprint=digest,
                    source=filename,
                )

    return await run_in_threadpool(run, spool)


@router.get(
    "/{bakeoff_id}/vendors/{vendor_id}/labels/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                t: {} for t in {*label_io.MEDIA_TYPES.values(), *label_io.FILE_MEDIA_TYPES.values()}
            }
        }
    },
)
async def export_labels(
    session: SessionDep,
    principal: CurrentKey,
    bakeoff_id: int,
    vendor_id: int,
    format: Annotated[
        label_io.ExportFormat,
        Query(description="File format to write (voc and yolo: a zip of one file per image)."),
    ] = "jsonl",
) -> StreamingResponse:
    """Export a vendor's labels of a bake-off as a file."""
    plan = label_export.vendor_labels_export(
        session=session,
        bakeoff_id=bakeoff_id,
        vendor_id=vendor_id,
        fmt=format,
        principal=principal,
    )
    return await plan_response(plan)
