"""The shared JSON limits: one depth limit and finite numbers in every JSON reader."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from adapters.formats import MAX_JSON_DEPTH, FormatError
from adapters.formats import coco as coco_format
from adapters.formats import jsonl as jsonl_format
from adapters.formats import labelstudio as ls_format
from adapters.formats._json_safe import decode, json_problem, loads


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        (_nested(MAX_JSON_DEPTH), True),
        (_nested(MAX_JSON_DEPTH + 1), False),
        (_nested(5_000), False),  # past Python's recursion limit: no RecursionError escapes
        ('{"a": "' + "[" * 500 + '"}', True),  # brackets inside strings do not nest
        ('{"a": ' * 70 + "1" + "}" * 70, False),
        ("[" + ",".join(["[1]"] * 500) + "]", True),  # many brackets, depth 2
    ],
    ids=["at-limit", "one-over", "very-deep", "in-string", "objects", "wide"],
)
def test_depth_limit(text: str, ok: bool) -> None:
    if ok:
        assert loads(text, source="t.json") is not None
    else:
        with pytest.raises(FormatError, match=f"deeper than {MAX_JSON_DEPTH} levels"):
            loads(text, source="t.json")


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ('{"a": [1, NaN]}', "a[1]"),
        ('{"a": {"b": Infinity}}', "a.b"),
        ('{"a": -Infinity}', "a"),
        ('{"a": 1e999}', "a"),
        ('{"a": -2.5E+400}', "a"),
        ('{"a": ' + "9" * 400 + ".0}", "a"),
    ],
    ids=["nan", "inf", "-inf", "1e999", "-2.5e400", "400-digit-float"],
)
def test_non_finite_numbers_are_refused_with_their_path(text: str, path: str) -> None:
    with pytest.raises(FormatError) as info:
        loads(text, source="t.json", where="line 4")
    assert info.value.location == f"line 4: {path}"
    assert "finite number" in info.value.problem


@pytest.mark.parametrize(
    "text",
    ['{"a": 1e308, "b": -1.7e308}', '{"file": "x1e300.png"}', '{"n": 1e-999}', '{"s": "NaN"}'],
    ids=["largest", "exponent-in-string", "underflow", "nan-string"],
)
def test_finite_values_pass(text: str) -> None:
    assert decode(text) == json.loads(text)
    assert json_problem(text) is None


def test_a_huge_integer_is_a_format_error_not_a_value_error() -> None:
    with pytest.raises(FormatError, match="out of range"):
        loads('{"n": ' + "1" * 5000 + "}", source="t.json")


def test_every_reader_applies_the_limits(tmp_path: Path) -> None:
    deep = '{"x": ' * 200 + "1" + "}" * 200
    with pytest.raises(FormatError, match=r"^g\.jsonl: line 2: JSON nested deeper than"):
        jsonl_format.read_gold(
            io.BytesIO(
                b'{"item_id": "a", "label": "c"}\n{"item_id": "b", "label": '
                + deep.encode()
                + b"}\n"
            ),
            task_type="classification",
            name="g.jsonl",
        )
    with pytest.raises(FormatError, match=r"\[task 0\]"):
        list(
            ls_format.iter_tasks(
                io.BytesIO(('[{"id": 1, "data": ' + deep + "}]").encode()),
                task_type="classification",
                name="ls.json",
            )
        )
    path = tmp_path / "gold.json"
    path.write_text('{"images": [], "annotations": [], "categories": ' + deep + "}")
    with pytest.raises(FormatError, match="deeper than"):
        coco_format.read_coco_dataset(path)
    gold = coco_format.parse_coco_dataset(
        {
            "images": [{"id": 1, "width": 10, "height": 10, "file_name": "a.png"}],
            "annotations": [],
            "categories": [{"id": 1, "name": "c"}],
        },
        source="gold.json",
    )
    results = tmp_path / "results.json"
    results.write_text('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1e999}]')
    with pytest.raises(FormatError) as info:
        coco_format.read_coco_results(results, gold)
    assert info.value.location == "[0].score" and "finite number" in info.value.problem
