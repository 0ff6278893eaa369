"""Progress events over the Celery broker itself, for a deployment with a broker but no Redis
(e.g. RabbitMQ): workers publish to one fanout exchange, and every API process listens on a
queue of its own bound to it, so a WebSocket hears a worker's events as they happen instead of
re-reading the row every two seconds.

Kombu (Celery's own messaging library) speaks every broker Celery does; on Redis its fanout
is pub/sub, on AMQP an exchange with exclusive, auto-deleted queues. Kombu blocks, so the
listener is a thread that hands each event to the in-process bus on the app's event loop, and
publishing runs in a worker thread. Events are state, not history (see `events.py`): a
listener's queue keeps them for a minute at most, and nothing waits for a slow one.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import anyio
import kombu

from chunkyard.operations.events import Event, LocalProgressBus, Subscription

logger = logging.getLogger("chunkyard.events")
# Kombu ships no complete type hints: its classes are used untyped.
_kombu: Any = kombu

EXCHANGE_NAME = "chunkyard.progress"
# Seconds an event waits in a listener's queue; older ones carry a stale state anyway.
EVENT_TTL = 60
# Seconds a new listener waits for its queue to be bound before it goes on without events
# (the WebSocket then re-reads the row when the bus is quiet).
READY_TIMEOUT = 5.0


class BrokerProgressBus:
    """Publish to, and listen on, a fanout exchange named after the queue (`<queue>.progress`),
    so deployments that share a broker never hear each other."""

    def __init__(self, url: str, queue: str = "chunkyard") -> None:
        self.url = url
        self.exchange = _kombu.Exchange(f"{queue}.{EXCHANGE_NAME}", type="fanout", durable=False,
                                 auto_delete=True)
        self.local = LocalProgressBus()
        self._publisher: Any = None
        self._publish_lock = threading.Lock()
        self._listener: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()

    # -- publishing (workers) --------------------------------------------------------------

    async def publish(self, operation_id: uuid.UUID, event: Event) -> None:
        try:
            await anyio.to_thread.run_sync(self._publish, operation_id, event)
        except Exception:  # the job goes on; listeners re-read the row when the bus is quiet
            logger.warning("could not publish progress of operation %s", operation_id,
                           exc_info=True)
            self._drop_publisher()

    def _publish(self, operation_id: uuid.UUID, event: Event) -> None:
        with self._publish_lock:
            if self._publisher is None:
                connection = _kombu.Connection(self.url, connect_timeout=2)
                self._publisher = connection.Producer(serializer="json")
            self._publisher.publish(
                {"operation_id": str(operation_id), "event": event},
                exchange=self.exchange, routing_key="", declare=[self.exchange],
                expiration=EVENT_TTL, retry=True, retry_policy={"max_retries": 1},
            )

    def _drop_publisher(self) -> None:
        with self._publish_lock:
            publisher, self._publisher = self._publisher, None
        if publisher is not None:
            try:
                publisher.connection.release()
            except Exception:
                logger.debug("could not close the progress publisher", exc_info=True)

    # -- listening (API processes) ---------------------------------------------------------

    @asynccontextmanager
    async def _subscribe(self, operation_id: uuid.UUID) -> AsyncIterator[Subscription]:
        self._start_listening()
        # Bound before the caller reads the row, so no event after that read is missed.
        await anyio.to_thread.run_sync(self._ready.wait, READY_TIMEOUT)
        async with self.local.subscribe(operation_id) as subscription:
            yield subscription

    def subscribe(self, operation_id: uuid.UUID) -> AbstractAsyncContextManager[Subscription]:
        return self._subscribe(operation_id)

    def _start_listening(self) -> None:
        if self._listener is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._listener = threading.Thread(target=self._listen, name="progress-listener",
                                          daemon=True)
        self._listener.start()

    def _listen(self) -> None:
        """Consume until closed, connecting again (after a second) whenever the broker goes."""
        while not self._stop.is_set():
            try:
                with _kombu.Connection(self.url, connect_timeout=2) as connection:
                    queue = _kombu.Queue(f"{self.exchange.name}.{uuid.uuid4().hex}",
                                  exchange=self.exchange, durable=False, exclusive=True,
                                  auto_delete=True, message_ttl=EVENT_TTL)
                    with connection.Consumer([queue], callbacks=[self._deliver],
                                             accept=["json"]):
                        self._ready.set()
                        while not self._stop.is_set():
                            try:
                                connection.drain_events(timeout=1)
                            except TimeoutError:
                                continue
            except Exception:
                if self._stop.is_set():
                    return
                logger.warning("progress listener lost the broker; connecting again",
                               exc_info=True)
                self._ready.clear()
                self._stop.wait(1.0)

    def _deliver(self, body: Any, message: Any) -> None:
        message.ack()
        loop = self._loop
        try:
            operation_id = uuid.UUID(str(body["operation_id"]))
            event: Event = dict(body["event"])
        except (KeyError, TypeError, ValueError):
            logger.warning("ignored a malformed progress event")
            return
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.local.deliver, operation_id, event)

    async def close(self) -> None:
        self._stop.set()
        listener, self._listener = self._listener, None
        if listener is not None:
            await anyio.to_thread.run_sync(listener.join, 5.0)
        await anyio.to_thread.run_sync(self._drop_publisher)
        await self.local.close()
