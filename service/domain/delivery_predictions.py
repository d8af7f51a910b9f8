"""Uploaded model predictions for a delivery of a structured task type: JSON Lines, by line.

For detection, segmentation, keypoints, spans and transcription the model's prediction for
an item has the form of a vendor's label for that task type
(:mod:`metrics.chunked_flags`): boxes, masks, poses or spans (a list of objects), or a
transcript. The file has one line per item::

    {"item_id": "<the vendor-facing item key>", "prediction": <label-shaped value>}

Each prediction goes through the checks a vendor label of the project's task type goes
through (:func:`service.domain.answer_checks.normalized`: shape, finite numbers, classes of
the ontology). Detection predictions also need a confidence ``score`` on every box, in
``[0, 1]`` (cleanlab ObjectLab weighs the model's boxes by it); for masks and poses it is
optional (objects below 0.5 are not claims; none: confident), and spans and transcripts
have none.

The file is read in blocks of lines (:func:`prediction_chunks`; memory: one block, and one
line of at most :data:`MAX_LINE_BYTES`), and :func:`bucket_predictions` sorts the checked
lines into the flag run's chunks of item positions through per-chunk spill files, so each
chunk job later reads only its own predictions (:func:`uploaded_predictions`).

Every refusal is :class:`~service.domain.errors.Invalid` (HTTP 422) naming the line (the
first line is line 1) and the field: a line that is not a JSON object, a missing or extra
field, an empty ``item_id``, a prediction that fails the label checks (the location goes
down to the object and its field), a box without its score, an item that is not the
delivery's, an item given twice (with both lines), a line that is too long.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
from sqlalchemy import select as sa_select
from sqlmodel import Session

from adapters.base import TaskType
from service.domain._common import table_of
from service.domain.answer_checks import normalized
from service.domain.delivery_probs import pack, unpack
from service.domain.errors import Invalid
from service.models import DeliveryItem

__all__ = [
    "MAX_LINE_BYTES",
    "PREDICTION_TASK_TYPES",
    "PredictionChunk",
    "prediction_chunks",
    "prediction_positions",
    "bucket_predictions",
    "uploaded_predictions",
]

#: The longest line read (a prediction with many large masks); longer is refused by line.
MAX_LINE_BYTES: Final = 16 * 1024 * 1024

#: The task types whose model predictions come as label-shaped JSON Lines.
PREDICTION_TASK_TYPES: Final = ("detection", "segmentation", "keypoints", "spans", "transcription")

_FIELDS: Final = ("item_id", "prediction")
_SOURCE: Final = "predictions"


@dataclass(frozen=True)
class PredictionChunk:
    """Checked consecutive lines: the first one's number, each one's item key and prediction
    (its stored JSON form); line ``first_line + n`` gave ``keys[n]``."""

    first_line: int
    keys: list[str]
    predictions: list[Any]

    def line(self, n: int) -> int:
        """The line number of entry ``n``."""
        return self.first_line + n


def _bad(line: int, field: str | None, message: str, *rest: str | int) -> Invalid:
    where = f"line {line}" + (f", field {field!r}" if field else "")
    loc: tuple[str | int, ...] = ("body", f"line {line}") + ((field,) if field else ()) + rest
    return Invalid(f"{_SOURCE}: {where}: {message}", location=loc)


def _scores(value: list[Any], line: int) -> None:
    """Detection: every box carries its confidence ``score`` in ``[0, 1]``."""
    for j, obj in enumerate(value):
        score = obj.get("score") if isinstance(obj, dict) else None
        if score is None:
            raise _bad(
                line,
                "prediction",
                f"box {j} has no confidence 'score' (the model's boxes are weighed by it)",
                j,
                "score",
            )
        if not (isinstance(score, int | float) and math.isfinite(score) and 0 <= score <= 1):
            raise _bad(line, "prediction", f"box {j}: score {score!r} is not in [0, 1]", j, "score")


def _check_line(
    raw: bytes, line: int, *, task_type: TaskType, classes: frozenset[str]
) -> tuple[str, Any]:
    try:
        record = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _bad(line, None, f"not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise _bad(line, None, f"expected an object {{'item_id', 'prediction'}}, got {raw[:60]!r}")
    for field in _FIELDS:
        if field not in record:
            raise _bad(line, field, "is missing")
    extra = sorted(set(record) - set(_FIELDS))
    if extra:
        raise _bad(line, str(extra[0]), f"is not a field of a prediction line (only {_FIELDS})")
    key = record["item_id"]
    if isinstance(key, bool) or not isinstance(key, str | int) or not str(key).strip():
        raise _bad(line, "item_id", f"must be a non-empty item key, got {key!r:.60}")
    try:
        value = normalized(
            record["prediction"],
            source=_SOURCE,
            where=f"line {line}",
            task_type=task_type,
            classes=classes,
        )
    except Invalid as exc:
        loc = tuple(
            "prediction" if x == "label" and i == 2 else x for i, x in enumerate(exc.location)
        )
        message = exc.message.replace(f"line {line}:", f"line {line}, field 'prediction':", 1)
        raise Invalid(message, location=loc) from exc
    if task_type == "detection":
        _scores(value, line)
    return str(key).strip(), value


def prediction_chunks(
    source: IO[bytes] | Path,
    *,
    task_type: TaskType,
    classes: Sequence[str],
    chunk_lines: int,
) -> Iterator[PredictionChunk]:
    """The file's lines in checked blocks of at most ``chunk_lines`` consecutive lines (a
    blank line is skipped and ends a block).

    Raises
    ------
    Invalid
        A bad line (see the module docstring), or a task type without label-shaped
        predictions.
    """
    if task_type not in PREDICTION_TASK_TYPES:
        raise Invalid(
            f"{_SOURCE}: label-shaped predictions are for {list(PREDICTION_TASK_TYPES)}, "
            f"not {task_type!r}",
            location=("path", "delivery_id"),
        )
    known = frozenset(classes)
    handle: IO[bytes]
    close = isinstance(source, Path)
    handle = source.open("rb") if isinstance(source, Path) else source
    if not close:
        handle.seek(0)
    try:
        block = PredictionChunk(1, [], [])
        line = 0
        while True:
            raw = handle.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            line += 1
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                raise _bad(line, None, f"is longer than {MAX_LINE_BYTES} bytes")
            if not raw.strip():  # a blank line ends a block: each block's lines are consecutive
                if block.keys:
                    yield block
                block = PredictionChunk(line + 1, [], [])
                continue
            key, value = _check_line(raw, line, task_type=task_type, classes=known)
            block.keys.append(key)
            block.predictions.append(value)
            if len(block.keys) >= chunk_lines:
                yield block
                block = PredictionChunk(line + 1, [], [])
        if block.keys:
            yield block
    finally:
        if close:
            handle.close()


def prediction_positions(
    session: Session, delivery_id: int, chunk: PredictionChunk
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(item ids, positions)`` of the block's keys; 422 naming the line of an unknown key."""
    item = table_of(DeliveryItem)
    found = {
        str(k): (int(i), int(p))
        for k, i, p in session.execute(
            sa_select(item.c.key, item.c.id, item.c.position)
            .where(item.c.delivery_id == delivery_id)
            .where(item.c.key.in_(sorted(set(chunk.keys))))
        ).all()
    }
    ids = np.empty(len(chunk.keys), dtype=np.int64)
    positions = np.empty(len(chunk.keys), dtype=np.int64)
    for n, key in enumerate(chunk.keys):
        hit = found.get(key)
        if hit is None:
            raise _bad(
                chunk.line(n), "item_id", f"{key[:80]!r} is not an item of delivery {delivery_id}"
            )
        ids[n], positions[n] = hit
    return ids, positions


def bucket_predictions(
    session: Session,
    delivery_id: int,
    source: IO[bytes] | Path,
    *,
    task_type: TaskType,
    classes: Sequence[str],
    n_positions: int,
    chunk_size: int,
    read_lines: int = 10_000,
) -> Iterator[tuple[int, bytes]]:
    """``(chunk number, blob)`` per chunk of ``chunk_size`` item positions with any lines.

    The lines are checked and appended to per-chunk spill files as the file is read (memory:
    one block of ``read_lines`` lines), then each chunk's lines are packed (``in_ids``: item
    ids; ``in_json``/``in_offsets``: each prediction's stored JSON, UTF-8) for its job. An
    item given twice is refused naming both lines.
    """
    seen = np.zeros(max(n_positions, 1), dtype=np.int64)  # the line that gave each position
    with tempfile.TemporaryDirectory(prefix="bakeoff-preds-") as spill:
        files: dict[int, IO[bytes]] = {}
        try:
            for part in prediction_chunks(
                source, task_type=task_type, classes=classes, chunk_lines=read_lines
            ):
                ids, positions = prediction_positions(session, delivery_id, part)
                for n, position in enumerate(positions.tolist()):
                    if seen[position]:
                        raise _bad(
                            part.line(n),
                            "item_id",
                            f"{part.keys[n][:80]!r} is given twice (first on line "
                            f"{int(seen[position])})",
                        )
                    seen[position] = part.line(n)
                    b = position // chunk_size
                    handle = files.get(b)
                    if handle is None:
                        handle = files[b] = open(Path(spill) / f"{b}.jsonl", "wb")  # noqa: SIM115
                    handle.write(json.dumps([int(ids[n]), part.predictions[n]]).encode() + b"\n")
        finally:
            for handle in files.values():
                handle.close()
        for b in sorted(files):
            item_ids: list[int] = []
            texts: list[bytes] = []
            with open(Path(spill) / f"{b}.jsonl", "rb") as handle:
                for raw in handle:
                    item_id, value = json.loads(raw)
                    item_ids.append(int(item_id))
                    texts.append(json.dumps(value).encode())
            offsets = np.zeros(len(texts) + 1, dtype=np.int64)
            offsets[1:] = np.cumsum([len(t) for t in texts])
            yield (
                b,
                pack(
                    in_ids=np.asarray(item_ids, dtype=np.int64),
                    in_offsets=offsets,
                    in_json=np.frombuffer(b"".join(texts), dtype=np.uint8),
                ),
            )


def uploaded_predictions(
    blob: bytes | None,
    ids: npt.NDArray[np.int64],
    labels: list[Any],
) -> tuple[npt.NDArray[np.int64], list[Any], list[Any], int]:
    """A chunk job's answers whose item has an uploaded prediction, and those predictions.

    ``blob`` is the chunk's packed lines (:func:`bucket_predictions`); ``ids``/``labels`` are
    per answer. Returns the kept ``(ids, labels, predictions)`` (one prediction per answer:
    an item's prediction repeats for each of its answers) and how many answered items the
    file left out (counted in the run, never silently scored).
    """
    if blob is None:
        return ids[:0], [], [], len(set(ids.tolist()))
    inputs = unpack(blob)
    data = np.asarray(inputs["in_json"], dtype=np.uint8).tobytes()
    offsets = np.asarray(inputs["in_offsets"], dtype=np.int64)
    row = {int(i): n for n, i in enumerate(np.asarray(inputs["in_ids"], dtype=np.int64))}
    keep: list[int] = []
    predictions: list[Any] = []
    decoded: dict[int, Any] = {}
    for a, item_id in enumerate(ids.tolist()):
        n = row.get(int(item_id))
        if n is None:
            continue
        if n not in decoded:
            decoded[n] = json.loads(data[offsets[n] : offsets[n + 1]])
        keep.append(a)
        predictions.append(decoded[n])
    missing = len({int(i) for i in ids.tolist()} - set(row))
    index = np.asarray(keep, dtype=np.int64)
    return ids[index], [labels[a] for a in keep], predictions, missing
