"""Send a delivery to its vendor through the vendor's adapter and collect the answers.

The same adapters as bake-offs (:func:`service.domain.dispatch_results.adapter_for`): the
batch is an :class:`adapters.base.Batch` of :class:`~adapters.base.WorkItem` (item id and
data only; honeypots look like every other item) with the project's ontology and latest
instructions. :func:`dispatch_step` is one step of the worker's loop: submit once (the job
is stored on the delivery, so a retried step never submits twice), then poll; when the
vendor's job is complete its answers go through
:func:`service.domain.delivery_labels.add_delivery_labels` (each stored once).
"""

from __future__ import annotations

import json

from sqlmodel import Session, col, select

from adapters.base import (
    AdapterError,
    Batch,
    InstructionExample,
    Instructions,
    Ontology,
    VendorJob,
    WorkItem,
)
from service.core.bulk_write import fetch_rows
from service.core.config import Settings, get_settings
from service.core.types import utcnow
from service.domain._common import get_or_404
from service.domain.delivery_labels import add_delivery_labels
from service.domain.dispatch_results import adapter_for
from service.domain.errors import Conflict
from service.models import Delivery, InstructionsVersion, Project, Vendor

__all__ = ["delivery_batch_for_vendor", "dispatch_step", "start_dispatch"]


def delivery_batch_for_vendor(session: Session, delivery: Delivery) -> Batch:
    """The batch the vendor's adapter receives for ``delivery``."""
    project = get_or_404(session, Project, delivery.project_id)
    latest = session.exec(
        select(InstructionsVersion)
        .where(InstructionsVersion.project_id == project.id)
        .order_by(col(InstructionsVersion.version).desc())
        .limit(1)
    ).first()
    instructions = (
        Instructions(
            version=latest.version,
            text=latest.text,
            examples=tuple(InstructionExample.model_validate(e) for e in latest.examples),
        )
        if latest is not None
        else Instructions(version=1, text="")
    )
    rows = fetch_rows(
        session,
        "SELECT key, data FROM deliveryitem WHERE delivery_id = {} ORDER BY position",
        (delivery.id,),
    )
    items = tuple(
        WorkItem(item_id=str(k), data=json.loads(d) if isinstance(d, str) else dict(d))
        for k, d in rows
    )
    return Batch(
        bakeoff_id=f"delivery-{delivery.id}",
        task_type=project.task_type,
        ontology=Ontology.model_validate(project.ontology),
        instructions=instructions,
        items=items,
    )


def start_dispatch(*, session: Session, delivery_id: int) -> Delivery:
    """Check a delivery may be dispatched (not yet sent, not a file vendor's download)."""
    delivery = get_or_404(session, Delivery, delivery_id)
    if delivery.dispatch_job is not None:
        raise Conflict(f"delivery {delivery_id} was dispatched already", code="dispatched")
    if delivery.status != "open":
        raise Conflict(f"delivery {delivery_id} is {delivery.status}", code="not_open")
    return delivery


def dispatch_step(*, session: Session, delivery_id: int, settings: Settings | None = None) -> bool:
    """One step: submit the batch (once), else poll and collect. ``True`` when done.

    An adapter error is kept on the delivery (``dispatch_error``) and the step is retried
    by the worker.
    """
    delivery = get_or_404(session, Delivery, delivery_id)
    if delivery.status != "open":
        return True
    vendor = get_or_404(session, Vendor, delivery.vendor_id)
    adapter = adapter_for(vendor, config=settings or get_settings())
    try:
        if delivery.dispatch_job is None:
            sent = utcnow()
            job = adapter.submit(delivery_batch_for_vendor(session, delivery))
            delivery.dispatch_job = job.model_dump(mode="json")
            delivery.sent_at = delivery.sent_at or sent
            delivery.dispatch_error = None
            session.add(delivery)
            session.commit()
            return False
        job = VendorJob.model_validate(delivery.dispatch_job)
        status = adapter.poll(job)
        if status.state in ("failed", "cancelled"):
            delivery.dispatch_error = f"the vendor's job is {status.state}: {status.detail}"
            delivery.status = "cancelled"
            session.add(delivery)
            session.commit()
            return True
        if status.state != "completed":
            return False
        results = adapter.fetch_results(job)
    except AdapterError as exc:
        session.rollback()
        delivery = get_or_404(session, Delivery, delivery_id)
        delivery.dispatch_error = f"{type(exc).__name__}: {exc}"
        session.add(delivery)
        session.commit()
        return False
    add_delivery_labels(
        session=session, delivery_id=delivery_id, records=results, source=f"{vendor.name} job"
    )
    return True
