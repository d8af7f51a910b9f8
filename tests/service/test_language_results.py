"""Rating and transcription bake-offs through the API: JSONL/CSV gold and labels, bad
values as 422s naming the record, /results read from the engine (= the references)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sklearn.metrics import cohen_kappa_score

from metrics.scoring import ScoringOptions
from metrics.transcription import normalize

pytestmark = pytest.mark.dbs

jiwer = pytest.importorskip("jiwer")

_HELP = [1, 2, 3, 4, 5, 3, 2, 4, 5, 1]
_FACT = [5, 4, 3, 2, 1, 3, 4, 2, 1, 5]
_V_HELP = [2, 2, 3, 5, 5, 4, 2, 4, 5, 2]  # lenient on help
_V_FACT = [5, 4, 3, 2, 1, 3, 4, 2, 1, 5]

_REFS = ["The cat sat on the mat.", "I have 21 apples", "hello world", "good morning to you"]
_HYPS = ["the cat sat on a mat", "i have twenty-one apples", "hello word", "good morning"]


def _bakeoff(
    client: TestClient,
    lead: dict[str, str],
    vendor_id: int,
    *,
    task_type: str,
    ontology: dict[str, Any],
    gold: bytes,
    fmt: str,
) -> int:
    project = client.post(
        "/projects",
        json={"name": f"p-{task_type}-{fmt}", "task_type": task_type, "ontology": ontology},
        headers=lead,
    )
    assert project.status_code in (200, 201), project.text
    pid = project.json()["id"]
    gs = client.post("/golden-sets", json={"name": "g", "project_id": pid}, headers=lead).json()
    imported = client.post(
        f"/golden-sets/{gs['id']}/import?format={fmt}", content=gold, headers=lead
    )
    assert imported.status_code == 201, imported.text
    version = client.get(f"/golden-sets/{gs['id']}/versions/1", headers=lead).json()
    ins = client.post(
        f"/projects/{pid}/instructions", json={"text": "rate or transcribe"}, headers=lead
    ).json()
    bakeoff = client.post(
        "/bakeoffs",
        json={
            "name": "b",
            "project_id": pid,
            "golden_set_version_id": version["id"],
            "instructions_version_id": ins["id"],
            "vendor_ids": [vendor_id],
        },
        headers=lead,
    )
    assert bakeoff.status_code in (200, 201), bakeoff.text
    return int(bakeoff.json()["id"])


def _rating_gold_jsonl() -> bytes:
    return "\n".join(
        json.dumps(
            {
                "item_id": f"r{i}",
                "label": {"help": h, "fact": f},
                "data": {"prompt": "q", "response": "a"},
                "metadata": {"scale_min": 1, "scale_max": 5},
            }
        )
        for i, (h, f) in enumerate(zip(_HELP, _FACT, strict=True))
    ).encode()


def test_rating_results_equal_sklearn_and_name_the_bias(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    ontology = {"classes": [{"name": "help"}, {"name": "fact"}]}
    bid = _bakeoff(
        client,
        lead,
        key_vendor.id,
        task_type="rating",
        ontology=ontology,
        gold=_rating_gold_jsonl(),
        fmt="jsonl",
    )
    blob = "\n".join(
        json.dumps({"item_id": f"r{i}", "label": {"help": h, "fact": f}})
        for i, (h, f) in enumerate(zip(_V_HELP, _V_FACT, strict=True))
    ).encode()
    url = f"/bakeoffs/{bid}/vendors/{key_vendor.id}/labels/import?format=jsonl"
    posted = client.post(url, content=blob, headers=lead)
    assert posted.status_code == 200, posted.text
    result = client.get(f"/bakeoffs/{bid}/results", headers=lead).json()["vendors"][0]
    assert result["main_metric"] == "rating_agreement"
    g, v = np.array(_HELP + _FACT), np.array(_V_HELP + _V_FACT)
    assert result["main_value"] == pytest.approx(1 - np.abs(v - g).mean() / 4)
    ref = cohen_kappa_score(_HELP, _V_HELP, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert result["metrics"]["quadratic_weighted_kappa:help"] == pytest.approx(ref, abs=1e-9)
    bias = result["scores"]["metrics"]["leniency_bias:help"]
    assert bias["value"] == pytest.approx(np.mean(np.subtract(_V_HELP, _HELP)))
    assert bias["low"] is not None and bias["low"] <= bias["value"] <= bias["high"]


def test_rating_csv_import_and_422s(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    gold = "item_id,label,scale_min,scale_max\n" + "".join(
        f"r{i},help={h};fact={f},1,5\n" for i, (h, f) in enumerate(zip(_HELP, _FACT, strict=True))
    )
    ontology = {"classes": [{"name": "help"}, {"name": "fact"}], "rating_scale": [1, 5]}
    bid = _bakeoff(
        client,
        lead,
        key_vendor.id,
        task_type="rating",
        ontology=ontology,
        gold=gold.encode(),
        fmt="csv",
    )
    url = f"/bakeoffs/{bid}/vendors/{key_vendor.id}/labels/import?format=csv"
    labels = "item_id,label\n" + "".join(
        f"r{i},help={h};fact={f}\n" for i, (h, f) in enumerate(zip(_V_HELP, _V_FACT, strict=True))
    )
    assert client.post(url, content=labels.encode(), headers=lead).status_code == 200
    result = client.get(f"/bakeoffs/{bid}/results", headers=lead).json()["vendors"][0]
    g, v = np.array(_HELP + _FACT), np.array(_V_HELP + _V_FACT)
    assert result["metrics"]["mae"] == pytest.approx(np.abs(v - g).mean())
    for bad, what in (
        ("r0,help=x\n", "criterion=rating pairs"),
        ("r0,style=3\n", "unknown criterion 'style'"),
    ):
        posted = client.post(url, content=("item_id,label\n" + bad).encode(), headers=lead)
        assert posted.status_code == 422, posted.text
        assert what in posted.text
    posted = client.post(
        f"/bakeoffs/{bid}/vendors/{key_vendor.id}/labels",
        json={"labels": [{"item_key": "r0", "value": {"help": "4"}}]},
        headers=lead,
    )
    assert posted.status_code == 422 and "not an integer" in posted.text


def test_transcription_results_equal_jiwer(
    client: TestClient, auth: dict[str, dict[str, str]], key_vendor: Any
) -> None:
    lead = auth["lead"]
    gold = "\n".join(
        json.dumps({"item_id": f"t{i}", "label": r, "metadata": {"speaker": "s" + str(i % 2)}})
        for i, r in enumerate(_REFS)
    ).encode()
    bid = _bakeoff(
        client,
        lead,
        key_vendor.id,
        task_type="transcription",
        ontology={"classes": []},
        gold=gold,
        fmt="jsonl",
    )
    labels = "item_id,label\n" + "".join(f"t{i},{h}\n" for i, h in enumerate(_HYPS))
    url = f"/bakeoffs/{bid}/vendors/{key_vendor.id}/labels/import?format=csv"
    posted = client.post(url, content=labels.encode(), headers=lead)
    assert posted.status_code == 200, posted.text
    result = client.get(f"/bakeoffs/{bid}/results", headers=lead).json()["vendors"][0]
    norm = ScoringOptions().transcript_normalization
    refs = [normalize(r, norm) for r in _REFS]
    hyps = [normalize(h, norm) for h in _HYPS]
    assert result["main_metric"] == "wer"
    assert result["metrics"]["wer"] == pytest.approx(jiwer.wer(refs, hyps), abs=1e-9)
    assert result["metrics"]["cer"] == pytest.approx(jiwer.cer(refs, hyps), abs=1e-9)
    assert result["metrics"]["deletions"] == jiwer.process_words(refs, hyps).deletions
    # the ranked number is word accuracy under its own name, never WER shown as accuracy
    per_item = [min(jiwer.wer(r, h), 1.0) for r, h in zip(refs, hyps, strict=True)]
    assert result["ranking_metric"] == "word_accuracy_all"
    assert result["ranking_title"].startswith("word accuracy (")
    assert result["main_value"] == pytest.approx(1 - float(np.mean(per_item)), abs=1e-9)
    assert result["main_value"] != result["metrics"]["wer_all"]
    bad = client.post(
        f"/bakeoffs/{bid}/vendors/{key_vendor.id}/labels",
        json={"labels": [{"item_key": "t0", "value": ["not", "a", "string"]}]},
        headers=lead,
    )
    assert bad.status_code == 422 and "transcript" in bad.text
