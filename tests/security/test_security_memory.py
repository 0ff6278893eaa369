"""Memory is bounded per job document and per preview (issue 12, point 1).

Jobs extract and chunk in capped job processes (`worker/job_process.py`, address space at
`CHUNKYARD_OPERATION_MEMORY_MB`, 500 by default), previews in the capped chunking pool. A
document that needs more fails alone with a reason that says so, its process is replaced and
the operation goes on; a preview that needs more is refused with 413.

The document that needs more is real, not a mock: 11 million emoji (44 MB, under the 50 MB
upload limit), whose decoded text alone takes 44 MB more and whose tokens several hundred.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from api_helpers import Api, assert_error, create_collection, user_headers
from operation_helpers import start, text_file, upload, wait_finished

from chunkyard.chunking.pool import ChunkingPool
from chunkyard.chunking.work import run_preview
from chunkyard.core.types import ChunkingError
from chunkyard.documents.stored import StoredFile
from chunkyard.kit.errors import PayloadTooLarge
from chunkyard.worker.job_process import DocumentFailed, JobProcesses
from serversupport import serve_env, serving

NEEDS_MORE = ("this document needs more than 500 MB of memory to extract and chunk "
              "(CHUNKYARD_OPERATION_MEMORY_MB)")
RECURSIVE = {"strategy": "recursive", "params": {}}


@pytest.fixture(scope="module")
def emoji_bytes() -> bytes:
    return ("\N{GRINNING FACE}" * 11_000_000).encode("utf-8")


def stored(path: Path) -> StoredFile:
    return StoredFile(uuid.uuid4(), path, path.name, "0" * 64)


async def chunk_count(processes: JobProcesses, source: StoredFile) -> int:
    async with processes.chunk(source, RECURSIVE) as chunked:
        return sum([len(batch) async for batch in chunked.batches])


def test_a_document_over_the_cap_fails_alone_and_its_process_is_replaced(
    tmp_path: Path, emoji_bytes: bytes
) -> None:
    big = tmp_path / "emoji.txt"
    big.write_bytes(emoji_bytes)
    small = tmp_path / "small.md"
    small.write_bytes(text_file("small", paragraphs=30))

    async def scenario() -> tuple[int, list[int], str, list[int], int]:
        processes = JobProcesses(500, 1)
        try:
            before_count = await chunk_count(processes, stored(small))
            before = processes.pids()
            with pytest.raises(DocumentFailed) as failed:
                await chunk_count(processes, stored(big))
            after = processes.pids()
            return before_count, before, str(failed.value), after, await chunk_count(
                processes, stored(small))
        finally:
            await processes.close()

    first, before, reason, after, again = asyncio.run(scenario())
    assert reason == NEEDS_MORE
    assert first == again > 0  # the replacement chunks as the first one did
    assert len(before) == len(after) == 1 and before != after


def test_a_child_that_aborts_mid_document_is_reported_as_out_of_memory(tmp_path: Path) -> None:
    # Native code (the Rust tokenizers, C++) aborts when an allocation fails under the cap.
    doc = tmp_path / "long.md"
    doc.write_bytes(text_file("long", paragraphs=20_000))

    async def scenario() -> str:
        processes = JobProcesses(500, 1)
        try:
            async with processes.chunk(stored(doc), RECURSIVE) as chunked:
                (pid,) = processes.pids()
                os.kill(pid, signal.SIGABRT)
                with pytest.raises(DocumentFailed) as failed:
                    async for _ in chunked.batches:
                        pass
                return str(failed.value)
        finally:
            await processes.close()

    assert asyncio.run(scenario()) == NEEDS_MORE


def test_a_job_document_over_the_cap_fails_alone_in_both_modes(
    api: Api, emoji_bytes: bytes
) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    good, big = upload(api, headers, collection["id"], [
        ("good.md", text_file("good", paragraphs=40)), ("emoji.txt", emoji_bytes)])
    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"],
                          timeout=240)

    assert final["status"] == "completed", final
    assert (final["documents_done"], final["documents_failed"]) == (1, 1), final
    failed = api.client.get(f"/api/v1/documents/{big['id']}", headers=headers).json()
    assert failed["status"] == "failed" and failed["error"] == NEEDS_MORE
    chunked = api.client.get(f"/api/v1/documents/{good['id']}", headers=headers).json()
    assert chunked["status"] == "chunked" and chunked["chunk_count"] == final["chunks_created"]
    # Its text view extracts in the capped chunking pool too, not in the API process.
    text = api.client.get(f"/api/v1/documents/{big['id']}/text", headers=headers)
    assert_error(text, 413, "needs_more_memory")


def test_a_preview_over_the_cap_is_refused_with_413_and_the_pool_goes_on() -> None:
    async def scenario() -> tuple[PayloadTooLarge, int]:
        pool = ChunkingPool(anyio.CapacityLimiter(2), workers=1, memory_mb=500)
        try:
            with pytest.raises(PayloadTooLarge) as refused:
                await pool.run(bytearray, 600 * 1024 * 1024)  # past the cap, in the worker
            small: Any = await pool.run(bytearray, 1024)
            return refused.value, len(small)
        finally:
            await pool.shutdown()

    refused, small = asyncio.run(scenario())
    assert refused.error_code == "needs_more_memory"
    assert refused.detail == ("this request needs more than 500 MB of memory to extract and "
                              "chunk (CHUNKYARD_OPERATION_MEMORY_MB)")
    assert small == 1024


def test_a_preview_answers_413_in_the_api_when_its_chunking_needs_more(api: Api) -> None:
    # The app's pool is capped at the setting: a preview past it is a 413 in SPEC's body.
    pool = api.client.app.state.services.chunking_pool  # type: ignore[attr-defined]
    assert pool.memory_mb == api.settings.operation_memory_mb == 500
    run = pool.run

    async def hungry(fn: Any, *args: Any) -> Any:
        return await run(bytearray, 600 * 1024 * 1024)

    pool.run = hungry
    try:
        response = api.client.post("/api/v1/preview", headers=user_headers(api),
                                   json={"text": "Hello there.", "strategy": "recursive"})
    finally:
        pool.run = run
    assert_error(response, 413, "needs_more_memory")


FIRST_USER = re.compile(r"created the first user: admin / (\S+)")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def test_the_api_process_keeps_its_size_through_a_large_job(tmp_path: Path) -> None:
    # Once, the API process kept 540-865 MB after large jobs: every chunk came back into it.
    # Now it stores batches its job processes hand over; it must end within 100 MB of its
    # size after a first small job (everything loaded).
    env = serve_env(tmp_path / "data", CHUNKYARD_SECRET_KEY="memory-test-secret-" + "m" * 32)
    with serving(tmp_path, env, "serve") as server, httpx.Client(
            base_url=f"{server.url}/api/v1", timeout=120) as client:
        [password] = FIRST_USER.findall(server.stderr())
        token = client.post("/auth/login", json={"username": "admin", "password": password})
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        collection = client.post("/collections", headers=headers,
                                 json={"name": "memory"}).json()

        def run(name: str, data: bytes, **config: Any) -> dict[str, Any]:
            files = {"files": (name, data, "text/plain")}
            (document,) = client.post(f"/collections/{collection['id']}/documents",
                                      headers=headers, files=files).json()["items"]
            body = {"document_ids": [document["id"]], **config}
            operation = client.post(f"/collections/{collection['id']}/operations",
                                    headers=headers, json=body).json()
            deadline = time.monotonic() + 240
            while True:
                state = client.get(f"/operations/{operation['id']}", headers=headers).json()
                if state["status"] not in ("pending", "running"):
                    return dict(state)
                assert time.monotonic() < deadline, state
                time.sleep(0.2)

        warm = run("warm.md", text_file("warm", paragraphs=50))
        assert warm["status"] == "completed", warm
        start_size = rss_mb(server.proc.pid)
        # 20 MB of prose at 64-token chunks: about 80,000 chunks, stored as they come.
        large = run("large.md", text_file("large", paragraphs=130_000),
                    config={"strategy": "recursive", "params": {"chunk_size": 64}})
        assert large["status"] == "completed" and large["chunks_created"] > 50_000, large
        end_size = rss_mb(server.proc.pid)
    print(f"API process: {start_size:.0f} MB before the large job, {end_size:.0f} MB after")
    assert end_size - start_size < 100


def test_the_local_model_under_the_default_cap_is_refused_with_the_reason() -> None:
    # Torch maps about 1.5 GB: under the 500 MB cap it cannot even be imported. The user is
    # told that (and which setting to raise), not to install a package that is installed.
    async def scenario() -> str:
        pool = ChunkingPool(anyio.CapacityLimiter(2), workers=1, memory_mb=500)
        try:
            with pytest.raises(ChunkingError) as refused:
                await pool.run(run_preview, "One sentence. Another one. " * 20, None,
                               "semantic", {"embedding_model": "local"})
            return str(refused.value)
        finally:
            await pool.shutdown()

    assert asyncio.run(scenario()) == (
        "the local embedding model needs more than the 500 MB of memory a chunking process "
        "has here (about 2000 MB: CHUNKYARD_OPERATION_MEMORY_MB)")
