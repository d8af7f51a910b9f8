"""Vendor kinds by name: the built-in adapters, and third-party ones from entry points.

A *kind* names an adapter class (``"http"`` -> :class:`adapters.http.HttpAdapter`).
Built-in kinds are listed in :data:`known` as lazy ``"module:Class"`` strings, so an
optional dependency (Label Studio, torch) is only imported when its kind is used, and
a missing one fails with an install hint instead of an obscure ``ImportError``.

A third party adds a kind without editing Bakeoff by declaring an entry point in the
``bakeoff.adapters`` group of its own package::

    [project.entry-points."bakeoff.adapters"]
    acme = "acme_bakeoff.adapter:AcmeAdapter"

Examples
--------
>>> from adapters.registry import available, get_adapter_class
>>> "http" in available()
True
>>> get_adapter_class("http").__name__
'HttpAdapter'
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from adapters.base import LabelingVendor

__all__ = [
    "ENTRY_POINT_GROUP",
    "KnownAdapter",
    "UnknownVendorError",
    "available",
    "get_adapter",
    "get_adapter_class",
    "known",
    "register",
    "register_lazy",
    "registry",
]

ENTRY_POINT_GROUP = "bakeoff.adapters"


@dataclass(frozen=True)
class KnownAdapter:
    """A kind that is imported on first use.

    Attributes
    ----------
    target
        ``"package.module:ClassName"``.
    install_hint
        Shown when the import fails, e.g. ``"pip install label-studio-sdk"``.
    """

    target: str
    install_hint: str = ""


class UnknownVendorError(KeyError):
    """No adapter is registered under the requested kind; the message lists the known ones."""

    def __init__(self, name: str, choices: Iterable[str]) -> None:
        self.name = name
        self.choices = sorted(choices)
        super().__init__(name)

    def __str__(self) -> str:
        return (
            f"unknown vendor kind {self.name!r}; available kinds: {', '.join(self.choices)}. "
            f"A third-party kind is added through the {ENTRY_POINT_GROUP!r} entry-point group."
        )


# internal, mutable
_registry: dict[str, type[Any]] = {}
# external, immutable
registry: Mapping[str, type[Any]] = MappingProxyType(_registry)

# Kept in alphabetical order (checked by the tests).
_known: dict[str, KnownAdapter] = {
    "file": KnownAdapter("adapters.file:FileAdapter"),
    "http": KnownAdapter("adapters.http:HttpAdapter"),
    "label_studio": KnownAdapter(
        "adapters.label_studio:LabelStudioAdapter",
        "the Label Studio kind needs a reachable Label Studio server; "
        "install it with `pip install label-studio`",
    ),
    "model": KnownAdapter(
        "adapters.model:ModelAdapter",
        "the model kind needs scikit-learn and joblib (core dependencies), "
        "and `pip install bakeoff[torch]` for TorchScript models",
    ),
    "simulator": KnownAdapter("adapters.simulator:SimulatorAdapter"),
}
known: Mapping[str, KnownAdapter] = MappingProxyType(_known)

_entry_points_loaded = False


def register(name: str, cls: type[Any], *, clobber: bool = False) -> None:
    """Register an adapter class under a kind name.

    Parameters
    ----------
    name
        The kind, a lowercase vendor slug such as ``"acme"``.
    cls
        A class whose instances satisfy :class:`adapters.base.LabelingVendor`.
    clobber
        Replace an existing registration. Without it, a name already taken by a
        *different* class raises.

    Raises
    ------
    ValueError
        If the name is taken and ``clobber`` is false, or the name is not a slug.
    TypeError
        If ``cls`` is not a class.
    """
    _check_name(name)
    if not isinstance(cls, type):
        raise TypeError(f"register({name!r}, ...) needs a class, got {type(cls).__name__}")
    existing = _registry.get(name)
    if existing is not None and existing is not cls and not clobber:
        raise ValueError(
            f"vendor kind {name!r} is already registered to "
            f"{existing.__module__}.{existing.__qualname__}; pass clobber=True to replace it"
        )
    _registry[name] = cls


def register_lazy(name: str, target: str, *, install_hint: str = "", clobber: bool = False) -> None:
    """Register a kind as a ``"module:Class"`` string, imported on first use.

    Raises
    ------
    ValueError
        If ``target`` is not ``"module:Class"``, or the name is taken and ``clobber`` is false.
    """
    _check_name(name)
    if target.count(":") != 1 or not all(target.split(":")):
        raise ValueError(f"adapter target {target!r} for {name!r} must look like 'module:Class'")
    current = _known.get(name)
    if current is not None and current.target != target and not clobber:
        raise ValueError(
            f"vendor kind {name!r} is already known as {current.target!r}; "
            "pass clobber=True to replace it"
        )
    if clobber:
        _registry.pop(name, None)
    _known[name] = KnownAdapter(target, install_hint)


def available() -> list[str]:
    """Every kind that can be requested: registered, built in, or from entry points."""
    _load_entry_points()
    return sorted(set(_registry) | set(_known))


def get_adapter_class(name: str) -> type[Any]:
    """Return the adapter class for a kind, importing it on first use.

    Raises
    ------
    UnknownVendorError
        If no kind of that name is registered, built in, or declared by an entry point.
    ImportError
        If the kind's module cannot be imported; the message carries the install hint.
    """
    if name in _registry:
        return _registry[name]
    _load_entry_points()
    entry = _known.get(name)
    if entry is None:
        raise UnknownVendorError(name, available())
    module_name, _, class_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        hint = f": {entry.install_hint}" if entry.install_hint else ""
        raise ImportError(f"cannot load vendor kind {name!r} from {entry.target!r}{hint}") from exc
    try:
        cls = getattr(module, class_name)
    except AttributeError as exc:
        raise ImportError(
            f"vendor kind {name!r}: module {module_name!r} has no class {class_name!r}"
        ) from exc
    register(name, cls)
    return cls  # type: ignore[no-any-return]


def get_adapter(name: str, **settings: Any) -> LabelingVendor:
    """Instantiate the adapter of a kind with its settings.

    Parameters
    ----------
    name
        The kind (``"http"``, ``"simulator"``, ``"model"``, ...).
    **settings
        Passed to the adapter's constructor (for most kinds: ``vendor=<slug>`` plus the
        per-vendor settings stored with the vendor).

    Raises
    ------
    UnknownVendorError
        If the kind is unknown.
    TypeError
        If the instance does not satisfy :class:`~adapters.base.LabelingVendor`.
    """
    adapter = get_adapter_class(name)(**settings)
    if not isinstance(adapter, LabelingVendor):
        raise TypeError(
            f"vendor kind {name!r} built a {type(adapter).__name__}, which does not implement "
            "adapters.base.LabelingVendor (submit, poll, fetch_results, cancel)"
        )
    return adapter


def _check_name(name: str) -> None:
    if not name or not name.replace("_", "").isalnum() or name != name.lower():
        raise ValueError(f"vendor kind {name!r} must be a lowercase slug (letters, digits, _)")


def _process_entry_points(entry_points: Iterable[importlib.metadata.EntryPoint]) -> None:
    """Register each entry point lazily; the built-in kinds are never replaced."""
    for ep in entry_points:
        if ep.name in _known or ep.name in _registry:
            continue
        register_lazy(ep.name, ep.value, install_hint=f"declared by entry point {ep.value!r}")


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    _process_entry_points(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
