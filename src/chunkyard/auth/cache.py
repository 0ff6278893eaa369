"""A short-lived, in-process cache of resolved credentials.

Resolving a bearer token or an API key reads the database (the user, or the key and its
user) on every request; under load that round trip, and the connection it takes from the
pool, is a large share of a small request. The cache keeps what `resolve_credential`
answered for a few seconds.

- Keys are the SHA-256 of the credential (with how it was sent): a secret is never held.
- Only successes are kept; a refused credential is looked up again every time.
- Concurrent requests with the same uncached credential share one lookup, so an entry that
  expires under load costs one database query, not one per request in flight.
- An entry lives `ttl` seconds (default `CREDENTIAL_TTL_SECONDS`), and never past the
  expiry of the token it was made for: an expired token is refused on time.
- Revocation: every lookup reads whether the session or key is revoked and the user
  disabled (`auth.service.resolve`), so a revocation made anywhere (another API process, the
  command line) holds in each API process within `ttl` seconds; the process that revokes
  also drops the entries concerned at once (`forget`).
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from chunkyard.auth.service import Principal, Resolved

# Revocation must hold within 2 s in every API process: the TTL plus one lookup's time.
CREDENTIAL_TTL_SECONDS = 1.0
MAX_ENTRIES = 4096


def credential_key(credential: str, via: str) -> str:
    """The cache key of a credential: a digest, so the cache holds no secret."""
    return hashlib.sha256(f"{via}\0{credential}".encode("utf-8", "surrogatepass")).hexdigest()


class CredentialCache:
    """Resolved principals by credential digest, for `ttl` seconds, at most `max_entries`
    (least recently used out first)."""

    def __init__(
        self,
        ttl: float = CREDENTIAL_TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._clock = clock
        self._wall_clock = wall_clock
        # key -> (principal, monotonic deadline, wall-clock expiry of the credential or None)
        self._entries: OrderedDict[str, tuple[Principal, float, float | None]] = OrderedDict()
        self._lock = threading.Lock()
        # Bumped by `forget`: a lookup that started before a revocation is not kept.
        self._generation = 0
        # Lookups in flight, by key (on the event loop that runs the app).
        self._pending: dict[str, asyncio.Future[Principal | None]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, credential: str, via: str) -> Principal | None:
        key = credential_key(credential, via)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            principal, deadline, expires_at = entry
            if self._clock() >= deadline or (
                expires_at is not None and self._wall_clock() >= expires_at
            ):
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return principal

    def put(
        self, credential: str, via: str, principal: Principal, *, expires_at: float | None = None
    ) -> None:
        """Keep `principal` for `credential`; `expires_at` (a Unix time) is when the
        credential itself stops being valid, if it does."""
        if self.ttl <= 0 or self.max_entries <= 0:
            return
        key = credential_key(credential, via)
        with self._lock:
            self._entries[key] = (principal, self._clock() + self.ttl, expires_at)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def forget(self, match: Callable[[Principal], bool]) -> int:
        """Drop every entry whose principal `match`es (a revoked session, key or user);
        how many. Lookups in flight are not kept once they finish."""
        with self._lock:
            gone = [key for key, (principal, _, _) in self._entries.items() if match(principal)]
            for key in gone:
                del self._entries[key]
            self._generation += 1
        return len(gone)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    async def resolve(
        self, credential: str, via: str, lookup: Callable[[], Awaitable[Resolved | None]]
    ) -> Principal | None:
        """The cached principal of `credential`, else what `lookup()` finds (kept when it is
        a success); concurrent calls for the same credential share one `lookup()`."""
        principal = self.get(credential, via)
        if principal is not None:
            return principal
        key = credential_key(credential, via)
        pending = self._pending.get(key)
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(self._look_up(credential, via, lookup))
            self._pending[key] = pending
            pending.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: one caller going away must not cancel the lookup the others wait for.
        return await asyncio.shield(pending)

    async def _look_up(
        self, credential: str, via: str, lookup: Callable[[], Awaitable[Resolved | None]]
    ) -> Principal | None:
        generation = self._generation
        resolved = await lookup()
        if resolved is None:
            return None
        if generation == self._generation:
            self.put(credential, via, resolved.principal, expires_at=resolved.expires_at)
        return resolved.principal

    def _forget(self, key: str, done: asyncio.Future[Principal | None]) -> None:
        if self._pending.get(key) is done:
            del self._pending[key]
        if not done.cancelled():
            done.exception()  # retrieved: an error is the waiters' to raise, not the loop's
