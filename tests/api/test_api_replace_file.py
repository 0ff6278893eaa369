"""PUT /documents/{id}/file on both backends: a new version of a document's file keeps the
document (id, chunks), marks it stale, and the next run keeps the ids of unchanged chunks;
checked like an upload; owner-scoped; the old file goes once nothing refers to it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from operation_helpers import start, text_file, upload, wait_finished

from chunkyard.documents import blobs

CONFIG = {"strategy": "recursive", "params": {"chunk_size": 64}}


def replace(api: Api, headers: dict[str, str], document_id: str, name: str,
            data: bytes) -> Any:
    return api.client.put(f"{API}/documents/{document_id}/file",
                          files={"file": (name, data, "application/octet-stream")},
                          headers=headers)


def chunk_ids(api: Api, headers: dict[str, str], document_id: str) -> list[str]:
    response = api.client.get(f"{API}/documents/{document_id}/chunks",
                              params={"limit": 1000}, headers=headers)
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def blob(api: Api, sha256: str) -> Path:
    return api.settings.data_dir / blobs.relative_blob_path(sha256)


def test_a_new_version_is_stale_and_rechunking_keeps_unchanged_ids(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config=CONFIG)
    cid = collection["id"]
    first = text_file("v1", paragraphs=20)
    (document,) = upload(api, headers, cid, [("notes.txt", first)])
    final = wait_finished(api, headers, start(api, headers, cid)["id"])
    assert final["status"] == "completed"
    before = chunk_ids(api, headers, document["id"])
    assert blob(api, document["content_sha256"]).exists()

    second = b"A new first paragraph, added in the second version.\n\n" + first
    response = replace(api, headers, document["id"], "notes.txt", second)
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert replaced["id"] == document["id"] and replaced["size_bytes"] == len(second)
    assert replaced["content_sha256"] != document["content_sha256"]
    assert replaced["stale"] is True and replaced["status"] == "chunked"
    assert replaced["chunked_with"] == collection["config"]
    assert chunk_ids(api, headers, document["id"]) == before  # nothing re-chunked yet
    detail = api.client.get(f"{API}/collections/{cid}", headers=headers).json()
    assert (detail["stale_documents"], detail["other_config_documents"]) == (1, 0)
    assert not blob(api, document["content_sha256"]).exists()  # nothing refers to it

    diff = api.client.post(f"{API}/collections/{cid}/diff", json={}, headers=headers).json()
    (entry,) = diff["documents"]
    assert entry["kept"] >= 0.9 * len(before) and entry["added"] >= 1

    final = wait_finished(api, headers, start(api, headers, cid)["id"])
    assert final["status"] == "completed" and final["documents_done"] == 1
    after = chunk_ids(api, headers, document["id"])
    assert len(set(after) & set(before)) == entry["kept"]
    got = api.client.get(f"{API}/documents/{document['id']}", headers=headers).json()
    assert got["stale"] is False and got["content_sha256"] == replaced["content_sha256"]


def test_a_new_version_is_checked_like_an_upload(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, stranger = user_headers(api), user_headers(api)
    cid = create_collection(api, owner)["id"]
    a, b = upload(api, owner, cid, [("a.txt", text_file("a")), ("b.txt", text_file("b"))])
    b_data = api.client.get(f"{API}/documents/{b['id']}/text", headers=owner).json()["text"]

    assert_error(replace(api, stranger, a["id"], "a.txt", b"new"), 404, "document_not_found")
    assert_error(replace(api, owner, "not-an-id", "a.txt", b"new"), 404, "document_not_found")
    body = assert_error(replace(api, owner, a["id"], "a.txt", b_data.encode()), 409,
                        "duplicate_document")
    assert "b.txt" in body["detail"]
    assert_error(replace(api, owner, a["id"], "a.txt", b""), 422, "empty_file")
    assert_error(replace(api, owner, a["id"], "a.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64),
                 415, "unsupported_file_type")
    monkeypatch.setattr(api.settings, "max_upload_bytes", 100)
    assert_error(replace(api, owner, a["id"], "a.txt", b"x" * 200), 413, "file_too_large")
    monkeypatch.setattr(api.settings, "max_upload_bytes", 10_000_000)
    used = a["size_bytes"] + b["size_bytes"]
    monkeypatch.setattr(api.settings, "max_storage_bytes_per_user", used + 10)
    bigger = b"y" * (a["size_bytes"] + 11)
    assert_error(replace(api, owner, a["id"], "a.txt", bigger), 429, "storage_quota_exceeded")
    ok = replace(api, owner, a["id"], "a.md", b"y" * (a["size_bytes"] + 10))
    assert ok.status_code == 200, ok.text
    assert ok.json()["filename"] == "a.md" and ok.json()["status"] == "pending"
    assert ok.json()["stale"] is False and ok.json()["chunked_with"] is None
