"""CSV injection: every writer neutralises formula-like cells and every reader undoes it."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.formats.csv import (
    FORMULA_PREFIXES,
    csv_safe,
    csv_unsafe,
    iter_annotations,
    iter_labels,
    write_annotations,
    write_labels,
)

_cell = st.text(alphabet=st.sampled_from(list("=+-@'\t\r a1.,|\"")), min_size=1, max_size=8)


@given(_cell)
def test_csv_safe_round_trips_every_value(value: str) -> None:
    safe = csv_safe(value)
    assert csv_unsafe(safe) == value
    assert safe[:1] not in FORMULA_PREFIXES or safe.lstrip("'") == safe and _is_number(safe)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+cmd", "'+1+cmd"),
        ("-x", "'-x"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("'=already", "''=already"),
        ("-12.5", "-12.5"),
        ("+3e2", "+3e2"),
        ("cat", "cat"),
    ],
    ids=["equals", "plus", "minus", "at", "quoted", "negative-number", "exp-number", "plain"],
)
def test_writers_neutralise_and_readers_restore(value: str, written: str) -> None:
    out = io.StringIO()
    write_annotations([(value, value, value)], out)
    assert out.getvalue().splitlines()[1].split(",")[0].strip('"') == written
    row = next(iter_annotations(io.StringIO(out.getvalue())))
    assert (row.item_id, row.annotator_id, row.label) == (value, value, value)
    out = io.StringIO()
    write_labels([(value, "cat")], out)
    assert next(iter_labels(io.StringIO(out.getvalue()))).item_id == value
