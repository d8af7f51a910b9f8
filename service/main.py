"""The FastAPI application.

Run it with ``bakeoff serve`` (applies migrations first) or
``uvicorn --factory service.main:create_app``.

Adding a router (other engineers): import it in :func:`_include_routers` with one
``app.include_router(...)`` line, and register each of its routes in
:data:`service.domain.permissions.ROUTE_PERMISSIONS` — the role-walk test fails until you do.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Final

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from service.api.deps import authorize
from service.api.errors import install_error_handlers
from service.api.hardening import csp_nonce, install_hardening
from service.core.config import Settings, get_settings

__all__ = ["create_app", "DOCS_ASSETS"]

_DESCRIPTION = """\
Bakeoff runs labeling-vendor bake-offs: an expert labels a golden set, the same items go (without
gold, under one pinned instructions version) to every candidate vendor, and their labels are scored
against the gold on accuracy, speed and cost.

Authenticate with `X-API-Key: <key>` (or `Authorization: Bearer <key>`). Create the first admin
key with `bakeoff keys create --role admin --name me`.
"""


def _include_routers(app: FastAPI) -> None:
    from service.api.routes import (
        api_keys,
        bakeoffs,
        dispatch,
        file_vendors,
        golden_sets,
        health,
        models,
        projects,
        tasks,
        vendors,
    )

    app.include_router(health.router)
    app.include_router(api_keys.router)
    app.include_router(projects.router)
    app.include_router(golden_sets.router)
    app.include_router(vendors.router)
    app.include_router(models.router)
    app.include_router(bakeoffs.router)
    app.include_router(tasks.router)
    app.include_router(dispatch.router)
    app.include_router(file_vendors.router)
    from service.web import dashboards as web_dashboards  # procurement dashboards (issue 6)

    app.include_router(web_dashboards.router)
    from service.api.routes import deliveries  # production deliveries (issue 15)

    app.include_router(deliveries.router)
    from service.api.routes import delivery_jobs  # flag runs on the workers (issue 15)

    app.include_router(delivery_jobs.router)
    from service.web import deliveries as web_deliveries

    app.include_router(web_deliveries.router)
    from service.web import procurement as web_procurement  # procurement view (issue 15)

    app.include_router(web_procurement.router)
    # QA review (issue 5): API, web sign-in (+ /static), review pages.
    from service.api.routes import review
    from service.web import auth as web_auth
    from service.web import review as web_review

    app.include_router(review.router)
    web_auth.install(app)
    app.include_router(web_review.router)
    # The front door: / and /ui land each role on its page.
    from service.web import home as web_home

    app.include_router(web_home.router)
    # Errors answered to a browser's page request become pages (API clients keep JSON).
    from service.web import errors as web_errors

    web_errors.install(app)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app.

    Parameters
    ----------
    settings
        Defaults to :func:`service.core.config.get_settings`. With ``auto_migrate`` on, the
        database is migrated to the newest schema when the app starts.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.auto_migrate:
            from service.core.migrations import upgrade_head

            upgrade_head(settings.database_url)
        yield

    app = FastAPI(
        title=settings.project_name,
        description=_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
        dependencies=[Depends(authorize)],
        docs_url=None,  # served from this origin below (the defaults load a CDN)
        redoc_url=None,
    )
    install_error_handlers(app)
    install_hardening(app, settings)
    _include_routers(app)
    _install_docs(app)
    return app


DOCS_ASSETS: Final = "/docs-assets"


def _install_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and ``/redoc`` with their scripts served from this origin.

    The pages' CSP allows scripts from ``'self'`` only, so the stock pages (which load
    jsDelivr) stay blank. The assets come from the ``fastapi-offline`` package (Swagger UI 5,
    which reads the OpenAPI 3.1 schema FastAPI writes, and ReDoc); the inline start-up script
    gets the request's CSP nonce. Both are public, like FastAPI's own docs routes.
    """
    assets = resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    def with_nonce(page: HTMLResponse, request: Request) -> HTMLResponse:
        html = bytes(page.body).decode("utf-8")
        html = html.replace("<script>", f'<script nonce="{csp_nonce(request)}">')
        return HTMLResponse(html)

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return with_nonce(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - API docs",
                swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
            ),
            request,
        )

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return with_nonce(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} - API reference",
                redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
                with_google_fonts=False,
            ),
            request,
        )

    app.add_route("/docs", swagger_ui, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
