"""Dashboard pages over HTTP: who may read them, what they show, downloads, plotly.js."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

import service.models as m
from reports.render import plotly_js, unpack_plotly
from service.domain import bakeoffs
from tests.service.conftest import LabelGold

REPO = Path(__file__).resolve().parents[2]
HTML = {"Accept": "text/html"}


@pytest.fixture
def labelled(session: Session, seeded: Any, label_gold: LabelGold) -> Any:
    """Two bake-offs of one project: Q1 (completed) and Q2, both labelled by both vendors."""
    label_gold(seeded.bakeoff_id, seeded.vendor_id, seeded.gold, {"img-1"}, 2.0)
    label_gold(seeded.bakeoff_id, seeded.other_vendor_id, seeded.gold, {"img-2", "img-5"}, 5.0)
    bakeoffs.update_bakeoff(
        session=session,
        bakeoff_id=seeded.bakeoff_id,
        data=m.BakeOffUpdate(status="completed", production_volume=100_000),
    )
    q2 = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="Q2 animals",
            project_id=seeded.project_id,
            golden_set_version_id=seeded.version_id,
            instructions_version_id=seeded.instructions_id,
            vendor_ids=[seeded.vendor_id, seeded.other_vendor_id],
        ),
    )
    assert q2.id is not None
    label_gold(q2.id, seeded.vendor_id, seeded.gold, {"img-1", "img-2"}, 2.0)
    label_gold(q2.id, seeded.other_vendor_id, seeded.gold, set(), 5.0)
    return seeded


@pytest.mark.parametrize("role", ["viewer", "lead", "admin", "qa"])
def test_readers_see_the_pages(
    client: TestClient, auth: dict[str, dict[str, str]], labelled: Any, role: str
) -> None:
    for path in (
        "/ui/dashboards",
        f"/ui/dashboards/projects/{labelled.project_id}?resamples=200",
        f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}?resamples=200",
    ):
        r = client.get(path, headers=auth[role])
        assert r.status_code == 200, (path, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")


def test_vendor_keys_and_strangers_are_refused(
    client: TestClient, auth: dict[str, dict[str, str]], labelled: Any
) -> None:
    page = f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}"
    assert client.get(page, headers=auth["vendor"]).status_code == 403
    assert client.get(page).status_code == 401
    redirect = client.get(page, headers=HTML, follow_redirects=False)
    assert redirect.status_code == 303
    assert redirect.headers["location"].startswith("/ui/login?next=")


def test_overview_shows_the_current_ranking_and_trend(
    client: TestClient, auth: dict[str, dict[str, str]], labelled: Any
) -> None:
    r = client.get(
        f"/ui/dashboards/projects/{labelled.project_id}?resamples=200", headers=auth["viewer"]
    )
    html = r.text
    assert "Current ranking" in html and "Q1 animals" in html and "Q2 animals" in html
    assert 'id="fig-ranking"' in html and 'id="data-ranking"' in html
    assert 'id="fig-trends"' in html
    assert "Key Vendor Inc." in html and "Other Vendor Ltd." in html
    assert "/ui/dashboards/assets/plotly.min.js" in html
    assert "cdn.plot.ly" not in html
    nonce = r.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"' in html


def test_bakeoff_page_holds_the_whole_report(
    client: TestClient, auth: dict[str, dict[str, str]], labelled: Any
) -> None:
    r = client.get(
        f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}?resamples=200", headers=auth["viewer"]
    )
    html = r.text
    for section in ("verdict", "ranking", "slices", "latency", "cost", "confusion"):
        assert f'id="{section}"' in html, section
    assert "report.html" in html and "report.json" in html


def test_blinded_bakeoff_shows_aliases_to_qa(
    client: TestClient, auth: dict[str, dict[str, str]], labelled: Any
) -> None:
    html = client.get(
        f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}?resamples=200", headers=auth["qa"]
    ).text
    assert "Candidate A" in html and "Key Vendor Inc." not in html


def test_downloads(client: TestClient, auth: dict[str, dict[str, str]], labelled: Any) -> None:
    base = f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}"
    html = client.get(f"{base}/report.html?resamples=200", headers=auth["viewer"])
    assert html.status_code == 200
    assert "attachment" in html.headers["content-disposition"]
    assert unpack_plotly(html.text) == plotly_js()  # self-contained: plotly.js packed inside
    doc = client.get(f"{base}/report.json?resamples=200", headers=auth["viewer"])
    assert doc.status_code == 200
    schema = json.loads((REPO / "docs" / "report-schema.json").read_text(encoding="utf-8"))
    assert jsonschema_rs.is_valid(schema, doc.json())
    assert doc.json()["title"] == "Q1 animals"


def test_plotly_is_served_locally_without_a_key(client: TestClient) -> None:
    r = client.get("/ui/dashboards/assets/plotly.min.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.text == plotly_js()
    # httpx asks for gzip and decodes it: the bytes on the wire are about a third
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) < len(plotly_js()) / 3
    assert r.headers["vary"] == "Accept-Encoding"
    # cached by the browser for a day (issue 13: served uncompressed and without cache headers)
    assert r.headers["cache-control"] == "public, max-age=86400"
    raw = client.get("/ui/dashboards/assets/plotly.min.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and raw.text == plotly_js()
    again = client.get(
        "/ui/dashboards/assets/plotly.min.js", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


def test_unknown_export_table_is_a_422_naming_it(
    client: TestClient, auth: dict[str, dict[str, str]], labelled: Any
) -> None:
    r = client.get(
        f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}/export/prices.csv", headers=auth["viewer"]
    )
    assert r.status_code == 422 and "table" in r.text
    ok = client.get(
        f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}/export/ranking.csv?resamples=200",
        headers=auth["viewer"],
    )
    assert ok.status_code == 200 and ok.headers["content-type"].startswith("text/csv")
    assert ok.text.splitlines()[0].startswith("rank,system,status,group,score")
    assert (
        client.get(
            f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}/export.xlsx", headers=auth["vendor"]
        ).status_code
        == 403
    )


def test_only_leads_cancel_from_the_page(
    client: TestClient, auth: dict[str, dict[str, str]], seeded: Any
) -> None:
    path = f"/ui/dashboards/bakeoffs/{seeded.bakeoff_id}/cancel"
    assert client.post(path, headers=auth["viewer"]).status_code == 403


def test_a_bakeoff_without_gold_is_a_clear_conflict(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, seeded: Any
) -> None:
    golden = m.GoldenSetVersion(golden_set_id=seeded.golden_set_id, version=2, note="empty")
    session.add(golden)
    session.commit()
    session.refresh(golden)
    bakeoffs.update_bakeoff(
        session=session,
        bakeoff_id=seeded.bakeoff_id,
        data=m.BakeOffUpdate(golden_set_version_id=golden.id),
    )
    r = client.get(f"/ui/dashboards/bakeoffs/{seeded.bakeoff_id}/report.json", headers=auth["lead"])
    assert r.status_code == 409
    assert "no gold" in r.json()["detail"]


def test_the_verdict_names_each_vendors_currency_on_every_door(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, labelled: Any
) -> None:
    other = session.get(m.Vendor, labelled.other_vendor_id)
    assert other is not None
    other.currency = "EUR"
    session.add(other)
    session.commit()
    base = f"/ui/dashboards/bakeoffs/{labelled.bakeoff_id}"
    doc = client.get(f"{base}/report.json?resamples=200", headers=auth["viewer"]).json()
    line = next(x for x in doc["ranking"]["summary"] if x.startswith("Score = "))
    costs = {s["name"]: s["cost_per_correct"]["value"] for s in doc["ranking"]["systems"]}
    want = [
        f"cost per correct USD {costs['Key Vendor Inc.']:.4f} -> ",
        f"cost per correct EUR {costs['Other Vendor Ltd.']:.4f} -> ",
    ]
    assert all(w in line for w in want), line
    escaped = [w.replace(">", "&gt;") for w in want]
    for path in (f"{base}?resamples=200", f"{base}/report.html?resamples=200"):
        html = client.get(path, headers=auth["viewer"]).text
        assert all(w in html for w in escaped), path
