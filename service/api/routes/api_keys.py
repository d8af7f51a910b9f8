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
    session: SessionDep,
    principal: CurrentKey,
    page: PageDep,
    role: Role | None = None,
    include_revoked: bool = False,
) -> ApiKeysPublic:
    """List API keys (never their secrets); a project-scoped key sees its project's."""
    data, count = api_keys.list_api_keys(
        session=session,
        principal=principal,
        skip=page.skip,
        limit=page.limit,
        role=role,
        include_revoked=include_revoked,
    )
    return ApiKeysPublic(data=data, count=count)


@router.post("", response_model=ApiKeyCreated, status_code=201)
def create_key(session: SessionDep, principal: CurrentKey, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create an API key (at most the caller's role and scope); its plaintext is shown once."""
    return api_keys.create_api_key(session=session, data=body, principal=principal)


@router.get("/me", response_model=ApiKeyPublic)
def who_am_i(session: SessionDep, principal: CurrentKey) -> ApiKeyPublic:
    """Describe the calling key."""
    return api_keys.get_api_key(session=session, key_id=principal.key_id)


@router.delete("/{key_id}", response_model=ApiKeyPublic)
def revoke_key(session: SessionDep, principal: CurrentKey, key_id: int) -> ApiKeyPublic:
    """Revoke an API key."""
    return api_keys.revoke_api_key(session=session, key_id=key_id, principal=principal)
