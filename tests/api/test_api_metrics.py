"""`GET /metrics`: the Prometheus text format, request latency by route template (never a raw
path), job totals read from the database, queue depth, partition skew on PostgreSQL, the cache,
and a scrape that survives a database failure (both backends)."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from typing import cast

import pytest
from api_helpers import API, Api, create_collection, in_db, user_headers
from fastapi.testclient import TestClient
from operation_helpers import CORRUPT_PDF, start, text_file, upload, wait_finished
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.testclient import WebSocketDenialResponse

from chunkyard.api.app import create_app
from chunkyard.api.metrics import JOB_BUCKETS, metrics_for
from chunkyard.settings import Settings
from chunkyard.storage.models import Operation, OperationStatus

REQUESTS = "chunkyard_http_request_duration_seconds"
DURATIONS = "chunkyard_operation_duration_seconds"
DOCUMENT_ROUTE = f"{API}/documents/{{document_id}}"
UPLOAD_ROUTE = f"{API}/collections/{{collection_id}}/documents"
WS_ROUTE = f"{API}/operations/{{operation_id}}/ws"
OPERATION_FAMILIES = {
    "chunkyard_operations", "chunkyard_operation_queue_depth", "chunkyard_operation_documents",
    "chunkyard_operation_chunks_created", DURATIONS, "chunkyard_operations_active",
    "chunkyard_documents_failed", "chunkyard_operations_failed",
}
PARTITION_FAMILIES = {
    "chunkyard_chunk_partition_skew", "chunkyard_chunk_partition_rows_max",
    "chunkyard_chunk_partition_rows_mean",
}
HEXISH = re.compile(r"[0-9a-f]{8}")


@dataclass
class Scrape:
    text: str
    families: dict[str, str]  # name -> type
    samples: list[Sample]

    def value(self, name: str, default: float | None = None, **labels: str) -> float:
        for sample in self.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
        assert default is not None, f"no sample {name}{labels}"
        return default

    def labels(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}


def scrape(client: TestClient, *, fresh: bool = True) -> Scrape:
    """GET /metrics, parsed; `fresh` drops the database cache first (the app is shared)."""
    if fresh:
        metrics_for(cast(Starlette, client.app)).database.expire()
    response = client.get("/metrics")  # no credentials: the endpoint needs none
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = list(text_string_to_metric_families(response.text))
    return Scrape(
        response.text,
        {f.name: f.type for f in families},
        [sample for f in families for sample in f.samples],
    )


def test_the_exposition_parses_and_has_every_series(api: Api) -> None:
    result = scrape(api.client)
    assert result.value("chunkyard_metrics_scrape_error") == 0
    assert set(result.families) >= OPERATION_FAMILIES
    assert result.families[DURATIONS] == "histogram"
    assert result.families[REQUESTS] == "histogram"
    assert result.labels("chunkyard_operations", "status") == {s.value for s in OperationStatus}
    assert result.labels(f"{DURATIONS}_count", "status") == {"completed", "failed", "cancelled"}
    assert result.value("chunkyard_operation_queue_depth") == result.value(
        "chunkyard_operations", status="pending"
    )


def test_request_latency_is_labelled_by_route_template(api: Api) -> None:
    headers = user_headers(api)
    raw_id = str(uuid.uuid4())
    # Under the API prefix: elsewhere, a path without a dot is a client route of the web UI.
    stray = f"{API}/no-such-page/{uuid.uuid4().hex}"
    found = {"route": DOCUMENT_ROUTE, "method": "GET", "status": "404"}
    missing = {"route": "unmatched", "method": "GET", "status": "404"}
    odd = {"route": "/healthz", "method": "other", "status": "405"}
    before = scrape(api.client)

    for _ in range(2):
        assert api.client.get(f"{API}/documents/{raw_id}", headers=headers).status_code == 404
    assert api.client.get(stray).status_code == 404
    assert api.client.request("BREW", "/healthz").status_code == 405
    after = scrape(api.client)

    for labels, added in ((found, 2), (missing, 1), (odd, 1)):
        count = after.value(f"{REQUESTS}_count", **labels)
        assert count == before.value(f"{REQUESTS}_count", default=0, **labels) + added, labels
        assert after.value(f"{REQUESTS}_bucket", le="+Inf", **labels) == count
        assert after.value(f"{REQUESTS}_sum", **labels) > 0
    # Neither the raw id nor the stray path is a label anywhere; no route label holds an id.
    assert raw_id not in after.text and stray not in after.text
    routes = after.labels(f"{REQUESTS}_count", "route")
    assert DOCUMENT_ROUTE in routes and "unmatched" in routes
    assert not [r for r in routes if HEXISH.search(r)], routes


def test_a_body_refused_before_routing_is_labelled_by_its_route(api: Api) -> None:
    labels = {"route": UPLOAD_ROUTE, "method": "POST", "status": "413"}
    before = scrape(api.client).value(f"{REQUESTS}_count", default=0, **labels)
    # A declared length over the limit is refused before the router sees the request.
    response = api.client.post(
        f"{API}/collections/{uuid.uuid4()}/documents",
        content=b"x",
        headers={"content-length": str(10**10)},
    )
    assert response.status_code == 413
    assert scrape(api.client).value(f"{REQUESTS}_count", **labels) == before + 1


def test_operation_totals_follow_a_finished_operation(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(
        api, headers, config={"strategy": "recursive", "params": {"chunk_size": 64}}
    )
    upload(api, headers, collection["id"], [
        ("a.md", text_file("alpha")), ("b.txt", text_file("beta")), ("bad.pdf", CORRUPT_PDF),
    ])
    before = scrape(api.client)
    started = time.monotonic()
    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    elapsed = time.monotonic() - started
    assert final["status"] == "completed", final
    assert (final["documents_done"], final["documents_failed"]) == (2, 1)
    assert final["chunks_created"] > 0
    after = scrape(api.client)

    def added(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert added("chunkyard_operations", status="completed") == 1
    assert added("chunkyard_operation_documents", outcome="done") == 2
    assert added("chunkyard_operation_documents", outcome="failed") == 1
    assert added("chunkyard_operation_chunks_created") == final["chunks_created"]
    assert added(f"{DURATIONS}_count", status="completed") == 1
    assert added(f"{DURATIONS}_bucket", status="completed", le="+Inf") == 1
    assert 0 <= added(f"{DURATIONS}_sum", status="completed") <= elapsed
    # Buckets are cumulative, and this short job landed in every one from a few seconds up.
    counts = [
        after.value(f"{DURATIONS}_bucket", status="completed", le=repr(bound))
        for bound in JOB_BUCKETS
    ]
    assert counts == sorted(counts)
    assert counts[-1] == after.value(f"{DURATIONS}_count", status="completed")
    long_enough = [b for b in JOB_BUCKETS if b >= elapsed]
    assert added(f"{DURATIONS}_bucket", status="completed", le=repr(long_enough[0])) == 1

    # The operation's WebSocket: one accepted connection, counted by template, then closed.
    accepted = {"route": WS_ROUTE, "outcome": "accepted"}
    refused = {"route": WS_ROUTE, "outcome": "refused"}
    ws_before = scrape(api.client, fresh=False)
    with api.client.websocket_connect(f"{API}/operations/{final['id']}/ws", headers=headers) as ws:
        assert ws.receive_json()["type"] == "completed"
    stranger = api.client.websocket_connect(f"{API}/operations/{uuid.uuid4()}/ws", headers=headers)
    with pytest.raises(WebSocketDenialResponse):
        stranger.__enter__()
    ws_after = scrape(api.client, fresh=False)
    for labels in (accepted, refused):
        name = "chunkyard_websocket_connections_total"
        assert ws_after.value(name, **labels) == ws_before.value(name, default=0, **labels) + 1
    assert ws_after.value("chunkyard_websocket_connections_open") == ws_before.value(
        "chunkyard_websocket_connections_open"
    )


def _me(api: Api, headers: dict[str, str]) -> uuid.UUID:
    response = api.client.get(f"{API}/auth/me", headers=headers)
    assert response.status_code == 200, response.text
    return uuid.UUID(response.json()["id"])


def insert_pending_operation(api: Api, headers: dict[str, str]) -> uuid.UUID:
    """An operation row no worker will pick up: it stays pending until deleted."""
    collection = create_collection(api, headers)
    owner = _me(api, headers)

    async def insert(session: AsyncSession) -> uuid.UUID:
        operation = Operation(
            collection_id=uuid.UUID(collection["id"]),
            owner_id=owner,
            status=OperationStatus.PENDING,
            config={"strategy": "recursive", "params": {}},
        )
        session.add(operation)
        await session.flush()
        return operation.id

    return in_db(api.settings, insert)


def delete_operation(settings: Settings, operation_id: uuid.UUID) -> None:
    async def remove(session: AsyncSession) -> None:
        await session.execute(delete(Operation).where(Operation.id == operation_id))

    in_db(settings, remove)


def pending_in_db(settings: Settings) -> int:
    """Pending operations, counted with the test's own SQL."""

    async def count(session: AsyncSession) -> int:
        found = await session.scalar(text(
            "SELECT count(*) FROM operations WHERE status = 'pending'"))
        return int(found or 0)

    return in_db(settings, count)


def settled_depth(api: Api) -> tuple[int, Scrape]:
    """The pending operations in the database and a fresh scrape taken while that count held
    still (jobs of earlier tests may still be starting), so the test never relies on the
    gauge moving by exactly one."""
    for _ in range(20):
        before = pending_in_db(api.settings)
        result = scrape(api.client)
        if pending_in_db(api.settings) == before:
            return before, result
        time.sleep(0.1)
    raise AssertionError("the pending operations never held still for a scrape")


def test_queue_depth_counts_pending_operations(api: Api) -> None:
    headers = user_headers(api)
    operation_id = insert_pending_operation(api, headers)
    try:
        pending, result = settled_depth(api)
        assert pending >= 1  # ours, at least
        assert result.value("chunkyard_operation_queue_depth") == pending
        assert result.value("chunkyard_operations", status="pending") == pending
    finally:
        delete_operation(api.settings, operation_id)
    pending, result = settled_depth(api)
    assert result.value("chunkyard_operation_queue_depth") == pending


def test_partition_skew_is_reported_on_postgresql_only(api: Api) -> None:
    if api.backend == "sqlite":  # one table, no partitions: nothing to skew
        assert not PARTITION_FAMILIES & set(scrape(api.client).families)
        return
    headers = user_headers(api)
    collection = create_collection(api, headers)
    upload(api, headers, collection["id"], [("skew.txt", text_file("skew", paragraphs=40))])
    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert final["status"] == "completed" and final["chunks_created"] > 0

    async def count(session: AsyncSession) -> tuple[int, dict[str, int], dict[str, int]]:
        # The metric reads the planner's estimates, which ANALYZE (or autovacuum) refreshes;
        # on tables this small ANALYZE reads every row, so the estimates are the counts.
        await session.execute(text("ANALYZE chunks"))
        # Counted here without the code under test: the child tables of `chunks` from the
        # catalog, the rows in each (tableoid names the child a row is stored in), and where
        # this test's document landed.
        children = await session.scalar(text(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'chunks'::regclass"
        ))
        per_table = await session.execute(text(
            "SELECT tableoid::regclass::text, count(*) FROM chunks GROUP BY 1"
        ))
        ours = await session.execute(
            text(
                "SELECT c.tableoid::regclass::text, count(*) FROM chunks c "
                "JOIN documents d ON d.id = c.document_id "
                "WHERE d.collection_id = :collection GROUP BY 1"
            ),
            {"collection": uuid.UUID(collection["id"])},
        )
        return (
            int(children or 0),
            {str(table): int(n) for table, n in per_table.all()},
            {str(table): int(n) for table, n in ours.all()},
        )

    partitions, rows, mine = in_db(api.settings, count)
    assert partitions == 100  # the documented partition count
    # The one document's chunks sit in one partition, and they are among the rows counted.
    assert sum(mine.values()) == final["chunks_created"] and len(mine) == 1
    assert all(rows[table] >= n for table, n in mine.items())
    mean = sum(rows.values()) / partitions
    result = scrape(api.client)
    assert set(result.families) >= PARTITION_FAMILIES
    assert result.value("chunkyard_chunk_partition_rows_max") == max(rows.values())
    assert result.value("chunkyard_chunk_partition_rows_mean") == pytest.approx(mean)
    # Chunks of a few documents sit in a few of the 100 partitions: far from an even spread.
    skew = result.value("chunkyard_chunk_partition_skew")
    assert skew == pytest.approx(max(rows.values()) / mean, abs=1e-4)  # the metric rounds
    assert skew > 1


def test_database_totals_are_cached_between_scrapes(api: Api) -> None:
    headers = user_headers(api)
    cached = scrape(api.client)
    database = metrics_for(cast(Starlette, api.client.app)).database
    saved = database.cache_seconds
    database.cache_seconds = 3600.0
    operation_id = insert_pending_operation(api, headers)
    try:
        # Within the cache time the database is not read again...
        stale = scrape(api.client, fresh=False)
        depth = "chunkyard_operation_queue_depth"
        assert stale.value(depth) == cached.value(depth)
        # ...and once it has passed, it is: the gauge counts what is pending now, ours too.
        pending, fresh = settled_depth(api)
        assert pending >= 1 and fresh.value(depth) == pending
    finally:
        database.cache_seconds = saved
        delete_operation(api.settings, operation_id)


def test_a_database_failure_does_not_fail_the_scrape(sqlite_settings: Settings) -> None:
    settings = sqlite_settings.model_copy(
        update={"database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/none"}
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/healthz").status_code == 200
        result = scrape(client)
        assert result.value("chunkyard_metrics_scrape_error") == 1
        # The database series are left out (not reported stale or as zeros); the rest remain.
        assert not (OPERATION_FAMILIES | PARTITION_FAMILIES) & set(result.families)
        assert result.value(f"{REQUESTS}_count", route="/healthz", method="GET", status="200") == 1
        assert scrape(client).value(f"{REQUESTS}_count", route="/metrics", method="GET",
                                    status="200") == 1
