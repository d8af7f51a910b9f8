"""Score single-label classification: main metric **accuracy**.

``accuracy`` is the share of *answered* items whose label equals gold; ``accuracy_all``
the share of *all* gold items (an unanswered item is wrong; the ranking metric).
Also: ``coverage``, ``balanced_accuracy``, ``macro_f1``, ``cohen_kappa`` (all from
:func:`metrics.classification.classification_summary`), per-class precision/recall/F1,
the confusion matrix and, for crowds (several annotators per item, merged by majority
vote), per-annotator agreement, the crowd's Fleiss' kappa and Krippendorff's alpha
(:func:`metrics.scoring._crowd.crowd_agreement`) and the number of tied votes.

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series(["cat", "dog", "dog", "cat"], index=list("abcd"))
>>> s = score(gold, pd.Series(["cat", "dog", "cat"], index=list("abc")),
...           options=ScoringOptions(min_coverage=0.5))
>>> round(s.value("accuracy"), 4), s.value("accuracy_all"), s.coverage, s.enough_results
(0.6667, 0.5, 0.75, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.classification import (
    _summaries_from_counts,
    _summary_from_counts,
    classification_summary,
    encode_labels,
)
from metrics.scoring import _assemble
from metrics.scoring._crowd import (
    NO_CONSENSUS,
    Votes,
    annotator_table,
    crowd_agreement,
    one,
    same,
    vote,
)
from metrics.scoring._intervals import Table
from metrics.scoring.base import Scored, ScoringOptions
from metrics.statistics import ClassificationMetricName, classification_statistic

__all__ = ["MAIN_METRIC", "MAIN_TITLE", "score"]

MAIN_METRIC = "accuracy"
MAIN_TITLE = "accuracy"
_SECONDARY: tuple[ClassificationMetricName, ...] = ("balanced_accuracy", "macro_f1", "cohen_kappa")
#: Positions of _SECONDARY in ``_summary_from_counts``' tuple.
_POSITIONS = (3, 4, 6)
_MAX_CELLS = 4096


def _confusion_table(
    cells: npt.NDArray[np.intp],
    reference: npt.NDArray[np.intp],
    k: int,
    n_items: int,
    options: ScoringOptions,
) -> Table:
    def compute(counts: npt.NDArray[np.int64]) -> list[float]:
        summary = _summary_from_counts(counts.reshape(k, k), n_items, weights=options.kappa_weights)
        return [summary[p] for p in _POSITIONS]

    def compute_many(tables: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        stack = tables.reshape(-1, k, k)
        summaries = _summaries_from_counts(stack, n_items, weights=options.kappa_weights)
        return summaries[:, list(_POSITIONS)]

    return Table(
        cells=cells,
        n_cells=k * k,
        names=_SECONDARY,
        compute=compute,
        reference=reference,
        compute_many=compute_many,
    )


def score(
    gold: pd.Series[Any],
    labels: pd.Series[Any] | pd.DataFrame,
    *,
    options: ScoringOptions = ScoringOptions(),  # noqa: B008 - frozen, never mutated
    metadata: pd.DataFrame | None = None,
) -> Scored:
    """Score one candidate's class labels against gold.

    Parameters
    ----------
    gold
        Gold class per task (index ``task``; no missing value).
    labels
        The candidate's class per task (``None``/``NaN``: skipped), or a crowd's answers
        table (columns ``task``, ``worker``, ``label``).
    options
        Intervals, coverage floor, vocabulary (``classes``, ``unknown_labels``), kappa
        weights and tie-break.
    metadata
        Item metadata for per-slice scores (index ``task``).

    Returns
    -------
    Scored

    Raises
    ------
    UnknownLabelsError
        A label outside the vocabulary while ``options.unknown_labels == "refuse"``.
    TypeError, ValueError
        Malformed gold or labels.
    """
    gold = _assemble.check_gold(gold)
    votes = vote(labels, gold.index, key=same, size=one, options=options)
    # distinct labels first: iterating 100k values of a pandas string column one by one
    # costs half a second
    given = votes.answers["label"] if votes.answers is not None else votes.answer
    used = set(given.unique())
    known = set(gold.to_numpy()) | set(options.classes or ())
    warnings = _assemble.check_vocabulary(used, known, options=options)
    # the vote on every gold item (missing where unanswered), placed by position: the
    # metrics below then find labels and gold on the same index, with no key lookups
    voted = _assemble.on_gold(votes.answer, votes.positions, gold.index)
    summary = classification_summary(gold, voted, weights=options.kappa_weights)
    answered = np.zeros(len(gold), dtype=bool)
    answered[votes.positions] = True
    correct = (voted.to_numpy(dtype=object) == gold.to_numpy(dtype=object)) & answered
    score_ = correct.astype(np.float64)
    ratios = _assemble.main_ratios(MAIN_METRIC, score_, answered)
    points: dict[str, float] = {name: float(getattr(summary, name)) for name in _SECONDARY}
    enc = encode_labels(gold, voted)
    k = len(enc.classes)
    statistics: dict[str, tuple[_assemble.Statistic, float]] = {}
    tables: list[tuple[Table, dict[str, float]]] = []
    if k * k <= _MAX_CELLS:  # every resample's confusion matrix from one bincount
        cells = np.where(enc.pred >= 0, enc.gold * k + enc.pred, -1).astype(np.intp)
        diagonal = (enc.gold * (k + 1)).astype(np.intp)  # every candidate's usual cell
        tables.append((_confusion_table(cells, diagonal, k, len(gold), options), points))
    else:
        statistics = {
            name: (
                classification_statistic(gold, voted, metric=name, weights=options.kappa_weights),
                points[name],
            )
            for name in _SECONDARY
        }
    items = _assemble.items_frame(
        gold.index,
        answered=answered,
        score=score_,
        n_answers=votes.n_answers,
        n_objects=votes.n_objects,
        tie=votes.tie,
        positions=votes.positions,
    )
    per_class = pd.DataFrame(
        {
            "precision": summary.per_class.precision,
            "recall": summary.per_class.recall,
            "f1": summary.per_class.f1,
            "support": summary.per_class.support.astype(np.int64),
        }
    )
    ties = gold[items["tie"].to_numpy()].value_counts()
    per_class["n_ties"] = ties.reindex(per_class.index).fillna(0).astype(np.int64)
    per_class = per_class.drop(index=NO_CONSENSUS, errors="ignore")  # not a class
    per_class.index.name = "class"
    return _assemble.finish(
        task_type="classification",
        main=MAIN_METRIC,
        title=MAIN_TITLE,
        items=items,
        summary=_assemble.summarise(
            len(gold),
            ratios=ratios,
            statistics=statistics,
            tables=tables,
            options=options,
            params={"cohen_kappa": {"weights": options.kappa_weights}},
        ),
        per_class=per_class,
        n_labels=int(votes.n_objects.sum()),
        options=options,
        metadata=metadata,
        warnings=(*votes.warnings, *warnings),
        confusion=summary.confusion.to_frame(),
        per_annotator=annotator_table(votes.answers, gold),
        crowd_agreement=crowd_agreement(votes.answers) if _repeats(votes) else None,
    )


def _repeats(votes: Votes) -> bool:
    """Whether some gold item may have two answers (else :func:`crowd_agreement` is ``None``).

    As many answer rows as voted items, each voted once, leave no room for a second
    answer: then the agreement's grouping of every answer by item (0.07 s of a
    100,000-item, 5-vendor report) is skipped.
    """
    if votes.answers is None:
        return False
    once = len(votes.n_answers) == 0 or int(votes.n_answers.to_numpy().max()) <= 1
    return not (once and len(votes.answers) == len(votes.n_answers))
