"""Worker test fixtures: fresh PostgreSQL databases, and the API helpers of tests/api.

Each test starts its own `chunkyard worker` processes (see `workersupport`) on a queue of its
own, with the lease, visibility timeout and time limits it needs, and talks to the service
through the real app (TestClient) configured for the same database, Redis and queue.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

import dbsupport

# The API's factories (users, collections, uploads, operations) serve these tests too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api"))

TEST_SECRET = SecretStr("chunkyard-test-secret-" + "w" * 32)


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dbsupport.Databases]:
    dbs = dbsupport.Databases(tmp_path_factory.mktemp("worker"), label="worker",
                              secret_key=TEST_SECRET)
    yield dbs
    dbs.drop_all()
