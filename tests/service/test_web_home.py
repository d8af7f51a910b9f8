"""``/`` and ``/ui`` send each role to its page, and strangers to the sign-in form."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from service.api.deps import API_KEY_COOKIE
from service.models import Role
from service.web.home import LANDING


def test_root_goes_to_the_front_door(client: TestClient) -> None:
    answer = client.get("/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui"


def test_not_signed_in_goes_to_the_sign_in_form(client: TestClient) -> None:
    answer = client.get("/ui", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/login?next=/ui"


def test_a_revoked_or_unknown_key_goes_to_the_sign_in_form(client: TestClient) -> None:
    client.cookies.set(API_KEY_COOKIE, "bko_not-a-real-key")
    answer = client.get("/ui", follow_redirects=False)
    assert answer.headers["location"].startswith("/ui/login")


@pytest.mark.parametrize("role", ["admin", "lead", "qa", "viewer", "vendor"])
def test_each_role_lands_on_its_page(
    client: TestClient, api_keys: dict[str, str], role: Role
) -> None:
    client.cookies.set(API_KEY_COOKIE, api_keys[role])
    answer = client.get("/ui", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == LANDING[role]
    landed = client.get(LANDING[role])
    assert landed.status_code == 200, landed.text[:300]
