"""COCO keypoints: gold (``person_keypoints_*.json``) and keypoint results arrays.

Gold is a COCO dataset whose categories name their ``keypoints`` in order (an optional,
non-standard ``sigmas`` list beside them gives the OKS falloffs) and whose annotations carry
``keypoints`` (``[x1, y1, v1, ...]``) and ``num_keypoints``. Results are a JSON array of
``{"image_id", "category_id", "keypoints", "score"}``; boxes are not needed (CrowdPose
style). Both become :class:`adapters.base.Keypoints` answers per image.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

from adapters.base import Keypoints, VendorAnnotation
from adapters.formats._errors import FormatError

__all__ = [
    "KeypointCategory",
    "KeypointDataset",
    "read_keypoint_dataset",
    "read_keypoint_results",
]


@dataclass(frozen=True)
class KeypointCategory:
    """A category with its keypoint names in order and optional OKS sigmas."""

    id: int
    name: str
    keypoints: tuple[str, ...]
    sigmas: tuple[float, ...] | None = None


@dataclass(frozen=True, eq=False)
class KeypointDataset:
    """A COCO keypoints gold file: image keys, categories and poses per image."""

    source: str
    image_keys: Mapping[int, str]
    categories: tuple[KeypointCategory, ...]
    poses: Mapping[str, tuple[Keypoints, ...]]
    notes: tuple[str, ...] = ()

    def category_name(self, category_id: int) -> str | None:
        """The name of a category id (``None`` when unknown)."""
        for c in self.categories:
            if c.id == category_id:
                return c.name
        return None

    def to_vendor_annotations(self) -> list[VendorAnnotation]:
        """One answer per image (an image without poses answers "no pose here")."""
        return [
            VendorAnnotation(item_id=key, label=list(poses)) for key, poses in self.poses.items()
        ]


Source = str | os.PathLike[str] | IO[bytes]


def _load(path: Source, name: str | None) -> tuple[str, Any]:
    if not isinstance(path, str | os.PathLike):
        source = name or "<upload>"
        try:
            return source, json.load(path)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(source, "", f"not valid JSON: {exc}") from exc
    source = name or Path(path).name
    try:
        with Path(path).open("rb") as f:
            return source, json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(source, "", f"not valid JSON: {exc}") from exc


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _points(
    raw: object, source: str, where: str, n_k: int | None
) -> tuple[tuple[float, float, float], ...]:
    if not isinstance(raw, list) or len(raw) % 3 or not all(_number(v) for v in raw):
        raise FormatError(source, where, "keypoints must be a flat list of finite x, y, v numbers")
    if n_k is not None and len(raw) != 3 * n_k:
        raise FormatError(source, where, f"{len(raw) // 3} keypoints, but the category names {n_k}")
    return tuple(
        (float(raw[i]), float(raw[i + 1]), float(raw[i + 2])) for i in range(0, len(raw), 3)
    )


def _categories(data: Mapping[str, Any], source: str) -> tuple[KeypointCategory, ...]:
    cats = data.get("categories")
    if not isinstance(cats, list):
        raise FormatError(source, "categories", "expected a list of categories")
    out: list[KeypointCategory] = []
    for i, c in enumerate(cats):
        where = f"categories[{i}]"
        if not isinstance(c, dict) or not isinstance(c.get("id"), int) or "name" not in c:
            raise FormatError(source, where, "a category needs an integer id and a name")
        names = c.get("keypoints", [])
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise FormatError(source, f"{where}.keypoints", "expected a list of keypoint names")
        sigmas = c.get("sigmas")
        if sigmas is not None and (
            not isinstance(sigmas, list)
            or len(sigmas) != len(names)
            or not all(_number(s) and s > 0 for s in sigmas)
        ):
            raise FormatError(source, f"{where}.sigmas", f"expected {len(names)} positive numbers")
        out.append(
            KeypointCategory(
                id=c["id"],
                name=str(c["name"]),
                keypoints=tuple(names),
                sigmas=None if sigmas is None else tuple(float(s) for s in sigmas),
            )
        )
    return tuple(out)


def read_keypoint_dataset(
    path: Source,
    *,
    name: str | None = None,
    item_key: Literal["id", "file_name", "auto"] = "auto",
) -> KeypointDataset:
    """Read a COCO keypoints gold file; annotations without ``keypoints`` are left out.

    Raises
    ------
    FormatError
        Not a COCO object, a malformed category/image/annotation, keypoints whose count
        differs from the category's names, or an annotation of an unknown image/category.
    """
    source, data = _load(path, name)
    if not isinstance(data, dict) or not {"images", "annotations"} <= data.keys():
        raise FormatError(source, "", "expected a COCO object with images and annotations")
    categories = _categories(data, source)
    by_id = {c.id: c for c in categories}
    images = data["images"]
    if not isinstance(images, list) or not all(
        isinstance(im, dict) and isinstance(im.get("id"), int) for im in images
    ):
        raise FormatError(source, "images", "every image needs an integer id")
    named = all(isinstance(im.get("file_name"), str) for im in images)
    if item_key == "file_name" and not named:
        raise FormatError(source, "images", "every image needs a file_name (the item key)")
    use_names = item_key == "file_name" or (item_key == "auto" and named)
    keys = {im["id"]: str(im["file_name"] if use_names else im["id"]) for im in images}
    poses: dict[str, list[Keypoints]] = {k: [] for k in keys.values()}
    skipped = 0
    annotations = data["annotations"]
    if not isinstance(annotations, list):
        raise FormatError(source, "annotations", "expected a list")
    for i, a in enumerate(annotations):
        where = f"annotations[{i}]"
        if not isinstance(a, dict):
            raise FormatError(source, where, "expected an object")
        if not a.get("keypoints"):
            skipped += 1
            continue
        cat = by_id.get(a.get("category_id"))  # type: ignore[arg-type]
        if cat is None:
            raise FormatError(source, f"{where}.category_id", "unknown category")
        if a.get("image_id") not in keys:
            raise FormatError(source, f"{where}.image_id", "unknown image")
        n_k = len(cat.keypoints) or None
        points = _points(a["keypoints"], source, f"{where}.keypoints", n_k)
        bbox = a.get("bbox")
        if bbox is not None and (
            not isinstance(bbox, list) or len(bbox) != 4 or not all(_number(v) for v in bbox)
        ):
            raise FormatError(source, f"{where}.bbox", "expected [x, y, w, h] numbers")
        area = a.get("area")
        if area is not None and not _number(area):
            raise FormatError(source, f"{where}.area", "expected a number")
        num = a.get("num_keypoints")
        if num is not None and (not isinstance(num, int) or isinstance(num, bool) or num < 0):
            raise FormatError(source, f"{where}.num_keypoints", "expected a count")
        poses[keys[a["image_id"]]].append(
            Keypoints(
                category=cat.name,
                points=points,
                bbox=None if bbox is None else (bbox[0], bbox[1], bbox[2], bbox[3]),
                area=None if area is None else float(area),
                iscrowd=bool(a.get("iscrowd", 0)),
                num_keypoints=num,
            )
        )
    notes = (f"{skipped} annotation(s) without keypoints were left out",) if skipped else ()
    return KeypointDataset(
        source=source,
        image_keys=keys,
        categories=categories,
        poses={k: tuple(v) for k, v in poses.items()},
        notes=notes,
    )


def read_keypoint_results(
    path: Source, gold: KeypointDataset, *, name: str | None = None
) -> list[VendorAnnotation]:
    """Read a COCO keypoint results array against its gold: one answer per gold image.

    Raises
    ------
    FormatError
        Not an array, an element without ``image_id``/``category_id``/``keypoints``, an
        unknown image or category, a missing or non-finite ``score``.
    """
    source, data = _load(path, name)
    if not isinstance(data, list):
        raise FormatError(source, "", "expected a JSON array of keypoint results")
    found: dict[str, list[Keypoints]] = {k: [] for k in gold.image_keys.values()}
    n_k = {c.name: len(c.keypoints) or None for c in gold.categories}
    for i, r in enumerate(data):
        where = f"[{i}]"
        if not isinstance(r, dict):
            raise FormatError(source, where, "expected an object")
        key = gold.image_keys.get(r.get("image_id"))  # type: ignore[arg-type]
        if key is None:
            raise FormatError(
                source, f"{where}.image_id", f"image {r.get('image_id')!r} is not in the gold"
            )
        cat = gold.category_name(r.get("category_id"))  # type: ignore[arg-type]
        if cat is None:
            raise FormatError(source, f"{where}.category_id", "unknown category")
        points = _points(r.get("keypoints"), source, f"{where}.keypoints", n_k.get(cat))
        score = r.get("score")
        if score is not None and not _number(score):
            raise FormatError(source, f"{where}.score", "expected a finite number")
        found[key].append(
            Keypoints(
                category=cat,
                points=points,
                score=None if score is None else float(score),
            )
        )
    return [VendorAnnotation(item_id=k, label=v) for k, v in found.items()]
