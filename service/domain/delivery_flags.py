"""Model-label disagreement on a delivery: cleanlab flags from uploaded probabilities.

The probabilities come as a CSV file uploaded with the delivery: a header
``item_id,<class 1>,...,<class K>`` (the vendor-facing item ids; the classes of the
project's ontology, in any order) and one row per item. The file is read in chunks
(``chunk_size`` rows) twice, as :func:`metrics.label_issues.find_label_issues_chunked` needs,
so memory stays bounded by a chunk whatever the delivery's size. Each production answer
(honeypots are scored against gold instead, and skipped) becomes one row; an item is
flagged when one of its answers is, with the highest ``1 - label quality`` as its score.
The flags are stored on the delivery's items (``deliveryitem.flag_score``, ``flagged``),
where the audit's flagged stratum and :func:`ranked_flags` read them.

The probabilities may instead come from a model the server's operator registered
(:func:`flag_delivery_with_model`, :mod:`service.domain.model_registry`), run chunk by chunk
on each item's ``data[feature_key]``.

Classification only: cleanlab's chunked inspector handles one class per answer; every other
task type is refused with a 422 that says why
(:data:`service.domain.delivery_probs.UNFLAGGABLE`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Session

from adapters.base import WorkItem
from metrics.label_issues import find_label_issues_chunked
from service.core.config import Settings, get_settings
from service.domain._common import table_of
from service.domain.deliveries import get_delivery
from service.domain.delivery_probs import check_flaggable, probability_chunks, read_header
from service.domain.errors import Invalid
from service.domain.projects import class_names
from service.domain.review_delivery import sync_delivery_flags
from service.domain.security import Principal
from service.models import (
    DeliveryFlagPublic,
    DeliveryFlagsPublic,
    DeliveryItem,
    DeliveryLabel,
    Project,
)

__all__ = ["flag_delivery", "flag_delivery_with_model", "ranked_flags"]

_CHUNK = 50_000


def _answers(
    session: Session, delivery_id: int, keys: list[str]
) -> dict[str, tuple[int, bool, list[Any]]]:
    """``{item key: (item id, is honeypot, [answers])}`` of the keys that are items."""
    item, label = table_of(DeliveryItem), table_of(DeliveryLabel)
    rows = session.execute(
        sa_select(item.c.key, item.c.id, item.c.gold_item_id, label.c.value)
        .select_from(item)
        .outerjoin(
            label,
            (label.c.item_id == item.c.id) & (label.c.delivery_id == item.c.delivery_id),
        )
        .where(item.c.delivery_id == delivery_id)
        .where(item.c.key.in_(keys))
    ).all()
    out: dict[str, tuple[int, bool, list[Any]]] = {}
    for key, item_id, gold_id, value in rows:
        entry = out.setdefault(str(key), (int(item_id), gold_id is not None, []))
        if value is not None:
            entry[2].append(value)
    return out


class _Reader:
    """Chunks of (labels, probabilities) from the file, and the item id of every row."""

    def __init__(
        self,
        session: Session,
        delivery_id: int,
        source: IO[bytes] | Path,
        classes: list[str],
        chunk_size: int,
    ) -> None:
        self.session, self.delivery_id, self.source = session, delivery_id, source
        self.classes, self.chunk_size = classes, chunk_size
        self.item_ids: list[npt.NDArray[np.int64]] = []
        self.honeypots = 0
        self.unlabeled = 0

    def __call__(self) -> Iterator[tuple[npt.NDArray[Any], npt.NDArray[np.float64]]]:
        self.item_ids, self.honeypots, self.unlabeled = [], 0, 0
        for part in probability_chunks(self.source, self.classes, self.chunk_size):
            found = _answers(self.session, self.delivery_id, part.keys)
            labels: list[Any] = []
            take: list[int] = []
            ids: list[int] = []
            for n, key in enumerate(part.keys):
                hit = found.get(key)
                if hit is None:
                    row = part.first_row + n
                    raise Invalid(
                        f"probabilities: row {row}, column 'item_id': {key[:80]!r} is not an "
                        f"item of delivery {self.delivery_id}",
                        location=("body", f"row {row}", "item_id"),
                    )
                item_id, honeypot, answers = hit
                if honeypot:
                    self.honeypots += 1
                    continue
                if not answers:
                    self.unlabeled += 1
                    continue
                for value in answers:
                    labels.append(value)
                    take.append(n)
                    ids.append(item_id)
            self.item_ids.append(np.asarray(ids, dtype=np.int64))
            yield np.asarray(labels, dtype=object), part.probs[take]


def flag_delivery(
    *,
    session: Session,
    delivery_id: int,
    source: IO[bytes] | Path,
    principal: Principal | None = None,
    chunk_size: int = _CHUNK,
) -> DeliveryFlagsPublic:
    """Flag a delivery's production labels that the model's probabilities contradict.

    Raises
    ------
    Invalid
        Not a classification project, a header that is not ``item_id`` plus the
        ontology's classes, a row naming no item of the delivery, or rows that are not
        probabilities (the message names the chunk and rows).
    """
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    project = _classification(session, delivery)
    classes = class_names(project)
    read_header(source, classes)
    reader = _Reader(session, delivery_id, source, classes, chunk_size)
    return _store(session, delivery_id, reader, classes, source_name="probabilities")


class _ModelReader:
    """Chunks of (labels, probabilities) from a registered model, item by item from the DB."""

    def __init__(
        self, session: Session, delivery_id: int, adapter: Any, classes: list[str], chunk: int
    ) -> None:
        self.session, self.delivery_id, self.adapter = session, delivery_id, adapter
        self.classes, self.chunk = classes, chunk
        self.item_ids: list[npt.NDArray[np.int64]] = []
        self.honeypots = 0
        self.unlabeled = 0

    def __call__(self) -> Iterator[tuple[npt.NDArray[Any], npt.NDArray[np.float64]]]:
        self.item_ids, self.honeypots, self.unlabeled = [], 0, 0
        item, label = table_of(DeliveryItem), table_of(DeliveryLabel)
        last = -1
        while True:
            rows = self.session.execute(
                sa_select(item.c.id, item.c.position, item.c.key, item.c.data, item.c.gold_item_id)
                .where(item.c.delivery_id == self.delivery_id)
                .where(item.c.position > last)
                .order_by(item.c.position)
                .limit(self.chunk)
            ).all()
            if not rows:
                return
            last = int(rows[-1][1])
            production = [r for r in rows if r[4] is None]
            self.honeypots += len(rows) - len(production)
            answers: dict[int, list[Any]] = {}
            if production:
                for item_id, value in self.session.execute(
                    sa_select(label.c.item_id, label.c.value)
                    .where(label.c.delivery_id == self.delivery_id)
                    .where(label.c.item_id.in_([int(r[0]) for r in production]))
                ).all():
                    answers.setdefault(int(item_id), []).append(value)
            answered = [r for r in production if int(r[0]) in answers]
            self.unlabeled += len(production) - len(answered)
            work = [WorkItem(item_id=str(r[2]), data=dict(r[3] or {})) for r in answered]
            try:
                probs = self.adapter.predict_proba(work, self.classes).probabilities
            except ValueError as exc:
                raise Invalid(f"model: {exc}", location=("body", "model")) from exc
            labels: list[Any] = []
            take: list[int] = []
            ids: list[int] = []
            for n, r in enumerate(answered):
                for value in answers[int(r[0])]:
                    labels.append(value)
                    take.append(n)
                    ids.append(int(r[0]))
            self.item_ids.append(np.asarray(ids, dtype=np.int64))
            yield np.asarray(labels, dtype=object), np.asarray(probs, dtype=np.float64)[take]


def flag_delivery_with_model(
    *,
    session: Session,
    delivery_id: int,
    model: str,
    feature_key: str = "features",
    principal: Principal | None = None,
    settings: Settings | None = None,
    chunk_size: int = _CHUNK,
) -> DeliveryFlagsPublic:
    """Flag a delivery's production labels with a model the server's operator registered.

    The model (:mod:`service.domain.model_registry`) predicts from each item's
    ``data[feature_key]``, chunk by chunk (twice, as the chunked inspector needs).

    Raises
    ------
    Invalid
        Not a classification project, an unregistered model, items without the features or
        outputs that do not match the ontology.
    """
    from adapters.model import ModelAdapter
    from service.domain.model_registry import model_adapter_arguments

    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    project = _classification(session, delivery)
    classes = class_names(project)
    arguments = model_adapter_arguments(
        {"model": model, "feature_key": feature_key}, settings or get_settings()
    )
    adapter = ModelAdapter("delivery-flags", **arguments)
    reader = _ModelReader(session, delivery_id, adapter, classes, chunk_size)
    return _store(session, delivery_id, reader, classes, source_name="model")


def _classification(session: Session, delivery: Any) -> Project:
    return check_flaggable(session, delivery)


def _store(
    session: Session,
    delivery_id: int,
    reader: _Reader | _ModelReader,
    classes: list[str],
    *,
    source_name: str,
) -> DeliveryFlagsPublic:
    """Run the chunked inspector over ``reader`` and store each item's flag and score."""
    try:
        found = find_label_issues_chunked(reader, classes=classes)
    except ValueError as exc:
        raise Invalid(f"{source_name}: {exc}", location=("body",)) from exc
    item_ids = np.concatenate(reader.item_ids) if reader.item_ids else np.zeros(0, np.int64)
    score = 1.0 - found.label_quality
    issue = found.is_label_issue
    per_item = pd.DataFrame({"item": item_ids, "score": score, "flagged": issue})
    merged = per_item.groupby("item").agg(score=("score", "max"), flagged=("flagged", "any"))
    item = table_of(DeliveryItem)
    try:
        session.execute(
            update(item)
            .where(item.c.delivery_id == delivery_id)
            .values(flag_score=None, flagged=False)
        )
        if len(merged):
            session.execute(
                update(item)
                .where(item.c.id == bindparam("b_id"))
                .values(flag_score=bindparam("b_score"), flagged=bindparam("b_flagged")),
                [
                    {"b_id": int(i), "b_score": float(s), "b_flagged": bool(f)}
                    for i, s, f in zip(
                        merged.index, merged["score"], merged["flagged"], strict=True
                    )
                ],
            )
        sync_delivery_flags(session, delivery_id)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return DeliveryFlagsPublic(
        delivery_id=delivery_id,
        n_scored=int(item_ids.size),
        n_flagged=int(merged["flagged"].sum()) if len(merged) else 0,
        n_honeypots_skipped=reader.honeypots,
        n_unlabeled=reader.unlabeled,
        data=ranked_flags(session=session, delivery_id=delivery_id, limit=20).data,
    )


def ranked_flags(
    *, session: Session, delivery_id: int, principal: Principal | None = None, limit: int = 100
) -> DeliveryFlagsPublic:
    """The delivery's flagged items, most likely wrong first (the review order)."""
    get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    item, label = table_of(DeliveryItem), table_of(DeliveryLabel)
    top = session.execute(
        sa_select(item.c.id, item.c.key, item.c.source_key, item.c.flag_score)
        .where(item.c.delivery_id == delivery_id)
        .where(item.c.flagged.is_(True))
        .order_by(item.c.flag_score.desc(), item.c.position)
        .limit(limit)
    ).all()
    values: dict[int, Any] = {}
    if top:
        for item_id, value in session.execute(
            sa_select(label.c.item_id, label.c.value)
            .where(label.c.delivery_id == delivery_id)
            .where(label.c.item_id.in_([int(r[0]) for r in top]))
        ).all():
            values.setdefault(int(item_id), value)
    counts = session.execute(
        sa_select(item.c.flagged, item.c.flag_score)
        .where(item.c.delivery_id == delivery_id)
        .where(item.c.flag_score.is_not(None))
    ).all()
    return DeliveryFlagsPublic(
        delivery_id=delivery_id,
        n_scored=len(counts),
        n_flagged=sum(1 for f, _ in counts if f),
        data=[
            DeliveryFlagPublic(
                item_id=str(key),
                source_key=source_key,
                label=values.get(int(item_id)),
                score=float(score),
            )
            for item_id, key, source_key, score in top
        ],
    )
