"""Typed inputs of :mod:`reports`, built by the caller from metric results.

:mod:`reports` never touches the service, the database or the adapters. Whoever
calls it (the service's reporting domain, or ``bakeoff evaluate --html`` on files)
computes the metrics with :mod:`metrics` and hands them over in these containers.

Everything keyed by golden item uses the golden item id as the ``pandas`` index, so
that every system can be resampled on the *same* items (paired bootstrap).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import numpy as np
import pandas as pd

from metrics.defaults import DEFAULT_MIN_COVERAGE
from metrics.operations import LatencySummary
from metrics.scoring import Scored
from metrics.types import MetricResult
from reports.defaults import DEFAULT_RANKING_WEIGHTS

__all__ = [
    "BOX_EDGES",
    "DEFAULT_MIN_COVERAGE",
    "DEFAULT_RANKING_WEIGHTS",
    "Normalisation",
    "SpeedMeasure",
    "PricingTerms",
    "SystemEvaluation",
    "currencies_of",
    "TrendPoint",
    "RankingWeights",
    "Constraints",
    "RankingConfig",
]

SpeedMeasure = Literal["p95_latency", "throughput"]
Normalisation = Literal["best_ratio", "minmax"]

#: The box edges of a box-bias table, in this order.
BOX_EDGES: tuple[str, ...] = ("left", "top", "right", "bottom")

_BOX_BIAS_COLUMNS = ("class", "edge", "mean_offset", "n")


@dataclass(frozen=True)
class PricingTerms:
    """One vendor's price list, used to project cost to a production volume.

    Attributes
    ----------
    per_item, per_label, per_hour
        Prices per labelled item, per label (e.g. per box) and per worker hour.
    minimum_commitment
        Smallest amount billed for one production period, whatever the volume.
    currency
        ISO code shown next to amounts.
    """

    per_item: float = 0.0
    per_label: float = 0.0
    per_hour: float = 0.0
    minimum_commitment: float = 0.0
    currency: str = "USD"

    def __post_init__(self) -> None:
        for name in ("per_item", "per_label", "per_hour", "minimum_commitment"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"PricingTerms.{name} must be a finite amount >= 0, got {value!r}")


def _check_item_series(series: object, *, system: str, what: str) -> None:
    if not isinstance(series, pd.Series):
        raise TypeError(
            f"system {system!r}: {what} must be a pandas Series indexed by golden item id, "
            f"got {type(series).__name__}"
        )
    if not series.index.is_unique:
        dupes = series.index[series.index.duplicated()].unique()[:5].tolist()
        raise ValueError(f"system {system!r}: {what} has duplicate item ids {dupes}")
    if not pd.api.types.is_numeric_dtype(series.dtype):
        raise TypeError(f"system {system!r}: {what} must be numeric, got dtype {series.dtype}")


@dataclass(frozen=True)
class SystemEvaluation:
    """Everything the report needs about one candidate system (vendor, tool or model).

    Attributes
    ----------
    name
        The system's display name (unique within one report).
    item_scores
        The main metric per golden item, indexed by item id: ``1.0`` correct, ``0.0``
        wrong (or a per-item score in ``[0, 1]``, e.g. per-image F1 for detection).
        ``NaN`` marks an item the system did not label; it counts as wrong in the
        ranking (``accuracy_all``) and lowers ``coverage``.
    main_metric
        Name of the quantity in ``item_scores`` (shown in the report).
    latency_s
        Seconds from dispatch to completion per item, indexed by item id; ``NaN`` or a
        missing id means the item never came back.
    item_costs
        Amount billed per item, indexed by item id (spread evenly by the caller when
        only a total is known).
    latency_summary
        Latency percentiles and throughput from :func:`metrics.operations.latency_summary`
        (dispatch and completion timestamps); shown in the latency table, and its
        throughput is the ranking's speed when the speed measure is ``"throughput"``.
    throughput
        Items per hour, overriding ``latency_summary``'s for the ranking; its ``ci`` is
        carried over when present.
    metrics
        Further metric results shown in the tables (``macro_f1``, ``cohen_kappa``...).
    per_class
        A per-class metric (e.g. recall or F1): ``per_item`` indexed by class name.
    confusion
        Counts with gold classes as the index and predicted classes as the columns.
    annotator_gold, annotator_peers
        Per-annotator agreement with gold and with the other annotators of the same
        vendor: ``per_item`` indexed by annotator id.
    annotator_items
        Number of items each annotator labelled, indexed by annotator id.
    box_bias
        Mean signed offset of each box edge against gold (columns ``class``, ``edge``
        in :data:`BOX_EDGES`, ``mean_offset``, ``n``), in pixels or box fractions as the
        caller computed them; a positive offset means the edge lies further right/down.
        Optional columns give the offset's uncertainty, which the verdict needs to
        call a bias significant: ``sd`` (standard deviation of the per-box offsets;
        the interval is then ``mean -+ t sd / sqrt(n)``) or ``low`` and ``high``.
    pricing
        The vendor's price list, for the production-volume projection.
    labels_per_item
        Average labels (e.g. boxes) per item, for per-label prices.
    hours_per_item
        Average worker hours per item, for hourly prices.
    scored
        The scoring engine's result this system was read from
        (:func:`reports.scores.system_evaluation`); when present, the report shows its
        values and intervals (``Report.scores``, ranking rows, slices).
    """

    name: str
    item_scores: pd.Series[float]
    main_metric: str = "accuracy"
    latency_s: pd.Series[float] | None = None
    item_costs: pd.Series[float] | None = None
    latency_summary: LatencySummary | None = None
    throughput: MetricResult | None = None
    metrics: Mapping[str, MetricResult] = field(default_factory=dict)
    per_class: MetricResult | None = None
    confusion: pd.DataFrame | None = None
    annotator_gold: MetricResult | None = None
    annotator_peers: MetricResult | None = None
    annotator_items: pd.Series[int] | None = None
    box_bias: pd.DataFrame | None = None
    pricing: PricingTerms | None = None
    labels_per_item: float = 1.0
    hours_per_item: float = 0.0
    scored: Scored | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("SystemEvaluation.name must be a non-empty string")
        _check_item_series(self.item_scores, system=self.name, what="item_scores")
        values = self.item_scores.to_numpy(dtype=np.float64)
        finite = values[~np.isnan(values)]
        if finite.size and (finite.min() < 0 or finite.max() > 1):
            bad = self.item_scores[(self.item_scores < 0) | (self.item_scores > 1)]
            raise ValueError(
                f"system {self.name!r}: item_scores must lie in [0, 1] (NaN for skipped); "
                f"items {bad.index[:5].tolist()} are outside"
            )
        for what in ("latency_s", "item_costs"):
            series = getattr(self, what)
            if series is None:
                continue
            _check_item_series(series, system=self.name, what=what)
            arr = series.to_numpy(dtype=np.float64)
            if np.any(arr[~np.isnan(arr)] < 0):
                bad_idx = series.index[series.to_numpy(dtype=np.float64) < 0][:5].tolist()
                raise ValueError(f"system {self.name!r}: {what} is negative for items {bad_idx}")
            unknown = series.index.difference(self.item_scores.index)
            if len(unknown):
                raise ValueError(
                    f"system {self.name!r}: {what} has item ids not in item_scores: "
                    f"{unknown[:5].tolist()}"
                )
        if self.box_bias is not None:
            missing = [c for c in _BOX_BIAS_COLUMNS if c not in self.box_bias.columns]
            if missing:
                raise ValueError(
                    f"system {self.name!r}: box_bias lacks columns {missing}; "
                    f"expected {list(_BOX_BIAS_COLUMNS)}"
                )
            bad_edges = set(self.box_bias["edge"]) - set(BOX_EDGES)
            if bad_edges:
                raise ValueError(
                    f"system {self.name!r}: box_bias edges {sorted(bad_edges)} are not in "
                    f"{list(BOX_EDGES)}"
                )
        if self.confusion is not None and not isinstance(self.confusion, pd.DataFrame):
            raise TypeError(f"system {self.name!r}: confusion must be a pandas DataFrame")
        if self.labels_per_item < 0 or self.hours_per_item < 0:
            raise ValueError(
                f"system {self.name!r}: labels_per_item and hours_per_item must be >= 0"
            )


def currencies_of(systems: Sequence[SystemEvaluation]) -> dict[str, str]:
    """System name -> the ISO currency of its money figures (systems with a price list).

    Examples
    --------
    >>> import pandas as pd
    >>> a = SystemEvaluation("a", pd.Series([1.0]), pricing=PricingTerms(currency="EUR"))
    >>> currencies_of([a, SystemEvaluation("b", pd.Series([1.0]))])
    {'a': 'EUR'}
    """
    return {s.name: s.pricing.currency for s in systems if s.pricing is not None}


@dataclass(frozen=True)
class TrendPoint:
    """A system's main metric in one earlier (or the current) bake-off of the project.

    Attributes
    ----------
    bakeoff
        The bake-off's display name or id.
    when
        When that bake-off ended (orders the points); a naive timestamp is taken as UTC.
    system
        The system's name, matched to :attr:`SystemEvaluation.name`.
    value
        The main metric (e.g. accuracy) in that bake-off.
    n_items
        Golden items it was measured on.
    se
        Standard error of ``value``; when ``None`` the binomial
        ``sqrt(value * (1 - value) / n_items)`` is used.
    coverage
        Share of the golden items the system labelled in that bake-off (``None``:
        unknown, taken as complete). Points below the coverage floor are not compared.
    completed
        ``False`` for a bake-off that did not finish (cancelled, still running): it is
        never compared, so an empty run cannot raise a "significant decline".
    weights
        The ranking weights that bake-off used (shown next to the point: a leader
        under other weights is not the same verdict).
    cost_per_correct
        The scoring engine's cost per correct label of the system in that bake-off.
    currency
        Currency of ``cost_per_correct``.
    """

    bakeoff: str
    when: datetime
    system: str
    value: float
    n_items: int
    se: float | None = None
    coverage: float | None = None
    completed: bool = True
    weights: Mapping[str, float] | None = None
    cost_per_correct: float | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        if self.when.tzinfo is None:  # naive timestamps are taken as UTC
            object.__setattr__(self, "when", self.when.replace(tzinfo=UTC))
        if self.n_items < 1:
            raise ValueError(
                f"TrendPoint {self.bakeoff!r}/{self.system!r}: n_items must be >= 1, "
                f"got {self.n_items}"
            )
        if not np.isfinite(self.value):
            raise ValueError(f"TrendPoint {self.bakeoff!r}/{self.system!r}: value is not finite")
        if self.coverage is not None and not 0.0 <= self.coverage <= 1.0:
            raise ValueError(
                f"TrendPoint {self.bakeoff!r}/{self.system!r}: coverage must lie in [0, 1], "
                f"got {self.coverage!r}"
            )


@dataclass(frozen=True)
class RankingWeights:
    """Relative importance of accuracy, speed and cost in the score (need not sum to 1).

    The defaults are :data:`DEFAULT_RANKING_WEIGHTS`.
    """

    accuracy: float = DEFAULT_RANKING_WEIGHTS["accuracy"]
    speed: float = DEFAULT_RANKING_WEIGHTS["speed"]
    cost: float = DEFAULT_RANKING_WEIGHTS["cost"]

    def __post_init__(self) -> None:
        for name in ("accuracy", "speed", "cost"):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise ValueError(f"RankingWeights.{name} must be finite and >= 0, got {value!r}")
        if self.accuracy + self.speed + self.cost <= 0:
            raise ValueError("RankingWeights: at least one weight must be positive")


@dataclass(frozen=True)
class Constraints:
    """Hard limits; a system that breaks one is listed but not ranked.

    Attributes
    ----------
    min_accuracy
        Lowest acceptable main metric (over all golden items, skipped = wrong).
    max_p95_latency_s
        Highest acceptable 95th-percentile latency in seconds.
    max_cost_per_item
        Highest acceptable mean cost per golden item.
    min_coverage
        Lowest acceptable share of golden items labelled. ``None`` means the default
        floor :data:`DEFAULT_MIN_COVERAGE` (0.95); pass ``0.0`` to rank every system
        that labelled anything. A system below it gets "not enough results" instead
        of a rank (a vendor that skips the hard items must not win on the rest).
    """

    min_accuracy: float | None = None
    max_p95_latency_s: float | None = None
    max_cost_per_item: float | None = None
    min_coverage: float | None = None

    def __post_init__(self) -> None:
        for name in ("min_accuracy", "min_coverage"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"Constraints.{name} must lie in [0, 1], got {value!r}")

    @property
    def coverage_floor(self) -> float:
        """The coverage a system needs to be ranked (the default when unset)."""
        return DEFAULT_MIN_COVERAGE if self.min_coverage is None else float(self.min_coverage)


@dataclass(frozen=True)
class RankingConfig:
    """How to score and compare systems.

    Attributes
    ----------
    weights, constraints
        As set on the bake-off.
    speed
        ``"p95_latency"`` (lower is better) or ``"throughput"`` (higher is better).
    normalisation
        ``"best_ratio"``: each component divided by the best eligible system's (lower-is-
        better quantities inverted), so the best gets 1 and the scale is kept;
        ``"minmax"``: rescaled so the worst eligible system gets 0 and the best 1.
    n_resamples
        Paired bootstrap resamples of the golden items.
    confidence
        Level of the intervals.
    alpha
        Family-wise error rate of the pairwise tests (Holm-adjusted).
    power
        Target power of the "how many more items" estimate.
    deadline_s
        Latency an item that never came back counts with in the p95 latency (the
        vendor's deadline). ``None``: the longest latency any system took on any item,
        a lower bound of how long the bake-off waited. Either way a missing item is
        never left out of the latency, which would reward skipping slow items.
    box_bias_threshold
        Smallest mean box-edge offset (in the box-bias table's unit) the verdict names,
        when its interval also excludes 0.
    box_bias_unit
        Unit of the box-bias table's offsets, shown in the verdict.
    """

    weights: RankingWeights = field(default_factory=RankingWeights)
    constraints: Constraints = field(default_factory=Constraints)
    speed: SpeedMeasure = "p95_latency"
    normalisation: Normalisation = "best_ratio"
    n_resamples: int = 1000
    confidence: float = 0.95
    alpha: float = 0.05
    power: float = 0.8
    deadline_s: float | None = None
    box_bias_threshold: float = 2.0
    box_bias_unit: str = "px"

    def __post_init__(self) -> None:
        if self.deadline_s is not None and not (
            np.isfinite(self.deadline_s) and self.deadline_s > 0
        ):
            raise ValueError(
                f"RankingConfig.deadline_s must be > 0 seconds, got {self.deadline_s!r}"
            )
        if not (np.isfinite(self.box_bias_threshold) and self.box_bias_threshold >= 0):
            raise ValueError(
                f"RankingConfig.box_bias_threshold must be >= 0, got {self.box_bias_threshold!r}"
            )
        if self.speed not in ("p95_latency", "throughput"):
            raise ValueError("RankingConfig.speed must be 'p95_latency' or 'throughput'")
        if self.normalisation not in ("best_ratio", "minmax"):
            raise ValueError("RankingConfig.normalisation must be 'best_ratio' or 'minmax'")
        if self.n_resamples < 100:
            raise ValueError(f"RankingConfig.n_resamples must be >= 100, got {self.n_resamples}")
        for name in ("confidence", "alpha", "power"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ValueError(f"RankingConfig.{name} must lie in (0, 1), got {value!r}")
