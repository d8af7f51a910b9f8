"""Security: vendor isolation on every GET route, signed callbacks, hashed keys, headers, CSRF.

The isolation walk builds real data first (a detection bake-off with gold, the vendor key's own
labels and another vendor's labels, each carrying unique marker strings) and then calls *every*
GET route of the app with the vendor key and every combination of real ids (its own and the other
vendor's). No response may contain a gold marker, the other vendor's name, annotators, labels or
webhook secret, or an object whose ``vendor_id`` is the other vendor.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select, text
from sqlmodel import Session, SQLModel, col

import service.models as m
from adapters.base import Box
from adapters.http import sign_callback
from adapters.http_protocol import CallbackPayload, ItemResult, WireAnnotation
from service.api.hardening import SECURITY_HEADERS
from service.api.routing import iter_api_routes
from service.core.config import Settings
from service.domain import bakeoffs, deliveries, golden_sets, projects, vendor_labels, vendors
from service.domain.permissions import access_for
from service.web.csrf import (
    CSRF_COOKIE,
    make_csrf_token,
    token_is_valid,
)

Headers = dict[str, dict[str, str]]

GOLD_ANNOTATOR = "GOLD-EXPERT-MARKER-7f3a"
GOLD_BOX = [101.125, 57.375, 33.5, 21.25]
OTHER_NAME = "OTHER-VENDOR-MARKER Ltd."
OTHER_ANNOTATOR = "OTHER-ANNOTATOR-MARKER-c0de"
OTHER_BOX = [222.625, 11.875, 44.5, 55.25]
OTHER_SECRET = "OTHER-WEBHOOK-SECRET-MARKER"
OWN_SECRET = "OWN-WEBHOOK-SECRET-MARKER"
OWN_ANNOTATOR = "own-annotator"
OWN_BOX = [5.0, 6.0, 10.0, 12.0]
GOLD_MARKERS = (GOLD_ANNOTATOR, "101.125", "57.375")
OTHER_MARKERS = (OTHER_NAME, OTHER_ANNOTATOR, "222.625", "11.875", OTHER_SECRET)
SECRET_MARKERS = (OWN_SECRET, OTHER_SECRET)


@dataclass(frozen=True)
class World:
    """Ids of the data the walk substitutes into path templates."""

    project_id: int
    golden_set_id: int
    version: int
    item_ids: tuple[int, ...]
    bakeoff_id: int
    own_vendor_id: int
    other_vendor_id: int
    own_task_ids: tuple[int, ...]
    other_task_ids: tuple[int, ...]
    key_ids: tuple[int, ...]
    delivery_ids: tuple[int, ...] = ()  # the key's vendor's delivery, then the other's


@pytest.fixture
def world(session: Session, key_vendor: m.Vendor, api_keys: dict[str, str]) -> World:
    """A detection bake-off with gold and labels from the key's vendor and one other vendor."""
    del api_keys  # the keys must exist before the walk
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name="sec-streets",
            task_type="detection",
            ontology={"classes": [{"name": "car"}, {"name": "person"}]},
        ),
    )
    assert project.id is not None and key_vendor.id is not None
    instructions = projects.create_instructions(
        session=session,
        project_id=project.id,
        data=m.InstructionsVersionCreate(text="# Box every car"),
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name="sec-gold", project_id=project.id)
    )
    assert golden.id is not None and instructions.id is not None
    keys = ("g-1", "g-2", "g-3")
    items = golden_sets.add_items(
        session=session,
        golden_set_id=golden.id,
        items=[
            m.GoldenItemCreate(key=k, data={"image": f"{k}.png", "width": 640, "height": 480})
            for k in keys
        ],
    )
    version = golden_sets.create_version(session=session, golden_set_id=golden.id)
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[
            m.GoldLabelCreate(
                item_key=k,
                value=[{"category": "car", "bbox": GOLD_BOX}],
                annotator_id=GOLD_ANNOTATOR,
            )
            for k in keys
        ],
    )
    vendors.update_vendor(
        session=session,
        vendor_id=key_vendor.id,
        data=m.VendorUpdate(
            adapter_kind="http",
            adapter_settings={"base_url": "http://own.invalid", "webhook_secret": OWN_SECRET},
        ),
    )
    other = vendors.create_vendor(
        session=session,
        data=m.VendorCreate(
            name=OTHER_NAME,
            adapter_kind="http",
            adapter_settings={"base_url": "http://other.invalid", "webhook_secret": OTHER_SECRET},
        ),
    )
    assert other.id is not None and version.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="sec bake-off",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=[key_vendor.id, other.id],
        ),
    )
    assert bakeoff.id is not None
    bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff.id)
    for vendor_id, annotator, box in (
        (key_vendor.id, OWN_ANNOTATOR, OWN_BOX),
        (other.id, OTHER_ANNOTATOR, OTHER_BOX),
    ):
        vendor_labels.add_vendor_labels(
            session=session,
            bakeoff_id=bakeoff.id,
            vendor_id=vendor_id,
            records=[
                m.VendorLabelCreate(
                    item_key=k, value=[{"category": "car", "bbox": box}], annotator_id=annotator
                )
                for k in keys
            ],
        )
    tasks = (
        session.execute(select(m.Task).where(col(m.Task.bakeoff_id) == bakeoff.id)).scalars().all()
    )
    key_ids = tuple(k.id for k in session.execute(select(m.ApiKey)).scalars() if k.id is not None)
    delivery_ids = tuple(
        deliveries.create_delivery(
            session=session,
            data=m.DeliveryCreate(
                name=f"production for {vendor_id}",
                project_id=project.id,
                vendor_id=vendor_id,
                golden_set_version_id=version.id,
                honeypot_rate=0.5,
                items=[
                    m.DeliveryItemIn(
                        key=f"prod-{i}", data={"image": f"p{i}.png", "width": 640, "height": 480}
                    )
                    for i in range(3)
                ],
                seed=1,
            ),
        ).id
        or 0
        for vendor_id in (key_vendor.id, other.id)
    )
    return World(
        project_id=project.id,
        golden_set_id=golden.id,
        version=version.version,
        item_ids=tuple(i.id for i in items if i.id is not None),
        bakeoff_id=bakeoff.id,
        own_vendor_id=key_vendor.id,
        other_vendor_id=other.id,
        own_task_ids=tuple(t.id for t in tasks if t.vendor_id == key_vendor.id and t.id),
        other_task_ids=tuple(t.id for t in tasks if t.vendor_id == other.id and t.id),
        key_ids=key_ids,
        delivery_ids=delivery_ids,
    )


def _values(world: World) -> dict[str, tuple[int | str, ...]]:
    return {
        "project_id": (world.project_id,),
        "golden_set_id": (world.golden_set_id,),
        "version": (world.version,),
        "item_id": world.item_ids[:1],
        "bakeoff_id": (world.bakeoff_id,),
        "vendor_id": (world.own_vendor_id, world.other_vendor_id),
        "task_id": (*world.own_task_ids[:1], *world.other_task_ids[:1]),
        "key_id": world.key_ids,
        "flag_id": (1,),
        "delivery_id": world.delivery_ids,
        "table": ("ranking", "metrics", "costs"),  # the dashboard's CSV downloads
    }


def _urls(client: TestClient, world: World) -> list[str]:
    """Every GET route with every combination of real ids, plus filtered list queries."""
    values = _values(world)
    urls: list[str] = []
    app = client.app
    assert isinstance(app, FastAPI)
    for info in iter_api_routes(app):
        if "GET" not in info.methods:
            continue
        names = re.findall(r"\{([^}:]+)[^}]*\}", info.path)
        missing = [n for n in names if n not in values]
        assert not missing, f"add ids for {missing} of {info.path} to the security walk"
        for combo in itertools.product(*(values[n] for n in names)):
            url = info.path
            for name, value in zip(names, combo, strict=True):
                url = re.sub(r"\{" + name + r"[^}]*\}", str(value), url)
            urls.append(url)
            if url.endswith("/export"):
                urls.extend(f"{url}?format={f}" for f in ("csv", "coco", "labelstudio"))
    other = world.other_vendor_id
    urls += [
        f"/tasks?vendor_id={other}",
        f"/tasks?bakeoff_id={world.bakeoff_id}&limit=1000",
        f"/bakeoffs?vendor_id={other}",
        f"/bakeoffs/{world.bakeoff_id}/labels?vendor_id={other}",
        f"/bakeoffs/{world.bakeoff_id}/labels?annotator_id={OTHER_ANNOTATOR}",
    ]
    return urls


def _vendor_ids_in(value: Any) -> set[int]:
    """Every ``vendor_id`` value anywhere in a JSON document."""
    found: set[int] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "vendor_id" and isinstance(inner, int):
                found.add(inner)
            found |= _vendor_ids_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found |= _vendor_ids_in(inner)
    return found


def test_vendor_key_never_sees_gold_or_another_vendor_on_any_get_route(
    client: TestClient, auth: Headers, world: World
) -> None:
    urls = _urls(client, world)
    assert len(urls) > 40
    allowed = 0
    for url in urls:
        for headers in (auth["vendor"], {**auth["vendor"], "Accept": "text/html"}):
            response = client.get(url, headers=headers, follow_redirects=False)
            assert response.status_code < 500, f"{url}: {response.status_code} {response.text}"
            body = response.text
            for marker in (*GOLD_MARKERS, *OTHER_MARKERS, OWN_SECRET):
                assert marker not in body, f"{url} leaks {marker!r} to a vendor key: {body[:500]}"
            if response.status_code == 200:
                allowed += 1
                if response.headers.get("content-type", "").startswith("application/json"):
                    leaked = _vendor_ids_in(response.json()) - {world.own_vendor_id}
                    assert not leaked, f"{url} shows vendor ids {leaked} to a vendor key"
    # the walk reached real data: the vendor's own tasks, labels and instructions
    assert allowed >= 8
    own = client.get(
        f"/bakeoffs/{world.bakeoff_id}/vendors/{world.own_vendor_id}/labels/export",
        headers=auth["vendor"],
    )
    assert own.status_code == 200 and OWN_ANNOTATOR in own.text
    # its delivery's batch (with honeypots) is readable; the other vendor's is not
    mine, theirs = world.delivery_ids
    batch = client.get(f"/deliveries/{mine}/batch", headers=auth["vendor"])
    assert batch.status_code == 200 and len(batch.json()["items"]) == 6
    assert client.get(f"/deliveries/{theirs}/batch", headers=auth["vendor"]).status_code == 403


def test_the_markers_are_visible_to_qa_so_the_walk_can_fail(
    client: TestClient, auth: Headers, world: World
) -> None:
    """Guard against a vacuous walk: the same data does show up for a role allowed to see it."""
    gold = client.get(
        f"/golden-sets/{world.golden_set_id}/versions/{world.version}/labels", headers=auth["qa"]
    )
    assert GOLD_ANNOTATOR in gold.text and "101.125" in gold.text
    labels = client.get(
        f"/bakeoffs/{world.bakeoff_id}/labels?vendor_id={world.other_vendor_id}",
        headers=auth["lead"],
    )
    assert OTHER_ANNOTATOR in labels.text


def test_webhook_secrets_are_not_shown_by_the_api(
    client: TestClient, auth: Headers, world: World
) -> None:
    access = access_for("GET", "/vendors")
    readers = sorted(r for r in auth if r != "vendor" and access is not None and r in access)
    assert readers
    for role in readers:
        listed = client.get("/vendors", headers=auth[role])
        assert listed.status_code == 200, listed.text
        assert OTHER_NAME in listed.text
        for secret in SECRET_MARKERS:
            assert secret not in listed.text, f"GET /vendors shows a webhook secret to {role}"
    own = client.get(f"/vendors/{world.own_vendor_id}", headers=auth["vendor"])
    assert own.status_code == 200 and OWN_SECRET not in own.text


# --- callbacks ------------------------------------------------------------------------------


def _label_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(m.VendorLabel)).scalar_one())


def test_callbacks_without_a_valid_signature_are_refused(
    client: TestClient, engine: Engine, world: World, session: Session
) -> None:
    task = m.Task.__table__  # type: ignore[attr-defined]
    session.execute(
        task.update().where(task.c.vendor_id == world.other_vendor_id).values(job_id="batch-1")
    )
    session.commit()
    payload = CallbackPayload(
        job_id="j",
        batch_id="batch-1",
        results=[
            ItemResult(
                item_id="g-1",
                annotations=[
                    WireAnnotation(
                        result_id="forged-1", label=[Box(category="car", bbox=(1, 2, 3, 4))]
                    )
                ],
            )
        ],
    )
    body = payload.model_dump_json().encode()
    before = _label_count(engine)
    url = f"/callbacks/{world.other_vendor_id}"
    signed = sign_callback(OTHER_SECRET, body, delivery_id="d-ok")
    cases = {
        "unsigned": {"Content-Type": "application/json"},
        "wrong secret": sign_callback("not-the-secret", body, delivery_id="d-1"),
        "another vendor's secret": sign_callback(OWN_SECRET, body, delivery_id="d-2"),
        "stale": sign_callback(OTHER_SECRET, body, delivery_id="d-3", timestamp=1_000_000_000),
        "tampered body": signed,
    }
    for name, headers in cases.items():
        content = body.replace(b"forged-1", b"forged-2") if name == "tampered body" else body
        response = client.post(url, content=content, headers=headers)
        assert response.status_code == 401, f"{name}: {response.status_code} {response.text}"
        assert response.json()["code"] == "callback_refused"
    assert _label_count(engine) == before
    accepted = client.post(url, content=body, headers=signed)
    assert accepted.status_code == 200, accepted.text
    assert _label_count(engine) == before + 1


# --- keys ---------------------------------------------------------------------------------


def test_api_keys_are_stored_hashed_and_shown_once(
    client: TestClient, engine: Engine, auth: Headers, api_keys: dict[str, str]
) -> None:
    created = client.post(
        "/api-keys", json={"name": "fresh", "role": "viewer"}, headers=auth["admin"]
    )
    assert created.status_code == 201, created.text
    plaintext = created.json()["key"]
    listed = client.get("/api-keys", headers=auth["admin"])
    assert plaintext not in listed.text and "key_hash" not in listed.text
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM apikey")).mappings().all()
    dump = json.dumps([dict(r) for r in rows], default=str)
    for key in (*api_keys.values(), plaintext):
        assert key not in dump, "an API key is stored in plaintext"
        secret_part = key.removeprefix("bko_")
        assert secret_part not in dump
    assert hashlib.sha256(plaintext.encode()).hexdigest() in dump


# --- headers ------------------------------------------------------------------------------


def _assert_security_headers(response: Any) -> str:
    for name, value in SECURITY_HEADERS:
        assert response.headers.get(name) == value, f"{name} on {response.url}"
    csp = str(response.headers["content-security-policy"])
    assert "frame-ancestors 'none'" in csp
    return csp


def test_security_headers_on_api_responses(client: TestClient, auth: Headers) -> None:
    for response in (
        client.get("/health"),
        client.get("/projects"),  # 401
        client.get("/projects", headers=auth["vendor"]),  # 403
        client.get("/projects/424242", headers=auth["admin"]),  # 404
        client.get("/no/such/route"),
        client.post("/projects", content=b"{", headers=auth["admin"]),  # 422
    ):
        csp = _assert_security_headers(response)
        assert csp.startswith("default-src 'none'"), csp
        assert response.headers["content-type"].startswith("application/json")
    missing = client.get("/no/such/route")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def _script_nonces(html: str) -> list[str | None]:
    scripts = re.findall(r"<script\b([^>]*)>", html)
    out: list[str | None] = []
    for attrs in scripts:
        # data blocks (JSON, the report's packed plotly.js) are never executed: no nonce
        if re.search(r"type=\"application/((ld\+)?json|octet-stream)\"", attrs):
            continue
        nonce = re.search(r"nonce=\"([^\"]+)\"", attrs)
        out.append(nonce.group(1) if nonce else None)
    return out


@pytest.mark.parametrize(
    "path",
    ["/ui/login", "/ui/review", "/ui/dashboards"],
    ids=["login", "review", "dashboards"],
)
def test_security_headers_and_nonced_scripts_on_html_pages(
    client: TestClient, auth: Headers, path: str
) -> None:
    response = client.get(path, headers={**auth["admin"], "Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    csp = _assert_security_headers(response)
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", csp)
    assert nonce is not None, csp
    assert "'unsafe-inline'" not in csp.split("script-src", 1)[1].split(";", 1)[0]
    for found in _script_nonces(response.text):
        assert found == nonce.group(1), f"{path}: a <script> without this response's nonce"
    again = client.get(path, headers={**auth["admin"], "Accept": "text/html"})
    assert again.headers["content-security-policy"] != csp, "the nonce must change per response"


# --- CSRF ---------------------------------------------------------------------------------


def test_cookie_signed_in_cross_site_posts_are_refused(
    client: TestClient, engine: Engine, api_keys: dict[str, str]
) -> None:
    body = {"name": "csrf-victim", "task_type": "classification", "ontology": {"classes": []}}
    cookie = {"Cookie": f"bakeoff_api_key={api_keys['admin']}"}
    with engine.connect() as conn:
        before = int(conn.execute(select(func.count()).select_from(m.Project)).scalar_one())
    for headers in (
        {**cookie, "Sec-Fetch-Site": "cross-site"},
        {**cookie, "Sec-Fetch-Site": "same-site"},
        {**cookie, "Origin": "https://evil.example"},
    ):
        response = client.post("/projects", json=body, headers=headers)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "cross_site_request"
    with engine.connect() as conn:
        after = int(conn.execute(select(func.count()).select_from(m.Project)).scalar_one())
    assert after == before
    same_origin = client.post(
        "/projects", json=body, headers={**cookie, "Sec-Fetch-Site": "same-origin"}
    )
    assert same_origin.status_code == 201, same_origin.text
    # header-authenticated clients (scripts, the Python client) are not affected
    scripted = client.post(
        "/projects",
        json={**body, "name": "scripted"},
        headers={"X-API-Key": api_keys["admin"], "Origin": "https://elsewhere.example"},
    )
    assert scripted.status_code == 201, scripted.text


def test_csrf_tokens_are_signed_and_bound_to_the_sign_in() -> None:
    token = make_csrf_token(secret="s3cret", binding="bko_one")
    assert token_is_valid(token, secret="s3cret", binding="bko_one")
    assert not token_is_valid(token, secret="other", binding="bko_one")
    assert not token_is_valid(token, secret="s3cret", binding="bko_two")
    nonce, _, signature = token.partition(".")
    assert not token_is_valid(f"{nonce}x.{signature}", secret="s3cret", binding="bko_one")
    assert not token_is_valid("garbage", secret="s3cret")


def test_web_form_post_without_csrf_token_is_refused(
    client: TestClient, api_keys: dict[str, str], world: World
) -> None:
    cookies = {"bakeoff_api_key": api_keys["admin"]}
    page = client.get(
        "/ui/review",
        headers={"Accept": "text/html", "Cookie": f"bakeoff_api_key={api_keys['admin']}"},
    )
    assert page.status_code == 200, page.text
    token = page.cookies.get(CSRF_COOKIE)
    assert token
    url = f"/ui/review/bakeoffs/{world.bakeoff_id}/blinding"
    cookie_header = "; ".join(f"{k}={v}" for k, v in {**cookies, CSRF_COOKIE: token}.items())
    for form in ({}, {"csrf_token": "forged.token"}, {"csrf_token": token + "x"}):
        response = client.post(
            url,
            data=form,
            headers={"Cookie": cookie_header, "Sec-Fetch-Site": "same-origin"},
            follow_redirects=False,
        )
        assert response.status_code == 403, f"{form}: {response.status_code} {response.text}"
        assert "csrf" in response.text.lower()


def test_settings_refuse_the_placeholder_secret_in_production() -> None:
    with pytest.raises(ValueError, match="BAKEOFF_SECRET_KEY"):
        Settings(environment="production")
    assert SQLModel.metadata.tables["apikey"].c.key_hash is not None


@pytest.mark.parametrize(
    "path",
    [
        "/ui/dashboards/bakeoffs/{b}",
        "/ui/dashboards/projects/{p}",
        "/ui/review/bakeoffs/{b}",
        "/ui/dashboards/bakeoffs/{b}/report.html?resamples=200",
    ],
    ids=["dashboard", "project-dashboard", "review-queue", "report"],
)
def test_pages_with_data_run_only_nonced_scripts(
    client: TestClient, auth: Headers, world: World, path: str
) -> None:
    url = path.format(b=world.bakeoff_id, p=world.project_id)
    response = client.get(url, headers={**auth["admin"], "Accept": "text/html"})
    assert response.status_code == 200, response.text
    csp = _assert_security_headers(response)
    nonce = re.search(r"script-src 'self' 'nonce-([^']+)'", csp)
    assert nonce is not None, csp
    scripts = _script_nonces(response.text)
    assert scripts, f"{url} has no script: the check would be vacuous"
    assert all(found == nonce.group(1) for found in scripts), f"{url}: un-nonced <script>"
