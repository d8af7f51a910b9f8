"""Model candidates registered on the server (a ``model`` vendor names one of them)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import SettingsDep
from service.domain.model_registry import registered_models
from service.models import RegisteredModelPublic, RegisteredModelsPublic

__all__ = ["router"]

router = APIRouter(prefix="/models", tags=["vendors"])


@router.get("", response_model=RegisteredModelsPublic)
def list_models(settings: SettingsDep) -> RegisteredModelsPublic:
    """List the models a ``model`` vendor may name in its settings."""
    rows = [
        RegisteredModelPublic(name=m.name, source=m.source)
        for m in registered_models(settings).values()
    ]
    return RegisteredModelsPublic(data=rows, count=len(rows))
