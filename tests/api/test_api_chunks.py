"""Stored chunks of a collection and of a document: fields, offsets into the document's text,
chunk order, pages with no gaps or duplicates, bad cursors and limits, and isolation between
users (both backends)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from operation_helpers import start, text_file, upload, wait_finished

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CHUNK_FIELDS = {"id", "document_id", "index", "text", "start", "end", "tokens", "metadata"}
CHUNK_SIZE = 24


def get_json(api: Api, path: str, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = api.client.get(f"{API}{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"items", "next_cursor"}
    return body


def walk(api: Api, path: str, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    """Every item of a listing, page by page; checks each page's size and cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["cursor"] = cursor
        page = get_json(api, path, headers, **params)
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit  # only the last page is short


def chunked_collection(
    api: Api, headers: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, str]]:
    """A collection with three chunked documents; (collection, documents, texts by id)."""
    collection = create_collection(
        api, headers, config={"strategy": "recursive", "params": {"chunk_size": CHUNK_SIZE}}
    )
    files = [
        ("first.txt", text_file("first", paragraphs=20)),
        ("unicode.txt", (CORPUS / "unicode.txt").read_bytes() + api.backend.encode()),
        ("guide.md", (CORPUS / "guide.md").read_bytes() + api.backend.encode()),
    ]
    documents = upload(api, headers, collection["id"], files)
    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert final["status"] == "completed" and final["documents_failed"] == 0, final
    texts = {d["id"]: data.decode("utf-8") for d, (_, data) in zip(documents, files, strict=True)}
    return collection, documents, texts


def test_chunks_of_documents_and_collections(api: Api) -> None:
    headers = user_headers(api)
    collection, documents, texts = chunked_collection(api, headers)

    per_document: list[dict[str, Any]] = []
    listed_documents = get_json(api, f"/collections/{collection['id']}/documents", headers)
    for document in listed_documents["items"]:  # upload order
        chunks = get_json(api, f"/documents/{document['id']}/chunks", headers, limit=1000)
        assert chunks["next_cursor"] is None
        items = chunks["items"]
        assert len(items) == document["chunk_count"] > 1
        text = texts[document["id"]]
        for i, chunk in enumerate(items):
            assert set(chunk) == CHUNK_FIELDS
            assert chunk["document_id"] == document["id"]
            assert chunk["index"] == i
            assert 0 <= chunk["start"] < chunk["end"] <= len(text)
            assert chunk["text"] == text[chunk["start"]:chunk["end"]]
            assert 0 < chunk["tokens"] <= CHUNK_SIZE
            assert chunk["metadata"]["strategy"] == "recursive"
            assert isinstance(chunk["id"], str) and len(chunk["id"]) == 32
        assert [c["start"] for c in items] == sorted(c["start"] for c in items)
        per_document.extend(items)

    # The collection lists the same chunks, document by document in upload order.
    everything = get_json(api, f"/collections/{collection['id']}/chunks", headers, limit=1000)
    assert everything["next_cursor"] is None
    assert everything["items"] == per_document
    assert len({c["id"] for c in per_document}) == len(per_document)
    assert [d["id"] for d in listed_documents["items"]] == [d["id"] for d in documents]
    described = api.client.get(f"{API}/collections/{collection['id']}", headers=headers).json()
    assert described["chunk_count"] == len(per_document)

    # Default page size 100 (the collection has more), then pages of any size, no gaps.
    first = get_json(api, f"/collections/{collection['id']}/chunks", headers)
    assert len(per_document) > 100
    assert first["items"] == per_document[:100] and first["next_cursor"] is not None
    for limit in (1, 7, 100):
        assert walk(api, f"/collections/{collection['id']}/chunks", headers, limit) == (
            per_document
        )
    document = documents[1]
    expected = [c for c in per_document if c["document_id"] == document["id"]]
    assert walk(api, f"/documents/{document['id']}/chunks", headers, 5) == expected
    exact = get_json(api, f"/documents/{document['id']}/chunks", headers, limit=len(expected))
    assert exact["items"] == expected and exact["next_cursor"] is None


def test_unchunked_documents_and_empty_collections_have_no_chunks(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    assert get_json(api, f"/collections/{collection['id']}/chunks", headers) == {
        "items": [], "next_cursor": None,
    }
    (document,) = upload(api, headers, collection["id"], [("a.txt", text_file("pending"))])
    assert get_json(api, f"/documents/{document['id']}/chunks", headers) == {
        "items": [], "next_cursor": None,
    }


def test_another_users_chunks_are_not_found(api: Api) -> None:
    owner, other = user_headers(api), user_headers(api)
    collection = create_collection(api, owner)
    (document,) = upload(api, owner, collection["id"], [("a.txt", text_file("mine"))])
    wait_finished(api, owner, start(api, owner, collection["id"])["id"])
    assert get_json(api, f"/documents/{document['id']}/chunks", owner)["items"]

    for headers in (other, owner):
        missing = "0190d1c6-0000-7000-8000-000000000000"
        for path, code in (
            (f"/collections/{missing}/chunks", "collection_not_found"),
            ("/collections/not-an-id/chunks", "collection_not_found"),
            (f"/documents/{missing}/chunks", "document_not_found"),
            ("/documents/not-an-id/chunks", "document_not_found"),
        ):
            assert_error(api.client.get(f"{API}{path}", headers=headers), 404, code)
    for path, code in (
        (f"/collections/{collection['id']}/chunks", "collection_not_found"),
        (f"/documents/{document['id']}/chunks", "document_not_found"),
    ):
        body = assert_error(api.client.get(f"{API}{path}", headers=other), 404, code)
        assert "mine" not in body["detail"]
        # Even with a cursor that would be refused: ownership is checked first.
        response = api.client.get(f"{API}{path}", params={"cursor": "junk"}, headers=other)
        assert_error(response, 404, code)
    assert_error(api.client.get(f"{API}/collections/{collection['id']}/chunks"), 401)


@pytest.mark.parametrize("scope", ["collection", "document"])
def test_bad_cursors_and_limits(api: Api, scope: str) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config={"params": {"chunk_size": 16}})
    (document,) = upload(api, headers, collection["id"], [("a.txt", text_file("pages"))])
    wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    path = (
        f"/collections/{collection['id']}/chunks" if scope == "collection"
        else f"/documents/{document['id']}/chunks"
    )
    issued = get_json(api, path, headers, limit=2)["next_cursor"]
    assert issued is not None
    # The other scope's cursor, a documents listing's cursor, and junk are all refused.
    other_path = (
        f"/documents/{document['id']}/chunks" if scope == "collection"
        else f"/collections/{collection['id']}/chunks"
    )
    foreign = get_json(api, other_path, headers, limit=2)["next_cursor"]
    api.client.post(
        f"{API}/collections/{collection['id']}/documents", headers=headers,
        files=[("files", ("b.txt", text_file("second"), "text/plain"))],
    )
    documents_cursor = get_json(
        api, f"/collections/{collection['id']}/documents", headers, limit=1
    )["next_cursor"]
    for cursor in (foreign, documents_cursor, "junk", "!!!", "W10", issued[:-3]):
        response = api.client.get(f"{API}{path}", params={"cursor": cursor}, headers=headers)
        assert "cursor" in assert_error(response, 400, "invalid_cursor")["detail"]
    for limit in ("0", "1001", "-1", "many"):
        response = api.client.get(f"{API}{path}", params={"limit": limit}, headers=headers)
        assert "limit" in assert_error(response, 422)["detail"]
    assert len(get_json(api, path, headers, limit=1000)["items"]) > 2
