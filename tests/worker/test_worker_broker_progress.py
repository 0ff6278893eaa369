"""Progress without Redis: with a broker (RabbitMQ here) and no Redis, workers publish progress
over the broker and the API's WebSocket hears it as it happens, not from its 2-second re-reads
of the row. Also the broker bus on its own, between two processes' buses, on AMQP and on a
Redis broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest
from api_helpers import API
from kombu import Connection, Queue
from operation_helpers import start
from starlette.websockets import WebSocketDisconnect
from worker_helpers import assert_one_correct_set_each, celery_service, collection_with_documents

import dbsupport
from chunkyard.operations import websocket
from chunkyard.operations.broker_bus import BrokerProgressBus
from chunkyard.worker.mode import ExecutionMode


def _broker(kind: str) -> str:
    return dbsupport.require_rabbitmq() if kind == "amqp" else dbsupport.require_redis()


@pytest.mark.parametrize("kind", ["amqp", "redis"])
def test_the_broker_bus_carries_events_from_one_bus_to_anothers_listeners(kind: str) -> None:
    url = _broker(kind)
    queue = f"chunkyard-test-{uuid.uuid4().hex[:8]}"
    mine, other = uuid.uuid4(), uuid.uuid4()

    async def main() -> list[Any]:
        listener = BrokerProgressBus(url, queue)
        publisher = BrokerProgressBus(url, queue)  # as a worker process's bus would be
        stranger = BrokerProgressBus(url, f"{queue}-other")  # another deployment's
        try:
            async with listener.subscribe(mine) as subscription:
                await stranger.publish(mine, {"type": "progress", "n": -1})
                await publisher.publish(other, {"type": "progress", "n": 0})
                for n in (1, 2, 3):
                    await publisher.publish(mine, {"type": "progress", "n": n})
                got = []
                while len(got) < 3:
                    event = await subscription.get(10.0)
                    assert event is not None, f"only {got} arrived"
                    got.append(event)
                assert await subscription.get(0.5) is None  # nothing else for this one
                return got
        finally:
            for bus in (listener, publisher, stranger):
                await bus.close()

    assert [e["n"] for e in asyncio.run(main())] == [1, 2, 3]


def test_a_worker_without_redis_streams_progress_over_the_broker(
    databases: dbsupport.Databases, monkeypatch: pytest.MonkeyPatch
) -> None:
    amqp = dbsupport.require_rabbitmq()
    # Re-reads of the row come only after a minute of quiet: every event before the final one
    # below must have come over the bus.
    monkeypatch.setattr(websocket, "QUIET_SECONDS", 60.0)
    with celery_service(databases, redis_url=None, broker_url=amqp, job_part_documents=1) \
            as service:
        assert ExecutionMode(service.settings).name == "celery"
        try:
            headers, collection, documents = collection_with_documents(service, 5,
                                                                       paragraphs=600)
            created = start(service.api, headers, collection["id"])
            started = time.monotonic()
            events: list[dict[str, Any]] = []
            with service.api.client.websocket_connect(
                f"{API}/operations/{created['id']}/ws", headers=headers
            ) as ws:
                while True:
                    try:
                        events.append(ws.receive_json())
                    except WebSocketDisconnect:
                        break
            elapsed = time.monotonic() - started
        finally:
            _delete_queue(amqp, service.settings.queue)

    *progress, final = events
    assert final["type"] == "completed"
    assert elapsed < 45, f"the events waited for re-reads ({elapsed:.0f} s)"
    done = [e["operation"]["documents_done"] for e in progress]
    assert done == sorted(done) and len(set(done)) >= 3, done
    assert_one_correct_set_each(service, documents, final["operation"])


def _delete_queue(url: str, name: str) -> None:
    with Connection(url, connect_timeout=5) as connection:
        Queue(name, channel=connection.default_channel).delete()
