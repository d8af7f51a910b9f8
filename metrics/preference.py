"""Pairwise preference metrics: agreement, kappa, position/length bias, Bradley-Terry.

Label value shape (the ``preference`` task type): one of ``"A"``, ``"B"``, ``"tie"``,
always in the *canonical* frame of the item (``A`` is the item's first response as
stored in the golden set). When an item was *presented swapped* (response B shown
first), the annotator's answer is mapped back to the canonical frame before scoring and
the presentation is recorded as ``swapped=True``; an optional ``strength`` (e.g. 1 =
slightly, 2 = much better) is carried but not scored here.

Ties: ``agreement_with_ties`` counts a tie as a third class (tie == tie is agreement);
``agreement_without_ties`` keeps only the items where neither gold nor label is a tie.

All functions are pure (no I/O, no global RNG).

Examples
--------
>>> import pandas as pd
>>> gold = pd.Series(["A", "B", "tie", "A"])
>>> labels = pd.Series(["A", "A", "tie", "A"])
>>> preference_agreement(gold, labels, ties="with").value
0.75
>>> round(preference_agreement(gold, labels, ties="without").value, 4)
0.6667
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score

from metrics.types import ConfidenceInterval, MetricResult

__all__ = [
    "PREFERENCE_LABELS",
    "BradleyTerry",
    "Ties",
    "bradley_terry",
    "bradley_terry_many",
    "check_preferences",
    "kendall_tau_many",
    "length_bias",
    "position_bias",
    "preference_agreement",
    "preference_kappa",
    "ranking_correlation",
    "swap_consistency",
    "transitivity",
]

PREFERENCE_LABELS: tuple[str, ...] = ("A", "B", "tie")
Ties = Literal["with", "without"]
FloatArray = npt.NDArray[np.float64]


def check_preferences(values: pd.Series[Any], *, what: str) -> pd.Series[Any]:
    """Refuse any value outside ``A``/``B``/``tie`` (naming the tasks); drop missing.

    Raises
    ------
    TypeError
        Not a Series.
    ValueError
        Values outside :data:`PREFERENCE_LABELS` (the first five named).
    """
    if not isinstance(values, pd.Series):
        raise TypeError(f"{what} must be a pandas Series indexed by task")
    present = values.dropna()
    bad = present[~present.isin(PREFERENCE_LABELS)]
    if len(bad):
        shown = {str(k): v for k, v in list(bad.items())[:5]}
        raise ValueError(f"{what} has values outside 'A', 'B', 'tie' at tasks {shown}")
    return present


def _normal_ci(values: FloatArray, level: float) -> ConfidenceInterval | None:
    if values.size < 2:
        return None
    z = float(stats.norm.ppf(0.5 + level / 2))
    half = z * float(values.std(ddof=1)) / float(np.sqrt(values.size))
    mean = float(values.mean())
    return ConfidenceInterval(mean - half, mean + half, level)


def preference_agreement(
    gold: pd.Series[Any], labels: pd.Series[Any], *, ties: Ties = "with"
) -> MetricResult:
    """Share of items where the label equals gold (per-item 0/1 in ``per_item``).

    Parameters
    ----------
    gold, labels
        ``A``/``B``/``tie`` per task (same index; unlabelled tasks are left out).
    ties
        ``"with"``: tie is a third class; ``"without"``: items where gold or label is
        a tie are left out.
    """
    gold = check_preferences(gold, what="gold")
    labels = check_preferences(labels, what="labels")
    common = gold.index.intersection(labels.index)
    g, lab = gold.loc[common], labels.loc[common]
    if ties == "without":
        keep = (g != "tie") & (lab != "tie")
        g, lab = g[keep], lab[keep]
    hit = (g.to_numpy(dtype=object) == lab.to_numpy(dtype=object)).astype(np.float64)
    value = float(hit.mean()) if hit.size else float("nan")
    return MetricResult(
        f"agreement_{ties}_ties",
        value,
        per_item=pd.Series(hit, index=g.index),
        params={"ties": ties},
    )


def preference_kappa(gold: pd.Series[Any], labels: pd.Series[Any]) -> MetricResult:
    """Cohen's kappa over the three classes ``A``/``B``/``tie`` (scikit-learn's formula)."""
    gold = check_preferences(gold, what="gold")
    labels = check_preferences(labels, what="labels")
    common = gold.index.intersection(labels.index)
    g = gold.loc[common].astype(str).to_numpy()
    lab = labels.loc[common].astype(str).to_numpy()
    if g.size == 0 or (len(set(g) | set(lab)) < 2):
        return MetricResult("cohen_kappa", float("nan"))
    value = float(cohen_kappa_score(g, lab, labels=list(PREFERENCE_LABELS)))
    return MetricResult("cohen_kappa", value)


def position_bias(
    gold: pd.Series[Any],
    labels: pd.Series[Any],
    swapped: pd.Series[bool],
    *,
    level: float = 0.95,
) -> MetricResult:
    """Preference for whichever response is *shown first*, controlling for gold.

    Among non-tie answers, ``first`` is 1 when the annotator picked the response shown
    first. The bias is ``mean(first - gold_first)`` where ``gold_first`` is 1 when gold
    prefers the response shown first (0.5 for a gold tie): 0 for an unbiased annotator,
    ``+b`` when a share ``b`` of answers is moved to the first position. Needs items
    presented both ways (``swapped`` True on a share of items); interval: normal
    approximation of the mean.
    """
    gold = check_preferences(gold, what="gold")
    labels = check_preferences(labels, what="labels")
    common = labels.index.intersection(gold.index).intersection(swapped.index)
    lab = labels.loc[common]
    keep = (lab != "tie").to_numpy()
    lab = lab[keep]
    sw = swapped.loc[lab.index].astype(bool).to_numpy()
    g = gold.loc[lab.index].to_numpy(dtype=object)
    first_label = np.where(sw, "B", "A")
    picked_first = (lab.to_numpy(dtype=object) == first_label).astype(np.float64)
    gold_first = np.where(g == "tie", 0.5, (g == first_label).astype(np.float64))
    diff = picked_first - gold_first
    value = float(diff.mean()) if diff.size else float("nan")
    both_ways = bool(sw.any() and (~sw).any())
    return MetricResult(
        "position_bias",
        value,
        per_item=pd.Series(diff, index=lab.index),
        params={"presented_both_ways": both_ways},
        ci=_normal_ci(diff, level),
    )


def length_bias(
    gold: pd.Series[Any],
    labels: pd.Series[Any],
    length_a: pd.Series[float],
    length_b: pd.Series[float],
    *,
    level: float = 0.95,
) -> MetricResult:
    """Preference for the *longer* response beyond what gold prefers.

    Over items with responses of different length and a non-tie label, the per-item
    value is ``picked_longer - gold_longer`` (``gold_longer`` is 0.5 for a gold tie):
    0 when the annotator favours the longer response no more than gold does.
    """
    gold = check_preferences(gold, what="gold")
    labels = check_preferences(labels, what="labels")
    common = labels.index.intersection(gold.index).intersection(length_a.index)
    common = common.intersection(length_b.index)
    la = length_a.loc[common].to_numpy(dtype=np.float64)
    lb = length_b.loc[common].to_numpy(dtype=np.float64)
    lab = labels.loc[common].to_numpy(dtype=object)
    keep = (la != lb) & (lab != "tie")
    longer = np.where(la > lb, "A", "B")[keep]
    g = gold.loc[common].to_numpy(dtype=object)[keep]
    picked = (lab[keep] == longer).astype(np.float64)
    gold_longer = np.where(g == "tie", 0.5, (g == longer).astype(np.float64))
    diff = picked - gold_longer
    value = float(diff.mean()) if diff.size else float("nan")
    return MetricResult(
        "length_bias",
        value,
        per_item=pd.Series(diff, index=common[keep]),
        ci=_normal_ci(diff, level),
    )


def swap_consistency(answers: pd.DataFrame) -> MetricResult:
    """Share of (task, worker) pairs answered both ways that agree after un-swapping.

    Parameters
    ----------
    answers
        Columns ``task``, ``worker``, ``label`` (canonical frame) and ``swapped``.
    """
    for column in ("task", "worker", "label", "swapped"):
        if column not in answers.columns:
            raise ValueError(f"answers needs a {column!r} column")
    check_preferences(answers["label"], what="answers['label']")
    frame = answers.assign(swapped=answers["swapped"].astype(bool))
    plain = frame[~frame["swapped"]].drop_duplicates(["task", "worker"])
    turned = frame[frame["swapped"]].drop_duplicates(["task", "worker"])
    pairs = plain.merge(turned, on=["task", "worker"], suffixes=("_plain", "_swapped"))
    same = (pairs["label_plain"] == pairs["label_swapped"]).to_numpy(dtype=np.float64)
    value = float(same.mean()) if same.size else float("nan")
    params = {"n_pairs": int(same.size), "n_same": int(same.sum())}
    return MetricResult("swap_consistency", value, params=params)


def _majority(frame: pd.DataFrame) -> dict[tuple[Any, Any], int]:
    """Per unordered pair ``(x, y)`` with ``x < y``: +1 when x is preferred by more
    answers, -1 when y is, 0 for a tie (including a tied count)."""
    a = frame["a"].to_numpy(dtype=object)
    b = frame["b"].to_numpy(dtype=object)
    lab = frame["label"].to_numpy(dtype=object)
    net: dict[tuple[Any, Any], int] = {}
    for x, y, v in zip(a, b, lab, strict=True):
        if x == y:
            continue
        sign = 1 if v == "A" else -1 if v == "B" else 0
        key, sign = ((x, y), sign) if str(x) < str(y) else ((y, x), -sign)
        net[key] = net.get(key, 0) + sign
    return {k: int(np.sign(v)) for k, v in net.items()}


def _triads(net: dict[tuple[Any, Any], int]) -> tuple[int, int, int]:
    """``(cyclic, transitive, with a tie)`` among the triads whose three pairs were compared."""
    nodes = sorted({n for pair in net for n in pair}, key=str)
    cyclic = transitive = tied = 0
    for x, y, z in combinations(nodes, 3):
        xy, yz, xz = net.get((x, y)), net.get((y, z)), net.get((x, z))
        if xy is None or yz is None or xz is None:
            continue
        if 0 in (xy, yz, xz):
            tied += 1
            continue
        # x>y and y>z and z>x, or the reverse cycle: (+1, +1, -1) or (-1, -1, +1)
        if xy == yz and xz == -xy:
            cyclic += 1
        else:
            transitive += 1
    return cyclic, transitive, tied


def transitivity(comparisons: pd.DataFrame) -> MetricResult:
    """Share of intransitive (cyclic) triads in one annotator's or vendor's preferences.

    Items that share a prompt are compared in pairs (``a`` vs ``b``); three responses
    x, y, z all compared with each other form a triad, intransitive when the preferences
    go round (x over y, y over z, z over x). Several answers on one pair count by majority
    (a tied count is a tie). Triads with a tie are left out of the share (their number is
    in ``params["n_with_ties"]``): the value is ``cyclic / (cyclic + transitive)``, 0 for
    perfectly consistent preferences, NaN without a complete strict triad.

    Parameters
    ----------
    comparisons
        Columns ``a``, ``b`` (the compared responses or models), ``label``
        (``A`` = ``a`` preferred, ``B``, ``tie``) and optionally ``group`` (the prompt:
        triads are formed within a group; without it, over all comparisons).

    Returns
    -------
    MetricResult
        ``per_item``: the share per group; ``params``: ``n_triads`` (strict, complete),
        ``n_intransitive``, ``n_with_ties``.

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"a": ["x", "y", "z"], "b": ["y", "z", "x"], "label": ["A", "A", "A"]})
    >>> transitivity(c).value
    1.0
    >>> transitivity(c.assign(label=["A", "A", "B"])).value
    0.0
    """
    for column in ("a", "b", "label"):
        if column not in comparisons.columns:
            raise ValueError(f"comparisons needs a {column!r} column")
    check_preferences(comparisons["label"], what="comparisons['label']")
    frame = comparisons.dropna(subset=["label"])
    groups = frame.groupby("group", sort=True) if "group" in frame.columns else [("all", frame)]
    per_group: dict[Any, float] = {}
    cyclic = transitive = tied = 0
    for name, part in groups:
        c, t, ti = _triads(_majority(part))
        cyclic, transitive, tied = cyclic + c, transitive + t, tied + ti
        if c + t:
            per_group[name] = c / (c + t)
    n = cyclic + transitive
    return MetricResult(
        "intransitive_triads",
        cyclic / n if n else float("nan"),
        per_item=pd.Series(per_group, dtype=np.float64),
        params={"n_triads": n, "n_intransitive": cyclic, "n_with_ties": tied},
    )


@dataclass(frozen=True, eq=False)
class BradleyTerry:
    """Bradley-Terry strengths of the compared responses or models.

    Attributes
    ----------
    scores
        Log-strengths (mean 0), index ``item``, sorted descending.
    ci
        Percentile bootstrap interval of each score (columns ``low``, ``high``), or
        ``None`` when no resampling was asked for.
    n_iter
        Iterations of the last fit.
    """

    scores: pd.Series[float]
    ci: pd.DataFrame | None
    n_iter: int


def _bt_fit(
    winners: npt.NDArray[np.intp],
    losers: npt.NDArray[np.intp],
    weights: FloatArray,
    n: int,
    *,
    tol: float,
    max_iter: int,
) -> tuple[FloatArray, int]:
    wins = np.zeros((n, n))
    np.add.at(wins, (winners, losers), weights)
    games = wins + wins.T
    total_wins = wins.sum(axis=1)
    p = np.ones(n)
    for it in range(1, max_iter + 1):
        denom = (games / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, total_wins / np.where(denom > 0, denom, 1.0), p)
        new = np.maximum(new, 1e-300)
        new /= np.exp(np.log(new).mean())
        if np.max(np.abs(np.log(new) - np.log(p))) < tol:
            return np.log(new), it
        p = new
    return np.log(p), max_iter


def bradley_terry_many(
    wins: npt.ArrayLike, *, tol: float = 1e-9, max_iter: int = 10_000
) -> FloatArray:
    """Bradley-Terry log-strengths (mean 0) of a stack of win tables, all fitted at once.

    The MM iteration of :func:`bradley_terry` on every table of ``wins`` (shape
    ``(k, m, m)``, ``wins[r, i, j]`` = how often ``i`` beat ``j`` in table ``r``; a tie half
    a win each way), each stopped when its largest change of a log-strength is below
    ``tol``. Returns ``(k, m)``.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([[[0, 2], [1, 0]], [[0, 1], [1, 0]]], dtype=float)
    >>> np.round(bradley_terry_many(w), 6).tolist()
    [[0.346574, -0.346574], [0.0, 0.0]]
    """
    table = np.asarray(wins, dtype=np.float64)
    if table.ndim != 3 or table.shape[1] != table.shape[2]:
        raise ValueError(f"wins must have shape (k, m, m), got {table.shape}")
    k, m, _ = table.shape
    games = table + table.transpose(0, 2, 1)
    total = table.sum(axis=2)
    p = np.ones((k, m))
    active = np.arange(k)
    for _ in range(max_iter):
        if active.size == 0:
            break
        pa = p[active]
        denom = (games[active] / (pa[:, :, None] + pa[:, None, :])).sum(axis=2)
        new = np.where(denom > 0, total[active] / np.where(denom > 0, denom, 1.0), pa)
        new = np.maximum(new, 1e-300)
        new /= np.exp(np.log(new).mean(axis=1, keepdims=True))
        moved = np.max(np.abs(np.log(new) - np.log(pa)), axis=1)
        p[active] = new
        active = active[moved >= tol]
    return np.log(p)


def kendall_tau_many(x: npt.ArrayLike, y: npt.ArrayLike) -> FloatArray:
    """Kendall's tau-b of each row of ``x`` with the same row of ``y`` (both ``(k, m)``):
    scipy's ``kendalltau`` row by row (NaN where a row is all ties).

    Examples
    --------
    >>> kendall_tau_many([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    array([ 1., -1.])
    """
    a, b = np.atleast_2d(np.asarray(x, dtype=np.float64)), np.atleast_2d(np.asarray(y, np.float64))
    i, j = np.triu_indices(a.shape[1], 1)
    sa, sb = np.sign(a[:, i] - a[:, j]), np.sign(b[:, i] - b[:, j])
    den = np.sqrt(np.count_nonzero(sa, axis=1) * np.count_nonzero(sb, axis=1).astype(np.float64))
    num = (sa * sb).sum(axis=1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def bradley_terry(
    comparisons: pd.DataFrame,
    *,
    n_resamples: int = 0,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
    tol: float = 1e-12,
    max_iter: int = 100_000,
) -> BradleyTerry:
    """Maximum-likelihood Bradley-Terry log-strengths (Hunter's MM algorithm).

    Parameters
    ----------
    comparisons
        Columns ``a``, ``b`` (compared items) and ``label`` (``A``/``B``/``tie``); a tie
        counts half a win to each side.
    n_resamples
        Bootstrap resamples of the comparisons for the intervals (0: none).
    tol
        Convergence on the largest change of a log-strength. Matches ``choix``'s
        maximum-likelihood estimate to ~1e-9 when every item has won and lost
        (strongly connected comparison graph); otherwise the MLE does not exist and
        strengths diverge.

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"a": ["x", "x", "y"], "b": ["y", "y", "x"], "label": ["A", "A", "A"]})
    >>> bt = bradley_terry(c)
    >>> round(float(bt.scores["x"] - bt.scores["y"]), 6)
    0.693147
    """
    for column in ("a", "b", "label"):
        if column not in comparisons.columns:
            raise ValueError(f"comparisons needs a {column!r} column")
    check_preferences(comparisons["label"], what="comparisons['label']")
    names = pd.Index(sorted(set(comparisons["a"]) | set(comparisons["b"]), key=str), name="item")
    a = names.get_indexer(comparisons["a"]).astype(np.intp)
    b = names.get_indexer(comparisons["b"]).astype(np.intp)
    lab = comparisons["label"].to_numpy(dtype=object)

    def arrays(idx: npt.NDArray[np.intp]) -> tuple[Any, Any, FloatArray]:
        la, lb, ll = a[idx], b[idx], lab[idx]
        tie = ll == "tie"
        win = np.concatenate([np.where(ll == "B", lb, la), lb[tie]])
        lose = np.concatenate([np.where(ll == "B", la, lb), la[tie]])
        w = np.concatenate([np.where(tie, 0.5, 1.0), np.full(int(tie.sum()), 0.5)])
        return win, lose, w

    all_idx = np.arange(len(comparisons), dtype=np.intp)
    point, n_iter = _bt_fit(*arrays(all_idx), len(names), tol=tol, max_iter=max_iter)
    ci = None
    if n_resamples > 0:
        gen = rng if rng is not None else np.random.default_rng(0)
        draws = np.empty((n_resamples, len(names)))
        for r in range(n_resamples):
            idx = gen.integers(0, len(comparisons), len(comparisons)).astype(np.intp)
            draws[r], _ = _bt_fit(*arrays(idx), len(names), tol=1e-9, max_iter=10_000)
        alpha = (1 - level) / 2
        ci = pd.DataFrame(
            {
                "low": np.quantile(draws, alpha, axis=0),
                "high": np.quantile(draws, 1 - alpha, axis=0),
            },
            index=names,
        )
    scores = pd.Series(point, index=names).sort_values(ascending=False)
    if ci is not None:
        ci = ci.loc[scores.index]
    return BradleyTerry(scores=scores, ci=ci, n_iter=n_iter)


def ranking_correlation(
    scores: pd.Series[float],
    reference: pd.Series[float],
    *,
    method: Literal["kendall", "spearman"] = "kendall",
) -> MetricResult:
    """Rank correlation of two rankings over their common items (scipy's tau-b / rho)."""
    common = scores.index.intersection(reference.index)
    if len(common) < 2:
        return MetricResult(f"{method}_tau" if method == "kendall" else "spearman_rho", np.nan)
    x = scores.loc[common].to_numpy(dtype=np.float64)
    y = reference.loc[common].to_numpy(dtype=np.float64)
    if method == "kendall":
        return MetricResult("kendall_tau", float(stats.kendalltau(x, y).statistic))
    return MetricResult("spearman_rho", float(stats.spearmanr(x, y).statistic))
