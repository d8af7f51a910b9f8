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

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Environment", "Settings", "get_settings", "PLACEHOLDER_SECRET", "MIN_SECRET_LENGTH"]

Environment = Literal["dev", "test", "staging", "production"]

PLACEHOLDER_SECRET = "changethis"
MIN_SECRET_LENGTH = 32


class Settings(BaseSettings):
    """All configuration of the Bakeoff service.

    Attributes
    ----------
    environment
        ``dev`` and ``test`` allow placeholder secrets; ``staging`` and ``production`` refuse
        the placeholder, a blank secret and one shorter than :data:`MIN_SECRET_LENGTH`.
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
    max_body_bytes, max_upload_bytes
        Largest request body (HTTP 413 above it); bulk-import routes (``.../import``,
        streamed to disk) use ``max_upload_bytes``.
    redis_url
        When set, the dispatch queue (Huey) runs on Redis; otherwise on a SQLite file.
    queue_path
        The SQLite queue file; defaults to ``bakeoff-queue.db`` next to a SQLite database
        (or under ``./bakeoff-data``).
    queue_name
        Huey queue name (and Redis key prefix).
    public_url
        Base URL at which vendors reach this service (their result callbacks go to
        ``{public_url}/callbacks/{vendor_id}``).
    dispatch_batch_size, dispatch_poll_interval_s, dispatch_callback_poll_interval_s,
    dispatch_task_timeout_s, dispatch_max_attempts, dispatch_slice_s
        Dispatch: items per batch, how often open jobs are polled (and, as a fallback for
        lost callbacks, in callback mode), when a sent task times out, submissions before a
        task fails, and how long one queue task works before handing over to the next.
    model_dir
        Folder of model files the server's operator registered as ``model`` candidates
        (``.joblib``/``.pkl`` scikit-learn estimators, ``.pt``/``.ts`` TorchScript). Loading
        such a file runs code, so only whoever controls the server's file system registers one;
        API callers only name a registered model. Unset: only entry-point models
        (group ``bakeoff.models``) are registered.
    vendor_files_dir
        Where the ``file`` kind writes vendors' packages and finds their returned files.
    cookie_secure
        Mark the sign-in and CSRF cookies ``Secure`` (sent over HTTPS only). Unset: on outside
        ``dev``/``test`` (behind a TLS proxy the app may see plain HTTP); in dev/test only when
        the request itself is HTTPS. See :attr:`secure_cookies`.
    auth_failure_limit, auth_failure_window_s
        Wrong API keys tolerated from one client within the window before it gets HTTP 429
        with ``Retry-After`` (counted in this process; see :mod:`service.api.auth_throttle`).
        Unset: 20, except in ``test`` (off, so a test suite's wrong keys do not add up); ``0``
        turns it off. See :attr:`failed_auth_limit`.
    vendor_clock_skew_s
        How far a vendor's label timestamps may be later than the server's clock, or earlier
        than the moment the item was sent to it (default two minutes; see
        :mod:`service.domain.label_times`). Only a simulation that compresses hours into
        milliseconds (the demo) raises it.
    scores_on_import
        When a bake-off's scores are computed and stored after labels land
        (:mod:`service.domain.score_precompute`): ``"background"`` (default) in a thread of
        the importing process right after the import commits, so the import answers at once
        and the first read is a read; ``"inline"`` before the import returns; ``"off"``: on
        the first read (stored then). An in-memory SQLite database is always ``"off"``.
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
    max_body_bytes: int = 32 * 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024 * 1024
    project_name: str = "Bakeoff"
    redis_url: str | None = None
    queue_path: str | None = None
    queue_name: str = "bakeoff"
    public_url: str = "http://127.0.0.1:8000"
    dispatch_batch_size: int = 200
    dispatch_poll_interval_s: float = 0.5
    dispatch_callback_poll_interval_s: float = 10.0
    dispatch_task_timeout_s: float = 86_400.0
    dispatch_max_attempts: int = 5
    dispatch_slice_s: float = 20.0
    model_dir: str | None = None
    vendor_files_dir: str = "bakeoff-data/vendor-files"
    cookie_secure: bool | None = None
    auth_failure_limit: int | None = Field(default=None, ge=0)
    auth_failure_window_s: float = Field(default=300.0, gt=0)
    scores_on_import: Literal["background", "inline", "off"] = "background"

    @property
    def secure_cookies(self) -> bool:
        """Whether cookies are always ``Secure`` (``cookie_secure``, else outside dev/test)."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.environment not in ("dev", "test")

    @property
    def failed_auth_limit(self) -> int:
        """Wrong keys per client and window before HTTP 429 (``0``: no throttle)."""
        if self.auth_failure_limit is not None:
            return self.auth_failure_limit
        return 0 if self.environment == "test" else 20

    vendor_clock_skew_s: float = Field(default=120.0, ge=0)

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment in ("dev", "test"):
            return self
        secret = self.secret_key.get_secret_value().strip()
        problem = None
        if secret == PLACEHOLDER_SECRET:
            problem = "is the placeholder 'changethis'"
        elif not secret:
            problem = "is blank"
        elif len(secret) < MIN_SECRET_LENGTH:
            problem = f"is shorter than {MIN_SECRET_LENGTH} characters"
        if problem is not None:
            raise ValueError(
                f"BAKEOFF_SECRET_KEY {problem} while BAKEOFF_ENVIRONMENT={self.environment!r}; "
                "set a random secret "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)."
            )
        return self


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings (read once from the environment)."""
    return Settings()
