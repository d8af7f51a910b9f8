"""Where each system is strong or weak: classes, slices, annotators, boxes, time, money.

Every function here is pure: it turns :class:`~reports.inputs.SystemEvaluation` objects
(and, for slices and trends, item metadata and earlier bake-offs' results) into the
rows of :mod:`reports.results`.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable, Mapping, Sequence
from types import ModuleType

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtr, ndtri  # scipy.stats.norm's ppf and sf, without scipy.stats

from metrics.intervals import format_p_value, mean_interval
from metrics.scoring import slice_table
from metrics.scoring.slices import metadata_slices
from reports._bootstrap import sample_quantile
from reports.inputs import BOX_EDGES, DEFAULT_MIN_COVERAGE, SystemEvaluation, TrendPoint
from reports.results import (
    AnnotatorRow,
    BoxBiasRow,
    ClassRow,
    ConfusionMatrix,
    CostProjection,
    Estimate,
    KeypointRow,
    LatencySummary,
    SliceRow,
    TrendRow,
    TrendWarning,
)

__all__ = [
    "class_breakdown",
    "slice_breakdown",
    "annotator_breakdown",
    "box_bias_breakdown",
    "keypoint_breakdown",
    "confusion_matrices",
    "latency_summaries",
    "cost_projection",
    "trend_breakdown",
]


def _stats() -> ModuleType:
    """``scipy.stats``, imported on first use: only slices and offsets need it (1 s)."""
    return importlib.import_module("scipy.stats")


def _finite_or_none(x: object) -> float | None:
    try:
        value = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def class_breakdown(systems: Sequence[SystemEvaluation]) -> list[ClassRow]:
    """One row per (system, class) from each system's ``per_class`` metric.

    Returns
    -------
    list of ClassRow
        In system order, classes sorted by name.
    """
    rows: list[ClassRow] = []
    for s in systems:
        if s.per_class is None or s.per_class.per_item is None:
            continue
        per = s.per_class.per_item
        for cls in sorted(per.index, key=str):
            rows.append(
                ClassRow(
                    system=s.name,
                    cls=str(cls),
                    metric=s.per_class.name,
                    value=_finite_or_none(per.loc[cls]),
                )
            )
    return rows


def _two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that two proportions are equal.

    Fisher's exact test on the 2x2 table while it is cheap (fewer than 5,000 items or an
    expected cell below 10); Pearson's chi-square test (no continuity correction)
    beyond, where the two agree to a few decimals and Fisher's becomes slow.
    """
    table = np.array([[k1, n1 - k1], [k2, n2 - k2]], dtype=np.float64)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if table.sum() < 5000 or expected.min() < 10:
        return float(_stats().fisher_exact(table.astype(np.int64))[1])
    return float(_stats().chi2_contingency(table, correction=False)[1])


def slice_breakdown(
    systems: Sequence[SystemEvaluation],
    metadata: pd.DataFrame,
    *,
    min_items: int = 5,
    confidence: float = 0.95,
) -> list[SliceRow]:
    """The main metric per metadata slice (e.g. ``lighting=dim``), worst slices first.

    Parameters
    ----------
    systems
        The candidates; ``item_scores`` NaN (skipped) counts as wrong.
    metadata
        Indexed by golden item id, one column per metadata field. Columns with more
        than 50 distinct values (ids, file names) are not sliced; missing values are
        left out of every slice of that field.
    min_items
        Smallest slice reported.
    confidence
        Level of the per-slice interval (:func:`metrics.intervals.mean_interval`: the
        modified Wilson interval for 0/1 scores, the effective-sample-size Wilson
        interval otherwise; always inside ``[0, 1]``).

    Returns
    -------
    list of SliceRow
        Sorted by slice accuracy, lowest first, then by the gap to the system's overall.
        ``p_value`` compares the slice with the rest of the items (Fisher's exact test
        for 0/1 scores, or Pearson's chi-square once the table is large; Welch's t-test
        for scores that are not 0/1).

    Raises
    ------
    TypeError
        When ``metadata`` is not a DataFrame.
    ValueError
        When ``metadata`` has duplicate item ids.
    """
    if not isinstance(metadata, pd.DataFrame):
        raise TypeError(f"metadata must be a pandas DataFrame, got {type(metadata).__name__}")
    if not metadata.index.is_unique:
        raise ValueError("metadata has duplicate item ids in its index")
    # The slices (field, value, mask) are the same for every system: find them once.
    slices = metadata_slices(metadata)
    rows: list[SliceRow] = []
    for s in systems:
        if s.scored is not None:
            rows += _engine_slices(s, metadata, min_items=min_items, confidence=confidence)
            continue
        scores = s.item_scores.reindex(metadata.index).fillna(0.0).to_numpy(dtype=np.float64)
        known = metadata.index.isin(s.item_scores.index)
        binary = bool(np.all((scores == 0) | (scores == 1)))
        overall = float(s.item_scores.fillna(0.0).mean())
        for key, value, slice_mask, present_mask in slices:
            mask = slice_mask & known
            n_in = int(mask.sum())
            if n_in < min_items:
                continue
            inside = scores[mask]
            rest = scores[present_mask & known & ~mask]
            acc = float(inside.mean())
            p_value: float | None = None
            # The project's interval policy: bounded, never outside [0, 1].
            low, high = mean_interval(inside, level=confidence).as_pair()
            if binary:
                if rest.size:
                    p_value = _two_proportion_p(
                        int(inside.sum()), n_in, int(rest.sum()), int(rest.size)
                    )
            else:
                if rest.size > 1 and n_in > 1:
                    test = _stats().ttest_ind(inside, rest, equal_var=False)
                    p_value = _finite_or_none(test.pvalue)
            rows.append(
                SliceRow(
                    system=s.name,
                    key=key,
                    value=value,
                    n_items=n_in,
                    accuracy=Estimate(value=acc, low=low, high=high),
                    overall=overall,
                    gap=acc - overall,
                    p_value=p_value,
                )
            )
    rows.sort(key=lambda r: (r.accuracy.value or 0.0, r.gap, r.system, r.key, r.value))
    return rows


def _engine_slices(
    s: SystemEvaluation, metadata: pd.DataFrame, *, min_items: int, confidence: float
) -> list[SliceRow]:
    """Slices of a system read from the scoring engine (:func:`metrics.scoring.slice_table`)."""
    scored = s.scored
    if scored is None:  # pragma: no cover - checked by the caller
        return []
    table = scored.per_slice
    if table is None or scored.options.min_slice_items != min_items:
        table = slice_table(s.item_scores, metadata, min_items=min_items, level=confidence)
    return [
        SliceRow(
            system=s.name,
            key=str(r["key"]),
            value=str(r["value"]),
            n_items=int(r["n_items"]),
            accuracy=Estimate(
                value=float(r["score"]),
                low=_finite_or_none(r["low"]),
                high=_finite_or_none(r["high"]),
            ),
            overall=float(r["overall"]),
            gap=float(r["gap"]),
            p_value=_finite_or_none(r["p_value"]),
        )
        for r in table.to_dict("records")
    ]


def annotator_breakdown(systems: Sequence[SystemEvaluation]) -> list[AnnotatorRow]:
    """One row per annotator inside each vendor that reports annotator ids.

    Returns
    -------
    list of AnnotatorRow
        Per system, annotators by increasing agreement with gold (worst first).
    """
    rows: list[AnnotatorRow] = []
    for s in systems:
        gold = s.annotator_gold.per_item if s.annotator_gold is not None else None
        peers = s.annotator_peers.per_item if s.annotator_peers is not None else None
        ids: pd.Index = pd.Index([])
        for part in (gold, peers, s.annotator_items):
            if part is not None:
                ids = ids.union(part.index)
        block = [
            AnnotatorRow(
                system=s.name,
                annotator=str(a),
                n_items=(
                    int(s.annotator_items.loc[a])
                    if s.annotator_items is not None and a in s.annotator_items.index
                    else None
                ),
                agreement_with_gold=(
                    _finite_or_none(gold.loc[a]) if gold is not None and a in gold.index else None
                ),
                agreement_with_peers=(
                    _finite_or_none(peers.loc[a])
                    if peers is not None and a in peers.index
                    else None
                ),
            )
            for a in ids
        ]
        block.sort(
            key=lambda r: (
                r.agreement_with_gold if r.agreement_with_gold is not None else np.inf,
                r.annotator,
            )
        )
        rows.extend(block)
    return rows


def _offset_interval(
    row: Mapping[Hashable, object], offset: float, n: int, confidence: float
) -> tuple[float | None, float | None]:
    """The mean offset's interval: given ``low``/``high``, or ``mean -+ t sd / sqrt(n)``."""
    low, high = _finite_or_none(row.get("low")), _finite_or_none(row.get("high"))
    if low is not None and high is not None:
        return min(low, offset), max(high, offset)
    sd = _finite_or_none(row.get("sd"))
    if sd is None or n < 2:
        return None, None
    half = float(_stats().t.ppf(1 - (1 - confidence) / 2, n - 1)) * sd / np.sqrt(n)
    return offset - half, offset + half


def keypoint_breakdown(systems: Sequence[SystemEvaluation]) -> list[KeypointRow]:
    """Keypoints: one row per system, category and keypoint, read from the engine's
    per-keypoint table (``Scored.extra["per_keypoint"]``); empty for other task types.

    Returns
    -------
    list of KeypointRow
        In system order, then the engine's (category, keypoint order).
    """
    rows: list[KeypointRow] = []
    for s in systems:
        table = s.scored.extra.get("per_keypoint") if s.scored is not None else None
        if not isinstance(table, pd.DataFrame) or table.empty:
            continue
        rows.extend(
            KeypointRow(
                system=s.name,
                cls=str(r["class"]),
                keypoint=int(r["keypoint"]),
                similarity=_finite_or_none(r["similarity"]),
                median_error_px=_finite_or_none(r["median_error_px"]),
            )
            for r in table.to_dict("records")
        )
    return rows


def box_bias_breakdown(
    systems: Sequence[SystemEvaluation],
    *,
    threshold: float = 2.0,
    confidence: float = 0.95,
) -> list[BoxBiasRow]:
    """Each vendor's mean signed offset of each box edge against gold, per class.

    Parameters
    ----------
    systems
        Systems with a ``box_bias`` table (others are skipped).
    threshold
        Smallest ``|mean offset|`` called significant (in the table's unit).
    confidence
        Level of the offset's interval (Student t from the optional ``sd`` column,
        or the table's own ``low``/``high``).

    Returns
    -------
    list of BoxBiasRow
        ``significant`` when the interval excludes 0 and ``|mean| > threshold``; an
        offset without an interval is never called significant.
    """
    rows: list[BoxBiasRow] = []
    edge_rank = {e: i for i, e in enumerate(BOX_EDGES)}
    for s in systems:
        if s.box_bias is None:
            continue
        table = s.box_bias.sort_values(
            ["class", "edge"], key=lambda c: c.map(edge_rank) if c.name == "edge" else c.astype(str)
        )
        for record in table.to_dict("records"):
            offset = _finite_or_none(record["mean_offset"])
            if offset is None:
                continue
            n = int(record["n"])
            low, high = _offset_interval(record, offset, n, confidence)
            significant = (
                low is not None
                and high is not None
                and (low > 0 or high < 0)
                and abs(offset) > threshold
            )
            rows.append(
                BoxBiasRow(
                    system=s.name,
                    cls=str(record["class"]),
                    edge=record["edge"],
                    mean_offset=offset,
                    n=n,
                    low=low,
                    high=high,
                    significant=bool(significant),
                )
            )
    return rows


def confusion_matrices(systems: Sequence[SystemEvaluation]) -> list[ConfusionMatrix]:
    """Each system's confusion matrix (rows gold, columns predicted) as plain lists."""
    out: list[ConfusionMatrix] = []
    for s in systems:
        if s.confusion is None:
            continue
        cm = s.confusion.fillna(0.0)
        out.append(
            ConfusionMatrix(
                system=s.name,
                labels_gold=[str(x) for x in cm.index],
                labels_predicted=[str(x) for x in cm.columns],
                counts=cm.to_numpy(dtype=np.float64).tolist(),
            )
        )
    return out


def latency_summaries(
    systems: Sequence[SystemEvaluation], *, n_levels: int = 101
) -> list[LatencySummary]:
    """Latency percentiles and throughput per system, and an ECDF at ``n_levels`` levels.

    When the caller passed a :class:`metrics.operations.LatencySummary`
    (``SystemEvaluation.latency_summary``), its percentiles, counts and throughput are
    reported as they are; otherwise the percentiles are computed from ``latency_s`` with
    the same definition (linear interpolation, ``numpy.quantile``). The ECDF is sampled,
    not plotted point by point, so that 100,000 items stay small.
    """
    out: list[LatencySummary] = []
    levels = np.linspace(0.0, 1.0, n_levels)
    for s in systems:
        ops = s.latency_summary
        if s.latency_s is None and ops is None:
            continue
        lat = (
            s.latency_s.to_numpy(dtype=np.float64)
            if s.latency_s is not None
            else np.empty(0, dtype=np.float64)
        )
        done: npt.NDArray[np.float64] = lat[~np.isnan(lat)].astype(np.float64)
        curve = np.quantile(done, levels).tolist() if done.size else []
        if ops is not None:
            out.append(
                LatencySummary(
                    system=s.name,
                    n_completed=ops.n_completed,
                    n_pending=ops.n_pending,
                    p50_s=_finite_or_none(ops.p50_s),
                    p90_s=_finite_or_none(ops.p90_s),
                    p95_s=_finite_or_none(ops.p95_s),
                    p99_s=_finite_or_none(ops.p99_s),
                    max_s=_finite_or_none(ops.max_s),
                    throughput_per_hour=_finite_or_none(ops.throughput_per_hour),
                    quantile_levels=levels.tolist() if curve else [],
                    quantiles_s=curve,
                )
            )
            continue
        has = done.size > 0
        out.append(
            LatencySummary(
                system=s.name,
                n_completed=int(done.size),
                n_pending=int(lat.size - done.size),
                p50_s=sample_quantile(done, 0.50) if has else None,
                p90_s=sample_quantile(done, 0.90) if has else None,
                p95_s=sample_quantile(done, 0.95) if has else None,
                p99_s=sample_quantile(done, 0.99) if has else None,
                max_s=float(done.max()) if has else None,
                throughput_per_hour=None,
                quantile_levels=levels.tolist() if has else [],
                quantiles_s=curve,
            )
        )
    return out


def cost_projection(
    systems: Sequence[SystemEvaluation],
    *,
    volume: int,
    accuracy: Mapping[str, float] | None = None,
) -> list[CostProjection]:
    """Each vendor's bill for ``volume`` production items under its price list.

    ``variable = volume * (per_item + labels_per_item * per_label + hours_per_item *
    per_hour)``; the bill is ``max(variable, minimum_commitment)``. The cost per correct
    label divides it by ``volume * accuracy`` (the bake-off's accuracy as the estimate
    of the production accuracy).

    Parameters
    ----------
    systems
        Only systems with ``pricing`` are projected.
    volume
        Items per production period (e.g. 100,000 a quarter).
    accuracy
        System name -> expected accuracy; defaults to each system's bake-off accuracy.

    Raises
    ------
    ValueError
        When ``volume`` is not positive.

    Examples
    --------
    >>> import pandas as pd
    >>> from reports.inputs import PricingTerms, SystemEvaluation
    >>> s = SystemEvaluation("v", pd.Series([1.0, 1.0, 1.0, 0.0]),
    ...                      pricing=PricingTerms(per_item=0.02, minimum_commitment=5000))
    >>> row = cost_projection([s], volume=100_000)[0]
    >>> (row.projected_cost, row.minimum_binds, round(row.cost_per_correct, 4))
    (5000.0, True, 0.0667)
    """
    if volume < 1:
        raise ValueError(f"production volume must be a positive number of items, got {volume}")
    out: list[CostProjection] = []
    for s in systems:
        if s.pricing is None:
            continue
        p = s.pricing
        variable = volume * (
            p.per_item + s.labels_per_item * p.per_label + s.hours_per_item * p.per_hour
        )
        projected = max(variable, p.minimum_commitment)
        acc = (
            accuracy[s.name]
            if accuracy is not None and s.name in accuracy
            else float(s.item_scores.fillna(0.0).mean())
        )
        out.append(
            CostProjection(
                system=s.name,
                volume=volume,
                currency=p.currency,
                variable_cost=float(variable),
                minimum_commitment=p.minimum_commitment,
                projected_cost=float(projected),
                minimum_binds=bool(p.minimum_commitment > variable),
                cost_per_item=float(projected / volume),
                cost_per_correct=float(projected / (volume * acc)) if acc > 0 else None,
            )
        )
    return out


def _p_text(p: float) -> str:
    text = format_p_value(p)
    return text if text.startswith("<") else f"= {text}"


def _se(point: TrendPoint) -> float:
    if point.se is not None:
        return point.se
    p = min(max(point.value, 0.0), 1.0)
    return float(np.sqrt(max(p * (1 - p), 0.25 / point.n_items) / point.n_items))


def _comparable(point: TrendPoint, min_coverage: float) -> bool:
    """A completed bake-off with enough coverage (unknown coverage counts as enough)."""
    return point.completed and (point.coverage is None or point.coverage >= min_coverage)


def trend_breakdown(
    history: Sequence[TrendPoint],
    *,
    alpha: float = 0.05,
    confidence: float = 0.95,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> tuple[list[TrendRow], list[TrendWarning]]:
    """Each system's main metric across the project's bake-offs, and significant drops.

    Only completed bake-offs in which the system reached ``min_coverage`` are shown
    and compared: a cancelled run with no labels scores 0 on every item and would
    otherwise raise a "significant decline". A drop is flagged when a system's latest
    value is lower than its previous one and a one-sided z-test on the two independent
    estimates (golden sets differ between bake-offs, so the test is unpaired) gives
    ``p < alpha``.

    Parameters
    ----------
    history
        Points of earlier bake-offs *and* the current one.
    alpha, confidence
        Test level and interval level (intervals are clipped to ``[0, 1]`` for values
        in it).
    min_coverage
        Coverage a point needs to be shown and compared.

    Returns
    -------
    (list of TrendRow, list of TrendWarning)
        Rows ordered by system then time; at most one warning per system.
    """
    z = float(ndtri(1 - (1 - confidence) / 2))
    rows: list[TrendRow] = []
    warnings: list[TrendWarning] = []
    by_system: dict[str, list[TrendPoint]] = {}
    for point in history:
        if _comparable(point, min_coverage):
            by_system.setdefault(point.system, []).append(point)
    for system in sorted(by_system):
        points = sorted(by_system[system], key=lambda p: (p.when, p.bakeoff))
        for p in points:
            se = _se(p)
            low, high = p.value - z * se, p.value + z * se
            if 0.0 <= p.value <= 1.0:
                low, high = max(0.0, low), min(1.0, high)
            rows.append(
                TrendRow(
                    system=system,
                    bakeoff=p.bakeoff,
                    when=p.when,
                    value=p.value,
                    low=low,
                    high=high,
                    n_items=p.n_items,
                    weights=None if p.weights is None else dict(p.weights),
                    cost_per_correct=p.cost_per_correct,
                    currency=p.currency,
                )
            )
        if len(points) < 2:
            continue
        prev, cur = points[-2], points[-1]
        drop = prev.value - cur.value
        if drop <= 0:
            continue
        se = float(np.hypot(_se(prev), _se(cur)))
        p_value = float(ndtr(-(drop / se))) if se > 0 else 0.0
        if p_value < alpha:
            warnings.append(
                TrendWarning(
                    system=system,
                    previous_bakeoff=prev.bakeoff,
                    current_bakeoff=cur.bakeoff,
                    previous=prev.value,
                    current=cur.value,
                    drop=drop,
                    p_value=p_value,
                    message=(
                        f"{system} dropped from {prev.value:.3f} in {prev.bakeoff} to "
                        f"{cur.value:.3f} in {cur.bakeoff} ({-drop:+.3f}, one-sided "
                        f"p {_p_text(p_value)}): a significant decline."
                    ),
                )
            )
    return rows, warnings
