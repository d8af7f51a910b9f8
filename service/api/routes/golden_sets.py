"""Golden sets: items, versions, gold labels, corrections, bulk import and export."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO, Annotated

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import Field
from sqlmodel import SQLModel
from starlette.concurrency import run_in_threadpool

from service.api.deps import CurrentKey, IdempotencyKey, PageDep, SessionDep
from service.api.uploads import closing_iterator as _closing
from service.api.uploads import plan_response, spool_body
from service.domain import golden_import, golden_sets, idempotency, label_export, label_io
from service.domain.label_io import GoldFormat, GoldRecord
from service.models import (
    GoldenItemCreate,
    GoldenItemPublic,
    GoldenItemsPublic,
    GoldenItemUpdate,
    GoldenSetCreate,
    GoldenSetImportResult,
    GoldenSetPublic,
    GoldenSetsPublic,
    GoldenSetUpdate,
    GoldenSetVersionCreate,
    GoldenSetVersionPublic,
    GoldenSetVersionsPublic,
    GoldLabelCreate,
    GoldLabelsPublic,
    ImportResult,
    Project,
)

__all__ = ["router", "GoldLabelsIn", "CorrectionIn"]

router = APIRouter(prefix="/golden-sets", tags=["golden-sets"])


class GoldLabelsIn(SQLModel):
    """Gold labels to set in a version (by item key)."""

    labels: list[GoldLabelCreate] = Field(min_length=1)


class CorrectionIn(SQLModel):
    """Corrections that make a new version of a golden set."""

    labels: list[GoldLabelCreate] = Field(min_length=1)
    note: str = ""


@router.get("", response_model=GoldenSetsPublic)
def list_golden_sets(
    session: SessionDep, principal: CurrentKey, page: PageDep, project_id: int | None = None
) -> GoldenSetsPublic:
    """List golden sets, optionally of one project."""
    rows, count = golden_sets.list_golden_sets(
        session=session,
        principal=principal,
        project_id=project_id,
        skip=page.skip,
        limit=page.limit,
    )
    return GoldenSetsPublic(
        data=[golden_sets.golden_set_public(session, r) for r in rows], count=count
    )


@router.post("", response_model=GoldenSetPublic, status_code=201)
def create_golden_set(
    session: SessionDep, principal: CurrentKey, body: GoldenSetCreate
) -> GoldenSetPublic:
    """Create an empty golden set in a project."""
    golden = golden_sets.create_golden_set(session=session, data=body, principal=principal)
    return golden_sets.golden_set_public(session, golden)


@router.post("/import", response_model=GoldenSetImportResult, status_code=201)
def create_golden_set_from_file(
    session: SessionDep,
    principal: CurrentKey,
    project_id: Annotated[int, Form(description="The project the golden set belongs to.")],
    name: Annotated[str, Form(min_length=1, max_length=200)],
    file: Annotated[UploadFile, File(description="The gold file (VOC: a zip or one XML).")],
    format: Annotated[
        GoldFormat | None, Form(description="File format; told from the content when left out.")
    ] = None,
    question: Annotated[
        str | None, Form(description="Label Studio: the control (from_name) to read.")
    ] = None,
    description: Annotated[str, Form()] = "",
    note: Annotated[str, Form(description="Stored on the first version.")] = "",
    idempotency_key: IdempotencyKey = None,
) -> GoldenSetImportResult:
    """Create a golden set from a gold file in one transaction; a refused file leaves none."""
    filename = file.filename or "upload"
    body = file.file
    digest = hashlib.sha256()
    while chunk := body.read(1 << 20):
        digest.update(chunk)
    body.seek(0)
    chosen = format or label_io.detect_gold_format(body, filename)

    def read(project: Project) -> Iterator[GoldRecord]:
        return label_io.read_gold(
            chosen,
            body,
            task_type=project.task_type,
            name=filename,
            question=question,
            project=project,
        )

    return golden_import.create_golden_set_with_gold(
        session=session,
        data=GoldenSetCreate(project_id=project_id, name=name, description=description),
        read=read,
        principal=principal,
        note=note,
        idempotency_key=idempotency_key,
        fingerprint=digest.hexdigest(),
        source=filename,
    )


@router.get("/{golden_set_id}", response_model=GoldenSetPublic)
def get_golden_set(
    session: SessionDep, principal: CurrentKey, golden_set_id: int
) -> GoldenSetPublic:
    """Read a golden set."""
    golden = golden_sets.get_golden_set(
        session=session, golden_set_id=golden_set_id, principal=principal
    )
    return golden_sets.golden_set_public(session, golden)


@router.patch("/{golden_set_id}", response_model=GoldenSetPublic)
def update_golden_set(
    session: SessionDep, principal: CurrentKey, golden_set_id: int, body: GoldenSetUpdate
) -> GoldenSetPublic:
    """Rename or describe a golden set."""
    golden = golden_sets.update_golden_set(
        session=session, golden_set_id=golden_set_id, data=body, principal=principal
    )
    return golden_sets.golden_set_public(session, golden)


@router.delete("/{golden_set_id}", status_code=204)
def delete_golden_set(session: SessionDep, golden_set_id: int) -> Response:
    """Delete a golden set that no bake-off uses."""
    golden_sets.delete_golden_set(session=session, golden_set_id=golden_set_id)
    return Response(status_code=204)


@router.get("/{golden_set_id}/versions", response_model=GoldenSetVersionsPublic)
def list_versions(
    session: SessionDep, principal: CurrentKey, page: PageDep, golden_set_id: int
) -> GoldenSetVersionsPublic:
    """List the versions of a golden set."""
    rows, count = golden_sets.list_versions(
        session=session,
        golden_set_id=golden_set_id,
        principal=principal,
        skip=page.skip,
        limit=page.limit,
    )
    return GoldenSetVersionsPublic(
        data=[golden_sets.version_public(session, r) for r in rows], count=count
    )


@router.post("/{golden_set_id}/versions", response_model=GoldenSetVersionPublic, status_code=201)
def create_version(
    session: SessionDep,
    principal: CurrentKey,
    golden_set_id: int,
    body: GoldenSetVersionCreate,
    copy_labels: bool = True,
) -> GoldenSetVersionPublic:
    """Add a version, starting from the latest version's gold unless copy_labels is false."""
    version = golden_sets.create_version(
        session=session,
        golden_set_id=golden_set_id,
        note=body.note,
        copy_labels=copy_labels,
        principal=principal,
    )
    return golden_sets.version_public(session, version)


@router.get("/{golden_set_id}/versions/{version}", response_model=GoldenSetVersionPublic)
def get_version(
    session: SessionDep, principal: CurrentKey, golden_set_id: int, version: int
) -> GoldenSetVersionPublic:
    """Read a version of a golden set."""
    found = golden_sets.get_version(
        session=session, golden_set_id=golden_set_id, version=version, principal=principal
    )
    return golden_sets.version_public(session, found)


@router.get("/{golden_set_id}/items", response_model=GoldenItemsPublic)
def list_items(
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    golden_set_id: int,
    key: str | None = None,
    meta: Annotated[
        list[str] | None, Query(description="Metadata filters 'name=value', e.g. lighting=dim.")
    ] = None,
) -> GoldenItemsPublic:
    """List items, filtered by key substring and metadata (e.g. meta=lighting=dim)."""
    filters = dict(m.split("=", 1) for m in (meta or []) if "=" in m)
    rows, count = golden_sets.list_items(
        session=session,
        golden_set_id=golden_set_id,
        principal=principal,
        key=key,
        meta=filters,
        skip=page.skip,
        limit=page.limit,
    )
    return GoldenItemsPublic(data=[GoldenItemPublic.model_validate(r) for r in rows], count=count)


@router.post("/{golden_set_id}/items", response_model=list[GoldenItemPublic], status_code=201)
def add_items(
    session: SessionDep, principal: CurrentKey, golden_set_id: int, body: list[GoldenItemCreate]
) -> list[GoldenItemPublic]:
    """Add items (without gold) to a golden set."""
    rows = golden_sets.add_items(
        session=session, golden_set_id=golden_set_id, items=body, principal=principal
    )
    return [GoldenItemPublic.model_validate(r) for r in rows]


@router.get("/{golden_set_id}/items/{item_id}", response_model=GoldenItemPublic)
def get_item(
    session: SessionDep, principal: CurrentKey, golden_set_id: int, item_id: int
) -> GoldenItemPublic:
    """Read an item."""
    item = golden_sets.get_item(
        session=session, golden_set_id=golden_set_id, item_id=item_id, principal=principal
    )
    return GoldenItemPublic.model_validate(item)


@router.patch("/{golden_set_id}/items/{item_id}", response_model=GoldenItemPublic)
def update_item(
    session: SessionDep,
    principal: CurrentKey,
    golden_set_id: int,
    item_id: int,
    body: GoldenItemUpdate,
) -> GoldenItemPublic:
    """Change an item's data reference or metadata."""
    item = golden_sets.update_item(
        session=session,
        golden_set_id=golden_set_id,
        item_id=item_id,
        data=body,
        principal=principal,
    )
    return GoldenItemPublic.model_validate(item)


@router.get("/{golden_set_id}/versions/{version}/labels", response_model=GoldLabelsPublic)
def list_gold_labels(
    session: SessionDep, principal: CurrentKey, page: PageDep, golden_set_id: int, version: int
) -> GoldLabelsPublic:
    """List the gold labels of a version."""
    data, count = golden_sets.list_gold_labels(
        session=session,
        golden_set_id=golden_set_id,
        version=version,
        principal=principal,
        skip=page.skip,
        limit=page.limit,
    )
    return GoldLabelsPublic(data=data, count=count)


@router.post("/{golden_set_id}/versions/{version}/labels", response_model=ImportResult)
def set_gold_labels(
    session: SessionDep, principal: CurrentKey, golden_set_id: int, version: int, body: GoldLabelsIn
) -> ImportResult:
    """Set gold labels in a version that no bake-off uses yet."""
    stored = golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden_set_id,
        version=version,
        labels=body.labels,
        principal=principal,
    )
    return ImportResult(received=len(body.labels), stored=stored, golden_set_version=version)


@router.post("/{golden_set_id}/corrections", response_model=GoldenSetVersionPublic, status_code=201)
def correct_gold(
    session: SessionDep,
    principal: CurrentKey,
    golden_set_id: int,
    body: CorrectionIn,
    idempotency_key: IdempotencyKey = None,
) -> GoldenSetVersionPublic:
    """Correct gold labels: makes a new version; bake-offs keep the version they pinned."""
    version = golden_sets.correct_gold(
        session=session,
        golden_set_id=golden_set_id,
        corrections=body.labels,
        note=body.note,
        principal=principal,
        idempotency_key=idempotency_key,
        fingerprint=idempotency.fingerprint(body.model_dump_json()),
    )
    return golden_sets.version_public(session, version)


@router.post(
    "/{golden_set_id}/import",
    response_model=ImportResult,
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string"}} for t in set(label_io.MEDIA_TYPES.values())
            },
        }
    },
)
async def import_gold(
    request: Request,
    session: SessionDep,
    principal: CurrentKey,
    golden_set_id: int,
    idempotency_key: IdempotencyKey = None,
    format: Annotated[
        GoldFormat, Query(description="File format of the body (voc: a zip or one XML file).")
    ] = "jsonl",
    merge: bool = False,
    note: str = "",
    filename: str = "upload",
    question: Annotated[
        str | None,
        Query(description="Label Studio: the control (from_name) to read, when several."),
    ] = None,
) -> ImportResult:
    """Import items and gold labels from a file body as a new version (one transaction)."""
    spool, digest = await spool_body(request)

    def run(body: IO[bytes]) -> ImportResult:
        with body:
            golden = golden_sets.get_golden_set(
                session=session, golden_set_id=golden_set_id, principal=principal
            )
            project = golden_sets.golden_set_project(session, golden)
            records = label_io.read_gold(
                format,
                body,
                task_type=project.task_type,
                name=filename,
                question=question,
                project=project,
            )
            with _closing(records):
                return golden_import.import_gold(
                    session=session,
                    golden_set_id=golden_set_id,
                    records=records,
                    principal=principal,
                    note=note,
                    merge=merge,
                    idempotency_key=idempotency_key,
                    fingerprint=digest,
                    source=filename,
                )

    return await run_in_threadpool(run, spool)


@router.get(
    "/{golden_set_id}/versions/{version}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {
                t: {} for t in {*label_io.MEDIA_TYPES.values(), *label_io.FILE_MEDIA_TYPES.values()}
            }
        }
    },
)
async def export_gold(
    session: SessionDep,
    principal: CurrentKey,
    golden_set_id: int,
    version: int,
    format: Annotated[
        label_io.ExportFormat,
        Query(description="File format to write (voc and yolo: a zip of one file per image)."),
    ] = "jsonl",
) -> StreamingResponse:
    """Export a version's items and gold labels as a file."""
    plan = label_export.gold_export(
        session=session,
        golden_set_id=golden_set_id,
        version=version,
        fmt=format,
        principal=principal,
    )
    return await plan_response(plan)
