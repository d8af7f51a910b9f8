"""The verdict in words: sample-size advice for the leaders and the summary sentences.

Split from :mod:`reports.ranking`, which computes the numbers these sentences quote.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from scipy import stats

from reports.inputs import RankingConfig, SystemEvaluation
from reports.results import Estimate, PairwiseComparison, SampleSizeAdvice, SystemRanking

__all__ = [
    "leader_advice",
    "summary_sentences",
    "sample_size_mcnemar",
    "sample_size_paired",
    "sample_size_bootstrap",
]

FloatArray = npt.NDArray[np.float64]
_NEGLIGIBLE = 1e-9  # differences below this are rounding noise, i.e. zero
_PRACTICAL_FACTOR = 100  # needing more than 100x the golden set means "practically tied"


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def sample_size_mcnemar(
    a: FloatArray, b: FloatArray, *, alpha: float, power: float
) -> tuple[float, int | None]:
    """Items needed for McNemar's test to detect the observed paired difference.

    Connor (1987): ``n = (z_{1-a/2} sqrt(psi) + z_{power} sqrt(psi - d^2))^2 / d^2`` with
    ``psi`` the discordant share and ``d`` the difference of the two discordant shares.

    Returns
    -------
    (float, int or None)
        The observed difference in accuracy and the items needed (``None`` when it is 0).

    Examples
    --------
    >>> import numpy as np
    >>> a, b = np.ones(200), np.ones(200)
    >>> a[:6] = 0; b[6:16] = 0   # a wrong on 6 items b got right, b wrong on 10 others
    >>> d, n = sample_size_mcnemar(a, b, alpha=0.05, power=0.8)
    >>> round(d, 3), n
    (0.02, 1568)
    """
    n = a.size
    p10 = float(np.count_nonzero((a == 1) & (b == 0))) / n
    p01 = float(np.count_nonzero((a == 0) & (b == 1))) / n
    delta = p10 - p01
    psi = p10 + p01
    if delta == 0:
        return delta, None
    za = stats.norm.ppf(1 - alpha / 2)
    zb = stats.norm.ppf(power)
    need = (za * np.sqrt(psi) + zb * np.sqrt(max(psi - delta**2, 0.0))) ** 2 / delta**2
    return delta, int(np.ceil(need))


def sample_size_paired(
    a: FloatArray, b: FloatArray, *, alpha: float, power: float
) -> tuple[float, int | None]:
    """Items needed for a paired test to detect the mean per-item difference of ``a - b``.

    For a continuous per-item metric (e.g. per-image F1), the normal approximation
    ``n = ((z_{1-a/2} + z_{power}) sd_d / d)^2`` with ``d`` the mean and ``sd_d`` the
    standard deviation of the per-item differences.

    Returns
    -------
    (float, int or None)
        The observed mean difference and the items needed (``None`` when it is 0).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.r_[np.full(50, 0.9), np.full(50, 0.7)]
    >>> b = np.r_[np.full(50, 0.8), np.full(50, 0.7)]
    >>> d, n = sample_size_paired(a, b, alpha=0.05, power=0.8)
    >>> round(d, 3), n
    (0.05, 8)
    """
    diffs = np.nan_to_num(a, nan=0.0) - np.nan_to_num(b, nan=0.0)
    delta = float(diffs.mean()) if diffs.size else 0.0
    if abs(delta) < _NEGLIGIBLE:
        return delta, None
    sd = float(diffs.std(ddof=1)) if diffs.size > 1 else 0.0
    if sd == 0:
        return delta, int(diffs.size)
    za = stats.norm.ppf(1 - alpha / 2)
    zb = stats.norm.ppf(power)
    return delta, int(np.ceil(((za + zb) * sd / abs(delta)) ** 2))


def sample_size_bootstrap(
    diff: float, diffs: FloatArray, n: int, *, alpha: float, power: float
) -> int | None:
    """Items needed to detect ``diff`` given its bootstrap SD at ``n`` items (SD ~ 1/sqrt(n))."""
    sd = float(np.nanstd(diffs, ddof=1))
    if abs(diff) < _NEGLIGIBLE or not np.isfinite(sd):
        return None
    if sd == 0:
        return n
    za = stats.norm.ppf(1 - alpha / 2)
    zb = stats.norm.ppf(power)
    return int(np.ceil(n * ((za + zb) * sd / abs(diff)) ** 2))


def leader_advice(
    ranked: list[int],
    systems: Sequence[SystemEvaluation],
    scores: FloatArray,
    binary: bool,
    score_point: FloatArray,
    rep_score: FloatArray,
    cfg: RankingConfig,
    sig_score: dict[tuple[int, int], bool],
    comparisons: list[PairwiseComparison],
) -> list[SampleSizeAdvice]:
    """How well the golden set separates the two leaders, on the score and on accuracy.

    ``scores`` is the ``(n_items, n_systems)`` per-item matrix (0/1 when ``binary``).
    """
    if len(ranked) < 2:
        return []
    a, b = ranked[0], ranked[1]
    n = scores.shape[0]
    out: list[SampleSizeAdvice] = []
    name_a, name_b = systems[a].name, systems[b].name

    diff = float(score_point[a] - score_point[b])
    separated = sig_score.get((min(a, b), max(a, b)), False)
    need = sample_size_bootstrap(
        diff, rep_score[:, a] - rep_score[:, b], n, alpha=cfg.alpha, power=cfg.power
    )
    out.append(_advice_row(name_a, name_b, "score", separated, diff, n, need, cfg))

    acc_cmp = next(
        (c for c in comparisons if c.quantity == "accuracy" and {c.a, c.b} == {name_a, name_b}),
        None,
    )
    acc_sep = bool(acc_cmp and acc_cmp.significant)
    if binary:
        d_acc, need_acc = sample_size_mcnemar(
            scores[:, a], scores[:, b], alpha=cfg.alpha, power=cfg.power
        )
    else:
        d_acc, need_acc = sample_size_paired(
            scores[:, a], scores[:, b], alpha=cfg.alpha, power=cfg.power
        )
    out.append(_advice_row(name_a, name_b, "accuracy", acc_sep, d_acc, n, need_acc, cfg))
    return out


def _advice_row(
    a: str,
    b: str,
    quantity: str,
    separated: bool,
    diff: float,
    n: int,
    need: int | None,
    cfg: RankingConfig,
) -> SampleSizeAdvice:
    more = None if need is None else max(0, need - n)
    what = "score" if quantity == "score" else "accuracy"
    if separated:
        message = (
            f"The golden set ({_fmt_int(n)} items) separates {a} from {b} on {what} "
            f"(difference {diff:+.3f}, significant at alpha={cfg.alpha} after Holm)."
        )
    elif need is None:
        message = (
            f"{a} and {b} are tied on {what}: the observed difference is zero, so no "
            f"number of extra golden items would separate them on this evidence."
        )
    elif need > _PRACTICAL_FACTOR * n:
        message = (
            f"{a} and {b} are practically tied on {what} (observed difference "
            f"{diff:+.4f}): separating them would take more than {_PRACTICAL_FACTOR} times "
            f"the current golden set of {_fmt_int(n)} items (about {_fmt_int(need)})."
        )
    else:
        message = (
            f"The golden set ({_fmt_int(n)} items) is too small to separate {a} from {b} "
            f"on {what} (observed difference {diff:+.4f}). Detecting a difference this "
            f"size with {cfg.power:.0%} power at alpha={cfg.alpha} takes about "
            f"{_fmt_int(need)} items, i.e. about {_fmt_int(more or 0)} more."
        )
    return SampleSizeAdvice(
        leader=a,
        runner_up=b,
        quantity="score" if quantity == "score" else "accuracy",
        separated=separated,
        observed_difference=diff,
        current_items=n,
        required_items=need,
        additional_items=more,
        message=message,
    )


def summary_sentences(
    rows: list[SystemRanking],
    groups: list[list[int]],
    systems: Sequence[SystemEvaluation],
    advice: list[SampleSizeAdvice],
    notes: list[str],
    cfg: RankingConfig,
    front: list[bool],
) -> list[str]:
    out: list[str] = []
    ranked = [r for r in rows if r.rank is not None]
    conf = f"{cfg.confidence:.0%}"
    if not ranked:
        out.append("No system meets every hard constraint, so none is ranked.")
    else:
        top = ranked[0]
        score = top.score or Estimate(value=None)
        value = f"{score.value:.3f}" if score.value is not None else "n/a"
        interval = (
            f" ({conf} interval {score.low:.3f}-{score.high:.3f})"
            if score.low is not None and score.high is not None
            else ""
        )
        if groups and len(groups[0]) > 1:
            tied = [systems[j].name for j in groups[0]]
            out.append(
                f"{top.name} has the best score, {value}{interval}, but it is "
                f"statistically tied with {', '.join(tied[1:])}: no paired test separates "
                f"them after Holm correction."
            )
        else:
            out.append(
                f"Pick {top.name}: best score {value}{interval}, "
                "significantly ahead of every other ranked system."
                if len(ranked) > 1
                else f"{top.name} is the only system that meets every constraint."
            )
    for r in rows:
        if r.rank is None:
            out.append(f"{r.name} is not ranked: {'; '.join(r.violations)}.")
    out.extend(a.message for a in advice if not a.separated)
    names_front = [s.name for s, f in zip(systems, front, strict=True) if f]
    if names_front:
        out.append(f"Cost-accuracy Pareto front: {', '.join(names_front)}.")
    out.extend(notes)
    return out
