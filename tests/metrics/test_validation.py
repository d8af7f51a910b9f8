"""Shared input checks: TypeError for types, ValueError for values, naming what is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from metrics import _validation


def test_check_answers_names_rows_and_columns() -> None:
    ok = pd.DataFrame({"task": [1, 2], "worker": ["a", "a"], "label": ["x", None]})
    _validation.check_answers(ok, allow_missing=True)
    with pytest.raises(ValueError, match=r"answers\['label'\] has missing values at row\(s\) 1"):
        _validation.check_answers(ok)
    no_task = ok.assign(task=[1.0, np.nan])
    with pytest.raises(ValueError, match=r"answers\['task'\] has missing values at row\(s\) 1"):
        _validation.check_answers(no_task, allow_missing=True)
    dup = pd.DataFrame({"task": [1, 1], "worker": ["a", "a"], "label": ["x", "y"]})
    with pytest.raises(ValueError, match=r"\(task, worker\) pair: \(1, 'a'\)"):
        _validation.check_answers(dup)
    _validation.check_answers(dup, check_duplicates=False)
    with pytest.raises(TypeError, match="got list"):
        _validation.check_answers([1])


def test_check_gold_and_labels_lists_at_most_five_offenders() -> None:
    gold = pd.Series(range(3), index=list("abc"))
    labels = pd.Series(range(8), index=[f"z{i}" for i in range(8)])
    with pytest.raises(ValueError, match=r"'z0', 'z1', 'z2', 'z3', 'z4' \(and 3 more\)"):
        _validation.check_gold_and_labels(gold, labels)


@pytest.mark.parametrize(
    ("check", "value", "error"),
    [
        pytest.param(_validation.check_probability, 1.0, ValueError, id="prob-1"),
        pytest.param(_validation.check_probability, "0.5", TypeError, id="prob-str"),
        pytest.param(_validation.check_probability, True, TypeError, id="prob-bool"),
        pytest.param(_validation.check_positive_int, 0, ValueError, id="int-0"),
        pytest.param(_validation.check_positive_int, 2.0, TypeError, id="int-float"),
    ],
)
def test_scalar_checks(check: Any, value: Any, error: type[Exception]) -> None:
    with pytest.raises(error, match="x must"):
        check(value, name="x")


def test_scalar_checks_accept_numpy_scalars() -> None:
    _validation.check_probability(np.float64(0.95), name="level")
    _validation.check_positive_int(np.int64(3), name="n")
    _validation.check_option("a", name="opt", allowed=("a", "b"))
    with pytest.raises(ValueError, match="opt must be one of 'a', 'b'; got 'c'"):
        _validation.check_option("c", name="opt", allowed=("a", "b"))
