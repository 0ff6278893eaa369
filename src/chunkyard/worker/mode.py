"""The execution mode: the one place that reads the settings to decide where jobs run, how their
progress travels and where previews are cached. `serve` (through the app's lifespan),
`worker` and the tests all build an `ExecutionMode` and ask it.

- **embedded** (no broker, the default): jobs run in the app's own runner (`runner.py`),
  chunking in the app's chunking processes; progress goes through an in-process bus.
- **celery** (`CHUNKYARD_BROKER_URL` or `CHUNKYARD_REDIS_URL`): the app queues jobs for
  `chunkyard worker` processes; progress travels on Redis pub/sub when Redis is configured,
  else on the broker itself (`operations/broker_bus.py`), so a WebSocket hears a worker's
  events as they happen in both cases.

The preview cache and the preview rate limit are in Redis whenever Redis is configured
(shared by every API process), else in process. Both queues run the same job code
(`jobs.py`) under one error policy (`policy.py`), and both sweep for parts whose worker
died (`sweeper.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import anyio

from chunkyard.chunking.cache import MemoryPreviewCache, PreviewCache, RedisPreviewCache
from chunkyard.chunking.pool import CHUNKING_THREADS, ChunkingPool
from chunkyard.limits.rate import MemoryRateLimiter, RateLimiter, rate_limiter
from chunkyard.operations.broker_bus import BrokerProgressBus
from chunkyard.operations.events import LocalProgressBus, ProgressBus, RedisProgressBus
from chunkyard.operations.lease import SessionFactory
from chunkyard.operations.queue import JobRunner
from chunkyard.settings import Settings

Mode = Literal["embedded", "celery"]


@dataclass
class AppServices:
    """What the app's routes use besides the database, made for one event loop (the app's)."""

    redis: Any
    preview_cache: PreviewCache
    progress_bus: ProgressBus
    chunking_limiter: anyio.CapacityLimiter
    chunking_pool: ChunkingPool
    job_queue: JobRunner
    # Previews and compares per user per minute: in Redis when it is set, else in process.
    rate_limiter: RateLimiter = field(default_factory=MemoryRateLimiter)

    async def close(self) -> None:
        """Stop the jobs first (they release their leases), then what they used."""
        await self.job_queue.shutdown()
        await self.chunking_pool.shutdown()
        await self.progress_bus.close()
        if self.redis is not None:
            await self.redis.aclose()


class ExecutionMode:
    """The mode `settings` ask for, and the services that go with it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.name: Mode = "celery" if settings.celery_broker_url else "embedded"

    @property
    def embedded(self) -> bool:
        return self.name == "embedded"

    def redis_client(self) -> Any:
        """An asyncio Redis client when Redis is configured (the caller closes it), else None."""
        if not self.settings.redis_url:
            return None
        from redis.asyncio import Redis

        return Redis.from_url(self.settings.redis_url, socket_connect_timeout=2,
                              socket_timeout=2)

    def preview_cache(self, redis: Any) -> PreviewCache:
        """Per-user capped by `max_preview_cache_bytes_per_user`, in Redis when it is set."""
        cap = self.settings.max_preview_cache_bytes_per_user
        if redis is not None:
            return RedisPreviewCache(redis, bytes_per_user=cap)
        return MemoryPreviewCache(chars_per_user=cap)

    def progress_bus(self, redis: Any = None) -> ProgressBus:
        """The bus an API process listens on (and, embedded, its jobs publish to)."""
        if redis is not None:
            return RedisProgressBus(redis)
        if self.embedded:
            return LocalProgressBus()
        broker = self.settings.celery_broker_url
        assert broker is not None
        return BrokerProgressBus(broker, self.settings.queue)

    def worker_progress_bus(self) -> ProgressBus:
        """The bus a Celery worker process publishes to: the one the API processes hear."""
        if self.settings.redis_url:
            return RedisProgressBus.from_url(self.settings.redis_url)
        return self.progress_bus()

    async def start_job_queue(
        self,
        session_factory: SessionFactory,
        *,
        limiter: anyio.CapacityLimiter | None = None,
        bus: ProgressBus | None = None,
    ) -> JobRunner:
        """The job queue of this mode, already resuming what was left unfinished."""
        from chunkyard.worker.runner import start_celery_runner, start_embedded_runner

        if self.embedded:
            return await start_embedded_runner(self.settings, session_factory, limiter,
                                               bus=bus)
        return await start_celery_runner(self.settings, session_factory, bus=bus)

    async def open_app_services(self, session_factory: SessionFactory) -> AppServices:
        """Everything the app's lifespan holds besides the database: close it at shutdown."""
        redis = self.redis_client()
        bus = self.progress_bus(redis)
        limiter = anyio.CapacityLimiter(CHUNKING_THREADS)
        # The chunking processes of previews and compares; jobs chunk in job processes (the
        # embedded runner's, or a Celery worker's). Both capped at operation_memory_mb.
        pool = ChunkingPool(limiter, memory_mb=self.settings.operation_memory_mb)
        queue = await self.start_job_queue(session_factory, limiter=limiter, bus=bus)
        return AppServices(redis, self.preview_cache(redis), bus, limiter, pool, queue,
                           rate_limiter(redis))
