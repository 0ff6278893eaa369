"""Job processes: where a chunking job extracts and chunks its documents, under the memory cap.

Both execution modes chunk here, with the same code: the embedded runner (in the API process)
and each Celery worker process keep a few of these child processes and give them one document
at a time; the job itself (`jobs.py`) stays where it is and stores what comes back. So:

- a document's memory is bounded: a child's address space is capped at
  `CHUNKYARD_OPERATION_MEMORY_MB` (`kit/child_process.py`). A document that needs more fails
  alone with a reason saying so (`memory_message`), whether the child raised `MemoryError`
  or died (a Rust or C++ allocation failure aborts); the child is replaced, the job goes on;
- the text and chunks of a large document never sit in the job's process: the child hands
  the chunks over in batches (`documents/chunking.py`), read one at a time, and the job stores
  them as they come (the pipe's buffer makes a child wait while its job writes);
- the API process does I/O only while an embedded job runs (its event loop and GIL are not
  slowed by chunking), and gives back its memory after a large job.

An evaluation embeds here too (`embed`): the `local` model's torch, and its memory, stay in
a capped child, never in the API process or a worker.

What goes over the pipe, parent to child: `(StoredFile, config)` per document, or
`("embed", spec, texts)` for texts to embed (answered `("vectors", float32 matrix)`), None to
stop.
Child to parent: `("warnings", ([...], characters, pages))` (the extraction's warnings, its
text's length, its page count or None), then `("batch", [Chunk, ...])` any number of times, then
`("done", peak)` (the child's peak resident memory in bytes over that document, or None where
the system cannot say; the parent records it in `document_memory_histogram`); or, at any
point, `("failed", sentence)` (it is ready for the next document) or
`("out_of_memory", sentence)` (it exits: its heap may be in pieces).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import anyio

from chunkyard.core.types import ChunkingError
from chunkyard.documents.chunking import FileChunks
from chunkyard.documents.stored import StoredFile
from chunkyard.kit.child_process import (
    OUT_OF_MEMORY_EXIT,
    child_environment,
    died_of_memory,
    memory_message,
    prepare_child,
    ran_out_of_memory,
)

if TYPE_CHECKING:
    from prometheus_client import Histogram

logger = logging.getLogger("chunkyard.worker")

# How long a child that was told to stop may take before it is killed.
STOP_GRACE_SECONDS = 5.0
# How long a child may go on with a document its job abandoned (stopped, timed out) before
# it is killed; within it, it is kept for the next document.
DRAIN_SECONDS = 5.0
# How long one wait for the child's next message lasts before it waits again.
POLL_SECONDS = 0.25


FAILED = ("failed", "out_of_memory")
MIB = 1024 * 1024
# Peak memory of a job process per document: from the bare process (about 100 MB with the
# tokenizer) to the cap's usual settings (500 MB by default, 2000 MB for the local model).
MEMORY_BUCKETS = tuple(float(mb * MIB) for mb in (
    64, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096))
_memory_histogram: Histogram | None = None


def document_memory_histogram() -> Histogram:
    """The peak memory of a job process per document, one per process (made when first
    needed: a job process itself never loads prometheus_client)."""
    global _memory_histogram
    if _memory_histogram is None:
        from prometheus_client import Histogram

        _memory_histogram = Histogram(
            "chunkyard_document_peak_memory_bytes",
            "Peak resident memory (RSS) of the job process while it extracted and chunked "
            "one document, for each document chunked (one that ran out of memory is counted "
            "in chunkyard_documents_failed instead).",
            buckets=MEMORY_BUCKETS,
            registry=None,
        )
    return _memory_histogram


class DocumentFailed(ChunkingError):
    """The document could not be extracted or chunked; the message says why, in a sentence."""


class JobProcess:
    """One child process (`python -m chunkyard.worker.job_process`) and our end of its pipe.

    A plain subprocess, not a `multiprocessing` one: a Celery pool process is a daemonic
    process, which `multiprocessing` forbids to have children; and its environment is set
    before it starts (one malloc arena per thread less, native thread pools of one)."""

    def __init__(self, memory_mb: int) -> None:
        ours, theirs = socket.socketpair()
        self.connection = Connection(ours.detach())
        self._theirs: socket.socket | None = theirs
        self.memory_mb = memory_mb
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        theirs = self._theirs
        assert theirs is not None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "chunkyard.worker.job_process", str(theirs.fileno()),
                 str(os.getpid()), str(self.memory_mb)],
                pass_fds=(theirs.fileno(),), env=child_environment(), stdin=subprocess.DEVNULL)
        finally:
            theirs.close()  # the child's now: EOF reaches us when it dies
            self._theirs = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_code(self, wait: float) -> int | None:
        """Its exit code once it has ended (waiting up to `wait` seconds), else None."""
        if self.process is None:
            return None
        try:
            return self.process.wait(wait)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, *, kill: bool = False) -> None:
        """End it: asked to (between documents), or killed (mid-document: its output is
        not wanted)."""
        if self.alive():
            assert self.process is not None
            if kill:
                self.process.kill()
            else:
                with suppress(OSError):
                    self.connection.send(None)
            if self.exit_code(STOP_GRACE_SECONDS) is None:
                self.process.kill()
                self.process.wait()
        self.connection.close()


class JobProcesses:
    """Up to `size` job processes, each chunking one document at a time: started ahead
    (`prestart`) or when first needed, and kept for the next document (and the next event
    loop: a Celery worker process makes a new loop after a task failed); one that ran out of
    memory, crashed, or was left mid-document (its job stopped) is replaced by a new one."""

    def __init__(self, memory_mb: int, size: int) -> None:
        self.memory_mb = memory_mb
        self.size = max(1, size)
        self.owner = os.getpid()  # a forked copy of this object is not the child's
        self._idle: list[JobProcess] = []
        self._busy: set[JobProcess] = set()
        self._draining: set[JobProcess] = set()
        self._lock = threading.Lock()  # the drain threads hand children back
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0  # processes started so far (tests, metrics)
        self.closed = False

    def pids(self) -> list[int]:
        """The live children's process ids."""
        with self._lock:
            every = [*self._idle, *self._busy, *self._draining]
        return sorted(p.pid for p in every if p.pid is not None)

    @asynccontextmanager
    async def chunk(self, source: StoredFile, config: dict[str, Any]) -> AsyncIterator[FileChunks]:
        """Chunk `source` in a child: its warnings, then its batches as the child makes them.
        Raises `DocumentFailed` with the reason (the memory cap, a crash, the document's own
        error) before or while the batches come."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop = asyncio.Semaphore(self.size), loop
        async with self._slots:
            process = await self._take()
            done = started = False
            stream: _Batches | None = None
            try:
                started = self._send(process, (source, config))
                kind, value = await self.receive(process)
                if kind in FAILED:
                    done, started = kind == "failed", False  # out of memory: it exits
                    raise DocumentFailed(value)
                stream = _Batches(self, process)
                warnings, chars, pages = value
                yield FileChunks(list(warnings), stream.batches(), chars, pages)
                done = stream.finished
            finally:
                self._busy.discard(process)
                if done and not self.closed and process.alive():
                    with self._lock:
                        self._idle.append(process)
                elif (not self.closed and started and process.alive()
                      and not (stream is not None and stream.exited)):
                    self._drain(process)  # left mid-document (its job stopped): kept warm
                else:  # dead or shutting down
                    process.stop(kill=True)
                    if not self.closed:
                        # Its replacement starts loading now (a second or so), not when the
                        # next document comes. Blocking, briefly: this may run as the job is
                        # cancelled, when awaiting is no longer possible.
                        self.prestart()

    async def embed(self, spec: Any, texts: list[str]) -> Any:
        """The embeddings (a float32 matrix, one row per text) of `texts` by the embedder
        `spec` names, computed in a child. Raises `DocumentFailed` with the reason (the
        memory cap, a crash, the model's own error)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            self._slots, self._loop = asyncio.Semaphore(self.size), loop
        async with self._slots:
            process = await self._take()
            kept = False
            try:
                self._send(process, ("embed", spec, texts))  # if it is gone, receive says how
                kind, value = await self.receive(process)
                kept = kind in ("vectors", "failed")
                if kind != "vectors":
                    raise DocumentFailed(str(value))
                return value
            finally:
                self._busy.discard(process)
                if kept and not self.closed and process.alive():
                    with self._lock:
                        self._idle.append(process)
                elif process.alive() and not self.closed:
                    self._drain(process)  # abandoned (its job stopped): kept if it answers
                else:
                    process.stop(kill=True)
                    if not self.closed:
                        self.prestart()

    def _drain(self, process: JobProcess) -> None:
        """Read what is left of the document a stopped job abandoned, in a thread, then keep
        the child for the next one (it is warm: a new one takes a second to load); one that
        does not finish within `DRAIN_SECONDS` is killed and replaced."""
        self._draining.add(process)

        def drain() -> None:
            deadline = time.monotonic() + DRAIN_SECONDS
            kept = False
            try:
                while (left := deadline - time.monotonic()) > 0:
                    if not process.connection.poll(left):
                        break
                    kind = process.connection.recv()[0]
                    if kind in ("done", "failed", "vectors"):
                        kept = True
                        break
                    if kind == "out_of_memory":
                        break
            except (EOFError, OSError):
                pass
            with self._lock:
                self._draining.discard(process)
                if kept and not self.closed:
                    self._idle.append(process)
                    return
            process.stop(kill=True)
            if not self.closed:
                self.prestart()

        threading.Thread(target=drain, daemon=True, name="chunkyard-job-drain").start()

    def prestart(self) -> None:
        """Start the processes now (blocking, briefly: they load in the background), so the
        first document does not wait a second for Python and the tokenizer."""
        while not self.closed:
            with self._lock:
                if len(self._idle) + len(self._busy) + len(self._draining) >= self.size:
                    return
            process = self._new_process()
            with self._lock:
                self._idle.append(process)

    async def _take(self) -> JobProcess:
        waited = 0.0
        while True:
            with self._lock:
                process = self._idle.pop() if self._idle else None
                draining = bool(self._draining)
            if process is not None:
                if process.alive():
                    self._busy.add(process)
                    return process
                process.stop(kill=True)  # died while idle (killed from outside)
                continue
            if not draining or waited > DRAIN_SECONDS:
                break
            await asyncio.sleep(0.02)  # a warm child finishing an abandoned document
            waited += 0.02
        process = await anyio.to_thread.run_sync(self._new_process)
        self._busy.add(process)
        return process

    def _new_process(self) -> JobProcess:
        process = JobProcess(self.memory_mb)
        process.start()
        self.started += 1
        return process

    @staticmethod
    def _send(process: JobProcess, request: Any) -> bool:
        """Give the child a document; False if it is gone (receiving says how)."""
        try:
            process.connection.send(request)
        except OSError:
            return False
        return True

    async def receive(self, process: JobProcess) -> tuple[str, Any]:
        """The child's next message; `DocumentFailed` with the reason if it died instead.

        Waits in short polls (abandoned when the job is cancelled: a poll reads nothing, so the
        drain may read next), then reads the message, which the child writes in one go. Not
        the event loop's reader: uvloop would make the pipe non-blocking under `recv`."""
        connection = process.connection
        try:
            while not await anyio.to_thread.run_sync(connection.poll, POLL_SECONDS,
                                                     abandon_on_cancel=True):
                pass
            message = await anyio.to_thread.run_sync(connection.recv)
        except (EOFError, OSError):
            code = await anyio.to_thread.run_sync(process.exit_code, STOP_GRACE_SECONDS)
            if died_of_memory(code):
                raise DocumentFailed(memory_message(self.memory_mb)) from None
            raise DocumentFailed(
                f"the chunking process stopped while chunking this document (exit code "
                f"{code})") from None
        kind, value = message
        return str(kind), value

    async def close(self) -> None:
        """Stop every idle child (a busy one is stopped by its job as it ends)."""
        await anyio.to_thread.run_sync(self.close_now)

    def close_now(self) -> None:
        """`close`, blocking (at a process's exit)."""
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
            draining = list(self._draining)
        for process in idle:
            process.stop()
        for process in draining:  # their drain thread ends at the EOF
            process.stop(kill=True)


class _Batches:
    """The batches of one document, read from its child until it says it is done."""

    def __init__(self, owner: JobProcesses, process: JobProcess) -> None:
        self.owner = owner
        self.process = process
        self.finished = False
        self.exited = False  # the child ran out of memory, or died

    async def batches(self) -> AsyncIterator[list[Any]]:
        while True:
            try:
                kind, value = await self.owner.receive(self.process)
            except DocumentFailed:
                self.exited = True
                raise
            if kind == "batch":
                yield value
            elif kind == "done":
                self.finished = True
                if isinstance(value, int):
                    _record_memory(value)
                return
            else:
                self.finished = kind == "failed"
                self.exited = kind == "out_of_memory"
                raise DocumentFailed(str(value))


def _record_memory(peak: int) -> None:
    """Observe a document's peak memory; a metric never fails a document (a missing
    PROMETHEUS_MULTIPROC_DIR is said in the log, once per process)."""
    global _memory_unrecorded
    try:
        document_memory_histogram().observe(peak)
    except OSError as exc:
        if not _memory_unrecorded:
            _memory_unrecorded = True
            logger.warning("job processes: cannot record memory metrics: %s", exc)


_memory_unrecorded = False


# -- in the child ---------------------------------------------------------------------------


def serve(connection: Connection, parent: int, memory_mb: int) -> None:
    """A child's life: cap itself, load the default strategies and tokenizer, then chunk one
    document after another until told to stop (or its parent is gone)."""
    prepare_child(parent, memory_mb)
    try:
        from chunkyard.documents.chunking import chunk_file_batches, warm_up
        from chunkyard.worker.policy import document_error
    except MemoryError:  # a cap too small to load the chunker at all: the parent says so
        os._exit(OUT_OF_MEMORY_EXIT)

    try:
        warm_up()
    except Exception:  # the first document says what is wrong
        logger.warning("job process: the warm-up failed", exc_info=True)
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        if request[0] == "embed":
            if not _embed(connection, request[1], request[2], memory_mb):
                return
            continue
        source, config = request
        batches: Iterator[list[Any]] | None = None
        measured = _reset_peak_memory()
        try:
            extracted, batches = chunk_file_batches(source, config)
            connection.send(("warnings", (extracted.warnings, extracted.chars,
                                          extracted.pages)))
            for batch in batches:
                connection.send(("batch", batch))
            connection.send(("done", _peak_memory() if measured else None))
        except (BrokenPipeError, ConnectionResetError):
            return  # the job stopped wanting this document
        except BaseException as exc:
            # pyo3's PanicException (a tokenizer written in Rust) is a BaseException.
            if not isinstance(exc, Exception) and type(exc).__name__ != "PanicException":
                raise
            batches = batch = None  # freed before we speak
            if ran_out_of_memory(exc, memory_mb):
                _say(connection, ("out_of_memory", memory_message(memory_mb)))
                os._exit(OUT_OF_MEMORY_EXIT)  # the process is replaced, its heap may be in pieces
            _say(connection, ("failed", document_error(exc) if isinstance(exc, Exception) else
                              f"the tokenizer failed on this document: {exc}"))


def _embed(connection: Connection, spec: Any, texts: list[str], memory_mb: int) -> bool:
    """Answer one embedding request; False once the parent is gone."""
    try:
        import numpy as np

        from chunkyard.embedding import get_embedder

        vectors = np.asarray(get_embedder(spec).embed(texts), dtype=np.float32)
        connection.send(("vectors", vectors))
    except (BrokenPipeError, ConnectionResetError):
        return False
    except Exception as exc:
        vectors = None
        if ran_out_of_memory(exc, memory_mb):
            _say(connection, ("out_of_memory", memory_message(memory_mb)))
            os._exit(OUT_OF_MEMORY_EXIT)
        _say(connection, ("failed", f"the embedding model failed: {_sentence(exc)}"))
    return True


def _sentence(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


_HIGH_WATER = re.compile(rb"VmHWM:\s+(\d+) kB")


def _reset_peak_memory() -> bool:
    """Start measuring this process's peak memory anew (Linux: writing 5 to clear_refs resets
    VmHWM to the current RSS); False where it cannot."""
    try:
        with open("/proc/self/clear_refs", "wb", buffering=0) as refs:
            refs.write(b"5")
    except OSError:
        return False
    return True


def _peak_memory() -> int | None:
    """This process's peak resident memory in bytes since `_reset_peak_memory`."""
    try:
        with open("/proc/self/status", "rb") as status:
            found = _HIGH_WATER.search(status.read())
    except OSError:
        found = None
    if found is not None:
        return int(found.group(1)) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 or None  # since start


def _say(connection: Connection, message: tuple[str, Any]) -> None:
    with suppress(OSError):
        connection.send(message)


if __name__ == "__main__":  # a job process, started by `JobProcess.start`
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s job process: %(message)s")
    serve(Connection(int(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3]))
