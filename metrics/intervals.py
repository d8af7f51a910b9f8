"""The project's one interval policy and one seed policy.

Every door (CLI, API, reports, dashboards) shows intervals computed here, so the same
data gives the same interval everywhere.

Interval policy
---------------
* A **proportion** (accuracy, coverage, a slice's accuracy: ``k`` successes of ``n``)
  gets the Wilson score interval (:func:`proportion_interval`, ``method="wilson"``, the
  same numbers as ``statsmodels.stats.proportion.proportion_confint(method="wilson")``)
  with Brown, Cai & DasGupta's (2001) modification next to the bounds
  (:data:`INTERVAL_METHOD` = ``"wilson_modified"``): for ``n <= 100`` and at most 2
  (``n <= 50``) or 3 (``n <= 100``) failures (or successes) the bound at that end is
  replaced by the one-sided Poisson bound ``1 - chi2.ppf(alpha, 2 x) / (2 n)``. Plain
  Wilson covers a true accuracy of 0.995 only 91 % of the time at ``n = 100``; the
  modified interval never drops below 93 % on the grid ``n`` in {100, 300, 1000} x
  ``p`` in {0.70, 0.90, 0.97, 0.995}. It never collapses to ``[1, 1]`` when every
  item is right, and never leaves ``[0, 1]``.
* A **mean of bounded per-item scores** (per-image F1 in ``[0, 1]``) gets
  :func:`mean_interval`: the Wilson interval with the effective sample size
  ``n * m (1 - m) / s^2`` (``m`` the mean, ``s^2`` the sample variance), which is the
  plain Wilson interval when the scores are 0/1 and stays inside ``[0, 1]`` always.
* Quantities without a closed form (a score that normalises by the best system, a
  ratio, a latency quantile) get a paired percentile bootstrap; *differences* between
  systems get the normal interval with the bootstrap standard error
  (:func:`metrics.statistics.bootstrap_z_test`), so test and interval agree.

Seed policy
-----------
Functions that draw random numbers take ``rng: numpy.random.Generator | None``;
``None`` means ``numpy.random.default_rng(DEFAULT_SEED)`` (:func:`resolve_rng`), so
the same data always gives the same report. Pass your own generator to vary it.

p-values
--------
:func:`format_p_value` prints a p-value for people: ``"< 1e-300"`` below that (a double
underflows to 0 near 1e-308; "p = 0" is never true), otherwise two significant digits.

Examples
--------
>>> ci = proportion_interval(100, 100)
>>> round(ci.low, 4), ci.high
(0.963, 1.0)
>>> format_p_value(0.0), format_p_value(0.012345)
('< 1e-300', '0.012')
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

# scipy.special, not scipy.stats (0.5 s to import): ndtri and 2 * gammaincinv(df / 2, q) are
# exactly what scipy.stats.norm.ppf and chi2.ppf compute; Clopper-Pearson imports scipy.stats.
from scipy.special import gammaincinv, ndtri

from metrics import _validation
from metrics.types import ConfidenceInterval

__all__ = [
    "DEFAULT_SEED",
    "INTERVAL_METHOD",
    "P_VALUE_FLOOR",
    "ProportionMethod",
    "resolve_rng",
    "proportion_interval",
    "mean_interval",
    "format_p_value",
]

ProportionMethod: TypeAlias = Literal["wilson", "wilson_modified", "clopper_pearson"]
_METHODS: tuple[ProportionMethod, ...] = ("wilson", "wilson_modified", "clopper_pearson")

DEFAULT_SEED: Final = 0
"""Seed of the generator used when a caller passes ``rng=None``."""

INTERVAL_METHOD: Final[ProportionMethod] = "wilson_modified"
"""The interval every door shows for a proportion."""

P_VALUE_FLOOR: Final = 1e-300
"""p-values below this print as ``"< 1e-300"``."""


def resolve_rng(rng: np.random.Generator | None) -> np.random.Generator:
    """The generator to draw from: ``rng``, or a fresh one seeded with :data:`DEFAULT_SEED`.

    Examples
    --------
    >>> a = resolve_rng(None).integers(0, 10**9)
    >>> b = resolve_rng(None).integers(0, 10**9)
    >>> bool(a == b)
    True
    """
    if rng is None:
        return np.random.default_rng(DEFAULT_SEED)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or None; got {type(rng).__name__}")
    return rng


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    p = k / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denom
    half = z * np.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _bcd_cutoff(n: int) -> int:
    """Brown, Cai & DasGupta's x*: 2 for n <= 50, 3 for n <= 100, else no modification."""
    if n <= 50:
        return 2
    if n <= 100:
        return 3
    return 0


def proportion_interval(
    successes: int,
    n: int,
    *,
    level: float = 0.95,
    method: ProportionMethod = INTERVAL_METHOD,
) -> ConfidenceInterval:
    """Two-sided confidence interval of a binomial proportion ``successes / n``.

    Parameters
    ----------
    successes
        Number of successes ``k``, ``0 <= k <= n``.
    n
        Number of trials, at least 1.
    level
        Confidence level in ``(0, 1)``.
    method
        ``"wilson"``: the Wilson score interval; ``"wilson_modified"`` (the project's
        policy): Wilson with Brown, Cai & DasGupta's Poisson bounds for ``k`` or
        ``n - k`` in ``1..x*`` (``x*`` = 2 for ``n <= 50``, 3 for ``n <= 100``);
        ``"clopper_pearson"``: the exact (conservative) beta interval.

    Returns
    -------
    ConfidenceInterval
        Bounds in ``[0, 1]``. ``"wilson"`` and ``"clopper_pearson"`` equal
        ``statsmodels.stats.proportion.proportion_confint`` with ``method="wilson"``
        and ``method="beta"``.

    Raises
    ------
    ValueError
        When ``n < 1``, ``k`` is outside ``[0, n]`` or ``level`` outside ``(0, 1)``.

    Examples
    --------
    >>> ci = proportion_interval(98, 100, method="wilson")
    >>> round(ci.low, 4), round(ci.high, 4)
    (0.93, 0.9945)
    >>> round(proportion_interval(98, 100).high, 4)  # modified: covers p = 0.995
    0.9964
    """
    _validation.check_probability(level, name="level")
    _validation.check_option(method, name="method", allowed=_METHODS)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n must be a positive whole number of trials; got {n!r}")
    if int(successes) != successes or not 0 <= successes <= n:
        raise ValueError(f"successes must be a whole number in [0, n={n}]; got {successes!r}")
    k, n = int(successes), int(n)
    alpha = 1.0 - level
    if method == "clopper_pearson":
        from scipy import stats as _stats

        low = 0.0 if k == 0 else float(_stats.beta.ppf(alpha / 2, k, n - k + 1))
        high = 1.0 if k == n else float(_stats.beta.ppf(1 - alpha / 2, k + 1, n - k))
        return ConfidenceInterval(low, high, level)
    z = float(ndtri(1 - alpha / 2))
    low, high = _wilson(k, n, z)
    low = 0.0 if k == 0 else low  # exact at the bounds (the formula leaves ~1e-18)
    high = 1.0 if k == n else high
    if method == "wilson_modified":
        cutoff = _bcd_cutoff(n)
        if 1 <= k <= cutoff:  # chi2.ppf(alpha, 2k) / 2n
            low = float(gammaincinv(k, alpha)) / n
        if 1 <= n - k <= cutoff:
            high = 1.0 - float(gammaincinv(n - k, alpha)) / n
    return ConfidenceInterval(low, high, level)


def mean_interval(
    values: npt.ArrayLike,
    *,
    level: float = 0.95,
    method: ProportionMethod = INTERVAL_METHOD,
) -> ConfidenceInterval:
    """Interval of the mean of per-item scores in ``[0, 1]`` (NaN counts as 0).

    0/1 scores get :func:`proportion_interval`. Other scores get the Wilson interval
    with the effective sample size ``n_eff = n m (1 - m) / s^2`` (``m`` the mean,
    ``s^2`` the sample variance with ``ddof=1``): the binomial variance ``m (1 - m)``
    is the largest a ``[0, 1]`` variable with mean ``m`` can have, so ``n_eff >= n``
    up to rounding and the interval is never wider than a proportion's. Constant
    scores strictly inside ``(0, 1)`` have no spread: the interval is the point.

    Parameters
    ----------
    values
        Shape ``(N,)`` per-item scores in ``[0, 1]``; NaN (not answered) counts as 0.
    level, method
        As in :func:`proportion_interval` (the method applies to 0/1 scores).

    Raises
    ------
    ValueError
        When there are no values or one lies outside ``[0, 1]``.

    Examples
    --------
    >>> ci = mean_interval([1.0, 1.0, 1.0, 1.0])
    >>> ci.high, round(ci.low, 3)
    (1.0, 0.51)
    >>> ci = mean_interval([0.9, 1.0, 0.95, 1.0, 0.85])
    >>> 0.0 <= ci.low < 0.94 < ci.high <= 1.0
    True
    """
    _validation.check_probability(level, name="level")
    x = np.nan_to_num(np.asarray(values, dtype=np.float64).ravel(), nan=0.0)
    n = x.size
    if n == 0:
        raise ValueError("mean_interval needs at least one value")
    if x.min() < 0.0 or x.max() > 1.0:
        raise ValueError(
            f"mean_interval needs scores in [0, 1]; got values in [{x.min()}, {x.max()}]"
        )
    if np.all((x == 0.0) | (x == 1.0)):
        return proportion_interval(int(x.sum()), n, level=level, method=method)
    m = float(x.mean())
    var = float(x.var(ddof=1)) if n > 1 else 0.0
    if var <= 0.0:
        return ConfidenceInterval(m, m, level)
    n_eff = n * m * (1.0 - m) / var
    z = float(ndtri(1 - (1 - level) / 2))
    low, high = _wilson(m * n_eff, n_eff, z)
    return ConfidenceInterval(min(low, m), max(high, m), level)


def format_p_value(p: float | None, *, digits: int = 2) -> str:
    """A p-value for people: ``"< 1e-300"`` when tiny (or underflowed to 0).

    Parameters
    ----------
    p
        The p-value; ``None`` or NaN prints as ``"n/a"``.
    digits
        Significant digits.

    Examples
    --------
    >>> format_p_value(1.5e-304), format_p_value(0.0075), format_p_value(1.0)
    ('< 1e-300', '0.0075', '1')
    """
    if p is None or not np.isfinite(p):
        return "n/a"
    if p < P_VALUE_FLOOR:
        return "< 1e-300"
    return f"{p:.{digits}g}"
