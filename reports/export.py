"""A report's tables for people: formatted CSV and XLSX (the dashboards' downloads).

The machine-readable CSV of :func:`reports.render.render_csv` keeps every digit (the
"one truth" tests compare it to the engine to 1e-9). People who open a download in a
spreadsheet want ``1800.00`` rather than ``1799.9999999999998``, a rank ``1`` rather than
``1.0``, and the currency of every money column. This module is the one formatter of
those downloads: it reads the same rows as :func:`reports.render.report_tables` and
:func:`reports.render.scores_table` (the scoring engine's numbers, nothing recomputed)
and rounds each cell by its kind.

Tables
------
``ranking``
    One row per system: rank, status, score, gap to the leader, the main metric with its
    interval, coverage, p95 latency (hours), cost per item and per correct label.
``metrics``
    Every engine metric of every system with its interval (long: one row per metric).
``costs``
    Total cost, cost per item and per correct label with intervals, and the projection
    to the production volume when the bake-off sets one.

Examples
--------
>>> format_cell(Cell(1799.9999999999998, "money", 2))
'1800.00'
>>> format_cell(Cell(1, "int")), format_cell(Cell(None, "number"))
('1', '')
>>> money(1799.9999999999998, "EUR")
'EUR 1,800.00'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal

from reports._format import as_number, money
from reports.render import report_tables, scores_table
from reports.results import Estimate, Report

__all__ = [
    "EXPORT_TABLES",
    "Cell",
    "CellKind",
    "ExportTable",
    "export_tables",
    "format_cell",
    "money",
    "render_export_csv",
    "render_xlsx",
]

CellKind = Literal["text", "int", "number", "money", "bool"]

#: The tables a download offers, in sheet order.
EXPORT_TABLES: Final[tuple[str, ...]] = ("ranking", "metrics", "costs")

_XLSX_FORMATS: Final[dict[CellKind, str]] = {"int": "0", "text": "@", "bool": "@"}
_MONEY_TOTAL_DIGITS = 2
_MONEY_UNIT_DIGITS = 4


@dataclass(frozen=True)
class Cell:
    """One value of a download and how to show it.

    Attributes
    ----------
    value
        The engine's value (``None``: not available, an empty cell).
    kind
        ``text``, ``int``, ``number`` (rounded to ``digits``), ``money`` (rounded to
        ``digits``, in ``currency``) or ``bool`` (``yes``/``no``).
    digits
        Decimal places of ``number`` and ``money``.
    currency
        ISO code of a ``money`` cell (``None``: unknown).
    """

    value: object
    kind: CellKind = "text"
    digits: int = 3
    currency: str | None = None


@dataclass(frozen=True)
class ExportTable:
    """A table of a download: a name (file stem, sheet), column titles and cells."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def _rounded(cell: Cell) -> object:
    """The cell's value as a typed, rounded Python value (what an XLSX cell holds)."""
    if cell.value is None:
        return None
    if cell.kind == "int":
        x = as_number(cell.value)
        return None if x is None else round(x)
    if cell.kind in ("number", "money"):
        x = as_number(cell.value)
        # round() of a float can still print 0.30000000000000004: go through the text
        return None if x is None else float(f"{x:.{cell.digits}f}")
    if cell.kind == "bool":
        return "yes" if cell.value else "no"
    return str(cell.value)


def format_cell(cell: Cell) -> str:
    """The cell as CSV text: rounded numbers without thousands separators, '' for none."""
    value = _rounded(cell)
    if value is None:
        return ""
    if cell.kind in ("number", "money") and isinstance(value, float):
        return f"{value:.{cell.digits}f}"
    return str(value)


def _est(e: Estimate | None) -> tuple[float | None, float | None, float | None]:
    return (None, None, None) if e is None else (e.value, e.low, e.high)


def _unit(currency: str | None) -> str:
    return f" ({currency})" if currency else ""


def _ranking(report: Report) -> ExportTable:
    table = report_tables(report)["ranking"]
    cur = report.currency
    main = report.main_metric
    rows = []
    for r in table.to_dict("records"):
        system = str(r["system"])
        c = report.currencies.get(system)
        p95 = as_number(r["p95_latency_s"])
        rows.append(
            (
                Cell(r["rank"], "int"),
                Cell(system),
                Cell(r["status"]),
                Cell(r["letters"] or None),
                Cell(r["score"], "number", 3),
                Cell(r["score_gap"], "number", 3),
                Cell(r["score_gap_low"], "number", 3),
                Cell(r["score_gap_high"], "number", 3),
                Cell(r["accuracy"], "number", 3),
                Cell(r["accuracy_low"], "number", 3),
                Cell(r["accuracy_high"], "number", 3),
                Cell(r["coverage"], "number", 3),
                Cell(None if p95 is None else p95 / 3600, "number", 2),
                Cell(r["cost_per_item"], "money", _MONEY_UNIT_DIGITS, c),
                Cell(r["cost_per_item_low"], "money", _MONEY_UNIT_DIGITS, c),
                Cell(r["cost_per_item_high"], "money", _MONEY_UNIT_DIGITS, c),
                Cell(r["cost_per_correct"], "money", _MONEY_UNIT_DIGITS, c),
                Cell(c),
                Cell(r["pareto_optimal"], "bool"),
                Cell(r["violations"] or None),
            )
        )
    columns = (
        "rank",
        "system",
        "status",
        "group",
        "score",
        "gap to leader",
        "gap low",
        "gap high",
        main,
        f"{main} low",
        f"{main} high",
        "coverage",
        "p95 latency (h)",
        f"cost per item{_unit(cur)}",
        f"cost per item low{_unit(cur)}",
        f"cost per item high{_unit(cur)}",
        f"cost per correct label{_unit(cur)}",
        "currency",
        "Pareto optimal",
        "notes",
    )
    return ExportTable("ranking", columns, tuple(rows))


def _metric_cell(metric: str, value: object, currency: str | None) -> Cell:
    if metric == "total_cost":
        return Cell(value, "money", _MONEY_TOTAL_DIGITS, currency)
    if metric.startswith("cost_"):
        return Cell(value, "money", _MONEY_UNIT_DIGITS, currency)
    if metric.startswith("latency_") or metric.endswith("_per_hour"):
        return Cell(value, "number", 1)
    return Cell(value, "number", 4)


def _metrics(report: Report) -> ExportTable:
    rows = []
    for r in scores_table(report).to_dict("records"):
        metric, system = str(r["metric"]), str(r["system"])
        money_row = metric == "total_cost" or metric.startswith("cost_")
        c = report.currencies.get(system) if money_row else None
        rows.append(
            (
                Cell(system),
                Cell(r["status"]),
                Cell(metric),
                _metric_cell(metric, r["value"], c),
                _metric_cell(metric, r["low"], c),
                _metric_cell(metric, r["high"], c),
                Cell(c),
            )
        )
    columns = ("system", "status", "metric", "value", "low", "high", "currency")
    return ExportTable("metrics", columns, tuple(rows))


def _costs(report: Report) -> ExportTable:
    cur = report.currency
    projected = {p.system: p for p in report.cost_projection}
    rows = []
    for s in report.ranking.systems:  # the engine's estimates where a system has them
        system = s.name
        c = report.currencies.get(system)
        p = projected.get(system)
        engine = report.scores.get(system)
        item, correct = _est(s.cost_per_item), _est(s.cost_per_correct)
        rows.append(
            (
                Cell(system),
                Cell(c),
                Cell(None if engine is None else engine.total_cost, "money", 2, c),
                *(Cell(v, "money", _MONEY_UNIT_DIGITS, c) for v in item),
                *(Cell(v, "money", _MONEY_UNIT_DIGITS, c) for v in correct),
                Cell(None if p is None else p.volume, "int"),
                Cell(None if p is None else p.variable_cost, "money", _MONEY_TOTAL_DIGITS, c),
                Cell(None if p is None else p.minimum_commitment, "money", _MONEY_TOTAL_DIGITS, c),
                Cell(None if p is None else p.projected_cost, "money", _MONEY_TOTAL_DIGITS, c),
                Cell(None if p is None else p.minimum_binds, "bool"),
                Cell(None if p is None else p.cost_per_correct, "money", _MONEY_UNIT_DIGITS, c),
            )
        )
    u = _unit(cur)
    columns = (
        "system",
        "currency",
        f"total cost{u}",
        f"cost per item{u}",
        f"cost per item low{u}",
        f"cost per item high{u}",
        f"cost per correct label{u}",
        f"cost per correct label low{u}",
        f"cost per correct label high{u}",
        "production volume",
        f"projected variable cost{u}",
        f"minimum commitment{u}",
        f"projected cost{u}",
        "minimum binds",
        f"projected cost per correct label{u}",
    )
    return ExportTable("costs", columns, tuple(rows))


def export_tables(report: Report) -> dict[str, ExportTable]:
    """The download tables of ``report``, keyed by :data:`EXPORT_TABLES` name."""
    return {"ranking": _ranking(report), "metrics": _metrics(report), "costs": _costs(report)}


def render_export_csv(table: ExportTable) -> str:
    """One table as CSV text (header row, then rounded cells)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([format_cell(c) for c in row])
    return out.getvalue()


def _xlsx_format(cell: Cell) -> str:
    if cell.kind in ("number", "money"):
        fmt = "#,##0" + ("." + "0" * cell.digits if cell.digits > 0 else "")
        if cell.kind == "money" and cell.currency:
            return f'"{cell.currency}" {fmt}'
        return fmt
    return _XLSX_FORMATS.get(cell.kind, "General")


def render_xlsx(tables: Mapping[str, ExportTable] | Sequence[ExportTable]) -> bytes:
    """The tables as one workbook (one sheet each), numbers stored as rounded numbers.

    Money cells carry a number format with their currency (``"USD" #,##0.00``), so a
    spreadsheet shows the currency and still sums the column.
    """
    from openpyxl import Workbook  # imported on use: only the XLSX download needs it
    from openpyxl.styles import Font

    items = list(tables.values()) if isinstance(tables, Mapping) else list(tables)
    book = Workbook()
    book.remove(book.active)
    for table in items:
        sheet = book.create_sheet(title=table.name[:31])
        sheet.append(list(table.columns))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for r, row in enumerate(table.rows, start=2):
            for col, c in enumerate(row, start=1):
                target = sheet.cell(row=r, column=col, value=_rounded(c))
                if c.value is not None:
                    target.number_format = _xlsx_format(c)
        for col, title in enumerate(table.columns, start=1):
            width = max([len(title)] + [len(format_cell(row[col - 1])) for row in table.rows])
            letter = sheet.cell(row=1, column=col).column_letter
            sheet.column_dimensions[letter].width = min(40, width + 2)
        sheet.freeze_panes = "B2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
