"""Storage test fixtures: real PostgreSQL databases made per test session, SQLite files.

PostgreSQL comes from CHUNKYARD_TEST_DATABASE_URL (default: the local server's `test`
database); every database the tests use is created fresh next to it and dropped at the end.
If the server cannot be reached, PostgreSQL tests fail when CI=true and are skipped (with
the reason) otherwise. `async def` tests run on their own event loop (asyncio.run).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from chunkyard.settings import Settings
from chunkyard.storage import migrate

DEFAULT_TEST_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
BACKENDS = ["postgresql", "sqlite"]


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


class Databases:
    """Makes fresh databases (PostgreSQL or SQLite) and drops them when the session ends."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.admin_url = make_url(
            os.environ.get("CHUNKYARD_TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
        )
        self.created: list[str] = []
        self._postgres_error: str | None = None
        self._postgres_checked = False
        self._head: dict[str, Settings] = {}
        self._prefix = f"chunkyard_t{os.getpid()}_{secrets.token_hex(3)}"

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
            return Settings(database_url=f"sqlite+aiosqlite:///{path}", data_dir=data_dir)
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
        return Settings(database_url=url, data_dir=data_dir)

    def head(self, backend: str) -> Settings:
        """A database migrated to head, shared by the tests of this session."""
        if backend not in self._head:
            settings = self.fresh(backend)
            migrate.run_upgrade(settings)
            self._head[backend] = settings
        elif backend == "postgresql":
            self.require_postgres()
        return self._head[backend]

    def drop_all(self) -> None:
        failures = []
        for name in self.created:
            try:
                asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            except Exception as exc:
                failures.append(f"{name}: {exc!r}")
        if failures:
            pytest.fail("could not drop test databases: " + "; ".join(failures))


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("storage"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(backend: str, databases: Databases) -> Settings:
    """Settings for a database at head, shared within the session (use unique names)."""
    return databases.head(backend)


@pytest.fixture
def fresh_settings(backend: str, databases: Databases, tmp_path: Path) -> Settings:
    """Settings for an empty database of its own."""
    return databases.fresh(backend, tmp_path / "data")


@pytest.fixture
def postgres_settings(databases: Databases) -> Settings:
    """A PostgreSQL database at head, shared within the session."""
    return databases.head("postgresql")


@pytest.fixture
def fresh_postgres_settings(databases: Databases, tmp_path: Path) -> Settings:
    """An empty PostgreSQL database of its own."""
    return databases.fresh("postgresql", tmp_path / "data")
