"""Service settings: one object read from `CHUNKYARD_*` environment variables and `.env`."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The development secret of the first release, published in its source: refused in every mode,
# since anyone who read it could forge a session. With no secret set, auth/secret.py keeps a
# random one in the data directory instead.
PUBLISHED_DEVELOPMENT_SECRET = "chunkyard-development-secret-change-me"

SQLITE_FILENAME = "chunkyard.db"
# A production secret shorter than this is guessable (HS256 wants at least 256 bits).
MIN_SECRET_KEY_CHARS = 32
# Room for a multipart body's boundaries and part headers beside its files' bytes.
MULTIPART_FRAMING_BYTES = 1024 * 1024


def default_data_dir() -> Path:
    """The per-user data directory (e.g. `~/.local/share/chunkyard` on Linux)."""
    return Path(user_data_dir("chunkyard", appauthor=False))


class Settings(BaseSettings):
    """Everything the service reads from its environment.

    `database_url` unset means the embedded default: a SQLite file in `data_dir`.
    `redis_url` unset means in-process cache, progress and job runner; set, it is also the
    Celery broker unless `broker_url` names another (e.g. RabbitMQ), and jobs run in
    `chunkyard worker` processes.
    """

    model_config = SettingsConfigDict(
        env_prefix="CHUNKYARD_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Field(default_factory=default_data_dir)
    # Signs session tokens. Unset: a random secret kept in `data_dir` (auth/secret.py).
    secret_key: SecretStr | None = None
    environment: Literal["development", "production"] = "development"
    # Seconds a SQLite writer waits for the write lock before giving up.
    sqlite_busy_timeout: float = 30.0
    # Echo SQL statements (debugging only).
    database_echo: bool = False
    # Database connections each process keeps open (no overflow): a request beyond them waits
    # for one instead of opening and closing a connection of its own, which cost PostgreSQL a
    # new backend and SQLite a new thread per request under load.
    database_pool_size: int = Field(default=20, ge=1, le=500)

    # -- chunking jobs (see worker/jobs.py and worker/celery_app.py) ------------------------
    # The Celery broker when it is not `redis_url` (e.g. amqp://guest@localhost//).
    broker_url: str | None = None
    # The Celery queue jobs are sent to and workers consume. On Redis it also prefixes every
    # broker key (`<queue>:broker:`), so deployments (or test runs) that share a Redis never
    # see each other's messages.
    queue: str = Field(default="chunkyard", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$")
    # The largest file an upload takes (bytes); a bigger one is refused with 413.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    # The longest text one document extracts to (characters), checked while extracting: a
    # document over it fails alone, saying so (HTML, PDF and DOCX can inflate far past their
    # file's size).
    max_extracted_chars: int = Field(default=50_000_000, ge=1)
    # The address space (MB) of each process that extracts and chunks: a job's document, a
    # preview, a compare. A document that needs more fails alone, saying so, and its process
    # is replaced. 0: no cap. The `local` (torch) embedding model needs 2000 or more.
    operation_memory_mb: int = Field(default=500, ge=0)
    # Seconds a Celery task (planning an operation, or one of its parts) may run: past the
    # soft limit its operation is failed with a message saying so; at the hard limit the
    # worker process running it is killed.
    job_soft_time_limit: float = Field(default=3600.0, gt=0)
    job_time_limit: float = Field(default=3900.0, gt=0)
    # Redis broker: seconds before a delivered but unacknowledged message (its worker died)
    # is delivered again. Longer than `job_time_limit`, or a live job's message is delivered
    # a second time (the lease turns the duplicate away, at the cost of a retry loop).
    broker_visibility_timeout: float = Field(default=4200.0, gt=0)
    # Seconds a job's claim on its operation lasts without renewal (renewed every third of
    # it while the job runs); after that another delivery may take the operation over.
    job_lease_seconds: float = Field(default=60.0, gt=0)
    # Seconds between two looks, by every worker (and the embedded runner), for parts whose
    # lease expired (their job died): each is queued again at once, whatever the broker's
    # visibility timeout, so a killed worker strands nothing for longer than lease + this.
    job_sweep_seconds: float = Field(default=15.0, gt=0)
    # Retries of a job that met a transient error (database or Redis unreachable), with
    # exponential backoff; after the last one its operation is failed.
    job_max_retries: int = Field(default=10, ge=0)
    # Jobs of one operation part that may vanish (their worker killed at the hard time limit,
    # or out of memory) before its operation is failed, so such a job is not delivered for ever.
    job_max_attempts: int = Field(default=5, ge=1)
    # An operation's documents are split into parts that worker processes run in parallel:
    # at most this many documents per part, and at most this many bytes (unless one document
    # alone is bigger). Each part is one Celery task, with the time limits above.
    job_part_documents: int = Field(default=25, ge=1)
    job_part_bytes: int = Field(default=2_000_000, ge=1)

    # -- scheduled maintenance (see chunkyard/maintenance and docs/maintenance.md) ----------
    # `cleanup` deletes finished operations (and their parts) finished longer ago than this.
    maintenance_retention_days: float = Field(default=30.0, gt=0)
    # The embedded mode's in-process scheduler (`chunkyard serve` without a broker); turn it
    # off when cron or `chunkyard scheduler` runs `chunkyard maintenance run` instead.
    maintenance_schedule: bool = True

    # -- per-user limits (see chunkyard/limits; each refusal is a 429 with Retry-After) -----
    # Operations a user may have pending or running at once; one more is refused at once.
    max_active_operations_per_user: int = Field(default=3, ge=1)
    # Bytes of uploaded files a user may keep (the sum of their documents' sizes).
    max_storage_bytes_per_user: int = Field(default=1024 * 1024 * 1024, ge=1)
    # Previews and compares (together) a user may ask for in any 60 seconds.
    max_previews_per_minute: int = Field(default=60, ge=1)
    # API requests one process serves at once (0: no bound); one more waits up to
    # `admission_wait_seconds` for a slot, then is refused with 429 and Retry-After, so
    # past its capacity a process answers quickly rather than letting every request slow down.
    max_concurrent_requests: int = Field(default=64, ge=0)
    admission_wait_seconds: float = Field(default=1.0, ge=0)
    # Bytes of cached preview results a user may hold (the oldest are dropped first).
    max_preview_cache_bytes_per_user: int = Field(default=8 * 1024 * 1024, ge=1)
    # The largest request body (bytes). Unset: one file of `max_upload_bytes` and its
    # multipart framing (`max_upload_bytes` + 1 MiB), so the per-file limit is reachable.
    max_request_bytes: int | None = Field(default=None, ge=1)
    # Login throttling (auth/throttle.py), per account and per client address: this many
    # failed attempts are free, then each is locked out for `login_backoff_seconds`, doubling
    # with every further failure up to `login_backoff_max_seconds`.
    login_free_failures: int = Field(default=5, ge=1)
    login_backoff_seconds: float = Field(default=1.0, gt=0)
    login_backoff_max_seconds: float = Field(default=900.0, gt=0)

    @model_validator(mode="after")
    def _check_secret(self) -> Settings:
        value = None if self.secret_key is None else self.secret_key.get_secret_value()
        if value is not None and value.strip() == PUBLISHED_DEVELOPMENT_SECRET:
            raise ValueError(
                "CHUNKYARD_SECRET_KEY is the development secret published in Chunkyard's "
                "source; unset it (a random one is kept in the data directory) or set your own"
            )
        if self.environment == "production":
            if value is None:
                raise ValueError("CHUNKYARD_SECRET_KEY must be set in production")
            if len(value) < MIN_SECRET_KEY_CHARS:
                raise ValueError(
                    f"CHUNKYARD_SECRET_KEY must be at least {MIN_SECRET_KEY_CHARS} characters "
                    "in production (e.g. the output of `openssl rand -hex 32`)"
                )
        if value is not None and not value:
            raise ValueError("CHUNKYARD_SECRET_KEY is empty; unset it or set a secret")
        return self

    @model_validator(mode="after")
    def _check_time_limits(self) -> Settings:
        if self.job_soft_time_limit >= self.job_time_limit:
            raise ValueError(
                "CHUNKYARD_JOB_SOFT_TIME_LIMIT must be below CHUNKYARD_JOB_TIME_LIMIT"
            )
        return self

    @model_validator(mode="after")
    def _check_request_limit(self) -> Settings:
        if self.max_request_bytes is not None and self.max_request_bytes < self.max_upload_bytes:
            raise ValueError(
                "CHUNKYARD_MAX_REQUEST_BYTES is below CHUNKYARD_MAX_UPLOAD_BYTES, so a file of "
                "the per-file limit could never be uploaded; raise it or leave it unset"
            )
        return self

    @property
    def request_body_limit(self) -> int:
        """The largest request body: `max_request_bytes`, else one largest file and framing."""
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        return self.max_upload_bytes + MULTIPART_FRAMING_BYTES

    @property
    def celery_broker_url(self) -> str | None:
        """The Celery broker (`broker_url`, else `redis_url`); None: jobs run in-process."""
        return self.broker_url or self.redis_url or None

    @property
    def resolved_database_url(self) -> str:
        """The database URL to connect to; the SQLite file in `data_dir` when none is set."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir.expanduser() / SQLITE_FILENAME}"

    @property
    def secret_in_data_dir(self) -> bool:
        """True when tokens are signed with the random secret kept in `data_dir`."""
        return self.secret_key is None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment (and `.env`)."""
    return Settings()
