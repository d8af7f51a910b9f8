"""Compute a bake-off's disagreement flags (with :mod:`metrics.flags`) and store them.

Inputs are what the service holds (the pinned golden-set version's gold, every candidate's
labels) plus, optionally, what the caller uploads: out-of-fold predicted probabilities per item,
features per item (a classifier is then fit by cross-validation), or a request to embed the
items' text with the bundled MiniLM model (:mod:`adapters.embedding`), and, for detection, a
model's scored boxes.

Storing is idempotent: a flag is identified by (item, vendor, reason, annotator); recomputing
updates the score of flags that still hold, adds new ones, and deletes *open* flags that no longer
hold and were never reviewed. Reviewed flags are never deleted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import bindparam, insert
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from metrics import flags as mflags
from metrics import language_flags
from metrics.aggregation import TiePolicy, majority_vote
from metrics.box_flags import MASK
from metrics.label_issues import out_of_fold_pred_probs
from metrics.types import LABEL, SCORE, TASK, WORKER
from service.core.types import utcnow
from service.domain._common import table_of
from service.domain.answer_geometry import with_image_size
from service.domain.bakeoffs import get_bakeoff, vendor_aliases
from service.domain.errors import Invalid
from service.domain.projects import class_names
from service.domain.security import Principal
from service.models import (
    AuditEvent,
    BakeOff,
    Flag,
    GoldenItem,
    GoldLabel,
    Project,
    Review,
    VendorLabel,
)

__all__ = [
    "FlagReason",
    "ModelBox",
    "FlagComputeRequest",
    "FlagComputeResult",
    "BakeOffData",
    "load_bakeoff_data",
    "compute_flags",
    "last_compute_notes",
]

FlagReason = Literal["vendor_vs_gold", "model_vs_label", "candidates_disagree", "gold_may_be_wrong"]
_ALL_REASONS: tuple[FlagReason, ...] = (
    "vendor_vs_gold",
    "model_vs_label",
    "candidates_disagree",
    "gold_may_be_wrong",
)
_GENERIC = ("multilabel", "spans")


class ModelBox(BaseModel):
    """One box predicted by a model for an item (detection)."""

    model_config = ConfigDict(extra="forbid")

    category: str
    bbox: tuple[float, float, float, float] = Field(description="COCO [x, y, width, height].")
    score: float = Field(ge=0.0, le=1.0)


class FlagComputeRequest(BaseModel):
    """What to compute flags from, beyond the stored gold and vendor labels."""

    model_config = ConfigDict(extra="forbid")

    reasons: list[FlagReason] | None = Field(
        default=None, description="Reasons to compute; default all that the inputs allow."
    )
    pred_probs: dict[str, dict[str, float]] | None = Field(
        default=None,
        description="Out-of-fold probabilities: {item_key: {class: p}}, rows sum to 1.",
    )
    features: dict[str, list[float]] | None = Field(
        default=None,
        description="Numeric features per item key; a classifier is fit by cross-validation.",
    )
    embed_text: bool = Field(
        default=False,
        description="Embed each item's data['text'] with all-MiniLM-L6-v2 and use it as features.",
    )
    model_boxes: dict[str, list[ModelBox]] | None = Field(
        default=None, description="Detection: a model's scored boxes per item key."
    )
    judge_vendor_id: int | None = Field(
        default=None,
        description=(
            "Preference, rating and transcription: the candidate whose answers are a model "
            "judge's (e.g. an LLM judge's labels imported as a vendor); every other "
            "candidate's answer it disagrees with is flagged model_vs_label."
        ),
    )
    iou_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    min_entropy: float = Field(default=0.5, ge=0.0, le=1.0)
    ties: TiePolicy = Field(
        default="wrong",
        description=(
            "How a vendor's tied annotator votes are resolved, as in scoring: 'wrong' "
            "(no answer; flagged as a tied vote), 'random' (seeded) or 'dawid_skene'."
        ),
    )


class FlagComputeResult(BaseModel):
    """How many flags a computation stored, per reason, and what it had to leave out."""

    bakeoff_id: int
    created: int
    updated: int
    deleted: int
    open_by_reason: dict[str, int]
    notes: list[str] = Field(
        default_factory=list,
        description="What was computed differently or skipped, and why (e.g. rare classes).",
    )


@dataclass(frozen=True)
class BakeOffData:
    """A bake-off's labels as frames keyed by item id and vendor id.

    Attributes
    ----------
    bakeoff, project
        The rows.
    classes
        The ontology's class names.
    items
        ``{item id: (key, data, meta)}`` of the pinned version's gold items.
    gold
        ``{item id: gold value}``.
    labels
        One row per stored vendor label: ``task`` (item id), ``worker`` (vendor id),
        ``annotator``, ``value`` (JSON), ``score``.
    aliases
        ``{vendor id: "Candidate A"}``.
    """

    bakeoff: BakeOff
    project: Project
    classes: list[str]
    items: dict[int, tuple[str, dict[str, Any], dict[str, Any]]]
    gold: dict[int, Any]
    labels: pd.DataFrame
    aliases: dict[int, str]


def load_bakeoff_data(session: Session, bakeoff: BakeOff) -> BakeOffData:
    """Read the pinned gold and every candidate label of ``bakeoff`` in three queries."""
    project = session.get(Project, bakeoff.project_id)
    if project is None:  # pragma: no cover - foreign key
        raise Invalid(f"bake-off {bakeoff.id} has no project")
    gold_t, item_t, label_t = table_of(GoldLabel), table_of(GoldenItem), table_of(VendorLabel)
    rows = session.execute(
        sa_select(item_t.c.id, item_t.c.key, item_t.c.data, item_t.c.meta, gold_t.c.value)
        .join(gold_t, gold_t.c.item_id == item_t.c.id)
        .where(gold_t.c.version_id == bakeoff.golden_set_version_id)
    ).all()
    items = {int(r[0]): (str(r[1]), dict(r[2] or {}), dict(r[3] or {})) for r in rows}
    gold = {int(r[0]): r[4] for r in rows}
    lab = session.execute(
        sa_select(
            label_t.c.item_id,
            label_t.c.vendor_id,
            label_t.c.annotator_id,
            label_t.c.value,
            label_t.c.score,
        )
        .where(label_t.c.bakeoff_id == bakeoff.id)
        # a preference pair's second sending measures self-consistency (the engine); as a
        # second vote here it would double an annotator and split them against themselves
        .where(label_t.c.repeat == 0)
        .order_by(label_t.c.id)
    ).all()
    labels = pd.DataFrame(
        [(int(a), int(b), c or "", d, e) for a, b, c, d, e in lab],
        columns=[TASK, WORKER, "annotator", "value", SCORE],
    )
    return BakeOffData(
        bakeoff=bakeoff,
        project=project,
        classes=class_names(project),
        items=items,
        gold=gold,
        labels=labels,
        aliases=vendor_aliases(session, bakeoff.id or 0),
    )


# --------------------------------------------------------------------------- frames


def _canonical(value: Any) -> str:
    """A stable string for a JSON label (multilabel sets compare as sets)."""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return json.dumps(sorted(value))
    return json.dumps(value, sort_keys=True)


def _empty_answers() -> tuple[pd.DataFrame, pd.DataFrame]:
    answers = pd.DataFrame(
        {
            TASK: pd.Series(dtype=np.int64),
            WORKER: pd.Series(dtype=np.int64),
            LABEL: pd.Series(dtype=object),
            SCORE: pd.Series(dtype=np.float64),
        }
    )
    ties = pd.DataFrame(
        {
            TASK: pd.Series(dtype=np.int64),
            WORKER: pd.Series(dtype=np.int64),
            "tied_classes": pd.Series(dtype=object),
            SCORE: pd.Series(dtype=np.float64),
        }
    )
    return answers, ties


def _class_answers(
    data: BakeOffData, *, generic: bool, ties: TiePolicy = "wrong"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One answer per (item, vendor), and the (item, vendor) pairs whose annotators tied.

    Several annotators of one vendor on an item are collapsed by
    :func:`metrics.aggregation.majority_vote` with the tie policy ``ties``: the one
    aggregation scoring uses, so an item scored wrong is flagged and one scored right is
    not. Every stored label is one vote. Under ``ties="wrong"`` a tied item has no
    answer: it is returned in the second frame (``task``, ``worker``, ``tied_classes``,
    ``score``) for :func:`metrics.flags.tied_vote_flags`. ``score`` is the mean score
    of the annotators who gave the consensus label (of all of them for a tie).
    """
    lab = data.labels[data.labels[TASK].isin(list(data.gold))]
    if lab.empty:
        return _empty_answers()
    values = [_canonical(v) if generic else v for v in lab["value"]]
    frame = pd.DataFrame(
        {
            TASK: lab[TASK].to_numpy(),
            WORKER: lab[WORKER].to_numpy(),
            LABEL: values,
            SCORE: pd.to_numeric(lab[SCORE], errors="coerce").to_numpy(np.float64),
        }
    )
    if not frame.duplicated([TASK, WORKER]).any():
        return frame, _empty_answers()[1]  # one answer per (item, vendor): the usual case
    # every stored label is a vote: annotator id plus its repeat number on the item
    annotator = lab["annotator"].astype(str).to_numpy()
    repeat = frame.assign(_a=annotator).groupby([TASK, WORKER, "_a"], sort=False).cumcount()
    frame["_voter"] = [f"{a}#{r}" for a, r in zip(annotator, repeat.to_numpy(), strict=True)]
    answers, tied = [], []
    for vendor, rows in frame.groupby(WORKER, sort=False):
        vote = majority_vote(
            pd.DataFrame(
                {TASK: rows[TASK].to_numpy(), WORKER: rows["_voter"].to_numpy(), LABEL: rows[LABEL]}
            ),
            ties=ties,
        )
        label = vote.label.to_dict()
        agrees = np.array(
            [
                label.get(t) is None or _same(label.get(t), v)
                for t, v in zip(rows[TASK], rows[LABEL], strict=True)
            ]
        )
        score = rows[agrees].groupby(TASK, sort=False)[SCORE].mean()
        decided = vote.label.notna().to_numpy()
        answers.append(
            pd.DataFrame(
                {
                    TASK: vote.label.index[decided],
                    WORKER: vendor,
                    LABEL: vote.label.to_numpy()[decided],
                    SCORE: score.reindex(vote.label.index[decided]).to_numpy(np.float64),
                }
            )
        )
        if ties == "wrong" and vote.n_tied:
            index = vote.tied_classes.index
            tied.append(
                pd.DataFrame(
                    {
                        TASK: index,
                        WORKER: vendor,
                        "tied_classes": vote.tied_classes.to_numpy(),
                        SCORE: score.reindex(index).to_numpy(np.float64),
                    }
                )
            )
    empty_answers, empty_ties = _empty_answers()
    return (
        pd.concat([empty_answers, *answers], ignore_index=True) if answers else empty_answers,
        pd.concat([empty_ties, *tied], ignore_index=True) if tied else empty_ties,
    )


def _same(a: Any, b: Any) -> bool:
    return bool(a == b)


def _gold_series(data: BakeOffData, *, generic: bool) -> pd.Series[Any]:
    values = [_canonical(v) if generic else v for v in data.gold.values()]
    return pd.Series(values, index=list(data.gold), dtype=object)


def _boxes_frame(
    pairs: Sequence[tuple[int, Any, Any]], *, with_worker: bool, masks: bool = False
) -> pd.DataFrame:
    rows = []
    for task, worker, value in pairs:
        for box in value or []:
            x, y, w, h = (float(v) for v in box["bbox"])
            row = {TASK: task, LABEL: box["category"], "x": x, "y": y, "width": w, "height": h}
            if with_worker:
                row[WORKER] = worker
            s = box.get("score")
            row[SCORE] = float(s) if s is not None else np.nan
            if masks:
                row[MASK] = box[MASK]
            rows.append(row)
    cols = [TASK, *([WORKER] if with_worker else []), LABEL, "x", "y", "width", "height", SCORE]
    return pd.DataFrame(rows, columns=cols + ([MASK] if masks else []))


# --------------------------------------------------------------------------- model inputs


def _key_to_id(data: BakeOffData) -> dict[str, int]:
    return {key: item_id for item_id, (key, _, _) in data.items.items()}


def _pred_probs(
    data: BakeOffData, req: FlagComputeRequest, notes: list[str]
) -> pd.DataFrame | None:
    ids = _key_to_id(data)
    if req.pred_probs is not None:
        rows, index = [], []
        for key, probs in req.pred_probs.items():
            if key not in ids:
                raise Invalid(
                    f"unknown item key {key!r} (not in the bake-off's golden set)",
                    location=("body", "pred_probs", key),
                )
            unknown = set(probs) - set(data.classes)
            if unknown:
                raise Invalid(
                    f"unknown class(es) {sorted(unknown)}; the ontology has {data.classes}",
                    location=("body", "pred_probs", key),
                )
            total = sum(probs.values())
            if abs(total - 1.0) > 1e-4 or any(p < 0 for p in probs.values()):
                raise Invalid(
                    f"probabilities must be >= 0 and sum to 1, got sum {total:.6f}",
                    location=("body", "pred_probs", key),
                )
            rows.append([float(probs.get(c, 0.0)) for c in data.classes])
            index.append(ids[key])
        return pd.DataFrame(rows, index=index, columns=data.classes)
    features: dict[int, list[float]] = {}
    if req.features is not None:
        for key, vec in req.features.items():
            if key not in ids:
                raise Invalid(
                    f"unknown item key {key!r} (not in the bake-off's golden set)",
                    location=("body", "features", key),
                )
            features[ids[key]] = vec
    elif req.embed_text:
        from adapters.embedding import EmbeddingUnavailable, TextEmbedder

        texts = {i: d.get("text") for i, (_, d, _) in data.items.items()}
        missing = [data.items[i][0] for i, t in texts.items() if not isinstance(t, str)]
        if missing:
            raise Invalid(
                f"embed_text needs data['text'] on every item; missing on {missing[:5]}",
                location=("body", "embed_text"),
            )
        order = list(texts)
        try:
            vectors = TextEmbedder().embed([str(texts[i]) for i in order])
        except EmbeddingUnavailable as exc:
            raise Invalid(str(exc), location=("body", "embed_text")) from exc
        features = {i: vectors[n].tolist() for n, i in enumerate(order)}
    if not features:
        return None
    dims = {len(v) for v in features.values()}
    if len(dims) != 1:
        raise Invalid(
            "every feature vector must have the same length", location=("body", "features")
        )
    gold = pd.Series({i: data.gold[i] for i in features if isinstance(data.gold.get(i), str)})
    learnable = _learnable_gold(gold, notes)
    if learnable is None:
        return None
    frame = pd.DataFrame.from_dict(features, orient="index")
    try:
        oof = out_of_fold_pred_probs(frame, learnable, rng=np.random.default_rng(0))
    except ValueError as exc:
        raise Invalid(
            f"cannot fit a model on the features: {exc}", location=("body", "features")
        ) from exc
    return oof.reindex(columns=data.classes, fill_value=0.0)


def _learnable_gold(gold: pd.Series[Any], notes: list[str]) -> pd.Series[Any] | None:
    """The gold a model can be cross-validated on; what was left out is added to ``notes``.

    Small golden sets with rare classes are normal. A class with a single gold item cannot be
    held out (its item would be predicted by a model that never saw the class), so its items
    get no model probabilities (hence no model-vs-label flags) instead of the whole request
    failing; fewer folds are used when the rarest kept class has fewer than 5 items. With
    fewer than two classes left, no model is fit at all.
    """
    counts = gold.value_counts()
    rare = sorted((str(c) for c in counts[counts < 2].index), key=str)
    if rare:
        gold = gold[~gold.astype(str).isin(rare)]
        notes.append(
            f"model-vs-label: class(es) {rare} have a single gold item, too few to hold "
            f"one out in cross-validation; their {int(counts[counts < 2].sum())} item(s) "
            "got no model probabilities and no model-vs-label flags"
        )
    kept = gold.value_counts()
    if len(kept) < 2:
        notes.append(
            "model-vs-label flags skipped: fewer than 2 classes have at least 2 gold items, "
            "so no model can be fit on the features"
        )
        return None
    if int(kept.min()) < 5:
        notes.append(
            f"model-vs-label: {int(kept.min())}-fold cross-validation instead of 5-fold "
            f"(the rarest class, {kept.idxmin()!r}, has {int(kept.min())} gold items)"
        )
    return gold


def last_compute_notes(*, session: Session, bakeoff_id: int) -> list[str]:
    """The notes of a bake-off's latest flag computation (stored in its audit event)."""
    event = session.exec(
        select(AuditEvent)
        .where(AuditEvent.action == "flags.compute")
        .where(AuditEvent.entity_type == "bakeoff")
        .where(AuditEvent.entity_id == str(bakeoff_id))
        .order_by(col(AuditEvent.id).desc())
    ).first()
    notes = (event.after or {}).get("notes") if event is not None else None
    return [str(n) for n in notes] if isinstance(notes, list) else []


# --------------------------------------------------------------------------- compute


def _run(data: BakeOffData, req: FlagComputeRequest, notes: list[str]) -> mflags.Flags:
    task_type = data.project.task_type
    reasons = set(req.reasons or _ALL_REASONS)
    parts: list[mflags.Flags] = []
    judge = req.judge_vendor_id
    if judge is not None and task_type not in _LANGUAGE:
        raise Invalid(
            f"judge_vendor_id is for preference, rating and transcription bake-offs, not "
            f"{task_type!r} (a classifier's judgement comes as pred_probs or features)",
            location=("body", "judge_vendor_id"),
        )
    if judge is not None and judge not in data.aliases:
        raise Invalid(
            f"vendor {judge} is not a candidate of bake-off {data.bakeoff.id}",
            location=("body", "judge_vendor_id"),
        )
    try:
        if task_type == "classification" or task_type in _GENERIC:
            generic = task_type != "classification"
            answers, tied = _class_answers(data, generic=generic, ties=req.ties)
            gold = _gold_series(data, generic=generic)
            probs = _pred_probs(data, req, notes) if not generic else None
            if "vendor_vs_gold" in reasons:
                parts.append(mflags.vendor_vs_gold_flags(answers, gold, pred_probs=probs))
                parts.append(mflags.tied_vote_flags(tied, gold))
            if "candidates_disagree" in reasons:
                parts.append(
                    mflags.candidates_disagree_flags(
                        answers, gold=gold, min_entropy=req.min_entropy
                    )
                )
            if "gold_may_be_wrong" in reasons:
                parts.append(mflags.gold_may_be_wrong_flags(answers, gold, pred_probs=probs))
            if "model_vs_label" in reasons and probs is not None:
                known = answers[answers[TASK].isin(probs.index)]
                parts.append(
                    mflags.model_vs_label_flags(
                        known, probs, gold=gold[gold.index.isin(probs.index)]
                    )
                )
                parts.extend(_annotator_flags(data, probs))
        elif task_type in ("detection", "segmentation"):
            parts.extend(_detection_flags(data, req, reasons, notes))
        elif task_type in _LANGUAGE:
            parts.extend(_language_flags(data, reasons, judge))
        else:
            raise Invalid(
                f"flags are not computed for {task_type!r} projects yet",
                location=("path", "bakeoff_id"),
            )
    except ValueError as exc:
        raise Invalid(str(exc), location=("body",)) from exc
    return mflags.Flags.concat(parts)


def _rating_scale(data: BakeOffData) -> tuple[float, float]:
    """The rubric's scale: the ontology's ``rating_scale``, else the gold items' metadata
    ``scale_min``/``scale_max``, else the range of the ratings given."""
    scale = (data.project.ontology or {}).get("rating_scale")
    if isinstance(scale, list | tuple) and len(scale) == 2:
        return float(scale[0]), float(scale[1])
    for _key, _data, meta in data.items.values():
        if "scale_min" in meta and "scale_max" in meta:
            return float(meta["scale_min"]), float(meta["scale_max"])
    seen = [
        float(v)
        for value in [*data.gold.values(), *data.labels["value"]]
        if isinstance(value, dict)
        for v in value.values()
    ]
    low, high = (min(seen), max(seen)) if seen else (0.0, 1.0)
    return low, high if high > low else low + 1.0


_LANGUAGE = ("preference", "rating", "transcription")


def _language_flags(
    data: BakeOffData, reasons: Collection[str], judge: int | None = None
) -> list[mflags.Flags]:
    """Language tasks: every annotator's answer against gold (preferences: an opposite one
    weighs more than a tie; ratings: distance on the scale; transcripts: word error rate),
    with a model judge (the candidate ``judge``) every other candidate's answer against the
    judge's by the same distance (the judge itself is flagged against gold like any
    candidate), and, for preferences and ratings, the items where one vendor's annotators
    split."""
    task_type = data.project.task_type
    lab = data.labels[data.labels[TASK].isin(list(data.gold))]
    answers = pd.DataFrame(
        {
            TASK: lab[TASK].to_numpy(),
            WORKER: lab[WORKER].to_numpy(),
            language_flags.ANNOTATOR: lab["annotator"].to_numpy(),
            LABEL: lab["value"].to_numpy(),
        }
    )
    distance: language_flags.Distance = language_flags.preference_distance
    if task_type == "rating":
        distance = language_flags.rubric_distance(*_rating_scale(data))
        answers[LABEL] = [json.dumps(v, sort_keys=True) for v in answers[LABEL]]
    elif task_type == "transcription":
        distance = language_flags.transcript_distance
    parts = []
    labels = answers
    if task_type == "rating":  # distances read the ratings, splits their JSON text
        labels = answers.assign(**{LABEL: [json.loads(v) for v in answers[LABEL]]})
    if judge is not None and "model_vs_label" in reasons:
        # every other candidate against the judge; the judge is still a candidate against
        # gold below
        mine = (labels[WORKER] == judge).to_numpy()
        parts.append(
            language_flags.judge_vs_label_flags(
                labels[~mine], labels.loc[mine, [TASK, LABEL]], distance=distance
            )
        )
    if "vendor_vs_gold" in reasons:
        gold = pd.Series(data.gold, dtype=object)
        parts.append(language_flags.language_vs_gold_flags(labels, gold, distance=distance))
    if "candidates_disagree" in reasons and task_type != "transcription":
        parts.append(language_flags.annotators_split_flags(answers))
    return parts


def _annotator_flags(data: BakeOffData, probs: pd.DataFrame) -> list[mflags.Flags]:
    """Per vendor with several annotators on an item: answers against the CROWDLAB consensus."""
    out = []
    lab = data.labels[data.labels[TASK].isin(probs.index) & (data.labels["annotator"] != "")]
    for vendor_id, rows in lab.groupby(WORKER, sort=True):
        if rows.groupby(TASK).size().max() < 2:
            continue
        answers = pd.DataFrame(
            {
                TASK: rows[TASK].to_numpy(),
                WORKER: rows["annotator"].to_numpy(),
                LABEL: rows["value"].to_numpy(),
            }
        ).drop_duplicates([TASK, WORKER])
        flags = mflags.multiannotator_flags(answers, probs)
        frame = flags.frame.copy()
        frame["detail"] = [
            f"annotator {a}: {d}" for a, d in zip(frame[WORKER], frame["detail"], strict=True)
        ]
        frame["annotator"] = frame[WORKER]
        frame[WORKER] = vendor_id
        out.append(mflags.Flags(frame))
    return out


def _mask_regions(value: Any, unusable: list[int]) -> list[dict[str, Any]]:
    """Masks as ``{"category", "bbox", "score", "segmentation"}``: the compressed RLE (compared
    by mask IoU) and its tight box (for the edge-bias flags). A mask that cannot be rasterised
    (a polygon without the image size) is left out and counted in ``unusable``."""
    from metrics.masks import mask_to_bbox, to_rle

    out: list[dict[str, Any]] = []
    for mask in value or []:
        try:
            rle = to_rle(mask["segmentation"], height=mask.get("height"), width=mask.get("width"))
        except (KeyError, TypeError, ValueError):
            unusable.append(1)
            continue
        bbox = [float(v) for v in mask_to_bbox([rle])[0]]
        out.append(
            {"category": mask["category"], "bbox": bbox, "score": mask.get("score"), MASK: rle}
        )
    return out


def _vendor_answers(
    data: BakeOffData, lab: pd.DataFrame, *, segm: bool, iou_threshold: float, notes: list[str]
) -> tuple[list[tuple[int, Any, Any]], dict[tuple[int, Any], int]]:
    """One answer per (item, vendor): a vendor with several annotators on an item is
    represented by their consensus (:func:`metrics.fusion.fuse_boxes` /
    :func:`~metrics.fusion.fuse_masks`, the fusion the scoring engine scores crowds on, the
    answers ordered by annotator id as there); returns the answers and ``{(item, vendor):
    number of annotators}`` where fused."""
    from metrics.fusion import fuse_boxes, fuse_masks

    lab = lab.drop_duplicates([TASK, WORKER, "annotator"], keep="first")
    lab = lab.assign(_annotator=lab["annotator"].astype(str)).sort_values(
        [TASK, WORKER, "_annotator"], kind="stable"
    )
    answers: list[tuple[int, Any, Any]] = []
    fused_n: dict[tuple[int, Any], int] = {}
    dropped: Counter[Any] = Counter()
    for key, rows in lab.groupby([TASK, WORKER], sort=False):
        raw_task, worker = cast(tuple[Any, Any], key)
        task = int(raw_task)
        size = data.items.get(task, ("", {}, {}))[1] or {}
        values = [with_image_size(v, size) if segm else v for v in rows["value"]]
        if len(values) == 1:
            answers.append((task, worker, values[0]))
            continue
        fuse = fuse_masks if segm else fuse_boxes
        fused = fuse([v or [] for v in values], iou_threshold=iou_threshold)
        answers.append((task, worker, fused.objects))
        fused_n[(task, worker)] = len(values)
        dropped[worker] += fused.no_majority
    for worker, n in sorted(dropped.items(), key=lambda kv: str(kv[0])):
        if n:
            alias = data.aliases.get(int(worker), str(worker))
            notes.append(
                f"{alias}: {n} region(s) drawn by too few of its annotators to reach a "
                "majority were left out of its consensus"
            )
    return answers, fused_n


def _say_consensus(flags: mflags.Flags, fused_n: Mapping[tuple[int, Any], int]) -> mflags.Flags:
    """Say in a vendor flag's reason when it was raised against the vendor's consensus."""
    if not fused_n or flags.frame.empty:
        return flags
    frame = flags.frame.copy()
    detail = []
    for task, worker, text in zip(frame[TASK], frame[WORKER], frame["detail"], strict=True):
        n = fused_n.get((int(task), worker))
        if n is None and (worker is None or worker == mflags.GOLD):
            k = sum(1 for t, _ in fused_n if t == int(task))
            extra = f" (with {k} candidate(s) as the consensus of their annotators)" if k else ""
        else:
            extra = f" (the consensus of {n} annotators)" if n else ""
        detail.append(f"{text or ''}{extra}".strip() if extra else text)
    frame["detail"] = detail
    return mflags.Flags(frame)


def _detection_flags(
    data: BakeOffData, req: FlagComputeRequest, reasons: set[FlagReason], notes: list[str]
) -> list[mflags.Flags]:
    lab = data.labels[data.labels[TASK].isin(list(data.gold))]
    segm = data.project.task_type == "segmentation"
    thr = req.iou_threshold
    # One answer per (item, vendor): several annotators are fused into their consensus.
    answers, fused_n = _vendor_answers(data, lab, segm=segm, iou_threshold=thr, notes=notes)
    # Segmentation is compared by mask IoU (the masks ride along as RLEs).
    unusable: list[int] = []
    cand = _boxes_frame(
        [(t, w, _mask_regions(v, unusable) if segm else v) for t, w, v in answers],
        with_worker=True,
        masks=segm,
    )
    # crowd regions (COCO ``iscrowd``) are not boxes to find: no flag is about them
    gold_values = [
        (
            t,
            None,
            _not_crowd(with_image_size(v, data.items.get(t, ("", {}, {}))[1] or {}) if segm else v),
        )
        for t, v in data.gold.items()
    ]
    n_cand_unusable = len(unusable)
    gold = _boxes_frame(
        [(t, w, _mask_regions(v, unusable) if segm else v) for t, w, v in gold_values],
        with_worker=False,
        masks=segm,
    )
    if unusable:
        notes.append(
            f"{len(unusable) - n_cand_unusable} gold and {n_cand_unusable} labelled mask(s) "
            "could not be rasterised (a polygon needs the item's width and height) and were "
            "left out of the flags"
        )
    tasks = list(data.gold)
    out = []
    if "vendor_vs_gold" in reasons:
        out.append(
            mflags.box_vendor_vs_gold_flags(
                cand, gold.drop(columns=SCORE), iou_threshold=thr, tasks=tasks
            )
        )
        # a systematic edge offset (a labelling convention) shows on the items it affects
        out.append(mflags.box_edge_bias_flags(cand, gold.drop(columns=SCORE), tasks=tasks))
    if "candidates_disagree" in reasons:
        out.append(mflags.box_candidates_disagree_flags(cand, iou_threshold=thr, tasks=tasks))
    if "gold_may_be_wrong" in reasons:
        out.append(
            mflags.box_gold_may_be_wrong_flags(
                cand, gold.drop(columns=SCORE), iou_threshold=thr, tasks=tasks
            )
        )
    if "model_vs_label" in reasons and req.model_boxes is not None:
        ids = _key_to_id(data)
        pairs = []
        for key, boxes in req.model_boxes.items():
            if key not in ids:
                raise Invalid(f"unknown item key {key!r}", location=("body", "model_boxes", key))
            for b in boxes:
                if data.classes and b.category not in data.classes:
                    raise Invalid(
                        f"unknown class {b.category!r}", location=("body", "model_boxes", key)
                    )
            pairs.append((ids[key], None, [b.model_dump() for b in boxes]))
        preds = _boxes_frame(pairs, with_worker=False)
        # a detector's boxes: ObjectLab compares boxes, so masks take part by their tight box
        out.append(
            mflags.box_model_vs_label_flags(
                preds,
                boxes=cand.drop(columns=[MASK], errors="ignore"),
                gold_boxes=gold.drop(columns=[SCORE, MASK], errors="ignore"),
                tasks=tasks,
                classes=data.classes or None,
            )
        )
    return [_say_consensus(f, fused_n) for f in out]


def _not_crowd(value: Any) -> Any:
    if not isinstance(value, list):
        return value
    return [o for o in value if not (isinstance(o, Mapping) and o.get("iscrowd"))]


def _involved_classes(row: Mapping[Any, Any], gold_value: Any) -> list[str]:
    classes: set[str] = set()
    if isinstance(gold_value, str):
        classes.add(gold_value)
    elif isinstance(gold_value, list):
        for v in gold_value:
            if isinstance(v, str):
                classes.add(v)
            elif isinstance(v, dict):
                classes.add(str(v.get("category") or v.get("type") or ""))
    group = row.get("group")
    if isinstance(group, str):
        classes.update(part.strip() for part in group.split("|"))
    sugg = row.get("suggested_label")
    if isinstance(sugg, str):
        classes.add(sugg)
    return sorted(c for c in classes if c and not c.startswith("["))


def compute_flags(
    *,
    session: Session,
    bakeoff_id: int,
    request: FlagComputeRequest | None = None,
    principal: Principal | None = None,
) -> FlagComputeResult:
    """Compute and store a bake-off's flags; one transaction, one audit event.

    Raises
    ------
    NotFound
        Unknown bake-off (or outside the caller's scope).
    Invalid
        Bad uploaded probabilities/features/boxes (the location names the item key), or an
        unsupported task type.
    """
    req = request or FlagComputeRequest()
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    data = load_bakeoff_data(session, bakeoff)
    notes: list[str] = []
    flags = _run(data, req, notes)
    frame = flags.frame
    table = table_of(Flag)
    # The flag identity: (item, vendor, reason, annotator).
    existing = {
        (int(item_id), vendor_id, reason, str((details or {}).get("annotator") or "")): (
            int(flag_id),
            status,
            dict(details or {}),
        )
        for flag_id, item_id, vendor_id, reason, status, details in session.execute(
            sa_select(
                table.c.id,
                table.c.item_id,
                table.c.vendor_id,
                table.c.reason,
                table.c.status,
                table.c.details,
            ).where(table.c.bakeoff_id == bakeoff_id)
        ).all()
    }
    seen: set[tuple[int, int | None, str, str]] = set()
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    now = utcnow()
    annotators = [
        a if isinstance(a, str) and a else None
        for a in (frame["annotator"] if "annotator" in frame.columns else [None] * len(frame))
    ]
    for row, annotator in zip(frame.to_dict("records"), annotators, strict=True):
        item_id = int(row[TASK])
        worker = row[WORKER]
        vendor_id = (
            None if worker is None or worker == mflags.GOLD or pd.isna(worker) else int(worker)
        )
        target = "gold" if worker == mflags.GOLD else ("item" if vendor_id is None else "vendor")
        key = (item_id, vendor_id, str(row["reason"]), str(annotator or ""))
        if key in seen:
            continue
        seen.add(key)
        details = {
            "kind": row["kind"],
            "target": target,
            "group": row["group"],
            "suggested_label": _jsonable(row["suggested_label"], data),
            "detail": row["detail"],
            "classes": _involved_classes(row, data.gold.get(item_id)),
            "annotator": str(annotator) if annotator else None,
        }
        found = existing.get(key)
        if found is None:
            inserts.append(
                {
                    "bakeoff_id": bakeoff_id,
                    "item_id": item_id,
                    "vendor_id": vendor_id,
                    "reason": str(row["reason"]),
                    "score": float(row[SCORE]),
                    "status": "open",
                    "details": details,
                    "created_at": now,
                }
            )
        else:
            kept = {k: v for k, v in found[2].items() if k not in details}
            updates.append(
                {"b_id": found[0], "b_score": float(row[SCORE]), "b_details": {**kept, **details}}
            )
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        session.execute(
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values(score=bindparam("b_score"), details=bindparam("b_details")),
            updates,
        )
    reviewed = set(
        session.exec(
            select(Review.flag_id)
            .join(Flag, col(Flag.id) == col(Review.flag_id))
            .where(Flag.bakeoff_id == bakeoff_id)
        ).all()
    )
    stale = [
        flag_id
        for key, (flag_id, status, _) in existing.items()
        if key not in seen and status == "open" and flag_id not in reviewed
    ]
    for start in range(0, len(stale), 5000):
        session.execute(table.delete().where(table.c.id.in_(stale[start : start + 5000])))
    created, updated, deleted = len(inserts), len(updates), len(stale)
    session.add(
        AuditEvent(
            actor_key_id=principal.key_id if principal else None,
            actor=principal.name if principal else "system",
            at=utcnow(),
            action="flags.compute",
            entity_type="bakeoff",
            entity_id=str(bakeoff_id),
            before=None,
            after={"created": created, "updated": updated, "deleted": deleted, "notes": notes},
        )
    )
    session.commit()
    counts = session.exec(
        select(Flag.reason, Flag.id)
        .where(Flag.bakeoff_id == bakeoff_id)
        .where(Flag.status == "open")
    ).all()
    by_reason = Counter(r for r, _ in counts)
    return FlagComputeResult(
        bakeoff_id=bakeoff_id,
        created=created,
        updated=updated,
        deleted=deleted,
        open_by_reason=dict(sorted(by_reason.items())),
        notes=notes,
    )


def _jsonable(value: Any, data: BakeOffData) -> Any:
    """A suggested label as stored JSON (generic labels were compared as JSON strings)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if data.project.task_type in _GENERIC and isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if isinstance(value, np.generic):
        return value.item()
    return value
