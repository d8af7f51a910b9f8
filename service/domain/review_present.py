"""What the review pages show about a flag: reasons as sentences, boxes marked as FiftyOne marks
them, and the queue's cards.

Presentation only: nothing here writes, and no number is computed that the flags do not hold
already, except the box comparison a reviewer sees (:func:`compare_shapes`), which matches boxes
one to one by IoU as :func:`metrics.box_flags.box_vendor_vs_gold_flags` does:

``matched``
    a candidate box on a gold box (IoU at least 0.5) with gold's class (a true positive);
``wrong_class``
    on a gold box but with another class;
``low_iou``
    on a gold box with gold's class, but loosely (IoU between 0.1 and 0.5);
``extra``
    a candidate box on no gold box (a false positive);
``missed``
    a gold box the candidate did not draw (a false negative).

Masks (segmentation) are compared by mask IoU, as the flags are, when every mask of both sides
can be rasterised (an RLE, or polygons with the item's ``width`` and ``height``); otherwise on
their bounding boxes.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, select

from metrics.detection import box_iou
from service.domain.bakeoffs import get_bakeoff
from service.domain.projects import class_names
from service.domain.review import (
    CandidateLabel,
    FlagView,
    ItemReview,
    _candidate_labels,
    _Context,
    _same,
)
from service.domain.security import Principal
from service.models import BakeOff, GoldenItem, GoldenSetVersion, Project

__all__ = [
    "ShapeStatus",
    "Shape",
    "Layer",
    "Explanation",
    "QueueCard",
    "IOU_THRESHOLD",
    "MATCH_IOU",
    "same_label",
    "compare_shapes",
    "image_size",
    "item_layers",
    "explain",
    "queue_cards",
    "bakeoff_classes",
    "slice_options",
]

ShapeStatus = Literal["gold", "matched", "wrong_class", "low_iou", "extra", "missed"]

#: A matched box with lower IoU is drawn loosely (the flags' default threshold).
IOU_THRESHOLD = 0.5
#: Boxes overlapping less than this are not the same object at all.
MATCH_IOU = 0.1


class Shape(BaseModel):
    """One box or polygon as drawn over the image."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(description="Position in its source's label (gold's, for a missed box).")
    category: str
    bbox: tuple[float, float, float, float] = Field(description="COCO [x, y, width, height].")
    polygons: list[list[float]] = Field(default_factory=list)
    status: ShapeStatus
    gold_category: str | None = Field(default=None, description="Gold's class when it differs.")
    iou: float | None = None
    score: float | None = None


class Layer(BaseModel):
    """Gold or one candidate's label on an item, with its shapes compared to gold."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(description="'gold', or the candidate's number key (1, 2, ...).")
    name: str = Field(description="'Gold', 'Candidate B' or 'Candidate B · annotator 2'.")
    candidate: str | None = Field(description="The candidate to accept ('Candidate B').")
    annotator: str | None = Field(default=None, description="The candidate's annotator, if any.")
    tag: str = Field(description="Short name drawn on boxes: 'gold', 'B'.")
    value: Any = None
    score: float | None = None
    flagged: bool = False
    changes_gold: bool = Field(default=False, description="Accepting this label would change gold.")
    shapes: list[Shape] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    drew_nothing: bool = False


class Explanation(BaseModel):
    """Why an item is in the queue, in words."""

    model_config = ConfigDict(frozen=True)

    headline: str
    score_text: str


class QueueCard(BaseModel):
    """A flag as the queue's grid shows it: a thumbnail and the reason in words."""

    model_config = ConfigDict(frozen=True)

    flag: FlagView
    image: str | None
    text: str | None
    explanation: Explanation
    boxes: list[Shape] = Field(default_factory=list, description="Gold's shapes (thumbnails).")
    width: float | None = None
    height: float | None = None


# --------------------------------------------------------------------------- shapes


def same_label(a: Any, b: Any) -> bool:
    """Whether two labels are the same (multilabel lists in any order)."""
    return _same(a, b)


def _objects(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _bbox_of(obj: dict[str, Any]) -> tuple[tuple[float, float, float, float], list[list[float]]]:
    """An object's box and polygons; a mask without polygons (RLE) gives an empty box."""
    bbox = obj.get("bbox")
    seg = obj.get("segmentation")
    polygons = (
        [[float(v) for v in poly] for poly in seg if isinstance(poly, list) and len(poly) >= 6]
        if isinstance(seg, list)
        else []
    )
    if isinstance(bbox, list | tuple) and len(bbox) == 4:
        x, y, w, h = (float(v) for v in bbox)
        return (x, y, w, h), polygons
    if polygons:
        xs = [p for poly in polygons for p in poly[0::2]]
        ys = [p for poly in polygons for p in poly[1::2]]
        return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)), polygons
    return (0.0, 0.0, 0.0, 0.0), polygons


def _shape(index: int, obj: dict[str, Any], status: ShapeStatus, **extra: Any) -> Shape:
    bbox, polygons = _bbox_of(obj)
    score = obj.get("score")
    return Shape(
        index=index,
        category=str(obj.get("category", "")),
        bbox=bbox,
        polygons=polygons,
        status=status,
        score=float(score) if isinstance(score, int | float) else None,
        **extra,
    )


def image_size(data: Mapping[str, Any]) -> tuple[int, int] | None:
    """An item's ``(height, width)`` from its data, when both are whole numbers."""
    h, w = data.get("height"), data.get("width")
    if isinstance(h, int) and isinstance(w, int):
        return h, w
    return None


def _mask_rles(
    objects: Sequence[dict[str, Any]], size: tuple[int, int] | None
) -> list[dict[str, Any]] | None:
    """Each object's mask as an RLE, or ``None`` when one is not a mask that can be read."""
    from metrics.masks import to_rle

    h, w = size if size is not None else (None, None)
    out = []
    for obj in objects:
        seg = obj.get("segmentation")
        if not isinstance(seg, list | dict):
            return None
        try:
            out.append(to_rle(seg, height=obj.get("height", h), width=obj.get("width", w)))
        except (TypeError, ValueError):
            return None
    return out


def _shape_iou(
    golds: Sequence[dict[str, Any]],
    cands: Sequence[dict[str, Any]],
    size: tuple[int, int] | None,
) -> npt.NDArray[np.float64]:
    """Mask IoU where both sides are readable masks (as the flags compare them), else box IoU."""
    g_rles, c_rles = _mask_rles(golds, size), _mask_rles(cands, size)
    if g_rles is not None and c_rles is not None:
        from metrics.masks import mask_iou

        try:
            return mask_iou(g_rles, c_rles)
        except ValueError:  # masks of different sizes: fall back to their boxes
            pass
    gb = np.array([_bbox_of(o)[0] for o in golds], dtype=np.float64).reshape(-1, 4)
    cb = np.array([_bbox_of(o)[0] for o in cands], dtype=np.float64).reshape(-1, 4)
    return box_iou(gb, cb)


def compare_shapes(
    gold: Any,
    value: Any,
    *,
    size: tuple[int, int] | None = None,
    iou_threshold: float = IOU_THRESHOLD,
    match_iou: float = MATCH_IOU,
) -> list[Shape]:
    """A candidate's boxes (or polygons) marked against gold's, then the gold boxes it missed.

    Parameters
    ----------
    gold, value
        Lists of ``{"category", "bbox"}`` or ``{"category", "segmentation"}`` objects.
    size
        The image's ``(height, width)``, to rasterise polygons: masks are then compared by
        mask IoU (see the module).
    iou_threshold
        Matched boxes with lower IoU are ``low_iou`` (same class).
    match_iou
        Boxes overlapping less are not matched at all.

    Returns
    -------
    list of Shape
        One per candidate object (``matched``, ``wrong_class``, ``low_iou`` or ``extra``), then
        one per unmatched gold object (``missed``).

    Examples
    --------
    >>> gold = [{"category": "car", "bbox": [0, 0, 10, 10]},
    ...         {"category": "sign", "bbox": [50, 50, 5, 5]}]
    >>> [s.status for s in compare_shapes(gold, [{"category": "car", "bbox": [1, 0, 10, 10]}])]
    ['matched', 'missed']
    """
    from scipy.optimize import linear_sum_assignment

    golds, cands = _objects(gold), _objects(value)
    matched: dict[int, tuple[int, float]] = {}
    if golds and cands:
        iou = _shape_iou(golds, cands, size)
        weight = np.where(iou >= match_iou, iou, 0.0)
        rows, cols = linear_sum_assignment(weight, maximize=True)
        for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
            if weight[r, c] > 0:
                matched[int(c)] = (int(r), float(iou[r, c]))
    out: list[Shape] = []
    for j, obj in enumerate(cands):
        if j not in matched:
            out.append(_shape(j, obj, "extra"))
            continue
        i, overlap = matched[j]
        gold_cat = str(golds[i].get("category", ""))
        if gold_cat != str(obj.get("category", "")):
            out.append(_shape(j, obj, "wrong_class", gold_category=gold_cat, iou=overlap))
        elif overlap < iou_threshold:
            out.append(_shape(j, obj, "low_iou", iou=overlap))
        else:
            out.append(_shape(j, obj, "matched", iou=overlap))
    hit = {i for i, _ in matched.values()}
    out.extend(_shape(i, obj, "missed") for i, obj in enumerate(golds) if i not in hit)
    return out


def _tag(name: str) -> str:
    if name.startswith("Candidate "):
        return name.removeprefix("Candidate ")
    return name if len(name) <= 14 else name[:13] + "…"


def item_layers(item: ItemReview) -> list[Layer]:
    """Gold and each candidate's label, with number keys and (boxes) shapes marked vs gold."""
    boxes = item.task_type in ("detection", "segmentation")
    gold_shapes = [_shape(i, o, "gold") for i, o in enumerate(_objects(item.gold))]
    layers = [
        Layer(
            key="gold",
            name="Gold",
            candidate=None,
            tag="gold",
            value=item.gold,
            shapes=gold_shapes if boxes else [],
            drew_nothing=boxes and not gold_shapes,
        )
    ]
    for n, cand in enumerate(item.candidates, start=1):
        size = image_size(item.item_data)
        shapes = compare_shapes(item.gold, cand.value, size=size) if boxes else []
        counts = Counter(s.status for s in shapes)
        suffix = f"·{cand.annotator[-2:].strip()}" if cand.annotator else ""
        flagged = cand.candidate == item.flag.candidate and (
            item.flag.annotator is None or item.flag.annotator == cand.annotator
        )
        layers.append(
            Layer(
                key=str(n),
                name=cand.candidate + (f" · {cand.annotator}" if cand.annotator else ""),
                candidate=cand.candidate,
                annotator=cand.annotator,
                tag=_tag(cand.candidate) + suffix,
                value=cand.value,
                score=cand.score,
                flagged=flagged,
                changes_gold=not same_label(cand.value, item.gold),
                shapes=shapes,
                counts={
                    k: counts.get(k, 0)
                    for k in ("matched", "missed", "extra", "wrong_class", "low_iou")
                },
                drew_nothing=boxes and not _objects(cand.value),
            )
        )
    return layers


# --------------------------------------------------------------------------- sentences


def _things(n: int, cls: str) -> str:
    """``2 pedestrians``, ``1 bus``, ``2 boxes of class “4”``."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z \-]*", cls):
        return f"{n} box{'es' if n != 1 else ''} of class “{cls}”"
    if n == 1:
        return f"1 {cls}"
    if re.search(r"(s|x|z|ch|sh)$", cls):
        return f"{n} {cls}es"
    if re.search(r"[^aeiou]y$", cls):
        return f"{n} {cls[:-1]}ies"
    return f"{n} {cls}s"


def _a(cls: str) -> str:
    """``a dog``, ``an owl``, ``a “4”``."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z \-]*", cls):
        return f"a “{cls}”"
    return ("an " if cls[0].lower() in "aeiou" else "a ") + cls


def _join(parts: Sequence[str]) -> str:
    parts = list(parts)
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _label(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return " + ".join(value) if value else "no class"
    return str(value)


def _by_class(shapes: Sequence[Shape], status: ShapeStatus) -> Counter[str]:
    return Counter(s.category for s in shapes if s.status == status)


def _box_errors(name: str, shapes: Sequence[Shape]) -> str:
    parts: list[str] = []
    missed = _by_class(shapes, "missed")
    if missed:
        parts.append("missed " + _join([_things(n, c) for c, n in sorted(missed.items())]))
    extra = _by_class(shapes, "extra")
    if extra:
        parts.append(
            "drew " + _join([_things(n, c) for c, n in sorted(extra.items())]) + " that gold lacks"
        )
    wrong = Counter(
        (s.gold_category or "", s.category) for s in shapes if s.status == "wrong_class"
    )
    for (g, c), n in sorted(wrong.items()):
        parts.append(f"called {_things(n, g)} {_a(c)}" if n == 1 else f"called {_things(n, g)} {c}")
    loose = _by_class(shapes, "low_iou")
    if loose:
        parts.append(
            "drew "
            + _join([_things(n, c) for c, n in sorted(loose.items())])
            + f" loosely (overlap with gold below {IOU_THRESHOLD:.0%})"
        )
    if not parts:
        return f"{name}'s boxes match gold's"
    return f"{name} {_join(parts)}"


def _region_consensus(
    values: Sequence[Any], *, task_type: str, size: tuple[int, int] | None
) -> list[dict[str, Any]]:
    """Several annotators' boxes or masks as their consensus, by the fusion the flags and the
    scoring engine use (:func:`metrics.fusion.fuse_boxes` / :func:`~metrics.fusion.fuse_masks`
    at IoU :data:`IOU_THRESHOLD`)."""
    from metrics.fusion import fuse_boxes, fuse_masks

    answers = [_objects(v) for v in values]
    if task_type == "segmentation":
        if size is not None:
            h, w = size
            answers = [[{"height": h, "width": w, **o} for o in a] for a in answers]
        return list(fuse_masks(answers, iou_threshold=IOU_THRESHOLD).objects)
    return list(fuse_boxes(answers, iou_threshold=IOU_THRESHOLD).objects)


def _candidate_of(flag: FlagView, candidates: Sequence[CandidateLabel]) -> CandidateLabel | None:
    for cand in candidates:
        if cand.candidate == flag.candidate and (
            flag.annotator is None or cand.annotator == flag.annotator
        ):
            return cand
    return None


def _split_sentence(candidates: Sequence[CandidateLabel]) -> str:
    says: dict[str, list[str]] = {}
    for cand in candidates:
        who = _tag(cand.candidate) + (f" ({cand.annotator})" if cand.annotator else "")
        says.setdefault(_label(cand.value), []).append(who)
    return "; ".join(
        f"{_join(who)} {'say' if len(who) > 1 else 'says'} {lab}" for lab, who in says.items()
    )


def explain(
    flag: FlagView,
    *,
    task_type: str,
    gold: Any,
    candidates: Sequence[CandidateLabel],
    size: tuple[int, int] | None = None,
) -> Explanation:
    """The flag's reason and score as sentences a reviewer can act on (``size``: the image's
    ``(height, width)``, to compare masks by mask IoU).

    Examples
    --------
    >>> from datetime import datetime
    >>> flag = FlagView(id=1, bakeoff_id=1, item_id=1, item_key="img-1", reason="model_vs_label",
    ...     kind="label_issue", target="gold", candidate=None, vendor_id=None, score=0.93,
    ...     status="open", group=None, suggested_label="4", detail="model=4 given=3",
    ...     classes=[], active_reviews=0, created_at=datetime(2024, 1, 1))
    >>> explain(flag, task_type="classification", gold="3", candidates=[]).headline
    'The model predicts 4; gold says 3, a label the model gives only a 7% chance.'
    """
    boxes = task_type in ("detection", "segmentation")
    name = flag.candidate or "The candidate"
    if flag.annotator:
        name = f"{name} ({flag.annotator})"
    cand = _candidate_of(flag, candidates)
    s = flag.score
    reason, kind = flag.reason, flag.kind or ""
    if reason == "vendor_vs_gold" and boxes:
        value = cand.value if cand else []
        crowd = [c for c in candidates if c.candidate == flag.candidate]
        if flag.annotator is None and len(crowd) > 1:
            # the flag was raised against the vendor's consensus: describe that, not one answer
            value = _region_consensus([c.value for c in crowd], task_type=task_type, size=size)
            name = f"{name} (the consensus of {len(crowd)} annotators)"
        shapes = compare_shapes(gold, value, size=size)
        return Explanation(
            headline=_box_errors(name, shapes) + ".",
            score_text=(
                f"Score {s:.2f}: the chance that at least one of these is a real error, each "
                "weighed by how many other candidates back gold there."
            ),
        )
    if reason == "vendor_vs_gold":
        given = cand.value if cand else None
        others = [c for c in candidates if c is not cand]
        agree = sum(1 for c in others if same_label(c.value, gold))
        backing = (
            f" {agree} of {len(others)} other candidate{'s' if len(others) != 1 else ''} "
            f"{'agree' if len(others) != 1 else 'agrees'} with gold."
            if others
            else ""
        )
        return Explanation(
            headline=f"{name} says {_label(given)}; gold says {_label(gold)}.{backing}",
            score_text=(
                f"Score {s:.2f}: {name}'s own confidence times the share of the other evidence "
                f"that backs gold; the higher, the surer {name} is wrong."
            ),
        )
    if reason == "model_vs_label" and kind == "annotator_vs_consensus":
        given = cand.value if cand else None
        return Explanation(
            headline=(
                f"{name} says {_label(given)}; the consensus of the other annotators and the "
                f"model is {_label(flag.suggested_label)}."
            ),
            score_text=f"Score {s:.2f}: 1 − CROWDLAB's quality estimate of this label.",
        )
    if reason == "model_vs_label" and boxes:
        whose = "gold's" if flag.target == "gold" else f"{name}'s"
        return Explanation(
            headline=f"A detector's boxes contradict {whose} boxes on this item.",
            score_text=f"Score {s:.2f}: 1 − ObjectLab's label quality of {whose} boxes.",
        )
    if reason == "model_vs_label":
        given = gold if flag.target == "gold" else (cand.value if cand else None)
        whose = "gold" if flag.target == "gold" else name
        return Explanation(
            headline=(
                f"The model predicts {_label(flag.suggested_label)}; {whose} says "
                f"{_label(given)}, a label the model gives only a {1 - s:.0%} chance."
            ),
            score_text=(
                f"Score {s:.2f} = 1 − the model's out-of-fold probability of the given label."
            ),
        )
    if reason == "candidates_disagree" and boxes:
        counts = ", ".join(f"{_tag(c.candidate)} drew {len(_objects(c.value))}" for c in candidates)
        most = f"; the box most often left unmatched is {_a(flag.group)}" if flag.group else ""
        return Explanation(
            headline=f"The candidates' boxes disagree ({counts}){most}.",
            score_text=(
                f"Score {s:.2f} = 1 − the mean agreement (F1 of matched boxes) between pairs of "
                "candidates."
            ),
        )
    if reason == "candidates_disagree":
        return Explanation(
            headline=f"The candidates disagree: {_split_sentence(candidates)}; gold says "
            f"{_label(gold)}.",
            score_text=(
                f"Score {s:.2f}: how evenly the answers split (0 = all agree, 1 = every answer "
                "differs)."
            ),
        )
    if reason == "gold_may_be_wrong" and boxes:
        share = f"{s:.0%} of the candidates"
        cls = flag.group or "object"
        if kind == "wrong_class":
            headline = (
                f"Gold may be wrong: {share} call gold's {cls} box "
                f"{_a(_label(flag.suggested_label))}."
            )
        elif kind == "extra":
            headline = f"Gold may be wrong: {share} did not draw gold's {cls} box."
        else:
            headline = f"Gold may be wrong: {share} drew {_a(cls)} box that gold lacks."
        return Explanation(
            headline=headline,
            score_text=f"Score {s:.2f}: the share of candidates contradicting gold the same way.",
        )
    if reason == "gold_may_be_wrong":
        alt = flag.suggested_label
        n_alt = sum(1 for c in candidates if same_label(c.value, alt))
        return Explanation(
            headline=(
                f"Gold may be wrong: gold says {_label(gold)}, but {n_alt} of {len(candidates)} "
                f"candidates say {_label(alt)}."
            ),
            score_text=(
                f"Score {s:.2f}: the share of candidates against gold (averaged with the model's "
                "probability when a model was given)."
            ),
        )
    return Explanation(
        headline=f"{reason.replace('_', ' ').capitalize()}: {flag.detail or ''}".rstrip(": "),
        score_text=f"Score {s:.2f}.",
    )


# --------------------------------------------------------------------------- queue


def queue_cards(
    *,
    session: Session,
    bakeoff_id: int,
    flags: Sequence[FlagView],
    principal: Principal | None = None,
) -> list[QueueCard]:
    """The queue page's cards: each flag with its item's thumbnail and its reason in words."""
    bakeoff = get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
    ctx = _Context(session, bakeoff, principal)
    item_ids = sorted({f.item_id for f in flags})
    items = {
        int(i): dict(d or {})
        for i, d in session.exec(
            select(GoldenItem.id, GoldenItem.data).where(col(GoldenItem.id).in_(item_ids))
        ).all()
        if i is not None
    }
    boxes = ctx.project.task_type in ("detection", "segmentation")
    cache: dict[int, tuple[Any, list[CandidateLabel]]] = {}
    out = []
    for flag in flags:
        if flag.item_id not in cache:
            cands = [
                CandidateLabel(
                    candidate=ctx.display(vid) or "",
                    vendor_id=None,
                    annotator=ctx.annotator(vid, ann),
                    value=value,
                    score=score,
                )
                for vid, ann, value, score in _candidate_labels(ctx, flag.item_id)
            ]
            cands.sort(key=lambda c: (len(c.candidate), c.candidate, c.annotator or ""))
            cache[flag.item_id] = (ctx.gold_value(flag.item_id), cands)
        gold, cands = cache[flag.item_id]
        data = items.get(flag.item_id, {})
        image, text = data.get("image"), data.get("text")
        width, height = data.get("width"), data.get("height")
        out.append(
            QueueCard(
                flag=flag,
                image=image if isinstance(image, str) else None,
                text=text[:240] if isinstance(text, str) else None,
                explanation=explain(
                    flag,
                    task_type=ctx.project.task_type,
                    gold=gold,
                    candidates=cands,
                    size=image_size(data),
                ),
                boxes=[_shape(i, o, "gold") for i, o in enumerate(_objects(gold))] if boxes else [],
                width=float(width) if isinstance(width, int | float) else None,
                height=float(height) if isinstance(height, int | float) else None,
            )
        )
    return out


def bakeoff_classes(*, session: Session, bakeoff_id: int) -> list[str]:
    """The class names of a bake-off's project (the queue's class filter)."""
    bakeoff = session.get(BakeOff, bakeoff_id)
    project = session.get(Project, bakeoff.project_id) if bakeoff else None
    return class_names(project) if project else []


def slice_options(*, session: Session, bakeoff_id: int, limit: int = 40) -> list[str]:
    """``key=value`` pairs of the bake-off's items' metadata (the queue's slice filter).

    Keys with more than 12 values (ids, file names) are left out; at most ``limit`` pairs.
    """
    bakeoff = session.get(BakeOff, bakeoff_id)
    version = session.get(GoldenSetVersion, bakeoff.golden_set_version_id) if bakeoff else None
    if version is None:
        return []
    values: dict[str, set[str]] = {}
    for meta in session.exec(
        select(GoldenItem.meta).where(GoldenItem.golden_set_id == version.golden_set_id)
    ).all():
        for key, value in (meta or {}).items():
            if isinstance(value, str | int | float | bool):
                values.setdefault(str(key), set()).add(str(value))
    pairs = [
        f"{key}={value}"
        for key, found in sorted(values.items())
        if len(found) <= 12
        for value in sorted(found)
    ]
    return pairs[:limit]
