"""YOLO text labels: one ``.txt`` per image, coordinates normalised to the image size.

Read from a folder or ``.zip`` (Ultralytics, Darknet/CVAT "YOLO 1.1", Label Studio's YOLO
export). One line per object:

============== ============================================================================
detection      ``class cx cy w h [confidence]`` (centre, width, height; all in [0, 1])
segmentation   ``class x1 y1 x2 y2 x3 y3 ...`` (a polygon, at least three points)
============== ============================================================================

``class`` is a 0-based index into the class names, taken from ``class_names`` when given
(e.g. the project's ontology in the order the vendor was sent it), else from the export's
``classes.txt``, ``obj.names`` or ``data.yaml`` (``names:`` list or mapping). YOLO files carry
no image size, so pixel boxes need the gold's sizes: ``image_sizes`` maps each item id to
``(width, height)``, and a label file is matched to the item whose id has its stem
(``labels/2007_000027.txt`` -> ``2007_000027.jpg``). An oriented box (``class x1 y1 .. x4 y4``)
under ``detection`` is refused rather than replaced by its envelope.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath

import yaml

from adapters.base import Box, LabelValue, Mask, TaskType, VendorAnnotation
from adapters.formats._errors import FormatError
from adapters.formats._members import iter_members

__all__ = ["write_yolo", "yolo_annotations", "yolo_class_names"]

_NAME_FILES = ("classes.txt", "obj.names")


def yolo_class_names(members: Mapping[str, bytes], *, source: str) -> list[str] | None:
    """Class names from the export's ``classes.txt``/``obj.names``/``data.yaml``, if any."""
    by_base = {PurePosixPath(n).name: c for n, c in members.items()}
    for name in _NAME_FILES:
        if name in by_base:
            return [ln.strip() for ln in by_base[name].decode("utf-8").splitlines() if ln.strip()]
    for name in ("data.yaml", "dataset.yaml"):
        if name in by_base:
            try:
                names = yaml.safe_load(by_base[name]).get("names")
            except (yaml.YAMLError, AttributeError) as exc:
                raise FormatError(source, name, f"cannot read 'names' ({exc})") from exc
            if isinstance(names, dict):
                return [str(names[k]) for k in sorted(names)]
            if isinstance(names, list):
                return [str(n) for n in names]
            raise FormatError(source, f"{name}.names", "must be a list or a mapping of names")
    return None


def _coords(tokens: Sequence[str], *, source: str, where: str) -> list[float]:
    try:
        values = [float(t) for t in tokens]
    except ValueError as exc:
        raise FormatError(source, where, f"not a number ({exc})") from exc
    if not all(math.isfinite(v) for v in values):
        raise FormatError(source, where, "coordinates must be finite numbers")
    return values


def _object(
    line: str,
    *,
    names: Sequence[str],
    size: tuple[int, int],
    task_type: TaskType,
    where: str,
    source: str,
) -> Box | Mask:
    tokens = line.split()
    try:
        cls = int(tokens[0])
    except ValueError as exc:
        raise FormatError(source, where, f"class index {tokens[0]!r} is not an integer") from exc
    if not 0 <= cls < len(names):
        raise FormatError(source, where, f"class index {cls} is not in 0..{len(names) - 1}")
    w, h = size
    values = _coords(tokens[1:], source=source, where=where)
    if task_type == "detection":
        if len(values) == 8:
            raise FormatError(
                source,
                where,
                "an oriented box (4 corners): rotated boxes are not scored as "
                "axis-aligned ones; export axis-aligned boxes or use --task segmentation",
            )
        if len(values) not in (4, 5):
            raise FormatError(source, where, f"expected 'class cx cy w h [conf]', got {line!r}")
        cx, cy, bw, bh = values[:4]
        if bw < 0 or bh < 0:
            raise FormatError(source, where, "width and height must be >= 0")
        score = values[4] if len(values) == 5 else None
        box = ((cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h)
        return Box(category=names[cls], bbox=box, score=score)
    if len(values) < 6 or len(values) % 2:
        raise FormatError(source, where, "a polygon needs 'class x1 y1 x2 y2 x3 y3 ...'")
    points = [v * (w if k % 2 == 0 else h) for k, v in enumerate(values)]
    return Mask(category=names[cls], segmentation=[points])


def yolo_annotations(
    path: str | os.PathLike[str],
    *,
    image_sizes: Mapping[str, tuple[int, int]],
    task_type: TaskType = "detection",
    class_names: Sequence[str] | None = None,
    annotator_id: str | None = None,
) -> list[VendorAnnotation]:
    """A YOLO export as one annotation per label file.

    Parameters
    ----------
    image_sizes
        ``item id -> (width, height)`` of the gold items; label files are matched by stem.
    class_names
        Names for the class indices; else the export's own names file.

    Raises
    ------
    FormatError
        No class names, a label file for no known item, a malformed line, an index outside
        the names, or a task type YOLO cannot carry.
    """
    if task_type not in ("detection", "segmentation"):
        raise FormatError(str(path), "", f"YOLO files carry boxes or polygons, not {task_type}")
    source = PurePosixPath(os.fspath(path)).name
    members = dict(iter_members(path, suffixes=frozenset({".txt", ".names", ".yaml"})))
    names = (
        list(class_names) if class_names is not None else yolo_class_names(members, source=source)
    )
    if not names:
        raise FormatError(
            source,
            "",
            "no class names: add classes.txt/obj.names/data.yaml or "
            "give the classes in the order the vendor was sent them",
        )
    by_stem: dict[str, str] = {}
    for item_id in image_sizes:
        by_stem.setdefault(PurePosixPath(item_id).stem, item_id)
    out: list[VendorAnnotation] = []
    for name, content in members.items():
        base = PurePosixPath(name)
        if (
            base.suffix != ".txt"
            or base.name in _NAME_FILES
            or base.name in ("train.txt", "valid.txt", "test.txt")
        ):
            continue
        found = by_stem.get(base.stem)
        if found is None:
            raise FormatError(source, name, f"no gold item has the stem {base.stem!r}")
        item_id = found
        objects: list[Box | Mask] = []
        for k, line in enumerate(content.decode("utf-8-sig").splitlines(), start=1):
            if line.strip():
                objects.append(
                    _object(
                        line,
                        names=names,
                        size=image_sizes[item_id],
                        task_type=task_type,
                        where=f"{name}: line {k}",
                        source=source,
                    )
                )
        label: LabelValue = objects  # type: ignore[assignment]
        out.append(VendorAnnotation(item_id=item_id, label=label, annotator_id=annotator_id))
    return out


def _yolo_line(obj: Box | Mask, code: Mapping[str, int], w: int, h: int, where: str) -> str:
    if obj.category not in code:
        raise FormatError("yolo", where, f"class {obj.category!r} is not in the class names")
    if isinstance(obj, Box):
        x, y, bw, bh = obj.bbox
        values = [(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]
        if obj.score is not None:
            values.append(obj.score)
    else:
        seg = obj.segmentation
        if not isinstance(seg, list) or len(seg) != 1:
            raise FormatError("yolo", where, "YOLO holds one polygon per object, not RLE masks")
        values = [v / (w if k % 2 == 0 else h) for k, v in enumerate(seg[0])]
    return " ".join([str(code[obj.category]), *(repr(float(v)) for v in values)])


def write_yolo(
    annotations: Iterable[VendorAnnotation],
    *,
    image_sizes: Mapping[str, tuple[int, int]],
    class_names: Sequence[str],
) -> dict[str, bytes]:
    """YOLO label files, one per item (``<item stem>.txt``), and ``classes.txt``.

    Boxes become ``class cx cy w h [confidence]`` and one-polygon masks ``class x1 y1 ...``,
    normalised by the item's ``(width, height)`` from ``image_sizes`` and written with full
    float precision, so :func:`yolo_annotations` reads back the same pixels (to rounding).

    Raises
    ------
    FormatError
        An item without a size, a class outside ``class_names``, an RLE mask, a label that
        is not boxes or masks, or two answers for one file.
    """
    code = {name: k for k, name in enumerate(class_names)}
    files: dict[str, bytes] = {"classes.txt": ("\n".join(class_names) + "\n").encode("utf-8")}
    for ann in annotations:
        label = ann.label
        if not isinstance(label, list) or not all(isinstance(o, Box | Mask) for o in label):
            raise FormatError("yolo", ann.item_id, "YOLO holds boxes or polygons only")
        size = image_sizes.get(ann.item_id)
        if size is None:
            raise FormatError("yolo", ann.item_id, "needs the image's width and height")
        name = f"{PurePosixPath(ann.item_id).stem}.txt"
        if name in files:
            raise FormatError("yolo", ann.item_id, f"{name} would hold two answers")
        lines = [
            _yolo_line(o, code, size[0], size[1], f"{ann.item_id}[{k}]")
            for k, o in enumerate(label)
            if isinstance(o, Box | Mask)
        ]
        files[name] = "".join(f"{line}\n" for line in lines).encode("utf-8")
    return files
