"""Label files in and out: one place that maps a format name to the readers and writers.

The readers and writers live in :mod:`adapters.formats` (one module per format); this module
picks one by name so that every import and export endpoint, the CLI and the Python client accept
the same formats:

=============  ===========================================================================
``jsonl``      JSON Lines (:mod:`adapters.formats.jsonl`)
``labelstudio`` Label Studio JSON export / import file (:mod:`adapters.formats.labelstudio`)
``csv``        CSV (:mod:`adapters.formats.csv`)
``coco``       COCO JSON (:mod:`adapters.formats.coco`)
=============  ===========================================================================

Readers stream and raise :class:`adapters.formats.FormatError` naming the row or object; the API
maps that to HTTP 422.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator
from itertools import groupby
from typing import IO, Any, Literal, get_args

from adapters.base import TaskType, VendorAnnotation
from adapters.formats import FormatError
from adapters.formats.jsonl import GoldRecord
from service.domain.errors import Invalid

__all__ = [
    "LabelFormat",
    "FORMATS",
    "MEDIA_TYPES",
    "GoldRecord",
    "read_gold",
    "read_vendor_labels",
    "write_gold",
    "write_vendor_labels",
]

LabelFormat = Literal["jsonl", "csv", "coco", "labelstudio"]
FORMATS: tuple[LabelFormat, ...] = get_args(LabelFormat)
MEDIA_TYPES: dict[LabelFormat, str] = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "coco": "application/json",
    "labelstudio": "application/json",
}


def _module(fmt: LabelFormat) -> Any:
    name = {"jsonl": "jsonl", "csv": "csv", "coco": "coco", "labelstudio": "labelstudio"}[fmt]
    try:
        return importlib.import_module(f"adapters.formats.{name}")
    except ModuleNotFoundError as exc:
        raise Invalid(
            f"format {fmt!r} is not available in this installation",
            location=("query", "format"),
        ) from exc


def _function(fmt: LabelFormat, *names: str) -> Any:
    module = _module(fmt)
    for name in names:
        fn = getattr(module, name, None)
        if fn is not None:
            return fn
    raise Invalid(  # pragma: no cover - the format modules define these
        f"format {fmt!r} cannot do this ({' / '.join(names)} missing)",
        location=("query", "format"),
    )


def read_vendor_labels(
    fmt: LabelFormat, source: IO[bytes], *, task_type: TaskType, name: str = "<upload>"
) -> Iterator[VendorAnnotation]:
    """Stream vendor labels from a file in ``fmt``.

    Raises
    ------
    FormatError
        A malformed row or object (raised while iterating).
    """
    reader = _function(fmt, "iter_annotations")
    return iter(reader(source, task_type=task_type, name=name))


def _gold_from_labelstudio(
    source: IO[bytes], *, task_type: TaskType, name: str
) -> Iterator[GoldRecord]:
    module = _module("labelstudio")
    for index, task in enumerate(module.iter_tasks(source, task_type=task_type, name=name)):
        if len(task.annotations) != 1:
            raise FormatError(
                name,
                f"[task {index}].annotations",
                f"a gold task needs exactly one annotation, found {len(task.annotations)}",
            )
        data = {k: v for k, v in task.data.items() if k != "item_id"}
        yield GoldRecord(item_id=task.item_id, label=task.annotations[0].label, data=data)


def read_gold(
    fmt: LabelFormat, source: IO[bytes], *, task_type: TaskType, name: str = "<upload>"
) -> Iterator[GoldRecord]:
    """Stream golden items with their gold labels from a file in ``fmt``.

    Raises
    ------
    FormatError
        A malformed row or object (raised while iterating).
    """
    if fmt == "labelstudio":
        return _gold_from_labelstudio(source, task_type=task_type, name=name)
    reader = _function(fmt, "iter_gold")
    return iter(reader(source, task_type=task_type, name=name))


def write_vendor_labels(
    fmt: LabelFormat,
    annotations: Iterable[VendorAnnotation],
    out: IO[str],
    *,
    task_type: TaskType,
    items: dict[str, dict[str, Any]] | None = None,
) -> int:
    """Write vendor labels in ``fmt``; ``items`` maps item key → item data (Label Studio, COCO).

    For ``labelstudio`` the annotations must come grouped by item.
    """
    if fmt == "labelstudio":
        module = _module("labelstudio")
        tasks = (
            module.LabelStudioTask(
                item_id=key, data=(items or {}).get(key, {}), annotations=tuple(group)
            )
            for key, group in groupby(annotations, key=lambda a: a.item_id)
        )
        count: int = module.write_tasks(tasks, out, task_type=task_type)
        return count
    writer = _function(fmt, "write_annotations")
    if fmt == "coco":
        written: int = writer(annotations, out, task_type=task_type, items=items or {})
        return written
    if fmt == "csv":
        written = writer(annotations, out, task_type=task_type)
        return written
    written = writer(annotations, out)
    return written


def write_gold(
    fmt: LabelFormat, records: Iterable[GoldRecord], out: IO[str], *, task_type: TaskType
) -> int:
    """Write golden items with their gold labels in ``fmt``."""
    if fmt == "labelstudio":
        module = _module("labelstudio")
        tasks = (
            module.LabelStudioTask(
                item_id=r.item_id,
                data=r.data,
                annotations=(VendorAnnotation(item_id=r.item_id, label=r.label),),
            )
            for r in records
        )
        count: int = module.write_tasks(tasks, out, task_type=task_type)
        return count
    writer = _function(fmt, "write_gold")
    if fmt in ("csv", "coco"):
        written: int = writer(records, out, task_type=task_type)
        return written
    written = writer(records, out)
    return written
