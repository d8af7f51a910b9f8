"""The verdict in words: sample-size advice for the leaders and the summary sentences.

Split from :mod:`reports.ranking`, which computes the numbers these sentences quote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from scipy.special import ndtri  # scipy.stats.norm.ppf without importing scipy.stats

from metrics.intervals import format_p_value
from reports._format import money
from reports.inputs import RankingConfig, SystemEvaluation
from reports.results import (
    BoxBiasRow,
    Estimate,
    PairwiseComparison,
    SampleSizeAdvice,
    SystemRanking,
    Verdict,
)

__all__ = [
    "GROUP_RULE",
    "SELF_CONSISTENCY_FLOOR",
    "leader_advice",
    "summary_sentences",
    "label_bias_sentences",
    "sample_size_mcnemar",
    "sample_size_paired",
    "sample_size_bootstrap",
]

FloatArray = npt.NDArray[np.float64]
_NEGLIGIBLE = 1e-9  # differences below this are rounding noise, i.e. zero
_PRACTICAL_FACTOR = 100  # needing more than 100x the golden set means "practically tied"

GROUP_RULE = (
    "Letters are a compact letter display of the paired score tests: two ranked systems "
    "that share a letter are not separated by the Holm-adjusted test at alpha={alpha} "
    "(adjusted p <= alpha rejects); two with no letter in common are."
)


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def sample_size_mcnemar(
    a: FloatArray, b: FloatArray, *, alpha: float, power: float
) -> tuple[float, int | None]:
    """Items needed for McNemar's exact test to detect the observed paired difference.

    Connor (1987): ``n0 = (z_{1-a/2} sqrt(psi) + z_{power} sqrt(psi - d^2))^2 / d^2``
    with ``psi`` the discordant share and ``d`` the difference of the two discordant
    shares, then Fleiss' continuity correction
    ``n = n0 / 4 (1 + sqrt(1 + 4 / (n0 |d|)))^2`` because the test is exact (discrete):
    without it the exact test reaches only 77-79 % power at ``n0`` when 80 % is asked
    (computed exactly over the binomial outcomes); with it, 80-81 %.

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
    (0.02, 1666)
    """
    n = a.size
    p10 = float(np.count_nonzero((a == 1) & (b == 0))) / n
    p01 = float(np.count_nonzero((a == 0) & (b == 1))) / n
    delta = p10 - p01
    psi = p10 + p01
    if delta == 0:
        return delta, None
    za = ndtri(1 - alpha / 2)
    zb = ndtri(power)
    n0 = (za * np.sqrt(psi) + zb * np.sqrt(max(psi - delta**2, 0.0))) ** 2 / delta**2
    need = n0 / 4.0 * (1.0 + np.sqrt(1.0 + 4.0 / (n0 * abs(delta)))) ** 2
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
    za = ndtri(1 - alpha / 2)
    zb = ndtri(power)
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
    za = ndtri(1 - alpha / 2)
    zb = ndtri(power)
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


def _p(p: float) -> str:
    text = format_p_value(p)
    return text if text.startswith("<") else f"= {text}"


def _interval(e: Estimate | None, digits: int = 3) -> str:
    if e is None or e.low is None or e.high is None:
        return ""
    return f"{e.low:+.{digits}f} to {e.high:+.{digits}f}"


def _components_sentence(
    ranked: list[SystemRanking],
    weights: dict[str, float],
    cfg: RankingConfig,
    currencies: Mapping[str, str],
) -> str:
    """Each ranked system's score as its raw quantities and normalised components.

    A cost is shown in its system's currency (``currencies``, from its price list); a system
    without a price list has its amount shown bare rather than in a guessed currency.
    """
    total = sum(weights.values()) or 1.0
    terms = " + ".join(
        f"{weights[k] / total:.2f} x {k}" for k in ("accuracy", "speed", "cost") if weights[k] > 0
    )
    speed_name = "p95 latency" if cfg.speed == "p95_latency" else "throughput"
    parts: list[str] = []
    for r in ranked[:12]:
        score = r.score.value if r.score is not None and r.score.value is not None else None
        bits = [f"accuracy {r.accuracy.value:.3f} -> {r.components.get('accuracy', 0.0):.3f}"]
        if weights["speed"] > 0:
            if cfg.speed == "p95_latency" and r.p95_latency_s and r.p95_latency_s.value:
                raw = f"{r.p95_latency_s.value / 3600:.1f} h"
            elif r.throughput_per_hour and r.throughput_per_hour.value is not None:
                raw = f"{r.throughput_per_hour.value:,.0f}/h"
            else:
                raw = "none back"
            bits.append(f"{speed_name} {raw} -> {r.components.get('speed', 0.0):.3f}")
        if weights["cost"] > 0:
            cpc = r.cost_per_correct.value if r.cost_per_correct else None
            finite = cpc is not None and np.isfinite(cpc)
            raw = money(cpc, currencies.get(r.name), 4) if finite else "n/a"
            bits.append(f"cost per correct {raw} -> {r.components.get('cost', 0.0):.3f}")
        shown = f"{score:.3f}" if score is not None else "n/a"
        parts.append(f"{r.name} {shown} ({', '.join(bits)})")
    more = f"; and {len(ranked) - 12} more" if len(ranked) > 12 else ""
    return (
        f"Score = {terms}, each component normalised to the best ranked system "
        f"({cfg.normalisation.replace('_', ' ')}): {'; '.join(parts)}{more}."
    )


def _metric_sentences(
    comparisons: list[PairwiseComparison], order: dict[str, int], metric: str, alpha: float
) -> list[str]:
    """Every significant main-metric difference the score does not already show."""
    score = {frozenset((c.a, c.b)): c for c in comparisons if c.quantity == "score"}
    out: list[str] = []
    agreeing = 0
    for c in comparisons:
        if c.quantity != "accuracy" or not c.significant:
            continue
        better, worse = (c.a, c.b) if c.difference > 0 else (c.b, c.a)
        sc = score.get(frozenset((c.a, c.b)))
        score_separated = sc is not None and sc.significant
        score_agrees = order[better] < order[worse]
        if score_separated and score_agrees:
            agreeing += 1
            continue
        why = (
            "are not separated on score"
            if not score_separated
            else f"rank {worse} above {better} on score"
        )
        out.append(
            f"{c.a} and {c.b} {why}, but their {metric} differs significantly: "
            f"{better} is higher by {abs(c.difference):.3f} ({c.test} p {_p(c.p_value)}, "
            f"Holm-adjusted p {_p(c.p_adjusted)} <= alpha {alpha})."
        )
    if out and agreeing:
        out.append(
            f"The other {agreeing} significant {metric} difference(s) agree with the score "
            "order (see the pairwise tests)."
        )
    return out


_DIRECTION = {
    ("left", True): "further right",
    ("left", False): "further left",
    ("right", True): "further right",
    ("right", False): "further left",
    ("top", True): "lower",
    ("top", False): "higher",
    ("bottom", True): "lower",
    ("bottom", False): "higher",
}


def _box_bias_sentences(rows: list[BoxBiasRow], cfg: RankingConfig) -> list[str]:
    """One sentence per system whose box edges are significantly and materially off."""
    unit = cfg.box_bias_unit
    out: list[str] = []
    for system in dict.fromkeys(r.system for r in rows):
        mine = sorted((r for r in rows if r.system == system), key=lambda r: -abs(r.mean_offset))
        parts = [
            f"{r.cls} {r.edge} edge {r.mean_offset:+.1f} {unit} "
            f"({cfg.confidence:.0%} interval {r.low:+.1f} to {r.high:+.1f} {unit}, "
            f"{r.n:,} boxes: {_DIRECTION[(r.edge, r.mean_offset > 0)]} than gold)"
            for r in mine[:6]
            if r.low is not None and r.high is not None
        ]
        more = f"; {len(mine) - 6} more in the box-bias table" if len(mine) > 6 else ""
        out.append(
            f"Caveat: {system}'s boxes are biased against gold by more than "
            f"{cfg.box_bias_threshold:g} {unit}: {'; '.join(parts)}{more}. Check the "
            "labelling convention (e.g. shadows or occluded parts included) before choosing."
        )
    return out


# label biases a scorer reports in its summary: (metric, > 0 words, < 0 words, unit)
_LABEL_BIASES = {
    "leniency_bias": ("lenient", "severe", "scale points"),
    "position_bias": ("favour the response shown first", "favour the response shown second", ""),
    "length_bias": ("favour the longer response", "favour the shorter response", ""),
}


#: The share of repeated preference pairs a vendor should answer alike (after un-swapping).
#: The verdict names a vendor as inconsistent when the upper bound of its
#: ``self_consistency`` interval is below this share: at the report's confidence it answers
#: more than one pair in ten differently the second time. A bias is named when its interval
#: excludes 0; self-consistency has no "unbiased" value to exclude (1 is perfect, and a
#: careful annotator on a hard pair may still change their mind), hence a floor.
SELF_CONSISTENCY_FLOOR = 0.9


def _self_consistency_sentence(system: SystemEvaluation, conf: str) -> str | None:
    """The caveat for a vendor whose ``self_consistency`` interval lies below the floor."""
    result = system.metrics.get("self_consistency")
    if result is None or result.ci is None or not np.isfinite(result.value):
        return None
    ci = result.ci
    if not ci.high < SELF_CONSISTENCY_FLOOR:
        return None
    n_pairs, n_same = result.params.get("n_pairs"), result.params.get("n_same")
    counted = (
        f"; {n_same:,} of {n_pairs:,} pairs sent twice answered alike"
        if isinstance(n_pairs, int) and isinstance(n_same, int)
        else ""
    )
    return (
        f"Caveat: {system.name} answers repeated pairs inconsistently: self-consistency "
        f"{result.value:.3f} ({conf} interval {ci.low:.3f} to {ci.high:.3f}{counted}), below "
        f"the {SELF_CONSISTENCY_FLOOR:g} floor: its single answers are less reliable than "
        "its agreement suggests."
    )


def label_bias_sentences(systems: Sequence[SystemEvaluation], confidence: float) -> list[str]:
    """One sentence per system whose labels carry a significant bias, each with its size.

    Reads the engine's summary (``leniency_bias:<criterion>`` of ratings, ``position_bias``
    and ``length_bias`` of preferences); a bias is named when its interval excludes 0. A
    preference vendor's ``self_consistency`` is named, in its own sentence, when its
    interval's upper bound is below :data:`SELF_CONSISTENCY_FLOOR`.
    """
    out: list[str] = []
    conf = f"{confidence:.0%}"
    for system in systems:
        parts: list[str] = []
        for name, result in system.metrics.items():
            base, _, criterion = name.partition(":")
            words = _LABEL_BIASES.get(base)
            if words is None or (base == "leniency_bias" and not criterion):
                continue
            ci = result.ci
            if ci is None or not np.isfinite(result.value) or ci.low <= 0.0 <= ci.high:
                continue
            more, less, unit = words
            unit = f" {unit}" if unit else ""
            what = f"{criterion} ratings" if criterion else base.replace("_", " ")
            parts.append(
                f"{what} {result.value:+.3f}{unit} ({more if result.value > 0 else less}; "
                f"{conf} interval {ci.low:+.3f} to {ci.high:+.3f})"
            )
        if parts:
            out.append(
                f"Caveat: {system.name}'s labels are biased against gold: {'; '.join(parts)}."
            )
        inconsistent = _self_consistency_sentence(system, conf)
        if inconsistent is not None:
            out.append(inconsistent)
    return out


def summary_sentences(
    rows: list[SystemRanking],
    verdict: Verdict,
    comparisons: list[PairwiseComparison],
    advice: list[SampleSizeAdvice],
    notes: list[str],
    cfg: RankingConfig,
    *,
    names_front: list[str],
    weights: dict[str, float],
    box_bias: list[BoxBiasRow],
    n_items: int,
    currencies: Mapping[str, str] | None = None,
    main_metric: str = "accuracy",
    label_bias: Sequence[str] = (),
) -> list[str]:
    """The verdict in words, each claim backed by a test the report shows.

    ``currencies`` (system -> ISO code of its price list) puts each money figure in its
    system's currency.
    """
    out: list[str] = []
    ranked = [r for r in rows if r.rank is not None]
    conf = f"{cfg.confidence:.0%}"
    if verdict == "no_results":
        out.append(
            f"No results yet: no system has labelled any of the {n_items:,} golden items, "
            "so nothing is ranked."
        )
    elif verdict == "none_eligible":
        out.append("No system meets every requirement, so none is ranked.")
    else:
        top = ranked[0]
        value = f"{top.score.value:.3f}" if top.score and top.score.value is not None else "n/a"
        if verdict == "only_one":
            out.append(
                f"{top.name} is the only system that meets every constraint "
                f"(score {value}); there is nothing to compare it with."
            )
        elif verdict == "pick":
            runner = ranked[1]
            gap = runner.score_gap
            lead = (
                f"; its lead over the runner-up {runner.name} is {gap.value:.3f} "
                f"({conf} interval {_interval(gap)})"
                if gap is not None and gap.value is not None
                else ""
            )
            out.append(
                f"Pick {top.name}: best score {value}, significantly ahead of every other "
                f"ranked system (Holm-adjusted paired tests at alpha {cfg.alpha}){lead}."
            )
        else:
            tied = [r for r in ranked[1:] if set(r.letters) & set(top.letters)]
            gaps = "; ".join(
                f"{r.name} {r.score_gap.value:.3f} ({_interval(r.score_gap)})"
                for r in tied
                if r.score_gap is not None and r.score_gap.value is not None
            )
            out.append(
                f"{top.name} has the best score, {value}, but it is statistically tied with "
                f"{', '.join(r.name for r in tied)}: no paired test separates them after "
                f"Holm correction (score gap to {top.name}, {conf} interval: {gaps})."
            )
        if len(ranked) > 1:
            letters = ", ".join(f"{r.name} {r.letters}" for r in ranked)
            out.append(f"Groups: {letters}. {GROUP_RULE.format(alpha=cfg.alpha)}")
        out.append(_components_sentence(ranked, weights, cfg, currencies or {}))
        order = {r.name: i for i, r in enumerate(ranked)}
        out.extend(_metric_sentences(comparisons, order, main_metric, cfg.alpha))
    for r in rows:
        if r.rank is None and verdict != "no_results":
            out.append(f"{r.name} is not ranked: {'; '.join(r.violations)}.")
    out.extend(_box_bias_sentences(box_bias, cfg))
    out.extend(label_bias)
    out.extend(a.message for a in advice if not a.separated)
    if names_front and verdict != "no_results":
        out.append(f"Cost-accuracy Pareto front: {', '.join(names_front)}.")
    out.extend(notes)
    return out
