"""Projects and their versioned instructions."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import CurrentKey, PageDep, SessionDep
from service.domain import projects
from service.models import (
    InstructionsVersionCreate,
    InstructionsVersionPublic,
    InstructionsVersionsPublic,
    ProjectCreate,
    ProjectPublic,
    ProjectsPublic,
    ProjectUpdate,
    TaskType,
)

__all__ = ["router"]

router = APIRouter(prefix="/projects", tags=["projects"])


@router.get("", response_model=ProjectsPublic)
def list_projects(
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    task_type: TaskType | None = None,
    name: str | None = None,
) -> ProjectsPublic:
    """List projects, filtered by task type or name."""
    rows, count = projects.list_projects(
        session=session,
        principal=principal,
        skip=page.skip,
        limit=page.limit,
        task_type=task_type,
        name=name,
    )
    return ProjectsPublic(data=[ProjectPublic.model_validate(r) for r in rows], count=count)


@router.post("", response_model=ProjectPublic, status_code=201)
def create_project(
    session: SessionDep, principal: CurrentKey, body: ProjectCreate
) -> ProjectPublic:
    """Create a project with its task type and ontology."""
    project = projects.create_project(session=session, data=body, principal=principal)
    return ProjectPublic.model_validate(project)


@router.get("/{project_id}", response_model=ProjectPublic)
def get_project(session: SessionDep, principal: CurrentKey, project_id: int) -> ProjectPublic:
    """Read a project."""
    project = projects.get_project(session=session, project_id=project_id, principal=principal)
    return ProjectPublic.model_validate(project)


@router.patch("/{project_id}", response_model=ProjectPublic)
def update_project(
    session: SessionDep, principal: CurrentKey, project_id: int, body: ProjectUpdate
) -> ProjectPublic:
    """Change a project's name, description or ontology."""
    project = projects.update_project(
        session=session, project_id=project_id, data=body, principal=principal
    )
    return ProjectPublic.model_validate(project)


@router.delete("/{project_id}", status_code=204)
def delete_project(session: SessionDep, principal: CurrentKey, project_id: int) -> Response:
    """Delete a project and everything in it."""
    projects.delete_project(session=session, project_id=project_id, principal=principal)
    return Response(status_code=204)


@router.get("/{project_id}/instructions", response_model=InstructionsVersionsPublic)
def list_instructions(
    session: SessionDep, principal: CurrentKey, page: PageDep, project_id: int
) -> InstructionsVersionsPublic:
    """List the instructions versions of a project."""
    rows, count = projects.list_instructions(
        session=session,
        project_id=project_id,
        principal=principal,
        skip=page.skip,
        limit=page.limit,
    )
    return InstructionsVersionsPublic(
        data=[InstructionsVersionPublic.model_validate(r) for r in rows], count=count
    )


@router.post(
    "/{project_id}/instructions", response_model=InstructionsVersionPublic, status_code=201
)
def create_instructions(
    session: SessionDep, principal: CurrentKey, project_id: int, body: InstructionsVersionCreate
) -> InstructionsVersionPublic:
    """Add the next instructions version (markdown and examples)."""
    version = projects.create_instructions(
        session=session, project_id=project_id, data=body, principal=principal
    )
    return InstructionsVersionPublic.model_validate(version)


@router.get("/{project_id}/instructions/{version}", response_model=InstructionsVersionPublic)
def get_instructions(
    session: SessionDep, principal: CurrentKey, project_id: int, version: int
) -> InstructionsVersionPublic:
    """Read one instructions version."""
    found = projects.get_instructions(
        session=session, project_id=project_id, version=version, principal=principal
    )
    return InstructionsVersionPublic.model_validate(found)
