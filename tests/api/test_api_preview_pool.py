"""The chunking pool: previews and comparisons computed in worker processes are exactly the
ones computed in process, errors raised in a worker render SPEC's error body, a dead worker is
replaced, the pool falls back to threads when processes cannot start, and an app's shutdown
leaves no child process. Also the in-process preview cache's bounds."""

from __future__ import annotations

import asyncio
import functools
import multiprocessing
import os
import posix  # its _exit: coverage wraps os._exit, and a wrapper cannot go to a pool process
import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from fastapi.testclient import TestClient
from operation_helpers import text_file, upload

from chunkyard.api.app import create_app
from chunkyard.auth.service import Principal
from chunkyard.chunking import pool as pools
from chunkyard.chunking.cache import MemoryPreviewCache
from chunkyard.chunking.pool import ChunkingPool, cpu_count
from chunkyard.chunking.service import validate_config
from chunkyard.chunking.work import PreviewResult, run_compare, run_document_preview, run_preview
from chunkyard.core.types import Chunk, ChunkingError
from chunkyard.documents.stored import StoredFile
from chunkyard.kit.errors import Conflict, PayloadTooLarge, Unavailable
from chunkyard.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GUIDE = (CORPUS / "guide.md").read_text(encoding="utf-8")
UNICODE = (CORPUS / "unicode.txt").read_text(encoding="utf-8")
CHUNK_FIELDS = ("index", "text", "start", "end", "tokens", "metadata")


def app_pool(api: Api) -> ChunkingPool:
    app: Any = api.client.app
    pool: ChunkingPool = app.state.services.chunking_pool
    return pool


def chunk_dicts(chunks: list[Chunk]) -> list[dict[str, Any]]:
    return [{k: c.to_dict()[k] for k in CHUNK_FIELDS} for c in chunks]


def canonical(strategy: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The strategy and parameters as the routes validate them (every default filled in)."""
    user = Principal(uuid.uuid4(), "someone", False, datetime.now(UTC), "token")
    valid = validate_config(strategy, params, user, field="")
    return valid.strategy, valid.params


def without_time(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in metrics.items() if k != "time_ms"}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(("strategy", "params"), [
    ("markdown", {"chunk_size": 64}),
    ("recursive", {"chunk_size": 48, "chunk_overlap": 8}),
    ("hierarchical", {"chunk_size": 64}),
    ("hybrid", {"chunk_size": 64}),
    ("character", {"chunk_size": 200, "tokenizer": "chars"}),
])
@pytest.mark.parametrize("source", ["guide", "unicode"])
def test_previews_through_the_pool_equal_previews_in_process(
    api: Api, strategy: str, params: dict[str, Any], source: str
) -> None:
    assert app_pool(api).uses_processes
    # A unique tail: no other test's cached preview can answer this one.
    text = (GUIDE if source == "guide" else UNICODE) + f"\n\n{uuid.uuid4().hex}\n"
    filename = "guide.md" if source == "guide" else "unicode.txt"
    response = api.client.post(
        f"{API}/preview",
        json={"text": text, "filename": filename, "strategy": strategy, "params": params},
        headers=user_headers(api),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cached"] is False
    # In process, with the canonical parameters the route validated.
    local = run_preview(text, filename, *canonical(strategy, params))
    assert [{k: c[k] for k in CHUNK_FIELDS} for c in body["chunks"]] == chunk_dicts(local.chunks)
    assert body["total_chunks"] == len(local.chunks)
    assert without_time(body["metrics"]) == without_time(local.metrics)


def test_compare_through_the_pool_equals_compare_in_process(api: Api) -> None:
    text = GUIDE + f"\n\n{uuid.uuid4().hex}\n"
    configs = [{"strategy": "recursive", "params": {"chunk_size": 64}},
               {"strategy": "markdown", "params": {"chunk_size": 96}}]
    response = api.client.post(
        f"{API}/compare",
        json={"text": text, "filename": "guide.md", "configs": configs, "max_chunks": 5},
        headers=user_headers(api),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    local = run_compare(
        text, "guide.md",
        [dict(zip(("strategy", "params"), canonical(**c), strict=True)) for c in configs], 5,
    )
    for got, want in zip(body["results"], local["results"], strict=True):
        assert got["chunks"] == want["chunks"]
        assert without_time(got["metrics"]) == without_time(want["metrics"])
        assert (got["strategy"], got["params"]) == (want["strategy"], want["params"])
    assert body["recommendation"] == local["recommendation"]


def test_a_document_preview_through_the_pool_equals_one_in_process(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    (document,) = upload(api, headers, collection["id"], [("notes.txt", text_file("pool"))])
    response = api.client.post(
        f"{API}/preview", json={"document_id": document["id"], "params": {"chunk_size": 40}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    sha = document["content_sha256"]
    source = StoredFile(uuid.UUID(document["id"]),
                        api.settings.data_dir / "blobs" / sha[:2] / sha, "notes.txt", sha)
    local = run_document_preview(source, *canonical("recursive", {"chunk_size": 40}))
    body = response.json()
    assert [{k: c[k] for k in CHUNK_FIELDS} for c in body["chunks"]] == chunk_dicts(local.chunks)
    assert without_time(body["metrics"]) == without_time(local.metrics)


def test_a_chunking_error_in_a_worker_renders_the_error_body(api: Api) -> None:
    # Valid as a configuration (admins may name a tokenizer file); it fails only when the
    # worker loads the tokenizer.
    headers = user_headers(api, admin=True)
    params = {"chunk_size": 64, "tokenizer": f"hf:/nonexistent/{uuid.uuid4().hex}/t.json"}
    response = api.client.post(
        f"{API}/preview", json={"text": "Some text. " * 20, "params": params}, headers=headers
    )
    assert "tokenizer" in assert_error(response, 422, "invalid_config")["detail"]
    # A compare reports a configuration failing in the worker in its own result ...
    response = api.client.post(
        f"{API}/compare",
        json={"text": "Some text. " * 20,
              "configs": [{"params": {"chunk_size": 64}}, {"params": params}]},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    good, failed = response.json()["results"]
    assert good["error"] is None and good["metrics"]["chunk_count"] > 0
    assert failed["metrics"] is None and "tokenizer" in failed["error"]
    # ... and renders the error body when every configuration fails there.
    response = api.client.post(
        f"{API}/compare",
        json={"text": "Some text. " * 20, "configs": [{"params": params}, {"params": params}]},
        headers=headers,
    )
    assert "tokenizer" in assert_error(response, 422, "invalid_config")["detail"]
    # The server is fine afterwards.
    ok = api.client.post(f"{API}/preview", json={"text": f"fine {uuid.uuid4().hex}"},
                         headers=headers)
    assert ok.status_code == 200, ok.text


def test_the_pool_runs_work_in_other_processes_and_keeps_errors_intact(tmp_path: Path) -> None:
    async def main() -> None:
        pool = ChunkingPool(anyio.CapacityLimiter(2), workers=2)
        try:
            assert pool.uses_processes
            pids = {await pool.run(os.getpid) for _ in range(4)}
            assert os.getpid() not in pids
            # The event loop stays free while workers are busy.
            busy = [asyncio.ensure_future(pool.run(time.sleep, 1.0)) for _ in range(2)]
            started = time.perf_counter()
            lag = 0.0
            while not all(b.done() for b in busy):
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lag = max(lag, time.perf_counter() - before)
            assert time.perf_counter() - started >= 0.9
            assert lag < 0.2
            # Errors come back with their type, message, status and code.
            with pytest.raises(ChunkingError) as chunking:
                await pool.run(run_preview, "text", None, "no-such-strategy", {})
            with pytest.raises(ChunkingError) as local:
                run_preview("text", None, "no-such-strategy", {})
            assert str(chunking.value) == str(local.value)
            missing = StoredFile(uuid.uuid4(), tmp_path / "gone", "gone.txt", "0" * 64)
            with pytest.raises(Conflict) as conflict:
                await pool.run(run_document_preview, missing, "recursive", {})
            assert conflict.value.status == 409
            assert conflict.value.error_code == "document_unreadable"
            assert str(missing.id) in conflict.value.detail
        finally:
            await pool.shutdown()
        assert not pool.uses_processes

    asyncio.run(main())


def test_a_dead_worker_is_replaced_and_its_work_retried() -> None:
    async def main() -> None:
        pool = ChunkingPool(anyio.CapacityLimiter(2), workers=2)
        try:
            await pool.run(os.getpid)
            first = pool.pids()
            assert len(first) == 2
            slow = asyncio.ensure_future(pool.run(time.sleep, 1.5))
            await asyncio.sleep(0.5)
            os.kill(first[0], signal.SIGKILL)
            assert await slow is None  # retried in the new workers
            assert pool.uses_processes
            assert not set(pool.pids()) & set(first)
            assert await pool.run(os.getpid) in pool.pids()
        finally:
            await pool.shutdown()
        for pid in first:
            assert not alive(pid)

    asyncio.run(main())


def test_work_that_kills_its_worker_twice_is_a_503() -> None:
    async def main() -> None:
        pool = ChunkingPool(anyio.CapacityLimiter(2), workers=1)
        try:
            await pool.run(os.getpid)
            with pytest.raises(Unavailable) as unavailable:
                await pool.run(posix._exit, 3)  # the worker dies, then its replacement too
            assert unavailable.value.status == 503
            assert await pool.run(os.getpid) in pool.pids()  # and new work still runs
        finally:
            await pool.shutdown()

    asyncio.run(main())


class PanicException(BaseException):
    """Named like pyo3's: what a Rust tokenizer raises where an allocation fails."""


def panic(message: str) -> None:
    raise PanicException(message)


def test_a_tokenizer_panic_at_the_cap_is_413_and_the_pool_goes_on() -> None:
    """Found from outside: a 30 MB preview at the default 500 MB made the Rust tokenizer panic
    ("Python API call failed"), and pyo3's PanicException could not be sent back to the API
    (its class cannot be pickled): a 500. At a cap it is the memory reason (413), like a
    MemoryError; without one, a RuntimeError that says so."""

    async def main() -> None:
        pool = ChunkingPool(anyio.CapacityLimiter(2), workers=1, memory_mb=500)
        try:
            with pytest.raises(PayloadTooLarge) as refused:
                await pool.run(panic, "Python API call failed")
            assert refused.value.error_code == "needs_more_memory"
            assert "needs more than 500 MB" in refused.value.detail
            assert await pool.run(os.getpid) in pool.pids()  # the pool goes on
        finally:
            await pool.shutdown()

    asyncio.run(main())
    with pytest.raises(RuntimeError, match="the tokenizer failed: Python API call failed"):
        pools._in_worker(panic, 0, "Python API call failed")


def test_without_processes_the_pool_runs_the_same_work_in_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no processes here")

    monkeypatch.setattr(pools, "ProcessPoolExecutor", refuse)

    async def main() -> None:
        pool = ChunkingPool(anyio.CapacityLimiter(2), workers=2)
        assert not pool.uses_processes and pool.pids() == []
        assert await pool.run(os.getpid) == os.getpid()
        result = await pool.run(run_preview, GUIDE, "guide.md", "markdown", {"chunk_size": 64})
        local = run_preview(GUIDE, "guide.md", "markdown", {"chunk_size": 64})
        assert chunk_dicts(result.chunks) == chunk_dicts(local.chunks)
        with pytest.raises(ChunkingError):
            await pool.run(run_preview, "text", None, "no-such-strategy", {})
        await pool.shutdown()

    asyncio.run(main())


def test_when_workers_never_start_the_pool_uses_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Every worker dies on its warm-up task: the processes "cannot start".
    monkeypatch.setattr(pools, "_ready", functools.partial(posix._exit, 3))

    async def main() -> None:
        pool = ChunkingPool(anyio.CapacityLimiter(2), workers=1)
        try:
            assert await pool.run(os.getpid) == os.getpid()
            assert not pool.uses_processes
        finally:
            await pool.shutdown()

    asyncio.run(main())


def test_app_shutdown_leaves_no_child_process(sqlite_settings: Settings) -> None:
    with TestClient(create_app(sqlite_settings)) as client:
        app: Any = client.app
        pool: ChunkingPool = app.state.services.chunking_pool
        headers = user_headers_for(client, sqlite_settings)
        response = client.post(f"{API}/preview", json={"text": "Warm. " * 50}, headers=headers)
        assert response.status_code == 200, response.text
        pids = pool.pids()
        assert len(pids) == cpu_count()
        assert all(alive(pid) for pid in pids)
    assert not any(alive(pid) for pid in pids)
    assert not {p.pid for p in multiprocessing.active_children()} & set(pids)


def user_headers_for(client: TestClient, settings: Settings) -> dict[str, str]:
    return user_headers(Api("sqlite", settings, client))


# -- the in-process preview cache -----------------------------------------------------------------


def result_of(chars: int) -> PreviewResult:
    text = "x" * chars
    return PreviewResult([Chunk(index=0, text=text, start=0, end=chars, tokens=1, metadata={})],
                         {})


def test_the_memory_cache_is_bounded_per_user_by_entries_and_characters() -> None:
    async def main() -> None:
        cache = MemoryPreviewCache(entries_per_user=3, chars_per_user=100, max_users=2)
        alice, bob, carol = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        for key in "abcd":
            await cache.put(alice, key, result_of(10))
        assert await cache.get(alice, "a") is None  # the 4th entry pushed out the oldest
        assert all([await cache.get(alice, k) for k in "bcd"])
        await cache.get(alice, "b")  # b is now the most recently used
        # (An entry weighs its characters + 1.) Four entries: c out; 11 + 11 + 81 > 100: d out.
        await cache.put(alice, "e", result_of(80))
        assert await cache.get(alice, "c") is None and await cache.get(alice, "d") is None
        assert await cache.get(alice, "b") is not None and await cache.get(alice, "e") is not None
        # Replacing an entry does not count it twice.
        for _ in range(5):
            await cache.put(alice, "e", result_of(80))
        assert await cache.get(alice, "b") is not None
        await cache.put(alice, "huge", result_of(200))  # over a user's whole budget: not kept
        assert await cache.get(alice, "huge") is None and await cache.get(alice, "e") is not None
        await cache.put(bob, "a", result_of(10))
        await cache.put(carol, "a", result_of(10))  # a third user: the least recent (alice) out
        assert await cache.get(alice, "e") is None
        assert await cache.get(bob, "a") is not None and await cache.get(carol, "a") is not None

    asyncio.run(main())
