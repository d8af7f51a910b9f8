"""Uploaded class probabilities for a delivery: read the CSV in chunks, refuse bad rows by place.

The file has a header ``item_id,<class 1>,...,<class K>`` (the vendor-facing item ids; the
classes of the project's ontology, in any order) and one row per item. Both flag paths read it
here: the one-process :func:`service.domain.delivery_flags.flag_delivery` and the flag run on
the workers (:func:`start_upload_run`), which sorts the rows into the run's chunks of item
positions once, at upload, so each chunk job reads only its own probabilities.

Every refusal is :class:`~service.domain.errors.Invalid` (HTTP 422) naming the row (the header
is row 1) and the column: an empty cell, a value that is not a number, one outside ``[0, 1]``,
a row that does not sum to 1, an item that is not the delivery's, an item given twice, or a
line with the wrong number of fields.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session

from service.domain._common import get_or_404, table_of
from service.domain.deliveries import get_delivery
from service.domain.errors import Invalid
from service.domain.projects import class_names
from service.domain.security import Principal
from service.models import Delivery, DeliveryFlagChunk, DeliveryFlagRun, DeliveryItem, Project

__all__ = [
    "PROB_TOL",
    "ProbabilityChunk",
    "read_header",
    "probability_chunks",
    "item_positions",
    "bucket_by_chunk",
    "pack",
    "unpack",
    "UNFLAGGABLE",
    "check_flaggable",
    "start_upload_run",
    "uploaded_rows",
]

#: How far a row's sum may be from 1 (the tolerance of :mod:`metrics.label_issues`).
PROB_TOL: Final = 1e-4


def pack(**arrays: npt.NDArray[Any]) -> bytes:
    """Arrays as one ``.npz`` blob (no pickles)."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def unpack(blob: bytes | None) -> dict[str, npt.NDArray[Any]]:
    """The arrays of a :func:`pack` blob."""
    if blob is None:
        raise ValueError("the chunk has no stored arrays")
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _rewind(source: IO[bytes] | Path) -> None:
    if not isinstance(source, Path):
        source.seek(0)


def read_header(source: IO[bytes] | Path, classes: list[str]) -> list[str]:
    """The class columns of the file, checked against the ontology (422 otherwise)."""
    _rewind(source)
    try:
        head = pd.read_csv(source, nrows=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise Invalid(
            f"probabilities: row 1 is not a CSV header: {exc}", location=("body", "row 1")
        ) from exc
    finally:
        _rewind(source)
    columns = [str(c) for c in head.columns]
    if not columns or columns[0] != "item_id":
        raise Invalid(
            f"probabilities: row 1, column 'item_id': the first column must be 'item_id'; "
            f"got {columns[:3]}",
            location=("body", "row 1", "item_id"),
        )
    given = columns[1:]
    if sorted(given) != sorted(classes):
        missing = sorted(set(classes) - set(given))
        extra = sorted(set(given) - set(classes))
        raise Invalid(
            f"probabilities: row 1: the class columns must be the ontology's classes; missing "
            f"{missing}, not in the ontology {extra}",
            location=("body", "row 1"),
        )
    return given


class ProbabilityChunk:
    """Checked rows of the file: their first row number, item keys and ``(n, K)`` values."""

    def __init__(self, first_row: int, keys: list[str], probs: npt.NDArray[np.float64]) -> None:
        self.first_row, self.keys, self.probs = first_row, keys, probs


def _bad(row: int, column: str, message: str) -> Invalid:
    return Invalid(
        f"probabilities: row {row}, column {column!r}: {message}",
        location=("body", f"row {row}", column),
    )


def _check(chunk: pd.DataFrame, first_row: int, classes: list[str]) -> ProbabilityChunk:
    keys = chunk["item_id"]
    empty = keys.isna() | (keys.astype(str).str.strip() == "")
    if empty.any():
        raise _bad(first_row + int(np.flatnonzero(empty.to_numpy())[0]), "item_id", "is empty")
    out = np.empty((len(chunk), len(classes)), dtype=np.float64)
    for k, name in enumerate(classes):
        raw = chunk[name]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(values)
        if bad.any():
            n = int(np.flatnonzero(bad)[0])
            cell = raw.iloc[n]
            what = (
                "is empty"
                if pd.isna(cell) or str(cell).strip() == ""
                else (f"{str(cell)[:40]!r} is not a number")
            )
            raise _bad(first_row + n, name, what)
        outside = (values < 0) | (values > 1)
        if outside.any():
            n = int(np.flatnonzero(outside)[0])
            raise _bad(first_row + n, name, f"{values[n]:g} is not a probability in [0, 1]")
        out[:, k] = values
    sums = out.sum(axis=1)
    off = np.abs(sums - 1.0) > PROB_TOL
    if off.any():
        n = int(np.flatnonzero(off)[0])
        raise Invalid(
            f"probabilities: row {first_row + n}: the classes' probabilities sum to "
            f"{sums[n]:.6g}, not 1 (within {PROB_TOL:g})",
            location=("body", f"row {first_row + n}"),
        )
    return ProbabilityChunk(first_row, keys.astype(str).str.strip().tolist(), out)


def probability_chunks(
    source: IO[bytes] | Path, classes: list[str], chunk_size: int
) -> Iterator[ProbabilityChunk]:
    """The file's rows in checked chunks of ``chunk_size`` (``classes``: the column order)."""
    _rewind(source)
    reader = pd.read_csv(
        source,
        chunksize=chunk_size,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        skipinitialspace=True,
    )
    row = 2  # the header is row 1
    try:
        for chunk in reader:
            yield _check(chunk, row, classes)
            row += len(chunk)
    except pd.errors.ParserError as exc:
        # pandas names the line ("Expected 4 fields in line 7, saw 5"); lines are rows here.
        raise Invalid(f"probabilities: {exc}", location=("body", f"after row {row - 1}")) from exc


def item_positions(
    session: Session, delivery_id: int, chunk: ProbabilityChunk
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(item ids, positions)`` of the chunk's keys; 422 naming the row of an unknown key."""
    item = table_of(DeliveryItem)
    found = {
        str(k): (int(i), int(p))
        for k, i, p in session.execute(
            sa_select(item.c.key, item.c.id, item.c.position)
            .where(item.c.delivery_id == delivery_id)
            .where(item.c.key.in_(chunk.keys))
        ).all()
    }
    ids = np.empty(len(chunk.keys), dtype=np.int64)
    positions = np.empty(len(chunk.keys), dtype=np.int64)
    for n, key in enumerate(chunk.keys):
        hit = found.get(key)
        if hit is None:
            raise _bad(
                chunk.first_row + n,
                "item_id",
                f"{key[:80]!r} is not an item of delivery {delivery_id}",
            )
        ids[n], positions[n] = hit
    return ids, positions


def bucket_by_chunk(
    session: Session,
    delivery_id: int,
    source: IO[bytes] | Path,
    classes: list[str],
    *,
    n_positions: int,
    chunk_size: int,
    read_rows: int = 50_000,
) -> Iterator[tuple[int, bytes]]:
    """``(chunk number, blob)`` per chunk of ``chunk_size`` item positions with any rows.

    The rows are checked and sorted into per-chunk spill files as the file is read (memory:
    one block of ``read_rows`` rows), then each chunk's rows are packed (``in_ids``,
    ``in_probs``) for its job. An item given twice is refused with both rows.
    """
    k = len(classes)
    seen = np.zeros(max(n_positions, 1), dtype=np.int64)  # the row that gave each position
    with tempfile.TemporaryDirectory(prefix="bakeoff-probs-") as spill:
        files: dict[int, IO[bytes]] = {}
        try:
            for part in probability_chunks(source, classes, read_rows):
                ids, positions = item_positions(session, delivery_id, part)
                rows = part.first_row + np.arange(len(part.keys))
                again = np.flatnonzero(seen[positions] > 0)
                if again.size:
                    n = int(again[0])
                    raise _bad(
                        int(rows[n]),
                        "item_id",
                        f"{part.keys[n][:80]!r} is given twice (first in row "
                        f"{int(seen[positions[n]])})",
                    )
                order = np.argsort(positions, kind="stable")
                seen[positions] = rows
                dup = np.flatnonzero(np.diff(positions[order]) == 0)
                if dup.size:
                    first, second = order[dup[0]], order[dup[0] + 1]
                    raise _bad(
                        int(rows[second]),
                        "item_id",
                        f"{part.keys[second][:80]!r} is given twice (first in row "
                        f"{int(rows[first])})",
                    )
                record = np.empty((len(ids), k + 1), dtype=np.float64)
                record[:, 0] = ids.astype(np.float64)  # ids < 2**53: exact as floats
                record[:, 1:] = part.probs
                buckets = positions // chunk_size
                for b in np.unique(buckets):
                    handle = files.get(int(b))
                    if handle is None:
                        handle = files[int(b)] = open(Path(spill) / f"{int(b)}.bin", "wb")  # noqa: SIM115
                    handle.write(record[buckets == b].tobytes())
        finally:
            for handle in files.values():
                handle.close()
        for b in sorted(files):
            data = np.fromfile(Path(spill) / f"{b}.bin", dtype=np.float64).reshape(-1, k + 1)
            yield b, pack(in_ids=data[:, 0].astype(np.int64), in_probs=data[:, 1:])


def uploaded_rows(
    blob: bytes | None,
    ids: npt.NDArray[np.int64],
    labels: list[Any],
    n_items: int,
    take: list[int],
    k: int,
) -> tuple[npt.NDArray[np.int64], list[Any], npt.NDArray[np.float64], int]:
    """A chunk job's answers that have uploaded probabilities, and their rows.

    ``blob`` is the chunk's packed rows (:func:`bucket_by_chunk`); ``ids``/``labels`` are per
    answer, ``n_items`` answered items, ``take`` maps answers to items. Returns the kept
    ``(ids, labels, (n, k) probabilities)`` and how many answered items the file left out
    (counted in the run, never silently scored).
    """
    inputs = (
        unpack(blob)
        if blob is not None
        else {"in_ids": np.zeros(0, np.int64), "in_probs": np.zeros((0, k))}
    )
    answered = np.zeros(n_items, dtype=np.int64)
    answered[np.asarray(take, dtype=np.int64)] = ids
    row = pd.Index(inputs["in_ids"]).get_indexer(pd.Index(answered))
    per_answer = row[np.asarray(take, dtype=np.int64)] if take else np.zeros(0, np.int64)
    keep = per_answer >= 0
    probs = np.asarray(inputs["in_probs"], dtype=np.float64)[per_answer[keep]].reshape(-1, k)
    kept = [labels[i] for i in np.flatnonzero(keep)]
    return ids[keep], kept, probs, int((row < 0).sum())


def start_upload_run(
    *,
    session: Session,
    delivery_id: int,
    source: IO[bytes] | Path,
    chunk_size: int = 50_000,
    principal: Principal | None = None,
) -> DeliveryFlagRun:
    """Plan a flag run on uploaded probabilities (CSV: ``item_id`` and one column per class).

    The file is checked and its rows sorted into the run's chunks of item positions here, in
    one transaction with the run (a bad file writes nothing); each chunk job then reads its own
    probabilities instead of calling a model, and the run goes on as :func:`start_flag_run`'s.

    Raises
    ------
    Invalid
        Not a classification project, or a bad file: the message names the row and column
        (:mod:`service.domain.delivery_probs`).
    """
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    classes = class_names(check_flaggable(session, delivery))
    read_header(source, classes)
    size = delivery.n_items + delivery.n_honeypots
    bounds = list(range(0, size, chunk_size))
    run = DeliveryFlagRun(
        delivery_id=delivery_id,
        model="",
        feature_key="",
        source="upload",
        n_chunks=len(bounds),
        chunk_size=chunk_size,
    )
    chunks = table_of(DeliveryFlagChunk)
    try:
        session.add(run)
        session.flush()
        run_id = run.id or 0
        session.execute(
            insert(chunks),
            [
                {"run_id": run_id, "chunk": n, "lo": lo, "hi": min(lo + chunk_size, size)}
                | {"state": "pending", "attempts": 0}
                for n, lo in enumerate(bounds)
            ],
        )
        for n, blob in bucket_by_chunk(
            session, delivery_id, source, classes, n_positions=size, chunk_size=chunk_size
        ):
            # Core UPDATE: the blob is written, not kept in the session (one chunk in memory).
            session.execute(
                update(chunks)
                .where(chunks.c.run_id == run_id)
                .where(chunks.c.chunk == n)
                .values(arrays=blob)
            )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    session.refresh(run)
    return run


#: Why each task type other than classification has no model-label flags on a delivery yet.
#: The engine's flags for them (:mod:`metrics.box_flags`, :mod:`metrics.language_flags`)
#: compare a label with a model's *regions* or with gold and other candidates, and a delivery
#: has neither gold (only honeypots) nor a second candidate; the chunked, partitioned search
#: (:mod:`metrics.label_issues_partitioned`) is cleanlab's for one class per answer.
UNFLAGGABLE: Final[dict[str, str]] = {
    "multilabel": "an answer is a set of classes: cleanlab's multi-label search needs every "
    "item at once and has no chunked form here",
    "detection": "flags need the model's boxes with scores per item (ObjectLab), not one "
    "probability per class; no box-prediction upload exists for deliveries",
    "segmentation": "flags need the model's masks per item (ObjectLab on mask IoU), not one "
    "probability per class",
    "keypoints": "the engine has no model-label flags for keypoints",
    "spans": "span flags compare candidates and gold; a delivery has one vendor and no gold",
    "preference": "preference flags compare candidates and gold; a delivery has one vendor "
    "and no gold",
    "rating": "rating flags compare candidates and gold; a delivery has one vendor and no gold",
    "transcription": "transcription flags compare candidates and gold; a delivery has one "
    "vendor and no gold",
}


def check_flaggable(session: Session, delivery: Delivery) -> Project:
    """The delivery's project, if its task type can be flagged; else 422 saying why not.

    Only ``classification`` is supported: the flags are cleanlab's label-issue search on class
    probabilities, run in chunks and partitions over workers. :data:`UNFLAGGABLE` says why each
    other task type is refused (the message names the supported type and the reason).
    """
    project = get_or_404(session, Project, delivery.project_id)
    if project.task_type != "classification":
        why = UNFLAGGABLE.get(project.task_type, "the engine has no flags for it")
        raise Invalid(
            f"model-label flags on deliveries support task type 'classification' only "
            f"(cleanlab on one class probability per class, in chunks); project "
            f"{project.id} is {project.task_type!r}: {why}",
            location=("path", "delivery_id"),
            code="task_type_not_supported",
        )
    return project
