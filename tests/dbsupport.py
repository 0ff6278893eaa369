"""Real test databases for every suite: fresh PostgreSQL databases or SQLite files, and Redis.

PostgreSQL comes from CHUNKYARD_TEST_DATABASE_URL (default: the local server's `test`
database); every database is created fresh next to it and dropped at the end of the session.
Redis comes from CHUNKYARD_TEST_REDIS_URL (default: the local server's database 0); tests
keep apart from each other (and from concurrent test runs) by a queue name of their own.
If a server cannot be reached, its tests fail when CI=true and are skipped (with the reason)
otherwise.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from chunkyard.settings import Settings

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
DEFAULT_TEST_REDIS_URL = "redis://127.0.0.1:6379/0"
BACKENDS = ["postgresql", "sqlite"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def redis_url() -> str:
    return os.environ.get("CHUNKYARD_TEST_REDIS_URL", DEFAULT_TEST_REDIS_URL)


_redis_error: list[str | None] = []
_rabbitmq_error: list[str | None] = []
DEFAULT_TEST_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672//"


def amqp_url() -> str:
    return os.environ.get("CHUNKYARD_TEST_AMQP_URL", DEFAULT_TEST_AMQP_URL)


def require_rabbitmq() -> str:
    """The test RabbitMQ URL; fails (CI=true) or skips the test when it cannot be reached."""
    if not _rabbitmq_error:
        from kombu import Connection

        try:
            with Connection(amqp_url(), connect_timeout=5) as connection:
                connection.ensure_connection(max_retries=1)
            _rabbitmq_error.append(None)
        except Exception as exc:  # any failure to connect
            _rabbitmq_error.append(f"RabbitMQ at {amqp_url()} unreachable: {exc!r}")
    if _rabbitmq_error[0]:
        if _in_ci():
            pytest.fail(f"{_rabbitmq_error[0]} (CI=true: RabbitMQ is required)")
        pytest.skip(f"{_rabbitmq_error[0]} (set CI=true to make this a failure)")
    return amqp_url()


def require_redis() -> str:
    """The test Redis URL; fails (CI=true) or skips the test when Redis cannot be reached."""
    if not _redis_error:
        import redis

        client = redis.Redis.from_url(redis_url(), socket_connect_timeout=5, socket_timeout=5)
        try:
            client.ping()
            _redis_error.append(None)
        except Exception as exc:  # any failure to connect
            _redis_error.append(f"Redis at {redis_url()} unreachable: {exc!r}")
        finally:
            client.close()
    if _redis_error[0]:
        if _in_ci():
            pytest.fail(f"{_redis_error[0]} (CI=true: Redis is required)")
        pytest.skip(f"{_redis_error[0]} (set CI=true to make this a failure)")
    return redis_url()


class Databases:
    """Makes fresh databases (PostgreSQL or SQLite) and drops them when the session ends."""

    def __init__(self, tmp: Path, label: str = "t", secret_key: SecretStr | None = None) -> None:
        self.tmp = tmp
        self.admin_url = make_url(
            os.environ.get("CHUNKYARD_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
        )
        self.created: list[str] = []
        self._postgres_error: str | None = None
        self._postgres_checked = False
        self._prefix = f"chunkyard_{label}{os.getpid()}_{secrets.token_hex(3)}"
        self._extra: dict[str, SecretStr] = {"secret_key": secret_key} if secret_key else {}

    async def _admin(self, *statements: str) -> None:
        engine = create_async_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                for statement in statements:
                    await connection.execute(text(statement))
        finally:
            await engine.dispose()

    def require_postgres(self) -> None:
        if not self._postgres_checked:
            self._postgres_checked = True
            try:
                asyncio.run(asyncio.wait_for(self._admin("SELECT 1"), timeout=10))
            except Exception as exc:  # any failure to connect
                where = self.admin_url.render_as_string(hide_password=True)
                self._postgres_error = f"PostgreSQL at {where} unreachable: {exc!r}"
        if self._postgres_error:
            if _in_ci():
                pytest.fail(f"{self._postgres_error} (CI=true: PostgreSQL is required)")
            pytest.skip(f"{self._postgres_error} (set CI=true to make this a failure)")

    def fresh(self, backend: str, data_dir: Path | None = None) -> Settings:
        """An empty database of `backend`, as settings (data_dir: a fresh directory)."""
        data_dir = data_dir or self.tmp / f"data-{backend}-{secrets.token_hex(4)}"
        data_dir.mkdir(parents=True, exist_ok=True)
        if backend == "sqlite":
            path = self.tmp / f"{secrets.token_hex(6)}.db"
            return Settings(database_url=f"sqlite+aiosqlite:///{path}", data_dir=data_dir,
                            **self._extra)
        self.require_postgres()
        name = f"{self._prefix}_{len(self.created)}"
        for attempt in range(5):
            try:
                asyncio.run(self._admin(f'CREATE DATABASE "{name}"'))
                break
            except Exception as exc:
                # "source database template1 is being accessed by other users": retry.
                if "being accessed" not in str(exc) or attempt == 4:
                    raise
        self.created.append(name)
        url = self.admin_url.set(database=name).render_as_string(hide_password=False)
        return Settings(database_url=url, data_dir=data_dir, **self._extra)

    def drop_all(self) -> None:
        failures = []
        for name in self.created:
            try:
                asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:
                failures.append(f"{name}: {exc!r}")
        if failures:
            pytest.fail("could not drop test databases: " + "; ".join(failures))
