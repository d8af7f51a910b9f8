"""Blinding hides a candidate's identity everywhere a qa reviewer looks, annotators included."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

import service.models as m
from service.domain.vendor_labels import add_vendor_labels
from tests.service._review_seed import seed_classification


def test_blinded_reviewer_never_sees_a_vendor_named_annotator(
    client: TestClient, session: Session, api_keys: dict[str, str]
) -> None:
    seed = seed_classification(session, prefix="blind-")
    # Vendors often name annotators after themselves; Cheap Tags does.
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids["C"],
        records=[
            m.VendorLabelCreate(item_key="img-01", value="fox", annotator_id="cheaptags-ann-7"),
            m.VendorLabelCreate(item_key="img-01", value="cat", annotator_id="cheaptags-ann-2"),
        ],
    )
    qa = {"X-API-Key": api_keys["qa"]}
    lead = {"X-API-Key": api_keys["lead"]}
    computed = client.post(f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={}, headers=qa)
    assert computed.status_code == 200, computed.text
    queue = client.get(f"/review/bakeoffs/{seed.bakeoff_id}/queue", headers=qa).json()
    item_flags = [f for f in queue["data"] if f["item_key"] == "img-01"]
    assert item_flags

    for flag in item_flags:
        page = client.get(f"/review/flags/{flag['id']}", headers=qa)
        assert page.status_code == 200
        body = page.text.lower()
        assert "cheap" not in body and "cheaptags" not in body
        annotators = {c["annotator"] for c in page.json()["candidates"] if c["annotator"]}
        assert annotators == {"annotator 1", "annotator 2"}
        html = client.get(f"/ui/review/flags/{flag['id']}", headers=qa)
        assert html.status_code == 200 and "cheaptags" not in html.text.lower()

    # A lead (not blinded) sees who labelled what.
    page = client.get(f"/review/flags/{item_flags[0]['id']}", headers=lead).json()
    assert {"cheaptags-ann-7", "cheaptags-ann-2"} <= {c["annotator"] for c in page["candidates"]}
