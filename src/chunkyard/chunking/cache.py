"""The preview cache: results kept per user, in process or, when Redis is configured, in Redis.

The cache key is (content, strategy, canonical params, chunker version): for a text its
sha256 and the optional filename, for a stored document its content sha256 and its filename
(the name picks the extractor, so the same bytes named `.md` and `.txt` chunk differently).
Canonical means the validated parameters with every default filled in, so `{}` and
`{"chunk_size": 512}` share an entry. Entries hold every chunk (the response slices to
`max_chunks`). Entries are per user so that `cached: true` never tells one user what another
has previewed: in process, bounded per user by characters held and by count, least recently
used first out; in Redis, under `chunkyard:preview:{user_id}:{key}` with a TTL.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import uuid
from collections import OrderedDict
from typing import Any, Protocol

import anyio
from redis.exceptions import RedisError

import chunkyard
from chunkyard.chunking.work import PreviewResult

logger = logging.getLogger("chunkyard.api")

ENTRIES_PER_USER = 32
CHARS_PER_USER = 8_000_000
MAX_USERS = 256
REDIS_PREFIX = "chunkyard:preview"
REDIS_TTL_SECONDS = 3600


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
