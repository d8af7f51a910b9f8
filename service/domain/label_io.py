"""Label files in and out: one place that maps a format name to the readers and writers.

The readers and writers live in :mod:`adapters.formats` (one module per format); this module
picks one by name so that every import and export endpoint, the CLI and the Python client accept
the same formats:

===============  ========================================================================
``jsonl``        JSON Lines, any task type (:mod:`adapters.formats.jsonl`)
``csv``          CSV, classification and multilabel (:mod:`adapters.formats.csv`): header
                 ``item_id,label`` or ``item_id,annotator_id,label``; multilabel ``a|b``
``coco``         COCO instances JSON, detection and segmentation
                 (:mod:`adapters.formats.coco`); an image's item key is its ``file_name``
                 when every image has one, else its ``id``
``labelstudio``  Label Studio JSON export / import file (:mod:`adapters.formats.labelstudio`)
===============  ========================================================================

Vendor labels are also read in every other format of :mod:`adapters.formats.registry`
(``coco_results``, ``voc``, ``yolo``, ``cvat``, ``doccano``, ``prodigy``, ...), with what those
need from the bake-off's gold (:func:`gold_context`); the four above are also written, and
:func:`export_file` writes ``voc``, ``yolo``, ``cvat``, ``doccano``, ``prodigy`` and
``sagemaker``.

Readers stream (COCO files are parsed whole by their reader) and raise
:class:`adapters.formats.FormatError` naming the row or object; the API maps it to HTTP 422.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain, groupby
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal, TypeVar, get_args

from sqlmodel import Session, col, select

from adapters.base import TaskType, VendorAnnotation
from adapters.formats import FormatError
from adapters.formats import coco as coco_format
from adapters.formats import coco_keypoints as keypoints_format
from adapters.formats import csv as csv_format
from adapters.formats import jsonl as jsonl_format
from adapters.formats import labelstudio as ls_format
from adapters.formats.cvat import write_cvat
from adapters.formats.doccano import write_doccano
from adapters.formats.jsonl import GoldRecord
from adapters.formats.prodigy import write_prodigy
from adapters.formats.registry import FormatName, GoldContext, detect_format, read_label_file
from adapters.formats.sagemaker import write_sagemaker
from adapters.formats.voc import voc_gold, write_voc
from adapters.formats.yolo import write_yolo
from service.domain.answer_geometry import LabelsAtPrecision, reader_notes, yolo_tolerance_px
from service.domain.errors import Conflict, Invalid
from service.domain.projects import class_names, project_ontology
from service.domain.vendor_labels import LabelIn
from service.models import BakeOff, GoldenItem, GoldenSetVersion, Project

__all__ = [
    "LabelFormat",
    "GoldFormat",
    "GOLD_FORMATS",
    "ReadFormat",
    "READ_FORMATS",
    "FORMATS",
    "gold_context",
    "MEDIA_TYPES",
    "SUFFIXES",
    "GoldRecord",
    "read_gold",
    "detect_gold_format",
    "CocoGoldRecords",
    "read_vendor_labels",
    "write_gold",
    "write_vendor_labels",
    "export_file",
    "export_gold_file",
    "FILE_FORMATS",
    "FILE_MEDIA_TYPES",
    "FILE_SUFFIXES",
    "ExportFormat",
    "FileFormat",
]

LabelFormat = Literal["jsonl", "csv", "coco", "labelstudio"]
FORMATS: tuple[LabelFormat, ...] = get_args(LabelFormat)
#: What gold is imported from: the text formats and Pascal VOC (a zip or one XML upload),
#: the gold formats ``bakeoff evaluate`` reads (:data:`adapters.formats.registry.GOLD_FORMATS`).
GoldFormat = Literal["jsonl", "csv", "coco", "labelstudio", "voc"]
GOLD_FORMATS: tuple[GoldFormat, ...] = get_args(GoldFormat)
#: Formats written as one file or a zip by :func:`export_file` (read back by the registry).
FileFormat = Literal["voc", "yolo", "cvat", "doccano", "prodigy", "sagemaker"]
FILE_FORMATS: tuple[FileFormat, ...] = get_args(FileFormat)
ExportFormat = LabelFormat | FileFormat
FILE_MEDIA_TYPES: dict[FileFormat, str] = {
    "voc": "application/zip",
    "yolo": "application/zip",
    "cvat": "application/xml",
    "doccano": "application/x-ndjson",
    "prodigy": "application/x-ndjson",
    "sagemaker": "application/x-ndjson",
}
FILE_SUFFIXES: dict[FileFormat, str] = {
    "voc": "zip",
    "yolo": "zip",
    "cvat": "xml",
    "doccano": "jsonl",
    "prodigy": "jsonl",
    "sagemaker": "manifest",
}
# Vendor label files are read in every format of the one format layer.
ReadFormat = FormatName | Literal["auto"]
READ_FORMATS: tuple[ReadFormat, ...] = get_args(FormatName)
MEDIA_TYPES: dict[LabelFormat, str] = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "coco": "application/json",
    "labelstudio": "application/json",
}
SUFFIXES: dict[LabelFormat, str] = {
    "jsonl": "jsonl",
    "csv": "csv",
    "coco": "json",
    "labelstudio": "json",
}
_R = TypeVar("_R")
_CSV_TASKS = ("classification", "multilabel", "preference", "rating", "transcription")
_COCO_TASKS = ("detection", "segmentation")


def _require(fmt: GoldFormat, task_type: TaskType, allowed: tuple[str, ...]) -> None:
    if task_type not in allowed:
        raise Invalid(
            f"format {fmt!r} holds {' or '.join(allowed)} labels, not {task_type}; "
            "use jsonl or labelstudio",
            location=("query", "format"),
        )


# --------------------------------------------------------------------------- CSV


def _csv_header(source: IO[bytes]) -> list[str]:
    position = source.tell()
    first = source.readline()
    source.seek(position)
    text = codecs.decode(first, "utf-8-sig", errors="replace")
    return [h.strip() for h in text.strip().split(",")]


def _csv_labels(
    source: IO[bytes], *, task_type: TaskType, name: str
) -> Iterator[LabelIn | csv_format.LabelRow]:
    if task_type == "multilabel":
        return (
            LabelIn(m.item_id, list(m.labels), row=m.row)
            for m in csv_format.iter_multilabels(source, name=name)
        )
    if "annotator_id" in _csv_header(source):
        return (
            LabelIn(a.item_id, a.label, annotator_id=a.annotator_id, row=a.row)
            for a in csv_format.iter_annotations(source, name=name)
        )
    # The reader's own rows, not re-wrapped: add_vendor_labels takes LabelRow as it is, and a
    # generator layer here would cost as much per row as storing the label.
    return csv_format.iter_labels(source, name=name)


def _multilabel(row: csv_format.GoldRow, name: str) -> list[str]:
    parts = [p.strip() for p in row.label.split(csv_format.MULTILABEL_SEPARATOR)]
    if any(not p for p in parts):
        raise FormatError(
            name,
            f"row {row.row}",
            f"empty class in label {row.label!r} for item_id {row.item_id!r}",
        )
    return list(dict.fromkeys(parts))


def _csv_gold(source: IO[bytes], *, task_type: TaskType, name: str) -> Iterator[GoldRecord]:
    """Gold from CSV: ``item_id,label``, optionally with metadata/data columns.

    The plain two-column file takes the fast readers; any other header goes through
    :func:`adapters.formats.csv.iter_gold` (``metadata``/``data`` JSON columns, or flat
    columns that each become one metadata field).
    """
    if sorted(_csv_header(source)) == ["item_id", "label"]:
        if task_type == "multilabel":
            for m in csv_format.iter_multilabels(source, name=name):
                yield GoldRecord(item_id=m.item_id, label=list(m.labels))
        else:
            for r in csv_format.iter_labels(source, name=name):
                yield GoldRecord(item_id=r.item_id, label=r.label)
        return
    for g in csv_format.iter_gold(source, name=name):
        label: Any = _multilabel(g, name) if task_type == "multilabel" else g.label
        yield GoldRecord(item_id=g.item_id, label=label, data=g.data, metadata=g.metadata)


# --------------------------------------------------------------------------- COCO


def _coco_item_key(dataset: coco_format.CocoDataset) -> Literal["id", "file_name"]:
    return "file_name" if all(im.file_name for im in dataset.images) else "id"


def _coco_annotations(
    source: IO[bytes], *, task_type: TaskType, name: str, gold: bool = False
) -> tuple[coco_format.CocoDataset, list[VendorAnnotation]]:
    """The file's boxes or masks per image; gold keeps crowd regions (``iscrowd``)."""
    dataset = coco_format.read_coco_dataset(source, name=name)
    if gold and task_type == "segmentation":
        dataset.require_masks()
    detection: Literal["detection", "segmentation"] = (
        "segmentation" if task_type == "segmentation" else "detection"
    )
    annotations = dataset.to_vendor_annotations(
        detection, item_key=_coco_item_key(dataset), keep_crowd=gold, with_area=gold
    )
    return dataset, annotations


class CocoGoldRecords(Iterator[GoldRecord]):
    """A COCO gold file's records, one per image; once the first is read,
    ``coco_category_ids`` holds the file's category ids by name.

    The import stores those ids with the golden-set version: a results array names its
    categories by them (COCO's own run 1..90 with gaps), so it cannot be read without.
    """

    def __init__(self, source: IO[bytes], *, task_type: TaskType, name: str) -> None:
        self.coco_category_ids: dict[str, int] | None = None
        #: what the reader left out or could not check (known once the first is read)
        self.notes: tuple[str, ...] = ()
        self._records = self._read(source, task_type=task_type, name=name)

    def _read(self, source: IO[bytes], *, task_type: TaskType, name: str) -> Iterator[GoldRecord]:
        dataset, annotations = _coco_annotations(source, task_type=task_type, name=name, gold=True)
        self.coco_category_ids = {c.name: c.id for c in dataset.categories}
        self.notes = dataset.notes
        for image, ann in zip(dataset.images, annotations, strict=True):
            data: dict[str, Any] = {"coco_id": image.id}
            if image.width > 0:  # 0: the file gave no size
                data.update(width=image.width, height=image.height)
            if image.file_name:
                data["image"] = image.file_name
            yield GoldRecord(item_id=ann.item_id, label=ann.label, data=data)

    def __next__(self) -> GoldRecord:
        return next(self._records)

    def close(self) -> None:
        """Stop reading (the upload's file is closed next)."""
        close = getattr(self._records, "close", None)
        if close is not None:
            close()


def _coco_gold(source: IO[bytes], *, task_type: TaskType, name: str) -> CocoGoldRecords:
    return CocoGoldRecords(source, task_type=task_type, name=name)


def _coco_images(
    keys: Iterable[str], items: Mapping[str, Mapping[str, Any]]
) -> list[coco_format.CocoImage]:
    images = []
    used: set[int] = set()
    for n, key in enumerate(keys, start=1):
        data = items.get(key, {})
        width, height = data.get("width"), data.get("height")
        if not isinstance(width, int) or not isinstance(height, int):
            raise Invalid(
                f"COCO export needs integer 'width' and 'height' in the data of item {key!r}",
                location=("query", "format"),
            )
        coco_id = data.get("coco_id")
        image_id = coco_id if isinstance(coco_id, int) and coco_id not in used else n
        used.add(image_id)
        images.append(coco_format.CocoImage(id=image_id, width=width, height=height, file_name=key))
    return images


def _write_coco(
    annotations: list[VendorAnnotation],
    out: IO[str],
    *,
    classes: list[str],
    items: Mapping[str, Mapping[str, Any]],
    coco_category_ids: Mapping[str, int] | None = None,
) -> int:
    keys = list(dict.fromkeys([*items.keys(), *(a.item_id for a in annotations)]))
    # the gold file's own category ids, so its results arrays still read against the export
    ids = _category_ids(classes, coco_category_ids)
    dataset = coco_format.dataset_from_vendor_annotations(
        annotations,
        images=_coco_images(keys, items),
        categories=[coco_format.CocoCategory(id=ids[c], name=c) for c in classes],
        item_key="file_name",
        source="export",
    )
    coco_format.write_coco_dataset(dataset, out)
    return len(annotations)


# --------------------------------------------------------------------------- dispatch


def gold_context(session: Session, bakeoff: BakeOff, fmt: ReadFormat) -> GoldContext:
    """What a file in ``fmt`` needs to know of the bake-off's gold (sizes, texts, classes)."""
    version = session.get(GoldenSetVersion, bakeoff.golden_set_version_id)
    project = session.get(Project, bakeoff.project_id)
    if version is None or project is None:  # pragma: no cover - foreign keys hold
        return GoldContext()
    rows = session.exec(
        select(GoldenItem.key, GoldenItem.data)
        .where(GoldenItem.golden_set_id == version.golden_set_id)
        .order_by(col(GoldenItem.id))
    ).all()
    sizes: dict[str, tuple[int, int]] = {}
    texts: dict[str, str | None] = {}
    for key, data in rows:
        width, height = data.get("width"), data.get("height")
        if isinstance(width, int) and isinstance(height, int):
            sizes[key] = (width, height)
        text = data.get("text")
        if isinstance(text, str):
            texts[text] = None if text in texts else key
    classes = tuple(class_names(project))
    category_ids = _category_ids(classes, version.coco_category_ids)
    coco = None
    # "coco" may be a results array too; "auto" may turn out to be either. Only boxes and
    # masks come as results arrays: a class or span bake-off's gold has no image sizes to
    # build a COCO dataset from, and needs none
    results = fmt in ("coco_results", "coco", "auto")
    arrays = results and project.task_type in ("detection", "segmentation")
    if project.task_type == "keypoints" and (results or fmt in ("labelstudio", "auto")):
        return GoldContext(
            image_sizes=sizes,
            texts=texts,
            class_names=classes,
            keypoints=_keypoint_gold_context(rows, project),
        )
    if arrays:
        keyed = dict(rows)
        coco = coco_format.dataset_from_vendor_annotations(
            [],
            images=_coco_images(keyed, keyed),
            categories=[coco_format.CocoCategory(id=category_ids[c], name=c) for c in classes],
            item_key="file_name",
            source="gold",
        )
    return GoldContext(image_sizes=sizes, texts=texts, class_names=classes, coco=coco)


def _category_ids(classes: Sequence[str], stored: Mapping[str, int] | None) -> dict[str, int]:
    """Each class's COCO category id: the gold file's where it gave one (a results array
    uses those), else the class's 1-based position, moved past every id already taken."""
    ids = {c: int(stored[c]) for c in classes if stored and c in stored}
    taken = set(ids.values())
    for position, c in enumerate(classes, 1):
        if c not in ids:
            while position in taken:
                position += 1
            ids[c] = position
            taken.add(position)
    return ids


def _keypoint_gold_context(
    rows: Sequence[tuple[str, Mapping[Any, Any]]], project: Project
) -> keypoints_format.KeypointDataset:
    """The gold as a keypoints dataset: images by their COCO id, categories 1..n in order."""
    ontology = project_ontology(project)
    keys: dict[int, str] = {}
    for n, (key, data) in enumerate(rows, start=1):
        coco_id = data.get("coco_id")
        keys[coco_id if isinstance(coco_id, int) and coco_id not in keys else n] = key
    return keypoints_format.KeypointDataset(
        source="gold",
        image_keys=keys,
        categories=tuple(
            keypoints_format.KeypointCategory(id=i, name=c, keypoints=ontology.keypoints.get(c, ()))
            for i, c in enumerate(ontology.class_names, 1)
        ),
        poses={},
    )


def _keypoint_gold_records(source: IO[bytes], *, name: str) -> LabelsAtPrecision[GoldRecord]:
    # items are the images' file names, or their ids when some image has none
    dataset = keypoints_format.read_keypoint_dataset(source, name=name, item_key="auto")
    ids = {key: image_id for image_id, key in dataset.image_keys.items()}

    def records() -> Iterator[GoldRecord]:
        for ann in dataset.to_vendor_annotations():
            data: dict[str, Any] = {"coco_id": ids[ann.item_id]}
            if ann.item_id != str(ids[ann.item_id]):
                data["image"] = ann.item_id
            yield GoldRecord(item_id=ann.item_id, label=ann.label, data=data)

    return LabelsAtPrecision(records(), notes=dataset.notes)  # the reader's notes go along


_UNSAFE_NAME = re.compile(r"[^\w.()+ -]")


def _spilled(source: IO[bytes], fmt: ReadFormat, name: str = "upload") -> Path:
    """An upload as a file the registry's readers can open, under the name it was sent with
    (so their messages name the caller's file, not a temporary one); a zip or an XML file
    keeps its suffix."""
    head = source.read(4)
    source.seek(0)
    suffix = ".zip" if head.startswith(b"PK") else {"voc": ".xml", "cvat": ".xml"}.get(fmt, "")
    base = _UNSAFE_NAME.sub("_", PurePosixPath(name.replace("\\", "/")).name)[:200].strip()
    if base in ("", ".", ".."):
        base = "upload"
    if suffix and not base.lower().endswith(suffix):
        base += suffix
    path = Path(tempfile.mkdtemp(prefix="bakeoff-upload-")) / base
    with path.open("wb") as out:
        shutil.copyfileobj(source, out)
    return path


def _unspill(path: Path) -> None:
    """Remove a spilled upload and its folder."""
    path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        path.parent.rmdir()


def _detected(source: IO[bytes] | Path, name: str = "upload") -> FormatName:
    """The format of an upload or a path, from its content (:func:`detect_format`)."""
    if isinstance(source, Path):
        return detect_format(source)
    path = _spilled(source, "auto", name)
    try:
        return detect_format(path)
    finally:
        _unspill(path)
        source.seek(0)


def detect_gold_format(source: IO[bytes], name: str = "upload") -> GoldFormat:
    """The gold format of an upload, told from its content as ``bakeoff evaluate`` tells it.

    Raises
    ------
    Invalid
        The content reads as a format that holds no gold (e.g. a COCO results array).
    FormatError
        No known format fits (the message lists what was tried).
    """
    fmt = _detected(source, name)
    gold: dict[str, GoldFormat] = {f: f for f in GOLD_FORMATS}
    if fmt not in gold:
        raise Invalid(
            f"{name}: reads as {fmt}, which holds no gold; gold formats: {', '.join(GOLD_FORMATS)}",
            location=("body", "format"),
        )
    return gold[fmt]


def _registry_labels(
    fmt: FormatName,
    source: IO[bytes] | Path,
    *,
    task_type: TaskType,
    gold: Callable[[], GoldContext] | None,
    question: str | None,
    name: str = "upload",
) -> Iterator[VendorAnnotation]:
    path = source if isinstance(source, Path) else _spilled(source, fmt, name)
    one_voc_file = fmt == "voc" and path.suffix == ".xml"
    context = gold() if gold and not one_voc_file else None
    try:
        if one_voc_file:  # read as a folder of one
            with tempfile.TemporaryDirectory() as folder:
                shutil.copy(path, Path(folder) / path.name)
                read = read_label_file(folder, task_type=task_type, format=fmt)
        else:
            read = read_label_file(
                path,
                task_type=task_type,
                format=fmt,
                gold=context,
                question=question,
            )
    finally:
        if not isinstance(source, Path):
            _unspill(path)
    tolerance = 0.0
    if fmt == "yolo":  # fractions of the image's side, to 6 decimals: the duplicate check
        sizes = context.image_sizes if context else {}  # compares geometry to that precision
        tolerance = yolo_tolerance_px(sizes)
    # the reader's notes (what it left out) travel with the records to the import's result
    return LabelsAtPrecision(iter(read.annotations), tolerance_px=tolerance, notes=read.notes)


def read_vendor_labels(
    fmt: ReadFormat,
    source: IO[bytes] | Path,
    *,
    task_type: TaskType,
    name: str = "<upload>",
    gold: Callable[[], GoldContext] | None = None,
    question: str | None = None,
) -> Iterator[VendorAnnotation | LabelIn | csv_format.LabelRow]:
    """Stream vendor labels from a file in ``fmt``.

    ``source`` is a seekable binary file (an upload) or a path (the CLI; a folder for VOC
    and YOLO). ``gold`` supplies what ``coco_results``, ``yolo``, ``doccano`` and ``prodigy``
    files need from the gold (called only for those); ``question`` names the Label Studio
    control (``from_name``), Labelbox question or SageMaker label attribute to read when a
    file holds several.

    Raises
    ------
    FormatError
        A malformed row or object (raised while iterating).
    Invalid
        The format cannot hold this task type's labels.
    """
    if fmt == "auto":  # what the CLI and the client do before they upload: read the content
        fmt = _detected(source, name)
    if fmt == "coco" and _is_json_array(source):
        fmt = "coco_results"  # "coco" names both COCO files; a results array is the other
    if fmt not in FORMATS:
        return _registry_labels(
            fmt, source, task_type=task_type, gold=gold, question=question, name=name
        )
    if isinstance(source, Path):
        if not source.is_file():
            raise FormatError(source.name, "", f"{fmt} labels are one file, not a folder")
        return _read_path(fmt, source, task_type=task_type, name=name, gold=gold, question=question)
    if fmt == "csv":
        _require(fmt, task_type, _CSV_TASKS)
        return _csv_labels(source, task_type=task_type, name=name)
    # the readers' notes (what they left out, e.g. keypoints in a detection file) go along
    if fmt == "coco" and task_type == "keypoints":
        dataset = keypoints_format.read_keypoint_dataset(source, name=name)
        return LabelsAtPrecision(iter(dataset.to_vendor_annotations()), notes=dataset.notes)
    if fmt == "coco":
        _require(fmt, task_type, _COCO_TASKS)
        coco, annotations = _coco_annotations(source, task_type=task_type, name=name)
        return LabelsAtPrecision(iter(annotations), notes=coco.notes)
    if fmt == "labelstudio":
        skeletons = None
        if task_type == "keypoints" and gold is not None:
            keypoints = gold().keypoints
            if keypoints is not None:
                skeletons = {c.name: c.keypoints for c in keypoints.categories if c.keypoints}
        return ls_format.iter_annotations(
            source, task_type=task_type, name=name, question=question, skeletons=skeletons
        )
    return jsonl_format.iter_annotations(source, task_type=task_type, name=name)


def _is_json_array(source: IO[bytes] | Path) -> bool:
    """Whether the file's first non-blank byte opens a JSON array (the stream is rewound)."""
    if isinstance(source, Path):
        if not source.is_file():
            return False
        with source.open("rb") as body:
            return _is_json_array(body)
    start = source.tell()
    try:
        while chunk := source.read(4096):
            text = chunk.lstrip(b" \t\r\n\xef\xbb\xbf")
            if text:
                return text[:1] == b"["
        return False
    finally:
        source.seek(start)


class _FileRecords(Iterator[_R]):
    """A reader's records from a file it owns: closed when done, the reader's ``notes``
    (what it left out) passed on as the upload's are."""

    def __init__(self, records: Iterator[_R], handle: IO[bytes]) -> None:
        self._records = records
        self._handle = handle

    @property
    def notes(self) -> tuple[str, ...]:
        return tuple(reader_notes(self._records))

    def __next__(self) -> _R:
        try:
            return next(self._records)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the reader and close its file."""
        close = getattr(self._records, "close", None)
        if close is not None:
            close()
        self._handle.close()


def _read_path(
    fmt: LabelFormat,
    path: Path,
    *,
    task_type: TaskType,
    name: str,
    gold: Callable[[], GoldContext] | None,
    question: str | None,
) -> Iterator[VendorAnnotation | LabelIn | csv_format.LabelRow]:
    """A file on disk (the CLI), read as its upload would be: with the gold's context (Label
    Studio keypoint order), the question named and the reader's notes."""
    body = path.open("rb")
    try:
        records = read_vendor_labels(
            fmt, body, task_type=task_type, name=name, gold=gold, question=question
        )
    except BaseException:
        body.close()
        raise
    return _FileRecords(records, body)


def read_gold(
    fmt: GoldFormat,
    source: IO[bytes] | Path,
    *,
    task_type: TaskType,
    name: str = "<upload>",
    question: str | None = None,
    project: Project | None = None,
) -> Iterator[GoldRecord]:
    """Stream golden items with their gold labels from a file in ``fmt``.

    ``question`` names the Label Studio control (``from_name``) to read when the project
    asks several questions. ``project``: its ontology's ``keypoints`` give Label Studio
    keypoint gold its keypoint order (a Label Studio export has none of its own).

    Raises
    ------
    FormatError
        A malformed row or object (raised while iterating).
    Invalid
        The format cannot hold this task type's labels.
    """
    if fmt == "voc":
        _require(fmt, task_type, ("detection",))
        return _voc_gold(source, name)
    if isinstance(source, Path):  # the text formats are read as one stream
        raise Invalid(f"{name}: a {fmt} gold file is one file, not a folder", location=("body",))
    if fmt == "csv":
        _require(fmt, task_type, _CSV_TASKS)
        return _csv_gold(source, task_type=task_type, name=name)
    if fmt == "coco" and task_type == "keypoints":
        return _keypoint_gold_records(source, name=name)
    if fmt == "coco":
        _require(fmt, task_type, _COCO_TASKS)
        return _coco_gold(source, task_type=task_type, name=name)
    if fmt == "labelstudio":
        # the library's reader: one annotation per task, or the one marked ground_truth
        skeletons = None
        if task_type == "keypoints" and project is not None:
            skeletons = dict(project_ontology(project).keypoints) or None
        return ls_format.iter_gold(
            source, task_type=task_type, name=name, question=question, skeletons=skeletons
        )
    return jsonl_format.iter_gold(source, task_type=task_type, name=name)


def _voc_gold(source: IO[bytes] | Path, name: str = "upload") -> Iterator[GoldRecord]:
    """Pascal VOC gold: a folder, a zip or one XML file (boxes; image sizes into data)."""
    path = source if isinstance(source, Path) else _spilled(source, "voc", name)
    try:
        if path.is_file() and path.suffix == ".xml":  # one VOC file: read as a folder of one
            with tempfile.TemporaryDirectory() as folder:
                shutil.copy(path, Path(folder) / path.name)
                records = voc_gold(folder)
        else:
            records = voc_gold(path)
    finally:
        if not isinstance(source, Path):
            _unspill(path)
    return iter(records)


def write_vendor_labels(
    fmt: LabelFormat,
    annotations: Iterable[VendorAnnotation],
    out: IO[str],
    *,
    task_type: TaskType,
    classes: list[str] | None = None,
    items: Mapping[str, Mapping[str, Any]] | None = None,
    coco_category_ids: Mapping[str, int] | None = None,
) -> int:
    """Write vendor labels in ``fmt``; returns how many labels were written.

    ``items`` maps item key → item data (Label Studio task data; COCO image sizes).
    For ``labelstudio`` the annotations must come grouped by item. ``coco_category_ids``:
    the COCO gold file's category ids (COCO export; default: class i is id i).
    """
    items = items or {}
    if fmt == "labelstudio":
        tasks = (
            ls_format.LabelStudioTask(
                item_id=key, data=dict(items.get(key, {})), annotations=tuple(group)
            )
            for key, group in groupby(annotations, key=lambda a: a.item_id)
        )
        return ls_format.write_tasks(tasks, out, task_type=task_type)
    if fmt == "coco":
        _require(fmt, task_type, _COCO_TASKS)
        return _write_coco(
            list(annotations),
            out,
            classes=classes or [],
            items=items,
            coco_category_ids=coco_category_ids,
        )
    if fmt == "csv":
        _require(fmt, task_type, _CSV_TASKS)
        return _write_vendor_csv(annotations, out, task_type=task_type)
    return jsonl_format.write_annotations(annotations, out)


def _write_vendor_csv(
    annotations: Iterable[VendorAnnotation], out: IO[str], *, task_type: TaskType
) -> int:
    """``item_id,label`` when the vendor names no annotators, else ``item_id,annotator_id,label``.

    Raises
    ------
    Conflict
        The labels do not fit one CSV layout (some name an annotator and some do not, or
        several multilabel answers per item); the message says to export ``jsonl``.
    """
    stream = iter(annotations)
    first = next(stream, None)
    if first is None:
        return 0
    rows = chain([first], stream)
    named = first.annotator_id is not None

    def checked() -> Iterator[VendorAnnotation]:
        for a in rows:
            if (a.annotator_id is not None) is not named:
                raise ValueError(
                    f"item {a.item_id!r}: some labels name an annotator and some do not"
                )
            yield a

    try:
        if task_type == "multilabel":
            return csv_format.write_multilabels(((a.item_id, a.label) for a in checked()), out)
        if not named:
            return csv_format.write_labels(((a.item_id, a.label) for a in checked()), out)
        return csv_format.write_annotations(
            ((a.item_id, a.annotator_id, a.label) for a in checked()), out
        )
    except ValueError as exc:
        raise Conflict(
            f"these labels cannot be written as CSV ({exc}); export them with format=jsonl",
            code="csv_unrepresentable",
        ) from exc


def write_gold(
    fmt: LabelFormat,
    records: Iterable[GoldRecord],
    out: IO[str],
    *,
    task_type: TaskType,
    classes: list[str] | None = None,
    coco_category_ids: Mapping[str, int] | None = None,
) -> int:
    """Write golden items with their gold labels in ``fmt``; returns how many were written
    (``coco_category_ids`` as in :func:`write_vendor_labels`)."""
    if fmt == "labelstudio":
        tasks = (
            ls_format.LabelStudioTask(
                item_id=r.item_id,
                data=r.data,
                annotations=(VendorAnnotation(item_id=r.item_id, label=r.label),),
            )
            for r in records
        )
        return ls_format.write_tasks(tasks, out, task_type=task_type)
    if fmt == "coco":
        _require(fmt, task_type, _COCO_TASKS)
        rows = list(records)
        annotations = [VendorAnnotation(item_id=r.item_id, label=r.label) for r in rows]
        return _write_coco(
            annotations,
            out,
            classes=classes or [],
            items={r.item_id: r.data for r in rows},
            coco_category_ids=coco_category_ids,
        )
    if fmt == "csv":
        _require(fmt, task_type, _CSV_TASKS)
        if task_type == "multilabel":
            return csv_format.write_multilabels(((r.item_id, r.label) for r in records), out)
        return csv_format.write_labels(((r.item_id, r.label) for r in records), out)
    return jsonl_format.write_gold(records, out)


def _zip(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files.items()):
            archive.writestr(name, content)
    return buffer.getvalue()


def export_file(
    fmt: FileFormat,
    annotations: Iterable[VendorAnnotation],
    *,
    task_type: TaskType,
    classes: list[str] | None = None,
    items: Mapping[str, Mapping[str, Any]] | None = None,
) -> bytes:
    """Labels as a Pascal VOC zip, a YOLO zip, a CVAT for images 1.1 XML, a doccano or Prodigy
    JSONL file or a SageMaker Ground Truth output manifest, which the same format's reader
    reads back as the same labels.

    ``items`` maps item key -> item data (``width``/``height`` for images, ``text``); YOLO
    class indices follow ``classes`` (the ontology's order, also written to ``classes.txt``),
    as do Prodigy's choice options and SageMaker's class-map ids.

    Raises
    ------
    Invalid
        The format cannot hold this task type's labels, or lacks what it needs (an image size
        for YOLO).
    """
    items = items or {}
    sizes: dict[str, tuple[int, int]] = {}
    texts: dict[str, str] = {}
    for key, data in items.items():
        width, height = data.get("width"), data.get("height")
        if isinstance(width, int) and isinstance(height, int):
            sizes[key] = (width, height)
        if isinstance(data.get("text"), str):
            texts[key] = str(data["text"])
    allowed = {
        "voc": ("detection",),
        "yolo": ("detection", "segmentation"),
        "cvat": ("classification", "multilabel", "detection", "segmentation"),
        "doccano": ("classification", "multilabel", "spans"),
        "prodigy": ("classification", "multilabel", "spans"),
        "sagemaker": ("classification", "multilabel", "detection"),
    }[fmt]
    if task_type not in allowed:
        raise Invalid(
            f"format {fmt!r} holds {' or '.join(allowed)} labels, not {task_type}",
            location=("query", "format"),
        )
    try:
        if fmt == "voc":
            return _zip(write_voc(annotations, image_sizes=sizes))
        if fmt == "yolo":
            return _zip(write_yolo(annotations, image_sizes=sizes, class_names=classes or []))
        if fmt == "cvat":
            return write_cvat(annotations, task_type=task_type, image_sizes=sizes)
        if fmt == "prodigy":
            return write_prodigy(annotations, task_type=task_type, texts=texts, classes=classes)
        if fmt == "sagemaker":
            return write_sagemaker(
                annotations, task_type=task_type, classes=classes, texts=texts, image_sizes=sizes
            )
        return write_doccano(annotations, task_type=task_type, texts=texts)
    except FormatError as exc:
        raise Invalid(f"cannot export as {fmt}: {exc}", location=("query", "format")) from exc


def export_gold_file(
    fmt: FileFormat,
    records: Iterable[GoldRecord],
    *,
    task_type: TaskType,
    classes: list[str] | None = None,
) -> bytes:
    """Golden items' gold labels as :func:`export_file` writes them (sizes, texts from data)."""
    rows = list(records)
    return export_file(
        fmt,
        [VendorAnnotation(item_id=r.item_id, label=r.label) for r in rows],
        task_type=task_type,
        classes=classes,
        items={r.item_id: r.data for r in rows},
    )
