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


def test_accepting_one_annotator_takes_that_annotators_answer_under_blinding(
    client: TestClient, session: Session, api_keys: dict[str, str]
) -> None:
    seed = seed_classification(session, prefix="pick-")
    add_vendor_labels(
        session=session,
        bakeoff_id=seed.bakeoff_id,
        vendor_id=seed.vendor_ids["C"],
        records=[
            m.VendorLabelCreate(item_key="img-05", value="fox", annotator_id="pick-ann-7"),
            m.VendorLabelCreate(item_key="img-05", value="bird", annotator_id="pick-ann-2"),
        ],
    )
    qa = {"X-API-Key": api_keys["qa"]}
    assert client.post(f"/review/bakeoffs/{seed.bakeoff_id}/flags", json={}, headers=qa).is_success
    queue = client.get(
        f"/review/bakeoffs/{seed.bakeoff_id}/queue", params={"status": "all"}, headers=qa
    ).json()
    flag_id = next(f["id"] for f in queue["data"] if f["item_key"] == "img-05")
    item = client.get(f"/review/flags/{flag_id}", params={"status": "all"}, headers=qa).json()
    by_annotator = {
        c["annotator"]: c["value"]
        for c in item["candidates"]
        if c["candidate"] == "Candidate C" and c["annotator"]
    }
    assert sorted(by_annotator.values()) == ["bird", "fox"]
    url = f"/review/flags/{flag_id}/decisions"
    for annotator, value in sorted(by_annotator.items()):
        body = {"decision": "accept_candidate", "candidate": "Candidate C", "annotator": annotator}
        r = client.post(url, json=body, headers=qa)
        assert r.status_code == 201, r.text
        assert r.json()["review"]["corrected_value"] == value
        assert client.post(f"/review/flags/{flag_id}/undo", headers=qa).is_success
    r = client.post(
        url,
        json={
            "decision": "accept_candidate",
            "candidate": "Candidate C",
            "annotator": "pick-ann-7",
        },
        headers=qa,
    )
    assert r.status_code == 422
    assert "annotator" in r.text and "pick-ann-7" in r.text
