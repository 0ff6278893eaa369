"""Past its capacity the API answers quickly: admission control (api/admission.py) and 503 for
a database that cannot be reached (kit/errors.py), never a slow pile-up or a 500.

The admission tests drive the middleware in front of an app whose requests wait on a gate
the test opens, so "in flight" is exact rather than timed; the last test checks that
`create_app` puts it in front of the routes with the settings' bound.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from api_helpers import API, Api, assert_error, user_headers
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.api.admission import AdmissionMiddleware
from chunkyard.api.app import create_app
from chunkyard.kit.deps import get_session
from chunkyard.storage.engine import create_engine, create_session_factory


class GatedApp:
    """An ASGI app whose requests answer 200 once `gate` opens; counts those in flight."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.in_flight = 0
        self.most = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await self.gate.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
        finally:
            self.in_flight -= 1


def client_for(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


async def _until(condition: Any) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the condition did not hold within 1 s")


def test_beyond_the_bound_a_request_waits_then_is_refused_with_429_and_retry_after() -> None:
    async def scenario() -> None:
        inner = GatedApp()
        async with client_for(AdmissionMiddleware(inner, limit=2, wait_seconds=0.2)) as client:
            held = [asyncio.create_task(client.get(f"{API}/collections")) for _ in range(2)]
            await _until(lambda: inner.in_flight == 2)
            began = time.perf_counter()
            refused = await client.get(f"{API}/collections")
            waited = time.perf_counter() - began
            body = assert_error(refused, 429, "overloaded")
            assert "2 requests at once" in body["detail"]
            assert refused.headers["retry-after"] == "1"
            assert waited >= 0.2  # it waited for a slot first
            assert inner.most == 2  # the refused one never reached the app
            inner.gate.set()
            assert [(await task).status_code for task in held] == [200, 200]
            # The slots came back: the next request is served.
            assert (await client.get(f"{API}/collections")).status_code == 200

    asyncio.run(scenario())


def test_a_request_that_finds_a_slot_within_the_wait_is_served() -> None:
    async def scenario() -> None:
        inner = GatedApp()
        async with client_for(AdmissionMiddleware(inner, limit=1, wait_seconds=5.0)) as client:
            first = asyncio.create_task(client.get(f"{API}/collections"))
            await _until(lambda: inner.in_flight == 1)
            second = asyncio.create_task(client.get(f"{API}/collections"))
            await asyncio.sleep(0.05)
            assert inner.in_flight == 1  # the second waits outside
            inner.gate.set()
            assert (await first).status_code == 200
            assert (await second).status_code == 200
            assert inner.most == 1

    asyncio.run(scenario())


def test_paths_outside_the_api_and_an_unbounded_setting_are_not_held_back() -> None:
    async def scenario() -> None:
        inner = GatedApp()
        async with client_for(AdmissionMiddleware(inner, limit=1, wait_seconds=0.0)) as client:
            tasks = [asyncio.create_task(client.get(path)) for path in
                     ("/healthz", "/metrics", "/", "/assets/app.js")]
            await _until(lambda: inner.in_flight == 4)
            inner.gate.set()
            assert [(await t).status_code for t in tasks] == [200] * 4
        unbounded = GatedApp()
        async with client_for(AdmissionMiddleware(unbounded, limit=0, wait_seconds=0.0)) as c:
            tasks = [asyncio.create_task(c.get(f"{API}/collections")) for _ in range(5)]
            await _until(lambda: unbounded.in_flight == 5)
            unbounded.gate.set()
            assert [(await t).status_code for t in tasks] == [200] * 5

    asyncio.run(scenario())


def test_create_app_bounds_api_requests_with_the_settings(api: Api) -> None:
    settings = api.settings.model_copy(update={"max_concurrent_requests": 7,
                                               "admission_wait_seconds": 0.5})
    app = create_app(settings)
    [admission] = [m for m in app.user_middleware if m.cls is AdmissionMiddleware]
    assert admission.kwargs == {"limit": 7, "wait_seconds": 0.5}


def test_a_database_that_cannot_be_reached_is_503_with_retry_after_not_500(api: Api) -> None:
    """The route's database is a PostgreSQL port nothing listens on (the user's sign-in is
    checked on the real one first): the refused connection is a 503, as for PostgreSQL down."""
    headers = user_headers(api)
    dead = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    factory = create_session_factory(dead)

    async def unreachable() -> AsyncIterator[AsyncSession]:
        async with factory() as session:
            yield session

    app: Any = api.client.app
    app.dependency_overrides[get_session] = unreachable
    try:
        response = api.client.get(f"{API}/collections", headers=headers)
    finally:
        app.dependency_overrides.pop(get_session, None)
        asyncio.run(dead.dispose())
    body = assert_error(response, 503, "unavailable")
    assert "database" in body["detail"]
    assert int(response.headers["retry-after"]) >= 1
