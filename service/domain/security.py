"""API keys: generation, hashing, and the authenticated :class:`Principal`."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from service.models import Role

__all__ = ["Principal", "generate_key", "hash_key", "KEY_PREFIX"]

KEY_PREFIX = "bko_"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id, name, role and scope.

    Attributes
    ----------
    key_id
        ``ApiKey.id``.
    name
        The key's human name (used in audit events).
    role
        One of ``admin``, ``lead``, ``qa``, ``viewer``, ``vendor``.
    vendor_id
        Set for ``vendor`` keys: the only vendor whose data the key may read or write.
    project_id
        Set when the key is limited to one project.
    """

    key_id: int
    name: str
    role: Role
    vendor_id: int | None = None
    project_id: int | None = None


def generate_key() -> str:
    """A new random API key (256 bits of entropy), e.g. ``bko_3q2...``."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of ``key``: hex sha256 (keys are random, so no salt is needed)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()
