"""Documents: multi-file upload, content-addressed blobs, limits, types, duplicates, pages,
delete (chunks and blobs too), and isolation between users."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, in_db, user_headers
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.core.types import Chunk as CoreChunk
from chunkyard.documents import blobs
from chunkyard.storage.models import Chunk, Document
from chunkyard.storage.repositories import replace_document_chunks

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 40

FileSpec = tuple[str, bytes, str]


def unique_text(label: str = "note") -> bytes:
    """Content no other test uploads (duplicates are refused per collection)."""
    return f"# {label}\n\nSome words about {label} {uuid.uuid4().hex}.\n".encode()


def upload(api: Api, headers: dict[str, str], collection_id: str, files: list[FileSpec]) -> Any:
    return api.client.post(
        f"{API}/collections/{collection_id}/documents",
        files=[("files", spec) for spec in files],
        headers=headers,
    )


def upload_ok(
    api: Api, headers: dict[str, str], collection_id: str, files: list[FileSpec]
) -> list[dict[str, Any]]:
    response = upload(api, headers, collection_id, files)
    assert response.status_code == 201, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def blob_path(api: Api, sha256: str) -> Path:
    return api.settings.data_dir / "blobs" / sha256[:2] / sha256


def document_count(api: Api, collection_id: str) -> int:
    async def count(session: AsyncSession) -> int:
        return int(await session.scalar(
            select(func.count()).select_from(Document)
            .where(Document.collection_id == uuid.UUID(collection_id))
        ) or 0)

    return in_db(api.settings, count)


def test_upload_several_files_at_once(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    md = unique_text("guide")
    txt = (CORPUS / "prose.txt").read_bytes() + unique_text("prose")
    pdf = (CORPUS / "report.pdf").read_bytes()
    files = [("guide.md", md, "text/markdown"), ("prose.txt", txt, "text/plain"),
             ("report.pdf", pdf, "application/pdf")]

    items = upload_ok(api, headers, collection["id"], files)

    assert [d["filename"] for d in items] == ["guide.md", "prose.txt", "report.pdf"]
    for doc, (_, content, _) in zip(items, files, strict=True):
        assert set(doc) == {"id", "collection_id", "filename", "status", "size_bytes",
                            "content_sha256", "chunk_count", "error", "chunked_with",
                            "chunked_at", "stale", "characters", "pages", "tokens"}
        assert doc["chunked_with"] is None and doc["stale"] is False
        assert doc["collection_id"] == collection["id"]
        assert doc["status"] == "pending"
        assert doc["size_bytes"] == len(content)
        assert doc["content_sha256"] == hashlib.sha256(content).hexdigest()
        assert doc["chunk_count"] == 0 and doc["error"] is None
        # Stored content-addressed, byte for byte.
        assert blob_path(api, doc["content_sha256"]).read_bytes() == content
        got = api.client.get(f"{API}/documents/{doc['id']}", headers=headers)
        assert got.status_code == 200 and got.json() == doc
    # Nothing is left behind in the staging directory.
    assert list((api.settings.data_dir / "blobs" / ".incoming").iterdir()) == []
    described = api.client.get(f"{API}/collections/{collection['id']}", headers=headers).json()
    assert described["document_count"] == 3


def test_directories_in_a_filename_are_dropped(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    (doc,) = upload_ok(api, headers, collection["id"],
                       [("../../etc/notes.txt", unique_text(), "text/plain")])
    assert doc["filename"] == "notes.txt"


def test_documents_are_listed_in_pages(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    url = f"{API}/collections/{collection['id']}/documents"
    uploaded = upload_ok(api, headers, collection["id"],
                         [(f"n{i}.txt", unique_text(f"n{i}"), "text/plain") for i in range(5)])

    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api.client.get(url, params=params, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert set(body) == {"items", "next_cursor"}
        assert len(body["items"]) <= 2
        seen += body["items"]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == uploaded  # upload order, every field

    everything = api.client.get(url, headers=headers).json()
    assert everything["items"] == uploaded and everything["next_cursor"] is None
    for limit in (0, 1001):
        assert_error(api.client.get(url, params={"limit": limit}, headers=headers), 422)
    assert_error(api.client.get(url, params={"cursor": "nope"}, headers=headers), 400,
                 "invalid_cursor")


def test_delete_removes_document_chunks_and_unshared_blob(api: Api) -> None:
    headers = user_headers(api)
    first = create_collection(api, headers)
    second = create_collection(api, headers)
    content = unique_text("shared")
    (a,) = upload_ok(api, headers, first["id"], [("a.md", content, "text/markdown")])
    # The same content in another collection is allowed, and stored once.
    (b,) = upload_ok(api, headers, second["id"], [("b.md", content, "text/markdown")])
    assert a["content_sha256"] == b["content_sha256"]
    blob = blob_path(api, a["content_sha256"])
    # One stored copy (other tests' blobs may share the folder, named by the first hex digits).
    assert [p for p in blob.parent.iterdir() if a["content_sha256"] in p.name] == [blob]

    async def add_chunks(session: AsyncSession) -> None:
        text = content.decode()
        await replace_document_chunks(
            session, uuid.UUID(a["id"]),
            [CoreChunk(index=0, text=text, start=0, end=len(text), tokens=5, metadata={})],
            "c" * 64,
        )

    async def chunk_count(session: AsyncSession) -> int:
        return int(await session.scalar(
            select(func.count()).select_from(Chunk)
            .where(Chunk.document_id == uuid.UUID(a["id"]))
        ) or 0)

    in_db(api.settings, add_chunks)
    assert in_db(api.settings, chunk_count) == 1
    assert api.client.get(f"{API}/documents/{a['id']}", headers=headers).json()[
        "chunk_count"] == 1

    deleted = api.client.delete(f"{API}/documents/{a['id']}", headers=headers)
    assert deleted.status_code == 204 and deleted.content == b""
    assert_error(api.client.get(f"{API}/documents/{a['id']}", headers=headers), 404,
                 "document_not_found")
    assert_error(api.client.delete(f"{API}/documents/{a['id']}", headers=headers), 404)
    assert in_db(api.settings, chunk_count) == 0
    assert blob.exists()  # still referenced by b

    assert api.client.delete(f"{API}/documents/{b['id']}", headers=headers).status_code == 204
    assert not blob.exists()
    assert api.client.get(f"{API}/collections/{first['id']}/documents",
                          headers=headers).json()["items"] == []


def test_a_file_over_the_limit_is_413_and_nothing_is_stored(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # CHUNKYARD_MAX_UPLOAD_BYTES=100, on the running app's settings.
    monkeypatch.setattr(api.client.app.state.settings, "max_upload_bytes", 100)  # type: ignore[attr-defined]
    headers = user_headers(api)
    collection = create_collection(api, headers)
    small = b"small enough " + uuid.uuid4().hex.encode()
    big = b"x" * 101
    response = upload(api, headers, collection["id"],
                      [("small.txt", small, "text/plain"), ("big.txt", big, "text/plain")])
    body = assert_error(response, 413, "file_too_large")
    assert "big.txt" in body["detail"] and "small.txt" not in body["detail"]
    assert document_count(api, collection["id"]) == 0
    assert not blob_path(api, hashlib.sha256(small).hexdigest()).exists()
    # Exactly at the limit is fine.
    (doc,) = upload_ok(api, headers, collection["id"], [("edge.txt", b"y" * 100, "text/plain")])
    assert doc["size_bytes"] == 100


@pytest.mark.parametrize(
    ("name", "content"),
    [("image.txt", PNG), ("notes.md", b"text then \x00 a NUL byte"),
     ("fake.pdf", b"plain text pretending to be a PDF")],
)
def test_unsupported_content_is_415_whatever_the_name(api: Api, name: str, content: bytes) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    ok = unique_text()
    response = upload(api, headers, collection["id"],
                      [("ok.txt", ok, "text/plain"), (name, content, "text/plain")])
    body = assert_error(response, 415, "unsupported_file_type")
    assert name in body["detail"]
    assert document_count(api, collection["id"]) == 0
    assert not blob_path(api, hashlib.sha256(ok).hexdigest()).exists()


def test_duplicate_content_in_a_collection_is_409(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    content = unique_text("dup")
    (first,) = upload_ok(api, headers, collection["id"], [("one.md", content, "text/markdown")])

    fresh = unique_text("fresh")
    again = upload(api, headers, collection["id"],
                   [("fresh.md", fresh, "text/markdown"), ("two.md", content, "text/markdown")])
    body = assert_error(again, 409, "duplicate_document")
    assert first["id"] in body["detail"] and "two.md" in body["detail"]
    # All or nothing: the new file in the refused request was not stored either.
    assert document_count(api, collection["id"]) == 1

    twice = upload(api, headers, collection["id"],
                   [("x.md", fresh, "text/markdown"), ("y.md", fresh, "text/markdown")])
    body = assert_error(twice, 409, "duplicate_document")
    assert "x.md" in body["detail"] and "y.md" in body["detail"]
    assert document_count(api, collection["id"]) == 1


def test_uploads_at_the_same_time_store_one_copy_of_a_content(api: Api) -> None:
    # The UI sends a few uploads at once: the same content sent twice at the same moment is
    # still stored once, and different contents all are.
    headers = user_headers(api)
    collection = create_collection(api, headers)
    same = unique_text("raced")
    different = [unique_text(f"apart-{k}") for k in range(3)]
    bodies = [(f"same-{k}.md", same) for k in range(4)] + [
        (f"apart-{k}.md", data) for k, data in enumerate(different)
    ]
    results: dict[str, int] = {}
    barrier = threading.Barrier(len(bodies))

    def send(name: str, data: bytes) -> None:
        barrier.wait(5)
        results[name] = upload(api, headers, collection["id"],
                               [(name, data, "text/markdown")]).status_code

    threads = [threading.Thread(target=send, args=body) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    same_codes = sorted(code for name, code in results.items() if name.startswith("same-"))
    assert same_codes == [201, 409, 409, 409], results
    assert all(results[f"apart-{k}.md"] == 201 for k in range(3)), results
    assert document_count(api, collection["id"]) == 4


def test_bad_uploads_are_422(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    url = f"{API}/collections/{collection['id']}/documents"
    assert_error(api.client.post(url, headers=headers, data={"x": "1"}), 422)
    empty = upload(api, headers, collection["id"], [("empty.txt", b"", "text/plain")])
    assert "empty.txt" in assert_error(empty, 422, "empty_file")["detail"]
    assert document_count(api, collection["id"]) == 0


def test_another_users_documents_are_not_found(api: Api) -> None:
    owner = user_headers(api)
    other = user_headers(api)
    collection = create_collection(api, owner)
    (doc,) = upload_ok(api, owner, collection["id"], [("mine.txt", unique_text(), "text/plain")])

    assert_error(upload(api, other, collection["id"],
                        [("theirs.txt", unique_text(), "text/plain")]),
                 404, "collection_not_found")
    assert_error(api.client.get(f"{API}/collections/{collection['id']}/documents",
                                headers=other), 404, "collection_not_found")
    assert_error(api.client.get(f"{API}/documents/{doc['id']}", headers=other), 404,
                 "document_not_found")
    assert_error(api.client.delete(f"{API}/documents/{doc['id']}", headers=other), 404,
                 "document_not_found")
    # Malformed and unknown ids are 404 too.
    for bad in ("not-a-uuid", str(uuid.uuid4())):
        assert_error(api.client.get(f"{API}/documents/{bad}", headers=owner), 404)
        assert_error(api.client.get(f"{API}/collections/{bad}/documents", headers=owner), 404)
    # Untouched for its owner.
    assert api.client.get(f"{API}/documents/{doc['id']}", headers=owner).json() == doc
    assert document_count(api, collection["id"]) == 1


def test_every_document_route_needs_auth(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    (doc,) = upload_ok(api, headers, collection["id"], [("a.txt", unique_text(), "text/plain")])
    responses = [
        upload(api, {}, collection["id"], [("b.txt", unique_text(), "text/plain")]),
        api.client.get(f"{API}/collections/{collection['id']}/documents"),
        api.client.get(f"{API}/documents/{doc['id']}"),
        api.client.delete(f"{API}/documents/{doc['id']}"),
    ]
    for response in responses:
        assert_error(response, 401)
    assert document_count(api, collection["id"]) == 1


def test_no_write_lock_is_held_while_an_upload_is_hashed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite has one writer: an upload that took the write lock before copying and hashing
    # its files held every other write (here: creating a collection) for as long as that took.
    headers = user_headers(api)
    collection = create_collection(api, headers)
    hashing, release = threading.Event(), threading.Event()
    real_spool = blobs.spool

    def slow_spool(*args: Any) -> blobs.Spooled:
        hashing.set()
        release.wait(20)
        return real_spool(*args)

    monkeypatch.setattr(blobs, "spool", slow_spool)
    results: list[int] = []
    sender = threading.Thread(target=lambda: results.append(upload(
        api, headers, collection["id"], [("big.md", unique_text("big"), "text/markdown")]
    ).status_code))
    sender.start()
    try:
        assert hashing.wait(10)
        started = time.monotonic()
        other = api.client.post(f"{API}/collections", json={"name": f"c-{uuid.uuid4().hex}"},
                                headers=headers)
        waited = time.monotonic() - started
    finally:
        release.set()
        sender.join(30)
    assert other.status_code == 201, other.text
    assert waited < 5, f"the other write waited {waited:.1f} s for the upload's lock"
    assert results == [201]
    assert document_count(api, collection["id"]) == 1


@pytest.mark.parametrize(
    ("name", "module", "label"),
    [("report.pdf", "pypdf", "PDF"), ("memo.docx", "docx", "DOCX")],
)
def test_a_kind_this_installation_cannot_read_is_415_at_upload(
    api: Api, monkeypatch: pytest.MonkeyPatch, name: str, module: str, label: str
) -> None:
    # Once accepted, then failed at chunking while the operation showed "Completed".
    headers = user_headers(api)
    collection = create_collection(api, headers)
    monkeypatch.setitem(sys.modules, module, None)  # its parser is not installed
    content = (CORPUS / name).read_bytes() + uuid.uuid4().hex.encode()
    response = upload(api, headers, collection["id"],
                      [("ok.txt", unique_text(), "text/plain"),
                       (name, content, "application/octet-stream")])
    detail = assert_error(response, 415, "unsupported_file_type")["detail"]
    assert name in detail and f"cannot read {label} files" in detail
    assert document_count(api, collection["id"]) == 0
    monkeypatch.delitem(sys.modules, module)  # installed again: the same file is taken
    assert upload(api, headers, collection["id"],
                  [(name, content, "application/octet-stream")]).status_code == 201


def test_a_chunked_document_tells_its_characters_pages_and_tokens(api: Api) -> None:
    from operation_helpers import start, upload, wait_finished

    headers = user_headers(api)
    collection = create_collection(api, headers, config={
        "strategy": "recursive", "params": {"chunk_size": 64}})["id"]
    report = (Path(__file__).resolve().parents[1] / "corpus" / "report.pdf").read_bytes()
    text = "# Notes\n\n" + "Some words about chunking. " * 200
    pdf, md = upload(api, headers, collection, [("report.pdf", report),
                                                 ("notes.md", text.encode())])
    assert (pdf["characters"], pdf["pages"], pdf["tokens"]) == (None, None, None)
    final = wait_finished(api, headers, start(api, headers, collection)["id"])
    assert final["status"] == "completed", final
    for document, pages in ((pdf, 3), (md, None)):
        body = api.client.get(f"{API}/documents/{document['id']}", headers=headers).json()
        whole = api.client.get(f"{API}/documents/{document['id']}/text", headers=headers).json()
        chunks = api.client.get(f"{API}/documents/{document['id']}/chunks",
                                params={"limit": 500}, headers=headers).json()["items"]
        assert body["characters"] == whole["size_chars"] == len(whole["text"])
        assert body["pages"] == pages
        assert body["tokens"] == sum(c["tokens"] for c in chunks) > 0
        listed = api.client.get(f"{API}/collections/{collection}/documents",
                                headers=headers).json()["items"]
        assert {d["id"]: d["tokens"] for d in listed}[document["id"]] == body["tokens"]
