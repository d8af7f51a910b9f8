"""Uncertainty and significance for comparing systems on the same golden items.

* :func:`bootstrap_indices` / :func:`paired_bootstrap`: percentile bootstrap confidence
  intervals by resampling *items*; every system is scored on the *same* resamples, so
  intervals and differences are paired.
* :func:`mcnemar_exact`: McNemar's exact test for two systems' paired correctness.
* :func:`paired_bootstrap_test` and :func:`paired_permutation_test`: two-sided tests of a
  difference in any metric between two systems.
* :func:`holm`: Holm's step-down correction across many comparisons (e.g. vendor pairs).
  The project's one Holm rule: reject when the adjusted p-value is ``<= alpha``
  (statsmodels' ``multipletests`` rule).
* :func:`bootstrap_z_test`: a two-sided test of a paired difference from its bootstrap
  standard error. Its p-value is not bounded below by ``1 / (B + 1)`` the way a
  percentile-bootstrap p-value is, so many pairs can be separated after Holm.
* :func:`paired_t_test`: the paired t-test of per-item score differences.
* :func:`compact_letter_display`: groups that agree with a set of pairwise decisions.
* :func:`resamples_for_holm`: enough resamples for a resampling p-value to survive Holm.

Intervals, the seed policy and p-value printing live in :mod:`metrics.intervals`
(re-exported here): proportions get the (modified) Wilson interval, never a percentile
bootstrap, which collapses to ``[1, 1]`` when every item is right. ``rng=None``
everywhere means ``numpy.random.default_rng(DEFAULT_SEED)``.

A statistic is a function of an array of item positions (a resample, with repeats) that
returns one number; :func:`classification_statistic` builds one from gold and a system's
labels for any single-label metric.

Examples
--------
>>> import numpy as np
>>> import pandas as pd
>>> gold = pd.Series([0, 1, 1, 0, 1, 0, 1, 1], index=[f"t{i}" for i in range(8)])
>>> systems = {
...     "acme": pd.Series([0, 1, 1, 0, 1, 0, 0, 1], index=gold.index),
...     "bolt": pd.Series([0, 0, 1, 1, 1, 0, 0, 0], index=gold.index),
... }
>>> stats = {name: classification_statistic(gold, labels, metric="accuracy")
...          for name, labels in systems.items()}
>>> boot = paired_bootstrap(stats, n_items=len(gold), n_resamples=200,
...                         rng=np.random.default_rng(0))
>>> boot["acme"].estimate, boot["acme"].ci.low <= boot["acme"].estimate <= boot["acme"].ci.high
(0.875, True)
>>> test = mcnemar_exact(gold, systems["acme"], systems["bolt"])
>>> test.b, test.c, round(test.pvalue, 4)
(3, 0, 0.25)
>>> holm({"acme-bolt": 0.01, "acme-core": 0.04, "bolt-core": 0.03}).adjusted
{'acme-bolt': 0.03, 'acme-core': 0.06, 'bolt-core': 0.06}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import pandas as pd

from metrics import _validation
from metrics.classification import (
    KappaWeights,
    _summary_from_counts,
    confusion_matrix_codes,
    encode_labels,
)
from metrics.intervals import (
    DEFAULT_SEED,
    INTERVAL_METHOD,
    ProportionMethod,
    format_p_value,
    mean_interval,
    proportion_interval,
    resolve_rng,
)
from metrics.types import ConfidenceInterval

__all__ = [
    "DEFAULT_SEED",
    "INTERVAL_METHOD",
    "ProportionMethod",
    "format_p_value",
    "mean_interval",
    "proportion_interval",
    "resolve_rng",
    "bootstrap_z_test",
    "paired_t_test",
    "compact_letter_display",
    "resamples_for_holm",
    "CompactLetters",
    "Statistic",
    "ClassificationMetricName",
    "Skipped",
    "BootstrapResult",
    "McNemarResult",
    "PairedTestResult",
    "HolmResult",
    "bootstrap_indices",
    "paired_bootstrap",
    "classification_statistic",
    "classification_bootstrap",
    "mcnemar_exact",
    "paired_bootstrap_test",
    "paired_permutation_test",
    "holm",
]

IndexArray: TypeAlias = npt.NDArray[np.intp]
Statistic: TypeAlias = Callable[[IndexArray], float]
"""A metric evaluated on the items at the given positions (repeats allowed)."""

ClassificationMetricName: TypeAlias = Literal[
    "accuracy",
    "accuracy_all",
    "coverage",
    "balanced_accuracy",
    "macro_f1",
    "micro_f1",
    "cohen_kappa",
]
_CLASSIFICATION_METRICS: tuple[ClassificationMetricName, ...] = (
    "accuracy",
    "accuracy_all",
    "coverage",
    "balanced_accuracy",
    "macro_f1",
    "micro_f1",
    "cohen_kappa",
)
Skipped: TypeAlias = Literal["wrong", "drop"]


@dataclass(frozen=True)
class BootstrapResult:
    """A point estimate on all items with its percentile bootstrap interval.

    Attributes
    ----------
    estimate
        The statistic on all items.
    ci
        Percentile interval at ``ci.level`` (``nan`` bounds if every resample was ``nan``).
    replicates
        The statistic on each resample, shape ``(B,)`` (``nan`` where undefined).
    """

    estimate: float
    ci: ConfidenceInterval
    replicates: npt.NDArray[np.float64]


@dataclass(frozen=True)
class McNemarResult:
    """McNemar's exact test on paired correctness.

    Attributes
    ----------
    b
        Items system A got right and system B got wrong.
    c
        Items system A got wrong and system B got right.
    statistic
        ``min(b, c)``, as statsmodels reports it.
    pvalue
        Two-sided exact binomial p-value, ``min(1, 2 * P[X <= min(b, c)])``,
        ``X ~ Binomial(b + c, 1/2)``; 1.0 when ``b + c == 0``.
    n
        Items compared.
    """

    b: int
    c: int
    statistic: float
    pvalue: float
    n: int


@dataclass(frozen=True)
class PairedTestResult:
    """A two-sided test of ``metric(A) - metric(B) == 0`` on paired items.

    Attributes
    ----------
    difference
        ``metric(A) - metric(B)`` on all items.
    pvalue
        Two-sided p-value.
    ci
        Percentile bootstrap interval of the difference (bootstrap test only).
    n_resamples
        Resamples or permutations drawn.
    """

    difference: float
    pvalue: float
    n_resamples: int
    ci: ConfidenceInterval | None = None


@dataclass(frozen=True)
class HolmResult:
    """Holm-adjusted p-values and decisions, keyed like the input.

    Attributes
    ----------
    adjusted
        Adjusted p-value per comparison (same order as the input).
    reject
        Whether each null hypothesis is rejected at family-wise level ``alpha``.
    alpha
        The family-wise error rate.
    """

    adjusted: dict[str, float]
    reject: dict[str, bool]
    alpha: float


# --------------------------------------------------------------------------- bootstrap


def bootstrap_indices(
    n_items: int, *, n_resamples: int = 1000, rng: np.random.Generator | None = None
) -> npt.NDArray[np.intp]:
    """Item positions for ``n_resamples`` bootstrap resamples of ``n_items`` items.

    Parameters
    ----------
    n_items
        Number of items N.
    n_resamples
        Number of resamples B.
    rng
        Source of randomness; ``None`` uses ``default_rng(DEFAULT_SEED)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(B, N)``, values in ``[0, N)`` drawn with replacement.

    Examples
    --------
    >>> import numpy as np
    >>> bootstrap_indices(4, n_resamples=2, rng=np.random.default_rng(0)).shape
    (2, 4)
    """
    _validation.check_positive_int(n_items, name="n_items")
    _validation.check_positive_int(n_resamples, name="n_resamples")
    gen = resolve_rng(rng)
    return gen.integers(0, n_items, size=(n_resamples, n_items), dtype=np.intp)


def _percentile_ci(values: npt.NDArray[np.float64], level: float) -> ConfidenceInterval:
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return ConfidenceInterval(float("nan"), float("nan"), level)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return ConfidenceInterval(float(low), float(high), level)


def paired_bootstrap(
    statistics: Mapping[str, Statistic],
    *,
    n_items: int,
    n_resamples: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
) -> dict[str, BootstrapResult]:
    """Percentile bootstrap intervals for several systems on the same item resamples.

    Parameters
    ----------
    statistics
        One statistic per system name; each maps item positions to a number.
    n_items
        Number of items N (the gold set).
    n_resamples
        Number of resamples B, shared by every system.
    level
        Confidence level of the intervals, in ``(0, 1)``.
    rng
        Source of randomness; seed it for reproducible intervals.

    Returns
    -------
    dict[str, BootstrapResult]
        Keyed like ``statistics``.
    """
    _validation.check_probability(level, name="level")
    if not isinstance(statistics, Mapping):
        raise TypeError(
            f"statistics must be a mapping of name to statistic; got {type(statistics).__name__}"
        )
    indices = bootstrap_indices(n_items, n_resamples=n_resamples, rng=rng)
    every = np.arange(n_items, dtype=np.intp)
    out: dict[str, BootstrapResult] = {}
    for name, statistic in statistics.items():
        reps = np.fromiter(
            (statistic(idx) for idx in indices), dtype=np.float64, count=len(indices)
        )
        out[name] = BootstrapResult(
            estimate=float(statistic(every)), ci=_percentile_ci(reps, level), replicates=reps
        )
    return out


def classification_statistic(
    gold: pd.Series[Any],
    labels: pd.Series[Any],
    *,
    metric: ClassificationMetricName,
    weights: KappaWeights = "none",
) -> Statistic:
    """A resampling statistic for one single-label metric of one system.

    The returned function takes positions into ``gold`` (in gold order) and computes
    ``metric`` on those items with a confusion matrix of integer codes, so thousands of
    resamples stay cheap.

    Parameters
    ----------
    gold, labels
        As in :func:`metrics.classification.accuracy`.
    metric
        Which metric of :class:`metrics.classification.ClassificationSummary`.
    weights
        Kappa weights when ``metric="cohen_kappa"``.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> stat = classification_statistic(pd.Series([0, 1, 1]), pd.Series([0, 1, 0]),
    ...                                 metric="accuracy")
    >>> stat(np.array([0, 1, 1]))
    1.0
    """
    _validation.check_option(metric, name="metric", allowed=_CLASSIFICATION_METRICS)
    enc = encode_labels(gold, labels)
    position = _CLASSIFICATION_METRICS.index(metric)
    k = len(enc.classes)

    def statistic(idx: IndexArray) -> float:
        cm = confusion_matrix_codes(enc.gold[idx], enc.pred[idx], k)
        return _summary_from_counts(cm, len(idx), weights=weights)[position]

    return statistic


def classification_bootstrap(
    gold: pd.Series[Any],
    systems: Mapping[str, pd.Series[Any]],
    *,
    metrics: Sequence[ClassificationMetricName] = _CLASSIFICATION_METRICS,
    weights: KappaWeights = "none",
    n_resamples: int = 1000,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
    proportion_method: ProportionMethod | None = INTERVAL_METHOD,
) -> dict[str, dict[str, BootstrapResult]]:
    """Paired bootstrap intervals of several single-label metrics for several systems.

    The same as calling :func:`paired_bootstrap` with one :func:`classification_statistic`
    per (system, metric), with the same resamples, but each resample builds one confusion
    matrix per system and reads every metric from it.

    Parameters
    ----------
    gold
        Gold label per task.
    systems
        Each system's labels, indexed by task.
    metrics
        Which metrics of :class:`metrics.classification.ClassificationSummary`.
    weights
        Kappa weights.
    n_resamples, level, rng
        As in :func:`paired_bootstrap`.
    proportion_method
        Interval of the proportions ``accuracy`` (correct of answered), ``accuracy_all``
        (correct of all) and ``coverage`` (answered of all): see
        :func:`metrics.intervals.proportion_interval`. ``None`` keeps the percentile
        bootstrap for them too (it collapses to ``[1, 1]`` when every item is right).

    Returns
    -------
    dict
        ``result[system][metric]`` is a :class:`BootstrapResult`; ``replicates`` are
        always the bootstrap's, ``ci`` follows the interval policy.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> gold = pd.Series([0, 1, 1, 0, 1])
    >>> r = classification_bootstrap(gold, {"a": pd.Series([0, 1, 0, 0, 1])},
    ...                              metrics=["accuracy"], rng=np.random.default_rng(0))
    >>> r["a"]["accuracy"].estimate
    0.8
    """
    _validation.check_probability(level, name="level")
    for m in metrics:
        _validation.check_option(m, name="metric", allowed=_CLASSIFICATION_METRICS)
    positions = [_CLASSIFICATION_METRICS.index(m) for m in metrics]
    encoded = {name: encode_labels(gold, labels) for name, labels in systems.items()}
    n_items = len(gold)
    indices = bootstrap_indices(n_items, n_resamples=n_resamples, rng=rng)
    out: dict[str, dict[str, BootstrapResult]] = {}
    for name, enc in encoded.items():
        k = len(enc.classes)
        full = _summary_from_counts(
            confusion_matrix_codes(enc.gold, enc.pred, k), n_items, weights=weights
        )
        reps = np.empty((len(indices), len(positions)), dtype=np.float64)
        for r, idx in enumerate(indices):
            cm = confusion_matrix_codes(enc.gold[idx], enc.pred[idx], k)
            summary = _summary_from_counts(cm, n_items, weights=weights)
            reps[r] = [summary[p] for p in positions]
        counts = _proportion_counts(enc.gold, enc.pred, enc.labelled)
        out[name] = {
            m: BootstrapResult(
                estimate=float(full[p]),
                ci=_metric_ci(m, reps[:, j], counts, level, proportion_method),
                replicates=reps[:, j].copy(),
            )
            for j, (m, p) in enumerate(zip(metrics, positions, strict=True))
        }
    return out


def _proportion_counts(
    gold: npt.NDArray[np.intp], pred: npt.NDArray[np.intp], labelled: npt.NDArray[np.bool_]
) -> dict[str, tuple[int, int]]:
    """(successes, trials) of the metrics that are proportions."""
    n_all = int(labelled.size)
    n_lab = int(labelled.sum())
    correct = int(((gold == pred) & labelled).sum())
    return {
        "accuracy": (correct, n_lab),
        "accuracy_all": (correct, n_all),
        "coverage": (n_lab, n_all),
    }


def _metric_ci(
    metric: str,
    replicates: npt.NDArray[np.float64],
    counts: Mapping[str, tuple[int, int]],
    level: float,
    method: ProportionMethod | None,
) -> ConfidenceInterval:
    if method is None or metric not in counts:
        return _percentile_ci(replicates, level)
    k, n = counts[metric]
    if n == 0:
        return ConfidenceInterval(float("nan"), float("nan"), level)
    return proportion_interval(k, n, level=level, method=method)


# --------------------------------------------------------------------------- McNemar


def _correctness(
    gold: pd.Series[Any], labels: pd.Series[Any]
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    enc = encode_labels(gold, labels)
    return enc.gold == enc.pred, enc.labelled


def mcnemar_exact(
    gold: pd.Series[Any],
    labels_a: pd.Series[Any],
    labels_b: pd.Series[Any],
    *,
    skipped: Skipped = "wrong",
) -> McNemarResult:
    """McNemar's exact test: do systems A and B differ in accuracy on the same items?

    Parameters
    ----------
    gold
        Gold label per task.
    labels_a, labels_b
        Each system's labels, indexed by task.
    skipped
        ``"wrong"``: a skipped item counts as wrong (all gold items are compared);
        ``"drop"``: only items both systems labelled are compared.

    Returns
    -------
    McNemarResult
        Same ``statistic`` and ``pvalue`` as
        ``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``.

    Examples
    --------
    >>> import pandas as pd
    >>> gold = pd.Series([1] * 10)
    >>> r = mcnemar_exact(gold, pd.Series([1] * 9 + [0]), pd.Series([0] * 5 + [1] * 5))
    >>> r.b, r.c, round(r.pvalue, 4)
    (5, 1, 0.2188)
    """
    _validation.check_option(skipped, name="skipped", allowed=("wrong", "drop"))
    ok_a, lab_a = _correctness(gold, labels_a)
    ok_b, lab_b = _correctness(gold, labels_b)
    if skipped == "drop":
        both = lab_a & lab_b
        ok_a, ok_b = ok_a[both], ok_b[both]
    b = int((ok_a & ~ok_b).sum())
    c = int((~ok_a & ok_b).sum())
    n_disc = b + c
    smaller = min(b, c)
    # the binomial CDF (scipy.stats.binom.cdf) from scipy.special: scipy.stats costs 0.5 s
    # to import, and every `bakeoff evaluate` of two systems runs this test
    from scipy.special import bdtr

    pvalue = 1.0 if n_disc == 0 else min(1.0, 2.0 * float(bdtr(smaller, n_disc, 0.5)))
    return McNemarResult(b=b, c=c, statistic=float(smaller), pvalue=pvalue, n=int(len(ok_a)))


# --------------------------------------------------------------------------- paired tests


def paired_bootstrap_test(
    statistic_a: Statistic,
    statistic_b: Statistic,
    *,
    n_items: int,
    n_resamples: int = 2000,
    level: float = 0.95,
    rng: np.random.Generator | None = None,
    n_comparisons: int = 1,
) -> PairedTestResult:
    """Paired bootstrap test of ``metric(A) - metric(B) == 0``.

    Both statistics are evaluated on the same resamples. The p-value is twice the smaller
    share of resampled differences on either side of zero (capped at 1), with the usual
    ``+1`` correction so it is never exactly zero. Its smallest value is
    ``2 / (B + 1)``: when the test is one of ``n_comparisons`` corrected by Holm, ``B``
    is raised to :func:`resamples_for_holm` so that a clear difference can survive
    the correction.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([1.0] * 40 + [0.0] * 10)
    >>> b = np.array([1.0] * 25 + [0.0] * 25)
    >>> r = paired_bootstrap_test(lambda i: a[i].mean(), lambda i: b[i].mean(), n_items=50,
    ...                           rng=np.random.default_rng(0))
    >>> round(r.difference, 4), r.pvalue < 0.05
    (0.3, True)
    """
    _validation.check_probability(level, name="level")
    _validation.check_positive_int(n_comparisons, name="n_comparisons")
    n_resamples = max(n_resamples, resamples_for_holm(n_comparisons, minimum=n_resamples))
    indices = bootstrap_indices(n_items, n_resamples=n_resamples, rng=rng)
    every = np.arange(n_items, dtype=np.intp)
    observed = float(statistic_a(every)) - float(statistic_b(every))
    diffs = np.fromiter(
        (float(statistic_a(idx)) - float(statistic_b(idx)) for idx in indices),
        dtype=np.float64,
        count=len(indices),
    )
    finite = diffs[~np.isnan(diffs)]
    m = finite.size
    if m == 0:
        pvalue = float("nan")
    else:
        below = (int((finite <= 0).sum()) + 1) / (m + 1)
        above = (int((finite >= 0).sum()) + 1) / (m + 1)
        pvalue = min(1.0, 2.0 * min(below, above))
    return PairedTestResult(
        difference=observed,
        pvalue=pvalue,
        n_resamples=n_resamples,
        ci=_percentile_ci(diffs, level),
    )


def paired_permutation_test(
    metric: Callable[[pd.Series[Any], pd.Series[Any]], float],
    gold: pd.Series[Any],
    labels_a: pd.Series[Any],
    labels_b: pd.Series[Any],
    *,
    n_permutations: int = 2000,
    rng: np.random.Generator | None = None,
) -> PairedTestResult:
    """Paired permutation (sign-flip) test of ``metric(A) - metric(B) == 0``.

    Under the null hypothesis the two systems are exchangeable on each item, so each
    permutation swaps A's and B's label on every item independently with probability
    1/2. The p-value is ``(1 + #{|d*| >= |d|}) / (1 + n_permutations)``.

    Parameters
    ----------
    metric
        Any function ``metric(gold, labels) -> float``, e.g.
        ``lambda g, l: macro_f1(g, l).value``.
    gold, labels_a, labels_b
        As in :func:`mcnemar_exact`; skipped items stay skipped for whichever system
        they end up with.
    n_permutations
        Number of random relabellings.
    rng
        Source of randomness.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from metrics.classification import accuracy
    >>> gold = pd.Series([1] * 30)
    >>> r = paired_permutation_test(lambda g, l: accuracy(g, l).value, gold,
    ...                             pd.Series([1] * 30), pd.Series([1] * 15 + [0] * 15),
    ...                             n_permutations=200, rng=np.random.default_rng(0))
    >>> r.difference, r.pvalue < 0.05
    (0.5, True)
    """
    _validation.check_positive_int(n_permutations, name="n_permutations")
    _validation.check_gold_and_labels(gold, labels_a)
    _validation.check_gold_and_labels(gold, labels_b)
    a = labels_a.reindex(gold.index)
    b = labels_b.reindex(gold.index)
    observed = float(metric(gold, a)) - float(metric(gold, b))
    gen = resolve_rng(rng)
    a_values = a.to_numpy(dtype=object)
    b_values = b.to_numpy(dtype=object)
    extreme = 0
    for _ in range(n_permutations):
        swap = gen.random(len(gold)) < 0.5
        pa = pd.Series(np.where(swap, b_values, a_values), index=gold.index)
        pb = pd.Series(np.where(swap, a_values, b_values), index=gold.index)
        d = float(metric(gold, pa.infer_objects())) - float(metric(gold, pb.infer_objects()))
        if abs(d) >= abs(observed) - 1e-12:
            extreme += 1
    pvalue = (1 + extreme) / (1 + n_permutations)
    return PairedTestResult(difference=observed, pvalue=pvalue, n_resamples=n_permutations)


# --------------------------------------------------------------------------- Holm


def holm(pvalues: Mapping[str, float], *, alpha: float = 0.05) -> HolmResult:
    """Holm's step-down correction for a family of comparisons.

    Sorted ascending, the ``i``-th p-value (0-based) of ``m`` is multiplied by ``m - i``;
    adjusted values are made monotone with a running maximum and capped at 1. A
    hypothesis is rejected when its adjusted p-value is at most ``alpha``. Matches
    ``statsmodels.stats.multitest.multipletests(method="holm")``.

    Parameters
    ----------
    pvalues
        Raw p-value per comparison name, each in ``[0, 1]``.
    alpha
        Family-wise error rate.

    Returns
    -------
    HolmResult

    Examples
    --------
    >>> r = holm({"a-b": 0.01, "a-c": 0.02, "b-c": 0.5})
    >>> r.adjusted, r.reject
    ({'a-b': 0.03, 'a-c': 0.04, 'b-c': 0.5}, {'a-b': True, 'a-c': True, 'b-c': False})
    """
    _validation.check_probability(alpha, name="alpha")
    if not isinstance(pvalues, Mapping):
        raise TypeError(
            f"pvalues must be a mapping of name to p-value; got {type(pvalues).__name__}"
        )
    names = list(pvalues)
    p = np.asarray([float(pvalues[n]) for n in names], dtype=np.float64)
    if np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        bad = [n for n, v in zip(names, p, strict=True) if not 0.0 <= v <= 1.0]
        raise ValueError(f"p-values must be in [0, 1]; got invalid values for {bad[:5]}")
    m = len(p)
    if m == 0:
        return HolmResult(adjusted={}, reject={}, alpha=alpha)
    order = np.argsort(p, kind="mergesort")
    scaled = p[order] * (m - np.arange(m))
    adjusted_sorted = np.minimum(np.maximum.accumulate(scaled), 1.0)
    adjusted = np.empty(m)
    adjusted[order] = adjusted_sorted
    return HolmResult(
        adjusted={n: float(v) for n, v in zip(names, adjusted, strict=True)},
        reject={n: bool(v <= alpha) for n, v in zip(names, adjusted, strict=True)},
        alpha=alpha,
    )


# --------------------------------------------------------------------------- many pairs


def resamples_for_holm(n_comparisons: int, *, alpha: float = 0.05, minimum: int = 1000) -> int:
    """Resamples a percentile-bootstrap p-value needs to survive Holm over many pairs.

    The smallest two-sided bootstrap p-value is ``2 / (B + 1)``; Holm multiplies the
    smallest of ``m`` p-values by ``m``. With ``B + 1 >= 20 m / alpha`` the smallest
    attainable adjusted p-value is a tenth of ``alpha``, so a clear difference is not
    lost to resampling resolution (1,000 resamples cannot separate any of the 28 pairs
    of 8 systems: ``28 * 2 / 1001 > 0.05``).

    Examples
    --------
    >>> resamples_for_holm(1), resamples_for_holm(28), resamples_for_holm(66)
    (1000, 11199, 26399)
    """
    _validation.check_positive_int(n_comparisons, name="n_comparisons")
    _validation.check_probability(alpha, name="alpha")
    return max(minimum, int(np.ceil(20.0 * n_comparisons / alpha)) - 1)


def bootstrap_z_test(
    observed: float, replicates: npt.ArrayLike, *, level: float = 0.95
) -> PairedTestResult:
    """Two-sided test of a paired difference from its bootstrap standard error.

    ``z = observed / sd(replicates)`` and ``p = 2 * (1 - Phi(|z|))``; the interval is
    ``observed -+ z_{(1+level)/2} * sd``, so the interval excludes 0 exactly when
    ``p < 1 - level``. Unlike a percentile-bootstrap p-value, the p-value is not
    floored at ``2 / (B + 1)``: a difference of many standard errors gets a p-value
    small enough to survive Holm over dozens of pairs. A difference with no bootstrap
    spread is certain: ``p = 0`` when it is not zero, 1 when it is.

    Parameters
    ----------
    observed
        The difference on all items.
    replicates
        The difference on each paired resample, shape ``(B,)``; NaN and infinite
        replicates are ignored.
    level
        Level of the interval.

    Examples
    --------
    >>> import numpy as np
    >>> reps = np.random.default_rng(0).normal(0.1, 0.02, 5000)
    >>> r = bootstrap_z_test(0.1, reps)
    >>> r.pvalue < 1e-5, round(r.ci.low, 2), round(r.ci.high, 2)
    (True, 0.06, 0.14)
    """
    _validation.check_probability(level, name="level")
    reps = np.asarray(replicates, dtype=np.float64).ravel()
    finite = reps[np.isfinite(reps)]
    if not np.isfinite(observed) or finite.size < 2:
        nan = float("nan")
        return PairedTestResult(nan, nan, int(reps.size), ConfidenceInterval(nan, nan, level))
    se = float(finite.std(ddof=1))
    # scipy.special's ndtri and ndtr are what scipy.stats.norm.ppf and .sf evaluate, without
    # importing scipy.stats (about 1 s of a report's start-up)
    from scipy.special import ndtr, ndtri

    z_crit = float(ndtri(1 - (1 - level) / 2))
    d = float(observed)
    if se <= 1e-12 * max(1.0, abs(d)):
        pvalue = 1.0 if abs(d) <= 1e-12 else 0.0
        return PairedTestResult(d, pvalue, int(reps.size), ConfidenceInterval(d, d, level))
    pvalue = float(min(1.0, 2.0 * ndtr(-(abs(d) / se))))
    ci = ConfidenceInterval(d - z_crit * se, d + z_crit * se, level)
    return PairedTestResult(difference=d, pvalue=pvalue, n_resamples=int(reps.size), ci=ci)


def paired_t_test(
    scores_a: npt.ArrayLike, scores_b: npt.ArrayLike, *, level: float = 0.95
) -> PairedTestResult:
    """Paired t-test of the mean per-item score difference (NaN = not answered = 0).

    For per-item scores that are not 0/1 (per-image F1); 0/1 scores should use
    :func:`mcnemar_exact`. Same p-value as ``scipy.stats.ttest_rel``; when every
    difference is equal the difference is certain (p 0, or 1 when it is zero).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.r_[np.full(50, 0.9), np.full(50, 0.7)]
    >>> b = np.r_[np.full(50, 0.8), np.full(50, 0.72)]
    >>> r = paired_t_test(a, b)
    >>> round(r.difference, 3), r.pvalue < 1e-6
    (0.04, True)
    """
    _validation.check_probability(level, name="level")
    a = np.nan_to_num(np.asarray(scores_a, dtype=np.float64).ravel(), nan=0.0)
    b = np.nan_to_num(np.asarray(scores_b, dtype=np.float64).ravel(), nan=0.0)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(
            f"paired_t_test needs two non-empty arrays of the same length; got {a.size}, {b.size}"
        )
    d = a - b
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if d.size > 1 else 0.0
    if sd <= 1e-12:
        pvalue = 1.0 if abs(mean) <= 1e-12 else 0.0
        return PairedTestResult(mean, pvalue, 0, ConfidenceInterval(mean, mean, level))
    se = sd / np.sqrt(d.size)
    t = mean / se
    dof = d.size - 1
    from scipy import stats as _stats

    pvalue = float(min(1.0, 2.0 * _stats.t.sf(abs(t), dof)))
    half = float(_stats.t.ppf(1 - (1 - level) / 2, dof)) * se
    return PairedTestResult(mean, pvalue, 0, ConfidenceInterval(mean - half, mean + half, level))


@dataclass(frozen=True)
class CompactLetters:
    """A compact letter display of pairwise decisions.

    Attributes
    ----------
    letters
        Letters per item, e.g. ``{"a": "a", "b": "ab", "c": "b"}``.
    groups
        Items sharing each letter, in letter order (groups may overlap).
    """

    letters: dict[str, str]
    groups: list[list[str]]


def _letter(i: int) -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz"
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = alphabet[r] + out
    return out


def compact_letter_display(
    order: Sequence[str], separated: Mapping[tuple[str, str], bool]
) -> CompactLetters:
    """Letters such that two items share a letter iff no test separates them.

    Piepho's (2004) insert-and-absorb algorithm: start with one group of all items;
    for each separated pair, split every group holding both into one without each;
    drop groups contained in another. Every pair that is not separated still shares
    a group; every separated pair shares none. Unlike tiers built from each tier's
    leader, the groups may overlap, and they never contradict a pairwise test.

    Parameters
    ----------
    order
        Item names, best first (letters are assigned in this order).
    separated
        ``separated[(x, y)]`` is True when the test separates x and y (either key
        order; a missing pair counts as not separated).

    Examples
    --------
    >>> cld = compact_letter_display(
    ...     ["a", "b", "c"], {("a", "b"): False, ("a", "c"): True, ("b", "c"): False}
    ... )
    >>> cld.letters, cld.groups
    ({'a': 'a', 'b': 'ab', 'c': 'b'}, [['a', 'b'], ['b', 'c']])
    """
    names = list(order)
    if len(set(names)) != len(names):
        raise ValueError("compact_letter_display: item names must be unique")
    position = {n: i for i, n in enumerate(names)}

    def is_separated(x: str, y: str) -> bool:
        return bool(separated.get((x, y), False) or separated.get((y, x), False))

    groups: list[frozenset[str]] = [frozenset(names)] if names else []
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            if not is_separated(x, y):
                continue
            split: list[frozenset[str]] = []
            for g in groups:
                if x in g and y in g:
                    split += [g - {x}, g - {y}]
                else:
                    split.append(g)
            unique = list(dict.fromkeys(g for g in split if g))
            groups = [g for g in unique if not any(g < h for h in unique)]
    ordered = sorted(groups, key=lambda g: sorted(position[n] for n in g))
    letters = {n: "".join(_letter(k) for k, g in enumerate(ordered) if n in g) for n in names}
    return CompactLetters(
        letters=letters,
        groups=[sorted(g, key=position.__getitem__) for g in ordered],
    )
