"""QA review: flags computed from stored labels, the queue, decisions, audit, gold corrections."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

import service.models as m
from tests.service._review_seed import ReviewSeed, seed_classification, seed_detection

# Every test runs on SQLite and again on PostgreSQL (skipped where none is reachable). The
# seeded bake-off is tiny, so cleanlab warns that rare classes may hide issues: expected here.
pytestmark = [
    pytest.mark.dbs,
    pytest.mark.filterwarnings("ignore:May not flag all label issues:UserWarning"),
]


@pytest.fixture
def animals(session: Session) -> ReviewSeed:
    return seed_classification(session)


def _compute(client: TestClient, headers: dict[str, str], bakeoff_id: int, **body: Any) -> Any:
    response = client.post(f"/review/bakeoffs/{bakeoff_id}/flags", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _queue(client: TestClient, headers: dict[str, str], bakeoff_id: int, **params: str) -> Any:
    response = client.get(f"/review/bakeoffs/{bakeoff_id}/queue", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _find(data: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    hits = [f for f in data if all(f.get(k) == v for k, v in match.items())]
    assert len(hits) == 1, (match, data)
    return hits[0]


class TestFlagsFromStoredLabels:
    def test_planted_problems_are_flagged_and_ordered(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        result = _compute(client, auth["qa"], animals.bakeoff_id)
        assert result["created"] > 0
        assert result["open_by_reason"]["gold_may_be_wrong"] == 1
        queue = _queue(client, auth["qa"], animals.bakeoff_id, limit="100")
        data = queue["data"]
        assert queue["count"] == len(data) == sum(result["open_by_reason"].values())
        scores = [f["score"] for f in data]
        assert scores == sorted(scores, reverse=True)
        # The two strongest signals come first: gold outvoted on img-10, a 3-way split on img-11.
        assert {(f["item_key"], f["reason"]) for f in data[:2]} == {
            ("img-10", "gold_may_be_wrong"),
            ("img-11", "candidates_disagree"),
        }
        gold_flag = _find(data, item_key="img-10", reason="gold_may_be_wrong")
        assert gold_flag["target"] == "gold" and gold_flag["suggested_label"] == "dog"
        # Candidate C's fox labels are vendor-vs-gold flags, blinded for qa.
        for key in ("img-01", "img-02", "img-03"):
            f = _find(data, item_key=key, reason="vendor_vs_gold")
            assert f["candidate"] == "Candidate C" and f["vendor_id"] is None
            assert f["score"] == pytest.approx(0.9)
            assert set(f["classes"]) == {"cat", "fox"}

    def test_recompute_is_idempotent_and_keeps_reviews(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        first = _compute(client, auth["qa"], animals.bakeoff_id)
        flag = _queue(client, auth["qa"], animals.bakeoff_id)["data"][0]
        r = client.post(
            f"/review/flags/{flag['id']}/decisions",
            json={"decision": "confirm_gold"},
            headers=auth["qa"],
        )
        assert r.status_code == 201, r.text
        again = _compute(client, auth["qa"], animals.bakeoff_id)
        assert again["created"] == 0 and again["deleted"] == 0
        assert again["updated"] == first["created"]
        stored = client.get(f"/review/flags/{flag['id']}", headers=auth["qa"]).json()
        assert stored["flag"]["status"] == "resolved"

    def test_filters(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        _compute(client, auth["qa"], animals.bakeoff_id)
        bid = animals.bakeoff_id
        c = _queue(client, auth["qa"], bid, candidate="Candidate C", reason="vendor_vs_gold")
        assert {f["item_key"] for f in c["data"]} == {
            "img-01",
            "img-02",
            "img-03",
            "img-10",
            "img-11",
        }
        gold = _queue(client, auth["qa"], bid, candidate="gold")
        assert {f["target"] for f in gold["data"]} == {"gold"}
        fox = _queue(client, auth["qa"], bid, **{"class": "fox"})
        assert fox["count"] > 0 and all("fox" in f["classes"] for f in fox["data"])
        dim = _queue(client, auth["qa"], bid, slice="lighting=dim")
        lit = {k: ("dim" if i % 2 else "bright") for i, k in enumerate(sorted(animals.item_ids))}
        assert dim["count"] > 0 and all(lit[f["item_key"]] == "dim" for f in dim["data"])
        bad = client.get(
            f"/review/bakeoffs/{bid}/queue", params={"slice": "dim"}, headers=auth["qa"]
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "slice"]
        unknown = client.get(
            f"/review/bakeoffs/{bid}/queue", params={"candidate": "Acme"}, headers=auth["qa"]
        )
        assert unknown.status_code == 422  # blinded: a qa key cannot filter by vendor name

    def test_sort_and_min_score_as_on_the_review_page(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        _compute(client, auth["qa"], animals.bakeoff_id)
        bid = animals.bakeoff_id
        every = _queue(client, auth["qa"], bid, limit="500")["data"]
        scores = sorted({f["score"] for f in every})
        assert len(scores) >= 2, scores
        cut = scores[len(scores) // 2]
        high = _queue(client, auth["qa"], bid, min_score=str(cut), limit="500")
        assert high["count"] == sum(f["score"] >= cut for f in every) < len(every)
        by_item = _queue(client, auth["qa"], bid, sort="item", limit="500")["data"]
        keys = [f["item_key"] for f in by_item]
        assert keys == sorted(keys) and sorted(keys) == sorted(f["item_key"] for f in every)
        for params in ({"sort": "newest"}, {"min_score": "1.5"}):
            bad = client.get(f"/review/bakeoffs/{bid}/queue", params=params, headers=auth["qa"])
            assert bad.status_code == 422, bad.text
            assert bad.json()["detail"][0]["loc"] == ["query", next(iter(params))]

    def test_model_probabilities_add_model_flags_and_bad_uploads_name_the_item(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        truth = seed_gold()
        truth["img-10"] = "dog"
        probs = {
            k: {c: (0.85 if c == v else 0.05) for c in ("cat", "dog", "bird", "fox")}
            for k, v in truth.items()
        }
        result = _compute(client, auth["qa"], animals.bakeoff_id, pred_probs=probs)
        assert result["open_by_reason"].get("model_vs_label", 0) >= 1
        model = _queue(client, auth["qa"], animals.bakeoff_id, reason="model_vs_label")
        gold_hit = [f for f in model["data"] if f["target"] == "gold"]
        assert [f["item_key"] for f in gold_hit] == ["img-10"]
        assert gold_hit[0]["suggested_label"] == "dog"

        bad = dict(probs)
        bad["img-02"] = {"cat": 0.5, "dog": 0.1}
        r = client.post(
            f"/review/bakeoffs/{animals.bakeoff_id}/flags",
            json={"pred_probs": bad},
            headers=auth["qa"],
        )
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "pred_probs", "img-02"]
        r = client.post(
            f"/review/bakeoffs/{animals.bakeoff_id}/flags",
            json={"pred_probs": {"nope": probs["img-01"]}},
            headers=auth["qa"],
        )
        assert r.status_code == 422 and "nope" in r.json()["detail"][0]["msg"]

    def test_features_are_cross_validated(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        # One feature per class, so the out-of-fold model learns gold's classes.
        onehot = {"cat": [1.0, 0, 0, 0], "dog": [0, 1.0, 0, 0], "bird": [0, 0, 1.0, 0]}
        feats = {k: onehot[v] for k, v in seed_gold().items()}
        feats["img-10"] = onehot["dog"]  # its features say dog; gold says cat
        result = _compute(client, auth["qa"], animals.bakeoff_id, features=feats)
        model = _queue(client, auth["qa"], animals.bakeoff_id, reason="model_vs_label")
        assert result["open_by_reason"].get("model_vs_label", 0) == model["count"]
        ragged = dict(feats, **{"img-01": [1.0]})
        r = client.post(
            f"/review/bakeoffs/{animals.bakeoff_id}/flags",
            json={"features": ragged},
            headers=auth["qa"],
        )
        assert r.status_code == 422


def seed_gold() -> dict[str, str]:
    from tests.service._review_seed import CLASS_GOLD

    return dict(CLASS_GOLD)


class TestDecisions:
    def test_decide_undo_audit(
        self,
        client: TestClient,
        auth: dict[str, dict[str, str]],
        animals: ReviewSeed,
        session: Session,
    ) -> None:
        _compute(client, auth["qa"], animals.bakeoff_id)
        data = _queue(client, auth["qa"], animals.bakeoff_id)["data"]
        flag = _find(data, item_key="img-01", reason="vendor_vs_gold")
        url = f"/review/flags/{flag['id']}"
        r = client.post(
            f"{url}/decisions",
            json={"decision": "confirm_gold", "comment": "clearly a cat"},
            headers=auth["qa"],
        )
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["flag"]["status"] == "resolved" and body["proposed_gold"] is None
        assert body["review"]["reviewer"] == "test-qa"
        again = client.post(
            f"{url}/decisions", json={"decision": "confirm_gold"}, headers=auth["qa"]
        )
        assert again.status_code == 409 and again.json()["code"] == "already_decided"

        undone = client.post(f"{url}/undo", headers=auth["qa"])
        assert undone.status_code == 200 and undone.json()["undone"] is True
        assert client.get(url, headers=auth["qa"]).json()["flag"]["status"] == "open"
        assert client.post(f"{url}/undo", headers=auth["qa"]).status_code == 404

        r = client.post(
            f"{url}/decisions",
            json={"decision": "accept_candidate"},
            headers=auth["qa"],
        )
        assert r.status_code == 201
        assert r.json()["proposed_gold"] == "fox"  # accepting C's label proposes a new gold

        events = client.get(
            f"/review/bakeoffs/{animals.bakeoff_id}/audit", headers=auth["qa"]
        ).json()["data"]
        mine = [
            e for e in events if e["entity_type"] == "flag" and e["entity_id"] == str(flag["id"])
        ]
        assert [e["action"] for e in mine] == ["review.decide", "review.undo", "review.decide"]
        first = mine[-1]
        assert first["actor"] == "test-qa" and first["before"]["status"] == "open"
        assert first["after"]["decision"] == "confirm_gold"
        assert first["after"]["comment"] == "clearly a cat"
        rows = session.exec(select(m.Review).where(m.Review.flag_id == flag["id"])).all()
        assert [(r.decision, r.undone) for r in rows] == [
            ("confirm_gold", True),
            ("accept_candidate", False),
        ]

    def test_correct_validates_against_the_ontology(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        _compute(client, auth["qa"], animals.bakeoff_id)
        flag = _queue(client, auth["qa"], animals.bakeoff_id)["data"][0]
        url = f"/review/flags/{flag['id']}/decisions"
        r = client.post(
            url, json={"decision": "correct", "corrected_value": "zebra"}, headers=auth["qa"]
        )
        assert r.status_code == 422
        assert r.json()["detail"][0]["loc"] == ["body", "corrected_value"]
        assert "zebra" in r.json()["detail"][0]["msg"]
        r = client.post(url, json={"decision": "correct"}, headers=auth["qa"])
        assert r.status_code == 422
        r = client.post(
            url, json={"decision": "correct", "corrected_value": "bird"}, headers=auth["qa"]
        )
        assert r.status_code == 201

    def test_item_level_flag_needs_a_candidate(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        _compute(client, auth["qa"], animals.bakeoff_id)
        data = _queue(client, auth["qa"], animals.bakeoff_id, reason="candidates_disagree")["data"]
        flag = _find(data, item_key="img-11")
        url = f"/review/flags/{flag['id']}/decisions"
        r = client.post(url, json={"decision": "accept_candidate"}, headers=auth["qa"])
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "candidate"]
        r = client.post(
            url,
            json={"decision": "accept_candidate", "candidate": "Candidate C"},
            headers=auth["qa"],
        )
        assert r.status_code == 201 and r.json()["proposed_gold"] == "dog"

    def test_item_view_has_everything_the_page_needs(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        _compute(client, auth["qa"], animals.bakeoff_id)
        data = _queue(client, auth["qa"], animals.bakeoff_id)["data"]
        flag = _find(data, item_key="img-02", reason="vendor_vs_gold")
        item = client.get(f"/review/flags/{flag['id']}", headers=auth["qa"]).json()
        assert item["gold"] == "cat" and item["task_type"] == "classification"
        assert [(c["candidate"], c["value"]) for c in item["candidates"]] == [
            ("Candidate A", "cat"),
            ("Candidate B", "cat"),
            ("Candidate C", "fox"),
        ]
        assert all(c["vendor_id"] is None for c in item["candidates"])
        assert item["item_data"]["image"].startswith("data:image/png;base64,")
        assert [e["title"] for e in item["examples"]] == ["A cat, not a fox", "Fox in the snow"]
        assert item["total"] == len(data) and item["position"] == data.index(flag) + 1
        assert item["next_id"] == (
            data[item["position"]]["id"] if item["position"] < len(data) else None
        )


class TestGoldCorrections:
    def test_confirmed_correction_makes_a_new_version_and_updates_results(
        self,
        client: TestClient,
        auth: dict[str, dict[str, str]],
        animals: ReviewSeed,
        session: Session,
    ) -> None:
        bid = animals.bakeoff_id
        before = client.get(f"/bakeoffs/{bid}/results", headers=auth["lead"])
        assert before.status_code == 200, before.text
        _compute(client, auth["qa"], bid)
        flag = _find(_queue(client, auth["qa"], bid)["data"], reason="gold_may_be_wrong")
        r = client.post(
            f"/review/flags/{flag['id']}/decisions",
            json={"decision": "accept_candidate"},
            headers=auth["qa"],
        )
        assert r.json()["proposed_gold"] == "dog"
        pending = client.get(f"/review/bakeoffs/{bid}/gold-corrections", headers=auth["qa"]).json()
        assert [(p["item_key"], p["gold"], p["proposed"]) for p in pending["data"]] == [
            ("img-10", "cat", "dog")
        ]
        # qa proposes; only a lead (the expert) confirms.
        url = f"/review/bakeoffs/{bid}/gold-corrections"
        shown = {"digest": pending["digest"]}
        denied = client.post(url, json=shown, headers=auth["qa"])
        assert denied.status_code == 403
        applied = client.post(url, json=shown, headers=auth["lead"])
        assert applied.status_code == 200, applied.text
        out = applied.json()
        assert (out["old_version"], out["new_version"], out["corrected_items"]) == (
            1,
            2,
            ["img-10"],
        )

        bakeoff = session.get(m.BakeOff, bid)
        assert bakeoff is not None
        session.refresh(bakeoff)
        new_version = session.exec(
            select(m.GoldenSetVersion)
            .where(m.GoldenSetVersion.golden_set_id == animals.golden_set_id)
            .where(m.GoldenSetVersion.version == 2)
        ).one()
        assert bakeoff.golden_set_version_id == new_version.id
        gold_v1 = session.exec(
            select(m.GoldLabel.value)
            .where(m.GoldLabel.version_id == animals.version_id)
            .where(m.GoldLabel.item_id == animals.item_ids["img-10"])
        ).one()
        gold_v2 = session.exec(
            select(m.GoldLabel.value)
            .where(m.GoldLabel.version_id == new_version.id)
            .where(m.GoldLabel.item_id == animals.item_ids["img-10"])
        ).one()
        assert (gold_v1, gold_v2) == ("cat", "dog")  # the old version is untouched
        # Candidates A and B labelled img-10 "dog": their accuracy rises with the corrected gold.
        after = client.get(f"/bakeoffs/{bid}/results", headers=auth["lead"])
        assert after.status_code == 200
        assert _accuracy(after.json(), "Acme Labels") > _accuracy(before.json(), "Acme Labels")
        nothing = client.post(url, json=shown, headers=auth["lead"])
        assert nothing.status_code == 409
        events = client.get(f"/review/bakeoffs/{bid}/audit", headers=auth["lead"]).json()["data"]
        gold_events = [e for e in events if e["action"] == "gold.correct"]
        assert len(gold_events) == 1
        assert gold_events[0]["before"] == {"version": 1, "value": "cat"}
        assert gold_events[0]["after"]["value"] == "dog" and gold_events[0]["actor"] == "test-lead"

    def test_disagreeing_reviewers_block_a_correction(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        bid = animals.bakeoff_id
        _compute(client, auth["qa"], bid)
        flag = _find(
            _queue(client, auth["qa"], bid)["data"], item_key="img-11", reason="candidates_disagree"
        )
        url = f"/review/flags/{flag['id']}/decisions"
        client.post(
            url,
            json={"decision": "accept_candidate", "candidate": "Candidate B"},
            headers=auth["qa"],
        )
        client.post(
            url, json={"decision": "correct", "corrected_value": "dog"}, headers=auth["lead"]
        )
        pending = client.get(f"/review/bakeoffs/{bid}/gold-corrections", headers=auth["qa"]).json()
        assert pending["data"] == [] and pending["conflicting_items"] == ["img-11"]
        stats = client.get(f"/review/bakeoffs/{bid}/stats", headers=auth["qa"]).json()
        assert stats["agreement"] == {
            "flags_compared": 1,
            "pairs": 1,
            "agreeing_pairs": 0,
            "agreement": 0.0,
        }
        names = {r["reviewer"]: r["reviews"] for r in stats["reviewers"]}
        assert names == {"test-qa": 1, "test-lead": 1}


def _accuracy(results: dict[str, Any], vendor: str) -> float:
    rows = [v for v in results["vendors"] if v["vendor"] == vendor]
    assert len(rows) == 1, results
    return float(rows[0]["metrics"]["accuracy"])


class TestBlinding:
    def test_lead_turns_blinding_off(
        self, client: TestClient, auth: dict[str, dict[str, str]], animals: ReviewSeed
    ) -> None:
        bid = animals.bakeoff_id
        _compute(client, auth["qa"], bid)
        assert (
            client.put(
                f"/review/bakeoffs/{bid}/blinding", json={"blinded": False}, headers=auth["qa"]
            ).status_code
            == 403
        )
        r = client.put(
            f"/review/bakeoffs/{bid}/blinding", json={"blinded": False}, headers=auth["lead"]
        )
        assert r.status_code == 200 and r.json() == {"blinded": False}
        data = _queue(client, auth["qa"], bid, reason="vendor_vs_gold")["data"]
        names = {f["candidate"] for f in data}
        assert "Cheap Tags" in names and not any(n.startswith("Candidate") for n in names)
        assert all(f["vendor_id"] is not None for f in data)
        named = _queue(client, auth["qa"], bid, candidate="Cheap Tags")
        assert named["count"] > 0


def test_detection_flags(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session
) -> None:
    seed = seed_detection(session)
    _compute(client, auth["qa"], seed.bakeoff_id)
    data = _queue(client, auth["qa"], seed.bakeoff_id, reason="vendor_vs_gold")["data"]
    got = {(f["item_key"], f["candidate"], f["kind"]) for f in data}
    assert got == {("scene-1", "Candidate B", "missed"), ("scene-2", "Candidate C", "wrong_class")}
    item = client.get(f"/review/flags/{data[0]['id']}", headers=auth["qa"]).json()
    assert item["gold"][0]["bbox"] and item["item_data"]["width"] == 160


class TestPages:
    def _sign_in(self, client: TestClient, key: str) -> None:
        page = client.get("/ui/login", params={"next": "/ui/review"})
        assert page.status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert token is not None
        r = client.post(
            "/ui/login",
            data={"api_key": key, "csrf_token": token.group(1), "next": "/ui/review"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/ui/review"
        cookie = r.headers["set-cookie"].lower()
        assert "bakeoff_api_key=" in cookie and "httponly" in cookie and "samesite=strict" in cookie

    def test_sign_in_pages_and_csrf(
        self,
        client: TestClient,
        api_keys: dict[str, str],
        auth: dict[str, dict[str, str]],
        session: Session,
    ) -> None:
        seed = seed_detection(session)
        _compute(client, auth["qa"], seed.bakeoff_id)
        signed_out = client.get(
            "/ui/review", headers={"Accept": "text/html"}, follow_redirects=False
        )
        assert signed_out.status_code == 303
        assert signed_out.headers["location"].startswith("/ui/login?next=")
        bad = client.get("/ui/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', bad.text)
        assert token is not None
        wrong = client.post(
            "/ui/login", data={"api_key": "bko_wrong", "csrf_token": token.group(1)}
        )
        assert wrong.status_code == 400 and "Sign-in failed" in wrong.text
        no_token = client.post("/ui/login", data={"api_key": api_keys["qa"]})
        assert no_token.status_code == 400

        self._sign_in(client, api_keys["qa"])
        index = client.get("/ui/review")
        assert index.status_code == 200 and "streets bake-off" in index.text
        assert "script-src 'self'" in index.headers["content-security-policy"]
        assert index.headers["x-frame-options"] == "DENY"
        queue = client.get(f"/ui/review/bakeoffs/{seed.bakeoff_id}")
        assert queue.status_code == 200 and "scene-1" in queue.text
        first = re.search(r'href="/ui/review/flags/(\d+)', queue.text)
        assert first is not None
        item = client.get(f"/ui/review/flags/{first.group(1)}")
        assert item.status_code == 200
        assert item.text.count("<rect") >= 4  # gold and candidates' boxes drawn over the image
        csrf = re.search(r'<meta name="csrf-token" content="([^"]+)"', item.text)
        assert csrf is not None
        url = f"/ui/review/flags/{first.group(1)}/decide"
        forged = client.post(url, json={"decision": "confirm_gold"})
        assert forged.status_code == 403 and forged.json()["code"] == "csrf_failed"
        ok = client.post(
            url, json={"decision": "confirm_gold"}, headers={"X-CSRF-Token": csrf.group(1)}
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["review"]["reviewer"] == "test-qa"

    def test_viewer_cannot_open_review_pages(
        self, client: TestClient, api_keys: dict[str, str], session: Session
    ) -> None:
        seed_detection(session)
        self._sign_in(client, api_keys["viewer"])
        r = client.get("/ui/review")
        assert r.status_code == 403


def test_reviews_query_uses_only_active_rows(session: Session, animals: ReviewSeed) -> None:
    """Sanity check of the stored rows a test above relies on (no flags before computing)."""
    assert (
        session.exec(select(m.Flag).where(col(m.Flag.bakeoff_id) == animals.bakeoff_id)).all() == []
    )
