"""The report's results: frozen pydantic models that are also the JSON schema.

``Report.model_json_schema()`` is the machine-readable contract of ``render_json``;
``docs/report-schema.json`` is that schema, checked in (a test keeps them equal), and
``docs/report-schema.md`` explains the fields in words.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "SCHEMA_VERSION",
    "SystemStatus",
    "Verdict",
    "Estimate",
    "SystemRanking",
    "PairwiseComparison",
    "SampleSizeAdvice",
    "Ranking",
    "ClassRow",
    "SliceRow",
    "AnnotatorRow",
    "BoxBiasRow",
    "KeypointRow",
    "ConfusionMatrix",
    "LatencySummary",
    "CostProjection",
    "TrendRow",
    "TrendWarning",
    "CrowdAgreement",
    "SystemScores",
    "Report",
]

SCHEMA_VERSION: Literal["1.0"] = "1.0"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


SystemStatus = Literal["ranked", "excluded", "not_enough_results", "no_results"]
Verdict = Literal["pick", "tied", "only_one", "none_eligible", "no_results"]


class Estimate(_Frozen):
    """A point estimate with its interval (``null`` bounds when none).

    Proportions use the modified Wilson interval, means of bounded per-item scores the
    effective-sample-size Wilson interval, everything else the paired bootstrap (see
    :mod:`metrics.intervals`).
    """

    value: float | None = Field(description="Point estimate; null when undefined.")
    low: float | None = Field(default=None, description="Lower interval bound.")
    high: float | None = Field(default=None, description="Upper interval bound.")


class SystemRanking(_Frozen):
    """One system's row in the ranking."""

    name: str
    rank: int | None = Field(description="1 = best; null when not ranked (see status).")
    status: SystemStatus = Field(
        default="ranked",
        description=(
            "ranked; excluded (breaks a hard constraint); not_enough_results (coverage "
            "below the floor); no_results (nothing labelled)."
        ),
    )
    eligible: bool = Field(description="True when the system meets every hard constraint.")
    violations: list[str] = Field(description="The constraints it breaks, in words.")
    score: Estimate | None = Field(
        description=(
            "Weighted normalised score in [0, 1] (no interval: under best-ratio "
            "normalisation the leader is 1 in almost every resample; see score_gap)."
        )
    )
    score_gap: Estimate | None = Field(
        default=None,
        description=(
            "Leader's score minus this system's, with the interval of that paired "
            "difference (normal, bootstrap standard error); 0 for the leader."
        ),
    )
    accuracy: Estimate = Field(description="Main metric over all golden items (skipped=wrong).")
    coverage: float = Field(description="Share of golden items the system labelled.")
    n_labelled: int | None = Field(default=None, description="Golden items it labelled.")
    n_items: int = Field(description="Golden items in the bake-off.")
    p95_latency_s: Estimate | None
    throughput_per_hour: Estimate | None
    cost_per_item: Estimate | None
    cost_per_correct: Estimate | None = Field(description="Total cost / correct labels.")
    components: dict[str, float] = Field(
        description="Normalised accuracy/speed/cost in [0, 1] that the score weighs."
    )
    tie_group: int | None = Field(
        description="Number of the first letter group the system is in (1 = group a)."
    )
    letters: str = Field(
        default="",
        description=(
            "Compact letter display: two ranked systems that share a letter are not "
            "separated by the Holm-adjusted paired test of the score; none shared: they are."
        ),
    )
    pareto_optimal: bool = Field(description="On the cost-accuracy Pareto front.")


class PairwiseComparison(_Frozen):
    """A paired test between two systems on the same golden items."""

    a: str
    b: str
    quantity: Literal["score", "accuracy"]
    test: str
    difference: float = Field(description="Quantity of a minus quantity of b.")
    low: float | None = Field(default=None, description="Lower bound of the difference.")
    high: float | None = Field(default=None, description="Upper bound of the difference.")
    p_value: float = Field(description="Raw p-value; values below 1e-300 print as '< 1e-300'.")
    p_adjusted: float = Field(description="Holm-adjusted over all pairs of this quantity.")
    significant: bool = Field(description="p_adjusted <= alpha (the one Holm rule).")


class SampleSizeAdvice(_Frozen):
    """Whether the golden set separates the two leaders, and if not, how many items would."""

    leader: str
    runner_up: str
    quantity: Literal["score", "accuracy"]
    separated: bool
    observed_difference: float
    current_items: int
    required_items: int | None = Field(
        description="Items needed to detect the observed difference; null when it is zero."
    )
    additional_items: int | None
    message: str


class Ranking(_Frozen):
    """The verdict: ranked systems, ties, Pareto front and advice in words."""

    main_metric: str
    verdict: Verdict = Field(
        default="pick",
        description=(
            "pick (the leader is separated from every other ranked system); tied; "
            "only_one (a single ranked system); none_eligible; no_results."
        ),
    )
    weights: dict[str, float]
    constraints: dict[str, float | None]
    speed_measure: str
    normalisation: str
    confidence: float
    alpha: float
    n_resamples: int
    systems: list[SystemRanking] = Field(description="Ranked systems first, then excluded.")
    comparisons: list[PairwiseComparison]
    tie_groups: list[list[str]] = Field(
        description="Letter groups (a, b, ...) of the compact letter display; may overlap."
    )
    group_rule: str = Field(default="", description="How the groups are built, in words.")
    pareto_front: list[str] = Field(description="Systems no other is cheaper and better than.")
    sample_size: list[SampleSizeAdvice]
    summary: list[str] = Field(description="The verdict and caveats, as sentences.")


class ClassRow(_Frozen):
    system: str
    cls: str = Field(description="Class name.")
    metric: str
    value: float | None


class SliceRow(_Frozen):
    system: str
    key: str = Field(description="Metadata field, e.g. 'lighting'.")
    value: str = Field(description="Metadata value, e.g. 'dim'.")
    n_items: int
    accuracy: Estimate
    overall: float
    gap: float = Field(description="Slice accuracy minus the system's overall accuracy.")
    p_value: float | None = Field(description="Two-sided test of slice vs the rest.")


class AnnotatorRow(_Frozen):
    system: str
    annotator: str
    n_items: int | None
    agreement_with_gold: float | None
    agreement_with_peers: float | None


class BoxBiasRow(_Frozen):
    system: str
    cls: str
    edge: Literal["left", "top", "right", "bottom"]
    mean_offset: float
    n: int
    low: float | None = Field(default=None, description="Lower bound of the mean offset.")
    high: float | None = Field(default=None, description="Upper bound of the mean offset.")
    significant: bool = Field(
        default=False,
        description="Interval excludes 0 and |mean offset| exceeds the bias threshold.",
    )


class KeypointRow(_Frozen):
    """Keypoints: how close one keypoint of one category lands, per system (from the engine's
    ``Scored.extra["per_keypoint"]``, over the COCO matches at OKS 0.5)."""

    system: str
    cls: str
    keypoint: int = Field(description="Position of the keypoint in the category's order (0-based).")
    similarity: float | None = Field(
        default=None, description="Mean keypoint similarity exp(-d^2 / 2 s^2 k^2) in [0, 1]."
    )
    median_error_px: float | None = Field(
        default=None, description="Median distance to the gold keypoint, in pixels."
    )


class ConfusionMatrix(_Frozen):
    system: str
    labels_gold: list[str]
    labels_predicted: list[str]
    counts: list[list[float]] = Field(description="Rows gold, columns predicted.")


class LatencySummary(_Frozen):
    system: str
    n_completed: int
    n_pending: int = Field(description="Items sent but never completed.")
    p50_s: float | None
    p90_s: float | None
    p95_s: float | None
    p99_s: float | None
    max_s: float | None
    throughput_per_hour: float | None = Field(
        description="Completed items per hour from first dispatch to last completion."
    )
    quantile_levels: list[float] = Field(description="ECDF levels, for plotting.")
    quantiles_s: list[float] = Field(description="Latency at each level.")


class CostProjection(_Frozen):
    system: str
    volume: int = Field(description="Production items per period.")
    currency: str
    variable_cost: float = Field(description="Per-item + per-label + hourly charges.")
    minimum_commitment: float
    projected_cost: float = Field(description="max(variable cost, minimum commitment).")
    minimum_binds: bool
    cost_per_item: float
    cost_per_correct: float | None = Field(description="Projected cost / expected correct.")


class TrendRow(_Frozen):
    system: str
    bakeoff: str
    when: datetime
    value: float
    low: float
    high: float
    n_items: int
    weights: dict[str, float] | None = Field(
        default=None, description="Ranking weights that bake-off used (null: unknown)."
    )
    cost_per_correct: float | None = Field(
        default=None, description="The engine's cost per correct label in that bake-off."
    )
    currency: str | None = Field(default=None, description="Currency of cost_per_correct.")


class TrendWarning(_Frozen):
    system: str
    previous_bakeoff: str
    current_bakeoff: str
    previous: float
    current: float
    drop: float
    p_value: float
    message: str


class CrowdAgreement(_Frozen):
    """Agreement among a crowd's annotators on the gold items, as ``bakeoff agreement``
    reports it (the engine's :class:`metrics.scoring.CrowdAgreement`)."""

    fleiss_kappa: float | None = Field(
        description="Fleiss' kappa; null when undefined or when the items have different "
        "numbers of answers (fleiss_kappa_note says why)."
    )
    fleiss_kappa_note: str | None = Field(
        default=None, description="Why fleiss_kappa is absent; null when it is given."
    )
    krippendorff_alpha: float | None = Field(
        description="Krippendorff's alpha at level (missing answers allowed); null when undefined."
    )
    level: Literal["nominal"] = "nominal"
    n_items: int = Field(description="Gold items with at least two answers.")
    min_answers: int = Field(description="Fewest answers on one answered gold item.")
    max_answers: int = Field(description="Most answers on one answered gold item.")


class SystemScores(_Frozen):
    """One candidate's numbers from the scoring engine (:mod:`metrics.scoring`).

    The same object is what ``bakeoff evaluate --json``, ``GET /bakeoffs/{id}/results``
    (``vendors[].scores``), the Python client and the report show, so every door gives
    identical values and intervals.
    """

    task_type: str
    main_metric: str = Field(
        description="Key of the main metric over answered items, e.g. 'accuracy'."
    )
    ranking_metric: str = Field(
        description="Key of the ranked quantity, the mean per-item score over all gold "
        "items (unanswered = 0): '<main_metric>_all', e.g. 'accuracy_all'; transcription "
        "ranks by 'word_accuracy_all' (a lower WER is better, so 'wer_all' is not ranked)."
    )
    main_title: str = Field(description="The main metric in words, e.g. 'per-image F1 @ IoU 0.5'.")
    ranking_title: str = Field(
        default="",
        description="The ranked quantity in words: main_title, or for transcription "
        "'word accuracy (mean over items of 1 - min(WER, 1), higher is better)'.",
    )
    status: Literal["ok", "not_enough_results", "no_results"] = Field(
        description="not_enough_results: coverage below the floor; no_results: nothing "
        "labelled. Either way no rank."
    )
    n_items: int
    n_answered: int
    n_labels: int = Field(description="Labels delivered (objects: boxes, spans, classes).")
    n_ties: int = Field(description="Items whose crowd vote was tied.")
    coverage: float
    min_coverage: float = Field(description="The coverage floor for a rank.")
    metrics: dict[str, Estimate] = Field(
        description="Every summary metric with its interval (metrics.intervals.mean_interval "
        "for means of per-item scores, paired percentile bootstrap otherwise)."
    )
    coco: dict[str, float] | None = Field(
        default=None, description="Detection/segmentation: the 12 COCO AP/AR numbers."
    )
    total_cost: float | None = None
    cost_per_item: Estimate | None = Field(default=None, description="Total cost / all gold items.")
    cost_per_correct: Estimate | None = Field(
        default=None, description="Total cost / correct items (sum of the main metric)."
    )
    latency: dict[str, Estimate] = Field(
        default_factory=dict,
        description="Seconds: p50_s, p90_s, p95_s, p99_s, mean_s, max_s; "
        "throughput_per_hour. An unreturned item counts with the deadline.",
    )
    n_unreturned: int = Field(default=0, description="Items that never came back.")
    deadline_s: float | None = Field(
        default=None, description="Latency charged to an unreturned item."
    )
    warnings: list[str] = Field(default_factory=list)
    crowd_agreement: CrowdAgreement | None = Field(
        default=None,
        description="Classification crowds (some item with several answers): Fleiss' kappa "
        "and Krippendorff's alpha among the annotators; null otherwise.",
    )


class Report(_Frozen):
    """A whole bake-off report (the JSON output of ``render_json``)."""

    schema_version: Literal["1.0"] = SCHEMA_VERSION
    title: str
    generated_at: datetime
    n_items: int
    main_metric: str
    production_volume: int | None
    ranking: Ranking
    metrics: dict[str, dict[str, float | None]] = Field(
        description="Further metrics: system -> metric name -> value."
    )
    per_class: list[ClassRow]
    slices: list[SliceRow] = Field(description="Worst slices first.")
    annotators: list[AnnotatorRow]
    box_bias: list[BoxBiasRow]
    per_keypoint: list[KeypointRow] = Field(
        default_factory=list, description="Keypoints: per system, category and keypoint."
    )
    confusion: list[ConfusionMatrix]
    latency: list[LatencySummary]
    cost_projection: list[CostProjection]
    trends: list[TrendRow]
    trend_warnings: list[TrendWarning]
    scores: dict[str, SystemScores] = Field(
        default_factory=dict,
        description="system -> the scoring engine's numbers (values, intervals, status).",
    )
    currencies: dict[str, str] = Field(
        default_factory=dict,
        description="system -> ISO currency of its money figures (systems with a price list).",
    )
    currency: str | None = Field(
        default=None,
        description="The one currency every priced system uses; null when none is priced "
        "or they differ (then read currencies).",
    )
