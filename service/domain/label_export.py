"""Exports of gold and of a vendor's labels, in every format the service writes.

One plan per export, used by the API (``GET .../export``) and by ``bakeoff export``: the
file's name and media type, and how to make it. Text formats (JSONL, CSV, COCO, Label
Studio) are written line by line (:attr:`ExportPlan.write`); file formats (a VOC or YOLO
zip, CVAT XML, doccano, Prodigy, SageMaker; :data:`label_io.FILE_FORMATS`) are built whole
(:attr:`ExportPlan.build`). Nothing is read until one of them runs, so the caller decides
on which thread the database is read.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeGuard

from sqlmodel import Session

from adapters.base import VendorAnnotation
from adapters.formats.jsonl import GoldRecord
from service.domain import bakeoffs, golden_import, golden_sets, label_io, projects, vendor_labels
from service.domain.security import Principal
from service.models import Project

__all__ = ["ExportPlan", "gold_export", "vendor_labels_export"]


@dataclass(frozen=True)
class ExportPlan:
    """How to make one export file.

    Exactly one of ``build`` (the whole file as bytes) and ``write`` (streamed into a text
    file) is set.
    """

    filename: str
    media_type: str
    build: Callable[[], bytes] | None = None
    write: Callable[[IO[str]], None] | None = None

    def save(self, dest: Path) -> None:
        """Write the export to ``dest`` (what ``bakeoff export`` does)."""
        if self.build is not None:
            dest.write_bytes(self.build())
        elif self.write is not None:
            with dest.open("wb") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
                self.write(out)


def _is_file_format(fmt: label_io.ExportFormat) -> TypeGuard[label_io.FileFormat]:
    return fmt in label_io.FILE_FORMATS


def _text_format(fmt: label_io.ExportFormat) -> label_io.LabelFormat:
    """``fmt`` as one of the text formats (every export format that is not a file format)."""
    for text in label_io.FORMATS:
        if text == fmt:
            return text
    raise ValueError(f"unknown export format {fmt!r}")


def _plan(
    stem: str,
    fmt: label_io.ExportFormat,
    *,
    whole: Callable[[label_io.FileFormat], bytes],
    lines: Callable[[label_io.LabelFormat, IO[str]], None],
) -> ExportPlan:
    """The plan for ``fmt``: a file format is built ``whole``, a text format written in
    ``lines``; the file name is ``stem`` with the format's suffix."""
    if _is_file_format(fmt):
        file_format = fmt
        return ExportPlan(
            filename=f"{stem}.{label_io.FILE_SUFFIXES[file_format]}",
            media_type=label_io.FILE_MEDIA_TYPES[file_format],
            build=lambda: whole(file_format),
        )
    text_format = _text_format(fmt)
    return ExportPlan(
        filename=f"{stem}.{label_io.SUFFIXES[text_format]}",
        media_type=label_io.MEDIA_TYPES[text_format],
        write=lambda out: lines(text_format, out),
    )


def vendor_labels_export(
    *,
    session: Session,
    bakeoff_id: int,
    vendor_id: int,
    fmt: label_io.ExportFormat,
    principal: Principal | None = None,
) -> ExportPlan:
    """A vendor's labels of a bake-off in ``fmt`` (voc and yolo: a zip, one file per image)."""

    def labels() -> tuple[Project, Iterator[VendorAnnotation], dict[str, dict[str, Any]] | None]:
        bakeoff = bakeoffs.get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
        project = projects.get_project(session=session, project_id=bakeoff.project_id)
        items = vendor_labels.item_data(session, bakeoff, principal) if fmt != "jsonl" else None
        annotations = vendor_labels.iter_vendor_labels(
            session=session,
            bakeoff_id=bakeoff_id,
            vendor_id=vendor_id,
            principal=principal,
            order="item",
        )
        return project, annotations, items

    def category_ids() -> dict[str, int] | None:
        bakeoff = bakeoffs.get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=principal)
        pinned = golden_sets.get_version_by_id(
            session=session, version_id=bakeoff.golden_set_version_id
        )
        return pinned.coco_category_ids

    def whole(file_format: label_io.FileFormat) -> bytes:
        project, annotations, items = labels()
        return label_io.export_file(
            file_format,
            annotations,
            task_type=project.task_type,
            classes=projects.class_names(project),
            items=items,
        )

    def lines(text_format: label_io.LabelFormat, out: IO[str]) -> None:
        project, annotations, items = labels()
        label_io.write_vendor_labels(
            text_format,
            annotations,
            out,
            task_type=project.task_type,
            classes=projects.class_names(project),
            items=items,
            coco_category_ids=category_ids(),
        )

    return _plan(f"bakeoff-{bakeoff_id}-vendor-{vendor_id}", fmt, whole=whole, lines=lines)


def gold_export(
    *,
    session: Session,
    golden_set_id: int,
    version: int,
    fmt: label_io.ExportFormat,
    principal: Principal | None = None,
) -> ExportPlan:
    """A golden-set version's items and gold labels in ``fmt``."""

    def gold() -> tuple[Project, Iterator[GoldRecord]]:
        golden = golden_sets.get_golden_set(
            session=session, golden_set_id=golden_set_id, principal=principal
        )
        project = golden_sets.golden_set_project(session, golden)
        records = golden_import.iter_gold_records(
            session=session, golden_set_id=golden_set_id, version=version, principal=principal
        )
        return project, records

    def whole(file_format: label_io.FileFormat) -> bytes:
        project, records = gold()
        return label_io.export_gold_file(
            file_format, records, task_type=project.task_type, classes=projects.class_names(project)
        )

    def lines(text_format: label_io.LabelFormat, out: IO[str]) -> None:
        project, records = gold()
        found = golden_sets.get_version(
            session=session, golden_set_id=golden_set_id, version=version, principal=principal
        )
        label_io.write_gold(
            text_format,
            records,
            out,
            task_type=project.task_type,
            classes=projects.class_names(project),
            coco_category_ids=found.coco_category_ids,
        )

    return _plan(f"golden-set-{golden_set_id}-v{version}", fmt, whole=whole, lines=lines)
