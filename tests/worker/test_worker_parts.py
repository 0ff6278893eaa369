"""Operations fan out: their documents are split into parts that every worker process runs at
once (or, embedded, one after another), the counters stay exact, each document gets one
correct set of chunks, and a cancel stops every part."""

from __future__ import annotations

import os
import re
import time
import uuid
from contextlib import ExitStack
from typing import Any

from api_helpers import API, Api, in_db
from fastapi.testclient import TestClient
from operation_helpers import start, wait_finished
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from worker_helpers import (
    Service,
    assert_one_correct_set_each,
    celery_service,
    collection_with_documents,
    lease_pid,
    operation_parts,
    running_part,
)

import dbsupport
from chunkyard.api.app import create_app
from chunkyard.operations.parts import split
from chunkyard.storage.models import Document


def test_split_by_count_and_by_size() -> None:
    a, b, c, d, e = (uuid.UUID(int=n) for n in range(5))
    assert split([], 2, 100) == []
    assert split([(a, 1), (b, 1), (c, 1), (d, 1), (e, 1)], 2, 100) == [[a, b], [c, d], [e]]
    # A document bigger than a part is a part of its own.
    assert split([(a, 60), (b, 60), (c, 500), (d, 10), (e, 10)], 10, 100) == [
        [a], [b], [c], [d, e]]


def test_an_operation_fans_out_over_every_worker_process(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, concurrency=2, job_part_documents=2) as service:
        headers, collection, documents = collection_with_documents(service, 16,
                                                                   paragraphs=2000)
        final = wait_finished(service.api, headers,
                              start(service.api, headers, collection["id"])["id"])

        assert_one_correct_set_each(service, documents, final)
        parts = operation_parts(service.settings, final["id"])
        assert [len(p.document_ids) for p in parts] == [2] * 8
        assert sorted(d for p in parts for d in p.document_ids) == sorted(
            d["id"] for d in documents)
        assert all(p.attempts == 1 for p in parts)
        # Both processes of the worker ran parts, at the same time.
        spans = [(lease_pid(p.lease_owner), p.started_at, p.finished_at) for p in parts]
        assert len({pid for pid, _, _ in spans}) == 2, spans
        assert any(pid != other and start_a < end_b and start_b < end_a
                   for pid, start_a, end_a in spans
                   for other, start_b, end_b in spans), spans


def test_the_embedded_runner_runs_every_part(databases: dbsupport.Databases) -> None:
    settings = databases.fresh("sqlite").model_copy(update={"job_part_documents": 2})
    with TestClient(create_app(settings)) as client:
        service = Service(settings, ExitStack())
        service.api = Api("sqlite", settings, client)
        headers, collection, documents = collection_with_documents(service, 5,
                                                                   paragraphs=200)
        final = wait_finished(service.api, headers,
                              start(service.api, headers, collection["id"])["id"])

    assert_one_correct_set_each(service, documents, final)
    parts = operation_parts(settings, final["id"])
    assert [len(p.document_ids) for p in parts] == [2, 2, 1]


def test_embedded_jobs_chunk_in_capped_job_processes(
    databases: dbsupport.Databases,
) -> None:
    # Once, embedded jobs chunked in threads of the API process and their GIL slowed every
    # request (350 ms p99 for GET /healthz during a 20 MB job; bench/embedded_job_latency.py);
    # then in the preview pool, whose results came back whole into the API process.
    settings = databases.fresh("sqlite")
    with TestClient(create_app(settings)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        pool = services.chunking_pool
        previews: list[str] = []
        run = pool.run

        async def recording(fn: Any, *args: Any) -> Any:
            previews.append(fn.__name__)
            return await run(fn, *args)

        pool.run = recording
        processes = services.job_queue.processes
        service = Service(settings, ExitStack())
        service.api = Api("sqlite", settings, client)
        headers, collection, documents = collection_with_documents(service, 3, paragraphs=200)
        final = wait_finished(service.api, headers,
                              start(service.api, headers, collection["id"])["id"])
        children = processes.pids()

    assert_one_correct_set_each(service, documents, final)
    assert previews == []  # nothing of the job went through the preview pool
    assert processes.started >= 1 and children and os.getpid() not in children
    assert final["chunks_created"] > 0


def counted(service: Service, collection_id: str) -> tuple[int, int]:
    """Documents of the collection with chunks stored, and their chunks."""

    async def read(session: AsyncSession) -> tuple[int, int]:
        row = (await session.execute(
            select(func.count(), func.coalesce(func.sum(Document.chunk_count), 0))
            .where(Document.collection_id == uuid.UUID(collection_id),
                   Document.status == "chunked"))).one()
        return int(row[0]), int(row[1])

    return in_db(service.settings, read)


def part_tasks(log: str) -> tuple[set[str], set[str]]:
    """The ids of the part tasks the worker received, and of those that ended."""
    received = set(re.findall(r"Task chunkyard\.run_part\[([0-9a-f-]+)\] received", log))
    ended = set(re.findall(r"Task chunkyard\.run_part\[([0-9a-f-]+)\] succeeded", log))
    return received, ended


def test_cancel_stops_every_part(databases: dbsupport.Databases) -> None:
    with celery_service(databases, concurrency=2, job_part_documents=2,
                        job_part_bytes=10**9) as service:
        headers, collection, documents = collection_with_documents(service, 12)
        created = start(service.api, headers, collection["id"])
        running_part(service.settings, created["id"], done=1)

        response = service.api.client.post(f"{API}/operations/{created['id']}/cancel",
                                           headers=headers)
        assert response.status_code == 200, response.text
        done_at_cancel = response.json()["documents_done"]
        cancelled_at = time.monotonic()
        # Every part's job ends: the running ones after their document in hand, the
        # others as soon as they are delivered. (What they did after the cancel is counted
        # below, not timed: a parallel suite on two cores makes wall-clock bounds flaky.)
        worker = service.workers[0]
        while True:
            received, ended = part_tasks(worker.log())
            if len(received) == 6 and received == ended:
                break
            assert time.monotonic() - cancelled_at < 60.0, worker.log()[-3000:]
            time.sleep(0.02)

        final: dict[str, Any] = wait_finished(service.api, headers, created["id"])
        assert final["status"] == "cancelled"
        # At most the two documents in hand (one per pool process) count after the cancel.
        assert final["documents_done"] <= done_at_cancel + 2 < len(documents)
        # Nothing is stored after the cancel, and what was stored is counted exactly once.
        time.sleep(0.5)
        assert wait_finished(service.api, headers, created["id"]) == final
        assert counted(service, collection["id"]) == (final["documents_done"],
                                                      final["chunks_created"])
        parts = operation_parts(service.settings, created["id"])
        assert sum(p.documents_done for p in parts) == final["documents_done"]
        assert sum(p.chunks_created for p in parts) == final["chunks_created"]
        assert any(p.attempts == 0 for p in parts)  # delivered after the cancel: not run
