"""Review flags for language tasks: where a vendor and gold disagree most, and where one
vendor's annotators split.

Same conventions as :mod:`metrics.flags` (a :class:`~metrics.flags.Flags` queue, ``score``
in ``[0, 1]``, higher = look first), over every annotator's answer rather than a vote:

``vendor_vs_gold`` (kind ``wrong_class``)
    Per (item, vendor): the mean distance of its annotators' answers to gold. Preferences:
    0 for the same answer, 0.5 between a tie and a preference, 1 for the opposite
    preference (:func:`preference_distance`); ratings: ``|label - gold|`` over the scale's
    range, averaged over the rubric's criteria (:func:`rubric_distance`); transcripts: the
    item's word error rate capped at 1 (:func:`transcript_distance`). Items at distance 0
    are not flagged.
``model_vs_label`` (kind ``label_issue``)
    Per (item, vendor): the mean distance of its annotators' answers to a model judge's
    answers on the item (same distances as against gold); the judge's own vendor is not
    flagged against itself, and items the judge left out are not flagged.
``candidates_disagree`` (kind ``label_entropy``)
    Per (item, vendor) with two or more annotators who do not all agree: the normalised
    entropy of their answers (1 when every answer differs), ``worker`` = the vendor.

Data contract: ``answers`` is a long frame ``task``, ``worker`` (the vendor), ``annotator``
and ``label``; ``gold`` a Series indexed by ``task``.

Examples
--------
>>> import pandas as pd
>>> answers = pd.DataFrame({"task": ["t1", "t1", "t2"], "worker": ["v", "v", "v"],
...                         "annotator": ["a", "b", "a"], "label": ["B", "tie", "A"]})
>>> gold = pd.Series({"t1": "A", "t2": "A"})
>>> language_vs_gold_flags(answers, gold).frame[["task", "worker", "score"]].values.tolist()
[['t1', 'v', 0.75]]
>>> annotators_split_flags(answers).frame[["task", "worker", "score"]].values.tolist()
[['t1', 'v', 1.0]]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from metrics._flag_frame import Flags, _build
from metrics.types import LABEL, TASK, WORKER

__all__ = [
    "ANNOTATOR",
    "Distance",
    "annotators_split_flags",
    "judge_vs_label_flags",
    "language_vs_gold_flags",
    "preference_distance",
    "rating_distance",
    "rubric_distance",
    "transcript_distance",
]

ANNOTATOR = "annotator"
Distance = Callable[[Any, Any], float]


def preference_distance(gold: Any, label: Any) -> float:
    """0 for the same answer, 0.5 between a tie and a preference, 1 for the opposite one."""
    if gold == label:
        return 0.0
    return 0.5 if "tie" in (gold, label) else 1.0


def rating_distance(low: float, high: float) -> Distance:
    """``|label - gold| / (high - low)``: the distance of two ratings on a scale."""
    if not high > low:
        raise ValueError(f"the scale needs high > low, got {low}..{high}")

    def distance(gold: Any, label: Any) -> float:
        return min(1.0, abs(float(label) - float(gold)) / (high - low))

    return distance


def rubric_distance(low: float, high: float) -> Distance:
    """Ratings ``{criterion: rating}``: the mean over gold's criteria of
    ``|label - gold| / (high - low)``; a criterion the answer leaves out counts 1."""
    one = rating_distance(low, high)

    def distance(gold: Any, label: Any) -> float:
        if not isinstance(gold, dict) or not gold:
            raise ValueError(f"a rubric gold is {{criterion: rating}}, got {gold!r}")
        given = label if isinstance(label, dict) else {}
        return float(np.mean([one(g, given[c]) if c in given else 1.0 for c, g in gold.items()]))

    return distance


def transcript_distance(gold: Any, label: Any) -> float:
    """The item's word error rate (engine's default normalisation), capped at 1."""
    from metrics.transcription import Normalization, edit_counts, normalize

    reference = normalize(str(gold), Normalization()).split()
    hypothesis = normalize(str(label), Normalization()).split()
    counts = edit_counts(reference, hypothesis)
    if not reference:
        return 0.0 if not hypothesis else 1.0
    return min(1.0, counts.errors / len(reference))


def _check(answers: object, *, annotator: bool) -> pd.DataFrame:
    if not isinstance(answers, pd.DataFrame):
        raise TypeError("answers must be a pandas DataFrame")
    needed = [TASK, WORKER, LABEL] + ([ANNOTATOR] if annotator else [])
    missing = [c for c in needed if c not in answers.columns]
    if missing:
        raise ValueError(f"answers needs the columns {missing}")
    return answers.dropna(subset=[LABEL])


def _summary(values: list[Any]) -> str:
    counts = Counter(str(v) for v in values)
    return ", ".join(f"{v} {n}" for v, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def language_vs_gold_flags(
    answers: pd.DataFrame,
    gold: pd.Series[Any],
    *,
    distance: Distance = preference_distance,
) -> Flags:
    """Flag each (item, vendor) whose annotators' answers are away from gold, farthest first.

    Parameters
    ----------
    answers
        ``task``, ``worker`` (vendor), ``label`` (``annotator`` optional: every row is
        one annotator's answer).
    gold
        Gold per task; answers on tasks without gold are ignored.
    distance
        ``distance(gold, label)`` in ``[0, 1]`` (default: preferences).

    Returns
    -------
    Flags
        ``reason="vendor_vs_gold"``, ``kind="wrong_class"``, ``suggested_label`` = gold,
        ``detail`` = the annotators' answers.
    """
    answers = _check(answers, annotator=False)
    if not isinstance(gold, pd.Series):
        raise TypeError("gold must be a pandas Series indexed by task")
    known = answers[answers[TASK].isin(gold.index)]
    gold_of = gold.to_dict()
    tasks: list[Any] = []
    workers: list[Any] = []
    scores: list[float] = []
    suggested: list[Any] = []
    details: list[str] = []
    for (task, worker), rows in known.groupby([TASK, WORKER], sort=True):
        g = gold_of[task]
        labels = rows[LABEL].tolist()
        d = float(np.mean([distance(g, v) for v in labels]))
        if d <= 0:
            continue
        tasks.append(task)
        workers.append(worker)
        scores.append(d)
        suggested.append(g)
        details.append(f"answers {_summary(labels)}; gold {g}")
    return _build(
        task=tasks,
        worker=workers,
        reason="vendor_vs_gold",
        kind="wrong_class",
        score=scores,
        suggested=suggested,
        detail=details,
    )


def judge_vs_label_flags(
    answers: pd.DataFrame,
    judge: pd.DataFrame,
    *,
    distance: Distance = preference_distance,
) -> Flags:
    """Flag each (item, vendor) whose annotators' answers a model judge disagrees with.

    Parameters
    ----------
    answers
        ``task``, ``worker`` (vendor), ``label``: every row one annotator's answer.
    judge
        ``task``, ``label``: the model judge's answers (several per task are averaged
        over, e.g. two judge prompts); rows of ``answers`` from the judge's own vendor
        should be left out by the caller.
    distance
        ``distance(judge, label)`` in ``[0, 1]`` (default: preferences).

    Returns
    -------
    Flags
        ``reason="model_vs_label"``, ``kind="label_issue"``, ``score`` = the mean distance
        over (annotator answer, judge answer) pairs, ``suggested_label`` = the judge's most
        common answer, ``detail`` = both sides' answers.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": ["t1", "t2", "t3"], "worker": ["v", "v", "v"],
    ...                         "label": ["A", "tie", "B"]})
    >>> judge = pd.DataFrame({"task": ["t1", "t2"], "label": ["B", "tie"]})
    >>> judge_vs_label_flags(answers, judge).frame[["task", "score"]].values.tolist()
    [['t1', 1.0]]
    """
    answers = _check(answers, annotator=False)
    if not isinstance(judge, pd.DataFrame) or not {TASK, LABEL} <= set(judge.columns):
        raise ValueError("judge needs the columns ['task', 'label']")
    said: dict[Any, list[Any]] = {}
    for task, label in zip(judge[TASK], judge[LABEL], strict=True):
        if label is not None:
            said.setdefault(task, []).append(label)
    known = answers[answers[TASK].isin(list(said))]
    tasks: list[Any] = []
    workers: list[Any] = []
    scores: list[float] = []
    suggested: list[Any] = []
    details: list[str] = []
    for (task, worker), rows in known.groupby([TASK, WORKER], sort=True):
        verdicts = said[task]
        labels = rows[LABEL].tolist()
        d = float(np.mean([distance(j, v) for j in verdicts for v in labels]))
        if d <= 0:
            continue
        tasks.append(task)
        workers.append(worker)
        scores.append(d)
        counts = Counter(str(j) for j in verdicts)
        top = max(counts, key=lambda k: (counts[k], k))
        suggested.append(next(j for j in verdicts if str(j) == top))
        details.append(f"answers {_summary(labels)}; model judge {_summary(verdicts)}")
    return _build(
        task=tasks,
        worker=workers,
        reason="model_vs_label",
        kind="label_issue",
        score=scores,
        suggested=suggested,
        detail=details,
    )


def annotators_split_flags(answers: pd.DataFrame) -> Flags:
    """Flag each (item, vendor) whose annotators split, most evenly split first.

    ``score`` is the entropy of the answers over ``log(n)`` for ``n`` annotators (capped
    by the distinct values possible: ``n`` answers can differ at most ``n`` ways), so two
    annotators who differ score 1 and a 2-1 split of three scores 0.58.

    Returns
    -------
    Flags
        ``reason="candidates_disagree"``, ``kind="label_entropy"``, ``worker`` = vendor,
        ``group`` = the values given (``"A | B"``), ``detail`` = their counts.
    """
    answers = _check(answers, annotator=True)
    tasks: list[Any] = []
    workers: list[Any] = []
    scores: list[float] = []
    groups: list[str] = []
    details: list[str] = []
    for (task, worker), rows in answers.groupby([TASK, WORKER], sort=True):
        labels = [str(v) for v in rows[LABEL]]
        counts = np.array(list(Counter(labels).values()), dtype=np.float64)
        if len(labels) < 2 or len(counts) < 2:
            continue
        p = counts / counts.sum()
        entropy = float(-(p * np.log(p)).sum())
        tasks.append(task)
        workers.append(worker)
        scores.append(entropy / np.log(len(labels)))
        groups.append(" | ".join(sorted(set(labels))))
        details.append(f"{len(labels)} annotators of {worker} split: {_summary(labels)}")
    return _build(
        task=tasks,
        worker=workers,
        reason="candidates_disagree",
        kind="label_entropy",
        score=scores,
        group=groups,
        detail=details,
    )
