"""The job processes keep a warm child when a job stops mid-document, and replace a dead one.

A job that is cancelled or times out leaves its child in the middle of a document: the child
finishes that document unread (up to `DRAIN_SECONDS`) and serves the next one, so the next
task does not wait a second for a new Python and tokenizer (a soft time limit of one second
once failed the next operation for that reason).
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
from operation_helpers import text_file

from chunkyard.documents.stored import StoredFile
from chunkyard.kit.child_process import memory_message, ran_out_of_memory
from chunkyard.worker.job_process import DocumentFailed, JobProcesses

RECURSIVE = {"strategy": "recursive", "params": {}}


class Stopped(Exception):
    """What a job's end looks like from inside the chunking: an exception mid-document."""


def stored(path: Path) -> StoredFile:
    return StoredFile(uuid.uuid4(), path, path.name, "0" * 64)


def test_a_child_left_mid_document_finishes_it_and_serves_the_next(tmp_path: Path) -> None:
    long_doc = tmp_path / "long.md"
    long_doc.write_bytes(text_file("long", paragraphs=6000))  # several batches
    small = tmp_path / "small.md"
    small.write_bytes(text_file("small", paragraphs=5))

    async def scenario() -> tuple[list[int], list[int], int, int]:
        processes = JobProcesses(500, 1)
        try:
            with pytest.raises(Stopped):
                async with processes.chunk(stored(long_doc), RECURSIVE) as chunked:
                    async for _ in chunked.batches:
                        raise Stopped  # the job stops after the first batch
            before = processes.pids()
            async with processes.chunk(stored(small), RECURSIVE) as chunked:
                count = sum([len(batch) async for batch in chunked.batches])
            return before, processes.pids(), processes.started, count
        finally:
            await processes.close()

    before, after, started, count = asyncio.run(scenario())
    assert count > 0
    assert before == after and started == 1  # the same child, warm


def test_a_child_killed_while_idle_is_replaced_for_the_next_document(tmp_path: Path) -> None:
    small = tmp_path / "small.md"
    small.write_bytes(text_file("small", paragraphs=5))

    async def scenario() -> tuple[int, int, int]:
        processes = JobProcesses(500, 1)
        try:
            async with processes.chunk(stored(small), RECURSIVE) as chunked:
                first = sum([len(batch) async for batch in chunked.batches])
            (pid,) = processes.pids()
            os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(0.2)
            async with processes.chunk(stored(small), RECURSIVE) as chunked:
                second = sum([len(batch) async for batch in chunked.batches])
            return first, second, processes.started
        finally:
            await processes.close()

    first, second, started = asyncio.run(scenario())
    assert first == second > 0 and started == 2


async def _outcome(processes: JobProcesses, path: Path) -> str:
    """'ok N' with the document's chunk count, or the reason it failed with."""
    try:
        async with processes.chunk(stored(path), RECURSIVE) as chunked:
            return f"ok {sum([len(batch) async for batch in chunked.batches])}"
    except DocumentFailed as failed:
        return str(failed)


def test_a_tokenizer_that_panics_under_the_cap_fails_the_document_with_the_memory_reason(
    tmp_path: Path,
) -> None:
    """Found from outside: a 10 MB text under a 380 MB cap made the Rust tokenizer panic
    (pyo3's PanicException is not an Exception), the child exited 1, and the document said
    only that the process stopped. Now it is the cap's reason, and the child is replaced."""
    big = tmp_path / "big.md"
    big.write_bytes(text_file("big", paragraphs=100_000))  # 15 MB
    small = tmp_path / "small.md"
    small.write_bytes(text_file("small", paragraphs=5))

    async def scenario() -> tuple[str, str, int]:
        processes = JobProcesses(380, 1)
        try:
            return (await _outcome(processes, big), await _outcome(processes, small),
                    processes.started)
        finally:
            await processes.close()

    failed, after, started = asyncio.run(scenario())
    assert failed == memory_message(380)
    assert after.startswith("ok ") and started == 2


def test_a_cap_too_small_to_load_the_chunker_says_it_is_the_cap(tmp_path: Path) -> None:
    small = tmp_path / "small.md"
    small.write_bytes(text_file("small", paragraphs=5))

    async def scenario() -> str:
        processes = JobProcesses(150, 1)
        try:
            return await _outcome(processes, small)
        finally:
            await processes.close()

    assert asyncio.run(scenario()) == memory_message(150)


def test_which_failures_are_the_cap() -> None:
    unmapped = ImportError("/x/_bindings.abi3.so: failed to map segment from shared object")
    assert ran_out_of_memory(MemoryError(), 0)
    assert ran_out_of_memory(unmapped, 500)
    assert not ran_out_of_memory(unmapped, 0)  # no cap: a broken install, said as it is
    assert not ran_out_of_memory(ImportError("No module named 'x'"), 500)
    assert not ran_out_of_memory(ValueError("bad input"), 500)


def test_a_child_embeds_as_this_process_would_and_stays_for_the_next_request(
    tmp_path: Path,
) -> None:
    import numpy as np

    from chunkyard.embedding import get_embedder

    texts = ["Chunking splits documents.", "Retrieval finds pieces.", "Ünïcode 𝔱𝔢𝔵𝔱"]

    async def scenario() -> tuple[object, str, list[int], list[int], int]:
        processes = JobProcesses(500, 1)
        try:
            vectors = await processes.embed("static", texts)
            first = processes.pids()
            with pytest.raises(DocumentFailed) as failed:
                await processes.embed("no-such-model", texts)
            small = tmp_path / "small.md"
            small.write_bytes(text_file("small", paragraphs=5))
            async with processes.chunk(stored(small), RECURSIVE) as chunked:
                count = sum([len(batch) async for batch in chunked.batches])
            return vectors, str(failed.value), first, processes.pids(), count
        finally:
            await processes.close()

    vectors, reason, first, after, count = asyncio.run(scenario())
    expected = np.asarray(get_embedder("static").embed(texts), dtype=np.float32)
    assert isinstance(vectors, np.ndarray) and vectors.dtype == np.float32
    assert np.allclose(vectors, expected, atol=1e-6)
    assert reason.startswith("the embedding model failed: unknown embedder 'no-such-model'")
    assert count > 0 and first == after  # the same child served all three
