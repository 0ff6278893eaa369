"""Issue 12, point 4: uploads count against a per-user storage quota
(`CHUNKYARD_MAX_STORAGE_BYTES_PER_USER`): an upload that would pass it is refused with 429,
`Retry-After` and the error body, and stores nothing; one whose declared length alone is over
is refused before its body is read. The request-body cap lets a file of the per-file limit
through (it was 32 MiB under a 50 MB per-file limit).
"""

from __future__ import annotations

import secrets
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers

from chunkyard.api.app import MAX_REQUEST_BYTES
from chunkyard.settings import MULTIPART_FRAMING_BYTES, Settings


def _file(size: int) -> bytes:
    """`size` bytes of text no other test uploads."""
    head = secrets.token_hex(8).encode() + b" "
    return (head + b"word " * (size // 5 + 1))[:size]


def _upload(api: Api, headers: dict[str, str], collection_id: str, *sizes: int) -> Any:
    return api.client.post(
        f"{API}/collections/{collection_id}/documents",
        files=[("files", (f"f{i}.txt", _file(size), "text/plain"))
               for i, size in enumerate(sizes)],
        headers=headers,
    )


def _documents(api: Api, headers: dict[str, str], collection_id: str) -> list[Any]:
    items: list[Any] = api.client.get(f"{API}/collections/{collection_id}/documents",
                                      headers=headers).json()["items"]
    return items


@pytest.fixture
def quota(api: Api, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(api.settings, "max_storage_bytes_per_user", 1000)
    return 1000


def test_uploads_up_to_the_quota_are_taken_and_one_byte_more_refused(
    api: Api, quota: int
) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    assert _upload(api, headers, collection, 600).status_code == 201
    # Exactly at the quota (two files in another collection): allowed.
    other = create_collection(api, headers)["id"]
    assert _upload(api, headers, other, 300, 100).status_code == 201
    refused = _upload(api, headers, collection, 1)
    body = assert_error(refused, 429, "storage_quota_exceeded")
    assert "1000" in body["detail"]
    assert int(refused.headers["retry-after"]) >= 1
    assert len(_documents(api, headers, collection)) == 1  # nothing stored
    # Another user has a quota of their own.
    stranger = user_headers(api)
    assert _upload(api, stranger, create_collection(api, stranger)["id"], 1000).status_code == 201
    # Deleting a document makes room again.
    document = _documents(api, headers, collection)[0]
    assert api.client.delete(f"{API}/documents/{document['id']}",
                             headers=headers).status_code == 204
    assert _upload(api, headers, collection, 600).status_code == 201


def test_an_upload_of_several_files_over_the_quota_stores_none(api: Api, quota: int) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    assert_error(_upload(api, headers, collection, 500, 501), 429, "storage_quota_exceeded")
    assert _documents(api, headers, collection) == []
    assert _upload(api, headers, collection, 500, 500).status_code == 201


def test_an_upload_over_the_quota_by_its_length_is_refused_before_its_body_is_read(
    api: Api, quota: int
) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    files = [("files", ("big.txt", _file(8 * 1024 * 1024), "text/plain"))]
    times = []
    for _ in range(5):  # the median of five, so one slow moment of a loaded machine is not it
        began = time.perf_counter()
        refused = api.client.post(f"{API}/collections/{collection}/documents", files=files,
                                  headers=headers)
        times.append(time.perf_counter() - began)
        body = assert_error(refused, 429, "storage_quota_exceeded")
        assert "bytes long" in body["detail"]  # refused by its length, before its body
        assert refused.headers["retry-after"]
    elapsed = statistics.median(times)
    assert elapsed < 0.05, f"refused in {elapsed * 1000:.0f} ms"
    # Still a 401 without credentials, and a 404 for a collection that is not there.
    assert_error(api.client.post(f"{API}/collections/{collection}/documents", files=files),
                 401)


def test_concurrent_uploads_cannot_pass_the_quota_together(api: Api, quota: int) -> None:
    headers = user_headers(api)
    collections = [create_collection(api, headers)["id"] for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda c: _upload(api, headers, c, 400), collections))
    assert sorted(r.status_code for r in responses) == [201, 201] + [429] * 4, [
        r.text for r in responses]


def test_the_request_body_cap_lets_a_file_of_the_per_file_limit_through(api: Api) -> None:
    limit = api.settings.max_upload_bytes
    assert limit == 50 * 1024 * 1024  # the default
    assert api.settings.request_body_limit == limit + MULTIPART_FRAMING_BYTES
    assert Settings().request_body_limit == MAX_REQUEST_BYTES
    headers = user_headers(api)
    collection = create_collection(api, headers)["id"]
    response = _upload(api, headers, collection, limit)
    assert response.status_code == 201, response.text
    assert response.json()["items"][0]["size_bytes"] == limit
    assert_error(_upload(api, headers, collection, limit + 1), 413, "file_too_large")
    api.client.delete(f"{API}/documents/{response.json()['items'][0]['id']}", headers=headers)


def test_a_request_limit_below_the_file_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="CHUNKYARD_MAX_REQUEST_BYTES"):
        Settings(max_upload_bytes=1000, max_request_bytes=999)
    assert Settings(max_upload_bytes=1000, max_request_bytes=5000).request_body_limit == 5000
