"""Browser pages live in ``service/web`` with one template root and one static folder;
``service/api`` answers JSON only (STYLE.md §8)."""

from __future__ import annotations

from pathlib import Path

from fastapi.responses import HTMLResponse
from fastapi.testclient import TestClient

from service.api.routing import iter_api_routes

SERVICE = Path(__file__).resolve().parents[2] / "service"


def test_one_template_root_and_one_static_folder() -> None:
    templates = sorted(p.relative_to(SERVICE) for p in SERVICE.rglob("templates") if p.is_dir())
    static = sorted(p.relative_to(SERVICE) for p in SERVICE.rglob("static") if p.is_dir())
    assert templates == [Path("web/templates")]
    assert static == [Path("web/static")]


def test_pages_are_served_from_web_and_api_answers_json(client: TestClient) -> None:
    routes = list(iter_api_routes(client.app))  # type: ignore[arg-type]
    ui = [r for r in routes if r.path == "/ui" or r.path.startswith("/ui/")]
    assert len(ui) > 20  # the pages are really there
    misplaced = [r.path for r in ui if not r.route.endpoint.__module__.startswith("service.web.")]
    assert misplaced == []
    api = [r for r in routes if r.route.endpoint.__module__.startswith("service.api.")]
    assert len(api) > 50
    html = [r.path for r in api if r.route.response_class is HTMLResponse or "/ui" in r.path]
    assert html == []
