"""Language formats: Label Studio Pairwise/Rating/Choices/TextArea and Argilla records.

The Label Studio files are real exports of a Label Studio 1.23.2 server (see
tests/data/external/labelstudio_language/SOURCE); the Argilla records here are hand-made
after Argilla 2's ``Record.to_dict`` (with a response ``status``, which the SDK's own export
drops); files written by Argilla's SDK are read in test_formats_argilla_sdk.py.
"""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from adapters.base import Ontology, OntologyClass
from adapters.formats import FormatError
from adapters.formats._labelstudio_language import language_label
from adapters.formats.argilla import argilla_annotations, question_names, read_rows
from adapters.formats.labelstudio import (
    iter_annotations,
    label_to_results,
    labeling_config,
    results_to_label,
)
from adapters.formats.labelstudio_language import read_rows as ls_rows
from adapters.formats.registry import (
    detect_format,
    read_label_file,
    read_language_file,
)
from tests.needs import require

REPO = Path(__file__).resolve().parents[2]
LS_FILES = REPO / "tests" / "data" / "external" / "labelstudio_language"
LS_PYTHON = REPO / ".venv-labelstudio" / "bin" / "python"
if not LS_PYTHON.exists():
    LS_PYTHON = REPO.parent / "main" / ".venv-labelstudio" / "bin" / "python"


# --------------------------------------------------------------------------- Label Studio


def test_real_pairwise_export_reads_as_preferences_with_annotators_and_times() -> None:
    path = LS_FILES / "preference_pairwise.json"
    assert detect_format(path) == "labelstudio"
    read = read_label_file(path, task_type="preference")
    got = {(a.item_id, a.annotator_id): a.label for a in read.annotations}
    # left is A, right is B, the tie choice is a tie; the skipped (cancelled) answer is gone
    assert got == {
        ("p1", "2"): "A",
        ("p1", "3"): "A",
        ("p2", "2"): "B",
        ("p2", "3"): "A",
        ("p3", "2"): "tie",
        ("p3", "3"): "B",
        ("p4", "2"): "B",
    }
    first = next(a for a in read.annotations if a.item_id == "p2" and a.annotator_id == "2")
    assert first.completed_at is not None and first.started_at is not None
    assert (first.completed_at - first.started_at).total_seconds() == pytest.approx(12.0)


def test_real_rating_export_reads_every_criterion_in_the_engines_shape() -> None:
    path = LS_FILES / "rating_and_choices.json"
    read = read_label_file(path, task_type="rating")
    got = {(a.item_id, a.annotator_id): a.label for a in read.annotations}
    # Rating controls and Choices read as numbers, keyed by control: {criterion: rating}
    assert got == {
        ("p1", "2"): {"helpfulness": 5, "fluency": 3},
        ("p1", "3"): {"helpfulness": 4, "fluency": 3},
        ("p2", "2"): {"helpfulness": 3, "fluency": 2},
        ("p2", "3"): {"helpfulness": 2, "fluency": 1},
        ("p3", "2"): {"helpfulness": 4, "fluency": 3},
        ("p3", "3"): {"helpfulness": 4, "fluency": 2},
    }
    one = read_label_file(path, task_type="rating", question="helpfulness")
    assert [a.label for a in one.annotations][:2] == [{"helpfulness": 5}, {"helpfulness": 4}]
    rows = read_language_file(path, kind="rating", question="fluency")
    assert [r.label for r in rows] == [{"fluency": v} for v in (3, 3, 2, 1, 3, 2)]
    line = rows[0].to_json()
    assert line["item_id"] == "p1" and line["label"] == {"fluency": 3}
    with pytest.raises(FormatError, match="no region answers question 'clarity'"):
        read_label_file(path, task_type="rating", question="clarity")


def test_real_textarea_export_reads_transcripts() -> None:
    rows = read_language_file(LS_FILES / "transcription_textarea.json", kind="transcription")
    assert {(r.item_id, r.annotator_id): r.label for r in rows} == {
        ("a1", "2"): "the cat sat on the mat",
        ("a1", "3"): "the cat sat on a mat",
        ("a2", "2"): "hello world",
        ("a2", "3"): "hello word",
        ("a3", "2"): "it is 3 o'clock",
        ("a3", "3"): "it is three o clock",
    }
    with pytest.raises(FormatError, match="does not fit a rating task"):
        ls_rows(LS_FILES / "transcription_textarea.json", kind="rating")


def test_the_generated_preference_config_is_what_the_real_export_used() -> None:
    configs = json.loads((LS_FILES / "configs.json").read_text())
    assert labeling_config("preference", Ontology(classes=()), header=None).replace(
        "\n", ""
    ) in configs["preference"].replace("\n", "").replace(
        '  <Header value="Which reply is better?"/>', ""
    )


def test_label_studio_sdk_parses_the_config_and_our_regions_round_trip() -> None:
    """Label Studio's own SDK reads the generated config; what we write reads back."""
    require(
        "label-studio", None if LS_PYTHON.exists() else f"its venv is not installed at {LS_PYTHON}"
    )
    config = labeling_config("preference", Ontology(classes=()))
    script = (
        "import json, sys\n"
        "from label_studio_sdk.label_interface import LabelInterface\n"
        "li = LabelInterface(sys.stdin.read())\n"
        "print(json.dumps({n: c.tag for n, c in li._controls.items()}))\n"
    )
    done = subprocess.run(
        [str(LS_PYTHON), "-c", script],
        input=config,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    require("label-studio", None if done.returncode == 0 else done.stderr.strip()[-300:])
    assert json.loads(done.stdout) == {"label": "Pairwise", "tie": "Choices"}
    for label in ("A", "B", "tie"):
        regions = label_to_results(label, task_type="preference", to_name="prompt")
        assert results_to_label(regions, task_type="preference") == label


@pytest.mark.parametrize(
    ("results", "problem"),
    [
        ([], "no preference answer"),
        ([{"type": "pairwise", "value": {"selected": "middle"}}], "not a preference"),
        (
            [
                {"type": "pairwise", "value": {"selected": "left"}},
                {"type": "choices", "value": {"choices": ["tie"]}},
            ],
            "2 preference answers",
        ),
        ([{"type": "rectanglelabels", "value": {}}], "does not fit a preference task"),
        ([{"type": "pairwise"}], "missing or not an object"),
        ([{"type": "choices", "value": {"choices": ["A", "B"]}}], "exactly one choice"),
    ],
    ids=["none", "bad-side", "pairwise-and-tie", "wrong-region", "no-value", "two-choices"],
)
def test_bad_preference_regions_name_the_place(results: list[Any], problem: str) -> None:
    with pytest.raises(FormatError, match=problem) as info:
        language_label(results, kind="preference", source="x.json", where="[task 3].result")
    assert "x.json: [task 3].result" in str(info.value)


def test_choices_as_ratings_need_numbers_or_a_scale() -> None:
    region = [{"type": "choices", "from_name": "q", "value": {"choices": ["good"]}}]
    with pytest.raises(FormatError, match="pass a scale"):
        language_label(region, kind="rating")
    assert language_label(region, kind="rating", scale={"good": 4, "bad": 1}) == 4
    rating = [{"type": "rating", "from_name": "q", "value": {"rating": True}}]
    with pytest.raises(FormatError, match="true/false"):
        language_label(rating, kind="rating")


def test_a_classification_export_is_not_read_as_preferences() -> None:
    blob = [
        {
            "data": {"item_id": "x"},
            "annotations": [{"result": [{"type": "choices", "value": {"choices": ["cat"]}}]}],
        }
    ]
    with pytest.raises(FormatError, match="'cat' is not a preference"):
        list(iter_annotations(io.BytesIO(json.dumps(blob).encode()), task_type="preference"))


# --------------------------------------------------------------------------- Argilla


def _record(item: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": item,
        "fields": {"prompt": "p", "response_a": "a", "response_b": "b"},
        "metadata": {},
        "suggestions": extra.pop("suggestions", {}),
        "responses": responses,
        "vectors": {},
        "_server_id": f"srv-{item}",
        **extra,
    }


_ARGILLA = [
    _record(
        "r1",
        {"pref": [{"value": "A", "user_id": "u1"}, {"value": "response_b", "user_id": "u2"}]},
        suggestions={"pref": {"value": "A", "score": 0.75, "agent": "judge"}},
    ),
    _record(
        "r2",
        {
            "pref": [
                {"value": "tie", "user_id": "u1"},
                {"value": "B", "user_id": "u2", "status": "discarded"},
            ]
        },
    ),
    _record(
        "r3",
        {
            "pref": [
                {
                    "value": [
                        {"value": "response_b", "rank": 1},
                        {"value": "response_a", "rank": 2},
                    ],
                    "user_id": "u1",
                }
            ]
        },
    ),
]


@pytest.mark.parametrize("shape", ["array", "jsonl"])
def test_argilla_records_read_as_preferences(tmp_path: Path, shape: str) -> None:
    path = tmp_path / f"records.{'json' if shape == 'array' else 'jsonl'}"
    if shape == "array":
        path.write_text(json.dumps(_ARGILLA))
    else:
        path.write_text("\n".join(json.dumps(r) for r in _ARGILLA) + "\n")
    assert detect_format(path) == "argilla"
    read = read_label_file(path, task_type="preference")
    assert read.format == "argilla"
    assert [(a.item_id, a.annotator_id, a.label) for a in read.annotations] == [
        ("r1", "u1", "A"),
        ("r1", "u2", "B"),
        ("r2", "u1", "tie"),  # the discarded response is not an answer
        ("r3", "u1", "B"),  # ranking: response_b ranked first
    ]
    with_model = argilla_annotations(path, task_type="preference", include_suggestions=True)
    judge = [a for a in with_model if a.annotator_id == "judge"]
    assert [(a.item_id, a.label, a.score) for a in judge] == [("r1", "A", 0.75)]


def test_argilla_ratings_and_texts_and_question_choice(tmp_path: Path) -> None:
    records = [
        _record(
            "r1",
            {
                "quality": [{"value": 4, "user_id": "u1"}, {"value": 2, "user_id": "u2"}],
                "clarity": [{"value": 5, "user_id": "u1"}],
                "transcript": [{"value": "hello there", "user_id": "u1"}],
            },
        )
    ]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(records))
    assert question_names(path) == ["clarity", "quality", "transcript"]
    # every question answered with integers is a criterion of the rubric
    rated = read_label_file(path, task_type="rating")
    assert [(a.annotator_id, a.label) for a in rated.annotations] == [
        ("u1", {"quality": 4, "clarity": 5}),
        ("u2", {"quality": 2}),
    ]
    rows = read_rows(path, kind="rating", question="quality")
    assert [(r.annotator_id, r.label) for r in rows] == [
        ("u1", {"quality": 4}),
        ("u2", {"quality": 2}),
    ]
    with pytest.raises(FormatError, match=r"3 questions \['clarity', 'quality', 'transcript'\]"):
        read_label_file(path, task_type="transcription")
    said = read_label_file(path, task_type="transcription", question="transcript")
    assert [a.label for a in said.annotations] == ["hello there"]


def test_label_studio_sdk_parses_the_rating_and_transcript_configs() -> None:
    """Label Studio's SDK reads the generated configs; our regions round-trip."""
    require(
        "label-studio", None if LS_PYTHON.exists() else f"its venv is not installed at {LS_PYTHON}"
    )
    onto = Ontology(
        classes=(OntologyClass(name="helpfulness"), OntologyClass(name="correctness")),
        rating_scale=(1, 5),
    )
    zero_based = Ontology(classes=(OntologyClass(name="tone"),), rating_scale=(0, 3))
    configs = [
        labeling_config("rating", onto),
        labeling_config("rating", zero_based),
        labeling_config("transcription", Ontology(classes=()), data_key="audio"),
    ]
    script = (
        "import json, sys\n"
        "from label_studio_sdk.label_interface import LabelInterface\n"
        "out = []\n"
        "for cfg in json.loads(sys.stdin.read()):\n"
        "    li = LabelInterface(cfg)\n"
        "    out.append({n: c.tag for n, c in li._controls.items()})\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(LS_PYTHON), "-c", script],
        input=json.dumps(configs),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    require("label-studio", None if done.returncode == 0 else done.stderr.strip()[-300:])
    assert json.loads(done.stdout) == [
        {"helpfulness": "Rating", "correctness": "Rating"},
        {"tone": "Choices"},
        {"transcript": "TextArea"},
    ]
    ratings = {"helpfulness": 4, "correctness": 2}
    regions = label_to_results(ratings, task_type="rating", to_name="response")
    assert results_to_label(regions, task_type="rating") == ratings
    said = label_to_results("the cat sat", task_type="transcription", to_name="audio")
    assert results_to_label(said, task_type="transcription") == "the cat sat"
    with pytest.raises(ValueError, match="rating_scale"):
        labeling_config("rating", Ontology(classes=(OntologyClass(name="x"),)))


@pytest.mark.parametrize(
    ("records", "problem"),
    [
        ([{"id": "x", "responses": {}}], "object with 'fields'"),
        ([_record("", {"q": [{"value": "A"}]})], "no item id"),
        ([_record("x", {"q": [{"value": "A"}]}), _record("x", {})], "duplicate item id 'x'"),
        ([_record("x", {"q": [{"value": "C"}]})], "'C' is not a preference"),
        ([_record("x", {"q": [{"user_id": "u"}]})], "object with a value"),
    ],
    ids=["no-fields", "no-id", "duplicate", "bad-value", "no-value"],
)
def test_bad_argilla_records_name_the_place(
    tmp_path: Path, records: list[Any], problem: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(records))
    with pytest.raises(FormatError, match=problem) as info:
        argilla_annotations(path, task_type="preference", question="q")
    assert str(info.value).startswith("bad.json")
