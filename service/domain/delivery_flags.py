"""Model-label disagreement on a delivery, in one call: the flag run's chunk jobs, in process.

The predictions come uploaded with the delivery (:func:`flag_delivery`: the task type's
format, :mod:`service.domain.delivery_probs`) or from a model the server's operator
registered (:func:`flag_delivery_with_model`, :mod:`service.domain.model_registry`), run chunk
by chunk on each item's ``data[feature_key]``. Either way this is the flag run of
:mod:`service.domain.delivery_jobs` (the same chunk phases of the task type's flagger,
:mod:`metrics.chunked_flags`) done here, one chunk after another, so memory stays bounded by a
chunk whatever the delivery's size, and the result is the workers' to the last bit. The run
is kept in the delivery's flag runs; a run that fails on bad data is removed and answered
with a 422, so a refused call leaves nothing behind.

Each production answer (honeypots are scored against gold instead, and skipped) is scored;
an item is flagged when one of its answers is, with the highest ``1 - label quality`` as its
score. The flags are stored on the delivery's items (``deliveryitem.flag_score``,
``flagged``) and in the review queue, where the audit's flagged stratum and
:func:`ranked_flags` read them. A task type without a flagger is refused with a 422 that says
why (:data:`service.domain.delivery_probs.UNFLAGGABLE`; every task type the engine scores
has one now).
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from sqlalchemy import select as sa_select
from sqlmodel import Session

from service.core.config import Settings, get_settings
from service.domain._common import table_of
from service.domain.deliveries import get_delivery
from service.domain.delivery_jobs import delete_run, run_in_process, start_flag_run
from service.domain.delivery_probs import start_upload_run
from service.domain.errors import Invalid
from service.domain.security import Principal
from service.models import (
    DeliveryFlagPublic,
    DeliveryFlagRun,
    DeliveryFlagRunCreate,
    DeliveryFlagsPublic,
    DeliveryItem,
    DeliveryLabel,
)

__all__ = ["flag_delivery", "flag_delivery_with_model", "ranked_flags"]

_CHUNK = 50_000


def flag_delivery(
    *,
    session: Session,
    delivery_id: int,
    source: IO[bytes] | Path,
    principal: Principal | None = None,
    chunk_size: int = _CHUNK,
    settings: Settings | None = None,
) -> DeliveryFlagsPublic:
    """Flag a delivery's production labels that the uploaded predictions contradict.

    Raises
    ------
    Invalid
        A task type without flags, a bad file (the row and column named), or answers the
        task type's flagger cannot read (the chunk and answers named).
    """
    run = start_upload_run(
        session=session,
        delivery_id=delivery_id,
        source=source,
        chunk_size=chunk_size,
        principal=principal,
    )
    return _finish(session, run, settings, source_name="predictions")


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
    ``data[feature_key]``, chunk by chunk.

    Raises
    ------
    Invalid
        A task type without flags, an unregistered model, items without the features or
        outputs the task type's flagger cannot read.
    """
    settings = settings or get_settings()
    run = start_flag_run(
        session=session,
        delivery_id=delivery_id,
        data=DeliveryFlagRunCreate(model=model, feature_key=feature_key, chunk_size=chunk_size),
        principal=principal,
        settings=settings,
    )
    return _finish(session, run, settings, source_name="model")


def _finish(
    session: Session, run: DeliveryFlagRun, settings: Settings | None, *, source_name: str
) -> DeliveryFlagsPublic:
    """Run the chunk jobs here; the flags, or a 422 (and no run left) on bad data."""
    run_id = run.id or 0
    done = run_in_process(session=session, run_id=run_id, settings=settings)
    if done.state != "merged":
        error = done.error or f"the run stopped in state {done.state!r}"
        delete_run(session, run_id)
        raise Invalid(f"{source_name}: {error}", location=("body",))
    ranked = ranked_flags(session=session, delivery_id=done.delivery_id, limit=20)
    return DeliveryFlagsPublic(
        delivery_id=done.delivery_id,
        n_scored=done.n_scored,
        n_flagged=done.n_flagged,
        n_honeypots_skipped=done.n_honeypots,
        n_unlabeled=done.n_unlabeled,
        data=ranked.data,
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
