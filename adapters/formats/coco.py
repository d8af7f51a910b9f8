"""COCO JSON: gold instances files and results files, validated; DTO conversion; export.

Two file kinds:

*Instances* (gold, or a vendor's full export): one object with ``images``
(``id``, ``width``, ``height``, optional ``file_name``), ``categories`` (``id``,
``name``) and ``annotations`` (``id``, ``image_id``, ``category_id``, ``bbox``
``[x, y, w, h]``, optional ``area``, ``iscrowd``, ``segmentation`` as polygons or RLE).
:func:`read_coco_dataset` returns a :class:`CocoDataset`.

*Results* (a candidate's labels, as COCO detection results): one array of
``{"image_id", "category_id", "bbox" and/or "segmentation", "score"?}``.
:func:`read_coco_results` checks it against the gold :class:`CocoDataset` and returns
:class:`CocoResults`. The array is read element by element, so a large results file is
never held as one parsed document.

Both return flat numpy arrays (one row per box) with the attribute names that
``metrics.detection`` expects, so they pass straight into its functions (the CLI's
``bakeoff evaluate --task detection|segmentation`` does exactly this)::

    gold = read_coco_dataset("gold.json")
    model = read_coco_results("model.json", gold)
    metrics.detection.evaluate_coco(gold, model, iou_type="bbox").stats   # scored
    vendor = read_coco_results("vendor.json", gold)
    metrics.detection.match_unscored(gold, vendor, iou_threshold=0.5)      # unscored

Validation raises :class:`~adapters.formats.FormatError` with one line naming the file,
the object (``annotations[12].bbox``, ``[5].image_id`` for results) and what is wrong:
invalid JSON, missing keys, wrong types, duplicate ids, boxes with NaN or negative size
or outside the image (beyond ``bounds_tolerance`` pixels), unknown images or
categories, and a results file that mixes elements with and without ``score`` or
``bbox``.

Areas follow ``pycocotools``: gold ``area`` is taken from the file (computed from the
mask, else the box, when absent); result areas follow ``COCO.loadRes`` (box ``w*h``
when the first result has a ``bbox``, the mask area otherwise).

Conversion to the vendor-neutral DTOs (:class:`~adapters.base.Box`,
:class:`~adapters.base.Mask`, one :class:`~adapters.base.VendorAnnotation` per image) and
back: :meth:`CocoDataset.to_vendor_annotations`,
:meth:`CocoResults.to_vendor_annotations`, :func:`results_from_vendor_annotations`,
:func:`dataset_from_vendor_annotations`. Export: :func:`write_coco_dataset`,
:func:`write_coco_results` (and the ``*_to_json`` functions for in-memory use).
"""

from __future__ import annotations

from adapters.formats._coco_export import (
    coco_dataset_to_json,
    coco_results_to_json,
    dataset_from_vendor_annotations,
    results_from_vendor_annotations,
    write_coco_dataset,
    write_coco_results,
)
from adapters.formats._coco_json import CocoCategory, CocoImage, DetectionTask, ItemKey, Source
from adapters.formats._coco_read import (
    CocoDataset,
    CocoResults,
    parse_coco_dataset,
    parse_coco_results,
    read_coco_dataset,
    read_coco_results,
)

__all__ = [
    "CocoImage",
    "CocoCategory",
    "CocoDataset",
    "CocoResults",
    "DetectionTask",
    "ItemKey",
    "Source",
    "read_coco_dataset",
    "parse_coco_dataset",
    "read_coco_results",
    "parse_coco_results",
    "results_from_vendor_annotations",
    "dataset_from_vendor_annotations",
    "coco_dataset_to_json",
    "coco_results_to_json",
    "write_coco_dataset",
    "write_coco_results",
]
