"""`chunkyard worker`: run a Celery worker that executes chunking jobs from the configured queue.

The broker is `CHUNKYARD_BROKER_URL`, else `CHUNKYARD_REDIS_URL`; without either there is
nothing to consume, which is said in one line (exit code 1). The worker uses the prefork pool
(one process per job, so chunking uses every CPU), consumes only `CHUNKYARD_QUEUE`, and skips
Celery's cluster chatter (gossip, mingle, heartbeats), which chunking jobs do not use; with
Redis configured it records a heartbeat of its own every 10 s (`operations/heartbeat.py`),
which `GET /metrics` reports as each worker's heartbeat age.
SIGTERM or Ctrl-C stops it after the running jobs finish; a second one stops it at once (its
jobs are delivered again, and taken over, see `chunkyard.worker.jobs`).
"""

from __future__ import annotations

import argparse
import os
import socket
from typing import Any

from chunkyard.cli.common import error, load_settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def _concurrency(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a number of processes (1 or more)")
    return value


def add_parser(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "worker", parents=parents, help="run a Celery worker for chunking jobs",
        description="Run a Celery worker that chunks the operations the service queues. "
        "Needs a broker: CHUNKYARD_REDIS_URL (or CHUNKYARD_BROKER_URL), and the same "
        "CHUNKYARD_DATABASE_URL and CHUNKYARD_DATA_DIR as the service.",
    )
    p.add_argument("--concurrency", type=_concurrency, default=None, metavar="N",
                   help="jobs run at once, one process each (default: the number of CPUs)")
    p.add_argument("--loglevel", choices=LOG_LEVELS, default="info",
                   help="the worker's log level (default: info)")
    p.set_defaults(handler=run_worker)



def run_worker(args: argparse.Namespace) -> int:
    settings = load_settings()
    from chunkyard.worker.mode import ExecutionMode

    if ExecutionMode(settings).embedded:
        error("no broker configured: set CHUNKYARD_REDIS_URL (or CHUNKYARD_BROKER_URL) "
              "to run workers; without one, `chunkyard serve` runs jobs itself")
        return 1
    from chunkyard.worker.celery_app import create_celery_app

    app = create_celery_app(settings)
    hostname = f"chunkyard-{os.getpid()}@{socket.gethostname()}"
    worker = app.Worker(
        hostname=hostname,
        queues=[settings.queue],
        concurrency=args.concurrency or os.cpu_count() or 1,
        pool="prefork",
        loglevel=args.loglevel.upper(),
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
    )
    from chunkyard.worker.sweeper import SweeperProcess

    # Parts whose job died are queued again by every worker, whatever the broker keeps.
    sweeper = SweeperProcess(settings)
    sweeper.start()
    # Celery's own heartbeats are off (above): this one, in Redis, is what /metrics reads.
    heartbeat = None
    if settings.redis_url:
        from chunkyard.operations.heartbeat import WorkerHeartbeat

        heartbeat = WorkerHeartbeat(settings.redis_url, settings.queue, hostname)
        heartbeat.start()
    try:
        worker.start()
    finally:
        if heartbeat is not None:
            heartbeat.stop()
        sweeper.stop()
    return int(worker.exitcode or 0)
