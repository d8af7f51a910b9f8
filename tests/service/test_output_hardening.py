"""Security issue 11, item 11: CSV formulas, one body limit, headers on every response, secure
cookies, local API docs, and a throttle on wrong keys."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from service.api.auth_throttle import FailedAuthThrottle
from service.api.hardening import SECURITY_HEADERS
from service.core.config import Settings, get_settings
from service.core.db import get_session
from service.main import DOCS_ASSETS, create_app
from tests.service.conftest import Seed

Headers = dict[str, dict[str, str]]
FORMULA = "=cmd|' /C calc'!A0"


@contextmanager
def _client_with(engine: Engine, **overrides: Any) -> Iterator[TestClient]:
    """A fresh app (its own throttle state) with these settings, on ``engine``."""
    settings = Settings(
        environment="test", auto_migrate=False, database_url="sqlite://", **overrides
    )
    app = create_app(settings)

    def _session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    app.dependency_overrides[get_session] = _session
    app.dependency_overrides[get_settings] = lambda: settings
    with TestClient(app) as client:
        yield client


def _assert_security_headers(response: Any) -> None:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name) == value, (response.status_code, name)
    assert "content-security-policy" in response.headers


# --------------------------------------------------------------------------- CSV formulas


def test_csv_exports_neutralise_formulas_and_round_trip(
    client: TestClient, auth: Headers, seeded: Seed
) -> None:
    rows = "".join(
        json.dumps({"item_id": k, "label": v, "annotator_id": a}) + "\n"
        for k, v in seeded.gold.items()
        for a in (FORMULA, "@SUM(1+1)*cmd", "-2+3", "plain")
    )
    url = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.other_vendor_id}/labels"
    stored = client.post(f"{url}/import", content=rows, headers=auth["lead"])
    assert stored.status_code == 200, stored.text
    exported = client.get(f"{url}/export", params={"format": "csv"}, headers=auth["lead"])
    assert exported.status_code == 200, exported.text
    cells = [c for row in csv.reader(io.StringIO(exported.text)) for c in row]
    assert "'" + FORMULA in cells and "'@SUM(1+1)*cmd" in cells and "'-2+3" in cells
    dangerous = [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert dangerous == [], dangerous
    # the export reads back to the same annotators
    again = client.post(
        f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels/import?format=csv",
        content=exported.content,
        headers=auth["lead"],
    )
    assert again.status_code == 200, again.text
    labels = client.get(
        f"/bakeoffs/{seeded.bakeoff_id}/labels",
        params={"vendor_id": seeded.vendor_id, "limit": "1000"},
        headers=auth["lead"],
    ).json()["data"]
    assert {lab["annotator_id"] for lab in labels} == {FORMULA, "@SUM(1+1)*cmd", "-2+3", "plain"}


# --------------------------------------------------------------------------- body limit


def test_package_results_have_the_ordinary_body_limit_imports_the_upload_limit(
    engine: Engine, api_keys: dict[str, str], seeded: Seed
) -> None:
    headers = {"X-API-Key": api_keys["lead"]}
    body = b"item_id,label\n" + b"img-1,cat\n" * 300  # 3 KB
    with _client_with(engine, max_body_bytes=2048, max_upload_bytes=1 << 20) as client:
        package = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/package/results"
        refused = client.post(package, content=body, headers=headers)
        assert refused.status_code == 413, refused.text
        assert refused.json()["code"] == "payload_too_large" and "2048" in refused.json()["detail"]
        _assert_security_headers(refused)
        imported = client.post(
            f"/golden-sets/{seeded.golden_set_id}/import?format=csv", content=body, headers=headers
        )
        assert imported.status_code != 413  # bulk imports stream up to max_upload_bytes


# --------------------------------------------------------------------------- headers


def test_every_response_has_the_security_headers(
    client: TestClient, auth: Headers, api_keys: dict[str, str]
) -> None:
    signed_out = client.get("/ui/review", headers={"Accept": "text/html"}, follow_redirects=False)
    assert signed_out.status_code == 303
    _assert_security_headers(signed_out)
    for response in (
        client.get("/health"),
        client.get("/no-such-route"),
        client.get("/projects"),  # 401
        client.get("/projects", headers=auth["viewer"]),
        client.get(f"{DOCS_ASSETS}/swagger-ui.css"),
    ):
        _assert_security_headers(response)


# --------------------------------------------------------------------------- cookies


def _sign_in(client: TestClient, key: str) -> Any:
    page = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token is not None
    # send the CSRF cookie by hand: a Secure one is not sent back over the test's plain http
    cookie = re.search(r"bakeoff_csrf=([^;]+)", page.headers.get("set-cookie", ""))
    headers = {"Cookie": f"bakeoff_csrf={cookie.group(1)}"} if cookie else {}
    return client.post(
        "/ui/login",
        data={"api_key": key, "csrf_token": token.group(1)},
        headers=headers,
        follow_redirects=False,
    )


@pytest.mark.parametrize(("setting", "secure"), [(True, True), (False, False), (None, False)])
def test_cookie_secure_setting_marks_the_sign_in_cookies(
    engine: Engine, api_keys: dict[str, str], setting: bool | None, secure: bool
) -> None:
    with _client_with(engine, cookie_secure=setting) as client:
        page = client.get("/ui/login")
        csrf_cookie = page.headers["set-cookie"].lower()
        assert ("; secure" in csrf_cookie) is secure
        signed_in = _sign_in(client, api_keys["qa"])
        assert signed_in.status_code == 303
        cookies = [v.lower() for k, v in signed_in.headers.multi_items() if k == "set-cookie"]
        session_cookie = next(c for c in cookies if c.startswith("bakeoff_api_key="))
        assert ("; secure" in session_cookie) is secure


# --------------------------------------------------------------------------- docs


def test_api_docs_load_everything_from_this_origin(client: TestClient) -> None:
    for path, asset in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
        page = client.get(path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert sources and all(s.startswith("/") for s in sources), sources
        assert "cdn." not in page.text and "fonts.googleapis" not in page.text
        nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"])
        assert nonce is not None
        inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text)
        assert all(f'nonce="{nonce.group(1)}"' in attrs for attrs in inline)
        assert inline or path == "/redoc"  # Swagger UI starts from an inline script
        script = client.get(f"{DOCS_ASSETS}/{asset}")
        assert script.status_code == 200 and len(script.content) > 100_000
    css = client.get(f"{DOCS_ASSETS}/swagger-ui.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/openapi.json").json()["openapi"].startswith("3.")


def test_swagger_ui_renders_in_a_browser_without_csp_errors(engine: Engine) -> None:
    from tests.live import app_on, launch_chromium, serve, watch_page

    with launch_chromium() as browser, serve(app_on(engine)) as base:
        page = browser.new_page()
        problems = watch_page(page, base=base)
        page.goto(f"{base}/docs")
        page.wait_for_selector(".opblock", timeout=15_000)
        assert page.locator(".opblock").count() > 10
        assert problems == []


# --------------------------------------------------------------------------- throttle


def test_wrong_keys_are_throttled_per_client_with_retry_after(
    engine: Engine, api_keys: dict[str, str]
) -> None:
    with _client_with(engine, auth_failure_limit=3, auth_failure_window_s=60) as client:
        for _ in range(3):
            wrong = client.get("/projects", headers={"X-API-Key": "bko_guess"})
            assert wrong.status_code == 401
        blocked = client.get("/projects", headers={"X-API-Key": "bko_guess"})
        assert blocked.status_code == 429, blocked.text
        assert blocked.json()["code"] == "too_many_failed_auth"
        assert 1 <= int(blocked.headers["Retry-After"]) <= 60
        _assert_security_headers(blocked)
        # even a right key waits: the client is guessing
        assert client.get("/projects", headers={"X-API-Key": api_keys["lead"]}).status_code == 429
        assert client.get("/health").status_code == 200  # no credential: not throttled


def test_failed_sign_in_forms_count_too(engine: Engine, api_keys: dict[str, str]) -> None:
    with _client_with(engine, auth_failure_limit=2, auth_failure_window_s=60) as client:
        assert _sign_in(client, "bko_guess-1").status_code == 400
        assert _sign_in(client, "bko_guess-2").status_code == 400
        assert _sign_in(client, api_keys["qa"]).status_code == 429


def test_right_keys_are_not_counted(engine: Engine, api_keys: dict[str, str]) -> None:
    with _client_with(engine, auth_failure_limit=2, auth_failure_window_s=60) as client:
        for _ in range(10):
            assert client.get("/projects", headers={"X-API-Key": api_keys["lead"]}).is_success


def test_the_throttle_window_slides() -> None:
    now = [1000.0]
    throttle = FailedAuthThrottle(limit=3, window_s=60, clock=lambda: now[0], max_clients=2)
    for _ in range(3):  # failures at 1000, 1010, 1020
        assert throttle.retry_after("a") is None
        throttle.failed("a")
        now[0] += 10
    assert throttle.retry_after("a") == 30  # at 1030: the first leaves the window at 1060
    now[0] = 1060.0
    assert throttle.retry_after("a") is None
    throttle.failed("b")
    throttle.failed("c")  # only two clients are remembered: "a" is forgotten
    throttle.failed("a")
    assert throttle.retry_after("b") is None
    off = FailedAuthThrottle(limit=0, window_s=60)
    for _ in range(100):
        off.failed("x")
    assert off.retry_after("x") is None
