"""The app's chunking processes: a pool that runs blocking chunking functions off the event
loop, used by previews and compares and, in the embedded mode, by jobs.

Worker processes (one per CPU) so that chunking uses every core and never competes with the
event loop for the GIL. Where processes cannot be started, the pool runs the same functions
in threads. The restart logic is ours, not a library's: loky's reusable executor also
starts new workers after one died, but it is one executor per process (each app here owns its
pool and stops it alone, and the tests run several apps in one process), the request a dying
worker held still fails (here it is tried once more), and it neither falls back to threads
when processes never start nor stops workers within a grace period; `concurrent.futures`
does none of these either.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import anyio

from chunkyard.chunking.work import run_preview
from chunkyard.kit.child_process import memory_message, prepare_child, ran_out_of_memory
from chunkyard.kit.errors import PayloadTooLarge, Unavailable

logger = logging.getLogger("chunkyard.api")

T = TypeVar("T")

# Chunking threads at once (beyond these, previews wait): anyio's shared default pool of 40
# stays free for everything else that needs a thread. One limiter per app, made in its
# lifespan (a limiter belongs to one event loop).
CHUNKING_THREADS = max(2, os.cpu_count() or 2)

# How long shutdown waits for a worker to finish the preview it is computing before it is
# terminated.
SHUTDOWN_GRACE_SECONDS = 10.0


def cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _init_worker(server: int, memory_mb: int) -> None:
    """In each worker process: leave Ctrl-C to the server (which stops the pool), end with the
    server (`server`, its pid: it may die before this runs) however it ends, live under the
    memory cap, and load the tokenizer and the chunking code before the first real preview."""
    prepare_child(server, memory_mb)
    try:
        run_preview("Warm up. The tokenizer loads once per process.", None, "recursive", {})
    except Exception:  # the preview that needs it will say what is wrong
        logger.warning("chunking pool: the worker's warm-up failed", exc_info=True)


def _ready() -> int:
    return os.getpid()


# Worker sets that fail to start one after another before the pool gives up on processes.
MAX_START_FAILURES = 3


class _Workers:
    """One set of worker processes, and the warm-up task each ran first."""

    def __init__(self, executor: ProcessPoolExecutor, warm: list[Future[int]]) -> None:
        self.executor = executor
        self.warm = warm
        self.ready = False


class ChunkingPool:
    """Runs blocking chunking functions off the event loop: in worker processes, or in
    threads (bounded by `limiter`) when processes cannot be started or `processes` is False.

    Workers are started with "spawn" (forking a server with live threads is unsafe) when the
    pool is made, and load the tokenizer in the background; work waits for them to be ready.
    If they cannot start (their warm-up fails, `MAX_START_FAILURES` times in a row, before any
    work was given to them), the pool uses threads from then on. A worker that dies later
    (killed, out of memory, or a crash in what it ran) breaks its set: a new set is started,
    and the work that was running is tried once more there before failing with 503.
    """

    def __init__(
        self,
        limiter: anyio.CapacityLimiter,
        *,
        workers: int | None = None,
        processes: bool = True,
        memory_mb: int = 0,
    ) -> None:
        self.limiter = limiter
        self.workers = workers or cpu_count()
        self.memory_mb = memory_mb
        self._current: _Workers | None = None
        self._start_failures = 0
        self._lock = threading.Lock()
        if processes:
            self._current = self._start()

    @property
    def uses_processes(self) -> bool:
        return self._current is not None

    def pids(self) -> list[int]:
        """The worker processes' ids (empty in thread mode)."""
        current = self._current
        procs = getattr(current.executor, "_processes", None) if current else None
        return sorted(int(pid) for pid in procs or {})

    def _start(self) -> _Workers | None:
        try:
            executor = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(os.getpid(), self.memory_mb),
            )
            # One task per worker: each finds no idle worker and starts one more.
            warm = [executor.submit(_ready) for _ in range(self.workers)]
        except Exception as exc:  # no semaphores, no fork/exec, resource limits...
            logger.warning("chunking pool: worker processes cannot be started, using "
                           "threads: %r", exc)
            return None
        return _Workers(executor, warm)

    def _replace(self, broken: _Workers, *, started: bool) -> None:
        """After `broken` broke: new workers, or threads after too many failed starts."""
        with self._lock:
            if self._current is not broken:
                return  # replaced already, by whoever saw it break first
            self._start_failures = 0 if started else self._start_failures + 1
            if self._start_failures >= MAX_START_FAILURES:
                logger.warning("chunking pool: worker processes do not start; using threads")
                self._current = None
            else:
                logger.warning("chunking pool: %s; starting new workers",
                               "a worker process died" if started else "the workers did not start")
                self._current = self._start()
        broken.executor.shutdown(wait=False, cancel_futures=True)

    async def _wait_ready(self, workers: _Workers) -> bool:
        """Wait for `workers` to be up; False if they broke while starting (replaced)."""
        if workers.ready:
            return True
        try:
            # Shielded: a cancelled request must not cancel the shared warm-up tasks.
            await asyncio.shield(asyncio.gather(*map(asyncio.wrap_future, workers.warm)))
        except BrokenProcessPool:
            self._replace(workers, started=False)
            return False
        workers.ready = True
        return True

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in a worker process (or a thread); its result, or what it raised."""
        retried = False
        while True:
            workers = self._current
            if workers is None:
                return await anyio.to_thread.run_sync(fn, *args, limiter=self.limiter)
            if not await self._wait_ready(workers):
                continue
            try:
                return await asyncio.wrap_future(
                    workers.executor.submit(_in_worker, fn, self.memory_mb, *args))
            except MemoryError:
                raise self._too_big() from None
            except BrokenProcessPool:
                self._replace(workers, started=True)
                if retried:
                    if self.memory_mb:  # twice: most likely the request, not bad luck
                        raise self._too_big() from None
                    raise Unavailable(
                        "the chunking worker stopped while computing this request; try again",
                        code="chunking_unavailable",
                    ) from None
                retried = True
            except RuntimeError as exc:  # submitted just as a broken set was shut down
                if "shutdown" not in str(exc) or self._current is workers:
                    raise

    def _too_big(self) -> PayloadTooLarge:
        """A request that needs more than a worker's memory cap (its worker raised
        `MemoryError`, or died twice on it: native code aborts when an allocation fails)."""
        return PayloadTooLarge(memory_message(self.memory_mb, "this request"),
                               code="needs_more_memory")

    async def shutdown(self) -> None:
        """Stop the workers (each finishes the preview it is on, for up to a grace period);
        no child process is left."""
        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            await anyio.to_thread.run_sync(_stop, current.executor, SHUTDOWN_GRACE_SECONDS)


def _stop(executor: ProcessPoolExecutor, grace: float) -> None:
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            logger.warning("chunking pool: terminating worker %s", process.pid)
            process.terminate()
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join()
    executor.shutdown(wait=True)


def _in_worker(fn: Callable[..., T], memory_mb: int, *args: Any) -> T:
    """`fn(*args)` in a worker process, with the cap reached said as `MemoryError` (which the
    pool answers with 413): a Rust tokenizer panics where an allocation fails, and its
    PanicException cannot even be sent back (its class cannot be pickled), which answered a
    30 MB preview with 500."""
    try:
        return fn(*args)
    except BaseException as exc:
        if not isinstance(exc, MemoryError) and ran_out_of_memory(exc, memory_mb):
            raise MemoryError(str(exc)) from None
        if type(exc).__name__ == "PanicException":  # no cap: said as it is, and sendable
            raise RuntimeError(f"the tokenizer failed: {exc}") from None
        raise
