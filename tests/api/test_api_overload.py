"""A database that is only too busy is a 429 `overloaded` with Retry-After, like admission
control's, never a 500 or a 503: every pooled connection in use past the pool's timeout, or
SQLite's writers queued past the busy timeout. The WebSocket refuses its handshake the same
way (it answered a bare 500 under 500 simulated users). An unreachable database stays a 503
(tests/api/test_api_admission.py)."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from operation_helpers import start, text_file, upload
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.testclient import WebSocketDenialResponse

from chunkyard.kit.deps import get_session, get_session_factory
from chunkyard.storage.engine import create_engine, create_session_factory


@contextmanager
def routes_use(api: Api, engine: AsyncEngine) -> Iterator[async_sessionmaker[AsyncSession]]:
    """The app's routes (sessions and session factories) on `engine` for the block."""
    factory = create_session_factory(engine)

    async def session() -> AsyncIterator[AsyncSession]:
        async with factory() as opened:
            yield opened

    app: Any = api.client.app
    app.dependency_overrides[get_session] = session
    app.dependency_overrides[get_session_factory] = lambda: factory
    try:
        yield factory
    finally:
        app.dependency_overrides.pop(get_session, None)
        app.dependency_overrides.pop(get_session_factory, None)


@contextmanager
def every_connection_taken(api: Api) -> Iterator[AsyncEngine]:
    """An engine of one pooled connection, held by the test, that waits 0.2 s for another."""
    engine = create_engine(api.settings.resolved_database_url, pool_size=1, max_overflow=0,
                           pool_timeout=0.2)
    portal: Any = api.client.portal  # the app's event loop: connections belong to it

    async def hold() -> Any:
        connection = engine.connect()
        await connection.start()
        await connection.execute(text("SELECT 1"))
        return connection

    held = portal.call(hold)
    try:
        yield engine
    finally:
        portal.call(held.close)
        portal.call(engine.dispose)


def _overloaded(response: Any) -> None:
    body = assert_error(response, 429, "overloaded")
    assert "busier than it can serve" in body["detail"]
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("api", ["sqlite", "postgresql"], indirect=True)
def test_a_request_that_finds_every_connection_in_use_is_a_429(api: Api) -> None:
    headers = user_headers(api)
    with every_connection_taken(api) as engine, routes_use(api, engine):
        _overloaded(api.client.get(f"{API}/collections", headers=headers))
        _overloaded(api.client.post(f"{API}/collections", json={"name": "busy"},
                                    headers=headers))
    # Nothing was stored, and the app serves again.
    listed = api.client.get(f"{API}/collections", headers=headers)
    assert listed.status_code == 200 and listed.json()["items"] == []


@pytest.mark.parametrize("api", ["sqlite"], indirect=True)
def test_a_write_queued_past_sqlites_busy_timeout_is_a_429(api: Api) -> None:
    headers = user_headers(api)
    engine = create_engine(api.settings, sqlite_busy_timeout=0.1)
    database = api.settings.resolved_database_url.split("///", 1)[1]
    writer = sqlite3.connect(database, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process writing, for longer than 0.1 s
    try:
        with routes_use(api, engine):
            _overloaded(api.client.post(f"{API}/collections", json={"name": "locked"},
                                        headers=headers))
            # Reads do not wait for writers (WAL).
            assert api.client.get(f"{API}/collections", headers=headers).status_code == 200
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        asyncio.run(engine.dispose())


@pytest.mark.parametrize("api", ["sqlite", "postgresql"], indirect=True)
def test_the_websocket_handshake_is_refused_with_429_when_every_connection_is_in_use(
    api: Api,
) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    upload(api, headers, collection, [("a.md", text_file("busy"))])
    operation = start(api, headers, collection)
    path = f"{API}/operations/{operation['id']}/ws"
    with (every_connection_taken(api) as engine, routes_use(api, engine),
          pytest.raises(WebSocketDenialResponse) as denial,
          api.client.websocket_connect(path, headers=headers)):
        pass
    assert denial.value.status_code == 429
    assert denial.value.json()["error"] == "overloaded"
    assert int(denial.value.headers["retry-after"]) >= 1
    # With connections free again it streams to the final event.
    with api.client.websocket_connect(path, headers=headers) as socket:
        while socket.receive_json()["type"] == "progress":
            pass
