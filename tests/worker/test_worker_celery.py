"""Jobs through real Celery workers on the local Redis: chunks equal to the library's, a second
delivery of a running operation turned away by its parts' leases, the soft time limit, and
`chunkyard worker` without a broker."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from operation_helpers import CORRUPT_PDF, start, text_file, upload, wait_finished
from worker_helpers import (
    assert_one_correct_set_each,
    celery_service,
    collection_with_documents,
    operation_parts,
    wait_for,
)

import dbsupport
from chunkyard.worker.celery_app import create_celery_app
from chunkyard.worker.job_process import DRAIN_SECONDS
from chunkyard.worker.tasks import TASK_NAME
from workersupport import chunkyard_command


def test_a_job_through_a_worker_stores_what_the_library_makes(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases) as service:
        headers, collection, documents = collection_with_documents(service, 3, paragraphs=40)
        upload(service.api, headers, collection["id"], [("broken.pdf", CORRUPT_PDF)])

        final = wait_finished(service.api, headers, start(service.api, headers,
                                                          collection["id"])["id"])

        assert_one_correct_set_each(service, documents, final, failed=1)
        parts = operation_parts(service.settings, final["id"])
        assert all(p.attempts == 1 and p.lease_expires_at is None for p in parts)
        assert "succeeded" in service.workers[0].log()


def test_a_second_delivery_of_a_running_operation_does_not_run_it_twice(
    databases: dbsupport.Databases,
) -> None:
    # One part (about 3 s) that outlives its lease (1 s) several times: only the heartbeat
    # keeps the second delivery, on the worker's other process, from taking it over.
    with celery_service(databases, concurrency=2, job_lease_seconds=1.0,
                        job_part_documents=12, job_part_bytes=10**9) as service:
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        wait_for(service, headers, created["id"], done=1)

        celery = create_celery_app(service.settings)
        try:
            celery.send_task(TASK_NAME, args=[created["id"]], queue=service.settings.queue)
        finally:
            celery.close()
        final = wait_finished(service.api, headers, created["id"])

        assert_one_correct_set_each(service, documents, final)
        assert all(p.attempts == 1 for p in operation_parts(service.settings, created["id"]))
        # The duplicates waited for the leases (and found the parts finished).
        assert "is being run by" in service.workers[0].log()


def test_the_soft_time_limit_fails_the_operation_with_a_message(
    databases: dbsupport.Databases,
) -> None:
    # One part of 40 documents of about 40 KB chunked at 16 `chars` tokens (about half a
    # second each, far more than 3 s in all): the time limits are a task's, so a part's. The
    # limit is 3 s rather than 1 s so that the next operation's tasks, on a cold process of a
    # machine busy with other tests, stay inside it (with 1 s, planning it on a fresh database
    # connection under coverage once took longer); the documents are small so that the job
    # process finishes the one it was left in quickly (up to 5 s of 1.5 MB documents at this
    # configuration made the next operation's part wait past 3 s).
    with celery_service(databases, job_soft_time_limit=3.0, job_time_limit=30.0,
                        job_part_documents=40, job_part_bytes=10**9) as service:
        headers, collection, _ = collection_with_documents(service, 40, paragraphs=300)
        created = start(service.api, headers, collection["id"], config={
            "strategy": "recursive", "params": {"chunk_size": 16, "tokenizer": "chars"}})

        began = time.monotonic()
        final = wait_finished(service.api, headers, created["id"])

        assert final["status"] == "failed", final
        assert final["error"] == (
            "stopped: the job ran past its time limit of 3 s (CHUNKYARD_JOB_SOFT_TIME_LIMIT)")
        assert final["documents_done"] < 40
        assert time.monotonic() - began < 15
        # The worker goes on: the next operation runs (on a small document, well inside the
        # limit however busy the machine). Its part starts once the job process has left the
        # document the stopped job abandoned (a part waits up to DRAIN_SECONDS for that
        # warm process, and on a busy machine that wait alone passed the 3 s).
        time.sleep(DRAIN_SECONDS + 1)
        (small,) = upload(service.api, headers, collection["id"],
                          [("small.md", text_file("small", paragraphs=20))])
        after = wait_finished(service.api, headers, start(
            service.api, headers, collection["id"], document_ids=[small["id"]],
        )["id"])
        assert after["status"] == "completed", after


def test_worker_without_a_broker_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHUNKYARD_")}
    env["CHUNKYARD_DATA_DIR"] = str(tmp_path)
    result = subprocess.run(
        [*chunkyard_command(), "worker"], env=env, cwd=tmp_path,
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("chunkyard: error: no broker configured: set CHUNKYARD_REDIS_URL")
