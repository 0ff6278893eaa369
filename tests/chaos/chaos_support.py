"""What the chaos tests break and how they check that nothing was lost: a PostgreSQL cluster
and a Redis server of the test's own (so they can be killed and started again on the same
data and port), the real `chunkyard serve` and `chunkyard worker` on them, and the check
that every document holds exactly the chunks `chunkyard chunk` gives and that the
operation's counters are the rows in the database."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from pydantic import SecretStr
from sqlalchemy import text

import serversupport
import workersupport
from chunkyard.auth.service import start_session
from chunkyard.settings import Settings
from chunkyard.storage import migrate
from chunkyard.storage.engine import create_engine, create_session_factory
from chunkyard.storage.models import User

API = "/api/v1"
CONFIG: dict[str, Any] = {"strategy": "recursive", "params": {"chunk_size": 128}}
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
REQUEST_TIMEOUT = 10.0


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def tool(name: str, *candidates: str) -> str:
    """The path of a program; fails the test in CI (CI=true) and skips it otherwise."""
    for candidate in candidates:
        for path in sorted(glob.glob(candidate), reverse=True):  # the newest version first
            if os.access(path, os.X_OK):
                return path
    found = shutil.which(name)
    if found:
        return found
    message = f"{name} not found (PostgreSQL's server binaries and redis-server are needed)"
    if in_ci():
        pytest.fail(f"{message}; CI=true: the chaos tests are required")
    pytest.skip(f"{message}; set CI=true to make this a failure")


def wait_until(check: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    """`check()` once it is truthy, polled every `interval`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout:.0f}s")
        time.sleep(interval)


# -- a PostgreSQL cluster of our own ---------------------------------------------------------


class PostgresCluster:
    """A cluster made by `initdb` in a temporary folder, run by `postgres` (the postmaster,
    not pg_ctl, so SIGKILL hits the postmaster itself) on a port of its own. PostgreSQL
    refuses to run as root: as root, the cluster runs as the `postgres` user in a folder it
    owns (outside pytest's temporary folders, which only root may enter)."""

    def __init__(self) -> None:
        pg = "/usr/lib/postgresql/*/bin/"
        self.initdb = tool("initdb", pg + "initdb")
        self.postgres = tool("postgres", pg + "postgres")
        self.user: str | None = None
        if os.getuid() == 0:
            self.user = os.environ.get("CHUNKYARD_CHAOS_PG_USER", "postgres")
            try:
                account = pwd.getpwnam(self.user)
            except KeyError:
                pytest.fail(f"running as root and there is no {self.user!r} user to run "
                            "PostgreSQL as (set CHUNKYARD_CHAOS_PG_USER)")
        self.root = Path(tempfile.mkdtemp(prefix="chunkyard-chaos-pg-"))
        if self.user is not None:
            os.chown(self.root, account.pw_uid, account.pw_gid)
        self.data = self.root / "data"
        self.log_path = self.root / "postgres.log"
        self.port = serversupport.free_port()
        self.process: subprocess.Popen[bytes] | None = None
        subprocess.run(
            [self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-sync", "--no-instructions"],
            check=True, cwd=self.root, user=self.user, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, timeout=120,
        )

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _ready(self) -> bool:
        # The postmaster writes "ready" on the pid file's 8th line once it accepts connections.
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return False
        # A killed postmaster leaves its own file behind, "ready": the pid must be ours.
        return (len(lines) >= 8 and self.process is not None
                and lines[0].strip() == str(self.process.pid) and lines[7].strip() == "ready")

    def start(self) -> None:
        """Start the postmaster (on the same data and port every time); wait until ready. A
        restart right after a SIGKILL may find the old backends still leaving: try again."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [self.postgres, "-D", str(self.data), "-p", str(self.port),
                     "-c", "listen_addresses=127.0.0.1",
                     "-c", f"unix_socket_directories={self.root}",
                     # A killed postmaster is not a lost machine: the OS keeps what was
                     # written, so fsync only costs time here.
                     "-c", "fsync=off", "-c", "max_connections=60", "-c", "shared_buffers=32MB"],
                    cwd=self.root, user=self.user, stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL, start_new_session=True,
                )
            while not self._ready():
                if self.process.poll() is not None:
                    break
                if time.monotonic() > deadline:
                    self.stop()
                    pytest.fail(f"PostgreSQL did not start:\n{self.log()[-3000:]}")
                time.sleep(0.05)
            else:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"PostgreSQL exited ({self.process.returncode}):\n"
                            f"{self.log()[-3000:]}")
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL the postmaster alone (its backends notice and leave on their own)."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def stop(self) -> None:
        """A fast shutdown (SIGINT), then SIGKILL to the whole group if it hangs."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


# -- a Redis server of our own ---------------------------------------------------------------


class RedisServer:
    """`redis-server` on a port of its own. It keeps its data in an append-only file in a
    temporary folder, as a Redis that is also the Celery broker must (a broker that forgets
    its queue on a restart loses the messages of parts not yet delivered), so a stop and a
    start on the same port and folder is an outage, not a new server."""

    def __init__(self, root: Path) -> None:
        self.binary = tool("redis-server")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.log_path = root / "redis.log"
        self.port = serversupport.free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _pings(self) -> bool:
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                 "--dir", str(self.root), "--appendonly", "yes", "--appendfsync", "everysec",
                 "--save", "", "--daemonize", "no", "--protected-mode", "no"],
                cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not self._pings():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail(f"redis-server did not start:\n{self.log()[-3000:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (Redis writes its append-only file and exits), SIGKILL if it hangs."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
        self.process = None


# -- the service on them ---------------------------------------------------------------------


@dataclass
class Chaos:
    """The real API and workers on the test's own PostgreSQL and Redis, and a signed-in user."""

    tmp: Path
    cluster: PostgresCluster
    redis: RedisServer
    settings: Settings
    stack: ExitStack
    server: serversupport.Server | None = None
    workers: list[workersupport.Worker] = field(default_factory=list)
    http: httpx.Client = field(init=False)
    headers: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)  # seconds, printed on failure

    def worker(self, concurrency: int = 2, **overrides: Any) -> workersupport.Worker:
        settings = self.settings.model_copy(update=overrides)
        worker = workersupport.Worker(settings, self.tmp / "workers", concurrency=concurrency)
        self.stack.callback(worker.stop)
        self.workers.append(worker)
        return worker.start()

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path, headers=self.headers)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, headers=self.headers, **kwargs)

    def operation(self, operation_id: str) -> dict[str, Any]:
        response = self.get(f"{API}/operations/{operation_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def logs(self) -> str:
        parts = [f"---- timings {self.timings}",
                 f"---- serve\n{self.server.stderr()[-4000:]}" if self.server else ""]
        parts += [f"---- {w.log_path}\n{w.log()[-5000:]}" for w in self.workers]
        parts.append(f"---- postgres\n{self.cluster.log()[-2000:]}")
        parts.append(f"---- redis\n{self.redis.log()[-1500:]}")
        return "\n".join(parts)


@contextmanager
def chaos_service(tmp: Path, cluster: PostgresCluster, redis_server: RedisServer, *,
                  workers: int = 1, concurrency: int = 2, worker_overrides: dict[str, Any]
                  | None = None, **overrides: Any) -> Iterator[Chaos]:
    """A migrated database on `cluster`, `chunkyard serve` and `workers` `chunkyard worker`
    processes (with `worker_overrides`, e.g. another database URL) on it and `redis_server`
    (cache, progress and the Celery broker), and a signed-in user's headers. On failure, every
    process's log is printed."""
    settings = Settings(
        database_url=cluster.url, redis_url=redis_server.url, queue="chunkyard-chaos",
        data_dir=tmp / "data", secret_key=SecretStr("chunkyard-chaos-secret-" + "c" * 32),
        **overrides,
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    migrate.run_upgrade(settings)
    with ExitStack() as stack:
        chaos = Chaos(tmp, cluster, redis_server, settings, stack)
        try:
            began = time.monotonic()
            # The workers start, and the user is made, while the server starts.
            with ThreadPoolExecutor(max_workers=workers + 1) as pool:
                started = [pool.submit(chaos.worker, concurrency, **(worker_overrides or {}))
                           for _ in range(workers)]
                token = pool.submit(session_token, settings)
                chaos.server = stack.enter_context(serversupport.serving(
                    tmp, workersupport.settings_env(settings), "serve"))
                chaos.timings["serve"] = time.monotonic() - began
                for future in started:
                    future.result()
                chaos.headers = {"Authorization": f"Bearer {token.result()}"}
            chaos.timings["workers"] = time.monotonic() - began
            chaos.http = stack.enter_context(
                httpx.Client(base_url=chaos.server.url, timeout=REQUEST_TIMEOUT))
            yield chaos
        except BaseException:
            print(chaos.logs())
            raise


# -- documents, an operation, and what must come of it ---------------------------------------


def markdown(label: str, paragraphs: int) -> bytes:
    return "\n\n".join(
        f"{label} paragraph {i}: words about chunking and retrieval {uuid.uuid4().hex}. "
        "Another sentence follows here, so there is something to split."
        for i in range(paragraphs)
    ).encode()


@dataclass
class Collection:
    id: str
    documents: list[dict[str, Any]]
    files: list[Path]


def session_token(settings: Settings) -> str:
    """A signed-in user's token, made in the database: signing in is tested elsewhere, and
    its argon2 threads (niced) wait long for a core on a loaded machine."""

    async def make() -> str:
        engine = create_engine(settings)
        try:
            async with create_session_factory(engine)() as session, session.begin():
                user = User(username=f"chaos-{secrets.token_hex(4)}", password_hash="-")
                session.add(user)
                await session.flush()
                return await start_session(session, settings, user.id)
        finally:
            await engine.dispose()

    return asyncio.run(make())


def collection_with_documents(chaos: Chaos, count: int, paragraphs: int) -> Collection:
    """A collection (CONFIG) with `count` markdown documents, also kept as files for the CLI."""
    response = chaos.post(f"{API}/collections",
                          json={"name": f"chaos-{secrets.token_hex(4)}", "config": CONFIG})
    assert response.status_code == 201, response.text
    collection_id = response.json()["id"]
    folder = chaos.tmp / "files"
    folder.mkdir(exist_ok=True)
    files = []
    for i in range(count):
        path = folder / f"doc{i}.md"
        path.write_bytes(markdown(f"doc{i}", paragraphs))
        files.append(path)
    response = chaos.post(
        f"{API}/collections/{collection_id}/documents",
        files=[("files", (p.name, p.read_bytes(), "text/markdown")) for p in files],
        timeout=60,
    )
    assert response.status_code == 201, response.text
    return Collection(collection_id, response.json()["items"], files)


def start_operation(chaos: Chaos, collection: Collection) -> dict[str, Any]:
    response = chaos.post(f"{API}/collections/{collection.id}/operations", json={})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def running_with(chaos: Chaos, operation_id: str, done: int,
                 timeout: float = 60.0) -> dict[str, Any]:
    """The operation once `done` documents are done; it must still be running then."""

    def check() -> dict[str, Any] | None:
        body = chaos.operation(operation_id)
        if body["documents_done"] >= done:
            assert body["status"] == "running", body
            assert body["documents_done"] < body["documents_total"], body
            return body
        return None

    result: dict[str, Any] = wait_until(check, timeout, f"{done} documents done", 0.02)
    return result


def finished(chaos: Chaos, operation_id: str, timeout: float) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        body = chaos.operation(operation_id)
        return body if body["status"] in ("completed", "failed", "cancelled") else None

    result: dict[str, Any] = wait_until(check, timeout, f"operation {operation_id} finished",
                                        0.1)
    return result


Row = tuple[int, str, int, int, int]


def cli_chunks(files: list[Path], cwd: Path) -> dict[str, list[Row]]:
    """What a clean `chunkyard chunk` (same configuration, JSONL) gives each file:
    file name -> [(index, text, start, end, tokens)]."""
    params = [f"--param={k}={json.dumps(v)}" for k, v in CONFIG["params"].items()]
    done = subprocess.run(
        [*workersupport.chunkyard_command(), "chunk", *map(str, files),
         "--strategy", CONFIG["strategy"], *params, "--format", "jsonl"],
        cwd=cwd, env=serversupport.serve_env(cwd / "cli-data"), capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    chunks: dict[str, list[Row]] = {Path(f).name: [] for f in files}
    for line in done.stdout.splitlines():
        record = json.loads(line)
        chunks[Path(record["source"]).name].append(
            (record["index"], record["text"], record["start"], record["end"], record["tokens"]))
    return chunks


def _query(settings: Settings, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    async def run() -> list[tuple[Any, ...]]:
        engine = create_engine(settings)
        try:
            async with engine.connect() as connection:
                result = await connection.execute(text(sql), params)
                return [tuple(row) for row in result.all()]
        finally:
            await engine.dispose()

    return asyncio.run(run())


def assert_nothing_lost(chaos: Chaos, collection: Collection, final: dict[str, Any]) -> None:
    """The operation completed; every document holds exactly the CLI's chunks, once; the
    operation's and its parts' counters are the rows in the database."""
    assert final["status"] == "completed", final
    expected = cli_chunks(collection.files, chaos.tmp)
    settings = chaos.settings
    total = 0
    for document in collection.documents:
        stored = _query(
            settings,
            "SELECT chunk_index, text, start_offset, end_offset, tokens FROM chunks "
            "WHERE document_id = :id ORDER BY chunk_index, id",
            id=uuid.UUID(document["id"]))
        assert stored == expected[document["filename"]], document["filename"]
        total += len(stored)
    counts = dict(_query(
        settings, "SELECT document_id, count(*) FROM chunks WHERE collection_id = :id "
        "GROUP BY document_id", id=uuid.UUID(collection.id)))
    documents = _query(
        settings, "SELECT id, status, chunk_count FROM documents WHERE collection_id = :id",
        id=uuid.UUID(collection.id))
    assert len(documents) == len(collection.documents)
    for document_id, status, chunk_count in documents:
        assert status == "chunked", (document_id, status)
        assert chunk_count == counts[document_id], document_id
    failed = sum(1 for _, status, _ in documents if status == "failed")
    assert final["documents_total"] == len(collection.documents), final
    assert final["documents_done"] == len(counts) == len(collection.documents), final
    assert final["documents_failed"] == failed == 0, final
    assert final["chunks_created"] == sum(counts.values()) == total, final
    ((parts, completed, done, failed_parts, created),) = _query(
        settings,
        "SELECT count(*), count(*) FILTER (WHERE status = 'completed'), "
        "sum(documents_done), sum(documents_failed), sum(chunks_created) "
        "FROM operation_parts WHERE operation_id = :id", id=uuid.UUID(final["id"]))
    assert parts > 0 and completed == parts, (parts, completed)
    assert (done, failed_parts, created) == (
        final["documents_done"], final["documents_failed"], final["chunks_created"])


def assert_workers_alive(chaos: Chaos) -> None:
    for worker in chaos.workers:
        assert worker.process is not None and worker.process.poll() is None, worker.log()[-3000:]
