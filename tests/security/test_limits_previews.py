"""Issue 12, point 4: previews and compares per user per minute
(`CHUNKYARD_MAX_PREVIEWS_PER_MINUTE`, one budget for both), refused past it with 429,
`Retry-After` and the error body; in Redis when it is configured (the [postgresql] app, and
shared by every API process), in process otherwise ([sqlite]). And a per-user cap on the
bytes of cached previews (`CHUNKYARD_MAX_PREVIEW_CACHE_BYTES_PER_USER`), the oldest dropped
[finding: the Redis cache kept ~1.3 MB per 1 MB preview for an hour, unbounded per user].
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, user_headers
from redis.asyncio import Redis

import dbsupport
from chunkyard.chunking.cache import MemoryPreviewCache, RedisPreviewCache
from chunkyard.chunking.work import PreviewResult
from chunkyard.core.types import Chunk
from chunkyard.limits.rate import MemoryRateLimiter, RedisRateLimiter


def _preview(api: Api, headers: dict[str, str], text: str = "some text to chunk") -> Any:
    return api.client.post(f"{API}/preview", json={"text": text, "strategy": "character"},
                           headers=headers)


def _compare(api: Api, headers: dict[str, str]) -> Any:
    configs = [{"strategy": "character"}, {"strategy": "recursive"}]
    return api.client.post(f"{API}/compare", json={"text": "a text", "configs": configs},
                           headers=headers)


def test_previews_and_compares_up_to_the_rate_pass_and_one_more_is_refused(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert api.settings.max_previews_per_minute == 60  # the default
    monkeypatch.setattr(api.settings, "max_previews_per_minute", 4)
    headers = user_headers(api)
    assert _preview(api, headers).status_code == 200
    cached = _preview(api, headers)  # a cached answer counts too
    assert cached.status_code == 200 and cached.json()["cached"] is True
    assert _compare(api, headers).status_code == 200
    assert _preview(api, headers, "another").status_code == 200  # the 4th: at the limit
    refused = _preview(api, headers)
    body = assert_error(refused, 429, "too_many_previews")
    assert "4" in body["detail"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert_error(_compare(api, headers), 429, "too_many_previews")
    # Another user has a budget of their own.
    assert _preview(api, user_headers(api)).status_code == 200


def _limiter_pairs() -> list[Any]:
    return ["memory", "redis"]


@pytest.mark.parametrize("kind", _limiter_pairs())
def test_the_window_slides(kind: str) -> None:
    async def run() -> None:
        user = uuid.uuid4()
        if kind == "memory":
            now = [100.0]
            limiter: Any = MemoryRateLimiter(clock=lambda: now[0])
            for _ in range(3):
                assert (await limiter.hit("t", user, 3, 60.0)).allowed
            refused = await limiter.hit("t", user, 3, 60.0)
            assert not refused.allowed and refused.retry_after == pytest.approx(60.0)
            now[0] += 60.0
            assert (await limiter.hit("t", user, 3, 60.0)).allowed
            assert await limiter.used("t", user, 60.0) == 1
            return
        # Redis: two limiters with clients of their own stand for two API processes.
        first = Redis.from_url(dbsupport.require_redis())
        second = Redis.from_url(dbsupport.redis_url())
        try:
            a, b = RedisRateLimiter(first), RedisRateLimiter(second)
            assert (await a.hit("t", user, 3, 0.5)).allowed
            assert (await b.hit("t", user, 3, 0.5)).allowed
            assert (await a.hit("t", user, 3, 0.5)).used == 3
            refused = await b.hit("t", user, 3, 0.5)
            assert not refused.allowed and 0 < refused.retry_after <= 0.5
            assert await a.used("t", user, 0.5) == 3
            await asyncio.sleep(0.6)
            assert (await b.hit("t", user, 3, 0.5)).allowed
            assert await a.used("t", user, 0.5) == 1
        finally:
            await first.aclose()
            await second.aclose()

    asyncio.run(run())


def _result(chars: int) -> PreviewResult:
    text = "x" * chars
    chunk = Chunk(index=0, text=text, start=0, end=chars, tokens=chars, metadata={})
    return PreviewResult(chunks=[chunk], metrics={})


def test_the_redis_cache_keeps_at_most_its_bytes_per_user_dropping_the_oldest() -> None:
    async def run() -> None:
        redis = Redis.from_url(dbsupport.require_redis())
        prefix = f"chunkyard-test:{secrets.token_hex(4)}:preview"
        try:
            one = len(_result(1000).to_json())
            cache = RedisPreviewCache(redis, prefix=prefix, bytes_per_user=3 * one + 300)
            user, other = uuid.uuid4(), uuid.uuid4()
            for key in ("a", "b", "c"):
                await cache.put(user, key, _result(1000))
            held = await cache.held_bytes(user)
            assert 3 * one <= held <= cache.bytes_per_user  # at the cap: all three kept
            assert all([await cache.get(user, k) for k in "abc"])
            await cache.put(user, "d", _result(1000))  # one past: the oldest goes
            assert await cache.get(user, "a") is None
            assert all([await cache.get(user, k) for k in "bcd"])
            assert await cache.held_bytes(user) <= cache.bytes_per_user
            # Replacing an entry does not count it twice; others are untouched.
            await cache.put(other, "a", _result(1000))
            await cache.put(user, "d", _result(1000))
            assert all([await cache.get(user, k) for k in "bcd"])
            assert await cache.get(other, "a") is not None
            # An entry bigger than the cap is not kept at all.
            await cache.put(user, "huge", _result(4 * one))
            assert await cache.get(user, "huge") is None
            assert all([await cache.get(user, k) for k in "bcd"])
            keys = [k async for k in redis.scan_iter(f"{prefix}:{user}:*")]
            assert len(keys) == 3  # the entries (their index and sizes are beside them)
            keys += [f"{prefix}-index:{user}", f"{prefix}-sizes:{user}"]
            assert all([await redis.pttl(k) > 0 for k in keys])  # everything expires
        finally:
            async for key in redis.scan_iter(f"{prefix}*"):
                await redis.delete(key)
            await redis.aclose()

    asyncio.run(run())


def test_the_memory_cache_reports_what_it_holds() -> None:
    async def run() -> None:
        cache = MemoryPreviewCache(chars_per_user=3001)
        user = uuid.uuid4()
        for key in ("a", "b", "c"):
            await cache.put(user, key, _result(999))
        assert await cache.held_bytes(user) == 3000
        await cache.put(user, "d", _result(999))
        assert await cache.get(user, "a") is None
        assert await cache.held_bytes(user) == 3000
        assert await cache.held_bytes(uuid.uuid4()) == 0

    asyncio.run(run())


def test_the_apps_cache_is_capped_by_the_setting_and_both_are_in_redis_when_it_is_set(
    api: Api
) -> None:
    app: Any = api.client.app
    services = app.state.services
    cache, limiter = services.preview_cache, services.rate_limiter
    limit = api.settings.max_preview_cache_bytes_per_user
    assert limit == 8 * 1024 * 1024
    if api.settings.redis_url:
        assert isinstance(cache, RedisPreviewCache) and cache.bytes_per_user == limit
        assert isinstance(limiter, RedisRateLimiter)
    else:
        assert isinstance(cache, MemoryPreviewCache) and cache.chars_per_user == limit
        assert isinstance(limiter, MemoryRateLimiter)
