"""Score label files against gold for ``bakeoff evaluate`` (and ``bakeoff agreement``).

Files are read by :mod:`service.label_files` into the scoring engine's inputs; every
number comes from :mod:`metrics.scoring`, the engine behind every door,
so ``bakeoff evaluate --json`` shows what ``GET /bakeoffs/{id}/results`` and the report
show for the same labels. Its JSON is :class:`Evaluation`: per system the shared
:class:`reports.results.SystemScores` (values, intervals, status, warnings) plus the
per-class, confusion and annotator tables.

Labels whose classes are not in the gold vocabulary are refused, naming the unknown
values and the known ones, as the service refuses them; ``unknown_labels="wrong"``
(``--unknown-as-wrong``) scores them as wrong instead.

Every problem with an input file raises :class:`adapters.formats.FormatError` whose
message is one line naming the file, the row or object and what is wrong.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, TypeAlias

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from adapters.formats import FormatError
from adapters.formats import csv as csv_format
from adapters.formats.registry import (
    FormatName,
    detect_format,
    read_label_file,
    read_language_file,
)
from metrics.agreement import (
    Level,
    fleiss_kappa,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    worker_accuracy,
    worker_consensus_agreement,
)
from metrics.scoring import Scored, ScoringOptions, UnknownLabelsError, score
from metrics.scoring.compare import paired_comparisons
from reports.results import SystemScores
from reports.scores import annotator_rows, system_scores, table_rows
from service.label_files import (
    EvalTask,
    Inputs,
    LabelSource,
    load_inputs,
    parse_label_source,
)
from service.label_files import load_gold as _load_gold
from service.label_files import numeric_if_possible as _numeric_if_possible

__all__ = [
    "EvalTask",
    "LabelSource",
    "EvaluatedSystem",
    "Comparison",
    "Evaluation",
    "Inputs",
    "AnnotatorAgreement",
    "AgreementEvaluation",
    "AgreementTask",
    "parse_label_source",
    "load_inputs",
    "score_inputs",
    "evaluation",
    "evaluate_files",
    "evaluate_agreement_file",
]

PathLike: TypeAlias = str | os.PathLike[str]


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, ser_json_inf_nan="null")


class EvaluatedSystem(SystemScores):
    """One system: the engine's scores (as every door shows them) and its tables."""

    per_class: dict[str, dict[str, float | None]]
    confusion: dict[str, dict[str, int]] | None = None
    annotators: dict[str, dict[str, float | None]] | None = None


class Comparison(_Result):
    """A paired test of two systems on the ranking metric (unanswered = wrong)."""

    system_a: str
    system_b: str
    metric: str
    test: str
    difference: float
    a_better: int
    b_better: int
    pvalue: float
    pvalue_holm: float
    significant: bool


class Evaluation(_Result):
    """The result of ``bakeoff evaluate`` (``--json``)."""

    task: EvalTask
    gold: str
    n_gold: int
    n_resamples: int
    seed: int
    min_coverage: float
    unknown_labels: Literal["refuse", "wrong"]
    systems: dict[str, EvaluatedSystem]
    comparisons: list[Comparison]
    notes: list[str] = Field(
        default_factory=list,
        description="What the readers left out or could not check (also printed on stderr).",
    )


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


# --------------------------------------------------------------------------- scoring


def score_inputs(inputs: Inputs, *, options: ScoringOptions) -> dict[str, Scored]:
    """Score every system with the engine (the same numbers every door shows).

    Raises
    ------
    FormatError
        A system's labels use classes outside the gold vocabulary (and
        ``options.unknown_labels == "refuse"``): names the file, the unknown values, the
        known ones, and the ``--unknown-as-wrong`` way out.
    """
    if inputs.classes is not None and options.classes is None:
        options = ScoringOptions(**{**options.__dict__, "classes": inputs.classes})
    if inputs.coco_image_ids and not options.coco_image_ids:
        options = ScoringOptions(**{**options.__dict__, "coco_image_ids": inputs.coco_image_ids})
    if inputs.keypoint_sigmas:
        given = dict(inputs.keypoint_sigmas) | dict(options.keypoint_sigmas)
        options = ScoringOptions(**{**options.__dict__, "keypoint_sigmas": tuple(given.items())})
    out: dict[str, Scored] = {}
    for name, labels in inputs.systems.items():
        try:
            out[name] = score(
                inputs.task, inputs.gold, labels, options=options, metadata=inputs.metadata
            )
        except UnknownLabelsError as exc:
            raise FormatError(
                inputs.files.get(name, name),
                "",
                f"{exc} (not in {inputs.gold_name}; pass --unknown-as-wrong to score them "
                "as wrong)",
            ) from None
    return out


def _system(scored: Scored) -> EvaluatedSystem:
    confusion = None
    if scored.confusion is not None:
        confusion = {
            str(g): {str(p): int(scored.confusion.loc[g, p]) for p in scored.confusion.columns}
            for g in scored.confusion.index
        }
    return EvaluatedSystem(
        **system_scores(scored).model_dump(),
        per_class=table_rows(scored.per_class) or {},
        confusion=confusion,
        annotators=annotator_rows(scored),
    )


def evaluation(
    inputs: Inputs, scored: Mapping[str, Scored], *, options: ScoringOptions
) -> Evaluation:
    """The JSON result of ``bakeoff evaluate`` for already scored systems."""
    comparisons = [
        Comparison(
            system_a=c.a,
            system_b=c.b,
            metric=c.metric,
            test=c.test,
            difference=c.difference,
            a_better=c.a_better,
            b_better=c.b_better,
            pvalue=c.pvalue,
            pvalue_holm=c.pvalue_holm,
            significant=c.significant,
        )
        for c in paired_comparisons(scored)
    ]
    return Evaluation(
        task=inputs.task,
        gold=inputs.gold_name,
        n_gold=len(inputs.gold),
        n_resamples=options.n_resamples,
        seed=options.seed,
        min_coverage=options.min_coverage,
        unknown_labels=options.unknown_labels,
        systems={name: _system(s) for name, s in scored.items()},
        comparisons=comparisons,
        notes=list(inputs.notes),
    )


def evaluate_files(
    task: EvalTask,
    gold_path: PathLike,
    sources: Sequence[LabelSource],
    *,
    options: ScoringOptions | None = None,
) -> Evaluation:
    """Load, score and summarise label files (see :func:`load_inputs`, :func:`score_inputs`)."""
    opts = options or ScoringOptions()
    inputs = load_inputs(task, gold_path, sources)
    return evaluation(inputs, score_inputs(inputs, options=opts), options=opts)


# --------------------------------------------------------------------------- agreement


AgreementTask = Literal["classification", "preference", "rating"]


def _agreement_rows(
    path: PathLike,
    *,
    task: AgreementTask,
    question: str | None,
    format: FormatName | None,
) -> list[tuple[str, str, str, str]]:
    """``(item, annotator, label, where)`` per answer, read by the one format layer."""
    p = Path(path)
    fmt = format or detect_format(p)
    if fmt == "csv":
        return [
            (r.item_id, r.annotator_id, r.label, f"row {r.row}")
            for r in csv_format.iter_annotations(p, name=p.name)
        ]
    rows: list[tuple[str, str | None, object]]
    if task == "rating":
        read = read_language_file(p, kind="rating", format=fmt, question=question)
        rows = []
        for r in read:
            value = r.label
            if isinstance(value, dict):
                if len(value) != 1:
                    raise FormatError(
                        p.name,
                        f"item {r.item_id!r}",
                        f"rates {sorted(value)}; name one with --question",
                    )
                (value,) = value.values()
            rows.append((r.item_id, r.annotator_id, value))
    else:
        labels = read_label_file(p, task_type=task, format=fmt, question=question)
        rows = [(a.item_id, a.annotator_id, a.label) for a in labels.annotations]
    out = []
    for k, (item, annotator, label) in enumerate(rows, start=1):
        where = f"item {item!r} (answer {k})"
        if annotator is None:
            raise FormatError(
                p.name, where, f"names no annotator; agreement needs who gave each {fmt} answer"
            )
        if not isinstance(label, str | int | float) or isinstance(label, bool):
            raise FormatError(p.name, where, f"label {label!r} is not one class or rating")
        out.append((item, annotator, str(label), where))
    return out


def evaluate_agreement_file(
    path: PathLike,
    *,
    level: Level = "nominal",
    gold_path: PathLike | None = None,
    task: AgreementTask = "classification",
    question: str | None = None,
    format: FormatName | None = None,
) -> AgreementEvaluation:
    """Agreement among the annotators of a label file with several annotators per item.

    Parameters
    ----------
    path
        The answers: an ``item_id,annotator_id,label`` CSV, or any file the format layer
        reads with annotators (a Label Studio JSON export, Bakeoff JSON Lines, Labelbox,
        Argilla, ...; :func:`adapters.formats.registry.read_label_file`).
    level
        Level of measurement for Krippendorff's alpha; ``interval`` and ``ratio`` need
        numeric labels (a non-number is reported with its row).
    gold_path
        Optional gold ``item_id,label`` file: adds each annotator's accuracy.
    task
        What the answers are: classes, preferences (A/B/tie) or ratings (a Label Studio
        Rating or Argilla rating question, read by
        :func:`adapters.formats.registry.read_language_file`).
    question
        The Label Studio control (``from_name``), Labelbox question or Argilla question to
        read, where the file answers several.
    format
        The file's format; told from its content when ``None``.
    """
    name = Path(path).name
    rows = _agreement_rows(path, task=task, question=question, format=format)
    if not rows:
        raise FormatError(name, "", "no answers; add rows item_id,annotator_id,label")
    answers = pd.DataFrame(
        [r[:3] for r in rows],
        columns=["task", "worker", "label"],
        dtype=object,
    )
    numeric = _numeric_if_possible([answers["label"]])[0]
    if level in ("interval", "ratio") and numeric.dtype == object:
        for _, _, label, where in rows:
            try:
                finite = math.isfinite(float(label))
            except ValueError:
                finite = None
            if not finite:
                what = "a number" if finite is None else "a finite number"
                raise FormatError(
                    name,
                    where,
                    f"label {label!r} is not {what}; --level {level} needs numeric labels",
                )
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
