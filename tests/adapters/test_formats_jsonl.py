"""JSON Lines label files: round trips per task type, streaming, and every error case."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.base import Box, LabelValue, Mask, Span, TaskType, VendorAnnotation
from adapters.formats import FormatError
from adapters.formats.jsonl import (
    GoldRecord,
    iter_annotations,
    iter_gold,
    parse_label,
    read_annotations,
    read_gold,
    write_annotations,
    write_gold,
)

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

LABELS: dict[TaskType, list[LabelValue]] = {
    "classification": ["cat", "dog"],
    "multilabel": [["cat", "indoor"], []],
    "detection": [
        [Box(category="cat", bbox=(1.5, 2.0, 30.25, 40.0), score=0.75)],
        [],
    ],
    "segmentation": [
        [Mask(category="cat", segmentation=[[0.0, 0.0, 10.0, 0.0, 10.0, 10.0]])],
        [Mask(category="dog", segmentation={"size": [4, 4], "counts": "52203"}, score=0.5)],
    ],
    "spans": [[Span(start=0, end=5, type="PER"), Span(start=10, end=12, type="LOC")], []],
}


def _blob(*lines: str | bytes) -> io.BytesIO:
    return io.BytesIO(
        b"\n".join(line.encode() if isinstance(line, str) else line for line in lines) + b"\n"
    )


@pytest.mark.parametrize("task_type", list(LABELS), ids=list(LABELS))
def test_annotations_round_trip_for_every_task_type(task_type: TaskType, tmp_path: Path) -> None:
    anns = [
        VendorAnnotation(
            item_id=f"item-{k}",
            label=label,
            annotator_id=f"w{k}",
            score=0.9,
            started_at=T0,
            completed_at=T0 + timedelta(seconds=4.5),
            cost=0.05,
            instructions_version=2,
            external_id=f"ext-{k}",
        )
        for k, label in enumerate(LABELS[task_type])
    ]
    anns.append(VendorAnnotation(item_id="bare", label=LABELS[task_type][0]))
    path = tmp_path / "labels.jsonl"
    assert write_annotations(anns, path) == len(anns)
    assert read_annotations(path, task_type=task_type) == anns


@pytest.mark.parametrize("task_type", list(LABELS), ids=list(LABELS))
def test_gold_round_trip_for_every_task_type(task_type: TaskType) -> None:
    records = [
        GoldRecord(
            item_id=f"g{k}",
            label=label,
            data={"image": f"g{k}.png"},
            metadata={"lighting": "dim"},
        )
        for k, label in enumerate(LABELS[task_type])
    ]
    out = io.StringIO()
    assert write_gold(records, out) == len(records)
    back = read_gold(io.BytesIO(out.getvalue().encode()), task_type=task_type)
    assert back == records


def test_written_lines_are_plain_json_objects_without_nulls() -> None:
    out = io.StringIO()
    write_annotations([VendorAnnotation(item_id="a", label="cat", annotator_id="w1")], out)
    assert out.getvalue() == '{"item_id":"a","label":"cat","annotator_id":"w1"}\n'


def test_blank_lines_bom_and_naive_timestamps() -> None:
    blob = _blob(
        b'\xef\xbb\xbf{"item_id": "a", "label": "x", "completed_at": "2024-05-01T10:00:00"}',
        "",
        "   ",
        '{"item_id": "b", "label": "y"}',
    )
    anns = read_annotations(blob, task_type="classification")
    assert [a.item_id for a in anns] == ["a", "b"]
    assert anns[0].completed_at == T0


def test_reading_is_streamed_line_by_line() -> None:
    """Lines before a broken one are yielded before the error is raised."""
    blob = _blob('{"item_id": "a", "label": "x"}', '{"item_id": "b", "label": "y"}', "{oops")
    it = iter_annotations(blob, task_type="classification", name="big.jsonl")
    assert next(it).item_id == "a"
    assert next(it).item_id == "b"
    with pytest.raises(FormatError, match=r"^big\.jsonl: line 3: invalid JSON"):
        next(it)


def test_a_large_file_streams(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"

    def gen() -> Iterator[VendorAnnotation]:
        for k in range(20_000):
            yield VendorAnnotation(item_id=str(k), label="c" + str(k % 3), annotator_id="w")

    assert write_annotations(gen(), path) == 20_000
    count = sum(1 for _ in iter_annotations(path, task_type="classification"))
    assert count == 20_000


ANNOTATION_ERRORS: list[tuple[str, TaskType, list[str | bytes], str]] = [
    (
        "invalid-json",
        "classification",
        [
            '{"item_id": "a", "label": "x"',
        ],
        r"line 1: invalid JSON",
    ),
    ("not-object", "classification", ['["a", "x"]'], r"line 1: expected a JSON object, got list"),
    ("not-utf8", "classification", [b'{"item_id": "a", "label": "\xff"}'], r"line 1: not UTF-8"),
    ("missing-label", "classification", ['{"item_id": "a"}'], r"line 1: label: required field"),
    ("missing-item-id", "classification", ['{"label": "x"}'], r"line 1: item_id: required"),
    ("empty-item-id", "classification", ['{"item_id": "", "label": "x"}'], r"line 1: item_id"),
    (
        "unknown-field",
        "classification",
        ['{"item_id": "a", "lable": "x"}'],
        r"lable: unknown field",
    ),
    (
        "class-not-string",
        "classification",
        ['{"item_id": "a", "label": ["x"]}'],
        r"line 1: label: expected a class name \(string\) for classification",
    ),
    (
        "multilabel-not-list",
        "multilabel",
        ['{"item_id": "a", "label": "x"}'],
        r"line 1: label: expected a list of class names",
    ),
    (
        "detection-not-list",
        "detection",
        ['{"item_id": "a", "label": "cat"}'],
        r"line 1: label: expected a list of detection objects",
    ),
    (
        "negative-width",
        "detection",
        ['{"item_id": "a", "label": [{"category": "c", "bbox": [0, 0, -1, 2]}]}'],
        r"line 1: label\[0\]\.bbox\[2\]: Input should be greater than or equal to 0",
    ),
    (
        "nan-box",
        "detection",
        ['{"item_id": "a", "label": [{"category": "c", "bbox": [NaN, 0, 1, 2]}]}'],
        r"line 1: label\[0\]\.bbox\[0\]: Input should be a finite number",
    ),
    (
        "short-bbox",
        "detection",
        ['{"item_id": "a", "label": [{"category": "c", "bbox": [0, 0, 1]}]}'],
        r"line 1: label\[0\]\.bbox",
    ),
    (
        "box-extra-field",
        "detection",
        ['{"item_id": "a", "label": [{"category": "c", "bbox": [0, 0, 1, 1], "colour": 1}]}'],
        r"line 1: label\[0\]\.colour: unknown field",
    ),
    (
        "polygon-too-short",
        "segmentation",
        ['{"item_id": "a", "label": [{"category": "c", "segmentation": [[0, 0, 1, 1]]}]}'],
        r"line 1: label\[0\]\.segmentation",
    ),
    (
        "span-backwards",
        "spans",
        ['{"item_id": "a", "label": [{"start": 5, "end": 5, "type": "PER"}]}'],
        r"line 1: label\[0\]\.end: span end 5 must be after start 5",
    ),
    (
        "span-float-offset",
        "spans",
        ['{"item_id": "a", "label": [{"start": 1.5, "end": 5, "type": "PER"}]}'],
        r"line 1: label\[0\]\.start",
    ),
    (
        "bad-timestamp",
        "classification",
        ['{"item_id": "a", "label": "x", "completed_at": "yesterday"}'],
        r"line 1: completed_at",
    ),
    (
        "start-after-end",
        "classification",
        [
            '{"item_id": "a", "label": "x", "started_at": "2024-05-01T10:00:05Z",'
            ' "completed_at": "2024-05-01T10:00:00Z"}'
        ],
        r"line 1: started_at: is after completed_at",
    ),
    (
        "negative-cost",
        "classification",
        ['{"item_id": "a", "label": "x", "cost": -1}'],
        r"line 1: cost: Input should be greater than or equal to 0",
    ),
    (
        "duplicate-external-id",
        "classification",
        [
            '{"item_id": "a", "label": "x", "external_id": "e1"}',
            '{"item_id": "a", "label": "y", "external_id": "e1"}',
        ],
        r"line 2: external_id: duplicate answer 'e1' for item 'a'",
    ),
]


@pytest.mark.parametrize(
    ("task_type", "lines", "message"),
    [case[1:] for case in ANNOTATION_ERRORS],
    ids=[case[0] for case in ANNOTATION_ERRORS],
)
def test_annotation_errors_name_file_line_and_field(
    task_type: TaskType, lines: list[str | bytes], message: str
) -> None:
    with pytest.raises(FormatError) as info:
        read_annotations(_blob(*lines), task_type=task_type, name="vendor.jsonl")
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("vendor.jsonl: line ")
    assert info.value.source == "vendor.jsonl"

    assert re.search(message, text), text


def test_gold_duplicate_item_id_is_refused() -> None:
    blob = _blob('{"item_id": "a", "label": "x"}', '{"item_id": "a", "label": "y"}')
    expected = r"^gold\.jsonl: line 2: item_id: duplicate item_id 'a'$"
    with pytest.raises(FormatError, match=expected):
        read_gold(blob, task_type="classification", name="gold.jsonl")


def test_gold_unknown_field_and_bad_label() -> None:
    with pytest.raises(FormatError, match=r"line 1: annotator_id: unknown field"):
        read_gold(
            _blob('{"item_id": "a", "label": "x", "annotator_id": "w"}'), task_type="classification"
        )
    with pytest.raises(FormatError, match=r"line 1: label: expected a list of class names"):
        list(iter_gold(_blob('{"item_id": "a", "label": 3}'), task_type="multilabel"))


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"^nope\.jsonl: cannot open"):
        read_annotations(tmp_path / "nope.jsonl", task_type="classification")


def test_text_streams_are_refused_with_a_type_error() -> None:
    with pytest.raises(TypeError, match="binary stream"):
        text: Any = io.StringIO('{"item_id": "a", "label": "x"}\n')
        read_annotations(text, task_type="classification")


def test_parse_label_builds_dtos() -> None:
    value: Any = json.loads('[{"start": 0, "end": 3, "type": "ORG"}]')
    assert parse_label(value, task_type="spans") == [Span(start=0, end=3, type="ORG")]
    assert parse_label("cat", task_type="classification") == "cat"


_finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
_size = st.floats(min_value=0, max_value=1e6, allow_nan=False)
_box = st.builds(
    Box,
    category=st.text(min_size=1, max_size=8),
    bbox=st.tuples(_finite, _finite, _size, _size),
    score=st.none() | st.floats(min_value=0, max_value=1),
)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.builds(
            VendorAnnotation,
            item_id=st.text(min_size=1, max_size=10),
            label=st.lists(_box, max_size=4),
            annotator_id=st.none() | st.text(max_size=6),
        ),
        max_size=10,
    )
)
def test_detection_annotations_round_trip_for_any_boxes(anns: list[VendorAnnotation]) -> None:
    out = io.StringIO()
    write_annotations(anns, out)
    assert read_annotations(io.BytesIO(out.getvalue().encode()), task_type="detection") == anns
