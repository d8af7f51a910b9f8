"""Downloads for people: rounded numbers, integer ranks, currency on money columns."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from reports.export import (
    EXPORT_TABLES,
    Cell,
    export_tables,
    format_cell,
    money,
    render_export_csv,
    render_xlsx,
)
from reports.render import scores_table
from reports.results import Report


def _csv(report: Report, name: str) -> list[dict[str, str]]:
    text = render_export_csv(export_tables(report)[name])
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    ("cell", "text"),
    [
        (Cell(1799.9999999999998, "money", 2, "USD"), "1800.00"),
        (Cell(0.1 + 0.2, "number", 3), "0.300"),
        (Cell(1.0, "int"), "1"),
        (Cell(float("nan"), "int"), ""),
        (Cell(None, "money", 2), ""),
        (Cell(True, "bool"), "yes"),
        (Cell("acme"), "acme"),
    ],
)
def test_format_cell(cell: Cell, text: str) -> None:
    assert format_cell(cell) == text


def test_money_names_the_currency() -> None:
    assert money(1799.9999999999998, "USD") == "USD 1,800.00"
    assert money(0.0123456, "EUR", 4) == "EUR 0.0123"
    assert money(None, "USD") == "–"


def test_ranking_csv_has_integer_ranks_and_currency_columns(full_report: Report) -> None:
    rows = _csv(full_report, "ranking")
    assert [r["system"] for r in rows] == [s.name for s in full_report.ranking.systems]
    ranks = [r["rank"] for r in rows]
    assert ranks[:2] == ["1", "2"] and ranks[2] == ""  # core is not ranked: empty, not "nan"
    assert "cost per item (USD)" in rows[0] and rows[0]["currency"] == "USD"
    for r, s in zip(rows, full_report.ranking.systems, strict=True):
        assert s.cost_per_item is not None and s.cost_per_item.value is not None
        assert r["cost per item (USD)"] == f"{s.cost_per_item.value:.4f}"
        assert float(r["accuracy"]) == pytest.approx(s.accuracy.value, abs=5e-4)
        assert len(r["accuracy"].split(".")[1]) == 3


def test_metrics_csv_carries_every_engine_value_rounded(full_report: Report) -> None:
    engine = scores_table(full_report)
    rows = _csv(full_report, "metrics")
    assert len(rows) == len(engine)
    for r, (_, e) in zip(rows, engine.iterrows(), strict=True):
        assert (r["system"], r["metric"]) == (e["system"], e["metric"])
        if e["value"] is None or e["value"] != e["value"]:
            assert r["value"] == ""
            continue
        assert float(r["value"]) == pytest.approx(float(e["value"]), abs=5e-4, rel=1e-9)
        if r["metric"].startswith("cost_"):
            assert r["currency"] == "USD" and len(r["value"].split(".")[1]) == 4
        elif r["metric"] == "total_cost":
            assert r["currency"] == "USD" and len(r["value"].split(".")[1]) == 2
        else:
            assert r["currency"] == ""


def test_costs_csv_has_the_projection(full_report: Report) -> None:
    rows = {r["system"]: r for r in _csv(full_report, "costs")}
    assert set(rows) == {"acme", "bolt", "core"}
    for p in full_report.cost_projection:
        r = rows[p.system]
        assert r["production volume"] == "100000"
        assert r["projected cost (USD)"] == f"{p.projected_cost:.2f}"
        assert r["minimum binds"] == ("yes" if p.minimum_binds else "no")


def test_xlsx_has_one_sheet_per_table_with_numbers_and_currency_formats(
    full_report: Report,
) -> None:
    book = openpyxl.load_workbook(io.BytesIO(render_xlsx(export_tables(full_report))))
    assert book.sheetnames == list(EXPORT_TABLES)
    sheet = book["ranking"]
    header = [c.value for c in sheet[1]]
    rank_col = header.index("rank") + 1
    cost_col = header.index("cost per item (USD)") + 1
    assert sheet.cell(2, rank_col).value == 1 and isinstance(sheet.cell(2, rank_col).value, int)
    cost = sheet.cell(2, cost_col)
    assert isinstance(cost.value, float) and cost.number_format == '"USD" #,##0.0000'
    leader = full_report.ranking.systems[0]
    assert leader.cost_per_item is not None and leader.cost_per_item.value is not None
    assert cost.value == round(leader.cost_per_item.value, 4)
    costs = book["costs"]
    header = [c.value for c in costs[1]]
    projected = costs.cell(2, header.index("projected cost (USD)") + 1)
    assert projected.number_format == '"USD" #,##0.00'
