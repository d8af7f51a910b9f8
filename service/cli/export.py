"""``bakeoff export``: write gold or a vendor's labels to a file, in any format the API writes.

Examples
--------
::

    bakeoff export gold 3 1 gold.jsonl                 # golden set 3, version 1
    bakeoff export gold 3 1 gold.xml --format cvat
    bakeoff export labels 7 2 acme.zip --format yolo   # vendor 2's labels of bake-off 7

The formats are the API's (``GET /golden-sets/{id}/versions/{v}/export`` and
``GET /bakeoffs/{id}/vendors/{vendor}/labels/export``), made by the same domain
functions (:mod:`service.domain.label_export`), so a file from either door is the same
file, and ``bakeoff import`` reads it back. Without ``--format`` the format is the one the
output's suffix names (``.jsonl``, ``.csv``, ``.xml``: CVAT, ``.manifest``: SageMaker);
a ``.json`` or ``.zip`` needs ``--format`` (COCO or Label Studio; VOC or YOLO).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from service.cli._app import app
from service.cli._choices import ExportFormat
from service.cli._db import current_database, database_epilog, fail, fail_domain, open_session

if TYPE_CHECKING:  # imported inside the commands: `bakeoff --help` must not load them
    from service.domain.label_export import ExportPlan

__all__ = ["export_app"]

export_app = typer.Typer(
    name="export",
    help="Write gold or a vendor's labels to a file (JSONL, CSV, COCO, Label Studio, VOC, "
    "YOLO, CVAT, doccano, Prodigy, SageMaker).",
    epilog=database_epilog(),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(export_app)

FormatOption = Annotated[
    ExportFormat | None,
    typer.Option("--format", "-f", help="File format; named by the output's suffix when left out."),
]

# suffixes that name one format (.json is COCO or Label Studio, .zip VOC or YOLO)
_BY_SUFFIX: dict[str, ExportFormat] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".xml": "cvat",
    ".manifest": "sagemaker",
}


def _format(out: Path, fmt: ExportFormat | None) -> ExportFormat:
    if fmt is not None:
        return fmt
    chosen = _BY_SUFFIX.get(out.suffix.lower())
    if chosen is None:
        raise fail(
            f"{out.name}: cannot tell the format from the suffix {out.suffix or '(none)'!r}; "
            "name it with --format (e.g. coco, labelstudio, voc, yolo)"
        )
    return chosen


def _save(plan: ExportPlan, out: Path) -> None:
    from adapters.formats import FormatError
    from service.domain.errors import DomainError

    try:
        plan.save(out)
    except DomainError as exc:
        out.unlink(missing_ok=True)  # never leave half a file behind
        raise fail_domain(exc) from None
    except FormatError as exc:
        out.unlink(missing_ok=True)
        raise fail(str(exc).splitlines()[0]) from None
    typer.echo(f"wrote {out} ({out.stat().st_size} bytes); database {current_database()}")


@export_app.command("gold")
def export_gold_command(
    golden_set_id: Annotated[int, typer.Argument(help="The golden set's id.")],
    version: Annotated[int, typer.Argument(help="The version number (1, 2, ...).")],
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    fmt: FormatOption = None,
) -> None:
    """Write a golden-set version's items and gold labels to a file."""
    from service.domain import label_export

    chosen = _format(out, fmt)
    with open_session() as session:
        plan = label_export.gold_export(
            session=session, golden_set_id=golden_set_id, version=version, fmt=chosen
        )
        _save(plan, out)


@export_app.command("labels")
def export_labels_command(
    bakeoff_id: Annotated[int, typer.Argument(help="The bake-off's id.")],
    vendor_id: Annotated[int, typer.Argument(help="The vendor (a candidate of the bake-off).")],
    out: Annotated[Path, typer.Argument(help="The file to write.")],
    fmt: FormatOption = None,
) -> None:
    """Write a vendor's labels of a bake-off to a file."""
    from service.domain import label_export

    chosen = _format(out, fmt)
    with open_session() as session:
        plan = label_export.vendor_labels_export(
            session=session, bakeoff_id=bakeoff_id, vendor_id=vendor_id, fmt=chosen
        )
        _save(plan, out)
