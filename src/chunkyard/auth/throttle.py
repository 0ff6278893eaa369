"""Login throttling, per account and per client address, with exponential back-off.

Every attempt is counted before its password is checked (so a burst of concurrent guesses
counts in full), under two keys: the username asked for (known or not: the answer tells
nothing about which users exist) and the client's address (an IPv6 address by its /64).
After `login_free_failures` attempts that did not succeed (settings; default 5), a key is
locked for `login_backoff_seconds` (1), doubling with each further failure up to
`login_backoff_max_seconds` (900), the lock running from when the failure is known (a slow
password check does not use it up); an attempt on a locked key is
refused at once (429, `Retry-After`), without any argon2 work. A success clears its account
and gives its address its attempt back. A key is forgotten `WINDOW_SECONDS` after its last
attempt (or when its lock ends, if later).

With Redis configured the counters are shared by every API process (one script per call,
timed by the Redis server's clock); otherwise they are kept in process. If Redis cannot be
reached, the process's own counters take over until it is back.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

from chunkyard.settings import Settings

logger = logging.getLogger("chunkyard.api")

FREE_FAILURES = 5
BASE_SECONDS = 1.0
MAX_SECONDS = 900.0
WINDOW_SECONDS = 900.0
MAX_KEYS = 100_000


@dataclass(frozen=True, slots=True)
class Policy:
    free_failures: int = FREE_FAILURES
    base_seconds: float = BASE_SECONDS
    max_seconds: float = MAX_SECONDS
    window_seconds: float = WINDOW_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> Policy:
        return cls(settings.login_free_failures, settings.login_backoff_seconds,
                   settings.login_backoff_max_seconds)

    def lock_for(self, failures: int) -> float:
        """Seconds a key is locked after its `failures`-th failure."""
        if failures < self.free_failures:
            return 0.0
        return min(self.max_seconds, self.base_seconds * 2.0 ** (failures - self.free_failures))


def throttle_keys(username: str, address: str | None) -> tuple[str, str]:
    """The account's key and the address's key (digests: no name or address is stored)."""
    where = address or "unknown"
    try:
        ip = ipaddress.ip_address(where)
        if ip.version == 6:
            where = str(ipaddress.ip_network(f"{ip}/64", strict=False))
    except ValueError:
        pass

    def digest(kind: str, value: str) -> str:
        text = f"{kind}\0{value}".encode("utf-8", "surrogatepass")
        return f"{kind}:{hashlib.sha256(text).hexdigest()[:32]}"

    return digest("user", username), digest("addr", where)


class LoginThrottle(Protocol):
    async def attempt(self, keys: tuple[str, str]) -> float:
        """Count one attempt under both keys; 0 if it may go on, else the seconds to wait
        (a refused attempt is not counted)."""
        ...

    async def succeeded(self, keys: tuple[str, str]) -> None:
        """The attempt's password was right: clear the account, give the address its
        attempt back."""
        ...

    async def failed(self, keys: tuple[str, str]) -> None:
        """The attempt's password was wrong: a lock its count earned runs from now, not from
        when the attempt began (a slow password check must not use the lock up)."""
        ...


class MemoryLoginThrottle:
    """The counters in process (the embedded default, and the fallback)."""

    def __init__(
        self, policy: Policy | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or Policy()
        self._clock = clock
        # key -> [attempts, locked until, forgotten at]
        self._keys: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, key: str, now: float) -> list[float] | None:
        entry = self._keys.get(key)
        if entry is not None and now >= entry[2]:
            del self._keys[key]
            return None
        return entry

    async def attempt(self, keys: tuple[str, str]) -> float:
        with self._lock:
            now = self._clock()
            entries = [self._get(key, now) for key in keys]
            wait = max((e[1] - now for e in entries if e is not None), default=0.0)
            if wait > 0:
                return wait
            for key, entry in zip(keys, entries, strict=True):
                if entry is None:
                    entry = self._keys[key] = [0.0, 0.0, 0.0]
                entry[0] += 1
                lock = self.policy.lock_for(int(entry[0]))
                entry[1] = now + lock if lock else 0.0
                entry[2] = now + max(self.policy.window_seconds, lock)
                self._keys.move_to_end(key)
            while len(self._keys) > MAX_KEYS:
                self._keys.popitem(last=False)
            return 0.0

    async def failed(self, keys: tuple[str, str]) -> None:
        with self._lock:
            now = self._clock()
            for key in keys:
                entry = self._get(key, now)
                if entry is None:
                    continue
                lock = self.policy.lock_for(int(entry[0]))
                if lock:
                    entry[1] = max(entry[1], now + lock)
                    entry[2] = max(entry[2], now + lock)

    async def succeeded(self, keys: tuple[str, str]) -> None:
        account, address = keys
        with self._lock:
            self._keys.pop(account, None)
            entry = self._get(address, self._clock())
            if entry is not None:
                entry[0] = max(0.0, entry[0] - 1)
                if entry[0] < self.policy.free_failures:
                    entry[1] = 0.0


# KEYS: the keys; ARGV: free failures, base ms, max ms, window ms. Returns the wait in ms
# (0: counted and admitted).
_ATTEMPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free, base, cap, window = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4])
local wait = 0
for _, key in ipairs(KEYS) do
  local locked = tonumber(redis.call('HGET', key, 'until') or '0')
  if locked - now > wait then wait = locked - now end
end
if wait > 0 then return wait end
for _, key in ipairs(KEYS) do
  local n = redis.call('HINCRBY', key, 'n', 1)
  local lock = 0
  if n >= free then lock = math.min(cap, base * 2 ^ (n - free)) end
  redis.call('HSET', key, 'until', lock > 0 and (now + lock) or 0)
  redis.call('PEXPIRE', key, math.floor(math.max(window, lock)))
end
return 0
"""
# KEYS: the keys; ARGV: free failures, base ms, max ms. A lock earned runs from now.
_FAILED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local free, base, cap = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  local n = tonumber(redis.call('HGET', key, 'n') or '0')
  if n >= free then
    local lock = math.min(cap, base * 2 ^ (n - free))
    local locked = tonumber(redis.call('HGET', key, 'until') or '0')
    if now + lock > locked then
      redis.call('HSET', key, 'until', now + lock)
      if redis.call('PTTL', key) < lock then redis.call('PEXPIRE', key, math.floor(lock)) end
    end
  end
end
return 1
"""
# KEYS[1] the account, KEYS[2] the address; ARGV[1] free failures.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if redis.call('EXISTS', KEYS[2]) == 1 then
  local n = redis.call('HINCRBY', KEYS[2], 'n', -1)
  if n < 0 then redis.call('HSET', KEYS[2], 'n', 0) end
  if n < tonumber(ARGV[1]) then redis.call('HSET', KEYS[2], 'until', 0) end
end
return 1
"""


class RedisLoginThrottle:
    """The counters in Redis, shared by every API process."""

    def __init__(self, redis: Any, prefix: str, policy: Policy | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.policy = policy or Policy()
        self.fallback = MemoryLoginThrottle(self.policy)
        self._attempt = redis.register_script(_ATTEMPT)
        self._succeeded = redis.register_script(_SUCCEEDED)
        self._failed = redis.register_script(_FAILED)

    def _names(self, keys: tuple[str, str]) -> list[str]:
        return [f"{self.prefix}:{key}" for key in keys]

    async def attempt(self, keys: tuple[str, str]) -> float:
        p = self.policy
        try:
            wait_ms = await self._attempt(
                keys=self._names(keys),
                args=[p.free_failures, int(p.base_seconds * 1000), int(p.max_seconds * 1000),
                      int(p.window_seconds * 1000)],
            )
        except (RedisError, OSError) as exc:
            logger.warning("login throttle: Redis unreachable, counting in process: %r", exc)
            return await self.fallback.attempt(keys)
        return float(wait_ms) / 1000

    async def failed(self, keys: tuple[str, str]) -> None:
        p = self.policy
        try:
            await self._failed(keys=self._names(keys),
                               args=[p.free_failures, int(p.base_seconds * 1000),
                                     int(p.max_seconds * 1000)])
        except (RedisError, OSError) as exc:
            logger.warning("login throttle: Redis unreachable: %r", exc)
        await self.fallback.failed(keys)

    async def succeeded(self, keys: tuple[str, str]) -> None:
        try:
            await self._succeeded(keys=self._names(keys), args=[self.policy.free_failures])
        except (RedisError, OSError) as exc:
            logger.warning("login throttle: Redis unreachable: %r", exc)
        await self.fallback.succeeded(keys)
