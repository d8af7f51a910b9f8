"""Score pairwise preferences: main metric **agreement** (with ties as a third class).

Label value shape: ``"A"``, ``"B"`` or ``"tie"`` in the item's canonical frame (see
:mod:`metrics.preference`; a swapped presentation is un-swapped before scoring).
``agreement`` is the share of answered items whose (crowd-voted) label equals gold;
``agreement_all`` counts unanswered items as wrong (the ranking metric). Also:
``agreement_without_ties`` (items where neither gold nor label is a tie, Wilson
interval), ``cohen_kappa`` over A/B/tie (bootstrap interval), and, when the data
allow, the biases with normal intervals:

* ``position_bias``: needs a boolean ``swapped`` presentation flag per answer
  (a ``swapped`` column of the answers table, or of ``metadata``);
* ``length_bias``: needs ``length_a`` and ``length_b`` columns in ``metadata``;
* ``self_consistency``: the share of the pairs a worker was sent twice, once in each
  order, answered the same way after un-swapping (a row with ``swapped`` true and one
  with it false for the same ``task`` and ``worker``), with the project's Wilson interval
  over those pairs (``params``: ``n_pairs``, ``n_same``). An optional integer ``repeat``
  column marks the second sending (``1``); only the first answer (``repeat`` 0) enters the
  vote and the main metric, so a repeated pair never counts twice;
* ``ranking_kendall_tau``: with ``model_a``/``model_b`` columns in ``metadata``, the
  Kendall tau between the Bradley-Terry ranking of the models from the labels and from
  gold (both fits in ``Scored.extra["bradley_terry"]``, keys ``labels`` and ``gold``),
  and ``bradley_terry:<model>``, each model's log-strength (mean 0) from the labels:
  both with paired bootstrap intervals over items (each resample refits both rankings);
* ``intransitive_triads``: with the models named, the share of cyclic triads in the
  candidate's preferences between them (within each ``prompt_id`` when ``metadata`` has
  one), when three models were all compared (:func:`metrics.preference.transitivity`).

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series(["A", "B", "tie", "A"], index=list("abcd"))
>>> s = score(gold, pd.Series(["A", "A", "tie"], index=list("abc")),
...           options=ScoringOptions(min_coverage=0.5))
>>> round(s.value("agreement"), 4), s.value("agreement_all"), s.value("agreement_without_ties")
(0.6667, 0.5, 0.5)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.intervals import proportion_interval
from metrics.preference import (
    PREFERENCE_LABELS,
    BradleyTerry,
    bradley_terry,
    bradley_terry_many,
    check_preferences,
    kendall_tau_many,
    length_bias,
    position_bias,
    preference_kappa,
    ranking_correlation,
    swap_consistency,
    transitivity,
)
from metrics.scoring import _assemble
from metrics.scoring._crowd import annotator_table, vote
from metrics.scoring._intervals import Ratio, Table
from metrics.scoring.base import Scored, ScoringOptions
from metrics.types import MetricResult

__all__ = ["MAIN_METRIC", "MAIN_TITLE", "score"]

MAIN_METRIC = "agreement"
MAIN_TITLE = "agreement with gold (ties as a class)"
FloatArray = npt.NDArray[np.float64]


def _codes(values: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """A/B/tie as 0/1/2, anything else (unanswered) as -1."""
    out = np.full(values.shape, -1, dtype=np.intp)
    for code, cls in enumerate(PREFERENCE_LABELS):
        out[values == cls] = code
    return out


def _kappa_statistic(g: npt.NDArray[Any], v: npt.NDArray[Any]) -> _assemble.Statistic:
    """Cohen's kappa over A/B/tie on a resample of items, from a 3x3 count table (the
    formula :func:`metrics.preference.preference_kappa` takes from scikit-learn; NaN where it
    is NaN: no answered item, one class only, or chance agreement of 1)."""
    k = len(PREFERENCE_LABELS)
    gc, vc = _codes(g), _codes(v)

    def compute(idx: npt.NDArray[np.intp]) -> float:
        gs, vs = gc[idx], vc[idx]
        keep = vs >= 0
        gs, vs = gs[keep], vs[keep]
        if gs.size == 0:
            return float("nan")
        table = np.bincount(gs * k + vs, minlength=k * k).reshape(k, k).astype(np.float64)
        rows, cols = table.sum(axis=1), table.sum(axis=0)
        if np.count_nonzero(rows + cols) < 2:
            return float("nan")
        n = float(gs.size)
        observed = float(np.trace(table)) / n
        expected = float(rows @ cols) / (n * n)
        if expected == 1.0:
            return float("nan")
        return (observed - expected) / (1.0 - expected)

    return compute


def _swapped_flags(
    labels: pd.Series[Any] | pd.DataFrame, metadata: pd.DataFrame | None
) -> pd.Series[bool] | None:
    if isinstance(labels, pd.DataFrame) and "swapped" in labels.columns:
        # an item counts as presented swapped when its (first) answer was
        first = labels.drop_duplicates("task").set_index("task")
        return first["swapped"].astype(bool)
    if metadata is not None and "swapped" in metadata.columns:
        return metadata["swapped"].astype(bool)
    return None


def _self_consistency(answers: pd.DataFrame, options: ScoringOptions) -> MetricResult | None:
    """``swap_consistency`` with the Wilson interval over the repeated pairs (None: none)."""
    pairs = swap_consistency(answers)
    n, same = pairs.params["n_pairs"], pairs.params["n_same"]
    if not isinstance(n, int) or not isinstance(same, int) or not n:
        return None
    return MetricResult(
        "self_consistency",
        same / n,
        params={"n_pairs": n, "n_same": same},
        ci=proportion_interval(same, n, level=options.level),
    )


def _biases(
    gold: pd.Series[Any],
    voted: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    metadata: pd.DataFrame | None,
    options: ScoringOptions,
) -> dict[str, MetricResult]:
    out: dict[str, MetricResult] = {}
    if isinstance(labels, pd.DataFrame) and {"swapped", "worker"} <= set(labels.columns):
        answers = labels[labels["task"].isin(gold.index)]
        # position bias over every answer (not the vote): each answer its own row
        per_answer = answers.reset_index(drop=True)
        g = gold.reindex(per_answer["task"]).reset_index(drop=True)
        out["position_bias"] = position_bias(
            g, per_answer["label"], per_answer["swapped"].astype(bool), level=options.level
        )
        consistency = _self_consistency(answers, options)
        if consistency is not None:
            out["self_consistency"] = consistency
    else:
        swapped = _swapped_flags(labels, metadata)
        if swapped is not None:
            out["position_bias"] = position_bias(gold, voted, swapped, level=options.level)
    if metadata is not None and {"length_a", "length_b"} <= set(metadata.columns):
        out["length_bias"] = length_bias(
            gold,
            voted,
            metadata["length_a"].astype(np.float64),
            metadata["length_b"].astype(np.float64),
            level=options.level,
        )
    return out


def _ranking_table(
    gold: pd.Series[Any],
    voted: pd.Series[Any],
    metadata: pd.DataFrame,
    fits: dict[str, BradleyTerry],
    tau: float,
) -> tuple[Table, dict[str, float]]:
    """The Bradley-Terry ranking from the labels and its Kendall tau with gold's, as a
    statistic of the resampled items' win tables (their bootstrap intervals).

    Each item is two cells: its voted label's (winner, loser) cell, a tie in a second
    block (half a win each way), unanswered ``-1``; and gold's, offset by one table.
    Point values are the fits' (``fits``, ``tau``); a resample refits both from its
    counts (:func:`metrics.preference.bradley_terry_many`), the labels' log-strengths
    centred over the models they ranked, as the point fit is.
    """
    models = list(fits["gold"].scores.index)
    ranked = list(fits["labels"].scores.index)
    m = len(models)
    col = {name: i for i, name in enumerate(models)}
    mine = np.array([col[x] for x in ranked], dtype=np.intp)
    pairs = metadata.reindex(gold.index)[["model_a", "model_b"]]
    known = pairs.notna().all(axis=1).to_numpy()
    a = np.array(
        [col.get(x, -1) if k else -1 for x, k in zip(pairs["model_a"], known, strict=True)]
    )
    b = np.array(
        [col.get(x, -1) if k else -1 for x, k in zip(pairs["model_b"], known, strict=True)]
    )
    block = m * m

    def cells_of(values: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
        out = np.full(values.shape, -1, dtype=np.intp)
        ok = (a >= 0) & (b >= 0)
        out[ok & (values == "A")] = (a * m + b)[ok & (values == "A")]
        out[ok & (values == "B")] = (b * m + a)[ok & (values == "B")]
        out[ok & (values == "tie")] = (block + a * m + b)[ok & (values == "tie")]
        return out

    v = voted.reindex(gold.index).astype(object).to_numpy(dtype=object)
    g = gold.to_numpy(dtype=object)
    labels_cells, gold_cells = cells_of(v), cells_of(g)
    gold_cells = np.where(gold_cells >= 0, gold_cells + 2 * block, -1)
    names = (*[f"bradley_terry:{x}" for x in ranked], "ranking_kendall_tau")

    def wins(counts: npt.NDArray[np.int64]) -> FloatArray:
        flat = counts.reshape(-1, 2 * block).astype(np.float64)
        won, tied = flat[:, :block].reshape(-1, m, m), flat[:, block:].reshape(-1, m, m)
        return won + 0.5 * (tied + tied.transpose(0, 2, 1))

    def compute_many(counts: npt.NDArray[np.int64]) -> FloatArray:
        stack = counts.reshape(-1, 4 * block)
        from_labels = bradley_terry_many(wins(stack[:, : 2 * block]))[:, mine]
        from_labels -= from_labels.mean(axis=1, keepdims=True)
        from_gold = bradley_terry_many(wins(stack[:, 2 * block :]))[:, mine]
        return np.column_stack([from_labels, kendall_tau_many(from_labels, from_gold)])

    def compute(counts: npt.NDArray[np.int64]) -> list[float]:
        return [float(x) for x in compute_many(counts[None, :])[0]]

    table = Table(
        cells=np.column_stack([labels_cells, gold_cells]),
        n_cells=4 * block,
        names=names,
        compute=compute,
        compute_many=compute_many,
    )
    points = {f"bradley_terry:{x}": float(fits["labels"].scores[x]) for x in ranked}
    points["ranking_kendall_tau"] = tau
    return table, points


def _rankings(
    gold: pd.Series[Any], voted: pd.Series[Any], metadata: pd.DataFrame | None
) -> tuple[dict[str, BradleyTerry], dict[str, MetricResult], list[tuple[Table, dict[str, float]]]]:
    """Bradley-Terry of the compared models from the labels and from gold, and their
    Kendall tau, when ``metadata`` names the models (``model_a``, ``model_b``): the fits,
    the intransitive triads, and the table whose resamples give the labels' log-strength
    of each model (``bradley_terry:<model>``) and the tau their intervals."""
    if metadata is None or not {"model_a", "model_b"} <= set(metadata.columns):
        return {}, {}, []
    fits: dict[str, BradleyTerry] = {}
    for name, values in (("gold", gold), ("labels", voted)):
        rows = metadata.reindex(values.index)[["model_a", "model_b"]].dropna()
        comparisons = pd.DataFrame(
            {"a": rows["model_a"], "b": rows["model_b"], "label": values.loc[rows.index]}
        )
        if comparisons.empty:
            return {}, {}, []
        fits[name] = bradley_terry(comparisons, max_iter=10_000)
    tau = ranking_correlation(fits["labels"].scores, fits["gold"].scores)
    out: dict[str, MetricResult] = {}
    tables = [_ranking_table(gold, voted, metadata, fits, tau.value)]
    # transitivity of the candidate's preferences between the compared models (within each
    # prompt when ``prompt_id`` groups items): only where some three were all compared
    rows = metadata.reindex(voted.index)[["model_a", "model_b"]].dropna()
    comparisons = pd.DataFrame(
        {"a": rows["model_a"], "b": rows["model_b"], "label": voted.loc[rows.index]}
    )
    if "prompt_id" in metadata.columns:
        comparisons["group"] = metadata["prompt_id"].reindex(rows.index)
        comparisons = comparisons.dropna(subset=["group"])
    triads = transitivity(comparisons)
    if triads.params["n_triads"]:
        out["intransitive_triads"] = triads
    return fits, out, tables


def _per_class(gold: pd.Series[Any], voted: pd.Series[Any]) -> pd.DataFrame:
    answered = voted.reindex(gold.index)
    rows = {}
    for cls in PREFERENCE_LABELS:
        tp = int(((gold == cls) & (answered == cls)).sum())
        predicted = int((answered == cls).sum())
        support = int((gold == cls).sum())
        precision = tp / predicted if predicted else float("nan")
        recall = tp / support if support else float("nan")
        f1 = 2 * tp / (predicted + support) if predicted + support else float("nan")
        rows[cls] = (precision, recall, f1, support)
    frame = pd.DataFrame.from_dict(
        rows, orient="index", columns=["precision", "recall", "f1", "support"]
    )
    frame["support"] = frame["support"].astype(np.int64)
    frame.index.name = "class"
    return frame


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's pairwise preferences against gold.

    Parameters
    ----------
    gold
        ``A``/``B``/``tie`` per task (index ``task``; no missing value).
    labels
        The candidate's preference per task (``None``: skipped), or a crowd's answers
        table (columns ``task``, ``worker``, ``label``; optional ``swapped`` and
        ``repeat``). A worker's repeat of an item (swapped presentation) counts in
        ``position_bias`` and ``self_consistency``; only their first answer (``repeat``
        0 where the column is given) enters the vote.
    options
        Intervals, coverage floor, tie-break of the crowd vote.
    metadata
        Item metadata (index ``task``): slices, and ``swapped``, ``length_a``,
        ``length_b`` for the biases.

    Returns
    -------
    Scored

    Raises
    ------
    TypeError, ValueError
        Malformed gold or labels (values outside ``A``/``B``/``tie`` named by task).
    """
    gold = _assemble.check_gold(gold)
    check_preferences(gold, what="gold")
    label_values = labels["label"] if isinstance(labels, pd.DataFrame) else labels
    if isinstance(labels, pd.DataFrame) and "label" not in labels.columns:
        raise ValueError("the answers table needs a 'label' column")
    check_preferences(label_values, what="labels")
    to_vote = labels
    if isinstance(labels, pd.DataFrame) and {"task", "worker"} <= set(labels.columns):
        # a swapped repeat by the same worker feeds the biases, not the vote: first answer,
        # and where the second sending is marked, the first sending's answer whatever the
        # order the rows came in (a stable sort keeps the order within each sending)
        first = labels
        if "repeat" in labels.columns:
            first = labels.sort_values("repeat", kind="stable")
        to_vote = first.drop_duplicates(["task", "worker"], keep="first")
    # a tied crowd vote (ties="wrong") has no answer: answered, wrong, left out of kappa
    votes = vote(
        to_vote, gold.index, key=lambda v: v, size=lambda _: 1, options=options, no_consensus=None
    )
    voted = votes.answer
    answered = gold.index.isin(voted.index)
    g = gold.to_numpy(dtype=object)
    v = voted.reindex(gold.index).astype(object).where(answered, None).to_numpy(dtype=object)
    correct = ((v == g) & answered).astype(np.float64)
    ratios = _assemble.main_ratios(MAIN_METRIC, correct, answered)
    no_tie = (answered & (g != "tie") & (v != "tie")).astype(np.float64)
    ratios["agreement_without_ties"] = Ratio(correct * no_tie, no_tie)
    kappa = preference_kappa(gold, voted).value
    fits, triads, ranking = _rankings(gold, voted, metadata)
    summary = _assemble.summarise(
        len(gold),
        ratios=ratios,
        statistics={"cohen_kappa": (_kappa_statistic(g, v), kappa)},
        tables=ranking,
        options=options,
        params={"agreement_without_ties": {"ties": "without"}},
    )
    summary.update(_biases(gold, voted, labels, metadata, options))
    summary.update(triads)
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=correct,
        n_answers=votes.n_answers,
        n_objects=votes.n_objects,
        tie=votes.tie,
    )
    return _assemble.finish(
        task_type="preference",
        main=MAIN_METRIC,
        title=MAIN_TITLE,
        items=items,
        summary=summary,
        per_class=_per_class(gold, voted),
        n_labels=int(votes.n_objects.sum()),
        options=options,
        metadata=metadata,
        warnings=votes.warnings,
        per_annotator=annotator_table(votes.answers, gold),
        extra={"bradley_terry": fits} if fits else {},
    )
