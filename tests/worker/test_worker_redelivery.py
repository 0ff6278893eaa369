"""Jobs whose worker dies are delivered again and finish: a pool process killed with SIGKILL, a
whole worker killed (its message comes back after the visibility timeout, to a new worker), a
worker cut off from its database (transient errors, retried with backoff); and a job whose
workers keep dying is failed after `job_max_attempts`. In every case each document ends with
exactly the library's chunks, once, and the counters count every document once."""

from __future__ import annotations

import os
import signal
import time

from operation_helpers import start, wait_finished
from worker_helpers import (
    TcpProxy,
    assert_one_correct_set_each,
    celery_service,
    collection_with_documents,
    operation_row,
    wait_for,
)

import dbsupport


def kill_the_job(service_settings: object, row_owner: str | None) -> int:
    """SIGKILL the process named in a lease (`host:pid:unique`); its pid."""
    assert row_owner is not None
    pid = int(row_owner.split(":")[1])
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_job_whose_pool_process_is_killed_is_delivered_again(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, concurrency=2, job_lease_seconds=2.0) as service:
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        wait_for(service, headers, created["id"], done=3)

        owner = operation_row(service.settings, created["id"]).lease_owner
        killed = kill_the_job(service.settings, owner)
        assert killed != service.workers[0].pid  # the pool's process, not the worker itself
        final = wait_finished(service.api, headers, created["id"])

        assert_one_correct_set_each(service, documents, final)
        row = operation_row(service.settings, created["id"])
        assert row.attempts == 2 and row.lease_owner != owner
        log = service.workers[0].log()
        assert "WorkerLostError" in log and "takes it over" in log


def test_a_killed_worker_s_job_is_taken_over_by_a_new_worker(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, concurrency=1, job_lease_seconds=2.0,
                        broker_visibility_timeout=3.0) as service:
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        wait_for(service, headers, created["id"], done=3)

        first = service.workers[0]
        first.kill()  # the worker and its pool at once: nothing is acknowledged or requeued
        second = service.worker(concurrency=1)
        final = wait_finished(service.api, headers, created["id"])

        assert_one_correct_set_each(service, documents, final)
        assert operation_row(service.settings, created["id"]).attempts >= 2
        assert "takes it over" in second.log()


def test_a_job_cut_off_from_its_database_is_retried_and_completes(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, workers=0, job_lease_seconds=2.0) as service:
        proxy = TcpProxy.to_database(service.settings)
        service.stack.callback(proxy.close)
        worker = service.worker(database_url=proxy.url_for(service.settings))
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        wait_for(service, headers, created["id"], done=3)

        proxy.cut()  # every connection dropped, new ones refused
        deadline = time.monotonic() + 20
        while worker.log().count("; retry ") < 2:  # the first error, then a refused retry
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.05)
        proxy.restore()
        final = wait_finished(service.api, headers, created["id"])

        assert_one_correct_set_each(service, documents, final)
        assert operation_row(service.settings, created["id"]).attempts >= 2
        assert "ConnectionRefusedError" in worker.log()


def test_a_job_whose_workers_keep_dying_fails_after_its_attempts(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, concurrency=2, job_lease_seconds=1.0,
                        job_max_attempts=1) as service:
        headers, collection, _ = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        wait_for(service, headers, created["id"], done=1)

        kill_the_job(service.settings,
                     operation_row(service.settings, created["id"]).lease_owner)
        final = wait_finished(service.api, headers, created["id"])

        assert final["status"] == "failed", final
        assert final["error"].startswith("stopped after 1 attempts: the worker running it was")
