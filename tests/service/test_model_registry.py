"""No code execution through vendor settings (issue 11, item 1).

A ``model`` candidate runs code on the worker, so the API only *names* a model the server's
operator registered (a file in ``BAKEOFF_MODEL_DIR`` or a ``bakeoff.models`` entry point).
Import paths (``callable_ref``), file paths (``path``) and the file kind's ``directory`` are
refused when a vendor is created or changed, and again when its adapter is built.
"""

from __future__ import annotations

import json

import joblib
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.linear_model import LogisticRegression
from sqlmodel import Session, select

import service.models as m
from adapters.base import Batch, Instructions, Ontology, OntologyClass, WorkItem
from adapters.model import ModelAdapter
from service.core.config import Settings
from service.domain.dispatch_results import adapter_for
from service.domain.errors import Invalid
from tests.service.conftest import ServerFolders

Headers = dict[str, dict[str, str]]

CALLED: list[object] = []


@pytest.fixture
def settings(server_folders: ServerFolders) -> Settings:
    """The app's settings name the operator's folders too (routes read SettingsDep)."""
    return Settings(
        environment="test",
        auto_migrate=False,
        database_url="sqlite://",
        model_dir=str(server_folders.model_dir),
        vendor_files_dir=str(server_folders.vendor_files_dir),
    )


def record_call(x: object) -> object:
    """Stands in for ``pickle:loads``: if it is ever called, the hole is open."""
    CALLED.append(x)
    return x


def _vendor(kind: str, settings: dict[str, object], name: str = "candidate") -> dict[str, object]:
    return {"name": name, "adapter_kind": kind, "adapter_settings": settings}


@pytest.mark.parametrize(
    ("kind", "given", "refused"),
    [
        ("model", {"callable_ref": "pickle:loads"}, "callable_ref"),
        (
            "model",
            {"callable_ref": "tests.service.test_model_registry:record_call"},
            "callable_ref",
        ),
        ("model", {"path": "/tmp/evil.joblib"}, "path"),
        ("model", {"model": "identity", "path": "/tmp/evil.joblib"}, "path"),
        ("model", {"model": "identity", "device": "cuda"}, "device"),
        ("file", {"directory": "/etc"}, "directory"),
        ("simulator", {"url": "http://127.0.0.1:1", "directory": "/etc"}, "directory"),
    ],
    ids=["pickle-loads", "own-callable", "path", "path-beside-name", "device", "dir", "sim-dir"],
)
def test_server_side_settings_are_refused_on_create(
    client: TestClient,
    auth: Headers,
    session: Session,
    server_folders: ServerFolders,
    kind: str,
    given: dict[str, object],
    refused: str,
) -> None:
    response = client.post("/vendors", json=_vendor(kind, given), headers=auth["lead"])
    assert response.status_code == 422, response.text
    body = json.dumps(response.json())
    assert refused in body and "allowed settings" in body
    assert session.exec(select(m.Vendor).where(m.Vendor.name == "candidate")).first() is None
    assert CALLED == []


def test_server_side_settings_are_refused_on_update(
    client: TestClient, auth: Headers, session: Session, server_folders: ServerFolders
) -> None:
    created = client.post(
        "/vendors", json=_vendor("model", {"model": "identity"}), headers=auth["lead"]
    )
    assert created.status_code == 201, created.text
    vendor_id = created.json()["id"]
    for given in ({"callable_ref": "pickle:loads"}, {"model": "identity", "path": "/x.pkl"}):
        patched = client.patch(
            f"/vendors/{vendor_id}", json={"adapter_settings": given}, headers=auth["admin"]
        )
        assert patched.status_code == 422, patched.text
    # changing the kind is checked against the settings it would then use
    as_file = client.patch(
        f"/vendors/{vendor_id}", json={"adapter_kind": "file"}, headers=auth["admin"]
    )
    assert as_file.status_code == 422, as_file.text
    session.expire_all()
    stored = session.get(m.Vendor, vendor_id)
    assert stored is not None
    assert (stored.adapter_kind, stored.adapter_settings) == ("model", {"model": "identity"})


@pytest.mark.parametrize(
    "name", ["missing.joblib", "../models/model.joblib", "/tmp/model.joblib"], ids=str
)
def test_a_model_must_be_registered_by_name(
    client: TestClient, auth: Headers, server_folders: ServerFolders, name: str
) -> None:
    joblib.dump(_fitted(), server_folders.model_dir / "model.joblib")
    response = client.post("/vendors", json=_vendor("model", {"model": name}), headers=auth["lead"])
    assert response.status_code == 422, response.text
    detail = json.dumps(response.json())
    assert "registered: identity, model.joblib" in detail


def test_a_stored_row_from_before_the_rule_cannot_run_code(
    session: Session, server_folders: ServerFolders
) -> None:
    """Defence in depth: settings written straight into the database are checked again."""
    vendor = m.Vendor(
        name="legacy",
        adapter_kind="model",
        adapter_settings={"callable_ref": "tests.service.test_model_registry:record_call"},
    )
    session.add(vendor)
    session.commit()
    with pytest.raises(Invalid, match="callable_ref"):
        adapter_for(vendor)
    assert CALLED == []


def _fitted() -> LogisticRegression:
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
    return LogisticRegression().fit(x, ["b", "a", "b", "a"])


def _batch() -> Batch:
    return Batch(
        bakeoff_id="1",
        task_type="classification",
        ontology=Ontology(classes=(OntologyClass(name="a"), OntologyClass(name="b"))),
        instructions=Instructions(version=1, text="-"),
        items=(WorkItem(item_id="i1", data={"features": [0.0, 1.0]}),),
    )


@pytest.mark.parametrize("registered", ["file", "entry_point"])
def test_registered_models_are_built_and_predict(
    session: Session, server_folders: ServerFolders, registered: str
) -> None:
    if registered == "file":
        joblib.dump(_fitted(), server_folders.model_dir / "clf.joblib")
        given: dict[str, object] = {"model": "clf.joblib"}
    else:  # identity = numpy:asarray: the features [0, 1] are the probabilities of a, b
        given = {"model": "identity"}
    vendor = m.Vendor(name=f"model-{registered}", adapter_kind="model", adapter_settings=given)
    session.add(vendor)
    session.commit()
    adapter = adapter_for(vendor)
    assert isinstance(adapter, ModelAdapter)
    job = adapter.submit(_batch())
    assert [a.label for a in adapter.fetch_results(job)] == ["b"]


def test_the_file_kind_writes_only_where_the_operator_said(
    session: Session, server_folders: ServerFolders
) -> None:
    vendor = m.Vendor(name="files", adapter_kind="file", adapter_settings={"format": "csv"})
    session.add(vendor)
    session.commit()
    adapter = adapter_for(vendor)
    adapter.submit(_batch())
    written = list(server_folders.vendor_files_dir.rglob("items.csv"))
    assert len(written) == 1


def test_models_route_lists_names_for_leads_only(
    client: TestClient, auth: Headers, server_folders: ServerFolders
) -> None:
    joblib.dump(_fitted(), server_folders.model_dir / "clf.joblib")
    (server_folders.model_dir / "notes.txt").write_text("not a model")
    listed = client.get("/models", headers=auth["lead"])
    assert listed.status_code == 200, listed.text
    assert listed.json() == {
        "data": [
            {"name": "identity", "source": "entry_point"},
            {"name": "clf.joblib", "source": "file"},
        ],
        "count": 2,
    }
    assert str(server_folders.model_dir) not in listed.text  # names only, no server paths
    for role in ("qa", "viewer", "vendor"):
        assert client.get("/models", headers=auth[role]).status_code == 403


# --------------------------------------------------------------------------- environment secrets


def test_an_endpoint_set_through_the_api_never_gets_a_secret_from_the_environment(
    session: Session, server_folders: ServerFolders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator gives Acme's token in the environment; a lead who points Acme (or a
    look-alike) at a host of theirs must not receive it."""
    from adapters.http import HttpAdapter

    monkeypatch.setenv("BAKEOFF_VENDOR_ACME_BASE_URL", "https://api.acme.example")
    monkeypatch.setenv("BAKEOFF_VENDOR_ACME_API_KEY", "OPERATOR-TOKEN-1234567890")
    acme = m.Vendor(name="acme", adapter_kind="http", adapter_settings={})
    session.add(acme)
    session.commit()
    from_env = adapter_for(acme)
    assert isinstance(from_env, HttpAdapter)
    assert from_env.settings.base_url == "https://api.acme.example"
    assert from_env.settings.api_key is not None  # endpoint and secret both from the operator

    acme.adapter_settings = {"base_url": "https://attacker.example"}
    session.add(acme)
    session.commit()
    redirected = adapter_for(acme)
    assert isinstance(redirected, HttpAdapter)
    assert redirected.settings.base_url == "https://attacker.example"
    assert redirected.settings.api_key is None


def test_vendor_names_may_not_share_a_slug(
    client: TestClient, auth: Headers, server_folders: ServerFolders
) -> None:
    first = client.post("/vendors", json=_vendor("file", {}, name="Acme"), headers=auth["lead"])
    assert first.status_code == 201, first.text
    for name in ("ACME", "acme!", " Acme "):
        again = client.post("/vendors", json=_vendor("file", {}, name=name), headers=auth["lead"])
        assert again.status_code == 409, (name, again.text)
        assert "slug" in again.text
    other = client.post("/vendors", json=_vendor("file", {}, name="Other"), headers=auth["lead"])
    renamed = client.patch(
        f"/vendors/{other.json()['id']}", json={"name": "acme"}, headers=auth["admin"]
    )
    assert renamed.status_code == 409, renamed.text
