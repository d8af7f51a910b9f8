"""Enumerate the app's HTTP routes with their full path templates.

FastAPI keeps included routers as lazy ``_IncludedRouter`` entries and puts the *original* route
(path without the router prefix) in ``request.scope["route"]``. These helpers recover the full
template (``/bakeoffs/{bakeoff_id}/results``) that :mod:`service.domain.permissions` is keyed by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, compile_path

__all__ = ["RouteInfo", "iter_api_routes", "route_template"]

_iter_route_contexts: Callable[..., Iterator[Any]] | None
try:  # FastAPI >= 0.16x: lazily included routers
    from fastapi.routing import iter_route_contexts as _iter_route_contexts
except ImportError:  # pragma: no cover - older FastAPI flattens routes on include
    _iter_route_contexts = None


@dataclass(frozen=True)
class RouteInfo:
    """One API route: full path template, HTTP methods, and the route object."""

    path: str
    methods: frozenset[str]
    route: APIRoute


def iter_api_routes(app: FastAPI) -> Iterator[RouteInfo]:
    """Every :class:`~fastapi.routing.APIRoute` of ``app`` with its full path template."""
    routes: list[BaseRoute] = list(app.routes)
    if _iter_route_contexts is None:  # pragma: no cover
        for route in routes:
            if isinstance(route, APIRoute):
                yield RouteInfo(route.path, frozenset(route.methods or ()), route)
        return
    for context in _iter_route_contexts(routes):
        original = context.original_route
        if isinstance(original, APIRoute) and context.path is not None:
            yield RouteInfo(context.path, frozenset(context.methods or ()), original)


def route_template(request: Request) -> str:
    """The full path template of the route that matched ``request`` (or the raw path)."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return request.url.path
    app = request.app
    cache: dict[int, list[str]] | None = getattr(app.state, "_route_paths", None)
    if cache is None or id(route) not in cache:
        cache = {}
        for info in iter_api_routes(app):
            cache.setdefault(id(info.route), []).append(info.path)
        app.state._route_paths = cache
    paths = cache.get(id(route), [route.path])
    if len(paths) == 1:
        return paths[0]
    for path in paths:  # the same route included under several prefixes
        regex, _, _ = compile_path(path)
        if regex.match(request.url.path):
            return path
    return route.path
