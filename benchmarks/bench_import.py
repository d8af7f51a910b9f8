"""Bulk classification label import through the API vs a raw insert of the same rows.

For each database (a SQLite file; PostgreSQL when reachable) the script seeds a classification
bake-off with ``--labels`` gold items, then, in the same process:

* **API**: posts one CSV file (``item_id,label``) to
  ``POST /bakeoffs/{id}/vendors/{vendor}/labels/import?format=csv`` through the in-process ASGI app
  (FastAPI ``TestClient``: HTTP parsing, auth, streaming the body to a spool file, the CSV reader,
  validation against the ontology and the pinned gold, exactly-once de-duplication, bulk write,
  task updates, one commit);
* **raw**: writes the very same rows with the driver alone: ``sqlite3`` ``executemany`` or
  psycopg ``COPY``, one transaction.

It prints labels per second for both and their ratio (target: API >= 0.5 x raw, and >= 20,000
labels/s into PostgreSQL). Best of ``--repeat`` runs, each into a fresh bake-off.

Exit status: 0 when every database measured meets its targets and stored every row; 1 when one
misses; 2 when a requested database cannot be reached (``--db both`` needs PostgreSQL too).

Usage::

    python benchmarks/bench_import.py [--labels 100000] [--repeat 3] [--db sqlite|postgresql|both]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from service.core.bulk_write import VENDOR_LABELS, copy_text
from service.core.config import Settings, get_settings
from service.core.db import create_db_engine, get_session
from service.core.migrations import upgrade_head
from service.domain.api_keys import create_api_key
from service.main import create_app
from service.models import (
    ApiKeyCreate,
    BakeOff,
    BakeOffVendorLink,
    GoldenItem,
    GoldenSet,
    GoldenSetVersion,
    GoldLabel,
    InstructionsVersion,
    Project,
    Vendor,
)

CLASSES = [f"class_{i}" for i in range(10)]
TARGET_API_OVER_RAW = 0.5  # API import rate / raw driver rate, every database
TARGET_POSTGRES_LABELS_PER_S = 20_000.0  # API import into PostgreSQL
COLUMNS = ", ".join(VENDOR_LABELS.columns)


def seed(engine: Engine, n: int) -> dict[str, Any]:
    """A project, a golden set of ``n`` items with gold, instructions; returns ids."""
    now = datetime.now(UTC)
    with Session(engine) as session:
        project = Project(
            name="bench",
            task_type="classification",
            ontology={"classes": [{"name": c} for c in CLASSES]},
        )
        session.add(project)
        session.flush()
        golden = GoldenSet(name="bench", project_id=project.id or 0)
        instructions = InstructionsVersion(project_id=project.id or 0, version=1, text="label")
        session.add_all([golden, instructions])
        session.flush()
        version = GoldenSetVersion(golden_set_id=golden.id or 0, version=1)
        session.add(version)
        session.flush()
        keys = [f"item-{i:07d}" for i in range(n)]
        session.execute(
            insert(GoldenItem),
            [
                {"golden_set_id": golden.id, "key": k, "data": {}, "meta": {}, "created_at": now}
                for k in keys
            ],
        )
        ids = {
            r[0]: r[1]
            for r in session.execute(
                text("SELECT key, id FROM goldenitem WHERE golden_set_id = :g"),
                {"g": golden.id},
            ).all()
        }
        session.execute(
            insert(GoldLabel),
            [
                {
                    "version_id": version.id,
                    "item_id": ids[k],
                    "value": CLASSES[i % 10],
                    "annotator_id": None,
                    "created_at": now,
                }
                for i, k in enumerate(keys)
            ],
        )
        key = create_api_key(session=session, data=ApiKeyCreate(name="bench", role="admin"))
        session.commit()
        return {
            "project_id": project.id,
            "version_id": version.id,
            "instructions_id": instructions.id,
            "keys": keys,
            "item_ids": ids,
            "api_key": key.key,
        }


def new_bakeoff(engine: Engine, ctx: dict[str, Any], tag: str) -> tuple[int, int, int]:
    """A fresh bake-off with two fresh vendors (one for the API run, one for the raw run)."""
    with Session(engine) as session:
        api_vendor, raw_vendor = Vendor(name=f"api-{tag}"), Vendor(name=f"raw-{tag}")
        session.add_all([api_vendor, raw_vendor])
        session.flush()
        bakeoff = BakeOff(
            name=f"bench-{tag}",
            project_id=ctx["project_id"],
            golden_set_version_id=ctx["version_id"],
            instructions_version_id=ctx["instructions_id"],
        )
        session.add(bakeoff)
        session.flush()
        session.add_all(
            [
                BakeOffVendorLink(
                    bakeoff_id=bakeoff.id or 0, vendor_id=api_vendor.id or 0, alias="Candidate A"
                ),
                BakeOffVendorLink(
                    bakeoff_id=bakeoff.id or 0, vendor_id=raw_vendor.id or 0, alias="Candidate B"
                ),
            ]
        )
        session.commit()
        return bakeoff.id or 0, api_vendor.id or 0, raw_vendor.id or 0


def csv_payload(keys: list[str]) -> bytes:
    lines = ["item_id,label"] + [f"{k},{CLASSES[(i * 7) % 10]}" for i, k in enumerate(keys)]
    return ("\n".join(lines) + "\n").encode()


def raw_rows(ctx: dict[str, Any], bakeoff_id: int, vendor_id: int) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    return [
        (
            bakeoff_id,
            vendor_id,
            ctx["item_ids"][k],
            None,
            "",
            None,
            json.dumps(CLASSES[(i * 7) % 10]),
            None,
            None,
            None,
            None,
            1,
            now,
        )
        for i, k in enumerate(ctx["keys"])
    ]


def raw_insert(engine: Engine, rows: list[tuple[Any, ...]]) -> float:
    """Seconds to write ``rows`` with the bare driver in one transaction."""
    with engine.connect() as conn:
        raw: Any = conn.connection.driver_connection
        if engine.dialect.name == "postgresql":
            # text-format COPY, one buffer (the fastest plain way to feed PostgreSQL)
            iso = [(*r[:12], r[12].isoformat()) for r in rows]
            start = time.perf_counter()
            with raw.cursor() as cur:
                with cur.copy(f"COPY vendorlabel ({COLUMNS}) FROM STDIN") as copy:
                    copy.write(copy_text(VENDOR_LABELS, iso))
            raw.commit()
        else:
            sqlite_rows = [
                (*r[:12], r[12].replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")) for r in rows
            ]
            start = time.perf_counter()
            cur = raw.cursor()
            cur.executemany(
                f"INSERT INTO vendorlabel ({COLUMNS}) VALUES ({', '.join('?' * 13)})", sqlite_rows
            )
            raw.commit()
        return time.perf_counter() - start


def api_import(client: TestClient, key: str, bakeoff_id: int, vendor_id: int, body: bytes) -> float:
    start = time.perf_counter()
    response = client.post(
        f"/bakeoffs/{bakeoff_id}/vendors/{vendor_id}/labels/import",
        params={"format": "csv", "filename": "labels.csv"},
        content=body,
        headers={"X-API-Key": key, "Content-Type": "text/csv"},
    )
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise SystemExit(f"API import failed: {response.status_code} {response.text[:500]}")
    return elapsed


def databases(which: str, tmp: Path) -> Iterator[tuple[str, str, str | None]]:
    """``(label, url, cleanup schema)`` of each database to measure."""
    if which in ("sqlite", "both"):
        yield "SQLite (file, WAL)", f"sqlite:///{tmp / 'bench.db'}", None
    if which in ("postgresql", "both"):
        base = os.environ.get(
            "BAKEOFF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        )
        schema = f"bench_import_{uuid.uuid4().hex[:10]}"
        try:
            admin = create_db_engine(base)
            with admin.connect() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
                conn.commit()
            admin.dispose()
        except Exception as exc:  # noqa: BLE001 - report it; main() exits 2
            print(f"PostgreSQL: FAILED, cannot run: not reachable at {base} ({exc!r})")
            return
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield "PostgreSQL", url.render_as_string(hide_password=False), schema


def session_factory(engine: Engine) -> Callable[[], Iterator[Session]]:
    """A ``get_session`` override bound to ``engine``."""

    def _session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    return _session


def settings_factory(settings: Settings) -> Callable[[], Settings]:
    """A ``get_settings`` override returning ``settings``."""
    return lambda: settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    args = parser.parse_args()
    failed = False
    measured: set[str] = set()
    with tempfile.TemporaryDirectory() as tmpdir:
        for label, url, schema in databases(args.db, Path(tmpdir)):
            engine = create_db_engine(url)
            try:
                upgrade_head(url)
                ctx = seed(engine, args.labels)
                body = csv_payload(ctx["keys"])
                settings = Settings(environment="test", auto_migrate=False, database_url=url)
                app = create_app(settings)

                app.dependency_overrides[get_session] = session_factory(engine)
                app.dependency_overrides[get_settings] = settings_factory(settings)
                api_best = raw_best = float("inf")
                with TestClient(app) as client:
                    for r in range(args.repeat):
                        bakeoff_id, api_vendor, raw_vendor = new_bakeoff(engine, ctx, f"{r}")
                        api_best = min(
                            api_best,
                            api_import(client, ctx["api_key"], bakeoff_id, api_vendor, body),
                        )
                        rows = raw_rows(ctx, bakeoff_id, raw_vendor)
                        raw_best = min(raw_best, raw_insert(engine, rows))
                        with engine.connect() as conn:
                            counts = conn.execute(
                                text(
                                    "SELECT vendor_id, count(*) FROM vendorlabel "
                                    "WHERE bakeoff_id = :b GROUP BY vendor_id"
                                ),
                                {"b": bakeoff_id},
                            ).all()
                        if sorted(c for _, c in counts) != [args.labels, args.labels]:
                            print(f"{label}: wrong row counts {counts}")
                            failed = True
                n = args.labels
                api_rate, raw_rate = n / api_best, n / raw_best
                raw_name = "COPY" if engine.dialect.name == "postgresql" else "executemany"
                print(
                    f"{label}: {n:,} classification labels | API import {api_rate:,.0f} labels/s "
                    f"({api_best:.2f} s) | raw {raw_name} {raw_rate:,.0f} labels/s "
                    f"({raw_best:.2f} s) | ratio API/raw {api_rate / raw_rate:.2f}"
                )
                measured.add(engine.dialect.name)
                missed = _missed_targets(engine.dialect.name, api_rate, raw_rate)
                print(f"{label}: target " + (f"MISSED ({'; '.join(missed)})" if missed else "MET"))
                failed |= bool(missed)
            finally:
                engine.dispose()
                if schema is not None:
                    admin = create_db_engine(
                        os.environ.get(
                            "BAKEOFF_TEST_POSTGRES_URL",
                            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        )
                    )
                    with admin.connect() as conn:
                        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                        conn.commit()
                    admin.dispose()
    wanted = {"sqlite", "postgresql"} if args.db == "both" else {args.db}
    if wanted - measured:
        print(f"FAILED: could not measure {', '.join(sorted(wanted - measured))}")
        return 2
    return 1 if failed else 0


def _missed_targets(dialect: str, api_rate: float, raw_rate: float) -> list[str]:
    """The targets one database missed (empty when it met them all)."""
    missed = []
    if api_rate < TARGET_API_OVER_RAW * raw_rate:
        missed.append(f"API/raw {api_rate / raw_rate:.2f} < {TARGET_API_OVER_RAW}")
    if dialect == "postgresql" and api_rate < TARGET_POSTGRES_LABELS_PER_S:
        missed.append(f"{api_rate:,.0f} labels/s < {TARGET_POSTGRES_LABELS_PER_S:,.0f}")
    return missed


if __name__ == "__main__":
    sys.exit(main())
