"""``bakeoff evaluate`` on label files in any format the one format layer reads.

:mod:`service.label_files` reads each task type's native files (CSV, span JSON Lines, COCO
instances and results). Every other format that ``bakeoff import`` and the API read (Label
Studio, VOC, YOLO, CVAT, doccano, Prodigy, Labelbox, SageMaker, COCO instances as labels) goes
through :mod:`adapters.formats.registry` here, so a file one door reads every door reads. Gold
comes as JSON Lines, CSV, COCO instances, Label Studio or VOC; labels are then placed with what
their format needs from that gold (image sizes, texts, COCO ids).

Several annotators per item are kept: a crowd's answers become the answers table that the
engine merges (majority vote for classes and label sets; for boxes, masks and spans the
documented fusion of :mod:`metrics.fusion`), and scores per annotator too.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from pycocotools import mask as coco_mask

from adapters.base import Box, Mask, VendorAnnotation
from adapters.formats import FormatError
from adapters.formats.registry import (
    FormatName,
    GoldFile,
    gold_context,
    read_gold_file,
    read_label_file,
)
from metrics.scoring import TaskType

__all__ = ["load_any_inputs"]

PathLike = str | os.PathLike[str]


def _object(
    value: Box | Mask, size: tuple[int, int] | None, *, gold: bool, index: int, where: str
) -> dict[str, Any]:
    """A box or mask as the engine's per-image object."""
    if isinstance(value, Box):
        obj: dict[str, Any] = {"category": value.category, "bbox": list(value.bbox)}
        if gold:
            area = value.area if value.area is not None else value.bbox[2] * value.bbox[3]
            obj.update(area=area, iscrowd=bool(value.iscrowd), id=index)
    else:
        seg = value.segmentation
        if isinstance(seg, list):
            if size is None:
                raise FormatError(where, "", "a polygon needs its image's width and height")
            width, height = size
            rle = coco_mask.merge(coco_mask.frPyObjects(seg, height, width))
        else:
            rle = (
                coco_mask.frPyObjects(dict(seg), *seg["size"])
                if isinstance(seg.get("counts"), list)
                else dict(seg)
            )
        if isinstance(rle.get("counts"), str):
            rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
        obj = {
            "category": value.category,
            "bbox": [float(v) for v in coco_mask.toBbox(rle)],
            "segmentation": rle,
        }
        if gold:
            area = value.area if value.area is not None else float(coco_mask.area(rle))
            obj.update(area=area, iscrowd=bool(value.iscrowd), id=index)
    if value.score is not None and not gold:
        obj["score"] = value.score
    if value.area is not None and not gold:
        obj["area"] = value.area  # COCO.loadRes' area for a result, as its reader set it
    return obj


def _value(
    task: TaskType, label: Any, size: tuple[int, int] | None, *, gold: bool, where: str
) -> Any:
    if task == "multilabel":
        return frozenset(label)
    if task in ("detection", "segmentation"):
        return [_object(v, size, gold=gold, index=k + 1, where=where) for k, v in enumerate(label)]
    if task == "spans":
        return list(label)
    return label


def _system(
    task: TaskType,
    read: list[VendorAnnotation],
    gold: pd.Series[Any],
    sizes: dict[str, tuple[int, int]],
    name: str,
) -> pd.Series[Any] | pd.DataFrame:
    unknown = sorted({a.item_id for a in read} - set(gold.index))
    if unknown:
        raise FormatError(name, "", f"item(s) {unknown[:5]} are not in the gold")
    per_item = Counter(a.item_id for a in read)
    several = [item for item, n in per_item.items() if n > 1]
    if several:
        rows = [
            (
                a.item_id,
                a.annotator_id or f"answer-{k}",
                _value(task, a.label, sizes.get(a.item_id), gold=False, where=name),
            )
            for k, a in enumerate(read)
        ]
        return pd.DataFrame(rows, columns=["task", "worker", "label"], dtype=object)
    values = {
        a.item_id: _value(task, a.label, sizes.get(a.item_id), gold=False, where=name) for a in read
    }
    if task in ("detection", "segmentation"):  # an image without results: "nothing here"
        values = {item: values.get(item, []) for item in gold.index}
    return pd.Series(values, dtype=object)


def load_any_inputs(
    task: TaskType,
    gold_path: PathLike,
    sources: Sequence[tuple[str, str]],
    *,
    gold_format: FormatName | None = None,
    label_formats: dict[str, FormatName] | None = None,
    question: str | None = None,
) -> tuple[GoldFile, pd.Series[Any], dict[str, pd.Series[Any] | pd.DataFrame], tuple[str, ...]]:
    """Gold and every ``(name, path)`` system in the engine's shapes, with the readers' notes.

    ``question`` names the Label Studio control (Labelbox question, SageMaker attribute) to
    read where a file answers several.

    Raises
    ------
    FormatError
        On any problem with a file (its name, the place and what is wrong).
    """
    gold_file = read_gold_file(gold_path, task_type=task, format=gold_format, question=question)
    if not gold_file.records:
        raise FormatError(Path(gold_path).name, "", "no gold items")
    context = gold_context(gold_file)
    sizes = dict(context.image_sizes)
    gold = pd.Series(
        {
            r.item_id: _value(task, r.label, sizes.get(r.item_id), gold=True, where=str(gold_path))
            for r in gold_file.records
        },
        dtype=object,
    )
    gold.index.name = "task"
    notes = list(gold_file.notes)
    systems: dict[str, pd.Series[Any] | pd.DataFrame] = {}
    for name, path in sources:
        fmt = (label_formats or {}).get(name)
        read = read_label_file(path, task_type=task, format=fmt, gold=context, question=question)
        notes += [f"{name}: {n}" for n in read.notes]
        systems[name] = _system(task, read.annotations, gold, sizes, Path(path).name)
    return gold_file, gold, systems, tuple(notes)
