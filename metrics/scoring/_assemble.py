"""Shared steps of every scorer: check gold, build the summary with intervals, finish.

A scorer computes per-item numbers with the task's metric functions and hands them
here; this module turns them into the :class:`~metrics.scoring.base.Scored` every door
reads, with one interval policy (:mod:`metrics.scoring._intervals`), one coverage rule
and one set of warnings.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.intervals import mean_interval
from metrics.scoring._intervals import Ratio, Table, bootstrap
from metrics.scoring.base import (
    Scored,
    ScoringOptions,
    ScoringWarning,
    TaskType,
    UnknownLabelsError,
)
from metrics.scoring.slices import slice_table
from metrics.types import LABEL, TASK, WORKER, MetricResult

__all__ = [
    "AnswerRows",
    "Statistic",
    "answer_rows",
    "check_labels",
    "is_missing",
    "outside_gold_warning",
    "check_gold",
    "check_vocabulary",
    "main_ratios",
    "summarise",
    "items_frame",
    "on_gold",
    "finish",
]

FloatArray = npt.NDArray[np.float64]
Statistic = Callable[[npt.NDArray[np.intp]], float]


def check_gold(gold: object) -> pd.Series[Any]:
    """Gold must be a Series with unique task ids and no missing value.

    Returns it sorted by task id (when ids are comparable): the bootstrap resamples item
    *positions*, so every door, whatever order it reads items in, gets the same
    intervals.

    Raises
    ------
    TypeError
        Not a Series.
    ValueError
        Duplicate tasks or missing gold values (named).
    """
    if not isinstance(gold, pd.Series):
        raise TypeError(f"gold must be a pandas Series indexed by task, got {type(gold).__name__}")
    if not gold.index.is_unique:
        dupes = gold.index[gold.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"gold has duplicate tasks {dupes}")
    values = gold.to_numpy(dtype=object)
    maybe = np.flatnonzero(pd.isna(values))  # a superset (NaT, pd.NA), checked one by one
    missing = [
        gold.index[int(i)]
        for i in maybe
        if values[i] is None or (isinstance(values[i], float) and np.isnan(values[i]))
    ]
    if missing:
        raise ValueError(f"gold has no value for task(s) {missing[:5]}")
    out = gold.copy()
    out.index = out.index.rename(TASK)
    try:
        return out.sort_index(kind="stable")
    except TypeError:  # ids of mixed types: keep the given order
        return out


def check_labels(labels: object) -> None:
    """``labels`` must be a Series with unique task ids (one answer per item) or the long
    answers table with columns ``task``, ``worker``, ``label``.

    Raises
    ------
    TypeError
        Neither a Series nor a DataFrame.
    ValueError
        Duplicate tasks in a Series, or a column missing from the table (named).
    """
    if isinstance(labels, pd.Series):
        if not labels.index.is_unique:
            dupes = labels.index[labels.index.duplicated()].unique()[:5].tolist()
            raise ValueError(f"labels has duplicate tasks {dupes}; pass the answers table")
        return
    if not isinstance(labels, pd.DataFrame):
        raise TypeError(
            "labels must be a Series indexed by task or a DataFrame with columns "
            f"{TASK!r}, {WORKER!r}, {LABEL!r}; got {type(labels).__name__}"
        )
    missing = [c for c in (TASK, WORKER, LABEL) if c not in labels.columns]
    if missing:
        raise ValueError(f"labels lacks column(s) {missing}; expected {TASK}, {WORKER}, {LABEL}")


def is_missing(value: object) -> bool:
    """``None`` or a float NaN (an unanswered item); an empty list is an answer."""
    return value is None or (isinstance(value, float) and np.isnan(value))


@dataclass(frozen=True, eq=False)
class AnswerRows:
    """A candidate's answers as parallel arrays, unanswered ones (``None``/NaN) dropped.

    ``workers`` is ``None`` for a Series (one answer per task, nobody named), else each
    answer's annotator as a string. Tasks outside gold are kept: the scorer counts them
    (:func:`outside_gold_warning`).
    """

    tasks: npt.NDArray[Any]
    workers: npt.NDArray[Any] | None
    values: npt.NDArray[Any]


def answer_rows(labels: pd.Series[Any] | pd.DataFrame) -> AnswerRows:
    """:func:`check_labels`, then the answers given, in the order given.

    The step the rating and transcription scorers share before reducing a crowd (lower
    median of ratings, medoid transcript) in their own way.
    """
    check_labels(labels)
    if isinstance(labels, pd.Series):
        tasks, workers, values = labels.index.to_numpy(), None, labels.to_numpy(dtype=object)
    else:
        tasks = labels[TASK].to_numpy()
        workers = labels[WORKER].astype(str).to_numpy()
        values = labels[LABEL].to_numpy(dtype=object)
    given = np.array([not is_missing(v) for v in values], dtype=bool)
    return AnswerRows(
        tasks=tasks[given],
        workers=workers[given] if workers is not None else None,
        values=values[given],
    )


def outside_gold_warning(n: int, what: str = "label(s)") -> tuple[ScoringWarning, ...]:
    """The ``labels_outside_gold`` warning for ``n`` answers on items not in gold."""
    if not n:
        return ()
    return (
        ScoringWarning(
            "labels_outside_gold", f"{n} {what} on items that are not in gold were ignored"
        ),
    )


def check_vocabulary(
    used: set[Any], known: set[Any], *, options: ScoringOptions, what: str = "classes"
) -> tuple[ScoringWarning, ...]:
    """Refuse (or warn about) labels outside the vocabulary ``known``.

    Raises
    ------
    UnknownLabelsError
        When ``options.unknown_labels == "refuse"`` and some used value is unknown.
    """
    unknown = sorted((str(u) for u in used - known), key=str)
    if not unknown:
        return ()
    known_names = sorted((str(k) for k in known), key=str)
    if options.unknown_labels == "refuse":
        raise UnknownLabelsError(unknown, known_names, what=what)
    shown = ", ".join(repr(u) for u in unknown[:10])
    return (
        ScoringWarning(
            "vocabulary_mismatch",
            f"{len(unknown)} {what} not in the gold vocabulary ({shown}) were scored as wrong",
        ),
    )


def main_ratios(main: str, score: FloatArray, answered: npt.NDArray[np.bool_]) -> dict[str, Ratio]:
    """The main metric over answered items, over all items, and coverage."""
    a = answered.astype(np.float64)
    s = np.where(answered, np.nan_to_num(score), 0.0)
    ones = np.ones_like(a)
    return {
        main: Ratio(s, a),
        f"{main}_all": Ratio(s, ones),
        "coverage": Ratio(a, ones),
    }


def summarise(
    n_items: int,
    *,
    ratios: Mapping[str, Ratio],
    statistics: Mapping[str, tuple[Statistic, float]] | None = None,
    tables: Sequence[tuple[Table, Mapping[str, float]]] = (),
    fixed: Mapping[str, float] | None = None,
    values: Mapping[str, float] | None = None,
    options: ScoringOptions,
    params: Mapping[str, Mapping[str, object]] | None = None,
) -> dict[str, MetricResult]:
    """Point values and intervals of every summary metric.

    ``ratios`` that are means of per-item scores in ``[0, 1]`` get
    :func:`metrics.intervals.mean_interval` (Wilson for proportions); other ratios, the
    ``statistics`` (function, point value) and ``tables`` (table statistics, point
    values) a paired percentile bootstrap; ``fixed``
    numbers (e.g. COCO AP) get none. ``values`` replaces a ratio's point value where the
    task's metric function defines an undefined ratio differently (e.g. 0, not NaN).
    """
    values = dict(values or {})
    statistics = dict(statistics or {})
    params = dict(params or {})
    proportions = {name: r for name, r in ratios.items() if r.mean_of_scores}
    boot = bootstrap(
        n_items,
        ratios={n: r for n, r in ratios.items() if n not in proportions},
        statistics={n: s[0] for n, s in statistics.items()},
        tables=[t for t, _ in tables],
        n_resamples=options.n_resamples,
        seed=options.seed,
        level=options.level,
    )
    out: dict[str, MetricResult] = {}
    for name, r in ratios.items():
        value = values.get(name, r.value)
        if name in proportions:
            ci = mean_interval(r.scores, level=options.level) if r.scores.size else None
        else:
            ci = boot[name]
        out[name] = MetricResult(
            name, value, params=params.get(name, {}), ci=ci if np.isfinite(value) else None
        )
    for name, (_, value) in statistics.items():
        ci = boot[name] if np.isfinite(value) else None
        out[name] = MetricResult(name, float(value), params=params.get(name, {}), ci=ci)
    for _, points in tables:
        for name, value in points.items():
            ci = boot[name] if np.isfinite(value) else None
            out[name] = MetricResult(name, float(value), params=params.get(name, {}), ci=ci)
    for name, value in (fixed or {}).items():
        out[name] = MetricResult(name, float(value), params=params.get(name, {}))
    return out


def on_gold(
    values: pd.Series[Any], positions: npt.NDArray[np.intp], index: pd.Index
) -> pd.Series[Any]:
    """``values`` (one per answered item, at gold ``positions``) re-indexed by gold ``index``.

    What ``values.reindex(index)`` gives (missing items as the dtype's missing value, an
    integer column turned float only when an item is missing), without looking the keys
    up: the positions come from the vote.
    """
    indexer = np.full(len(index), -1, dtype=np.intp)
    indexer[positions] = np.arange(len(positions), dtype=np.intp)
    taken = pd.api.extensions.take(values.array, indexer, allow_fill=True)
    return pd.Series(taken, index=index, name=values.name)


def _spread(
    values: pd.Series[Any], positions: npt.NDArray[np.intp] | None, index: pd.Index, fill: Any
) -> pd.Series[Any]:
    if positions is None:
        return values.reindex(index).fillna(fill)
    data = values.to_numpy()
    out = np.full(len(index), fill, dtype=data.dtype)
    out[positions] = data
    return pd.Series(out, index=index)


def items_frame(
    index: pd.Index,
    *,
    answered: npt.NDArray[np.bool_],
    score: FloatArray,
    n_answers: pd.Series[int],
    n_objects: pd.Series[int],
    tie: pd.Series[bool],
    positions: npt.NDArray[np.intp] | None = None,
) -> pd.DataFrame:
    """Per-item outcomes (:data:`~metrics.scoring.base.ITEM_COLUMNS`), index ``task``.

    ``n_answers``, ``n_objects`` and ``tie`` are indexed by the answered items; with
    ``positions`` (:attr:`~metrics.scoring._crowd.Votes.positions`) they are placed at
    those gold positions instead of being looked up by key.
    """
    frame = pd.DataFrame(
        {
            "answered": answered.astype(bool),
            "score": np.where(answered, score, np.nan).astype(np.float64),
            "n_answers": _spread(n_answers, positions, index, 0).astype(np.int64).to_numpy(),
            "n_objects": _spread(n_objects, positions, index, 0).astype(np.int64).to_numpy(),
            "tie": _spread(tie, positions, index, False).astype(bool).to_numpy(),
        },
        index=index,
    )
    frame.index.name = TASK
    return frame


def _coverage_warnings(
    n_items: int, n_answered: int, n_ties: int, options: ScoringOptions
) -> list[ScoringWarning]:
    out: list[ScoringWarning] = []
    if n_answered == 0:
        out.append(ScoringWarning("no_labels", "no labels: nothing to score yet"))
    elif n_items and n_answered / n_items < options.min_coverage - 1e-12:
        out.append(
            ScoringWarning(
                "low_coverage",
                f"coverage {n_answered / n_items:.3f} ({n_answered} of {n_items} items) is "
                f"below the floor {options.min_coverage:.2f}: not enough results to rank",
            )
        )
    if n_ties:
        rule = {
            "wrong": "scored as wrong (no consensus)",
            "random": "broken at random (seeded)",
            "dawid_skene": "broken by Dawid-Skene annotator reliabilities",
        }[options.ties]
        out.append(
            ScoringWarning(
                "crowd_ties",
                f"{n_ties} of {n_answered} crowd votes were ties ({n_ties / n_answered:.1%}), "
                f"{rule}",
            )
        )
    return out


def finish(
    *,
    task_type: TaskType,
    main: str,
    title: str,
    items: pd.DataFrame,
    summary: Mapping[str, MetricResult],
    per_class: pd.DataFrame,
    n_labels: int,
    options: ScoringOptions,
    metadata: pd.DataFrame | None,
    warnings: tuple[ScoringWarning, ...] = (),
    **extra: Any,
) -> Scored:
    """Assemble the :class:`~metrics.scoring.base.Scored` (slices and warnings included)."""
    n_items = len(items)
    n_answered = int(items["answered"].sum())
    n_ties = int(items["tie"].sum())
    per_slice = None
    if metadata is not None:
        per_slice = slice_table(
            items["score"],
            metadata,
            min_items=options.min_slice_items,
            level=options.level,
        )
    return Scored(
        task_type=task_type,
        main_metric=main,
        main_title=title,
        items=items,
        summary=dict(summary),
        per_class=per_class,
        n_items=n_items,
        n_answered=n_answered,
        n_labels=int(n_labels),
        n_ties=n_ties,
        min_coverage=float(options.min_coverage),
        options=options,
        warnings=(*warnings, *_coverage_warnings(n_items, n_answered, n_ties, options)),
        per_slice=per_slice,
        **extra,
    )
