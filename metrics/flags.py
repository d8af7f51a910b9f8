"""Disagreement flags: where a reviewer's time is best spent.

Each flag names an item (``task``), who is suspected (a vendor in ``worker``,
``"gold"`` for the expert's label, or ``None`` when the item itself is
ambiguous), a ``reason``, a ``kind`` and a ``score`` in ``[0, 1]`` used to order
the review queue (higher = look first). Four reasons:

``vendor_vs_gold``
    A vendor's label differs from gold (classes: wrong class; boxes: missed,
    extra, wrong class, IoU below threshold), ranked by how confidently wrong.
``model_vs_label``
    A model's out-of-fold predictions contradict a label (cleanlab, through
    :mod:`metrics.label_issues`).
``candidates_disagree``
    The candidates disagree among themselves (high label entropy, low box
    agreement); ``group`` names the confused classes so a lead can add an
    instruction example for them (:func:`disagreement_groups`).
``gold_may_be_wrong``
    Most candidates (and the model, when given) agree with each other against gold.

Every function returns :class:`Flags`, a frozen wrapper around a frame with
the columns :data:`FLAG_COLUMNS`, sorted by ``score`` (descending).

Data contract
-------------
``answers``: long frame ``task``, ``worker``, ``label`` and optionally ``score``
(the vendor's own confidence in ``[0, 1]``). ``gold``: Series indexed by ``task``.
``pred_probs``: frame ``(N, K)`` indexed by ``task``, one column per class.
Boxes: long frame ``task``, ``worker`` (not for gold), ``label``, ``x``, ``y``,
``width``, ``height`` and optionally ``score``.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics.detection import box_iou
from metrics.label_issues import (
    BOX_COLUMNS,
    FilterBy,
    QualityMethod,
    _check_boxes,
    _check_labels,
    _check_pred_probs,
    _find_box_label_issues_impl,
    _find_label_issues_impl,
    multiannotator_quality,
)
from metrics.types import LABEL, SCORE, TASK, WORKER

__all__ = [
    "GOLD",
    "FLAG_COLUMNS",
    "FlagReason",
    "FlagKind",
    "Flags",
    "vendor_vs_gold_flags",
    "model_vs_label_flags",
    "multiannotator_flags",
    "candidates_disagree_flags",
    "gold_may_be_wrong_flags",
    "box_vendor_vs_gold_flags",
    "box_model_vs_label_flags",
    "box_candidates_disagree_flags",
    "box_gold_may_be_wrong_flags",
    "disagreement_groups",
    "precision_at_k",
]

GOLD: Final = "gold"

FlagReason = Literal["vendor_vs_gold", "model_vs_label", "candidates_disagree", "gold_may_be_wrong"]
FlagKind = Literal[
    "wrong_class",
    "missed",
    "extra",
    "low_iou",
    "label_issue",
    "annotator_vs_consensus",
    "label_entropy",
    "box_disagreement",
    "gold_outvoted",
]

FLAG_COLUMNS: Final = (
    TASK,
    WORKER,
    "reason",
    "kind",
    SCORE,
    "group",
    "suggested_label",
    "detail",
)

# A single box error never reaches certainty, so several errors on one item outrank one.
_MAX_BOX_SEVERITY: Final = 0.95


@dataclass(frozen=True)
class Flags:
    """Flags sorted by ``score`` (descending, ties kept in input order).

    Attributes
    ----------
    frame
        Columns :data:`FLAG_COLUMNS`: ``task``; ``worker`` (vendor, ``"gold"`` or
        ``None``); ``reason`` (:data:`FlagReason`); ``kind`` (:data:`FlagKind`);
        ``score`` (float in ``[0, 1]``); ``group`` (confused classes such as
        ``"cat | dog"`` or a class name, or ``None``); ``suggested_label`` (the
        label the evidence points to, or ``None``); ``detail`` (short text).
    """

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def top(self, k: int) -> pd.DataFrame:
        """The ``k`` highest-scoring flags."""
        return self.frame.head(k)

    def by_reason(self, reason: FlagReason) -> Flags:
        """Only the flags of one reason."""
        return Flags(self.frame[self.frame["reason"] == reason].reset_index(drop=True))

    @staticmethod
    def concat(parts: Iterable[Flags]) -> Flags:
        """All flags of ``parts`` in one queue, re-sorted by score."""
        frames = [p.frame for p in parts if len(p.frame)]
        if not frames:
            return _empty()
        merged = pd.concat(frames, ignore_index=True)
        return Flags(_sorted(merged))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(SCORE, ascending=False, kind="stable").reset_index(drop=True)


def _empty() -> Flags:
    return Flags(
        pd.DataFrame({c: pd.Series(dtype=object) for c in FLAG_COLUMNS}).astype({SCORE: np.float64})
    )


def _build(
    *,
    task: npt.ArrayLike,
    worker: npt.ArrayLike | None,
    reason: FlagReason,
    kind: npt.ArrayLike | FlagKind,
    score: npt.ArrayLike,
    group: npt.ArrayLike | None = None,
    suggested: npt.ArrayLike | None = None,
    detail: npt.ArrayLike | str = "",
) -> Flags:
    tasks = np.asarray(task, dtype=object)
    n = len(tasks)
    if n == 0:
        return _empty()

    def col(values: npt.ArrayLike | str | None) -> npt.NDArray[Any]:
        if values is None:
            return np.full(n, None, dtype=object)
        if isinstance(values, str):
            return np.full(n, values, dtype=object)
        return np.asarray(values, dtype=object)

    frame = pd.DataFrame(
        {
            TASK: tasks,
            WORKER: col(worker),
            "reason": np.full(n, reason, dtype=object),
            "kind": col(kind if not isinstance(kind, str) else str(kind)),
            SCORE: np.clip(np.asarray(score, dtype=np.float64), 0.0, 1.0),
            "group": col(group),
            "suggested_label": col(suggested),
            "detail": col(detail),
        }
    )
    return Flags(_sorted(frame))


# --------------------------------------------------------------------------- validation


def _check_answers(answers: object, *, name: str = "answers") -> pd.DataFrame:
    if not isinstance(answers, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(answers).__name__}")
    missing = [c for c in (TASK, WORKER, LABEL) if c not in answers.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; needs task, worker, label")
    na = answers[[TASK, WORKER, LABEL]].isna().any(axis=1)
    if na.any():
        rows = np.flatnonzero(na.to_numpy())[:5].tolist()
        raise ValueError(f"{name} rows {rows} have a missing task, worker or label")
    if (answers[WORKER] == GOLD).any():
        raise ValueError(f"{name} must hold candidates only; pass the gold labels as `gold`")
    dup = answers.duplicated([TASK, WORKER])
    if dup.any():
        rows = np.flatnonzero(dup.to_numpy())[:5].tolist()
        raise ValueError(f"{name} has more than one answer per (task, worker) at rows {rows}")
    if SCORE in answers.columns:
        s = answers[SCORE].to_numpy(dtype=np.float64)
        bad = (s < 0) | (s > 1)
        if bad.any():
            raise ValueError(f"{name}.score must lie in [0, 1]; rows {np.flatnonzero(bad)[:5]}")
    return answers


def _confidence(answers: pd.DataFrame) -> npt.NDArray[np.float64]:
    if SCORE not in answers.columns:
        return np.ones(len(answers))
    s = answers[SCORE].to_numpy(dtype=np.float64)
    return np.where(np.isnan(s), 1.0, s)


def _pair(a: object, b: object) -> str:
    x, y = sorted((str(a), str(b)))
    return f"{x} | {y}"


# --------------------------------------------------------------------------- classification


def vendor_vs_gold_flags(
    answers: pd.DataFrame,
    gold: pd.Series[Any],
    *,
    pred_probs: pd.DataFrame | None = None,
) -> Flags:
    """Flag every candidate answer that differs from gold, most confidently wrong first.

    ``score = confidence * support`` where ``confidence`` is the vendor's own
    score (1 when absent) and ``support`` is the mean of the evidence for gold:
    one vote per *other* candidate (1 if it agrees with gold, else 0) and, when
    ``pred_probs`` is given, the model's probability of the gold class. With no
    evidence, ``support = 1``.

    Parameters
    ----------
    answers
        Candidates' answers: ``task``, ``worker``, ``label`` [, ``score``].
    gold
        Gold labels indexed by ``task``; answers on tasks without gold are ignored.
    pred_probs
        Optional out-of-fold model probabilities indexed by ``task``.

    Returns
    -------
    Flags
        ``reason="vendor_vs_gold"``, ``kind="wrong_class"``, ``suggested_label`` = gold,
        ``group`` = ``"gold | given"``.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": ["t1", "t1", "t1", "t2"], "worker": ["A", "B", "C", "A"],
    ...                         "label": ["cat", "dog", "cat", "dog"]})
    >>> gold = pd.Series({"t1": "cat", "t2": "dog"})
    >>> vendor_vs_gold_flags(answers, gold).frame[["task", "worker", "score"]].values.tolist()
    [['t1', 'B', 1.0]]
    """
    answers = _check_answers(answers)
    gold = _check_labels(gold, name="gold")
    if pred_probs is not None:
        pred_probs = _check_pred_probs(pred_probs)
    return _vendor_vs_gold_impl(answers, gold, pred_probs)


def _vendor_vs_gold_impl(
    answers: pd.DataFrame, gold: pd.Series[Any], pred_probs: pd.DataFrame | None
) -> Flags:
    on_gold = answers[TASK].isin(gold.index).to_numpy()
    a = answers[on_gold]
    g = gold.reindex(a[TASK]).to_numpy()
    label = a[LABEL].to_numpy()
    agrees = label == g
    tasks = a[TASK].to_numpy()
    per_task = (
        pd.DataFrame({TASK: tasks, "agree": agrees.astype(np.int64)})
        .groupby(TASK, sort=False)["agree"]
        .agg(["sum", "size"])
    )
    n_agree = per_task["sum"].reindex(tasks).to_numpy(np.float64)
    n_total = per_task["size"].reindex(tasks).to_numpy(np.float64)
    # For a wrong answer, every other candidate agreeing with gold is one vote for gold.
    votes = n_agree
    n_votes = n_total - 1.0
    if pred_probs is not None:
        p_gold = _prob_of(pred_probs, tasks, g)
        votes = votes + np.nan_to_num(p_gold, nan=0.0)
        n_votes = n_votes + (~np.isnan(p_gold)).astype(np.float64)
    support = np.divide(votes, n_votes, out=np.ones_like(votes), where=n_votes > 0)
    wrong = ~agrees
    conf = _confidence(a)
    score = conf[wrong] * support[wrong]
    groups = [_pair(x, y) for x, y in zip(g[wrong], label[wrong], strict=True)]
    return _build(
        task=tasks[wrong],
        worker=a[WORKER].to_numpy()[wrong],
        reason="vendor_vs_gold",
        kind="wrong_class",
        score=score,
        group=groups,
        suggested=g[wrong],
        detail=[f"gold={x!s} given={y!s}" for x, y in zip(g[wrong], label[wrong], strict=True)],
    )


def _prob_of(
    pred_probs: pd.DataFrame, tasks: npt.NDArray[Any], labels: npt.NDArray[Any]
) -> npt.NDArray[np.float64]:
    """Model probability of ``labels[i]`` for ``tasks[i]``; ``nan`` when unknown."""
    rows = pred_probs.index.get_indexer(pd.Index(tasks))
    cols = pred_probs.columns.get_indexer(pd.Index(labels))
    values = pred_probs.to_numpy(dtype=np.float64)
    out = np.full(len(tasks), np.nan)
    ok = (rows >= 0) & (cols >= 0)
    out[ok] = values[rows[ok], cols[ok]]
    return out


def model_vs_label_flags(
    answers: pd.DataFrame | None,
    pred_probs: pd.DataFrame,
    *,
    gold: pd.Series[Any] | None = None,
    filter_by: FilterBy = "prune_by_noise_rate",
    quality_method: QualityMethod = "self_confidence",
    n_jobs: int | None = 1,
) -> Flags:
    """Flag labels that the model's out-of-fold probabilities contradict (cleanlab).

    Each candidate's labels (and gold's, when given) are checked separately with
    :func:`metrics.label_issues.find_label_issues`; ``score = 1 - label_quality``.

    Parameters
    ----------
    answers
        Candidates' answers (``task``, ``worker``, ``label``), or ``None`` for gold only.
    pred_probs
        Out-of-fold model probabilities, ``(N, K)`` indexed by ``task``.
    gold
        Optional gold labels; checked as worker ``"gold"``.
    filter_by, quality_method, n_jobs
        Passed to cleanlab.

    Returns
    -------
    Flags
        ``reason="model_vs_label"``, ``kind="label_issue"``, ``suggested_label`` =
        the model's most likely class.
    """
    pred_probs = _check_pred_probs(pred_probs)
    parts: list[tuple[object, pd.Series[Any]]] = []
    if answers is not None:
        answers = _check_answers(answers)
        for name, rows in answers.groupby(WORKER, sort=True):
            parts.append((name, pd.Series(rows[LABEL].to_numpy(), index=rows[TASK].to_numpy())))
    if gold is not None:
        parts.append((GOLD, _check_labels(gold, name="gold")))
    out: list[Flags] = []
    for worker, given_labels in parts:
        known = given_labels.index.isin(pred_probs.index)
        labels = given_labels[known] if not known.all() else given_labels
        res = _find_label_issues_impl(
            _check_labels(labels),
            pred_probs,
            filter_by=filter_by,
            quality_method=quality_method,
            n_jobs=n_jobs,
        )
        f = res.frame
        hit = f["is_label_issue"].to_numpy()
        given = f[LABEL].to_numpy()[hit]
        pred = f["predicted_label"].to_numpy()[hit]
        quality = f["label_quality"].to_numpy()[hit]
        out.append(
            _build(
                task=f.index.to_numpy()[hit],
                worker=np.full(int(hit.sum()), worker, dtype=object),
                reason="model_vs_label",
                kind="label_issue",
                score=1.0 - quality,
                group=[_pair(x, y) for x, y in zip(given, pred, strict=True)],
                suggested=pred,
                detail=[f"model={y!s} given={x!s}" for x, y in zip(given, pred, strict=True)],
            )
        )
    return Flags.concat(out)


def multiannotator_flags(
    answers: pd.DataFrame,
    pred_probs: pd.DataFrame,
) -> Flags:
    """Flag annotators' answers that differ from the CROWDLAB consensus.

    Uses :func:`metrics.label_issues.multiannotator_quality` (several annotators
    per item plus the model); ``score = 1 - label_quality`` of that annotator's
    label for that item.

    Parameters
    ----------
    answers
        ``task``, ``worker`` (annotator), ``label``.
    pred_probs
        Out-of-fold model probabilities indexed by ``task``.

    Returns
    -------
    Flags
        ``reason="model_vs_label"``, ``kind="annotator_vs_consensus"``,
        ``suggested_label`` = the consensus label.
    """
    quality = multiannotator_quality(answers, pred_probs)
    lq = quality.label_quality
    consensus = quality.consensus["consensus_label"].reindex(lq[TASK]).to_numpy()
    given = lq[LABEL].to_numpy()
    off = given != consensus
    return _build(
        task=lq[TASK].to_numpy()[off],
        worker=lq[WORKER].to_numpy()[off],
        reason="model_vs_label",
        kind="annotator_vs_consensus",
        score=1.0 - lq["label_quality"].to_numpy(np.float64)[off],
        group=[_pair(x, y) for x, y in zip(consensus[off], given[off], strict=True)],
        suggested=consensus[off],
        detail=[
            f"consensus={x!s} given={y!s}" for x, y in zip(consensus[off], given[off], strict=True)
        ],
    )


def candidates_disagree_flags(
    answers: pd.DataFrame,
    *,
    gold: pd.Series[Any] | None = None,
    min_entropy: float = 0.5,
) -> Flags:
    """Flag items where the candidates disagree most among themselves.

    ``score`` is the entropy of the item's label distribution over its
    candidates, normalised by ``log(n_answers)`` (1 = every candidate chose a
    different label). Items with fewer than two answers are skipped.

    Parameters
    ----------
    answers
        Candidates' answers: ``task``, ``worker``, ``label``.
    gold
        Optional gold labels, reported in ``detail``.
    min_entropy
        Flag items whose normalised entropy is at least this (in ``[0, 1]``).

    Returns
    -------
    Flags
        ``worker=None``, ``reason="candidates_disagree"``, ``kind="label_entropy"``,
        ``group`` = the two most chosen labels (``"a | b"``), the confusion to
        clarify in the instructions.
    """
    answers = _check_answers(answers)
    if not 0.0 <= min_entropy <= 1.0:
        raise ValueError(f"min_entropy must lie in [0, 1], got {min_entropy}")
    if gold is not None:
        gold = _check_labels(gold, name="gold")
    counts = answers.groupby([TASK, LABEL], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values([TASK, "n"], ascending=[True, False], kind="stable")
    total = counts.groupby(TASK, sort=False)["n"].transform("sum").to_numpy(np.float64)
    p = counts["n"].to_numpy(np.float64) / total
    counts["h"] = -p * np.log(p)
    per_task = counts.groupby(TASK, sort=False).agg(
        h=("h", "sum"), n=("n", "sum"), first=(LABEL, "first"), k=(LABEL, "size")
    )
    second = counts.groupby(TASK, sort=False)[LABEL].nth(1)
    second_by_task = pd.Series(second.to_numpy(), index=counts.loc[second.index, TASK].to_numpy())
    n = per_task["n"].to_numpy(np.float64)
    norm = np.divide(per_task["h"].to_numpy(), np.log(n), out=np.zeros(len(n)), where=n > 1)
    hit = (n >= 2) & (per_task["k"].to_numpy() >= 2) & (norm >= min_entropy - 1e-12)
    tasks = per_task.index.to_numpy()[hit]
    first = per_task["first"].to_numpy()[hit]
    sec = second_by_task.reindex(tasks).to_numpy()
    g = gold.reindex(tasks).to_numpy() if gold is not None else np.full(len(tasks), None)
    return _build(
        task=tasks,
        worker=None,
        reason="candidates_disagree",
        kind="label_entropy",
        score=norm[hit],
        group=[_pair(x, y) for x, y in zip(first, sec, strict=True)],
        detail=[
            f"{int(m)} answers, {int(k)} labels, gold={x!s}"
            for m, k, x in zip(n[hit], per_task["k"].to_numpy()[hit], g, strict=True)
        ],
    )


def gold_may_be_wrong_flags(
    answers: pd.DataFrame,
    gold: pd.Series[Any],
    *,
    pred_probs: pd.DataFrame | None = None,
    min_agreement: float = 0.5,
    min_candidates: int = 2,
) -> Flags:
    """Flag gold labels that most candidates (and the model) agree against.

    For each item, ``alt`` is the most chosen non-gold label and ``share`` the
    fraction of candidates choosing it. The item is flagged when
    ``share > min_agreement``, at least ``min_candidates`` answered, and, when
    ``pred_probs`` is given, the model's most likely class is ``alt`` too.
    ``score = share`` without a model, else ``(share + p_model(alt)) / 2``.

    Parameters
    ----------
    answers
        Candidates' answers: ``task``, ``worker``, ``label``.
    gold
        Gold labels indexed by ``task``.
    pred_probs
        Optional out-of-fold model probabilities indexed by ``task``.
    min_agreement
        Candidate share (exclusive) needed to call gold outvoted.
    min_candidates
        Minimum number of candidate answers on the item.

    Returns
    -------
    Flags
        ``worker="gold"``, ``reason="gold_may_be_wrong"``, ``kind="gold_outvoted"``,
        ``suggested_label`` = ``alt``.

    Examples
    --------
    >>> import pandas as pd
    >>> answers = pd.DataFrame({"task": ["t1"] * 3, "worker": ["A", "B", "C"],
    ...                         "label": ["dog", "dog", "cat"]})
    >>> flags = gold_may_be_wrong_flags(answers, pd.Series({"t1": "cat"}))
    >>> flags.frame[["task", "worker", "suggested_label"]].values.tolist()
    [['t1', 'gold', 'dog']]
    """
    answers = _check_answers(answers)
    gold = _check_labels(gold, name="gold")
    if pred_probs is not None:
        pred_probs = _check_pred_probs(pred_probs)
    if not 0.0 <= min_agreement < 1.0:
        raise ValueError(f"min_agreement must lie in [0, 1), got {min_agreement}")
    a = answers[answers[TASK].isin(gold.index).to_numpy()]
    n_per_task = a.groupby(TASK, sort=False).size()
    g_row = gold.reindex(a[TASK]).to_numpy()
    off = a[a[LABEL].to_numpy() != g_row]
    counts = off.groupby([TASK, LABEL], sort=False).size().rename("n").reset_index()
    counts = counts.sort_values([TASK, "n"], ascending=[True, False], kind="stable")
    best = counts.drop_duplicates(TASK, keep="first")
    tasks = best[TASK].to_numpy()
    alt = best[LABEL].to_numpy()
    n_task = n_per_task.reindex(tasks).to_numpy(np.float64)
    share = best["n"].to_numpy(np.float64) / n_task
    hit = (share > min_agreement) & (n_task >= min_candidates)
    score = share.copy()
    if pred_probs is not None:
        p_alt = _prob_of(pred_probs, tasks, alt)
        rows = pred_probs.index.get_indexer(tasks)
        argmax = np.full(len(tasks), None, dtype=object)
        known = rows >= 0
        argmax[known] = pred_probs.columns.to_numpy()[
            pred_probs.to_numpy(np.float64)[rows[known]].argmax(axis=1)
        ]
        model_agrees = np.array([m == x for m, x in zip(argmax, alt, strict=True)], dtype=bool)
        hit &= model_agrees
        score = (share + np.nan_to_num(p_alt, nan=0.0)) / 2.0
    g = gold.reindex(tasks).to_numpy()
    return _build(
        task=tasks[hit],
        worker=np.full(int(hit.sum()), GOLD, dtype=object),
        reason="gold_may_be_wrong",
        kind="gold_outvoted",
        score=score[hit],
        group=[_pair(x, y) for x, y in zip(g[hit], alt[hit], strict=True)],
        suggested=alt[hit],
        detail=[
            f"gold={x!s}; {int(c)} of {int(m)} candidates chose {y!s}"
            for x, y, c, m in zip(
                g[hit], alt[hit], best["n"].to_numpy()[hit], n_task[hit], strict=True
            )
        ],
    )


def disagreement_groups(flags: Flags, *, examples: int = 3) -> pd.DataFrame:
    """Group flags by ``group`` (confused classes) for the instruction author.

    Parameters
    ----------
    flags
        Any flags; rows without a group are ignored.
    examples
        How many top-scoring example tasks to list per group.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``group``, columns ``n_flags``, ``mean_score`` and
        ``example_tasks`` (tuple of task ids, best first); most flags first.
    """
    f = flags.frame[flags.frame["group"].notna()]
    if f.empty:
        return pd.DataFrame(
            {
                "n_flags": pd.Series(dtype=np.int64),
                "mean_score": pd.Series(dtype=np.float64),
                "example_tasks": pd.Series(dtype=object),
            },
            index=pd.Index([], name="group"),
        )
    grouped = f.groupby("group", sort=False)
    out = pd.DataFrame(
        {
            "n_flags": grouped.size().astype(np.int64),
            "mean_score": grouped[SCORE].mean(),
            "example_tasks": pd.Series(
                {key: tuple(rows[TASK].head(examples)) for key, rows in grouped}, dtype=object
            ),
        }
    )
    out.index.name = "group"
    return out.sort_values(["n_flags", "mean_score"], ascending=[False, False], kind="stable")


def precision_at_k(
    flags: Flags, truth: Iterable[Hashable], *, k: int, on: Literal["task", "pair"] = "task"
) -> float:
    """Fraction of the top ``k`` flags that hit a known error.

    Parameters
    ----------
    flags
        Flags, best first.
    truth
        Known errors: task ids (``on="task"``) or ``(task, worker)`` pairs (``on="pair"``).
    k
        Cut-off (at least 1).
    on
        Whether a hit is judged by task or by (task, worker).

    Returns
    -------
    float
        ``hits / min(k, len(flags))``; ``nan`` when there are no flags.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    top = flags.frame.head(k)
    if top.empty:
        return float("nan")
    known = set(truth)
    if on == "task":
        hits = sum(t in known for t in top[TASK])
    else:
        hits = sum((t, w) in known for t, w in zip(top[TASK], top[WORKER], strict=True))
    return hits / len(top)


# --------------------------------------------------------------------------- boxes


def _match(
    iou: npt.NDArray[np.float64], *, min_iou: float
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """One-to-one matching maximising total IoU over pairs with ``iou >= min_iou``."""
    from scipy.optimize import linear_sum_assignment

    if iou.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    weight = np.where(iou >= min_iou, iou, 0.0)
    r, c = linear_sum_assignment(weight, maximize=True)
    keep = weight[r, c] > 0
    return r[keep].astype(np.int64), c[keep].astype(np.int64)


def _split(frame: pd.DataFrame, keys: list[str]) -> dict[Any, pd.DataFrame]:
    if frame.empty:
        return {}
    grouped = frame.groupby(keys if len(keys) > 1 else keys[0], sort=False)
    # Not dict(grouped): GroupBy has a ``keys`` attribute, which dict() mistakes for a mapping.
    return {key: rows for key, rows in grouped}  # noqa: C416


def _boxes_arr(frame: pd.DataFrame | None) -> npt.NDArray[np.float64]:
    if frame is None or frame.empty:
        return np.zeros((0, 4))
    return frame[list(BOX_COLUMNS)].to_numpy(dtype=np.float64)


def _labels_arr(frame: pd.DataFrame | None) -> npt.NDArray[Any]:
    if frame is None or frame.empty:
        return np.zeros(0, dtype=object)
    return frame[LABEL].to_numpy()


def _scores_arr(frame: pd.DataFrame | None) -> npt.NDArray[np.float64]:
    if frame is None or frame.empty:
        return np.zeros(0)
    if SCORE not in frame.columns:
        return np.ones(len(frame))
    s = frame[SCORE].to_numpy(dtype=np.float64)
    return np.where(np.isnan(s), 1.0, s)


def _task_list(tasks: Sequence[Hashable] | None, *frames: pd.DataFrame) -> list[Hashable]:
    if tasks is not None:
        return list(tasks)
    seen: dict[Hashable, None] = {}
    for f in frames:
        for t in f[TASK].tolist():
            seen.setdefault(t, None)
    return list(seen)


def _check_candidate_boxes(boxes: pd.DataFrame) -> pd.DataFrame:
    boxes = _check_boxes(boxes, name="boxes", with_score=False)
    if WORKER not in boxes.columns:
        raise ValueError("boxes lacks column 'worker' (which candidate drew each box)")
    if boxes[WORKER].isna().any():
        raise ValueError(
            f"boxes rows {np.flatnonzero(boxes[WORKER].isna().to_numpy())[:5]} lack a worker"
        )
    if SCORE in boxes.columns:
        s = boxes[SCORE].to_numpy(dtype=np.float64)
        bad = (s < 0) | (s > 1)
        if bad.any():
            raise ValueError(f"boxes.score must lie in [0, 1]; rows {np.flatnonzero(bad)[:5]}")
    return boxes


def box_vendor_vs_gold_flags(
    boxes: pd.DataFrame,
    gold_boxes: pd.DataFrame,
    *,
    iou_threshold: float = 0.5,
    match_iou: float = 0.1,
    tasks: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag each (item, vendor) whose boxes differ from gold.

    Gold and vendor boxes are matched one-to-one (maximum total IoU over pairs
    with IoU at least ``match_iou``). Errors: ``missed`` (unmatched gold box),
    ``extra`` (unmatched vendor box), ``wrong_class`` (matched, other class),
    ``low_iou`` (matched, same class, IoU below ``iou_threshold``).

    Each error's severity is ``0.95 * confidence * support``: ``confidence`` is
    the vendor box's score (1 when absent; 1 for a missed box, and
    ``1 - IoU / iou_threshold`` for a low IoU) and ``support`` the share of the
    *other* candidates that back gold on that box (drew it / gave it gold's class
    / drew it tightly; for an extra box: did not draw it); 1 with no other
    candidate. The item's ``score = 1 - prod(1 - severity)``.

    Parameters
    ----------
    boxes
        Candidates' boxes: ``task``, ``worker``, ``label``, ``x``, ``y``,
        ``width``, ``height`` [, ``score``].
    gold_boxes
        Gold boxes: ``task``, ``label``, ``x``, ``y``, ``width``, ``height``.
    iou_threshold
        A matched box with lower IoU is a localisation error.
    match_iou
        Minimum IoU for two boxes to be matched at all.
    tasks
        Gold items (every vendor is expected to label each); default: tasks in ``gold_boxes``.

    Returns
    -------
    Flags
        ``reason="vendor_vs_gold"``; ``kind`` = the most severe error; ``group`` =
        its gold (or vendor) class; ``detail`` counts each kind.
    """
    boxes = _check_candidate_boxes(boxes)
    gold_boxes = _check_boxes(gold_boxes, name="gold_boxes", with_score=False)
    if not 0.0 < match_iou <= iou_threshold <= 1.0:
        raise ValueError("need 0 < match_iou <= iou_threshold <= 1")
    task_list = _task_list(tasks, gold_boxes)
    gold_by = _split(gold_boxes, [TASK])
    cand_by = _split(boxes, [TASK, WORKER])
    workers = list(dict.fromkeys(boxes[WORKER].tolist()))
    rows: list[tuple[Any, ...]] = []
    n_others = max(len(workers) - 1, 1)
    for task in task_list:
        g = gold_by.get(task)
        gb, gl = _boxes_arr(g), _labels_arr(g)
        per_worker = []
        # Per gold box: which workers drew it, gave it gold's class, drew it tightly.
        drew = np.zeros((len(workers), len(gb)), dtype=bool)
        same_class = np.zeros_like(drew)
        tight = np.zeros_like(drew)
        for wi, worker in enumerate(workers):
            c = cand_by.get((task, worker))
            cb, cl, cs = _boxes_arr(c), _labels_arr(c), _scores_arr(c)
            iou = box_iou(gb, cb)
            r, k = _match(iou, min_iou=match_iou)
            drew[wi, r] = True
            same_class[wi, r] = gl[r] == cl[k] if len(r) else False
            tight[wi, r] = iou[r, k] >= iou_threshold
            extra = np.array(sorted(set(range(len(cb))) - set(k.tolist())), dtype=np.int64)
            per_worker.append((cb, cl, cs, iou, r, k, extra))
        for wi, worker in enumerate(workers):
            cb, cl, cs, iou, r, k, extra = per_worker[wi]
            others = np.arange(len(workers)) != wi
            sev: list[tuple[float, str, object]] = []

            def support(
                flags_: npt.NDArray[np.bool_], i: int, _o: npt.NDArray[np.bool_] = others
            ) -> float:
                return float(flags_[_o, i].sum()) / n_others if len(workers) > 1 else 1.0

            for i in sorted(set(range(len(gb))) - set(r.tolist())):
                sev.append((_MAX_BOX_SEVERITY * support(drew, i), "missed", gl[i]))
            for j in extra.tolist():
                backers = 0
                for wj in np.flatnonzero(others).tolist():
                    ob, ol, _, _, _, _, oextra = per_worker[wj]
                    if len(oextra) and (box_iou(cb[j : j + 1], ob[oextra])[0] >= match_iou).any():
                        backers += 1
                sup = 1.0 - backers / n_others if len(workers) > 1 else 1.0
                sev.append((_MAX_BOX_SEVERITY * cs[j] * sup, "extra", cl[j]))
            for i, j in zip(r.tolist(), k.tolist(), strict=True):
                if gl[i] != cl[j]:
                    s_ = _MAX_BOX_SEVERITY * cs[j] * support(same_class, i)
                    sev.append((s_, "wrong_class", gl[i]))
                elif iou[i, j] < iou_threshold:
                    s_ = _MAX_BOX_SEVERITY * (1.0 - iou[i, j] / iou_threshold) * support(tight, i)
                    sev.append((s_, "low_iou", gl[i]))
            if not sev:
                continue
            score = 1.0 - float(np.prod([1.0 - s for s, _, _ in sev]))
            worst = max(sev, key=lambda e: e[0])
            counts = {
                kd: sum(1 for _, x, _ in sev if x == kd)
                for kd in ("missed", "extra", "wrong_class", "low_iou")
            }
            detail = " ".join(f"{kd}={n}" for kd, n in counts.items())
            rows.append((task, worker, worst[1], score, str(worst[2]), detail))
    if not rows:
        return _empty()
    cols = list(zip(*rows, strict=True))
    return _build(
        task=list(cols[0]),
        worker=list(cols[1]),
        reason="vendor_vs_gold",
        kind=list(cols[2]),
        score=list(cols[3]),
        group=list(cols[4]),
        detail=list(cols[5]),
    )


def box_model_vs_label_flags(
    predictions: pd.DataFrame,
    *,
    boxes: pd.DataFrame | None = None,
    gold_boxes: pd.DataFrame | None = None,
    tasks: Sequence[Hashable] | None = None,
    classes: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag items whose boxes a detector contradicts (cleanlab ObjectLab), per labeller.

    Parameters
    ----------
    predictions
        Out-of-sample model boxes with ``score``.
    boxes
        Optional candidates' boxes (with ``worker``); each worker is checked.
    gold_boxes
        Optional gold boxes, checked as worker ``"gold"``.
    tasks
        All items (also those without boxes); default: every task seen.
    classes
        Class order; default: sorted union of labels.

    Returns
    -------
    Flags
        ``reason="model_vs_label"``, ``kind="label_issue"``, ``score = 1 - label_quality``.
    """
    predictions = _check_boxes(predictions, name="predictions", with_score=True)
    parts: list[tuple[object, pd.DataFrame]] = []
    if boxes is not None:
        boxes = _check_candidate_boxes(boxes)
        parts.extend((w, g) for w, g in boxes.groupby(WORKER, sort=True))
    if gold_boxes is not None:
        parts.append((GOLD, _check_boxes(gold_boxes, name="gold_boxes", with_score=False)))
    frames = [predictions] + [p for _, p in parts]
    task_index = pd.Index(_task_list(tasks, *frames))
    if classes is None:
        labels = pd.concat([f[LABEL] for f in frames]).unique().tolist()
        class_index = pd.Index(sorted(labels, key=str))
    else:
        class_index = pd.Index(list(classes))
    out: list[Flags] = []
    for worker, b in parts:
        res = _find_box_label_issues_impl(b, predictions, task_index, class_index)
        f = res.frame
        hit = f["is_label_issue"].to_numpy()
        out.append(
            _build(
                task=f.index.to_numpy()[hit],
                worker=np.full(int(hit.sum()), worker, dtype=object),
                reason="model_vs_label",
                kind="label_issue",
                score=1.0 - f["label_quality"].to_numpy()[hit],
                detail=[f"{int(n)} boxes" for n in f["n_boxes"].to_numpy()[hit]],
            )
        )
    return Flags.concat(out)


def _pair_f1(
    ab: npt.NDArray[np.float64],
    al: npt.NDArray[Any],
    bb: npt.NDArray[np.float64],
    bl: npt.NDArray[Any],
    iou_threshold: float,
) -> tuple[float, list[object]]:
    """F1 of two box sets (same class, IoU >= threshold) and the classes left unmatched."""
    if len(ab) == 0 and len(bb) == 0:
        return 1.0, []
    iou = box_iou(ab, bb)
    same = al[:, None] == bl[None, :] if len(ab) and len(bb) else np.zeros((len(ab), len(bb)), bool)
    r, c = _match(np.where(same, iou, 0.0), min_iou=iou_threshold)
    tp = len(r)
    f1 = 2.0 * tp / (len(ab) + len(bb))
    left = [al[i] for i in set(range(len(ab))) - set(r.tolist())]
    left += [bl[j] for j in set(range(len(bb))) - set(c.tolist())]
    return f1, left


def box_candidates_disagree_flags(
    boxes: pd.DataFrame,
    *,
    iou_threshold: float = 0.5,
    min_disagreement: float = 0.3,
    tasks: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag items where the candidates' boxes agree least with each other.

    Agreement of two candidates is the F1 of their boxes (same class, IoU at
    least ``iou_threshold``; two empty sets agree fully); ``score = 1 - mean
    pairwise F1``. ``group`` is the class most often left unmatched.

    Parameters
    ----------
    boxes
        Candidates' boxes with ``worker``.
    iou_threshold
        IoU for two boxes to count as the same object.
    min_disagreement
        Flag items whose score is at least this.
    tasks
        Items every candidate labelled (a candidate without a box on an item
        drew nothing there); default: every task in ``boxes``.

    Returns
    -------
    Flags
        ``worker=None``, ``reason="candidates_disagree"``, ``kind="box_disagreement"``.
    """
    boxes = _check_candidate_boxes(boxes)
    task_list = _task_list(tasks, boxes)
    workers = list(dict.fromkeys(boxes[WORKER].tolist()))
    by = _split(boxes, [TASK, WORKER])
    rows: list[tuple[Any, float, object, str]] = []
    if len(workers) < 2:
        return _empty()
    for task in task_list:
        sets = [by.get((task, w)) for w in workers]
        f1s: list[float] = []
        left: list[object] = []
        for i in range(len(workers)):
            for j in range(i + 1, len(workers)):
                f1, lft = _pair_f1(
                    _boxes_arr(sets[i]),
                    _labels_arr(sets[i]),
                    _boxes_arr(sets[j]),
                    _labels_arr(sets[j]),
                    iou_threshold,
                )
                f1s.append(f1)
                left.extend(lft)
        score = 1.0 - float(np.mean(f1s))
        if score >= min_disagreement - 1e-12:
            group = pd.Series(left).astype(str).value_counts().index[0] if left else None
            n_boxes = [0 if s is None else len(s) for s in sets]
            rows.append((task, score, group, f"boxes per candidate: {n_boxes}"))
    if not rows:
        return _empty()
    t, s, g, d = zip(*rows, strict=True)
    return _build(
        task=list(t),
        worker=None,
        reason="candidates_disagree",
        kind="box_disagreement",
        score=list(s),
        group=list(g),
        detail=list(d),
    )


def box_gold_may_be_wrong_flags(
    boxes: pd.DataFrame,
    gold_boxes: pd.DataFrame,
    *,
    iou_threshold: float = 0.5,
    min_agreement: float = 0.5,
    tasks: Sequence[Hashable] | None = None,
) -> Flags:
    """Flag items whose gold boxes most candidates contradict in the same way.

    With ``n`` candidates, per gold box: if more than ``min_agreement * n``
    candidates matched it (IoU at least ``iou_threshold``) with one other class,
    gold's class is outvoted; if more than that many did *not* draw it at all,
    gold's box may be spurious. Per candidate box unmatched to gold: if more than
    ``min_agreement * n`` candidates drew it (same class, IoU at least the
    threshold), gold missed it. ``score`` is the largest such share on the item.

    Parameters
    ----------
    boxes
        Candidates' boxes with ``worker``.
    gold_boxes
        Gold boxes.
    iou_threshold
        IoU for two boxes to be the same object.
    min_agreement
        Share of candidates (exclusive) needed to outvote gold.
    tasks
        Gold items; default: tasks in either frame.

    Returns
    -------
    Flags
        ``worker="gold"``, ``reason="gold_may_be_wrong"``, ``kind`` one of
        ``wrong_class``, ``extra`` (gold box nobody drew) or ``missed``.
    """
    boxes = _check_candidate_boxes(boxes)
    gold_boxes = _check_boxes(gold_boxes, name="gold_boxes", with_score=False)
    task_list = _task_list(tasks, gold_boxes, boxes)
    workers = list(dict.fromkeys(boxes[WORKER].tolist()))
    n = len(workers)
    if n == 0:
        return _empty()
    gold_by = _split(gold_boxes, [TASK])
    cand_by = _split(boxes, [TASK, WORKER])
    rows: list[tuple[Any, str, float, object, object, str]] = []
    for task in task_list:
        g = gold_by.get(task)
        gb, gl = _boxes_arr(g), _labels_arr(g)
        matched_any = np.zeros(len(gb))
        other_class: list[list[object]] = [[] for _ in range(len(gb))]
        unmatched: list[tuple[npt.NDArray[np.float64], npt.NDArray[Any]]] = []
        for w in workers:
            c = cand_by.get((task, w))
            cb, cl = _boxes_arr(c), _labels_arr(c)
            iou = box_iou(gb, cb)
            r, k = _match(iou, min_iou=iou_threshold)
            for i, j in zip(r.tolist(), k.tolist(), strict=True):
                matched_any[i] += 1
                if cl[j] != gl[i]:
                    other_class[i].append(cl[j])
            rest = sorted(set(range(len(cb))) - set(k.tolist()))
            unmatched.append((cb[rest], cl[rest]))
        best: tuple[str, float, object, object] | None = None
        for i in range(len(gb)):
            if other_class[i]:
                vc = pd.Series(other_class[i]).value_counts()
                share = float(vc.iloc[0]) / n
                if share > min_agreement and (best is None or share > best[1]):
                    best = ("wrong_class", share, gl[i], vc.index[0])
            absent = (n - matched_any[i]) / n
            if absent > min_agreement and (best is None or absent > best[1]):
                best = ("extra", absent, gl[i], None)
        # Boxes gold lacks: count candidates drawing the same unmatched box.
        for wi, (ub, ul) in enumerate(unmatched):
            for bi in range(len(ub)):
                votes = 1
                for wj, (vb, vl) in enumerate(unmatched):
                    if wj == wi or len(vb) == 0:
                        continue
                    iou = box_iou(ub[bi : bi + 1], vb)[0]
                    if np.any((iou >= iou_threshold) & (vl == ul[bi])):
                        votes += 1
                share = votes / n
                if share > min_agreement and (best is None or share > best[1]):
                    best = ("missed", share, ul[bi], ul[bi])
        if best is not None:
            kind, share, cls, sugg = best
            rows.append((task, kind, share, str(cls), sugg, f"{kind}: {share:.0%} of candidates"))
    if not rows:
        return _empty()
    cols = list(zip(*rows, strict=True))
    return _build(
        task=list(cols[0]),
        worker=np.full(len(rows), GOLD, dtype=object),
        reason="gold_may_be_wrong",
        kind=list(cols[1]),
        score=list(cols[2]),
        group=list(cols[3]),
        suggested=list(cols[4]),
        detail=list(cols[5]),
    )
