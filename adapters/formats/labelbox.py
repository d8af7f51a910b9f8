"""Labelbox NDJSON export (v2): one data row per line, its labels per project.

Read per task type (facts from Labelbox's export format documentation):

============== ==============================================================================
classification one question's ``radio_answer.name`` (pick it with ``question`` when a
               project asks several; the error lists them)
multilabel     one question's ``checklist_answers[].name``
detection      ``objects`` of kind ``ImageBoundingBox``: pixel ``left, top, width, height``
segmentation   ``objects`` of kind ``ImagePolygon`` (``polygon``: ``[{x, y}, ...]``)
spans          ``objects`` of kind ``TextEntity``: ``location.start`` and ``location.end``,
               *inclusive* in Labelbox (the last character), so ``end + 1`` here
============== ==============================================================================

The item id is the data row's ``global_key`` (else ``external_id``, else its Labelbox ``id``).
Each label of a data row is one annotator's answer (``label_details.created_by`` when exported,
else the label's ``id``). A data row without an answer to the chosen question gives no label
and is counted in the notes; an export of several projects is refused unless ``project`` names
one (by id or name).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from typing import Any

from adapters.base import Box, LabelValue, Mask, Span, TaskType, VendorAnnotation
from adapters.formats._errors import FormatError
from adapters.formats.jsonl import _lines

__all__ = ["labelbox_annotations"]

_OBJECT_KINDS: dict[str, str] = {
    "detection": "ImageBoundingBox",
    "segmentation": "ImagePolygon",
    "spans": "TextEntity",
}


def _finite(v: Any, *, source: str, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or v != v or abs(v) == float("inf"):
        raise FormatError(source, where, f"must be a finite number, got {v!r}")
    return float(v)


def _object(o: Mapping[str, Any], task_type: TaskType, *, source: str, where: str) -> Any:
    name = o.get("name") or o.get("value")
    if not isinstance(name, str):
        raise FormatError(source, f"{where}.name", "missing the class name")
    if task_type == "detection":
        box = o.get("bounding_box")
        if not isinstance(box, Mapping):
            raise FormatError(source, f"{where}.bounding_box", "missing")
        left, top, width, height = (
            _finite(box.get(k), source=source, where=f"{where}.bounding_box.{k}")
            for k in ("left", "top", "width", "height")
        )
        if width < 0 or height < 0:
            raise FormatError(source, f"{where}.bounding_box", "width and height must be >= 0")
        return Box(category=name, bbox=(left, top, width, height))
    if task_type == "segmentation":
        points = o.get("polygon")
        if not isinstance(points, list) or len(points) < 3:
            raise FormatError(source, f"{where}.polygon", "needs at least three {x, y} points")
        flat: list[float] = []
        for k, p in enumerate(points):
            if not isinstance(p, Mapping):
                raise FormatError(source, f"{where}.polygon[{k}]", "must be {x, y}")
            flat += [
                _finite(p.get(c), source=source, where=f"{where}.polygon[{k}].{c}")
                for c in ("x", "y")
            ]
        return Mask(category=name, segmentation=[flat])
    location = o.get("location")
    start = location.get("start") if isinstance(location, Mapping) else None
    end = location.get("end") if isinstance(location, Mapping) else None
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end):
        raise FormatError(source, f"{where}.location", "needs integer start <= end")
    return Span(start=start, end=end + 1, type=name)


def _classes(
    classifications: list[Any], question: str, task_type: TaskType, *, source: str, where: str
) -> LabelValue | None:
    for c in classifications:
        if isinstance(c, Mapping) and question in (c.get("name"), c.get("value")):
            if task_type == "classification":
                answer = c.get("radio_answer")
                if not isinstance(answer, Mapping) or not isinstance(answer.get("name"), str):
                    raise FormatError(source, where, f"question {question!r} has no radio answer")
                return str(answer["name"])
            answers = c.get("checklist_answers")
            if not isinstance(answers, list):
                raise FormatError(source, where, f"question {question!r} has no checklist answers")
            return list(
                dict.fromkeys(str(a.get("name")) for a in answers if isinstance(a, Mapping))
            )
    return None


def _questions(rows: list[tuple[str, int, dict[str, Any]]]) -> list[str]:
    names: set[str] = set()
    for _, _, record in rows:
        for project in (record.get("projects") or {}).values():
            for label in project.get("labels", []):
                for c in label.get("annotations", {}).get("classifications", []):
                    if isinstance(c, Mapping) and isinstance(c.get("name"), str):
                        names.add(c["name"])
    return sorted(names)


def _project_labels(
    record: Mapping[str, Any], project: str | None, *, source: str, where: str
) -> list[Any]:
    projects = record.get("projects")
    if not isinstance(projects, Mapping) or not projects:
        raise FormatError(source, f"{where}.projects", "no project labels in this data row")
    if project is not None:
        chosen = [p for pid, p in projects.items() if project in (pid, p.get("name"))]
    elif len(projects) == 1:
        chosen = list(projects.values())
    else:
        names = sorted(str(p.get("name", pid)) for pid, p in projects.items())
        raise FormatError(
            source,
            f"{where}.projects",
            f"labels of {len(projects)} projects {names}: name the one to score",
        )
    labels = chosen[0].get("labels", []) if chosen else []
    return labels if isinstance(labels, list) else []


def labelbox_annotations(
    path: str | os.PathLike[str],
    *,
    task_type: TaskType,
    question: str | None = None,
    project: str | None = None,
) -> tuple[list[VendorAnnotation], tuple[str, ...]]:
    """A Labelbox export as annotations (one per label), with notes on rows without answers.

    Raises
    ------
    FormatError
        Several projects or questions and none named, or a malformed object.
    """
    rows = list(_lines(path, None))
    if task_type in ("classification", "multilabel") and question is None:
        asked = _questions(rows)
        if len(asked) != 1:
            raise FormatError(
                os.fspath(path).rsplit("/", 1)[-1],
                "",
                f"the export asks {len(asked)} questions {asked}: name the one to score",
            )
        question = asked[0]
    out: list[VendorAnnotation] = []
    unanswered: Counter[str] = Counter()
    skipped: Counter[str] = Counter()  # objects of kinds the task type does not read
    n_read = 0
    for source, number, record in rows:
        where = f"line {number}"
        row = record.get("data_row")
        if not isinstance(row, Mapping):
            raise FormatError(source, f"{where}.data_row", "missing")
        item = row.get("global_key") or row.get("external_id") or row.get("id")
        if not isinstance(item, str) or not item:
            raise FormatError(source, f"{where}.data_row", "no global_key, external_id or id")
        for k, label in enumerate(_project_labels(record, project, source=source, where=where)):
            at = f"{where}.labels[{k}]"
            annotations = label.get("annotations", {}) if isinstance(label, Mapping) else {}
            details = label.get("label_details") or {}
            who = details.get("created_by") or label.get("id")
            value: LabelValue | None
            if task_type in _OBJECT_KINDS:
                kind = _OBJECT_KINDS[task_type]
                objects = annotations.get("objects", [])
                value = [
                    _object(o, task_type, source=source, where=f"{at}.objects[{j}]")
                    for j, o in enumerate(objects)
                    if isinstance(o, Mapping) and o.get("annotation_kind") == kind
                ]
                n_read += len(value)
                skipped.update(
                    str(o.get("annotation_kind"))
                    for o in objects
                    if isinstance(o, Mapping) and o.get("annotation_kind") != kind
                )
            else:
                value = _classes(
                    annotations.get("classifications", []),
                    question or "",
                    task_type,
                    source=source,
                    where=at,
                )
            if value is None:
                unanswered[question or ""] += 1
                continue
            out.append(
                VendorAnnotation(
                    item_id=item, label=value, annotator_id=None if who is None else str(who)
                )
            )
    if task_type in _OBJECT_KINDS and out and n_read == 0 and not skipped and _questions(rows):
        # every label answers questions and none drew an object: not a file of this task type
        raise FormatError(
            os.fspath(path).rsplit("/", 1)[-1],
            "",
            f"no label draws an object ({_OBJECT_KINDS[task_type]} for {task_type}); the "
            f"labels answer questions {_questions(rows)}: score them as classification or "
            "multilabel",
        )
    notes = tuple(
        f"{n} label(s) give no answer to {q!r}; those data rows have no label"
        for q, n in unanswered.items()
    ) + tuple(
        f"{n} {kind} object(s) skipped: {task_type} reads {_OBJECT_KINDS[task_type]} objects"
        for kind, n in sorted(skipped.items())
    )
    return out, notes
