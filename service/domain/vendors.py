"""Vendors: candidate labeling systems with their adapter and pricing."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from service.core.config import Settings, get_settings
from service.domain._common import apply_update, commit_or_conflict, get_or_404, paginate
from service.domain.access import check_vendor, project_scope, vendor_scope_clause
from service.domain.adapter_settings import check_api_settings
from service.domain.dispatch_results import vendor_slug
from service.domain.errors import Conflict, Forbidden
from service.domain.security import Principal
from service.domain.vendor_settings import (
    check_signing_secrets,
    endpoint_settings,
    keep_masked_secrets,
)
from service.models import (
    BakeOff,
    BakeOffVendorLink,
    Vendor,
    VendorCreate,
    VendorUpdate,
    redact_settings,
)

__all__ = ["create_vendor", "get_vendor", "list_vendors", "update_vendor", "delete_vendor"]


def create_vendor(
    *, session: Session, data: VendorCreate, settings: Settings | None = None
) -> Vendor:
    """Register a vendor; names are unique; only the kind's API settings are accepted.

    Raises
    ------
    Invalid
        A setting an API caller may not choose, or a callback signing secret shorter than
        16 characters.
    """
    check_api_settings(data.adapter_kind, data.adapter_settings, settings or get_settings())
    check_signing_secrets(data.adapter_settings)
    vendor = Vendor.model_validate(data)
    _check_slug_free(session, vendor)
    session.add(vendor)
    commit_or_conflict(session, f"a vendor named {data.name!r} already exists")
    session.refresh(vendor)
    return vendor


def get_vendor(*, session: Session, vendor_id: int, principal: Principal | None = None) -> Vendor:
    """One vendor; a vendor key may read only its own."""
    vendor = get_or_404(session, Vendor, vendor_id)
    check_vendor(principal, vendor_id)
    return vendor


def list_vendors(
    *,
    session: Session,
    principal: Principal | None = None,
    skip: int = 0,
    limit: int = 100,
    adapter_kind: str | None = None,
    name: str | None = None,
) -> tuple[list[Vendor], int]:
    """Vendors, filtered by adapter kind or a name substring (project scope applies)."""
    stmt = select(Vendor).where(vendor_scope_clause(principal))
    if adapter_kind is not None:
        stmt = stmt.where(Vendor.adapter_kind == adapter_kind)
    if name:
        stmt = stmt.where(col(Vendor.name).contains(name))
    return paginate(session, stmt.order_by(col(Vendor.id)), skip=skip, limit=limit)


def update_vendor(
    *,
    session: Session,
    vendor_id: int,
    data: VendorUpdate,
    settings: Settings | None = None,
    principal: Principal | None = None,
) -> Vendor:
    """Change a vendor's adapter settings or pricing.

    Secrets are masked when a vendor is read, so a client that reads the settings and sends
    them back sends the mask: a masked value keeps the stored secret, unless the same update
    points the vendor at another endpoint (see :mod:`service.domain.vendor_settings`).

    Raises
    ------
    Forbidden
        A project-scoped key changes a vendor that bake-offs of other projects use.
    Invalid
        A callback signing secret is shorter than 16 characters.
    """
    vendor = get_or_404(session, Vendor, vendor_id)
    _check_not_shared(session, vendor_id, principal)
    data = _with_secrets(vendor, data)
    if data.adapter_settings is not None or data.adapter_kind is not None:
        check_api_settings(
            data.adapter_kind or vendor.adapter_kind,
            vendor.adapter_settings if data.adapter_settings is None else data.adapter_settings,
            settings or get_settings(),
        )
    apply_update(vendor, data)
    if data.name is not None:
        _check_slug_free(session, vendor)
    session.add(vendor)
    commit_or_conflict(session, f"a vendor named {data.name!r} already exists")
    session.refresh(vendor)
    return vendor


def _check_not_shared(session: Session, vendor_id: int, principal: Principal | None) -> None:
    """A project-scoped key may change only a vendor no other project's bake-off uses."""
    scope = project_scope(principal)
    if scope is None:
        return
    projects = session.exec(
        select(BakeOff.project_id)
        .join(BakeOffVendorLink, col(BakeOffVendorLink.bakeoff_id) == col(BakeOff.id))
        .where(BakeOffVendorLink.vendor_id == vendor_id)
        .distinct()
    ).all()
    if any(p != scope for p in projects):
        raise Forbidden(
            f"vendor {vendor_id} takes part in bake-offs outside project {scope}; only a lead "
            "or admin key that is not limited to one project may change it"
        )


def _with_secrets(vendor: Vendor, data: VendorUpdate) -> VendorUpdate:
    """Restore masked secrets, or drop them when the update redirects the vendor."""
    stored = vendor.adapter_settings or {}
    new_kind = data.adapter_kind is not None and data.adapter_kind != vendor.adapter_kind
    if data.adapter_settings is None and not new_kind:
        return data
    # another kind keeps the stored settings but not their secrets
    sent = redact_settings(stored) if data.adapter_settings is None else data.adapter_settings
    kept = keep_masked_secrets(sent, stored, same_endpoint=True)
    if new_kind or endpoint_settings(kept) != endpoint_settings(stored):
        kept = keep_masked_secrets(sent, stored, same_endpoint=False)
    check_signing_secrets(kept)
    return data.model_copy(update={"adapter_settings": kept})


def delete_vendor(*, session: Session, vendor_id: int) -> None:
    """Delete a vendor that no bake-off uses."""
    vendor = get_or_404(session, Vendor, vendor_id)
    used = session.exec(
        select(func.count())
        .select_from(BakeOffVendorLink)
        .where(BakeOffVendorLink.vendor_id == vendor_id)
    ).one()
    if used:
        raise Conflict(f"vendor {vendor_id} takes part in {used} bake-off(s)")
    session.delete(vendor)
    commit_or_conflict(session, f"vendor {vendor_id} is still referenced (API keys, labels)")


def _check_slug_free(session: Session, vendor: Vendor) -> None:
    """Two vendors may not share a slug: it keys the ``BAKEOFF_VENDOR_<SLUG>_*`` settings an
    operator gives in the environment, which must reach only the vendor they were meant for."""
    slug = vendor_slug(vendor)
    for other in session.exec(select(Vendor)).all():
        if other.id != vendor.id and vendor_slug(other) == slug:
            raise Conflict(
                f"vendor name {vendor.name!r} has the slug {slug!r} of vendor {other.name!r}; "
                "choose a name that differs in letters or digits",
                code="vendor_slug_taken",
            )
