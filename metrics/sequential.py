"""Sequential alerts on honeypot outcomes: a Bernoulli CUSUM with an exact run-length design.

A vendor agreed to an accuracy ``p0`` on honeypots (gold items hidden in production
work). Each honeypot answer is right (1) or wrong (0). The chart accumulates the
log-likelihood ratio of "accuracy dropped to ``p1``" against "accuracy is ``p0``"
(Page 1954; Reynolds & Stoumbos 1999 for the Bernoulli case) and raises an alarm
when the sum crosses a decision threshold:

``S_0 = 0``, ``S_t = max(0, S_{t-1} + a)`` after a wrong answer and
``max(0, S_{t-1} - b)`` after a right one; alarm at the first ``t`` with ``S_t >= H``.

The increments are the log-likelihood ratios ``ln(q1 / q0)`` and
``-ln((1 - q1) / (1 - q0))`` (``q = 1 - p`` the error rates) scaled to whole numbers
``a`` and ``b`` (``a = resolution``, ``b = round(a * ratio)``). Because the chart runs on
whole numbers its run length is a finite Markov chain, so the in-control average run
length (ARL, the mean number of honeypots between false alarms), the probability of a
false alarm within a week of ``n`` honeypots and the out-of-control ARL (detection
delay) are computed *exactly* for the chart that actually runs, not approximated.
:func:`design_bernoulli_cusum` picks the smallest threshold whose in-control ARL
reaches the target.

Examples
--------
>>> design = design_bernoulli_cusum(0.95, 0.85, target_arl=1000)
>>> design.arl_in_control >= 1000, round(design.arl_out_of_control, 1)
(True, 44.6)
>>> path = bernoulli_cusum([1] * 50 + [0, 0, 0, 0, 0, 0], design)
>>> path.first_alarm
53
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "CusumDesign",
    "CusumPath",
    "design_bernoulli_cusum",
    "cusum_average_run_length",
    "cusum_alarm_curve",
    "cusum_alarm_probability",
    "bernoulli_cusum",
    "PASS_SCORE",
    "honeypot_outcomes",
]

_MAX_STATES: Final = 200_000
"""Largest whole-number threshold searched (the Markov chain has that many states)."""


@dataclass(frozen=True)
class CusumDesign:
    """A Bernoulli CUSUM chart and its exact run-length properties.

    Attributes
    ----------
    p0
        Agreed (in-control) accuracy on honeypots.
    p1
        Accuracy the chart is tuned to detect (``p1 < p0``).
    step_error, step_correct
        Whole-number increment after a wrong answer (``a``) and decrement after a right
        one (``b``).
    threshold
        Whole-number decision threshold ``H``: alarm when ``S_t >= H``.
    scale
        Log-likelihood-ratio units per whole-number step: ``ln(q1/q0) / a``.
    arl_in_control
        Mean number of honeypots until a false alarm when accuracy is ``p0``.
    arl_out_of_control
        Mean number of honeypots until the alarm when accuracy is ``p1`` (from ``S = 0``).
    target_arl
        The in-control ARL the threshold was chosen for.
    """

    p0: float
    p1: float
    step_error: int
    step_correct: int
    threshold: int
    scale: float
    arl_in_control: float
    arl_out_of_control: float
    target_arl: float

    @property
    def decision_interval(self) -> float:
        """The threshold in log-likelihood-ratio units (``h = H * scale``)."""
        return self.threshold * self.scale

    @property
    def false_alarm_rate(self) -> float:
        """False alarms per honeypot while accuracy stays at ``p0`` (``1 / ARL0``)."""
        return 1.0 / self.arl_in_control


@dataclass(frozen=True)
class CusumPath:
    """The chart run over a sequence of honeypot outcomes.

    Attributes
    ----------
    statistic
        Shape ``(N,)``: ``S_t`` after each outcome, in log-likelihood-ratio units.
    alarms
        Indices (0-based, in input order) where the chart alarmed; the chart restarts
        at 0 after each alarm.
    threshold
        The decision interval ``h`` in the same units as ``statistic``.
    """

    statistic: npt.NDArray[np.float64]
    alarms: tuple[int, ...]
    threshold: float

    @property
    def first_alarm(self) -> int | None:
        """Index of the first alarm, or ``None`` when the chart never alarmed."""
        return self.alarms[0] if self.alarms else None

    @property
    def in_alarm(self) -> bool:
        """Whether any alarm was raised."""
        return bool(self.alarms)


def _check_accuracy(value: float, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise TypeError(f"{name} must be a float in (0, 1); got {type(value).__name__}")
    if not 0.0 < float(value) < 1.0:
        raise ValueError(f"{name} must be an accuracy strictly between 0 and 1; got {value!r}")
    return float(value)


def _steps(p0: float, p1: float, resolution: int) -> tuple[int, int, float]:
    q0, q1 = 1.0 - p0, 1.0 - p1
    up = math.log(q1 / q0)
    down = -math.log((1.0 - q1) / (1.0 - q0))
    b = max(1, round(resolution * down / up))
    return resolution, int(b), up / resolution


def _arl_vector(a: int, b: int, threshold: int, accuracy: float) -> npt.NDArray[np.float64]:
    """ARL from every state ``0..H-1``: solve ``(I - Q) L = 1`` (banded, two moves a state)."""
    from scipy.linalg import solve_banded

    h = threshold
    q = 1.0 - accuracy
    # Matrix M = I - Q with Q[s, s+a] = q (if s+a < H) and Q[s, max(0, s-b)] = 1 - q.
    # Build it dense when small, banded otherwise (bandwidth a above, b below plus column 0).
    states = np.arange(h)
    if h <= 2000:
        m = np.eye(h)
        up = states + a
        ok = up < h
        m[states[ok], up[ok]] -= q
        m[states, np.maximum(0, states - b)] -= 1.0 - q
        return np.asarray(np.linalg.solve(m, np.ones(h)), dtype=np.float64)
    # Large H: the column-0 entries (states s <= b all fall to 0) break the band only for
    # the first b + 1 rows, which sit inside a lower bandwidth of b. Banded solve.
    lower, upper = b, a
    ab = np.zeros((lower + upper + 1, h))
    ab[upper, :] = 1.0
    up = states + a
    ok = up < h
    ab[upper + states[ok] - up[ok], up[ok]] -= q
    down = np.maximum(0, states - b)
    ab[upper + states - down, down] -= 1.0 - q
    return np.asarray(solve_banded((lower, upper), ab, np.ones(h)), dtype=np.float64)


def cusum_average_run_length(design: CusumDesign, accuracy: float) -> float:
    """Exact mean number of honeypots until the alarm, from ``S = 0``, at ``accuracy``.

    Parameters
    ----------
    design
        The chart, from :func:`design_bernoulli_cusum`.
    accuracy
        True honeypot accuracy in ``(0, 1)``.

    Examples
    --------
    >>> d = design_bernoulli_cusum(0.95, 0.85, target_arl=500)
    >>> cusum_average_run_length(d, 0.95) == d.arl_in_control
    True
    """
    acc = _check_accuracy(accuracy, name="accuracy")
    return float(_arl_vector(design.step_error, design.step_correct, design.threshold, acc)[0])


def cusum_alarm_curve(design: CusumDesign, n: int, *, accuracy: float) -> npt.NDArray[np.float64]:
    """Exact probability that the chart has alarmed within ``1, 2, ..., n`` honeypots.

    Parameters
    ----------
    design
        The chart.
    n
        Number of honeypot outcomes, at least 1.
    accuracy
        True honeypot accuracy in ``(0, 1)``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n,)``, non-decreasing, in ``[0, 1]``; element ``t - 1`` is
        ``P(first alarm <= t)`` from ``S = 0``.

    Examples
    --------
    >>> d = design_bernoulli_cusum(0.9, 0.7, target_arl=100)
    >>> curve = cusum_alarm_curve(d, 5, accuracy=0.9)
    >>> bool(curve[0] == 0.0), bool((np.diff(curve) >= 0).all())
    (True, True)
    """
    acc = _check_accuracy(accuracy, name="accuracy")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a whole number of honeypots >= 1; got {n!r}")
    h, a, b = design.threshold, design.step_error, design.step_correct
    q = 1.0 - acc
    states = np.arange(h)
    up = states + a
    up_ok = up < h
    down = np.maximum(0, states - b)
    dist: npt.NDArray[np.float64] = np.zeros(h)
    dist[0] = 1.0
    curve = np.empty(int(n))
    for t in range(int(n)):
        nxt = np.bincount(up[up_ok], weights=dist[up_ok] * q, minlength=h).astype(np.float64)
        nxt += np.bincount(down, weights=dist * (1.0 - q), minlength=h)
        dist = nxt
        curve[t] = 1.0 - dist.sum()
    return np.clip(np.maximum.accumulate(curve), 0.0, 1.0)


def cusum_alarm_probability(design: CusumDesign, n: int, *, accuracy: float) -> float:
    """Exact probability that the chart alarms within ``n`` honeypots, from ``S = 0``.

    At ``accuracy = p0`` this is the false-alarm probability of a week with ``n``
    honeypots; at ``p1`` it is the power to detect the drop within ``n``.

    Parameters
    ----------
    design
        The chart.
    n
        Number of honeypot outcomes, at least 1.
    accuracy
        True honeypot accuracy in ``(0, 1)``.

    Examples
    --------
    >>> d = design_bernoulli_cusum(0.95, 0.85, target_arl=1000)
    >>> p = cusum_alarm_probability(d, 200, accuracy=0.95)
    >>> 0.0 < p < 0.25
    True
    """
    return float(cusum_alarm_curve(design, n, accuracy=accuracy)[-1])


def design_bernoulli_cusum(
    p0: float,
    p1: float,
    *,
    target_arl: float = 1000.0,
    resolution: int = 20,
) -> CusumDesign:
    """The Bernoulli CUSUM for "accuracy dropped from ``p0`` to ``p1``" with a target ARL.

    The threshold is the smallest whole number ``H`` whose exact in-control ARL is at
    least ``target_arl``; the false-alarm rate per honeypot is then at most
    ``1 / target_arl`` (:attr:`CusumDesign.false_alarm_rate` gives the exact value).

    Parameters
    ----------
    p0
        Agreed accuracy on honeypots, in ``(0, 1)``.
    p1
        The lower accuracy the chart should detect, ``0 < p1 < p0``.
    target_arl
        Wanted mean number of honeypots between false alarms at ``p0`` (at least 2).
    resolution
        Whole-number steps per wrong answer; larger follows the log-likelihood ratio more
        closely (the decrement ``b`` is rounded to ``resolution`` times the ratio).

    Returns
    -------
    CusumDesign

    Raises
    ------
    ValueError
        When ``p1 >= p0``, an accuracy is outside ``(0, 1)``, ``target_arl < 2`` or no
        threshold below 200,000 steps reaches the target.

    Examples
    --------
    >>> d = design_bernoulli_cusum(0.95, 0.85, target_arl=1000)
    >>> (d.step_error, d.step_correct, d.threshold)
    (20, 2, 67)
    >>> round(d.decision_interval, 3), round(d.arl_in_control)
    (3.68, 1069)
    """
    a0 = _check_accuracy(p0, name="p0")
    a1 = _check_accuracy(p1, name="p1")
    if a1 >= a0:
        raise ValueError(f"p1 must be below p0 (the chart detects a drop); got p0={a0}, p1={a1}")
    if isinstance(target_arl, bool) or not float(target_arl) >= 2.0:
        raise ValueError(f"target_arl must be at least 2 honeypots; got {target_arl!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 1:
        raise ValueError(f"resolution must be a whole number >= 1; got {resolution!r}")
    a, b, scale = _steps(a0, a1, resolution)

    def arl0(h: int) -> float:
        return float(_arl_vector(a, b, h, a0)[0])

    low, high = 1, a  # ARL0(H) increases with H: double, then bisect
    while arl0(high) < target_arl:
        low, high = high + 1, high * 2
        if high > _MAX_STATES:
            raise ValueError(
                f"no threshold below {_MAX_STATES} steps reaches target_arl={target_arl}; "
                "lower the target or widen the gap between p0 and p1"
            )
    while low < high:
        mid = (low + high) // 2
        if arl0(mid) >= target_arl:
            high = mid
        else:
            low = mid + 1
    return CusumDesign(
        p0=a0,
        p1=a1,
        step_error=a,
        step_correct=b,
        threshold=high,
        scale=scale,
        arl_in_control=arl0(high),
        arl_out_of_control=float(_arl_vector(a, b, high, a1)[0]),
        target_arl=float(target_arl),
    )


def bernoulli_cusum(outcomes: npt.ArrayLike, design: CusumDesign) -> CusumPath:
    """Run the chart over honeypot outcomes in the order they were answered.

    Parameters
    ----------
    outcomes
        Shape ``(N,)``: 1 (or ``True``) for a right honeypot answer, 0 for a wrong one.
    design
        The chart, from :func:`design_bernoulli_cusum`.

    Returns
    -------
    CusumPath
        ``S_t`` after each outcome (log-likelihood-ratio units) and every alarm index; the
        chart restarts at 0 after an alarm.

    Raises
    ------
    ValueError
        When an outcome is not 0 or 1 (a missing answer must be decided by the caller:
        the scoring engine counts it as wrong).

    Examples
    --------
    >>> d = design_bernoulli_cusum(0.9, 0.7, target_arl=200)
    >>> p = bernoulli_cusum([1, 0, 0, 1], d)
    >>> [round(float(s), 3) for s in p.statistic], p.alarms
    ([0.0, 1.099, 2.197, 1.923], ())
    """
    x = np.asarray(outcomes)
    if x.ndim != 1:
        raise ValueError(f"outcomes must be one-dimensional; got shape {x.shape}")
    if x.size and not np.isin(x, (0, 1)).all():
        bad = np.flatnonzero(~np.isin(x, (0, 1)))[:5].tolist()
        raise ValueError(f"outcomes must be 0 (wrong) or 1 (right); positions {bad} are not")
    wrong = x.astype(bool) == 0
    a, b, h = design.step_error, design.step_correct, design.threshold
    stat = np.empty(x.size, dtype=np.int64)
    alarms: list[int] = []
    s = 0
    for i, w in enumerate(wrong.tolist()):
        s = s + a if w else max(0, s - b)
        stat[i] = s
        if s >= h:
            alarms.append(i)
            s = 0
    return CusumPath(
        statistic=stat.astype(np.float64) * design.scale,
        alarms=tuple(alarms),
        threshold=design.decision_interval,
    )


PASS_SCORE: Final = 1.0
"""A honeypot answer counts as right for the alert when its per-item main score reaches this."""


def honeypot_outcomes(
    scores: npt.ArrayLike, *, pass_score: float = PASS_SCORE
) -> npt.NDArray[np.int8]:
    """Per-item main-metric scores in ``[0, 1]`` as the chart's 0/1 outcomes.

    Classification, multilabel (exact match) and preference score an item 0 or 1 already;
    for scores between (per-image F1 of boxes, span F1) an answer is right only when it
    reaches ``pass_score`` (default 1: every object right). ``NaN`` (unanswered) is wrong.

    Examples
    --------
    >>> honeypot_outcomes([1.0, 0.0, 0.8, float("nan")]).tolist()
    [1, 0, 0, 0]
    """
    x = np.asarray(scores, dtype=np.float64)
    if not 0.0 < pass_score <= 1.0:
        raise ValueError(f"pass_score must be in (0, 1]; got {pass_score!r}")
    return (np.nan_to_num(x, nan=0.0) >= pass_score - 1e-12).astype(np.int8)
