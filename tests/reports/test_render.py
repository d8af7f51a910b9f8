"""Rendering: one self-contained HTML file, JSON valid against the schema, CSV tables."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import jsonschema_rs
import pandas as pd
import pytest

import reports.render as render_module
from reports.render import (
    CACHE_DIR_ENV,
    json_schema,
    plotly_js,
    plotly_js_gzip,
    render_csv,
    render_html,
    render_html_string,
    render_json,
    unpack_plotly,
)
from reports.results import Report

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "docs" / "report-schema.json"


#: Budget of a self-contained report: plotly.js packed (about 1.96 MB) plus the report itself.
HTML_BUDGET_BYTES = 2_300_000


def test_html_is_self_contained_with_plotly_once(full_report: Report, tmp_path: Path) -> None:
    out = render_html(full_report, tmp_path / "r.html")
    html = out.read_text(encoding="utf-8")
    assert unpack_plotly(html) == plotly_js()  # the library itself, unchanged, packed
    assert html.count('id="plotly-js-gzip"') == 1
    assert plotly_js()[:200] not in html  # and no second, plain copy
    assert "cdn.plot.ly" not in html and "<script src=" not in html
    size = out.stat().st_size
    page = size - len(base64.b64encode(plotly_js_gzip()))
    assert size < HTML_BUDGET_BYTES, f"{size:,} bytes > budget {HTML_BUDGET_BYTES:,}"
    assert page < 200_000
    for key in ("ranking", "pareto", "slices", "box_bias", "latency", "trends", "confusion_2"):
        assert f'id="fig-{key}"' in html and f'id="data-{key}"' in html
    assert "acme" in html and "2026-Q1" in html
    assert "not ranked" in html  # core breaks the latency constraint


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An empty cache folder, and no packed plotly.js in this process's memory."""
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_DIR_ENV, str(folder))
    plotly_js_gzip.cache_clear()
    yield folder
    plotly_js_gzip.cache_clear()


def _refuse_to_compress(source: bytes) -> bytes:
    raise AssertionError("compressed again although a good copy was kept")


def test_packed_plotly_is_kept_on_disk_and_read_back(
    fresh_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    packed = plotly_js_gzip()
    assert gzip.decompress(packed).decode("utf-8") == plotly_js()
    assert packed == gzip.compress(plotly_js().encode(), compresslevel=9, mtime=0)
    (kept,) = fresh_cache.iterdir()  # one file, no temporary left behind
    assert kept.read_bytes() == packed and kept.name.startswith("plotly-")
    plotly_js_gzip.cache_clear()  # as a new process would
    monkeypatch.setattr(render_module, "_gzip_plotly", _refuse_to_compress)
    assert plotly_js_gzip() == packed


@pytest.mark.parametrize(
    "damage",
    [lambda b: b[: len(b) // 2], lambda _: b"not gzip", lambda _: gzip.compress(b"other js")],
    ids=["truncated", "garbage", "other-library"],
)
def test_a_damaged_or_foreign_cache_file_is_replaced(
    fresh_cache: Path, damage: Callable[[bytes], bytes]
) -> None:
    packed = plotly_js_gzip()
    (kept,) = fresh_cache.iterdir()
    kept.write_bytes(damage(packed))
    plotly_js_gzip.cache_clear()
    assert plotly_js_gzip() == packed
    assert kept.read_bytes() == packed


def test_packing_works_without_a_writable_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(CACHE_DIR_ENV, str(blocker / "cache"))
    plotly_js_gzip.cache_clear()
    try:
        assert gzip.decompress(plotly_js_gzip()).decode("utf-8") == plotly_js()
    finally:
        plotly_js_gzip.cache_clear()


def test_plain_embedding_keeps_plotly_as_it_ships(full_report: Report) -> None:
    html = render_html_string(full_report, embed="plain")
    assert html.count(plotly_js()[:200]) == 1 and unpack_plotly(html) is None
    assert len(html.encode()) > len(render_html_string(full_report).encode()) + 2_500_000


def test_html_can_load_plotly_from_a_url(full_report: Report) -> None:
    html = render_html_string(full_report, plotly_src="/static/plotly.min.js")
    assert '<script src="/static/plotly.min.js"></script>' in html
    assert plotly_js()[:200] not in html


def test_figure_json_cannot_close_the_script_element(full_report: Report) -> None:
    evil = full_report.model_copy(update={"title": "</script><b>x</b>"})
    html = render_html_string(evil, plotly_src="p.js")
    assert "</script><b>" not in html


def test_json_validates_against_the_documented_schema(full_report: Report, tmp_path: Path) -> None:
    out = render_json(full_report, tmp_path / "r.json")
    document = json.loads(out.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    validator = jsonschema_rs.validator_for(schema)
    errors = [e.message for e in validator.iter_errors(document)]
    assert errors == []
    assert document["schema_version"] == "1.0"
    assert document["ranking"]["systems"][0]["rank"] == 1
    assert Report.model_validate(document) == full_report


def test_checked_in_schema_is_current() -> None:
    assert SCHEMA.read_text(encoding="utf-8") == json_schema(), (
        "docs/report-schema.json is stale: regenerate it with "
        "`python -c 'from reports.render import json_schema; print(json_schema(), end=\"\")'"
        " > docs/report-schema.json`"
    )


def test_schema_rejects_a_broken_document(full_report: Report) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    document = json.loads(full_report.model_dump_json())
    del document["ranking"]
    assert not jsonschema_rs.is_valid(schema, document)


def test_csv_tables(full_report: Report, tmp_path: Path) -> None:
    paths = render_csv(full_report, tmp_path / "csv")
    names = {p.stem for p in paths}
    assert {"ranking", "comparisons", "slices", "per_class", "box_bias", "confusion"} <= names
    ranking = pd.read_csv(tmp_path / "csv" / "ranking.csv")
    assert list(ranking["system"]) == [s.name for s in full_report.ranking.systems]
    assert ranking.loc[0, "rank"] == 1
    confusion = pd.read_csv(tmp_path / "csv" / "confusion.csv")
    assert len(confusion) == 3 * 9


@pytest.mark.parametrize("stem", ["ranking", "slices"])
def test_csv_values_match_the_report(full_report: Report, tmp_path: Path, stem: str) -> None:
    render_csv(full_report, tmp_path)
    table = pd.read_csv(tmp_path / f"{stem}.csv")
    if stem == "ranking":
        first = full_report.ranking.systems[0]
        assert table.loc[0, "accuracy"] == pytest.approx(first.accuracy.value)
    else:
        worst = full_report.slices[0]
        assert table.loc[0, "accuracy"] == pytest.approx(worst.accuracy.value)


def test_every_executable_script_carries_the_nonce(full_report: Report) -> None:
    import re

    html = render_html_string(full_report, plotly_src="/p.js", nonce="abc123")
    scripts = re.findall(r"<script([^>]*)>", html)
    executable = [attrs for attrs in scripts if "application/json" not in attrs]
    assert len(executable) == 2  # plotly.js and the drawing script
    assert all('nonce="abc123"' in attrs for attrs in executable)


def test_fragment_embeds_in_another_page(full_report: Report) -> None:
    from reports.figures import build_ranking_chart
    from reports.render import render_figures_script, render_fragment

    fragment = render_fragment(full_report, nonce="n1")
    assert "<html" not in fragment and "<!DOCTYPE" not in fragment
    assert 'id="fig-ranking"' in fragment and 'nonce="n1"' in fragment
    script = render_figures_script({"rank": build_ranking_chart(full_report.ranking)})
    assert 'id="data-rank"' in script and '"rank"' in script
