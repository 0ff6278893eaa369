"""One error policy for both execution modes (`worker.policy`): the embedded runner retries a
transient error with backoff as the Celery tasks do, rather than failing the operation."""

from __future__ import annotations

import sqlite3
import time
import uuid
from contextlib import ExitStack

import pytest
from fastapi.testclient import TestClient
from operation_helpers import start, wait_finished
from worker_helpers import (
    Api,
    Service,
    assert_one_correct_set_each,
    collection_with_documents,
    wait_for,
)

import dbsupport
from chunkyard.api.app import create_app
from chunkyard.operations.lease import PartBusy
from chunkyard.settings import Settings
from chunkyard.worker.policy import RETRY_BACKOFF_MAX, backoff, decide


def test_the_embedded_runner_retries_a_locked_database(
    databases: dbsupport.Databases, caplog: pytest.LogCaptureFixture,
) -> None:
    # Once, "database is locked" in the embedded mode failed the whole operation, where a
    # Celery worker retried it.
    settings = databases.fresh("sqlite").model_copy(
        update={"sqlite_busy_timeout": 1.0, "job_part_documents": 4})
    database = settings.database_url.split(":///", 1)[1]
    with TestClient(create_app(settings)) as client:
        service = Service(settings, ExitStack())
        service.api = Api("sqlite", settings, client)
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        wait_for(service, headers, created["id"], done=1)

        locker = sqlite3.connect(database, timeout=5, isolation_level=None)
        # Every write waits 1 s, then is "locked". (Not much shorter: on a busy machine the
        # job's own lease heartbeat would then collide with its writes, retry after retry.)
        locker.execute("BEGIN IMMEDIATE")
        # Held 4 s at least, and until the job has met it (on a busy machine its next write
        # can come later than that), at most 30 s.
        held = time.monotonic()
        while time.monotonic() - held < 4.0 or (
                not _retries(caplog) and time.monotonic() - held < 30.0):
            time.sleep(0.1)
        locker.execute("ROLLBACK")
        locker.close()
        # Retried within seconds: not rescued a minute later, once the lease of a job that
        # gave up had expired (the sweeper would do that; the default lease is 60 s).
        assert settings.job_lease_seconds == 60.0
        final = wait_finished(service.api, headers, created["id"], timeout=50)

    assert_one_correct_set_each(service, documents, final)
    retried = _retries(caplog)
    assert retried and all("database is locked" in m for m in retried), retried


def _retries(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "chunkyard.worker" and "; retry " in r.getMessage()]


def test_the_verdicts() -> None:
    settings = Settings(job_max_retries=2)
    locked = sqlite3.OperationalError("database is locked")
    assert decide(locked, 0, settings).action == "retry"
    assert decide(locked, 1, settings).action == "retry"
    gave_up = decide(locked, 2, settings)
    assert gave_up.action == "fail"
    assert gave_up.message == "gave up after 2 retries: OperationalError: database is locked"
    bug = decide(KeyError("x"), 0, settings)
    assert (bug.action, bug.message) == ("fail", "KeyError: 'x'")
    busy = decide(PartBusy(uuid.uuid4(), "other", 1.5), 5, settings)
    assert (busy.action, busy.delay) == ("requeue", 1.5)


@pytest.mark.parametrize("retries", [0, 1, 3, 6, 20])
def test_backoff_doubles_with_jitter_up_to_its_cap(retries: int) -> None:
    ceiling = min(RETRY_BACKOFF_MAX, 2.0**retries)
    delays = [backoff(retries) for _ in range(200)]
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) - min(delays) > ceiling / 10  # jittered, not one fixed delay
