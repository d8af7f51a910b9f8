"""Issue 11, items 5, 6, 7 and 9: vendor secrets, callbacks, endpoints and vendor clocks.

- 5: an unauthenticated callback learns nothing about the vendor, and no settings error
  echoes a setting's value;
- 6: a callback signing secret has at least 16 characters; a vendor without one gets none;
- 7: redirecting a vendor drops its stored secrets, a project-scoped key cannot change a
  vendor other projects use, and task errors are short and carry no vendor answer;
- 9: every route that takes vendor labels checks their times against the send time and the
  server clock, and a vendor sees an item only once it was sent;
- masking: nested and oddly named secrets are masked when a vendor is read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, func, select

import service.models as m
from adapters import registry
from adapters.base import Batch, JobStatus, VendorAnnotation, VendorJob, VendorRejected
from adapters.http import sign_callback
from adapters.http_protocol import CallbackPayload, ItemResult, WireAnnotation
from service.domain import api_keys, bakeoffs, dispatch, golden_sets, projects, vendors
from service.domain.dispatch_results import LAST_ERROR_MAX
from tests.service.conftest import Seed

SECRET = "0123456789abcdef-webhook"
TOPSECRET = "TOPSECRET-B-0123456789"
BATCH = "batch-under-test"
Headers = dict[str, dict[str, str]]


@dataclass(frozen=True)
class Hooked:
    """A bake-off of the seeded project with one ``http`` candidate whose items were sent."""

    bakeoff_id: int
    vendor_id: int
    sent_at: datetime


def _task_table() -> Any:
    return m.Task.__table__  # type: ignore[attr-defined]


def _hooked(session: Session, seeded: Seed, settings: dict[str, Any], name: str) -> Hooked:
    vendor = vendors.create_vendor(
        session=session,
        data=m.VendorCreate(name=name, adapter_kind="http", adapter_settings=settings),
    )
    assert vendor.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name=f"{name} run",
            project_id=seeded.project_id,
            golden_set_version_id=seeded.version_id,
            instructions_version_id=seeded.instructions_id,
            vendor_ids=[vendor.id],
        ),
    )
    assert bakeoff.id is not None
    bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff.id)
    sent_at = datetime.now(UTC) - timedelta(hours=1)
    task = _task_table()
    session.execute(
        task.update()
        .where(task.c.bakeoff_id == bakeoff.id)
        .values(job_id=BATCH, status="sent", sent_at=sent_at)
    )
    session.commit()
    return Hooked(bakeoff.id, vendor.id, sent_at)


def _store_raw_settings(session: Session, vendor_id: int, settings: dict[str, Any]) -> None:
    """Settings as an older version (or a direct database edit) may have stored them."""
    vendor = session.get(m.Vendor, vendor_id)
    assert vendor is not None
    vendor.adapter_settings = settings
    session.add(vendor)
    session.commit()
    dispatch.forget_adapters()


def _callback(
    client: TestClient,
    vendor_id: int,
    *,
    secret: str = SECRET,
    delivery: str = "d-1",
    annotation: dict[str, Any] | None = None,
) -> Any:
    payload = CallbackPayload(
        job_id="j",
        batch_id=BATCH,
        results=[
            ItemResult(
                item_id="img-1",
                annotations=[
                    WireAnnotation.model_validate(
                        {"result_id": f"r-{delivery}", "label": "cat", **(annotation or {})}
                    )
                ],
            )
        ],
    )
    body = payload.model_dump_json().encode()
    headers = sign_callback(secret, body, delivery_id=delivery)
    return client.post(f"/callbacks/{vendor_id}", content=body, headers=headers)


def _labels(session: Session, bakeoff_id: int) -> int:
    session.expire_all()
    return int(
        session.exec(
            select(func.count())
            .select_from(m.VendorLabel)
            .where(col(m.VendorLabel.bakeoff_id) == bakeoff_id)
        ).one()
    )


@pytest.fixture(autouse=True)
def _fresh_adapters() -> Iterator[None]:
    dispatch.forget_adapters()
    yield
    dispatch.forget_adapters()


# --------------------------------------------------------------------------- item 5


def test_callback_refusals_say_nothing_about_the_vendor(
    client: TestClient, session: Session, seeded: Seed
) -> None:
    good = _hooked(session, seeded, {"base_url": "http://a.invalid", "webhook_secret": SECRET}, "A")
    bare = _hooked(session, seeded, {"base_url": "http://b.invalid"}, "Bare Vendor Name")
    broken = _hooked(
        session, seeded, {"base_url": "http://c.invalid", "webhook_secret": SECRET}, "Broken Co"
    )
    _store_raw_settings(
        session,
        broken.vendor_id,
        {"base_url": "http://c.invalid", "webhook_secret": SECRET, "timeout_s": TOPSECRET},
    )
    answers = {
        "unknown vendor": _callback(client, 987654),
        "no webhook secret": _callback(client, bare.vendor_id),
        "malformed settings": _callback(client, broken.vendor_id),
        "wrong signature": _callback(client, good.vendor_id, secret="not-the-secret-0123456"),
    }
    bodies = set()
    for case, answer in answers.items():
        assert answer.status_code == 401, (case, answer.text)
        for leak in ("Bare Vendor Name", "Broken Co", TOPSECRET, "timeout_s", "no webhook"):
            assert leak not in answer.text, (case, answer.text)
        bodies.add(answer.text)
    assert len(bodies) == 1, "the answers differ, so they tell the cases apart"
    assert _labels(session, broken.bakeoff_id) == 0


def test_adapter_settings_errors_never_echo_values(session: Session, seeded: Seed) -> None:
    hooked = _hooked(session, seeded, {"base_url": "http://x.invalid"}, "Leaky Settings")
    _store_raw_settings(
        session,
        hooked.vendor_id,
        {"base_url": "http://x.invalid", "api_key": {"nested": TOPSECRET}, "timeout_s": TOPSECRET},
    )
    bakeoff = session.get(m.BakeOff, hooked.bakeoff_id)
    assert bakeoff is not None
    bakeoff.status = "running"
    session.add(bakeoff)
    session.commit()
    dispatch.tick(session=session, bakeoff_id=hooked.bakeoff_id, force_poll=True)
    errors = {t.last_error for t in _tasks(session, hooked.bakeoff_id)}
    (error,) = errors
    assert error is not None and "timeout_s" in error and "api_key" in error
    assert TOPSECRET not in error and "input_value" not in error


def _tasks(session: Session, bakeoff_id: int) -> list[m.Task]:
    session.expire_all()
    return list(session.exec(select(m.Task).where(m.Task.bakeoff_id == bakeoff_id)).all())


# --------------------------------------------------------------------------- item 6


@pytest.mark.parametrize(
    "adapter_settings",
    [
        {"base_url": "http://x", "webhook_secret": ""},
        {"base_url": "http://x", "webhook_secret": "s3cret"},
        {"base_url": "http://x", "webhook_secret": "x" * 15},
        {"base_url": "http://x", "webhook_secret": 1234567890123456789},
        {"base_url": "http://x", "hooks": {"signing_key": "short"}},
    ],
    ids=["empty", "short", "15-chars", "not-text", "nested-signing-key"],
)
def test_short_signing_secrets_are_refused_on_create_and_update(
    client: TestClient, auth: Headers, adapter_settings: dict[str, Any], rich_kind: str
) -> None:
    body = {"name": "Weak Secret", "adapter_kind": rich_kind, "adapter_settings": adapter_settings}
    created = client.post("/vendors", json=body, headers=auth["lead"])
    assert created.status_code == 422, created.text
    assert "16 characters" in created.text
    for value in ("s3cret", "x" * 15, "short"):
        assert f"'{value}'" not in created.text and f'"{value}"' not in created.text
    fine = {"base_url": "http://x", "webhook_secret": "y" * 16}
    ok = client.post("/vendors", json={**body, "adapter_settings": fine}, headers=auth["lead"])
    assert ok.status_code == 201, ok.text
    patched = client.patch(
        f"/vendors/{ok.json()['id']}",
        json={"adapter_settings": adapter_settings},
        headers=auth["lead"],
    )
    assert patched.status_code == 422, patched.text


def test_a_stored_empty_secret_receives_no_callbacks(
    client: TestClient, session: Session, seeded: Seed
) -> None:
    hooked = _hooked(session, seeded, {"base_url": "http://x.invalid"}, "Empty Secret")
    _store_raw_settings(session, hooked.vendor_id, {"base_url": "http://x", "webhook_secret": ""})
    answer = _callback(client, hooked.vendor_id, secret="")
    assert answer.status_code == 401, answer.text
    assert _labels(session, hooked.bakeoff_id) == 0


# --------------------------------------------------------------------------- masking


class _Rich:
    """A third-party kind with settings of every shape (nested, oddly named, extra URLs)."""

    kind = "rich"
    supported_tasks = frozenset({"classification"})
    api_settings = frozenset(
        {
            "base_url",
            "api_key",
            "webhook_secret",
            "auth",
            "signing_key",
            "private_key",
            "headers",
            "token_kind",
            "timeout_s",
            "hooks",
            "proxy",
        }
    )

    def __init__(self, vendor: str, **_settings: Any) -> None:  # pragma: no cover - unused
        self.name = vendor


@pytest.fixture
def rich_kind() -> Iterator[str]:
    """The kind's name, registered for the test (its API settings allow these shapes)."""
    registry.register("rich", _Rich, clobber=True)
    yield "rich"
    registry._registry.pop("rich", None)


def test_nested_and_oddly_named_secrets_are_masked_and_kept(
    client: TestClient, auth: Headers, session: Session, rich_kind: str
) -> None:
    settings = {
        "base_url": "https://vendor.example",
        "auth": {"username": "bot", "password": "PW-MARKER-1"},
        "signing_key": "SIGNING-MARKER-0123456789",
        "private_key": "PRIVATE-MARKER",
        "headers": {"X-Api-Key": "HEADER-MARKER"},
        "token_kind": "legacy",
        "timeout_s": 5,
    }
    created = client.post(
        "/vendors",
        json={"name": "Nested Secrets", "adapter_kind": rich_kind, "adapter_settings": settings},
        headers=auth["lead"],
    )
    assert created.status_code == 201, created.text
    for role in ("admin", "lead", "qa"):
        read = client.get(f"/vendors/{created.json()['id']}", headers=auth[role])
        assert "MARKER" not in read.text, (role, read.text)
        shown = read.json()["adapter_settings"]
        assert shown["auth"]["password"] == m.REDACTED
        assert shown["signing_key"] == m.REDACTED and shown["private_key"] == m.REDACTED
        assert shown["headers"]["X-Api-Key"] == m.REDACTED
        assert shown["token_kind"] == "legacy" and shown["timeout_s"] == 5
        assert shown["base_url"] == "https://vendor.example"
    # sending what was read back (same endpoint) keeps every secret, at every depth
    back = client.patch(
        f"/vendors/{created.json()['id']}",
        json={"adapter_settings": {**shown, "timeout_s": 7}},
        headers=auth["lead"],
    )
    assert back.status_code == 200, back.text
    stored = session.get(m.Vendor, created.json()["id"])
    assert stored is not None
    session.refresh(stored)
    assert stored.adapter_settings == {**settings, "timeout_s": 7}


# --------------------------------------------------------------------------- item 7


def _secret_vendor(client: TestClient, auth: Headers, name: str, kind: str = "http") -> int:
    created = client.post(
        "/vendors",
        json={
            "name": name,
            "adapter_kind": kind,
            "adapter_settings": {
                "base_url": "https://real-vendor.example",
                "api_key": "BEARER-MARKER",
                "webhook_secret": SECRET,
            },
        },
        headers=auth["lead"],
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


@pytest.mark.parametrize(
    "change",
    [
        {"base_url": "https://attacker.example"},
        {"base_url": "https://real-vendor.example", "proxy": "http://attacker.example:3128"},
    ],
    ids=["base_url", "new-url-setting"],
)
def test_redirecting_a_vendor_drops_its_secrets(
    client: TestClient, auth: Headers, session: Session, change: dict[str, Any], rich_kind: str
) -> None:
    vendor_id = _secret_vendor(client, auth, "Redirected", rich_kind)
    shown = client.get(f"/vendors/{vendor_id}", headers=auth["lead"]).json()["adapter_settings"]
    moved = client.patch(
        f"/vendors/{vendor_id}",
        json={"adapter_settings": {**shown, **change}},
        headers=auth["lead"],
    )
    assert moved.status_code == 200, moved.text
    stored = session.get(m.Vendor, vendor_id)
    assert stored is not None
    session.refresh(stored)
    assert "api_key" not in stored.adapter_settings
    assert "webhook_secret" not in stored.adapter_settings
    assert "BEARER-MARKER" not in json.dumps(stored.adapter_settings)
    # whoever sends the secrets again in the same request keeps them
    again = client.patch(
        f"/vendors/{vendor_id}",
        json={
            "adapter_settings": {
                **shown,
                **change,
                "base_url": "https://third.example",
                "api_key": "NEW-BEARER",
            }
        },
        headers=auth["lead"],
    )
    assert again.status_code == 200, again.text
    session.refresh(stored)
    assert stored.adapter_settings["api_key"] == "NEW-BEARER"


def test_another_adapter_kind_does_not_inherit_secrets(
    client: TestClient, auth: Headers, session: Session
) -> None:
    vendor_id = _secret_vendor(client, auth, "Kind Changer")
    answer = client.patch(
        f"/vendors/{vendor_id}", json={"adapter_kind": "simulator"}, headers=auth["lead"]
    )
    assert answer.status_code == 200, answer.text
    stored = session.get(m.Vendor, vendor_id)
    assert stored is not None
    session.refresh(stored)
    assert stored.adapter_settings == {"base_url": "https://real-vendor.example"}


def _bakeoff_in_new_project(session: Session, vendor_id: int, name: str) -> int:
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name=name, task_type="classification", ontology={"classes": [{"name": "cat"}]}
        ),
    )
    assert project.id is not None
    instructions = projects.create_instructions(
        session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="# Cats")
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name=f"{name}-gold", project_id=project.id)
    )
    assert golden.id is not None and instructions.id is not None
    golden_sets.add_items(
        session=session, golden_set_id=golden.id, items=[m.GoldenItemCreate(key="c-1", data={})]
    )
    version = golden_sets.create_version(session=session, golden_set_id=golden.id)
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[m.GoldLabelCreate(item_key="c-1", value="cat")],
    )
    assert version.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name=f"{name} run",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=[vendor_id],
        ),
    )
    assert bakeoff.id is not None
    return project.id


def test_a_project_scoped_lead_cannot_change_a_shared_vendor(
    client: TestClient, auth: Headers, session: Session, seeded: Seed
) -> None:
    scoped = api_keys.create_api_key(
        session=session,
        data=m.ApiKeyCreate(name="scoped lead", role="lead", project_id=seeded.project_id),
    )
    headers = {"X-API-Key": scoped.key}
    price = {"price_per_item": 0.5}
    # used only by its own project's bake-off: it may
    own = client.patch(f"/vendors/{seeded.other_vendor_id}", json=price, headers=headers)
    assert own.status_code == 200, own.text
    # used by another project too: it may not (nor through settings)
    _bakeoff_in_new_project(session, seeded.other_vendor_id, "elsewhere")
    for body in (price, {"adapter_settings": {"base_url": "https://attacker.example"}}):
        refused = client.patch(f"/vendors/{seeded.other_vendor_id}", json=body, headers=headers)
        assert refused.status_code == 403, refused.text
    # an unscoped lead (and admin) still may
    assert client.patch(
        f"/vendors/{seeded.other_vendor_id}", json=price, headers=auth["lead"]
    ).is_success
    assert client.patch(
        f"/vendors/{seeded.other_vendor_id}", json=price, headers=auth["admin"]
    ).is_success
    # a vendor only another project uses is out of reach too
    lone = vendors.create_vendor(session=session, data=m.VendorCreate(name="Lone Vendor"))
    assert lone.id is not None
    _bakeoff_in_new_project(session, lone.id, "their-project")
    assert client.patch(f"/vendors/{lone.id}", json=price, headers=headers).status_code == 403


class _Chatty:
    """An adapter whose vendor refuses everything with a very long message."""

    kind = "chatty"
    supported_tasks = frozenset({"classification"})

    def __init__(self, vendor: str, **_settings: Any) -> None:
        self.name = vendor

    def submit(self, batch: Batch) -> VendorJob:  # noqa: ARG002 - the protocol's signature
        raise VendorRejected("refused: " + "x" * 5000)

    def poll(self, job: VendorJob) -> JobStatus:  # pragma: no cover - never submitted
        raise NotImplementedError

    def fetch_results(self, job: VendorJob) -> list[VendorAnnotation]:  # noqa: ARG002
        return []  # pragma: no cover - never submitted

    def cancel(self, job: VendorJob) -> None:  # noqa: ARG002
        return None  # pragma: no cover - never submitted


def test_task_errors_are_truncated(client: TestClient, auth: Headers, session: Session) -> None:
    registry.register("chatty", _Chatty, clobber=True)
    vendor = vendors.create_vendor(
        session=session, data=m.VendorCreate(name="Chatty", adapter_kind="chatty")
    )
    assert vendor.id is not None
    project_id = _bakeoff_in_new_project(session, vendor.id, "chatty-project")
    bakeoff = session.exec(select(m.BakeOff).where(m.BakeOff.project_id == project_id)).one()
    assert bakeoff.id is not None
    dispatch.start_run(session=session, bakeoff_id=bakeoff.id)
    dispatch.tick(session=session, bakeoff_id=bakeoff.id, force_poll=True)
    (task,) = _tasks(session, bakeoff.id)
    assert task.status == "failed" and task.last_error is not None
    assert len(task.last_error) == LAST_ERROR_MAX
    # what a lead records by hand is held to the same length
    patched = client.patch(
        f"/tasks/{task.id}", json={"last_error": "y" * 5000}, headers=auth["lead"]
    )
    assert patched.status_code == 200 and len(patched.json()["last_error"]) == LAST_ERROR_MAX


# --------------------------------------------------------------------------- item 9


@pytest.mark.parametrize(
    ("annotation", "field"),
    [
        ({"completed_at": "2000-01-01T00:00:00Z"}, "completed_at"),
        ({"started_at": "2000-01-01T00:00:00Z"}, "started_at"),
        ({"completed_at": "2999-01-01T00:00:00Z"}, "completed_at"),
        ({"started_at": "2100-01-01T00:00:00Z", "completed_at": "2100-01-02T00:00:00Z"}, None),
    ],
    ids=["completed-in-2000", "started-before-sent", "completed-in-future", "both-future"],
)
def test_callbacks_with_impossible_times_are_refused(
    client: TestClient,
    session: Session,
    seeded: Seed,
    annotation: dict[str, Any],
    field: str | None,
) -> None:
    hooked = _hooked(session, seeded, {"base_url": "http://x", "webhook_secret": SECRET}, "Clock")
    answer = _callback(client, hooked.vendor_id, annotation=annotation)
    assert answer.status_code == 422, answer.text
    if field is not None:
        assert answer.json()["detail"][0]["loc"][-1] == field
    assert _labels(session, hooked.bakeoff_id) == 0


def test_a_callback_within_the_skew_is_stored_with_a_latency_of_zero_or_more(
    client: TestClient, session: Session, seeded: Seed
) -> None:
    hooked = _hooked(session, seeded, {"base_url": "http://x", "webhook_secret": SECRET}, "Skew")
    early = (hooked.sent_at - timedelta(seconds=30)).isoformat()
    answer = _callback(client, hooked.vendor_id, annotation={"completed_at": early})
    assert answer.status_code == 200, answer.text
    task = next(t for t in _tasks(session, hooked.bakeoff_id) if t.completed_at)
    assert task.sent_at is not None and task.completed_at is not None
    assert task.completed_at >= task.sent_at


def test_worker_fetched_results_with_impossible_times_fail_their_items(
    session: Session, seeded: Seed
) -> None:
    hooked = _hooked(session, seeded, {"base_url": "http://x", "webhook_secret": SECRET}, "Poll")
    vendor = session.get(m.Vendor, hooked.vendor_id)
    assert vendor is not None
    good = VendorAnnotation(item_id="img-1", label="cat", external_id="ok")
    bad = VendorAnnotation(
        item_id="img-2",
        label="cat",
        external_id="old",
        completed_at=datetime(2000, 1, 1, tzinfo=UTC),
    )
    stored = dispatch.store_results(
        session=session,
        bakeoff_id=hooked.bakeoff_id,
        vendor=vendor,
        annotations=[good, bad],
        strict=False,
    )
    assert stored.stored == 1
    statuses = {t.status for t in _tasks(session, hooked.bakeoff_id)}
    assert "failed" in statuses and "received" in statuses


def test_label_imports_with_impossible_times_are_refused(
    client: TestClient, auth: Headers, session: Session, seeded: Seed
) -> None:
    base = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.vendor_id}/labels"
    old = {"item_id": "img-1", "label": "cat", "completed_at": "2000-01-01T00:00:00Z"}
    # no run yet: a vendor's work for the bake-off cannot predate it
    imported = client.post(
        f"{base}/import?format=jsonl", content=json.dumps(old).encode(), headers=auth["vendor"]
    )
    assert imported.status_code == 422, imported.text
    assert "the bake-off was created" in imported.text
    bakeoffs.create_tasks(session=session, bakeoff_id=seeded.bakeoff_id)
    task = _task_table()
    sent_at = datetime.now(UTC) - timedelta(hours=1)
    session.execute(
        task.update()
        .where(task.c.vendor_id == seeded.vendor_id)
        .values(status="sent", sent_at=sent_at)
    )
    session.commit()
    imported = client.post(
        f"{base}/import?format=jsonl", content=json.dumps(old).encode(), headers=auth["vendor"]
    )
    assert imported.status_code == 422, imported.text
    assert "completed_at" in imported.text and "was sent" in imported.text
    posted = client.post(
        base,
        json={"labels": [{"item_key": "img-1", "value": "cat", "completed_at": "2999-01-01"}]},
        headers=auth["vendor"],
    )
    assert posted.status_code == 422, posted.text
    backwards = {
        "item_key": "img-1",
        "value": "cat",
        "started_at": (sent_at + timedelta(minutes=9)).isoformat(),
        "completed_at": (sent_at + timedelta(minutes=5)).isoformat(),
    }
    refused = client.post(base, json={"labels": [backwards]}, headers=auth["vendor"])
    assert refused.status_code == 422 and "after completed_at" in refused.text
    assert _labels(session, seeded.bakeoff_id) == 0
    fine = {**backwards, "started_at": (sent_at + timedelta(minutes=1)).isoformat()}
    assert client.post(base, json={"labels": [fine]}, headers=auth["vendor"]).is_success
    assert _labels(session, seeded.bakeoff_id) == 1
