"""Parts whose worker dies are delivered again and finish: a pool process killed with SIGKILL in
the middle of a part, a whole worker killed (its messages come back after the visibility
timeout, to a new worker), a worker cut off from its database (transient errors, retried with
backoff); and a part whose workers keep dying fails its operation after `job_max_attempts`.
In every case each document ends with exactly the library's chunks, once, and the counters
count every document once."""

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
    lease_pid,
    operation_parts,
    running_part,
    wait_for,
)

import dbsupport

# Parts of 4 documents (about a second each), so a part dies with documents counted.
FOUR_PER_PART = {"job_part_documents": 4, "job_part_bytes": 10**9}


def test_a_part_whose_pool_process_is_killed_is_taken_over(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, concurrency=2, job_lease_seconds=2.0,
                        **FOUR_PER_PART) as service:
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        victim = running_part(service.settings, created["id"], done=1)

        killed = lease_pid(victim.lease_owner)
        os.kill(killed, signal.SIGKILL)
        assert killed != service.workers[0].pid  # the pool's process, not the worker itself
        final = wait_finished(service.api, headers, created["id"])

        # The part's counted documents were taken back from the operation and counted again.
        assert_one_correct_set_each(service, documents, final)
        parts = {p.id: p for p in operation_parts(service.settings, created["id"])}
        assert len(parts) == 3
        assert parts[victim.id].attempts == 2
        assert parts[victim.id].lease_owner != victim.lease_owner
        log = service.workers[0].log()
        assert "WorkerLostError" in log and "takes it over" in log


def test_a_killed_worker_s_part_is_taken_over_by_a_new_worker(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, concurrency=1, job_lease_seconds=2.0,
                        broker_visibility_timeout=3.0, **FOUR_PER_PART) as service:
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        running_part(service.settings, created["id"], done=1)

        first = service.workers[0]
        first.kill()  # the worker and its pool at once: nothing is acknowledged or requeued
        second = service.worker(concurrency=1)
        final = wait_finished(service.api, headers, created["id"])

        assert_one_correct_set_each(service, documents, final)
        assert max(p.attempts for p in operation_parts(service.settings, created["id"])) == 2
        assert "takes it over" in second.log()


def test_a_killed_worker_strands_nothing_whatever_the_visibility_timeout(
    databases: dbsupport.Databases,
) -> None:
    # Once, the pool children then the whole worker were killed, and with the default
    # visibility timeout (70 minutes) the operation stayed running with parts left for good:
    # expired leases were looked for only when a worker started, before they expired.
    with celery_service(databases, concurrency=2, job_lease_seconds=2.0,
                        job_sweep_seconds=0.5, **FOUR_PER_PART) as service:
        assert service.settings.broker_visibility_timeout == 4200.0  # the default
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        victim = running_part(service.settings, created["id"], done=1)

        first = service.workers[0]
        os.kill(lease_pid(victim.lease_owner), signal.SIGKILL)
        running_part(service.settings, created["id"], done=0)
        first.kill()  # then the worker and the rest of its pool
        second = service.worker(concurrency=2)
        final = wait_finished(service.api, headers, created["id"], timeout=90)

        assert_one_correct_set_each(service, documents, final)
        assert "whose lease expired" in second.log()


def test_a_job_cut_off_from_its_database_is_retried_and_completes(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, workers=0, job_lease_seconds=2.0,
                        **FOUR_PER_PART) as service:
        proxy = TcpProxy.to_database(service.settings)
        service.stack.callback(proxy.close)
        worker = service.worker(database_url=proxy.url_for(service.settings))
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        wait_for(service, headers, created["id"], done=3)

        proxy.cut()  # every connection dropped, new ones refused
        deadline = time.monotonic() + 20
        # The running parts' first errors, then a retry that was refused.
        while "ConnectionRefusedError" not in worker.log():
            assert time.monotonic() < deadline, worker.log()[-3000:]
            time.sleep(0.05)
        proxy.restore()
        final = wait_finished(service.api, headers, created["id"])

        assert_one_correct_set_each(service, documents, final)
        # (Not an attempt count: a job that meets the error gives its attempt back when it
        # can release its lease, which it can once the database is back.)
        assert worker.log().count("; retry ") >= 2


def test_a_part_whose_workers_keep_dying_fails_its_operation_after_its_attempts(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, concurrency=2, job_lease_seconds=1.0,
                        job_max_attempts=1, **FOUR_PER_PART) as service:
        headers, collection, _ = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        victim = running_part(service.settings, created["id"], done=1)

        os.kill(lease_pid(victim.lease_owner), signal.SIGKILL)
        final = wait_finished(service.api, headers, created["id"])

        assert final["status"] == "failed", final
        assert final["error"].startswith(
            f"stopped after 1 attempts: the worker running part {victim.number} was lost")
        parts = {p.id: p for p in operation_parts(service.settings, created["id"])}
        assert parts[victim.id].status == "failed"
