"""The dashboards' run-progress panel over HTTP: counts, blinding, Start run, pending results.

The bake-off page shows per-candidate bars with the progress API's numbers and names
(blinded for ``qa`` exactly as ``GET /bakeoffs/{id}/progress``; procurement sees names),
polls while the run is going, shows a note instead of a report while nothing is labelled,
and offers lead/admin a CSRF-protected "Start run" form on a draft. The browser test
(``test_dashboard_progress_browser.py``) checks that the bars update live.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

import service.models as m
from service.api.routes.dispatch import get_run_queue
from service.domain import bakeoffs, tasks
from service.domain.vendor_labels import add_vendor_labels
from service.web.csrf import CSRF_COOKIE

__all__ = ["Counts", "expected_rows", "label_received", "panel_rows", "set_statuses"]

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HTML = {"Accept": "text/html"}

# Per vendor (seed.vendor_id = "Candidate A", seed.other_vendor_id = "Candidate B"), the status of
# each of its six tasks in item order.
PARTIAL_A: tuple[m.TaskStatus, ...] = ("received", "received", "received", "failed", "sent", "sent")
PARTIAL_B: tuple[m.TaskStatus, ...] = ("received", "timed_out", "sent", "sent", "sent", "pending")

PENDING: tuple[m.TaskStatus, ...] = ("pending",) * 6


@dataclass(frozen=True)
class Counts:
    """One bar's numbers as the panel shows them."""

    name: str
    received: int
    failed: int
    timed_out: int
    open: int
    total: int


def set_statuses(
    session: Session, bakeoff_id: int, vendor_id: int, statuses: tuple[m.TaskStatus, ...]
) -> list[str]:
    """Give the vendor's tasks (item order) these statuses; return the received items' keys."""
    rows, _ = tasks.list_tasks(
        session=session, bakeoff_id=bakeoff_id, vendor_id=vendor_id, limit=1000
    )
    rows.sort(key=lambda t: t.item_key or "")
    if len(rows) != len(statuses):
        raise ValueError(f"vendor {vendor_id} has {len(rows)} tasks, got {len(statuses)} statuses")
    received: list[str] = []
    for task, status in zip(rows, statuses, strict=True):
        data = m.TaskUpdate(status=status)
        if status != "pending":
            data.sent_at = T0
        if status == "received":
            data.completed_at = T0 + timedelta(hours=2)
            data.cost = 0.05
            received.append(task.item_key or "")
        tasks.update_task(session=session, task_id=task.id, data=data)
    return received


def label_received(
    session: Session, bakeoff_id: int, vendor_id: int, keys: list[str], gold: Mapping[str, str]
) -> None:
    """Store the vendor's (correct) labels of the received items."""
    add_vendor_labels(
        session=session,
        bakeoff_id=bakeoff_id,
        vendor_id=vendor_id,
        records=[
            m.VendorLabelCreate(
                item_key=k, value=gold[k], started_at=T0, completed_at=T0 + timedelta(hours=2)
            )
            for k in keys
        ],
    )


def expected_rows(name: str, statuses: tuple[m.TaskStatus, ...]) -> Counts:
    """The bar a vendor with these task statuses gets."""
    return Counts(
        name=name,
        received=statuses.count("received"),
        failed=statuses.count("failed"),
        timed_out=statuses.count("timed_out"),
        open=statuses.count("pending") + statuses.count("sent"),
        total=len(statuses),
    )


def panel_rows(html: str) -> list[Counts]:
    """The bars of the run-progress panel in a page (server-rendered or live DOM)."""
    found = re.search(r'<section class="card" id="run-progress".*?</section>', html, re.S)
    if found is None:
        raise AssertionError("the page has no run-progress panel")
    rows: list[Counts] = []
    for block in re.findall(r'<div class="run-vendor">(.*?)</div>\s*</div>', found.group(0), re.S):
        name = re.search(r'<div class="run-name">([^<]*)', block)
        counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', block))
        if name is None:
            raise AssertionError(f"a bar without a name: {block}")
        rows.append(
            Counts(
                name=name.group(1).strip(),
                received=int(counts["received"]),
                failed=int(counts["failed"]),
                timed_out=int(counts["timed_out"]),
                open=int(counts["open"]),
                total=int(counts["total"]),
            )
        )
    return rows


@pytest.fixture
def running(session: Session, seeded: Any) -> Any:
    """The seeded bake-off running: some tasks received, some sent (nothing labelled yet)."""
    bakeoffs.create_tasks(session=session, bakeoff_id=seeded.bakeoff_id)
    bakeoffs.update_bakeoff(
        session=session, bakeoff_id=seeded.bakeoff_id, data=m.BakeOffUpdate(status="running")
    )
    set_statuses(session, seeded.bakeoff_id, seeded.vendor_id, PARTIAL_A)
    set_statuses(session, seeded.bakeoff_id, seeded.other_vendor_id, PARTIAL_B)
    return seeded


@pytest.fixture
def kicks(client: TestClient) -> Iterator[list[int]]:
    """Bake-offs handed to the (fake) run queue by the Start-run form."""
    kicked: list[int] = []

    class Kicker:
        def kick(self, bakeoff_id: int) -> None:
            kicked.append(bakeoff_id)

    client.app.dependency_overrides[get_run_queue] = lambda: Kicker()  # type: ignore[attr-defined]
    yield kicked


def _page(client: TestClient, bakeoff_id: int, headers: dict[str, str]) -> str:
    r = client.get(f"/ui/dashboards/bakeoffs/{bakeoff_id}?resamples=200", headers=headers)
    assert r.status_code == 200, r.text[:500]
    return r.text


def test_blinded_qa_sees_aliased_bars_with_the_counts(
    client: TestClient, auth: dict[str, dict[str, str]], running: Any
) -> None:
    html = _page(client, running.bakeoff_id, auth["qa"])
    assert panel_rows(html) == [
        expected_rows("Candidate A", PARTIAL_A),
        expected_rows("Candidate B", PARTIAL_B),
    ]
    panel = html.split('id="run-progress"', 1)[1].split("</section>", 1)[0]
    assert "Key Vendor Inc." not in panel and "Other Vendor Ltd." not in panel
    assert 'data-poll="on"' in html
    assert f'data-progress-url="/bakeoffs/{running.bakeoff_id}/progress"' in html
    assert re.search(r'id="run-status">running<', html)
    assert "4/12 received, 1 failed, 1 timed out, 6 open" in html
    # nothing labelled yet: a note, no report of zeros, no plotly, no Start run
    assert "Results appear as labels arrive" in html
    assert 'id="verdict"' not in html and "plotly.min.js" not in html
    assert 'id="start-run"' not in html


@pytest.mark.parametrize("role", ["viewer", "qa", "lead", "admin"])
def test_the_panel_follows_the_progress_api(
    client: TestClient, auth: dict[str, dict[str, str]], running: Any, role: str
) -> None:
    api = client.get(f"/bakeoffs/{running.bakeoff_id}/progress", headers=auth[role]).json()
    rows = panel_rows(_page(client, running.bakeoff_id, auth[role]))
    assert [r.name for r in rows] == [v["name"] for v in api["vendors"]]
    assert [(r.received, r.total) for r in rows] == [
        (v["counts"]["received"], v["total"]) for v in api["vendors"]
    ]
    revealed = role != "qa"
    assert (rows[0].name == "Key Vendor Inc.") is revealed
    assert (rows[1].name == "Other Vendor Ltd.") is revealed


def test_the_page_script_is_local_and_nonced(
    client: TestClient, auth: dict[str, dict[str, str]], running: Any
) -> None:
    r = client.get(f"/ui/dashboards/bakeoffs/{running.bakeoff_id}", headers=auth["viewer"])
    nonce = r.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'<script src="/static/dashboard-progress.js" nonce="{nonce}"></script>' in r.text
    js = client.get("/static/dashboard-progress.js")
    assert js.status_code == 200 and "fetch(url" in js.text
    assert "innerHTML" not in js.text  # vendor names go in as text only
    assert client.get("/static/dashboard-progress.css").status_code == 200


def test_interim_results_once_labels_arrive(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, running: Any
) -> None:
    keys = sorted(running.gold)[:3]  # Candidate A's received items
    label_received(session, running.bakeoff_id, running.vendor_id, keys, running.gold)
    html = _page(client, running.bakeoff_id, auth["viewer"])
    assert "Interim results: 6 of 12 tasks are still open" in html
    assert 'id="verdict"' in html and 'id="ranking"' in html
    assert "Results appear as labels arrive" not in html


def test_a_finished_run_stops_polling_and_shows_the_report(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, running: Any
) -> None:
    done: tuple[m.TaskStatus, ...] = ("received",) * 6
    for vendor_id in (running.vendor_id, running.other_vendor_id):
        keys = set_statuses(session, running.bakeoff_id, vendor_id, done)
        label_received(session, running.bakeoff_id, vendor_id, keys, running.gold)
    bakeoffs.update_bakeoff(
        session=session, bakeoff_id=running.bakeoff_id, data=m.BakeOffUpdate(status="completed")
    )
    html = _page(client, running.bakeoff_id, auth["viewer"])
    assert 'data-poll="off"' in html
    assert panel_rows(html)[0] == expected_rows("Key Vendor Inc.", done)
    assert 'id="verdict"' in html and "Interim results" not in html


def test_report_problems_are_a_note_not_an_error(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, running: Any
) -> None:
    empty = m.GoldenSetVersion(golden_set_id=running.golden_set_id, version=2, note="empty")
    session.add(empty)
    session.commit()
    session.refresh(empty)
    bakeoffs.update_bakeoff(
        session=session,
        bakeoff_id=running.bakeoff_id,
        data=m.BakeOffUpdate(golden_set_version_id=empty.id),
    )
    html = _page(client, running.bakeoff_id, auth["lead"])
    assert "Results cannot be computed yet" in html and "has no gold" in html
    assert len(panel_rows(html)) == 2


def test_index_and_project_pages_summarise_progress(
    client: TestClient, auth: dict[str, dict[str, str]], running: Any
) -> None:
    for path in ("/ui/dashboards", f"/ui/dashboards/projects/{running.project_id}?resamples=200"):
        html = client.get(path, headers=auth["viewer"]).text
        row = re.search(rf'bakeoffs/{running.bakeoff_id}">Q1 animals</a>.*?</tr>', html, re.S)
        assert row is not None, path
        text = re.sub(r"<[^>]+>|\s+", " ", row.group(0))
        assert "running" in text, path
        assert "4/12 received · 1 failed · 1 timed out · 6 open" in re.sub(r"\s+", " ", text)


def test_draft_shows_start_run_to_leads_only(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    lead = _page(client, seeded.bakeoff_id, auth["lead"])
    assert 'id="start-run"' in lead and 'name="csrf_token"' in lead
    assert "No tasks yet" in lead and 'data-poll="off"' in lead
    for role in ("viewer", "qa"):
        assert 'id="start-run"' not in _page(client, seeded.bakeoff_id, auth[role])


def _cookie_post(client: TestClient, url: str, key: str, form: dict[str, str], csrf: str) -> Any:
    return client.post(
        url,
        data=form,
        headers={
            "Cookie": f"bakeoff_api_key={key}; {CSRF_COOKIE}={csrf}",
            "Sec-Fetch-Site": "same-origin",
        },
        follow_redirects=False,
    )


def test_start_run_form_needs_the_csrf_token_and_a_lead(
    client: TestClient,
    api_keys: dict[str, str],
    auth: dict[str, dict[str, str]],
    session: Session,
    seeded: Any,
    kicks: list[int],
) -> None:
    url = f"/ui/dashboards/bakeoffs/{seeded.bakeoff_id}/run"
    tokens: dict[str, str] = {}
    for role in ("lead", "viewer"):
        page = client.get(
            f"/ui/dashboards/bakeoffs/{seeded.bakeoff_id}?resamples=200",
            headers={**HTML, "Cookie": f"bakeoff_api_key={api_keys[role]}"},
        )
        assert page.status_code == 200
        tokens[role] = page.cookies.get(CSRF_COOKIE) or ""
        assert tokens[role]
        client.cookies.clear()
    for form in ({}, {"csrf_token": "forged.token"}):
        refused = _cookie_post(client, url, api_keys["lead"], form, tokens["lead"])
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "csrf_failed"
    viewer = _cookie_post(
        client, url, api_keys["viewer"], {"csrf_token": tokens["viewer"]}, tokens["viewer"]
    )
    assert viewer.status_code == 403
    cross = client.post(
        url,
        data={"csrf_token": tokens["lead"]},
        headers={
            "Cookie": f"bakeoff_api_key={api_keys['lead']}; {CSRF_COOKIE}={tokens['lead']}",
            "Sec-Fetch-Site": "cross-site",
        },
        follow_redirects=False,
    )
    assert cross.status_code == 403 and cross.json()["code"] == "cross_site_request"
    assert kicks == []
    session.expire_all()
    assert bakeoffs.get_bakeoff(session=session, bakeoff_id=seeded.bakeoff_id).status == "draft"

    started = _cookie_post(
        client, url, api_keys["lead"], {"csrf_token": tokens["lead"]}, tokens["lead"]
    )
    assert started.status_code == 303, started.text
    assert started.headers["location"] == f"/ui/dashboards/bakeoffs/{seeded.bakeoff_id}"
    assert kicks == [seeded.bakeoff_id]
    session.expire_all()
    assert bakeoffs.get_bakeoff(session=session, bakeoff_id=seeded.bakeoff_id).status == "running"
    client.cookies.clear()
    html = _page(client, seeded.bakeoff_id, auth["viewer"])
    assert panel_rows(html) == [
        expected_rows("Key Vendor Inc.", PENDING),
        expected_rows("Other Vendor Ltd.", PENDING),
    ]
    assert 'data-poll="on"' in html
