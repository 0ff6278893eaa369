"""Chunking previews: run a configuration on a text or a stored document off the event loop,
with a per-user cache held in process or, when Redis is configured, in Redis.

The cache key is (content, strategy, canonical params, chunker version): for a text its
sha256 and the optional filename, for a stored document its content sha256 and its filename
(the name picks the extractor, so the same bytes named `.md` and `.txt` chunk differently).
Canonical means the validated parameters with every default filled in, so `{}` and
`{"chunk_size": 512}` share an entry. Entries hold every chunk (the response slices to
`max_chunks`). Entries are per user so that `cached: true` never tells one user what another
has previewed: in process, bounded per user by characters held and by count, least recently
used first out; in Redis, under `chunkyard:preview:{user_id}:{key}` with a TTL.

A preview of a stored document is read, extracted and chunked by `documents.chunking`, the
code a chunking job runs, so it is exactly what a job would store for the document.

Previews and comparisons are computed in a `ChunkingPool`: worker processes (one per CPU),
so that chunking uses every core and never competes with the event loop for the GIL. The
work functions (`run_preview`, `run_document_preview`, `run_compare`) are plain module-level
functions of picklable arguments and results; they raise the same errors in a worker as in
process (domain errors keep their status and code through pickling). Where processes cannot
be started, the pool runs the same functions in threads.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import anyio
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

import chunkyard
from chunkyard.auth.service import Principal
from chunkyard.core.compare import SMALL_FRACTION, clean_end, compare, pick_recommendation
from chunkyard.core.pipeline import document_from_text
from chunkyard.core.registry import create_strategy
from chunkyard.core.types import Chunk, Document
from chunkyard.documents import blobs
from chunkyard.documents import service as documents_service
from chunkyard.documents.chunking import chunk_document, read_document
from chunkyard.documents.service import MAX_PREVIEW_CHARS, get_document
from chunkyard.extract import ExtractionError
from chunkyard.kit.errors import Conflict, Invalid, PayloadTooLarge, Unavailable

logger = logging.getLogger("chunkyard.api")

ENTRIES_PER_USER = 32
CHARS_PER_USER = 8_000_000
MAX_USERS = 256
REDIS_PREFIX = "chunkyard:preview"
REDIS_TTL_SECONDS = 3600
_FORMAT = 1  # bumped when the serialised form of a result changes


@dataclass(frozen=True, slots=True)
class PreviewResult:
    chunks: list[Chunk]
    metrics: dict[str, Any]

    @property
    def weight(self) -> int:
        return sum(len(c.text) for c in self.chunks) + 1

    def to_json(self) -> bytes:
        data = {"v": _FORMAT, "chunks": [c.to_dict() for c in self.chunks],
                "metrics": self.metrics}
        # A JSON text may hold lone surrogates; they round-trip through "surrogatepass".
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )

    @classmethod
    def from_json(cls, raw: bytes) -> PreviewResult:
        data = json.loads(raw.decode("utf-8", "surrogatepass"))
        if not isinstance(data, dict) or data.get("v") != _FORMAT:
            raise ValueError("not a preview result of this version")
        chunks = [
            Chunk(index=c["index"], text=c["text"], start=c["start"], end=c["end"],
                  tokens=c["tokens"], metadata=c["metadata"])
            for c in data["chunks"]
        ]
        return cls(chunks, dict(data["metrics"]))


def _digest(parts: list[Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def cache_key(text: str, filename: str | None, strategy: str, params: dict[str, Any]) -> str:
    """The cache key of a preview of `text` (the owner is the cache's other key)."""
    content = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return _digest(["text", content, filename or "", strategy, params, chunkyard.__version__])


def document_cache_key(
    content_sha256: str, filename: str, strategy: str, params: dict[str, Any]
) -> str:
    """The cache key of a preview of a stored document (the owner is the cache's other key)."""
    return _digest(
        ["document", content_sha256, filename, strategy, params, chunkyard.__version__]
    )


# -- caches -----------------------------------------------------------------------------------


class PreviewCache(Protocol):
    """Where preview results are kept, per user. A cache never fails a preview: a backend
    error is a miss (get) or a no-op (put)."""

    async def get(self, user: uuid.UUID, key: str) -> PreviewResult | None: ...

    async def put(self, user: uuid.UUID, key: str, result: PreviewResult) -> None: ...


class _UserEntries:
    """One user's cached results, least recently used first, and the characters they hold."""

    __slots__ = ("entries", "held")

    def __init__(self) -> None:
        self.entries: OrderedDict[str, tuple[PreviewResult, int]] = OrderedDict()
        self.held = 0


class MemoryPreviewCache:
    """Per-user LRU caches of preview results, bounded per user and in number of users."""

    def __init__(
        self,
        entries_per_user: int = ENTRIES_PER_USER,
        chars_per_user: int = CHARS_PER_USER,
        max_users: int = MAX_USERS,
    ) -> None:
        self.entries_per_user = entries_per_user
        self.chars_per_user = chars_per_user
        self.max_users = max_users
        self._users: OrderedDict[uuid.UUID, _UserEntries] = OrderedDict()
        self._lock = threading.Lock()

    async def get(self, user: uuid.UUID, key: str) -> PreviewResult | None:
        with self._lock:
            cache = self._users.get(user)
            if cache is None or key not in cache.entries:
                return None
            self._users.move_to_end(user)
            cache.entries.move_to_end(key)
            return cache.entries[key][0]

    async def put(self, user: uuid.UUID, key: str, result: PreviewResult) -> None:
        # Weighed once: summing every held entry again on each put is quadratic.
        weight = result.weight
        if weight > self.chars_per_user:
            return
        with self._lock:
            cache = self._users.get(user)
            if cache is None:
                cache = self._users[user] = _UserEntries()
            self._users.move_to_end(user)
            replaced = cache.entries.pop(key, None)
            if replaced is not None:
                cache.held -= replaced[1]
            cache.entries[key] = (result, weight)
            cache.held += weight
            while (len(cache.entries) > self.entries_per_user
                   or cache.held > self.chars_per_user):
                _, (_, dropped) = cache.entries.popitem(last=False)
                cache.held -= dropped
            while len(self._users) > self.max_users:
                self._users.popitem(last=False)


class RedisClient(Protocol):
    """What the Redis cache needs of `redis.asyncio.Redis`."""

    async def get(self, name: str) -> Any: ...

    async def set(self, name: str, value: bytes, *, ex: int) -> Any: ...


class RedisPreviewCache:
    """Preview results in Redis, shared by every API process, expiring after `ttl` seconds.

    Redis evicts by TTL (and by its own memory policy), so there is no per-user bound here
    beyond the size of one entry.
    """

    def __init__(
        self,
        redis: RedisClient,
        *,
        ttl: int = REDIS_TTL_SECONDS,
        max_chars: int = CHARS_PER_USER,
        prefix: str = REDIS_PREFIX,
    ) -> None:
        self.redis = redis
        self.ttl = ttl
        self.max_chars = max_chars
        self.prefix = prefix

    def name(self, user: uuid.UUID, key: str) -> str:
        return f"{self.prefix}:{user}:{key}"

    async def get(self, user: uuid.UUID, key: str) -> PreviewResult | None:
        try:
            raw = await self.redis.get(self.name(user, key))
        except (RedisError, OSError) as exc:
            logger.warning("preview cache: Redis read failed, computing instead: %r", exc)
            return None
        if raw is None:
            return None
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        try:
            # Megabytes of JSON: parsed in a thread, not on the event loop.
            return await anyio.to_thread.run_sync(PreviewResult.from_json, data)
        except (ValueError, KeyError, TypeError) as exc:
            logger.warning("preview cache: dropping an unreadable entry: %r", exc)
            return None

    async def put(self, user: uuid.UUID, key: str, result: PreviewResult) -> None:
        if result.weight > self.max_chars:
            return
        data = await anyio.to_thread.run_sync(result.to_json)
        try:
            await self.redis.set(self.name(user, key), data, ex=self.ttl)
        except (RedisError, OSError) as exc:
            logger.warning("preview cache: Redis write failed: %r", exc)


def make_preview_cache(redis: RedisClient | None) -> PreviewCache:
    """The app's preview cache: in Redis when the app has a Redis client, else in process."""
    if redis is not None:
        return RedisPreviewCache(redis)
    return MemoryPreviewCache()


# -- stored documents -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """What a preview needs of a stored document: where its file is, its name and digest,
    and the longest text a preview of it takes (fixed where the request is served, so that a
    worker process applies the server's limit)."""

    id: uuid.UUID
    path: Path
    filename: str
    content_sha256: str
    max_chars: int = MAX_PREVIEW_CHARS


async def stored_document(
    session: AsyncSession, owner: Principal, document_id: uuid.UUID, data_dir: Path
) -> StoredDocument:
    """The owner's document (NotFound for a missing one or someone else's)."""
    document = await get_document(session, owner, str(document_id))
    storage_path = document.storage_path or blobs.relative_blob_path(document.content_sha256)
    return StoredDocument(
        document.id, data_dir / storage_path, document.filename, document.content_sha256,
        documents_service.MAX_PREVIEW_CHARS,
    )


def load_stored_document(source: StoredDocument) -> Document:
    """Blocking: read and extract a stored document the way a chunking job does."""
    try:
        document = read_document(source.path, source.filename)
    except ExtractionError as exc:
        raise Invalid(f"document_id: {exc}", code="extraction_failed") from None
    except OSError as exc:
        raise Conflict(
            f"document_id: the stored file of document {source.id} cannot be read "
            f"({exc.strerror or type(exc).__name__})",
            code="document_unreadable",
        ) from None
    if len(document.text) > source.max_chars:
        raise PayloadTooLarge(
            f"document_id: the document's text is {len(document.text)} characters, more than "
            f"the {source.max_chars} a preview takes; chunk it with an operation instead",
        )
    return document


# -- running ----------------------------------------------------------------------------------


def _p95(sorted_counts: list[int]) -> int:
    if not sorted_counts:
        return 0
    return sorted_counts[max(math.ceil(0.95 * len(sorted_counts)), 1) - 1]


def _metrics(text: str, chunks: list[Chunk], cap: int, elapsed_ms: float) -> dict[str, Any]:
    """The metrics of `core.compare` for one configuration."""
    counts = sorted(c.tokens for c in chunks)
    n = len(counts)
    small = sum(1 for c in chunks if c.tokens < cap * SMALL_FRACTION)
    mid = sum(1 for c in chunks if not clean_end(text, c.end))
    return {
        "chunk_count": n,
        "tokens_mean": round(sum(counts) / n, 2) if n else 0.0,
        "tokens_min": counts[0] if n else 0,
        "tokens_max": counts[-1] if n else 0,
        "tokens_p95": _p95(counts),
        "small_share": round(small / n, 4) if n else 0.0,
        "mid_sentence_share": round(mid / n, 4) if n else 0.0,
        "time_ms": round(elapsed_ms, 3),
    }


def run_preview(
    text: str, filename: str | None, strategy: str, params: dict[str, Any]
) -> PreviewResult:
    """Chunk `text` (blocking, CPU-bound: call it in a worker thread) and measure the chunks."""
    built = create_strategy(strategy, params)
    doc = document_from_text(text, filename)
    started = time.perf_counter()
    chunks = list(built.chunks(doc))
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return PreviewResult(chunks, _metrics(text, chunks, built.params.chunk_size, elapsed_ms))


def run_document_preview(
    source: StoredDocument, strategy: str, params: dict[str, Any]
) -> PreviewResult:
    """Read, extract and chunk a stored document exactly as a job would (blocking: call it in a
    worker thread), and measure the chunks."""
    document = load_stored_document(source)
    # Built once up front so that loading the tokenizer is not timed, as for a text.
    cap = create_strategy(strategy, params).params.chunk_size
    started = time.perf_counter()
    chunks = chunk_document(document, {"strategy": strategy, "params": params})
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    return PreviewResult(chunks, _metrics(document.text, chunks, cap, elapsed_ms))


def run_compare(
    source: str | StoredDocument,
    filename: str | None,
    configs: list[dict[str, Any]],
    max_chunks: int | None,
) -> dict[str, Any]:
    """Chunk a text (named `filename`) or a stored document with each configuration and
    measure (blocking, CPU-bound): the body of a compare response."""
    if isinstance(source, StoredDocument):
        document = load_stored_document(source)
    else:
        document = document_from_text(source, filename)
    results = compare(document, configs, max_chunks=max_chunks)
    return {
        "results": [r.to_dict() for r in results],
        "recommendation": pick_recommendation(results).to_dict(),
    }


# -- the pool ----------------------------------------------------------------------------------

T = TypeVar("T")

# How long shutdown waits for a worker to finish the preview it is computing before it is
# terminated.
SHUTDOWN_GRACE_SECONDS = 10.0


def cpu_count() -> int:
    """The CPUs this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _init_worker() -> None:
    """In each worker process: leave Ctrl-C to the server (which stops the pool), and load
    the tokenizer and the chunking code before the first real preview."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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
    ) -> None:
        self.limiter = limiter
        self.workers = workers or cpu_count()
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
                return await asyncio.wrap_future(workers.executor.submit(fn, *args))
            except BrokenProcessPool:
                self._replace(workers, started=True)
                if retried:
                    raise Unavailable(
                        "the chunking worker stopped while computing this request; try again",
                        code="chunking_unavailable",
                    ) from None
                retried = True
            except RuntimeError as exc:  # submitted just as a broken set was shut down
                if "shutdown" not in str(exc) or self._current is workers:
                    raise

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
