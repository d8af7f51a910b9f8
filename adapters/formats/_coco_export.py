"""COCO from vendor DTOs, and COCO JSON writers.

Private to :mod:`adapters.formats.coco`, which documents and re-exports the API.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from adapters.base import Box, Mask, VendorAnnotation
from adapters.formats._coco_json import CocoCategory, CocoImage, ItemKey, _json_rle
from adapters.formats._coco_read import (
    CocoDataset,
    CocoResults,
    _ResultsBuilder,
    parse_coco_dataset,
)
from adapters.formats._errors import FormatError

__all__ = [
    "results_from_vendor_annotations",
    "dataset_from_vendor_annotations",
    "coco_dataset_to_json",
    "coco_results_to_json",
    "write_coco_dataset",
    "write_coco_results",
]


# --------------------------------------------------------------------------- DTOs -> COCO


def _item_to_image(gold: CocoDataset, item_key: ItemKey) -> dict[str, int]:
    return {gold.item_id(im.id, item_key): im.id for im in gold.images}


def results_from_vendor_annotations(
    annotations: Iterable[VendorAnnotation],
    gold: CocoDataset,
    *,
    item_key: ItemKey = "id",
    source: str = "<annotations>",
) -> CocoResults:
    """COCO results from vendor DTOs (``Box`` or ``Mask`` labels), validated like a file.

    Category names map to gold category ids; item ids map to gold images through
    ``item_key``. Problems raise :class:`FormatError` naming
    ``annotations[i].label[j]``.
    """
    images = _item_to_image(gold, item_key)
    cats = gold.category_id_by_name
    builder = _ResultsBuilder(gold, source, 1.0)
    k = 0
    for i, ann in enumerate(annotations):
        if ann.item_id not in images:
            raise FormatError(
                source, f"annotations[{i}].item_id", f"item {ann.item_id!r} is not a gold image"
            )
        label = ann.label
        if isinstance(label, str) or not all(isinstance(x, Box | Mask) for x in label):
            raise FormatError(source, f"annotations[{i}].label", "must be a list of boxes or masks")
        for j, obj in enumerate(label):
            assert isinstance(obj, Box | Mask)
            if obj.category not in cats:
                raise FormatError(
                    source,
                    f"annotations[{i}].label[{j}].category",
                    f"{obj.category!r} is missing from the gold categories ({gold.source})",
                )
            elem: dict[str, Any] = {
                "image_id": images[ann.item_id],
                "category_id": cats[obj.category],
            }
            if isinstance(obj, Box):
                elem["bbox"] = list(obj.bbox)
            else:
                elem["segmentation"] = obj.segmentation
            score = obj.score if obj.score is not None else ann.score
            if score is not None:
                elem["score"] = score
            try:
                builder.add(k, elem)
            except FormatError as exc:
                raise FormatError(source, f"annotations[{i}].label[{j}]", exc.problem) from exc
            k += 1
    return builder.build()


def dataset_from_vendor_annotations(
    annotations: Iterable[VendorAnnotation],
    *,
    images: Sequence[CocoImage],
    categories: Sequence[CocoCategory],
    item_key: ItemKey = "id",
    source: str = "<annotations>",
) -> CocoDataset:
    """A COCO instances dataset from DTOs (e.g. to export expert gold); ids ``1..N``."""
    by_item = {(str(im.id) if item_key == "id" else im.file_name): im for im in images}
    cat_ids = {c.name: c.id for c in categories}
    anns: list[dict[str, Any]] = []
    for i, ann in enumerate(annotations):
        im = by_item.get(ann.item_id)
        if im is None:
            raise FormatError(source, f"annotations[{i}].item_id", f"unknown image {ann.item_id!r}")
        if isinstance(ann.label, str):
            raise FormatError(source, f"annotations[{i}].label", "must be a list of boxes or masks")
        for j, obj in enumerate(ann.label):
            if not isinstance(obj, Box | Mask):
                raise FormatError(source, f"annotations[{i}].label[{j}]", "must be a box or mask")
            if obj.category not in cat_ids:
                raise FormatError(
                    source,
                    f"annotations[{i}].label[{j}].category",
                    f"unknown category {obj.category!r}",
                )
            a: dict[str, Any] = {
                "id": len(anns) + 1,
                "image_id": im.id,
                "category_id": cat_ids[obj.category],
                "iscrowd": int(bool(obj.iscrowd)),
            }
            if isinstance(obj, Box):
                a["bbox"] = list(obj.bbox)
            else:
                a["segmentation"] = obj.segmentation
            if obj.area is not None:  # gold's own COCO area goes back out unchanged
                a["area"] = obj.area
            anns.append(a)
    obj = {
        "images": [
            {"id": im.id, "width": im.width, "height": im.height, "file_name": im.file_name}
            for im in images
        ],
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory} for c in categories
        ],
        "annotations": anns,
    }
    return parse_coco_dataset(obj, source=source)


# --------------------------------------------------------------------------- writers


def coco_dataset_to_json(dataset: CocoDataset) -> dict[str, Any]:
    """The instances object (plain JSON types) for a :class:`CocoDataset`."""
    anns = []
    for i in range(dataset.ann_ids.shape[0]):
        a: dict[str, Any] = {
            "id": int(dataset.ann_ids[i]),
            "image_id": int(dataset.image_ids[i]),
            "category_id": int(dataset.category_ids[i]),
            "bbox": [float(v) for v in dataset.boxes[i]],
            "area": float(dataset.areas[i]),
            "iscrowd": int(dataset.iscrowd[i]),
        }
        seg = dataset.segmentations[i]
        if seg is not None:
            a["segmentation"] = seg
        anns.append(a)
    return {
        "images": [
            {"id": im.id, "width": im.width, "height": im.height, "file_name": im.file_name}
            for im in dataset.images
        ],
        "categories": [
            {"id": c.id, "name": c.name, "supercategory": c.supercategory}
            for c in dataset.categories
        ],
        "annotations": anns,
    }


def _result_json(results: CocoResults, i: int) -> dict[str, Any]:
    r: dict[str, Any] = {
        "image_id": int(results.image_ids[i]),
        "category_id": int(results.category_ids[i]),
        "bbox": [float(v) for v in results.boxes[i]],
    }
    if results.rles is not None:
        r["segmentation"] = _json_rle(results.rles[i])
    if results.scores is not None:
        r["score"] = float(results.scores[i])
    return r


def coco_results_to_json(results: CocoResults) -> list[dict[str, Any]]:
    """The results list (plain JSON types) for a :class:`CocoResults`."""
    return [_result_json(results, i) for i in range(results.image_ids.shape[0])]


def _dest(dest: str | os.PathLike[str] | IO[str]) -> tuple[IO[str], bool]:
    if isinstance(dest, str | os.PathLike):
        return Path(dest).open("w", encoding="utf-8"), True
    return dest, False


def write_coco_dataset(dataset: CocoDataset, dest: str | os.PathLike[str] | IO[str]) -> None:
    """Write a :class:`CocoDataset` as COCO instances JSON."""
    out, close = _dest(dest)
    try:
        json.dump(coco_dataset_to_json(dataset), out)
    finally:
        if close:
            out.close()


def write_coco_results(results: CocoResults, dest: str | os.PathLike[str] | IO[str]) -> None:
    """Write a :class:`CocoResults` as a COCO results JSON array, one element at a time."""
    out, close = _dest(dest)
    try:
        out.write("[")
        for i in range(results.image_ids.shape[0]):
            if i:
                out.write(",\n")
            out.write(json.dumps(_result_json(results, i)))
        out.write("]\n")
    finally:
        if close:
            out.close()
