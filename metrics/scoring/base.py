"""The scoring protocol and its one result type, :class:`Scored`.

Every door of Bakeoff (``bakeoff evaluate``, ``GET /bakeoffs/{id}/results``, the Python
client, reports, dashboards, the demo) shows numbers read from a :class:`Scored`; none
computes a metric, an interval or a cost itself. One module per task type implements
:class:`Scorer` (the crowd-kit layout: a shared base, one module per algorithm):

=================  ==========================  =============================================
task type          module                      main metric (``Scored.main_title``)
=================  ==========================  =============================================
classification     :mod:`.classification`      accuracy
multilabel         :mod:`.multilabel`          exact match (the whole label set equals gold)
spans              :mod:`.spans`               per-item span F1 (exact boundaries and type)
detection          :mod:`.detection`           per-image F1 @ IoU 0.5 (boxes)
segmentation       :mod:`.segmentation`        per-image mask F1 @ IoU 0.5
preference         :mod:`.preference`          agreement with gold (A / B / tie)
rating             :mod:`.rating`              rating agreement (1 - |rating - gold| / range)
transcription      :mod:`.transcription`       word error rate (lower is better)
=================  ==========================  =============================================

Each main metric comes twice in ``Scored.summary``:

* ``<main>`` (e.g. ``accuracy``): over the items the candidate *answered*;
* ``<main>_all`` (e.g. ``accuracy_all``): over *all* gold items, an unanswered item
  counting as wrong (score 0). This is the ranking metric: a candidate cannot look good
  by skipping hard items.

Every summary metric carries its 95% interval (``MetricResult.ci``): the project's
:func:`metrics.intervals.mean_interval` for a mean of per-item scores in ``[0, 1]``
(the modified Wilson interval for 0/1 outcomes), otherwise a percentile bootstrap of
the gold items (:mod:`metrics.scoring._intervals`; the same resamples for every metric
and, with the same seed, for every candidate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeAlias

import numpy as np
import pandas as pd

from metrics.aggregation import TiePolicy
from metrics.classification import KappaWeights
from metrics.defaults import DEFAULT_MIN_COVERAGE
from metrics.transcription import Normalization
from metrics.types import MetricResult

__all__ = [
    "TaskType",
    "UnknownLabels",
    "WarningCode",
    "ScoringOptions",
    "ScoringWarning",
    "UnknownLabelsError",
    "Operations",
    "CrowdAgreement",
    "Scored",
    "Scorer",
    "ITEM_COLUMNS",
    "NOT_ENOUGH_RESULTS",
    "NO_RESULTS",
    "Status",
]

TaskType: TypeAlias = Literal[
    "classification",
    "multilabel",
    "detection",
    "segmentation",
    "spans",
    "keypoints",
    "preference",
    "rating",
    "transcription",
]
UnknownLabels: TypeAlias = Literal["refuse", "wrong"]
WarningCode: TypeAlias = Literal[
    "no_labels",
    "low_coverage",
    "vocabulary_mismatch",
    "crowd_ties",
    "crowd_no_majority",
    "labels_outside_gold",
    "several_annotators",
    "unreturned_latency",
    "unusable_objects",
    "rating_scale_inferred",
    "missing_criteria",
    "empty_references",
]

#: Columns of :attr:`Scored.items`.
ITEM_COLUMNS: tuple[str, ...] = ("answered", "score", "n_answers", "n_objects", "tie")

#: :attr:`Scored.status` below the coverage floor (some answers) and with no answer at
#: all; the ranking's ``SystemRanking.status`` uses the same words.
NOT_ENOUGH_RESULTS = "not_enough_results"
NO_RESULTS = "no_results"
Status: TypeAlias = Literal["ok", "not_enough_results", "no_results"]


@dataclass(frozen=True)
class ScoringOptions:
    """How to score: intervals, coverage floor, vocabulary and matching settings.

    Attributes
    ----------
    n_resamples
        Bootstrap resamples of the gold items (for metrics that are not proportions).
    seed
        Seed of the bootstrap: the same seed gives the same intervals, and the same
        resamples for every candidate scored on the same gold (paired).
    level
        Confidence level of every interval.
    min_coverage
        Coverage floor: below it (or with no answer at all) a candidate has "not enough
        results" and gets no rank (:attr:`Scored.enough_results`).
    unknown_labels
        Labels outside the vocabulary: ``"refuse"`` raises :class:`UnknownLabelsError`
        naming them; ``"wrong"`` scores them as wrong and warns.
    classes
        The vocabulary (class, category or entity-type names); ``None``: those in gold.
    iou_threshold
        Detection and segmentation: smallest IoU of a matched pair.
    kappa_weights
        Classification: weights of Cohen's kappa (ordinal classes).
    ties
        Several annotators per item: what :func:`metrics.aggregation.majority_vote` does with
        a tied vote (ties are counted per item and per class and reported either way):
        ``"wrong"`` (default, as the review-queue flags do) scores a tied item as answered
        but wrong; ``"random"`` takes one of the tied classes (seeded by ``seed``);
        ``"dawid_skene"`` the one the annotators' fitted reliabilities favour.
    min_slice_items
        Smallest metadata slice reported in :attr:`Scored.per_slice`.
    keypoint_sigmas
        Keypoints: per category, the OKS falloff of each keypoint in order (pairs
        ``(category, sigmas)``; category ``"*"``: every category not named); a category
        without sigmas uses COCO's person sigmas when it has 17 keypoints.
        ``iou_threshold`` is then the smallest OKS of a matched pair.
    rating_scale
        Ratings: the ordinal scale ``(lowest, highest)`` of every criterion; ``None``:
        the gold items' metadata ``scale_min``/``scale_max``, else the range seen.
    transcript_normalization
        Transcription: what is normalised before WER/CER (case, numbers, punctuation,
        whitespace; :class:`metrics.transcription.Normalization`). Default: lowercase,
        numbers to words, punctuation stripped, whitespace collapsed.
    coco_image_ids
        Detection and segmentation: pairs ``(item, COCO image id)``. COCO AP/AR visits
        images in id order, as ``COCOeval.accumulate`` does, and that order decides which
        of two detections with the same score on different images counts first; items
        not named follow in gold order. Empty: gold order.
    """

    n_resamples: int = 1000
    seed: int = 0
    level: float = 0.95
    min_coverage: float = DEFAULT_MIN_COVERAGE
    unknown_labels: UnknownLabels = "refuse"
    classes: tuple[str, ...] | None = None
    iou_threshold: float = 0.5
    kappa_weights: KappaWeights = "none"
    ties: TiePolicy = "wrong"
    min_slice_items: int = 5
    keypoint_sigmas: tuple[tuple[str, tuple[float, ...]], ...] = ()
    rating_scale: tuple[int, int] | None = None
    transcript_normalization: Normalization = Normalization(
        lowercase=True, strip_punctuation=True, numbers="words"
    )
    coco_image_ids: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if isinstance(self.n_resamples, bool) or int(self.n_resamples) < 1:
            raise ValueError(f"n_resamples must be a positive integer, got {self.n_resamples!r}")
        if not 0.0 < float(self.level) < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {self.level!r}")
        if not 0.0 <= float(self.min_coverage) <= 1.0:
            raise ValueError(f"min_coverage must lie in [0, 1], got {self.min_coverage!r}")
        if self.unknown_labels not in ("refuse", "wrong"):
            raise ValueError(
                f"unknown_labels must be 'refuse' or 'wrong', got {self.unknown_labels!r}"
            )
        if not 0.0 < float(self.iou_threshold) <= 1.0:
            raise ValueError(f"iou_threshold must lie in (0, 1], got {self.iou_threshold!r}")
        if self.rating_scale is not None and (
            len(self.rating_scale) != 2 or int(self.rating_scale[0]) >= int(self.rating_scale[1])
        ):
            raise ValueError(f"rating_scale must be (lowest, highest), got {self.rating_scale!r}")
        if self.min_slice_items < 1:
            raise ValueError(f"min_slice_items must be >= 1, got {self.min_slice_items!r}")


@dataclass(frozen=True)
class ScoringWarning:
    """A caveat a door must show next to the numbers (``code`` for machines)."""

    code: WarningCode
    message: str


class UnknownLabelsError(ValueError):
    """Labels use classes outside the vocabulary (``ScoringOptions.unknown_labels="refuse"``).

    Attributes
    ----------
    unknown
        The unknown values, sorted.
    known
        The vocabulary, sorted.
    """

    def __init__(self, unknown: list[str], known: list[str], *, what: str = "classes") -> None:
        self.unknown = tuple(unknown)
        self.known = tuple(known)
        shown = ", ".join(repr(u) for u in unknown[:20])
        more = f" and {len(unknown) - 20} more" if len(unknown) > 20 else ""
        super().__init__(
            f"unknown {what} {shown}{more}; the gold vocabulary has: "
            f"{', '.join(known[:50])}{' ...' if len(known) > 50 else ''}"
        )


@dataclass(frozen=True, eq=False)
class Operations:
    """Cost and latency of one candidate, with unreturned items accounted for.

    Computed by :func:`metrics.scoring.operations.score_operations`. An item the
    candidate never returned counts with the deadline as its latency (when a deadline
    is known) and with what it was billed (usually nothing) as its cost; cost per item
    divides by *all* gold items and cost per correct label by the correct ones.

    Attributes
    ----------
    total_cost
        Sum of :attr:`item_costs` (``None`` when no cost is known).
    cost_per_item, cost_per_correct
        With intervals (paired bootstrap on the same resamples as the metrics).
    latency
        ``p50``, ``p90``, ``p95``, ``p99``, ``max`` in seconds (``p95`` with an interval),
        and ``throughput_per_hour``; empty when no timing is known.
    n_completed, n_unreturned
        Items that came back, and items that did not (charged the deadline).
    deadline_s
        The deadline used for unreturned items (``None``: they are left out).
    item_costs, latency_s
        Per gold item (index ``task``): billed amount and seconds (deadline filled in).
    """

    total_cost: float | None
    cost_per_item: MetricResult | None
    cost_per_correct: MetricResult | None
    latency: Mapping[str, MetricResult]
    n_completed: int
    n_unreturned: int
    deadline_s: float | None
    item_costs: pd.Series[float] | None
    latency_s: pd.Series[float] | None


@dataclass(frozen=True)
class CrowdAgreement:
    """Agreement among a crowd's annotators on the gold items: the measures of
    ``bakeoff agreement``, by the same functions (:mod:`metrics.agreement`).

    Attributes
    ----------
    fleiss_kappa
        :func:`metrics.agreement.fleiss_kappa` (``nan`` when undefined, e.g. one class
        only); ``None`` when the items have different numbers of answers
        (:attr:`fleiss_kappa_note` says why).
    fleiss_kappa_note
        Why :attr:`fleiss_kappa` is absent; ``None`` when it is given.
    krippendorff_alpha
        :func:`metrics.agreement.krippendorff_alpha` at :attr:`level` (missing answers
        allowed; ``nan`` when undefined).
    level
        Level of measurement of the alpha: classes are nominal.
    n_items
        Gold items with at least two answers (the items both measures use).
    min_answers, max_answers
        Fewest and most answers on one answered gold item.
    """

    fleiss_kappa: float | None
    fleiss_kappa_note: str | None
    krippendorff_alpha: float
    level: Literal["nominal"]
    n_items: int
    min_answers: int
    max_answers: int


@dataclass(frozen=True, eq=False)
class Scored:
    """One candidate scored against gold: the only thing a door reads.

    Attributes
    ----------
    task_type
        Which scorer produced it.
    main_metric
        Key of the main metric over answered items in :attr:`summary` (``accuracy``,
        ``exact_match``, ``per_item_span_f1``, ``per_image_f1``);
        ``<main>_all`` is the same over all items.
    main_title
        The main metric's name in words, the same in every door.
    item_metric, item_title
        When the main metric is not a mean of per-item scores in ``[0, 1]``
        (transcription's WER): the key and words of the metric :attr:`items` ``score``
        holds, which the ranking orders by (:attr:`ranking_metric`).
    items
        Per-item outcomes, index ``task`` in gold order; columns :data:`ITEM_COLUMNS`:
        ``answered`` (bool), ``score`` (main metric of the item in ``[0, 1]``, NaN when
        unanswered), ``n_answers`` (answers received, several for crowds), ``n_objects``
        (labels delivered: 1 per answer for a class, boxes/spans/classes in a set),
        ``tie`` (crowd vote was tied).
    summary
        Metric name -> :class:`~metrics.types.MetricResult` with its ``ci`` (``None``
        when no interval is defined, e.g. COCO AP). Always has the main metric,
        ``<main>_all`` and ``coverage``.
    per_class
        Index class (or entity type/category) name; columns depend on the task type
        (``precision``, ``recall``, ``f1``, ``support`` at least; ``n_ties`` for crowds).
    confusion
        Classification: counts, index gold class, columns predicted class.
    per_annotator
        Crowds: index annotator; ``n_items``, ``agreement_with_gold``,
        ``agreement_with_peers`` (classes and label sets: agreement of the answers; boxes,
        masks, keypoints and spans: the annotator's mean per-item F1 against gold and
        against the fused consensus). ``None`` with one annotator per item.
    crowd_agreement
        Classification crowds (some item with several answers): Fleiss' kappa and
        Krippendorff's alpha among the annotators (:class:`CrowdAgreement`); ``None``
        otherwise.
    per_slice
        Metadata slices (see :func:`metrics.scoring.slices.slice_table`), or ``None``.
    box_bias
        Detection: mean signed edge offset per class (``class``, ``edge``,
        ``mean_offset``, ``n``).
    coco
        Detection and segmentation: the 12 COCO AP/AR numbers by name (boxes without a
        confidence count with confidence 1).
    n_items, n_answered, n_labels, n_ties
        Gold items, items answered, labels delivered (objects), tied crowd votes.
    min_coverage
        The coverage floor used for :attr:`enough_results`.
    warnings
        Caveats to show (low coverage, no labels, vocabulary mismatch, crowd ties...).
    options
        The options it was scored with.
    operations
        Cost and latency, when the door knows them (:func:`.operations.with_operations`).
    """

    task_type: TaskType
    main_metric: str
    main_title: str
    items: pd.DataFrame
    summary: Mapping[str, MetricResult]
    per_class: pd.DataFrame
    n_items: int
    n_answered: int
    n_labels: int
    n_ties: int
    min_coverage: float
    options: ScoringOptions
    warnings: tuple[ScoringWarning, ...] = ()
    confusion: pd.DataFrame | None = None
    per_annotator: pd.DataFrame | None = None
    per_slice: pd.DataFrame | None = None
    box_bias: pd.DataFrame | None = None
    coco: Mapping[str, float] | None = None
    operations: Operations | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    item_metric: str | None = None
    item_title: str | None = None
    crowd_agreement: CrowdAgreement | None = None

    @property
    def ranking_metric(self) -> str:
        """Key of the ranked quantity: the mean of :attr:`item_scores` over all gold items
        (an unanswered item scores 0), which paired tests compare and the ranking orders by.

        ``<main>_all`` (e.g. ``accuracy_all``), unless the main metric is not a mean of
        per-item scores in ``[0, 1]``: transcription ranks by ``word_accuracy_all`` (named
        by :attr:`ranking_title`), which is what makes a lower WER better; ``wer_all``
        stays in :attr:`summary` beside it.
        """
        return f"{self.item_metric}_all" if self.item_metric else f"{self.main_metric}_all"

    @property
    def ranking_title(self) -> str:
        """The ranked quantity (:attr:`ranking_metric`) in words, the same in every door."""
        if self.item_metric:
            return self.item_title or self.item_metric.replace("_", " ")
        return self.main_title

    @property
    def item_score_metric(self) -> str:
        """The same as :attr:`ranking_metric` (kept for the paired tests' readers)."""
        return self.ranking_metric

    @property
    def coverage(self) -> float:
        """Share of gold items answered."""
        return self.n_answered / self.n_items if self.n_items else 0.0

    @property
    def enough_results(self) -> bool:
        """Whether the candidate may be ranked: some answers, coverage at the floor."""
        return self.n_answered > 0 and self.coverage >= self.min_coverage - 1e-12

    @property
    def status(self) -> Status:
        """``"ok"``; ``"not_enough_results"`` (coverage below the floor) or
        ``"no_results"`` (nothing answered): shown instead of a rank."""
        if self.n_answered == 0:
            return "no_results"
        return "ok" if self.enough_results else "not_enough_results"

    @property
    def item_scores(self) -> pd.Series[float]:
        """The main metric per gold item (NaN where unanswered), index ``task``."""
        return self.items["score"].astype(np.float64)

    def value(self, name: str) -> float:
        """The point value of summary metric ``name`` (``nan`` when absent)."""
        result = self.summary.get(name)
        return float(result.value) if result is not None else float("nan")


class Scorer(Protocol):
    """What each ``metrics.scoring.<task_type>`` module's ``score`` function is."""

    def __call__(
        self,
        gold: pd.Series[Any],
        labels: pd.Series[Any] | pd.DataFrame,
        *,
        options: ScoringOptions = ...,
        metadata: pd.DataFrame | None = None,
    ) -> Scored: ...
