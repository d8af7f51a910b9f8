"""Factories that seed bake-offs for tests and benchmarks, and the local stack they run on.

* In process, through the domain layer: :func:`tests.service.conftest.seed_bakeoff` (the
  ``seeded`` fixture and the object-scope walk use it).
* Over HTTP against a running API (end-to-end, fault and load tests): :func:`bakeoff_via_api`
  seeds a project, instructions, a golden set with gold and candidate vendors, and returns the
  bake-off's id. The processes come from :class:`service.stack.LocalStack`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from adapters.testing import ToyGolden
from service.core.db import create_db_engine
from service.core.migrations import upgrade_head
from service.domain.api_keys import create_api_key
from service.models import ApiKeyCreate
from service.stack import LocalStack

__all__ = ["Candidate", "admin_key", "bakeoff_via_api", "local_stack"]

# (vendor name, adapter kind, adapter settings, price per item)
Candidate = tuple[str, str, dict[str, Any], float]


def admin_key(database_url: str, name: str = "test-admin") -> str:
    """Migrate ``database_url`` and mint an admin key in it (the plaintext key)."""
    upgrade_head(database_url)
    engine = create_db_engine(database_url)
    try:
        from sqlmodel import Session

        with Session(engine) as session:
            return create_api_key(session=session, data=ApiKeyCreate(name=name, role="admin")).key
    finally:
        engine.dispose()


def local_stack(
    tmp: Path,
    database_url: str,
    *,
    redis_url: str | None = None,
    settings: dict[str, str] | None = None,
) -> LocalStack:
    """A :class:`LocalStack` in ``tmp`` for tests (environment ``test``, repo as cwd)."""
    return LocalStack.prepare(
        tmp,
        database_url,
        redis_url=redis_url,
        settings=settings,
        cwd=Path(__file__).resolve().parents[1],
    )


def bakeoff_via_api(
    api_url: str,
    key: str,
    golden: ToyGolden,
    candidates: Sequence[Candidate],
    *,
    name: str = "run",
) -> int:
    """Seed a bake-off over ``golden`` with ``candidates`` through the API; its id.

    Raises
    ------
    AssertionError
        A request failed (the message names the URL and the API's answer).
    """
    client = httpx.Client(base_url=api_url, headers={"X-API-Key": key}, timeout=30)

    def post(url: str, body: Any) -> Any:
        answer = client.post(url, json=body)
        assert answer.status_code < 300, (url, answer.status_code, answer.text)
        return answer.json()

    with client:
        project = post(
            "/projects",
            {
                "name": name,
                "task_type": golden.task_type,
                "ontology": golden.ontology.model_dump(mode="json"),
            },
        )
        instructions = post(
            f"/projects/{project['id']}/instructions", {"text": golden.instructions.text}
        )
        gs = post("/golden-sets", {"name": f"{name}-gold", "project_id": project["id"]})
        post(
            f"/golden-sets/{gs['id']}/items",
            [{"key": i.item_id, "data": i.data} for i in golden.items],
        )
        version = post(f"/golden-sets/{gs['id']}/versions", {"note": "v1"})
        post(
            f"/golden-sets/{gs['id']}/versions/{version['version']}/labels",
            {"labels": [{"item_key": k, "value": v} for k, v in golden.gold_json().items()]},
        )
        vendor_ids = [
            post(
                "/vendors",
                {
                    "name": vendor,
                    "adapter_kind": kind,
                    "adapter_settings": settings,
                    "price_per_item": price,
                },
            )["id"]
            for vendor, kind, settings, price in candidates
        ]
        bakeoff = post(
            "/bakeoffs",
            {
                "name": f"{name} run",
                "project_id": project["id"],
                "golden_set_version_id": version["id"],
                "instructions_version_id": instructions["id"],
                "vendor_ids": vendor_ids,
            },
        )
    return int(bakeoff["id"])
