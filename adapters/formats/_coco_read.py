"""COCO instances and results files -> validated flat arrays.

Private to :mod:`adapters.formats.coco`, which documents and re-exports the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from pycocotools import mask as coco_mask

from adapters.base import Box, Mask, VendorAnnotation
from adapters.formats._coco_json import (
    BoolArray,
    CocoCategory,
    CocoImage,
    DetectionTask,
    FloatArray,
    IntArray,
    ItemKey,
    Source,
    _areas,
    _ArrayStream,
    _bbox,
    _int,
    _is_int,
    _is_num,
    _json_rle,
    _key,
    _load_json,
    _num,
    _obj,
    _open,
    _segmentation,
    _show,
    _to_rle,
)
from adapters.formats._errors import FormatError

__all__ = [
    "CocoDataset",
    "CocoResults",
    "parse_coco_dataset",
    "read_coco_dataset",
    "parse_coco_results",
    "read_coco_results",
]


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
    notes
        What was read but is not scored (e.g. keypoints), to be said to the user.
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
    notes: tuple[str, ...] = ()

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

    def require_masks(self) -> None:
        """Refuse a gold without a mask on every annotation (for segmentation).

        CVAT writes ``"segmentation": []`` for an object drawn as a box; scored as a mask it
        would silently vanish from the gold.

        Raises
        ------
        FormatError
            Naming how many annotations have no mask.
        """
        bare = sum(1 for s in self.segmentations if s is None)
        if bare:
            raise FormatError(
                self.source,
                "annotations",
                f"segmentation needs a mask on every gold annotation; {bare} of "
                f"{len(self.segmentations)} have none (an empty or missing segmentation)",
            )

    @cached_property
    def rles(self) -> list[dict[str, Any]] | None:
        """Compressed RLE per annotation (as ``COCO.annToRLE``); ``None`` if any lacks a mask."""
        if any(s is None for s in self.segmentations):
            return None
        out = []
        for img, seg in zip(self.image_ids.tolist(), self.segmentations, strict=True):
            im = self.image_by_id[img]
            if seg is None:  # pragma: no cover - checked above
                return None
            if isinstance(seg, list) and im.width == 0:
                raise ValueError(
                    f"{self.source}: image {img} has no width/height; its polygons cannot be "
                    "rasterised for mask evaluation"
                )
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
        keep_crowd: bool = False,
        with_area: bool = False,
    ) -> list[VendorAnnotation]:
        """One DTO per image (in file order; images without boxes get an empty list).

        ``detection`` gives :class:`~adapters.base.Box` labels, ``segmentation``
        :class:`~adapters.base.Mask` labels (annotations without a mask are skipped).
        Crowd regions are not objects a vendor is asked to draw: they are left out, or,
        with ``keep_crowd`` (gold), kept with ``iscrowd=True`` so that scoring ignores
        what is drawn inside them as pycocotools does. ``with_area`` (gold) keeps each
        annotation's ``area``: COCO's small/medium/large split reads it, and on real COCO
        gold it is the polygon's area, not the box's. (A vendor's instances file is read
        as pycocotools reads results, whose areas it recomputes: leave it off there.)
        """
        per_image: dict[int, list[Box] | list[Mask]] = {im.id: [] for im in self.images}
        names = self.category_by_id
        for i in range(self.ann_ids.shape[0]):
            crowd = bool(self.iscrowd[i])
            if crowd and not keep_crowd:
                continue
            img = int(self.image_ids[i])
            cat = names[int(self.category_ids[i])].name
            bucket: list[Any] = per_image[img]
            area = float(self.areas[i]) if with_area else None
            if task_type == "detection":
                x, y, w, h = (float(v) for v in self.boxes[i])
                bucket.append(
                    Box(category=cat, bbox=(x, y, w, h), iscrowd=crowd or None, area=area)
                )
            else:
                seg = self.segmentations[i]
                if seg is not None:
                    bucket.append(
                        Mask(category=cat, segmentation=seg, iscrowd=crowd or None, area=area)
                    )
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
        # Sizes are needed only to rasterise polygons and check bounds; files from other
        # evaluation suites (torchmetrics writes {"id": i}) leave them out: 0 = unknown.
        width = _int(o["width"], source, f"{where}.width", minimum=1) if "width" in o else 0
        height = _int(o["height"], source, f"{where}.height", minimum=1) if "height" in o else 0
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
    with_keypoints = 0
    set_aside: list[int] = []
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
        _refuse_rotation(o, source, where)
        with_keypoints += _keypoint_count(o) > 0
        seg = (
            _segmentation(
                o["segmentation"], source, f"{where}.segmentation", image, check_size=False
            )
            if "segmentation" in o
            else None
        )
        if isinstance(seg, dict) and image.width > 0 and seg["size"] != [image.height, image.width]:
            if "bbox" not in o:
                raise FormatError(
                    source,
                    f"{where}.segmentation.size",
                    f"{seg['size']} does not match image {img} ({image.height}x{image.width}, "
                    "h x w) and there is no bbox to score instead",
                )
            set_aside.append(i)  # a box evaluation does not need it; segm refuses it later
            seg = None
        if isinstance(seg, list) and image.width == 0 and ("bbox" not in o or "area" not in o):
            raise FormatError(
                source,
                f"{where}.segmentation",
                f"image {img} has no width/height, which its polygon needs to be rasterised "
                "(for its box or area); add them to the image",
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
        notes=_dataset_notes(images, with_keypoints, set_aside),
    )


def _dataset_notes(
    images: list[CocoImage], with_keypoints: int, set_aside: list[int]
) -> tuple[str, ...]:
    notes = []
    unsized = sum(im.width == 0 for im in images)
    if unsized:
        notes.append(
            f"{unsized} image(s) have no width/height: their boxes were not checked against "
            "the image bounds"
        )
    if set_aside:
        listed = ", ".join(f"annotations[{i}]" for i in set_aside[:5])
        notes.append(
            f"{len(set_aside)} mask(s) differ in size from their image ({listed}); their boxes "
            "are scored, the masks are not (segm evaluation refuses them)"
        )
    if with_keypoints:
        notes.append(
            f"{with_keypoints} annotation(s) carry keypoints; their boxes and masks are read, "
            "the keypoints are not scored"
        )
    return tuple(notes)


def _refuse_rotation(o: Mapping[str, Any], source: str, where: str) -> None:
    """CVAT's COCO export keeps a rotated box as the unrotated one plus ``attributes.rotation``:
    scoring that box would score a different one, so it is refused, not silently used."""
    attributes = o.get("attributes")
    rotation = attributes.get("rotation") if isinstance(attributes, Mapping) else None
    if isinstance(rotation, int | float) and _is_num(rotation) and float(rotation) % 360:
        raise FormatError(
            source,
            f"{where}.attributes.rotation",
            f"box rotated by {float(rotation):g} degrees: its 'bbox' is the unrotated box, which "
            "would be scored as a different one; export rotated boxes as polygons (CVAT for "
            "images XML is read with the exact outline under segmentation)",
        )


def _keypoint_count(o: Mapping[str, Any]) -> int:
    n = o.get("num_keypoints")
    if isinstance(n, int) and _is_int(n):
        return n
    keypoints = o.get("keypoints")
    return len(keypoints) // 3 if isinstance(keypoints, list) else 0


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
    outside_image
        How many boxes reach more than the tolerance past their image (scored as they are,
        as pycocotools scores them).
    with_keypoints
        How many results carry keypoints (their boxes and masks are read, the keypoints are
        not scored as detection or segmentation).
    """

    source: str
    image_ids: IntArray
    category_ids: IntArray
    boxes: FloatArray
    scores: FloatArray | None
    areas: FloatArray
    rles: tuple[dict[str, Any], ...] | None
    outside_image: int = 0
    with_keypoints: int = 0

    @property
    def notes(self) -> tuple[str, ...]:
        """What was read but not scored, or scored unchecked, to be said to the user."""
        notes = []
        if self.outside_image:
            notes.append(
                f"{self.outside_image} result box(es) reach past their image; scored as they "
                "are (as pycocotools scores them)"
            )
        if self.with_keypoints:
            notes.append(
                f"{self.with_keypoints} result(s) carry keypoints; their boxes and masks are "
                "read, the keypoints are not scored"
            )
        return tuple(notes)

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
                # the area COCO.loadRes gives a mask result: its bbox's when the file
                # carried boxes (detectron2's results do), which the mask alone cannot tell
                item = Mask(
                    category=cat,
                    segmentation=_json_rle(self.rles[i]),
                    score=score,
                    area=float(self.areas[i]),
                )
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
        self.outside = 0
        self.keypoints = 0

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
            # Detectors emit boxes past the border and pycocotools scores them as they are;
            # only meaningless boxes (NaN, negative size) are refused. They are counted.
            box = _bbox(o["bbox"], src, f"{where}.bbox", None, self.tolerance)
            x, y, w, h = box
            t = self.tolerance
            self.outside += x < -t or y < -t or x + w > image.width + t or y + h > image.height + t
            self.box.append(box)
        else:
            x, y, w, h = (float(v) for v in np.asarray(coco_mask.toBbox(self.rle[-1])))
            self.box.append((x, y, w, h))
        if self.has_score:
            self.score.append(_num(o["score"], src, f"{where}.score"))
        self.keypoints += _keypoint_count(o) > 0
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
            outside_image=self.outside,
            with_keypoints=self.keypoints,
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
