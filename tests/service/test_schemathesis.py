"""Schemathesis against the app's own OpenAPI schema: no 500s, no response-schema violations.

The app runs in-process (ASGI) on the seeded test database, authenticated with the admin key, so
every operation gets past authentication and reaches its domain code. Each operation gets a few
generated requests (``max_examples`` small, derandomized so CI is repeatable); every response
must not be a server error and must match the response schema the route declares.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance
from sqlalchemy import Engine
from sqlmodel import Session

from service.core.config import Settings, get_settings
from service.core.db import get_session
from service.main import create_app

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 4
_SETTINGS = Settings(environment="test", auto_migrate=False, database_url="sqlite://")
_APP = create_app(_SETTINGS)
schema = schemathesis.openapi.from_asgi("/openapi.json", _APP)


@pytest.fixture
def admin_headers(
    engine: Engine, seeded: Any, auth: dict[str, dict[str, str]]
) -> Iterator[dict[str, str]]:
    """Bind the module's app to this test's seeded database; yield the admin key headers."""
    del seeded  # requested for its data only

    def _session() -> Iterator[Session]:
        with Session(engine) as s:
            yield s

    _APP.dependency_overrides[get_session] = _session
    _APP.dependency_overrides[get_settings] = lambda: _SETTINGS
    try:
        yield auth["admin"]
    finally:
        _APP.dependency_overrides.clear()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_operation_has_no_server_error_and_matches_its_schema(
    case: Any, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(
        headers=admin_headers, checks=[not_a_server_error, response_schema_conformance]
    )
