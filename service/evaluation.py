"""Score label files against gold: load files, compute metrics, return JSON-ready results.

This is the orchestration behind ``bakeoff evaluate`` and ``bakeoff agreement``; the
service's import and report code can call the same functions. Files are read with
:mod:`adapters.formats`, numbers come from :mod:`metrics`; nothing here computes a metric
itself.

Every problem with an input file raises :class:`adapters.formats.FormatError` whose
message is one line naming the file, the row or object and what is wrong.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from adapters.formats import FormatError
from adapters.formats import csv as csv_format
from metrics.aggregation import majority_vote
from metrics.agreement import (
    Level,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    worker_accuracy,
    worker_consensus_agreement,
)
from metrics.classification import (
    KappaWeights,
    accuracy_all,
    balanced_accuracy,
    classification_summary,
    cohen_kappa,
    coverage,
    macro_f1,
)
from metrics.multilabel import MultilabelMetricName, multilabel_statistic, multilabel_summary
from metrics.spans import span_scores
from metrics.statistics import (
    ClassificationMetricName,
    classification_bootstrap,
    holm,
    mcnemar_exact,
    paired_bootstrap,
)
from metrics.types import MetricResult

__all__ = [
    "EvalTask",
    "LabelSource",
    "ClassScores",
    "AnnotatorGroup",
    "ClassificationSystem",
    "Comparison",
    "ClassificationEvaluation",
    "AnnotatorAgreement",
    "AgreementEvaluation",
    "parse_label_source",
    "load_classification_labels",
    "evaluate_classification",
    "evaluate_classification_files",
    "load_classification_inputs",
    "write_classification_html",
    "evaluate_agreement_file",
    "MultilabelSystem",
    "MultilabelEvaluation",
    "evaluate_multilabel_files",
    "DetectionClassScores",
    "DetectionSystem",
    "DetectionEvaluation",
    "evaluate_detection_files",
    "SpanTypeScores",
    "SpanSystem",
    "SpanEvaluation",
    "evaluate_span_files",
]

EvalTask: TypeAlias = Literal["classification", "multilabel", "detection", "segmentation", "spans"]
PathLike: TypeAlias = str | os.PathLike[str]

CI_METRICS: tuple[ClassificationMetricName, ...] = (
    "accuracy",
    "accuracy_all",
    "coverage",
    "balanced_accuracy",
    "cohen_kappa",
    "macro_f1",
    "micro_f1",
)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")


class LabelSource(_Result):
    """One ``NAME=PATH`` argument: a system's name and its label file."""

    name: str
    path: str


class ClassScores(_Result):
    """Precision, recall, F1 and gold support of one class."""

    precision: float
    recall: float
    f1: float
    support: int


class AnnotatorGroup(_Result):
    """Agreement inside one system whose file has several annotators per item.

    The system's label per item is their majority vote (ties: smallest label).
    """

    n_annotators: int
    fleiss_kappa: float
    krippendorff_alpha: float
    annotator_accuracy: dict[str, float]


class ClassificationSystem(_Result):
    """Every classification number for one system, with paired bootstrap intervals."""

    accuracy: float
    accuracy_all: float
    coverage: float
    balanced_accuracy: float
    cohen_kappa: float
    cohen_kappa_weights: str
    macro_f1: float
    micro_f1: float
    n_gold: int
    n_labelled: int
    ci95: dict[str, tuple[float, float]]
    per_class: dict[str, ClassScores]
    confusion: dict[str, dict[str, int]]
    annotators: AnnotatorGroup | None = None


class Comparison(_Result):
    """McNemar's exact test of two systems' paired accuracy (skipped counts as wrong)."""

    system_a: str
    system_b: str
    accuracy_difference: float
    a_right_b_wrong: int
    a_wrong_b_right: int
    pvalue: float
    pvalue_holm: float
    significant: bool


class ClassificationEvaluation(_Result):
    """The result of ``bakeoff evaluate --task classification``."""

    task: Literal["classification"] = "classification"
    gold: str
    n_gold: int
    n_resamples: int
    seed: int
    systems: dict[str, ClassificationSystem]
    comparisons: list[Comparison]


class AnnotatorAgreement(_Result):
    """One annotator's answers: how many, and agreement with the others / with gold."""

    n_answers: int
    consensus_agreement: float
    accuracy: float | None = None


class AgreementEvaluation(_Result):
    """The result of ``bakeoff agreement``."""

    labels: str
    level: Level
    n_items: int
    n_annotators: int
    n_answers: int
    fleiss_kappa: float
    krippendorff_alpha: float
    pairwise_cohen_kappa: float
    pairwise_cohen_kappa_mean: Literal["weighted by shared items"] = "weighted by shared items"
    annotators: dict[str, AnnotatorAgreement]


# --------------------------------------------------------------------------- loading


def parse_label_source(spec: str) -> LabelSource:
    """Parse ``NAME=PATH`` (or a bare ``PATH``, named after the file's stem).

    Examples
    --------
    >>> parse_label_source("acme=labels/acme.csv").name
    'acme'
    >>> parse_label_source("labels/bolt.csv").name
    'bolt'
    """
    name, sep, path = spec.partition("=")
    if not sep:
        path, name = spec, Path(spec).stem
    name, path = name.strip(), path.strip()
    if not name or not path:
        raise ValueError(f"--labels {spec!r}: expected NAME=PATH, e.g. acme=acme.csv")
    return LabelSource(name=name, path=path)


def _numeric_if_possible(series: Iterable[pd.Series[Any]]) -> list[pd.Series[Any]]:
    """Turn string labels into numbers when *every* label in every series is a number.

    Ordered (weighted-kappa) classes then sort as numbers, not as strings.
    """
    items = list(series)
    converted: list[pd.Series[Any]] = []
    for s in items:
        try:
            num = pd.to_numeric(s, errors="raise")
        except (ValueError, TypeError):
            return items
        converted.append(num)
    if all((np.mod(c.dropna().to_numpy(dtype=float), 1) == 0).all() for c in converted):
        converted = [c.astype("int64") if c.notna().all() else c for c in converted]
    return converted


def load_classification_labels(
    path: PathLike, *, gold: pd.Series[Any] | None = None, gold_name: str = "gold"
) -> tuple[pd.Series[Any], pd.DataFrame | None]:
    """Read one classification label file.

    ``item_id,label`` files give one label per item. ``item_id,annotator_id,label`` files
    give several answers per item; the item's label is then their majority vote, and the
    answers are returned too.

    Parameters
    ----------
    path
        The CSV file.
    gold
        When given, every item must be in it; an unknown ``item_id`` raises a
        :class:`FormatError` naming its row.
    gold_name
        The gold file's name, for that message.

    Returns
    -------
    tuple
        ``(labels indexed by task, answers or None)``.
    """
    name = Path(path).name
    layout = csv_format.detect_layout(path, name=name)
    known = None if gold is None else set(gold.index)

    def check(item_id: str, row: int) -> None:
        if known is not None and item_id not in known:
            raise FormatError(name, f"row {row}", f"item_id {item_id!r} is not in {gold_name}")

    if layout == "labels":
        ids, values = [], []
        for r in csv_format.iter_labels(path, name=name):
            check(r.item_id, r.row)
            ids.append(r.item_id)
            values.append(r.label)
        labels = pd.Series(values, index=pd.Index(ids, name="task", dtype=object), dtype=object)
        return labels, None
    rows = []
    for a in csv_format.iter_annotations(path, name=name):
        check(a.item_id, a.row)
        rows.append((a.item_id, a.annotator_id, a.label))
    answers = pd.DataFrame(rows, columns=["task", "worker", "label"], dtype=object)
    if answers.empty:
        return pd.Series([], index=pd.Index([], name="task", dtype=object), dtype=object), answers
    return majority_vote(answers, tie_break="smallest"), answers


def _load_gold(path: PathLike) -> pd.Series[Any]:
    name = Path(path).name
    layout = csv_format.detect_layout(path, name=name)
    if layout != "labels":
        raise FormatError(name, "row 1", "gold must have one label per item: columns item_id,label")
    gold = csv_format.read_labels(path, name=name)
    if gold.empty:
        raise FormatError(name, "", "no gold items; add rows item_id,label after the header")
    return gold


# --------------------------------------------------------------------------- classification


def _pair(low: float, high: float) -> tuple[float, float]:
    return (float(low), float(high))


def evaluate_classification(
    gold: pd.Series[Any],
    systems: Mapping[str, pd.Series[Any]],
    *,
    answers: Mapping[str, pd.DataFrame] | None = None,
    weights: KappaWeights = "none",
    n_resamples: int = 1000,
    seed: int = 0,
    gold_name: str = "gold",
) -> ClassificationEvaluation:
    """Score several systems' labels against gold, with paired bootstrap 95% intervals.

    Parameters
    ----------
    gold
        Gold label per task.
    systems
        Each system's label per task (skipped tasks absent or ``NaN``).
    answers
        For systems with several annotators: their raw answers (``task``, ``worker``,
        ``label``), to report within-system agreement.
    weights
        Weights of the reported Cohen's kappa.
    n_resamples
        Bootstrap resamples of the gold items, shared by all systems (paired).
    seed
        Seed of the bootstrap; same seed, same intervals.
    gold_name
        How the gold is called in the output.
    """
    n_gold = len(gold)
    boot = classification_bootstrap(
        gold,
        systems,
        metrics=CI_METRICS,
        weights=weights,
        n_resamples=n_resamples,
        rng=np.random.default_rng(seed),
    )
    out: dict[str, ClassificationSystem] = {}
    for name, labels in systems.items():
        s = classification_summary(gold, labels, weights=weights)
        per_class = {
            str(cls): ClassScores(
                precision=float(s.per_class.precision[cls]),
                recall=float(s.per_class.recall[cls]),
                f1=float(s.per_class.f1[cls]),
                support=int(s.per_class.support[cls]),
            )
            for cls in s.per_class.f1.index
        }
        frame = s.confusion.to_frame()
        confusion = {
            str(g): {str(p): int(frame.loc[g, p]) for p in frame.columns} for g in frame.index
        }
        group = None
        if answers is not None and name in answers and not answers[name].empty:
            group = _annotator_group(answers[name], gold)
        out[name] = ClassificationSystem(
            accuracy=s.accuracy,
            accuracy_all=s.accuracy_all,
            coverage=s.coverage,
            balanced_accuracy=s.balanced_accuracy,
            cohen_kappa=s.cohen_kappa,
            cohen_kappa_weights=weights,
            macro_f1=s.macro_f1,
            micro_f1=s.micro_f1,
            n_gold=s.n_gold,
            n_labelled=s.n_labelled,
            ci95={m: _pair(boot[name][m].ci.low, boot[name][m].ci.high) for m in CI_METRICS},
            per_class=per_class,
            confusion=confusion,
            annotators=group,
        )
    return ClassificationEvaluation(
        gold=gold_name,
        n_gold=n_gold,
        n_resamples=n_resamples,
        seed=seed,
        systems=out,
        comparisons=_comparisons(gold, systems, out),
    )


def _comparisons(
    gold: pd.Series[Any],
    systems: Mapping[str, pd.Series[Any]],
    scored: Mapping[str, ClassificationSystem],
) -> list[Comparison]:
    pairs = list(combinations(systems, 2))
    if not pairs:
        return []
    tests = {f"{a}\x00{b}": mcnemar_exact(gold, systems[a], systems[b]) for a, b in pairs}
    adjusted = holm({k: t.pvalue for k, t in tests.items()})
    result = []
    for a, b in pairs:
        key = f"{a}\x00{b}"
        t = tests[key]
        result.append(
            Comparison(
                system_a=a,
                system_b=b,
                accuracy_difference=scored[a].accuracy_all - scored[b].accuracy_all,
                a_right_b_wrong=t.b,
                a_wrong_b_right=t.c,
                pvalue=t.pvalue,
                pvalue_holm=adjusted.adjusted[key],
                significant=adjusted.reject[key],
            )
        )
    return result


def _annotator_group(answers: pd.DataFrame, gold: pd.Series[Any]) -> AnnotatorGroup:
    acc = worker_accuracy(answers, gold)
    per = acc.per_item if acc.per_item is not None else pd.Series(dtype=float)
    return AnnotatorGroup(
        n_annotators=int(answers["worker"].nunique()),
        fleiss_kappa=fleiss_kappa(answers).value,
        krippendorff_alpha=krippendorff_alpha(answers).value,
        annotator_accuracy={str(k): float(v) for k, v in per.items()},
    )


def evaluate_classification_files(
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    *,
    weights: KappaWeights = "none",
    n_resamples: int = 1000,
    seed: int = 0,
) -> ClassificationEvaluation:
    """Load gold and label CSVs and score them (see :func:`evaluate_classification`).

    Raises
    ------
    FormatError
        On any problem with a file (one line: file, row, what is wrong).
    ValueError
        If two sources share a name or none is given.
    """
    gold, loaded, answers = load_classification_inputs(gold_path, sources)
    return evaluate_classification(
        gold,
        loaded,
        answers=answers,
        weights=weights,
        n_resamples=n_resamples,
        seed=seed,
        gold_name=Path(gold_path).name,
    )


def load_classification_inputs(
    gold_path: PathLike, sources: Sequence[LabelSource]
) -> tuple[pd.Series[Any], dict[str, pd.Series[Any]], dict[str, pd.DataFrame]]:
    """Read gold and every system's classification CSV, validated against each other.

    Labels become numbers when every label in every file is a number (so ordinal classes
    sort numerically).

    Returns
    -------
    tuple
        ``(gold, labels per system, raw answers per multi-annotator system)``.
    """
    _check_sources(sources)
    gold_name = Path(gold_path).name
    gold = _load_gold(gold_path)
    loaded: dict[str, pd.Series[Any]] = {}
    answers: dict[str, pd.DataFrame] = {}
    for src in sources:
        labels, raw = load_classification_labels(src.path, gold=gold, gold_name=gold_name)
        loaded[src.name] = labels
        if raw is not None:
            answers[src.name] = raw
    series = _numeric_if_possible([gold, *loaded.values(), *(a["label"] for a in answers.values())])
    gold = series[0]
    loaded = dict(zip(loaded, series[1 : 1 + len(loaded)], strict=True))
    answers = {
        k: a.assign(label=s.to_numpy())
        for (k, a), s in zip(answers.items(), series[1 + len(loaded) :], strict=True)
    }
    return gold, loaded, answers


def write_classification_html(
    gold: pd.Series[Any],
    systems: Mapping[str, pd.Series[Any]],
    answers: Mapping[str, pd.DataFrame],
    out: PathLike,
    *,
    title: str = "Bake-off report",
    seed: int = 0,
) -> Path:
    """Render the ranked HTML report (:mod:`reports`) for classification systems.

    Each system's main metric is per-item correctness against gold (skipped items count
    as wrong); macro F1, Cohen's kappa and balanced accuracy, per-class recall, the
    confusion matrix and, for multi-annotator files, per-annotator agreement with gold
    and with the other annotators are shown too.
    """
    from reports.inputs import SystemEvaluation
    from reports.render import render_html
    from reports.report import build_report

    evaluations = []
    for name, labels in systems.items():
        s = classification_summary(gold, labels)
        correct = accuracy_all(gold, labels).per_item
        covered = coverage(gold, labels).per_item
        if correct is None or covered is None:  # pragma: no cover - always set
            raise RuntimeError("accuracy_all/coverage returned no per-item values")
        item_scores = correct.where(covered > 0)
        metrics = {
            "macro_f1": macro_f1(gold, labels),
            "cohen_kappa": cohen_kappa(gold, labels),
            "balanced_accuracy": balanced_accuracy(gold, labels),
        }
        raw = answers.get(name)
        evaluations.append(
            SystemEvaluation(
                name=name,
                item_scores=item_scores.astype(float),
                main_metric="accuracy",
                metrics=metrics,
                per_class=MetricResult("recall", s.balanced_accuracy, s.per_class.recall),
                confusion=s.confusion.to_frame(),
                annotator_gold=worker_accuracy(raw, gold) if raw is not None else None,
                annotator_peers=worker_consensus_agreement(raw) if raw is not None else None,
                annotator_items=raw["worker"].value_counts() if raw is not None else None,
            )
        )
    report = build_report(evaluations, title=title, rng=np.random.default_rng(seed))
    return render_html(report, Path(out))


# --------------------------------------------------------------------------- agreement


def evaluate_agreement_file(
    path: PathLike, *, level: Level = "nominal", gold_path: PathLike | None = None
) -> AgreementEvaluation:
    """Agreement among the annotators of an ``item_id,annotator_id,label`` file.

    Parameters
    ----------
    path
        The annotations CSV.
    level
        Level of measurement for Krippendorff's alpha; ``interval`` and ``ratio`` need
        numeric labels (a non-number is reported with its row).
    gold_path
        Optional gold ``item_id,label`` file: adds each annotator's accuracy.
    """
    name = Path(path).name
    rows = list(csv_format.iter_annotations(path, name=name))
    if not rows:
        raise FormatError(name, "", "no answers; add rows item_id,annotator_id,label")
    answers = pd.DataFrame(
        [(r.item_id, r.annotator_id, r.label) for r in rows],
        columns=["task", "worker", "label"],
        dtype=object,
    )
    numeric = _numeric_if_possible([answers["label"]])[0]
    if level in ("interval", "ratio") and numeric.dtype == object:
        for r in rows:
            try:
                float(r.label)
            except ValueError:
                raise FormatError(
                    name,
                    f"row {r.row}",
                    f"label {r.label!r} is not a number; --level {level} needs numeric labels",
                ) from None
    answers = answers.assign(label=numeric.to_numpy())
    alpha = krippendorff_alpha(answers, level=level)
    consensus = worker_consensus_agreement(answers)
    cons = consensus.per_item if consensus.per_item is not None else pd.Series(dtype=float)
    counts = answers["worker"].value_counts()
    accuracy: dict[str, float] = {}
    if gold_path is not None:
        gold = _numeric_if_possible([_load_gold(gold_path)])[0]
        acc = worker_accuracy(answers, gold).per_item
        if acc is not None:
            accuracy = {str(k): float(v) for k, v in acc.items()}
    annotators = {
        str(w): AnnotatorAgreement(
            n_answers=int(counts[w]),
            consensus_agreement=float(cons.get(w, math.nan)),
            accuracy=accuracy.get(str(w)) if gold_path is not None else None,
        )
        for w in cons.index
    }
    return AgreementEvaluation(
        labels=name,
        level=level,
        n_items=int(answers["task"].nunique()),
        n_annotators=len(annotators),
        n_answers=len(answers),
        fleiss_kappa=fleiss_kappa(answers).value,
        krippendorff_alpha=alpha.value,
        pairwise_cohen_kappa=pairwise_cohen_kappa(answers).value,
        annotators=annotators,
    )


# --------------------------------------------------------------------------- multilabel


class MultilabelSystem(_Result):
    """Every multi-label number for one system, with paired bootstrap intervals."""

    coverage: float
    exact_match: float
    hamming_loss: float
    micro_f1: float
    macro_f1: float
    jaccard: float
    n_gold: int
    n_labelled: int
    ci95: dict[str, tuple[float, float]]
    per_class: dict[str, ClassScores]


class MultilabelEvaluation(_Result):
    """The result of ``bakeoff evaluate --task multilabel``."""

    task: Literal["multilabel"] = "multilabel"
    gold: str
    n_gold: int
    n_resamples: int
    seed: int
    systems: dict[str, MultilabelSystem]


ML_CI_METRICS: tuple[MultilabelMetricName, ...] = (
    "coverage",
    "exact_match",
    "hamming_loss",
    "micro_f1",
    "macro_f1",
    "jaccard_samples",
)


def _read_multilabel_checked(
    path: PathLike, *, gold: pd.Series[Any] | None, gold_name: str
) -> pd.Series[Any]:
    name = Path(path).name
    known = None if gold is None else set(gold.index)
    ids: list[str] = []
    values: list[frozenset[str]] = []
    for r in csv_format.iter_multilabels(path, name=name):
        if known is not None and r.item_id not in known:
            raise FormatError(name, f"row {r.row}", f"item_id {r.item_id!r} is not in {gold_name}")
        ids.append(r.item_id)
        values.append(frozenset(r.labels))
    return pd.Series(values, index=pd.Index(ids, name="task", dtype=object), dtype=object)


def evaluate_multilabel_files(
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    *,
    n_resamples: int = 1000,
    seed: int = 0,
) -> MultilabelEvaluation:
    """Score multi-label CSVs (``label`` = classes joined by ``|``) against a gold CSV."""
    _check_sources(sources)
    gold_name = Path(gold_path).name
    gold = _read_multilabel_checked(gold_path, gold=None, gold_name=gold_name)
    if gold.empty:
        raise FormatError(gold_name, "", "no gold items; add rows item_id,label after the header")
    systems = {
        s.name: _read_multilabel_checked(s.path, gold=gold, gold_name=gold_name) for s in sources
    }
    stats = {
        f"{name}\x00{m}": multilabel_statistic(gold, labels, metric=m)
        for name, labels in systems.items()
        for m in ML_CI_METRICS
    }
    boot = paired_bootstrap(
        stats, n_items=len(gold), n_resamples=n_resamples, rng=np.random.default_rng(seed)
    )
    out: dict[str, MultilabelSystem] = {}
    for name, labels in systems.items():
        s = multilabel_summary(gold, labels)
        ci: dict[str, tuple[float, float]] = {}
        for m in ML_CI_METRICS:
            b = boot[f"{name}\x00{m}"]
            ci["jaccard" if m == "jaccard_samples" else m] = _pair(b.ci.low, b.ci.high)
        out[name] = MultilabelSystem(
            coverage=s.coverage,
            exact_match=s.exact_match,
            hamming_loss=s.hamming_loss,
            micro_f1=s.micro_f1,
            macro_f1=s.macro_f1,
            jaccard=s.jaccard_samples,
            n_gold=s.n_gold,
            n_labelled=s.n_labelled,
            ci95=ci,
            per_class={
                str(c): ClassScores(
                    precision=float(s.per_class.precision[c]),
                    recall=float(s.per_class.recall[c]),
                    f1=float(s.per_class.f1[c]),
                    support=int(s.per_class.support[c]),
                )
                for c in s.per_class.f1.index
            },
        )
    return MultilabelEvaluation(
        gold=gold_name, n_gold=len(gold), n_resamples=n_resamples, seed=seed, systems=out
    )


# --------------------------------------------------------------------------- detection


class DetectionClassScores(_Result):
    """One category's counts and scores for unscored labels at the IoU threshold."""

    name: str
    n_gold: int
    n_labels: int
    precision: float
    recall: float
    f1: float
    mean_iou: float


class DetectionSystem(_Result):
    """One system's detection/segmentation result.

    Scored results (every element has ``score``) carry ``coco_stats``, the 12 numbers of
    ``COCOeval.summarize()`` in its order; unscored human labels carry precision,
    recall, F1 and mean IoU of one-to-one matches at ``iou_threshold``.
    """

    scored: bool
    n_labels: int
    coco_stats: list[float] | None = None
    coco_stat_names: list[str] | None = None
    iou_threshold: float | None = None
    precision: float | None = None
    recall: float | None = None
    f1: float | None = None
    mean_iou: float | None = None
    localization_error: float | None = None
    per_class: dict[str, DetectionClassScores] | None = None


class DetectionEvaluation(_Result):
    """The result of ``bakeoff evaluate --task detection|segmentation``."""

    task: Literal["detection", "segmentation"]
    gold: str
    n_images: int
    n_gold_instances: int
    systems: dict[str, DetectionSystem]


def evaluate_detection_files(
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    *,
    task: Literal["detection", "segmentation"] = "detection",
    iou_threshold: float = 0.5,
) -> DetectionEvaluation:
    """Score COCO results files against a COCO instances gold file.

    Raises
    ------
    FormatError
        Invalid JSON, missing keys, boxes with NaN or negative sizes, unknown images or
        categories... (one line naming the file and the object).
    """
    from adapters.formats.coco import read_coco_dataset, read_coco_results
    from metrics.detection import COCO_STAT_NAMES, evaluate_coco, match_unscored

    _check_sources(sources)
    iou_type: Literal["bbox", "segm"] = "segm" if task == "segmentation" else "bbox"
    gold = read_coco_dataset(gold_path, name=Path(gold_path).name)
    if iou_type == "segm" and gold.rles is None:
        raise FormatError(
            gold.source, "annotations", "segmentation needs a mask on every gold annotation"
        )
    names = {c.id: c.name for c in gold.categories}
    out: dict[str, DetectionSystem] = {}
    for src in sources:
        results = read_coco_results(src.path, gold, name=Path(src.path).name)
        if iou_type == "segm" and results.rles is None:
            raise FormatError(
                results.source, "", "segmentation results need a segmentation on every element"
            )
        if results.scores is not None:
            coco = evaluate_coco(gold, results, iou_type=iou_type)
            out[src.name] = DetectionSystem(
                scored=True,
                n_labels=len(results.image_ids),
                coco_stats=[float(v) for v in coco.stats],
                coco_stat_names=list(COCO_STAT_NAMES),
            )
            continue
        match = match_unscored(gold, results, iou_threshold=iou_threshold, iou_type=iou_type)
        per_class = {}
        for cat_id, row in match.per_class.iterrows():
            per_class[str(cat_id)] = DetectionClassScores(
                name=names.get(int(str(cat_id)), str(cat_id)),
                n_gold=int(row["n_gold"]),
                n_labels=int(row["n_labels"]),
                precision=float(row["precision"]),
                recall=float(row["recall"]),
                f1=float(row["f1"]),
                mean_iou=float(row["mean_iou"]),
            )
        out[src.name] = DetectionSystem(
            scored=False,
            n_labels=len(results.image_ids),
            iou_threshold=iou_threshold,
            precision=match.precision.value,
            recall=match.recall.value,
            f1=match.f1.value,
            mean_iou=match.mean_iou.value,
            localization_error=match.localization_error.value,
            per_class=per_class,
        )
    return DetectionEvaluation(
        task=task,
        gold=gold.source,
        n_images=len(gold.images),
        n_gold_instances=len(gold.ann_ids),
        systems=out,
    )


def _check_sources(sources: Sequence[LabelSource]) -> None:
    if not sources:
        raise ValueError("give at least one --labels NAME=PATH")
    names = [s.name for s in sources]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"--labels names must be unique; repeated: {', '.join(dup)}")


# --------------------------------------------------------------------------- spans


class SpanTypeScores(_Result):
    """One entity type: counts and exact / partial-overlap scores."""

    n_gold: int
    n_pred: int
    exact_precision: float
    exact_recall: float
    exact_f1: float
    partial_precision: float
    partial_recall: float
    partial_f1: float


class SpanSystem(_Result):
    """One system's span scores; ``precision``/``recall``/``f1`` are exact-match (micro)."""

    precision: float
    recall: float
    f1: float
    macro_f1: float
    partial_precision: float
    partial_recall: float
    partial_f1: float
    coverage: float
    n_items: int
    per_type: dict[str, SpanTypeScores]


class SpanEvaluation(_Result):
    """The result of ``bakeoff evaluate --task spans``."""

    task: Literal["spans"] = "spans"
    gold: str
    n_gold: int
    systems: dict[str, SpanSystem]


_SPAN_COLUMNS = ["task", "start", "end", "label"]


def _span_rows(item_id: str, label: object) -> list[tuple[str, int, int, str]]:
    from adapters.base import Span

    if not isinstance(label, list):
        return []
    return [(item_id, s.start, s.end, s.type) for s in label if isinstance(s, Span)]


def evaluate_span_files(gold_path: PathLike, sources: Sequence[LabelSource]) -> SpanEvaluation:
    """Score span (NER) labels in JSON Lines against a gold JSON Lines file.

    Gold lines are ``{"item_id": ..., "label": [{"start", "end", "type"}, ...]}``; vendor
    lines are the same shape (``adapters.formats.jsonl`` vendor labels). A vendor line with
    an empty list says "no entities"; an item without a line was skipped.
    """
    from adapters.formats.jsonl import iter_annotations, iter_gold

    _check_sources(sources)
    gold_name = Path(gold_path).name
    gold_rows: list[tuple[str, int, int, str]] = []
    gold_ids: set[str] = set()
    for rec in iter_gold(gold_path, task_type="spans", name=gold_name):
        gold_ids.add(rec.item_id)
        gold_rows += _span_rows(rec.item_id, rec.label)
    if not gold_ids:
        raise FormatError(gold_name, "", "no gold items")
    gold = pd.DataFrame(gold_rows, columns=_SPAN_COLUMNS).astype({"start": "int64", "end": "int64"})
    out: dict[str, SpanSystem] = {}
    for src in sources:
        name = Path(src.path).name
        rows: list[tuple[str, int, int, str]] = []
        answered: set[str] = set()
        for i, ann in enumerate(iter_annotations(src.path, task_type="spans", name=name), 1):
            if ann.item_id not in gold_ids:
                raise FormatError(
                    name, f"record {i}", f"item_id {ann.item_id!r} is not in {gold_name}"
                )
            if ann.item_id in answered:
                raise FormatError(name, f"record {i}", f"second answer for item_id {ann.item_id!r}")
            answered.add(ann.item_id)
            rows += _span_rows(ann.item_id, ann.label)
        pred = pd.DataFrame(rows, columns=_SPAN_COLUMNS).astype({"start": "int64", "end": "int64"})
        exact = span_scores(gold, pred, mode="exact", tasks=answered)
        partial = span_scores(gold, pred, mode="partial", tasks=answered)
        per_type = {
            str(t): SpanTypeScores(
                n_gold=int(exact.per_type.loc[t, "n_gold"]),
                n_pred=int(exact.per_type.loc[t, "n_pred"]),
                exact_precision=float(exact.per_type.loc[t, "precision"]),
                exact_recall=float(exact.per_type.loc[t, "recall"]),
                exact_f1=float(exact.per_type.loc[t, "f1"]),
                partial_precision=float(partial.per_type.loc[t, "precision"]),
                partial_recall=float(partial.per_type.loc[t, "recall"]),
                partial_f1=float(partial.per_type.loc[t, "f1"]),
            )
            for t in exact.per_type.index
        }
        out[src.name] = SpanSystem(
            precision=exact.precision.value,
            recall=exact.recall.value,
            f1=exact.f1.value,
            macro_f1=exact.macro_f1.value,
            partial_precision=partial.precision.value,
            partial_recall=partial.recall.value,
            partial_f1=partial.f1.value,
            coverage=len(answered) / len(gold_ids),
            n_items=len(answered),
            per_type=per_type,
        )
    return SpanEvaluation(gold=gold_name, n_gold=len(gold_ids), systems=out)
