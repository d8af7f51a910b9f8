"""Flagging a delivery in parallel: chunk jobs that any number of workers process.

A *flag run* (:func:`start_flag_run`) cuts a delivery's items into chunks of positions
``[lo, hi)``, one :class:`~service.models.DeliveryFlagChunk` row each. Workers (Huey tasks
on any machine that reaches the same PostgreSQL and Redis) process chunks in the phases of
the project's task type's flagger (:func:`metrics.chunked_flags.flagger_for`; the service
never branches on task type):

1. ``pending -> parsed``: read the chunk's items and answers, predict with the registered
   model (the CPU-heavy step; what it returns: :data:`~service.domain.delivery_probs.
   PREDICTION_SOURCES`) or, in a run on uploaded predictions
   (:func:`service.domain.delivery_probs.start_upload_run`), take the chunk's rows of the
   file, sorted into it at upload; the flagger encodes them (``encode``), the arrays and
   the chunk's partial (``first_pass``) are stored;
2. once every chunk is parsed, :func:`advance_run` merges the partials (``merge``, in chunk
   order, so e.g. cleanlab's thresholds equal the sequential pass), and each chunk goes
   ``parsed -> scored``: each answer's label quality and the chunk's issue count
   (``second_pass``);
3. once every chunk is scored, :func:`advance_run` merges: the issues over all chunks
   (``issues``), each item's flag and score written to ``deliveryitem``.

Exactly once. A worker first takes a *lease* on a chunk (an ``UPDATE`` that succeeds for
one worker only while no unexpired lease is held), computes, then stores the result with an
``UPDATE ... WHERE state = <the state it read>`` in one transaction: a second worker that
computed the same chunk finds no row to update and stores nothing. A worker that dies
mid-chunk commits nothing; its lease expires and the periodic sweep
(:func:`advance_run` with ``sweep=True``) hands the chunk to another worker. Each item's
score is written with its chunk's phase-2 result (an item lies in one chunk whole); the
merge sets the flags and moves the run from ``running`` to ``merged`` in one transaction,
so it happens once, whoever gets there first. The one-process paths
(:mod:`service.domain.delivery_flags`) run the same chunk jobs in process
(:func:`run_in_process`).
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import bindparam, func, or_, text, update
from sqlalchemy import select as sa_select
from sqlalchemy.orm import defer
from sqlmodel import Session, col, select

from adapters.base import WorkItem
from metrics.chunked_flags import ChunkFlagger, ChunkScores, flagger_for
from service.core.config import Settings, get_settings
from service.core.types import utcnow
from service.domain._common import get_or_404, table_of
from service.domain.answer_geometry import with_image_size
from service.domain.deliveries import get_delivery
from service.domain.delivery_probs import (
    check_flaggable,
    pack,
    prediction_source,
    unpack,
    uploaded_rows,
)
from service.domain.errors import Invalid
from service.domain.projects import class_names
from service.domain.review_delivery import sync_delivery_flags
from service.domain.security import Principal
from service.models import (
    Delivery,
    DeliveryFlagChunk,
    DeliveryFlagRun,
    DeliveryFlagRunCreate,
    DeliveryFlagRunPublic,
    DeliveryItem,
    DeliveryLabel,
    Project,
)

__all__ = [
    "LEASE_S",
    "start_flag_run",
    "process_chunk",
    "advance_run",
    "flag_run_public",
    "list_flag_runs",
    "run_in_process",
    "delete_run",
]

#: How long a worker holds a chunk before another may take it over (seconds).
LEASE_S = 300.0

_adapters: dict[tuple[str, str, str | None], Any] = {}
_adapters_lock = threading.Lock()


def _adapter(model: str, feature_key: str, settings: Settings) -> Any:
    """The registered model's adapter, loaded once per worker process."""
    from adapters.model import ModelAdapter
    from service.domain.model_registry import model_adapter_arguments

    key = (model, feature_key, settings.model_dir)
    with _adapters_lock:
        if key not in _adapters:
            arguments = model_adapter_arguments(
                {"model": model, "feature_key": feature_key}, settings
            )
            _adapters[key] = ModelAdapter("delivery-flags", **arguments)
        return _adapters[key]


def start_flag_run(
    *,
    session: Session,
    delivery_id: int,
    data: DeliveryFlagRunCreate,
    principal: Principal | None = None,
    settings: Settings | None = None,
) -> DeliveryFlagRun:
    """Plan a flag run: one chunk job per ``chunk_size`` item positions (workers do the rest).

    Raises
    ------
    Invalid
        A task type without flags, or the model is not registered.
    """
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    check_flaggable(session, delivery)
    try:
        _adapter(data.model, data.feature_key, settings or get_settings())
    except Invalid as exc:
        raise Invalid(f"model {data.model!r}: {exc.message}", location=("body", "model")) from exc
    size = delivery.n_items + delivery.n_honeypots
    bounds = list(range(0, size, data.chunk_size))
    run = DeliveryFlagRun(
        delivery_id=delivery_id,
        model=data.model,
        feature_key=data.feature_key,
        n_chunks=len(bounds),
        chunk_size=data.chunk_size,
    )
    try:
        session.add(run)
        session.flush()
        session.add_all(
            DeliveryFlagChunk(
                run_id=run.id or 0, chunk=n, lo=lo, hi=min(lo + data.chunk_size, size)
            )
            for n, lo in enumerate(bounds)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(run)
    return run


def _claim(session: Session, chunk: DeliveryFlagChunk, lease_s: float) -> bool:
    t = table_of(DeliveryFlagChunk)
    now = utcnow()
    result = session.execute(
        update(t)
        .where(t.c.id == chunk.id)
        .where(t.c.state == chunk.state)
        .where(or_(t.c.lease_until.is_(None), t.c.lease_until < now))
        .values(lease_until=now + timedelta(seconds=lease_s), attempts=t.c.attempts + 1)
    )
    session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _read_chunk(
    session: Session, run: DeliveryFlagRun, chunk: DeliveryFlagChunk
) -> tuple[npt.NDArray[np.int64], list[Any], list[WorkItem], list[int], int, int]:
    """Items ``[lo, hi)``: per answer its item id and label; the items to predict."""
    item, label = table_of(DeliveryItem), table_of(DeliveryLabel)
    rows = session.execute(
        sa_select(item.c.id, item.c.key, item.c.data, item.c.gold_item_id)
        .where(item.c.delivery_id == run.delivery_id)
        .where(item.c.position >= chunk.lo)
        .where(item.c.position < chunk.hi)
        .order_by(item.c.position)
    ).all()
    production = [r for r in rows if r[3] is None]
    answers: dict[int, list[Any]] = {}
    if production:
        for item_id, value in session.execute(  # by the same range: no list of ids to send
            sa_select(label.c.item_id, label.c.value)
            .join(item, item.c.id == label.c.item_id)
            .where(label.c.delivery_id == run.delivery_id)
            .where(item.c.delivery_id == run.delivery_id)
            .where(item.c.position >= chunk.lo)
            .where(item.c.position < chunk.hi)
            .where(item.c.gold_item_id.is_(None))
            .order_by(label.c.id)
        ).all():
            answers.setdefault(int(item_id), []).append(value)
    answered = [r for r in production if int(r[0]) in answers]
    work = [WorkItem(item_id=str(r[1]), data=dict(r[2] or {})) for r in answered]
    ids: list[int] = []
    labels: list[Any] = []
    take: list[int] = []
    for n, r in enumerate(answered):
        for value in answers[int(r[0])]:
            ids.append(int(r[0]))
            labels.append(value)
            take.append(n)
    return (
        np.asarray(ids, dtype=np.int64),
        labels,
        work,
        take,
        len(rows) - len(production),
        len(production) - len(answered),
    )


def _flagger(session: Session, run: DeliveryFlagRun) -> tuple[ChunkFlagger, Project]:
    delivery = get_or_404(session, Delivery, run.delivery_id)
    project = get_or_404(session, Project, delivery.project_id)
    return flagger_for(project.task_type, ontology=project.ontology), project


def _model_predictions(
    run: DeliveryFlagRun,
    project: Project,
    work: list[WorkItem],
    take: list[int],
    settings: Settings,
) -> npt.NDArray[np.float64] | list[Any]:
    """The registered model's prediction per answer (``take`` maps answers to ``work``)."""
    classes = class_names(project)
    source, _ = prediction_source(project.task_type)
    adapter = _adapter(run.model, run.feature_key, settings)
    if source.model == "probabilities":
        if not work:
            return np.zeros((0, len(classes)), dtype=np.float64)
        predicted = adapter.predict_proba(work, classes)
        return np.asarray(predicted.probabilities, dtype=np.float64)[take]
    per_item = adapter.predict_items(work) if work else []
    return [per_item[i] for i in take]


def _first_bad(
    flagger: ChunkFlagger,
    labels: list[Any],
    predictions: npt.NDArray[np.float64] | list[Any],
    classes: list[str],
    ids: npt.NDArray[np.int64],
    keys: dict[int, str],
) -> str:
    """``"item '<key>': "`` of the first answer the flagger refuses alone, else ``""``.

    Only on the failure path: each answer is encoded on its own until one fails, so the
    422 names the vendor-facing item, not only a position in the chunk.
    """
    for n, label in enumerate(labels):
        one = predictions[n : n + 1] if isinstance(predictions, np.ndarray) else [predictions[n]]
        try:
            flagger.encode([label], one, classes)
        except ValueError:
            return f"item {keys.get(int(ids[n]), str(int(ids[n])))!r} ({label!r:.60}): "
    return ""


#: Prefixes of a flagger's arrays among the service's in a chunk's stored blob.
_ENCODED, _DETAIL = "encoded_", "detail_"
#: The shape of what a chunk stores between the phases (its first-pass partial and its
#: encoded arrays). Raised whenever a flagger's first pass or encoding changes, so that a run
#: whose chunks an earlier version read fails, saying to start it again, instead of merging
#: partials it cannot read (a run in progress across an upgrade).
CHUNK_FORMAT: Final = 1


def _parse(
    session: Session, run: DeliveryFlagRun, chunk: DeliveryFlagChunk, settings: Settings
) -> tuple[dict[str, Any], bytes]:
    flagger, project = _flagger(session, run)
    ids, labels, work, take, honeypots, unlabeled = _read_chunk(session, run, chunk)
    keys = {int(i): work[n].item_id for i, n in zip(ids.tolist(), take, strict=True)}
    without = 0
    predictions: npt.NDArray[np.float64] | list[Any]
    if run.source == "upload":
        ids, labels, predictions, without = uploaded_rows(
            chunk.arrays, ids, labels, len(work), take
        )
    else:
        predictions = _model_predictions(run, project, work, take, settings)
    if project.task_type == "segmentation":  # polygons are rasterised at the item's size
        data = {w.item_id: w.data for w in work}
        labels = [with_image_size(v, data[keys[int(i)]]) for i, v in zip(ids, labels, strict=True)]
        if isinstance(predictions, list):
            predictions = [
                with_image_size(v, data[keys[int(i)]])
                for i, v in zip(ids, predictions, strict=True)
            ]
    classes = class_names(project)
    try:
        arrays = flagger.encode(labels, predictions, classes)
    except ValueError as exc:
        raise ValueError(
            f"chunk {chunk.chunk}: {_first_bad(flagger, labels, predictions, classes, ids, keys)}"
            f"{exc}"
        ) from exc
    partial = {
        "format": CHUNK_FORMAT,
        "flagger": flagger.first_pass(arrays),
        "honeypots": honeypots,
        "unlabeled": unlabeled,
        "without_probabilities": without,
    }
    return partial, pack(item_ids=ids, **{_ENCODED + k: v for k, v in arrays.items()})


def _score(
    session: Session, run: DeliveryFlagRun, chunk: DeliveryFlagChunk
) -> tuple[dict[str, Any], bytes]:
    if _stale([chunk]):
        raise ValueError(_STALE)
    flagger, _ = _flagger(session, run)
    stored = unpack(chunk.arrays)
    arrays = {k[len(_ENCODED) :]: v for k, v in stored.items() if k.startswith(_ENCODED)}
    scored = flagger.second_pass(arrays, dict(run.thresholds or {}))
    partial = dict(chunk.partial or {}) | {"n_issues": scored.n_issues}
    detail = {_DETAIL + k: np.asarray(v) for k, v in scored.detail.items()}
    return partial, pack(item_ids=stored["item_ids"], quality=scored.quality, **detail)


def process_chunk(
    *,
    session: Session,
    chunk_id: int,
    settings: Settings | None = None,
    lease_s: float = LEASE_S,
) -> bool:
    """Do the next phase of one chunk, if no other worker holds it; ``True`` when stored."""
    settings = settings or get_settings()
    chunk = session.get(DeliveryFlagChunk, chunk_id)
    if chunk is None or chunk.state == "scored":
        return False
    run = get_or_404(session, DeliveryFlagRun, chunk.run_id)
    if run.state != "running" or (chunk.state == "parsed" and run.phase != 2):
        return False
    state = chunk.state
    if not _claim(session, chunk, lease_s):
        return False
    session.refresh(chunk)
    try:
        if state == "pending":
            partial, blob = _parse(session, run, chunk, settings)
            new_state = "parsed"
        else:
            partial, blob = _score(session, run, chunk)
            new_state = "scored"
    except ValueError as exc:  # bad data, not a dying worker: retrying would not help
        session.rollback()
        _fail(session, run, str(exc))
        return False
    t = table_of(DeliveryFlagChunk)
    try:
        result = session.execute(
            update(t)
            .where(t.c.id == chunk_id)
            .where(t.c.state == state)
            .values(state=new_state, partial=partial, arrays=blob, lease_until=None)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()  # another worker stored this chunk first
            return False
        if new_state == "scored":
            _write_scores(session, run, chunk, blob)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return True


def _write_scores(
    session: Session, run: DeliveryFlagRun, chunk: DeliveryFlagChunk, blob: bytes
) -> None:
    """Each item's score (``1 - quality``, the worst of its answers), for the chunk's items.

    Items lie in one chunk whole, so this is final per item; whether an item is *flagged*
    needs every chunk and is set by the merge.
    """
    arrays = unpack(blob)
    per_item = (
        pd.DataFrame({"item": arrays["item_ids"], "score": 1.0 - arrays["quality"]})
        .groupby("item")["score"]
        .max()
    )
    ids = [int(i) for i in per_item.index]
    scores = [float(v) for v in per_item.to_numpy()]
    if session.get_bind().dialect.name == "postgresql":
        # set-based, and only rows whose value changes are written (each written row is a
        # new row version and index entries): the chunk's other items (honeypots,
        # unanswered) lose a stale score, its scored items get theirs
        bounds = {"delivery": run.delivery_id, "lo": chunk.lo, "hi": chunk.hi, "ids": ids}
        session.execute(
            text(
                "UPDATE deliveryitem SET flag_score = NULL FROM ("
                "SELECT id FROM deliveryitem WHERE delivery_id = :delivery "
                "AND position >= :lo AND position < :hi AND flag_score IS NOT NULL "
                "EXCEPT SELECT unnest(CAST(:ids AS bigint[]))) AS stale(id) "
                "WHERE deliveryitem.id = stale.id"
            ),
            bounds,
        )
        if ids:
            session.execute(
                text(
                    "UPDATE deliveryitem SET flag_score = v.score FROM unnest("
                    "CAST(:ids AS bigint[]), CAST(:scores AS float8[])) AS v(id, score) "
                    "WHERE deliveryitem.id = v.id "
                    "AND deliveryitem.flag_score IS DISTINCT FROM v.score"
                ),
                {"ids": ids, "scores": scores},
            )
        return
    item = table_of(DeliveryItem)
    session.execute(
        update(item)
        .where(item.c.delivery_id == run.delivery_id)
        .where(item.c.position >= chunk.lo)
        .where(item.c.position < chunk.hi)
        .where(item.c.flag_score.is_not(None))
        .values(flag_score=None)
    )
    if ids:
        session.execute(
            update(item)
            .where(item.c.id == bindparam("b_id"))
            .values(flag_score=bindparam("b_score")),
            [{"b_id": i, "b_score": v} for i, v in zip(ids, scores, strict=True)],
        )


_STALE: Final = (
    "chunks of this run were read by an earlier version of Bakeoff, which stored them in "
    "another shape; start the flag run again"
)


def _stale(chunks: list[DeliveryFlagChunk]) -> bool:
    """Whether a chunk was stored by a version whose :data:`CHUNK_FORMAT` differs."""
    return any(
        c.state != "pending" and (c.partial or {}).get("format") != CHUNK_FORMAT for c in chunks
    )


def _fail(session: Session, run: DeliveryFlagRun, error: str) -> None:
    """Mark a running run failed with ``error`` (what the person who started it reads)."""
    runs = table_of(DeliveryFlagRun)
    session.execute(
        update(runs)
        .where(runs.c.id == run.id)
        .where(runs.c.state == "running")
        .values(state="failed", error=error, finished_at=utcnow())
    )
    session.commit()


def _chunks(session: Session, run_id: int) -> list[DeliveryFlagChunk]:
    """The run's chunks; their stored arrays load only when read (by the merge).

    :func:`advance_run` runs after every chunk and reads only the states: loading every
    chunk's arrays there made each call cost the whole run's arrays (quadratic in chunks).
    """
    return list(
        session.exec(
            select(DeliveryFlagChunk)
            .where(DeliveryFlagChunk.run_id == run_id)
            .order_by(col(DeliveryFlagChunk.chunk))
            .options(defer(DeliveryFlagChunk.arrays))  # type: ignore[arg-type]
        ).all()
    )


def _set_thresholds(
    session: Session, run: DeliveryFlagRun, chunks: list[DeliveryFlagChunk]
) -> bool:
    """The flagger's merge of every chunk's first-pass partial, in chunk order; phase 2."""
    flagger, _ = _flagger(session, run)
    if _stale(chunks):
        _fail(session, run, _STALE)
        return False
    merged = flagger.merge([c.partial["flagger"] for c in chunks if c.partial is not None])
    t = table_of(DeliveryFlagRun)
    result = session.execute(
        update(t).where(t.c.id == run.id).where(t.c.phase == 1).values(phase=2, thresholds=merged)
    )
    session.commit()
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _merge(session: Session, run: DeliveryFlagRun, chunks: list[DeliveryFlagChunk]) -> None:
    """Flag the issues over every chunk and mark the run merged: one transaction, once."""
    if _stale(chunks):
        _fail(session, run, _STALE)
        return
    runs = table_of(DeliveryFlagRun)
    flagger, _ = _flagger(session, run)
    scored: list[ChunkScores] = []
    ids: list[npt.NDArray[np.int64]] = []
    for c in chunks:
        arrays = unpack(c.arrays)
        detail = {k[len(_DETAIL) :]: v for k, v in arrays.items() if k.startswith(_DETAIL)}
        n_issues = int((c.partial or {})["n_issues"])
        scored.append(ChunkScores(arrays["quality"], n_issues, detail))
        ids.append(arrays["item_ids"])
    item_ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    flagged_items = sorted({int(i) for i in item_ids[flagger.issues(scored)]})
    try:
        claimed = session.execute(
            update(runs)
            .where(runs.c.id == run.id)
            .where(runs.c.state == "running")
            .values(
                state="merged",
                finished_at=utcnow(),
                n_scored=int(item_ids.size),
                n_flagged=len(flagged_items),
                n_honeypots=sum(int((c.partial or {}).get("honeypots", 0)) for c in chunks),
                n_unlabeled=sum(int((c.partial or {}).get("unlabeled", 0)) for c in chunks),
                n_without_probabilities=sum(
                    int((c.partial or {}).get("without_probabilities", 0)) for c in chunks
                ),
            )
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()  # merged already, by another worker
            return
        _write_flagged(session, run.delivery_id, flagged_items)
        session.execute(
            update(table_of(DeliveryFlagChunk))
            .where(table_of(DeliveryFlagChunk).c.run_id == run.id)
            .values(arrays=None)
        )
        sync_delivery_flags(
            session,
            run.delivery_id,
            f"the model's predictions disagree with the vendor's label: {flagger.method}",
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise


def _write_flagged(session: Session, delivery_id: int, flagged_items: list[int]) -> None:
    """``flagged`` of each item of the delivery: true exactly for ``flagged_items``.

    Only rows whose value changes are written (a first run: the flagged ones), set-based on
    PostgreSQL: the merge is the run's serial part, so it is kept short.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text(
                "UPDATE deliveryitem SET flagged = false FROM ("
                "SELECT id FROM deliveryitem WHERE delivery_id = :delivery AND flagged "
                "EXCEPT SELECT unnest(CAST(:ids AS bigint[]))) AS was(id) "
                "WHERE deliveryitem.id = was.id"
            ),
            {"delivery": delivery_id, "ids": flagged_items},
        )
        if flagged_items:
            session.execute(
                text(
                    "UPDATE deliveryitem SET flagged = true "
                    "FROM unnest(CAST(:ids AS bigint[])) AS v(id) "
                    "WHERE deliveryitem.id = v.id AND NOT deliveryitem.flagged"
                ),
                {"ids": flagged_items},
            )
        return
    item = table_of(DeliveryItem)
    session.execute(
        update(item)
        .where(item.c.delivery_id == delivery_id)
        .where(item.c.flagged)
        .values(flagged=False)
    )
    if flagged_items:
        session.execute(
            update(item).where(item.c.id == bindparam("b_id")).values(flagged=True),
            [{"b_id": i} for i in flagged_items],
        )


def advance_run(*, session: Session, run_id: int, sweep: bool = False) -> list[int]:
    """Move a run to its next phase when its chunks allow; the chunk ids to (re)enqueue.

    After the last chunk of phase 1 the thresholds are merged and every chunk is returned for
    phase 2; after the last of phase 2 the flags are merged. With ``sweep`` (the periodic
    check) chunks not done whose lease has expired, or that were never taken, are returned
    too: a worker that died mid-chunk loses nothing.
    """
    run = get_or_404(session, DeliveryFlagRun, run_id)
    if run.state != "running":
        return []
    chunks = _chunks(session, run_id)
    states = {c.state for c in chunks}
    again: list[int] = []
    if "pending" not in states and run.phase == 1:
        if _set_thresholds(session, run, chunks):
            again = [c.id or 0 for c in chunks if c.state == "parsed"]
        session.refresh(run)
        if run.state != "running":
            return []
    if states <= {"scored"}:
        _merge(session, run, chunks)
        return []
    if sweep:
        now = utcnow()
        for c in chunks:
            ready = c.state == "pending" or (c.state == "parsed" and run.phase == 2)
            if ready and (c.lease_until is None or c.lease_until < now):
                again.append(c.id or 0)
    return sorted(set(again))


def run_in_process(
    *, session: Session, run_id: int, settings: Settings | None = None
) -> DeliveryFlagRun:
    """Do every chunk job of a run here, in chunk order (the one-process flag paths).

    The same phases, leases and merge as on the workers, one chunk at a time, so memory is
    bounded by a chunk. Returns the run, ``merged`` or ``failed`` (with its ``error``).
    """
    settings = settings or get_settings()
    todo = advance_run(session=session, run_id=run_id, sweep=True)
    while todo:
        for chunk_id in todo:
            process_chunk(session=session, chunk_id=chunk_id, settings=settings)
        todo = advance_run(session=session, run_id=run_id, sweep=True)
    run = get_or_404(session, DeliveryFlagRun, run_id)
    session.refresh(run)
    return run


def delete_run(session: Session, run_id: int) -> None:
    """Remove a run and its chunks (a one-process run that failed leaves nothing)."""
    chunks, runs = table_of(DeliveryFlagChunk), table_of(DeliveryFlagRun)
    try:
        session.execute(chunks.delete().where(chunks.c.run_id == run_id))
        session.execute(runs.delete().where(runs.c.id == run_id))
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.expire_all()


def flag_run_public(session: Session, run: DeliveryFlagRun) -> DeliveryFlagRunPublic:
    """A run with its chunk counts."""
    t = table_of(DeliveryFlagChunk)
    counts = dict(
        session.execute(
            sa_select(t.c.state, func.count()).where(t.c.run_id == run.id).group_by(t.c.state)
        ).all()
    )
    scored = int(counts.get("scored", 0))
    try:
        method = _flagger(session, run)[0].method
    except KeyError:  # a run of a task type whose flagger was since removed
        method = ""
    return DeliveryFlagRunPublic.model_validate(
        run.model_dump()
        | {"n_chunks_parsed": int(counts.get("parsed", 0)) + scored, "n_chunks_scored": scored}
        | {"method": method}
    )


def list_flag_runs(
    *, session: Session, delivery_id: int, principal: Principal | None = None
) -> list[DeliveryFlagRunPublic]:
    """A delivery's flag runs, newest first."""
    get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    runs = session.exec(
        select(DeliveryFlagRun)
        .where(DeliveryFlagRun.delivery_id == delivery_id)
        .order_by(col(DeliveryFlagRun.id).desc())
    ).all()
    return [flag_run_public(session, r) for r in runs]
