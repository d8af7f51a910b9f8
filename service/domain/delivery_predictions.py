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

The file is read in blocks of consecutive lines (:func:`prediction_chunks`; memory: one
block, and one line of at most :data:`MAX_LINE_BYTES`). It is the upload reader of the
formats ``<task type>_json_lines`` (:data:`service.domain.delivery_probs.UPLOAD_READERS`):
:func:`~service.domain.delivery_probs.bucket_by_chunk` sorts the checked lines into the flag
run's chunks of item positions through per-chunk spill files, so each chunk job reads only
its own predictions.

Every refusal is :class:`~service.domain.errors.Invalid` (HTTP 422) naming the line (the
first line is line 1) and the field: a line that is not a JSON object, a missing or extra
field, an empty ``item_id``, a prediction that fails the label checks (the location goes
down to the object and its field), a box without its score, a line that is too long; an item
that is not the delivery's or is given twice is refused by the bucketing, naming the line
(as "row", the word the CSV formats share).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any, Final

from adapters.base import TaskType
from service.domain.answer_checks import normalized
from service.domain.delivery_probs import PredictionChunk
from service.domain.errors import Invalid

__all__ = [
    "MAX_LINE_BYTES",
    "PREDICTION_TASK_TYPES",
    "prediction_chunks",
]

#: The longest line read (a prediction with many large masks); longer is refused by line.
MAX_LINE_BYTES: Final = 16 * 1024 * 1024

#: The task types whose model predictions come as label-shaped JSON Lines.
PREDICTION_TASK_TYPES: Final = ("detection", "segmentation", "keypoints", "spans", "transcription")

_FIELDS: Final = ("item_id", "prediction")
_SOURCE: Final = "predictions"


class _Block:
    """Consecutive checked lines being gathered."""

    def __init__(self, first_line: int) -> None:
        self.first_line = first_line
        self.keys: list[str] = []
        self.predictions: list[Any] = []

    def chunk(self) -> PredictionChunk:
        return PredictionChunk(self.first_line, self.keys, self.predictions)


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
        block = _Block(1)
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
                    yield block.chunk()
                block = _Block(line + 1)
                continue
            key, value = _check_line(raw, line, task_type=task_type, classes=known)
            block.keys.append(key)
            block.predictions.append(value)
            if len(block.keys) >= chunk_lines:
                yield block.chunk()
                block = _Block(line + 1)
        if block.keys:
            yield block.chunk()
    finally:
        if close:
            handle.close()
