"""A Label Studio project that asks several questions: one is picked by ``from_name`` in
every door, and none is merged with another."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from adapters.formats import FormatError
from adapters.formats import labelstudio as ls
from service.cli.main import app


def _choices(question: str, *labels: str) -> dict[str, Any]:
    return {
        "type": "choices",
        "from_name": question,
        "to_name": "text",
        "value": {"choices": list(labels)},
    }


def _export(answers: dict[str, tuple[tuple[str, ...], tuple[str, ...]]]) -> bytes:
    tasks = [
        {
            "data": {"item_id": item, "text": f"text {item}"},
            "annotations": [
                {
                    "completed_by": 1,
                    "result": [_choices("sentiment", *sent), _choices("topic", *topic)],
                }
            ],
        }
        for item, (sent, topic) in answers.items()
    ]
    return json.dumps(tasks).encode()


EXPORT = _export({"a": (("pos",), ("sports",)), "b": (("neg",), ("politics", "sports"))})


@pytest.mark.parametrize("task_type", ["classification", "multilabel"])
def test_several_questions_and_none_named_is_refused_with_their_names(task_type: Any) -> None:
    with pytest.raises(FormatError, match=r"2 questions \(from_name\) 'sentiment', 'topic'"):
        list(ls.iter_annotations(io.BytesIO(EXPORT), task_type=task_type))


def test_the_named_question_is_read_alone() -> None:
    sent = list(
        ls.iter_annotations(io.BytesIO(EXPORT), task_type="classification", question="sentiment")
    )
    assert [(a.item_id, a.label) for a in sent] == [("a", "pos"), ("b", "neg")]
    topics = list(ls.iter_annotations(io.BytesIO(EXPORT), task_type="multilabel", question="topic"))
    # never merged with the sentiment choices
    assert [(a.item_id, a.label) for a in topics] == [
        ("a", ["sports"]),
        ("b", ["politics", "sports"]),
    ]
    gold = ls.read_gold(io.BytesIO(EXPORT), task_type="classification", question="sentiment")
    assert [(g.item_id, g.label) for g in gold] == [("a", "pos"), ("b", "neg")]


def test_a_question_the_file_does_not_ask_is_refused_with_those_it_does() -> None:
    with pytest.raises(
        FormatError, match=r"no region answers question 'mood'.*'sentiment', 'topic'"
    ):
        list(ls.iter_annotations(io.BytesIO(EXPORT), task_type="classification", question="mood"))


def test_bakeoff_evaluate_takes_question(tmp_path: Path) -> None:
    gold, labels = tmp_path / "gold.json", tmp_path / "labels.json"
    gold.write_bytes(EXPORT)
    labels.write_bytes(_export({"a": (("pos",), ("sports",)), "b": (("pos",), ("sports",))}))
    args = ["evaluate", "--task", "classification", "--gold", str(gold), "--labels", f"v={labels}"]
    refused = CliRunner().invoke(app, args)
    assert refused.exit_code != 0
    assert "'sentiment', 'topic'" in refused.output
    result = CliRunner().invoke(app, [*args, "--question", "sentiment", "--json"])
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)["systems"]["v"]["metrics"]
    assert metrics["accuracy_all"]["value"] == 0.5  # a right, b wrong
