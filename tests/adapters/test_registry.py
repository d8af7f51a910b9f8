"""The vendor-kind registry: built-ins, no clobbering, lazy import, entry points, read-only."""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator

import pytest

from adapters import registry
from adapters.http import HttpAdapter
from adapters.registry import UnknownVendorError


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[None]:
    """Restore the registry and known kinds after each test."""
    saved = dict(registry._registry)
    saved_known = dict(registry._known)
    saved_loaded = registry._entry_points_loaded
    try:
        yield
    finally:
        registry._registry.clear()
        registry._registry.update(saved)
        registry._known.clear()
        registry._known.update(saved_known)
        registry._entry_points_loaded = saved_loaded


class Dummy:
    name = "dummy"
    supported_tasks = frozenset({"classification"})

    def __init__(self, **settings: object) -> None:
        self.settings = settings

    def submit(self, batch: object) -> object: ...
    def poll(self, job: object) -> object: ...
    def fetch_results(self, job: object) -> object: ...
    def cancel(self, job: object) -> None: ...


class Other(Dummy):
    pass


def test_builtin_kinds_are_known_in_alphabetical_order() -> None:
    assert list(registry.known) == sorted(registry.known)
    assert {"file", "http", "simulator", "label_studio", "model"} <= set(registry.available())


def test_get_adapter_class_imports_lazily() -> None:
    registry._registry.pop("http", None)
    assert "http" not in registry.registry
    assert registry.get_adapter_class("http") is HttpAdapter
    assert registry.registry["http"] is HttpAdapter


def test_registry_view_is_read_only() -> None:
    with pytest.raises(TypeError):
        registry.registry["x"] = Dummy  # type: ignore[index]
    with pytest.raises(TypeError):
        registry.known["x"] = registry.KnownAdapter("a:b")  # type: ignore[index]


def test_register_refuses_to_clobber() -> None:
    registry.register("dummy", Dummy)
    registry.register("dummy", Dummy)  # the same class again is fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register("dummy", Other)
    registry.register("dummy", Other, clobber=True)
    assert registry.get_adapter_class("dummy") is Other


def test_register_checks_name_and_class() -> None:
    with pytest.raises(ValueError, match="lowercase slug"):
        registry.register("Bad Name", Dummy)
    with pytest.raises(TypeError, match="needs a class"):
        registry.register("ok", Dummy())  # type: ignore[arg-type]


def test_unknown_kind_lists_available_names() -> None:
    with pytest.raises(UnknownVendorError) as info:
        registry.get_adapter_class("nope")
    message = str(info.value)
    assert "'nope'" in message
    for name in ("file", "http", "model", "simulator"):
        assert name in message


def test_lazy_string_with_missing_module_gives_install_hint() -> None:
    registry.register_lazy("ghost", "no_such_module_xyz:Ghost", install_hint="pip install ghost")
    assert "ghost" not in registry.registry
    with pytest.raises(ImportError, match="pip install ghost"):
        registry.get_adapter_class("ghost")


def test_lazy_string_is_not_imported_until_used() -> None:
    module = "tests_registry_lazy_probe"
    sys.modules.pop(module, None)
    registry.register_lazy("probe", f"{module}:Probe")
    assert module not in sys.modules


def test_register_lazy_validates_target() -> None:
    with pytest.raises(ValueError, match="module:Class"):
        registry.register_lazy("bad", "no-colon")


def test_entry_point_registers_a_third_party_kind() -> None:
    ep = importlib.metadata.EntryPoint(
        name="acme", value="tests_fake_pkg:AcmeAdapter", group=registry.ENTRY_POINT_GROUP
    )
    registry._process_entry_points([ep])
    assert registry.known["acme"].target == "tests_fake_pkg:AcmeAdapter"
    assert "acme" in registry.available()


def test_entry_point_is_loaded_through_importlib_metadata(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ep = importlib.metadata.EntryPoint(
        name="thirdparty", value=f"{__name__}:Dummy", group=registry.ENTRY_POINT_GROUP
    )
    seen: list[str] = []

    def fake_entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        seen.append(group)
        return [ep]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake_entry_points)
    registry._entry_points_loaded = False
    cls = registry.get_adapter_class("thirdparty")
    assert seen == ["bakeoff.adapters"]
    assert cls.__name__ == "Dummy"


def test_entry_point_cannot_shadow_a_builtin() -> None:
    ep = importlib.metadata.EntryPoint(
        name="http", value="evil:Adapter", group=registry.ENTRY_POINT_GROUP
    )
    registry._process_entry_points([ep])
    assert registry.known["http"].target == "adapters.http:HttpAdapter"


def test_get_adapter_builds_an_instance_with_settings() -> None:
    registry.register("dummy", Dummy)
    adapter = registry.get_adapter("dummy", colour="blue")
    assert isinstance(adapter, Dummy)
    assert adapter.settings == {"colour": "blue"}


def test_get_adapter_refuses_a_non_vendor() -> None:
    class NotAVendor:
        def __init__(self, **_: object) -> None:
            pass

    registry.register("notavendor", NotAVendor)
    with pytest.raises(TypeError, match="LabelingVendor"):
        registry.get_adapter("notavendor")


def test_get_adapter_builds_the_http_kind() -> None:
    adapter = registry.get_adapter("http", vendor="acme", base_url="https://acme.example")
    assert isinstance(adapter, HttpAdapter)
    assert adapter.settings.base_url == "https://acme.example"
