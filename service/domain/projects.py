"""Projects (task type + ontology) and their versioned labeling instructions."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from adapters.base import InstructionExample, Ontology, TaskType
from service.domain._common import apply_update, commit_or_conflict, get_or_404, paginate
from service.domain.access import check_project, is_vendor, project_scope
from service.domain.errors import Forbidden, Invalid, NotFound
from service.domain.security import Principal
from service.models import (
    BakeOff,
    BakeOffVendorLink,
    InstructionsVersion,
    InstructionsVersionCreate,
    Project,
    ProjectCreate,
    ProjectUpdate,
)

__all__ = [
    "create_project",
    "get_project",
    "list_projects",
    "update_project",
    "delete_project",
    "project_ontology",
    "class_names",
    "create_instructions",
    "list_instructions",
    "get_instructions",
]


def create_project(
    *, session: Session, data: ProjectCreate, principal: Principal | None = None
) -> Project:
    """Create a project; names are unique.

    Raises
    ------
    Forbidden
        A project-scoped key: a new project would be outside its scope.
    """
    scope = project_scope(principal)
    if scope is not None:
        raise Forbidden(
            f"this API key is limited to project {scope} and cannot create projects",
            code="out_of_scope",
        )
    project = Project.model_validate(data)
    session.add(project)
    commit_or_conflict(session, f"a project named {data.name!r} already exists")
    session.refresh(project)
    return project


def _vendor_sees_project(session: Session, principal: Principal, project_id: int) -> bool:
    stmt = (
        select(func.count())
        .select_from(BakeOff)
        .join(BakeOffVendorLink, col(BakeOffVendorLink.bakeoff_id) == col(BakeOff.id))
        .where(BakeOff.project_id == project_id)
        .where(BakeOffVendorLink.vendor_id == principal.vendor_id)
    )
    return bool(session.exec(stmt).one())


def get_project(
    *, session: Session, project_id: int, principal: Principal | None = None
) -> Project:
    """One project; a vendor key sees only projects it takes part in."""
    project = get_or_404(session, Project, project_id)
    check_project(principal, project_id)
    if is_vendor(principal) and principal is not None:
        if not _vendor_sees_project(session, principal, project_id):
            raise NotFound(f"Project {project_id} not found")
    return project


def list_projects(
    *,
    session: Session,
    principal: Principal | None = None,
    skip: int = 0,
    limit: int = 100,
    task_type: TaskType | None = None,
    name: str | None = None,
) -> tuple[list[Project], int]:
    """Projects, filtered by task type or a name substring; oldest first."""
    stmt = select(Project)
    scope = project_scope(principal)
    if scope is not None:
        stmt = stmt.where(Project.id == scope)
    if task_type is not None:
        stmt = stmt.where(Project.task_type == task_type)
    if name:
        stmt = stmt.where(col(Project.name).contains(name))
    return paginate(session, stmt.order_by(col(Project.id)), skip=skip, limit=limit)


def update_project(
    *, session: Session, project_id: int, data: ProjectUpdate, principal: Principal | None = None
) -> Project:
    """Rename, describe, or change the ontology of a project."""
    project = get_project(session=session, project_id=project_id, principal=principal)
    apply_update(project, data)
    session.add(project)
    commit_or_conflict(session, f"a project named {data.name!r} already exists")
    session.refresh(project)
    return project


def delete_project(
    *, session: Session, project_id: int, principal: Principal | None = None
) -> None:
    """Delete a project and everything in it (golden sets, bake-offs, labels)."""
    project = get_project(session=session, project_id=project_id, principal=principal)
    session.delete(project)
    commit_or_conflict(session, f"project {project_id} is still referenced")


def project_ontology(project: Project) -> Ontology:
    """The project's ontology as the :class:`adapters.base.Ontology` DTO."""
    return Ontology.model_validate(project.ontology)


def class_names(project: Project) -> list[str]:
    """The ontology's class names, in order."""
    return project_ontology(project).class_names


# --------------------------------------------------------------------------- instructions


def create_instructions(
    *,
    session: Session,
    project_id: int,
    data: InstructionsVersionCreate,
    principal: Principal | None = None,
) -> InstructionsVersion:
    """Add the next instructions version of a project (1, 2, ...)."""
    get_project(session=session, project_id=project_id, principal=principal)
    examples = []
    for i, example in enumerate(data.examples):
        try:
            examples.append(InstructionExample.model_validate(example).model_dump(mode="json"))
        except ValueError as exc:
            raise Invalid(f"bad example: {exc}", location=("body", "examples", i)) from exc
    latest = session.exec(
        select(func.max(InstructionsVersion.version)).where(
            InstructionsVersion.project_id == project_id
        )
    ).one()
    version = InstructionsVersion(
        project_id=project_id, version=(latest or 0) + 1, text=data.text, examples=examples
    )
    session.add(version)
    commit_or_conflict(session, "another instructions version was added at the same time; retry")
    session.refresh(version)
    return version


def _vendor_instruction_ids(session: Session, principal: Principal) -> set[int]:
    stmt = (
        select(BakeOff.instructions_version_id)
        .join(BakeOffVendorLink, col(BakeOffVendorLink.bakeoff_id) == col(BakeOff.id))
        .where(BakeOffVendorLink.vendor_id == principal.vendor_id)
    )
    return set(session.exec(stmt).all())


def list_instructions(
    *,
    session: Session,
    project_id: int,
    principal: Principal | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[InstructionsVersion], int]:
    """The instructions versions of a project; a vendor key sees only those it works under."""
    get_project(session=session, project_id=project_id, principal=principal)
    stmt = select(InstructionsVersion).where(InstructionsVersion.project_id == project_id)
    if is_vendor(principal) and principal is not None:
        allowed = _vendor_instruction_ids(session, principal)
        stmt = stmt.where(col(InstructionsVersion.id).in_(allowed))
    return paginate(
        session, stmt.order_by(col(InstructionsVersion.version)), skip=skip, limit=limit
    )


def get_instructions(
    *, session: Session, project_id: int, version: int, principal: Principal | None = None
) -> InstructionsVersion:
    """One instructions version by its number."""
    get_project(session=session, project_id=project_id, principal=principal)
    found = session.exec(
        select(InstructionsVersion)
        .where(InstructionsVersion.project_id == project_id)
        .where(InstructionsVersion.version == version)
    ).first()
    if found is None:
        raise NotFound(f"instructions version {version} of project {project_id} not found")
    if is_vendor(principal) and principal is not None:
        if found.id not in _vendor_instruction_ids(session, principal):
            raise Forbidden("this vendor does not work under that instructions version")
    return found
