"""Vendor callbacks: signed results stored per second, vs storing the same labels directly.

One process, one SQLite file (or ``--database-url`` PostgreSQL). A classification bake-off
with ``--items`` golden items and two HTTP vendors is created. Then the same results are
stored twice in chunks of ``--chunk`` items:

- *callback*: each chunk is a signed protocol-v1 callback body, passed through
  :func:`service.domain.dispatch.receive_callback` (HMAC check, replay check, parsing,
  task completion times and costs, labels stored once);
- *direct*: the same annotations handed to
  :func:`service.domain.vendor_labels.add_vendor_labels` (the bulk label import the
  callback path ends in).

Prints labels per second for both and the ratio (1.0 = no overhead). Exits 1 if either
path stored a different number of labels than it was sent.

Usage: ``python benchmarks/bench_callbacks.py [--items 20000] [--chunk 500]``
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, SQLModel, func, select

import service.models as m
from adapters.http import sign_callback
from adapters.http_protocol import CallbackPayload, ItemResult, WireAnnotation
from service.core.db import create_db_engine
from service.domain import bakeoffs, dispatch, golden_sets, projects, vendors
from service.domain.vendor_labels import add_vendor_labels

SECRET = "bench-secret"
CLASSES = ("cat", "dog", "bird")


def build(session: Session, n: int) -> tuple[int, int, int, list[str]]:
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name="bench",
            task_type="classification",
            ontology={"classes": [{"name": c} for c in CLASSES]},
        ),
    )
    assert project.id is not None
    ins = projects.create_instructions(
        session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="t")
    )
    gs = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name="g", project_id=project.id)
    )
    assert gs.id is not None and ins.id is not None
    keys = [f"item-{i:07d}" for i in range(n)]
    golden_sets.add_items(
        session=session,
        golden_set_id=gs.id,
        items=[m.GoldenItemCreate(key=k, data={"text": k}) for k in keys],
    )
    version = golden_sets.create_version(session=session, golden_set_id=gs.id)
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=gs.id,
        version=version.version,
        labels=[m.GoldLabelCreate(item_key=k, value=CLASSES[i % 3]) for i, k in enumerate(keys)],
    )
    ids = []
    for name in ("via-callback", "direct"):
        vendor = vendors.create_vendor(
            session=session,
            data=m.VendorCreate(
                name=name,
                adapter_kind="http",
                adapter_settings={"base_url": "http://unused.invalid", "webhook_secret": SECRET},
            ),
        )
        assert vendor.id is not None
        ids.append(vendor.id)
    assert version.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name="bench",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=ins.id,
            vendor_ids=ids,
        ),
    )
    assert bakeoff.id is not None
    dispatch.start_run(session=session, bakeoff_id=bakeoff.id)
    task = m.Task.__table__  # type: ignore[attr-defined]
    session.execute(task.update().values(job_id="bench-batch", status="sent"))
    session.commit()
    return bakeoff.id, ids[0], ids[1], keys


def results(keys: list[str]) -> list[ItemResult]:
    return [
        ItemResult(
            item_id=k,
            annotations=[
                WireAnnotation(result_id=f"r-{k}", label=CLASSES[i % 3], annotator_id="w1")
            ],
        )
        for i, k in enumerate(keys)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    t0 = time.perf_counter()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    engine = create_db_engine(url)
    SQLModel.metadata.create_all(engine)
    with Session(engine) as session:
        bakeoff_id, via_callback, direct, keys = build(session, args.items)
    print(f"setup: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    if engine.dialect.name == "postgresql":  # fresh planner statistics, as autovacuum keeps
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    chunks = [keys[i : i + args.chunk] for i in range(0, len(keys), args.chunk)]
    bodies = [
        CallbackPayload(job_id="j", batch_id="bench-batch", results=results(chunk))
        .model_dump_json()
        .encode()
        for chunk in chunks
    ]

    t0 = time.perf_counter()
    with Session(engine) as session:
        for n, body in enumerate(bodies):
            headers = sign_callback(SECRET, body, delivery_id=f"d{n}")  # as the vendor sends it
            dispatch.receive_callback(
                session=session, vendor_id=via_callback, body=body, headers=headers
            )
    t_callback = time.perf_counter() - t0

    annotation_chunks = [
        [a for r in results(chunk) for a in dispatch_annotations(r)] for chunk in chunks
    ]
    t0 = time.perf_counter()
    with Session(engine) as session:
        for annotations in annotation_chunks:
            add_vendor_labels(
                session=session, bakeoff_id=bakeoff_id, vendor_id=direct, records=annotations
            )
    t_direct = time.perf_counter() - t0

    with Session(engine) as session:
        counts = dict(
            session.exec(
                select(m.VendorLabel.vendor_id, func.count())
                .where(m.VendorLabel.bakeoff_id == bakeoff_id)
                .group_by(m.VendorLabel.vendor_id)  # type: ignore[arg-type]
            ).all()
        )
    n = len(keys)
    print(f"{engine.dialect.name}, {n} labels in chunks of {args.chunk}")
    print(f"  signed callbacks : {n / t_callback:10.0f} labels/s ({t_callback:.2f} s)")
    print(f"  direct bulk store: {n / t_direct:10.0f} labels/s ({t_direct:.2f} s)")
    print(f"  callback / direct throughput ratio: {t_direct / t_callback:.2f}")
    engine.dispose()
    tmp.cleanup()
    if counts.get(via_callback) != n or counts.get(direct) != n:
        print(f"label counts differ from {n}: {counts}", file=sys.stderr)
        return 1
    return 0


def dispatch_annotations(result: ItemResult) -> list[m.VendorLabelCreate]:
    return [
        m.VendorLabelCreate(
            item_key=result.item_id,
            value=a.label,
            annotator_id=a.annotator_id,
            external_id=a.result_id,
        )
        for a in result.annotations
    ]


if __name__ == "__main__":
    raise SystemExit(main())
