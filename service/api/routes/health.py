"""Liveness and database check."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from service.api.deps import SessionDep
from service.models import Message

__all__ = ["router"]

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Message)
def health(session: SessionDep) -> Message:
    """Report that the service and its database answer."""
    session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    return Message(message="ok")
