"""Bake-offs: a pinned golden-set version and instructions version, candidates, ranking setup."""

from __future__ import annotations

import hashlib
import string
from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from service.core.types import utcnow
from service.domain._common import (
    commit_or_conflict,
    get_or_404,
    paginate,
    table_of,
    updated_fields,
)
from service.domain.access import (
    Blinding,
    check_project,
    check_vendor_scope,
    is_vendor,
    project_scope,
)
from service.domain.errors import Conflict, Forbidden, Invalid, NotFound
from service.domain.security import Principal
from service.models import (
    BakeOff,
    BakeOffCreate,
    BakeOffPublic,
    BakeOffUpdate,
    BakeOffVendorLink,
    GoldenSet,
    GoldenSetVersion,
    GoldLabel,
    InstructionsVersion,
    Project,
    Task,
    TaskType,
    Vendor,
    VendorLabelPublic,
)

__all__ = [
    "create_bakeoff",
    "get_bakeoff",
    "bakeoff_public",
    "blinding",
    "list_labels",
    "bakeoff_vendor_ids",
    "vendor_aliases",
    "list_bakeoffs",
    "update_bakeoff",
    "delete_bakeoff",
    "bump_data_version",
    "create_tasks",
    "check_candidate",
    "bakeoff_task_type",
]


def bakeoff_task_type(session: Session, bakeoff: BakeOff) -> TaskType:
    """The task type of the bake-off's project."""
    project = get_or_404(session, Project, bakeoff.project_id)
    return project.task_type


def _alias(index: int) -> str:
    letters = string.ascii_uppercase
    name = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = letters[rem] + name
    return f"Candidate {name}"


def _check_refs(
    session: Session,
    *,
    project_id: int,
    golden_set_version_id: int | None,
    instructions_version_id: int | None,
    vendor_ids: Sequence[int] | None,
    principal: Principal | None,
) -> None:
    if golden_set_version_id is not None:
        version = session.get(GoldenSetVersion, golden_set_version_id)
        golden = session.get(GoldenSet, version.golden_set_id) if version else None
        if version is None or golden is None or golden.project_id != project_id:
            raise Invalid(
                f"golden set version {golden_set_version_id} is not in project {project_id}",
                location=("body", "golden_set_version_id"),
            )
    if instructions_version_id is not None:
        instructions = session.get(InstructionsVersion, instructions_version_id)
        if instructions is None or instructions.project_id != project_id:
            raise Invalid(
                f"instructions version {instructions_version_id} is not in project {project_id}",
                location=("body", "instructions_version_id"),
            )
    if vendor_ids is not None:
        if len(set(vendor_ids)) != len(vendor_ids):
            raise Invalid("vendor_ids has duplicates", location=("body", "vendor_ids"))
        for i, vendor_id in enumerate(vendor_ids):
            if session.get(Vendor, vendor_id) is None:
                raise Invalid(f"vendor {vendor_id} not found", location=("body", "vendor_ids", i))
            check_vendor_scope(session, principal, vendor_id, write=False)


def _set_vendors(session: Session, bakeoff_id: int, vendor_ids: Sequence[int]) -> None:
    existing = session.exec(
        select(BakeOffVendorLink).where(BakeOffVendorLink.bakeoff_id == bakeoff_id)
    ).all()
    for link in existing:
        session.delete(link)
    session.flush()
    for index, vendor_id in enumerate(vendor_ids):
        session.add(
            BakeOffVendorLink(bakeoff_id=bakeoff_id, vendor_id=vendor_id, alias=_alias(index))
        )


def create_bakeoff(
    *, session: Session, data: BakeOffCreate, principal: Principal | None = None
) -> BakeOff:
    """Create a bake-off (status ``draft``) with its candidate vendors.

    Raises
    ------
    Invalid
        The golden-set or instructions version is not in the project, or a vendor is unknown.
    """
    check_project(principal, data.project_id)
    from service.domain.projects import get_project

    get_project(session=session, project_id=data.project_id, principal=principal)
    _check_refs(
        session,
        project_id=data.project_id,
        golden_set_version_id=data.golden_set_version_id,
        instructions_version_id=data.instructions_version_id,
        vendor_ids=data.vendor_ids,
        principal=principal,
    )
    bakeoff = BakeOff.model_validate(data)
    session.add(bakeoff)
    session.flush()
    _set_vendors(session, bakeoff.id or 0, data.vendor_ids)
    commit_or_conflict(session, "bake-off could not be created")
    session.refresh(bakeoff)
    return bakeoff


def bakeoff_vendor_ids(session: Session, bakeoff_id: int) -> list[int]:
    """The candidate vendors of a bake-off, in alias order."""
    links = session.exec(
        select(BakeOffVendorLink)
        .where(BakeOffVendorLink.bakeoff_id == bakeoff_id)
        .order_by(col(BakeOffVendorLink.alias))
    ).all()
    return [link.vendor_id for link in sorted(links, key=lambda lk: (len(lk.alias), lk.alias))]


def vendor_aliases(session: Session, bakeoff_id: int) -> dict[int, str]:
    """``{vendor id: "Candidate A", ...}`` for blinded views."""
    links = session.exec(
        select(BakeOffVendorLink).where(BakeOffVendorLink.bakeoff_id == bakeoff_id)
    ).all()
    return {link.vendor_id: link.alias for link in links}


def check_candidate(session: Session, bakeoff_id: int, vendor_id: int) -> None:
    """Raise :class:`NotFound` unless the vendor is a candidate of the bake-off."""
    if vendor_id not in vendor_aliases(session, bakeoff_id):
        raise NotFound(f"vendor {vendor_id} is not a candidate of bake-off {bakeoff_id}")


def get_bakeoff(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> BakeOff:
    """One bake-off (a vendor key only sees bake-offs it is a candidate in)."""
    bakeoff = get_or_404(session, BakeOff, bakeoff_id, what="Bake-off")
    check_project(principal, bakeoff.project_id)
    if is_vendor(principal) and principal is not None:
        if principal.vendor_id not in vendor_aliases(session, bakeoff_id):
            raise NotFound(f"Bake-off {bakeoff_id} not found")
    return bakeoff


def blinding(*, session: Session, bakeoff_id: int, principal: Principal | None = None) -> Blinding:
    """How ``principal`` sees the bake-off's candidates (after the same checks as a read)."""
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    return Blinding(session, bakeoff, principal)


def bakeoff_public(
    session: Session, bakeoff: BakeOff, principal: Principal | None = None
) -> BakeOffPublic:
    """The public view, with the candidates' aliases and (unless blinded) vendor ids.

    A vendor key sees only itself among the candidates.
    """
    view = Blinding(session, bakeoff, principal)
    vendor_ids = bakeoff_vendor_ids(session, bakeoff.id or 0)
    if is_vendor(principal) and principal is not None:  # never the other candidates
        vendor_ids = [v for v in vendor_ids if v == principal.vendor_id]
    return BakeOffPublic.model_validate(
        bakeoff,
        update={
            "vendor_ids": [] if view.blind else vendor_ids,
            "candidates": [view.candidate(v) or "" for v in vendor_ids],
        },
    )


def list_labels(
    *,
    session: Session,
    bakeoff_id: int,
    principal: Principal | None = None,
    vendor_id: int | None = None,
    item_key: str | None = None,
    annotator_id: str | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[VendorLabelPublic], int]:
    """A bake-off's vendor labels as the caller may see them (blinding applied).

    Raises
    ------
    Forbidden
        A blinded caller filters by vendor or by a raw annotator id (either would name a
        candidate); a vendor key asks for another vendor's labels.
    """
    from service.domain.vendor_labels import list_vendor_labels

    view = blinding(session=session, bakeoff_id=bakeoff_id, principal=principal)
    if view.blind and (vendor_id is not None or annotator_id is not None):
        raise Forbidden(
            f"bake-off {bakeoff_id} is blinded: its labels cannot be filtered by vendor or "
            "annotator",
            code="blinded",
        )
    data, count = list_vendor_labels(
        session=session,
        bakeoff_id=bakeoff_id,
        principal=principal,
        vendor_id=vendor_id,
        item_key=item_key,
        annotator_id=annotator_id,
        skip=skip,
        limit=limit,
    )
    return [view.label(label) for label in data], count


def list_bakeoffs(
    *,
    session: Session,
    principal: Principal | None = None,
    project_id: int | None = None,
    status: str | None = None,
    vendor_id: int | None = None,
    skip: int = 0,
    limit: int = 100,
) -> tuple[list[BakeOff], int]:
    """Bake-offs, filtered by project, status or candidate vendor; newest first."""
    stmt = select(BakeOff)
    scope = project_scope(principal)
    if scope is not None:
        stmt = stmt.where(BakeOff.project_id == scope)
    if project_id is not None:
        stmt = stmt.where(BakeOff.project_id == project_id)
    if status is not None:
        stmt = stmt.where(BakeOff.status == status)
    if vendor_id is not None:
        stmt = stmt.join(
            BakeOffVendorLink, col(BakeOffVendorLink.bakeoff_id) == col(BakeOff.id)
        ).where(BakeOffVendorLink.vendor_id == vendor_id)
    return paginate(session, stmt.order_by(col(BakeOff.id).desc()), skip=skip, limit=limit)


def update_bakeoff(
    *,
    session: Session,
    bakeoff_id: int,
    data: BakeOffUpdate,
    principal: Principal | None = None,
) -> BakeOff:
    """Change a bake-off's setup or status.

    The candidate vendors can change only while the bake-off is a ``draft``.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    if data.vendor_ids is not None and bakeoff.status != "draft":
        raise Conflict(f"bake-off {bakeoff_id} is {bakeoff.status}; candidates are fixed")
    _check_refs(
        session,
        project_id=bakeoff.project_id,
        golden_set_version_id=data.golden_set_version_id,
        instructions_version_id=None,
        vendor_ids=data.vendor_ids,
        principal=principal,
    )
    if (
        data.golden_set_version_id is not None
        and data.golden_set_version_id != bakeoff.golden_set_version_id
    ):
        bakeoff.data_version += 1
    changes = updated_fields(bakeoff, data, exclude={"vendor_ids"})
    bakeoff.sqlmodel_update(changes)
    bakeoff.updated_at = utcnow()
    session.add(bakeoff)
    if data.vendor_ids is not None:
        _set_vendors(session, bakeoff_id, data.vendor_ids)
    commit_or_conflict(session, "bake-off could not be updated")
    session.refresh(bakeoff)
    return bakeoff


def delete_bakeoff(
    *, session: Session, bakeoff_id: int, principal: Principal | None = None
) -> None:
    """Delete a bake-off with its tasks, labels and flags."""
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    session.delete(bakeoff)
    commit_or_conflict(session, f"bake-off {bakeoff_id} is still referenced")


def bump_data_version(session: Session, bakeoff_id: int) -> None:
    """Mark a bake-off's labels or gold as changed (invalidates cached results); no commit."""
    table = table_of(BakeOff)
    session.execute(
        table.update()
        .where(table.c.id == bakeoff_id)
        .values(data_version=table.c.data_version + 1, updated_at=utcnow())
    )


def _drawn_items(
    bakeoff_id: int, vendor_id: int, item_ids: list[int], share: float, *, salt: str = ""
) -> set[int]:
    """``round(share * n)`` of the items, picked by a hash of (bake-off, vendor, item), so
    each vendor gets its own draw and a rerun the same one; ``salt`` gives another draw
    (the repeats are drawn independently of the swaps)."""

    def draw(item_id: int) -> bytes:
        return hashlib.sha256(f"{salt}{bakeoff_id}:{vendor_id}:{item_id}".encode()).digest()

    n = round(share * len(item_ids))
    return set(sorted(item_ids, key=draw)[:n])


def create_tasks(*, session: Session, bakeoff_id: int, principal: Principal | None = None) -> int:
    """Create the missing tasks: one per (gold item of the pinned version, candidate vendor),
    and in a preference bake-off a second one (``repeat`` 1, the other order) for the
    bake-off's ``repeat_share`` of each vendor's items.

    Returns the number of tasks created; running it again creates none.
    """
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    vendor_ids = bakeoff_vendor_ids(session, bakeoff_id)
    gold = table_of(GoldLabel)
    task = table_of(Task)
    item_ids = list(
        session.execute(
            sa_select(gold.c.item_id).where(gold.c.version_id == bakeoff.golden_set_version_id)
        ).scalars()
    )
    existing = {
        (r[0], r[1], r[2])
        for r in session.execute(
            sa_select(task.c.vendor_id, task.c.item_id, task.c.repeat).where(
                task.c.bakeoff_id == bakeoff_id
            )
        ).all()
    }
    now = utcnow()
    pairs = bakeoff_task_type(session, bakeoff) == "preference"
    rows: list[dict[str, object]] = []
    for v in vendor_ids:
        fresh = [i for i in item_ids if (v, i, 0) not in existing]
        swapped = _drawn_items(bakeoff_id, v, fresh, bakeoff.swap_share) if pairs else set()
        repeated = (
            _drawn_items(bakeoff_id, v, fresh, bakeoff.repeat_share, salt="repeat:")
            if pairs
            else set()
        )
        for i in fresh:
            rows.append(_task_row(bakeoff_id, v, i, swapped=i in swapped, repeat=0, now=now))
            if i in repeated:  # the same pair again, in the other order
                rows.append(
                    _task_row(bakeoff_id, v, i, swapped=i not in swapped, repeat=1, now=now)
                )
    if rows:
        session.execute(insert(Task), rows)
    commit_or_conflict(session, "tasks were created at the same time; retry")
    return len(rows)


def _task_row(
    bakeoff_id: int, vendor_id: int, item_id: int, *, swapped: bool, repeat: int, now: object
) -> dict[str, object]:
    return {
        "bakeoff_id": bakeoff_id,
        "vendor_id": vendor_id,
        "item_id": item_id,
        "status": "pending",
        "attempts": 0,
        "swapped": swapped,
        "repeat": repeat,
        "created_at": now,
        "updated_at": now,
    }
