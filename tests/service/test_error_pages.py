"""Errors are pages for browsers and JSON for API clients; the brand link lands each role home."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.api.deps import API_KEY_COOKIE
from service.web.errors import wants_html

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.mark.parametrize(
    ("role", "path", "status", "title"),
    [
        ("viewer", "/ui/review", 403, "Not allowed"),
        ("vendor", "/ui/dashboards", 403, "Not allowed"),
        ("qa", "/ui/review/bakeoffs/999999", 404, "Not found"),
        ("viewer", "/ui/dashboards/bakeoffs/999999", 404, "Not found"),
        ("admin", "/ui/no-such-page", 404, "Not found"),
        ("viewer", "/bakeoffs/999999", 404, "Not found"),
    ],
    ids=["viewer-review", "vendor-dashboards", "qa-flag", "viewer-bakeoff", "route", "api-path"],
)
def test_a_browser_gets_an_error_page_with_the_same_status(
    client: TestClient, api_keys: dict[str, str], role: str, path: str, status: int, title: str
) -> None:
    client.cookies.set(API_KEY_COOKIE, api_keys[role])
    page = client.get(path, headers=BROWSER)
    assert page.status_code == status
    assert page.headers["content-type"].startswith("text/html")
    assert f"<h1>{title}</h1>" in page.text
    assert 'href="/ui" id="error-home"' in page.text  # the way on: the role's start page
    assert '"detail"' not in page.text  # not the JSON
    if status == 403:
        assert f"role &#39;{role}&#39; may not" in page.text  # the server's message, escaped
        assert 'id="error-sign-in"' in page.text
    # the page's security headers survive
    assert "content-security-policy" in {k.lower() for k in page.headers}


@pytest.mark.parametrize("accept", ["application/json", "*/*", ""], ids=["json", "any", "none"])
def test_api_clients_keep_json(client: TestClient, api_keys: dict[str, str], accept: str) -> None:
    client.cookies.set(API_KEY_COOKIE, api_keys["viewer"])
    headers = {"Accept": accept} if accept else {}
    for path, status in (("/ui/review", 403), ("/bakeoffs/999999", 404), ("/nope", 404)):
        answer = client.get(path, headers=headers)
        assert answer.status_code == status
        assert answer.headers["content-type"].startswith("application/json")
        assert isinstance(answer.json()["detail"], str)


def test_validation_errors_are_pages_too(client: TestClient, api_keys: dict[str, str]) -> None:
    client.cookies.set(API_KEY_COOKIE, api_keys["qa"])
    page = client.get("/ui/review/flags/not-a-number", headers=BROWSER)
    assert page.status_code == 422
    assert "<h1>Something in the request is wrong</h1>" in page.text
    assert re.search(r"flag_id: .+", page.text)


def test_signed_out_pages_still_go_to_the_sign_in_form(client: TestClient) -> None:
    answer = client.get("/ui/review", headers=BROWSER, follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login?next=")


def test_the_brand_link_goes_to_the_front_door(
    client: TestClient, api_keys: dict[str, str]
) -> None:
    client.cookies.set(API_KEY_COOKIE, api_keys["viewer"])
    page = client.get("/ui/dashboards", headers=BROWSER)
    assert page.status_code == 200
    assert '<a class="brand" href="/ui">' in page.text


def test_wants_html() -> None:
    assert wants_html(BROWSER["Accept"])
    assert not wants_html("application/json, text/html")
    assert not wants_html("*/*")
