"""The ``file`` kind: vendors that work from exported files and send a file back.

:meth:`FileAdapter.submit` writes a *package* for the vendor into
``{directory}/{vendor}/{batch_id}/``:

==================== ================================================================
``items.<ext>``      the items, never their gold, in the vendor's format (below)
``instructions.md``  the pinned instructions (version, text, illustrated examples)
``ontology.json``    the classes (and whether they are ordinal)
``labeling_config``  ``.xml``, Label Studio format only: the labeling interface
``manifest.json``    batch id, item ids, format and the name of the file to return
==================== ================================================================

The vendor returns ``results.<ext>`` in the same format, dropped into the package
directory (or placed there with :meth:`FileAdapter.import_results`). Formats:

================ ==================================== ==================================
format           items file (sent)                    results file (returned)
================ ==================================== ==================================
``csv``          ``item_id`` + one column per data    ``item_id,label`` or
                 key, and an empty ``label`` column   ``item_id,annotator_id,label``
``coco``         COCO instances: images + categories  COCO instances with annotations,
                 (image ``id`` = row number)          or a COCO results array
``label_studio`` Label Studio import tasks            a Label Studio JSON export
``jsonl``        ``{"item_id", "data"}`` per line     one annotation per line
================ ==================================== ==================================

Timestamps come from the returned file when it has them (Label Studio, JSON Lines),
otherwise the upload time (the file's modification time). Cost comes from the file when
it has one, else from ``price_per_item`` / ``price_per_label`` when set; with neither,
it is left to the vendor's price list in the service.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from adapters.base import (
    Batch,
    Instructions,
    JobNotFound,
    JobStatus,
    Ontology,
    TaskType,
    VendorAnnotation,
    VendorJob,
    VendorRejected,
    VendorResponseInvalid,
    WorkItem,
)
from adapters.formats import FormatError

__all__ = ["FileAdapter", "FileFormat", "FileResults", "Manifest", "FORMAT_TASKS"]

FileFormat = Literal["csv", "coco", "label_studio", "jsonl"]

#: The task types each format can carry.
FORMAT_TASKS: dict[FileFormat, frozenset[TaskType]] = {
    "csv": frozenset({"classification", "multilabel", "preference", "rating", "transcription"}),
    "coco": frozenset({"detection", "segmentation"}),
    "label_studio": frozenset(
        {
            "classification",
            "multilabel",
            "detection",
            "segmentation",
            "spans",
            "preference",
            "rating",
            "transcription",
        }
    ),
    "jsonl": frozenset(
        {
            "classification",
            "multilabel",
            "detection",
            "segmentation",
            "spans",
            "preference",
            "rating",
            "transcription",
        }
    ),
}
_EXT: dict[FileFormat, str] = {
    "csv": "csv",
    "coco": "json",
    "label_studio": "json",
    "jsonl": "jsonl",
}


class Manifest(BaseModel):
    """What a package holds; written as ``manifest.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_id: str
    bakeoff_id: str
    vendor: str
    format: FileFormat
    task_type: TaskType
    instructions_version: int
    item_ids: tuple[str, ...]
    created_at: datetime
    items_file: str
    results_file: str


class FileResults(BaseModel):
    """A returned file's answers, with what its reader left out or did not check."""

    model_config = ConfigDict(frozen=True)

    annotations: list[VendorAnnotation]
    notes: tuple[str, ...] = ()


class FileAdapter:
    """Exchange files with a vendor.

    Parameters
    ----------
    vendor
        The vendor's slug (a folder under ``directory``).
    directory
        Where packages are written.
    format
        The file format agreed with the vendor.
    price_per_item, price_per_label
        Used for the cost of each answer when the returned file has none.
    """

    kind: str = "file"
    #: Settings a remote caller may give. ``directory`` is a path on the machine that runs the
    #: adapter, so it is never one of them: the host application chooses it.
    api_settings: ClassVar[frozenset[str]] = frozenset(
        {"format", "price_per_item", "price_per_label"}
    )

    def __init__(
        self,
        vendor: str,
        *,
        directory: str | Path = "bakeoff-data/vendor-files",
        format: FileFormat = "csv",
        price_per_item: float | None = None,
        price_per_label: float | None = None,
    ) -> None:
        if format not in FORMAT_TASKS:
            raise ValueError(f"file format {format!r} is not one of {sorted(FORMAT_TASKS)}")
        self.name = vendor
        self.format: FileFormat = format
        self.directory = Path(directory)
        self.supported_tasks: frozenset[TaskType] = FORMAT_TASKS[format]
        self.price_per_item = price_per_item
        self.price_per_label = price_per_label

    # -- packages -------------------------------------------------------------------

    def package_dir(self, job: VendorJob | str) -> Path:
        """The folder of a job's package."""
        external_id = job if isinstance(job, str) else job.external_id
        if not external_id or "/" in external_id or external_id.startswith("."):
            raise JobNotFound(f"{self.name}: {external_id!r} is not a package id")
        return self.directory / self.name / external_id

    def submit(self, batch: Batch) -> VendorJob:
        """Write the package (once; a resubmission of the same items finds it)."""
        if batch.task_type not in self.supported_tasks:
            raise VendorRejected(
                f"{self.name}: the {self.format} format cannot carry {batch.task_type} labels; "
                f"it carries {sorted(self.supported_tasks)}"
            )
        batch_id = _batch_id(batch, self.name)
        folder = self.package_dir(batch_id)
        manifest_path = folder / "manifest.json"
        if manifest_path.exists():
            manifest = self._manifest(folder)
            return self._job(manifest)
        tmp = folder.with_name(folder.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ext = _EXT[self.format]
        manifest = Manifest(
            batch_id=batch_id,
            bakeoff_id=batch.bakeoff_id,
            vendor=self.name,
            format=self.format,
            task_type=batch.task_type,
            instructions_version=batch.instructions.version,
            item_ids=tuple(i.item_id for i in batch.items),
            created_at=datetime.now(UTC),
            items_file=f"items.{ext}",
            results_file=f"results.{ext}",
        )
        self._write_items(tmp / manifest.items_file, batch)
        (tmp / "instructions.md").write_text(_instructions_md(batch.instructions), "utf-8")
        (tmp / "ontology.json").write_text(batch.ontology.model_dump_json(indent=2), "utf-8")
        if self.format == "label_studio":
            from adapters.formats.labelstudio import labeling_config

            config = labeling_config(batch.task_type, batch.ontology)
            (tmp / "labeling_config.xml").write_text(config, "utf-8")
        (tmp / "manifest.json").write_text(manifest.model_dump_json(indent=2), "utf-8")
        if folder.exists():  # pragma: no cover - a concurrent writer won
            shutil.rmtree(tmp, ignore_errors=True)
            return self._job(self._manifest(folder))
        tmp.rename(folder)
        return self._job(manifest)

    def _write_items(self, path: Path, batch: Batch) -> None:
        if self.format == "csv":
            _write_items_csv(path, batch.items)
        elif self.format == "jsonl":
            with path.open("w", encoding="utf-8") as out:
                for item in batch.items:
                    out.write(json.dumps({"item_id": item.item_id, "data": item.data}) + "\n")
        elif self.format == "label_studio":
            from adapters.formats.labelstudio import import_payload

            tasks = [import_payload(i.item_id, i.data) for i in batch.items]
            path.write_text(json.dumps(tasks, indent=1), "utf-8")
        else:
            path.write_text(json.dumps(_coco_package(batch), indent=1), "utf-8")

    def _manifest(self, folder: Path) -> Manifest:
        try:
            return Manifest.model_validate_json((folder / "manifest.json").read_bytes())
        except FileNotFoundError as exc:
            raise JobNotFound(f"{self.name}: no package at {folder}") from exc

    def _job(self, manifest: Manifest) -> VendorJob:
        return VendorJob(
            vendor=self.name,
            external_id=manifest.batch_id,
            item_ids=manifest.item_ids,
            submitted_at=manifest.created_at,
        )

    def import_results(self, job: VendorJob, source: str | Path) -> Path:
        """Place the vendor's returned file in the package (an upload)."""
        folder = self.package_dir(job)
        manifest = self._manifest(folder)
        target = folder / manifest.results_file
        shutil.copyfile(source, target)
        return target

    # -- the LabelingVendor protocol --------------------------------------------------

    def poll(self, job: VendorJob) -> JobStatus:
        """``completed`` once the results file is there, else ``running``."""
        folder = self.package_dir(job)
        manifest = self._manifest(folder)
        total = len(manifest.item_ids)
        if not (folder / manifest.results_file).exists():
            return JobStatus(state="running", done=0, total=total, detail="awaiting results file")
        done = len({a.item_id for a in self.fetch_results(job)})
        return JobStatus(state="completed", done=done, total=total)

    def fetch_results(self, job: VendorJob) -> list[VendorAnnotation]:
        """Read the returned file; an absent one means no results yet.

        Raises
        ------
        VendorResponseInvalid
            The file is malformed or names items that were not in the package.
        """
        return self.read_results(job).annotations

    def read_results(self, job: VendorJob) -> FileResults:
        """:meth:`fetch_results` with the reader's notes (what it left out or did not check).

        Raises
        ------
        VendorResponseInvalid
            The file is malformed or names items that were not in the package.
        """
        folder = self.package_dir(job)
        manifest = self._manifest(folder)
        path = folder / manifest.results_file
        if not path.exists():
            return FileResults(annotations=[])
        uploaded = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        try:
            raw, notes = self._read(path, manifest, folder)
        except FormatError as exc:
            raise VendorResponseInvalid(f"{self.name}: {exc}") from exc
        known = set(manifest.item_ids)
        unknown = sorted({a.item_id for a in raw} - known)
        if unknown:
            raise VendorResponseInvalid(
                f"{self.name}: {path.name} answers items that were not sent: {unknown[:5]}"
            )
        return FileResults(annotations=self._complete(raw, uploaded, manifest), notes=notes)

    def cancel(self, job: VendorJob) -> None:
        """Mark the package cancelled (a ``CANCELLED`` file the vendor can see)."""
        try:
            folder = self.package_dir(job)
        except JobNotFound:
            return
        if folder.exists():
            (folder / "CANCELLED").write_text(datetime.now(UTC).isoformat(), "utf-8")

    # -- reading ------------------------------------------------------------------------

    def _read(
        self, path: Path, manifest: Manifest, folder: Path
    ) -> tuple[list[VendorAnnotation], tuple[str, ...]]:
        task_type = manifest.task_type
        if self.format == "csv":
            return _read_csv(path, task_type), ()
        if self.format == "jsonl":
            from adapters.formats.jsonl import iter_annotations as jsonl_annotations

            return list(jsonl_annotations(path, task_type=task_type)), ()
        if self.format == "label_studio":
            from adapters.formats.labelstudio import iter_annotations as ls_annotations

            return list(ls_annotations(path, task_type=task_type)), ()
        return _read_coco(path, folder / manifest.items_file, manifest)

    def _complete(
        self, raw: Sequence[VendorAnnotation], uploaded: datetime, manifest: Manifest
    ) -> list[VendorAnnotation]:
        per_item = Counter(a.item_id for a in raw)
        seen: Counter[str] = Counter()
        out: list[VendorAnnotation] = []
        for a in raw:
            key = f"{a.item_id}:{a.annotator_id or 'vendor'}"
            seen[key] += 1
            external = a.external_id or (key if seen[key] == 1 else f"{key}:{seen[key]}")
            cost = a.cost
            if cost is None and (self.price_per_item is not None or self.price_per_label):
                n = len(a.label) if isinstance(a.label, list) else 1
                cost = (self.price_per_item or 0.0) / per_item[a.item_id] + (
                    self.price_per_label or 0.0
                ) * n
            out.append(
                a.model_copy(
                    update={
                        "completed_at": a.completed_at or uploaded,
                        "cost": cost,
                        "external_id": external,
                        "instructions_version": a.instructions_version
                        or manifest.instructions_version,
                    }
                )
            )
        return out


# --------------------------------------------------------------------------- helpers


def _batch_id(batch: Batch, vendor: str) -> str:
    digest = hashlib.sha256()
    for part in (vendor, batch.bakeoff_id, str(batch.instructions.version), batch.task_type):
        digest.update(part.encode() + b"\0")
    for item_id in sorted(i.item_id for i in batch.items):
        digest.update(item_id.encode() + b"\0")
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in batch.bakeoff_id)
    return f"{safe}-{digest.hexdigest()[:20]}"


def _instructions_md(instructions: Instructions) -> str:
    lines = [f"<!-- instructions version {instructions.version} -->", instructions.text, ""]
    if instructions.examples:
        lines.append("## Examples")
        for example in instructions.examples:
            kind = "Counter-example (do not do this)" if example.counter_example else "Example"
            lines += [
                "",
                f"### {kind}: {example.title}",
                "",
                f"- data: `{json.dumps(example.data)}`",
                f"- label: `{json.dumps(example.label, default=str)}`",
            ]
            if example.explanation:
                lines.append(f"- why: {example.explanation}")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _write_items_csv(path: Path, items: Iterable[WorkItem]) -> None:
    from adapters.formats.csv import csv_safe  # formulas shown as text in spreadsheets

    items = list(items)
    keys: list[str] = []
    for item in items:
        for key in item.data:
            if key not in keys and key not in ("item_id", "label"):
                keys.append(key)
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["item_id", *map(csv_safe, keys), "label"])
        for item in items:
            writer.writerow(
                [csv_safe(item.item_id), *(csv_safe(_cell(item.data.get(k, ""))) for k in keys), ""]
            )


def _read_csv(path: Path, task_type: TaskType) -> list[VendorAnnotation]:
    from adapters.formats import csv as csv_format

    if task_type == "multilabel":
        return [
            VendorAnnotation(item_id=r.item_id, label=list(r.labels))
            for r in csv_format.iter_multilabels(path)
        ]

    def value(text: str, row: int) -> Any:
        if task_type != "rating":
            return text
        try:  # a rating cell: 4 or help=4;fact=5
            return csv_format.parse_rating_cell(text)
        except ValueError as exc:
            raise FormatError(path.name, f"row {row}", str(exc)) from None

    if csv_format.detect_layout(path) == "annotations":
        return [
            VendorAnnotation(
                item_id=r.item_id, label=value(r.label, r.row), annotator_id=r.annotator_id
            )
            for r in csv_format.iter_annotations(path)
        ]
    return [
        VendorAnnotation(item_id=r.item_id, label=value(r.label, r.row))
        for r in csv_format.iter_labels(path)
    ]


def _coco_package(batch: Batch) -> dict[str, Any]:
    images = []
    for n, item in enumerate(batch.items, start=1):
        width, height = item.data.get("width"), item.data.get("height")
        if not isinstance(width, int | float) or not isinstance(height, int | float):
            raise VendorRejected(
                f"item {item.item_id!r}: the COCO format needs data['width'] and data['height']"
            )
        name = item.data.get("image") or item.data.get("file_name") or item.item_id
        images.append({"id": n, "width": int(width), "height": int(height), "file_name": str(name)})
    return {
        "info": {"description": f"Bakeoff batch for {batch.bakeoff_id}"},
        "images": images,
        "categories": _categories(batch.ontology),
        "annotations": [],
    }


def _categories(ontology: Ontology) -> list[dict[str, Any]]:
    return [
        {"id": k, "name": c.name, "supercategory": ""} for k, c in enumerate(ontology.classes, 1)
    ]


def _read_coco(
    path: Path, items_path: Path, manifest: Manifest
) -> tuple[list[VendorAnnotation], tuple[str, ...]]:
    """The file's answers by item, with its reader's notes (keypoints, boxes past the border)."""
    from adapters.formats.coco import parse_coco_dataset, read_coco_dataset, read_coco_results

    task: Literal["detection", "segmentation"] = (
        "segmentation" if manifest.task_type == "segmentation" else "detection"
    )
    by_image = {str(n): item_id for n, item_id in enumerate(manifest.item_ids, start=1)}
    head = path.read_bytes()[:4096].lstrip()
    if head.startswith(b"["):
        package = parse_coco_dataset(
            json.loads(items_path.read_text("utf-8")), source=items_path.name
        )
        results = read_coco_results(path, package)
        raw, notes = results.to_vendor_annotations(package, task), results.notes
    else:
        dataset = read_coco_dataset(path)
        raw, notes = dataset.to_vendor_annotations(task), dataset.notes
    out = []
    for a in raw:
        item_id = by_image.get(a.item_id)
        if item_id is None:
            raise FormatError(path.name, "images", f"image id {a.item_id} was not in the package")
        out.append(a.model_copy(update={"item_id": item_id}))
    return out, notes
