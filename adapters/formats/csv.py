"""CSV label files for classification, streamed both ways.

Three layouts, each with a header row (columns in any order, names exact):

=============== ================================ ===================================
layout          header                           one row per
=============== ================================ ===================================
``labels``      ``item_id,label``                item (gold, or one vendor's labels)
``annotations`` ``item_id,annotator_id,label``   (item, annotator) answer
``multilabel``  ``item_id,label``                item; ``label`` holds classes
                                                 separated by ``|`` (``cat|indoor``)
=============== ================================ ===================================

Gold files may carry each item's metadata (for slices such as ``lighting=dim``) and data
(:func:`iter_gold`): a ``metadata`` column holding a JSON object, a ``data`` column holding a
JSON object, and any other column as one flat metadata field (its header is the key, the
cell the value; an empty cell sets nothing). ``item_id,label,lighting,metadata`` with a row
``img-1,cat,dim,"{""camera"": ""A""}"`` gives ``{"lighting": "dim", "camera": "A"}``.

Writers neutralise spreadsheet formulas (:func:`csv_safe`: ``=cmd|...`` is written as
``'=cmd|...``) and readers undo it (:func:`csv_unsafe`), so a value round-trips exactly.

Readers are generators that validate while they stream, so a 100,000-row import never
holds more than the seen ids in memory. Every problem raises one
:class:`~adapters.formats.FormatError` naming the file, the row and what is wrong:
``vendor.csv: row 7: duplicate item_id 'img-3' (first seen at row 3)``. Rows are numbered
as an editor numbers lines: the header is row 1. Surrounding whitespace in fields is
ignored; blank lines are skipped; a UTF-8 byte-order mark is accepted.

:func:`read_labels`, :func:`read_annotations` and :func:`read_multilabels` return pandas
objects in the ``task``/``worker``/``label`` naming of :mod:`metrics`.

Examples
--------
>>> import io
>>> rows = list(iter_labels(io.StringIO("item_id,label\\na,cat\\nb,dog\\n"), name="gold.csv"))
>>> [(r.item_id, r.label, r.row) for r in rows]
[('a', 'cat', 2), ('b', 'dog', 3)]
>>> list(iter_labels(io.StringIO("item_id,label\\na,cat\\na,dog\\n"), name="gold.csv"))
Traceback (most recent call last):
...
adapters.formats._errors.FormatError: gold.csv: row 3: duplicate item_id 'a' (first seen at row 2)
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, NamedTuple, TypeAlias, cast

import pandas as pd

from adapters.formats._errors import FormatError

if TYPE_CHECKING:
    from _csv import Reader as _CsvReader

__all__ = [
    "Layout",
    "GoldRow",
    "LabelRow",
    "AnnotationRow",
    "MultiLabelRow",
    "MULTILABEL_SEPARATOR",
    "detect_layout",
    "iter_gold",
    "iter_labels",
    "iter_annotations",
    "iter_multilabels",
    "read_labels",
    "read_annotations",
    "read_multilabels",
    "write_labels",
    "write_annotations",
    "write_multilabels",
    "FORMULA_PREFIXES",
    "csv_safe",
    "csv_unsafe",
    "parse_rating_cell",
]

Source: TypeAlias = str | os.PathLike[str] | IO[str] | IO[bytes]
Destination: TypeAlias = str | os.PathLike[str] | IO[str]
Layout: TypeAlias = Literal["labels", "annotations"]

MULTILABEL_SEPARATOR = "|"
_ITEM, _ANNOTATOR, _LABEL = "item_id", "annotator_id", "label"
_BOM = codecs.BOM_UTF8.decode()
# the long-format column names of metrics.types (adapters may not import metrics)
_TASK, _WORKER = "task", "worker"

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet read a cell as a formula (CSV injection)."""
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _formula_like(text: str) -> bool:
    bare = text.lstrip("'")
    return bare[:1] in FORMULA_PREFIXES and not (
        bare is text and _NUMBER.fullmatch(text) is not None
    )


def csv_safe(value: str) -> str:
    """A cell a spreadsheet shows as text: ``'`` before a formula-like value (``=cmd|...``).

    Every CSV writer puts its cells through this (OWASP "CSV injection"). Values starting
    with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return get a leading apostrophe, and
    so does a value that already starts with apostrophes before such a character, so
    :func:`csv_unsafe` (which every reader of this module applies) restores any value exactly.
    Plain numbers such as ``-1`` or ``+2.5`` are left alone.

    Examples
    --------
    >>> [csv_safe(v) for v in ["=cmd|' /C calc'!A0", "@SUM(A1)", "-1", "cat", "'=x"]]
    ["'=cmd|' /C calc'!A0", "'@SUM(A1)", '-1', 'cat', "''=x"]
    >>> all(csv_unsafe(csv_safe(v)) == v for v in ["=1+1", "''-x", "-2.5", "+", "a"])
    True
    """
    return "'" + value if value and _formula_like(value) else value


def csv_unsafe(value: str) -> str:
    """Undo :func:`csv_safe` (readers of this module's files apply it to every cell)."""
    if value[:1] == "'" and _formula_like(value):
        return value[1:]
    return value


class GoldRow(NamedTuple):
    """One gold row with its item's metadata and data (see :func:`iter_gold`)."""

    item_id: str
    label: str
    metadata: dict[str, Any]
    data: dict[str, Any]
    row: int


class LabelRow(NamedTuple):
    """One ``item_id,label`` row and where it was (header is row 1)."""

    item_id: str
    label: str
    row: int


class AnnotationRow(NamedTuple):
    """One ``item_id,annotator_id,label`` row and where it was."""

    item_id: str
    annotator_id: str
    label: str
    row: int


class MultiLabelRow(NamedTuple):
    """One multi-label row: the classes, deduplicated, in file order."""

    item_id: str
    labels: tuple[str, ...]
    row: int


# --------------------------------------------------------------------------- opening


def _name_of(source: Source | Destination, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(source, str | os.PathLike):
        return Path(source).name
    return str(getattr(source, "name", "<stream>"))


def _is_binary(stream: IO[str] | IO[bytes]) -> bool:
    if isinstance(stream, io.TextIOBase):
        return False
    if isinstance(stream, io.RawIOBase | io.BufferedIOBase):
        return True
    return "b" in str(getattr(stream, "mode", ""))


@contextmanager
def _open_text(source: Source, name: str) -> Iterator[IO[str]]:
    if isinstance(source, str | os.PathLike):
        try:
            handle = open(source, encoding="utf-8-sig", newline="")  # noqa: SIM115
        except OSError as exc:
            raise FormatError(name, "", f"cannot open file: {exc.strerror or exc}") from exc
        with handle:
            yield handle
    elif _is_binary(source):
        binary = cast(IO[bytes], source)
        wrapper = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            yield wrapper
        finally:
            # Hand the caller's stream back open. When the caller closed it first (an upload's
            # spool file closed before a half-read generator is collected), detach() would
            # flush a closed file and raise "I/O operation on closed file" from a finaliser;
            # a read-only wrapper has nothing to flush, so it is simply dropped then.
            if not binary.closed:
                wrapper.detach()
    else:
        yield source  # type: ignore[misc]


def _reader_rows(reader: _CsvReader, name: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, stripped fields) for every non-blank row a ``csv.reader`` gives.

    The general path, for headers and :func:`detect_layout`; data rows take the flat loops of
    :func:`iter_labels` and :func:`iter_annotations`.
    """
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            raise _not_utf8(name, reader) from exc
        except csv.Error as exc:
            raise _malformed(name, reader, exc) from exc
        if not fields or all(not f.strip() for f in fields):
            continue
        first = fields[0]
        if first.startswith(_BOM):
            fields[0] = first[1:]
        yield reader.line_num, [f.strip() for f in fields]


def _not_utf8(name: str, reader: _CsvReader) -> FormatError:
    # the reader has not counted the line it failed to decode
    return FormatError(name, f"row {reader.line_num + 1}", "file is not UTF-8 text")


def _malformed(name: str, reader: _CsvReader, exc: csv.Error) -> FormatError:
    return FormatError(name, f"row {reader.line_num}", f"malformed CSV: {exc}")


def _rows(source: Source, name: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, stripped fields) for every non-blank row, header included."""
    with _open_text(source, name) as handle:
        yield from _reader_rows(csv.reader(handle, strict=True), name)


def _header(
    rows: Iterator[tuple[int, list[str]]], name: str, expected: Sequence[str]
) -> tuple[int, list[int]]:
    """Check the header and return (field count, position of each expected column)."""
    want = ",".join(expected)
    try:
        row, header = next(rows)
    except StopIteration:
        raise FormatError(name, "", f"empty file; expected a header row {want}") from None
    seen: set[str] = set()
    for col in header:
        if col in seen:
            raise FormatError(name, f"row {row}", f"column {col!r} appears twice")
        seen.add(col)
    unknown = [c for c in header if c not in expected]
    missing = [c for c in expected if c not in header]
    if unknown:
        raise FormatError(
            name,
            f"row {row}",
            f"unknown column(s) {', '.join(map(repr, unknown))}; expected {want}",
        )
    if missing:
        raise FormatError(
            name,
            f"row {row}",
            f"missing column(s) {', '.join(map(repr, missing))}; expected {want}",
        )
    return len(header), [header.index(c) for c in expected]


def _slow_values(
    fields: list[str],
    row: int,
    name: str,
    expected: Sequence[str],
    width: int,
    positions: Sequence[int],
) -> list[str] | None:
    """The checked values of a data row the fast loops left alone, or ``None`` if it is blank.

    The general rules (what :func:`_reader_rows` does for the header, then the field count
    and empty values); raises the row's :class:`FormatError`.
    """
    if not fields or all(not f.strip() for f in fields):
        return None
    first = fields[0]
    if first.startswith(_BOM):
        fields[0] = first[1:]
    if len(fields) != width:
        raise FormatError(
            name,
            f"row {row}",
            f"expected {width} fields ({','.join(expected)}), got {len(fields)}",
        )
    values = [fields[p].strip() for p in positions]
    for col, value in zip(expected, values, strict=True):
        if not value:
            where = f" for item_id {values[0]!r}" if col != _ITEM else ""
            raise FormatError(name, f"row {row}", f"empty {col}{where}")
    return values


# --------------------------------------------------------------------------- readers


def detect_layout(source: str | os.PathLike[str], *, name: str | None = None) -> Layout:
    """Whether a CSV file is ``labels`` (``item_id,label``) or ``annotations`` from its header.

    Raises
    ------
    FormatError
        If the file is empty or its header is neither layout.
    """
    label = _name_of(source, name)
    for row, header in _rows(source, label):
        cols = set(header)
        if cols == {_ITEM, _LABEL}:
            return "labels"
        if cols == {_ITEM, _ANNOTATOR, _LABEL}:
            return "annotations"
        raise FormatError(
            label,
            f"row {row}",
            f"unrecognised header {','.join(header)}; expected item_id,label "
            "or item_id,annotator_id,label",
        )
    raise FormatError(label, "", "empty file; expected a header row item_id,label")


def iter_labels(source: Source, *, name: str | None = None) -> Iterator[LabelRow]:
    """Stream ``item_id,label`` rows, checking them as they come.

    Parameters
    ----------
    source
        A path, or an open text or binary stream (read as UTF-8).
    name
        The file name used in errors (defaults to the path's name or the stream's ``name``).

    Yields
    ------
    LabelRow

    Raises
    ------
    FormatError
        Unknown or missing columns, a row with the wrong number of fields, an empty
        ``item_id`` or ``label``, a duplicate ``item_id``, malformed CSV or non-UTF-8 text.
    """
    label = _name_of(source, name)
    cols = (_ITEM, _LABEL)
    with _open_text(source, label) as handle:
        reader = csv.reader(handle, strict=True)
        width, positions = _header(_reader_rows(reader, label), label, cols)
        at_item, at_label = positions
        first_seen: dict[str, int] = {}
        seen = first_seen.setdefault
        # One flat loop, not generators stacked per row (an API import streams 100,000s of
        # rows through it): a plain row costs a length check, two strips and one dict
        # operation; blank, short, empty or BOM-led rows take _slow_values, the general rules.
        try:
            for fields in reader:
                row = reader.line_num
                item_id = value = ""
                if len(fields) == width and not fields[0].startswith(_BOM):
                    item_id = fields[at_item].strip()
                    value = fields[at_label].strip()
                if not (item_id and value):
                    values = _slow_values(fields, row, label, cols, width, positions)
                    if values is None:
                        continue
                    item_id, value = values
                if item_id[0] == "'":
                    item_id = csv_unsafe(item_id)
                if value[0] == "'":
                    value = csv_unsafe(value)
                first = seen(item_id, row)  # one dict operation finds a duplicate
                if first != row:
                    raise FormatError(
                        label,
                        f"row {row}",
                        f"duplicate item_id {item_id!r} (first seen at row {first})",
                    )
                yield LabelRow(item_id, value, row)
        except UnicodeDecodeError as exc:
            raise _not_utf8(label, reader) from exc
        except csv.Error as exc:
            raise _malformed(label, reader, exc) from exc


_JSON_COLUMNS = ("metadata", "data")


def _json_object(text: str, name: str, row: int, column: str) -> dict[str, Any]:
    from adapters.formats._json_safe import loads

    if not text:
        return {}
    try:
        value = loads(text, source=name, where=f"row {row}: {column}")
    except ValueError as exc:  # json.JSONDecodeError
        raise FormatError(
            name, f"row {row}", f'{column} must be a JSON object such as {{"k": "v"}}: {exc}'
        ) from None
    if not isinstance(value, dict):
        raise FormatError(
            name,
            f"row {row}",
            f'{column} must be a JSON object such as {{"k": "v"}}, got {type(value).__name__}',
        )
    return value


def iter_gold(source: Source, *, name: str | None = None) -> Iterator[GoldRow]:
    """Stream gold rows: ``item_id,label`` plus the item's metadata and data, if any.

    Columns besides ``item_id`` and ``label`` (any order): ``metadata`` and ``data``, each a
    JSON object (empty cell: none), and any other column, one flat metadata field each
    (empty cell: not set). A key given both flat and in ``metadata`` is refused.

    Raises
    ------
    FormatError
        As :func:`iter_labels`, and for an ``annotator_id`` column (answers are not gold),
        a ``metadata``/``data`` cell that is not a JSON object, or a key given twice.

    Examples
    --------
    >>> import io
    >>> text = 'item_id,label,lighting,metadata\\nimg-1,cat,dim,"{""camera"": ""A""}"\\n'
    >>> [(r.item_id, r.label, r.metadata) for r in iter_gold(io.StringIO(text))]
    [('img-1', 'cat', {'camera': 'A', 'lighting': 'dim'})]
    """
    label = _name_of(source, name)
    rows = _rows(source, label)
    try:
        row, header = next(rows)
    except StopIteration:
        raise FormatError(label, "", "empty file; expected a header row item_id,label") from None
    seen_cols: set[str] = set()
    for col in header:
        if not col:
            raise FormatError(label, f"row {row}", "a column has no name")
        if col in seen_cols:
            raise FormatError(label, f"row {row}", f"column {col!r} appears twice")
        seen_cols.add(col)
    missing = [c for c in (_ITEM, _LABEL) if c not in header]
    if missing:
        raise FormatError(
            label,
            f"row {row}",
            f"missing column(s) {', '.join(map(repr, missing))}; expected item_id,label and "
            "optionally metadata, data or flat metadata columns",
        )
    if _ANNOTATOR in header:
        raise FormatError(
            label,
            f"row {row}",
            "annotator_id is a column of annotators' answers, not of gold; "
            "give one gold label per item_id",
        )
    width = len(header)
    at_item, at_label = header.index(_ITEM), header.index(_LABEL)
    flat = [(i, c) for i, c in enumerate(header) if c not in (_ITEM, _LABEL, *_JSON_COLUMNS)]
    json_cols = [(header.index(c), c) for c in _JSON_COLUMNS if c in header]
    first_seen: dict[str, int] = {}
    for row, fields in rows:
        if len(fields) != width:
            raise FormatError(
                label,
                f"row {row}",
                f"expected {width} fields ({','.join(header)}), got {len(fields)}",
            )
        item_id, value = csv_unsafe(fields[at_item]), csv_unsafe(fields[at_label])
        for col, text in ((_ITEM, item_id), (_LABEL, value)):
            if not text:
                where = f" for item_id {item_id!r}" if col != _ITEM else ""
                raise FormatError(label, f"row {row}", f"empty {col}{where}")
        first = first_seen.setdefault(item_id, row)
        if first != row:
            raise FormatError(
                label, f"row {row}", f"duplicate item_id {item_id!r} (first seen at row {first})"
            )
        objects = {c: _json_object(fields[i], label, row, c) for i, c in json_cols}
        metadata = objects.get("metadata", {})
        for i, col in flat:
            cell = csv_unsafe(fields[i])
            if not cell:
                continue
            if col in metadata:
                raise FormatError(
                    label,
                    f"row {row}",
                    f"metadata key {col!r} is both a column and in the metadata JSON",
                )
            metadata[col] = cell
        yield GoldRow(item_id, value, metadata, objects.get("data", {}), row)


def iter_annotations(source: Source, *, name: str | None = None) -> Iterator[AnnotationRow]:
    """Stream ``item_id,annotator_id,label`` rows; one answer per (item, annotator).

    Raises
    ------
    FormatError
        As :func:`iter_labels`; duplicates are repeated (item_id, annotator_id) pairs.

    Examples
    --------
    >>> import io
    >>> text = "item_id,annotator_id,label\\n1,ann,x\\n1,bob,y\\n"
    >>> [tuple(r) for r in iter_annotations(io.StringIO(text))]
    [('1', 'ann', 'x', 2), ('1', 'bob', 'y', 3)]
    """
    label = _name_of(source, name)
    cols = (_ITEM, _ANNOTATOR, _LABEL)
    with _open_text(source, label) as handle:
        reader = csv.reader(handle, strict=True)
        width, positions = _header(_reader_rows(reader, label), label, cols)
        at_item, at_annotator, at_label = positions
        first_seen: dict[tuple[str, str], int] = {}
        seen = first_seen.setdefault
        # the flat loop of iter_labels, keyed by (item, annotator)
        try:
            for fields in reader:
                row = reader.line_num
                item_id = annotator = value = ""
                if len(fields) == width and not fields[0].startswith(_BOM):
                    item_id = fields[at_item].strip()
                    annotator = fields[at_annotator].strip()
                    value = fields[at_label].strip()
                if not (item_id and annotator and value):
                    values = _slow_values(fields, row, label, cols, width, positions)
                    if values is None:
                        continue
                    item_id, annotator, value = values
                if "'" in (item_id[0], annotator[0], value[0]):
                    item_id, annotator, value = (
                        csv_unsafe(item_id),
                        csv_unsafe(annotator),
                        csv_unsafe(value),
                    )
                first = seen((item_id, annotator), row)
                if first != row:
                    raise FormatError(
                        label,
                        f"row {row}",
                        f"duplicate answer for item_id {item_id!r} by annotator_id "
                        f"{annotator!r} (first seen at row {first})",
                    )
                yield AnnotationRow(item_id, annotator, value, row)
        except UnicodeDecodeError as exc:
            raise _not_utf8(label, reader) from exc
        except csv.Error as exc:
            raise _malformed(label, reader, exc) from exc


def iter_multilabels(
    source: Source, *, name: str | None = None, separator: str = MULTILABEL_SEPARATOR
) -> Iterator[MultiLabelRow]:
    """Stream multi-label ``item_id,label`` rows where ``label`` is ``a|b|c``.

    A class may not be empty (``a||b``); repeated classes are kept once. To say "no class
    applies", leave the item out of the vendor file and use an explicit class such as
    ``none`` in gold.

    Examples
    --------
    >>> import io
    >>> [r.labels for r in iter_multilabels(io.StringIO("item_id,label\\n1,cat|indoor|cat\\n"))]
    [('cat', 'indoor')]
    """
    for item in iter_labels(source, name=name):
        parts = [p.strip() for p in item.label.split(separator)]
        if any(not p for p in parts):
            raise FormatError(
                _name_of(source, name),
                f"row {item.row}",
                f"empty class in label {item.label!r} for item_id {item.item_id!r}",
            )
        yield MultiLabelRow(item.item_id, tuple(dict.fromkeys(parts)), item.row)


def read_labels(source: Source, *, name: str | None = None) -> pd.Series[str]:
    """Read an ``item_id,label`` file into a Series indexed by ``task`` (labels as ``str``).

    Examples
    --------
    >>> import io
    >>> read_labels(io.StringIO("item_id,label\\na,cat\\n")).to_dict()
    {'a': 'cat'}
    """
    ids: list[str] = []
    values: list[str] = []
    for r in iter_labels(source, name=name):
        ids.append(r.item_id)
        values.append(r.label)
    return pd.Series(
        values, index=pd.Index(ids, name=_TASK, dtype=object), name=_LABEL, dtype=object
    )


def read_annotations(source: Source, *, name: str | None = None) -> pd.DataFrame:
    """Read an ``item_id,annotator_id,label`` file into columns ``task``, ``worker``, ``label``."""
    rows = [(r.item_id, r.annotator_id, r.label) for r in iter_annotations(source, name=name)]
    return pd.DataFrame(rows, columns=[_TASK, _WORKER, _LABEL], dtype=object)


def read_multilabels(
    source: Source, *, name: str | None = None, separator: str = MULTILABEL_SEPARATOR
) -> pd.Series[Any]:
    """Read a multi-label file into a Series of ``frozenset`` of classes indexed by ``task``."""
    ids: list[str] = []
    values: list[frozenset[str]] = []
    for r in iter_multilabels(source, name=name, separator=separator):
        ids.append(r.item_id)
        values.append(frozenset(r.labels))
    return pd.Series(
        values, index=pd.Index(ids, name=_TASK, dtype=object), name=_LABEL, dtype=object
    )


# --------------------------------------------------------------------------- writers


@contextmanager
def _open_out(dest: Destination) -> Iterator[IO[str]]:
    if isinstance(dest, str | os.PathLike):
        with open(dest, "w", encoding="utf-8", newline="") as handle:
            yield handle
    else:
        yield dest


def _check_field(value: object, what: str, row: int) -> str:
    text = str(value).strip()
    if value is None or not text:
        raise ValueError(f"row {row}: empty {what}; every row needs a non-empty {what}")
    return text


def write_labels(rows: Iterable[tuple[object, object]] | pd.Series[str], dest: Destination) -> int:
    """Write ``item_id,label`` rows; returns how many rows were written.

    ``rows`` is an iterable of ``(item_id, label)`` pairs or a Series indexed by item id.
    Empty ids or labels and duplicate ids raise :class:`ValueError` before anything
    invalid is written.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> write_labels([("a", "cat"), ("b", "dog")], out)
    2
    >>> out.getvalue().splitlines()
    ['item_id,label', 'a,cat', 'b,dog']
    """
    pairs: Iterable[tuple[object, object]] = rows.items() if isinstance(rows, pd.Series) else rows
    seen: set[str] = set()
    n = 0
    with _open_out(dest) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([_ITEM, _LABEL])
        for n, (item_id, value) in enumerate(pairs, start=1):
            item = _check_field(item_id, _ITEM, n + 1)
            if item in seen:
                raise ValueError(f"row {n + 1}: duplicate item_id {item!r}")
            seen.add(item)
            writer.writerow([csv_safe(item), csv_safe(_check_field(value, _LABEL, n + 1))])
    return n


def write_annotations(
    rows: Iterable[tuple[object, object, object]] | pd.DataFrame, dest: Destination
) -> int:
    """Write ``item_id,annotator_id,label`` rows; returns how many rows were written.

    ``rows`` is an iterable of ``(item_id, annotator_id, label)`` or a DataFrame with
    columns ``task``, ``worker``, ``label``.
    """
    if isinstance(rows, pd.DataFrame):
        triples: Iterable[tuple[object, object, object]] = rows[
            [_TASK, _WORKER, _LABEL]
        ].itertuples(index=False, name=None)
    else:
        triples = rows
    seen: set[tuple[str, str]] = set()
    n = 0
    with _open_out(dest) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([_ITEM, _ANNOTATOR, _LABEL])
        for n, (item_id, annotator, value) in enumerate(triples, start=1):
            key = (_check_field(item_id, _ITEM, n + 1), _check_field(annotator, _ANNOTATOR, n + 1))
            if key in seen:
                raise ValueError(
                    f"row {n + 1}: duplicate answer for item_id {key[0]!r} by {key[1]!r}"
                )
            seen.add(key)
            writer.writerow([*map(csv_safe, key), csv_safe(_check_field(value, _LABEL, n + 1))])
    return n


def write_multilabels(
    rows: Iterable[tuple[object, Iterable[object]]] | pd.Series[Any],
    dest: Destination,
    *,
    separator: str = MULTILABEL_SEPARATOR,
) -> int:
    """Write multi-label rows (classes sorted, joined by ``separator``); returns the row count."""
    pairs = cast(
        Iterable[tuple[object, Iterable[object]]],
        rows.items() if isinstance(rows, pd.Series) else rows,
    )

    def joined() -> Iterator[tuple[object, str]]:
        for n, (item_id, classes) in enumerate(pairs, start=1):
            names = sorted({_check_field(c, "class", n + 1) for c in classes})
            bad = [c for c in names if separator in c]
            if bad:
                raise ValueError(
                    f"row {n + 1}: class {bad[0]!r} contains the separator {separator!r}"
                )
            yield item_id, separator.join(names)

    return write_labels(joined(), dest)


_RATING_PAIR = re.compile(r"^\s*([^=;]+?)\s*=\s*([+-]?\d+)\s*$")


def parse_rating_cell(text: str) -> dict[str, int]:
    """A rating task's CSV ``label`` cell: ``4`` or ``helpfulness=4;correctness=5``.

    A bare integer is the one criterion ``rating``.

    Raises
    ------
    ValueError
        Anything else (the message says the expected form).

    Examples
    --------
    >>> parse_rating_cell("4"), parse_rating_cell("help=4; fact=5")
    ({'rating': 4}, {'help': 4, 'fact': 5})
    """
    cell = text.strip()
    if re.fullmatch(r"[+-]?\d+", cell):
        return {"rating": int(cell)}
    out: dict[str, int] = {}
    for part in cell.split(";"):
        match = _RATING_PAIR.match(part)
        if match is None or match.group(1) in out:
            raise ValueError(
                f"expected an integer rating or criterion=rating pairs joined by ';' "
                f"(e.g. helpfulness=4;correctness=5), got {text!r}"
            )
        out[match.group(1)] = int(match.group(2))
    return out
