"""Prodigy JSONL (``prodigy db-out``): accepted text classification and NER answers.

One task per line; Prodigy records the annotator's decision in ``answer``::

    {"text": "My favorite city is London.", "spans": [{"start": 20, "end": 26,
      "label": "GPE"}], "answer": "accept", "_annotator_id": "news-alice"}
    {"text": "Great price.", "label": "POSITIVE", "answer": "accept"}        # binary textcat
    {"text": "...", "options": [{"id": "A"}, {"id": "B"}], "accept": ["B"],
     "answer": "accept"}                                                    # choice

Only ``answer == "accept"`` is a label: ``reject`` of a binary question says what the item is
*not*, and ``ignore`` says nothing, so both are skipped and counted in the returned notes.
Spans come from ``spans`` (``ner``, ``ner_manual``, ``spans_manual``), classes from
``accept`` (choice interfaces) or ``label`` (binary textcat). The annotator is
``_annotator_id`` (else ``_session_id``). Items are found as in
:mod:`adapters.formats._text_items`.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from adapters.base import LabelValue, Span, TaskType, VendorAnnotation
from adapters.formats._errors import FormatError
from adapters.formats._text_items import item_id_of
from adapters.formats.jsonl import _lines

__all__ = ["prodigy_annotations", "write_prodigy"]


def _spans(record: Mapping[str, Any], *, source: str, where: str) -> list[Span]:
    if "spans" not in record and ("label" in record or "options" in record):
        # a textcat/choice answer: read as spans it would say "no entities" on every text
        raise FormatError(
            source,
            where,
            "a Prodigy text classification answer (label or options, no spans) cannot be a "
            "spans label; score it as classification or multilabel",
        )
    spans = record.get("spans", [])
    if not isinstance(spans, list):
        raise FormatError(source, f"{where}.spans", "must be a list")
    out = []
    for k, s in enumerate(spans):
        ok = isinstance(s, Mapping) and all(isinstance(s.get(f), int) for f in ("start", "end"))
        if not ok or not isinstance(s.get("label"), str) or not 0 <= s["start"] <= s["end"]:
            raise FormatError(
                source, f"{where}.spans[{k}]", f"needs start <= end and a label, got {s!r}"
            )
        out.append(Span(start=s["start"], end=s["end"], type=s["label"]))
    return out


def _classes(record: Mapping[str, Any], *, source: str, where: str) -> list[str]:
    if "accept" in record:
        accepted = record["accept"]
        if not isinstance(accepted, list):
            raise FormatError(source, f"{where}.accept", "must be a list of option ids")
        return [str(a) for a in accepted]
    if isinstance(record.get("label"), str):
        return [record["label"]]
    raise FormatError(source, where, "an accepted text classification needs 'accept' or 'label'")


def _label(
    record: Mapping[str, Any], task_type: TaskType, *, source: str, where: str
) -> LabelValue:
    if task_type == "spans":
        return _spans(record, source=source, where=where)
    if task_type not in ("classification", "multilabel"):
        raise FormatError(
            source, "", f"Prodigy text answers carry classes or spans, not {task_type}"
        )
    classes = list(dict.fromkeys(_classes(record, source=source, where=where)))
    if task_type == "multilabel":
        return classes
    if len(classes) != 1:
        raise FormatError(source, where, f"classification needs one accepted class, got {classes}")
    return classes[0]


def prodigy_annotations(
    path: str | os.PathLike[str],
    *,
    task_type: TaskType,
    id_field: str = "item_id",
    items_by_text: Mapping[str, str | None] | None = None,
    annotator_id: str | None = None,
) -> tuple[list[VendorAnnotation], tuple[str, ...]]:
    """Accepted answers as annotations, and notes on what was skipped.

    Raises
    ------
    FormatError
        Invalid JSON, an answer that does not fit the task type, an item that cannot be
        found, or one item accepted twice by the same annotator.
    """
    out: list[VendorAnnotation] = []
    skipped: Counter[str] = Counter()
    seen: set[tuple[str, str | None]] = set()
    for source, number, record in _lines(path, None):
        where = f"line {number}"
        answer = record.get("answer")
        if answer != "accept":
            skipped[str(answer)] += 1
            continue
        who_raw = record.get("_annotator_id", record.get("_session_id", annotator_id))
        who = None if who_raw is None else str(who_raw)
        item = item_id_of(
            record, id_field=id_field, items_by_text=items_by_text, source=source, where=where
        )
        if (item, who) in seen:
            raise FormatError(source, where, f"item {item!r} is accepted twice by {who!r}")
        seen.add((item, who))
        out.append(
            VendorAnnotation(
                item_id=item,
                label=_label(record, task_type, source=source, where=where),
                annotator_id=who,
            )
        )
    notes = tuple(
        f"skipped {n} answer(s) of {a!r} (only 'accept' is a label)"
        for a, n in sorted(skipped.items())
    )
    return out, notes


def _options(classes: Sequence[str] | None, used: Iterable[str]) -> list[dict[str, str]]:
    """The choice options: ``classes`` in their order, then any other class a label uses."""
    names = list(dict.fromkeys([*(classes or []), *used]))
    return [{"id": c, "text": c} for c in names]


def write_prodigy(
    annotations: Iterable[VendorAnnotation],
    *,
    task_type: TaskType,
    texts: Mapping[str, str] | None = None,
    classes: Sequence[str] | None = None,
    id_field: str = "item_id",
) -> bytes:
    """A Prodigy JSONL file of accepted answers, as ``prodigy db-in`` reads it back.

    Each line has the item id (``id_field``, so :func:`prodigy_annotations` finds the item
    without guessing from the text), the item's ``text`` from ``texts`` where known,
    ``"answer": "accept"`` and the annotator as ``_annotator_id`` when there is one. Spans go
    under ``spans`` (``{"start", "end", "label"}``, as ``ner_manual`` writes them); classes
    as a choice task: ``options`` (``classes`` in their order, then any other class used) and
    the chosen ids under ``accept``, one for classification, any number for multilabel. Every
    line offers the same options.

    Raises
    ------
    FormatError
        A task type Prodigy's text recipes do not hold, a label of the wrong shape, or one
        item answered twice by the same annotator.
    """
    if task_type not in ("classification", "multilabel", "spans"):
        raise FormatError(
            "prodigy", "", f"Prodigy text answers hold classes or spans, not {task_type}"
        )
    rows = list(annotations)
    used: list[str] = []
    for ann in rows:
        if isinstance(ann.label, str):
            used.append(ann.label)
        elif isinstance(ann.label, list):
            used.extend(c for c in ann.label if isinstance(c, str))
    out: list[str] = []
    seen: set[tuple[str, str | None]] = set()
    for ann in rows:
        if (ann.item_id, ann.annotator_id) in seen:
            raise FormatError(
                "prodigy", ann.item_id, f"answered twice by annotator {ann.annotator_id!r}"
            )
        seen.add((ann.item_id, ann.annotator_id))
        label = ann.label
        record: dict[str, Any] = {id_field: ann.item_id}
        if texts is not None and ann.item_id in texts:
            record["text"] = texts[ann.item_id]
        if task_type == "spans":
            if not isinstance(label, list) or not all(isinstance(s, Span) for s in label):
                raise FormatError("prodigy", ann.item_id, "spans must be a list of spans")
            record["spans"] = [
                {"start": s.start, "end": s.end, "label": s.type}
                for s in label
                if isinstance(s, Span)
            ]
        else:
            if task_type == "classification" and isinstance(label, str):
                chosen = [label]
            elif (
                task_type == "multilabel"
                and isinstance(label, list)
                and all(isinstance(c, str) for c in label)
            ):
                chosen = [str(c) for c in label]
            else:
                raise FormatError(
                    "prodigy",
                    ann.item_id,
                    f"a {task_type} label must be class names, got {label!r}",
                )
            record["options"] = _options(classes, used)
            record["accept"] = chosen
        record["answer"] = "accept"
        if ann.annotator_id is not None:
            record["_annotator_id"] = ann.annotator_id
        out.append(json.dumps(record, ensure_ascii=False))
    return "".join(f"{line}\n" for line in out).encode("utf-8")
