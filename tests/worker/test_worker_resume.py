"""Operations left behind by a process that crashed are picked up when the service starts:
the embedded runner resumes pending ones and running ones whose lease has expired (and waits
out a live lease), counting what the dead job had already stored; with Celery, the app sends
the running ones whose lease has expired to the workers again."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

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
    operation_row,
)

import dbsupport
from chunkyard.api.app import create_app
from chunkyard.documents import blobs
from chunkyard.documents.chunking import chunk_file
from chunkyard.settings import Settings
from chunkyard.storage.models import Collection, Document, Operation, utcnow
from chunkyard.storage.repositories import config_hash_for, replace_document_chunks
from chunkyard.worker.jobs import CHUNKER_VERSION


def left_behind(settings: Settings, collection_id: str, **fields: Any) -> str:
    """An operation over the collection as a crashed process would leave it."""

    async def insert(session: AsyncSession) -> str:
        owner = await session.scalar(
            select(Collection.owner_id).where(Collection.id == uuid.UUID(collection_id)))
        operation = Operation(collection_id=uuid.UUID(collection_id), owner_id=owner,
                              config=CONFIG, created_at=utcnow(), **fields)
        session.add(operation)
        await session.flush()
        return str(operation.id)

    return in_db(settings, insert)


def chunked_by(settings: Settings, document: dict[str, Any], operation_id: str) -> None:
    """Store the document's chunks as the operation's dead job had done."""
    path = settings.data_dir / blobs.relative_blob_path(document["content_sha256"])

    async def store(session: AsyncSession) -> None:
        chunks = chunk_file(path, document["filename"], CONFIG)
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
        made = [collection_with_documents(service, 3, paragraphs=200) for _ in range(3)]
    past, soon = utcnow() - timedelta(minutes=5), utcnow() + timedelta(seconds=2)
    (_, pending_in, docs_a), (_, expired_in, docs_b), (_, live_in, docs_c) = made
    pending = left_behind(settings, pending_in["id"])
    expired = left_behind(settings, expired_in["id"], status="running", attempts=1,
                          lease_owner="crashed:1:x", lease_expires_at=past,
                          documents_total=3, documents_done=2, chunks_created=999)
    chunked_by(settings, docs_b[0], expired)
    stored_at = chunked_at(settings, docs_b[0]["id"])
    live = left_behind(settings, live_in["id"], status="running", attempts=1,
                       lease_owner="elsewhere:1:y", lease_expires_at=soon)

    with TestClient(create_app(settings)) as client:
        service = _Service(Api("sqlite", settings, client), settings)
        results = {name: wait_finished(service.api, headers, operation_id)
                   for name, operation_id, (headers, _, _) in
                   [("pending", pending, made[0]), ("expired", expired, made[1]),
                    ("live", live, made[2])]}

    for name, documents in [("pending", docs_a), ("expired", docs_b), ("live", docs_c)]:
        assert_one_correct_set_each(service, documents, results[name])
    # The dead job's document counts once, with its chunks, and is not chunked again.
    assert results["expired"]["chunks_created"] == sum(
        len(expected_chunks(settings, d)) for d in docs_b)
    assert chunked_at(settings, docs_b[0]["id"]) == stored_at
    assert operation_row(settings, expired).attempts == 2
    assert operation_row(settings, live).attempts == 2  # taken over once its lease expired


def test_the_app_sends_operations_whose_worker_was_lost_again(
    databases: dbsupport.Databases,
) -> None:
    with celery_service(databases, job_lease_seconds=2.0) as service:
        headers, collection, documents = collection_with_documents(service, 3, paragraphs=200)
        lost = left_behind(service.settings, collection["id"], status="running", attempts=1,
                           lease_owner="crashed:1:x", lease_expires_at=utcnow())
        # A message that no broker holds any more: only the app's start finds it.
        with TestClient(create_app(service.settings)):
            final = wait_finished(service.api, headers, lost)

        assert_one_correct_set_each(service, documents, final)
        assert operation_row(service.settings, lost).attempts == 2


class _Service:
    """What the helpers need of a service: its app and settings (no workers)."""

    def __init__(self, api: Api, settings: Settings) -> None:
        self.api = api
        self.settings = settings
