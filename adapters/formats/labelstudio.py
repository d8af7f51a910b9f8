"""Label Studio JSON: read exports, write import files, generate labeling configs.

A Label Studio export is one JSON array of *tasks*. Each task has ``data`` (what the
annotator sees), and ``annotations`` (one per annotator), each holding a ``result``
list of *regions*::

    [{"id": 12, "data": {"image": "s3://b/a.jpg", "item_id": "a"},
      "annotations": [{"id": 7, "completed_by": 3, "lead_time": 4.2,
                       "created_at": "2024-01-01T10:00:00Z",
                       "result": [{"type": "rectanglelabels", "from_name": "label",
                                   "to_name": "image", "original_width": 640,
                                   "original_height": 480,
                                   "value": {"x": 10, "y": 20, "width": 30, "height": 40,
                                             "rotation": 0, "rectanglelabels": ["cat"]}}]}]}]

Region types read, by task type:

============== ==================================================================
classification ``choices`` (exactly one choice) or ``taxonomy`` (one path; its leaf)
multilabel     ``choices`` and ``taxonomy`` leaves, in order, duplicates dropped
detection      ``rectanglelabels``: percent of ``original_width``/``original_height``
               → pixel COCO ``[x, y, w, h]`` (a rotated box is refused: its envelope is a
               different box)
segmentation   ``polygonlabels`` (percent points → one COCO polygon) and
               ``brushlabels`` (Label Studio's bit-packed RLE → COCO RLE)
spans          ``labels`` with ``start``/``end`` character offsets
preference     ``pairwise`` (``selected``: ``left`` → A, ``right`` → B) or one
               ``choices`` of A/B/tie (see :mod:`adapters.formats._labelstudio_language`)
keypoints      ``keypointlabels`` (one region per keypoint) grouped into poses by their
               ``parentID`` box (``rectanglelabels``: category and bbox), in the
               keypoint order the caller gives (``skeletons``)
============== ==================================================================

Ratings (``rating``, or ``choices`` read as numbers) and transcripts (``textarea``) are
read by :mod:`adapters.formats.labelstudio_language`.

``relation`` regions carry no label and are skipped; any other region type that does
not fit the task type is an error. Cancelled (skipped) annotations are not labels and
are dropped. Each annotation becomes one :class:`~adapters.base.VendorAnnotation`:
``annotator_id`` from ``completed_by`` (a user id, or the ``email`` of an expanded
user), ``completed_at`` from ``created_at``, ``started_at`` = ``completed_at -
lead_time``, ``external_id`` from the annotation ``id``. ``predictions`` are read
too (``annotator_id`` = ``model_version``, ``score`` from the prediction).

The item id is ``meta[id_field]`` (default ``"item_id"``; :func:`write_tasks` and
:func:`import_payload` put it there, outside what annotators see), else
``data[id_field]``; for exports of projects that were not created by Bakeoff it falls
back to the Label Studio task ``id``.

:func:`iter_gold` reads a golden set labeled by the expert in Label Studio: per task, the
one annotation, or the one marked ``ground_truth``.

Reading streams the top-level array element by element, so a 100,000-task export is
never held in memory as one parsed document. Every problem raises one
:class:`~adapters.formats.FormatError` naming the file, the place
(``[task 12].annotations[0].result[3].value.x``; ``12`` is the task's position in
the file, from 0) and what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import (
    TaskType,
    VendorAnnotation,
)
from adapters.formats._errors import FormatError
from adapters.formats._json_stream import ArrayReader, Source, open_source
from adapters.formats._labelstudio_brush import decode_brush_rle, encode_brush_rle
from adapters.formats._labelstudio_config import data_key_for, labeling_config
from adapters.formats._labelstudio_keypoints import skeletons_from_config
from adapters.formats._labelstudio_regions import (
    BRUSH_NAME,
    FROM_NAME,
    RawAnnotation,
    annotation_from_json,
    label_to_results,
    prediction_from_json,
    question_names,
    results_to_label,
    validate,
)
from adapters.formats.jsonl import GoldRecord

__all__ = [
    "FROM_NAME",
    "BRUSH_NAME",
    "GoldRecord",
    "LabelStudioTask",
    "iter_gold",
    "read_gold",
    "iter_tasks",
    "read_tasks",
    "iter_annotations",
    "write_tasks",
    "dump_tasks",
    "import_payload",
    "results_to_label",
    "label_to_results",
    "annotation_from_json",
    "labeling_config",
    "data_key_for",
    "decode_brush_rle",
    "encode_brush_rle",
    "skeletons_from_config",
]


class LabelStudioTask(BaseModel):
    """One Label Studio task as Bakeoff sees it.

    Parameters
    ----------
    item_id
        Bakeoff's item id (``meta[id_field]``, ``data[id_field]``, else the task id).
    data
        The task data as in the file.
    annotations
        One entry per non-cancelled annotation.
    predictions
        Model predictions attached to the task.
    ls_id
        Label Studio's own task id, when the file has one.
    metadata
        The task's ``meta`` without the item id (free fields, e.g. for slices).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    data: dict[str, Any]
    annotations: tuple[VendorAnnotation, ...] = ()
    predictions: tuple[VendorAnnotation, ...] = ()
    ls_id: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


class _RawTask(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int | None = None
    data: dict[str, Any]
    meta: dict[str, Any] | None = None
    annotations: list[Any] = Field(default_factory=list)
    predictions: list[Any] = Field(default_factory=list)


class _Questions:
    """The questions (``from_name``) a file answers, to refuse a named one it lacks."""

    def __init__(self, question: str | None) -> None:
        self.question = question
        self.names: set[str] = set()
        self.source = ""

    def add(self, source: str, annotations: list[Any], predictions: list[Any]) -> None:
        self.source = source
        if self.question is not None:
            self.names |= question_names([*annotations, *predictions])

    @property
    def missing(self) -> bool:
        """A question was named and no region read so far answers it."""
        return self.question is not None and self.question not in self.names

    def error(self) -> FormatError:
        there = ", ".join(repr(n) for n in sorted(self.names)) or "none"
        return FormatError(
            self.source,
            "",
            f"no region answers question {self.question!r}; the file's questions "
            f"(from_name): {there}",
        )

    def check(self) -> None:
        if self.missing and self.source:
            raise self.error()


def _iter_raw(
    source: Source, *, id_field: str, name: str | None
) -> Iterator[tuple[str, str, _RawTask, str]]:
    """Yield ``(file name, location, raw task, item id)``, checking ids are unique."""
    stream, default_name, owned = open_source(source)
    src = name or default_name
    seen: set[str] = set()
    try:
        for index, obj in ArrayReader(stream, src):
            where = f"[task {index}]"
            if not isinstance(obj, dict):
                raise FormatError(
                    src, where, f"a task must be a JSON object, got {type(obj).__name__}"
                )
            raw = validate(_RawTask, obj, source=src, where=where)
            meta = raw.meta or {}
            id_where = (
                f"{where}.meta.{id_field}" if id_field in meta else f"{where}.data.{id_field}"
            )
            ident = meta.get(id_field, raw.data.get(id_field))
            if ident is None:
                if raw.id is None:
                    raise FormatError(
                        src, where, f"no {id_field!r} in meta or data, and no task id"
                    )
                ident = raw.id
            if not isinstance(ident, str | int) or isinstance(ident, bool):
                raise FormatError(src, id_where, "item id must be a string or an integer")
            item_id = str(ident)
            if item_id in seen:
                raise FormatError(src, id_where, f"duplicate item id {item_id!r}")
            seen.add(item_id)
            yield src, where, raw, item_id
    finally:
        if owned:
            stream.close()


def _task_labels(
    raw: _RawTask,
    item_id: str,
    task_type: TaskType,
    src: str,
    where: str,
    include_predictions: bool,
    question: str | None,
    skeletons: Mapping[str, Sequence[str]] | None,
) -> tuple[list[VendorAnnotation], list[VendorAnnotation]]:
    annotations = []
    for k, a in enumerate(raw.annotations):
        ann = annotation_from_json(
            a,
            item_id=item_id,
            task_type=task_type,
            source=src,
            where=f"{where}.annotations[{k}]",
            question=question,
            skeletons=skeletons,
        )
        if ann is not None:
            annotations.append(ann)
    predictions = [
        prediction_from_json(
            p,
            item_id=item_id,
            task_type=task_type,
            source=src,
            where=f"{where}.predictions[{k}]",
            question=question,
            skeletons=skeletons,
        )
        for k, p in enumerate(raw.predictions if include_predictions else ())
    ]
    return annotations, predictions


def iter_tasks(
    source: Source,
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    name: str | None = None,
    include_predictions: bool = True,
    question: str | None = None,
    skeletons: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[LabelStudioTask]:
    """Stream the tasks of a Label Studio JSON export.

    Parameters
    ----------
    source
        A path, or a binary file object (an upload).
    task_type
        How to read each annotation's regions (see the module docstring).
    id_field
        The ``data`` key holding Bakeoff's item id; the Label Studio task ``id`` is
        used where it is absent.
    name
        The file name used in error messages (default: the path's name).
    include_predictions
        Read each task's ``predictions`` too; without it a prediction that could not be
        read (e.g. one lacking ``original_width``) does not stop the annotations.
    question
        The control (``from_name``) to read when the project asks several questions;
        without it, an answer to several classification questions is refused with their
        names. A question no region answers is an error listing those that are there.
    skeletons
        Keypoints: category -> keypoint names in order (``KeyPointLabels`` regions name
        their keypoint; see :mod:`adapters.formats._labelstudio_keypoints`).

    Yields
    ------
    LabelStudioTask

    Raises
    ------
    FormatError
        Malformed JSON, not UTF-8, a task or region of the wrong shape, or a duplicate
        item id; nothing after the error is yielded.

    Examples
    --------
    >>> import io
    >>> blob = b'[{"data": {"item_id": "a", "text": "ok"}, "annotations": [{"completed_by": 2,'
    >>> blob += b' "result": [{"type": "choices", "value": {"choices": ["pos"]}}]}]}]'
    >>> [t.annotations[0].label for t in iter_tasks(io.BytesIO(blob), task_type="classification")]
    ['pos']
    """
    seen = _Questions(question)
    for src, where, raw, item_id in _iter_raw(source, id_field=id_field, name=name):
        seen.add(src, raw.annotations, raw.predictions if include_predictions else [])
        try:
            annotations, predictions = _task_labels(
                raw, item_id, task_type, src, where, include_predictions, question, skeletons
            )
        except FormatError as exc:
            if seen.missing:  # the likely cause: a question the file does not ask
                raise seen.error() from exc
            raise
        yield LabelStudioTask(
            item_id=item_id,
            data=raw.data,
            annotations=tuple(annotations),
            predictions=tuple(predictions),
            ls_id=raw.id,
            metadata={k: v for k, v in (raw.meta or {}).items() if k != id_field},
        )
    seen.check()


def read_tasks(
    source: Source, *, task_type: TaskType, id_field: str = "item_id", name: str | None = None
) -> list[LabelStudioTask]:
    """Read a whole Label Studio export; see :func:`iter_tasks`."""
    return list(iter_tasks(source, task_type=task_type, id_field=id_field, name=name))


def iter_gold(
    source: Source,
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    name: str | None = None,
    question: str | None = None,
    skeletons: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[GoldRecord]:
    """Stream a golden set labeled by the expert in Label Studio.

    Each task must carry the expert's answer: its one non-cancelled annotation, or, when
    several annotators worked on it, the one marked ``ground_truth``. ``meta`` fields
    other than the item id become the record's ``metadata`` (used for slices).

    Parameters
    ----------
    source, task_type, id_field, name, question, skeletons
        As for :func:`iter_tasks`.

    Yields
    ------
    GoldRecord

    Raises
    ------
    FormatError
        As :func:`iter_tasks`, and for a task without an expert answer or with several
        candidates for it.
    """
    seen = _Questions(question)
    for src, where, raw, item_id in _iter_raw(source, id_field=id_field, name=name):
        seen.add(src, raw.annotations, [])
        candidates: list[tuple[int, Any]] = []
        truth: list[tuple[int, Any]] = []
        for k, obj in enumerate(raw.annotations):
            ann = validate(RawAnnotation, obj, source=src, where=f"{where}.annotations[{k}]")
            if ann.was_cancelled:
                continue
            candidates.append((k, obj))
            if ann.ground_truth:
                truth.append((k, obj))
        chosen = truth or candidates
        if len(chosen) != 1:
            problem = (
                "no annotation; a golden item needs the expert's answer"
                if not chosen
                else f"{len(chosen)} annotations and none (or several) marked ground_truth; "
                "mark the expert's answer as ground truth"
            )
            raise FormatError(src, f"{where}.annotations", problem)
        k, obj = chosen[0]
        try:
            label = results_to_label(
                validate(RawAnnotation, obj, source=src, where=f"{where}.annotations[{k}]").result,
                task_type=task_type,
                source=src,
                where=f"{where}.annotations[{k}].result",
                question=question,
                skeletons=skeletons,
            )
        except FormatError as exc:
            if seen.missing:  # the likely cause: a question the file does not ask
                raise seen.error() from exc
            raise
        metadata = {key: v for key, v in (raw.meta or {}).items() if key != id_field}
        yield GoldRecord(item_id=item_id, label=label, data=raw.data, metadata=metadata)
    seen.check()


def read_gold(
    source: Source,
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    name: str | None = None,
    question: str | None = None,
    skeletons: Mapping[str, Sequence[str]] | None = None,
) -> list[GoldRecord]:
    """Read a whole golden set from a Label Studio export; see :func:`iter_gold`."""
    return list(
        iter_gold(
            source,
            task_type=task_type,
            id_field=id_field,
            name=name,
            question=question,
            skeletons=skeletons,
        )
    )


def iter_annotations(
    source: Source,
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    name: str | None = None,
    include_predictions: bool = False,
    question: str | None = None,
    skeletons: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[VendorAnnotation]:
    """Stream every annotation of an export (vendor labels), optionally with predictions;
    ``question`` and ``skeletons`` as in :func:`iter_tasks`."""
    for task in iter_tasks(
        source,
        task_type=task_type,
        id_field=id_field,
        name=name,
        include_predictions=include_predictions,
        question=question,
        skeletons=skeletons,
    ):
        yield from task.annotations
        if include_predictions:
            yield from task.predictions


def _image_size(
    item_id: str, data: Mapping[str, Any], sizes: Mapping[str, tuple[int, int]] | None
) -> tuple[float, float]:
    if sizes is not None and item_id in sizes:
        sw, sh = sizes[item_id]
        return float(sw), float(sh)
    w, h = data.get("width"), data.get("height")
    if isinstance(w, int | float) and isinstance(h, int | float) and w > 0 and h > 0:
        return float(w), float(h)
    raise ValueError(
        f"item {item_id!r}: the image size is needed to write percent coordinates; "
        "pass image_sizes={item_id: (width, height)} or put width/height in its data"
    )


def _iso(ts: datetime) -> str:
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _completed_by(annotator_id: str | None) -> int | dict[str, str] | None:
    if annotator_id is None:
        return None
    if annotator_id.isdigit():
        return int(annotator_id)
    return {"email": annotator_id}


def _annotation_json(
    ann: VendorAnnotation,
    *,
    task_type: TaskType,
    to_name: str,
    image_size: tuple[float, float] | None,
    text: str | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "result": label_to_results(
            ann.label, task_type=task_type, to_name=to_name, image_size=image_size, text=text
        ),
        "was_cancelled": False,
    }
    if ann.external_id is not None and ann.external_id.isdigit():
        out["id"] = int(ann.external_id)
    completed_by = _completed_by(ann.annotator_id)
    if completed_by is not None:
        out["completed_by"] = completed_by
    if ann.completed_at is not None:
        out["created_at"] = out["updated_at"] = _iso(ann.completed_at)
        if ann.started_at is not None:
            out["lead_time"] = (ann.completed_at - ann.started_at).total_seconds()
    return out


def import_payload(
    item_id: str, data: Mapping[str, Any], *, id_field: str = "item_id"
) -> dict[str, Any]:
    """One task to import into Label Studio: the item's data as is, its id in ``meta``.

    Never a label. Label Studio keeps ``meta`` and returns it in exports, and annotators
    do not see it.

    Examples
    --------
    >>> import_payload("i1", {"image": "a.png"})
    {'data': {'image': 'a.png'}, 'meta': {'item_id': 'i1'}}
    """
    return {"data": dict(data), "meta": {id_field: item_id}}


def dump_tasks(
    tasks: Iterable[LabelStudioTask],
    *,
    task_type: TaskType,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    id_field: str = "item_id",
) -> Iterator[dict[str, Any]]:
    """Yield each task as a JSON-ready Label Studio task object (see :func:`write_tasks`)."""
    for task in tasks:
        out = import_payload(task.item_id, task.data, id_field=id_field)
        out["meta"] = {**task.metadata, **out["meta"]}
        if task.ls_id is not None:
            out["id"] = task.ls_id
        to_name = data_key_for(task_type, task.data)
        needs_size = task_type in ("detection", "segmentation")
        size = None
        if needs_size and (task.annotations or task.predictions):
            size = _image_size(task.item_id, task.data, image_sizes)
        text = task.data.get(to_name) if task_type == "spans" else None
        text = text if isinstance(text, str) else None
        if task.annotations:
            out["annotations"] = [
                _annotation_json(
                    a, task_type=task_type, to_name=to_name, image_size=size, text=text
                )
                for a in task.annotations
            ]
        if task.predictions:
            preds = []
            for p in task.predictions:
                pred: dict[str, Any] = {
                    "result": label_to_results(
                        p.label, task_type=task_type, to_name=to_name, image_size=size, text=text
                    )
                }
                if p.annotator_id is not None:
                    pred["model_version"] = p.annotator_id
                if p.score is not None:
                    pred["score"] = p.score
                preds.append(pred)
            out["predictions"] = preds
        yield out


def write_tasks(
    tasks: Iterable[LabelStudioTask],
    out: str | os.PathLike[str] | IO[str],
    *,
    task_type: TaskType,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    id_field: str = "item_id",
) -> int:
    """Write tasks as a Label Studio JSON file that Label Studio can import.

    Tasks are written one at a time (streaming). Boxes and masks need each image's
    pixel size: from ``image_sizes[item_id]`` or the task data's ``width``/``height``.

    Parameters
    ----------
    tasks
        What to write; tasks without annotations are plain import tasks.
    out
        A path or a text file object.
    task_type
        The project's task type.
    image_sizes
        ``{item_id: (width, height)}`` in pixels.
    id_field
        The ``data`` key that receives the item id.

    Returns
    -------
    int
        The number of tasks written.
    """
    if isinstance(out, str | os.PathLike):
        with Path(out).open("w", encoding="utf-8") as fh:
            return write_tasks(
                tasks, fh, task_type=task_type, image_sizes=image_sizes, id_field=id_field
            )
    count = 0
    out.write("[")
    for obj in dump_tasks(tasks, task_type=task_type, image_sizes=image_sizes, id_field=id_field):
        out.write(",\n" if count else "\n")
        out.write(json.dumps(obj, ensure_ascii=False, allow_nan=False))
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count
