"""Shared pieces of the real-browser tests: Chromium, a live server, and a page watcher.

Playwright for Python drives Debian's ``/usr/bin/chromium`` (Playwright's own browser
download cannot work offline); where it is missing, tests skip with a clear reason (fail
under ``CI=true``, see :mod:`tests.needs`).
Screenshots go to :data:`SCREENSHOTS` (git-ignored) for people to look at.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session

from service.core.config import Settings, get_settings
from service.core.db import get_session
from service.main import create_app
from tests.needs import require, require_module

__all__ = [
    "CHROMIUM",
    "SCREENSHOTS",
    "app_on",
    "launch_chromium",
    "offline_page",
    "serve",
    "sign_in",
    "watch_page",
]

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """A headless Chromium browser (Playwright), or :func:`~tests.needs.require` says why not."""
    require("chromium", None if CHROMIUM.exists() else f"{CHROMIUM} is not installed")
    sync_api = require_module("playwright.sync_api", "chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def app_on(engine: Engine, settings: Settings | None = None) -> FastAPI:
    """The app with its sessions bound to ``engine`` (add further overrides as needed)."""
    settings = settings or Settings(
        environment="test", auto_migrate=False, database_url="sqlite://"
    )
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        with Session(engine) as session:
            yield session

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_settings] = lambda: settings
    return app


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn in a thread on a free localhost port; yield its base URL."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def watch_page(page: Any, *, base: str | None = None) -> list[str]:
    """Collect console errors and warnings, page errors and (given ``base``) off-site requests.

    The returned list fills while the page runs; a test asserts it is empty at the end.
    """
    problems: list[str] = []

    def on_console(message: Any) -> None:
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    def on_request(request: Any) -> None:
        if base is not None and not request.url.startswith(base):
            problems.append(f"off-site request: {request.url}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.on("request", on_request)
    return problems


def offline_page(browser: Any, base: str, **context_args: Any) -> tuple[Any, Any, list[str]]:
    """A page on a new context where every request off ``base`` is aborted and reported.

    Returns the context, the page and the list of problems (off-site requests, console errors
    and warnings, page errors) that fills while the page runs.
    """
    context = browser.new_context(**context_args)
    problems: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith((base, "data:")):
            r.continue_()
        else:
            problems.append(f"off-site request: {r.request.url}")
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    problems += watch_page(page)
    return context, page, problems


def sign_in(page: Any, base: str, key: str, then: str) -> None:
    """Sign ``page`` in with the web form using ``key``, and wait until it lands on ``then``."""
    page.goto(f"{base}/ui/login?next={then}")
    page.fill("#api_key", key)
    page.click("#sign-in")
    page.wait_for_url(f"{base}{then}")
