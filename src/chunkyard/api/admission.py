"""Admission control: at most `max_concurrent_requests` API requests in one process at once.

Past its capacity a server that admits everything slows every request down together (500
connections against a capacity of 150 requests/s is about 3 s each, whatever they ask); one
that admits a bounded number keeps their latency, and tells the rest at once to come back:
a request beyond the bound waits up to `admission_wait_seconds` for a slot (a short burst is
absorbed), then is refused with 429, `Retry-After` and the usual error body, before its body is
read. Only `/api/` requests count: health checks, metrics and the UI's files always pass, and
WebSockets are not requests here (their handshake is cheap, their life long). A slot is
released when the response starts, so a streamed export does not hold one while it streams.
"""

from __future__ import annotations

import asyncio
import math

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chunkyard.kit.errors import TooManyRequests, render_error

RETRY_AFTER_SECONDS = 1


class Overloaded(TooManyRequests):
    code = "overloaded"


class AdmissionMiddleware:
    def __init__(self, app: ASGIApp, limit: int, wait_seconds: float) -> None:
        self.app = app
        self.limit = limit
        self.wait_seconds = wait_seconds
        self._slots: asyncio.Semaphore | None = None  # made on the serving loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.limit or scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        slots = self._slots
        try:
            await asyncio.wait_for(slots.acquire(), timeout=self.wait_seconds)
        except TimeoutError:
            refusal = Overloaded(
                f"the server is serving {self.limit} requests at once and no slot freed within "
                f"{self.wait_seconds:g} s; try again in {RETRY_AFTER_SECONDS} s",
                headers={"Retry-After": str(math.ceil(RETRY_AFTER_SECONDS))},
            )
            await render_error(None, refusal)(scope, receive, send)
            return
        held = True

        def release() -> None:
            nonlocal held
            if held:
                held = False
                slots.release()

        async def send_releasing(message: Message) -> None:
            if message["type"] == "http.response.start":
                release()
            await send(message)

        try:
            await self.app(scope, receive, send_releasing)
        finally:
            release()
