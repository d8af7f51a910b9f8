"""Argilla records written by Argilla's own SDK (2.8.0) are read by the one format layer.

The files in tests/data/external/argilla_sdk were made with ``JsonIO.to_json``, the writer
behind ``Dataset.records.to_json`` (see its SOURCE: Argilla's repository holds no exported
record file). Preference as a RankingQuestion, a two-question rubric of RatingQuestions,
and a TextQuestion transcript, two annotators each, one ranking suggestion from a judge.
"""

from __future__ import annotations

import json
from pathlib import Path

from adapters.formats.argilla import argilla_annotations, question_names
from adapters.formats.registry import detect_format, read_label_file

DATA = Path(__file__).resolve().parents[1] / "data" / "external" / "argilla_sdk"
ANN1 = "92501342-da2d-5786-8045-52092570c886"  # uuid5 of "annotator-1" (see SOURCE)
ANN2 = "01047cd6-96eb-58fc-b94d-5acfcb94f98c"


def test_the_sdk_export_has_the_shape_the_reader_follows() -> None:
    records = json.loads((DATA / "preference_ranking.json").read_text())
    assert set(records[0]) == {
        "id",
        "fields",
        "metadata",
        "suggestions",
        "responses",
        "vectors",
        "status",
        "_server_id",
    }
    # the SDK's export keeps no response status: discarded and draft look submitted
    assert all(
        set(r) == {"value", "user_id"} for rec in records for r in rec["responses"]["preference"]
    )


def test_rankings_read_as_preferences_with_the_judge_as_a_suggestion() -> None:
    path = DATA / "preference_ranking.json"
    assert detect_format(path) == "argilla"
    assert question_names(path) == ["preference"]
    read = read_label_file(path, task_type="preference")
    assert [(a.item_id, a.annotator_id, a.label) for a in read.annotations] == [
        ("pair-000", ANN1, "A"),
        ("pair-000", ANN2, "A"),
        ("pair-001", ANN1, "B"),  # response_b ranked 1
        ("pair-001", ANN2, "A"),
        ("pair-002", ANN1, "tie"),  # equal ranks
        ("pair-002", ANN2, "A"),  # given as discarded: the export cannot say so
        ("pair-003", ANN1, "tie"),
        ("pair-003", ANN2, "B"),  # given as a draft: likewise
    ]
    judged = argilla_annotations(path, task_type="preference", include_suggestions=True)
    judge = [(a.item_id, a.label) for a in judged if a.annotator_id == "judge-1"]
    assert judge == [(f"pair-{i:03d}", "A") for i in range(4)]


def test_rating_questions_read_as_one_rubric_per_annotator() -> None:
    path = DATA / "rating.json"
    assert detect_format(path) == "argilla"
    read = read_label_file(path, task_type="rating")
    got = [(a.item_id, a.annotator_id, a.label) for a in read.annotations]
    assert got[:4] == [
        ("reply-000", ANN1, {"correctness": 5, "helpfulness": 4}),
        ("reply-000", ANN2, {"correctness": 4, "helpfulness": 4}),
        ("reply-001", ANN1, {"correctness": 1, "helpfulness": 2}),
        ("reply-001", ANN2, {"correctness": 2, "helpfulness": 2}),
    ]
    assert len(got) == 8 and {item for item, _, _ in got} == {f"reply-{i:03d}" for i in range(4)}


def test_text_question_reads_as_transcripts() -> None:
    path = DATA / "transcription_text.json"
    read = read_label_file(path, task_type="transcription")
    assert [(a.item_id, a.annotator_id, a.label) for a in read.annotations] == [
        ("clip-000", ANN1, "the zebra quietly hums"),
        ("clip-000", ANN2, "the zebra quietly hums"),
        ("clip-001", ANN1, "twenty five apples"),
        ("clip-001", ANN2, "25 apples"),
        ("clip-002", ANN1, "hello world"),
        ("clip-002", ANN2, "hello word"),
    ]
