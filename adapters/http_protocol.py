"""Wire models of the Bakeoff vendor protocol, version 1 (see ``docs/vendor-protocol.md``).

These pydantic models *are* the protocol: ``docs/vendor-protocol.openapi.json`` is
generated from them (``python -m adapters.http_protocol > docs/vendor-protocol.openapi.json``),
the HTTP adapter sends and parses them, and the vendor simulator serves them.

Nothing here ever carries a gold label: a :class:`BatchRequest` holds item ids, item
data, the ontology and the pinned instructions only.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from adapters.base import Instructions, JobState, LabelValue, Ontology, TaskType

__all__ = [
    "PROTOCOL_VERSION",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DELIVERY_HEADER",
    "VERSION_HEADER",
    "WireItem",
    "BatchRequest",
    "BatchAccepted",
    "BatchStatus",
    "WireAnnotation",
    "ItemResult",
    "ResultPage",
    "CallbackPayload",
    "ProtocolError",
    "openapi_schema",
]

PROTOCOL_VERSION: Literal["1"] = "1"
SIGNATURE_HEADER = "Bakeoff-Signature"
TIMESTAMP_HEADER = "Bakeoff-Timestamp"
DELIVERY_HEADER = "Bakeoff-Delivery"
VERSION_HEADER = "Bakeoff-Protocol"


class _Wire(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WireItem(_Wire):
    """One item to label: the id Bakeoff uses for it and its data (text, image URL, payload)."""

    item_id: str = Field(min_length=1, max_length=256)
    data: dict[str, Any]


class BatchRequest(_Wire):
    """``POST {base_url}/v1/batches``: items to label under pinned instructions.

    ``batch_id`` is Bakeoff's idempotency key: posting the same ``batch_id`` again must
    return the job created the first time, not a second job.
    """

    protocol_version: Literal["1"] = PROTOCOL_VERSION
    batch_id: str = Field(min_length=1, max_length=128)
    bakeoff_id: str
    task_type: TaskType
    ontology: Ontology
    instructions: Instructions
    items: list[WireItem] = Field(min_length=1)
    callback_url: str | None = Field(
        default=None,
        description="Where to POST signed CallbackPayloads; null means Bakeoff will poll.",
    )


class BatchAccepted(_Wire):
    """Answer to a batch: the vendor's job id (the same one on a repeated ``batch_id``)."""

    protocol_version: Literal["1"] = PROTOCOL_VERSION
    job_id: str = Field(min_length=1, max_length=256)
    batch_id: str
    accepted: int = Field(ge=0)
    state: JobState = "pending"


class BatchStatus(_Wire):
    """``GET {base_url}/v1/batches/{job_id}``: progress of a job."""

    protocol_version: Literal["1"] = PROTOCOL_VERSION
    job_id: str
    state: JobState
    done: int = Field(ge=0)
    total: int = Field(ge=0)
    detail: str = ""


class WireAnnotation(_Wire):
    """One annotator's answer for one item.

    ``result_id`` is the vendor's id for this answer: Bakeoff stores each
    ``(item_id, result_id)`` once, so re-sending it (a retried or duplicated callback)
    is always safe.
    """

    result_id: str = Field(min_length=1, max_length=256)
    label: LabelValue
    annotator_id: str | None = None
    score: float | None = Field(default=None, ge=0.0, le=1.0)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cost: float | None = Field(default=None, ge=0.0, description="Price of this answer.")


class ItemResult(_Wire):
    """Every answer the vendor has for one item."""

    item_id: str
    annotations: list[WireAnnotation] = Field(min_length=1)


class ResultPage(_Wire):
    """``GET {base_url}/v1/batches/{job_id}/results?cursor=``: finished items, paged."""

    protocol_version: Literal["1"] = PROTOCOL_VERSION
    job_id: str
    results: list[ItemResult]
    next_cursor: str | None = None


class CallbackPayload(_Wire):
    """What a vendor POSTs to the ``callback_url`` of a batch, signed (see the docs)."""

    protocol_version: Literal["1"] = PROTOCOL_VERSION
    job_id: str
    batch_id: str
    results: list[ItemResult] = Field(default_factory=list)
    state: JobState | None = None


class ProtocolError(_Wire):
    """The body of every 4xx/5xx answer, from either side."""

    error: str
    detail: str = ""


def openapi_schema() -> dict[str, Any]:
    """Return the OpenAPI 3.1 description of protocol version 1."""
    components: dict[str, Any] = {}
    for model in (
        BatchRequest,
        BatchAccepted,
        BatchStatus,
        ResultPage,
        CallbackPayload,
        ProtocolError,
    ):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema

    def body(name: str) -> dict[str, Any]:
        ref = {"$ref": f"#/components/schemas/{name}"}
        return {"content": {"application/json": {"schema": ref}}}

    def answer(name: str, text: str) -> dict[str, Any]:
        return {"description": text, **body(name)}

    errors = {
        "4XX": answer("ProtocolError", "Refused; Bakeoff does not retry."),
        "5XX": answer("ProtocolError", "Failed; Bakeoff retries with backoff."),
    }
    job_id = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
    signed = [
        {"name": h, "in": "header", "required": True, "schema": {"type": "string"}}
        for h in (TIMESTAMP_HEADER, DELIVERY_HEADER, SIGNATURE_HEADER)
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Bakeoff vendor protocol",
            "version": PROTOCOL_VERSION,
            "description": (
                "Endpoints a vendor implements under its base URL, and the callback it may "
                "POST back to Bakeoff. See docs/vendor-protocol.md."
            ),
        },
        "paths": {
            "/v1/batches": {
                "post": {
                    "summary": "Accept a batch of items to label (idempotent on batch_id).",
                    "operationId": "submitBatch",
                    "requestBody": {"required": True, **body("BatchRequest")},
                    "responses": {"202": answer("BatchAccepted", "Accepted."), **errors},
                }
            },
            "/v1/batches/{job_id}": {
                "get": {
                    "summary": "Progress of a job.",
                    "operationId": "getBatch",
                    "parameters": [job_id],
                    "responses": {
                        "200": answer("BatchStatus", "Progress."),
                        "404": answer("ProtocolError", "Unknown job: Bakeoff submits again."),
                        **errors,
                    },
                },
                "delete": {
                    "summary": "Cancel a job.",
                    "operationId": "cancelBatch",
                    "parameters": [job_id],
                    "responses": {"204": {"description": "Cancelled."}, **errors},
                },
            },
            "/v1/batches/{job_id}/results": {
                "get": {
                    "summary": "Finished items of a job, paged by cursor.",
                    "operationId": "getResults",
                    "parameters": [
                        job_id,
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {"200": answer("ResultPage", "One page."), **errors},
                }
            },
        },
        "webhooks": {
            "results": {
                "post": {
                    "summary": "Vendor -> Bakeoff: results, POSTed to the batch's callback_url.",
                    "operationId": "postResults",
                    "parameters": signed,
                    "requestBody": {"required": True, **body("CallbackPayload")},
                    "responses": {
                        "200": {"description": "Stored (duplicates are stored once)."},
                        "401": answer("ProtocolError", "Bad or stale signature."),
                        "409": answer("ProtocolError", "Replayed delivery id."),
                        "422": answer("ProtocolError", "Body is not a CallbackPayload."),
                    },
                }
            }
        },
        "components": {"schemas": dict(sorted(components.items()))},
    }


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(json.dumps(openapi_schema(), indent=2, sort_keys=False) + "\n")
