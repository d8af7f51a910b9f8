"""Label Studio ``KeyPointLabels`` regions -> COCO-style poses (:class:`~adapters.base.Keypoints`).

Label Studio stores each keypoint as its own region (``type: keypointlabels``, ``x``/``y``
in percent of ``original_width``/``original_height``, one label naming the keypoint). A
pose is rebuilt from the regions that share a ``parentID`` -- the ``rectanglelabels``
region of the instance, as Label Studio sets it when points are drawn inside a box (its
label is the pose's category, its box the pose's ``bbox``); keypoints without a parent
form one pose per image. The keypoint order comes from the project (the gold's COCO
categories or the ontology): a labelled keypoint is ``(x, y, 2)``, one not drawn
``(0, 0, 0)``. A box without keypoints is not a pose and is skipped. Refused: a keypoint
name the category does not have, the same keypoint twice in one pose, and parentless
keypoints when the project has several categories that could own them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import Keypoints
from adapters.formats._errors import FormatError

__all__ = ["KEYPOINT_REGION_TYPES", "regions_to_poses", "skeletons_from_config"]

KEYPOINT_REGION_TYPES = frozenset({"keypointlabels", "rectanglelabels"})

_Percent = Annotated[float, Field(allow_inf_nan=False)]


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Region(_Lenient):
    id: str | None = None
    type: str
    parentID: str | None = None  # noqa: N815 - Label Studio's key
    original_width: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    original_height: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    value: dict[str, Any] | None = None
    score: float | None = None


class _Point(_Lenient):
    x: _Percent
    y: _Percent
    keypointlabels: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class _Rect(_Lenient):
    x: _Percent
    y: _Percent
    width: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    height: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    rectanglelabels: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


def _parse(model: type[Any], obj: Any, source: str, where: str) -> Any:
    try:
        return model.model_validate(obj)
    except ValueError as exc:
        first = str(exc).splitlines()
        raise FormatError(source, where, first[-1].strip() if first else "malformed") from exc


def _size(region: _Region, source: str, where: str) -> tuple[float, float]:
    if region.original_width is None or region.original_height is None:
        raise FormatError(
            source,
            where,
            f"{region.type} region needs original_width and original_height (pixels) "
            "to convert percent coordinates",
        )
    return region.original_width, region.original_height


def _owner(names: set[str], skeletons: Mapping[str, Sequence[str]], source: str, where: str) -> str:
    owners = [c for c, kps in skeletons.items() if names <= set(kps)]
    if len(owners) != 1:
        problem = "no category has" if not owners else f"categories {sorted(owners)} all have"
        raise FormatError(
            source,
            where,
            f"keypoints {sorted(names)} without a parent box: {problem} them; draw the "
            "points inside the instance's box (parentID)",
        )
    return owners[0]


def regions_to_poses(
    regions: Sequence[tuple[int, Any]],
    *,
    skeletons: Mapping[str, Sequence[str]],
    source: str,
    where: str,
) -> list[Keypoints]:
    """The poses of one annotation's ``keypointlabels`` and ``rectanglelabels`` regions.

    Parameters
    ----------
    regions
        ``(position in result, raw region object)`` of the regions to read.
    skeletons
        Category -> keypoint names in order (the project's keypoint definition).
    source, where
        File name and location prefix of the result list, for errors.

    Raises
    ------
    FormatError
        A malformed region, a keypoint the category lacks, a keypoint twice in a pose,
        or parentless keypoints no single category owns.
    """
    boxes: dict[str, tuple[str, tuple[float, float, float, float]]] = {}
    groups: dict[str | None, list[tuple[str, float, float, float | None, str]]] = {}
    for k, obj in regions:
        rw = f"{where}[{k}]"
        region = _parse(_Region, obj, source, rw)
        width, height = _size(region, source, rw)
        if region.type.lower() == "rectanglelabels":
            rect = _parse(_Rect, region.value, source, f"{rw}.value")
            if region.id is not None:
                bbox = (
                    rect.x / 100 * width,
                    rect.y / 100 * height,
                    rect.width / 100 * width,
                    rect.height / 100 * height,
                )
                boxes[region.id] = (rect.rectanglelabels[0], bbox)
            continue
        point = _parse(_Point, region.value, source, f"{rw}.value")
        for name in point.keypointlabels:
            groups.setdefault(region.parentID, []).append(
                (name, point.x / 100 * width, point.y / 100 * height, region.score, rw)
            )
    poses: list[Keypoints] = []
    for parent, points in groups.items():
        names = {p[0] for p in points}
        box = boxes.get(parent) if parent is not None else None
        category = box[0] if box is not None else _owner(names, skeletons, source, points[0][4])
        order = skeletons.get(category)
        if order is None:
            raise FormatError(
                source, points[0][4], f"category {category!r} has no keypoints in the project"
            )
        slots: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(order)
        seen: set[str] = set()
        for name, x, y, _, rw in points:
            if name not in order:
                raise FormatError(
                    source,
                    f"{rw}.value.keypointlabels",
                    f"{name!r} is not a keypoint of {category!r} ({', '.join(order)})",
                )
            if name in seen:
                raise FormatError(
                    source,
                    f"{rw}.value.keypointlabels",
                    f"{name!r} twice in one pose of {category!r}; give each instance its own "
                    "box (parentID)",
                )
            seen.add(name)
            slots[list(order).index(name)] = (x, y, 2.0)
        scores = [p[3] for p in points if p[3] is not None]
        pose_box = box[1] if box is not None else None
        poses.append(
            Keypoints(
                category=category,
                points=tuple(slots),
                bbox=pose_box,
                area=None if pose_box is None else pose_box[2] * pose_box[3],
                score=sum(scores) / len(scores) if scores else None,
            )
        )
    return poses


def skeletons_from_config(
    config: str, *, source: str = "<label config>", question: str | None = None
) -> dict[str, tuple[str, ...]]:
    """The keypoint order of a Label Studio labeling config: category -> keypoint names.

    A Label Studio export holds no keypoint order (each point is its own region naming
    its keypoint); the project's config lists them: the ``<Label value>`` children of its
    ``<KeyPointLabels>``, in their ``model_index`` order where every label has one (the
    index Label Studio's ML backends use for a pose model's outputs), else in the order
    written. The pose's category is the label of the ``<RectangleLabels>`` box the points
    sit in (each of its labels gets this order); a config without boxes names the
    category after the ``KeyPointLabels`` control.

    Raises
    ------
    FormatError
        No ``KeyPointLabels``, several without ``question`` naming one, a label without a
        value or a repeated one, or ``model_index`` values that are not 0..n-1.

    Examples
    --------
    >>> skeletons_from_config(
    ...     '<View><Image name="i" value="$image"/>'
    ...     '<KeyPointLabels name="kp" toName="i"><Label value="nose" model_index="1"/>'
    ...     '<Label value="neck" model_index="0"/></KeyPointLabels>'
    ...     '<RectangleLabels name="box" toName="i"><Label value="person"/></RectangleLabels>'
    ...     "</View>"
    ... )
    {'person': ('neck', 'nose')}
    """
    from defusedxml import ElementTree
    from defusedxml.common import DefusedXmlException

    try:
        root = ElementTree.fromstring(config)
    except (ElementTree.ParseError, DefusedXmlException) as exc:
        raise FormatError(source, "", f"not a labeling config: {exc}") from exc
    controls = [e for e in root.iter() if e.tag == "KeyPointLabels"]
    if question is not None:
        controls = [e for e in controls if e.get("name") == question]
    if not controls:
        raise FormatError(source, "", "has no <KeyPointLabels> to give the keypoint order")
    if len(controls) > 1:
        names = ", ".join(repr(e.get("name")) for e in controls)
        raise FormatError(source, "", f"has several <KeyPointLabels> ({names}); name one")
    control = controls[0]
    labels = [e for e in control if e.tag == "Label"]
    values = [e.get("value") or "" for e in labels]
    if not labels or "" in values or len(set(values)) != len(values):
        raise FormatError(
            source, str(control.get("name")), "needs distinct <Label value> keypoint names"
        )
    indices = [e.get("model_index") for e in labels]
    if all(i is not None for i in indices):
        try:
            order = sorted(range(len(values)), key=lambda k: int(str(indices[k])))
        except ValueError as exc:
            raise FormatError(source, str(control.get("name")), f"model_index: {exc}") from exc
        if sorted(int(str(i)) for i in indices) != list(range(len(values))):
            raise FormatError(
                source, str(control.get("name")), "model_index must number the labels 0..n-1"
            )
        values = [values[k] for k in order]
    target = control.get("toName")
    boxes = [
        str(e.get("value"))
        for r in root.iter()
        if r.tag == "RectangleLabels" and (target is None or r.get("toName") == target)
        for e in r
        if e.tag == "Label" and e.get("value")
    ]
    categories = boxes or [str(control.get("name"))]
    return {category: tuple(values) for category in categories}
