"""Operations: start, progress, per-document failures, skipping unchanged documents, one active
operation per collection, cancel, pages, and isolation between users (both backends)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from api_helpers import API, Api, assert_error, create_collection, in_db, user_headers
from operation_helpers import CORRUPT_PDF, start, text_file, upload, wait_finished
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.storage.models import Chunk, Document


def stored_chunks(api: Api, document_id: str) -> int:
    async def count(session: AsyncSession) -> int:
        return int(await session.scalar(
            select(func.count()).select_from(Chunk)
            .where(Chunk.document_id == uuid.UUID(document_id))
        ) or 0)

    return in_db(api.settings, count)


def chunker_state(api: Api, document_id: str) -> tuple[str | None, str | None]:
    async def read(session: AsyncSession) -> tuple[str | None, str | None]:
        doc = await session.scalar(select(Document).where(Document.id == uuid.UUID(document_id)))
        assert doc is not None
        return doc.config_hash, doc.chunked_sha256

    return in_db(api.settings, read)


def get_document(api: Api, headers: dict[str, str], document_id: str) -> dict[str, Any]:
    response = api.client.get(f"{API}/documents/{document_id}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_operation_chunks_documents_reports_failures_and_skips_unchanged(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(
        api, headers, config={"strategy": "recursive", "params": {"chunk_size": 64}}
    )
    docs = upload(api, headers, collection["id"], [
        ("a.md", text_file("alpha")), ("b.txt", text_file("beta")), ("bad.pdf", CORRUPT_PDF),
    ])
    good, bad = docs[:2], docs[2]

    created = start(api, headers, collection["id"])
    assert created["status"] == "pending"
    assert created["documents_total"] == 3
    assert (created["documents_done"], created["documents_failed"]) == (0, 0)
    assert created["finished_at"] is None and created["error"] is None

    final = wait_finished(api, headers, created["id"])
    assert final["status"] == "completed", final
    assert (final["documents_total"], final["documents_done"], final["documents_failed"]) == (
        3, 2, 1,
    )
    # Completed, but not looking like a clean success: the count of failures is said.
    assert final["finished_at"] is not None
    assert final["error"] == "1 of 3 documents failed; each failed document's error says why"
    stored = [stored_chunks(api, d["id"]) for d in good]
    assert all(n > 1 for n in stored), stored
    assert final["chunks_created"] == sum(stored)
    for doc, n in zip(good, stored, strict=True):
        after = get_document(api, headers, doc["id"])
        assert after["status"] == "chunked" and after["chunk_count"] == n
        assert after["error"] is None
        assert chunker_state(api, doc["id"])[1] == doc["content_sha256"]
    failed = get_document(api, headers, bad["id"])
    assert failed["status"] == "failed"
    assert failed["error"] and "pdf" in failed["error"].lower()
    assert stored_chunks(api, bad["id"]) == 0

    # Unchanged content, configuration and chunker: nothing is re-chunked.
    hashes = [chunker_state(api, d["id"]) for d in good]
    again = wait_finished(
        api, headers, start(api, headers, collection["id"],
                            document_ids=[d["id"] for d in good])["id"]
    )
    assert again["status"] == "completed"
    assert again["documents_total"] == again["documents_done"] == 2
    assert (again["documents_failed"], again["chunks_created"]) == (0, 0)
    assert [chunker_state(api, d["id"]) for d in good] == hashes
    assert [stored_chunks(api, d["id"]) for d in good] == stored

    # A different configuration re-chunks them (and the broken PDF fails again).
    other = wait_finished(api, headers, start(
        api, headers, collection["id"],
        config={"strategy": "recursive", "params": {"chunk_size": 512}},
    )["id"])
    assert other["status"] == "completed"
    assert (other["documents_done"], other["documents_failed"]) == (2, 1)
    restored = [stored_chunks(api, d["id"]) for d in good]
    assert other["chunks_created"] == sum(restored) > 0
    assert sum(restored) < sum(stored)  # bigger chunks, fewer of them

    # Listing: oldest first, cursor pages.
    url = f"{API}/collections/{collection['id']}/operations"
    first = api.client.get(url, params={"limit": 2}, headers=headers).json()
    assert [o["id"] for o in first["items"]] == [created["id"], again["id"]]
    assert first["next_cursor"]
    second = api.client.get(
        url, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [o["id"] for o in second["items"]] == [other["id"]]
    assert second["next_cursor"] is None
    assert_error(api.client.get(url, params={"cursor": "nope"}, headers=headers), 400)

    # Finished operations cannot be cancelled.
    assert_error(
        api.client.post(f"{API}/operations/{created['id']}/cancel", headers=headers),
        409, "operation_finished",
    )


def test_one_active_operation_per_collection_and_cancel(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    # Enough work (about half a second per document) that the job is still running below.
    upload(api, headers, collection["id"],
           [(f"big{i}.txt", text_file(f"big{i}", paragraphs=3000)) for i in range(10)])

    created = start(api, headers, collection["id"])
    assert_error(
        api.client.post(f"{API}/collections/{collection['id']}/operations", json={},
                        headers=headers),
        409, "operation_in_progress",
    )
    response = api.client.post(f"{API}/operations/{created['id']}/cancel", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None

    final = wait_finished(api, headers, created["id"])
    assert final["status"] == "cancelled"
    assert final["documents_done"] < final["documents_total"] == 10
    # The job stops: its counters stay put.
    time.sleep(1.5)
    assert wait_finished(api, headers, created["id"]) == final
    assert_error(
        api.client.post(f"{API}/operations/{created['id']}/cancel", headers=headers),
        409, "operation_finished",
    )

    # Once cancelled, a new operation may start, and it finishes the rest.
    rest = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert rest["status"] == "completed"
    assert (rest["documents_done"], rest["documents_failed"]) == (10, 0)


def test_bad_requests(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    other_collection = create_collection(api, headers)
    (foreign,) = upload(api, headers, other_collection["id"], [("x.md", text_file("x"))])
    url = f"{API}/collections/{collection['id']}/operations"

    assert_error(api.client.post(url, json={"document_ids": []}, headers=headers), 422)
    assert_error(api.client.post(url, json={"document_ids": ["zzz"]}, headers=headers), 422)
    assert_error(api.client.post(url, json={"unknown": 1}, headers=headers), 422)
    assert_error(
        api.client.post(url, json={"config": {"strategy": "nope"}}, headers=headers),
        422, "invalid_config",
    )
    # Another collection's document, or no such document: 404.
    for doc_id in (foreign["id"], str(uuid.uuid4())):
        assert_error(
            api.client.post(url, json={"document_ids": [doc_id]}, headers=headers),
            404, "document_not_found",
        )
    assert api.client.get(url, headers=headers).json() == {"items": [], "next_cursor": None}
    assert_error(api.client.get(f"{API}/operations/not-a-uuid", headers=headers), 404)

    # An empty collection: an operation over nothing completes at once.
    empty = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert (empty["status"], empty["documents_total"], empty["documents_done"]) == (
        "completed", 0, 0,
    )


def test_other_users_and_anonymous_get_nothing(api: Api) -> None:
    owner = user_headers(api)
    stranger = user_headers(api)
    collection = create_collection(api, owner)
    (doc,) = upload(api, owner, collection["id"], [("own.md", text_file("own"))])
    operation = start(api, owner, collection["id"])
    routes = [
        ("post", f"{API}/collections/{collection['id']}/operations"),
        ("get", f"{API}/collections/{collection['id']}/operations"),
        ("get", f"{API}/operations/{operation['id']}"),
        ("post", f"{API}/operations/{operation['id']}/cancel"),
    ]
    for method, url in routes:
        assert_error(api.client.request(method, url, json={}, headers=stranger), 404)
        assert_error(api.client.request(method, url, json={}), 401)
    # The stranger's own collection cannot name the owner's document.
    theirs = create_collection(api, stranger)
    assert_error(api.client.post(
        f"{API}/collections/{theirs['id']}/operations",
        json={"document_ids": [doc["id"]]}, headers=stranger,
    ), 404, "document_not_found")

    final = wait_finished(api, owner, operation["id"])
    assert final["status"] == "completed" and final["documents_done"] == 1
    assert stored_chunks(api, doc["id"]) > 0
