"""Redis stopped for 30 s in the middle of an operation. Redis is the preview cache, the
progress bus and (the scaled mode's default, no CHUNKYARD_BROKER_URL) the Celery broker, so
the worker loses its broker too: parts not yet delivered wait in Redis. During the outage the
API keeps answering (previews, uncached; progress by polling; /healthz ok, /readyz says Redis
is unreachable), and once Redis is back the jobs resume and the operation completes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from chaos_support import (
    API,
    PostgresCluster,
    RedisServer,
    assert_nothing_lost,
    assert_workers_alive,
    chaos_service,
    collection_with_documents,
    finished,
    markdown,
    running_with,
    start_operation,
)

OUTAGE = 30.0
POLL = 0.5


@pytest.mark.xfail(
    strict=False,
    reason="known defect, open: a part whose message a worker had prefetched when Redis went "
    "down stays pending after Redis returns (Redis keeps the message unacknowledged until the "
    "broker's visibility timeout, and the sweeper requeues only running parts whose lease "
    "expired), so the operation does not finish; both runs of 2026-12-04 met it")
def test_redis_stopped_for_30s_mid_operation_the_api_answers_and_jobs_resume(
    tmp_path: Path, cluster: PostgresCluster, redis_server: RedisServer,
) -> None:
    # One document per part: most parts are still queued when Redis goes.
    with chaos_service(tmp_path, cluster, redis_server, job_part_documents=1,
                       job_lease_seconds=3.0, job_sweep_seconds=1.0) as chaos:
        collection = collection_with_documents(chaos, 12, paragraphs=2000)
        created = start_operation(chaos, collection)
        running_with(chaos, created["id"], done=1)
        preview = {"text": markdown("preview", 40).decode(), "filename": "preview.md", **{
            "strategy": "recursive", "params": {"chunk_size": 96}}}

        redis_server.stop()
        stopped = time.monotonic()
        polls = previews = 0
        while time.monotonic() - stopped < OUTAGE:
            body = chaos.operation(created["id"])  # asserts 200
            assert body["status"] == "running", body
            polls += 1
            health = chaos.http.get("/healthz")
            assert health.status_code == 200 and health.json() == {"status": "ok"}
            if previews < 3:  # the same text each time: never served from a cache
                answer = chaos.post(f"{API}/preview", json=preview)
                assert answer.status_code == 200, answer.text
                assert answer.json()["cached"] is False and answer.json()["total_chunks"] > 1
                previews += 1
            time.sleep(POLL)
        ready = chaos.http.get("/readyz")
        assert ready.status_code == 503 and "redis" in ready.json()["detail"], ready.text
        during = chaos.operation(created["id"])
        # Parts wait in the broker: the operation could not end without it.
        assert during["status"] == "running", during
        assert during["documents_done"] < during["documents_total"], during
        redis_server.start()

        # Celery reconnects to its broker with a backoff, and a machine busy with other
        # tests chunks these documents slowly: minutes, not a lease or two.
        final = finished(chaos, created["id"], timeout=240)
        assert polls >= 5 and previews == 3  # it answered all along, every time
        assert_nothing_lost(chaos, collection, final)
        assert_workers_alive(chaos)
        assert chaos.http.get("/readyz").status_code == 200
