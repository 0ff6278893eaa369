"""Operations left behind by a process that crashed are picked up when the service starts:
the embedded runner resumes pending and running ones, taking over parts whose lease has
expired (and waiting out a live lease), counting what the dead job had already stored; with
Celery, the app sends the running parts whose lease has expired to the workers again. An
operation left running without parts by revision 0003's job is split into parts then."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from api_helpers import in_db
from fastapi.testclient import TestClient
from operation_helpers import wait_finished
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from worker_helpers import (
    CONFIG,
    Api,
    assert_one_correct_set_each,
    celery_service,
    collection_with_documents,
    expected_chunks,
    operation_parts,
)

import dbsupport
from chunkyard.api.app import create_app
from chunkyard.documents import blobs
from chunkyard.documents.chunking import chunk_document
from chunkyard.documents.stored import read_document
from chunkyard.settings import Settings
from chunkyard.storage import migrate
from chunkyard.storage.dialect import dialect_for
from chunkyard.storage.models import Collection, Document, Operation, OperationPart, utcnow
from chunkyard.storage.repositories import config_hash_for, replace_document_chunks
from chunkyard.worker.jobs import CHUNKER_VERSION

COUNTERS = ("documents_done", "documents_failed", "chunks_created")


def left_behind(settings: Settings, collection_id: str,
                part: dict[str, Any] | None = None, **fields: Any) -> str:
    """An operation over the collection as a crashed process would leave it; with `part`, it
    has one part (those fields) over all the collection's documents, which counted what the
    operation counted."""

    async def insert(session: AsyncSession) -> str:
        # The write lock first: on SQLite a read that a write then follows cannot take the
        # lock once the app's sweeper has written since the read began ("database is
        # locked" at once, without the busy wait).
        await dialect_for(session).begin_write(session)
        owner = await session.scalar(
            select(Collection.owner_id).where(Collection.id == uuid.UUID(collection_id)))
        operation = Operation(collection_id=uuid.UUID(collection_id), owner_id=owner,
                              config=CONFIG, created_at=utcnow(), **fields)
        session.add(operation)
        await session.flush()
        if part is not None:
            documents = await session.scalars(
                select(Document.id).where(Document.collection_id == uuid.UUID(collection_id))
                .order_by(Document.id))
            counted = {name: fields[name] for name in COUNTERS if name in fields}
            session.add(OperationPart(
                operation_id=operation.id, number=0,
                document_ids=[str(d) for d in documents.all()], **counted, **part))
        return str(operation.id)

    return in_db(settings, insert)


def chunked_by(settings: Settings, document: dict[str, Any], operation_id: str) -> None:
    """Store the document's chunks as the operation's dead job had done."""
    path = settings.data_dir / blobs.relative_blob_path(document["content_sha256"])

    async def store(session: AsyncSession) -> None:
        chunks = chunk_document(read_document(path, document["filename"]), CONFIG)
        await replace_document_chunks(
            session, uuid.UUID(document["id"]), chunks, config_hash_for(CONFIG),
            config=CONFIG, chunker_version=CHUNKER_VERSION,
            content_sha256=document["content_sha256"],
        )
        await session.execute(
            update(Document).where(Document.id == uuid.UUID(document["id"]))
            .values(chunked_by_operation_id=uuid.UUID(operation_id)))

    in_db(settings, store)


def chunked_at(settings: Settings, document_id: str) -> Any:
    async def read(session: AsyncSession) -> Any:
        return await session.scalar(
            select(Document.chunked_at).where(Document.id == uuid.UUID(document_id)))

    return in_db(settings, read)


def test_the_embedded_runner_resumes_what_a_crashed_process_left(
    databases: dbsupport.Databases,
) -> None:
    settings = databases.fresh("sqlite").model_copy(update={"job_lease_seconds": 2.0})
    with TestClient(create_app(settings)) as client:
        api = Api("sqlite", settings, client)
        service = _Service(api, settings)
        made = [collection_with_documents(service, 3, paragraphs=200) for _ in range(4)]
    past, soon = utcnow() - timedelta(minutes=5), utcnow() + timedelta(seconds=2)
    (_, pending_in, _), (_, expired_in, docs_b), (_, live_in, _), (_, legacy_in, docs_d) = made
    pending = left_behind(settings, pending_in["id"])
    # Its part's job died after storing one document (and counting nonsense).
    expired = left_behind(settings, expired_in["id"], status="running", documents_total=3,
                          documents_done=2, chunks_created=999,
                          part={"status": "running", "attempts": 1,
                                "lease_owner": "crashed:1:x", "lease_expires_at": past})
    chunked_by(settings, docs_b[0], expired)
    stored_at = chunked_at(settings, docs_b[0]["id"])
    live = left_behind(settings, live_in["id"], status="running", documents_total=3,
                       part={"status": "running", "attempts": 1,
                             "lease_owner": "elsewhere:1:y", "lease_expires_at": soon})
    # Revision 0003's job ran it (no parts) and died after storing one document.
    legacy = left_behind(settings, legacy_in["id"], status="running", documents_total=3,
                         documents_done=2, chunks_created=999)
    chunked_by(settings, docs_d[0], legacy)

    with TestClient(create_app(settings)) as client:
        service = _Service(Api("sqlite", settings, client), settings)
        results = {
            name: wait_finished(service.api, headers, operation_id)
            for name, operation_id, (headers, _, _) in zip(
                ("pending", "expired", "live", "legacy"), (pending, expired, live, legacy),
                made, strict=True)
        }

    for name, (_, _, documents) in zip(results, made, strict=True):
        assert_one_correct_set_each(service, documents, results[name])
    # The dead jobs' documents count once, with their chunks, and are not chunked again.
    for name, documents in (("expired", docs_b), ("legacy", docs_d)):
        assert results[name]["chunks_created"] == sum(
            len(expected_chunks(settings, d)) for d in documents)
    assert chunked_at(settings, docs_b[0]["id"]) == stored_at
    (part,) = operation_parts(settings, expired)
    assert part.attempts == 2
    (part,) = operation_parts(settings, live)
    assert part.attempts == 2  # taken over once its lease expired


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_embedded_runner_keeps_looking_for_parts_whose_job_died(
    databases: dbsupport.Databases, backend: str,
) -> None:
    # Another `serve` on the same database died while the app runs: its part's lease
    # expires later, and the app's sweeper (not only its start) takes the part over.
    settings = databases.fresh(backend).model_copy(
        update={"job_lease_seconds": 2.0, "job_sweep_seconds": 0.3})
    migrate.run_upgrade(settings)
    with TestClient(create_app(settings)) as client:
        service = _Service(Api(backend, settings, client), settings)
        headers, collection, documents = collection_with_documents(service, 3, paragraphs=200)
        soon = utcnow() + timedelta(seconds=1)
        operation_id = left_behind(
            settings, collection["id"], status="running", documents_total=3,
            part={"status": "running", "attempts": 1, "lease_owner": "died:1:z",
                  "lease_expires_at": soon})
        final = wait_finished(service.api, headers, operation_id, timeout=30)

    assert_one_correct_set_each(service, documents, final)
    (part,) = operation_parts(settings, operation_id)
    assert part.attempts == 2 and part.lease_owner != "died:1:z"


def test_the_app_sends_parts_whose_worker_was_lost_again(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, job_lease_seconds=2.0) as service:
        headers, collection, documents = collection_with_documents(service, 3, paragraphs=200)
        legacy_headers, legacy_in, legacy_documents = collection_with_documents(
            service, 2, paragraphs=200)
        lost = left_behind(service.settings, collection["id"], status="running",
                           documents_total=3,
                           part={"status": "running", "attempts": 1,
                                 "lease_owner": "crashed:1:x", "lease_expires_at": utcnow()})
        legacy = left_behind(service.settings, legacy_in["id"], status="running",
                             documents_total=2)
        # Messages that no broker holds any more: only the app's start finds them.
        with TestClient(create_app(service.settings)):
            final = wait_finished(service.api, headers, lost)
            legacy_final = wait_finished(service.api, legacy_headers, legacy)

        assert_one_correct_set_each(service, documents, final)
        (part,) = operation_parts(service.settings, lost)
        assert part.attempts == 2
        assert_one_correct_set_each(service, legacy_documents, legacy_final)


class _Service:
    """What the helpers need of a service: its app and settings (no workers)."""

    def __init__(self, api: Api, settings: Settings) -> None:
        self.api = api
        self.settings = settings
