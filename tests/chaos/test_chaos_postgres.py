"""PostgreSQL killed (SIGKILL of the postmaster) in the middle of an operation and started
again a few seconds later on the same data and port: the jobs that met the outage retry, the
operation completes, and nothing is lost or stored twice."""

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

OUTAGE = 3.0


def test_postgres_killed_and_restarted_mid_operation_loses_nothing(
    tmp_path: Path, cluster: PostgresCluster, redis_server: RedisServer,
) -> None:
    # One document per part: at the kill, parts are done, running and still queued.
    with chaos_service(tmp_path, cluster, redis_server, job_part_documents=1,
                       job_lease_seconds=3.0, job_sweep_seconds=1.0) as chaos:
        collection = collection_with_documents(chaos, 12, paragraphs=2000)
        created = start_operation(chaos, collection)
        running_with(chaos, created["id"], done=2)

        cluster.kill()
        time.sleep(OUTAGE)
        cluster.start()
        final = finished(chaos, created["id"], timeout=120)

        assert_nothing_lost(chaos, collection, final)
        assert_workers_alive(chaos)
        # The outage was met: jobs saw their connections go and retried.
        assert "; retry 1 of" in chaos.workers[0].log()
