"""Delivery label ingest (the one format layer + one-answer rule + bulk writer) vs raw COPY.

PostgreSQL (``BAKEOFF_TEST_POSTGRES_URL``, default the local test database, in a scratch
schema). Two deliveries of ``--labels`` production items are created; in the same process:

* **ingest**: one ``item_id,label`` CSV through
  :func:`service.domain.delivery_labels.import_delivery_labels` (the CSV reader, the item and
  class checks, exactly-once de-duplication, ``COPY`` through ``append_rows``, one commit);
* **raw**: the very same rows with psycopg ``COPY`` alone, one transaction.

Prints labels per second and the ratio (target: ingest >= 0.8 x raw). Best of ``--repeat``.
Exit status 1 when the target is missed, 2 when PostgreSQL cannot be reached.

Usage::

    python benchmarks/bench_delivery_ingest.py [--labels 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from service.core.bulk_write import copy_text
from service.core.db import create_db_engine
from service.core.delivery_tables import DELIVERY_LABELS
from service.core.migrations import upgrade_head
from service.domain import deliveries, delivery_labels, projects, vendors
from service.models import DeliveryCreate, DeliveryItemIn, ProjectCreate, VendorCreate

TARGET = 0.8
CLASSES = [f"class_{k}" for k in range(10)]
BASE = os.environ.get(
    "BAKEOFF_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--labels", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.labels
    schema = f"bench_delivery_{uuid.uuid4().hex[:10]}"
    try:
        admin = create_db_engine(BASE)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            conn.commit()
    except Exception as exc:  # noqa: BLE001 - reported; exit 2
        print(f"PostgreSQL not reachable at {BASE}: {exc!r}")
        return 2
    url = make_url(BASE).update_query_dict({"options": f"-csearch_path={schema}"})
    url_text = url.render_as_string(hide_password=False)
    engine = create_db_engine(url_text)
    try:
        upgrade_head(url_text)
        with Session(engine) as session:
            project = projects.create_project(
                session=session,
                data=ProjectCreate(
                    name="bench",
                    task_type="classification",
                    ontology={"classes": [{"name": c} for c in CLASSES]},
                ),
            )
            vendor = vendors.create_vendor(session=session, data=VendorCreate(name="bench"))
            items = [DeliveryItemIn(key=f"p{i}", data={"image": f"{i}.jpg"}) for i in range(n)]
            ingest_best = raw_best = float("inf")
            for r in range(args.repeat):
                made = [
                    deliveries.create_delivery(
                        session=session,
                        data=DeliveryCreate(
                            name=f"{r}-{side}",
                            project_id=project.id or 0,
                            vendor_id=vendor.id or 0,
                            honeypot_rate=0.0,
                            items=items,
                        ),
                    )
                    for side in ("ingest", "raw")
                ]
                keys = {
                    d.id: dict(
                        session.execute(
                            text("SELECT key, id FROM deliveryitem WHERE delivery_id = :d"),
                            {"d": d.id},
                        ).all()
                    )
                    for d in made
                }
                ingest_id, raw_id = (d.id or 0 for d in made)
                ordered = [deliveries.item_key(ingest_id, i, n) for i in range(n)]
                body = (
                    "item_id,label\n"
                    + "".join(f"{k},{CLASSES[(i * 7) % 10]}\n" for i, k in enumerate(ordered))
                ).encode()
                start = time.perf_counter()
                result = delivery_labels.import_delivery_labels(
                    session=session,
                    delivery_id=ingest_id,
                    format="csv",
                    source=io.BytesIO(body),
                    filename="labels.csv",
                )
                ingest_best = min(ingest_best, time.perf_counter() - start)
                if result.stored != n:
                    print(f"ingest stored {result.stored} of {n}")
                    return 1
                now = datetime.now(UTC).isoformat()
                raw_keys = keys[raw_id]
                rows: list[tuple[Any, ...]] = [
                    (
                        raw_id,
                        raw_keys[deliveries.item_key(raw_id, i, n)],
                        "",
                        json.dumps(CLASSES[(i * 7) % 10]),
                        None,
                        None,
                        None,
                        None,
                        None,
                        now,
                    )
                    for i in range(n)
                ]
                with engine.connect() as conn:
                    raw: Any = conn.connection.driver_connection
                    start = time.perf_counter()
                    columns = ", ".join(DELIVERY_LABELS.columns)
                    with (
                        raw.cursor() as cur,
                        cur.copy(f"COPY deliverylabel ({columns}) FROM STDIN") as copy,
                    ):
                        copy.write(copy_text(DELIVERY_LABELS, rows))
                    raw.commit()
                    raw_best = min(raw_best, time.perf_counter() - start)
        ingest_rate, raw_rate = n / ingest_best, n / raw_best
        ratio = ingest_rate / raw_rate
        print(
            f"PostgreSQL: {n:,} labels | delivery ingest {ingest_rate:,.0f} labels/s "
            f"({ingest_best:.2f} s) | raw COPY {raw_rate:,.0f} labels/s ({raw_best:.2f} s) | "
            f"ratio {ratio:.2f} (target >= {TARGET})"
        )
        return 0 if ratio >= TARGET else 1
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.commit()
        admin.dispose()


if __name__ == "__main__":
    sys.exit(main())
