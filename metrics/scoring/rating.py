"""Score rubric / Likert ratings: main metric **rating agreement**.

Label value shape: ``{criterion: integer rating}`` (one or several criteria on one ordinal
scale, e.g. ``{"helpfulness": 4, "correctness": 5}``; see ``docs/language-tasks.md``).

The scale ``(lo, hi)`` is ``options.rating_scale``, else the gold items' metadata
``scale_min``/``scale_max``, else the range of the ratings seen (with a warning). A
rating outside it, or not an integer, is refused naming the item.

``rating_agreement`` (the main metric) is, per item, ``1 - |rating - gold| / (hi - lo)``
averaged over the gold item's criteria (a criterion the answer leaves out scores 0): a
per-item score in ``[0, 1]`` ranked like every other task type's main metric;
``rating_agreement_all`` counts unrated items as 0. Beside it, pooled over item x
criterion: ``mae``, ``exact_agreement``, ``leniency_bias`` (mean signed difference
``rating - gold``: > 0 lenient, < 0 severe); per criterion ``c`` the same as
``<name>:<c>`` plus :data:`metrics.rating.AGREEMENT_STATISTICS` (weighted kappa, ICC,
Krippendorff's alpha, Gwet's AC1/AC2; gold and the candidate as two raters).

**Pooled agreement** across criteria: the same statistics without the suffix (e.g.
``quadratic_weighted_kappa``, ``icc_2_1``), computed with every (item, criterion) pair as
one target that gold and the candidate both rated, on the criteria's shared scale: Cohen's
kappa of the stacked ratings, ICC of the long table with targets ``(item, criterion)``,
alpha of the stacked reliability data (equal to scikit-learn, pingouin and krippendorff on
that stacked data). A pair either side left out is not counted. With one criterion the
pooled statistics equal that criterion's. Their intervals resample items, an item's
criteria together (its pairs are not independent). ``per_class`` is indexed by criterion.
Intervals: the project's policy (:mod:`metrics.scoring._intervals`): Wilson-type for
means of per-item scores in ``[0, 1]``, paired percentile bootstrap over gold items for
the rest (per-criterion statistics from one pair table per resample).

A crowd (answers table) is reduced per item and criterion to the lower median of its
annotators' ratings; ``per_annotator`` has each annotator's agreement with gold, with
their peers (the lower median of the others) and their leniency bias.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series([{"h": 1}, {"h": 5}, {"h": 3}], index=list("abc"))
>>> s = score(gold, pd.Series([{"h": 2}, {"h": 5}, {"h": 3}], index=list("abc")),
...           options=ScoringOptions(rating_scale=(1, 5)))
>>> round(s.value("rating_agreement"), 4), round(s.value("leniency_bias"), 4)
(0.9167, 0.3333)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.rating import AGREEMENT_STATISTICS, table_statistics, table_statistics_many
from metrics.scoring import _assemble
from metrics.scoring._intervals import Ratio, Table
from metrics.scoring.base import Scored, ScoringOptions, ScoringWarning
from metrics.types import TASK, WORKER

__all__ = ["MAIN_METRIC", "MAIN_TITLE", "score"]

MAIN_METRIC = "rating_agreement"
MAIN_TITLE = "rating agreement with gold (1 - |rating - gold| / scale range)"

FloatArray = npt.NDArray[np.float64]


def _is_rating(x: object) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool | np.bool_)


def _check_value(value: object, *, what: str, task: object) -> dict[str, int]:
    if not isinstance(value, dict) or not value:
        raise ValueError(
            f"{what}: item {task!r}: expected ratings per criterion such as "
            f'{{"helpfulness": 4}}, got {value!r}'
        )
    for criterion, rating in value.items():
        if not isinstance(criterion, str) or not criterion:
            raise ValueError(f"{what}: item {task!r}: criterion {criterion!r} is not a name")
        if not _is_rating(rating):
            raise ValueError(
                f"{what}: item {task!r}: rating {rating!r} for {criterion!r} is not an integer"
            )
    return value


def _scale(
    gold: pd.Series[Any],
    answers: pd.DataFrame,
    metadata: pd.DataFrame | None,
    options: ScoringOptions,
) -> tuple[tuple[int, int], tuple[ScoringWarning, ...]]:
    if options.rating_scale is not None:
        return (int(options.rating_scale[0]), int(options.rating_scale[1])), ()
    if metadata is not None and {"scale_min", "scale_max"} <= set(metadata.columns):
        meta = metadata.reindex(gold.index)
        lo_values = pd.to_numeric(meta["scale_min"], errors="coerce").dropna()
        hi_values = pd.to_numeric(meta["scale_max"], errors="coerce").dropna()
        if len(lo_values) and len(hi_values):
            lo, hi = int(lo_values.min()), int(hi_values.max())
            if lo < hi:
                return (lo, hi), ()
    seen = [r for v in gold for r in v.values()] + answers["rating"].astype(int).tolist()
    lo, hi = int(min(seen)), int(max(seen))
    if lo == hi:
        hi = lo + 1
    return (lo, hi), (
        ScoringWarning(
            "rating_scale_inferred",
            f"no rating scale given (gold metadata scale_min/scale_max): using the range "
            f"seen, {lo}..{hi}; an unused end of the real scale changes kappa and AC",
        ),
    )


def _long_answers(labels: pd.Series[Any] | pd.DataFrame) -> pd.DataFrame:
    """Answers as rows ``task, worker, criterion, rating``."""
    given = _assemble.answer_rows(labels)
    rows: list[tuple[Any, str, str, int]] = []
    for i, (task, value) in enumerate(zip(given.tasks, given.values, strict=True)):
        checked = _check_value(value, what="labels", task=task)
        worker = "" if given.workers is None else str(given.workers[i])
        rows.extend((task, worker, c, int(r)) for c, r in checked.items())
    frame = pd.DataFrame(rows, columns=[TASK, WORKER, "criterion", "rating"])
    frame["rating"] = frame["rating"].astype(np.int64)
    return frame


def _lower_median(frame: pd.DataFrame, keys: list[str]) -> pd.Series[Any]:
    return frame.groupby(keys, sort=False)["rating"].quantile(0.5, interpolation="lower")


def _pair_cells(g: FloatArray, v: FloatArray, scale: tuple[int, int]) -> npt.NDArray[np.intp]:
    """Each item's cell ``(gold - lo) * K + (rating - lo)`` of the pair table; -1 unpaired."""
    k = scale[1] - scale[0] + 1
    both = ~np.isnan(g) & ~np.isnan(v)
    cells = np.full(g.shape, -1, dtype=np.intp)
    cells[both] = (g[both].astype(np.intp) - scale[0]) * k + (v[both].astype(np.intp) - scale[0])
    return cells


def _agreement_table(
    cells: npt.NDArray[np.intp], scale: tuple[int, int], names: Sequence[str]
) -> tuple[Table, dict[str, float]]:
    """The bootstrap table of :data:`AGREEMENT_STATISTICS` under ``names`` and its point
    values; ``cells`` ``(N,)`` (one criterion) or ``(N, C)`` (pooled: every criterion's
    pair of an item counts, and a resampled item brings all of them)."""
    k = scale[1] - scale[0] + 1

    def compute(counts: npt.NDArray[np.int64]) -> Sequence[float]:
        return table_statistics(counts.reshape(k, k), scale=scale)

    def compute_many(counts: npt.NDArray[np.int64]) -> FloatArray:
        return table_statistics_many(counts.reshape(-1, k, k), scale=scale)

    used = cells[cells >= 0]
    values = table_statistics(np.bincount(used, minlength=k * k).reshape(k, k), scale=scale)
    table = Table(
        cells=cells,
        n_cells=k * k,
        names=tuple(names),
        compute=compute,
        compute_many=compute_many,
    )
    return table, dict(zip(names, values, strict=True))


def _per_annotator(
    answers: pd.DataFrame, gold_long: pd.Series[Any], span: float
) -> pd.DataFrame | None:
    named = answers[answers[WORKER] != ""]
    if named[WORKER].nunique() < 2:
        return None
    named = named.assign(
        gold=gold_long.reindex(pd.MultiIndex.from_frame(named[[TASK, "criterion"]])).to_numpy()
    )
    named = named.dropna(subset=["gold"])
    diff = named["rating"] - named["gold"]
    closeness = 1.0 - diff.abs() / span
    peers = []
    for _, group in named.groupby([TASK, "criterion"], sort=False):
        ratings = group["rating"].to_numpy()
        for pos, idx in enumerate(group.index):
            others = np.delete(ratings, pos)
            if others.size:
                median = np.sort(others)[(others.size - 1) // 2]
                peers.append((idx, 1.0 - abs(ratings[pos] - median) / span))
    peer = pd.Series(dict(peers), dtype=np.float64).reindex(named.index)
    by = named[WORKER]
    table = pd.DataFrame(
        {
            "n_items": named.groupby(WORKER)[TASK].nunique().astype(np.int64),
            "agreement_with_gold": closeness.groupby(by).mean(),
            "agreement_with_peers": peer.groupby(by).mean(),
            "leniency_bias": diff.astype(np.float64).groupby(by).mean(),
        }
    )
    table.index.name = WORKER
    return table


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's ratings against gold.

    Parameters
    ----------
    gold
        ``{criterion: rating}`` per task (index ``task``).
    labels
        The candidate's ratings per task (``None``: not rated), or a crowd's answers
        table (columns ``task``, ``worker``, ``label``).
    options
        Intervals, coverage floor, ``rating_scale``, ``unknown_labels`` (a criterion
        gold does not have: refused, or ignored with a warning).
    metadata
        Item metadata (index ``task``): ``scale_min``/``scale_max``, and slices.

    Returns
    -------
    Scored

    Raises
    ------
    TypeError, ValueError
        Malformed gold or labels, or a rating outside the scale (named by item).
    """
    gold = _assemble.check_gold(gold)
    for task, value in gold.items():
        _check_value(value, what="gold", task=task)
    answers = _long_answers(labels)
    inside = answers[TASK].isin(gold.index).to_numpy()
    warnings: list[ScoringWarning] = []
    warnings.extend(_assemble.outside_gold_warning(int((~inside).sum()), "rating(s)"))
    answers = answers[inside].reset_index(drop=True)
    criteria = sorted({c for v in gold for c in v})
    warnings.extend(
        _assemble.check_vocabulary(
            set(answers["criterion"]), set(criteria), options=options, what="criteria"
        )
    )
    answers = answers[answers["criterion"].isin(criteria)].reset_index(drop=True)
    scale, scale_warnings = _scale(gold, answers, metadata, options)
    warnings.extend(scale_warnings)
    lo, hi = scale
    out_of_scale = answers[(answers["rating"] < lo) | (answers["rating"] > hi)]
    if len(out_of_scale):
        row = out_of_scale.iloc[0]
        raise ValueError(
            f"labels: item {row[TASK]!r}: rating {int(row['rating'])} for {row['criterion']!r} "
            f"is outside the scale {lo}..{hi} ({len(out_of_scale)} such rating(s))"
        )
    for task, value in gold.items():
        for c, r in value.items():
            if not lo <= r <= hi:
                raise ValueError(f"gold: item {task!r}: rating {r} for {c!r} is outside {lo}..{hi}")
    span = float(hi - lo)

    n = len(gold)
    position = pd.Series(np.arange(n), index=gold.index)
    voted = (
        _lower_median(answers, [TASK, "criterion"]) if len(answers) else pd.Series([], dtype=float)
    )
    answered = np.zeros(n, dtype=bool)
    if len(answers):
        answered[position.reindex(answers[TASK].unique()).to_numpy(np.intp)] = True
    g_arrays: dict[str, FloatArray] = {}
    v_arrays: dict[str, FloatArray] = {}
    closeness_sum = np.zeros(n)
    n_gold_criteria = np.zeros(n)
    for c in criteria:
        g = np.array([float(v.get(c, np.nan)) for v in gold], dtype=np.float64)
        v = np.full(n, np.nan)
        if len(voted):
            got = voted.xs(c, level="criterion") if c in voted.index.get_level_values(1) else None
            if got is not None:
                v[position.reindex(got.index).to_numpy(np.intp)] = got.to_numpy(np.float64)
        v[np.isnan(g)] = np.nan
        g_arrays[c], v_arrays[c] = g, v
        has_gold = ~np.isnan(g)
        n_gold_criteria += has_gold
        closeness_sum += np.where(has_gold & ~np.isnan(v), 1.0 - np.abs(v - g) / span, 0.0)
    item_score = closeness_sum / np.maximum(n_gold_criteria, 1)
    missing = sum(
        int((answered & ~np.isnan(g_arrays[c]) & np.isnan(v_arrays[c])).sum()) for c in criteria
    )
    if missing:
        warnings.append(
            ScoringWarning(
                "missing_criteria",
                f"{missing} criterion rating(s) left out of rated items scored 0",
            )
        )

    ratios = _assemble.main_ratios(MAIN_METRIC, item_score, answered)
    pooled_abs, pooled_diff, pooled_exact, pooled_n = (np.zeros(n) for _ in range(4))
    tables: list[tuple[Table, dict[str, float]]] = []
    cells: dict[str, npt.NDArray[np.intp]] = {}
    per_criterion: dict[str, dict[str, float]] = {}
    for c in criteria:
        g, v = g_arrays[c], v_arrays[c]
        both = ~np.isnan(g) & ~np.isnan(v)
        d = np.where(both, v - g, 0.0)
        one = both.astype(np.float64)
        ratios[f"mae:{c}"] = Ratio(np.abs(d), one)
        ratios[f"exact_agreement:{c}"] = Ratio(((d == 0) & both).astype(np.float64), one)
        ratios[f"leniency_bias:{c}"] = Ratio(d, one)
        pooled_abs += np.abs(d)
        pooled_diff += d
        pooled_exact += (d == 0) & both
        pooled_n += one
        cells[c] = _pair_cells(g, v, scale)
        table, points = _agreement_table(
            cells[c], scale, [f"{s}:{c}" for s in AGREEMENT_STATISTICS]
        )
        tables.append((table, points))
        per_criterion[c] = {
            "support": float(both.sum()),
            **dict(zip(AGREEMENT_STATISTICS, points.values(), strict=True)),
        }
    # pooled over criteria: every (item, criterion) pair one target rated by gold and the
    # candidate, on the shared scale (with one criterion, the same as that criterion's)
    pooled_cells = np.column_stack([cells[c] for c in criteria]) if n else np.zeros((0, 0))
    tables.append(_agreement_table(pooled_cells.astype(np.intp), scale, list(AGREEMENT_STATISTICS)))
    ratios["mae"] = Ratio(pooled_abs, pooled_n)
    ratios["exact_agreement"] = Ratio(pooled_exact, pooled_n)
    ratios["leniency_bias"] = Ratio(pooled_diff, pooled_n)
    scale_param = {"scale": [lo, hi]}
    summary = _assemble.summarise(
        n,
        ratios=ratios,
        tables=tables,
        options=options,
        params=dict.fromkeys([*ratios, *(k for _, p in tables for k in p)], scale_param),
    )
    per_class = pd.DataFrame.from_dict(per_criterion, orient="index")
    for c in criteria:
        for metric in ("mae", "exact_agreement", "leniency_bias"):
            per_class.loc[c, metric] = summary[f"{metric}:{c}"].value
        ci = summary[f"leniency_bias:{c}"].ci
        per_class.loc[c, "leniency_bias_low"] = ci.low if ci is not None else np.nan
        per_class.loc[c, "leniency_bias_high"] = ci.high if ci is not None else np.nan
    per_class["support"] = per_class["support"].astype(np.int64)
    per_class.index.name = "criterion"

    n_answers = pd.Series(0, index=gold.index[:0], dtype=np.int64)
    n_objects = n_answers
    if len(answers):
        n_answers = answers.groupby(TASK)[WORKER].nunique().astype(np.int64)
        n_objects = answers.groupby(TASK)[WORKER].size().astype(np.int64)
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=item_score,
        n_answers=n_answers,
        n_objects=n_objects,
        tie=pd.Series(False, index=gold.index),
    )
    gold_long = pd.Series(
        {(t, c): float(r) for t, v in gold.items() for c, r in v.items()}, dtype=np.float64
    )
    crowd = isinstance(labels, pd.DataFrame)
    return _assemble.finish(
        task_type="rating",
        main=MAIN_METRIC,
        title=MAIN_TITLE,
        items=items,
        summary=summary,
        per_class=per_class,
        n_labels=len(answers),
        options=options,
        metadata=metadata,
        warnings=tuple(warnings),
        per_annotator=_per_annotator(answers, gold_long, span) if crowd else None,
        extra={"rating_scale": scale, "criteria": tuple(criteria)},
    )
