"""PATCH with an explicit ``null`` for a field that cannot be empty: 422 naming it, nothing changed.

Found by schemathesis (tests/service/test_schemathesis.py): ``{"ranking_weights": null}`` on a
bake-off or ``{"data": null}`` on a golden item was stored as JSON ``null`` and every later read
of the object answered 500; ``{"name": null}`` answered a misleading 409.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import service.models as m
from tests.service.conftest import Seed

Headers = dict[str, dict[str, str]]

FIELDS = [
    ("project", "name"),
    ("project", "description"),
    ("project", "ontology"),
    ("golden_set", "name"),
    ("golden_set", "description"),
    ("item", "data"),
    ("item", "meta"),
    ("vendor", "name"),
    ("vendor", "adapter_kind"),
    ("vendor", "adapter_settings"),
    ("vendor", "price_per_item"),
    ("bakeoff", "name"),
    ("bakeoff", "description"),
    ("bakeoff", "ranking_weights"),
    ("bakeoff", "constraints"),
    ("bakeoff", "blinded"),
    ("task", "status"),
    ("task", "attempts"),
]


def _url(what: str, client: TestClient, auth: Headers, seeded: Seed, session: Session) -> str:
    if what == "task":
        created = client.post(f"/bakeoffs/{seeded.bakeoff_id}/tasks", headers=auth["lead"])
        assert created.status_code == 201, created.text
        task = session.exec(select(m.Task).where(m.Task.bakeoff_id == seeded.bakeoff_id)).first()
        assert task is not None
        return f"/tasks/{task.id}"
    if what == "item":
        item = session.exec(select(m.GoldenItem).where(m.GoldenItem.key == "img-1")).one()
        return f"/golden-sets/{seeded.golden_set_id}/items/{item.id}"
    return {
        "project": f"/projects/{seeded.project_id}",
        "golden_set": f"/golden-sets/{seeded.golden_set_id}",
        "vendor": f"/vendors/{seeded.other_vendor_id}",
        "bakeoff": f"/bakeoffs/{seeded.bakeoff_id}",
    }[what]


@pytest.mark.parametrize(("what", "field"), FIELDS, ids=[f"{w}.{f}" for w, f in FIELDS])
def test_null_for_a_required_field_is_a_422_naming_it(
    client: TestClient,
    auth: Headers,
    seeded: Seed,
    session: Session,
    what: str,
    field: str,
) -> None:
    url = _url(what, client, auth, seeded, session)
    before = client.get(url, headers=auth["admin"])
    assert before.status_code == 200, before.text
    response = client.patch(url, json={field: None}, headers=auth["admin"])
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", field]
    assert f"{field} cannot be null" in error["msg"]
    after = client.get(url, headers=auth["admin"])
    assert after.status_code == 200, after.text
    assert after.json() == before.json()


def test_null_for_a_nullable_field_clears_it(
    client: TestClient, auth: Headers, seeded: Seed
) -> None:
    url = f"/bakeoffs/{seeded.bakeoff_id}"
    set_ = client.patch(url, json={"production_volume": 5000}, headers=auth["admin"])
    assert set_.status_code == 200 and set_.json()["production_volume"] == 5000
    cleared = client.patch(url, json={"production_volume": None}, headers=auth["admin"])
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["production_volume"] is None
