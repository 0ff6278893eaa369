"""Prometheus metrics at `GET /metrics`: requests per route, job totals from the database.

Request latency and errors are measured by `RequestMetricsMiddleware` and labelled by route
template (never the raw path, whose ids would make the label set unbounded); preview cache
lookups are counted in `chunking/cache.py`, each document's peak memory in the job processes'
parents (`worker/job_process.py`). With `PROMETHEUS_MULTIPROC_DIR` set (prometheus_client's
multiprocess mode, see docs/metrics.md), every process writes these values to files in that
directory and `/metrics` from any process sums the files of all of them: several `chunkyard
serve` processes (and the `chunkyard worker`s of the same machine) report one set of totals.

Jobs run in this process or in Celery workers elsewhere, so counters kept here would miss most
of them: the job series are computed from the database when scraped, by `DatabaseCollector`,
and cached for a few seconds so that a burst of scrapes costs one query. They are never
written to the multiprocess files, so each process reports them once, as read. A database
failure never fails the scrape: its series are left out and `chunkyard_metrics_scrape_error`
says 1. The same read gives the queue (pending operations, and parts waiting for a job) and
how long the running operation that has gone longest without progress has been stalled; a
slower one (every minute) counts failed documents and operations by reason class and, on
PostgreSQL, the partition skew; in the Celery mode with Redis, each worker's heartbeat age
comes from Redis (`operations/heartbeat.py`). The alert rules and the dashboard built on these
series are in `deploy/`; every series is described in docs/metrics.md.

Each app has its own `CollectorRegistry` (`metrics_for(app)`), so several apps in one process
(the tests) never clash over series; the series recorded outside this module (the cache's, the
job processes') are one per process, registered in each app's registry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi import APIRouter, Request, Response
from fastapi import routing as fastapi_routing
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import Float, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chunkyard.chunking.cache import PREVIEW_CACHE_LOOKUPS
from chunkyard.core.types import ChunkingError
from chunkyard.maintenance.metrics import MaintenanceSeries
from chunkyard.maintenance.metrics import read_state as read_maintenance
from chunkyard.maintenance.record import MaintenanceState
from chunkyard.operations.heartbeat import read_heartbeats
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.models import (
    Document,
    DocumentStatus,
    Operation,
    OperationPart,
    OperationStatus,
    PartStatus,
)
from chunkyard.storage.partitions import partition_report
from chunkyard.worker.job_process import document_memory_histogram
from chunkyard.worker.mode import ExecutionMode

logger = logging.getLogger("chunkyard.api.metrics")

T = TypeVar("T")

# The Prometheus text format every scraper understands (all names here are legacy-valid).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "unmatched"  # the route label of requests that matched no route
# 2.0 is the latency alert's threshold (deploy/prometheus): a bound there makes its p99 exact.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 30.0)
# Jobs take from well under a second (a few small documents) to hours (a big collection).
JOB_BUCKETS = (0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
FINISHED = (OperationStatus.COMPLETED, OperationStatus.FAILED, OperationStatus.CANCELLED)
ACTIVE = (OperationStatus.PENDING, OperationStatus.RUNNING)
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
        _start_clean()
        self.registry = CollectorRegistry()
        self.routes = RouteTemplates(app)
        self.requests = Histogram(
            "chunkyard_http_request_duration_seconds",
            "HTTP request latency in the API processes, by route template, method and status.",
            ["route", "method", "status"],
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "chunkyard_http_errors",
            "HTTP answers with a 4xx or 5xx status, by status and the error body's `error` "
            "code (internal_error for an unexpected exception, unknown for a body without one).",
            ["status", "code"],
            registry=self.registry,
        )
        self.websockets = Counter(
            "chunkyard_websocket_connections",
            "WebSocket connections to the API processes by route template and outcome "
            "(accepted or refused).",
            ["route", "outcome"],
            registry=self.registry,
        )
        self.websockets_open = Gauge(
            "chunkyard_websocket_connections_open",
            "WebSocket connections open in the API processes (the live ones).",
            registry=self.registry,
            multiprocess_mode="livesum",  # a stopped process's connections are gone
        )
        # Recorded where they happen, one per process (see the module docstring).
        for collector in (PREVIEW_CACHE_LOOKUPS, document_memory_histogram()):
            self.registry.register(collector)
        for result in ("hit", "miss"):
            PREVIEW_CACHE_LOOKUPS.labels(result=result)  # reported as 0 before the first
        self.database = DatabaseCollector()
        self.registry.register(self.database)
        self._multiprocess: CollectorRegistry | None = None

    def render(self) -> bytes:
        path = multiprocess_dir()
        if path is None:
            return generate_latest(self.registry)
        if self._multiprocess is None:
            # Every process's files (this one's too), and the database series read here.
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
            registry.register(self.database)
            self._multiprocess = registry
        forget_killed_processes(path)
        return generate_latest(self._multiprocess)


# -- several processes -----------------------------------------------------------------------

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    """The multiprocess directory when prometheus_client's multiprocess mode is on."""
    return os.environ.get(MULTIPROCESS_ENV) or None


def check_multiprocess_dir() -> None:
    """Before serving: the multiprocess directory, if set, is a directory this process can
    write (prometheus_client would fail at the first request otherwise); `ChunkingError`."""
    path = multiprocess_dir()
    if path is None:
        return
    if not os.path.isdir(path):
        raise ChunkingError(
            f"{MULTIPROCESS_ENV}={path} is not a directory: create it (empty) before the "
            "first API process starts"
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise ChunkingError(f"{MULTIPROCESS_ENV}={path} is not writable by this user")


def process_exited(pid: int | None = None) -> None:
    """At a process's exit: drop its live gauges (open WebSockets) from the multiprocess
    directory. Its counters and histograms stay, so the totals never go down; the directory
    is emptied when the deployment starts again."""
    path = multiprocess_dir()
    if path is not None and os.path.isdir(path):
        mark_process_dead(os.getpid() if pid is None else pid, path)  # type: ignore[no-untyped-call]


# The files of live gauges, one per process: prometheus_client's `gauge_<mode>_<pid>.db`.
_LIVE_GAUGES = re.compile(r"gauge_live[a-z]+_(\d+)\.db")
_started_clean = False


def _start_clean() -> None:
    """Once per process, before its live gauges exist: drop live gauge files left under this
    process's id by an earlier process that had it (killed, so it could not), which this one
    would otherwise start counting from."""
    global _started_clean
    if not _started_clean:
        _started_clean = True
        process_exited()


def forget_killed_processes(path: str) -> None:
    """Drop the live gauges of processes that are gone without `process_exited` (killed):
    their open WebSockets are closed. Processes sharing the directory share one process-id
    namespace (docs/metrics.md), so a pid that names no process is one that has ended."""
    try:
        names = os.listdir(path)
    except OSError:
        return
    ours = os.getpid()
    for name in names:
        found = _LIVE_GAUGES.fullmatch(name)
        if found is not None and (pid := int(found.group(1))) != ours and not _alive(pid):
            with suppress(OSError):  # another process dropped it first
                mark_process_dead(pid, path)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


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
    engine = getattr(request.app.state, "engine", None)
    await metrics.database.refresh(engine, _heartbeat_source(request))
    return Response(metrics.render(), media_type=CONTENT_TYPE)


def _heartbeat_source(request: Request) -> HeartbeatSource | None:
    """Where the workers' heartbeats are: Redis, in the Celery mode with Redis configured."""
    settings = request.app.state.settings
    redis = getattr(getattr(request.app.state, "services", None), "redis", None)
    if redis is None or ExecutionMode(settings).embedded:
        return None
    return HeartbeatSource(redis, settings.queue)


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
        error = _ErrorBody()

        async def send_watching(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if status >= 400:
                    error.expect(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                error.add(message.get("body", b""))
            await send(message)

        failed = False
        try:
            await self.app(scope, receive, send_watching)
        except Exception:
            status, failed = status or 500, not status  # an outer middleware answers a 500
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
                if status >= 400:
                    code = "internal_error" if failed else error.code()
                    self.metrics.errors.labels(status=str(status), code=code).inc()

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


# An error body is `{"error": code, "detail": sentence}` (kit/errors.py): a few hundred bytes.
_ERROR_BODY_BYTES = 8192
_ERROR_CODE = re.compile(r"[a-z][a-z0-9_]{0,63}")


class _ErrorBody:
    """The start of an error answer's JSON body, to read its `error` code from."""

    def __init__(self) -> None:
        self.body: bytearray | None = None

    def expect(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        for name, value in headers:
            if name.lower() == b"content-type" and b"json" in value.lower():
                self.body = bytearray()

    def add(self, chunk: bytes) -> None:
        if self.body is not None and len(self.body) < _ERROR_BODY_BYTES:
            self.body += chunk[: _ERROR_BODY_BYTES - len(self.body)]

    def code(self) -> str:
        """The body's `error` when it is a code of ours (the label set stays bounded)."""
        if not self.body:
            return "unknown"
        try:
            found = json.loads(bytes(self.body)).get("error")
        except (ValueError, AttributeError):
            return "unknown"
        if isinstance(found, str) and _ERROR_CODE.fullmatch(found):
            return found
        return "unknown"


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


@dataclass(frozen=True, slots=True)
class ActiveOperation:
    """A pending or running operation: what it has done so far, and its parts still queued."""

    id: uuid.UUID
    status: str
    # Documents done and failed, chunks created, parts finished: any change is progress.
    progress: tuple[int, int, int, int]
    # The newest time its rows record progress: started, a part started or finished.
    progressed_at: datetime | None
    parts_queued: int  # parts waiting for a job (status pending)


@dataclass(frozen=True, slots=True)
class OperationsRead:
    totals: dict[str, StatusTotals]
    active: list[ActiveOperation]


async def read_active_operations(connection: AsyncConnection) -> list[ActiveOperation]:
    """The pending and running operations with their parts' progress, one row each (the
    parts are found by the `(operation_id, number)` index, so finished operations cost
    nothing here)."""
    part = OperationPart
    finished = (PartStatus.COMPLETED, PartStatus.FAILED)
    stmt = (
        select(
            Operation.id,
            Operation.status,
            Operation.started_at,
            Operation.documents_done,
            Operation.documents_failed,
            Operation.chunks_created,
            func.max(part.started_at),
            func.max(part.finished_at),
            func.count(case((part.status.in_([str(s) for s in finished]), 1))),
            func.count(case((part.status == str(PartStatus.PENDING), 1))),
        )
        .select_from(Operation)
        .outerjoin(part, part.operation_id == Operation.id)
        .where(Operation.status.in_([str(s) for s in ACTIVE]))
        .group_by(Operation.id)
    )
    active: list[ActiveOperation] = []
    for row in (await connection.execute(stmt)).all():
        (op_id, status, started, done, failed, chunks, part_started, part_finished,
         parts_finished, parts_queued) = row
        times = [t for t in (started, part_started, part_finished) if isinstance(t, datetime)]
        active.append(ActiveOperation(
            id=op_id,
            status=str(status),
            progress=(int(done), int(failed), int(chunks), int(parts_finished)),
            progressed_at=max(times) if times else None,
            parts_queued=int(parts_queued),
        ))
    return active


async def read_operations(connection: AsyncConnection) -> OperationsRead:
    return OperationsRead(await read_operation_totals(connection),
                          await read_active_operations(connection))


class ProgressClock:
    """When each running operation last made progress, as far as the database tells.

    Its rows record when it and its parts started and finished, but not when each document
    finished, so this also remembers each operation's counters between scrapes and takes the
    time it first saw them change. An operation seen for the first time is timed by its rows
    alone: a restarted API process does not reset the clock (it may overstate it until the
    counters next move, which the alert's `for` rides over). Only running operations are
    kept, so the memory is as small as the work in progress.
    """

    def __init__(self) -> None:
        self._seen: dict[uuid.UUID, tuple[tuple[int, int, int, int], float | None]] = {}

    def update(self, active: Iterable[ActiveOperation], now: float) -> list[float]:
        """The time (epoch seconds) each running operation last progressed."""
        seen: dict[uuid.UUID, tuple[tuple[int, int, int, int], float | None]] = {}
        progressed: list[float] = []
        for operation in active:
            if operation.status != OperationStatus.RUNNING:
                continue
            changed_at: float | None = None
            previous = self._seen.get(operation.id)
            if previous is not None:
                counters, changed_at = previous
                if counters != operation.progress:
                    changed_at = now
            seen[operation.id] = (operation.progress, changed_at)
            times = [t for t in (changed_at, _epoch(operation.progressed_at)) if t is not None]
            progressed.append(max(times) if times else now)
        self._seen = seen
        return progressed


def _epoch(value: datetime | None) -> float | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class HeartbeatSource:
    """Where the workers of `queue` record their heartbeats (an asyncio Redis client)."""

    redis: Any
    queue: str


async def read_partition_spread(connection: AsyncConnection) -> PartitionSpread:
    # Planner estimates (pg_class.reltuples): exact counts would scan every chunk row.
    report = await partition_report(connection, exact=False, top=0)
    return PartitionSpread(skew=report.skew, max_rows=report.max_rows, mean_rows=report.mean_rows)


# Failed documents and operations by reason class, told by the sentence their `error` starts
# with (the sentences are made in worker/policy.py, worker/job_process.py, kit/child_process.py,
# documents/stored.py, worker/tasks.py, operations/parts.py, worker/runner.py); first match wins.
DOCUMENT_REASONS: tuple[tuple[str, str], ...] = (
    ("%MB of memory to extract and chunk%", "out_of_memory"),
    ("the chunking process stopped while chunking%", "process_died"),
    ("the stored file of document % cannot be read%", "unreadable"),
    ("the database refused to store%", "storing_failed"),
    ("this document could not be chunked%", "chunking_failed"),
    ("document %: %", "extraction_failed"),
)
OPERATION_REASONS: tuple[tuple[str, str], ...] = (
    ("stopped: the job ran past its time limit%", "time_limit"),
    ("stopped after % attempts%", "worker_lost"),
    ("gave up after %", "transient_errors"),
    ("the job could not be queued%", "broker_unreachable"),
)
OTHER_REASON = "other"


def reason_class(column: Any, reasons: tuple[tuple[str, str], ...]) -> Any:
    """SQL: the reason class of an `error` column (`OTHER_REASON` when none matches)."""
    return case(*((column.like(pattern), reason) for pattern, reason in reasons),
                else_=OTHER_REASON)


@dataclass(frozen=True, slots=True)
class FailuresRead:
    documents: dict[str, int]  # reason class -> documents whose last chunking failed
    operations: dict[str, int]  # reason class -> stored failed operations


async def read_failures(connection: AsyncConnection) -> FailuresRead:
    """Two grouped counts (failed rows only; read every minute, not every scrape)."""
    found: list[dict[str, int]] = []
    for model, status, reasons in (
        (Document, DocumentStatus.FAILED, DOCUMENT_REASONS),
        (Operation, OperationStatus.FAILED, OPERATION_REASONS),
    ):
        reason = reason_class(func.coalesce(model.error, ""), reasons)
        stmt = (select(reason, func.count()).where(model.status == str(status))
                .group_by(reason))
        found.append({str(r): int(n) for r, n in (await connection.execute(stmt)).all()})
    return FailuresRead(*found)


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
        self._operations: OperationsRead | None = None
        self._operations_error = False
        self._operations_read_at = -math.inf
        self._progress = ProgressClock()
        self._progressed: list[float] = []  # epoch seconds, one per running operation
        self._heartbeats: dict[str, float] | None = None  # worker -> age when read
        self._heartbeats_error = False
        self._heartbeats_read_at = -math.inf
        self._partitions: PartitionSpread | None = None
        self._partitions_error = False
        self._partitions_read_at = -math.inf
        self._failures: FailuresRead | None = None
        self._failures_error = False
        self._read_seconds = 0.0
        self._maintenance: MaintenanceState | None = None  # maintenance/metrics.py
        self._maintenance_series = MaintenanceSeries()
        self._maintenance_error = False

    def expire(self) -> None:
        """Forget the cache: the next scrape reads the database."""
        self._operations_read_at = self._partitions_read_at = -math.inf

    async def refresh(
        self, engine: AsyncEngine | None, heartbeats: HeartbeatSource | None = None
    ) -> None:
        async with self._lock:
            now = time.monotonic()
            operations_due = now - self._operations_read_at >= self.cache_seconds
            partitions_due = now - self._partitions_read_at >= self.partition_cache_seconds
            if not operations_due and not partitions_due:
                return
            started = time.perf_counter()
            if operations_due:
                self._operations_read_at = now
                self._operations = await self._read(engine, read_operations, "operations")
                self._operations_error = self._operations is None
                self._progressed = self._progress.update(
                    self._operations.active if self._operations else (), time.time()
                )
                await self._read_heartbeats(heartbeats)
            if partitions_due:
                self._partitions_read_at = now
                self._failures = await self._read(engine, read_failures, "failures")
                self._failures_error = self._failures is None
                # Runs hourly at most often: read with the slow series.
                self._maintenance = await self._read(engine, read_maintenance, "maintenance runs")
                self._maintenance_error = self._maintenance is None
                self._partitions = None
                self._partitions_error = False
                if engine is not None and dialect_for(engine).partitioned:
                    self._partitions = await self._read(
                        engine, read_partition_spread, "chunk partitions"
                    )
                    self._partitions_error = self._partitions is None
            self._read_seconds = time.perf_counter() - started

    async def _read_heartbeats(self, source: HeartbeatSource | None) -> None:
        self._heartbeats, self._heartbeats_error = None, False
        if source is None:
            return
        self._heartbeats_read_at = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                self._heartbeats = await read_heartbeats(source.redis, source.queue)
        except Exception as exc:  # the scrape goes on without these series
            logger.warning("metrics: reading the worker heartbeats failed: %r", exc)
            self._heartbeats_error = True

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
        failed = (self._operations_error or self._partitions_error or self._failures_error
                  or self._heartbeats_error or self._maintenance_error)
        yield GaugeMetricFamily(
            "chunkyard_metrics_scrape_error",
            "1 when the last database (or Redis) read for these metrics failed (its series are "
            "missing).",
            value=1.0 if failed else 0.0,
        )
        yield GaugeMetricFamily(
            "chunkyard_metrics_database_read_seconds",
            "How long the last database read for these metrics took.",
            value=self._read_seconds,
        )
        if self._operations is not None:
            yield from _operation_families(self._operations.totals)
            yield from _progress_families(self._operations.active, self._progressed)
        if self._failures is not None:
            yield from _failure_families(self._failures)
        if self._partitions is not None:
            yield from _partition_families(self._partitions)
        if self._maintenance is not None:
            yield from self._maintenance_series.families(self._maintenance)
        if self._heartbeats is not None:
            since = time.monotonic() - self._heartbeats_read_at
            yield from _heartbeat_families(
                {worker: age + since for worker, age in self._heartbeats.items()}
            )


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
        "chunkyard_operations_active",
        "Operations pending or running.",
        value=sum(per_status[str(s)].operations for s in ACTIVE),
    )
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


def _failure_families(failures: FailuresRead) -> Iterator[Metric]:
    documents = GaugeMetricFamily(
        "chunkyard_documents_failed",
        "Documents whose last chunking failed, by reason class (out_of_memory, "
        "extraction_failed, chunking_failed, storing_failed, unreadable, process_died, other).",
        labels=["reason"],
    )
    for reason in (*(r for _, r in DOCUMENT_REASONS), OTHER_REASON):
        documents.add_metric([reason], failures.documents.get(reason, 0))
    yield documents
    operations = GaugeMetricFamily(
        "chunkyard_operations_failed",
        "Stored failed operations by reason class (time_limit, worker_lost, transient_errors, "
        "broker_unreachable, other).",
        labels=["reason"],
    )
    for reason in (*(r for _, r in OPERATION_REASONS), OTHER_REASON):
        operations.add_metric([reason], failures.operations.get(reason, 0))
    yield operations


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


def _progress_families(active: list[ActiveOperation], progressed: list[float]) -> Iterator[Metric]:
    yield GaugeMetricFamily(
        "chunkyard_operation_parts_queued",
        "Parts of pending or running operations waiting for a job (status pending); with "
        "chunkyard_operation_queue_depth, the work queued.",
        value=sum(operation.parts_queued for operation in active),
    )
    # One number, not one series per operation: the label set stays bounded.
    yield GaugeMetricFamily(
        "chunkyard_operation_without_progress_seconds",
        "Seconds since the running operation that has gone longest without progress last "
        "progressed (a document done or failed, a part started or finished); 0 when none runs.",
        value=max(0.0, time.time() - min(progressed)) if progressed else 0.0,
    )


def _heartbeat_families(ages: dict[str, float]) -> Iterator[Metric]:
    per_worker = GaugeMetricFamily(
        "chunkyard_worker_heartbeat_age_seconds",
        "Seconds since each `chunkyard worker` (by its Celery host name) recorded its "
        "heartbeat in Redis, every 10 s while it runs; a worker that stopped cleanly is gone, "
        "one that died stays for an hour.",
        labels=["worker"],
    )
    for worker, age in sorted(ages.items()):
        per_worker.add_metric([worker], age)
    yield per_worker
    yield GaugeMetricFamily(
        "chunkyard_worker_heartbeat_newest_age_seconds",
        "Seconds since any `chunkyard worker` recorded a heartbeat in Redis (+Inf when none "
        "has in the last hour); reported in the Celery mode with Redis only.",
        value=min(ages.values(), default=math.inf),
    )
