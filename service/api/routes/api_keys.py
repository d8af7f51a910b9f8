"""API keys: create (shown once), list, revoke, and who am I."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import CurrentKey, PageDep, SessionDep
from service.domain import api_keys
from service.models import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic, ApiKeysPublic, Role

__all__ = ["router"]

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.get("", response_model=ApiKeysPublic)
def list_keys(
    session: SessionDep, page: PageDep, role: Role | None = None, include_revoked: bool = False
) -> ApiKeysPublic:
    """List API keys (never their secrets)."""
    data, count = api_keys.list_api_keys(
        session=session,
        skip=page.skip,
        limit=page.limit,
        role=role,
        include_revoked=include_revoked,
    )
    return ApiKeysPublic(data=data, count=count)


@router.post("", response_model=ApiKeyCreated, status_code=201)
def create_key(session: SessionDep, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create an API key; the plaintext key is in the response once and never again."""
    return api_keys.create_api_key(session=session, data=body)


@router.get("/me", response_model=ApiKeyPublic)
def who_am_i(session: SessionDep, principal: CurrentKey) -> ApiKeyPublic:
    """Describe the calling key."""
    return api_keys.get_api_key(session=session, key_id=principal.key_id)


@router.delete("/{key_id}", response_model=ApiKeyPublic)
def revoke_key(session: SessionDep, key_id: int) -> ApiKeyPublic:
    """Revoke an API key."""
    return api_keys.revoke_api_key(session=session, key_id=key_id)
