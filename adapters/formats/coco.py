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

import codecs
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
from pycocotools import mask as coco_mask

from adapters.base import Box, Mask, VendorAnnotation
from adapters.formats._errors import FormatError

__all__ = [
    "CocoImage",
    "CocoCategory",
    "CocoDataset",
    "CocoResults",
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

Source: TypeAlias = str | os.PathLike[str] | IO[bytes]
DetectionTask = Literal["detection", "segmentation"]
ItemKey = Literal["id", "file_name"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_CHUNK = 1 << 16
_AREA_CHUNK = 255  # pycocotools' area() overflows a uint8 count past 255 masks per call


@dataclass(frozen=True)
class CocoImage:
    """One image of an instances file."""

    id: int
    width: int
    height: int
    file_name: str = ""


@dataclass(frozen=True)
class CocoCategory:
    """One category of an instances file."""

    id: int
    name: str
    supercategory: str = ""


# --------------------------------------------------------------------------- helpers


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _int(v: object, source: str, where: str, *, minimum: int | None = None) -> int:
    if not _is_int(v):
        raise FormatError(source, where, f"must be an integer, got {_show(v)}")
    assert isinstance(v, int)
    if minimum is not None and v < minimum:
        raise FormatError(source, where, f"must be >= {minimum}, got {v}")
    return v


def _num(v: object, source: str, where: str) -> float:
    if not _is_num(v):
        raise FormatError(source, where, f"must be a number, got {_show(v)}")
    f = float(v)  # type: ignore[arg-type]
    if not math.isfinite(f):
        raise FormatError(source, where, f"must be finite, got {f}")
    return f


def _show(v: object) -> str:
    text = (
        json.dumps(v) if isinstance(v, str | int | float | bool | type(None)) else type(v).__name__
    )
    return text if len(text) <= 40 else text[:37] + "..."


def _obj(v: object, source: str, where: str) -> Mapping[str, Any]:
    if not isinstance(v, Mapping):
        raise FormatError(source, where, f"must be a JSON object, got {_show(v)}")
    return v


def _key(obj: Mapping[str, Any], key: str, source: str, where: str) -> Any:
    if key not in obj:
        raise FormatError(source, where, f"missing key '{key}'")
    return obj[key]


def _bbox(
    v: object, source: str, where: str, image: CocoImage | None, tolerance: float
) -> tuple[float, float, float, float]:
    if not isinstance(v, list | tuple) or len(v) != 4:
        raise FormatError(source, where, f"must be [x, y, width, height], got {_show(v)}")
    if not all(_is_num(c) for c in v):
        raise FormatError(source, where, "must hold 4 numbers")
    x, y, w, h = (float(c) for c in v)
    if not all(math.isfinite(c) for c in (x, y, w, h)):
        raise FormatError(source, where, "has a NaN or infinite value")
    if w < 0 or h < 0:
        raise FormatError(source, where, f"has negative width or height ({w}, {h})")
    if image is not None and (
        x < -tolerance
        or y < -tolerance
        or x + w > image.width + tolerance
        or y + h > image.height + tolerance
    ):
        raise FormatError(
            source,
            where,
            f"box [{x}, {y}, {w}, {h}] lies outside image {image.id} "
            f"({image.width}x{image.height})",
        )
    return x, y, w, h


def _segmentation(
    v: object, source: str, where: str, image: CocoImage
) -> list[list[float]] | dict[str, Any] | None:
    """Validate polygons or RLE; ``None`` for an empty polygon list."""
    if isinstance(v, list):
        if not v:
            return None
        polys: list[list[float]] = []
        for i, poly in enumerate(v):
            w = f"{where}[{i}]"
            if not isinstance(poly, list) or not all(_is_num(c) for c in poly):
                raise FormatError(source, w, "a polygon must be a list of numbers")
            if len(poly) < 6 or len(poly) % 2:
                raise FormatError(
                    source,
                    w,
                    f"a polygon needs an even number >= 6 of coordinates, got {len(poly)}",
                )
            coords = [float(c) for c in poly]
            if not all(math.isfinite(c) for c in coords):
                raise FormatError(source, w, "has a NaN or infinite coordinate")
            polys.append(coords)
        return polys
    if isinstance(v, Mapping):
        size = _key(v, "size", source, where)
        counts = _key(v, "counts", source, where)
        if not isinstance(size, list) or len(size) != 2 or not all(_is_int(s) for s in size):
            raise FormatError(source, f"{where}.size", "must be [height, width]")
        if size != [image.height, image.width]:
            raise FormatError(
                source,
                f"{where}.size",
                f"{size} does not match image {image.id} ({image.height}x{image.width}, h x w)",
            )
        if isinstance(counts, list):
            if not all(_is_int(c) and c >= 0 for c in counts):
                raise FormatError(source, f"{where}.counts", "must be non-negative integers")
            if sum(counts) != size[0] * size[1]:
                raise FormatError(
                    source, f"{where}.counts", f"run lengths sum to {sum(counts)}, not h*w"
                )
        elif not isinstance(counts, str):
            raise FormatError(source, f"{where}.counts", "must be an RLE string or integer list")
        return {"size": list(size), "counts": counts}
    raise FormatError(source, where, f"must be polygons or an RLE object, got {_show(v)}")


def _to_rle(seg: list[list[float]] | Mapping[str, Any], height: int, width: int) -> dict[str, Any]:
    """Compressed RLE exactly as ``pycocotools.coco.COCO.annToRLE`` builds it."""
    if isinstance(seg, list):
        return dict(coco_mask.merge(coco_mask.frPyObjects(seg, height, width)))
    counts = seg["counts"]
    if isinstance(counts, list):
        return dict(coco_mask.frPyObjects(dict(seg), height, width))
    raw = counts.encode("ascii") if isinstance(counts, str) else counts
    return {"size": list(seg["size"]), "counts": raw}


def _areas(rles: Sequence[Mapping[str, Any]]) -> FloatArray:
    out = np.zeros(len(rles), dtype=np.float64)
    items = list(rles)
    for start in range(0, len(items), _AREA_CHUNK):
        chunk = items[start : start + _AREA_CHUNK]
        out[start : start + len(chunk)] = np.asarray(coco_mask.area(chunk), dtype=np.float64)
    return out


def _json_rle(rle: Mapping[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {
        "size": [int(s) for s in rle["size"]],
        "counts": counts.decode("ascii") if isinstance(counts, bytes) else counts,
    }


def _open(source: Source, name: str | None) -> tuple[IO[bytes], str, bool]:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return path.open("rb"), name or path.name, True
        except OSError as exc:
            raise FormatError(name or path.name, "", f"cannot open: {exc.strerror}") from exc
    return source, name or getattr(source, "name", None) or "<upload>", False


def _load_json(source: Source, name: str | None) -> tuple[Any, str]:
    stream, label, close = _open(source, name)
    try:
        raw = stream.read()
    finally:
        if close:
            stream.close()
    try:
        text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise FormatError(label, f"byte {exc.start}", "not UTF-8 text") from exc
    try:
        return json.loads(text), label
    except json.JSONDecodeError as exc:
        raise FormatError(
            label, f"line {exc.lineno} column {exc.colno}", f"invalid JSON: {exc.msg}"
        ) from exc


class _ArrayStream:
    """Yield ``(index, element)`` of a top-level JSON array without parsing it whole."""

    def __init__(self, stream: IO[bytes], source: str) -> None:
        self._stream = stream
        self._source = source
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._stream.read(_CHUNK)
        if isinstance(chunk, str):
            raise TypeError("pass a binary stream (open(..., 'rb'))")
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise FormatError(self._source, "", "not UTF-8 text") from exc
        self._eof = not chunk
        self._buf = self._buf[self._pos :] + text
        self._pos = 0
        return True

    def _peek(self) -> str:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        first = self._peek()
        if first != "[":
            found = "an empty file" if first == "" else repr(first)
            raise FormatError(self._source, "", f"expected a JSON array of results, got {found}")
        self._pos += 1
        index = 0
        if self._peek() == "]":
            self._pos += 1
        else:
            while True:
                where = f"[{index}]"
                if self._peek() == "":
                    raise FormatError(self._source, where, "invalid JSON: the file ends early")
                while True:
                    try:
                        value, end = self._json.raw_decode(self._buf, self._pos)
                        break
                    except json.JSONDecodeError as exc:
                        if not self._fill():
                            raise FormatError(
                                self._source, where, f"invalid JSON: {exc.msg}"
                            ) from exc
                self._pos = end
                yield index, value
                nxt = self._peek()
                self._pos += 1
                if nxt == "]":
                    break
                if nxt != ",":
                    got = "end of file" if nxt == "" else repr(nxt)
                    raise FormatError(
                        self._source, where, f"invalid JSON: expected ',' or ']', got {got}"
                    )
                index += 1
        if self._peek() != "":
            raise FormatError(self._source, "", "invalid JSON: extra data after the array")


# --------------------------------------------------------------------------- gold


@dataclass(frozen=True, eq=False)
class CocoDataset:
    """A validated COCO instances file as flat arrays (one row per annotation).

    Satisfies ``metrics.detection.GoldInstances``.

    Attributes
    ----------
    source
        File name used in messages.
    images, categories
        Every image and category, in file order.
    ann_ids, image_ids, category_ids
        ``(N,)`` ids per annotation.
    boxes
        ``(N, 4)`` ``[x, y, w, h]``.
    areas
        ``(N,)`` the file's ``area`` (else mask area, else ``w*h``).
    iscrowd
        ``(N,)`` crowd flags.
    segmentations
        ``N`` validated segmentations as in the file (polygons or RLE), ``None`` if absent.
    """

    source: str
    images: tuple[CocoImage, ...]
    categories: tuple[CocoCategory, ...]
    ann_ids: IntArray
    image_ids: IntArray
    category_ids: IntArray
    boxes: FloatArray
    areas: FloatArray
    iscrowd: BoolArray
    segmentations: tuple[list[list[float]] | dict[str, Any] | None, ...]

    @cached_property
    def all_image_ids(self) -> IntArray:
        """Every image id, sorted (images without annotations included)."""
        return np.unique(np.array([im.id for im in self.images], dtype=np.int64))

    @cached_property
    def all_category_ids(self) -> IntArray:
        """Every category id, sorted."""
        return np.unique(np.array([c.id for c in self.categories], dtype=np.int64))

    @cached_property
    def image_by_id(self) -> Mapping[int, CocoImage]:
        return {im.id: im for im in self.images}

    @cached_property
    def category_by_id(self) -> Mapping[int, CocoCategory]:
        return {c.id: c for c in self.categories}

    @cached_property
    def category_id_by_name(self) -> Mapping[str, int]:
        return {c.name: c.id for c in self.categories}

    @cached_property
    def rles(self) -> list[dict[str, Any]] | None:
        """Compressed RLE per annotation (as ``COCO.annToRLE``); ``None`` if any lacks a mask."""
        if any(s is None for s in self.segmentations):
            return None
        out = []
        for img, seg in zip(self.image_ids.tolist(), self.segmentations, strict=True):
            im = self.image_by_id[img]
            assert seg is not None
            out.append(_to_rle(seg, im.height, im.width))
        return out

    def item_id(self, image_id: int, item_key: ItemKey = "id") -> str:
        """The Bakeoff item id of an image: its COCO id or its file name."""
        im = self.image_by_id[image_id]
        return str(im.id) if item_key == "id" else im.file_name

    def to_vendor_annotations(
        self,
        task_type: DetectionTask,
        *,
        item_key: ItemKey = "id",
        annotator_id: str | None = None,
    ) -> list[VendorAnnotation]:
        """One DTO per image (in file order; images without boxes get an empty list).

        ``detection`` gives :class:`~adapters.base.Box` labels, ``segmentation``
        :class:`~adapters.base.Mask` labels (annotations without a mask are skipped).
        Crowd regions are not objects a vendor is asked to draw and are left out.
        """
        per_image: dict[int, list[Box] | list[Mask]] = {im.id: [] for im in self.images}
        names = self.category_by_id
        for i in range(self.ann_ids.shape[0]):
            if self.iscrowd[i]:
                continue
            img = int(self.image_ids[i])
            cat = names[int(self.category_ids[i])].name
            bucket: list[Any] = per_image[img]
            if task_type == "detection":
                x, y, w, h = (float(v) for v in self.boxes[i])
                bucket.append(Box(category=cat, bbox=(x, y, w, h)))
            else:
                seg = self.segmentations[i]
                if seg is not None:
                    bucket.append(Mask(category=cat, segmentation=seg))
        return [
            VendorAnnotation(
                item_id=self.item_id(im.id, item_key),
                label=per_image[im.id],
                annotator_id=annotator_id,
            )
            for im in self.images
        ]


def parse_coco_dataset(
    obj: object, *, source: str = "<upload>", bounds_tolerance: float = 1.0
) -> CocoDataset:
    """Validate an already-parsed instances object; see :func:`read_coco_dataset`."""
    top = _obj(obj, source, "")
    images_raw = _key(top, "images", source, "")
    cats_raw = _key(top, "categories", source, "")
    anns_raw = _key(top, "annotations", source, "")
    for name, value in (
        ("images", images_raw),
        ("categories", cats_raw),
        ("annotations", anns_raw),
    ):
        if not isinstance(value, list):
            raise FormatError(source, name, f"must be a JSON array, got {_show(value)}")

    images: list[CocoImage] = []
    seen_img: dict[int, int] = {}
    for i, raw in enumerate(images_raw):
        where = f"images[{i}]"
        o = _obj(raw, source, where)
        iid = _int(_key(o, "id", source, where), source, f"{where}.id")
        if iid in seen_img:
            raise FormatError(
                source,
                f"{where}.id",
                f"duplicate image id {iid} (first at images[{seen_img[iid]}])",
            )
        seen_img[iid] = i
        width = _int(_key(o, "width", source, where), source, f"{where}.width", minimum=1)
        height = _int(_key(o, "height", source, where), source, f"{where}.height", minimum=1)
        fname = o.get("file_name", "")
        if not isinstance(fname, str):
            raise FormatError(source, f"{where}.file_name", "must be a string")
        images.append(CocoImage(id=iid, width=width, height=height, file_name=fname))

    categories: list[CocoCategory] = []
    seen_cat: dict[int, int] = {}
    seen_name: dict[str, int] = {}
    for i, raw in enumerate(cats_raw):
        where = f"categories[{i}]"
        o = _obj(raw, source, where)
        cid = _int(_key(o, "id", source, where), source, f"{where}.id")
        if cid in seen_cat:
            raise FormatError(
                source,
                f"{where}.id",
                f"duplicate category id {cid} (first at categories[{seen_cat[cid]}])",
            )
        name = _key(o, "name", source, where)
        if not isinstance(name, str) or not name:
            raise FormatError(source, f"{where}.name", "must be a non-empty string")
        if name in seen_name:
            raise FormatError(
                source,
                f"{where}.name",
                f"duplicate category name {name!r} (first at categories[{seen_name[name]}])",
            )
        seen_cat[cid] = i
        seen_name[name] = i
        sup = o.get("supercategory", "")
        categories.append(
            CocoCategory(id=cid, name=name, supercategory=sup if isinstance(sup, str) else "")
        )

    by_id = {im.id: im for im in images}
    n = len(anns_raw)
    ann_ids = np.empty(n, dtype=np.int64)
    image_ids = np.empty(n, dtype=np.int64)
    category_ids = np.empty(n, dtype=np.int64)
    boxes = np.empty((n, 4), dtype=np.float64)
    areas = np.empty(n, dtype=np.float64)
    iscrowd = np.zeros(n, dtype=bool)
    segs: list[list[list[float]] | dict[str, Any] | None] = []
    need_area: list[int] = []
    seen_ann: dict[int, int] = {}
    for i, raw in enumerate(anns_raw):
        where = f"annotations[{i}]"
        o = _obj(raw, source, where)
        aid = _int(_key(o, "id", source, where), source, f"{where}.id")
        if aid in seen_ann:
            raise FormatError(
                source,
                f"{where}.id",
                f"duplicate annotation id {aid} (first at annotations[{seen_ann[aid]}])",
            )
        seen_ann[aid] = i
        img = _int(_key(o, "image_id", source, where), source, f"{where}.image_id")
        if img not in by_id:
            raise FormatError(source, f"{where}.image_id", f"image {img} is not in 'images'")
        cat = _int(_key(o, "category_id", source, where), source, f"{where}.category_id")
        if cat not in seen_cat:
            raise FormatError(
                source, f"{where}.category_id", f"category {cat} is not in 'categories'"
            )
        image = by_id[img]
        seg = (
            _segmentation(o["segmentation"], source, f"{where}.segmentation", image)
            if "segmentation" in o
            else None
        )
        if "bbox" in o:
            boxes[i] = _bbox(o["bbox"], source, f"{where}.bbox", image, bounds_tolerance)
        elif seg is not None:
            boxes[i] = np.asarray(coco_mask.toBbox(_to_rle(seg, image.height, image.width)))
        else:
            raise FormatError(source, where, "missing key 'bbox' (and no segmentation)")
        crowd = o.get("iscrowd", 0)
        if crowd not in (0, 1) or isinstance(crowd, float):
            raise FormatError(source, f"{where}.iscrowd", f"must be 0 or 1, got {_show(crowd)}")
        if "area" in o:
            area = _num(o["area"], source, f"{where}.area")
            if area < 0:
                raise FormatError(source, f"{where}.area", f"must be >= 0, got {area}")
            areas[i] = area
        else:
            need_area.append(i)
        ann_ids[i], image_ids[i], category_ids[i] = aid, img, cat
        iscrowd[i] = bool(crowd)
        segs.append(seg)
    if need_area:
        with_mask = [i for i in need_area if segs[i] is not None]
        if with_mask:
            rles = []
            for i in with_mask:
                seg = segs[i]
                assert seg is not None
                im = by_id[int(image_ids[i])]
                rles.append(_to_rle(seg, im.height, im.width))
            areas[with_mask] = _areas(rles)
        no_mask = [i for i in need_area if segs[i] is None]
        areas[no_mask] = boxes[no_mask, 2] * boxes[no_mask, 3]
    return CocoDataset(
        source=source,
        images=tuple(images),
        categories=tuple(categories),
        ann_ids=ann_ids,
        image_ids=image_ids,
        category_ids=category_ids,
        boxes=boxes,
        areas=areas,
        iscrowd=iscrowd,
        segmentations=tuple(segs),
    )


def read_coco_dataset(
    source: Source, *, name: str | None = None, bounds_tolerance: float = 1.0
) -> CocoDataset:
    """Read and validate a COCO instances JSON file.

    Parameters
    ----------
    source
        A path or a binary stream.
    name
        File name for messages (default: the path's name or the stream's ``name``).
    bounds_tolerance
        How many pixels a box may reach past the image border (rounding slack).

    Raises
    ------
    FormatError
        One line naming the file, the object and the problem, e.g.
        ``gold.json: annotations[12].bbox: has negative width or height (-3.0, 4.0)``.
    """
    obj, label = _load_json(source, name)
    return parse_coco_dataset(obj, source=label, bounds_tolerance=bounds_tolerance)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class CocoResults:
    """A validated COCO results list as flat arrays (one row per result).

    Satisfies ``metrics.detection.DetectionSet``.

    Attributes
    ----------
    source
        File name used in messages.
    image_ids, category_ids
        ``(N,)`` ids per result (all present in the gold set).
    boxes
        ``(N, 4)`` ``[x, y, w, h]`` (from the mask when the file has no ``bbox``).
    scores
        ``(N,)`` confidences, or ``None`` when the file has none (human labels).
    areas
        ``(N,)`` areas by ``COCO.loadRes``' rule.
    rles
        ``N`` compressed RLE masks, or ``None`` when the file has no segmentations.
    """

    source: str
    image_ids: IntArray
    category_ids: IntArray
    boxes: FloatArray
    scores: FloatArray | None
    areas: FloatArray
    rles: tuple[dict[str, Any], ...] | None

    def to_vendor_annotations(
        self,
        gold: CocoDataset,
        task_type: DetectionTask,
        *,
        item_key: ItemKey = "id",
        annotator_id: str | None = None,
        all_images: bool = False,
    ) -> list[VendorAnnotation]:
        """One DTO per image that has results (every gold image if ``all_images``)."""
        names = gold.category_by_id
        per_image: dict[int, list[Any]] = {}
        if all_images:
            per_image = {im.id: [] for im in gold.images}
        for i in range(self.image_ids.shape[0]):
            img = int(self.image_ids[i])
            cat = names[int(self.category_ids[i])].name
            score = None if self.scores is None else float(self.scores[i])
            if task_type == "detection":
                x, y, w, h = (float(v) for v in self.boxes[i])
                item: Box | Mask = Box(category=cat, bbox=(x, y, w, h), score=score)
            else:
                if self.rles is None:
                    raise ValueError(f"{self.source}: has no segmentations to export as masks")
                item = Mask(category=cat, segmentation=_json_rle(self.rles[i]), score=score)
            per_image.setdefault(img, []).append(item)
        return [
            VendorAnnotation(
                item_id=gold.item_id(img, item_key), label=labels, annotator_id=annotator_id
            )
            for img, labels in per_image.items()
        ]


class _ResultsBuilder:
    def __init__(self, gold: CocoDataset, source: str, tolerance: float) -> None:
        self.gold = gold
        self.source = source
        self.tolerance = tolerance
        self.img: list[int] = []
        self.cat: list[int] = []
        self.box: list[tuple[float, float, float, float]] = []
        self.score: list[float] = []
        self.rle: list[dict[str, Any]] = []
        self.has_box: bool | None = None
        self.has_seg: bool | None = None
        self.has_score: bool | None = None

    def _same(self, kind: str, now: bool, before: bool | None, where: str) -> bool:
        if before is not None and before != now:
            verb = "has no" if before else "has a"
            other = "have one" if before else "do not"
            raise FormatError(
                self.source, where, f"{verb} '{kind}' while the results before it {other}"
            )
        return now

    def add(self, index: int, raw: object) -> None:
        src = self.source
        where = f"[{index}]"
        o = _obj(raw, src, where)
        img = _int(_key(o, "image_id", src, where), src, f"{where}.image_id")
        image = self.gold.image_by_id.get(img)
        if image is None:
            raise FormatError(
                src, f"{where}.image_id", f"image {img} is not in the gold set ({self.gold.source})"
            )
        cat = _int(_key(o, "category_id", src, where), src, f"{where}.category_id")
        if cat not in self.gold.category_by_id:
            raise FormatError(
                src,
                f"{where}.category_id",
                f"category {cat} is missing from the gold categories ({self.gold.source})",
            )
        has_box = "bbox" in o and o["bbox"] != []
        has_seg = "segmentation" in o and o["segmentation"] not in ([], None)
        if not has_box and not has_seg:
            raise FormatError(src, where, "needs a 'bbox' or a 'segmentation'")
        self.has_box = self._same("bbox", has_box, self.has_box, where)
        self.has_seg = self._same("segmentation", has_seg, self.has_seg, where)
        self.has_score = self._same("score", "score" in o, self.has_score, where)
        if has_seg:
            seg = _segmentation(o["segmentation"], src, f"{where}.segmentation", image)
            assert seg is not None
            self.rle.append(_to_rle(seg, image.height, image.width))
        if has_box:
            self.box.append(_bbox(o["bbox"], src, f"{where}.bbox", image, self.tolerance))
        else:
            x, y, w, h = (float(v) for v in np.asarray(coco_mask.toBbox(self.rle[-1])))
            self.box.append((x, y, w, h))
        if self.has_score:
            self.score.append(_num(o["score"], src, f"{where}.score"))
        self.img.append(img)
        self.cat.append(cat)

    def build(self) -> CocoResults:
        n = len(self.img)
        boxes = np.array(self.box, dtype=np.float64).reshape(n, 4)
        rles = tuple(self.rle) if self.has_seg else None
        # COCO.loadRes: box area when results carry boxes, else mask area
        if self.has_box or rles is None:
            areas = boxes[:, 2] * boxes[:, 3]
        else:
            areas = _areas(rles)
        return CocoResults(
            source=self.source,
            image_ids=np.array(self.img, dtype=np.int64),
            category_ids=np.array(self.cat, dtype=np.int64),
            boxes=boxes,
            scores=np.array(self.score, dtype=np.float64) if self.has_score else None,
            areas=areas,
            rles=rles,
        )


def parse_coco_results(
    obj: object, gold: CocoDataset, *, source: str = "<upload>", bounds_tolerance: float = 1.0
) -> CocoResults:
    """Validate an already-parsed results list; see :func:`read_coco_results`."""
    if not isinstance(obj, list):
        raise FormatError(source, "", f"expected a JSON array of results, got {_show(obj)}")
    builder = _ResultsBuilder(gold, source, bounds_tolerance)
    for i, raw in enumerate(obj):
        builder.add(i, raw)
    return builder.build()


def read_coco_results(
    source: Source,
    gold: CocoDataset,
    *,
    name: str | None = None,
    bounds_tolerance: float = 1.0,
) -> CocoResults:
    """Read and validate a COCO results JSON file against the gold set, streaming.

    Every element needs ``image_id`` (an image of ``gold``), ``category_id`` (a gold
    category) and a ``bbox`` and/or ``segmentation``; ``score`` is optional but then
    absent from every element (unscored human labels) or present in every one.

    Raises
    ------
    FormatError
        E.g. ``vendor.json: [5].category_id: category 91 is missing from the gold
        categories (gold.json)``.
    """
    stream, label, close = _open(source, name)
    try:
        builder = _ResultsBuilder(gold, label, bounds_tolerance)
        for i, raw in _ArrayStream(stream, label):
            builder.add(i, raw)
    finally:
        if close:
            stream.close()
    return builder.build()


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
                "iscrowd": 0,
            }
            if isinstance(obj, Box):
                a["bbox"] = list(obj.bbox)
            else:
                a["segmentation"] = obj.segmentation
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
