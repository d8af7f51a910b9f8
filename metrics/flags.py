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

Box flags live in :mod:`metrics.box_flags` (re-exported here). Every function returns
:class:`Flags`, a frozen wrapper around a frame with
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

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics._flag_frame import (
    FLAG_COLUMNS,
    GOLD,
    FlagKind,
    FlagReason,
    Flags,
    _build,
    _pair,
    disagreement_groups,
    precision_at_k,
)
from metrics.box_flags import (
    box_candidates_disagree_flags,
    box_gold_may_be_wrong_flags,
    box_model_vs_label_flags,
    box_vendor_vs_gold_flags,
)
from metrics.label_issues import (
    FilterBy,
    QualityMethod,
    _check_labels,
    _check_pred_probs,
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
    "tied_vote_flags",
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


def tied_vote_flags(ties: pd.DataFrame, gold: pd.Series[Any]) -> Flags:
    """Flag every candidate whose annotators tied on a gold item (no consensus answer).

    Under :func:`metrics.aggregation.majority_vote`'s default ``ties="wrong"`` such an
    item has no consensus label and is scored as wrong; this puts it in the review queue
    next to the wrong answers (same reason, ``vendor_vs_gold``), so what is scored wrong
    is flagged. ``score = confidence * (1 - [gold tied] / n_tied)``: the chance that
    picking one of the tied classes at random would be wrong, times the candidate's own
    mean score (1 when absent).

    Parameters
    ----------
    ties
        One row per (task, candidate) tie: ``task``, ``worker``, ``tied_classes`` (the
        tuple of classes that tied) [, ``score``].
    gold
        Gold labels indexed by ``task``; ties on tasks without gold are ignored.

    Returns
    -------
    Flags
        ``reason="vendor_vs_gold"``, ``kind="tied_vote"``, ``suggested_label`` = gold,
        ``group`` = gold and the tied classes (``"a | b | c"``).

    Examples
    --------
    >>> import pandas as pd
    >>> ties = pd.DataFrame({"task": ["t1", "t2"], "worker": ["A", "A"],
    ...                      "tied_classes": [("cat", "dog"), ("cat", "dog")]})
    >>> gold = pd.Series({"t1": "cat", "t2": "bird"})
    >>> tied_vote_flags(ties, gold).frame[["task", "score", "detail"]].values.tolist()
    [['t2', 1.0, 'gold=bird tied=cat / dog'], ['t1', 0.5, 'gold=cat tied=cat / dog']]
    """
    if not isinstance(ties, pd.DataFrame):
        raise TypeError(f"ties must be a pandas DataFrame, got {type(ties).__name__}")
    missing = [c for c in (TASK, WORKER, "tied_classes") if c not in ties.columns]
    if missing:
        raise ValueError(f"ties lacks column(s) {missing}; needs task, worker, tied_classes")
    gold = _check_labels(gold, name="gold")
    t = ties[ties[TASK].isin(gold.index).to_numpy()]
    g = gold.reindex(t[TASK]).to_numpy()
    tied = [tuple(c) for c in t["tied_classes"]]
    if any(len(c) < 2 for c in tied):
        raise ValueError("ties.tied_classes must hold at least two classes per row")
    p_wrong = np.array(
        [1.0 - (1.0 if y in c else 0.0) / len(c) for y, c in zip(g, tied, strict=True)]
    )
    return _build(
        task=t[TASK].to_numpy(),
        worker=t[WORKER].to_numpy(),
        reason="vendor_vs_gold",
        kind="tied_vote",
        score=_confidence(t) * p_wrong,
        group=[" | ".join(sorted({str(y), *map(str, c)})) for y, c in zip(g, tied, strict=True)],
        suggested=g,
        detail=[f"gold={y!s} tied={' / '.join(map(str, c))}" for y, c in zip(g, tied, strict=True)],
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
