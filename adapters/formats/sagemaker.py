"""SageMaker Ground Truth output manifests (JSON Lines), one labelled object per line.

Each line carries the data reference (``source-ref`` for images, ``source`` for text) and the
job's label under a *label attribute* named after the job, with a ``<attribute>-metadata``
sibling whose ``type`` says what the label is::

    {"source-ref": "s3://b/images/000139.jpg",
     "yolo-bbox": {"image_size": [{"width": 640, "height": 426, "depth": 3}],
                   "annotations": [{"class_id": 0, "left": 416, "top": 156,
                                    "width": 63, "height": 150}]},
     "yolo-bbox-metadata": {"class-map": {"0": "person"}, "objects": [{"confidence": 0.9}],
                            "type": "groundtruth/object-detection",
                            "job-name": "labeling-job/yolo-bbox"}}

=========================================== ======================================
``type``                                    read as
=========================================== ======================================
``groundtruth/image-classification``        classification: ``class-name``
``groundtruth/text-classification``         classification: ``class-name``
``groundtruth/image-classification-multilabel``, ``groundtruth/text-classification-multilabel``
                                            multilabel: ``class-map`` of the ids
``groundtruth/object-detection``            detection: pixel ``left, top, width, height``
``groundtruth/semantic-segmentation``       refused: the masks are PNG files in S3
=========================================== ======================================

The item id is an ``item_id`` field when the manifest carries one, else the file name of
``source-ref`` (``000139.jpg``), else the item whose text is ``source``. A manifest of chained
jobs holds several label attributes: name one with ``label_attribute`` (the error lists them).
The annotator is the metadata's ``job-name`` (outputs are consolidated over workers).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from adapters.base import Box, LabelValue, TaskType, VendorAnnotation
from adapters.formats._errors import FormatError
from adapters.formats._text_items import item_id_of
from adapters.formats.jsonl import _lines

__all__ = ["sagemaker_annotations", "write_sagemaker"]

_PREFIX = "groundtruth/"


def _attributes(record: Mapping[str, Any]) -> list[str]:
    """Label attributes: keys whose ``-metadata`` sibling has a Ground Truth ``type``."""
    out = []
    for key, meta in record.items():
        if key.endswith("-metadata") and isinstance(meta, Mapping):
            kind = meta.get("type")
            if isinstance(kind, str) and kind.startswith(_PREFIX):
                out.append(key.removesuffix("-metadata"))
    return sorted(out)


def _class_map(meta: Mapping[str, Any], *, source: str, where: str) -> dict[str, str]:
    raw = meta.get("class-map")
    if not isinstance(raw, Mapping):
        raise FormatError(source, f"{where}.class-map", "missing the class-map of the label ids")
    return {str(k): str(v) for k, v in raw.items()}


def _number(v: Any, *, source: str, where: str) -> float:
    if (
        isinstance(v, bool)
        or not isinstance(v, int | float)
        or v != v
        or v
        in (
            float("inf"),
            float("-inf"),
        )
    ):
        raise FormatError(source, where, f"must be a finite number, got {v!r}")
    return float(v)


def _label(
    record: Mapping[str, Any], attribute: str, task_type: TaskType, *, source: str, where: str
) -> LabelValue:
    meta = record[f"{attribute}-metadata"]
    kind = str(meta["type"]).removeprefix(_PREFIX)
    value = record.get(attribute)
    at = f"{where}.{attribute}"
    if kind == "semantic-segmentation":
        raise FormatError(
            source,
            at,
            "semantic segmentation masks are PNG files referenced by "
            "S3 URIs; convert them to COCO RLE to score them",
        )
    if kind in ("image-classification", "text-classification"):
        if task_type != "classification":
            raise FormatError(source, at, f"a {kind} label cannot be a {task_type} label")
        name = meta.get("class-name")
        if not isinstance(name, str):
            raise FormatError(source, f"{at}-metadata.class-name", "missing the class name")
        return name
    if kind in ("image-classification-multilabel", "text-classification-multilabel"):
        if task_type != "multilabel":
            raise FormatError(source, at, f"a {kind} label cannot be a {task_type} label")
        classes = _class_map(meta, source=source, where=f"{at}-metadata")
        if not isinstance(value, list):
            raise FormatError(source, at, "must be a list of class ids")
        try:
            return list(dict.fromkeys(classes[str(v)] for v in value))
        except KeyError as exc:
            raise FormatError(source, at, f"class id {exc} is not in the class-map") from exc
    if kind == "object-detection":
        if task_type != "detection":
            raise FormatError(source, at, f"object-detection boxes cannot be {task_type} labels")
        classes = _class_map(meta, source=source, where=f"{at}-metadata")
        if not isinstance(value, Mapping) or not isinstance(value.get("annotations"), list):
            raise FormatError(source, at, "must hold an 'annotations' list")
        objects = meta.get("objects") if isinstance(meta.get("objects"), list) else []
        boxes = []
        for k, a in enumerate(value["annotations"]):
            w_at = f"{at}.annotations[{k}]"
            if not isinstance(a, Mapping):
                raise FormatError(source, w_at, "must be an object")
            left, top, width, height = (
                _number(a.get(f), source=source, where=f"{w_at}.{f}")
                for f in ("left", "top", "width", "height")
            )
            if width < 0 or height < 0:
                raise FormatError(source, w_at, "width and height must be >= 0")
            name = classes.get(str(a.get("class_id")))
            if name is None:
                raise FormatError(source, f"{w_at}.class_id", "is not in the class-map")
            confidence = objects[k].get("confidence") if k < len(objects) else None
            score = float(confidence) if isinstance(confidence, int | float) else None
            boxes.append(Box(category=name, bbox=(left, top, width, height), score=score))
        return boxes
    raise FormatError(source, f"{at}-metadata.type", f"Ground Truth type {kind!r} is not read")


def _item(
    record: Mapping[str, Any],
    items_by_text: Mapping[str, str | None] | None,
    *,
    source: str,
    where: str,
) -> str:
    ref = record.get("source-ref")
    if "item_id" not in record and isinstance(ref, str) and ref:
        return PurePosixPath(ref).name
    return item_id_of(
        {**record, "text": record.get("source")},
        id_field="item_id",
        items_by_text=items_by_text,
        source=source,
        where=where,
    )


def sagemaker_annotations(
    path: str | os.PathLike[str],
    *,
    task_type: TaskType,
    label_attribute: str | None = None,
    items_by_text: Mapping[str, str | None] | None = None,
) -> list[VendorAnnotation]:
    """A Ground Truth output manifest as one annotation per line.

    Raises
    ------
    FormatError
        No (or several, unnamed) label attributes, a label type that does not fit the task
        type, a class id missing from the class-map, or a malformed box.
    """
    out = []
    for source, number, record in _lines(path, None):
        where = f"line {number}"
        found = _attributes(record)
        if label_attribute is not None:
            if label_attribute not in found:
                raise FormatError(
                    source, where, f"no label attribute {label_attribute!r}; found {found}"
                )
            attribute = label_attribute
        elif len(found) == 1:
            attribute = found[0]
        else:
            raise FormatError(
                source,
                where,
                f"{len(found)} label attributes {found}: name the one to score (label_attribute)"
                if found
                else "no label attribute with a groundtruth/ type in its -metadata",
            )
        job = record[f"{attribute}-metadata"].get("job-name")
        out.append(
            VendorAnnotation(
                item_id=_item(record, items_by_text, source=source, where=where),
                label=_label(record, attribute, task_type, source=source, where=where),
                annotator_id=str(job) if isinstance(job, str) else None,
            )
        )
    return out


def _class_ids(
    annotations: Sequence[VendorAnnotation], classes: Sequence[str] | None
) -> dict[str, int]:
    """Class name -> id: ``classes`` in their order, then other classes as first used."""
    used: list[str] = []
    for ann in annotations:
        label = ann.label
        if isinstance(label, str):
            used.append(label)
        elif isinstance(label, list):
            used.extend(x.category if isinstance(x, Box) else str(x) for x in label)
    return {c: k for k, c in enumerate(dict.fromkeys([*(classes or []), *used]))}


def _written_label(
    ann: VendorAnnotation,
    task_type: TaskType,
    ids: Mapping[str, int],
    image_size: tuple[int, int] | None,
) -> tuple[Any, dict[str, Any]]:
    """The label attribute's value and what its ``-metadata`` adds for one answer."""
    label = ann.label
    if task_type == "classification":
        if not isinstance(label, str):
            raise FormatError(
                "sagemaker", ann.item_id, f"a classification label is a class name, got {label!r}"
            )
        return ids[label], {"class-name": label}
    if task_type == "multilabel":
        if not isinstance(label, list) or not all(isinstance(c, str) for c in label):
            raise FormatError(
                "sagemaker", ann.item_id, f"a multilabel label is class names, got {label!r}"
            )
        return [ids[str(c)] for c in label], {}
    if not isinstance(label, list) or not all(isinstance(b, Box) for b in label):
        raise FormatError("sagemaker", ann.item_id, "object detection labels are boxes")
    boxes = [b for b in label if isinstance(b, Box)]
    value: dict[str, Any] = {
        "annotations": [
            {
                "class_id": ids[b.category],
                "left": b.bbox[0],
                "top": b.bbox[1],
                "width": b.bbox[2],
                "height": b.bbox[3],
            }
            for b in boxes
        ]
    }
    if image_size is not None:
        value = {
            "image_size": [{"width": image_size[0], "height": image_size[1], "depth": 3}],
            **value,
        }
    objects = [{} if b.score is None else {"confidence": b.score} for b in boxes]
    return value, {"objects": objects}


def write_sagemaker(
    annotations: Iterable[VendorAnnotation],
    *,
    task_type: TaskType,
    classes: Sequence[str] | None = None,
    texts: Mapping[str, str] | None = None,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
    label_attribute: str = "label",
) -> bytes:
    """A Ground Truth output manifest: one line per answer, as :func:`sagemaker_annotations`
    (and Ground Truth's chained jobs) read it.

    Each line has ``item_id``, the data reference (``source`` with the item's text where
    ``texts`` has it, else ``source-ref`` with the item key), the label under
    ``label_attribute`` and ``<label_attribute>-metadata`` with the ``type``, the
    ``class-map`` (``classes`` in their order, then any other class used), ``class-name`` for
    classification, per-box ``objects`` confidences for detection, and the annotator as
    ``job-name`` when there is one. Classification and multilabel are written as
    ``text-classification`` when the item has a text, else ``image-classification``; boxes
    carry ``image_size`` where ``image_sizes`` knows it.

    Raises
    ------
    FormatError
        A task type other than classification, multilabel and detection (semantic
        segmentation outputs are PNG masks), a label of the wrong shape, or one item
        answered twice by the same annotator.
    """
    kinds = {
        "classification": "classification",
        "multilabel": "classification-multilabel",
        "detection": "object-detection",
    }
    if task_type not in kinds:
        raise FormatError(
            "sagemaker",
            "",
            f"Ground Truth manifests are written for classification, multilabel and "
            f"detection, not {task_type}",
        )
    rows = list(annotations)
    ids = _class_ids(rows, classes)
    class_map = {str(k): c for c, k in ids.items()}
    texts = texts or {}
    sizes = image_sizes or {}
    seen: set[tuple[str, str | None]] = set()
    out: list[str] = []
    for ann in rows:
        if (ann.item_id, ann.annotator_id) in seen:
            raise FormatError(
                "sagemaker", ann.item_id, f"answered twice by annotator {ann.annotator_id!r}"
            )
        seen.add((ann.item_id, ann.annotator_id))
        text = texts.get(ann.item_id)
        kind = kinds[task_type]
        if task_type != "detection":
            kind = f"{'text' if text is not None else 'image'}-{kind}"
        value, extra = _written_label(ann, task_type, ids, sizes.get(ann.item_id))
        meta: dict[str, Any] = {"class-map": class_map, **extra, "type": _PREFIX + kind}
        if ann.annotator_id is not None:
            meta["job-name"] = ann.annotator_id
        record: dict[str, Any] = {"item_id": ann.item_id}
        if text is not None:
            record["source"] = text
        else:
            record["source-ref"] = ann.item_id
        record[label_attribute] = value
        record[f"{label_attribute}-metadata"] = meta
        out.append(json.dumps(record, ensure_ascii=False))
    return "".join(f"{line}\n" for line in out).encode("utf-8")
