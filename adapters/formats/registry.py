"""One format layer: every label file a vendor delivers, read the same by every door.

The CLI (``bakeoff evaluate``, ``bakeoff import``), the API imports, the file-vendor upload and
the Python client all read vendor labels through :func:`read_label_file`, so a file one door
accepts, every door accepts, with the same numbers. :func:`detect_format` names the format of a
file when the caller does not; when nothing fits, its error lists every format it tried and why
each did not fit.

=================  ==========================================  ===============================
format             what                                        needs from the gold
=================  ==========================================  ===============================
``jsonl``          Bakeoff JSON Lines (any task type)
``csv``            ``item_id[,annotator_id],label`` rows
``coco``           COCO instances file (a tool's full export)
``coco_results``   COCO results array (detector output)        the gold COCO dataset
``labelstudio``    Label Studio JSON export
``voc``            Pascal VOC XML folder or zip
``yolo``           YOLO txt folder or zip                      image sizes (and class order)
``cvat``           CVAT for images 1.1 XML (or its zip)
``doccano``        doccano JSONL (or zip of one per user)      texts, when ids are missing
``prodigy``        Prodigy ``db-out`` JSONL                    texts, when ids are missing
``labelbox``       Labelbox NDJSON export v2
``sagemaker``      SageMaker Ground Truth output manifest      texts, for text jobs
``argilla``        Argilla records (JSON array or JSON Lines)
=================  ==========================================  ===============================

Language tasks: Label Studio exports carry preferences (Pairwise, or A/B/tie Choices); rating
and transcription answers (Label Studio Rating/Choices/TextArea, Argilla Rating/Text
questions) are read by :func:`read_language_file` into plain label rows, the JSON Lines the
import doors accept.

``question`` picks what to score where a file answers several things: a Label Studio control
(``from_name``), a Labelbox question or a
SageMaker label attribute (the error lists the choices).
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal, get_args

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from adapters.base import TaskType, VendorAnnotation
from adapters.formats import argilla as argilla_format
from adapters.formats import coco as coco_format
from adapters.formats import coco_keypoints as keypoints_format
from adapters.formats import csv as csv_format
from adapters.formats import jsonl as jsonl_format
from adapters.formats import labelstudio as ls_format
from adapters.formats import labelstudio_language as ls_language
from adapters.formats._errors import FormatError
from adapters.formats._language import LanguageKind, LanguageRow
from adapters.formats._members import is_archive
from adapters.formats.cvat import cvat_annotations
from adapters.formats.doccano import doccano_annotations
from adapters.formats.jsonl import GoldRecord
from adapters.formats.labelbox import labelbox_annotations
from adapters.formats.prodigy import prodigy_annotations
from adapters.formats.sagemaker import sagemaker_annotations
from adapters.formats.voc import voc_annotations, voc_gold
from adapters.formats.yolo import yolo_annotations

__all__ = [
    "FORMAT_NAMES",
    "GOLD_FORMATS",
    "FormatName",
    "GoldContext",
    "GoldFile",
    "LabelFile",
    "detect_format",
    "gold_context",
    "read_gold_file",
    "read_label_file",
    "read_language_file",
]

FormatName = Literal[
    "jsonl",
    "csv",
    "coco",
    "coco_results",
    "labelstudio",
    "voc",
    "yolo",
    "cvat",
    "doccano",
    "prodigy",
    "labelbox",
    "sagemaker",
    "argilla",
]
FORMAT_NAMES: tuple[FormatName, ...] = get_args(FormatName)


@dataclass(frozen=True)
class GoldContext:
    """What some formats need to know about the gold to place a vendor's labels.

    Attributes
    ----------
    image_sizes
        ``item id -> (width, height)``: YOLO's normalised coordinates become pixels.
    texts
        ``text -> item id`` (``None`` where several items share the text): text tools'
        exports of projects that carry no item ids.
    class_names
        The ontology's classes in the order vendors were sent them (YOLO class indices).
    coco
        The gold as a COCO dataset: a results array names its images and categories by id.
    keypoints
        Keypoint projects: the gold as a COCO keypoints dataset (same role as ``coco``).
    """

    image_sizes: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    texts: Mapping[str, str | None] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    coco: coco_format.CocoDataset | None = None
    keypoints: keypoints_format.KeypointDataset | None = None


@dataclass(frozen=True)
class LabelFile:
    """A vendor's labels as read, with what the reader has to say about them."""

    format: FormatName
    annotations: list[VendorAnnotation]
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- detection


_COCO_KEYS = ('"images"', '"annotations"', '"categories"')


def _first_json_value(path: Path) -> tuple[str, object | None]:
    """``("[" | "{line" | "{coco" | "{" | "", first element or line)``, from the file's head
    (a large file is never parsed whole to detect it)."""
    with path.open("rb") as f:
        head = f.read(1 << 16).decode("utf-8-sig", errors="replace").lstrip()
    if not head:
        return "", None
    if head[0] == "{":
        try:
            first = json.loads(head.split("\n", 1)[0])
        except json.JSONDecodeError:
            first = None
        if isinstance(first, dict) and not ({"images", "annotations"} & first.keys()):
            return "{line", first
        return ("{coco" if any(k in head for k in _COCO_KEYS) else "{"), None
    decoder = json.JSONDecoder()
    if head[0] == "[":
        rest = head[1:].lstrip()
        if rest.startswith("]"):
            return "[", None
        try:
            return "[", decoder.raw_decode(rest)[0]
        except json.JSONDecodeError:
            return "[", None
    return head[0], None


def _xml_root(content: bytes) -> str | None:
    try:
        return str(ElementTree.fromstring(content).tag)
    except (ElementTree.ParseError, DefusedXmlException):
        return None


def _why_archive(path: Path) -> tuple[FormatName | None, list[str]]:
    names: list[str]
    if path.is_dir():
        names = [p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file()]
    else:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    suffixes = {PurePosixPath(n).suffix.lower() for n in names}
    if ".xml" in suffixes:
        first = sorted(n for n in names if n.lower().endswith(".xml"))[0]
        content = (
            (path / first).read_bytes() if path.is_dir() else zipfile.ZipFile(path).read(first)
        )
        root = _xml_root(content)
        if root == "annotation":
            return "voc", []
        if root == "annotations":
            return "cvat", []
        return None, [f"voc/cvat: {first} has root <{root}>, not <annotation> or <annotations>"]
    if ".txt" in suffixes:
        return "yolo", []
    if ".jsonl" in suffixes:
        return "doccano", []
    return None, [f"voc, cvat, yolo, doccano: no .xml, .txt or .jsonl files among {len(names)}"]


def _is_argilla(first: Mapping[str, object]) -> bool:
    return isinstance(first.get("fields"), dict) and bool(
        {"responses", "suggestions"} & first.keys()
    )


def detect_format(path: str | os.PathLike[str]) -> FormatName:
    """The format of a label file (or folder or zip), from its content.

    Raises
    ------
    FormatError
        No format fits; the message lists each one tried and why it did not fit.
    """
    p = Path(path)
    tried: list[str] = []
    if is_archive(p):
        found, tried = _why_archive(p)
        if found is not None:
            return found
    else:
        with p.open("rb") as f:
            start = f.read(512).lstrip(b"\xef\xbb\xbf \t\r\n")
        if start.startswith(b"<"):
            root = _xml_root(p.read_bytes())
            if root == "annotations":
                return "cvat"
            if root == "annotation":
                return "voc"
            tried.append(f"cvat/voc: the XML root is <{root}>, not <annotations> or <annotation>")
        else:
            kind, first = _first_json_value(p)
            if kind == "{line" and isinstance(first, dict):
                if _is_argilla(first):
                    return "argilla"
                if "answer" in first or "_input_hash" in first:
                    return "prodigy"
                if "data_row" in first:
                    return "labelbox"
                if ("source-ref" in first or "source" in first) and any(
                    k.endswith("-metadata") for k in first
                ):
                    return "sagemaker"
                if "item_id" in first and "label" in first:
                    return "jsonl"
                if "text" in first and ({"label", "labels", "entities"} & first.keys()):
                    return "doccano"
                tried.append(f"jsonl/prodigy/doccano: first line has keys {sorted(first)[:8]}")
            elif kind == "{coco":
                return "coco"
            elif kind == "{":
                tried.append(
                    "coco: a JSON object without images/annotations/categories; "
                    "jsonl/doccano/prodigy: not one JSON object per line"
                )
            elif kind == "[":
                if isinstance(first, dict) and {"image_id", "category_id"} <= first.keys():
                    return "coco_results"
                if isinstance(first, dict) and _is_argilla(first):
                    return "argilla"
                if first is None or (isinstance(first, dict) and "data" in first):
                    return "labelstudio"
                tried.append(
                    "coco_results/labelstudio: the array's first element has neither "
                    "image_id+category_id nor data"
                )
            else:
                header = start.split(b"\n", 1)[0].decode("utf-8", errors="replace")
                if "item_id" in header.split(","):
                    return "csv"
                tried.append(f"csv: the header {header[:80]!r} has no item_id column")
    raise FormatError(
        p.name,
        "",
        "no known format fits: "
        + "; ".join(tried)
        + f". Known formats: {', '.join(FORMAT_NAMES)}; name one with --format (CLI) or "
        "?format= (API)",
    )


# --------------------------------------------------------------------------- reading


def _coco_keypoints(p: Path, gold: GoldContext, *, results: bool) -> LabelFile:
    if not results:
        dataset = keypoints_format.read_keypoint_dataset(p)
        return LabelFile("coco", dataset.to_vendor_annotations(), dataset.notes)
    if gold.keypoints is None:
        raise FormatError(
            p.name,
            "",
            "a COCO keypoint results array names images by id: it needs the gold COCO "
            "keypoints dataset to be read",
        )
    return LabelFile("coco_results", keypoints_format.read_keypoint_results(p, gold.keypoints))


def _coco_labels(p: Path, task_type: TaskType) -> LabelFile:
    dataset = coco_format.read_coco_dataset(p)
    return LabelFile("coco", _coco_labels_of(dataset, task_type), dataset.notes)


def _coco_results(p: Path, task_type: TaskType, gold: GoldContext) -> LabelFile:
    if gold.coco is None:
        raise FormatError(
            p.name,
            "",
            "a COCO results array names images by id: it needs the gold COCO dataset to be read",
        )
    results = coco_format.read_coco_results(p, gold.coco)
    kind: Literal["detection", "segmentation"] = (
        "segmentation" if task_type == "segmentation" else "detection"
    )
    key: Literal["id", "file_name"] = (
        "file_name" if all(im.file_name for im in gold.coco.images) else "id"
    )
    annotations = results.to_vendor_annotations(gold.coco, kind, item_key=key)
    return LabelFile("coco_results", annotations, results.notes)


def _csv(p: Path, task_type: TaskType) -> LabelFile:
    with p.open("rb") as f:
        header = f.readline().decode("utf-8-sig", errors="replace").strip().split(",")
    with p.open("rb") as f:
        if task_type == "multilabel":
            rows = [
                VendorAnnotation(item_id=m.item_id, label=list(m.labels))
                for m in csv_format.iter_multilabels(f, name=p.name)
            ]
        elif "annotator_id" in [h.strip() for h in header]:
            rows = [
                VendorAnnotation(item_id=a.item_id, label=a.label, annotator_id=a.annotator_id)
                for a in csv_format.iter_annotations(f, name=p.name)
            ]
        else:
            rows = [
                VendorAnnotation(item_id=r.item_id, label=r.label)
                for r in csv_format.iter_labels(f, name=p.name)
            ]
    return LabelFile("csv", rows)


def _skeletons(gold: GoldContext | None) -> dict[str, tuple[str, ...]] | None:
    """Keypoint names per category, from a keypoints gold (Label Studio keypoints)."""
    if gold is None or gold.keypoints is None:
        return None
    return {c.name: c.keypoints for c in gold.keypoints.categories if c.keypoints}


def read_label_file(
    path: str | os.PathLike[str],
    *,
    task_type: TaskType,
    format: FormatName | None = None,
    gold: GoldContext | None = None,
    annotator_id: str | None = None,
    question: str | None = None,
) -> LabelFile:
    """A vendor's label file, folder or zip, read in ``format`` (detected when ``None``).

    Raises
    ------
    FormatError
        The file does not fit the format or the task type, or it needs gold context that
        was not given; the message names the file, the place and the problem.
    """
    p = Path(path)
    gold = gold or GoldContext()
    fmt = format or detect_format(p)
    readers: dict[FormatName, Callable[[], LabelFile]] = {
        "jsonl": lambda: LabelFile("jsonl", jsonl_format.read_annotations(p, task_type=task_type)),
        "csv": lambda: _csv(p, task_type),
        "coco": lambda: _coco_labels(p, task_type),
        "coco_results": lambda: _coco_results(p, task_type, gold),
        "labelstudio": lambda: LabelFile(
            "labelstudio",
            list(
                ls_format.iter_annotations(
                    p, task_type=task_type, question=question, skeletons=_skeletons(gold)
                )
            ),
        ),
        "voc": lambda: LabelFile("voc", voc_annotations(p, annotator_id=annotator_id)),
        "yolo": lambda: LabelFile(
            "yolo",
            yolo_annotations(
                p,
                image_sizes=gold.image_sizes,
                task_type=task_type,
                class_names=gold.class_names or None,
                annotator_id=annotator_id,
            ),
        ),
        "cvat": lambda: LabelFile(
            "cvat", *cvat_annotations(p, task_type=task_type, annotator_id=annotator_id)
        ),
        "doccano": lambda: LabelFile(
            "doccano",
            doccano_annotations(
                p, task_type=task_type, items_by_text=gold.texts, annotator_id=annotator_id
            ),
        ),
        "prodigy": lambda: LabelFile(
            "prodigy",
            *prodigy_annotations(
                p, task_type=task_type, items_by_text=gold.texts, annotator_id=annotator_id
            ),
        ),
        "labelbox": lambda: LabelFile(
            "labelbox", *labelbox_annotations(p, task_type=task_type, question=question)
        ),
        "sagemaker": lambda: LabelFile(
            "sagemaker",
            sagemaker_annotations(
                p, task_type=task_type, label_attribute=question, items_by_text=gold.texts
            ),
        ),
        "argilla": lambda: LabelFile(
            "argilla",
            argilla_format.argilla_annotations(p, task_type=task_type, question=question),
        ),
    }
    if task_type == "keypoints" and fmt in ("coco", "coco_results"):
        return _coco_keypoints(p, gold, results=fmt == "coco_results")
    if fmt in ("voc", "yolo") and task_type not in ("detection", "segmentation"):
        raise FormatError(p.name, "", f"{fmt} files carry boxes, not {task_type} labels")
    return readers[fmt]()


def read_language_file(
    path: str | os.PathLike[str],
    *,
    kind: LanguageKind,
    format: FormatName | None = None,
    question: str | None = None,
    scale: Mapping[str, int] | None = None,
) -> list[LanguageRow]:
    """A vendor's answers to a language task (preference, rating, transcript) as plain rows.

    ``question`` names the Argilla question or the Label Studio control (a rating
    criterion) to read; ``scale`` maps choice texts to ratings. Each row is one line of
    the Bakeoff JSON Lines every import door accepts (:meth:`LanguageRow.to_json`).

    Raises
    ------
    FormatError
        The file is not a Label Studio export or Argilla records, or an answer does not
        read as ``kind`` (naming the file and the place).
    """
    p = Path(path)
    fmt = format or detect_format(p)
    if fmt == "labelstudio":
        return ls_language.read_rows(p, kind=kind, criterion=question, scale=scale)
    if fmt == "argilla":
        return argilla_format.read_rows(p, kind=kind, question=question, scale=scale)
    raise FormatError(
        p.name,
        "",
        f"{kind} answers are read from Label Studio exports and Argilla records, not {fmt}",
    )


# --------------------------------------------------------------------------- gold files

GOLD_FORMATS: tuple[FormatName, ...] = ("jsonl", "csv", "coco", "labelstudio", "voc")


@dataclass(frozen=True)
class GoldFile:
    """Golden items as read, in the format they came in, with the reader's notes."""

    format: FormatName
    records: list[GoldRecord]
    notes: tuple[str, ...] = ()
    coco: coco_format.CocoDataset | None = None


def _csv_gold(p: Path, task_type: TaskType) -> list[GoldRecord]:
    with p.open("rb") as f:
        if task_type == "multilabel":
            return [
                GoldRecord(item_id=m.item_id, label=list(m.labels))
                for m in csv_format.iter_multilabels(f, name=p.name)
            ]
        return [
            GoldRecord(item_id=r.item_id, label=r.label)
            for r in csv_format.iter_labels(f, name=p.name)
        ]


def _coco_gold(p: Path, task_type: TaskType) -> GoldFile:
    dataset = coco_format.read_coco_dataset(p)
    if task_type == "segmentation":
        dataset.require_masks()
    labels = _coco_labels_of(dataset, task_type, gold=True)
    records = []
    for image, ann in zip(dataset.images, labels, strict=True):
        data: dict[str, object] = {"coco_id": image.id}
        if image.width > 0:
            data.update(width=image.width, height=image.height)
        records.append(GoldRecord(item_id=ann.item_id, label=ann.label, data=data))
    return GoldFile("coco", records, dataset.notes, dataset)


def _coco_labels_of(
    dataset: coco_format.CocoDataset, task_type: TaskType, *, gold: bool = False
) -> list[VendorAnnotation]:
    kind: Literal["detection", "segmentation"] = (
        "segmentation" if task_type == "segmentation" else "detection"
    )
    key: Literal["id", "file_name"] = (
        "file_name" if all(im.file_name for im in dataset.images) else "id"
    )
    return dataset.to_vendor_annotations(kind, item_key=key, keep_crowd=gold, with_area=gold)


def read_gold_file(
    path: str | os.PathLike[str],
    *,
    task_type: TaskType,
    format: FormatName | None = None,
    question: str | None = None,
) -> GoldFile:
    """Golden items with their gold labels from a file (or a VOC folder/zip).

    ``question`` names the Label Studio control (``from_name``) to read when the project
    asks several questions.

    Raises
    ------
    FormatError
        The file does not fit the format, or the format holds no gold (e.g. a COCO results
        array, which has no images of its own).
    """
    p = Path(path)
    fmt = format or detect_format(p)
    if fmt == "jsonl":
        return GoldFile("jsonl", jsonl_format.read_gold(p, task_type=task_type))
    if fmt == "csv":
        if task_type not in ("classification", "multilabel", "preference"):
            raise FormatError(
                p.name, "", f"CSV gold holds classes or preferences, not {task_type} labels"
            )
        return GoldFile("csv", _csv_gold(p, task_type))
    if fmt == "coco":
        return _coco_gold(p, task_type)
    if fmt == "labelstudio":
        return GoldFile(
            "labelstudio", ls_format.read_gold(p, task_type=task_type, question=question)
        )
    if fmt == "voc":
        return GoldFile("voc", voc_gold(p))
    raise FormatError(
        p.name,
        "",
        f"{fmt} files are read as a vendor's labels, not as gold; gold comes as "
        f"{', '.join(GOLD_FORMATS)}",
    )


def gold_context(gold: GoldFile) -> GoldContext:
    """What labels in the other formats need to know of this gold (sizes, texts, COCO ids)."""
    sizes: dict[str, tuple[int, int]] = {}
    texts: dict[str, str | None] = {}
    for r in gold.records:
        width, height = r.data.get("width"), r.data.get("height")
        if isinstance(width, int) and isinstance(height, int):
            sizes[r.item_id] = (width, height)
        text = r.data.get("text")
        if isinstance(text, str):
            texts[text] = None if text in texts else r.item_id
    classes = tuple(c.name for c in gold.coco.categories) if gold.coco is not None else ()
    return GoldContext(image_sizes=sizes, texts=texts, class_names=classes, coco=gold.coco)
