"""A large label import streams: it never holds the file's records all at once.

Holding every parsed label as a DTO takes ~1 kB per label; the import's peak
(reader, the item-id map it must keep, one chunk of rows) stays well under that.
"""

from __future__ import annotations

import io
import json
import tracemalloc
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select
from sqlmodel import Session

import service.models as m
from adapters.base import VendorAnnotation
from service.domain import label_io, vendor_labels
from service.domain._common import table_of

N = 30_000


@pytest.mark.slow
def test_a_large_label_import_streams(session: Session, key_vendor: m.Vendor) -> None:
    now = datetime.now(UTC)
    project = m.Project(
        name="big", task_type="classification", ontology={"classes": [{"name": "a"}, {"name": "b"}]}
    )
    session.add(project)
    session.flush()
    golden = m.GoldenSet(name="big", project_id=project.id or 0)
    ins = m.InstructionsVersion(project_id=project.id or 0, version=1, text="t")
    session.add_all([golden, ins])
    session.flush()
    version = m.GoldenSetVersion(golden_set_id=golden.id or 0, version=1)
    session.add(version)
    session.flush()
    keys = [f"item-{i:06d}" for i in range(N)]
    session.execute(
        insert(m.GoldenItem),
        [
            {"golden_set_id": golden.id, "key": k, "data": {}, "meta": {}, "created_at": now}
            for k in keys
        ],
    )
    ids = session.execute(select(table_of(m.GoldenItem).c.id)).scalars().all()
    session.execute(
        insert(m.GoldLabel),
        [
            {
                "version_id": version.id,
                "item_id": i,
                "value": "a",
                "annotator_id": None,
                "created_at": now,
            }
            for i in ids
        ],
    )
    bakeoff = m.BakeOff(
        name="big",
        project_id=project.id or 0,
        golden_set_version_id=version.id or 0,
        instructions_version_id=ins.id or 0,
    )
    session.add(bakeoff)
    session.flush()
    session.add(
        m.BakeOffVendorLink(
            bakeoff_id=bakeoff.id or 0, vendor_id=key_vendor.id or 0, alias="Candidate A"
        )
    )
    session.commit()
    body = "\n".join(
        json.dumps({"item_id": k, "label": "ab"[i % 2]}) for i, k in enumerate(keys)
    ).encode()
    del ids

    tracemalloc.start()
    try:
        records = label_io.read_vendor_labels(
            "jsonl", io.BytesIO(body), task_type="classification", name="big.jsonl"
        )
        result = vendor_labels.add_vendor_labels(
            session=session,
            bakeoff_id=bakeoff.id or 0,
            vendor_id=key_vendor.id or 0,
            records=records,
        )
        _, import_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        start, _ = tracemalloc.get_traced_memory()
        materialized = [
            VendorAnnotation.model_validate(json.loads(line)) for line in body.splitlines()
        ]
        _, naive_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.stored == N and len(materialized) == N
    naive = naive_peak - start
    assert import_peak < 0.5 * naive, (import_peak, naive)
