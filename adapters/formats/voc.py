"""Pascal VOC XML: one ``<annotation>`` file per image, boxes in pixel corners.

Read from a folder or a ``.zip`` of ``*.xml`` files (as LabelImg, CVAT and Label Studio write
them)::

    <annotation><filename>2007_000027.jpg</filename>
      <size><width>486</width><height>500</height></size>
      <object><name>person</name><difficult>0</difficult>
        <bndbox><xmin>174</xmin><ymin>101</ymin><xmax>349</xmax><ymax>351</ymax></bndbox>
      </object></annotation>

Each file is one item (its ``<filename>``, else the XML file's stem with ``.jpg``), each
``<object>`` one :class:`~adapters.base.Box` with COCO ``[xmin, ymin, xmax - xmin, ymax -
ymin]`` (the convention CVAT and the object-detection-metrics toolkit use when they convert VOC
to COCO). ``<difficult>1</difficult>`` objects are kept as ordinary boxes by default
(``difficult="keep"``) or left out (``"drop"``); Bakeoff has no per-box "ignore" flag, so the
count of difficult objects is returned for the caller to report. A ``<score>`` or
``<confidence>`` element on an object becomes the box's score (detector output).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from adapters.base import Box, VendorAnnotation
from adapters.formats._errors import FormatError
from adapters.formats._members import iter_members
from adapters.formats.jsonl import GoldRecord

__all__ = ["VocImage", "read_voc", "voc_annotations", "voc_gold", "write_voc"]

Difficult = Literal["keep", "drop"]


@dataclass(frozen=True)
class VocImage:
    """One VOC file: its item id, image size (``None`` when absent) and boxes."""

    item_id: str
    width: int | None
    height: int | None
    boxes: tuple[Box, ...]
    difficult: int


def _text(node: Element, tag: str) -> str | None:
    child = node.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def _number(node: Element, tag: str, *, source: str, where: str) -> float:
    raw = _text(node, tag)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FormatError(source, f"{where}.{tag}", f"must be a finite number, got {raw!r}")
    return value


def _size(root: Element, *, source: str) -> tuple[int | None, int | None]:
    size = root.find("size")
    if size is None:
        return None, None
    w = _number(size, "width", source=source, where="size")
    h = _number(size, "height", source=source, where="size")
    return (int(w), int(h)) if w > 0 and h > 0 else (None, None)


def _parse(name: str, content: bytes, *, difficult: Difficult) -> VocImage:
    try:
        root = ElementTree.fromstring(content)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise FormatError(name, "", f"not valid XML ({exc})") from exc
    if root.tag != "annotation":
        raise FormatError(name, "", f"expected a Pascal VOC <annotation>, found <{root.tag}>")
    item_id = _text(root, "filename") or f"{PurePosixPath(name).stem}.jpg"
    width, height = _size(root, source=name)
    boxes: list[Box] = []
    n_difficult = 0
    for k, obj in enumerate(root.findall("object")):
        where = f"object[{k}]"
        category = _text(obj, "name")
        if not category:
            raise FormatError(name, f"{where}.name", "missing the class name")
        bnd = obj.find("bndbox")
        if bnd is None:
            raise FormatError(name, f"{where}.bndbox", "missing (only boxes are read from VOC)")
        x0, y0, x1, y1 = (
            _number(bnd, t, source=name, where=f"{where}.bndbox")
            for t in ("xmin", "ymin", "xmax", "ymax")
        )
        if x1 < x0 or y1 < y0:
            raise FormatError(name, f"{where}.bndbox", "xmax/ymax must not be below xmin/ymin")
        is_difficult = _text(obj, "difficult") == "1"
        n_difficult += is_difficult
        if is_difficult and difficult == "drop":
            continue
        tag = "score" if obj.find("score") is not None else "confidence"
        score = None if obj.find(tag) is None else _number(obj, tag, source=name, where=where)
        boxes.append(Box(category=category, bbox=(x0, y0, x1 - x0, y1 - y0), score=score))
    return VocImage(item_id, width, height, tuple(boxes), n_difficult)


def read_voc(path: str | os.PathLike[str], *, difficult: Difficult = "keep") -> Iterator[VocImage]:
    """Every image of a VOC export (folder or zip of ``*.xml``), in file-name order.

    Raises
    ------
    FormatError
        Invalid XML, a missing class name or box corner, a corner that is not a finite
        number, an inverted box, or the same item in two files.
    """
    seen: dict[str, str] = {}
    for name, content in iter_members(path, suffixes=frozenset({".xml"})):
        image = _parse(name, content, difficult=difficult)
        if image.item_id in seen:
            raise FormatError(
                name,
                "filename",
                f"image {image.item_id!r} is also described by {seen[image.item_id]}",
            )
        seen[image.item_id] = name
        yield image


def voc_annotations(
    path: str | os.PathLike[str],
    *,
    annotator_id: str | None = None,
    difficult: Difficult = "keep",
) -> list[VendorAnnotation]:
    """A vendor's VOC export as one detection annotation per image."""
    return [
        VendorAnnotation(item_id=im.item_id, label=list(im.boxes), annotator_id=annotator_id)
        for im in read_voc(path, difficult=difficult)
    ]


def voc_gold(path: str | os.PathLike[str], *, difficult: Difficult = "keep") -> list[GoldRecord]:
    """Golden items from a VOC export; the image size goes into ``data`` when the file has it."""
    records = []
    for im in read_voc(path, difficult=difficult):
        data = {} if im.width is None else {"width": im.width, "height": im.height}
        records.append(GoldRecord(item_id=im.item_id, label=list(im.boxes), data=data))
    return records


def _voc_file(item_id: str, size: tuple[int, int] | None, boxes: Iterable[Box]) -> bytes:
    lines = ["<annotation>", f"  <filename>{escape(item_id)}</filename>"]
    if size is not None:
        lines += [
            "  <size>",
            f"    <width>{int(size[0])}</width>",
            f"    <height>{int(size[1])}</height>",
            "    <depth>3</depth>",
            "  </size>",
        ]
    for box in boxes:
        x, y, w, h = box.bbox
        lines += [
            "  <object>",
            f"    <name>{escape(box.category)}</name>",
            "    <difficult>0</difficult>",
            "    <bndbox>",
            f"      <xmin>{x!r}</xmin>",
            f"      <ymin>{y!r}</ymin>",
            f"      <xmax>{x + w!r}</xmax>",
            f"      <ymax>{y + h!r}</ymax>",
            "    </bndbox>",
        ]
        if box.score is not None:
            lines.append(f"    <score>{box.score!r}</score>")
        lines.append("  </object>")
    lines.append("</annotation>")
    return ("\n".join(lines) + "\n").encode("utf-8")


def write_voc(
    annotations: Iterable[VendorAnnotation],
    *,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, bytes]:
    """Pascal VOC files, one per item: ``{"<item stem>.xml": content}``.

    Boxes are written as pixel corners with full float precision (``repr``), so reading the
    files back (:func:`voc_annotations`) gives the same boxes; ``image_sizes`` (``item id ->
    (width, height)``) fills ``<size>`` where known.

    Raises
    ------
    FormatError
        A label that is not a list of boxes, an item twice, or two items with one file stem.
    """
    files: dict[str, bytes] = {}
    for ann in annotations:
        label = ann.label
        if not isinstance(label, list) or not all(isinstance(b, Box) for b in label):
            raise FormatError("voc", ann.item_id, "Pascal VOC holds boxes only")
        name = f"{PurePosixPath(ann.item_id).stem}.xml"
        if name in files:
            raise FormatError(
                "voc", ann.item_id, f"{name} would hold two answers (one annotator per file)"
            )
        boxes = [b for b in label if isinstance(b, Box)]
        files[name] = _voc_file(ann.item_id, (image_sizes or {}).get(ann.item_id), boxes)
    return files
