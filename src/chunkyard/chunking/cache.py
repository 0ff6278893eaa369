"""The preview cache: results kept per user, in process or, when Redis is configured, in Redis.

The cache key is (content, strategy, canonical params, chunker version): for a text its
sha256 and the optional filename, for a stored document its content sha256 and its filename
(the name picks the extractor, so the same bytes named `.md` and `.txt` chunk differently).
Canonical means the validated parameters with every default filled in, so `{}` and
`{"chunk_size": 512}` share an entry. Entries hold every chunk (the response slices to
`max_chunks`). Entries are per user so that `cached: true` never tells one user what another
has previewed, and each user's share is capped (`CHUNKYARD_MAX_PREVIEW_CACHE_BYTES_PER_USER`):
in process, by the characters of chunk text held and by count, least recently used first
out; in Redis, by the bytes stored and by count, the oldest entry first out, under
`chunkyard:preview:{user_id}:{key}` with a TTL (one script keeps each user's index of entries
and their sizes, `chunkyard:preview-index:{user_id}` and `-sizes:`, and the cap atomically,
so API processes sharing the Redis keep one bound).
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
from prometheus_client import Counter
from redis.exceptions import RedisError

import chunkyard
from chunkyard.chunking.work import PreviewResult

logger = logging.getLogger("chunkyard.api")

ENTRIES_PER_USER = 32
CHARS_PER_USER = 8 * 1024 * 1024
MAX_USERS = 256
REDIS_PREFIX = "chunkyard:preview"
REDIS_TTL_SECONDS = 3600
REDIS_ENTRIES_PER_USER = 256

# One per process, in every app's /metrics (api/metrics.py); a backend error counts as a miss.
PREVIEW_CACHE_LOOKUPS = Counter(
    "chunkyard_preview_cache_lookups",
    "Preview cache lookups (each preview of a text or a stored document) by result (hit or "
    "miss).",
    ["result"],
    registry=None,
)


def _looked_up(result: PreviewResult | None) -> PreviewResult | None:
    try:
        PREVIEW_CACHE_LOOKUPS.labels(result="miss" if result is None else "hit").inc()
    except OSError as exc:  # PROMETHEUS_MULTIPROC_DIR removed: a metric never fails a preview
        logger.warning("preview cache: cannot count the lookup: %s", exc)
    return result


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

    async def held_bytes(self, user: uuid.UUID) -> int:
        """About how many bytes the user's entries take (0 if the backend cannot say)."""
        ...


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
        return _looked_up(self._get(user, key))

    def _get(self, user: uuid.UUID, key: str) -> PreviewResult | None:
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

    async def held_bytes(self, user: uuid.UUID) -> int:
        """The characters of chunk text the user's entries hold (about their UTF-8 bytes)."""
        with self._lock:
            cache = self._users.get(user)
            return 0 if cache is None else cache.held


# KEYS: the entry, the user's index (sorted set: key -> expiry, ms) and sizes (hash: key ->
# bytes). ARGV: the data, TTL (ms), the cap in bytes, the cap in entries, the entry names'
# prefix, the key. Forgets expired entries, drops the oldest until the new one fits, stores it.
_PUT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local index, sizes = KEYS[2], KEYS[3]
local ttl, cap, most = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local prefix, member = ARGV[5], ARGV[6]
local size = string.len(ARGV[1]) + string.len(KEYS[1])
if size > cap then return 0 end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', now)) do
  redis.call('HDEL', sizes, m)
end
redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
redis.call('ZREM', index, member)
redis.call('HDEL', sizes, member)
local total = size
for _, v in ipairs(redis.call('HVALS', sizes)) do total = total + tonumber(v) end
local count = redis.call('ZCARD', index) + 1
while total > cap or count > most do
  local oldest = redis.call('ZPOPMIN', index)
  if #oldest == 0 then break end
  total = total - tonumber(redis.call('HGET', sizes, oldest[1]) or '0')
  count = count - 1
  redis.call('HDEL', sizes, oldest[1])
  redis.call('DEL', prefix .. oldest[1])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', index, now + ttl, member)
redis.call('HSET', sizes, member, size)
redis.call('PEXPIRE', index, ttl)
redis.call('PEXPIRE', sizes, ttl)
return 1
"""
# KEYS: the user's index and sizes. Returns the bytes of the entries not yet expired.
_HELD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local total = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')) do
  total = total + tonumber(redis.call('HGET', KEYS[2], m) or '0')
end
return total
"""


class RedisClient(Protocol):
    """What the Redis cache needs of `redis.asyncio.Redis`."""

    async def get(self, name: str) -> Any: ...

    def register_script(self, script: str) -> Any: ...


class RedisPreviewCache:
    """Preview results in Redis, shared by every API process, expiring after `ttl` seconds,
    at most `bytes_per_user` bytes (and `entries_per_user` entries) per user, the oldest
    dropped first to make room."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        ttl: int = REDIS_TTL_SECONDS,
        bytes_per_user: int = CHARS_PER_USER,
        entries_per_user: int = REDIS_ENTRIES_PER_USER,
        prefix: str = REDIS_PREFIX,
    ) -> None:
        self.redis = redis
        self.ttl = ttl
        self.bytes_per_user = bytes_per_user
        self.entries_per_user = entries_per_user
        self.prefix = prefix
        self._put = redis.register_script(_PUT)
        self._held = redis.register_script(_HELD)

    def name(self, user: uuid.UUID, key: str) -> str:
        return f"{self.prefix}:{user}:{key}"

    def _index(self, user: uuid.UUID) -> list[str]:
        """The user's index and sizes, beside (not among) the entries' names."""
        return [f"{self.prefix}-index:{user}", f"{self.prefix}-sizes:{user}"]

    async def get(self, user: uuid.UUID, key: str) -> PreviewResult | None:
        return _looked_up(await self._get(user, key))

    async def _get(self, user: uuid.UUID, key: str) -> PreviewResult | None:
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
        if result.weight > self.bytes_per_user:
            return  # its JSON is bigger still: not worth encoding
        data = await anyio.to_thread.run_sync(result.to_json)
        try:
            await self._put(
                keys=[self.name(user, key), *self._index(user)],
                args=[data, self.ttl * 1000, self.bytes_per_user, self.entries_per_user,
                      self.name(user, ""), key],
            )
        except (RedisError, OSError) as exc:
            logger.warning("preview cache: Redis write failed: %r", exc)

    async def held_bytes(self, user: uuid.UUID) -> int:
        try:
            return int(await self._held(keys=self._index(user)))
        except (RedisError, OSError) as exc:
            logger.warning("preview cache: Redis read failed: %r", exc)
            return 0
