"""Object-level authorization: every route, every role, objects in and out of the key's scope.

Two projects are built through the domain layer (``seed_bakeoff`` of ``conftest.py``), each with
a blinded bake-off, tasks, labels from two candidates (annotator and external ids named after
the vendor), flags and a spare API key. Keys of every role are scoped to the first project
("mine"); the second ("theirs") is out of their scope.

For every route of the app (the walk fails for a route it does not know) and every role the
permission table allows on it, the test sends a *valid* request naming the other project's
objects and asserts 403/404 with the whole database unchanged; then the same request naming the
key's own objects, which the scope must not refuse; and last the out-of-scope request with an
unscoped key of the same role, which must succeed: the refusal is the scope's, not a bad body.

The blinding walk calls every route a ``qa`` key can reach with the blinded bake-off's ids and
asserts that no response carries a vendor name, a vendor id, a raw annotator id or a
vendor-chosen external id.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, SQLModel, col, select

import service.models as m
from service.api.routes.dispatch import get_run_queue
from service.api.routing import iter_api_routes
from service.core.config import Settings
from service.domain import (
    bakeoffs,
    deliveries,
    flags,
    projects,
    tasks,
    vendor_labels,
    vendors,
)
from service.domain.access import ROLE_RANK
from service.domain.api_keys import create_api_key
from service.domain.errors import Forbidden
from service.domain.permissions import PUBLIC, access_for
from service.domain.security import Principal
from service.main import create_app
from service.web.csrf import CSRF_COOKIE, CSRF_HEADER, make_csrf_token
from tests.service.conftest import seed_bakeoff

Headers = dict[str, str]
# TestClient answers with httpx's or httpx2's Response, whichever starlette found.
Response = Any

MINE_OTHER = "MINE-VENDOR-MARKER Ltd."
THEIRS = ("THEIRS-VENDOR-A", "THEIRS-VENDOR-B")
# Vendor-named strings of the blinded bake-off: none may reach a blinded qa key.
LEAK_MARKERS = (
    "Key Vendor Inc.",
    MINE_OTHER,
    "keyvendor-ann",
    "minevendor-ann",
    "keyvendor-ext",
    "minevendor-ext",
    "keyvendor-job",
    "minevendor-job",
    "keyvendor-err",
    "minevendor-err",
)
_ROUTES_APP = create_app(Settings(environment="test", auto_migrate=False, database_url="sqlite://"))
_ALL_ROUTES: list[tuple[str, str]] = sorted(
    (method, info.path) for info in iter_api_routes(_ROUTES_APP) for method in info.methods
)


@dataclass(frozen=True)
class Side:
    """The ids of one project's objects."""

    project_id: int
    instructions_id: int
    golden_set_id: int
    version: int
    version_id: int
    item_id: int
    item_key: str
    bakeoff_id: int
    vendor_id: int
    other_vendor_id: int
    task_id: int
    flag_id: int
    key_id: int
    vendor_ids: tuple[int, ...]
    delivery_id: int = 0
    delivery_key: str = ""

    def path_values(self) -> dict[str, int | str]:
        return {
            "project_id": self.project_id,
            "golden_set_id": self.golden_set_id,
            "version": self.version,
            "item_id": self.item_id,
            "bakeoff_id": self.bakeoff_id,
            "vendor_id": self.vendor_id,
            "task_id": self.task_id,
            "flag_id": self.flag_id,
            "key_id": self.key_id,
            "delivery_id": self.delivery_id,
            "table": "metrics",  # a dashboard CSV download (names no object)
        }


@dataclass(frozen=True)
class Two:
    """Two projects and the keys of every role scoped to the first."""

    mine: Side
    theirs: Side
    scoped: dict[m.Role, Headers]
    unscoped: dict[m.Role, Headers]
    scoped_key_ids: frozenset[int]


def _label_everything(session: Session, bakeoff_id: int, vendor_id: int, slug: str) -> None:
    """The vendor answers every item twice (two annotators named after it), one item wrong."""
    bakeoff = session.get(m.BakeOff, bakeoff_id)
    assert bakeoff is not None
    gold = {
        item.key: label.value
        for label, item in session.exec(
            select(m.GoldLabel, m.GoldenItem)
            .join(m.GoldenItem, col(m.GoldenItem.id) == col(m.GoldLabel.item_id))
            .where(col(m.GoldLabel.version_id) == bakeoff.golden_set_version_id)
        ).all()
    }
    records = [
        m.VendorLabelCreate(
            item_key=key,
            value="bird" if i == 0 else value,
            annotator_id=f"{slug}-ann-{n}",
            external_id=f"{slug}-ext-{key}-{n}",
        )
        for i, (key, value) in enumerate(sorted(gold.items()))
        for n in (1, 2)
    ]
    vendor_labels.add_vendor_labels(
        session=session, bakeoff_id=bakeoff_id, vendor_id=vendor_id, records=records
    )
    rows = session.exec(
        select(m.Task).where(m.Task.bakeoff_id == bakeoff_id).where(m.Task.vendor_id == vendor_id)
    ).all()
    for task in rows:
        tasks.update_task(
            session=session,
            task_id=task.id or 0,
            data=m.TaskUpdate(external_id=f"{slug}-ext-{task.id}", job_id=f"{slug}-job-1"),
        )
    # one task waits for a retry after an error that names the vendor's host
    tasks.update_task(
        session=session,
        task_id=rows[-1].id or 0,
        data=m.TaskUpdate(status="pending", last_error=f"HTTP 503 from {slug}-err.example"),
    )


def _side(
    session: Session, *, name: str, vendor_ids: list[int], slugs: tuple[str, str], key_id: int
) -> Side:
    seed = seed_bakeoff(session, name=name, vendor_ids=vendor_ids)
    bakeoffs.create_tasks(session=session, bakeoff_id=seed.bakeoff_id)
    for vendor_id, slug in zip(vendor_ids, slugs, strict=True):
        _label_everything(session, seed.bakeoff_id, vendor_id, slug)
    flags.compute_flags(
        session=session, bakeoff_id=seed.bakeoff_id, request=flags.FlagComputeRequest()
    )
    first_flag = session.exec(
        select(m.Flag).where(m.Flag.bakeoff_id == seed.bakeoff_id).order_by(col(m.Flag.id))
    ).first()
    first_task = session.exec(
        select(m.Task).where(m.Task.bakeoff_id == seed.bakeoff_id).order_by(col(m.Task.id))
    ).first()
    assert first_flag is not None and first_task is not None
    item = session.get(m.GoldenItem, first_task.item_id)
    assert item is not None and item.id is not None
    assert first_flag.id is not None and first_task.id is not None
    delivery = deliveries.create_delivery(
        session=session,
        data=m.DeliveryCreate(
            name=f"{name} week 1",
            project_id=seed.project_id,
            vendor_id=vendor_ids[0],
            golden_set_version_id=seed.version_id,
            honeypot_rate=0.2,
            items=[
                m.DeliveryItemIn(key=f"{name}-p{i}", data={"image": f"p{i}.jpg"}) for i in range(8)
            ],
            seed=0,
        ),
    )
    return Side(
        project_id=seed.project_id,
        instructions_id=seed.instructions_id,
        golden_set_id=seed.golden_set_id,
        version=seed.version,
        version_id=seed.version_id,
        item_id=item.id,
        item_key=item.key,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=vendor_ids[0],
        other_vendor_id=vendor_ids[1],
        task_id=first_task.id,
        flag_id=first_flag.id,
        key_id=key_id,
        vendor_ids=tuple(vendor_ids),
        delivery_id=delivery.id or 0,
        delivery_key=deliveries.item_key(
            delivery.id or 0, 0, delivery.n_items + delivery.n_honeypots
        ),
    )


def _key(session: Session, name: str, role: m.Role, project_id: int, vendor_id: int | None) -> int:
    created = create_api_key(
        session=session,
        data=m.ApiKeyCreate(name=name, role=role, project_id=project_id, vendor_id=vendor_id),
    )
    return created.id


def _spare_project_key(session: Session, project_id: int, name: str) -> int:
    return _key(session, name, "viewer", project_id, None)


@pytest.fixture
def two(
    session: Session,
    key_vendor: m.Vendor,
    api_keys: dict[str, str],
    auth: dict[str, Headers],
    settings: Settings,
) -> Two:
    """Two projects with blinded bake-offs; keys of every role scoped to the first."""
    del api_keys  # the unscoped keys exist before the scoped ones
    assert key_vendor.id is not None
    made = [
        vendors.create_vendor(session=session, data=m.VendorCreate(name=n, adapter_kind="file"))
        for n in (MINE_OTHER, *THEIRS)
    ]
    mine_other, theirs_a, theirs_b = (v.id or 0 for v in made)
    # Vendor keys' vendor and its competitor in "mine"; two vendors only "theirs" uses.
    mine = _side(
        session,
        name="mine",
        vendor_ids=[key_vendor.id, mine_other],
        slugs=("keyvendor", "minevendor"),
        key_id=0,
    )
    theirs = _side(
        session,
        name="theirs",
        vendor_ids=[theirs_a, theirs_b],
        slugs=("theirsa", "theirsb"),
        key_id=0,
    )
    mine = _replace_key(mine, _spare_project_key(session, mine.project_id, "spare-mine"))
    theirs = _replace_key(theirs, _spare_project_key(session, theirs.project_id, "spare-theirs"))
    token = make_csrf_token(secret=settings.secret_key.get_secret_value())
    csrf = {CSRF_HEADER: token, "Cookie": f"{CSRF_COOKIE}={token}"}
    scoped: dict[m.Role, Headers] = {}
    scoped_ids: set[int] = set()
    for role in m.ROLES:
        created = create_api_key(
            session=session,
            data=m.ApiKeyCreate(
                name=f"scoped-{role}",
                role=role,
                project_id=mine.project_id,
                vendor_id=key_vendor.id if role == "vendor" else None,
            ),
        )
        scoped[role] = {"X-API-Key": created.key, **csrf}
        scoped_ids.add(created.id)
    unscoped = {role: {**auth[role], **csrf} for role in m.ROLES}
    return Two(mine, theirs, scoped, unscoped, frozenset(scoped_ids))


def _replace_key(side: Side, key_id: int) -> Side:
    return dataclasses.replace(side, key_id=key_id)


class _Kicker:
    def kick(self, bakeoff_id: int) -> None:
        del bakeoff_id

    def kick_delivery(self, delivery_id: int) -> None:
        del delivery_id

    def enqueue_flag_chunks(self, chunk_ids: list[int]) -> int:
        return len(chunk_ids)


@pytest.fixture
def api(client: TestClient) -> Iterator[TestClient]:
    """The client with a run queue that only records kicks (no Redis)."""
    app = client.app
    assert isinstance(app, FastAPI)
    app.dependency_overrides[get_run_queue] = lambda: _Kicker()
    yield client


# --------------------------------------------------------------------------- the requests


@dataclass(frozen=True)
class Call:
    """A valid request for one route, built from one project's ids.

    ``ok`` are the statuses an unscoped key gets for it (it changes or reads the object);
    ``in_scope`` is ``False`` for routes a scoped key may not use even in its project.
    """

    json: Callable[[Side], Any] | None = None
    content: Callable[[Side], str] | None = None
    media: str = "application/json"
    form: Mapping[str, str] | None = None
    #: a multipart upload: form fields from the side's ids, plus one file
    upload: Callable[[Side], tuple[dict[str, str], tuple[str, bytes, str]]] | None = None
    query: str = ""
    ok: frozenset[int] = frozenset({200, 201, 202, 204, 303})
    in_scope: bool = True


def _ok(*codes: int) -> frozenset[int]:
    return frozenset(codes)


def _fixed(body: Any) -> Callable[[Side], Any]:
    """A body that names no object."""
    return lambda _side: body


_LABELS = Call(json=lambda s: {"labels": [{"item_key": s.item_key, "value": "dog"}]})
_PAGES = _ok(200, 409)  # a report needs labels on every candidate; 409 says so on the page

CALLS: dict[tuple[str, str], Call] = {
    ("POST", "/api-keys"): Call(
        json=lambda s: {"name": "minted", "role": "admin", "project_id": s.project_id}
    ),
    ("DELETE", "/api-keys/{key_id}"): Call(),
    ("GET", "/bakeoffs"): Call(query="?project_id={project_id}"),
    ("POST", "/bakeoffs"): Call(
        json=lambda s: {
            "name": "another",
            "project_id": s.project_id,
            "golden_set_version_id": s.version_id,
            "instructions_version_id": s.instructions_id,
            "vendor_ids": [s.vendor_id],
        }
    ),
    ("GET", "/bakeoffs/{bakeoff_id}"): Call(),
    ("PATCH", "/bakeoffs/{bakeoff_id}"): Call(json=_fixed({"description": "changed"})),
    ("DELETE", "/bakeoffs/{bakeoff_id}"): Call(),
    ("POST", "/bakeoffs/{bakeoff_id}/cancel"): Call(ok=_ok(200, 409)),
    ("GET", "/bakeoffs/{bakeoff_id}/labels"): Call(),
    ("GET", "/bakeoffs/{bakeoff_id}/progress"): Call(),
    ("GET", "/bakeoffs/{bakeoff_id}/results"): Call(),
    ("POST", "/bakeoffs/{bakeoff_id}/run"): Call(),
    ("POST", "/bakeoffs/{bakeoff_id}/tasks"): Call(),
    ("POST", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels"): _LABELS,
    ("POST", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/import"): Call(
        content=lambda s: f'{{"item_id": "{s.item_key}", "label": "dog", "annotator_id": "x"}}\n',
        media="application/x-ndjson",
    ),
    ("GET", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/export"): Call(),
    ("GET", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/package"): Call(),
    ("POST", "/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/package/results"): Call(
        content=lambda s: f"item_id,label\n{s.item_key},dog\n",
        media="text/csv",
        ok=_ok(200, 409),  # nothing sent yet: the package must be downloaded first
    ),
    ("GET", "/deliveries"): Call(query="?project_id={project_id}"),
    ("POST", "/deliveries"): Call(
        json=lambda s: {
            "name": "week 2",
            "project_id": s.project_id,
            "vendor_id": s.vendor_id,
            "golden_set_version_id": s.version_id,
            "honeypot_rate": 0.2,
            "items": [{"key": "p-new", "data": {"image": "new.jpg"}}],
        }
    ),
    ("GET", "/deliveries/{delivery_id}"): Call(),
    ("GET", "/deliveries/{delivery_id}/batch"): Call(),
    ("POST", "/deliveries/{delivery_id}/dispatch"): Call(),
    ("POST", "/deliveries/{delivery_id}/labels/import"): Call(
        content=lambda s: f'{{"item_id": "{s.delivery_key}", "label": "dog"}}\n',
        media="application/x-ndjson",
    ),
    ("GET", "/deliveries/{delivery_id}/quality"): Call(),
    ("GET", "/ui/deliveries/{delivery_id}/audit"): Call(),
    # nothing answered yet: "nothing to audit" (409) and "nothing waiting" (409) are real answers
    ("POST", "/ui/deliveries/{delivery_id}/audit/draw"): Call(
        form={"half_width": "0.05"}, ok=_ok(303, 409)
    ),
    ("POST", "/ui/deliveries/{delivery_id}/audit/decide"): Call(
        form={"item_id": "x", "decision": "correct"}, ok=_ok(409)
    ),
    ("POST", "/deliveries/{delivery_id}/flags"): Call(
        content=lambda s: f"item_id,cat,dog,bird\n{s.delivery_key},0.2,0.3,0.5\n",
        media="text/csv",
    ),
    ("GET", "/deliveries/{delivery_id}/flags"): Call(),
    # no model is registered in the walk's server: 422 names the setting
    ("POST", "/deliveries/{delivery_id}/flags/runs"): Call(
        json=_fixed({"model": "none.joblib"}), ok=_ok(422)
    ),
    ("POST", "/deliveries/{delivery_id}/flags/runs/upload"): Call(
        content=lambda s: f"item_id,cat,dog,bird\n{s.delivery_key},0.2,0.3,0.5\n",
        media="text/csv",
        ok=_ok(202),
    ),
    ("GET", "/deliveries/{delivery_id}/flags/runs"): Call(),
    # no model is registered in the walk's server: 422 names the setting
    ("POST", "/deliveries/{delivery_id}/flags/model"): Call(
        json=_fixed({"model": "none.joblib"}), ok=_ok(422)
    ),
    # nothing is answered in the seeded delivery: 409 "nothing to audit" is the real answer
    ("POST", "/deliveries/{delivery_id}/audit"): Call(json=_fixed({}), ok=_ok(201, 409)),
    ("GET", "/deliveries/{delivery_id}/audit"): Call(),
    ("POST", "/deliveries/{delivery_id}/audit/decisions"): Call(
        json=lambda s: {"item_id": s.delivery_key, "decision": "correct"}, ok=_ok(409)
    ),
    ("GET", "/golden-sets"): Call(query="?project_id={project_id}"),
    ("POST", "/golden-sets"): Call(json=lambda s: {"name": "gs-new", "project_id": s.project_id}),
    # the project is named in the form: a scoped key may create one only in its own project
    ("POST", "/golden-sets/import"): Call(
        upload=lambda s: (
            {"project_id": str(s.project_id), "name": "gs-imported"},
            ("gold.jsonl", b'{"item_id": "g-new", "label": "dog"}\n', "application/x-ndjson"),
        )
    ),
    ("GET", "/golden-sets/{golden_set_id}"): Call(),
    ("PATCH", "/golden-sets/{golden_set_id}"): Call(json=_fixed({"description": "d"})),
    ("DELETE", "/golden-sets/{golden_set_id}"): Call(ok=_ok(204, 409)),  # in use by a bake-off
    ("POST", "/golden-sets/{golden_set_id}/corrections"): _LABELS,
    ("POST", "/golden-sets/{golden_set_id}/import"): Call(
        content=lambda s: f'{{"item_id": "{s.item_key}", "label": "dog"}}\n',
        media="application/x-ndjson",
    ),
    ("GET", "/golden-sets/{golden_set_id}/items"): Call(),
    ("POST", "/golden-sets/{golden_set_id}/items"): Call(
        json=_fixed([{"key": "new-item", "data": {"image": "new.jpg"}}])
    ),
    ("GET", "/golden-sets/{golden_set_id}/items/{item_id}"): Call(),
    ("PATCH", "/golden-sets/{golden_set_id}/items/{item_id}"): Call(
        json=_fixed({"meta": {"lighting": "dim"}})
    ),
    ("GET", "/golden-sets/{golden_set_id}/versions"): Call(),
    ("POST", "/golden-sets/{golden_set_id}/versions"): Call(json=_fixed({"note": "v2"})),
    ("GET", "/golden-sets/{golden_set_id}/versions/{version}"): Call(),
    ("GET", "/golden-sets/{golden_set_id}/versions/{version}/export"): Call(),
    ("GET", "/golden-sets/{golden_set_id}/versions/{version}/labels"): Call(),
    ("POST", "/golden-sets/{golden_set_id}/versions/{version}/labels"): Call(
        json=_LABELS.json,
        ok=_ok(200, 409),  # the version is pinned by the bake-off
    ),
    ("POST", "/projects"): Call(
        json=_fixed(
            {
                "name": "new-project",
                "task_type": "classification",
                "ontology": {"classes": [{"name": "cat"}]},
            }
        ),
        in_scope=False,
    ),
    ("GET", "/projects/{project_id}"): Call(),
    ("PATCH", "/projects/{project_id}"): Call(json=_fixed({"description": "d"})),
    ("DELETE", "/projects/{project_id}"): Call(ok=_ok(204, 409)),  # its keys still name it
    ("GET", "/projects/{project_id}/instructions"): Call(),
    ("POST", "/projects/{project_id}/instructions"): Call(json=_fixed({"text": "# v2"})),
    ("GET", "/projects/{project_id}/instructions/{version}"): Call(),
    ("GET", "/review/bakeoffs/{bakeoff_id}/audit"): Call(),
    ("PUT", "/review/bakeoffs/{bakeoff_id}/blinding"): Call(json=_fixed({"blinded": False})),
    ("POST", "/review/bakeoffs/{bakeoff_id}/flags"): Call(json=_fixed({})),
    ("GET", "/review/bakeoffs/{bakeoff_id}/gold-corrections"): Call(),
    # the lead confirms what was shown: a digest that is not the queue's is a 409
    ("POST", "/review/bakeoffs/{bakeoff_id}/gold-corrections"): Call(
        json=lambda _side: {"digest": "not-what-was-shown"}, ok=_ok(200, 409)
    ),
    ("GET", "/review/bakeoffs/{bakeoff_id}/groups"): Call(),
    ("GET", "/review/bakeoffs/{bakeoff_id}/queue"): Call(),
    ("GET", "/review/bakeoffs/{bakeoff_id}/stats"): Call(),
    ("GET", "/review/deliveries/{delivery_id}/queue"): Call(),
    ("GET", "/review/flags/{flag_id}"): Call(),
    ("POST", "/review/flags/{flag_id}/decisions"): Call(json=_fixed({"decision": "confirm_gold"})),
    ("POST", "/review/flags/{flag_id}/undo"): Call(ok=_ok(200, 404, 409)),  # nothing to undo
    ("GET", "/tasks"): Call(query="?bakeoff_id={bakeoff_id}"),
    ("GET", "/tasks/{task_id}"): Call(),
    ("PATCH", "/tasks/{task_id}"): Call(json=_fixed({"cost": 0.5})),
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}"): Call(),
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}/report.html"): Call(ok=_PAGES),
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}/report.json"): Call(ok=_PAGES),
    ("POST", "/ui/dashboards/bakeoffs/{bakeoff_id}/run"): Call(),
    # a run that is not going answers 409 (nothing to cancel); either way the scope held
    ("POST", "/ui/dashboards/bakeoffs/{bakeoff_id}/cancel"): Call(ok=_ok(303, 409)),
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}/export/{table}.csv"): Call(ok=_PAGES),
    ("GET", "/ui/dashboards/bakeoffs/{bakeoff_id}/export.xlsx"): Call(ok=_PAGES),
    ("GET", "/ui/dashboards/projects/{project_id}"): Call(),
    ("GET", "/ui/dashboards/projects/{project_id}/deliveries"): Call(),
    ("GET", "/ui/review/bakeoffs/{bakeoff_id}"): Call(),
    ("POST", "/ui/review/bakeoffs/{bakeoff_id}/blinding"): Call(form={"blinded": "0"}),
    ("POST", "/ui/review/bakeoffs/{bakeoff_id}/flags"): Call(),
    ("POST", "/ui/review/bakeoffs/{bakeoff_id}/gold-corrections"): Call(ok=_ok(303, 409)),
    ("GET", "/ui/review/flags/{flag_id}"): Call(),
    ("POST", "/ui/review/flags/{flag_id}/decide"): Call(json=_fixed({"decision": "confirm_gold"})),
    ("POST", "/ui/review/flags/{flag_id}/undo"): Call(ok=_ok(200, 404, 409)),
    ("GET", "/ui/review/deliveries/{delivery_id}"): Call(),
    # the walk's flag is a bake-off's: this form is for a delivery's flags only (404)
    ("POST", "/ui/review/flags/{flag_id}/delivery-decision"): Call(
        form={"decision": "accept_candidate"}, ok=_ok(404)
    ),
    ("GET", "/vendors/{vendor_id}"): Call(),
    ("PATCH", "/vendors/{vendor_id}"): Call(json=_fixed({"price_per_item": 0.5})),
    ("DELETE", "/vendors/{vendor_id}"): Call(ok=_ok(204, 409)),  # in use by a bake-off
}

# Routes that name no object of any project (their lists are checked by
# test_scoped_lists_show_only_the_keys_project).
NO_PROJECT_OBJECT: dict[tuple[str, str], str] = {
    ("GET", "/api-keys"): "list, filtered by scope",
    ("GET", "/api-keys/me"): "the caller's own key",
    ("GET", "/projects"): "list, filtered by scope",
    ("GET", "/models"): "names of models the server's operator registered; no project object",
    ("GET", "/vendors"): "list, filtered by scope",
    ("POST", "/vendors"): "vendors are a shared catalogue; a new one belongs to no project",
    ("GET", "/ui/dashboards"): "list page, filtered by scope",
    ("GET", "/ui/review"): "list page, filtered by scope",
}

_KEYED = [
    (method, path)
    for method, path in _ALL_ROUTES
    if access_for(method, path) not in (None, PUBLIC) and (method, path) not in NO_PROJECT_OBJECT
]


def _url(path: str, call: Call, side: Side) -> str:
    values = side.path_values()
    url = re.sub(r"\{(\w+)[^}]*\}", lambda g: str(values[g.group(1)]), path)
    return url + call.query.format(**values)


def _send(client: TestClient, method: str, path: str, side: Side, headers: Headers) -> Response:
    call = CALLS[(method, path)]
    url = _url(path, call, side)
    if call.content is not None:
        return client.request(
            method,
            url,
            content=call.content(side).encode(),
            headers={**headers, "Content-Type": call.media},
            follow_redirects=False,
        )
    if call.form is not None:
        return client.request(method, url, data=dict(call.form), headers=headers)
    if call.upload is not None:
        fields, file = call.upload(side)
        return client.request(method, url, data=fields, files={"file": file}, headers=headers)
    body = call.json(side) if call.json is not None else None
    return client.request(method, url, json=body, headers=headers, follow_redirects=False)


def _snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table, as sorted text."""
    out: dict[str, list[str]] = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            out[table.name] = sorted(repr(tuple(r)) for r in conn.execute(table.select()))
    return out


def _roles(method: str, path: str) -> list[m.Role]:
    access = access_for(method, path)
    assert access is not None and access != PUBLIC
    return sorted((r for r in m.ROLES if r in access), key=lambda r: ROLE_RANK[r])


def test_the_walk_knows_every_route() -> None:
    keyed = set(_KEYED)
    missing = sorted(keyed - set(CALLS))
    assert not missing, f"add a valid request for {missing} to CALLS (or to NO_PROJECT_OBJECT)"
    stale = sorted(set(CALLS) - set(_ALL_ROUTES))
    assert not stale, f"CALLS names routes the app does not have: {stale}"
    assert len(_KEYED) >= 60


@pytest.mark.parametrize(("method", "path"), _KEYED, ids=[f"{m} {p}" for m, p in _KEYED])
def test_scoped_keys_cannot_reach_another_projects_objects(
    api: TestClient, engine: Engine, two: Two, method: str, path: str
) -> None:
    roles = _roles(method, path)
    for role in roles:
        before = _snapshot(engine)
        response = _send(api, method, path, two.theirs, two.scoped[role])
        assert response.status_code in (403, 404), (
            f"{role} key of project {two.mine.project_id} reached project "
            f"{two.theirs.project_id}: {method} {path} -> {response.status_code} {response.text}"
        )
        assert _snapshot(engine) == before, f"{role}: {method} {path} changed data when refused"

    call = CALLS[(method, path)]
    for role in roles:
        response = _send(api, method, path, two.mine, two.scoped[role])
        assert response.status_code < 500, f"{role}: {response.status_code} {response.text}"
        code = response.json().get("code") if response.status_code == 403 else None
        if call.in_scope:
            assert code != "out_of_scope", (
                f"{role} was refused its own project: {method} {path} -> {response.text}"
            )

    # The refused request is a real one: an unscoped key of the highest role allowed succeeds.
    role = roles[-1]
    response = _send(api, method, path, two.theirs, two.unscoped[role])
    assert response.status_code in call.ok, (
        f"unscoped {role}: {method} {path} -> {response.status_code} {response.text}"
    )


_MIXED = [
    (method, path) for method, path in _KEYED if re.search(r"\{\w+\}.*\{(item|vendor)_id\}", path)
]


@pytest.mark.parametrize(("method", "path"), _MIXED, ids=[f"{m} {p}" for m, p in _MIXED])
def test_an_own_parent_does_not_carry_another_projects_child(
    api: TestClient, engine: Engine, two: Two, method: str, path: str
) -> None:
    """The key's own bake-off or golden set with the other project's vendor or item."""
    theirs = two.theirs
    mixed = dataclasses.replace(
        two.mine, item_id=theirs.item_id, item_key=theirs.item_key, vendor_id=theirs.vendor_id
    )
    for role in _roles(method, path):
        before = _snapshot(engine)
        response = _send(api, method, path, mixed, two.scoped[role])
        assert response.status_code in (403, 404), f"{role}: {response.status_code} {response.text}"
        assert _snapshot(engine) == before, f"{role}: {method} {path} changed data when refused"


def test_a_scoped_lead_cannot_enlist_another_projects_vendor(client: TestClient, two: Two) -> None:
    body = {
        "name": "poach",
        "project_id": two.mine.project_id,
        "golden_set_version_id": two.mine.version_id,
        "instructions_version_id": two.mine.instructions_id,
        "vendor_ids": [two.theirs.vendor_id],
    }
    refused = client.post("/bakeoffs", json=body, headers=two.scoped["lead"])
    assert refused.status_code == 403 and refused.json()["code"] == "out_of_scope", refused.text
    patched = client.patch(
        f"/bakeoffs/{two.mine.bakeoff_id}",
        json={"vendor_ids": [two.mine.vendor_id, two.theirs.vendor_id]},
        headers=two.scoped["lead"],
    )
    assert patched.status_code == 403, patched.text
    allowed = client.post("/bakeoffs", json=body, headers=two.unscoped["lead"])
    assert allowed.status_code == 201, allowed.text


@pytest.mark.dbs
def test_scoped_lists_show_only_the_keys_project(client: TestClient, two: Two) -> None:
    theirs = two.theirs
    lists: dict[str, tuple[str, set[int]]] = {
        "/projects": ("id", {theirs.project_id}),
        "/bakeoffs": ("id", {theirs.bakeoff_id}),
        "/golden-sets": ("id", {theirs.golden_set_id}),
        "/tasks?limit=1000": ("bakeoff_id", {theirs.bakeoff_id}),
        "/vendors": ("id", set(theirs.vendor_ids)),
        "/api-keys?limit=1000": ("project_id", {theirs.project_id}),
        "/deliveries": ("project_id", {theirs.project_id}),
    }
    for url, (field_name, forbidden) in lists.items():
        for role in m.ROLES:
            headers = two.scoped[role]
            response = client.get(url, headers=headers)
            if response.status_code == 403 and response.json()["code"] == "role_forbidden":
                continue
            assert response.status_code == 200, f"{role} {url}: {response.text}"
            rows = response.json()["data"]
            seen = {r[field_name] for r in rows}
            assert not seen & forbidden, f"{role} {url} lists another project's rows: {seen}"
            if url.startswith("/api-keys"):
                assert all(r["project_id"] == two.mine.project_id for r in rows), rows
    # the unscoped admin sees both projects' rows (the filter is the scope's)
    response = client.get("/bakeoffs", headers=two.unscoped["admin"]).json()
    assert {two.mine.bakeoff_id, theirs.bakeoff_id} <= {b["id"] for b in response["data"]}
    pages = client.get("/ui/dashboards", headers=two.scoped["viewer"])
    assert pages.status_code == 200 and "Q1 theirs" not in pages.text and "Q1 mine" in pages.text


def test_a_scoped_admin_mints_only_keys_of_its_project_and_role(
    client: TestClient, two: Two
) -> None:
    admin = two.scoped["admin"]
    # the reported escape: an unscoped admin key from a project-scoped admin
    escaped = client.post("/api-keys", json={"name": "x", "role": "admin"}, headers=admin)
    assert escaped.status_code == 403 and escaped.json()["code"] == "out_of_scope", escaped.text
    other = client.post(
        "/api-keys",
        json={"name": "x", "role": "viewer", "project_id": two.theirs.project_id},
        headers=admin,
    )
    assert other.status_code == 403, other.text
    vendor_elsewhere = client.post(
        "/api-keys",
        json={
            "name": "x",
            "role": "vendor",
            "vendor_id": two.theirs.vendor_id,
            "project_id": two.mine.project_id,
        },
        headers=admin,
    )
    assert vendor_elsewhere.status_code == 403, vendor_elsewhere.text
    own = client.post(
        "/api-keys",
        json={"name": "x", "role": "admin", "project_id": two.mine.project_id},
        headers=admin,
    )
    assert own.status_code == 201, own.text
    assert own.json()["project_id"] == two.mine.project_id and own.json()["role"] == "admin"
    # the minted key is as narrow as its maker
    minted = {"X-API-Key": own.json()["key"]}
    assert client.delete(f"/bakeoffs/{two.theirs.bakeoff_id}", headers=minted).status_code == 403
    # the unscoped admin's key cannot be revoked from inside a project
    me = client.get("/api-keys/me", headers=two.unscoped["admin"]).json()
    assert client.delete(f"/api-keys/{me['id']}", headers=admin).status_code == 403
    assert client.get("/api-keys/me", headers=two.unscoped["admin"]).status_code == 200


@pytest.mark.dbs
def test_a_scoped_admin_cannot_delete_another_projects_bakeoff_or_project(
    client: TestClient, session: Session, engine: Engine, two: Two
) -> None:
    bare = projects.create_project(
        session=session,
        data=m.ProjectCreate(name="bare", task_type="classification", ontology={"classes": []}),
    )
    admin = two.scoped["admin"]
    for url in (f"/bakeoffs/{two.theirs.bakeoff_id}", f"/projects/{bare.id}"):
        before = _snapshot(engine)
        response = client.delete(url, headers=admin)
        assert response.status_code == 403, f"{url}: {response.status_code} {response.text}"
        assert response.json()["code"] == "out_of_scope"
        assert _snapshot(engine) == before
        # the same request from an unscoped admin deletes it: the refusal is the scope's
        assert client.delete(url, headers=two.unscoped["admin"]).status_code == 204
    assert client.delete(f"/bakeoffs/{two.mine.bakeoff_id}", headers=admin).status_code == 204


def test_key_grants_never_exceed_the_makers_role(session: Session, two: Two) -> None:
    lead = Principal(key_id=1, name="lead", role="lead", project_id=two.mine.project_id)
    with pytest.raises(Forbidden, match="at most its own role"):
        create_api_key(
            session=session,
            data=m.ApiKeyCreate(name="up", role="admin", project_id=two.mine.project_id),
            principal=lead,
        )
    made = create_api_key(
        session=session,
        data=m.ApiKeyCreate(name="down", role="qa", project_id=two.mine.project_id),
        principal=lead,
    )
    assert made.role == "qa"


# --------------------------------------------------------------------------- blinding


def _vendor_ids_in(value: Any) -> list[tuple[str, Any]]:
    """Every non-empty ``vendor_id``/``vendor_ids`` anywhere in a JSON document."""
    found: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("vendor_id", "vendor_ids") and inner not in (None, []):
                found.append((key, inner))
            found += _vendor_ids_in(inner)
    elif isinstance(value, list):
        for inner in value:
            found += _vendor_ids_in(inner)
    return found


# The vendor catalogue is not a bake-off's: it names vendors, never which candidate is which.
# A delivery is production work sent to the vendor a bake-off chose: it names that vendor.
_CATALOGUE = ("/vendors/{vendor_id}",)
_QA_ROUTES = [
    (method, path)
    for method, path in _KEYED
    if "qa" in _roles(method, path) and path not in _CATALOGUE and "/deliveries" not in path
]


@dataclass
class _Seen:
    allowed: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)


def test_blinded_qa_sees_no_vendor_on_any_route(api: TestClient, two: Two) -> None:
    assert len(_QA_ROUTES) >= 30
    extra = [
        ("GET", "/bakeoffs", "?limit=1000"),
        ("GET", "/tasks", "?limit=1000"),
        ("GET", "/ui/dashboards", ""),
        ("GET", "/ui/review", ""),
    ]
    seen = _Seen()
    for label, headers in (("qa", two.unscoped["qa"]), ("scoped qa", two.scoped["qa"])):
        responses: list[tuple[str, Response]] = []
        for method, path in _QA_ROUTES:
            url = _url(path, CALLS[(method, path)], two.mine)
            responses.append((f"{method} {url}", _send(api, method, path, two.mine, headers)))
        for method, path, query in extra:
            responses.append((f"{method} {path}{query}", api.get(path + query, headers=headers)))
        for what, response in responses:
            assert response.status_code < 500, f"{label} {what}: {response.text}"
            (seen.allowed if response.status_code < 400 else seen.refused).append(what)
            for marker in LEAK_MARKERS:
                assert marker.lower() not in response.text.lower(), (
                    f"{label} {what} unblinds: {marker!r} in {response.text[:400]}"
                )
            if response.headers.get("content-type", "").startswith("application/json"):
                leaked = _vendor_ids_in(response.json())
                assert not leaked, f"{label} {what} shows vendor ids {leaked}"
    # the walk reached the data: labels, tasks, flags, results, pages
    assert len(seen.allowed) >= 40, seen.refused
    export = f"GET /bakeoffs/{two.mine.bakeoff_id}/vendors/{two.mine.vendor_id}/labels/export"
    assert export in seen.refused  # naming a candidate by vendor id is refused while blinded


@pytest.mark.dbs
def test_blinding_hides_what_the_report_found_and_shows_it_to_leads(
    client: TestClient, two: Two
) -> None:
    b = two.mine.bakeoff_id
    qa, lead = two.unscoped["qa"], two.unscoped["lead"]
    labels = client.get(f"/bakeoffs/{b}/labels?limit=1000", headers=qa).json()["data"]
    assert labels and {r["candidate"] for r in labels} == {"Candidate A", "Candidate B"}
    assert {r["annotator_id"] for r in labels} == {"annotator 1", "annotator 2"}
    assert all(r["vendor_id"] is None and r["external_id"] is None for r in labels)
    task_rows = client.get(f"/tasks?bakeoff_id={b}&limit=1000", headers=qa).json()["data"]
    assert task_rows and all(t["vendor_id"] is None and t["external_id"] is None for t in task_rows)
    assert {t["candidate"] for t in task_rows} == {"Candidate A", "Candidate B"}
    bakeoff = client.get(f"/bakeoffs/{b}", headers=qa).json()
    assert bakeoff["vendor_ids"] == [] and bakeoff["candidates"] == ["Candidate A", "Candidate B"]
    for url in (
        f"/bakeoffs/{b}/labels?vendor_id={two.mine.vendor_id}",
        f"/bakeoffs/{b}/labels?annotator_id=keyvendor-ann-1",
        f"/tasks?bakeoff_id={b}&vendor_id={two.mine.vendor_id}",
    ):
        refused = client.get(url, headers=qa)
        assert refused.status_code == 403 and refused.json()["code"] == "blinded", url
    # without the bake-off, a vendor filter skips blinded bake-offs (it would name a candidate)
    filtered = client.get(f"/tasks?vendor_id={two.mine.vendor_id}", headers=qa).json()
    assert filtered["count"] == 0

    # The same data is there for a lead: the walk above could fail.
    lead_labels = client.get(f"/bakeoffs/{b}/labels?limit=1000", headers=lead)
    assert "keyvendor-ann-1" in lead_labels.text and "keyvendor-ext" in lead_labels.text
    assert client.get(f"/bakeoffs/{b}", headers=lead).json()["vendor_ids"] == list(
        two.mine.vendor_ids
    )
    lead_tasks = client.get(f"/tasks?bakeoff_id={b}&limit=1000", headers=lead).json()["data"]
    assert {t["vendor_id"] for t in lead_tasks} == set(two.mine.vendor_ids)
    assert "keyvendor-job" in client.get(f"/tasks/{two.mine.task_id}", headers=lead).text
    assert "keyvendor-err" in client.get(f"/bakeoffs/{b}/progress", headers=lead).text

    # Unblinded, qa sees names and ids again.
    assert (
        client.put(
            f"/review/bakeoffs/{b}/blinding", json={"blinded": False}, headers=lead
        ).status_code
        == 200
    )
    open_labels = client.get(f"/bakeoffs/{b}/labels?limit=1000", headers=qa).json()["data"]
    assert {r["vendor_id"] for r in open_labels} == set(two.mine.vendor_ids)


def test_a_vendor_key_sees_only_itself_among_the_candidates(session: Session, two: Two) -> None:
    bakeoff = session.get(m.BakeOff, two.mine.bakeoff_id)
    assert bakeoff is not None
    vendor = Principal(key_id=0, name="v", role="vendor", vendor_id=two.mine.vendor_id)
    public = bakeoffs.bakeoff_public(session, bakeoff, vendor)
    assert public.vendor_ids == [two.mine.vendor_id] and public.candidates == ["Candidate A"]
    lead = bakeoffs.bakeoff_public(session, bakeoff, Principal(key_id=0, name="l", role="lead"))
    assert lead.vendor_ids == list(two.mine.vendor_ids)


@pytest.mark.parametrize(
    "url",
    [
        "/tasks?bakeoff_id=99999999999999999999&vendor_id=1",
        "/tasks?bakeoff_id=abc",
        "/bakeoffs/99999999999999999999",
        "/bakeoffs/1/labels?vendor_id=-99999999999999999999",
    ],
    ids=["huge-query", "text-query", "huge-path", "huge-negative"],
)
def test_ids_that_are_no_ids_get_422_not_500(client: TestClient, two: Two, url: str) -> None:
    for headers in (two.scoped["qa"], two.unscoped["qa"]):
        response = client.get(url, headers=headers)
        assert response.status_code == 422, f"{url}: {response.status_code} {response.text}"
