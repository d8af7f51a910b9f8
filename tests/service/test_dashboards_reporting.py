"""service.domain.reporting: a stored bake-off becomes a full report (ranking, slices, trends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

import service.models as m
from metrics.scoring import ScoringOptions, score
from reports.inputs import DEFAULT_RANKING_WEIGHTS, Constraints, RankingWeights
from reports.scores import system_evaluation
from service.domain import bakeoffs, golden_sets, projects, vendors
from service.domain.errors import Forbidden
from service.domain.reporting import bakeoff_report, project_overview, ranking_config
from service.domain.security import Principal
from service.domain.vendor_labels import add_vendor_labels

# ``seeded`` (tests/service/conftest.py) is typed loosely: conftest is not importable.
Seed = Any

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
WRONG = {"cat": "dog", "dog": "cat", "bird": "cat"}


def add_labels(
    session: Session,
    seed: Seed,
    vendor_id: int,
    *,
    wrong: set[str],
    hours: float,
    cost: float | None = None,
    annotators: tuple[str, ...] = ("",),
    bakeoff_id: int | None = None,
) -> None:
    """Label every gold item, wrong on ``wrong``, ``hours`` after T0."""
    records = [
        m.VendorLabelCreate(
            item_key=key,
            value=WRONG[gold] if key in wrong else gold,
            annotator_id=annotator or None,
            started_at=T0,
            completed_at=T0 + timedelta(hours=hours),
            cost=cost,
        )
        for key, gold in seed.gold.items()
        for annotator in annotators
    ]
    add_vendor_labels(
        session=session,
        bakeoff_id=bakeoff_id or seed.bakeoff_id,
        vendor_id=vendor_id,
        records=records,
    )


@pytest.fixture
def labelled(session: Session, seeded: Seed) -> Seed:
    # Key vendor: wrong on one dim item; Other: wrong on three dim items, slower, cheaper.
    add_labels(session, seeded, seeded.vendor_id, wrong={"img-1"}, hours=2.0)
    add_labels(
        session,
        seeded,
        seeded.other_vendor_id,
        wrong={"img-1", "img-2", "img-5"},
        hours=30.0,
        annotators=("w1", "w2", "w3"),
    )
    return seeded


def test_report_ranks_scores_and_slices(session: Session, labelled: Seed) -> None:
    report = bakeoff_report(session=session, bakeoff_id=labelled.bakeoff_id, n_resamples=200)
    assert report.title == "Q1 animals" and report.n_items == 6
    rows = {s.name: s for s in report.ranking.systems}
    key, other = rows["Key Vendor Inc."], rows["Other Vendor Ltd."]
    assert key.accuracy.value == pytest.approx(5 / 6)
    assert other.accuracy.value == pytest.approx(3 / 6)
    assert key.rank == 1
    assert key.p95_latency_s is not None and key.p95_latency_s.value == pytest.approx(7200)
    assert key.cost_per_item is not None and key.cost_per_item.value == pytest.approx(0.05)
    assert other.cost_per_correct is not None
    assert other.cost_per_correct.value == pytest.approx(0.02 * 6 / 3)
    worst = report.slices[0]
    assert (worst.system, worst.key, worst.value) == ("Other Vendor Ltd.", "lighting", "dim")
    assert worst.accuracy.value == pytest.approx(0.0)
    assert {a.annotator for a in report.annotators} == {"w1", "w2", "w3"}
    assert len(report.confusion) == 2
    assert report.metrics["Key Vendor Inc."]["accuracy"] == pytest.approx(5 / 6)
    # six items cannot separate the leaders: the report says so in words
    assert any("too small to separate" in line for line in report.ranking.summary)


def test_constraints_and_weights_come_from_the_bakeoff(session: Session, labelled: Seed) -> None:
    bakeoffs.update_bakeoff(
        session=session,
        bakeoff_id=labelled.bakeoff_id,
        data=m.BakeOffUpdate(
            constraints={"max_p95_latency_h": 24.0},
            ranking_weights={"accuracy": 1.0, "speed": 0.0, "cost": 0.0},
            production_volume=100_000,
        ),
    )
    bakeoff = session.get(m.BakeOff, labelled.bakeoff_id)
    assert bakeoff is not None
    config = ranking_config(bakeoff)
    # min_coverage defaults to the 0.95 floor (not enough results below it)
    assert config.constraints == Constraints(max_p95_latency_s=24 * 3600.0, min_coverage=0.95)
    report = bakeoff_report(session=session, bakeoff_id=labelled.bakeoff_id, n_resamples=200)
    other = next(s for s in report.ranking.systems if s.name == "Other Vendor Ltd.")
    assert other.rank is None and "p95 latency" in other.violations[0]
    projection = {c.system: c for c in report.cost_projection}
    assert projection["Key Vendor Inc."].projected_cost == pytest.approx(5000.0)


def test_a_bake_off_that_sets_no_weights_gets_the_one_documented_default(
    client: TestClient, auth: dict[str, dict[str, str]], session: Session, seeded: Seed
) -> None:
    """Issue 13: a new bake-off once got 0.6/0.15/0.25 where others had 0.6/0.2/0.2."""
    body = {
        "project_id": seeded.project_id,
        "golden_set_version_id": seeded.version_id,
        "instructions_version_id": seeded.instructions_id,
        "vendor_ids": [seeded.vendor_id, seeded.other_vendor_id],
    }
    plain = client.post("/bakeoffs", json={"name": "no weights", **body}, headers=auth["lead"])
    assert plain.status_code == 201, plain.text
    assert plain.json()["ranking_weights"] == dict(DEFAULT_RANKING_WEIGHTS)
    part = client.post(
        "/bakeoffs",
        json={"name": "accuracy only", "ranking_weights": {"accuracy": 1.0}, **body},
        headers=auth["lead"],
    )
    assert part.status_code == 201, part.text
    stored = session.get(m.BakeOff, part.json()["id"])
    assert stored is not None
    # a key left out takes its default (README "Ranking weights")
    weights = ranking_config(stored).weights
    assert weights == RankingWeights(accuracy=1.0)
    assert (weights.speed, weights.cost) == (
        DEFAULT_RANKING_WEIGHTS["speed"],
        DEFAULT_RANKING_WEIGHTS["cost"],
    )
    assert RankingWeights() == RankingWeights(**DEFAULT_RANKING_WEIGHTS)
    said = ", ".join(f"{k} {v:g}" for k, v in DEFAULT_RANKING_WEIGHTS.items())
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert f"**{said}**" in readme.replace("\n", " ")


def test_unknown_constraint_is_a_clear_error(session: Session, labelled: Seed) -> None:
    bakeoffs.update_bakeoff(
        session=session,
        bakeoff_id=labelled.bakeoff_id,
        data=m.BakeOffUpdate(constraints={"max_latency": 3.0}),
    )
    with pytest.raises(ValueError, match="unknown constraint"):
        bakeoff_report(session=session, bakeoff_id=labelled.bakeoff_id, n_resamples=200)


def test_vendor_keys_are_refused(session: Session, labelled: Seed) -> None:
    vendor = Principal(key_id=1, name="v", role="vendor", vendor_id=labelled.vendor_id)
    with pytest.raises(Forbidden):
        bakeoff_report(session=session, bakeoff_id=labelled.bakeoff_id, principal=vendor)


def test_blinded_qa_sees_aliases(session: Session, labelled: Seed) -> None:
    qa = Principal(key_id=1, name="q", role="qa")
    report = bakeoff_report(
        session=session, bakeoff_id=labelled.bakeoff_id, principal=qa, n_resamples=200
    )
    assert {s.name for s in report.ranking.systems} == {"Candidate A", "Candidate B"}
    # annotator ids often carry the vendor's name: blinded, they are numbered
    assert {a.annotator for a in report.annotators} == {"annotator 1", "annotator 2", "annotator 3"}


def test_overview_and_trend_across_bakeoffs(session: Session, labelled: Seed) -> None:
    bakeoffs.update_bakeoff(
        session=session, bakeoff_id=labelled.bakeoff_id, data=m.BakeOffUpdate(status="completed")
    )
    second = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="Q2 animals",
            project_id=labelled.project_id,
            golden_set_version_id=labelled.version_id,
            instructions_version_id=labelled.instructions_id,
            vendor_ids=[labelled.vendor_id, labelled.other_vendor_id],
        ),
    )
    assert second.id is not None
    # Key vendor got worse in Q2 (4 wrong of 6), Other stayed the same.
    add_labels(
        session,
        labelled,
        labelled.vendor_id,
        wrong={"img-1", "img-2", "img-3", "img-4"},
        hours=2.0,
        bakeoff_id=second.id,
    )
    add_labels(
        session,
        labelled,
        labelled.other_vendor_id,
        wrong={"img-1", "img-2", "img-5"},
        hours=3.0,
        bakeoff_id=second.id,
    )
    report = bakeoff_report(session=session, bakeoff_id=second.id, n_resamples=200)
    key_trend = [t for t in report.trends if t.system == "Key Vendor Inc."]
    assert [t.bakeoff for t in key_trend] == ["Q1 animals", "Q2 animals"]
    assert [round(t.value, 4) for t in key_trend] == [round(5 / 6, 4), round(2 / 6, 4)]
    assert [w.system for w in report.trend_warnings] == ["Key Vendor Inc."]

    overview = project_overview(session=session, project_id=labelled.project_id, n_resamples=200)
    assert [b.name for b in overview.bakeoffs] == ["Q2 animals", "Q1 animals"]
    assert overview.current_id == labelled.bakeoff_id  # the newest *completed* bake-off
    assert overview.current is not None and overview.current.title == "Q1 animals"
    assert {p.bakeoff for p in overview.history} == {"Q1 animals", "Q2 animals"}


def test_detection_bakeoff_reports_box_bias(session: Session, key_vendor: m.Vendor) -> None:
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name="boxes",
            task_type="detection",
            ontology={"classes": [{"name": "fish"}]},
        ),
    )
    assert project.id is not None and key_vendor.id is not None
    instructions = projects.create_instructions(
        session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="tail in")
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name="fish-gold", project_id=project.id)
    )
    assert golden.id is not None and instructions.id is not None
    keys = [f"img-{i}" for i in range(8)]
    golden_sets.add_items(
        session=session,
        golden_set_id=golden.id,
        items=[m.GoldenItemCreate(key=k, data={"image": f"{k}.jpg"}) for k in keys],
    )
    version = golden_sets.create_version(session=session, golden_set_id=golden.id)
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[
            m.GoldLabelCreate(item_key=k, value=[{"category": "fish", "bbox": [10, 10, 40, 20]}])
            for k in keys
        ],
    )
    assert version.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="fish Q1",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=[key_vendor.id],
        ),
    )
    assert bakeoff.id is not None
    # The vendor leaves the tail out: the right edge sits 4 px left of gold's.
    add_vendor_labels(
        session=session,
        bakeoff_id=bakeoff.id,
        vendor_id=key_vendor.id,
        records=[
            m.VendorLabelCreate(item_key=k, value=[{"category": "fish", "bbox": [10, 10, 36, 20]}])
            for k in keys[:6]
        ],
    )
    report = bakeoff_report(session=session, bakeoff_id=bakeoff.id, n_resamples=200)
    row = report.ranking.systems[0]
    assert report.main_metric == "per-image F1 @ IoU 0.5"
    assert row.accuracy.value == pytest.approx(6 / 8)  # 6 perfect images, 2 unanswered
    assert row.coverage == pytest.approx(6 / 8)
    # coverage 0.75 is below the default floor (0.95): no rank, "not enough results"
    assert row.rank is None and row.status == "not_enough_results"
    assert report.scores["Key Vendor Inc."].status == "not_enough_results"
    bias = {(b.cls, b.edge): b.mean_offset for b in report.box_bias}
    assert bias[("fish", "right")] == pytest.approx(-4.0)
    assert bias[("fish", "left")] == pytest.approx(0.0)
    assert [c.cls for c in report.per_class] == ["fish"]


def test_set_labels_score_by_exact_match_with_annotators() -> None:
    gold = pd.Series({"a": ["cat", "dog"], "b": ["cat"], "c": []}, dtype=object)
    labels = pd.DataFrame(
        {
            "task": ["a", "a", "b", "b"],
            "worker": ["w1", "w2", "w1", "w2"],
            "label": [["dog", "cat"], ["dog", "cat"], ["cat"], ["dog"]],
        }
    )
    scored = score("multilabel", gold, labels, options=ScoringOptions(min_coverage=0.5))
    assert scored.items.loc["a", "score"] == 1.0  # order does not matter
    assert not scored.items.loc["c", "answered"]  # not answered: NaN score
    assert scored.item_scores.isna().to_dict() == {"a": False, "b": False, "c": True}
    # b: w1 and w2 disagree; a tied vote is no consensus: answered, scored wrong, counted
    assert scored.items.loc["b", "score"] == 0.0 and scored.n_ties == 1
    assert scored.items.loc["b", "answered"]
    tie_broken = score(
        "multilabel", gold, labels, options=ScoringOptions(min_coverage=0.5, ties="random")
    )
    assert tie_broken.n_ties == 1 and tie_broken.items.loc["b", "answered"]
    system = system_evaluation("v", scored)
    assert system.annotator_gold is not None and system.annotator_gold.per_item is not None
    assert system.annotator_gold.per_item.to_dict() == {"w1": 1.0, "w2": 0.5}
    # 6 classes delivered by two annotators over 2 answered items (per-label pricing)
    assert system.labels_per_item == pytest.approx(6 / 2)


def test_a_vendor_that_returned_nothing_is_listed_last_without_a_rank(
    session: Session, labelled: Seed
) -> None:
    silent = vendors.create_vendor(
        session=session, data=m.VendorCreate(name="Silent Co.", price_per_item=0.01)
    )
    assert silent.id is not None
    bakeoffs.update_bakeoff(
        session=session,
        bakeoff_id=labelled.bakeoff_id,
        data=m.BakeOffUpdate(vendor_ids=[labelled.vendor_id, labelled.other_vendor_id, silent.id]),
    )
    report = bakeoff_report(session=session, bakeoff_id=labelled.bakeoff_id, n_resamples=200)
    rows = {s.name: s for s in report.ranking.systems}
    assert rows["Silent Co."].coverage == 0.0
    # No verdict without evidence (issue 10): listed last, with the reason, never ranked.
    assert [s.name for s in report.ranking.systems][-1] == "Silent Co."
    assert rows["Silent Co."].rank is None
    assert rows["Silent Co."].status == "no_results"
    assert rows["Silent Co."].cost_per_item is not None
    assert rows["Silent Co."].cost_per_item.value == 0.0
    # cost and speed stay in the score for the others
    assert not any("is not known" in line for line in report.ranking.summary)
    assert any(
        line.startswith("Silent Co. is not ranked: no results yet")
        for line in report.ranking.summary
    )
    assert report.scores["Silent Co."].status == "no_results"
