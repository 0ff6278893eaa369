"""`/metrics` across API processes: two real `chunkyard serve` processes on one data directory
(the embedded SQLite default) share a `PROMETHEUS_MULTIPROC_DIR`; each answers a known mix of
requests, and /metrics from either reports the sums exactly (request counts and histograms by
route template and status, errors by code, preview cache lookups), a WebSocket open on one
shows in the gauge read from the other, and the database series are not counted twice. A
directory that does not exist stops `serve` with one line. In the scaled mode (PostgreSQL,
Redis, a `chunkyard worker`), a worker given the same directory has its series (each
document's peak memory) in the API's /metrics."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import API, in_db, new_username
from operation_helpers import FINISHED, text_file
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from test_api_metrics import REQUESTS, Scrape
from websockets.sync.client import connect

import dbsupport
import serversupport
import workersupport
from chunkyard.api import metrics
from chunkyard.auth.service import start_session
from chunkyard.core.types import ChunkingError
from chunkyard.settings import Settings
from chunkyard.storage import migrate
from chunkyard.storage.models import Operation, OperationStatus, User
from serversupport import EXE, serve_env, settings_env

SECRET = "chunkyard-metrics-processes-secret-" + "m" * 32
DOCUMENT_ROUTE = f"{API}/documents/{{document_id}}"
COLLECTIONS_ROUTE = f"{API}/collections"
PREVIEW_ROUTE = f"{API}/preview"
ERRORS = "chunkyard_http_errors_total"
LOOKUPS = "chunkyard_preview_cache_lookups_total"
OPEN = "chunkyard_websocket_connections_open"
WAIT_SECONDS = 20.0


@dataclass
class Cluster:
    settings: Settings
    urls: tuple[str, str]
    headers: dict[str, str]
    user_id: uuid.UUID
    shared: str  # the multiprocess directory


def read(url: str) -> Scrape:
    response = httpx.get(f"{url}/metrics", timeout=30)
    assert response.status_code == 200, response.text
    families = list(text_string_to_metric_families(response.text))
    return Scrape(response.text, {f.name: f.type for f in families},
                  [sample for f in families for sample in f.samples])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("metrics-processes")
    data_dir, shared = root / "data", root / "prometheus"
    shared.mkdir()
    env = serve_env(data_dir, CHUNKYARD_SECRET_KEY=SECRET, PROMETHEUS_MULTIPROC_DIR=str(shared))
    with ExitStack() as stack:
        # One after the other: the first migrates the SQLite file and makes the admin.
        first = stack.enter_context(serversupport.serving(root, env, "first"))
        second = stack.enter_context(serversupport.serving(root, env, "second"))
        settings = Settings(data_dir=data_dir, secret_key=SecretStr(SECRET))
        headers, user_id = bearer(settings)
        yield Cluster(settings, (first.url, second.url), headers, user_id, str(shared))


def bearer(settings: Settings) -> tuple[dict[str, str], uuid.UUID]:
    """Headers of a new user's session, made in the database (no login, no argon2)."""

    async def insert(session: AsyncSession) -> tuple[str, uuid.UUID]:
        user = User(username=new_username(), password_hash="unused", is_admin=False)
        session.add(user)
        await session.flush()
        return await start_session(session, settings, user.id), user.id

    token, user_id = in_db(settings, insert)
    return {"Authorization": f"Bearer {token}"}, user_id


def send(url: str, headers: dict[str, str], plan: dict[str, int]) -> None:
    """`plan`: how many of each kind of request to send to `url`."""
    with httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(plan.get("healthz", 0)):
            assert client.get("/healthz").status_code == 200
        for _ in range(plan.get("missing", 0)):
            found = client.get(f"{API}/documents/{uuid.uuid4()}", headers=headers)
            assert found.status_code == 404 and found.json()["error"] == "document_not_found"
        for _ in range(plan.get("list", 0)):
            assert client.get(f"{API}/collections", headers=headers).status_code == 200
        for _ in range(plan.get("anonymous", 0)):
            refused = client.get(f"{API}/collections")
            assert refused.status_code == 401 and refused.json()["error"] == "unauthorized"
        for _ in range(plan.get("preview", 0)):
            previewed = client.post(f"{PREVIEW_ROUTE}", headers=headers, json={
                "text": "metrics across processes. " * 40, "strategy": "recursive",
                "params": {"chunk_size": 32}})
            assert previewed.status_code == 200, previewed.text


def histogram(result: Scrape, **labels: str) -> dict[str, float]:
    """Every sample of one request series: its buckets, count and sum."""
    return {
        f"{s.name}{s.labels.get('le', '')}": float(s.value)
        for s in result.samples
        if s.name.startswith(REQUESTS)
        and {k: v for k, v in s.labels.items() if k != "le"} == labels
    }


def test_every_process_reports_the_sums_of_all(cluster: Cluster) -> None:
    first, second = cluster.urls
    plans = (
        {"healthz": 3, "missing": 2, "list": 1, "preview": 2},
        {"healthz": 2, "missing": 1, "list": 4, "anonymous": 1},
    )
    series = {
        "healthz": {"route": "/healthz", "method": "GET", "status": "200"},
        "missing": {"route": DOCUMENT_ROUTE, "method": "GET", "status": "404"},
        "list": {"route": COLLECTIONS_ROUTE, "method": "GET", "status": "200"},
        "anonymous": {"route": COLLECTIONS_ROUTE, "method": "GET", "status": "401"},
        "preview": {"route": PREVIEW_ROUTE, "method": "POST", "status": "200"},
    }
    errors = {"missing": {"status": "404", "code": "document_not_found"},
              "anonymous": {"status": "401", "code": "unauthorized"}}
    before = read(first)
    for url, plan in zip(cluster.urls, plans, strict=True):
        send(url, cluster.headers, plan)
    after_first, after_second = read(first), read(second)

    for kind, labels in series.items():
        sent = sum(plan.get(kind, 0) for plan in plans)
        for result in (after_first, after_second):
            count = result.value(f"{REQUESTS}_count", **labels)
            assert count == before.value(f"{REQUESTS}_count", default=0, **labels) + sent, kind
            assert result.value(f"{REQUESTS}_bucket", le="+Inf", **labels) == count
        # Both read the same files: the same buckets, count and sum to the last digit.
        assert histogram(after_first, **labels) == histogram(after_second, **labels), kind
    for kind, labels in errors.items():
        sent = sum(plan.get(kind, 0) for plan in plans)
        for result in (after_first, after_second):
            assert result.value(ERRORS, **labels) == before.value(ERRORS, default=0,
                                                                 **labels) + sent
    # Two previews of one text on the first process: computed once, then found in its cache.
    for result in (after_first, after_second):
        assert result.value(LOOKUPS, result="miss") == before.value(LOOKUPS, result="miss") + 1
        assert result.value(LOOKUPS, result="hit") == before.value(LOOKUPS, result="hit") + 1
    # The database series are read, not summed: each process says what the database holds.
    for name in ("chunkyard_operations_active", "chunkyard_operation_queue_depth"):
        assert after_first.value(name) == after_second.value(name) == 0


def open_gauges(urls: tuple[str, ...]) -> list[float]:
    return [read(url).value(OPEN) for url in urls]


def wait_gauges(urls: tuple[str, ...], expected: float) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while (found := open_gauges(urls)) != [expected] * len(urls):
        assert time.monotonic() < deadline, f"open WebSockets {found}, not {expected}"
        time.sleep(0.1)


def test_a_websocket_open_on_one_shows_in_the_other(cluster: Cluster) -> None:
    first, second = cluster.urls
    operation_id = pending_operation(cluster)
    ws_url = first.replace("http://", "ws://") + f"{API}/operations/{operation_id}/ws"
    wait_gauges(cluster.urls, 0)
    with connect(ws_url, additional_headers=cluster.headers, open_timeout=30) as ws:
        first_event: Any = ws.recv(timeout=30)
        assert '"pending"' in str(first_event)
        # Counted where it is open, read from both (no scrape cache: it is written as it opens).
        assert open_gauges(cluster.urls) == [1, 1]
        accepted = {"route": f"{API}/operations/{{operation_id}}/ws", "outcome": "accepted"}
        assert read(second).value("chunkyard_websocket_connections_total", **accepted) >= 1
    wait_gauges(cluster.urls, 0)
    remove_operation(cluster.settings, operation_id)


def test_a_killed_process_leaves_no_open_websockets(cluster: Cluster) -> None:
    """A process killed with a WebSocket open cannot say so at exit: the others leave its
    live gauge out once its pid has ended (its counters stay in the totals)."""
    first, _ = cluster.urls
    env = serve_env(cluster.settings.data_dir, CHUNKYARD_SECRET_KEY=SECRET,
                    PROMETHEUS_MULTIPROC_DIR=cluster.shared)
    # A process resumes (and so finishes) the pending operations it finds once it has
    # started: the one for the WebSocket is made after this probe is finished.
    probe = pending_operation(cluster)
    with serversupport.serving(cluster.settings.data_dir, env, "killed") as third:
        wait_finished_in_db(cluster.settings, probe)
        operation_id = pending_operation(cluster)
        ws_url = third.url.replace("http://", "ws://") + f"{API}/operations/{operation_id}/ws"
        with connect(ws_url, additional_headers=cluster.headers, open_timeout=30,
                     close_timeout=1) as ws:
            assert '"pending"' in str(ws.recv(timeout=30))
            assert read(first).value(OPEN) == 1
            requests = read(first).value(f"{REQUESTS}_count", route="/healthz",
                                         method="GET", status="200")
            third.proc.kill()
            third.proc.wait(timeout=30)
    after = read(first)
    assert after.value(OPEN) == 0
    assert after.value(f"{REQUESTS}_count", route="/healthz", method="GET",
                       status="200") == requests
    remove_operation(cluster.settings, operation_id)


def wait_finished_in_db(settings: Settings, operation_id: uuid.UUID) -> None:
    async def status(session: AsyncSession) -> str:
        return str(await session.scalar(
            select(Operation.status).where(Operation.id == operation_id)))

    deadline = time.monotonic() + 60
    while (found := in_db(settings, status)) not in FINISHED:
        assert time.monotonic() < deadline, f"operation {operation_id} still {found}"
        time.sleep(0.1)


def remove_operation(settings: Settings, operation_id: uuid.UUID) -> None:
    async def remove(session: AsyncSession) -> None:
        await session.execute(delete(Operation).where(Operation.id == operation_id))

    in_db(settings, remove)


def pending_operation(cluster: Cluster) -> uuid.UUID:
    """A pending operation no runner takes (inserted after both started): a WebSocket on it
    stays open."""
    made = httpx.post(f"{cluster.urls[0]}{API}/collections", headers=cluster.headers,
                      json={"name": new_username("collection")}, timeout=30)
    assert made.status_code == 201, made.text

    async def insert(session: AsyncSession) -> uuid.UUID:
        operation = Operation(collection_id=uuid.UUID(made.json()["id"]),
                              owner_id=cluster.user_id, status=OperationStatus.PENDING,
                              config={"strategy": "recursive", "params": {}})
        session.add(operation)
        await session.flush()
        return operation.id

    return in_db(cluster.settings, insert)


def test_serve_refuses_a_missing_multiprocess_directory(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    done = subprocess.run(
        [EXE, "serve", "--port", "0"], capture_output=True, text=True, cwd=tmp_path,
        env=serve_env(tmp_path / "data", CHUNKYARD_SECRET_KEY=SECRET,
                      PROMETHEUS_MULTIPROC_DIR=str(missing)),
        timeout=120, check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines[-1] == (f"chunkyard: error: PROMETHEUS_MULTIPROC_DIR={missing} is not a "
                         "directory: create it (empty) before the first API process starts")
    assert "Traceback" not in done.stderr
    # Refused before the database: no first password shown for a server that never served.
    assert "created the first user" not in done.stderr


def test_a_worker_sharing_the_directory_shows_in_the_api_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    databases = dbsupport.Databases(tmp_path, label="mpw", secret_key=SecretStr(SECRET))
    try:
        settings = workersupport.celery_settings(databases.fresh("postgresql"))
        migrate.run_upgrade(settings)
        shared = tmp_path / "prometheus"
        shared.mkdir()
        made = workersupport.settings_env

        def worker_env(of: Settings) -> dict[str, str]:
            return {**made(of), "PROMETHEUS_MULTIPROC_DIR": str(shared)}

        monkeypatch.setattr(workersupport, "settings_env", worker_env)
        worker = workersupport.Worker(settings, tmp_path / "workers")
        env = settings_env(settings, SECRET, PROMETHEUS_MULTIPROC_DIR=str(shared))
        with ExitStack() as stack:
            stack.callback(workersupport.remove_queue_keys, settings)
            stack.callback(worker.stop)
            worker.start()
            server = stack.enter_context(serversupport.serving(tmp_path, env, "api"))
            headers, _ = bearer(settings)
            before = read(server.url)
            final = run_operation(server.url, headers, 2)
            assert (final["status"], final["documents_done"]) == ("completed", 2), final
            after = read(server.url)
            memory = "chunkyard_document_peak_memory_bytes_count"
            assert after.value(memory) == before.value(memory, default=0) + 2
    finally:
        databases.drop_all()


def run_operation(url: str, headers: dict[str, str], documents: int) -> dict[str, Any]:
    """A collection of `documents` text files, chunked by an operation; its final state."""
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        made = client.post(f"{API}/collections", json={"name": new_username("collection")})
        assert made.status_code == 201, made.text
        collection = made.json()["id"]
        files = [("files", (f"d{i}.txt", text_file(f"doc{i}"), "text/plain"))
                 for i in range(documents)]
        uploaded = client.post(f"{API}/collections/{collection}/documents", files=files)
        assert uploaded.status_code == 201, uploaded.text
        started = client.post(f"{API}/collections/{collection}/operations", json={})
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        while True:
            state: dict[str, Any] = client.get(
                f"{API}/operations/{started.json()['id']}").json()
            if state["status"] in FINISHED:
                return state
            assert time.monotonic() < deadline, state
            time.sleep(0.1)


def test_the_directory_check_says_what_is_wrong(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(metrics.MULTIPROCESS_ENV, raising=False)
    metrics.check_multiprocess_dir()  # unset: one process, nothing to check
    afile = tmp_path / "a-file"
    afile.write_text("")
    for wrong in (tmp_path / "missing", afile):
        monkeypatch.setenv(metrics.MULTIPROCESS_ENV, str(wrong))
        with pytest.raises(ChunkingError, match=f"={wrong} is not a directory: create it"):
            metrics.check_multiprocess_dir()
    monkeypatch.setenv(metrics.MULTIPROCESS_ENV, str(tmp_path))
    metrics.check_multiprocess_dir()


def test_live_gauges_of_ended_processes_are_dropped_and_counters_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait(timeout=60)
    ours, alive = os.getpid(), os.getppid()
    names = [f"gauge_livesum_{ended.pid}.db", f"gauge_liveall_{ended.pid}.db",
             f"gauge_livesum_{ours}.db", f"gauge_livesum_{alive}.db",
             f"counter_{ended.pid}.db", f"histogram_{ended.pid}.db"]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    metrics.forget_killed_processes(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[2:])
    # At its exit a process drops its own live gauges (only those).
    monkeypatch.setenv(metrics.MULTIPROCESS_ENV, str(tmp_path))
    metrics.process_exited()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names[3:])


def test_an_error_code_is_read_only_from_a_json_error_body() -> None:
    def code(headers: list[tuple[bytes, bytes]], *chunks: bytes) -> str:
        body = metrics._ErrorBody()
        body.expect(headers)
        for chunk in chunks:
            body.add(chunk)
        return body.code()

    json_type = [(b"content-type", b"application/json")]
    assert code(json_type, b'{"error": "not_fo', b'und", "detail": "x"}') == "not_found"
    assert code([(b"content-type", b"text/plain")], b'{"error": "not_found"}') == "unknown"
    for odd in (b"[1]", b"not json", b'{"error": "Has Spaces"}', b'{"error": 5}', b""):
        assert code(json_type, odd) == "unknown", odd
