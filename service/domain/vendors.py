"""Vendors: candidate labeling systems with their adapter and pricing."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, col, select

from service.domain._common import apply_update, commit_or_conflict, get_or_404, paginate
from service.domain.access import check_vendor, vendor_scope_clause
from service.domain.errors import Conflict
from service.domain.security import Principal
from service.models import REDACTED, BakeOffVendorLink, Vendor, VendorCreate, VendorUpdate

__all__ = ["create_vendor", "get_vendor", "list_vendors", "update_vendor", "delete_vendor"]


def create_vendor(*, session: Session, data: VendorCreate) -> Vendor:
    """Register a vendor; names are unique."""
    vendor = Vendor.model_validate(data)
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


def update_vendor(*, session: Session, vendor_id: int, data: VendorUpdate) -> Vendor:
    """Change a vendor's adapter settings or pricing.

    Secrets are masked when a vendor is read, so a client that reads the settings and sends
    them back sends the mask: a masked value keeps the stored secret.
    """
    vendor = get_or_404(session, Vendor, vendor_id)
    if data.adapter_settings is not None:
        stored = vendor.adapter_settings or {}
        kept = {
            key: stored[key] if value == REDACTED and key in stored else value
            for key, value in data.adapter_settings.items()
        }
        data = data.model_copy(update={"adapter_settings": kept})
    apply_update(vendor, data)
    session.add(vendor)
    commit_or_conflict(session, f"a vendor named {data.name!r} already exists")
    session.refresh(vendor)
    return vendor


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
