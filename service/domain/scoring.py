"""Score a stored bake-off: its rows -> the scoring engine -> one Scored per candidate.

The one place the service scores labels. ``GET /bakeoffs/{id}/results`` and the Python
client (:mod:`service.domain.results`), reports and dashboards
(:mod:`service.domain.reporting`) all read the :class:`BakeoffScores` returned here, so
they show the same numbers. This module only arranges rows into the engine's inputs
(gold and labels per item key, timestamps, costs); every number comes from
:mod:`metrics.scoring`.

Inputs per candidate

* labels: every stored answer (``item``, ``annotator``, ``value``); a crowd's answers
  are merged by the engine's majority vote;
* cost per item: the tasks' reported costs, else the labels' reported costs, else the
  vendor's price list (per item plus per label) -- never two of them added up;
* timestamps: dispatch and completion of the tasks (an item never returned costs the
  dispatch deadline, ``Settings.dispatch_task_timeout_s``, in latency), or for labels
  imported without tasks their start and completion times.

The coverage floor is the bake-off's ``constraints["min_coverage"]`` (default
:data:`DEFAULT_MIN_COVERAGE`): below it a candidate has "not enough results".
Scores are stored in the database under a :func:`fingerprint` of everything they depend
on (:mod:`service.domain.score_store`), computed when labels land
(:mod:`service.domain.score_precompute`), so a read after an import is a read.
"""

from __future__ import annotations

import contextvars
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import select as sa_select
from sqlmodel import Session

from metrics.scoring import (
    DrawnResamples,
    Scored,
    ScoringOptions,
    resample_counts,
    score,
    shared_resamples,
    use_drawn,
    with_operations,
)
from reports.inputs import PricingTerms
from service.core.config import get_settings
from service.domain import score_prefetch, score_store
from service.domain._common import get_or_404, table_of
from service.domain.bakeoffs import vendor_aliases
from service.domain.score_state import (
    DEFAULT_MIN_COVERAGE,
    StoredRows,
    fingerprint,
    min_coverage,
    read_rows,
)
from service.domain.stored_labels import decode_json
from service.models import (
    BakeOff,
    GoldenItem,
    Project,
    Task,
    Vendor,
)

__all__ = [
    "DEFAULT_MIN_COVERAGE",
    "Candidate",
    "BakeoffScores",
    "min_coverage",
    "fingerprint",
    "score_bakeoff",
    "clear_cache",
]

_HOUR = 3600.0


@dataclass(frozen=True, eq=False)
class Candidate:
    """One candidate vendor of a bake-off and its :class:`Scored`."""

    vendor_id: int
    name: str
    alias: str
    scored: Scored
    pricing: PricingTerms
    n_label_rows: int
    hours_per_item: float


@dataclass(frozen=True, eq=False)
class BakeoffScores:
    """Every candidate of a bake-off scored on its pinned gold."""

    bakeoff_id: int
    data_version: int
    task_type: str
    golden_set_version_id: int
    n_gold: int
    candidates: list[Candidate]
    metadata: pd.DataFrame
    computed_at: datetime | None = None
    scored_now: bool = False


def clear_cache() -> None:
    """Forget the scores decoded in this process (stored rows stay: they are exact)."""
    score_store.clear_memory()


def _classes(project: Project) -> tuple[str, ...] | None:
    classes = (project.ontology or {}).get("classes") or []
    names = tuple(str(c["name"]) for c in classes if isinstance(c, dict) and "name" in c)
    return names or None


def _keypoint_sigmas(project: Project) -> tuple[tuple[str, tuple[float, ...]], ...]:
    """The ontology's OKS sigmas per category (keypoint projects)."""
    sigmas = (project.ontology or {}).get("keypoint_sigmas") or {}
    return tuple((str(c), tuple(float(v) for v in s)) for c, s in sigmas.items())


def _rating_scale(project: Project) -> tuple[int, int] | None:
    """The ontology's ``rating_scale`` (rating projects), else ``None`` (gold metadata)."""
    scale = (project.ontology or {}).get("rating_scale")
    return (int(scale[0]), int(scale[1])) if scale else None


def _with_size(value: Any, size: tuple[int, int] | None) -> Any:
    """Segmentation objects with the item's height/width (to rasterise polygons)."""
    if size is None or not isinstance(value, list):
        return value
    return [
        {**obj, "height": size[0], "width": size[1]} if isinstance(obj, dict) else obj
        for obj in value
    ]


def _metadata(texts: list[Any], keys: list[str]) -> pd.DataFrame:
    """Item metadata (scalars as they are, anything else as JSON text), index item key."""
    decoded: dict[Any, dict[str, Any]] = {}
    for text in dict.fromkeys(texts):  # items share a few metadata texts: decode each once
        raw = json.loads(text) if isinstance(text, str) else text
        decoded[text] = {
            k: (v if isinstance(v, str | int | float | bool) else json.dumps(v))
            for k, v in (raw or {}).items()
        }
    index = pd.Index(keys, dtype=object)
    if not any(decoded.values()):
        return pd.DataFrame(index=index)
    return pd.DataFrame.from_records(list(map(decoded.__getitem__, texts)), index=index)


def _load(
    session: Session, bakeoff: BakeOff, task_type: str, rows: StoredRows | None = None
) -> tuple[
    pd.Series[Any],
    pd.DataFrame,
    pd.DataFrame,
    pd.DataFrame,
    npt.NDArray[np.object_],
    tuple[tuple[str, int], ...],
]:
    """Gold by item key, item metadata, the labels and tasks with an ``item`` key and its
    ``item_rank`` (rank of the key in Python's order, -1 outside gold), the item keys in
    that order, and (boxes and masks) each item's COCO image id where its gold came from a
    COCO file. ``rows``: the bake-off's rows when already read (a prefetch of the same
    state, :mod:`service.domain.score_prefetch`), else they are read here."""
    if rows is None:
        rows = read_rows(session, bakeoff, task_type)
    regions = task_type in ("detection", "segmentation")
    fetched = rows.gold
    ids = np.asarray(fetched[0], dtype=np.int64)
    keys = [str(k) for k in fetched[1]]
    sizes: dict[str, tuple[int, int]] = {}
    coco_ids: dict[str, int] = {}
    if regions:
        for key, data in zip(keys, decode_json(fetched[4]), strict=True):
            data = data or {}
            if isinstance(data.get("coco_id"), int):
                coco_ids[key] = int(data["coco_id"])
            if task_type != "segmentation":
                continue
            if isinstance(data.get("height"), int) and isinstance(data.get("width"), int):
                sizes[key] = (int(data["height"]), int(data["width"]))
    values = decode_json(fetched[3])
    gold = pd.Series(
        [_with_size(v, sizes.get(k)) for k, v in zip(keys, values, strict=True)]
        if sizes
        else values,
        index=pd.Index(keys, dtype=object),
        dtype=object,
    )
    meta = _metadata(fetched[2], keys)
    labels, tasks = rows.labels, rows.tasks
    known = pd.Index(ids)
    key_array = np.asarray(keys, dtype=object)
    by_key = np.argsort(key_array, kind="stable")  # Python's order of the keys
    rank = np.empty(len(keys), dtype=np.int64)
    rank[by_key] = np.arange(len(keys), dtype=np.int64)
    for frame in (labels, tasks):
        position = known.get_indexer(pd.Index(frame["item_id"].to_numpy()))
        inside = position >= 0
        item = np.full(position.size, None, dtype=object)  # None: outside the pinned gold
        item[inside] = key_array[position[inside]]
        frame["item"] = item
        frame["item_rank"] = (  # an empty gold has no ranks to look up
            np.where(inside, rank[np.where(inside, position, 0)], -1)
            if len(keys)
            else np.full(position.size, -1, dtype=np.int64)
        )
    labels = labels[labels["item"].notna()].copy()
    tasks = tasks[tasks["item"].notna()].copy()
    labels["cost"] = pd.to_numeric(labels["cost"], errors="coerce")
    tasks["cost"] = pd.to_numeric(tasks["cost"], errors="coerce")
    if sizes:
        labels["value"] = [
            _with_size(v, sizes.get(k))
            for v, k in zip(labels["value"], labels["item"], strict=True)
        ]
    return gold, meta, labels, tasks, key_array[by_key], tuple(coco_ids.items())


def _keyed(grouped: pd.Series[Any], keys: npt.NDArray[np.object_]) -> pd.Series[Any]:
    """A Series grouped by ``item_rank`` on every gold item, by key (``keys``: keys in order).

    Items without rows hold the dtype's missing value. Laid out on all gold keys in their
    order, the engine finds its own item index here and re-indexes without a lookup.
    """
    indexer = np.full(len(keys), -1, dtype=np.intp)
    indexer[grouped.index.to_numpy(dtype=np.int64)] = np.arange(len(grouped), dtype=np.intp)
    values = pd.api.extensions.take(grouped.array, indexer, allow_fill=True)
    return pd.Series(values, index=pd.Index(keys, dtype=object, name="item"), name=grouped.name)


def _timestamps(
    labels: pd.DataFrame, tasks: pd.DataFrame, keys: npt.NDArray[np.object_]
) -> tuple[pd.Series[Any] | None, pd.Series[Any] | None, bool]:
    """Per item: dispatch and completion times, and whether they are dispatch times.

    Rows are grouped by ``item_rank`` (the item key's rank, an integer: grouping 100,000
    string keys costs ten times more) and the result is keyed by item key again.
    """
    sent = tasks.dropna(subset=["sent_at"])
    if len(sent):
        grouped = sent.groupby("item_rank")
        return (
            _keyed(grouped["sent_at"].min(), keys),
            _keyed(grouped["completed_at"].max(), keys),
            True,
        )
    timed = labels.dropna(subset=["started_at"])
    if len(timed):
        grouped = timed.groupby("item_rank")
        return (
            _keyed(grouped["started_at"].min(), keys),
            _keyed(grouped["completed_at"].max(), keys),
            False,
        )
    return None, None, False


def _reported_costs(
    labels: pd.DataFrame, tasks: pd.DataFrame, keys: npt.NDArray[np.object_]
) -> pd.Series[float] | None:
    """The tasks' costs when any is reported, else the labels' (never both)."""
    for frame in (tasks, labels):
        if frame["cost"].notna().any():
            costs = frame.groupby("item_rank")["cost"].sum(min_count=1).fillna(0.0)
            return _keyed(costs.astype(np.float64), keys)
    return None


def _hours_per_item(labels: pd.DataFrame) -> float:
    done = labels.dropna(subset=["started_at", "completed_at"])
    if done.empty:
        return 0.0
    hours = (done["completed_at"] - done["started_at"]).dt.total_seconds() / _HOUR
    return float(max(hours.groupby(done["item_rank"].to_numpy()).sum().mean(), 0.0))


def _candidate(
    vendor: Vendor,
    alias: str,
    gold: pd.Series[Any],
    labels: pd.DataFrame,
    tasks: pd.DataFrame,
    *,
    task_type: Any,
    options: ScoringOptions,
    metadata: pd.DataFrame | None,
    keys: npt.NDArray[np.object_],
    swapped: frozenset[tuple[str, int]] = frozenset(),
) -> Candidate:
    answers = pd.DataFrame(
        {
            "task": labels["item"].to_numpy(),
            "worker": labels["annotator"].astype(str).to_numpy(),
            "label": labels["value"].to_numpy(),
        }
    )
    if swapped:  # preference pairs this vendor was shown swapped: position bias per answer
        # per sending: a repeated pair went out once in each order
        sending = zip(answers["task"], labels["repeat"].to_numpy(dtype=np.int64), strict=True)
        answers["swapped"] = np.fromiter(
            ((str(k), int(r)) in swapped for k, r in sending), dtype=bool, count=len(answers)
        )
    if bool((labels["repeat"] > 0).any()):  # a second sending never enters the vote
        answers["repeat"] = labels["repeat"].to_numpy(dtype=np.int64)
    scored = score(task_type, gold, answers, options=options, metadata=metadata)
    sent, done, dispatched = _timestamps(labels, tasks, keys)
    priced = vendor.price_per_item > 0 or vendor.price_per_label > 0
    reported = _reported_costs(labels, tasks, keys)
    scored = with_operations(
        scored,
        item_costs=reported,
        prices=(vendor.price_per_item, vendor.price_per_label)
        if reported is None and priced
        else None,
        dispatched=sent,
        completed=done,
        deadline_s=get_settings().dispatch_task_timeout_s if dispatched else None,
    )
    return Candidate(
        vendor_id=vendor.id or 0,
        name=vendor.name,
        alias=alias,
        scored=scored,
        pricing=PricingTerms(
            per_item=vendor.price_per_item,
            per_label=vendor.price_per_label,
            per_hour=vendor.price_per_hour,
            minimum_commitment=vendor.minimum_commitment,
            currency=vendor.currency,
        ),
        n_label_rows=len(labels),
        hours_per_item=_hours_per_item(labels),
    )


def _swapped(session: Session, bakeoff: BakeOff) -> dict[int, frozenset[tuple[str, int]]]:
    """Per vendor, the (key, repeat) sendings of preference items it was sent with the
    responses swapped (a repeated pair's second sending is in the other order)."""
    task, item = table_of(Task), table_of(GoldenItem)
    rows = session.execute(
        sa_select(task.c.vendor_id, item.c.key, task.c.repeat)
        .join(item, item.c.id == task.c.item_id)
        .where(task.c.bakeoff_id == bakeoff.id)
        .where(task.c.swapped.is_(True))
    ).all()
    out: dict[int, set[tuple[str, int]]] = {}
    for vendor_id, key, repeat in rows:
        out.setdefault(int(vendor_id), set()).add((str(key), int(repeat)))
    return {v: frozenset(keys) for v, keys in out.items()}


def _compute(
    session: Session,
    bakeoff: BakeOff,
    *,
    n_resamples: int,
    seed: int,
    fingerprint: str | None = None,
) -> BakeoffScores:
    """Run the engine over the bake-off's rows (those prefetched for ``fingerprint``, the
    state being scored, when a prefetch was started; else read here)."""
    project = get_or_404(session, Project, bakeoff.project_id, what="Project")
    with shared_resamples():  # every candidate's intervals on one draw of resamples
        found = (
            None
            if fingerprint is None
            else score_prefetch.take(session, bakeoff.id or 0, fingerprint)
        )
        return _compute_rows(
            session,
            bakeoff,
            project,
            None if found is None else found.rows,
            n_resamples=n_resamples,
            seed=seed,
            drawn=None if found is None else found.resamples,
        )


def _draw_once(
    n_items: int, n_resamples: int, seed: int, drawn: Callable[[], DrawnResamples | None] | None
) -> None:
    """The resamples of ``n_items`` gold items in the open
    :func:`~metrics.scoring.shared_resamples` block, before the candidates are scored on
    several threads (each would otherwise draw them): those drawn ahead by the prefetch
    when they are of these items, else drawn here."""
    ahead = None if drawn is None else drawn()
    settings = (n_items, n_resamples, seed)
    if ahead is not None and (ahead.n_items, ahead.n_resamples, ahead.seed) == settings:
        use_drawn(ahead)
        return
    for _ in resample_counts(n_items, n_resamples=n_resamples, seed=seed):
        pass


def _compute_rows(
    session: Session,
    bakeoff: BakeOff,
    project: Project,
    rows: StoredRows | None,
    *,
    n_resamples: int,
    seed: int,
    drawn: Callable[[], DrawnResamples | None] | None = None,
) -> BakeoffScores:
    gold, meta, labels, tasks, keys, coco_ids = _load(session, bakeoff, project.task_type, rows)
    options = ScoringOptions(
        n_resamples=n_resamples,
        seed=seed,
        min_coverage=min_coverage(bakeoff),
        unknown_labels="wrong",  # the service refused unknown classes at import
        classes=_classes(project),
        min_slice_items=3,
        keypoint_sigmas=_keypoint_sigmas(project),
        rating_scale=_rating_scale(project),
        coco_image_ids=coco_ids,
    )
    metadata = meta if len(meta.columns) else None
    swapped = _swapped(session, bakeoff) if project.task_type == "preference" else {}
    jobs: list[Callable[[], Candidate]] = []
    aliases = vendor_aliases(session, bakeoff.id or 0)
    for vendor_id, alias in sorted(aliases.items(), key=lambda kv: (len(kv[1]), kv[1])):
        vendor = session.get(Vendor, vendor_id)
        if vendor is None:  # pragma: no cover - foreign key
            continue
        if gold.empty:
            continue
        jobs.append(
            partial(
                _candidate,
                vendor,
                alias,
                gold,
                labels[labels["vendor_id"] == vendor_id],
                tasks[tasks["vendor_id"] == vendor_id],
                task_type=project.task_type,
                options=options,
                metadata=metadata,
                keys=keys,
                swapped=swapped.get(vendor_id, frozenset()),
            )
        )
    if jobs:
        _draw_once(len(gold), n_resamples, seed, drawn)
    candidates = _run_all(jobs)
    return BakeoffScores(
        bakeoff_id=bakeoff.id or 0,
        data_version=bakeoff.data_version,
        task_type=project.task_type,
        golden_set_version_id=bakeoff.golden_set_version_id,
        n_gold=len(gold),
        candidates=candidates,
        metadata=meta,
    )


def _run_all(jobs: list[Callable[[], Candidate]]) -> list[Candidate]:
    """The candidates scored on up to four threads, in order.

    NumPy releases the interpreter lock in most of a bootstrap: 100,000 items x 5 vendors
    take 1.07 s instead of 1.45 s on two cores, for the same CPU time. Each job runs in a
    copy of this thread's context, so every thread joins the open
    :func:`~metrics.scoring.shared_resamples` block (one draw for all). The engine is pure:
    the results do not depend on the threads.
    """
    workers = min(len(jobs), os.cpu_count() or 1, 4)
    if workers <= 1:
        return [job() for job in jobs]
    contexts = [contextvars.copy_context() for _ in jobs]
    with ThreadPoolExecutor(workers, thread_name_prefix="score-candidate") as pool:
        return list(pool.map(lambda pair: pair[0].run(pair[1]), zip(contexts, jobs, strict=True)))


def score_bakeoff(
    *, session: Session, bakeoff: BakeOff, n_resamples: int = 1000, seed: int = 0
) -> BakeoffScores:
    """Score every candidate of ``bakeoff`` (already access-checked by the caller).

    The scores of the bake-off's current state are read as stored
    (:mod:`service.domain.score_store`: computed when its labels landed, or by an earlier
    read); only when none are stored does the engine run, once, and its output is stored.
    ``computed_at`` and ``scored_now`` of the result say which happened.

    Parameters
    ----------
    session
        Database session.
    bakeoff
        The bake-off.
    n_resamples, seed
        Bootstrap resamples and seed of the intervals (the report's and /results'
        defaults are the same, so they show the same intervals).
    """
    digest = fingerprint(session, bakeoff, n_resamples=n_resamples, seed=seed)
    found = score_store.get_or_compute(
        session,
        bakeoff_id=bakeoff.id or 0,
        data_version=bakeoff.data_version,
        fingerprint=digest,
        compute=lambda: _compute(
            session, bakeoff, n_resamples=n_resamples, seed=seed, fingerprint=digest
        ),
        types=(BakeoffScores, Candidate),
    )
    return replace(found.value, computed_at=found.computed_at, scored_now=found.scored_now)
