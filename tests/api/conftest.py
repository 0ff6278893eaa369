"""API test fixtures: one running app per backend (PostgreSQL and SQLite) for the session.

Databases are made the way the storage tests make them (a fresh PostgreSQL database next to
CHUNKYARD_TEST_DATABASE_URL, or a SQLite file), migrated to head. The two backends are the
two ways the service runs: SQLite embedded (in-process jobs and progress), and PostgreSQL
with Redis, where jobs go through a queue of this session's own to a real `chunkyard worker`
process started for the session, and progress comes back over Redis pub/sub. If PostgreSQL
or Redis cannot be reached, their tests fail when CI=true and are skipped (with the reason)
otherwise. Tests talk to the app through FastAPI's TestClient (a real ASGI round trip,
lifespan included); each test gets the client with an empty cookie jar and makes its own
users.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from api_helpers import Api
from fastapi.testclient import TestClient
from pydantic import SecretStr

import dbsupport
import workersupport
from chunkyard.api.app import create_app
from chunkyard.auth.throttle import MemoryLoginThrottle, Policy, RedisLoginThrottle
from chunkyard.settings import Settings
from chunkyard.storage import migrate

BACKENDS = dbsupport.BACKENDS
TEST_SECRET = SecretStr("chunkyard-test-secret-" + "x" * 32)


def make_databases(tmp: Path) -> dbsupport.Databases:
    """The shared test databases, with the API's secret key in their settings."""
    return dbsupport.Databases(tmp, label="api", secret_key=TEST_SECRET)


class Services:
    """Starts one app per backend on first use; stops them at the end of the session."""

    def __init__(self, databases: dbsupport.Databases) -> None:
        self.databases = databases
        self.stack = ExitStack()
        self.apis: dict[str, Api] = {}

    def get(self, backend: str) -> Api:
        if backend == "postgresql":
            self.databases.require_postgres()
        if backend not in self.apis:
            settings = self.databases.fresh(backend)
            migrate.run_upgrade(settings)
            if backend == "postgresql":
                settings = self._start_worker(settings)
            client = self.stack.enter_context(TestClient(create_app(settings)))
            self.apis[backend] = Api(backend, settings, client)
        return self.apis[backend]

    def _start_worker(self, settings: Settings) -> Settings:
        """Celery settings for `settings`, with a worker consuming their queue until the
        end of the session (then its keys are removed from Redis)."""
        settings = workersupport.celery_settings(settings)
        worker = workersupport.Worker(settings, self.databases.tmp / "workers")
        self.stack.callback(workersupport.remove_queue_keys, settings)
        self.stack.callback(worker.stop)
        worker.start()
        return settings


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dbsupport.Databases]:
    dbs = make_databases(tmp_path_factory.mktemp("api"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session")
def services(databases: dbsupport.Databases) -> Iterator[Services]:
    running = Services(databases)
    with running.stack:
        yield running


def reset_login_throttle(api: Api) -> None:
    """Every test starts with no failed logins counted (they all come from `testclient`):
    a throttle of its own (in Redis: under a prefix of its own, the old keys expire)."""
    app: Any = api.client.app
    services = getattr(app.state, "services", None)
    redis = getattr(services, "redis", None)
    policy = Policy.from_settings(api.settings)
    app.state.login_throttle = (
        RedisLoginThrottle(redis, f"{api.settings.queue}:login:{secrets.token_hex(4)}", policy)
        if redis is not None
        else MemoryLoginThrottle(policy)
    )


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, services: Services) -> Iterator[Api]:
    started = services.get(str(request.param))
    started.client.cookies.clear()
    reset_login_throttle(started)
    yield started
    started.client.cookies.clear()


@pytest.fixture
def sqlite_settings(databases: dbsupport.Databases) -> Settings:
    """An empty SQLite database of its own (for tests that start their own app)."""
    return databases.fresh("sqlite")
