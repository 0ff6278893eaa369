"""`WS /api/v1/operations/{id}/ws`: an operation's progress, pushed as it happens.

The client authenticates like any request (the `Authorization` header, or the session cookie
from the same origin: a browser sends cookies on cross-site WebSocket handshakes too). Someone
else's or a missing operation is refused before the handshake with the same 404 body as
`GET /operations/{id}`. The handler subscribes first and reads the row second, so no event
falls between the two; the first message is the current state, a finished operation's is its
final event, and the socket closes after the final event. When the bus is quiet for a while
the row is read again, so a lost event (a Redis hiccup, a crashed worker) never leaves a
client waiting for ever. A database that is too busy or unreachable refuses the handshake as
it answers a request (429 `overloaded` or 503 `unavailable`, with `Retry-After`), and once the
socket is open it only delays the next poll of the row.
"""

from __future__ import annotations

import logging
from typing import Any

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from chunkyard.auth.dependencies import SESSION_COOKIE, same_origin
from chunkyard.auth.service import Principal, resolve_credential
from chunkyard.kit.deps import SessionFactoryDep, SettingsDep
from chunkyard.kit.errors import NotFound, ServiceError, Unauthorized, render_error
from chunkyard.kit.ids import parse_id
from chunkyard.kit.transient import is_transient
from chunkyard.operations import service
from chunkyard.operations.deps import ProgressBusDep
from chunkyard.operations.events import Event, event_for, is_final
from chunkyard.settings import Settings

logger = logging.getLogger("chunkyard.api")

router = APIRouter(tags=["operations"])

# Seconds without an event after which the row is read again.
QUIET_SECONDS = 2.0


@router.websocket("/operations/{operation_id}/ws")
async def operation_progress(
    websocket: WebSocket,
    operation_id: str,
    bus: ProgressBusDep,
    factory: SessionFactoryDep,
    settings: SettingsDep,
) -> None:
    """Events `{type: progress|completed|failed|cancelled, operation}` until the final one."""
    try:
        user = await _authenticate(websocket, settings, factory)
        parsed = parse_id(operation_id)
        if parsed is None:
            raise NotFound(f"operation {operation_id} not found", code="operation_not_found")
    except Exception as exc:
        if not _refusable(exc):
            raise
        await _deny(websocket, exc)
        return
    async with bus.subscribe(parsed) as subscription:
        try:
            current = event_for(await _read(factory, user, operation_id))
        except Exception as exc:
            if not _refusable(exc):
                raise
            await _deny(websocket, exc)
            return
        await websocket.accept()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_watch_disconnect, websocket, tasks.cancel_scope)
            await _pump(websocket, subscription, current, factory, user, operation_id)
            tasks.cancel_scope.cancel()


async def _pump(
    websocket: WebSocket,
    subscription: Any,
    current: Event,
    factory: async_sessionmaker[AsyncSession],
    user: Principal,
    operation_id: str,
) -> None:
    """Send the current state, then every newer one, until the final event."""
    await websocket.send_json(current)
    sent = current
    while not is_final(sent):
        event = await subscription.get(QUIET_SECONDS)
        if event is None:
            try:
                event = event_for(await _read(factory, user, operation_id))
            except ServiceError:  # deleted meanwhile (its collection was deleted)
                break
            except Exception as exc:
                if not is_transient(exc):
                    raise
                continue  # the database busy or away: the next event, or the next poll
            if event == sent:
                continue
        elif not is_final(event) and _progress(event) < _progress(sent):
            continue  # an older state overtaken by a newer one already sent
        await websocket.send_json(event)
        sent = event
    await websocket.close(code=1000)


async def _watch_disconnect(websocket: WebSocket, scope: anyio.CancelScope) -> None:
    """Stop pumping once the client goes away (clients send nothing we need)."""
    try:
        while True:
            await websocket.receive_text()
    except (WebSocketDisconnect, RuntimeError):
        scope.cancel()


def _progress(event: Event) -> tuple[int, int]:
    operation = event.get("operation") or {}
    done = int(operation.get("documents_done", 0)) + int(operation.get("documents_failed", 0))
    return done, int(operation.get("chunks_created", 0))


async def _read(
    factory: async_sessionmaker[AsyncSession], user: Principal, operation_id: str
) -> Any:
    async with factory() as session:
        return await service.get_operation(session, user, operation_id)


async def _authenticate(
    websocket: WebSocket, settings: Settings, factory: async_sessionmaker[AsyncSession]
) -> Principal:
    header = websocket.headers.get("authorization")
    if header is not None:
        scheme, _, credential = header.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token or API key>'")
        credential, via = credential.strip(), "token"
    else:
        cookie = websocket.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise Unauthorized()
        if not _same_origin(websocket):
            raise Unauthorized("cross-site WebSocket refused", code="cross_site")
        credential, via = cookie, "cookie"
    async with factory() as session:
        principal = await resolve_credential(session, settings, credential, via=via)
    if principal is None:
        raise Unauthorized("the credentials are not valid or have expired", code="invalid_token")
    return principal


def _same_origin(websocket: WebSocket) -> bool:
    """Browsers always send Origin on a WebSocket handshake; it must be this server, scheme
    included (the page of ws:// is http://, of wss:// https://), as for cookie writes. No
    Origin is not a browser: no ambient cookie to abuse."""
    scheme = {"ws": "http", "wss": "https"}.get(websocket.url.scheme, websocket.url.scheme)
    return same_origin(websocket.headers.get("origin"), scheme,
                       websocket.headers.get("host", ""))


def _refusable(exc: Exception) -> bool:
    """A refusal the client is told about (its request, or a busy or unreachable database),
    rather than a bug."""
    return isinstance(exc, ServiceError) or is_transient(exc)


async def _deny(websocket: WebSocket, error: Exception) -> None:
    """Refuse the handshake with the HTTP status, headers and body the same request would
    get."""
    response = render_error(None, error)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:  # servers without the denial extension: a 403 handshake refusal
        await websocket.close(code=4000 + response.status_code)
