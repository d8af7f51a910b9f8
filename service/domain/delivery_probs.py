"""Uploaded model predictions for a delivery: one reader per upload format, bad rows by place.

Every task type with a flagger (:mod:`metrics.chunked_flags`) names in
:data:`PREDICTION_SOURCES` the upload format its predictions come in and what a registered
model returns for it; :data:`UPLOAD_READERS` maps each format to its reader. The service never
branches on task type: it looks the two tables up. The CSV formats (a header row, then one row
per item, ``item_id`` first: the vendor-facing item ids):

* ``probabilities`` (classification): ``item_id,<class 1>,...,<class K>`` (the ontology's
  classes, any order), each row probabilities summing to 1;
* ``independent_probabilities`` (multilabel): the same columns, each cell an independent
  probability in ``[0, 1]`` (no sum rule);
* ``choice_probabilities`` (preference): ``item_id,A,B,tie`` (any order), summing to 1;
* ``numeric`` (rating): ``item_id,prediction``, one finite number.

A reader is ``read(source, classes, read_rows) -> Iterator[PredictionChunk]``: it checks the
header and yields checked rows in blocks; :class:`PredictionChunk` holds either an ``(n, w)``
float array (CSV formats) or a list of JSON-able values (a structured format, e.g. JSON Lines),
and both are bucketed into the run's chunks the same way (:func:`bucket_by_chunk`). A new
format plugs in with one line in :data:`UPLOAD_READERS` and one per task type in
:data:`PREDICTION_SOURCES`.

Both flag paths read the file here: the worker run (:func:`start_upload_run`) sorts the rows
into the run's chunks of item positions once, at upload, so each chunk job reads only its own
predictions; the one-process path (:func:`service.domain.delivery_flags.flag_delivery`) runs
the same chunk phases in process.

Every refusal is :class:`~service.domain.errors.Invalid` (HTTP 422) naming the row (the header
is row 1) and the column: an empty cell, a value that is not a number, one outside ``[0, 1]``,
a row that does not sum to 1, an item that is not the delivery's, an item given twice, or a
line with the wrong number of fields; nothing is written.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import insert, update
from sqlalchemy import select as sa_select
from sqlmodel import Session

from adapters.base import TaskType
from metrics.chunked_flags import FLAGGER_MODULES
from metrics.preference import PREFERENCE_LABELS
from service.domain._common import get_or_404, table_of
from service.domain.deliveries import get_delivery
from service.domain.errors import Invalid
from service.domain.projects import class_names
from service.domain.security import Principal
from service.models import Delivery, DeliveryFlagChunk, DeliveryFlagRun, DeliveryItem, Project

__all__ = [
    "PROB_TOL",
    "PredictionChunk",
    "ProbabilityChunk",
    "UploadReader",
    "PredictionSource",
    "UPLOAD_READERS",
    "PREDICTION_SOURCES",
    "prediction_source",
    "read_header",
    "read_csv_predictions",
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


@dataclass(frozen=True)
class PredictionChunk:
    """Checked rows of an upload: their first row number, item keys and predictions.

    ``predictions`` is an ``(n, w)`` float array (the CSV formats) or a list of ``n``
    JSON-able values (a structured format), one per key.
    """

    first_row: int
    keys: list[str]
    predictions: npt.NDArray[np.float64] | list[Any]


#: The name this module's classification reader used for its chunks (kept for callers).
ProbabilityChunk = PredictionChunk

#: ``read(source, classes, read_rows)``: the file's checked rows, ``read_rows`` at a time.
UploadReader = Callable[[IO[bytes] | Path, Sequence[str], int], Iterator[PredictionChunk]]


def read_header(source: IO[bytes] | Path, classes: Sequence[str]) -> list[str]:
    """The value columns of a CSV file, checked to be ``classes`` in any order (422 otherwise)."""
    _rewind(source)
    try:
        head = pd.read_csv(source, nrows=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise Invalid(
            f"predictions: row 1 is not a CSV header: {exc}", location=("body", "row 1")
        ) from exc
    finally:
        _rewind(source)
    columns = [str(c) for c in head.columns]
    if not columns or columns[0] != "item_id":
        raise Invalid(
            f"predictions: row 1, column 'item_id': the first column must be 'item_id'; "
            f"got {columns[:3]}",
            location=("body", "row 1", "item_id"),
        )
    given = columns[1:]
    if sorted(given) != sorted(classes):
        missing = sorted(set(classes) - set(given))
        extra = sorted(set(given) - set(classes))
        raise Invalid(
            f"predictions: row 1: the value columns must be {list(classes)} (any order); "
            f"missing {missing}, not expected {extra}",
            location=("body", "row 1"),
        )
    return given


def _bad(row: int, column: str, message: str) -> Invalid:
    return Invalid(
        f"predictions: row {row}, column {column!r}: {message}",
        location=("body", f"row {row}", column),
    )


def _check(
    chunk: pd.DataFrame,
    first_row: int,
    columns: Sequence[str],
    *,
    lo: float | None,
    hi: float | None,
    sums_to_one: bool,
) -> PredictionChunk:
    keys = chunk["item_id"]
    empty = keys.isna() | (keys.astype(str).str.strip() == "")
    if empty.any():
        raise _bad(first_row + int(np.flatnonzero(empty.to_numpy())[0]), "item_id", "is empty")
    out = np.empty((len(chunk), len(columns)), dtype=np.float64)
    for k, name in enumerate(columns):
        raw = chunk[name]
        values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values)
        if bad.any():
            n = int(np.flatnonzero(bad)[0])
            cell = raw.iloc[n]
            what = (
                "is empty"
                if pd.isna(cell) or str(cell).strip() == ""
                else (f"{str(cell)[:40]!r} is not a finite number")
            )
            raise _bad(first_row + n, name, what)
        if lo is not None and hi is not None:
            outside = (values < lo) | (values > hi)
            if outside.any():
                n = int(np.flatnonzero(outside)[0])
                raise _bad(first_row + n, name, f"{values[n]:g} is not a probability in [0, 1]")
        out[:, k] = values
    if sums_to_one:
        sums = out.sum(axis=1)
        off = np.abs(sums - 1.0) > PROB_TOL
        if off.any():
            n = int(np.flatnonzero(off)[0])
            raise Invalid(
                f"predictions: row {first_row + n}: the probabilities sum to "
                f"{sums[n]:.6g}, not 1 (within {PROB_TOL:g})",
                location=("body", f"row {first_row + n}"),
            )
    return PredictionChunk(first_row, keys.astype(str).str.strip().tolist(), out)


def read_csv_predictions(
    source: IO[bytes] | Path,
    columns: Sequence[str],
    chunk_size: int,
    *,
    probabilities: bool = True,
    sums_to_one: bool = True,
) -> Iterator[PredictionChunk]:
    """A CSV file's rows in checked chunks: ``item_id`` then ``columns`` (in that order here).

    ``probabilities``: each value in ``[0, 1]``; ``sums_to_one``: each row sums to 1.
    """
    read_header(source, columns)
    reader = pd.read_csv(
        source,
        chunksize=chunk_size,
        dtype=str,
        keep_default_na=False,
        na_values=[""],
        skipinitialspace=True,
    )
    row = 2  # the header is row 1
    bounds = (0.0, 1.0) if probabilities else (None, None)
    try:
        for chunk in reader:
            yield _check(chunk, row, columns, lo=bounds[0], hi=bounds[1], sums_to_one=sums_to_one)
            row += len(chunk)
    except pd.errors.ParserError as exc:
        # pandas names the line ("Expected 4 fields in line 7, saw 5"); lines are rows here.
        raise Invalid(f"predictions: {exc}", location=("body", f"after row {row - 1}")) from exc


def probability_chunks(
    source: IO[bytes] | Path, classes: Sequence[str], chunk_size: int
) -> Iterator[PredictionChunk]:
    """``probabilities`` (classification): one column per class, rows summing to 1."""
    return read_csv_predictions(source, classes, chunk_size)


def _independent_probabilities(
    source: IO[bytes] | Path, classes: Sequence[str], chunk_size: int
) -> Iterator[PredictionChunk]:
    """``independent_probabilities`` (multilabel): one column per class, each in [0, 1]."""
    return read_csv_predictions(source, classes, chunk_size, sums_to_one=False)


def _choice_probabilities(
    source: IO[bytes] | Path, classes: Sequence[str], chunk_size: int
) -> Iterator[PredictionChunk]:
    """``choice_probabilities`` (preference): columns A, B, tie, rows summing to 1."""
    del classes  # the choices are fixed, whatever the ontology lists
    return read_csv_predictions(source, PREFERENCE_LABELS, chunk_size)


def _numeric(
    source: IO[bytes] | Path, classes: Sequence[str], chunk_size: int
) -> Iterator[PredictionChunk]:
    """``numeric`` (rating): one column ``prediction``, a finite number."""
    del classes
    return read_csv_predictions(
        source, ["prediction"], chunk_size, probabilities=False, sums_to_one=False
    )


def _json_lines(task_type: TaskType) -> UploadReader:
    """``<task type>_json_lines``: one label-shaped prediction per line, checked as that task
    type's labels (:mod:`service.domain.delivery_predictions`)."""

    def read(
        source: IO[bytes] | Path, classes: Sequence[str], chunk_size: int
    ) -> Iterator[PredictionChunk]:
        from service.domain.delivery_predictions import prediction_chunks

        return prediction_chunks(
            source, task_type=task_type, classes=classes, chunk_lines=chunk_size
        )

    return read


#: The task types whose predictions have their labels' form (JSON Lines uploads).
STRUCTURED: Final[tuple[TaskType, ...]] = (
    "detection",
    "segmentation",
    "keypoints",
    "spans",
    "transcription",
)

#: Upload format -> its reader. One line per format.
UPLOAD_READERS: dict[str, UploadReader] = {
    "probabilities": probability_chunks,
    "independent_probabilities": _independent_probabilities,
    "choice_probabilities": _choice_probabilities,
    "numeric": _numeric,
} | {f"{t}_json_lines": _json_lines(t) for t in STRUCTURED}


@dataclass(frozen=True)
class PredictionSource:
    """Where a task type's predictions come from.

    Attributes
    ----------
    upload
        The :data:`UPLOAD_READERS` format its uploaded predictions are in.
    model
        What a registered model gives per chunk: ``"probabilities"``, the adapter's
        ``predict_proba`` ``(n, K)`` over the ontology's classes (an estimator with
        ``predict_proba``/``classes_``, TorchScript or an ``f(X) -> (N, K)`` callable);
        ``"per_item"``, the adapter's ``predict_items``: one prediction per item in the
        flagger's form (an entry-point callable, or an estimator's ``predict``).
    """

    upload: str
    model: Literal["probabilities", "per_item"]


#: Task type -> its predictions' upload format and model output. One line per task type.
PREDICTION_SOURCES: dict[str, PredictionSource] = {
    "classification": PredictionSource("probabilities", "probabilities"),
    "multilabel": PredictionSource("independent_probabilities", "probabilities"),
    "preference": PredictionSource("choice_probabilities", "per_item"),
    "rating": PredictionSource("numeric", "per_item"),
} | {t: PredictionSource(f"{t}_json_lines", "per_item") for t in STRUCTURED}


def prediction_source(task_type: str) -> tuple[PredictionSource, UploadReader]:
    """The task type's :class:`PredictionSource` and its upload reader."""
    source = PREDICTION_SOURCES[task_type]
    return source, UPLOAD_READERS[source.upload]


def item_positions(
    session: Session, delivery_id: int, chunk: PredictionChunk
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


class _Spill:
    """One chunk's rows on disk: float records (CSV formats) or JSON lines (structured)."""

    def __init__(self, path: Path) -> None:
        self.path, self.handle = path, open(path, "wb")  # noqa: SIM115
        self.width: int | None = None  # floats per record; None: JSON lines

    def write(
        self, ids: npt.NDArray[np.int64], predictions: npt.NDArray[np.float64] | list[Any]
    ) -> None:
        if isinstance(predictions, np.ndarray):
            record = np.empty((len(ids), predictions.shape[1] + 1), dtype=np.float64)
            record[:, 0] = ids.astype(np.float64)  # ids < 2**53: exact as floats
            record[:, 1:] = predictions
            self.width = record.shape[1]
            self.handle.write(record.tobytes())
        else:
            for i, value in zip(ids.tolist(), predictions, strict=True):
                self.handle.write(json.dumps([i, value], separators=(",", ":")).encode() + b"\n")

    def blob(self) -> bytes:
        self.handle.close()
        if self.width is not None:
            data = np.fromfile(self.path, dtype=np.float64).reshape(-1, self.width)
            return pack(in_ids=data[:, 0].astype(np.int64), in_probs=data[:, 1:])
        rows = [json.loads(line) for line in self.path.read_bytes().splitlines() if line]
        text = json.dumps([r[1] for r in rows], separators=(",", ":")).encode()
        return pack(
            in_ids=np.asarray([r[0] for r in rows], dtype=np.int64),
            in_json=np.frombuffer(text, dtype=np.uint8),
        )


def bucket_by_chunk(
    session: Session,
    delivery_id: int,
    source: IO[bytes] | Path,
    classes: Sequence[str],
    *,
    n_positions: int,
    chunk_size: int,
    read_rows: int = 50_000,
    reader: UploadReader = probability_chunks,
) -> Iterator[tuple[int, bytes]]:
    """``(chunk number, blob)`` per chunk of ``chunk_size`` item positions with any rows.

    The rows (``reader``'s, checked) are sorted into per-chunk spill files as the file is
    read (memory: one block of ``read_rows`` rows), then each chunk's rows are packed
    (``in_ids`` and ``in_probs`` for array predictions, ``in_json`` for JSON-able ones) for its
    job. An item given twice is refused with both rows.
    """
    seen = np.zeros(max(n_positions, 1), dtype=np.int64)  # the row that gave each position
    with tempfile.TemporaryDirectory(prefix="bakeoff-predictions-") as spill:
        files: dict[int, _Spill] = {}
        try:
            for part in reader(source, classes, read_rows):
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
                buckets = positions // chunk_size
                for b in np.unique(buckets):
                    handle = files.get(int(b))
                    if handle is None:
                        handle = files[int(b)] = _Spill(Path(spill) / f"{int(b)}.bin")
                    where = np.flatnonzero(buckets == b)
                    preds = part.predictions
                    handle.write(
                        ids[where],
                        preds[where]
                        if isinstance(preds, np.ndarray)
                        else [preds[i] for i in where],
                    )
            for b in sorted(files):
                yield b, files[b].blob()
        finally:
            for handle in files.values():
                handle.handle.close()


def uploaded_rows(
    blob: bytes | None,
    ids: npt.NDArray[np.int64],
    labels: list[Any],
    n_items: int,
    take: list[int],
) -> tuple[npt.NDArray[np.int64], list[Any], npt.NDArray[np.float64] | list[Any], int]:
    """A chunk job's answers that have uploaded predictions, and their predictions.

    ``blob`` is the chunk's packed rows (:func:`bucket_by_chunk`); ``ids``/``labels`` are per
    answer, ``n_items`` answered items, ``take`` maps answers to items. Returns the kept
    ``(ids, labels, predictions)`` (an array's rows or a list, one per kept answer) and how
    many answered items the file left out (counted in the run, never silently scored).
    """
    inputs = unpack(blob) if blob is not None else {"in_ids": np.zeros(0, np.int64)}
    answered = np.zeros(n_items, dtype=np.int64)
    answered[np.asarray(take, dtype=np.int64)] = ids
    row = pd.Index(inputs["in_ids"]).get_indexer(pd.Index(answered))
    per_answer = row[np.asarray(take, dtype=np.int64)] if take else np.zeros(0, np.int64)
    keep = per_answer >= 0
    predictions: npt.NDArray[np.float64] | list[Any]
    if "in_json" in inputs:
        values = json.loads(inputs["in_json"].tobytes())
        predictions = [values[int(i)] for i in per_answer[keep]]
    elif "in_probs" in inputs:
        predictions = np.asarray(inputs["in_probs"], dtype=np.float64)[per_answer[keep]]
    else:
        predictions = np.zeros((0, 0), dtype=np.float64)
    kept = [labels[i] for i in np.flatnonzero(keep)]
    return ids[keep], kept, predictions, int((row < 0).sum())


def start_upload_run(
    *,
    session: Session,
    delivery_id: int,
    source: IO[bytes] | Path,
    chunk_size: int = 50_000,
    principal: Principal | None = None,
) -> DeliveryFlagRun:
    """Plan a flag run on uploaded predictions (the task type's format, :data:`UPLOAD_READERS`).

    The file is checked and its rows sorted into the run's chunks of item positions here, in
    one transaction with the run (a bad file writes nothing); each chunk job then reads its own
    predictions instead of calling a model, and the run goes on as
    :func:`~service.domain.delivery_jobs.start_flag_run`'s.

    Raises
    ------
    Invalid
        A task type without flags, or a bad file: the message names the row and column.
    """
    delivery = get_delivery(session=session, delivery_id=delivery_id, principal=principal)
    project = check_flaggable(session, delivery)
    classes = class_names(project)
    _, reader = prediction_source(project.task_type)
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
        if bounds:
            session.execute(
                insert(chunks),
                [
                    {"run_id": run_id, "chunk": n, "lo": lo, "hi": min(lo + chunk_size, size)}
                    | {"state": "pending", "attempts": 0}
                    for n, lo in enumerate(bounds)
                ],
            )
        for n, blob in bucket_by_chunk(
            session,
            delivery_id,
            source,
            classes,
            n_positions=size,
            chunk_size=chunk_size,
            reader=reader,
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


#: Why each task type without a flagger (:data:`metrics.chunked_flags.FLAGGER_MODULES`) has
#: no model-label flags on a delivery yet. The engine's flags for them
#: (:mod:`metrics.box_flags`, :mod:`metrics.language_flags`) compare a label with a model's
#: *regions* or with gold and other candidates, and a delivery has neither gold (only
#: honeypots) nor a second candidate.
UNFLAGGABLE: Final[dict[str, str]] = {}


def _flaggable() -> list[str]:
    return sorted(set(FLAGGER_MODULES) & set(PREDICTION_SOURCES))


def check_flaggable(session: Session, delivery: Delivery) -> Project:
    """The delivery's project, if its task type can be flagged; else 422 saying why not.

    A task type can be flagged when it has a chunked flagger
    (:data:`metrics.chunked_flags.FLAGGER_MODULES`) and a source of predictions
    (:data:`PREDICTION_SOURCES`). :data:`UNFLAGGABLE` says why each other task type is
    refused (the message lists the supported types and the reason).
    """
    project = get_or_404(session, Project, delivery.project_id)
    supported = _flaggable()
    if project.task_type not in supported:
        why = UNFLAGGABLE.get(project.task_type, "the engine has no chunked flags for it")
        if project.task_type in FLAGGER_MODULES:
            why = "it has a flagger but no source of predictions (PREDICTION_SOURCES)"
        raise Invalid(
            f"model-label flags on deliveries support task types {supported} (a chunked "
            f"flagger on the model's predictions); project {project.id} is "
            f"{project.task_type!r}: {why}",
            location=("path", "delivery_id"),
            code="task_type_not_supported",
        )
    return project
