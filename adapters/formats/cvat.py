"""CVAT for images 1.1 XML: tags, boxes (with rotation) and polygons per image.

One ``annotations.xml`` (alone, or inside CVAT's export zip)::

    <annotations><version>1.1</version>
      <image id="0" name="img0.jpg" width="640" height="480">
        <tag label="indoor"/>
        <box label="car" xtl="10" ytl="20" xbr="110" ybr="70" rotation="15.0" occluded="0">
          <attribute name="colour">red</attribute></box>
        <polygon label="road" points="1,2;30,4;16,50"/>
      </image></annotations>

By task type:

============== =========================================================================
classification the image's one ``<tag>``
multilabel     its ``<tag>`` labels, in order, duplicates dropped
detection      ``<box>`` -> COCO ``[xtl, ytl, xbr - xtl, ybr - ytl]``; a box with a
               non-zero ``rotation`` is refused (its axis-aligned envelope would score a
               different box), use ``segmentation`` to score its exact outline
segmentation   ``<polygon>`` and ``<box>`` (rotated about its centre, clockwise, as CVAT
               draws it) as polygons
============== =========================================================================

A CVAT task often mixes shapes (boxes next to polylines, points, skeletons): the shapes the
task type scores are read, and every other shape (and tag), and every scored kind of shape
without a class name, is counted by kind in the returned notes, so nothing is dropped
silently. A file with no shape the task type scores, but other shapes, is refused naming what
it holds; keypoints, spans and the language tasks are not read from CVAT for images. The item
id is the image's ``name``. Several ``<image>`` elements of one name (one per job of a project
export) are several annotators: their ``job_id`` (or ``task_id``) becomes the annotator id.
Where one name appears in several subsets (a project export stores the images under
``images/<subset>/``), every item id is ``<subset>/<name>``, and a note says so.
"""

from __future__ import annotations

import math
import os
import zipfile
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from xml.etree.ElementTree import Element
from xml.sax.saxutils import quoteattr

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from adapters.base import Box, LabelValue, Mask, TaskType, VendorAnnotation
from adapters.formats._errors import FormatError

__all__ = ["cvat_annotations", "read_cvat_xml", "write_cvat"]

_SHAPES = ("box", "polygon", "tag", "polyline", "points", "skeleton", "cuboid", "mask", "ellipse")


def read_cvat_xml(path: str | os.PathLike[str]) -> Element:
    """The ``<annotations>`` root of a CVAT XML file, or of ``annotations.xml`` in a zip."""
    p = Path(path)
    try:
        if zipfile.is_zipfile(p):
            with zipfile.ZipFile(p) as archive:
                names = [n for n in archive.namelist() if n.endswith(".xml")]
                if len(names) != 1:
                    raise FormatError(
                        p.name, "", f"expected one XML file in the zip, found {names}"
                    )
                root = ElementTree.fromstring(archive.read(names[0]))
        else:
            root = ElementTree.fromstring(p.read_bytes())
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise FormatError(p.name, "", f"not valid XML ({exc})") from exc
    if root.tag != "annotations":
        raise FormatError(p.name, "", f"expected CVAT's <annotations>, found <{root.tag}>")
    return root


def _float(node: Element, attr: str, *, source: str, where: str) -> float:
    raw = node.get(attr)
    try:
        value = float(raw) if raw is not None else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise FormatError(source, f"{where}.{attr}", f"must be a finite number, got {raw!r}")
    return value


def _points(node: Element, *, source: str, where: str) -> list[float]:
    out: list[float] = []
    for pair in (node.get("points") or "").split(";"):
        try:
            x, y = (float(v) for v in pair.split(","))
        except ValueError as exc:
            raise FormatError(source, f"{where}.points", f"bad point {pair!r}") from exc
        if not (math.isfinite(x) and math.isfinite(y)):
            raise FormatError(source, f"{where}.points", "coordinates must be finite")
        out += [x, y]
    if len(out) < 6:
        raise FormatError(source, f"{where}.points", "a polygon needs at least three points")
    return out


def _box_corners(node: Element, *, source: str, where: str) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = (
        _float(node, a, source=source, where=where) for a in ("xtl", "ytl", "xbr", "ybr")
    )
    if x1 < x0 or y1 < y0:
        raise FormatError(source, where, "xbr/ybr must not be below xtl/ytl")
    return x0, y0, x1, y1


def _rotated_outline(x0: float, y0: float, x1: float, y1: float, degrees: float) -> list[float]:
    """The corners of a box rotated clockwise (image y points down) about its centre."""
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    out: list[float] = []
    for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
        dx, dy = x - cx, y - cy
        out += [cx + dx * c - dy * s, cy + dx * s + dy * c]
    return out


#: What each task type scores, by element name.
_SCORED: dict[str, tuple[str, ...]] = {
    "classification": ("tag",),
    "multilabel": ("tag",),
    "detection": ("box",),
    "segmentation": ("box", "polygon"),
}
_HINT = {
    "detection": " (score polygons with --task segmentation)",
    "classification": " (score boxes with --task detection, polygons with segmentation)",
    "multilabel": " (score boxes with --task detection, polygons with segmentation)",
}


def _label(
    image: Element, task_type: TaskType, *, source: str, left_out: Counter[str]
) -> tuple[LabelValue, int]:
    """The image's label for ``task_type`` and how many tags/shapes it scored; what it
    does not score is counted in ``left_out`` by kind."""
    name = image.get("name", "?")
    scored = _SCORED[task_type]
    tags: list[str] = []
    shapes: list[Box | Mask] = []
    for k, node in enumerate(child for child in image if child.tag in _SHAPES):
        where = f"image {name!r} {node.tag}[{k}]"
        kind = node.tag
        if kind not in scored:
            left_out[kind] += 1
            continue
        category = node.get("label") or ""
        if not category:
            left_out[f"{kind} without a class name"] += 1
            continue
        if kind == "tag":
            tags.append(category)
            continue
        rotation = (
            _float(node, "rotation", source=source, where=where) if node.get("rotation") else 0.0
        )
        if kind == "box":
            x0, y0, x1, y1 = _box_corners(node, source=source, where=where)
            if task_type == "detection":
                if rotation % 360:
                    raise FormatError(
                        source,
                        f"{where}.rotation",
                        f"box rotated by {rotation:g} degrees: its axis-aligned envelope is a "
                        "different box; score rotated boxes with --task segmentation",
                    )
                shapes.append(Box(category=category, bbox=(x0, y0, x1 - x0, y1 - y0)))
            else:
                outline = _rotated_outline(x0, y0, x1, y1, rotation)
                shapes.append(Mask(category=category, segmentation=[outline]))
        else:
            shapes.append(
                Mask(category=category, segmentation=[_points(node, source=source, where=where)])
            )
    if task_type == "classification":
        if len(tags) > 1:
            raise FormatError(
                source, f"image {name!r}", f"needs exactly one <tag>, found {len(tags)}"
            )
        return (tags[0], 1) if tags else ("", 0)  # no tag: refused by the caller
    if task_type == "multilabel":
        return list(dict.fromkeys(tags)), len(tags)
    return shapes, len(shapes)  # type: ignore[return-value]


def _subsets_share_names(root: Element) -> bool:
    """Whether one image name appears in several subsets (a project export of tasks with
    their own ``img0.jpg``): then ``<subset>/<name>``, its path in the export, is its id."""
    subsets: dict[str, set[str]] = {}
    for image in root.iter("image"):
        subsets.setdefault(image.get("name") or "", set()).add(image.get("subset") or "")
    return any(len(s) > 1 for s in subsets.values())


def _counted(left_out: Counter[str]) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(left_out.items()))


def cvat_annotations(
    path: str | os.PathLike[str], *, task_type: TaskType, annotator_id: str | None = None
) -> tuple[list[VendorAnnotation], tuple[str, ...]]:
    """One annotation per ``<image>`` (per job, when a project export repeats an image), and
    notes counting the tags and shapes ``task_type`` does not score.

    Raises
    ------
    FormatError
        Invalid XML; a task type CVAT for images does not hold; other shapes but none the
        task type scores; a rotated box under detection; a malformed coordinate; or one
        image twice within a job.
    """
    source = Path(path).name
    if task_type not in _SCORED:
        raise FormatError(
            source,
            "",
            f"CVAT for images holds tags and shapes; it is not read for {task_type} "
            "(its points and skeletons are not read as keypoints)",
        )
    root = read_cvat_xml(path)
    out: list[VendorAnnotation] = []
    seen: set[tuple[str, str | None]] = set()
    left_out: Counter[str] = Counter()
    n_scored = 0
    untagged: str | None = None
    qualify = _subsets_share_names(root)
    for image in root.iter("image"):
        name = image.get("name")
        if not name:
            raise FormatError(source, f"image id={image.get('id')}", "missing its name")
        subset = image.get("subset") or ""
        if qualify and subset:  # the image's path in the export: images/<subset>/<name>
            name = f"{subset}/{name}"
        job = image.get("job_id") or image.get("task_id")
        who = f"job-{job}" if job is not None else annotator_id
        if (name, who) in seen:
            raise FormatError(source, f"image {name!r}", "appears twice in one job")
        seen.add((name, who))
        label, n = _label(image, task_type, source=source, left_out=left_out)
        if task_type == "classification" and not n and untagged is None:
            untagged = name
        n_scored += n
        out.append(VendorAnnotation(item_id=name, label=label, annotator_id=who))
    wanted = " or ".join(f"<{k}>" for k in _SCORED[task_type])
    if left_out and not n_scored:
        raise FormatError(
            source,
            "",
            f"CVAT for images: no {wanted} with a class name to score as {task_type}; the "
            f"file holds {_counted(left_out)}{_HINT.get(task_type, '')}",
        )
    if untagged is not None:
        raise FormatError(source, f"image {untagged!r}", "needs exactly one <tag>, found 0")
    notes: tuple[str, ...] = (
        (
            "CVAT for images: the same image names appear in several subsets, so every item "
            "id is '<subset>/<name>' (the image's path under images/ in the export)",
        )
        if qualify
        else ()
    )
    notes += (
        (
            f"CVAT for images: left out {sum(left_out.values())} tag(s) and shape(s) that "
            f"{task_type} does not score ({_counted(left_out)}); scored {n_scored} {wanted}"
            f"{_HINT.get(task_type, '')}",
        )
        if left_out
        else ()
    )
    return out, notes


def _cvat_shape(obj: object, where: str) -> str:
    if isinstance(obj, Box):
        x, y, w, h = obj.bbox
        return (
            f'    <box label={quoteattr(obj.category)} xtl="{x!r}" ytl="{y!r}" '
            f'xbr="{x + w!r}" ybr="{y + h!r}" occluded="0"/>'
        )
    if isinstance(obj, Mask):
        seg = obj.segmentation
        if not isinstance(seg, list) or len(seg) != 1:
            raise FormatError("cvat", where, "CVAT polygons hold one polygon, not RLE masks")
        flat = [float(v) for v in seg[0]]
        points = ";".join(f"{flat[k]!r},{flat[k + 1]!r}" for k in range(0, len(flat), 2))
        return f'    <polygon label={quoteattr(obj.category)} points="{points}" occluded="0"/>'
    raise FormatError("cvat", where, f"CVAT images hold tags, boxes or polygons, not {obj!r}")


def write_cvat(
    annotations: Iterable[VendorAnnotation],
    *,
    task_type: TaskType,
    image_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> bytes:
    """One CVAT for images 1.1 ``annotations.xml``: an ``<image>`` per item.

    Classes become ``<tag>`` elements, boxes ``<box>`` and one-polygon masks ``<polygon>``
    (coordinates with full float precision, so :func:`cvat_annotations` reads back the same
    labels); ``image_sizes`` fills ``width``/``height`` where known. Several annotators of
    one item are written as several ``<image>`` elements with a ``job_id`` each, as a CVAT
    project export does.

    Raises
    ------
    FormatError
        Spans or keypoints, an RLE mask, or an annotator twice on one item.
    """
    if task_type not in ("classification", "multilabel", "detection", "segmentation"):
        raise FormatError("cvat", "", f"CVAT for images holds tags and shapes, not {task_type}")
    jobs: dict[str | None, int] = {}
    seen: set[tuple[str, str | None]] = set()
    lines = ['<?xml version="1.0" encoding="utf-8"?>', "<annotations>", "  <version>1.1</version>"]
    for n, ann in enumerate(annotations):
        if (ann.item_id, ann.annotator_id) in seen:
            raise FormatError("cvat", ann.item_id, "answered twice by one annotator")
        seen.add((ann.item_id, ann.annotator_id))
        size = (image_sizes or {}).get(ann.item_id)
        attrs = f'id="{n}" name={quoteattr(ann.item_id)}'
        if size is not None:
            attrs += f' width="{int(size[0])}" height="{int(size[1])}"'
        if ann.annotator_id is not None:
            attrs += f' job_id="{jobs.setdefault(ann.annotator_id, len(jobs) + 1)}"'
        lines.append(f"  <image {attrs}>")
        label = ann.label
        tags = [label] if isinstance(label, str) else label
        for k, obj in enumerate(tags):
            if isinstance(obj, str):
                lines.append(f"    <tag label={quoteattr(obj)}/>")
            else:
                lines.append(_cvat_shape(obj, f"{ann.item_id}[{k}]"))
        lines.append("  </image>")
    lines.append("</annotations>")
    return ("\n".join(lines) + "\n").encode("utf-8")
