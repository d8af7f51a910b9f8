"""The one permission table: which role may call which route.

Every HTTP route of the app is looked up here by ``(METHOD, path template)`` — the path exactly as
declared, with its router prefix, e.g. ``("GET", "/bakeoffs/{bakeoff_id}/results")``. A route that
is missing from the table is refused to everyone (HTTP 403, code ``route_not_registered``), and
``tests/service/test_permissions.py`` walks *every* route of the app with *every* role and fails
until the route is registered.

How to register a route (other engineers)
-----------------------------------------
Add one entry to :data:`ROUTE_PERMISSIONS` (keep the sections sorted by resource)::

    ("GET", "/review/queue"): QA_UP,          # admin, lead, qa
    ("POST", "/callbacks/{vendor_id}"): PUBLIC,  # no API key (e.g. HMAC-signed webhooks)

Roles
-----
``admin``  everything.
``lead``   creates projects, golden sets, vendors and bake-offs; sees everything of its projects.
``qa``     reads bake-offs, labels and gold; reviews flags; the results and review pages show
           candidates as "Candidate A/B/..." while a bake-off is blinded.
``viewer`` reads projects, bake-offs, results and dashboards only (no gold, no labels).
``vendor`` a key tied to one vendor: its own tasks and instructions, posts its own labels;
           never gold labels, never other vendors.

This table answers "may this role call this route at all". Object-level rules come next, in
:func:`service.domain.access.check_request_scope` (every id in the path or query against the
key's project scope, vendor and blinding; ``tests/service/test_object_scope.py`` walks every route
with ids in and out of scope) and in the domain functions (ids in bodies, row filters of lists).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal

from service.models import ROLES, Role

__all__ = [
    "PUBLIC",
    "Access",
    "ALL",
    "ADMIN",
    "LEAD_UP",
    "QA_UP",
    "READERS",
    "ROUTE_PERMISSIONS",
    "access_for",
    "is_allowed",
]

PUBLIC: Final = "public"
Access = frozenset[Role] | Literal["public"]

ADMIN: Final[frozenset[Role]] = frozenset({"admin"})
LEAD_UP: Final[frozenset[Role]] = frozenset({"admin", "lead"})
QA_UP: Final[frozenset[Role]] = frozenset({"admin", "lead", "qa"})
READERS: Final[frozenset[Role]] = frozenset({"admin", "lead", "qa", "viewer"})
ALL: Final[frozenset[Role]] = frozenset(ROLES)
_VENDOR_AND_LEAD: Final[frozenset[Role]] = frozenset({"admin", "lead", "vendor"})
_VENDOR_AND_QA: Final[frozenset[Role]] = frozenset({"admin", "lead", "qa", "vendor"})

_TABLE: dict[tuple[str, str], Access] = {
    # --- service
    ("GET", "/health"): PUBLIC,
    # --- API keys
    ("GET", "/api-keys"): ADMIN,
    ("POST", "/api-keys"): ADMIN,
    ("GET", "/api-keys/me"): ALL,
    ("DELETE", "/api-keys/{key_id}"): ADMIN,
    # --- projects
    ("GET", "/projects"): READERS,
    ("POST", "/projects"): LEAD_UP,
    ("GET", "/projects/{project_id}"): ALL,
    ("PATCH", "/projects/{project_id}"): LEAD_UP,
    ("DELETE", "/projects/{project_id}"): ADMIN,
    # --- instructions (vendors read the versions of bake-offs they take part in)
    ("GET", "/projects/{project_id}/instructions"): ALL,
    ("POST", "/projects/{project_id}/instructions"): LEAD_UP,
    ("GET", "/projects/{project_id}/instructions/{version}"): ALL,
    # --- golden sets (gold is never shown to vendors)
    ("GET", "/golden-sets"): QA_UP,
    ("POST", "/golden-sets"): LEAD_UP,
    ("POST", "/golden-sets/import"): LEAD_UP,
    ("GET", "/golden-sets/{golden_set_id}"): QA_UP,
    ("PATCH", "/golden-sets/{golden_set_id}"): LEAD_UP,
    ("DELETE", "/golden-sets/{golden_set_id}"): ADMIN,
    ("GET", "/golden-sets/{golden_set_id}/versions"): QA_UP,
    ("POST", "/golden-sets/{golden_set_id}/versions"): LEAD_UP,
    ("GET", "/golden-sets/{golden_set_id}/versions/{version}"): QA_UP,
    ("GET", "/golden-sets/{golden_set_id}/items"): QA_UP,
    ("POST", "/golden-sets/{golden_set_id}/items"): LEAD_UP,
    ("GET", "/golden-sets/{golden_set_id}/items/{item_id}"): QA_UP,
    ("PATCH", "/golden-sets/{golden_set_id}/items/{item_id}"): LEAD_UP,
    ("GET", "/golden-sets/{golden_set_id}/versions/{version}/labels"): QA_UP,
    ("POST", "/golden-sets/{golden_set_id}/versions/{version}/labels"): LEAD_UP,
    ("POST", "/golden-sets/{golden_set_id}/corrections"): QA_UP,
    ("POST", "/golden-sets/{golden_set_id}/import"): LEAD_UP,
    ("GET", "/golden-sets/{golden_set_id}/versions/{version}/export"): QA_UP,
    # --- vendors (a vendor key sees only its own)
    ("GET", "/vendors"): QA_UP,
    ("POST", "/vendors"): LEAD_UP,
    ("GET", "/vendors/{vendor_id}"): _VENDOR_AND_QA,
    ("PATCH", "/vendors/{vendor_id}"): LEAD_UP,
    ("DELETE", "/vendors/{vendor_id}"): ADMIN,
    # --- model candidates the server's operator registered (names only; see model_registry)
    ("GET", "/models"): LEAD_UP,
    # --- bake-offs
    ("GET", "/bakeoffs"): READERS,
    ("POST", "/bakeoffs"): LEAD_UP,
    ("GET", "/bakeoffs/{bakeoff_id}"): READERS,
    ("PATCH", "/bakeoffs/{bakeoff_id}"): LEAD_UP,
    ("DELETE", "/bakeoffs/{bakeoff_id}"): ADMIN,
    ("POST", "/bakeoffs/{bakeoff_id}/tasks"): LEAD_UP,
    ("GET", "/bakeoffs/{bakeoff_id}/results"): READERS,
    ("GET", "/bakeoffs/{bakeoff_id}/labels"): QA_UP,
    ("POST", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels"): _VENDOR_AND_LEAD,
    ("POST", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/import"): _VENDOR_AND_LEAD,
    ("GET", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/export"): _VENDOR_AND_QA,
    # --- file vendors: a vendor key gets only its own package (service/domain/file_vendors.py)
    ("GET", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/package"): _VENDOR_AND_LEAD,
    ("POST", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/package/results"): _VENDOR_AND_LEAD,
    # --- runs (dispatch) and vendor callbacks (HMAC-signed, no API key)
    ("POST", "/bakeoffs/{bakeoff_id}/run"): LEAD_UP,
    ("GET", "/bakeoffs/{bakeoff_id}/progress"): READERS,
    ("POST", "/bakeoffs/{bakeoff_id}/cancel"): LEAD_UP,
    ("POST", "/callbacks/{vendor_id}"): PUBLIC,
    # --- tasks (a vendor key sees only its own)
    ("GET", "/tasks"): _VENDOR_AND_QA,
    ("GET", "/tasks/{task_id}"): _VENDOR_AND_QA,
    ("PATCH", "/tasks/{task_id}"): LEAD_UP,
    # --- QA review (issue 5): API
    ("POST", "/review/bakeoffs/{bakeoff_id}/flags"): QA_UP,
    ("GET", "/review/bakeoffs/{bakeoff_id}/queue"): QA_UP,
    ("GET", "/review/bakeoffs/{bakeoff_id}/groups"): QA_UP,
    ("GET", "/review/bakeoffs/{bakeoff_id}/stats"): QA_UP,
    ("GET", "/review/bakeoffs/{bakeoff_id}/audit"): QA_UP,
    ("GET", "/review/bakeoffs/{bakeoff_id}/gold-corrections"): QA_UP,
    ("POST", "/review/bakeoffs/{bakeoff_id}/gold-corrections"): LEAD_UP,
    ("PUT", "/review/bakeoffs/{bakeoff_id}/blinding"): LEAD_UP,
    ("GET", "/review/deliveries/{delivery_id}/queue"): QA_UP,
    ("GET", "/review/flags/{flag_id}"): QA_UP,
    ("POST", "/review/flags/{flag_id}/decisions"): QA_UP,
    ("POST", "/review/flags/{flag_id}/undo"): QA_UP,
    # --- production deliveries (issue 15; a vendor key reads only its own batches)
    ("GET", "/deliveries"): READERS,
    ("POST", "/deliveries"): LEAD_UP,
    ("GET", "/deliveries/{delivery_id}"): READERS,
    ("GET", "/deliveries/{delivery_id}/batch"): _VENDOR_AND_LEAD,
    ("POST", "/deliveries/{delivery_id}/labels/import"): _VENDOR_AND_LEAD,
    ("POST", "/deliveries/{delivery_id}/dispatch"): LEAD_UP,
    ("GET", "/deliveries/{delivery_id}/quality"): READERS,
    ("POST", "/deliveries/{delivery_id}/flags"): QA_UP,
    ("GET", "/deliveries/{delivery_id}/flags"): QA_UP,
    ("POST", "/deliveries/{delivery_id}/flags/runs"): QA_UP,
    ("POST", "/deliveries/{delivery_id}/flags/runs/upload"): QA_UP,
    ("GET", "/deliveries/{delivery_id}/flags/runs"): QA_UP,
    ("POST", "/deliveries/{delivery_id}/flags/model"): QA_UP,
    ("POST", "/deliveries/{delivery_id}/audit"): QA_UP,
    ("GET", "/deliveries/{delivery_id}/audit"): QA_UP,
    ("POST", "/deliveries/{delivery_id}/audit/decisions"): QA_UP,
    # --- delivery audit page (service/web/deliveries.py)
    ("GET", "/ui/deliveries/{delivery_id}/audit"): QA_UP,
    ("POST", "/ui/deliveries/{delivery_id}/audit/draw"): QA_UP,
    ("POST", "/ui/deliveries/{delivery_id}/audit/decide"): QA_UP,
    # --- front door (service/web/home.py): redirects by role, or to the sign-in form
    ("GET", "/"): PUBLIC,
    ("GET", "/ui"): PUBLIC,
    # --- web sign-in (service/web/auth.py; any role may sign in)
    ("GET", "/ui/login"): PUBLIC,
    ("POST", "/ui/login"): PUBLIC,
    ("POST", "/ui/logout"): PUBLIC,
    # --- QA review pages (service/web/review.py)
    ("GET", "/ui/review"): QA_UP,
    ("GET", "/ui/review/bakeoffs/{bakeoff_id}"): QA_UP,
    ("GET", "/ui/review/deliveries/{delivery_id}"): QA_UP,
    ("GET", "/ui/review/flags/{flag_id}"): QA_UP,
    ("POST", "/ui/review/flags/{flag_id}/delivery-decision"): QA_UP,
    ("POST", "/ui/review/flags/{flag_id}/decide"): QA_UP,
    ("POST", "/ui/review/flags/{flag_id}/undo"): QA_UP,
    ("POST", "/ui/review/bakeoffs/{bakeoff_id}/flags"): QA_UP,
    ("POST", "/ui/review/bakeoffs/{bakeoff_id}/gold-corrections"): LEAD_UP,
    ("POST", "/ui/review/bakeoffs/{bakeoff_id}/blinding"): LEAD_UP,
    # --- dashboards (service/web/dashboards.py; viewers read them)
    ("GET", "/ui/dashboards"): READERS,
    ("GET", "/ui/dashboards/projects/{project_id}"): READERS,
    ("GET", "/ui/dashboards/projects/{project_id}/deliveries"): READERS,
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}"): READERS,
    ("POST", "/ui/dashboards/bakeoffs/{bakeoff_id}/run"): LEAD_UP,
    ("POST", "/ui/dashboards/bakeoffs/{bakeoff_id}/cancel"): LEAD_UP,
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}/export/{table}.csv"): READERS,
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}/export.xlsx"): READERS,
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}/report.html"): READERS,
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}/report.json"): READERS,
    ("GET", "/ui/dashboards/assets/plotly.min.js"): PUBLIC,
}

ROUTE_PERMISSIONS: Final[Mapping[tuple[str, str], Access]] = MappingProxyType(_TABLE)


def access_for(method: str, path: str) -> Access | None:
    """The roles allowed on ``METHOD path`` (``"public"`` for no key); ``None`` if unregistered."""
    return ROUTE_PERMISSIONS.get((method.upper(), path))


def is_allowed(role: Role | None, method: str, path: str) -> bool:
    """Whether ``role`` (``None``: no key) may call ``METHOD path`` at all."""
    access = access_for(method, path)
    if access is None:
        return False
    if access == PUBLIC:
        return True
    return role is not None and role in access
