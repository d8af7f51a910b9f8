"""doccano JSONL exports: text classification and sequence labelling.

One JSON object per line, as doccano exports and imports them::

    {"text": "Terrible customer service.", "label": ["negative"]}
    {"text": "EU rejects German call", "label": [[0, 2, "ORG"], [11, 17, "MISC"]]}
    {"text": "Google was founded ...", "entities": [{"id": 4, "label": "ORG",
                                                   "start_offset": 0, "end_offset": 6}]}

``label`` (or ``labels``, its older name) is a list of class names for classification and
multilabel, a list of ``[start, end, type]`` for spans; newer exports put spans under
``entities``. A project with collaborative annotation exports one file per user in a zip;
each file's stem (the user name) becomes the annotator id. Items are found as in
:mod:`adapters.formats._text_items`.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from adapters.base import LabelValue, Span, TaskType, VendorAnnotation
from adapters.formats._errors import FormatError
from adapters.formats._text_items import item_id_of
from adapters.formats.jsonl import _lines

__all__ = ["doccano_annotations", "write_doccano"]


def _files(path: Path) -> Iterator[tuple[str, str | None, bytes]]:
    """``(file name, annotator or None, content)``: one file, or one per user in a zip."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for name in sorted(archive.namelist()):
                if name.endswith((".jsonl", ".json")):
                    yield name, PurePosixPath(name).stem, archive.read(name)
        return
    yield path.name, None, path.read_bytes()


def _span(raw: Any, *, source: str, where: str) -> Span:
    if isinstance(raw, list) and len(raw) == 3:
        start, end, kind = raw
    elif isinstance(raw, Mapping):
        start, end, kind = raw.get("start_offset"), raw.get("end_offset"), raw.get("label")
    else:
        raise FormatError(source, where, f"a span is [start, end, type], got {raw!r}")
    if not (isinstance(start, int) and isinstance(end, int) and isinstance(kind, str)):
        raise FormatError(source, where, f"a span needs integer offsets and a type, got {raw!r}")
    if not 0 <= start <= end:
        raise FormatError(source, where, f"offsets must satisfy 0 <= start <= end, got {raw!r}")
    return Span(start=start, end=end, type=kind)


def _label(
    record: Mapping[str, Any], task_type: TaskType, *, source: str, where: str
) -> LabelValue:
    raw = record.get("label", record.get("labels"))
    if task_type == "spans":
        spans = record.get("entities", raw if raw is not None else [])
        if not isinstance(spans, list):
            raise FormatError(source, f"{where}.label", "must be a list of spans")
        return [_span(s, source=source, where=f"{where}.label[{k}]") for k, s in enumerate(spans)]
    if task_type not in ("classification", "multilabel"):
        raise FormatError(
            source, "", f"doccano text exports carry classes or spans, not {task_type}"
        )
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise FormatError(source, f"{where}.label", f"must be a list of class names, got {raw!r}")
    if task_type == "multilabel":
        return list(dict.fromkeys(raw))
    if len(raw) != 1:
        raise FormatError(source, f"{where}.label", f"classification needs one class, got {raw}")
    return str(raw[0])


def doccano_annotations(
    path: str | os.PathLike[str],
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    items_by_text: Mapping[str, str | None] | None = None,
    annotator_id: str | None = None,
) -> list[VendorAnnotation]:
    """A doccano export (one JSONL file, or a zip of one file per user) as annotations.

    Raises
    ------
    FormatError
        Invalid JSON, a label that does not fit the task type, an item that cannot be found,
        or one item answered twice by the same user.
    """
    out: list[VendorAnnotation] = []
    seen: set[tuple[str, str | None]] = set()
    for name, user, content in _files(Path(path)):
        who = user or annotator_id
        for source, number, record in _lines(io.BytesIO(content), name):
            where = f"line {number}"
            item = item_id_of(
                record, id_field=id_field, items_by_text=items_by_text, source=source, where=where
            )
            if (item, who) in seen:
                raise FormatError(source, where, f"item {item!r} is answered twice")
            seen.add((item, who))
            label = _label(record, task_type, source=source, where=where)
            out.append(VendorAnnotation(item_id=item, label=label, annotator_id=who))
    return out


def write_doccano(
    annotations: Iterable[VendorAnnotation],
    *,
    task_type: TaskType,
    texts: Mapping[str, str] | None = None,
    id_field: str = "item_id",
) -> bytes:
    """A doccano JSONL file: one line per answer, as doccano imports and exports them.

    Each line has the item id (``id_field``, so :func:`doccano_annotations` finds the item
    without guessing from the text), the item's ``text`` from ``texts`` where known, and
    ``label``: ``[class]`` for classification, the classes for multilabel, ``[[start, end,
    type], ...]`` for spans.

    Raises
    ------
    FormatError
        A task type doccano's text projects do not hold, or a label of the wrong shape.
    """
    if task_type not in ("classification", "multilabel", "spans"):
        raise FormatError(
            "doccano", "", f"doccano text exports hold classes or spans, not {task_type}"
        )
    out: list[str] = []
    seen: set[str] = set()
    for ann in annotations:
        if ann.item_id in seen:
            raise FormatError(
                "doccano", ann.item_id, "answered twice: one file holds one annotator's answers"
            )
        seen.add(ann.item_id)
        label = ann.label
        value: list[Any]
        if task_type == "spans":
            if not isinstance(label, list) or not all(isinstance(s, Span) for s in label):
                raise FormatError("doccano", ann.item_id, "spans must be a list of spans")
            value = [[s.start, s.end, s.type] for s in label if isinstance(s, Span)]
        elif isinstance(label, str):
            value = [label]
        elif isinstance(label, list) and all(isinstance(c, str) for c in label):
            value = list(label)
        else:
            raise FormatError("doccano", ann.item_id, f"a {task_type} label is class names")
        record: dict[str, Any] = {id_field: ann.item_id}
        if texts is not None and ann.item_id in texts:
            record["text"] = texts[ann.item_id]
        record["label"] = value
        out.append(json.dumps(record, ensure_ascii=False))
    return "".join(f"{line}\n" for line in out).encode("utf-8")
