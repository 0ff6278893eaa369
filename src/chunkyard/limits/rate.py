"""Requests per user per window: a sliding log of the requests admitted in the last window.

A request is admitted while fewer than `limit` were admitted in the `window` seconds before
it (refused ones are not recorded, so hammering does not extend the wait); a refused one is
told how long until the oldest of those leaves the window. With Redis configured the log is
a sorted set per user and limit, updated by one script (atomic, shared by every API process,
timed by the Redis server's clock); otherwise it is kept in process. If Redis cannot be
reached the request is admitted (a rate limit must not take previews down with it).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from chunkyard.limits.errors import limit_reached

logger = logging.getLogger("chunkyard.api")

PREVIEW_WINDOW_SECONDS = 60.0
REDIS_PREFIX = "chunkyard:rate"
# Users whose logs the in-process limiter keeps (the least recently seen are dropped).
MAX_USERS = 10_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    # Requests in the window, this one included when it was admitted.
    used: int
    # Seconds until one more would be admitted (0 when this one was).
    retry_after: float


class RateLimiter(Protocol):
    async def hit(self, name: str, user: uuid.UUID, limit: int, window: float) -> Decision:
        """Admit and record one request of `user` under `name`, or refuse it."""
        ...

    async def used(self, name: str, user: uuid.UUID, window: float) -> int:
        """Requests of `user` admitted under `name` in the last `window` seconds."""
        ...


def _wait(times: list[float], limit: int, window: float, now: float) -> float:
    """Seconds until fewer than `limit` of `times` (oldest first) are inside the window."""
    return max(0.0, times[len(times) - limit] + window - now)


class MemoryRateLimiter:
    """The sliding log in process (one API process; the embedded default)."""

    def __init__(self, clock: Any = time.monotonic, max_users: int = MAX_USERS) -> None:
        self.clock = clock
        self.max_users = max_users
        self._logs: dict[tuple[str, uuid.UUID], deque[float]] = {}
        self._lock = threading.Lock()

    def _log(self, name: str, user: uuid.UUID, window: float, now: float) -> deque[float]:
        key = (name, user)
        log = self._logs.pop(key, None)
        if log is None:
            log = deque()
        self._logs[key] = log  # most recently seen last
        while log and log[0] <= now - window:
            log.popleft()
        while len(self._logs) > self.max_users:
            del self._logs[next(iter(self._logs))]
        return log

    async def hit(self, name: str, user: uuid.UUID, limit: int, window: float) -> Decision:
        with self._lock:
            now = self.clock()
            log = self._log(name, user, window, now)
            if len(log) < limit:
                log.append(now)
                return Decision(True, len(log), 0.0)
            return Decision(False, len(log), _wait(list(log), limit, window, now))

    async def used(self, name: str, user: uuid.UUID, window: float) -> int:
        with self._lock:
            return len(self._log(name, user, window, self.clock()))


# KEYS[1] the log; ARGV: limit, window (ms), a unique member. Returns {allowed, used, wait ms}.
_HIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return {1, count + 1, 0}
end
local edge = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
return {0, count, math.max(0, tonumber(edge[2]) + window - now)}
"""
# KEYS[1] the log; ARGV: window (ms). Returns the requests in the window.
_USED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
"""


class RedisRateLimiter:
    """The sliding log in Redis, shared by every API process."""

    def __init__(self, redis: Any, prefix: str = REDIS_PREFIX) -> None:
        self.redis = redis
        self.prefix = prefix
        self._hit = redis.register_script(_HIT)
        self._used = redis.register_script(_USED)

    def name(self, name: str, user: uuid.UUID) -> str:
        return f"{self.prefix}:{name}:{user}"

    async def hit(self, name: str, user: uuid.UUID, limit: int, window: float) -> Decision:
        try:
            allowed, used, wait_ms = await self._hit(
                keys=[self.name(name, user)],
                args=[limit, int(window * 1000), uuid.uuid4().hex],
            )
        except (RedisError, OSError) as exc:
            logger.warning("rate limit: Redis unreachable, admitting the request: %r", exc)
            return Decision(True, 0, 0.0)
        return Decision(bool(allowed), int(used), int(wait_ms) / 1000)

    async def used(self, name: str, user: uuid.UUID, window: float) -> int:
        try:
            return int(await self._used(keys=[self.name(name, user)],
                                        args=[int(window * 1000)]))
        except (RedisError, OSError) as exc:
            logger.warning("rate limit: Redis unreachable: %r", exc)
            return 0


def rate_limiter(redis: Any) -> RateLimiter:
    """The limiter of this deployment: in Redis when it is configured, else in process."""
    return RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter()


async def admit_preview(limiter: RateLimiter, user: uuid.UUID, limit: int) -> None:
    """Count one preview or compare of `user`; 429 past `limit` a minute."""
    decision = await limiter.hit("preview", user, limit, PREVIEW_WINDOW_SECONDS)
    if not decision.allowed:
        raise limit_reached(
            f"you have asked for {decision.used} previews and compares in the last minute, "
            f"the most a user may ({limit} a minute); try again in "
            f"{max(1, round(decision.retry_after))} s",
            code="too_many_previews", retry_after=decision.retry_after,
        )
