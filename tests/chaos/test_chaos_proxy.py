"""A worker cut off from PostgreSQL for 60 s (a TCP proxy between them drops every
connection and refuses new ones) in the middle of an operation, while the API reaches the
database directly: the API keeps answering, the worker survives, its parts' leases expire,
and once the path is back their jobs run again and the operation completes, each document's
chunks stored once."""

from __future__ import annotations

import time
from pathlib import Path

from chaos_support import (
    PostgresCluster,
    RedisServer,
    assert_nothing_lost,
    assert_workers_alive,
    chaos_service,
    collection_with_documents,
    finished,
    running_with,
    start_operation,
)
from proxy import TcpProxy

OUTAGE = 60.0
POLL = 1.0


def test_a_worker_cut_off_from_postgres_for_60s_completes_the_operation(
    tmp_path: Path, cluster: PostgresCluster, redis_server: RedisServer,
) -> None:
    proxy = TcpProxy("127.0.0.1", cluster.port)
    try:
        # Two parts of four documents, both running when the path goes (a part queued but
        # not yet claimed would wait out its retry's backoff, up to two minutes, instead).
        through_proxy = cluster.url.replace(f":{cluster.port}/", f":{proxy.port}/")
        with chaos_service(
            tmp_path, cluster, redis_server, worker_overrides={"database_url": through_proxy},
            job_part_documents=4, job_part_bytes=50_000_000, job_lease_seconds=3.0,
            job_sweep_seconds=1.0,
        ) as chaos:
            (worker,) = chaos.workers
            collection = collection_with_documents(chaos, 8, paragraphs=4000)
            created = start_operation(chaos, collection)
            running_with(chaos, created["id"], done=1)
            assert proxy.accepted > 0  # the worker's connections go through it

            proxy.cut()
            cut = time.monotonic()
            seen = []
            while time.monotonic() - cut < OUTAGE:
                body = chaos.operation(created["id"])  # the API goes direct: it answers
                assert body["status"] == "running", body
                seen.append(body["documents_done"])
                assert_workers_alive(chaos)
                time.sleep(POLL)
            # Cut off, the worker stored nothing more.
            assert seen[-1] < len(collection.documents) and len(set(seen[2:])) <= 1, seen
            proxy.restore()

            final = finished(chaos, created["id"], timeout=150)
            assert_nothing_lost(chaos, collection, final)
            assert_workers_alive(chaos)
            log = worker.log()
            assert "; retry 1 of" in log and "whose lease expired" in log, log[-3000:]
    finally:
        proxy.close()
