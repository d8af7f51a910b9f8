"""CSV label files: streaming readers, validation messages, writers round-trip."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.formats import FormatError
from adapters.formats.csv import (
    detect_layout,
    iter_annotations,
    iter_labels,
    iter_multilabels,
    read_annotations,
    read_labels,
    read_multilabels,
    write_annotations,
    write_labels,
    write_multilabels,
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_read_labels_from_path_any_column_order_bom_and_blank_lines(tmp_path: Path) -> None:
    path = _write(tmp_path, "gold.csv", "\ufefflabel , item_id\n cat , a\n\ndog,b\n")
    labels = read_labels(path)
    assert labels.to_dict() == {"a": "cat", "b": "dog"}
    assert labels.index.name == "task" and labels.name == "label"
    assert detect_layout(path) == "labels"


def test_read_from_binary_stream_like_an_upload() -> None:
    data = io.BytesIO("item_id,annotator_id,label\nx,w1,é\nx,w2,a\n".encode())
    frame = read_annotations(data, name="upload.csv")
    assert frame.to_dict("list") == {
        "task": ["x", "x"],
        "worker": ["w1", "w2"],
        "label": ["é", "a"],
    }
    assert not data.closed


def test_reader_is_lazy_and_streams_100k_rows(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    n = write_labels(((f"item-{i}", str(i % 7)) for i in range(100_000)), path)
    assert n == 100_000
    rows = iter_labels(path)
    first = next(rows)
    assert first.item_id == "item-0" and first.row == 2
    assert sum(1 for _ in rows) == 99_999


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "bad.csv: empty file; expected a header row item_id,label", id="empty"),
        pytest.param(
            "item_id,label,score\na,b,1\n",
            "bad.csv: row 1: unknown column(s) 'score'; expected item_id,label",
            id="unknown-column",
        ),
        pytest.param(
            "item_id\na\n",
            "bad.csv: row 1: missing column(s) 'label'; expected item_id,label",
            id="missing-column",
        ),
        pytest.param(
            "item_id,label,label\n", "bad.csv: row 1: column 'label' appears twice", id="dup-column"
        ),
        pytest.param(
            "item_id,label\na,cat\nb,dog\na,cow\n",
            "bad.csv: row 4: duplicate item_id 'a' (first seen at row 2)",
            id="duplicate-id",
        ),
        pytest.param(
            "item_id,label\na,cat\nb,\n",
            "bad.csv: row 3: empty label for item_id 'b'",
            id="empty-label",
        ),
        pytest.param("item_id,label\n,cat\n", "bad.csv: row 2: empty item_id", id="empty-id"),
        pytest.param(
            "item_id,label\na,cat,extra\n",
            "bad.csv: row 2: expected 2 fields (item_id,label), got 3",
            id="extra-field",
        ),
        pytest.param(
            'item_id,label\na,"cat\n', "bad.csv: row 2: malformed CSV", id="unterminated-quote"
        ),
    ],
)
def test_label_errors_are_one_line_naming_file_and_row(text: str, message: str) -> None:
    with pytest.raises(FormatError) as info:
        list(iter_labels(io.StringIO(text), name="bad.csv"))
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_annotation_duplicates_and_missing_annotator() -> None:
    text = "item_id,annotator_id,label\na,w1,x\na,w2,y\na,w1,z\n"
    with pytest.raises(
        FormatError, match=r"row 4: duplicate answer for item_id 'a' by annotator_id 'w1'"
    ):
        list(iter_annotations(io.StringIO(text), name="ann.csv"))
    with pytest.raises(FormatError, match="missing column\\(s\\) 'annotator_id'"):
        list(iter_annotations(io.StringIO("item_id,label\na,x\n"), name="ann.csv"))


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("item_id,label\na,caf\xe9\n".encode("latin-1"))
    with pytest.raises(FormatError, match="latin.csv: row .*: file is not UTF-8 text"):
        read_labels(path)


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="nope.csv: cannot open file"):
        read_labels(tmp_path / "nope.csv")


def test_detect_layout_rejects_other_headers(tmp_path: Path) -> None:
    path = _write(tmp_path, "x.csv", "id,answer\n1,a\n")
    with pytest.raises(FormatError, match="x.csv: row 1: unrecognised header id,answer"):
        detect_layout(path)
    assert detect_layout(_write(tmp_path, "y.csv", "annotator_id,label,item_id\n")) == "annotations"


def test_multilabel_read_write_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ml.csv"
    write_multilabels([("a", {"indoor", "cat"}), ("b", ["dog"])], path)
    assert path.read_text().splitlines() == ["item_id,label", "a,cat|indoor", "b,dog"]
    series = read_multilabels(path)
    assert series.to_dict() == {"a": frozenset({"cat", "indoor"}), "b": frozenset({"dog"})}
    with pytest.raises(FormatError, match="row 2: empty class in label 'a\\|\\|b'"):
        list(iter_multilabels(io.StringIO("item_id,label\n1,a||b\n"), name="ml.csv"))


def test_writers_refuse_invalid_rows() -> None:
    with pytest.raises(ValueError, match="row 3: duplicate item_id 'a'"):
        write_labels([("a", "x"), ("a", "y")], io.StringIO())
    with pytest.raises(ValueError, match="row 2: empty label"):
        write_labels([("a", "")], io.StringIO())
    with pytest.raises(ValueError, match="duplicate answer"):
        write_annotations([("a", "w", "x"), ("a", "w", "y")], io.StringIO())


def test_annotations_round_trip_from_dataframe() -> None:
    frame = pd.DataFrame(
        {"task": ["a", "a", "b"], "worker": ["w1", "w2", "w1"], "label": ["x", "y", "x"]}
    )
    out = io.StringIO()
    assert write_annotations(frame, out) == 3
    back = read_annotations(io.StringIO(out.getvalue()))
    pd.testing.assert_frame_equal(back, frame.astype(object))


field = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=8,
)


@settings(max_examples=50, deadline=None)
@given(st.dictionaries(field, field, max_size=20))
def test_hypothesis_labels_round_trip(mapping: dict[str, str]) -> None:
    out = io.StringIO()
    write_labels(mapping.items(), out)
    assert read_labels(io.StringIO(out.getvalue())).to_dict() == mapping
