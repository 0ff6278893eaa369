"""Prometheus metrics at `GET /metrics`: request latency per route, job totals from the database.

Request latency is measured in this process by `RequestMetricsMiddleware` and labelled by route
template (never the raw path, whose ids would make the label set unbounded). Jobs run in this
process or in Celery workers elsewhere, so counters kept here would miss most of them: the job
series are computed from the `operations` table when scraped, by `DatabaseCollector`, and cached
for a few seconds so that a burst of scrapes costs one query. A database failure never fails
the scrape: its series are left out and `chunkyard_metrics_scrape_error` says 1.

Each app has its own `CollectorRegistry` (`metrics_for(app)`), so several apps in one process
(the tests) never share or clash over series.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi import routing as fastapi_routing
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from sqlalchemy import Float, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.models import Operation, OperationStatus
from chunkyard.storage.partitions import partition_report

logger = logging.getLogger("chunkyard.api.metrics")

T = TypeVar("T")

# The Prometheus text format every scraper understands (all names here are legacy-valid).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"  # the route label of requests that matched no route
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# Jobs take from well under a second (a few small documents) to hours (a big collection).
JOB_BUCKETS = (0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
FINISHED = (OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.CANCELLED)
CACHE_SECONDS = 5.0
# Planner estimates only move on ANALYZE, and the report also counts documents: read less often.
PARTITION_CACHE_SECONDS = 60.0
DATABASE_TIMEOUT = 5.0
# A client picks the method; anything unusual shares one label value so it cannot grow the set.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

router = APIRouter(tags=["health"])


class Metrics:
    """One app's metrics: its registry, the request series and the database collector."""

    def __init__(self, app: Starlette) -> None:
        self.registry = CollectorRegistry()
        self.routes = RouteTemplates(app)
        self.requests = Histogram(
            "chunkyard_http_request_duration_seconds",
            "HTTP request latency in this API process, by route template, method and status.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.websockets = Counter(
            "chunkyard_websocket_connections",
            "WebSocket connections to this API process by route template and outcome "
            "(accepted or refused).",
            ["route", "outcome"],
            registry=self.registry,
        )
        self.websockets_open = Gauge(
            "chunkyard_websocket_connections_open",
            "WebSocket connections open in this API process.",
            registry=self.registry,
        )
        self.database = DatabaseCollector()
        self.registry.register(self.database)

    def render(self) -> bytes:
        return generate_latest(self.registry)


def metrics_for(app: Starlette) -> Metrics:
    """The app's `Metrics`, made on first use and kept in `app.state.metrics`."""
    metrics: Metrics | None = getattr(app.state, "metrics", None)
    if metrics is None:
        metrics = Metrics(app)
        app.state.metrics = metrics
    return metrics


@router.get("/metrics", response_class=Response)
async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text format; no auth, like /healthz."""
    metrics = metrics_for(request.app)
    await metrics.database.refresh(getattr(request.app.state, "engine", None))
    return Response(metrics.render(), media_type=CONTENT_TYPE)


# -- request latency -------------------------------------------------------------------------


class RouteTemplates:
    """The full path template (`/api/v1/documents/{document_id}`) of a matched route.

    The router leaves the matched route object in `scope["route"]`; with routers included
    under a prefix, that object may carry only its own part of the path, so the full template
    is looked up by route identity in the app's flattened route table.
    """

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self._by_route: dict[int, str] = {}
        self._patterns: list[tuple[re.Pattern[str], str]] = []
        self._built = False
        self._unknown: set[int] = set()

    def _build(self) -> None:
        by_route: dict[int, str] = {}
        patterns: list[tuple[re.Pattern[str], str]] = []
        for route, path, template in _flat_routes(self.app.routes):
            by_route.setdefault(id(route), template)
            if path and not isinstance(route, Mount):
                patterns.append((compile_path(path)[0], template))
        self._by_route, self._patterns, self._built = by_route, patterns, True

    def for_scope(self, scope: Scope) -> str:
        if not self._built:
            self._build()
        route = scope.get("route")
        if route is None:
            # Answered before routing (a refused body) or by no route at all (404).
            return self._match(scope.get("path", ""))
        key = id(route)
        template = self._by_route.get(key)
        if template is None and key not in self._unknown:
            self._build()  # a route added after the first request
            template = self._by_route.get(key)
            if template is None:
                self._unknown.add(key)
        if template is None:
            template = getattr(route, "path_format", None)
        return template if isinstance(template, str) and template else UNMATCHED

    def _match(self, path: str) -> str:
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return UNMATCHED


def _flat_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[BaseRoute, str, str]]:
    """(route object, path with convertors, path template) for every route, prefixes included."""
    iter_contexts: Any = getattr(fastapi_routing, "iter_route_contexts", None)
    if iter_contexts is not None:  # FastAPI that keeps included routers as they are
        for context in iter_contexts(routes):
            template = context.path_format
            if isinstance(template, str):
                yield context.original_route, str(context.path or ""), template
        return
    for route in routes:  # FastAPI that copies included routes with their full path
        template = getattr(route, "path_format", None)
        if isinstance(template, str):
            yield route, str(getattr(route, "path", "") or ""), template


class RequestMetricsMiddleware:
    """Times HTTP requests and counts WebSocket connections, labelled by route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_watching)
        except Exception:
            status = status or 500  # an outer middleware answers it with a 500
            raise
        finally:
            # No status and no exception: cancelled before any answer; nothing to label.
            if status:
                method = str(scope.get("method", "")).upper()
                self.metrics.requests.labels(
                    route=self.metrics.routes.for_scope(scope),
                    method=method if method in _METHODS else "other",
                    status=str(status),
                ).observe(time.perf_counter() - started)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Connection lifetimes are not request latencies: counted, not timed.
        outcome = ""

        async def send_watching(message: Message) -> None:
            nonlocal outcome
            if not outcome:
                if message["type"] == "websocket.accept":
                    outcome = "accepted"
                    self.metrics.websockets_open.inc()
                elif message["type"] in ("websocket.close", "websocket.http.response.start"):
                    outcome = "refused"
                if outcome:
                    self.metrics.websockets.labels(
                        route=self.metrics.routes.for_scope(scope), outcome=outcome
                    ).inc()
            await send(message)

        try:
            await self.app(scope, receive, send_watching)
        finally:
            if outcome == "accepted":
                self.metrics.websockets_open.dec()
            elif not outcome:
                self.metrics.websockets.labels(
                    route=self.metrics.routes.for_scope(scope), outcome="refused"
                ).inc()


# -- job totals from the database ------------------------------------------------------------


class seconds_between(FunctionElement[float]):
    """`end - start` in seconds (a float), as each backend spells it."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_between_postgresql(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"((julianday({end}) - julianday({start})) * 86400.0)"


@dataclass(frozen=True, slots=True)
class StatusTotals:
    """Sums over the stored operations of one status."""

    operations: int = 0
    documents_done: int = 0
    documents_failed: int = 0
    chunks_created: int = 0
    timed: int = 0  # operations with both started_at and finished_at (finished ones only)
    seconds: float = 0.0  # their summed duration
    buckets: tuple[int, ...] = (0,) * len(JOB_BUCKETS)  # cumulative: duration <= bound


@dataclass(frozen=True, slots=True)
class PartitionSpread:
    skew: float
    max_rows: int
    mean_rows: float


async def read_operation_totals(connection: AsyncConnection) -> dict[str, StatusTotals]:
    """One scan of `operations`: counts and sums per status, and duration buckets in SQL."""
    finished = and_(
        Operation.status.in_([str(s) for s in FINISHED]),
        Operation.started_at.is_not(None),
        Operation.finished_at.is_not(None),
    )
    duration = case((finished, seconds_between(Operation.started_at, Operation.finished_at)))
    stmt = select(
        Operation.status,
        func.count(),
        func.coalesce(func.sum(Operation.documents_done), 0),
        func.coalesce(func.sum(Operation.documents_failed), 0),
        func.coalesce(func.sum(Operation.chunks_created), 0),
        func.count(duration),
        func.coalesce(func.sum(duration), 0.0),
        *(func.count(case((duration <= bound, 1))) for bound in JOB_BUCKETS),
    ).group_by(Operation.status)
    totals: dict[str, StatusTotals] = {}
    for row in (await connection.execute(stmt)).all():
        status, operations, done, failed, chunks, timed, seconds, *buckets = row
        totals[str(status)] = StatusTotals(
            operations=int(operations),
            documents_done=int(done),
            documents_failed=int(failed),
            chunks_created=int(chunks),
            timed=int(timed),
            seconds=float(seconds),
            buckets=tuple(int(b) for b in buckets),
        )
    return totals


async def read_partition_spread(connection: AsyncConnection) -> PartitionSpread:
    # Planner estimates (pg_class.reltuples): exact counts would scan every chunk row.
    report = await partition_report(connection, exact=False, top=0)
    return PartitionSpread(skew=report.skew, max_rows=report.max_rows, mean_rows=report.mean_rows)


class DatabaseCollector:
    """Job series read from the database at scrape time (see the module docstring).

    `refresh` reads what is due (each part has its own cache time) under a lock, so a scrape
    storm waits for one read instead of starting many; a failed read is cached too, so an
    unreachable database is not retried on every scrape. `collect` only formats the cache.
    """

    def __init__(
        self,
        cache_seconds: float = CACHE_SECONDS,
        partition_cache_seconds: float = PARTITION_CACHE_SECONDS,
        timeout: float = DATABASE_TIMEOUT,
    ) -> None:
        self.cache_seconds = cache_seconds
        self.partition_cache_seconds = partition_cache_seconds
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._operations: dict[str, StatusTotals] | None = None
        self._operations_error = False
        self._operations_read_at = -math.inf
        self._partitions: PartitionSpread | None = None
        self._partitions_error = False
        self._partitions_read_at = -math.inf
        self._read_seconds = 0.0

    def expire(self) -> None:
        """Forget the cache: the next scrape reads the database."""
        self._operations_read_at = self._partitions_read_at = -math.inf

    async def refresh(self, engine: AsyncEngine | None) -> None:
        async with self._lock:
            now = time.monotonic()
            operations_due = now - self._operations_read_at >= self.cache_seconds
            partitions_due = now - self._partitions_read_at >= self.partition_cache_seconds
            if not operations_due and not partitions_due:
                return
            started = time.perf_counter()
            if operations_due:
                self._operations_read_at = now
                self._operations = await self._read(engine, read_operation_totals, "operations")
                self._operations_error = self._operations is None
            if partitions_due:
                self._partitions_read_at = now
                self._partitions = None
                self._partitions_error = False
                if engine is not None and dialect_for(engine).partitioned:
                    self._partitions = await self._read(
                        engine, read_partition_spread, "chunk partitions"
                    )
                    self._partitions_error = self._partitions is None
            self._read_seconds = time.perf_counter() - started

    async def _read(
        self,
        engine: AsyncEngine | None,
        read: Callable[[AsyncConnection], Awaitable[T]],
        what: str,
    ) -> T | None:
        if engine is None:
            logger.warning("metrics: no database engine (the app has not started)")
            return None
        try:
            async with asyncio.timeout(self.timeout), engine.connect() as connection:
                return await read(connection)
        except Exception as exc:  # the scrape goes on without these series
            logger.warning("metrics: reading %s failed: %r", what, exc)
            return None

    def describe(self) -> Iterable[Metric]:
        return []  # nothing to check for clashes at registration, and no database read

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "chunkyard_metrics_scrape_error",
            "1 when the last database read for these metrics failed (its series are missing).",
            value=1.0 if self._operations_error or self._partitions_error else 0.0,
        )
        yield GaugeMetricFamily(
            "chunkyard_metrics_database_read_seconds",
            "How long the last database read for these metrics took.",
            value=self._read_seconds,
        )
        if self._operations is not None:
            yield from _operation_families(self._operations)
        if self._partitions is not None:
            yield from _partition_families(self._partitions)


def _operation_families(totals: dict[str, StatusTotals]) -> Iterator[Metric]:
    # Totals over the operations still stored: deleting a collection deletes its operations,
    # so these can fall, which is why they are gauges and not counters.
    per_status = {str(s): totals.get(str(s), StatusTotals()) for s in OperationStatus}
    operations = GaugeMetricFamily(
        "chunkyard_operations", "Stored operations by status.", labels=["status"]
    )
    for status, total in per_status.items():
        operations.add_metric([status], total.operations)
    yield operations
    yield GaugeMetricFamily(
        "chunkyard_operation_queue_depth",
        "Operations waiting for a worker (status pending).",
        value=per_status[OperationStatus.PENDING].operations,
    )
    documents = GaugeMetricFamily(
        "chunkyard_operation_documents",
        "Documents processed by the stored operations, by outcome (done or failed).",
        labels=["outcome"],
    )
    documents.add_metric(["done"], sum(t.documents_done for t in per_status.values()))
    documents.add_metric(["failed"], sum(t.documents_failed for t in per_status.values()))
    yield documents
    yield GaugeMetricFamily(
        "chunkyard_operation_chunks_created",
        "Chunks created by the stored operations.",
        value=sum(t.chunks_created for t in per_status.values()),
    )
    durations = HistogramMetricFamily(
        "chunkyard_operation_duration_seconds",
        "Duration (started to finished) of finished operations, by final status.",
        labels=["status"],
    )
    for status in FINISHED:
        total = per_status[status]
        buckets: list[tuple[str, float]] = [
            (repr(bound), count)  # the `le` spelling of Histogram
            for bound, count in zip(JOB_BUCKETS, total.buckets, strict=True)
        ]
        buckets.append(("+Inf", total.timed))
        durations.add_metric([str(status)], buckets, sum_value=total.seconds)
    yield durations


def _partition_families(spread: PartitionSpread) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "chunkyard_chunk_partition_skew",
        "Chunk rows in the fullest partition over the mean per partition (planner estimates; "
        "1 is a perfect spread).",
        value=spread.skew,
    )
    yield GaugeMetricFamily(
        "chunkyard_chunk_partition_rows_max",
        "Chunk rows in the fullest partition (planner estimate).",
        value=spread.max_rows,
    )
    yield GaugeMetricFamily(
        "chunkyard_chunk_partition_rows_mean",
        "Mean chunk rows per partition (planner estimate).",
        value=spread.mean_rows,
    )
