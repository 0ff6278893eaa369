"""The credential cache (chunkyard.auth.cache): repeated requests skip the database, entries
live their TTL and never past their token's expiry, a revoked API key or a deleted user is
refused within the TTL, and no secret is held."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_helpers import (
    API,
    Api,
    api_key_headers,
    assert_error,
    in_db,
    session_token,
    user_headers,
)
from sqlalchemy import delete, event
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.auth.cache import CredentialCache, credential_key
from chunkyard.auth.service import Principal, Resolved, revoke_api_key
from chunkyard.storage.models import User

SHORT_TTL = 0.5


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def principal(name: str = "someone") -> Principal:
    return Principal(uuid.uuid4(), name, False, datetime.now(UTC), "token")


def test_entries_live_their_ttl_and_never_past_the_credentials_expiry() -> None:
    mono, wall = Clock(), Clock()
    cache = CredentialCache(ttl=2.0, clock=mono, wall_clock=wall)
    alice = principal("alice")
    cache.put("token-a", "token", alice)
    assert cache.get("token-a", "token") is alice
    assert cache.get("token-a", "cookie") is None  # how it was sent is part of the key
    assert cache.get("token-b", "token") is None
    mono.now += 1.9
    assert cache.get("token-a", "token") is alice
    mono.now += 0.1
    assert cache.get("token-a", "token") is None and len(cache) == 0
    # A token expiring before the TTL is over is not served after it expires.
    cache.put("token-c", "token", alice, expires_at=wall.now + 0.5)
    wall.now += 0.4
    assert cache.get("token-c", "token") is alice
    wall.now += 0.1
    assert cache.get("token-c", "token") is None


def test_the_cache_is_bounded_and_holds_no_secret() -> None:
    cache = CredentialCache(ttl=60, max_entries=3)
    secrets = [f"cky_0123456789ab_{uuid.uuid4().hex}" for _ in range(4)]
    for secret in secrets:
        cache.put(secret, "token", principal())
    assert len(cache) == 3
    assert cache.get(secrets[0], "token") is None  # least recently used: out first
    held = repr(cache.__dict__)
    assert not any(secret in held for secret in secrets)
    assert credential_key(secrets[1], "token") in held
    cache.clear()
    assert len(cache) == 0
    off = CredentialCache(ttl=0)
    off.put("t", "token", principal())
    assert off.get("t", "token") is None


def test_concurrent_lookups_of_one_credential_share_one_query() -> None:
    async def main() -> None:
        cache = CredentialCache(ttl=60)
        alice = principal("alice")
        release = asyncio.Event()
        calls: list[str] = []

        async def lookup() -> Resolved | None:
            calls.append("lookup")
            await release.wait()
            return Resolved(alice, None)

        waiters = [asyncio.ensure_future(cache.resolve("key", "token", lookup))
                   for _ in range(10)]
        await asyncio.sleep(0.01)
        waiters[0].cancel()  # one caller going away does not stop the others' lookup
        release.set()
        results = await asyncio.gather(*waiters[1:])
        assert calls == ["lookup"] and all(r is alice for r in results)
        assert await cache.resolve("key", "token", lookup) is alice and calls == ["lookup"]

        # Refusals are shared but not kept; errors reach every waiter and are not kept either.
        async def refuse() -> Resolved | None:
            calls.append("refuse")
            await asyncio.sleep(0.01)
            return None

        refused = await asyncio.gather(*(cache.resolve("bad", "token", refuse) for _ in range(5)))
        assert refused == [None] * 5 and calls.count("refuse") == 1
        assert await cache.resolve("bad", "token", refuse) is None and calls.count("refuse") == 2

        async def broken() -> Resolved | None:
            await asyncio.sleep(0.01)
            raise ConnectionError("database down")

        failed = await asyncio.gather(*(cache.resolve("k2", "token", broken) for _ in range(3)),
                                      return_exceptions=True)
        assert all(isinstance(f, ConnectionError) for f in failed)
        assert await cache.resolve("k2", "token", lookup) is alice

    asyncio.run(main())


@pytest.fixture
def short_cache(api: Api, monkeypatch: pytest.MonkeyPatch) -> CredentialCache:
    """The app's credential cache, replaced by one with a short TTL for the test."""
    app: Any = api.client.app
    cache = CredentialCache(ttl=SHORT_TTL)
    # (In the State's own dict: monkeypatch.setattr would delete the attribute on undo.)
    monkeypatch.setitem(app.state._state, "credential_cache", cache)
    return cache


@pytest.fixture
def statements(api: Api) -> Iterator[list[str]]:
    """The SQL statements the app's engine runs during the test."""
    app: Any = api.client.app
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    engine = app.state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


def test_a_repeated_credential_does_not_touch_the_database(
    api: Api, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Any = api.client.app
    # A long TTL: the default (1 s) could run out between the requests on a busy machine.
    monkeypatch.setitem(app.state._state, "credential_cache", CredentialCache(ttl=60))
    for headers in (user_headers(api), api_key_headers(api)):
        first = api.client.get(f"{API}/auth/me", headers=headers)
        assert first.status_code == 200
        if getattr(app.state, "key_usage", None) is not None:  # the key's first use, written
            api.client.portal.call(app.state.key_usage.flush)  # type: ignore[union-attr]
        statements.clear()
        for _ in range(3):
            again = api.client.get(f"{API}/auth/me", headers=headers)
            assert again.json() == first.json()
        assert statements == []


def test_a_revoked_api_key_is_refused_within_the_ttl(
    api: Api, short_cache: CredentialCache
) -> None:
    headers = api_key_headers(api)
    me = api.client.get(f"{API}/auth/me", headers=headers)
    assert me.status_code == 200
    user_id = uuid.UUID(me.json()["id"])
    prefix = headers["Authorization"].split("_")[1]

    async def revoke(session: AsyncSession) -> bool:
        return await revoke_api_key(session, user_id, prefix)

    assert in_db(api.settings, revoke) is True
    time.sleep(SHORT_TTL + 0.1)
    assert_error(api.client.get(f"{API}/auth/me", headers=headers), 401, "invalid_token")


def test_a_deleted_user_is_refused_within_the_ttl(
    api: Api, short_cache: CredentialCache
) -> None:
    headers = user_headers(api)
    me = api.client.get(f"{API}/auth/me", headers=headers)
    assert me.status_code == 200
    user_id = uuid.UUID(me.json()["id"])

    async def remove(session: AsyncSession) -> None:
        await session.execute(delete(User).where(User.id == user_id))

    in_db(api.settings, remove)
    time.sleep(SHORT_TTL + 0.1)
    assert_error(api.client.get(f"{API}/auth/me", headers=headers), 401, "invalid_token")


def test_a_cached_token_is_refused_once_it_expires(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Any = api.client.app
    monkeypatch.setitem(app.state._state, "credential_cache", CredentialCache(ttl=60))
    user = api.client.get(f"{API}/auth/me", headers=user_headers(api)).json()
    # 3 s: `exp` is in whole seconds, so a 1 s token issued late in a second was valid for a
    # tenth of one, and on a busy machine it had expired before its first request.
    token = session_token(api, uuid.UUID(user["id"]), ttl=timedelta(seconds=3))
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get(f"{API}/auth/me", headers=headers).status_code == 200
    time.sleep(3.1)
    assert_error(api.client.get(f"{API}/auth/me", headers=headers), 401, "invalid_token")


def test_a_cached_api_key_is_still_refused_as_a_cookie(api: Api) -> None:
    headers = api_key_headers(api)
    assert api.client.get(f"{API}/auth/me", headers=headers).status_code == 200
    key = headers["Authorization"].removeprefix("Bearer ")
    api.client.cookies.set("chunkyard_session", key)
    try:
        assert_error(api.client.get(f"{API}/auth/me"), 401, "invalid_token")
    finally:
        api.client.cookies.clear()

