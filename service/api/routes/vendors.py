"""Vendors: candidate labeling systems, their adapter and pricing."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import CurrentKey, PageDep, SessionDep, SettingsDep
from service.domain import vendors
from service.models import VendorCreate, VendorPublic, VendorsPublic, VendorUpdate

__all__ = ["router"]

router = APIRouter(prefix="/vendors", tags=["vendors"])


@router.get("", response_model=VendorsPublic)
def list_vendors(
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    adapter_kind: str | None = None,
    name: str | None = None,
) -> VendorsPublic:
    """List vendors, filtered by adapter kind or name."""
    rows, count = vendors.list_vendors(
        session=session,
        principal=principal,
        skip=page.skip,
        limit=page.limit,
        adapter_kind=adapter_kind,
        name=name,
    )
    return VendorsPublic(data=[VendorPublic.model_validate(r) for r in rows], count=count)


@router.post("", response_model=VendorPublic, status_code=201)
def create_vendor(session: SessionDep, settings: SettingsDep, body: VendorCreate) -> VendorPublic:
    """Register a vendor with its adapter kind, settings and pricing."""
    vendor = vendors.create_vendor(session=session, data=body, settings=settings)
    return VendorPublic.model_validate(vendor)


@router.get("/{vendor_id}", response_model=VendorPublic)
def get_vendor(session: SessionDep, principal: CurrentKey, vendor_id: int) -> VendorPublic:
    """Read a vendor (a vendor key: only its own)."""
    vendor = vendors.get_vendor(session=session, vendor_id=vendor_id, principal=principal)
    return VendorPublic.model_validate(vendor)


@router.patch("/{vendor_id}", response_model=VendorPublic)
def update_vendor(
    session: SessionDep,
    settings: SettingsDep,
    principal: CurrentKey,
    vendor_id: int,
    body: VendorUpdate,
) -> VendorPublic:
    """Change a vendor's adapter settings or pricing."""
    vendor = vendors.update_vendor(
        session=session, vendor_id=vendor_id, data=body, settings=settings, principal=principal
    )
    return VendorPublic.model_validate(vendor)


@router.delete("/{vendor_id}", status_code=204)
def delete_vendor(session: SessionDep, vendor_id: int) -> Response:
    """Delete a vendor that no bake-off uses."""
    vendors.delete_vendor(session=session, vendor_id=vendor_id)
    return Response(status_code=204)
