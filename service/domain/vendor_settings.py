"""Rules for the secrets in a vendor's adapter settings (used by :mod:`service.domain.vendors`).

- **Masked round trips.** Secrets are masked when a vendor is read
  (:func:`service.models.redact_settings`); a client that sends the mask back keeps the stored
  secret (:func:`keep_masked_secrets`), at any depth.
- **Endpoint changes drop secrets.** When a change points the vendor somewhere else (any URL,
  host or endpoint setting, or another adapter kind), masked secrets are *not* restored: whoever
  redirects a vendor must also know its secrets, otherwise the stored bearer token would be sent
  to the new host.
- **Signing secrets are long enough.** A callback signing secret (``webhook_secret`` and alike)
  has at least :data:`SIGNING_SECRET_MIN_LENGTH` characters; an empty one would let anybody sign
  (:func:`check_signing_secrets`).
- **Errors never echo values.** :func:`settings_errors` formats a pydantic
  :class:`~pydantic.ValidationError` from its locations and messages only; ``str(exc)`` would
  include ``input_value=...``, which for adapter settings can be a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from adapters.http import WEBHOOK_SECRET_MIN_LENGTH
from service.domain.errors import Invalid
from service.models import REDACTED, is_secret_setting

__all__ = [
    "SIGNING_SECRET_MIN_LENGTH",
    "check_signing_secrets",
    "endpoint_settings",
    "is_signing_secret",
    "keep_masked_secrets",
    "settings_errors",
]

SIGNING_SECRET_MIN_LENGTH = WEBHOOK_SECRET_MIN_LENGTH
"""Shortest accepted callback signing secret (HMAC key), in characters."""

_ENDPOINT_WORDS = frozenset(
    {"url", "urls", "uri", "host", "hostname", "endpoint", "server", "address", "domain", "port"}
)
_SIGNING_WORDS = ("webhook", "signing", "hmac", "callback")


def settings_errors(exc: ValidationError, *, limit: int = 5) -> str:
    """``"base_url: Field required; timeout_s: Input should be greater than 0"``.

    Built from each error's location and message only, never its input, so a malformed
    secret is not echoed back.

    Examples
    --------
    >>> from pydantic import BaseModel
    >>> class S(BaseModel):
    ...     timeout_s: float
    >>> try:
    ...     S.model_validate({"timeout_s": "TOPSECRET"})
    ... except ValidationError as exc:
    ...     print(settings_errors(exc))
    timeout_s: Input should be a valid number, unable to parse string as a number
    """
    errors = exc.errors(include_input=False, include_url=False, include_context=False)
    parts = []
    for error in errors[:limit]:
        loc = ".".join(str(p) for p in error["loc"]) or "settings"
        parts.append(f"{loc}: {error['msg']}")
    more = len(errors) - limit
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    """Every leaf of nested settings by its path (list positions as strings)."""
    if isinstance(value, Mapping):
        out: dict[tuple[str, ...], Any] = {}
        for key, sub in value.items():
            out.update(_paths(sub, (*prefix, str(key))))
        return out
    if isinstance(value, list | tuple):
        out = {}
        for n, sub in enumerate(value):
            out.update(_paths(sub, (*prefix, str(n))))
        return out
    return {prefix: value}


def _words(name: str) -> list[str]:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return [w for w in re.split(r"[^a-z0-9]+", snake) if w]


def _is_endpoint(path: tuple[str, ...], value: Any) -> bool:
    names = [p for p in path if not p.isdigit()]
    if names and any(w in _ENDPOINT_WORDS for w in _words(names[-1])):
        return True
    return isinstance(value, str) and "://" in value


def endpoint_settings(settings: Mapping[str, Any]) -> dict[tuple[str, ...], Any]:
    """The settings that say where the vendor is reached: URLs, hosts, ports, endpoints.

    Examples
    --------
    >>> endpoint_settings({"base_url": "https://a", "timeout_s": 3, "extra": {"to": "s3://b"}})
    {('base_url',): 'https://a', ('extra', 'to'): 's3://b'}
    """
    return {p: v for p, v in _paths(settings).items() if _is_endpoint(p, v)}


def keep_masked_secrets(
    sent: Mapping[str, Any], stored: Mapping[str, Any], *, same_endpoint: bool
) -> dict[str, Any]:
    """The settings to store: ``sent``, with each mask replaced by the stored secret.

    Parameters
    ----------
    sent
        The settings of an update, possibly holding :data:`~service.models.REDACTED` where
        the client read a masked secret.
    stored
        The vendor's stored settings.
    same_endpoint
        ``False`` when the update points the vendor elsewhere: masked secrets are then
        dropped (the key is left out), so they are never sent to the new endpoint.

    Examples
    --------
    >>> stored = {"url": "https://a", "auth": {"password": "pw"}}
    >>> sent = {"url": "https://a", "auth": {"password": "********"}}
    >>> keep_masked_secrets(sent, stored, same_endpoint=True)
    {'url': 'https://a', 'auth': {'password': 'pw'}}
    >>> keep_masked_secrets({**sent, "url": "https://b"}, stored, same_endpoint=False)
    {'url': 'https://b', 'auth': {}}
    """
    kept = _keep(dict(sent), stored, same_endpoint=same_endpoint)
    return dict(kept) if isinstance(kept, Mapping) else {}


_DROP = object()


def _keep(sent: Any, stored: Any, *, same_endpoint: bool) -> Any:
    if isinstance(sent, str) and sent == REDACTED:
        if not same_endpoint or stored is None or stored == REDACTED:
            return _DROP
        return stored
    if isinstance(sent, Mapping):
        base = stored if isinstance(stored, Mapping) else {}
        out: dict[str, Any] = {}
        for key, value in sent.items():
            kept = _keep(value, base.get(key), same_endpoint=same_endpoint)
            if kept is not _DROP:
                out[key] = kept
        return out
    if isinstance(sent, list):
        base_list = stored if isinstance(stored, list) and len(stored) == len(sent) else []
        items = []
        for n, value in enumerate(sent):
            kept = _keep(value, base_list[n] if base_list else None, same_endpoint=same_endpoint)
            if kept is not _DROP:
                items.append(kept)
        return items
    return sent


def is_signing_secret(name: str) -> bool:
    """Whether a setting is a secret that signs callbacks (``webhook_secret``, ``signing_key``).

    Examples
    --------
    >>> [is_signing_secret(n) for n in ("webhook_secret", "signing_key", "api_key")]
    [True, True, False]
    """
    return is_secret_setting(name) and any(w in name.lower() for w in _SIGNING_WORDS)


def check_signing_secrets(settings: Mapping[str, Any]) -> None:
    """Refuse callback signing secrets that are empty, not text, or too short.

    Raises
    ------
    Invalid
        A ``webhook_secret`` (or another signing secret, at any depth) is shorter than
        :data:`SIGNING_SECRET_MIN_LENGTH` characters; the message never shows it.
    """
    for path, value in _paths(settings).items():
        names = [p for p in path if not p.isdigit()]
        if not names or not is_signing_secret(names[-1]) or value is None:
            continue
        if not isinstance(value, str) or len(value) < SIGNING_SECRET_MIN_LENGTH:
            where = ".".join(path)
            raise Invalid(
                f"adapter_settings.{where}: a callback signing secret must be a string of at "
                f"least {SIGNING_SECRET_MIN_LENGTH} characters (leave it out, or null, for a "
                "vendor that does not send callbacks)",
                location=("body", "adapter_settings", *path),
            )
