"""The series an operator reads besides request latency, each moved by the thing it counts
(real requests, a real operation, rows in the real database): errors by code, preview cache
hits and misses, active operations, failed documents and operations by reason class, and each
document's peak job-process memory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from api_helpers import API, Api, create_collection, in_db, user_headers
from operation_helpers import CORRUPT_PDF, start, text_file, upload, wait_finished
from sqlalchemy import literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from test_api_metrics import _me, delete_operation, insert_pending_operation, scrape

from chunkyard.api.metrics import (
    DOCUMENT_REASONS,
    OPERATION_REASONS,
    OTHER_REASON,
    reason_class,
)
from chunkyard.kit.child_process import memory_message
from chunkyard.settings import Settings
from chunkyard.storage.models import Operation, OperationStatus
from chunkyard.worker.job_process import MIB
from chunkyard.worker.policy import document_error

ERRORS = "chunkyard_http_errors_total"
LOOKUPS = "chunkyard_preview_cache_lookups_total"
MEMORY = "chunkyard_document_peak_memory_bytes"
TIME_LIMIT = ("stopped: the job ran past its time limit of 3 s "
              "(CHUNKYARD_JOB_SOFT_TIME_LIMIT)")


def test_errors_are_counted_by_status_and_code(api: Api) -> None:
    headers = user_headers(api)
    missing = {"status": "404", "code": "collection_not_found"}
    invalid = {"status": "422", "code": "validation_error"}
    before = scrape(api.client, fresh=False)
    for _ in range(3):
        response = api.client.get(f"{API}/collections/{uuid.uuid4()}", headers=headers)
        assert response.status_code == 404 and response.json()["error"] == missing["code"]
    response = api.client.post(f"{API}/collections", headers=headers, json={"name": 5})
    assert response.status_code == 422 and response.json()["error"] == invalid["code"]
    assert api.client.get("/healthz").status_code == 200  # a success is no error
    after = scrape(api.client, fresh=False)
    for labels, added in ((missing, 3), (invalid, 1)):
        assert after.value(ERRORS, **labels) == before.value(ERRORS, default=0, **labels) + added
    assert {s.labels["status"] for s in after.samples if s.name == ERRORS} <= {
        str(code) for code in range(400, 600)}


def test_preview_cache_lookups_count_hits_and_misses(api: Api) -> None:
    headers = user_headers(api)
    body = {"text": f"cache {uuid.uuid4().hex}. " * 30, "strategy": "recursive",
            "params": {"chunk_size": 24}}
    before = scrape(api.client, fresh=False)
    answers = [api.client.post(f"{API}/preview", json=body, headers=headers) for _ in range(3)]
    assert [a.json()["cached"] for a in answers] == [False, True, True]
    after = scrape(api.client, fresh=False)
    assert after.value(LOOKUPS, result="miss") == before.value(LOOKUPS, result="miss") + 1
    assert after.value(LOOKUPS, result="hit") == before.value(LOOKUPS, result="hit") + 2


def test_active_operations_count_pending_and_running(api: Api) -> None:
    headers = user_headers(api)
    operation_id = insert_pending_operation(api, headers)
    try:
        result = scrape(api.client)
        active = result.value("chunkyard_operations", status="pending") + result.value(
            "chunkyard_operations", status="running")
        assert result.value("chunkyard_operations_active") == active >= 1
    finally:
        delete_operation(api.settings, operation_id)


def insert_failed_operation(api: Api, headers: dict[str, str], error: str) -> uuid.UUID:
    collection = create_collection(api, headers)
    owner = _me(api, headers)

    async def insert(session: AsyncSession) -> uuid.UUID:
        operation = Operation(collection_id=uuid.UUID(collection["id"]), owner_id=owner,
                              status=OperationStatus.FAILED, error=error,
                              config={"strategy": "recursive", "params": {}})
        session.add(operation)
        await session.flush()
        return operation.id

    return in_db(api.settings, insert)


def test_failures_are_counted_by_reason_class(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config={"strategy": "recursive",
                                                         "params": {"chunk_size": 64}})
    upload(api, headers, collection["id"], [
        ("fine.txt", text_file("fine")), ("broken.pdf", CORRUPT_PDF)])
    before = scrape(api.client)
    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert (final["status"], final["documents_failed"]) == ("completed", 1), final
    timed_out = insert_failed_operation(api, headers, TIME_LIMIT)
    try:
        after = scrape(api.client)
    finally:
        delete_operation(api.settings, timed_out)

    def added(name: str, reason: str) -> float:
        return after.value(name, reason=reason) - before.value(name, reason=reason)

    assert added("chunkyard_documents_failed", "extraction_failed") == 1
    assert added("chunkyard_operations_failed", "time_limit") == 1
    every = {reason for _, reason in DOCUMENT_REASONS} | {OTHER_REASON}
    assert after.labels("chunkyard_documents_failed", "reason") == every
    assert sum(added("chunkyard_documents_failed", r) for r in every) == 1


def classify(settings: Settings, sentences: list[str], reasons: Any) -> list[str]:
    """The reason class the database gives each sentence (the metric's own SQL)."""

    async def run(session: AsyncSession) -> list[str]:
        return [str(await session.scalar(select(reason_class(literal(s), reasons))))
                for s in sentences]

    return in_db(settings, run)


def test_each_reason_class_is_told_by_the_sentence_the_code_writes(api: Api) -> None:
    document_id = uuid.uuid4()
    sentences = {
        memory_message(500): "out_of_memory",
        "the chunking process stopped while chunking this document (exit code -11)":
            "process_died",
        f"the stored file of document {document_id} (a.txt) cannot be read (No such file)":
            "unreadable",
        document_error(RuntimeError("disk full"), storing=True): "storing_failed",
        document_error(RuntimeError("boom")): "chunking_failed",
        f"document {document_id}: a.pdf: the PDF cannot be read": "extraction_failed",
        "the embedding model answered 500": OTHER_REASON,
    }
    assert classify(api.settings, list(sentences), DOCUMENT_REASONS) == list(sentences.values())
    operations = {
        TIME_LIMIT: "time_limit",
        "stopped after 3 attempts: the worker running part 1 was lost each time": "worker_lost",
        "gave up after 5 retries: OperationalError: database is locked": "transient_errors",
        "the job could not be queued (broker unreachable: OSError: refused)":
            "broker_unreachable",
        "ValueError: no such strategy": OTHER_REASON,
    }
    assert classify(api.settings, list(operations), OPERATION_REASONS) == list(
        operations.values())


def test_each_chunked_document_records_its_peak_memory(services: Any) -> None:
    # The embedded default: the job processes' parent is this (the API) process. In the
    # Celery mode it is the worker's (docs/metrics.md says how that one is read).
    api: Api = services.get("sqlite")
    headers = user_headers(api)
    collection = create_collection(api, headers)
    upload(api, headers, collection["id"], [
        (f"m{i}.txt", text_file(f"memory{i}")) for i in range(3)] + [("bad.pdf", CORRUPT_PDF)])
    before = scrape(api.client, fresh=False)
    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert (final["documents_done"], final["documents_failed"]) == (3, 1), final
    after = scrape(api.client, fresh=False)
    count = after.value(f"{MEMORY}_count") - before.value(f"{MEMORY}_count")
    total = after.value(f"{MEMORY}_sum") - before.value(f"{MEMORY}_sum")
    assert count == 3  # the failed one is not measured
    # A job process holds Python and the tokenizer (tens of MB), and stays under its cap.
    assert 20 * MIB < total / count < api.settings.operation_memory_mb * MIB
    assert after.value(f"{MEMORY}_bucket", le="+Inf") == after.value(f"{MEMORY}_count")


DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
SOURCES = Path(__file__).resolve().parents[2] / "src" / "chunkyard"
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)
DOCUMENTED = re.compile(r"^\| `(chunkyard_[a-z_]+)` \|", re.MULTILINE)


def test_docs_describe_every_exposed_series(api: Api) -> None:
    documented = set(DOCUMENTED.findall(DOCS.read_text(encoding="utf-8")))
    assert len(documented) >= 25
    types = dict(TYPE_LINE.findall(scrape(api.client).text))
    exposed = {name for name in types  # prometheus_client's own `_created` beside each series
               if not (name.endswith("_created") and types.get(
                   name.removesuffix("_created") + "_total", types.get(
                       name.removesuffix("_created"))) in ("counter", "histogram"))}
    assert exposed - documented == set(), "exposed but not in docs/metrics.md"
    # And each documented one is named by the code that exposes it.
    code = "\n".join(p.read_text(encoding="utf-8") for p in SOURCES.rglob("*.py"))
    assert {n for n in documented if n.removesuffix("_total") not in code} == set()


def test_a_missing_multiprocess_directory_fails_no_document_and_no_preview(
    tmp_path: Path,
) -> None:
    # In a process of its own: prometheus_client picks its mode when it is first imported.
    code = (
        "from chunkyard.chunking.cache import _looked_up\n"
        "from chunkyard.worker.job_process import _record_memory\n"
        "_record_memory(123456789)\n"
        "assert _looked_up(None) is None\n"
        "print('went on')\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "gone")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert (done.returncode, done.stdout) == (0, "went on\n"), done.stderr
    assert "cannot record memory metrics" in done.stderr
    assert "cannot count the lookup" in done.stderr
