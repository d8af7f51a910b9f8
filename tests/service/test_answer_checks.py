"""The answer checks both label stores share: the one-answer rule, re-sent answers, fields."""

from __future__ import annotations

import json

import pytest

from adapters.base import VendorAnnotation
from adapters.formats.csv import LabelRow
from service.domain.answer_checks import (
    admit_answer,
    answer_conflict,
    answer_fields,
    check_amounts,
    check_resent,
    normalized_text,
)
from service.domain.errors import Conflict, Invalid
from service.domain.vendor_labels import LabelIn


def test_the_one_answer_rule_in_memory() -> None:
    seen: dict[object, str | None] = {(1, ""): None}
    cat, dog = json.dumps("cat"), json.dumps("dog")
    assert admit_answer(seen, (2, ""), cat, task_type="classification") == "new"
    assert seen[(2, "")] == cat
    assert admit_answer(seen, (2, ""), cat, task_type="classification") == "duplicate"
    assert admit_answer(seen, (2, ""), dog, task_type="classification") == "conflict"
    assert admit_answer(seen, (1, ""), dog, task_type="classification") == "resent"
    both, swapped = json.dumps(["a", "b"]), json.dumps(["b", "a"])
    assert admit_answer(seen, 3, both, task_type="multilabel") == "new"
    assert admit_answer(seen, 3, swapped, task_type="multilabel") == "duplicate"
    assert admit_answer(seen, 4, both, task_type="classification") == "new"
    assert admit_answer(seen, 4, swapped, task_type="classification") == "conflict"


def test_a_resent_answer_must_equal_the_stored_one() -> None:
    wanted = {(1, ""): (json.dumps("cat"), "row 2"), (2, "a1"): (json.dumps("dog"), "row 3")}

    def conflict(where: str, key: tuple[int, str], value: object) -> Conflict:
        return answer_conflict("f.csv", where, f"p{key[0]}", key[1], stored=value)

    check_resent(
        [((1, ""), "cat"), ((9, ""), "bird")], wanted, task_type="classification", conflict=conflict
    )
    with pytest.raises(
        Conflict, match=r"f.csv: row 3: item 'p2', annotator 'a1': .*already stored \(\"bird\"\)"
    ):
        check_resent([((2, "a1"), "bird")], wanted, task_type="classification", conflict=conflict)


@pytest.mark.parametrize(
    ("record", "where"),
    [
        (LabelRow("k", "cat", 7), "row 7"),
        (LabelIn("k", "cat", "a1", row=4), "row 4"),
        (LabelIn("k", "cat"), "record 3"),
        (VendorAnnotation(item_id="k", label="cat", annotator_id="a1"), "record 3"),
    ],
    ids=["csv-row", "label-in-row", "label-in", "annotation"],
)
def test_every_record_type_names_its_place(record: object, where: str) -> None:
    fields = answer_fields(record, 3)
    assert (fields.key, fields.value, fields.where) == ("k", "cat", where)


def test_labels_and_amounts_are_refused_by_place() -> None:
    classes = frozenset({"cat", "dog"})
    assert (
        normalized_text(
            "cat", source="s", where="row 2", task_type="classification", classes=classes
        )
        == '"cat"'
    )
    with pytest.raises(Invalid, match="s: row 2: ") as bad:
        normalized_text(
            "cow", source="s", where="row 2", task_type="classification", classes=classes
        )
    assert bad.value.location[:2] == ("body", "row 2")
    check_amounts(0.5, -1.0, source="s", where="row 2")  # a bake-off accepts a negative cost
    with pytest.raises(Invalid, match="cost -1.0 is negative"):
        check_amounts(0.5, -1.0, source="s", where="row 2", refuse_negative_cost=True)
    with pytest.raises(Invalid):
        check_amounts(float("nan"), None, source="s", where="row 2")
