"""Job runners: where an operation's job runs once the request that created it has committed.

`mode.py` picks one from the settings; both have `start(operation_id)` and `shutdown()`:

- `CeleryRunner`, when a broker is configured (`CHUNKYARD_REDIS_URL`, or
  `CHUNKYARD_BROKER_URL`): `start` sends the Celery task (see `tasks.py`) to the queue that
  `chunkyard worker` processes consume. If the broker cannot be reached, the operation fails
  with a message saying so rather than staying pending (and blocking its collection) for ever.
- `OperationRunner` otherwise: the job runs as an asyncio task on the app's event loop, its
  parts one after another (`run_operation`) and its documents chunked in the capped job
  processes (`job_process.py`, as in a Celery worker), so the event loop only does I/O.

Resuming (the leases on operation parts, see `jobs.py`, make it safe: a part another live
job holds is never run twice). On start the in-process runner resumes every operation left
pending or running by a process that stopped or crashed; a part whose lease has not expired
yet is tried again when it would (its holder may be alive, e.g. another process on the same
database). While it runs, it sweeps (`sweeper.py`, as every `chunkyard worker` does): a part
whose lease expired since is taken over within `job_sweep_seconds`. On shutdown it cancels
its jobs: a thread that is chunking a document finishes that document first, its chunks are
not stored, and each job releases its lease, so the next start resumes them at once. The
Celery runner re-sends, on start, the running parts whose lease has expired and operations
left running without parts by revision 0003's job; the workers' sweepers do the rest.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import anyio
from sqlalchemy import select

from chunkyard.chunking.pool import cpu_count
from chunkyard.operations.events import ProgressBus
from chunkyard.operations.lease import db_now, lease_is_free
from chunkyard.operations.queue import JobRunner
from chunkyard.settings import Settings
from chunkyard.storage.models import Operation, OperationPart, OperationStatus, PartStatus
from chunkyard.worker.evaluation_job import Embed
from chunkyard.worker.job_process import JobProcesses
from chunkyard.worker.jobs import (
    Chunker,
    SessionFactory,
    fail_operation,
    process_chunker,
    process_embed,
    run_operation,
    warm_up,
)
from chunkyard.worker.sweeper import sweep_forever

logger = logging.getLogger("chunkyard.worker")


async def start_embedded_runner(
    settings: Settings,
    session_factory: SessionFactory,
    limiter: anyio.CapacityLimiter | None = None,
    bus: ProgressBus | None = None,
    processes: JobProcesses | None = None,
) -> OperationRunner:
    """The in-process runner (see `mode.py`); it resumes what was left behind in the
    background (the app starts, and answers /readyz, even while its database is down), and
    sweeps for parts whose job died while it runs. Its jobs chunk in `processes` (default:
    as many capped job processes as there are CPUs), which it stops at shutdown."""
    if processes is None:
        processes = JobProcesses(settings.operation_memory_mb, cpu_count())
    runner = OperationRunner(settings, session_factory, limiter, bus=bus,
                             chunker=process_chunker(processes),
                             embed=process_embed(processes),
                             slots=RUNNING_PER_PROCESS * cpu_count())
    runner.processes = processes
    runner.resuming = asyncio.create_task(_resume(runner, warm=True), name="resume-operations")

    async def requeue(operation_id: uuid.UUID, _part: uuid.UUID) -> None:
        await runner.start(operation_id)

    runner.sweeping = asyncio.create_task(
        sweep_forever(session_factory, settings, requeue), name="lease-sweeper")
    return runner


async def start_celery_runner(
    settings: Settings, session_factory: SessionFactory, bus: ProgressBus | None = None
) -> CeleryRunner:
    """The runner that queues jobs for `chunkyard worker`s; it re-sends lost work in the
    background (the workers' sweepers do the rest)."""
    runner = CeleryRunner(settings, session_factory, bus)
    runner.resuming = asyncio.create_task(_resume(runner, warm=False), name="resume-operations")
    return runner


async def _resume(runner: JobRunner, *, warm: bool) -> None:
    if warm:  # jobs run in this process: load what they need before the first one comes
        try:
            await anyio.to_thread.run_sync(warm_up)
        except Exception:
            logger.warning("could not load the chunking strategies", exc_info=True)
    try:
        await runner.resume()
    except Exception:
        logger.warning("could not look for unfinished operations", exc_info=True)


async def unfinished_operations(session_factory: SessionFactory) -> list[uuid.UUID]:
    """Pending and running operations, oldest first."""
    async with session_factory() as session:
        found = await session.scalars(
            select(Operation.id)
            .where(Operation.status.in_((OperationStatus.PENDING, OperationStatus.RUNNING)))
            .order_by(Operation.id)
        )
        return list(found.all())


async def lost_work(session_factory: SessionFactory) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """What no live job runs and no message may be left for: running operations without
    parts (left by revision 0003's job), and the running parts of running operations whose
    lease is free (their job died); oldest first."""
    async with session_factory() as session:
        now = await db_now(session)
        running = Operation.status == OperationStatus.RUNNING
        operations = await session.scalars(
            select(Operation.id)
            .where(running, ~select(OperationPart.id)
                   .where(OperationPart.operation_id == Operation.id).exists())
            .order_by(Operation.id)
        )
        parts = await session.scalars(
            select(OperationPart.id)
            .join(Operation, Operation.id == OperationPart.operation_id)
            .where(running, OperationPart.status == PartStatus.RUNNING, lease_is_free(now))
            .order_by(OperationPart.operation_id, OperationPart.number)
        )
        return list(operations.all()), list(parts.all())


# Operations the embedded runner runs at once per job process: one chunking while the other
# stores. The rest wait their turn holding nothing: a running part holds a database connection
# while it waits for a job process, and 100 users' operations at once took every connection of
# the pool, so requests waited the pool's 30 s for one and failed with 503.
RUNNING_PER_PROCESS = 2


class OperationRunner:
    """Runs operations as tasks on the app's event loop; one task per operation, at most
    `slots` of them running at once (the others wait, pending, in the order they came)."""

    def __init__(
        self,
        settings: Settings,
        session_factory: SessionFactory,
        limiter: anyio.CapacityLimiter | None = None,
        bus: ProgressBus | None = None,
        chunker: Chunker | None = None,
        embed: Embed | None = None,
        slots: int | None = None,
    ) -> None:
        self.settings = settings
        self.slots = asyncio.Semaphore(slots) if slots else None
        self.session_factory = session_factory
        self.limiter = limiter
        self.bus = bus
        self.chunker = chunker
        self.embed = embed
        self.tasks: dict[uuid.UUID, asyncio.Task[str]] = {}
        self.resuming: asyncio.Task[None] | None = None
        self.sweeping: asyncio.Task[None] | None = None
        self.again: set[uuid.UUID] = set()
        self.processes: JobProcesses | None = None
        self.closed = False

    async def start(self, operation_id: uuid.UUID) -> None:
        """Schedule the operation's job (its row must be committed already). A coroutine so
        that it is called on the event loop that owns the tasks (e.g. as a background task)."""
        if self.closed:
            return
        if operation_id in self.tasks:
            # Its job may be on its way out (e.g. it just lost a part to the sweeper): run
            # the operation once more when it ends, so the part is not left waiting.
            self.again.add(operation_id)
            return
        task = asyncio.create_task(self._run(operation_id), name=f"operation-{operation_id}")
        self.tasks[operation_id] = task
        task.add_done_callback(lambda done: self._forget(operation_id, done))

    async def resume(self) -> None:
        stale = await unfinished_operations(self.session_factory)
        if stale:
            logger.info("resuming %d unfinished operations", len(stale))
        for operation_id in stale:
            await self.start(operation_id)

    async def _run(self, operation_id: uuid.UUID) -> str:
        if self.slots is None:
            return await self._run_now(operation_id)
        async with self.slots:
            return await self._run_now(operation_id)

    async def _run_now(self, operation_id: uuid.UUID) -> str:
        return await run_operation(
            self.settings, operation_id,
            session_factory=self.session_factory, limiter=self.limiter, bus=self.bus,
            chunker=self.chunker,
            embed=self.embed,
        )

    def _forget(self, operation_id: uuid.UUID, task: asyncio.Task[str]) -> None:
        self.tasks.pop(operation_id, None)
        if not task.cancelled() and task.exception() is not None:
            logger.error("operation %s: job crashed", operation_id, exc_info=task.exception())
        if operation_id in self.again:
            self.again.discard(operation_id)
            if not self.closed and not task.cancelled():
                asyncio.get_running_loop().create_task(self.start(operation_id))

    async def join(self) -> None:
        """Wait for every scheduled job (tests, graceful drains)."""
        while self.tasks:
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def shutdown(self) -> None:
        """Cancel the running jobs; they release their leases for the next start."""
        self.closed = True
        await _stop(self.resuming)
        await _stop(self.sweeping)
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self.processes is not None:
            await self.processes.close()


class CeleryRunner:
    """Sends operations to Celery workers (`chunkyard worker`) through the broker."""

    def __init__(
        self,
        settings: Settings,
        session_factory: SessionFactory,
        bus: ProgressBus | None = None,
        app: Any = None,
    ) -> None:
        from chunkyard.worker.celery_app import create_celery_app

        self.settings = settings
        self.session_factory = session_factory
        self.bus = bus
        self.app = app if app is not None else create_celery_app(settings)
        self.resuming: asyncio.Task[None] | None = None

    async def start(self, operation_id: uuid.UUID) -> None:
        try:
            await self._send(operation_id)
        except Exception as exc:
            logger.exception("operation %s: could not queue its job", operation_id)
            await fail_operation(
                self.settings, operation_id,
                f"the job could not be queued (broker unreachable: {type(exc).__name__}: {exc})",
                session_factory=self.session_factory, bus=self.bus,
            )

    async def resume(self) -> None:
        operations, parts = await lost_work(self.session_factory)
        if operations or parts:
            logger.info("re-sending %d operations and %d parts whose worker was lost",
                        len(operations), len(parts))
        try:
            for operation_id in operations:
                await self._send(operation_id)
            for part_id in parts:
                await self._send(part_id, part=True)
        except Exception:  # the broker is down: its workers will not run anything either
            logger.warning("could not re-send lost work", exc_info=True)

    async def _send(self, job_id: uuid.UUID, *, part: bool = False) -> None:
        from chunkyard.worker.tasks import PART_TASK_NAME, TASK_NAME

        name = PART_TASK_NAME if part else TASK_NAME
        # Publishing is blocking network I/O (kombu): off the event loop.
        await anyio.to_thread.run_sync(
            lambda: self.app.send_task(name, args=[str(job_id)], queue=self.settings.queue)
        )

    async def shutdown(self) -> None:
        await _stop(self.resuming)
        await anyio.to_thread.run_sync(self.app.close)


async def _stop(task: asyncio.Task[None] | None) -> None:
    if task is not None and not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
