"""Password hashing with argon2id (argon2-cffi's recommended parameters), in a small pool.

Each hash or verification takes argon2's 64 MiB and tens of milliseconds of CPU. They run in
`HASH_THREADS` threads of their own, off the event loop, and at most `MAX_WAITING` more wait
for one: a flood of logins costs a bounded amount of memory and CPU (one more is refused with
`PasswordPoolBusy`, a 429 at the route), so `/healthz` and the other routes keep answering.
The threads run `HASH_NICENESS` below the process: argon2 uses every core it can (its lanes are
threads), and at the same priority a flood of logins kept the event loop waiting for a core
(on 2 cores, `/healthz` took 180 ms at the 99th percentile; at a lower priority, 30 to 60).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()

HASH_THREADS = 2
MAX_WAITING = 32
HASH_NICENESS = 10

T = TypeVar("T")


class PasswordPoolBusy(Exception):
    """More password checks are running and waiting than the pool takes."""


class PasswordPool:
    """At most `threads` argon2 computations at once, `waiting` more queued, per process."""

    def __init__(self, threads: int = HASH_THREADS, waiting: int = MAX_WAITING) -> None:
        self.capacity = threads + waiting
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="chunkyard-argon2",
                                            initializer=_lower_priority)
        self._lock = threading.Lock()
        self._in_use = 0

    @property
    def in_use(self) -> int:
        return self._in_use

    async def run(self, work: Callable[..., T], *args: str) -> T:
        with self._lock:
            if self._in_use >= self.capacity:
                raise PasswordPoolBusy()
            self._in_use += 1
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._executor, work, *args)
        finally:
            with self._lock:
                self._in_use -= 1


def _lower_priority() -> None:
    """Run this thread below the event loop (on Linux niceness is per thread, and the threads
    argon2 starts for its lanes inherit it); elsewhere it keeps the process's priority."""
    try:
        thread = threading.get_native_id()
        niceness = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, niceness + HASH_NICENESS))
    except (AttributeError, OSError):
        pass


pool = PasswordPool()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether `password` matches; False (never an exception) for a bad or foreign hash."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("chunkyard-no-such-user")


def burn_verify_time(password: str) -> None:
    """Spend what a verification costs, so an unknown user answers as slowly as a known one."""
    verify_password(_dummy_hash(), password)
