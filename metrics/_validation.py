"""Input checks shared by every public metric: validate once at entry, then compute.

Types that are wrong raise :class:`TypeError`; values that are wrong raise
:class:`ValueError`. Messages name the offending argument, column or rows and say
how to fix them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from metrics.types import LABEL, TASK, WORKER

__all__ = [
    "check_answers",
    "check_gold_and_labels",
    "check_labels_series",
    "check_probability",
    "check_positive_int",
    "check_option",
]

_MAX_SHOWN = 5


def _show(values: Iterable[object]) -> str:
    """Render at most a handful of offending values for an error message."""
    items = list(values)
    shown = [repr(v) for v in items[:_MAX_SHOWN]]
    more = len(items) - len(shown)
    return ", ".join(shown) + (f" (and {more} more)" if more > 0 else "")


def check_answers(
    answers: object,
    *,
    name: str = "answers",
    allow_missing: bool = False,
    check_duplicates: bool = True,
) -> None:
    """Check a long annotation table with columns ``task``, ``worker``, ``label``.

    Parameters
    ----------
    answers
        The table to check: one row per (task, worker) answer.
    name
        The argument name used in error messages.
    allow_missing
        If ``True``, a missing ``label`` (``NaN``/``None``) is allowed and means
        "this worker gave no answer for this task".
    check_duplicates
        If ``False``, skip the check for repeated (task, worker) pairs (callers that
        encode the table check it faster on integer codes).

    Raises
    ------
    TypeError
        If ``answers`` is not a :class:`pandas.DataFrame`.
    ValueError
        If a column is missing, ``task``/``worker`` hold missing values, a label is
        missing (unless ``allow_missing``), or a (task, worker) pair occurs twice.

    Examples
    --------
    >>> import pandas as pd
    >>> check_answers(pd.DataFrame({"task": [1], "worker": ["a"], "label": ["x"]}))
    >>> check_answers(pd.DataFrame({"task": [1], "label": ["x"]}))
    Traceback (most recent call last):
    ...
    ValueError: answers is missing column(s) 'worker'; expected columns 'task', 'worker', 'label'
    """
    if not isinstance(answers, pd.DataFrame):
        raise TypeError(
            f"{name} must be a pandas DataFrame with columns {TASK!r}, {WORKER!r}, {LABEL!r}; "
            f"got {type(answers).__name__}"
        )
    missing = [c for c in (TASK, WORKER, LABEL) if c not in answers.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {_show(missing)}; "
            f"expected columns {TASK!r}, {WORKER!r}, {LABEL!r}"
        )
    for col in (TASK, WORKER):
        null = answers[col].isna().to_numpy()
        if null.any():
            raise ValueError(
                f"{name}[{col!r}] has missing values at row(s) {_show(answers.index[null])}"
            )
    if not allow_missing:
        null = answers[LABEL].isna().to_numpy()
        if null.any():
            raise ValueError(
                f"{name}[{LABEL!r}] has missing values at row(s) {_show(answers.index[null])}; "
                "drop rows without an answer"
            )
    if not check_duplicates:
        return
    dup = answers.duplicated(subset=[TASK, WORKER], keep="first").to_numpy()
    if dup.any():
        pairs = list(zip(answers[TASK][dup].tolist(), answers[WORKER][dup].tolist(), strict=True))
        raise ValueError(
            f"{name} has more than one answer for the same ({TASK}, {WORKER}) pair: {_show(pairs)}"
        )


def check_labels_series(labels: object, *, name: str, allow_missing: bool) -> None:
    """Check one label ``Series`` indexed by task.

    Parameters
    ----------
    labels
        The series to check.
    name
        The argument name used in error messages.
    allow_missing
        Whether ``NaN``/``None`` values are allowed (they mean "not labelled").

    Raises
    ------
    TypeError
        If ``labels`` is not a :class:`pandas.Series`.
    ValueError
        If the index repeats a task or holds missing values, or values are missing
        when not allowed.
    """
    if not isinstance(labels, pd.Series):
        raise TypeError(
            f"{name} must be a pandas Series of labels indexed by {TASK!r}; "
            f"got {type(labels).__name__}"
        )
    index = labels.index
    if not index.is_unique:
        raise ValueError(
            f"{name} has duplicate task id(s) {_show(index[index.duplicated()].unique())}; "
            "give each task one label"
        )
    if index.hasnans:
        raise ValueError(f"{name} has a missing task id in its index")
    if not allow_missing:
        null = labels.isna().to_numpy()
        if null.any():
            raise ValueError(f"{name} has missing labels for task(s) {_show(index[null])}")


def check_gold_and_labels(gold: object, labels: object) -> None:
    """Check gold labels and one system's labels, both ``Series`` indexed by task.

    ``labels`` may cover only part of the gold (skipped items) and may hold ``NaN``
    for a skipped item; it must not contain tasks that are not in ``gold``.

    Raises
    ------
    TypeError
        If either argument is not a :class:`pandas.Series`.
    ValueError
        If an index repeats a task, gold has missing labels, gold is empty, or
        ``labels`` holds tasks absent from ``gold``.

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series(["a", "b"], index=["t1", "t2"])
    >>> check_gold_and_labels(gold, pd.Series(["a"], index=["t1"]))
    >>> check_gold_and_labels(gold, pd.Series(["a"], index=["t9"]))
    Traceback (most recent call last):
    ...
    ValueError: labels has task(s) not in gold: 't9'; remove them or add them to the gold set
    """
    check_labels_series(gold, name="gold", allow_missing=False)
    check_labels_series(labels, name="labels", allow_missing=True)
    gold = cast("pd.Series[Any]", gold)
    labels = cast("pd.Series[Any]", labels)
    if len(gold) == 0:
        raise ValueError("gold is empty; provide at least one gold-labelled task")
    if not labels.index.equals(gold.index):
        extra = labels.index.difference(gold.index, sort=False)
        if len(extra):
            raise ValueError(
                f"labels has task(s) not in gold: {_show(extra)}; "
                "remove them or add them to the gold set"
            )


def check_probability(value: float, *, name: str) -> None:
    """Check ``0 < value < 1`` (a confidence level or a significance level)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise TypeError(f"{name} must be a float in (0, 1); got {type(value).__name__}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be in (0, 1); got {value!r}")


def check_positive_int(value: int | np.integer[Any], *, name: str) -> None:
    """Check ``value`` is an ``int`` of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be at least 1; got {value!r}")


def check_option(value: object, *, name: str, allowed: Sequence[object]) -> None:
    """Check ``value`` is one of ``allowed`` (the runtime side of a ``Literal``)."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {_show(list(allowed))}; got {value!r}")
