"""Walk every route of the app with every role and check it against the permission table.

Routes added later by anyone are picked up automatically: a route missing from
``service.domain.permissions.ROUTE_PERMISSIONS`` fails here with a message saying so.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.api.routing import RouteInfo, iter_api_routes
from service.core.config import Settings
from service.domain.permissions import PUBLIC, ROUTE_PERMISSIONS, access_for
from service.main import create_app
from service.models import ROLES

_APP = create_app(Settings(environment="test", auto_migrate=False, database_url="sqlite://"))
_ROUTES: list[tuple[str, RouteInfo]] = sorted(
    ((method, info) for info in iter_api_routes(_APP) for method in info.methods),
    key=lambda mi: (mi[1].path, mi[0]),
)
_MISSING_ID = "999999"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", _MISSING_ID, path)


def test_the_app_has_routes() -> None:
    assert len(_ROUTES) >= 5


def test_every_table_entry_is_a_real_route() -> None:
    real = {(method, info.path) for method, info in _ROUTES}
    stale = sorted(set(ROUTE_PERMISSIONS) - real)
    assert not stale, f"permission table names routes the app does not have: {stale}"


def _own_refusal(response: Any) -> bool:  # a TestClient response
    """A public route refusing its own credentials (a callback's signature), not the gate."""
    return bool(response.status_code == 401 and response.json().get("code") == "callback_refused")


@pytest.mark.parametrize(("method", "info"), _ROUTES, ids=[f"{m} {i.path}" for m, i in _ROUTES])
def test_route_allows_exactly_the_roles_in_the_table(
    client: TestClient, auth: dict[str, dict[str, str]], method: str, info: RouteInfo
) -> None:
    access = access_for(method, info.path)
    assert access is not None, (
        f"{method} {info.path} is not registered: add it to ROUTE_PERMISSIONS in "
        "service/domain/permissions.py"
    )
    url = _concrete(info.path)
    body: dict[str, object] | None = {} if method in {"POST", "PUT", "PATCH"} else None

    anonymous = client.request(method, url, json=body)
    if access == PUBLIC:  # it may refuse its own credentials (a callback's signature)
        assert anonymous.status_code not in (401, 403) or _own_refusal(anonymous), anonymous.text
    else:
        assert anonymous.status_code == 401, f"no key: {anonymous.status_code} {anonymous.text}"

    for role in ROLES:
        response = client.request(method, url, json=body, headers=auth[role])
        code = response.json().get("code") if response.status_code == 403 else None
        allowed = access == PUBLIC or role in access
        assert response.status_code < 500, f"{role}: {response.status_code} {response.text}"
        if allowed:
            assert response.status_code != 401 or _own_refusal(response), f"{role}: {response.text}"
            assert code != "role_forbidden", f"{role} should be allowed: {response.text}"
        else:
            assert response.status_code == 403 and code == "role_forbidden", (
                f"{role} should be refused {method} {info.path}: "
                f"{response.status_code} {response.text}"
            )


def test_revoked_and_unknown_keys_are_refused(
    client: TestClient, auth: dict[str, dict[str, str]]
) -> None:
    assert client.get("/api-keys/me", headers={"X-API-Key": "bko_nope"}).status_code == 401
    me = client.get("/api-keys/me", headers=auth["viewer"]).json()
    revoked = client.delete(f"/api-keys/{me['id']}", headers=auth["admin"])
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    response = client.get("/api-keys/me", headers=auth["viewer"])
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_bearer_header_is_accepted(client: TestClient, api_keys: dict[str, str]) -> None:
    response = client.get("/api-keys/me", headers={"Authorization": f"Bearer {api_keys['qa']}"})
    assert response.status_code == 200
    assert response.json()["role"] == "qa"
