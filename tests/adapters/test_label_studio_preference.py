"""A preference bake-off against a REAL Label Studio server through the label_studio kind.

The dispatcher creates the project with the generated Pairwise config and imports the pairs
(half of them swapped, which Label Studio never learns); two annotators answer in Label
Studio by content: one picks the better response wherever it is shown, the other always picks
the left one. The answers read back are in each item's own frame, and the engine finds the
second annotator's position bias from the swaps. Skips where Label Studio is not installed
(``.ci/ensure-labelstudio``; ``BAKEOFF_LABEL_STUDIO_BIN`` points at another install).
"""

from __future__ import annotations

from typing import Any, Literal

import pytest
from sqlmodel import Session, select

import service.models as m
from adapters.formats.labelstudio import label_to_results
from adapters.pairs import unswap
from adapters.testing import assert_no_gold, toy_golden
from service.domain import dispatch, scoring
from tests.adapters.test_label_studio import LabelStudio, label_studio  # noqa: F401 - fixture
from tests.service.test_dispatch import SETTINGS, build_bakeoff, tasks_by_status

N = 8


def _project(ls: LabelStudio, bakeoff_id: int, task_type: str = "preference") -> dict[str, Any]:
    """The newest project of this run (each test's database starts bake-off ids at 1, and
    the Label Studio server lives for the whole session)."""
    marks = (f"bakeoff-run: bakeoff-{bakeoff_id}-", f"bakeoff-task-type: {task_type}")
    with ls.client() as c:
        projects = c.get("/api/projects/", params={"page_size": 200}).json()["results"]
    mine = [p for p in projects if all(m in (p.get("description") or "") for m in marks)]
    assert mine, [p.get("description") for p in projects]
    return dict(max(mine, key=lambda p: int(p["id"])))


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
def test_a_preference_bakeoff_runs_in_label_studio(
    label_studio: LabelStudio,  # noqa: F811 - the imported fixture
    session: Session,
) -> None:
    golden = toy_golden("preference", n=N)
    built = build_bakeoff(
        session,
        golden,
        {
            "ls": (
                "label_studio",
                {
                    "url": label_studio.url,
                    "api_token": label_studio.token,
                    "annotators_per_task": 2,
                },
            )
        },
    )
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    assert tasks_by_status(session, built.bakeoff_id) == {"sent": N}

    project = _project(label_studio, built.bakeoff_id)
    config = project["label_config"]
    assert '<Pairwise name="label" toName="response_a,response_b"/>' in config
    assert '<Choice value="tie"' in config
    with label_studio.client() as c:
        tasks = c.get(f"/api/projects/{project['id']}/tasks/", params={"page_size": 100}).json()
    # what Label Studio holds: the pairs (some swapped), the item id in meta, nothing else
    assert_no_gold([{"item_id": t["meta"]["item_id"], "data": t["data"]} for t in tasks], golden)
    assert all(set(t["meta"]) == {"item_id"} for t in tasks)
    canonical_first = {i.item_id: i.data["response_a"] for i in golden.items}
    shown_swapped = {
        t["meta"]["item_id"]
        for t in tasks
        if t["data"]["response_a"] != canonical_first[t["meta"]["item_id"]]
    }
    assert len(shown_swapped) == N // 2

    # the workforce, in Label Studio: annotator 0 judges by content, annotator 1 picks left
    gold = golden.gold_json()
    with label_studio.client() as c:
        for t in tasks:
            item = t["meta"]["item_id"]
            truth = unswap(gold[item]) if item in shown_swapped else gold[item]
            for who, label in enumerate((truth, "A")):
                body = {
                    "result": label_to_results(label, task_type="preference", to_name="prompt"),
                    "lead_time": 3.0 + who,
                    "completed_by": label_studio.annotators[who],
                }
                posted = c.post(f"/api/tasks/{t['id']}/annotations/", json=body)
                assert posted.status_code == 201, posted.text

    for _ in range(20):
        dispatch.tick(
            session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS, force_poll=True
        )
        if tasks_by_status(session, built.bakeoff_id) == {"received": N}:
            break
    assert tasks_by_status(session, built.bakeoff_id) == {"received": N}

    keys = {i.id: i.key for i in session.exec(select(m.GoldenItem)).all()}
    labels = session.exec(
        select(m.VendorLabel).where(m.VendorLabel.bakeoff_id == built.bakeoff_id)
    ).all()
    careful = str(label_studio.annotators[0])
    stored = {(keys[x.item_id], x.annotator_id): x.value for x in labels}
    assert len(stored) == 2 * N
    for item in gold:
        assert stored[(item, careful)] == gold[item]  # back in the item's own frame
        left = stored[(item, str(label_studio.annotators[1]))]
        assert left == ("B" if item in shown_swapped else "A")

    bakeoff = session.get(m.BakeOff, built.bakeoff_id)
    assert bakeoff is not None
    scored = scoring.score_bakeoff(session=session, bakeoff=bakeoff, n_resamples=20)
    bias = scored.candidates[0].scored.summary["position_bias"]
    assert bias.params["presented_both_ways"] and bias.value > 0


@pytest.mark.slow
@pytest.mark.xdist_group("label_studio")
@pytest.mark.parametrize("task_type", ["rating", "transcription"])
def test_rating_and_transcription_bakeoffs_run_in_label_studio(
    label_studio: LabelStudio,  # noqa: F811 - the imported fixture
    session: Session,
    task_type: Literal["rating", "transcription"],
) -> None:
    """The generated Rating / TextArea configs are accepted by the real server, and what an
    annotator submits there comes back in the engine's shape."""
    from adapters.base import Ontology, OntologyClass, WorkItem
    from adapters.testing import ToyGolden

    base = toy_golden("classification", n=3)
    if task_type == "rating":
        ontology = Ontology(
            classes=(OntologyClass(name="helpfulness"), OntologyClass(name="correctness")),
            rating_scale=(1, 5),
        )
        items = tuple(
            WorkItem(item_id=f"r{k}", data={"prompt": f"q{k}", "response": f"a{k}"})
            for k in range(3)
        )
        gold: dict[str, Any] = {
            f"r{k}": {"helpfulness": 1 + k, "correctness": 5 - k} for k in range(3)
        }
    else:
        ontology = Ontology(classes=())
        items = tuple(
            WorkItem(item_id=f"t{k}", data={"audio": f"https://example.org/{k}.wav"})
            for k in range(3)
        )
        gold = {f"t{k}": f"the cat sat {k}" for k in range(3)}
    golden = ToyGolden(task_type, ontology, base.instructions, items, gold)
    built = build_bakeoff(
        session,
        golden,
        {"ls": ("label_studio", {"url": label_studio.url, "api_token": label_studio.token})},
        suffix=f"-{task_type}",
    )
    dispatch.start_run(session=session, bakeoff_id=built.bakeoff_id)
    dispatch.tick(session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS)
    assert tasks_by_status(session, built.bakeoff_id) == {"sent": 3}
    project = _project(label_studio, built.bakeoff_id, task_type)
    tag = "<Rating" if task_type == "rating" else "<TextArea"
    assert tag in project["label_config"]
    to_name = "response" if task_type == "rating" else "audio"
    with label_studio.client() as c:
        tasks = c.get(f"/api/projects/{project['id']}/tasks/", params={"page_size": 100}).json()
        assert_no_gold(
            [{"item_id": t["meta"]["item_id"], "data": t["data"]} for t in tasks], golden
        )
        for t in tasks:
            body = {
                "result": label_to_results(
                    gold[t["meta"]["item_id"]], task_type=task_type, to_name=to_name
                ),
                "lead_time": 2.0,
                "completed_by": label_studio.annotators[0],
            }
            posted = c.post(f"/api/tasks/{t['id']}/annotations/", json=body)
            assert posted.status_code == 201, posted.text
    for _ in range(20):
        dispatch.tick(
            session=session, bakeoff_id=built.bakeoff_id, settings=SETTINGS, force_poll=True
        )
        if tasks_by_status(session, built.bakeoff_id) == {"received": 3}:
            break
    assert tasks_by_status(session, built.bakeoff_id) == {"received": 3}
    keys = {i.id: i.key for i in session.exec(select(m.GoldenItem)).all()}
    labels = session.exec(
        select(m.VendorLabel).where(m.VendorLabel.bakeoff_id == built.bakeoff_id)
    ).all()
    assert {keys[x.item_id]: x.value for x in labels} == gold
