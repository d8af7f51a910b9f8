"""The procurement view: production quality over time per vendor, and its page and role rules."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

import service.models as m
from service.domain import delivery_quality
from service.domain.delivery_overview import procurement_view
from service.domain.errors import Invalid
from service.domain.security import Principal
from tests.service._delivery_sim import simulate_vendor


def test_the_view_shows_the_drop_the_alert_and_the_rejected_delivery(session: Session) -> None:
    sim = simulate_vendor(session)
    view = procurement_view(session=session, project_id=sim.project_id)
    assert [v.name for v in view.vendors] == ["Acme Labels"]  # only the vendor with deliveries
    vendor = view.vendors[0]
    assert [b.bakeoff_id for b in vendor.bakeoffs] == [sim.bakeoff_id]
    # weekly honeypot accuracy, one row per ISO week, from the engine via delivery_quality
    assert [w.week for w in vendor.weekly] == sim.weeks
    quality = delivery_quality.delivery_quality(session=session, delivery_id=sim.delivery_ids[-1])
    engine_rows = {w.week: w for w in quality.weekly if w.annotator_id is None and w.week}
    for w in vendor.weekly:
        assert (w.accuracy, w.ci_low, w.ci_high) == (
            engine_rows[w.week].value,
            engine_rows[w.week].ci_low,
            engine_rows[w.week].ci_high,
        )
    before = [w.accuracy or 0 for w in vendor.weekly[: sim.drop_week]]
    after = [w.accuracy or 0 for w in vendor.weekly[sim.drop_week :]]
    assert min(before) > max(after)
    # the alert fires after the drop and not before; it is marked on its week and delivery
    alerted = [w.week for w in vendor.weekly if w.alert]
    assert len(alerted) == 1 and sim.weeks.index(alerted[0]) >= sim.drop_week
    assert vendor.first_alarm_delivery_id in sim.delivery_ids[sim.drop_week :]
    rows = {r.delivery_id: r for r in vendor.deliveries}
    assert [r.delivery_id for r in vendor.deliveries if r.alert] == [vendor.first_alarm_delivery_id]
    assert vendor.alert_in_alarm
    # the audited last delivery: its interval covers the true rate and it is rejected
    last = rows[sim.delivery_ids[-1]]
    assert last.error_rate is not None and last.error_ci_low is not None
    assert last.error_ci_high is not None
    assert last.error_ci_low <= sim.true_error[last.delivery_id] <= last.error_ci_high
    assert last.rejected and last.audit_decision == "reject"
    # the CUSUM restarts after an alarm and fires again while quality stays low
    assert vendor.n_alarms >= 1 and vendor.n_breaches == vendor.n_alarms + 1
    # cost per correct label: audited rate for the audited delivery, honeypots otherwise
    assert last.correct_basis == "audit" and last.total_cost is not None
    expected = last.total_cost / (last.n_labels * (1 - last.error_rate))
    assert last.cost_per_correct == pytest.approx(expected, rel=1e-12)
    assert last.cost_per_correct_low is not None and last.cost_per_correct_high is not None
    assert last.cost_per_correct_low < expected < last.cost_per_correct_high
    first = rows[sim.delivery_ids[0]]
    assert first.correct_basis == "honeypots" and first.error_rate is None
    assert first.audit_decision == "not_enough_reviews" and not first.rejected
    assert first.flagged_share is not None and 0 < first.flagged_share < 1
    assert first.flagged_share == first.n_flagged / first.n_scored


def test_a_delivery_must_follow_a_bakeoff_of_its_project_with_its_vendor(session: Session) -> None:
    sim = simulate_vendor(session, weeks=1, n_items=20, audit_last=False)
    outsider = m.Vendor(name="Outsider")
    session.add(outsider)
    session.commit()
    from service.domain import deliveries

    with pytest.raises(Invalid, match="not a bake-off of project"):
        deliveries.create_delivery(
            session=session,
            data=m.DeliveryCreate(
                name="x",
                project_id=sim.project_id,
                vendor_id=outsider.id or 0,
                bakeoff_id=sim.bakeoff_id,
                honeypot_rate=0,
                items=[m.DeliveryItemIn(key="a")],
            ),
        )


def test_blinded_qa_sees_the_alias_viewers_see_the_name(session: Session) -> None:
    sim = simulate_vendor(session, weeks=2, drop_week=1, n_items=60, audit_last=False)
    qa = Principal(key_id=1, name="qa", role="qa")
    viewer = Principal(key_id=2, name="viewer", role="viewer")
    blind = procurement_view(session=session, project_id=sim.project_id, principal=qa)
    seen = procurement_view(session=session, project_id=sim.project_id, principal=viewer)
    assert blind.vendors[0].name == "Candidate A (Q1 production)"
    assert blind.vendors[0].vendor_id is None
    assert seen.vendors[0].name == "Acme Labels" and seen.vendors[0].vendor_id == sim.vendor_id
    out = Principal(key_id=3, name="out", role="viewer", project_id=sim.project_id + 1)
    from service.domain.errors import Forbidden

    with pytest.raises(Forbidden):
        procurement_view(session=session, project_id=sim.project_id, principal=out)


@pytest.mark.parametrize("role", ["viewer", "qa", "lead", "admin"])
def test_readers_see_the_page_vendor_keys_do_not(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, role: str
) -> None:
    sim = simulate_vendor(session, weeks=2, drop_week=1, n_items=60, audit_last=False)
    path = f"/ui/dashboards/projects/{sim.project_id}/deliveries"
    r = client.get(path, headers=auth[role])
    assert r.status_code == 200, r.text[:300]
    name = "Candidate A (Q1 production)" if role == "qa" else "Acme Labels"
    assert name in r.text
    if role == "qa":
        assert "Acme Labels" not in r.text
    assert f'href="/ui/dashboards/bakeoffs/{sim.bakeoff_id}"' in r.text
    assert sim.weeks[0] in r.text
    assert client.get(path, headers=auth["vendor"]).status_code == 403
    project = client.get(f"/ui/dashboards/projects/{sim.project_id}", headers=auth[role])
    assert f'href="{path}"' in project.text
