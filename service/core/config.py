"""Service settings: one :class:`Settings` read from ``BAKEOFF_*`` environment variables.

Every setting can be given as an environment variable named ``BAKEOFF_<FIELD>`` (for example
``BAKEOFF_DATABASE_URL``) or in a ``.env`` file. Use :func:`get_settings` (cached) to read them;
tests call ``get_settings.cache_clear()`` after changing the environment.

Other engineers: add a field here (with a default and a one-line docstring comment) rather than
reading ``os.environ`` elsewhere.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Environment", "Settings", "get_settings", "PLACEHOLDER_SECRET"]

Environment = Literal["dev", "test", "staging", "production"]

PLACEHOLDER_SECRET = "changethis"


class Settings(BaseSettings):
    """All configuration of the Bakeoff service.

    Attributes
    ----------
    environment
        ``dev`` and ``test`` allow placeholder secrets; ``staging`` and ``production`` refuse them.
    database_url
        SQLAlchemy URL. Defaults to a SQLite file under ``./bakeoff-data``; point it at
        PostgreSQL with ``postgresql+psycopg://user:pass@host:5432/db``.
    secret_key
        Server secret (signing webhook callbacks, session cookies of the web pages).
    auto_migrate
        Apply ``alembic upgrade head`` when the app or the CLI starts.
    import_batch_size
        Rows per bulk ``INSERT`` when importing golden sets and vendor labels.
    max_page_size
        Upper bound of ``limit`` on every paginated list endpoint.
    """

    model_config = SettingsConfigDict(
        env_prefix="BAKEOFF_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Environment = "dev"
    database_url: str = "sqlite:///./bakeoff-data/bakeoff.db"
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET)
    auto_migrate: bool = True
    import_batch_size: int = 5000
    max_page_size: int = 1000
    project_name: str = "Bakeoff"

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment in ("dev", "test"):
            return self
        if self.secret_key.get_secret_value() in (PLACEHOLDER_SECRET, ""):
            raise ValueError(
                "BAKEOFF_SECRET_KEY is the placeholder 'changethis' while "
                f"BAKEOFF_ENVIRONMENT={self.environment!r}; set a random secret "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
