"""Progress events of operations: published by the job, delivered to WebSocket clients.

One interface, three buses (`worker/mode.py` picks one): in the embedded mode the job runs on
the app's event loop, so an in-process broadcaster is enough; with Celery workers, every API
process listens on Redis pub/sub, or on the broker itself when there is no Redis
(`broker_bus.py`). An event is `{"type": "progress" | "completed" | "failed" | "cancelled",
"operation": {...the body of GET /operations/{id}...}}`: each carries the whole state, so a
lost or dropped event is repaired by the next one (and the WebSocket re-reads the row when the
bus is quiet), which lets both buses drop rather than block when a listener falls behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from sqlalchemy import Row

from chunkyard.operations.schemas import OperationOut
from chunkyard.storage.models import Operation, OperationStatus

logger = logging.getLogger("chunkyard.events")

FINAL_STATUSES = frozenset(
    {OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.CANCELLED}
)
CHANNEL_PREFIX = "chunkyard:operation:"
# Events queued per listener before the oldest is dropped (each event carries the full state).
LISTENER_BACKLOG = 64

Event = dict[str, Any]


# The columns of `operations` that an event carries: a job builds its events from the
# `UPDATE ... RETURNING` of its own writes instead of reading the row again.
EVENT_COLUMNS: tuple[Any, ...] = tuple(
    Operation.__table__.c[name] for name in OperationOut.model_fields
)


def event_for(operation: Operation | OperationOut | Row[Any]) -> Event:
    """The event that tells a listener the operation's current state (from the row, the
    body, or a result row of `EVENT_COLUMNS`)."""
    body = OperationOut.model_validate(operation).model_dump(mode="json")
    status = str(body["status"])
    return {"type": status if status in FINAL_STATUSES else "progress", "operation": body}


def is_final(event: Event) -> bool:
    return str(event.get("type")) in FINAL_STATUSES


class Subscription(Protocol):
    async def get(self, timeout: float) -> Event | None:
        """The next event, or None when none came within `timeout` seconds."""


class ProgressBus(Protocol):
    async def publish(self, operation_id: uuid.UUID, event: Event) -> None:
        """Send an event to every listener of the operation; never raises."""

    def subscribe(self, operation_id: uuid.UUID) -> AbstractAsyncContextManager[Subscription]:
        """Listen to one operation's events while the context is open."""

    async def close(self) -> None: ...


class _QueueSubscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=LISTENER_BACKLOG)

    def offer(self, event: Event) -> None:
        if self.queue.full():
            self.queue.get_nowait()  # the newest state matters, not the history
        self.queue.put_nowait(event)

    async def get(self, timeout: float) -> Event | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class LocalProgressBus:
    """In-process broadcaster: publishers and listeners share the app's event loop."""

    def __init__(self) -> None:
        self.listeners: dict[uuid.UUID, set[_QueueSubscription]] = {}

    async def publish(self, operation_id: uuid.UUID, event: Event) -> None:
        self.deliver(operation_id, event)

    def deliver(self, operation_id: uuid.UUID, event: Event) -> None:
        """Hand the event to this process's listeners (on the loop they run on)."""
        for listener in list(self.listeners.get(operation_id, ())):
            listener.offer(event)

    @asynccontextmanager
    async def _subscribe(self, operation_id: uuid.UUID) -> AsyncIterator[Subscription]:
        listener = _QueueSubscription()
        self.listeners.setdefault(operation_id, set()).add(listener)
        try:
            yield listener
        finally:
            remaining = self.listeners.get(operation_id)
            if remaining is not None:
                remaining.discard(listener)
                if not remaining:
                    del self.listeners[operation_id]

    def subscribe(self, operation_id: uuid.UUID) -> AbstractAsyncContextManager[Subscription]:
        return self._subscribe(operation_id)

    async def close(self) -> None:
        self.listeners.clear()


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub

    async def get(self, timeout: float) -> Event | None:
        try:
            message = await self.pubsub.get_message(
                ignore_subscribe_messages=True, timeout=timeout
            )
        except Exception:  # Redis went away: the listener falls back to reading the row
            logger.warning("progress subscription failed", exc_info=True)
            await asyncio.sleep(timeout)
            return None
        if message is None or message.get("type") != "message":
            return None
        try:
            event: Event = json.loads(message["data"])
        except (TypeError, ValueError):
            logger.warning("ignored a malformed progress event")
            return None
        return event


class RedisProgressBus:
    """Redis pub/sub: one channel per operation, so a listener hears only its own."""

    def __init__(self, redis: Any, *, owns_client: bool = False) -> None:
        self.redis = redis
        self.owns_client = owns_client

    @classmethod
    def from_url(cls, url: str) -> RedisProgressBus:
        from redis.asyncio import Redis

        client = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return cls(client, owns_client=True)

    async def publish(self, operation_id: uuid.UUID, event: Event) -> None:
        try:
            await self.redis.publish(_channel(operation_id), json.dumps(event))
        except Exception:  # the job goes on; listeners re-read the row when the bus is quiet
            logger.warning("could not publish progress of operation %s", operation_id,
                           exc_info=True)

    @asynccontextmanager
    async def _subscribe(self, operation_id: uuid.UUID) -> AsyncIterator[Subscription]:
        pubsub = self.redis.pubsub()
        try:
            await pubsub.subscribe(_channel(operation_id))
            yield _RedisSubscription(pubsub)
        finally:
            await pubsub.aclose()

    def subscribe(self, operation_id: uuid.UUID) -> AbstractAsyncContextManager[Subscription]:
        return self._subscribe(operation_id)

    async def close(self) -> None:
        if self.owns_client:
            await self.redis.aclose()


def _channel(operation_id: uuid.UUID) -> str:
    return f"{CHANNEL_PREFIX}{operation_id}"
