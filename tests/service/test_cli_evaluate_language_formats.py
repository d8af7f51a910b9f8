"""``bakeoff evaluate --task rating|transcription`` reads Label Studio exports: the same
numbers as the same answers given as Bakeoff JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.formats.registry import read_gold_file, read_language_file
from service.cli.main import app

LS_FILES = Path(__file__).resolve().parents[1] / "data" / "external" / "labelstudio_language"
GOLD: dict[str, dict[str, Any]] = {
    "rating": {
        "p1": {"helpfulness": 5, "fluency": 3},
        "p2": {"helpfulness": 2, "fluency": 2},
        "p3": {"helpfulness": 4, "fluency": 3},
    },
    "transcription": {
        "a1": "the cat sat on the mat",
        "a2": "hello world",
        "a3": "it is three o'clock",
    },
}
FILES = {"rating": "rating_and_choices.json", "transcription": "transcription_textarea.json"}


def _evaluate(task: str, gold: Path, labels: Path) -> dict[str, Any]:
    result = CliRunner().invoke(
        app,
        ["evaluate", "--task", task, "--gold", str(gold), "--labels", f"v={labels}"]
        + ["--json", "--resamples", "20"],
    )
    assert result.exit_code == 0, result.output
    system: dict[str, Any] = json.loads(result.stdout)["systems"]["v"]
    return system


@pytest.mark.parametrize("task", ["rating", "transcription"])
def test_a_label_studio_export_evaluates_like_its_jsonl(tmp_path: Path, task: str) -> None:
    gold = tmp_path / "gold.jsonl"
    meta = {"scale_min": 1, "scale_max": 5} if task == "rating" else {}
    gold.write_text(
        "\n".join(
            json.dumps({"item_id": k, "label": v, "metadata": meta}) for k, v in GOLD[task].items()
        )
    )
    export = LS_FILES / FILES[task]
    rows = read_language_file(export, kind=task)  # type: ignore[arg-type]
    jsonl = tmp_path / "labels.jsonl"
    jsonl.write_text("\n".join(json.dumps(r.to_json()) for r in rows))
    from_export, from_jsonl = _evaluate(task, gold, export), _evaluate(task, gold, jsonl)
    assert from_export["metrics"] == from_jsonl["metrics"]
    assert from_export["n_labels"] == from_jsonl["n_labels"] >= 6


@pytest.mark.parametrize("task", ["rating", "transcription"])
def test_a_label_studio_gold_evaluates_like_its_jsonl_as_import_reads_it(
    tmp_path: Path, task: str
) -> None:
    """``bakeoff import gold`` reads a Label Studio export as rating/transcription gold (the
    ``ground_truth`` annotation of each task); ``evaluate`` reads it the same."""
    tasks = json.loads((LS_FILES / FILES[task]).read_text())
    for t in tasks:  # the second rater's answer is the expert's, where there is one
        kept = [a for a in t["annotations"] if not a.get("was_cancelled")]
        kept[-1]["ground_truth"] = True
    ls_gold = tmp_path / "gold.json"
    ls_gold.write_text(json.dumps(tasks))
    records = read_gold_file(ls_gold, task_type=task, format="labelstudio").records  # type: ignore[arg-type]
    assert [r.item_id for r in records] == list(GOLD[task])
    jsonl_gold = tmp_path / "gold.jsonl"
    jsonl_gold.write_text(
        "\n".join(json.dumps({"item_id": r.item_id, "label": r.label}) for r in records)
    )
    export = LS_FILES / FILES[task]
    from_ls, from_jsonl = _evaluate(task, ls_gold, export), _evaluate(task, jsonl_gold, export)
    assert from_ls["metrics"] == from_jsonl["metrics"]
    assert from_ls["n_labels"] >= 6
