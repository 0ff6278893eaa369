"""Service settings: one object read from `CHUNKYARD_*` environment variables and `.env`."""

from __future__ import annotations

import warnings
from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The secret used when none is configured. Good enough on a developer's machine; refused in
# production, where it would let anyone who reads this file forge session tokens.
DEVELOPMENT_SECRET_KEY = "chunkyard-development-secret-change-me"

SQLITE_FILENAME = "chunkyard.db"


def default_data_dir() -> Path:
    """The per-user data directory (e.g. `~/.local/share/chunkyard` on Linux)."""
    return Path(user_data_dir("chunkyard", appauthor=False))


class Settings(BaseSettings):
    """Everything the service reads from its environment.

    `database_url` unset means the embedded default: a SQLite file in `data_dir`.
    `redis_url` unset means in-process cache, progress and job runner.
    """

    model_config = SettingsConfigDict(
        env_prefix="CHUNKYARD_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    secret_key: SecretStr = SecretStr(DEVELOPMENT_SECRET_KEY)
    environment: Literal["development", "production"] = "development"
    # Seconds a SQLite writer waits for the write lock before giving up.
    sqlite_busy_timeout: float = 30.0
    # Echo SQL statements (debugging only).
    database_echo: bool = False

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        if self.environment == "production" and self.uses_default_secret:
            raise ValueError("CHUNKYARD_SECRET_KEY must be set in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL to connect to; the SQLite file in `data_dir` when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.expanduser() / SQLITE_FILENAME}"

    @property
    def uses_default_secret(self) -> bool:
        return self.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY

    def warn_if_insecure(self) -> None:
        """Warn (in development) that the development secret is in use."""
        if self.uses_default_secret:
            warnings.warn(
                "CHUNKYARD_SECRET_KEY is not set; using the development secret",
                stacklevel=2,
            )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment (and `.env`)."""
    return Settings()
