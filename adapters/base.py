"""The one protocol every labeling vendor speaks, and the vendor-neutral DTOs.

A bake-off sends each candidate a :class:`Batch` of golden items *without* their
gold labels, under one pinned :class:`Instructions` version, and collects
:class:`VendorAnnotation` objects back. Raw vendor payloads never leave the
vendor's own module: they are parsed there (``model_validate``) into these DTOs.

Errors
------
All adapter errors derive from :class:`AdapterError`::

    AdapterError
    ├── VendorUnavailable      retryable: 5xx, timeouts, connection refused
    ├── VendorRejected         the vendor refused the request (4xx); do not retry
    │   └── JobNotFound        the vendor no longer knows the job; submit the items again
    └── VendorResponseInvalid  the vendor answered, but not in the agreed shape

Raise them with ``raise ... from exc`` so the transport error stays attached.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "TaskType",
    "JobState",
    "Box",
    "Mask",
    "Span",
    "Keypoints",
    "LabelValue",
    "OntologyClass",
    "Ontology",
    "InstructionExample",
    "Instructions",
    "WorkItem",
    "Batch",
    "VendorJob",
    "JobStatus",
    "VendorAnnotation",
    "LabelingVendor",
    "AdapterError",
    "VendorUnavailable",
    "VendorRejected",
    "JobNotFound",
    "VendorResponseInvalid",
]

TaskType = Literal[
    "classification",
    "multilabel",
    "detection",
    "segmentation",
    "spans",
    "keypoints",
    "preference",
    "rating",
    "transcription",
]
JobState = Literal["pending", "running", "completed", "failed", "cancelled"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Box(_Frozen):
    """One box in COCO ``[x, y, width, height]`` pixel coordinates.

    ``iscrowd`` (gold only) marks a COCO crowd region: scored as pycocotools does, it is
    neither a box to find nor a false positive for a box drawn inside it (``None``: not
    a crowd region, and left out of stored values).

    ``area`` (gold only): the COCO annotation's ``area``, which sorts the object into
    COCO's small/medium/large ranges. On real COCO gold it is the area of the object's
    polygon or RLE, not of its box, so it must travel with the box for APs/APm/APl to
    equal pycocotools (``None``: the box area, as for gold from formats without one).
    A result's area is never read: ``COCO.loadRes`` always takes a box result's ``w*h``.
    """

    category: str
    bbox: tuple[float, float, float, float]
    score: float | None = None
    iscrowd: bool | None = None
    area: float | None = Field(default=None, ge=0)


class Mask(_Frozen):
    """One instance mask: COCO RLE (``{"size": [h, w], "counts": ...}``) or polygons.

    ``iscrowd`` (gold only): a COCO crowd region, as on :class:`Box`.

    ``area``: on gold, the COCO annotation's ``area`` (for polygons, the exact polygon
    area, a little off the rasterised mask's). On a result, the area ``COCO.loadRes``
    gives it: the area of the result's ``bbox`` when the results file carried boxes
    (detectron2's do), else the mask's own. ``None``: the mask's pixel count.
    """

    category: str
    segmentation: dict[str, Any] | list[list[float]]
    score: float | None = None
    iscrowd: bool | None = None
    area: float | None = Field(default=None, ge=0)


class Span(_Frozen):
    """One entity span over character offsets ``[start, end)`` of the item's text."""

    start: int = Field(ge=0)
    end: int = Field(ge=0)
    type: str


class Keypoints(_Frozen):
    """One pose: ``(x, y, v)`` pixel points in the category's keypoint order.

    ``v`` follows COCO: 0 not labelled, 1 labelled but hidden, 2 visible. ``bbox``
    (COCO ``[x, y, w, h]``), ``area``, ``iscrowd`` and ``num_keypoints`` are optional on
    gold (COCO scales the keypoint similarity by the area and ignores crowd poses and
    poses without keypoints) and not needed on results.
    """

    category: str
    points: tuple[tuple[float, float, float], ...]
    score: float | None = None
    bbox: tuple[float, float, float, float] | None = None
    area: float | None = None
    iscrowd: bool = False
    num_keypoints: int | None = Field(default=None, ge=0)


# The answer for one item, by task type:
#   classification -> class name; multilabel -> list of class names;
#   detection -> list[Box]; segmentation -> list[Mask]; spans -> list[Span];
#   keypoints -> list[Keypoints]; preference -> "A" | "B" | "tie";
#   rating -> {criterion: integer rating}, e.g. {"helpfulness": 4, "correctness": 5}
#             (one criterion or several; a single-criterion rubric may name it "rating");
#             the criteria are the ontology's ``classes``; the scale (e.g. 1-5, the same
#             for every criterion) is the ontology's ``rating_scale: [1, 5]`` or the gold
#             item's metadata ``scale_min``/``scale_max``; a gold item's ``data`` holds
#             ``prompt``/``response``;
#   transcription -> the transcript, one string (the gold item's ``data`` holds
#             ``audio`` or ``image`` and may hold ``speaker``; ``metadata.speaker``
#             gives per-speaker breakdowns).
LabelValue = (
    str | list[str] | dict[str, int] | list[Box] | list[Mask] | list[Span] | list[Keypoints]
)


class OntologyClass(_Frozen):
    name: str
    description: str = ""


class Ontology(_Frozen):
    """The classes of a project; ``ordinal=True`` means their order is meaningful.

    Keypoint projects name each category's keypoints in order (``keypoints``) and may give
    their OKS falloffs (``keypoint_sigmas``, one per keypoint; default COCO's person sigmas
    for 17 keypoints).

    Rating projects: ``classes`` are the rubric's criteria (name and what it means;
    empty: any criterion gold uses) and ``rating_scale`` the ordinal scale
    ``(lowest, highest)`` of every criterion, e.g. ``(1, 5)``.
    """

    classes: tuple[OntologyClass, ...]
    ordinal: bool = False
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    keypoints: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    keypoint_sigmas: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    rating_scale: tuple[int, int] | None = None

    @model_validator(mode="after")
    def _check_scale(self) -> Ontology:
        if self.rating_scale is not None and self.rating_scale[0] >= self.rating_scale[1]:
            raise ValueError(
                f"rating_scale must be (lowest, highest) with lowest < highest, "
                f"got {list(self.rating_scale)}"
            )
        return self

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]


class InstructionExample(_Frozen):
    """An illustrated example in the instructions; ``counter_example`` shows what not to do."""

    title: str
    data: dict[str, Any] = Field(default_factory=dict)
    label: Any = None
    counter_example: bool = False
    explanation: str = ""


class Instructions(_Frozen):
    version: int = Field(ge=1)
    text: str
    examples: tuple[InstructionExample, ...] = ()


class WorkItem(_Frozen):
    """A golden item as a vendor sees it: its id and data, never its gold label."""

    item_id: str
    data: dict[str, Any]


class Batch(_Frozen):
    """What one vendor receives for one bake-off run."""

    bakeoff_id: str
    task_type: TaskType
    ontology: Ontology
    instructions: Instructions
    items: tuple[WorkItem, ...]
    callback_url: str | None = None


class VendorJob(_Frozen):
    """A submitted batch as the vendor knows it."""

    vendor: str
    external_id: str
    item_ids: tuple[str, ...]
    submitted_at: datetime


class JobStatus(_Frozen):
    state: JobState
    done: int = Field(ge=0)
    total: int = Field(ge=0)
    detail: str = ""


class VendorAnnotation(_Frozen):
    """One answer for one item from one annotator (or the vendor as a whole)."""

    item_id: str
    label: LabelValue
    annotator_id: str | None = None
    score: float | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cost: float | None = None
    instructions_version: int | None = None
    # The vendor's id for this answer; together with item_id it makes a callback idempotent.
    external_id: str | None = None


@runtime_checkable
class LabelingVendor(Protocol):
    """A candidate labeling system: a workforce, a labeling tool, or a model.

    An adapter class may also declare ``api_settings: ClassVar[frozenset[str]]``, the keyword
    settings that a *remote* caller (a host application's API) may choose. Settings that name
    resources of the machine running the adapter (file paths, import paths, model files) are
    never among them: the host resolves those itself. A class without ``api_settings`` accepts
    no settings from remote callers.
    """

    name: str
    supported_tasks: frozenset[TaskType]

    def submit(self, batch: Batch) -> VendorJob: ...

    def poll(self, job: VendorJob) -> JobStatus: ...

    def fetch_results(self, job: VendorJob) -> list[VendorAnnotation]: ...

    def cancel(self, job: VendorJob) -> None: ...


class AdapterError(Exception):
    """Base of every error an adapter raises."""


class VendorUnavailable(AdapterError):
    """The vendor could not be reached or failed transiently; retrying may succeed."""


class VendorRejected(AdapterError):
    """The vendor refused the request (4xx); retrying the same request will not help."""


class JobNotFound(VendorRejected):
    """The vendor does not know the job (lost or expired); its items must be submitted again."""


class VendorResponseInvalid(AdapterError):
    """The vendor answered in a shape that breaks the protocol."""
