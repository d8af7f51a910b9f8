"""Bad input gets a clear 4xx (or 503 for a busy database), never a 500.

Security issue 11, item 10: JSON nested thousands of levels deep, ``1e999``/``NaN`` numbers,
item data ``"width": "100px"``, over-long stored strings and a locked SQLite database, through
the JSON API, the file imports and the CLI.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlmodel import Session, SQLModel, select
from typer.testing import CliRunner

import service.models as m
from adapters.formats import MAX_JSON_DEPTH
from service.cli.main import app as cli
from service.core.config import get_settings
from service.core.db import create_db_engine, get_engine
from service.core.migrations import upgrade_head
from service.domain import golden_sets, projects
from tests.service.conftest import Seed

Headers = dict[str, dict[str, str]]
DEEP = 3_000


def _deep(depth: int = DEEP) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def _gold_url(seed: Seed, fmt: str = "jsonl") -> str:
    return f"/golden-sets/{seed.golden_set_id}/import?format={fmt}"


def _labels_url(seed: Seed, fmt: str = "jsonl") -> str:
    return f"/bakeoffs/{seed.bakeoff_id}/vendors/{seed.other_vendor_id}/labels/import?format={fmt}"


def _loc_msg(response: Any) -> tuple[str, str]:
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    return " ".join(str(p) for p in detail["loc"]), str(detail["msg"])


# --------------------------------------------------------------------------- depth


def test_deep_json_body_is_422_on_every_json_route(
    client: TestClient, auth: Headers, seeded: Seed
) -> None:
    body = '{"name": "p", "task_type": "classification", "ontology": ' + _deep() + "}"
    headers = {**auth["lead"], "content-type": "application/json"}
    loc, msg = _loc_msg(client.post("/projects", content=body, headers=headers))
    assert f"deeper than {MAX_JSON_DEPTH} levels" in msg
    labels = '{"labels": [{"item_key": "img-1", "value": ' + _deep() + "}]}"
    url = f"/bakeoffs/{seeded.bakeoff_id}/vendors/{seeded.other_vendor_id}/labels"
    _, msg = _loc_msg(client.post(url, content=labels, headers=headers))
    assert "deeper than" in msg
    # just inside the limit is fine for the JSON reader (the route then judges the value)
    ok = '{"name": "p2", "task_type": "classification", "ontology": ' + _deep(60) + "}"
    assert client.post("/projects", content=ok, headers=headers).status_code != 500


@pytest.mark.parametrize(
    ("fmt", "body", "where"),
    [
        ("jsonl", '{"item_id": "img-1", "label": "cat", "data": ' + _deep() + "}\n", "line 1"),
        ("labelstudio", '[{"id": 1, "data": ' + _deep() + "}]", "[task 0]"),
    ],
    ids=["jsonl", "labelstudio"],
)
def test_deep_json_file_import_is_422_naming_the_place(
    client: TestClient, auth: Headers, seeded: Seed, fmt: str, body: str, where: str
) -> None:
    loc, msg = _loc_msg(
        client.post(_gold_url(seeded, fmt), content=body.encode(), headers=auth["lead"])
    )
    assert f"deeper than {MAX_JSON_DEPTH} levels" in msg and where in msg


def test_deep_json_label_import_is_422(client: TestClient, auth: Headers, seeded: Seed) -> None:
    body = '{"item_id": "img-1", "label": ' + _deep() + "}\n"
    _, msg = _loc_msg(client.post(_labels_url(seeded), content=body, headers=auth["lead"]))
    assert "line 1" in msg and "deeper than" in msg


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    """A migrated SQLite file with a classification golden set; yields its id."""
    monkeypatch.setenv("BAKEOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    get_engine.cache_clear()
    upgrade_head(get_settings().database_url)
    with Session(get_engine()) as session:
        project = projects.create_project(
            session=session,
            data=m.ProjectCreate(
                name="p", task_type="classification", ontology={"classes": [{"name": "cat"}]}
            ),
        )
        golden = golden_sets.create_golden_set(
            session=session, data=m.GoldenSetCreate(name="g", project_id=project.id or 0)
        )
        golden_id = golden.id or 0
    yield golden_id
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("deep.jsonl", '{"item_id": "a", "label": ' + _deep() + "}\n", "deeper than"),
        ("huge.jsonl", '{"item_id": "a", "label": "cat", "data": {"w": 1e999}}\n', "data.w"),
    ],
    ids=["deep", "1e999"],
)
def test_cli_import_prints_one_line_not_a_traceback(
    cli_db: int, tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = tmp_path / name
    path.write_text(text)
    result = CliRunner().invoke(cli, ["import", "gold", str(cli_db), str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith(f"error: {name}: line 1") and expected in lines[0]
    )
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- non-finite


@pytest.mark.parametrize(
    ("url", "body", "path"),
    [
        ("/vendors", '{"name": "v", "price_per_item": 1e999}', "price_per_item"),
        ("/vendors", '{"name": "v", "price_per_item": NaN}', "price_per_item"),
        ("/projects", '{"name": "p", "task_type": "spans", "ontology": {"x": -Infinity}}', "x"),
    ],
    ids=["1e999", "NaN", "-Infinity"],
)
def test_non_finite_json_numbers_are_422(
    client: TestClient, auth: Headers, url: str, body: str, path: str
) -> None:
    headers = {**auth["admin"], "content-type": "application/json"}
    loc, msg = _loc_msg(client.post(url, content=body, headers=headers))
    assert "finite number" in msg and loc.endswith(path)


def test_non_finite_numbers_in_an_import_are_422_and_nothing_is_stored(
    client: TestClient, auth: Headers, seeded: Seed, session: Session
) -> None:
    body = (
        '{"item_id": "img-1", "label": "cat"}\n'
        '{"item_id": "img-9", "label": "dog", "metadata": {"weight": 1e999}}\n'
    )
    _, msg = _loc_msg(client.post(_gold_url(seeded), content=body, headers=auth["lead"]))
    assert "line 2: metadata.weight" in msg and "finite number" in msg
    assert session.exec(select(m.GoldenItem).where(m.GoldenItem.key == "img-9")).first() is None
    ls = json.dumps([{"id": 1, "data": {"image": "a.png"}}]).replace(
        '"a.png"', '"a.png", "w": 2e400'
    )
    _, msg = _loc_msg(
        client.post(_gold_url(seeded, "labelstudio"), content=ls, headers=auth["lead"])
    )
    assert "[task 0].data.w" in msg


# --------------------------------------------------------------------------- item data


@pytest.mark.parametrize(
    "data",
    [{"width": "100px", "height": 50}, {"width": 100, "height": -5}, {"width": True}],
    ids=["string", "negative", "bool"],
)
def test_bad_image_size_is_refused_at_import(
    client: TestClient, auth: Headers, seeded: Seed, data: dict[str, Any]
) -> None:
    row = {"item_id": "img-new", "label": "cat", "data": {"image": "x.png", **data}}
    loc, msg = _loc_msg(
        client.post(_gold_url(seeded), content=json.dumps(row), headers=auth["lead"])
    )
    assert "record 1" in loc and "positive number of pixels" in msg
    items = f"/golden-sets/{seeded.golden_set_id}/items"
    loc, msg = _loc_msg(client.post(items, json=[{"key": "k", "data": data}], headers=auth["lead"]))
    assert "positive number of pixels" in msg


# --------------------------------------------------------------------------- lengths


@pytest.mark.dbs
def test_an_over_long_annotator_id_is_422_on_every_database(
    client: TestClient, auth: Headers, seeded: Seed, session: Session
) -> None:
    body = json.dumps({"item_id": "img-1", "label": "cat", "annotator_id": "a" * 5000})
    loc, msg = _loc_msg(client.post(_labels_url(seeded), content=body, headers=auth["lead"]))
    assert loc.endswith("annotator_id") and "5000 characters" in msg and "at most 200" in msg
    csv_body = "item_id,annotator_id,label\nimg-1," + "b" * 300 + ",cat\n"
    loc, msg = _loc_msg(
        client.post(_labels_url(seeded, "csv"), content=csv_body, headers=auth["lead"])
    )
    assert "row 2" in loc and "annotator_id" in loc
    assert session.exec(select(m.VendorLabel)).first() is None


@pytest.mark.dbs
def test_an_over_long_item_key_is_422_on_every_database(
    client: TestClient, auth: Headers, seeded: Seed
) -> None:
    body = json.dumps({"item_id": "k" * 600, "label": "cat"})
    loc, msg = _loc_msg(client.post(_gold_url(seeded), content=body, headers=auth["lead"]))
    assert "record 1" in loc and "at most 512" in msg


def _string_limits(model: type[SQLModel]) -> dict[str, int]:
    table = getattr(model, "__table__", None)
    if table is None:
        return {}
    lengths = {c.name: getattr(c.type, "length", None) for c in table.columns}
    return {name: n for name, n in lengths.items() if isinstance(n, int)}


def _models() -> list[type[SQLModel]]:
    return [
        v
        for v in vars(m).values()
        if isinstance(v, type) and issubclass(v, SQLModel) and v is not SQLModel
    ]


def test_every_request_string_field_is_limited_to_its_column() -> None:
    """The mechanism: a request model's string field is no longer than the column it fills."""
    tables = {t.__name__: t for t in _models() if hasattr(t, "__table__")}
    checked = 0
    for model in _models():
        if hasattr(model, "__table__") or not model.__name__.endswith(("Create", "Update")):
            continue
        table = tables.get(model.__name__.removesuffix("Create").removesuffix("Update"))
        if table is None:
            continue
        for name, limit in _string_limits(table).items():
            field = model.model_fields.get(name)
            if field is None:
                continue
            lengths: list[int] = [
                n
                for meta in field.metadata
                if isinstance(n := getattr(meta, "max_length", None), int)
            ]
            assert lengths and min(lengths) <= limit, (model.__name__, name, limit)
            checked += 1
    assert checked >= 10


# --------------------------------------------------------------------------- locked SQLite


@pytest.fixture
def engine(db_backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """PostgreSQL, or a SQLite file whose writers give up after 0.2 s (a lock shows quickly)."""
    if db_backend == "postgresql":
        eng = create_db_engine(request.getfixturevalue("postgres_url"))
    else:
        eng = create_db_engine(f"sqlite:///{tmp_path / 'locked.db'}")

        @event.listens_for(eng, "connect")
        def _short_busy_timeout(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA busy_timeout=200")

    SQLModel.metadata.create_all(eng)
    try:
        yield eng
    finally:
        eng.dispose()


def test_a_locked_sqlite_database_is_503_with_retry_after_on_every_write(
    client: TestClient, auth: Headers, seeded: Seed, tmp_path: Path
) -> None:
    holder = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the database
        rows = "".join(
            json.dumps({"item_id": k, "label": v}) + "\n" for k, v in seeded.gold.items()
        )
        for response in (
            client.post(_labels_url(seeded), content=rows, headers=auth["lead"]),
            client.post(_gold_url(seeded), content=rows, headers=auth["lead"]),
            client.post(
                "/projects",
                json={"name": "x", "task_type": "spans", "ontology": {"classes": []}},
                headers=auth["lead"],
            ),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "1"
            assert response.json()["code"] == "database_unavailable"
            assert "locked" in response.json()["detail"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    retried = client.post(_labels_url(seeded), content=rows, headers=auth["lead"])
    assert retried.status_code == 200 and retried.json()["stored"] == len(seeded.gold)


@pytest.mark.parametrize("cell", ["inf", "1e999", "-Infinity", "nan"])
def test_non_finite_csv_numbers_are_refused_by_the_cli(tmp_path: Path, cell: str) -> None:
    path = tmp_path / "answers.csv"
    path.write_text(f"item_id,annotator_id,label\na,w1,1\na,w2,{cell}\nb,w1,2\nb,w2,3\n")
    result = CliRunner().invoke(
        cli, ["agreement", "--labels", str(path), "--level", "interval", "--json"]
    )
    assert result.exit_code == 1, result.output
    assert result.stderr.strip() == (
        f"error: answers.csv: row 3: label {cell!r} is not a finite number; "
        "--level interval needs numeric labels"
    )
