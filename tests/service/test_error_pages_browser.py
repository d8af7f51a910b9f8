"""Error pages and the brand link in a real headless Chromium, for each role.

Each role signs in through the form, follows the brand link (it must land on that role's own
page, never a 403), then opens a page it may not see (403) or that does not exist (404): the
browser shows an HTML page with the status, the server's message and a link back to the
role's start page, which works. No console errors, no off-site requests. Screenshots go to
``artifacts/screenshots/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from service.web.home import LANDING
from tests.live import SCREENSHOTS, app_on, serve, watch_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def server(engine: Engine) -> Iterator[str]:
    """The app on a free local port, bound to the test database."""
    with serve(app_on(engine)) as url:
        yield url


# role, a page that role may not open or that does not exist, its status and heading
CASES = [
    ("viewer", "/ui/review", 403, "Not allowed"),
    ("qa", "/ui/review/bakeoffs/424242", 404, "Not found"),
    ("lead", "/ui/no-such-page", 404, "Not found"),
    ("admin", "/ui/dashboards/bakeoffs/424242", 404, "Not found"),
    ("vendor", "/ui/review", 403, "Not allowed"),
]


@pytest.mark.parametrize(("role", "path", "status", "title"), CASES, ids=[c[0] for c in CASES])
def test_error_pages_and_brand_link_per_role(
    browser: Any,
    server: str,
    api_keys: dict[str, str],
    role: str,
    path: str,
    status: int,
    title: str,
) -> None:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    problems = watch_page(page, base=server)
    failed: list[str] = []
    page.on("response", lambda r: failed.append(r.url) if r.status >= 400 else None)
    home = LANDING[role]  # type: ignore[index]

    page.goto(f"{server}/ui")
    assert "/ui/login" in page.url
    page.fill("#api_key", api_keys[role])
    page.click("#sign-in")
    page.wait_for_url(f"**{home}")

    if role != "vendor":  # a vendor lands on the API docs, which have no brand link
        page.click("a.brand")
        page.wait_for_load_state()
        assert page.url.endswith(home), page.url
        assert page.locator("#error-page").count() == 0

    answer = page.goto(f"{server}{path}")
    assert answer is not None and answer.status == status
    assert answer.headers["content-type"].startswith("text/html")
    assert page.locator("h1").inner_text() == title
    assert page.locator("#error-page").get_attribute("data-status") == str(status)
    if status == 403:
        assert f"role '{role}' may not" in page.locator("#error-message").inner_text()
        assert page.locator("#error-sign-in").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"error-{status}-{role}.png"), full_page=True)

    page.click("#error-home")
    page.wait_for_url(f"**{home}")
    if role != "vendor":
        page.click("a.brand")  # from the role's own page the brand link stays home
        page.wait_for_url(f"**{home}")
    context.close()
    # The only failed load is the error page itself (its stylesheet and everything else load);
    # Chromium reports that status on the console, which is the one expected message.
    assert failed == [f"{server}{path}"]
    expected = (
        f"console error: Failed to load resource: the server responded with a status of {status}"
    )
    assert [p for p in problems if not p.startswith(expected)] == []
    assert len(problems) == 1
