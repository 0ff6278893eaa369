"""The Celery task that runs a chunking job: `chunkyard.run_operation(operation_id)`.

The task is `run_operation` (see `jobs.py`) in its own event loop, with Redis pub/sub for
progress when Redis is configured. What it does with what the job hands back:

- `OperationBusy` (another live job holds the operation's lease, e.g. this is a second
  delivery of a running job): sent again to run once that lease could have expired, so a
  job whose worker died is taken over, and a live one is never run twice;
- a transient error (`jobs.is_transient`: the database or Redis unreachable, a connection
  broken): retried with exponential backoff and jitter, up to `CHUNKYARD_JOB_MAX_RETRIES`
  times, then the operation is failed. Bugs and bad input are never retried: the job fails
  the operation with the error's message (a bad document fails only itself);
- the soft time limit: the operation is failed with a message saying so;
- anything else (a bug) fails the operation with the error, if the job did not already.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded  # type: ignore[import-untyped]

from chunkyard.operations.events import RedisProgressBus
from chunkyard.settings import Settings
from chunkyard.worker.jobs import (
    OperationBusy,
    fail_operation,
    is_transient,
    new_lease_owner,
    run_operation,
)

logger = logging.getLogger("chunkyard.worker")

TASK_NAME = "chunkyard.run_operation"
# Retry delays: 1, 2, 4, ... seconds, at most two minutes, each scaled by a random 0.5-1.0.
RETRY_BACKOFF = 1.0
RETRY_BACKOFF_MAX = 120.0


def register_tasks(app: Any, settings: Settings) -> None:
    """Register the chunking task on `app`; it runs with `settings`."""

    @app.task(  # type: ignore[untyped-decorator]
        name=TASK_NAME, bind=True, ignore_result=True, acks_late=True,
        reject_on_worker_lost=True, max_retries=settings.job_max_retries,
    )
    def run_operation_task(task: Any, operation_id: str) -> str:
        return execute(task, settings, operation_id)


def execute(task: Any, settings: Settings, raw_id: str) -> str:
    """The task's body; returns the operation's status (or what happened to the job)."""
    try:
        operation_id = uuid.UUID(str(raw_id))
    except ValueError:
        logger.error("ignored a job for %r: not an operation id", raw_id)
        return "invalid"
    owner = new_lease_owner()
    try:
        return asyncio.run(_run(settings, operation_id, owner))
    except OperationBusy as busy:
        logger.info("%s; sent again to run in %.1f s", busy, busy.retry_after)
        task.apply_async(args=[str(operation_id)], countdown=busy.retry_after)
        return "busy"
    except SoftTimeLimitExceeded:
        logger.error("operation %s: stopped at the soft time limit", operation_id)
        _fail(settings, operation_id, owner,
              f"stopped: the job ran past its time limit of {settings.job_soft_time_limit:g} s "
              "(CHUNKYARD_JOB_SOFT_TIME_LIMIT)")
        return "failed"
    except Exception as exc:
        if not is_transient(exc):
            # A bug: the job failed the operation if it got as far as running it (this does
            # nothing then); the traceback goes to the worker's log.
            _fail(settings, operation_id, owner, f"{type(exc).__name__}: {exc}")
            raise
        retries = int(task.request.retries or 0)
        reason = f"{type(exc).__name__}: {exc}"
        if retries >= settings.job_max_retries:
            logger.error("operation %s: giving up after %d retries: %s", operation_id,
                         retries, reason)
            _fail(settings, operation_id, owner, f"gave up after {retries} retries: {reason}")
            return "failed"
        countdown = backoff(retries)
        logger.warning("operation %s: %s; retry %d of %d in %.1f s", operation_id, reason,
                       retries + 1, settings.job_max_retries, countdown)
        raise task.retry(exc=exc, countdown=countdown) from exc


def backoff(retries: int) -> float:
    """Seconds before retry number `retries + 1`."""
    return min(RETRY_BACKOFF_MAX, RETRY_BACKOFF * 2.0**retries) * random.uniform(0.5, 1.0)


def _hand_back(exc: BaseException) -> bool:
    """The errors the job leaves to the task: transient ones, and the soft time limit."""
    return isinstance(exc, SoftTimeLimitExceeded) or is_transient(exc)


async def _run(settings: Settings, operation_id: uuid.UUID, owner: str) -> str:
    bus = RedisProgressBus.from_url(settings.redis_url) if settings.redis_url else None
    try:
        return await run_operation(settings, operation_id, bus=bus, owner=owner,
                                   reraise=_hand_back)
    finally:
        if bus is not None:
            await bus.close()


def _fail(settings: Settings, operation_id: uuid.UUID, owner: str, message: str) -> None:
    """Fail the operation (unless another job has taken it over); best effort."""

    async def fail() -> None:
        bus = RedisProgressBus.from_url(settings.redis_url) if settings.redis_url else None
        try:
            await fail_operation(settings, operation_id, message, owner=owner, bus=bus)
        finally:
            if bus is not None:
                await bus.close()

    try:
        asyncio.run(fail())
    except Exception:
        logger.exception("operation %s: could not record its failure", operation_id)
