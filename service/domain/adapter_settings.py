"""Which adapter settings an API caller may choose, and what the server fills in itself.

A vendor's ``adapter_settings`` come from API callers (leads), but the adapter runs on the
server's workers. Settings that name resources of the server (a file path, an import path, a
model file that is unpickled) would let a caller run code or touch files there, so each adapter
class declares the settings a remote caller may give (``api_settings``, see
:class:`adapters.base.LabelingVendor`), and everything else is refused, both when a vendor is
created or changed and again when its adapter is built (a row stored before this rule cannot
slip through). The server then adds what only it decides:

* ``model``: the API names a registered model (:mod:`service.domain.model_registry`), the
  server passes the file or the callable;
* ``file``: the package folder is ``BAKEOFF_VENDOR_FILES_DIR``.

(A secret an operator gives in ``BAKEOFF_VENDOR_<SLUG>_*`` follows only the endpoint given
there too: the adapters enforce that, see :func:`adapters.http.env_secret_follows`.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.registry import UnknownVendorError, get_adapter_class
from service.core.config import Settings
from service.domain.errors import Invalid
from service.domain.model_registry import check_model_name, model_adapter_arguments

__all__ = ["allowed_api_settings", "check_api_settings", "adapter_arguments"]

# Settings a kind takes from the API that the server resolves (not passed to the adapter as is).
_SERVER_RESOLVED: Mapping[str, frozenset[str]] = {"model": frozenset({"model"})}


def allowed_api_settings(kind: str) -> frozenset[str]:
    """The settings an API caller may give a vendor of ``kind``.

    Raises
    ------
    Invalid
        ``kind`` is not a registered adapter kind.
    """
    try:
        cls = get_adapter_class(kind)
    except UnknownVendorError as exc:
        raise Invalid(str(exc), location=("body", "adapter_kind")) from exc
    except ImportError as exc:
        raise Invalid(
            f"adapter kind {kind!r} cannot be loaded on this server: {exc}",
            location=("body", "adapter_kind"),
        ) from exc
    declared: frozenset[str] = getattr(cls, "api_settings", frozenset())
    return declared | _SERVER_RESOLVED.get(kind, frozenset())


def check_api_settings(kind: str, settings: Mapping[str, Any], config: Settings) -> None:
    """Refuse settings an API caller may not choose, naming them and the allowed ones (422).

    Raises
    ------
    Invalid
        A setting is not among the kind's API settings, or a ``model`` vendor names no
        registered model.
    """
    allowed = allowed_api_settings(kind)
    refused = sorted(set(settings) - allowed)
    if refused:
        raise Invalid(
            f"adapter setting(s) {refused} cannot be set for a {kind!r} vendor through the API "
            "(paths, import paths and model files are chosen on the server); allowed settings: "
            f"{sorted(allowed)}",
            location=("body", "adapter_settings", refused[0]),
        )
    if kind == "model":
        check_model_name(settings.get("model"), config)


def adapter_arguments(kind: str, settings: Mapping[str, Any], config: Settings) -> dict[str, Any]:
    """The keyword arguments to build a vendor's adapter from its stored settings.

    Raises
    ------
    Invalid
        As :func:`check_api_settings`.
    """
    check_api_settings(kind, settings, config)
    if kind == "model":
        return model_adapter_arguments(settings, config)
    arguments = dict(settings)
    if kind == "file":
        arguments["directory"] = config.vendor_files_dir
    return arguments
