"""Collection export: streamed JSONL with the listed chunks plus `source`, in chunk order, read
in batches without gaps, as a download named after the collection; 404 for someone else's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from api_helpers import API, Api, assert_error, create_collection, new_username, user_headers
from operation_helpers import start, text_file, upload, wait_finished

from chunkyard.chunks import service as chunks_service

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def listed_chunks(api: Api, headers: dict[str, str], collection_id: str) -> list[dict[str, Any]]:
    response = api.client.get(
        f"{API}/collections/{collection_id}/chunks", params={"limit": 1000}, headers=headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next_cursor"] is None
    items: list[dict[str, Any]] = body["items"]
    return items


def export(api: Api, headers: dict[str, str], collection_id: str) -> tuple[Any, list[Any]]:
    response = api.client.get(f"{API}/collections/{collection_id}/export", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    body = response.content.decode("utf-8")
    assert body == "" or body.endswith("\n")
    return response, [json.loads(line) for line in body.splitlines()]


def chunked(api: Api, headers: dict[str, str], name: str | None = None) -> dict[str, Any]:
    collection = create_collection(
        api, headers, name, config={"strategy": "markdown", "params": {"chunk_size": 32}}
    )
    upload(api, headers, collection["id"], [
        ("notes.txt", text_file("notes", paragraphs=10)),
        ("guide.md", (CORPUS / "guide.md").read_bytes() + new_username().encode()),
        ("ünïcode.txt", (CORPUS / "unicode.txt").read_bytes() + new_username().encode()),
    ])
    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert final["status"] == "completed" and final["documents_failed"] == 0, final
    return collection


@pytest.mark.parametrize("batch", [None, 7])
def test_export_is_every_listed_chunk_with_its_source(
    api: Api, monkeypatch: pytest.MonkeyPatch, batch: int | None
) -> None:
    if batch is not None:  # many small reads: batch boundaries lose and repeat nothing
        monkeypatch.setattr(chunks_service, "EXPORT_BATCH", batch)
    headers = user_headers(api)
    collection = chunked(api, headers)
    listed = listed_chunks(api, headers, collection["id"])
    assert len(listed) > 20
    names = {
        d["id"]: d["filename"]
        for d in api.client.get(
            f"{API}/collections/{collection['id']}/documents", headers=headers
        ).json()["items"]
    }
    _, lines = export(api, headers, collection["id"])
    assert [{k: v for k, v in line.items() if k not in ("source", "config")}
            for line in lines] == listed
    assert all(line["config"] == collection["config"] for line in lines)
    assert [line["source"] for line in lines] == [names[c["document_id"]] for c in listed]
    assert {line["source"] for line in lines} == {"notes.txt", "guide.md", "ünïcode.txt"}


def test_export_is_a_download_named_after_the_collection(api: Api) -> None:
    headers = user_headers(api)
    name = f"Ré sumé \"q\" / {new_username()}"
    collection = create_collection(api, headers, name)
    response, lines = export(api, headers, collection["id"])
    assert lines == []
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=\"")
    fallback = disposition.split("filename=\"", 1)[1].split("\"", 1)[0]
    assert fallback.endswith(".jsonl") and fallback.isascii() and "/" not in fallback
    exact = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(exact) == f"{name}.jsonl"


def test_export_of_another_users_collection_is_not_found(api: Api) -> None:
    owner, other = user_headers(api), user_headers(api)
    collection = create_collection(api, owner)
    upload(api, owner, collection["id"], [("a.txt", text_file("secret"))])
    wait_finished(api, owner, start(api, owner, collection["id"])["id"])
    _, lines = export(api, owner, collection["id"])
    assert lines
    for headers, collection_id in (
        (other, collection["id"]),
        (owner, "0190d1c6-0000-7000-8000-000000000000"),
        (owner, "not-an-id"),
    ):
        response = api.client.get(f"{API}/collections/{collection_id}/export", headers=headers)
        assert response.headers["content-type"] == "application/json"
        assert "content-disposition" not in response.headers
        assert_error(response, 404, "collection_not_found")
    assert_error(api.client.get(f"{API}/collections/{collection['id']}/export"), 401)
