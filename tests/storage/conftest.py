"""Storage test fixtures: real PostgreSQL databases made per test session, SQLite files.

PostgreSQL comes from CHUNKYARD_TEST_DATABASE_URL (default: the local server's `test`
database); every database the tests use is created fresh next to it and dropped at the end.
If the server cannot be reached, PostgreSQL tests fail when CI=true and are skipped (with
the reason) otherwise. `async def` tests run on their own event loop (asyncio.run).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest

import dbsupport
from chunkyard.settings import Settings
from chunkyard.storage import migrate

BACKENDS = dbsupport.BACKENDS


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


class Databases(dbsupport.Databases):
    """Shared test databases, plus one migrated to head per backend for the session."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self._head: dict[str, Settings] = {}

    def head(self, backend: str) -> Settings:
        """A database migrated to head, shared by the tests of this session."""
        if backend not in self._head:
            settings = self.fresh(backend)
            migrate.run_upgrade(settings)
            self._head[backend] = settings
        elif backend == "postgresql":
            self.require_postgres()
        return self._head[backend]


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
