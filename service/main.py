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

from fastapi import Depends, FastAPI

from service.api.deps import authorize
from service.api.errors import install_error_handlers
from service.api.hardening import install_hardening
from service.core.config import Settings, get_settings

__all__ = ["create_app"]

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
    from service.api.routes import dashboards  # procurement dashboards (issue 6)

    app.include_router(dashboards.router)
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
    )
    install_error_handlers(app)
    install_hardening(app, settings)
    _include_routers(app)
    return app
