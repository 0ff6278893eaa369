"""The Celery tasks that run chunking jobs (see `jobs.py`) on an event loop, a database engine
and a progress bus (see `mode.py`) that each worker process keeps from one task to the next:

- `chunkyard.run_operation(operation_id)` plans the operation and sends one
  `chunkyard.run_part(part_id)` per part, so every worker process takes parts from the queue.
  A second delivery sends the parts not finished yet again (their leases turn duplicates away);
- `chunkyard.run_part(part_id)` runs one part.
- `chunkyard.maintenance(name, scheduled)` runs a maintenance task
  (`maintenance/tasks.py: run_task`), sent by `chunkyard scheduler` (Celery beat).

What a task does with what its job hands back is `policy.decide`'s verdict, the same one the
embedded runner follows: `PartBusy` is sent again to run once the other lease could have
expired (a part whose worker died is taken over, a live one never runs twice); a transient
error is retried (Celery's `retry`, with the policy's backoff) up to `CHUNKYARD_JOB_MAX_RETRIES`
times, then the operation is failed; bugs and bad input fail the operation with the error's
message (a bad document fails only itself). Past the soft time limit (of one task: planning,
or one part) the operation is failed with a message saying so.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from celery.exceptions import SoftTimeLimitExceeded  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from chunkyard.kit.transient import is_transient
from chunkyard.operations.events import ProgressBus
from chunkyard.operations.lease import SessionFactory, new_lease_owner
from chunkyard.settings import Settings
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.worker.evaluation_job import Embed
from chunkyard.worker.job_process import JobProcesses
from chunkyard.worker.jobs import (
    Chunker,
    PartBusy,
    fail_operation,
    fail_part,
    plan_operation,
    process_chunker,
    process_embed,
    run_part,
)
from chunkyard.worker.mode import ExecutionMode
from chunkyard.worker.policy import decide

logger = logging.getLogger("chunkyard.worker")

TASK_NAME = "chunkyard.run_operation"
PART_TASK_NAME = "chunkyard.run_part"
MAINTENANCE_TASK_NAME = "chunkyard.maintenance"
MAINTENANCE_TIME_LIMIT = 6 * 3600  # seconds: a REINDEX of a big table takes long
T = TypeVar("T")
Fail = Callable[[str], None]


def register_tasks(app: Any, settings: Settings) -> None:
    """Register the chunking tasks on `app`; they run with `settings`."""
    options: dict[str, Any] = {
        "bind": True, "ignore_result": True, "acks_late": True,
        "reject_on_worker_lost": True, "max_retries": settings.job_max_retries,
    }

    @app.task(name=TASK_NAME, **options)  # type: ignore[untyped-decorator]
    def run_operation_task(task: Any, operation_id: str) -> str:
        return execute(task, settings, operation_id)

    @app.task(name=PART_TASK_NAME, **options)  # type: ignore[untyped-decorator]
    def run_part_task(task: Any, part_id: str) -> str:
        return execute_part(task, settings, part_id)

    # Acknowledged on receipt: a maintenance run lost with its worker waits for its next
    # scheduled time (redelivered, a long REINDEX would outlast the visibility timeout).
    @app.task(  # type: ignore[untyped-decorator]
        name=MAINTENANCE_TASK_NAME, ignore_result=True, acks_late=False,
        soft_time_limit=MAINTENANCE_TIME_LIMIT, time_limit=MAINTENANCE_TIME_LIMIT + 300)
    def run_maintenance_task(name: str, scheduled: bool = True) -> str:
        return execute_maintenance(settings, name, scheduled)


def execute_maintenance(settings: Settings, name: str, scheduled: bool) -> str:
    """The maintenance task's body: `run_task`; a scheduled run only if still due (so two
    beats, or a manual run just before, never run one scheduled time twice)."""
    from chunkyard.maintenance.tasks import run_task_sync

    since = datetime.min.replace(tzinfo=UTC) if scheduled else None
    result = run_task_sync(name, settings, due_since=since)
    return f"{result.outcome}: {result.detail}"


def send_part(app: Any, settings: Settings, part_id: uuid.UUID) -> None:
    app.send_task(PART_TASK_NAME, args=[str(part_id)], queue=settings.queue)


def execute(task: Any, settings: Settings, raw_id: str) -> str:
    """The planning task's body: plan the operation, send its parts; what happened."""
    operation_id = _parse(raw_id, "an operation")
    if operation_id is None:
        return "invalid"

    def fail(message: str) -> None:
        _best_effort(f"operation {operation_id}", settings, lambda sessions, bus: fail_operation(
            settings, operation_id, message, session_factory=sessions, bus=bus))

    try:
        part_ids = _run(settings, lambda sessions, bus: plan_operation(
            settings, operation_id, session_factory=sessions, bus=bus))
        for part_id in part_ids:
            send_part(task.app, settings, part_id)
    except SoftTimeLimitExceeded:
        return _timed_out(settings, f"operation {operation_id}", fail)
    except Exception as exc:
        return _retry_or_fail(task, settings, exc, f"operation {operation_id}", fail)
    return f"{len(part_ids)} parts sent"


def execute_part(task: Any, settings: Settings, raw_id: str) -> str:
    """The part task's body; returns its operation's status (or what happened to the job)."""
    part_id = _parse(raw_id, "an operation part")
    if part_id is None:
        return "invalid"
    owner = new_lease_owner()

    def fail(message: str) -> None:
        _best_effort(f"part {part_id}", settings, lambda sessions, bus: fail_part(
            settings, part_id, message, owner=owner, session_factory=sessions, bus=bus))

    try:
        return _run(settings, lambda sessions, bus: run_part(
            settings, part_id, session_factory=sessions, bus=bus, owner=owner,
            reraise=_hand_back, chunker=_job_chunker(), embed=_job_embed()))
    except PartBusy as busy:
        verdict = decide(busy, 0, settings)
        logger.info("%s; sent again to run in %.1f s", verdict.message, verdict.delay)
        task.apply_async(args=[str(part_id)], countdown=verdict.delay)
        return "busy"
    except SoftTimeLimitExceeded:
        return _timed_out(settings, f"part {part_id}", fail)
    except Exception as exc:
        return _retry_or_fail(task, settings, exc, f"part {part_id}", fail)


def _job_chunker() -> Chunker:
    """The job processes of this worker process (called from inside `_run`)."""
    assert _process is not None
    return process_chunker(job_processes(_process.settings))


def _job_embed() -> Embed:
    """The job processes of this worker process, for an evaluation's embeddings."""
    assert _process is not None
    return process_embed(job_processes(_process.settings))


_job_processes: JobProcesses | None = None


def job_processes(settings: Settings) -> JobProcesses:
    """This worker process's capped job process (one: a pool process runs one task at a
    time), kept from task to task, and across the event loops of `_Process`."""
    global _job_processes
    if _job_processes is None or _job_processes.owner != os.getpid():
        _job_processes = JobProcesses(settings.operation_memory_mb, 1)
        atexit.register(_job_processes.close_now)
    return _job_processes


def _parse(raw_id: str, what: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw_id))
    except ValueError:
        logger.error("ignored a job for %r: not %s id", raw_id, what)
        return None


def _hand_back(exc: BaseException) -> bool:
    """The errors the job leaves to the task: transient ones, and the soft time limit."""
    return isinstance(exc, SoftTimeLimitExceeded) or is_transient(exc)


def _timed_out(settings: Settings, what: str, fail: Fail) -> str:
    logger.error("%s: stopped at the soft time limit", what)
    fail(f"stopped: the job ran past its time limit of {settings.job_soft_time_limit:g} s "
         "(CHUNKYARD_JOB_SOFT_TIME_LIMIT)")
    return "failed"


def _retry_or_fail(task: Any, settings: Settings, exc: Exception, what: str, fail: Fail) -> str:
    retries = int(task.request.retries or 0)
    verdict = decide(exc, retries, settings)
    if verdict.action == "fail":
        if not is_transient(exc):
            # A bug: the job failed the operation if it got as far as running it (this does
            # nothing then); the traceback goes to the worker's log.
            fail(verdict.message)
            raise exc
        logger.error("%s: %s", what, verdict.message)
        fail(verdict.message)
        return "failed"
    logger.warning("%s: %s; retry %d of %d in %.1f s", what, verdict.message, retries + 1,
                   settings.job_max_retries, verdict.delay)
    raise task.retry(exc=exc, countdown=verdict.delay) from exc


Job = Callable[[SessionFactory, ProgressBus | None], Awaitable[T]]


def _run(settings: Settings, job: Job[T]) -> T:
    """`job(sessions, bus)` on this worker process's event loop (see `_Process`)."""
    global _process
    if _process is None or _process.pid != os.getpid():
        _process = _Process(settings)  # the first task since the pool forked this process
    return _process.run(job)


class _Process:
    """What a worker process keeps from one task to the next: an event loop, and on it the
    database engine and the progress bus, so a part does not pay for new connections (and
    their first statements) each time. Any error that leaves a task closes them all, as
    `asyncio.run` would: the next task starts afresh."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.pid = os.getpid()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.engine: AsyncEngine | None = None
        self.sessions: SessionFactory | None = None
        self.bus: ProgressBus | None = None

    def run(self, job: Job[T]) -> T:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        task = self.loop.create_task(self._call(job))
        try:
            return self.loop.run_until_complete(task)
        except PartBusy:
            raise  # nothing was started
        except BaseException:
            # e.g. the soft time limit, raised wherever the loop was: the job is cancelled
            # (it releases its lease) before the loop and its connections go.
            self._close()
            raise

    async def _call(self, job: Job[T]) -> T:
        if self.sessions is None:
            self.engine = create_engine(self.settings)
            self.sessions = create_session_factory(self.engine)
        if self.bus is None:
            self.bus = ExecutionMode(self.settings).worker_progress_bus()
        return await job(self.sessions, self.bus)

    def _close(self) -> None:
        loop, self.loop = self.loop, None
        if loop is None:
            return
        try:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*left, return_exceptions=True))
            loop.run_until_complete(self._disconnect())
            loop.run_until_complete(loop.shutdown_default_executor())
        except Exception:
            logger.warning("could not close the worker's connections", exc_info=True)
        finally:
            self.engine = self.sessions = self.bus = None
            loop.close()

    async def _disconnect(self) -> None:
        if self.bus is not None:
            await self.bus.close()
        if self.engine is not None:
            await self.engine.dispose()


_process: _Process | None = None


def _best_effort(what: str, settings: Settings, job: Job[bool]) -> None:
    """Record a failure (unless another job has taken the part over); never raises."""
    try:
        _run(settings, job)
    except Exception:
        logger.exception("%s: could not record its failure", what)
