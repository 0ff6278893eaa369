"""Request ids: `X-Request-ID` on every response and in every log record made for the request.

A client's own id is echoed when it is sane (1-128 characters of `A-Za-z0-9._:-`), otherwise
a new one is made. The id lives in a context variable that a log-record factory copies into
each record as `request_id` (`-` outside requests), so `%(request_id)s` works in any format.
This middleware is also the last line for unexpected exceptions: it logs them and answers a
500 with the error body (and the id), unless the response had already started.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chunkyard.kit.errors import PayloadTooLarge, render_error

REQUEST_ID_HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

request_id_var: ContextVar[str] = ContextVar("chunkyard_request_id", default="-")

access_logger = logging.getLogger("chunkyard.api.access")

_factory_installed = False


def install_log_record_factory() -> None:
    """Make every log record carry `request_id` (idempotent)."""
    global _factory_installed
    if _factory_installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    logging.setLogRecordFactory(factory)
    _factory_installed = True


def choose_request_id(sent: str | None) -> str:
    if sent is not None and _SANE_ID.fullmatch(sent):
        return sent
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        sent = None
        for name, value in scope.get("headers", ()):
            if name == b"x-request-id":
                sent = value.decode("latin-1")
                break
        request_id = choose_request_id(sent)
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if status or scope["type"] != "http":
                raise  # too late for an error body
            response = render_error(None, exc)
            await response(scope, receive, send_with_id)
        finally:
            if scope["type"] == "http":
                access_logger.info(
                    "%s %s %s %.1fms",
                    scope.get("method"),
                    scope.get("path"),
                    status,
                    (time.perf_counter() - started) * 1000,
                )
            request_id_var.reset(token)


class BodyLimitMiddleware:
    """Refuse request bodies over `max_body_size` bytes with 413 and the error body.

    A declared Content-Length over the limit is refused before anything is read; a chunked
    body is counted as it streams in, and reading past the limit raises `PayloadTooLarge`.
    """

    def __init__(self, app: ASGIApp, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_size
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await render_error(None, _too_large(limit))(scope, receive, send)
                    return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(limit)
            return message

        await self.app(scope, counting_receive, send)


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"the request body is larger than {limit} bytes")
