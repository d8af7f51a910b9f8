"""``bakeoff import``: bulk-import gold or a vendor's labels from a file, in one transaction.

Examples
--------
::

    bakeoff import gold 3 gold.csv                    # a new version of golden set 3
    bakeoff import gold 3 instances.json --merge      # COCO; keep gold not in the file
    bakeoff import labels 7 2 acme.jsonl              # vendor 2's labels for bake-off 7
    bakeoff import labels 7 2 export.json --format labelstudio

The format is guessed from the file (``.csv``, ``.jsonl``/``.ndjson``, a COCO ``.json``
object with ``images``, or a Label Studio ``.json`` list) unless ``--format`` names it.
A malformed file stores nothing and exits 1 with one line naming the file, the row or
object, and what is wrong. Re-running an import with the same ``--idempotency-key`` stores
nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, BinaryIO

import typer

from service.cli._app import app
from service.cli._choices import GoldFormat, ReadFormat
from service.cli._db import current_database, database_epilog, fail, fail_domain, open_session

if TYPE_CHECKING:  # imported inside the commands: `bakeoff --help` must not load them
    from service.models import ImportResult

__all__ = ["guess_format", "import_app"]

import_app = typer.Typer(
    name="import",
    help="Bulk-import gold or a vendor's labels from a CSV, COCO, Label Studio or JSONL file.",
    epilog=database_epilog(),
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(import_app)

FormatOption = Annotated[
    GoldFormat | None,
    typer.Option("--format", "-f", help="File format; guessed from the file when left out."),
]
ReadFormatOption = Annotated[
    ReadFormat | None,
    typer.Option(
        "--format", "-f", help="File format (a folder or zip for voc/yolo); detected when left out."
    ),
]
KeyOption = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Re-running with the same key stores nothing twice."),
]


def guess_format(path: Path) -> GoldFormat:
    """The format of a gold file from its name and, for ``.json``, its first character (a
    folder, ``.zip`` or ``.xml``: Pascal VOC).

    Raises
    ------
    FormatError
        When the name and content fit no known format.
    """
    from adapters.formats import FormatError

    suffix = path.suffix.lower()
    if path.is_dir() or suffix in (".zip", ".xml"):
        return "voc"
    if suffix == ".csv":
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        with path.open("rb") as handle:
            head = handle.read(4096).lstrip()
        if head.startswith(b"["):
            return "labelstudio"
        if head.startswith(b"{"):
            return "coco"
    raise FormatError(
        path.name,
        "",
        "cannot tell the format; name it with --format csv|jsonl|coco|labelstudio|voc",
    )


def _fingerprint(path: Path) -> str:
    """sha256 of a file, or of a folder's files (names and contents, in name order)."""
    digest = hashlib.sha256()
    files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _report(result: ImportResult, what: str) -> None:
    line = f"stored {result.stored} {what} ({result.received} read, {result.duplicates} duplicates)"
    if result.replayed:
        line = f"already imported with this idempotency key: {line}"
    if result.golden_set_version is not None:
        line += f"; golden-set version {result.golden_set_version}"
    typer.echo(f"{line}; database {current_database()}")
    for note in result.notes:  # what the reader left out, said out loud
        typer.echo(f"note: {note}", err=True)


def _open(path: Path) -> BinaryIO:
    from adapters.formats import FormatError

    if not path.is_file():
        raise FormatError(str(path), "", "no such file")
    return path.open("rb")


@import_app.command("gold")
def import_gold_command(
    golden_set_id: Annotated[int, typer.Argument(help="The golden set's id.")],
    path: Annotated[Path, typer.Argument(help="The file with items and their gold labels.")],
    fmt: FormatOption = None,
    merge: Annotated[
        bool, typer.Option("--merge", help="Keep the latest version's gold not in this file.")
    ] = False,
    note: Annotated[str, typer.Option("--note", help="Stored on the new version.")] = "",
    idempotency_key: KeyOption = None,
    question: Annotated[
        str | None,
        typer.Option("--question", help="Label Studio control (from_name), when several."),
    ] = None,
) -> None:
    """Import items and gold labels as a new version of a golden set."""
    from adapters.formats import FormatError
    from service.domain import golden_import, golden_sets, label_io
    from service.domain.errors import DomainError

    try:
        chosen = fmt or guess_format(path)
        # a VOC folder is read where it is; every other gold file as one stream
        folder = path if chosen == "voc" and path.is_dir() else None
        with ExitStack() as files, open_session() as session:
            body: IO[bytes] | Path = (
                folder if folder is not None else files.enter_context(_open(path))
            )
            golden = golden_sets.get_golden_set(
                session=session, golden_set_id=golden_set_id, principal=None
            )
            project = golden_sets.golden_set_project(session, golden)
            records = label_io.read_gold(
                chosen,
                body,
                task_type=project.task_type,
                name=path.name,
                question=question,
                project=project,
            )
            result = golden_import.import_gold(
                session=session,
                golden_set_id=golden_set_id,
                records=records,
                note=note,
                merge=merge,
                idempotency_key=idempotency_key,
                fingerprint=_fingerprint(path),
                source=path.name,
            )
    except DomainError as exc:
        raise fail_domain(exc) from None
    except (FormatError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    _report(result, "gold labels")


@import_app.command("labels")
def import_labels_command(
    bakeoff_id: Annotated[int, typer.Argument(help="The bake-off's id.")],
    vendor_id: Annotated[int, typer.Argument(help="The vendor (a candidate of the bake-off).")],
    path: Annotated[Path, typer.Argument(help="The vendor's label file (or VOC/YOLO folder).")],
    fmt: ReadFormatOption = None,
    idempotency_key: KeyOption = None,
    question: Annotated[
        str | None,
        typer.Option(
            "--question",
            help="Label Studio control (from_name), Labelbox question or SageMaker attribute.",
        ),
    ] = None,
) -> None:
    """Import a vendor's labels for a bake-off; each label is stored exactly once."""
    from adapters.formats import FormatError
    from adapters.formats.registry import detect_format
    from service.domain import bakeoffs, label_io, vendor_labels
    from service.domain.errors import DomainError

    try:
        if not path.exists():
            raise FormatError(str(path), "", "no such file or folder")
        chosen = fmt or detect_format(path)
        with open_session() as session:
            bakeoff = bakeoffs.get_bakeoff(session=session, bakeoff_id=bakeoff_id, principal=None)
            task_type = bakeoffs.bakeoff_task_type(session, bakeoff)
            records = label_io.read_vendor_labels(
                chosen,
                path,
                task_type=task_type,
                name=path.name,
                gold=lambda: label_io.gold_context(session, bakeoff, chosen),
                question=question,
            )
            result = vendor_labels.add_vendor_labels(
                session=session,
                bakeoff_id=bakeoff_id,
                vendor_id=vendor_id,
                records=records,
                idempotency_key=idempotency_key,
                fingerprint=_fingerprint(path),
                source=path.name,
            )
    except DomainError as exc:
        raise fail_domain(exc) from None
    except (FormatError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise fail(str(exc).splitlines()[0]) from None
    _report(result, "labels")
