"""Maintenance test fixtures: one migrated database per backend for the session (PostgreSQL
next to CHUNKYARD_TEST_DATABASE_URL, or a SQLite file), fresh ones where a test needs an empty
record, and the storage tests' factories. Without PostgreSQL or Redis, their tests fail when
CI=true and are skipped otherwise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

import dbsupport
from chunkyard.settings import Settings
from chunkyard.storage import migrate

# The storage tests' factories (users, collections, documents) serve these tests too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))

TEST_SECRET = SecretStr("chunkyard-test-secret-" + "m" * 32)


class Databases(dbsupport.Databases):
    """Fresh migrated databases, and one per backend shared by the session."""

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp, label="maint", secret_key=TEST_SECRET)
        self._shared: dict[str, Settings] = {}

    def migrated(self, backend: str) -> Settings:
        settings = self.fresh(backend)
        migrate.run_upgrade(settings)
        return settings

    def shared(self, backend: str) -> Settings:
        if backend not in self._shared:
            self._shared[backend] = self.migrated(backend)
        elif backend == "postgresql":
            self.require_postgres()
        return self._shared[backend]


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("maintenance"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(params=dbsupport.BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def settings(databases: Databases, backend: str) -> Settings:
    """The session's migrated database of `backend` (runs accumulate: compare, not count)."""
    return databases.shared(backend)
