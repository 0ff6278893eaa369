"""The login throttle itself (auth/throttle.py), in process and in a real Redis: exponential
back-off after 5 failures, per account and per address, a success clearing its account, and
the argon2 pool refusing work past its bound and running below the event loop."""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Iterator

import pytest
import redis
from redis.asyncio import Redis

import dbsupport
from chunkyard.auth.passwords import HASH_NICENESS, PasswordPool, PasswordPoolBusy
from chunkyard.auth.throttle import (
    LoginThrottle,
    MemoryLoginThrottle,
    Policy,
    RedisLoginThrottle,
    throttle_keys,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_policy_doubles_after_the_free_failures_up_to_the_cap() -> None:
    policy = Policy(free_failures=5, base_seconds=1.0, max_seconds=10.0)
    assert [policy.lock_for(n) for n in range(1, 10)] == [0, 0, 0, 0, 1, 2, 4, 8, 10]


def test_keys_hold_no_name_or_address_and_group_ipv6_by_64() -> None:
    account, address = throttle_keys("alice", "203.0.113.7")
    assert "alice" not in account and "203.0.113.7" not in address
    assert throttle_keys("bob", "2001:db8::1")[1] == throttle_keys("eve", "2001:db8::ffff")[1]
    assert throttle_keys("bob", "2001:db8:0:1::1")[1] != throttle_keys("bob", "2001:db8::1")[1]
    assert throttle_keys("alice", None)[0] == account


def test_memory_throttle_backs_off_and_a_success_clears_the_account() -> None:
    clock = Clock()
    throttle = MemoryLoginThrottle(Policy(5, 1.0, 900.0, 900.0), clock=clock)
    keys = throttle_keys("alice", "198.51.100.1")

    async def main() -> None:
        for _ in range(5):
            assert await throttle.attempt(keys) == 0
        assert await throttle.attempt(keys) == pytest.approx(1.0)
        clock.now += 1.0
        assert await throttle.attempt(keys) == 0  # the 6th: locked 2 s after it
        assert await throttle.attempt(keys) == pytest.approx(2.0)
        clock.now += 2.0
        assert await throttle.attempt(keys) == 0
        await throttle.succeeded(keys)
        # The account is clear; the address had 7 attempts and gave one back: still locked
        # only if it is over the free ones (6 >= 5: yes, for another address's sake).
        other = throttle_keys("bob", "198.51.100.2")
        assert await throttle.attempt((keys[0], other[1])) == 0
        clock.now += 901.0  # forgotten after the window
        assert await throttle.attempt(keys) == 0

    asyncio.run(main())


def test_a_lock_runs_from_when_the_failure_is_known_not_from_the_attempt() -> None:
    # A password check slower than the lock (a loaded server) must not let the 6th in.
    clock = Clock()
    throttle = MemoryLoginThrottle(Policy(5, 1.0, 900.0, 900.0), clock=clock)
    keys = throttle_keys("alice", "198.51.100.1")

    async def main() -> None:
        for _ in range(4):
            assert await throttle.attempt(keys) == 0
            await throttle.failed(keys)  # under the free failures: no lock
        assert await throttle.attempt(keys) == 0  # the 5th: it earns a lock of 1 s
        clock.now += 2.0  # its password check takes 2 s
        await throttle.failed(keys)
        clock.now += 0.5
        assert await throttle.attempt(keys) == pytest.approx(0.5)

    asyncio.run(main())


def test_redis_lock_runs_from_when_the_failure_is_known(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix

    async def main() -> None:
        client = Redis.from_url(url)
        try:
            throttle = RedisLoginThrottle(client, prefix, Policy(5, 0.3, 900.0, 900.0))
            keys = throttle_keys("alice", "192.0.2.9")
            for _ in range(5):
                assert await throttle.attempt(keys) == 0
            await asyncio.sleep(0.5)  # the 5th's check outlasts its 0.3 s lock
            assert await throttle.attempt(keys) == 0  # without failed(): let in (the 6th)
            await asyncio.sleep(0.7)  # the 6th's 0.6 s lock, counted from its attempt, is over
            await throttle.failed(keys)  # ... so its failure starts it again
            assert 0.4 < await throttle.attempt(keys) <= 0.6
        finally:
            await client.aclose()

    asyncio.run(main())


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, str]]:
    """The test Redis and a key prefix of the test's own (its keys removed afterwards)."""
    url = dbsupport.require_redis()
    prefix = f"chunkyard-test-login-{secrets.token_hex(4)}"
    yield url, prefix
    client = redis.Redis.from_url(url)
    try:
        for name in client.scan_iter(f"{prefix}:*"):
            client.delete(name)
    finally:
        client.close()


def test_redis_throttle_is_shared_between_instances(redis_prefix: tuple[str, str]) -> None:
    url, prefix = redis_prefix

    async def main() -> None:
        clients = [Redis.from_url(url), Redis.from_url(url)]
        try:
            one, two = (RedisLoginThrottle(c, prefix, Policy(5, 1.0, 900.0, 900.0))
                        for c in clients)
            keys = throttle_keys("alice", "192.0.2.9")
            throttles: list[LoginThrottle] = [one, two]
            for n in range(5):
                assert await throttles[n % 2].attempt(keys) == 0
            assert 0.5 < await one.attempt(keys) <= 1.0
            assert 0.5 < await two.attempt(keys) <= 1.0
            await two.succeeded(keys)
            # The account is clear, but the address (5, one given back: 4) still counts.
            assert await one.attempt((keys[0], throttle_keys("x", "192.0.2.10")[1])) == 0
            names = [n async for n in clients[0].scan_iter(f"{prefix}:*")]
            assert names and all(b"alice" not in n and b"192.0.2.9" not in n for n in names)
            ttl = await clients[0].pttl(f"{prefix}:{keys[1]}")
            assert 0 < ttl <= 900_000
        finally:
            for client in clients:
                await client.aclose()

    asyncio.run(main())


def test_the_password_pool_bounds_the_work_and_refuses_past_it() -> None:
    pool = PasswordPool(threads=1, waiting=2)
    release = threading.Event()
    running: list[int] = []

    def work(_: str) -> int:
        running.append(1)
        release.wait(5)
        return 1

    async def main() -> None:
        tasks = [asyncio.ensure_future(pool.run(work, "x")) for _ in range(3)]
        await asyncio.sleep(0.05)
        assert pool.in_use == 3 and len(running) == 1  # one thread, two waiting
        with pytest.raises(PasswordPoolBusy):
            await pool.run(work, "x")
        release.set()
        assert await asyncio.gather(*tasks) == [1, 1, 1]
        assert pool.in_use == 0

    asyncio.run(main())


def test_the_password_pool_runs_below_the_event_loop() -> None:
    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    pool = PasswordPool(threads=1)
    assert asyncio.run(pool.run(niceness)) == min(19, niceness() + HASH_NICENESS)
    assert niceness() == os.getpriority(os.PRIO_PROCESS, 0)  # the caller's is unchanged
