"""Row-level access rules shared by the domain functions, and the one object-level check.

The route-level table (:mod:`service.domain.permissions`) says whether a role may call a route
at all. This module applies the finer rules:

* **Project scope.** A project-scoped key reaches only objects of its project. Every request
  goes through :func:`check_request_scope` (called once, by ``service.api.deps.authorize``),
  which resolves each object id the request names, in its path *or* its query string, to the
  project that owns it and refuses the call (403, code ``out_of_scope``) when that project is
  not the key's. The domain functions keep their own :func:`check_project` calls for callers
  that do not come through HTTP. Ids in request *bodies* are checked by the domain function
  that reads them (e.g. ``project_id`` of a new bake-off, golden set or API key).
* **Vendor keys** name only their own vendor (``vendor_id`` in the path or query).
* **Blinding.** While a bake-off is ``blinded`` a ``qa`` key sees its candidates as
  "Candidate A/B/..." and its annotators as "annotator 1, 2, ...", never a vendor id, vendor
  name, raw annotator id or vendor-chosen external id (:class:`Blinding`, used by every route a
  ``qa`` key can reach), and may not name one of its vendors in a request.

``principal=None`` means an internal caller (CLI, background job) with full access.

Which project owns what
-----------------------
=================  ============================================================================
id                 owning project
=================  ============================================================================
``project_id``     itself
``bakeoff_id``     the bake-off's project
``golden_set_id``  the golden set's project
``task_id``        the project of the task's bake-off
``flag_id``        the project of the flag's bake-off
``delivery_id``    the delivery's project
``key_id``         the key's ``project_id``; an unscoped key belongs to no project, so a
                   scoped key may not touch it
``vendor_id``      vendors are shared: a vendor belongs to the projects whose bake-offs use it.
                   A scoped key may read a vendor of its project or one no project uses yet,
                   and change or delete only a vendor that no *other* project uses.
=================  ============================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final

from sqlalchemy import ColumnElement, or_, true
from sqlmodel import Session, col, select

from service.domain.errors import Forbidden
from service.domain.security import Principal
from service.models import (
    ApiKey,
    BakeOff,
    BakeOffVendorLink,
    Delivery,
    Flag,
    GoldenSet,
    Project,
    Role,
    Task,
    TaskPublic,
    Vendor,
    VendorLabel,
    VendorLabelPublic,
)

__all__ = [
    "BLINDED_ROLES",
    "ROLE_RANK",
    "Blinding",
    "check_project",
    "check_request_scope",
    "check_vendor",
    "check_vendor_scope",
    "is_blinded",
    "is_vendor",
    "project_scope",
    "require_role",
    "vendor_projects",
    "vendor_scope_clause",
]

OUT_OF_SCOPE: Final = "out_of_scope"
BLINDED: Final = "blinded"

#: Roles that see a blinded bake-off's candidates only by their aliases.
BLINDED_ROLES: Final[frozenset[Role]] = frozenset({"qa"})

#: What a role may do, ordered: a key may create keys of its own rank or lower (``vendor``
#: keys are the narrowest).
ROLE_RANK: Final[Mapping[Role, int]] = {"vendor": 0, "viewer": 1, "qa": 2, "lead": 3, "admin": 4}


def is_vendor(principal: Principal | None) -> bool:
    """Whether the caller is a ``vendor`` key."""
    return principal is not None and principal.role == "vendor"


def project_scope(principal: Principal | None) -> int | None:
    """The only project the caller may see, or ``None`` for all."""
    return None if principal is None else principal.project_id


def check_project(principal: Principal | None, project_id: int | None) -> None:
    """Raise :class:`Forbidden` when a project-scoped key reaches outside its project.

    ``project_id=None`` (an object of no project, e.g. an unscoped API key) is outside every
    scope.
    """
    scope = project_scope(principal)
    if scope is not None and scope != project_id:
        what = "an object of no project" if project_id is None else f"project {project_id}"
        raise Forbidden(
            f"this API key is limited to project {scope}, not {what}", code=OUT_OF_SCOPE
        )


def check_vendor(principal: Principal | None, vendor_id: int) -> None:
    """Raise :class:`Forbidden` when a vendor key touches another vendor's data."""
    if is_vendor(principal) and principal is not None and principal.vendor_id != vendor_id:
        raise Forbidden("a vendor key may only access its own vendor's data")


def require_role(principal: Principal | None, *roles: str) -> None:
    """Raise :class:`Forbidden` unless the caller has one of ``roles`` (internal callers pass)."""
    if principal is not None and principal.role not in roles:
        raise Forbidden(f"role {principal.role!r} may not do this (needs one of {sorted(roles)})")


def is_blinded(bakeoff: BakeOff, principal: Principal | None) -> bool:
    """Whether ``principal`` sees ``bakeoff``'s candidates only by their aliases."""
    return bakeoff.blinded and principal is not None and principal.role in BLINDED_ROLES


# --------------------------------------------------------------------------- object scope


def vendor_projects(session: Session, vendor_id: int) -> set[int]:
    """The projects whose bake-offs use the vendor as a candidate."""
    stmt = (
        select(BakeOff.project_id)
        .join(BakeOffVendorLink, col(BakeOffVendorLink.bakeoff_id) == col(BakeOff.id))
        .where(BakeOffVendorLink.vendor_id == vendor_id)
        .distinct()
    )
    return set(session.exec(stmt).all())


def vendor_scope_clause(principal: Principal | None) -> ColumnElement[bool]:
    """SQL condition on :class:`Vendor` rows: the vendors the caller may read.

    A project-scoped key reads the vendors its project uses and those no project uses yet.
    """
    scope = project_scope(principal)
    if scope is None:
        return true()
    in_scope = (
        select(BakeOffVendorLink.vendor_id)
        .join(BakeOff, col(BakeOff.id) == col(BakeOffVendorLink.bakeoff_id))
        .where(BakeOff.project_id == scope)
    )
    used = select(BakeOffVendorLink.vendor_id)
    return or_(col(Vendor.id).in_(in_scope), col(Vendor.id).not_in(used))


def _project_of_project(session: Session, project_id: int) -> tuple[bool, int | None]:
    return session.get(Project, project_id) is not None, project_id


def _project_of_bakeoff(session: Session, bakeoff_id: int) -> tuple[bool, int | None]:
    bakeoff = session.get(BakeOff, bakeoff_id)
    return bakeoff is not None, bakeoff.project_id if bakeoff else None


def _project_of_golden_set(session: Session, golden_set_id: int) -> tuple[bool, int | None]:
    golden = session.get(GoldenSet, golden_set_id)
    return golden is not None, golden.project_id if golden else None


def _project_of_task(session: Session, task_id: int) -> tuple[bool, int | None]:
    task = session.get(Task, task_id)
    return (False, None) if task is None else _project_of_bakeoff(session, task.bakeoff_id)


def _project_of_flag(session: Session, flag_id: int) -> tuple[bool, int | None]:
    flag = session.get(Flag, flag_id)
    if flag is None:
        return False, None
    if flag.delivery_id is not None:  # a delivery's flag in the review queue
        return _project_of_delivery(session, flag.delivery_id)
    return _project_of_bakeoff(session, flag.bakeoff_id or 0)


def _project_of_delivery(session: Session, delivery_id: int) -> tuple[bool, int | None]:
    delivery = session.get(Delivery, delivery_id)
    return delivery is not None, delivery.project_id if delivery else None


def _project_of_key(session: Session, key_id: int) -> tuple[bool, int | None]:
    key = session.get(ApiKey, key_id)
    return key is not None, key.project_id if key else None


#: Request parameter -> ``(exists, owning project)``; a missing object is left to the route
#: (which answers 404).
_OWNERS: Final[Mapping[str, Callable[[Session, int], tuple[bool, int | None]]]] = {
    "project_id": _project_of_project,
    "bakeoff_id": _project_of_bakeoff,
    "golden_set_id": _project_of_golden_set,
    "task_id": _project_of_task,
    "flag_id": _project_of_flag,
    "key_id": _project_of_key,
    "delivery_id": _project_of_delivery,
}
_READS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_ID_MIN: Final = -(2**31)  # ids are database INTEGERs
_ID_MAX: Final = 2**31 - 1


def _ids(params: Iterable[tuple[str, str]]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for name, raw in params:
        if name in _OWNERS or name == "vendor_id":
            try:
                value = int(raw)
            except ValueError:
                continue  # not an id: the route's own validation answers 422
            if _ID_MIN <= value <= _ID_MAX:  # else no row has it; the route answers 422
                out.append((name, value))
    return out


def check_vendor_scope(
    session: Session, principal: Principal | None, vendor_id: int, *, write: bool
) -> None:
    """Raise :class:`Forbidden` when the caller may not read (or ``write``) the vendor.

    A vendor key names only its own vendor. A project-scoped key reads a vendor its project
    uses or one no project uses, and changes one that no other project uses.
    """
    if principal is None:
        return
    check_vendor(principal, vendor_id)
    scope = principal.project_id
    if scope is None:
        return
    used_by = vendor_projects(session, vendor_id)
    others = used_by - {scope}
    if write and others:
        raise Forbidden(
            f"vendor {vendor_id} is used by other projects; only an unscoped key may change it",
            code=OUT_OF_SCOPE,
        )
    if not write and used_by and scope not in used_by:
        raise Forbidden(
            f"this API key is limited to project {scope}; vendor {vendor_id} is not in it",
            code=OUT_OF_SCOPE,
        )


def check_request_scope(
    session: Session,
    principal: Principal,
    *,
    method: str,
    path_params: Mapping[str, str],
    query_params: Iterable[tuple[str, str]],
) -> None:
    """Check every object a request names against the caller's project scope and blinding.

    Called once per request, for every route that needs a key, before the route runs.

    Parameters
    ----------
    session
        Database session.
    principal
        The authenticated caller.
    method
        HTTP method; a ``vendor_id`` in a non-read request is a change to the vendor only when
        the path is the vendor itself (``/vendors/{vendor_id}``).
    path_params, query_params
        The request's parameters; the names of :data:`_OWNERS` and ``vendor_id`` are checked.

    Raises
    ------
    Forbidden
        ``out_of_scope``: an object of another project (or an unscoped key) for a project-scoped
        key; another vendor for a vendor key. ``blinded``: a blinded caller names a candidate
        vendor of a blinded bake-off.
    """
    named = _ids(path_params.items()) + _ids(query_params)
    scoped = principal.project_id is not None
    for name, value in named:
        if name == "vendor_id":
            writes_vendor = method.upper() not in _READS and "bakeoff_id" not in path_params
            check_vendor_scope(session, principal, value, write=writes_vendor)
        elif scoped:
            exists, project_id = _OWNERS[name](session, value)
            if exists:
                check_project(principal, project_id)
    if principal.role not in BLINDED_ROLES or not any(n == "vendor_id" for n, _ in named):
        return
    for name, value in named:
        bakeoff = session.get(BakeOff, value) if name == "bakeoff_id" else None
        if bakeoff is not None and is_blinded(bakeoff, principal):
            raise Forbidden(
                f"bake-off {value} is blinded: its candidates are not named by vendor id",
                code=BLINDED,
            )


# --------------------------------------------------------------------------- blinding


class Blinding:
    """How one caller sees one bake-off's candidates.

    Unblinded callers see everything as stored. A blinded caller (:func:`is_blinded`) sees each
    candidate by its alias ("Candidate A"), no vendor id, annotators numbered per candidate
    ("annotator 1, 2, ..." in the order of their ids) and no vendor-chosen external id. The
    review queue, the labels and the tasks all use this one mapping.

    Parameters
    ----------
    session
        Database session (annotator numbers are read once per candidate, on first use).
    bakeoff
        The bake-off.
    principal
        The caller.
    """

    def __init__(self, session: Session, bakeoff: BakeOff, principal: Principal | None) -> None:
        self.session = session
        self.bakeoff_id = bakeoff.id or 0
        self.blind = is_blinded(bakeoff, principal)
        links = session.exec(
            select(BakeOffVendorLink).where(BakeOffVendorLink.bakeoff_id == self.bakeoff_id)
        ).all()
        self.aliases: dict[int, str] = {link.vendor_id: link.alias for link in links}
        self._annotators: dict[int, dict[str, int]] = {}

    def vendor_id(self, vendor_id: int | None) -> int | None:
        """The vendor id as this caller may see it (``None`` while blinded)."""
        return None if self.blind else vendor_id

    def candidate(self, vendor_id: int | None) -> str | None:
        """The candidate's alias ("Candidate A"); ``None`` for no vendor."""
        if vendor_id is None:
            return None
        return self.aliases.get(vendor_id, f"Vendor {vendor_id}")

    def annotator(self, vendor_id: int | None, annotator_id: str | None) -> str | None:
        """An annotator's id as this caller may see it.

        Vendors often name annotators after themselves (``acme-17``), so a blinded caller
        sees ``annotator 1, 2, ...`` (numbered per candidate, in id order) instead.
        """
        if not self.blind or annotator_id is None or vendor_id is None:
            return annotator_id
        numbers = self._annotators.get(vendor_id)
        if numbers is None:
            ids = self.session.exec(
                select(VendorLabel.annotator_id)
                .where(VendorLabel.bakeoff_id == self.bakeoff_id)
                .where(VendorLabel.vendor_id == vendor_id)
                .distinct()
            ).all()
            ordered = sorted(a for a in ids if a is not None)
            numbers = {a: n for n, a in enumerate(ordered, start=1)}
            self._annotators[vendor_id] = numbers
        return f"annotator {numbers.get(annotator_id, 0) or '?'}"

    def label(self, label: VendorLabelPublic) -> VendorLabelPublic:
        """A stored vendor label as this caller may see it."""
        update: dict[str, object] = {"candidate": self.candidate(label.vendor_id)}
        if self.blind:
            update |= {
                "vendor_id": None,
                "annotator_id": self.annotator(label.vendor_id, label.annotator_id),
                "external_id": None,
            }
        return label.model_copy(update=update)

    def task(self, task: TaskPublic) -> TaskPublic:
        """A task as this caller may see it (blinded: no vendor, job or external id, no error)."""
        update: dict[str, object] = {"candidate": self.candidate(task.vendor_id)}
        if self.blind:
            update |= {"vendor_id": None, "external_id": None, "job_id": None, "last_error": None}
        return task.model_copy(update=update)
