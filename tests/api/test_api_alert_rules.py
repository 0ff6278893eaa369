"""The alert rules and the dashboard in deploy/: promtool checks the rules and runs their unit
tests, a real Prometheus scrapes a real `chunkyard serve` and answers for a `chunkyard_` series
and for every expression of the rules and the dashboard, and every metric those expressions
name is one that /metrics exposes. The series the alerts need (queue, progress, heartbeats)
are checked against the database and Redis they are read from.

promtool and prometheus come from Debian's `prometheus` package (scripts/deploy_tools.sh
installs it); without them these tests fail under CI=true and are skipped otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import yaml
from api_helpers import Api, create_collection, in_db, user_headers
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from test_api_metrics import _me, scrape

import serversupport
import workersupport
from chunkyard.api.app import create_app
from chunkyard.api.metrics import (
    ActiveOperation,
    DatabaseCollector,
    HeartbeatSource,
    ProgressClock,
)
from chunkyard.operations.heartbeat import WorkerHeartbeat, heartbeat_key, read_heartbeats
from chunkyard.settings import Settings
from chunkyard.storage.models import (
    Operation,
    OperationPart,
    OperationStatus,
    PartStatus,
    utcnow,
)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "chunkyard-alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "chunkyard-alerts.test.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "chunkyard-dashboard.json"
ALERTS = {
    "ChunkyardHighErrorRate", "ChunkyardSlowRequests", "ChunkyardPartitionSkew",
    "ChunkyardNoWorkerHeartbeat", "ChunkyardWorkerHeartbeatMissing", "ChunkyardQueueGrowing",
    "ChunkyardOperationStalled", "ChunkyardMaintenanceFailed", "ChunkyardMaintenanceOverdue",
}
# Reported only on PostgreSQL (partitions) or with Celery and Redis (worker heartbeats).
NOT_ON_SQLITE = {
    "chunkyard_chunk_partition_skew", "chunkyard_chunk_partition_rows_max",
    "chunkyard_chunk_partition_rows_mean", "chunkyard_worker_heartbeat_age_seconds",
    "chunkyard_worker_heartbeat_newest_age_seconds",
}
PROMETHEUS_WAIT = 30.0
METRIC = re.compile(r"(?<![A-Za-z0-9_:])chunkyard_[A-Za-z0-9_]*")
STRING = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        message = f"{name} not found: scripts/deploy_tools.sh installs Debian's prometheus"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


def rule_expressions() -> list[str]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule["expr"] for group in document["groups"] for rule in group["rules"]]


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(DASHBOARD.read_text(encoding="utf-8")))


def dashboard_expressions() -> list[str]:
    board = dashboard()
    exprs = [target["expr"] for panel in _panels(board["panels"])
             for target in panel.get("targets", [])]
    exprs += [variable["definition"] for variable in board["templating"]["list"]
              if variable["type"] == "query"]
    return exprs


def metric_names(expr: str) -> set[str]:
    """The `chunkyard_` names an expression selects (label values and strings left out)."""
    return set(METRIC.findall(STRING.sub('""', expr)))


def as_promql(expr: str) -> str:
    """A dashboard query as Prometheus reads it, Grafana's variables filled in."""
    return expr.replace("$__rate_interval", "1m").replace("$job", ".*")


def exposed_names(text: str) -> dict[str, str]:
    """Every sample name /metrics declares, with its family: a histogram declares `_bucket`,
    `_count` and `_sum` (never its bare name), a counter `_total`, a gauge its name."""
    names: dict[str, str] = {}
    for family in text_string_to_metric_families(text):
        suffixes = {"histogram": ("_bucket", "_count", "_sum"), "summary": ("_count", "_sum"),
                    "counter": ("_total",)}.get(family.type, ("",))
        for suffix in suffixes:
            names[family.name + suffix] = family.name
    return names


# -- promtool --------------------------------------------------------------------------------


def test_promtool_checks_the_rules() -> None:
    result = subprocess.run([tool("promtool"), "check", "rules", str(RULES)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in result.stdout
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    alerts = {rule["alert"] for group in document["groups"] for rule in group["rules"]}
    assert alerts == ALERTS


def test_promtool_unit_tests_fire_and_hold_every_alert() -> None:
    result = subprocess.run([tool("promtool"), "test", "rules", RULE_TESTS.name],
                            cwd=RULE_TESTS.parent, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # Each alert is seen firing in some test and quiet (an empty exp_alerts) in another.
    document = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    fired: set[str] = set()
    held: set[str] = set()
    for case in document["tests"]:
        for check in case["alert_rule_test"]:
            (fired if check.get("exp_alerts") else held).add(check["alertname"])
    assert fired == ALERTS and held == ALERTS


# -- the names the rules and the dashboard use -----------------------------------------------


def test_every_named_metric_is_one_metrics_exposes(services: Any) -> None:
    """Against the PostgreSQL + Redis + worker set-up, where every series exists; on SQLite
    every one but the partition and heartbeat series."""
    used: dict[str, set[str]] = {}
    for source, exprs in (("rules", rule_expressions()), ("dashboard", dashboard_expressions())):
        for expr in exprs:
            for name in metric_names(expr):
                used.setdefault(name, set()).add(source)
    # The extraction finds what it should, suffixes and all.
    assert {"chunkyard_http_request_duration_seconds_count",
            "chunkyard_http_request_duration_seconds_bucket",
            "chunkyard_websocket_connections_total", "chunkyard_operation_parts_queued",
            "chunkyard_worker_heartbeat_age_seconds"} <= set(used)
    for backend in ("postgresql", "sqlite"):
        api = services.get(backend)
        api.client.get("/healthz")  # a request, so the request histogram has samples
        wait_for_a_heartbeat(api)
        exposed = exposed_names(scrape(api.client).text)
        missing = {name: sorted(where) for name, where in used.items() if name not in exposed}
        if backend == "sqlite":
            missing = {name: where for name, where in missing.items()
                       if name not in NOT_ON_SQLITE}
        assert not missing, f"{backend}: named but not exposed: {missing}"


def test_the_name_check_tells_histogram_suffixes_from_other_names() -> None:
    text = (
        "# TYPE chunkyard_a_seconds histogram\n"
        'chunkyard_a_seconds_bucket{le="+Inf"} 1\nchunkyard_a_seconds_count 1\n'
        "chunkyard_a_seconds_sum 1\n"
        "# TYPE chunkyard_b gauge\nchunkyard_b 1\n"
        "# TYPE chunkyard_c counter\nchunkyard_c_total 1\n"
    )
    names = exposed_names(text)
    assert set(names) == {"chunkyard_a_seconds_bucket", "chunkyard_a_seconds_count",
                          "chunkyard_a_seconds_sum", "chunkyard_b", "chunkyard_c_total"}
    assert "chunkyard_b_count" not in names and "chunkyard_a_seconds" not in names
    assert metric_names(
        'sum(rate(chunkyard_a_seconds_count{route="/chunkyard_x",job=~"$job"}[5m])) '
        "/ on(job) chunkyard_b"
    ) == {"chunkyard_a_seconds_count", "chunkyard_b"}


def test_the_dashboard_has_every_panel_it_should() -> None:
    board = dashboard()
    assert board["uid"] == "chunkyard" and board["schemaVersion"] >= 36
    panels = [p for p in _panels(board["panels"]) if p["type"] != "row"]
    ids = [p["id"] for p in _panels(board["panels"])]
    assert len(ids) == len(set(ids))
    titles = " | ".join(p["title"].lower() for p in panels)
    for wanted in ("request rate", "error rate", "latency percentiles by route",
                   "operations by status", "active operations", "queue depth",
                   "partition skew", "websocket connections", "worker heartbeat age",
                   "maintenance: time since each task's last success",
                   "maintenance: tasks whose last run failed"):
        assert wanted in titles, wanted
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"])
        assert [t["refId"] for t in panel["targets"]] == [
            chr(65 + i) for i in range(len(panel["targets"]))
        ]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24


# -- a real Prometheus scraping a real chunkyard serve ---------------------------------------


def _query(base: str, expr: str) -> dict[str, Any]:
    response = httpx.get(f"{base}/api/v1/query", params={"query": expr}, timeout=5)
    body = cast(dict[str, Any], response.json())
    assert response.status_code == 200 and body["status"] == "success", (expr, body)
    return cast(dict[str, Any], body["data"])


def test_prometheus_scrapes_chunkyard_serve_and_runs_every_expression(tmp_path: Path) -> None:
    prometheus = tool("prometheus")
    env = serversupport.serve_env(tmp_path / "data")
    with serversupport.serving(tmp_path, env, "serve") as server:
        port = serversupport.free_port()
        target = server.url.removeprefix("http://")
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [{"job_name": "chunkyard",
                                "static_configs": [{"targets": [target]}]}],
        }), encoding="utf-8")
        log = (tmp_path / "prometheus.log").open("wb")
        proc = subprocess.Popen(
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + PROMETHEUS_WAIT
            found: list[dict[str, Any]] = []
            ready = False
            while time.monotonic() < deadline and not found:
                assert proc.poll() is None, (tmp_path / "prometheus.log").read_text()
                with contextlib.suppress(httpx.TransportError):
                    # Until it is ready, Prometheus answers 503 in plain text.
                    ready = ready or httpx.get(f"{base}/-/ready", timeout=2).status_code == 200
                    if ready:
                        found = _query(base, 'chunkyard_operations{job="chunkyard"}')["result"]
                if not found:
                    time.sleep(0.25)
            assert found, (
                f"no chunkyard_ series in {PROMETHEUS_WAIT:.0f}s:\n"
                + (tmp_path / "prometheus.log").read_text()
            )
            assert {r["metric"]["status"] for r in found} == {s.value for s in OperationStatus}
            assert all(r["metric"]["instance"] == target for r in found)
            up = _query(base, 'up{job="chunkyard"}')["result"]
            assert [r["value"][1] for r in up] == ["1"]
            # Prometheus parses and runs every expression of the rules and the dashboard.
            for expr in rule_expressions() + [as_promql(e) for e in dashboard_expressions()
                                              if not e.startswith("label_values")]:
                _query(base, expr)
            rules = httpx.get(f"{base}/api/v1/rules", timeout=5).json()["data"]["groups"]
            loaded = {rule["name"]: rule for group in rules for rule in group["rules"]}
            assert set(loaded) == ALERTS
            assert all(rule["health"] != "err" for rule in loaded.values()), loaded
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
            log.close()


# -- the series the alerts need ----------------------------------------------------------------


def wait_for_a_heartbeat(api: Api, timeout: float = 30.0) -> None:
    """On the Celery backend, until the session's worker has recorded a beat."""
    if api.settings.redis_url is None:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if scrape(api.client).labels("chunkyard_worker_heartbeat_age_seconds", "worker"):
            return
        time.sleep(0.2)
    pytest.fail("the session's worker recorded no heartbeat")


def test_a_worker_beats_while_it_runs_and_leaves_when_it_stops(
    services: Any, tmp_path: Path
) -> None:
    api = services.get("postgresql")
    wait_for_a_heartbeat(api)
    before = scrape(api.client)
    newest = before.value("chunkyard_worker_heartbeat_newest_age_seconds")
    ages = {s.labels["worker"]: s.value for s in before.samples
            if s.name == "chunkyard_worker_heartbeat_age_seconds"}
    assert 0 <= newest <= 15 and newest == pytest.approx(min(ages.values()), abs=6)
    assert all(name.startswith("chunkyard-") and "@" in name for name in ages)

    worker = workersupport.Worker(api.settings, tmp_path, concurrency=1, name="beat").start()
    try:
        name = f"chunkyard-{worker.pid}@"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = scrape(api.client).labels("chunkyard_worker_heartbeat_age_seconds",
                                                "worker")
            if any(w.startswith(name) for w in running):
                break
            time.sleep(0.2)
        else:
            pytest.fail(f"worker {worker.pid} never beat:\n{worker.log()}")
    finally:
        worker.stop()
    after = scrape(api.client).labels("chunkyard_worker_heartbeat_age_seconds", "worker")
    assert not any(w.startswith(name) for w in after)  # a clean stop is no outage
    assert set(ages) <= after  # the session's worker still beats


def test_heartbeats_are_pruned_and_a_dead_worker_ages(services: Any) -> None:
    api = services.get("postgresql")
    assert api.settings.redis_url is not None
    queue = f"{api.settings.queue}-beats-{uuid.uuid4().hex[:6]}"
    beat = WorkerHeartbeat(api.settings.redis_url, queue, "chunkyard-1@dead", interval=60)
    try:
        beat.beat()
        key = heartbeat_key(queue)
        # Beats a worker that died over an hour ago left, and one 5 minutes ago.
        now = float(beat.client.time()[0])
        beat.client.zadd(key, {"chunkyard-2@gone": now - 4000, "chunkyard-3@silent": now - 300})

        async def read() -> dict[str, float]:
            client = Redis.from_url(str(api.settings.redis_url))
            try:
                return await read_heartbeats(client, queue)
            finally:
                await client.aclose()

        ages = asyncio.run(read())
        assert set(ages) == {"chunkyard-1@dead", "chunkyard-3@silent"}
        assert ages["chunkyard-1@dead"] < 5 and 299 <= ages["chunkyard-3@silent"] < 305
        beat.beat()  # a beat prunes what is past the retention
        assert beat.client.zscore(key, "chunkyard-2@gone") is None
        assert 0 < int(beat.client.ttl(key)) <= 3600
    finally:
        beat.client.delete(heartbeat_key(queue))
        beat.stop()


def test_queued_parts_and_time_without_progress_follow_the_database(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    owner = _me(api, headers)
    started = utcnow() - timedelta(minutes=20)

    async def insert(session: AsyncSession) -> uuid.UUID:
        # A running operation no job will touch: its parts are pending (the sweeper takes
        # only running parts whose lease expired) and one finished 15 minutes ago.
        operation = Operation(
            collection_id=uuid.UUID(collection["id"]), owner_id=owner,
            status=OperationStatus.RUNNING, config={"strategy": "recursive", "params": {}},
            started_at=started, documents_total=3,
        )
        session.add(operation)
        await session.flush()
        session.add_all([
            OperationPart(operation_id=operation.id, number=0, document_ids=[],
                          status=PartStatus.COMPLETED, started_at=started,
                          finished_at=started + timedelta(minutes=5)),
            OperationPart(operation_id=operation.id, number=1, document_ids=[]),
            OperationPart(operation_id=operation.id, number=2, document_ids=[]),
        ])
        await session.flush()
        return operation.id

    before = scrape(api.client).value("chunkyard_operation_parts_queued")
    operation_id = in_db(api.settings, insert)
    try:
        result = scrape(api.client)
        assert result.value("chunkyard_operation_parts_queued") == before + 2
        stalled = result.value("chunkyard_operation_without_progress_seconds")
        assert 15 * 60 - 5 <= stalled <= 15 * 60 + 60  # since the part finished

        async def progress(session: AsyncSession) -> None:
            await session.execute(update(Operation).where(Operation.id == operation_id)
                                  .values(documents_done=1))

        in_db(api.settings, progress)
        # A document done is progress, though no row records when: seen as the counter moves.
        moved = scrape(api.client).value("chunkyard_operation_without_progress_seconds")
        assert moved < stalled and (moved < 60 or moved < stalled - 14 * 60)
    finally:
        async def remove(session: AsyncSession) -> None:
            await session.execute(delete(OperationPart)
                                  .where(OperationPart.operation_id == operation_id))
            await session.execute(delete(Operation).where(Operation.id == operation_id))

        in_db(api.settings, remove)
    assert scrape(api.client).value("chunkyard_operation_parts_queued") == before


def test_the_progress_clock_times_counters_and_forgets_finished_operations() -> None:
    clock = ProgressClock()
    at = utcnow() - timedelta(minutes=30)
    one = uuid.uuid4()

    def running(progress: tuple[int, int, int, int], status: str = "running") -> ActiveOperation:
        return ActiveOperation(one, status, progress, at, parts_queued=0)

    t = at.timestamp()  # 30 minutes ago; the scrapes below come after it
    # First seen: its rows alone time it (a restarted API does not reset the clock).
    assert clock.update([running((0, 0, 0, 0))], t + 1000) == [t]
    assert clock.update([running((0, 0, 0, 0))], t + 1010) == [t]
    # The counters move: that scrape is the last progress, until they move again.
    assert clock.update([running((1, 0, 4, 0))], t + 1020) == [t + 1020]
    assert clock.update([running((1, 0, 4, 0))], t + 1030) == [t + 1020]
    assert clock.update([running((1, 0, 4, 1))], t + 1040) == [t + 1040]
    # A pending operation is not timed, and one no longer running is forgotten.
    assert clock.update([running((1, 0, 4, 1), "pending")], t + 1050) == []
    assert clock.update([running((1, 0, 4, 1))], t + 1060) == [t]
    # No time in its rows (not started): it counts from the first scrape that sees it.
    untimed = ActiveOperation(uuid.uuid4(), "running", (0, 0, 0, 0), None, parts_queued=1)
    assert clock.update([untimed], t + 1070) == [t + 1070]


def test_without_progress_is_zero_with_nothing_running(sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings)) as client:
        result = scrape(client)
        assert result.value("chunkyard_operation_without_progress_seconds") == 0
        assert result.value("chunkyard_operation_parts_queued") == 0
        # Embedded: no workers, so no heartbeat series at all.
        assert "chunkyard_worker_heartbeat_newest_age_seconds" not in result.families


def test_redis_away_neither_stops_a_worker_nor_fails_the_scrape(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed = f"redis://127.0.0.1:{serversupport.free_port()}/0"
    beat = WorkerHeartbeat(closed, "chunkyard-test-away", "chunkyard-9@away", interval=0.05)
    beat.start()
    time.sleep(0.3)
    beat.stop()  # returns, though neither the beats nor the removal could reach Redis
    assert "could not record a beat" in caplog.text and "could not remove" in caplog.text

    collector = DatabaseCollector()

    async def read() -> None:
        client = Redis.from_url(closed, socket_connect_timeout=1)
        try:
            await collector._read_heartbeats(HeartbeatSource(client, "chunkyard-test-away"))
        finally:
            await client.aclose()

    asyncio.run(read())
    families = {m.name: m for m in collector.collect()}
    assert families["chunkyard_metrics_scrape_error"].samples[0].value == 1
    assert "chunkyard_worker_heartbeat_age_seconds" not in families
