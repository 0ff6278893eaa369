"""When each API key was last used: written to `api_keys.last_used_at`, at most once a minute
per key and API process, off the request's path.

A request authenticated by a key calls `KeyUsage.touch`; when this process has not written
that key's time in the last `RESOLUTION_SECONDS`, a background task writes it (a failure is
logged and forgotten: a lost time stamp must not fail requests). So `last_used_at` is right to
about a minute.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.storage.models import ApiKey, utcnow

logger = logging.getLogger("chunkyard.api")

RESOLUTION_SECONDS = 60.0
MAX_KEYS = 10_000


class KeyUsage:
    def __init__(
        self,
        resolution: float = RESOLUTION_SECONDS,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.resolution = resolution
        self._clock = clock
        self._written: dict[uuid.UUID, float] = {}
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

    def touch(self, key_id: uuid.UUID, factory: async_sessionmaker[AsyncSession]) -> None:
        now = self._clock()
        with self._lock:
            last = self._written.get(key_id)
            if last is not None and now - last < self.resolution:
                return
            self._written.pop(key_id, None)
            self._written[key_id] = now
            while len(self._written) > MAX_KEYS:
                del self._written[next(iter(self._written))]
        task = asyncio.get_running_loop().create_task(self._write(key_id, factory))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write(self, key_id: uuid.UUID, factory: async_sessionmaker[AsyncSession]) -> None:
        try:
            async with factory() as session, session.begin():
                await session.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow())
                )
        except Exception as exc:  # a lost time stamp must never fail anything
            logger.warning("could not record the use of API key %s: %r", key_id, exc)
            with self._lock:
                self._written.pop(key_id, None)

    async def flush(self) -> None:
        """Wait for the writes under way (tests, and `GET /api-keys` to show its own use)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
