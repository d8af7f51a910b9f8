"""A lead confirms exactly the gold corrections shown, and nothing else rides along.

Security issue 11, item 8: a qa correction made directly through
``POST /golden-sets/{id}/corrections`` used to ride along when a lead confirmed the review queue's
corrections (the new version was built from the golden set's *latest* version). Now the confirm
request names what was shown (the list's ``digest`` or the corrections' ``ids``), gold changed
outside the queue is refused with ``gold_changed_elsewhere``, and pending corrections that were
not named stay pending.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

import service.models as m
from tests.service._review_seed import ReviewSeed, seed_classification

pytestmark = [
    pytest.mark.dbs,
    pytest.mark.filterwarnings("ignore:May not flag all label issues:UserWarning"),
]

Headers = dict[str, dict[str, str]]


@pytest.fixture
def animals(session: Session) -> ReviewSeed:
    return seed_classification(session)


def _flag(client: TestClient, auth: Headers, bid: int, **match: str) -> dict[str, Any]:
    r = client.post(f"/review/bakeoffs/{bid}/flags", json={}, headers=auth["qa"])
    assert r.status_code == 200, r.text
    data = client.get(
        f"/review/bakeoffs/{bid}/queue", params={"limit": "200"}, headers=auth["qa"]
    ).json()["data"]
    hits: list[dict[str, Any]] = [f for f in data if all(f.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, data)
    return hits[0]


def _decide(client: TestClient, auth: Headers, flag_id: int, **body: Any) -> None:
    r = client.post(f"/review/flags/{flag_id}/decisions", json=body, headers=auth["qa"])
    assert r.status_code in (200, 201), r.text


def _pending(client: TestClient, auth: Headers, bid: int) -> dict[str, Any]:
    r = client.get(f"/review/bakeoffs/{bid}/gold-corrections", headers=auth["lead"])
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _gold(session: Session, golden_set_id: int, version: int) -> dict[str, Any]:
    session.expire_all()
    rows = session.exec(
        select(m.GoldenItem.key, m.GoldLabel.value)
        .join(m.GoldLabel, m.GoldLabel.item_id == m.GoldenItem.id)  # type: ignore[arg-type]
        .join(m.GoldenSetVersion, m.GoldenSetVersion.id == m.GoldLabel.version_id)  # type: ignore[arg-type]
        .where(m.GoldenSetVersion.golden_set_id == golden_set_id)
        .where(m.GoldenSetVersion.version == version)
    ).all()
    return dict(rows)


def _pinned_version(session: Session, bid: int) -> int:
    session.expire_all()
    bakeoff = session.get(m.BakeOff, bid)
    assert bakeoff is not None
    version = session.get(m.GoldenSetVersion, bakeoff.golden_set_version_id)
    assert version is not None
    return version.version


def test_a_direct_correction_does_not_ride_along_with_the_queue_confirmation(
    client: TestClient, auth: Headers, animals: ReviewSeed, session: Session
) -> None:
    bid, gid = animals.bakeoff_id, animals.golden_set_id
    flag = _flag(client, auth, bid, item_key="img-10", reason="gold_may_be_wrong")
    _decide(client, auth, flag["id"], decision="accept_candidate")
    # qa changes another item's gold directly: version 2, not shown in the review queue
    direct = client.post(
        f"/golden-sets/{gid}/corrections",
        json={"labels": [{"item_key": "img-05", "value": "bird"}]},
        headers=auth["lead"],
    )
    assert direct.status_code == 201, direct.text
    pending = _pending(client, auth, bid)
    assert [(p["item_key"], p["proposed"]) for p in pending["data"]] == [("img-10", "dog")]
    assert pending["golden_set_version"] == 1 and pending["latest_version"] == 2
    assert pending["changed_elsewhere"] == ["img-05"]

    url = f"/review/bakeoffs/{bid}/gold-corrections"
    refused = client.post(url, json={"digest": pending["digest"]}, headers=auth["lead"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "gold_changed_elsewhere"
    assert "img-05" in refused.json()["detail"]
    by_ids = client.post(url, json={"ids": [pending["data"][0]["id"]]}, headers=auth["lead"])
    assert by_ids.status_code == 409 and by_ids.json()["code"] == "gold_changed_elsewhere"
    assert _pinned_version(session, bid) == 1  # nothing applied
    assert set(_gold(session, gid, 3)) == set()  # no version 3

    # The lead adopts version 2 explicitly, then sees the list again (a new digest) and confirms.
    v2 = session.exec(
        select(m.GoldenSetVersion.id)
        .where(m.GoldenSetVersion.golden_set_id == gid)
        .where(m.GoldenSetVersion.version == 2)
    ).one()
    moved = client.patch(
        f"/bakeoffs/{bid}", json={"golden_set_version_id": v2}, headers=auth["lead"]
    )
    assert moved.status_code == 200, moved.text
    again = _pending(client, auth, bid)
    assert again["changed_elsewhere"] == [] and again["digest"] != pending["digest"]
    stale = client.post(url, json={"digest": pending["digest"]}, headers=auth["lead"])
    assert stale.status_code == 409 and stale.json()["code"] == "corrections_changed"
    applied = client.post(url, json={"digest": again["digest"]}, headers=auth["lead"])
    assert applied.status_code == 200, applied.text
    out = applied.json()
    assert (out["old_version"], out["new_version"], out["corrected_items"]) == (2, 3, ["img-10"])
    v3 = _gold(session, gid, 3)
    changed = {k for k, v in v3.items() if v != _gold(session, gid, 2)[k]}
    assert changed == {"img-10"} and v3["img-10"] == "dog"
    assert _pinned_version(session, bid) == 3


def test_confirming_by_ids_applies_only_those_and_leaves_the_rest_pending(
    client: TestClient, auth: Headers, animals: ReviewSeed, session: Session
) -> None:
    bid, gid = animals.bakeoff_id, animals.golden_set_id
    wrong_gold = _flag(client, auth, bid, item_key="img-10", reason="gold_may_be_wrong")
    _decide(client, auth, wrong_gold["id"], decision="accept_candidate")
    fox = _flag(client, auth, bid, item_key="img-01", reason="vendor_vs_gold")
    _decide(client, auth, fox["id"], decision="correct", corrected_value="dog")
    pending = _pending(client, auth, bid)
    ids = {p["item_key"]: p["id"] for p in pending["data"]}
    assert set(ids) == {"img-01", "img-10"} and len(set(ids.values())) == 2

    url = f"/review/bakeoffs/{bid}/gold-corrections"
    applied = client.post(url, json={"ids": [ids["img-10"]]}, headers=auth["lead"])
    assert applied.status_code == 200, applied.text
    out = applied.json()
    assert out["corrected_items"] == ["img-10"] and out["left_pending"] == ["img-01"]
    v1, v2 = _gold(session, gid, 1), _gold(session, gid, 2)
    assert {k for k in v1 if v1[k] != v2[k]} == {"img-10"}
    assert v2["img-01"] == "cat"  # not named: not applied
    still = _pending(client, auth, bid)
    assert [(p["item_key"], p["proposed"]) for p in still["data"]] == [("img-01", "dog")]
    # an id names one exact correction against one pinned version: the old one is stale now
    reused = client.post(url, json={"ids": [ids["img-01"]]}, headers=auth["lead"])
    assert reused.status_code == 409 and reused.json()["code"] == "corrections_changed"


def test_a_correction_that_changed_since_it_was_shown_is_refused(
    client: TestClient, auth: Headers, animals: ReviewSeed, session: Session
) -> None:
    bid = animals.bakeoff_id
    fox = _flag(client, auth, bid, item_key="img-01", reason="vendor_vs_gold")
    _decide(client, auth, fox["id"], decision="correct", corrected_value="dog")
    shown = _pending(client, auth, bid)
    # the reviewer undoes and proposes another value after the lead loaded the list
    undo = client.post(f"/review/flags/{fox['id']}/undo", headers=auth["qa"])
    assert undo.status_code == 200, undo.text
    _decide(client, auth, fox["id"], decision="correct", corrected_value="bird")
    url = f"/review/bakeoffs/{bid}/gold-corrections"
    for body in ({"digest": shown["digest"]}, {"ids": [shown["data"][0]["id"]]}):
        r = client.post(url, json=body, headers=auth["lead"])
        assert r.status_code == 409, r.text
        assert r.json()["code"] == "corrections_changed"
    assert _pinned_version(session, bid) == 1


@pytest.mark.parametrize(
    "body",
    [None, {}, {"digest": "x", "ids": ["y"]}, {"ids": []}, {"digest": "x", "extra": 1}],
    ids=["no-body", "empty", "both", "no-ids", "unknown-field"],
)
def test_a_confirmation_must_name_what_it_confirms(
    client: TestClient, auth: Headers, animals: ReviewSeed, body: dict[str, Any] | None
) -> None:
    bid = animals.bakeoff_id
    flag = _flag(client, auth, bid, item_key="img-10", reason="gold_may_be_wrong")
    _decide(client, auth, flag["id"], decision="accept_candidate")
    r = client.post(f"/review/bakeoffs/{bid}/gold-corrections", json=body, headers=auth["lead"])
    assert r.status_code == 422, r.text


def test_the_queue_page_confirms_the_list_it_shows(
    client: TestClient, auth: Headers, api_keys: dict[str, str], animals: ReviewSeed
) -> None:
    bid = animals.bakeoff_id
    flag = _flag(client, auth, bid, item_key="img-10", reason="gold_may_be_wrong")
    _decide(client, auth, flag["id"], decision="accept_candidate")
    login = client.get("/ui/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token is not None
    signed_in = client.post(
        "/ui/login",
        data={"api_key": api_keys["lead"], "csrf_token": token.group(1)},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    page = client.get(f"/ui/review/bakeoffs/{bid}")
    assert page.status_code == 200
    digest = re.search(r'name="digest" value="([0-9a-f]+)"', page.text)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert digest is not None and csrf is not None
    assert digest.group(1) == _pending(client, auth, bid)["digest"]
    form = {"digest": digest.group(1), "csrf_token": csrf.group(1)}
    url = f"/ui/review/bakeoffs/{bid}/gold-corrections"
    done = client.post(
        url, data=form, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False
    )
    assert done.status_code == 303, done.text
    again = client.post(
        url, data=form, headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False
    )
    assert again.status_code == 409  # nothing pending any more: not applied twice
