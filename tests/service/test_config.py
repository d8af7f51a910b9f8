"""Settings: environment variables, placeholder secrets refused outside dev."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlmodel import Session, select

from service.core.config import Settings, get_settings
from service.domain.security import hash_key
from service.models import ApiKey


def test_settings_come_from_bakeoff_environment_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BAKEOFF_DATABASE_URL", "postgresql+psycopg://u@db:5432/x")
    monkeypatch.setenv("BAKEOFF_IMPORT_BATCH_SIZE", "123")
    get_settings.cache_clear()
    try:
        settings = get_settings()
        assert settings.database_url == "postgresql+psycopg://u@db:5432/x"
        assert settings.import_batch_size == 123
    finally:
        get_settings.cache_clear()


def test_default_database_is_a_sqlite_file() -> None:
    assert Settings().database_url.startswith("sqlite:///")


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_placeholder_secret_is_refused_outside_dev(environment: str) -> None:
    with pytest.raises(ValidationError, match="BAKEOFF_SECRET_KEY"):
        Settings(environment=environment)  # type: ignore[arg-type]
    Settings(environment=environment, secret_key="s3cr3t-random-value-" + "x" * 12)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("secret", "problem"),
    [("", "is blank"), ("   ", "is blank"), ("short-secret", "is shorter than 32")],
    ids=["empty", "spaces", "short"],
)
def test_blank_and_short_secrets_are_refused_outside_dev(secret: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=f"BAKEOFF_SECRET_KEY {problem}"):
        Settings(environment="production", secret_key=secret)  # type: ignore[arg-type]
    Settings(environment="test", secret_key=secret)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("environment", "setting", "secure"),
    [
        ("production", None, True),
        ("staging", None, True),
        ("dev", None, False),
        ("test", None, False),
        ("production", False, False),
        ("dev", True, True),
    ],
)
def test_cookie_secure_defaults_on_outside_dev_and_test(
    environment: str, setting: bool | None, secure: bool
) -> None:
    settings = Settings(
        environment=environment,  # type: ignore[arg-type]
        secret_key="k" * 40,  # type: ignore[arg-type]
        cookie_secure=setting,
    )
    assert settings.secure_cookies is secure


def test_api_keys_are_stored_as_sha256_only(session: Session, api_keys: dict[str, str]) -> None:
    stored = session.exec(select(ApiKey)).all()
    assert len(stored) == 5
    hashes = {k.key_hash for k in stored}
    for plaintext in api_keys.values():
        assert hash_key(plaintext) in hashes
        assert all(plaintext not in (k.key_hash, k.prefix, k.name) for k in stored)
