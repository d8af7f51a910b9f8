"""``?question=`` (``--question`` on the CLI) picks a Label Studio question (``from_name``) on
the gold and vendor imports; without it a two-question project is refused with the question
names (422)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session
from typer.testing import CliRunner

import service.models as m
from service.cli.main import app
from service.core.db import get_engine
from service.domain import bakeoffs, golden_sets, projects, vendors
from service.domain.results import bakeoff_results


def _choices(question: str, label: str) -> dict[str, Any]:
    return {
        "type": "choices",
        "from_name": question,
        "to_name": "text",
        "value": {"choices": [label]},
    }


def _export(answers: dict[str, tuple[str, str]]) -> bytes:
    return json.dumps(
        [
            {
                "data": {"item_id": item, "text": f"text {item}"},
                "annotations": [
                    {"completed_by": 7, "result": [_choices("sentiment", s), _choices("topic", t)]}
                ],
            }
            for item, (s, t) in answers.items()
        ]
    ).encode()


def test_question_on_gold_and_vendor_imports(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    project = client.post(
        "/projects",
        json={
            "name": "p",
            "task_type": "classification",
            "ontology": {"classes": [{"name": "pos"}, {"name": "neg"}]},
        },
        headers=lead,
    ).json()
    gs = client.post(
        "/golden-sets", json={"name": "g", "project_id": project["id"]}, headers=lead
    ).json()
    gold = _export({"a": ("pos", "sports"), "b": ("neg", "politics")})
    url = f"/golden-sets/{gs['id']}/import"
    refused = client.post(url, params={"format": "labelstudio"}, content=gold, headers=lead)
    assert refused.status_code == 422
    assert "'sentiment', 'topic'" in refused.text
    imported = client.post(
        url, params={"format": "labelstudio", "question": "sentiment"}, content=gold, headers=lead
    )
    assert imported.status_code == 201, imported.text
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    instructions = client.post(
        f"/projects/{project['id']}/instructions", json={"text": "label"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": project["id"],
            "golden_set_version_id": version["id"],
            "instructions_version_id": instructions["id"],
            "vendor_ids": [key_vendor.id],
        },
        headers=lead,
    ).json()
    labels = _export({"a": ("pos", "sports"), "b": ("pos", "sports")})
    vendor_url = f"/bakeoffs/{bakeoff['id']}/vendors/{key_vendor.id}/labels/import"
    refused = client.post(
        vendor_url, params={"format": "labelstudio"}, content=labels, headers=auth["vendor"]
    )
    assert refused.status_code == 422 and "'sentiment', 'topic'" in refused.text
    response = client.post(
        vendor_url,
        params={"format": "labelstudio", "question": "sentiment"},
        content=labels,
        headers=auth["vendor"],
    )
    assert response.status_code == 200, response.text
    result = client.get(f"/bakeoffs/{bakeoff['id']}/results", headers=lead).json()
    assert result["vendors"][0]["metrics"]["accuracy_all"] == 0.5


def test_question_on_the_cli_imports(tmp_path: Path, cli_database: None) -> None:
    """``bakeoff import gold|labels --question`` picks the same question as the API."""
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="p",
                task_type="classification",
                ontology={"classes": [{"name": "pos"}, {"name": "neg"}]},
            ),
        )
        assert project.id is not None
        instructions = projects.create_instructions(
            session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="do")
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="g", project_id=project.id)
        )
        vendor = vendors.create_vendor(session=session, data=m.VendorCreate(name="v"))
        assert instructions.id is not None and golden.id is not None and vendor.id is not None
        ids = (project.id, instructions.id, golden.id, vendor.id)
    gold, labels = tmp_path / "gold.json", tmp_path / "labels.json"
    gold.write_bytes(_export({"a": ("pos", "sports"), "b": ("neg", "politics")}))
    labels.write_bytes(_export({"a": ("pos", "sports"), "b": ("pos", "sports")}))
    runner = CliRunner()
    out = runner.invoke(app, ["import", "gold", str(ids[2]), str(gold), "--question", "sentiment"])
    assert out.exit_code == 0, out.output
    with Session(get_engine()) as session:
        version = golden_sets.latest_version(session=session, golden_set_id=ids[2])
        assert version is not None and version.id is not None
        bakeoff = bakeoffs.create_bakeoff(
            session=session,
            data=m.BakeOffCreate(
                name="b",
                project_id=ids[0],
                golden_set_version_id=version.id,
                instructions_version_id=ids[1],
                vendor_ids=[ids[3]],
            ),
        )
        assert bakeoff.id is not None
        bakeoff_id = bakeoff.id
    command = ["import", "labels", str(bakeoff_id), str(ids[3]), str(labels)]
    refused = runner.invoke(app, command)
    assert refused.exit_code != 0 and "'sentiment', 'topic'" in refused.output
    out = runner.invoke(app, [*command, "--question", "sentiment"])
    assert out.exit_code == 0, out.output
    with Session(get_engine()) as session:
        (result,) = bakeoff_results(session=session, bakeoff_id=bakeoff_id).vendors
    assert result.metrics["accuracy_all"] == 0.5
