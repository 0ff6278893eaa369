"""Stored documents of any size the service accepts, through the HTTP API on both backends:
a preview chunks the whole text and answers a window of its chunks (`first_chunk`,
`max_chunks`, `next_chunk`, and at most 2,000,000 characters of chunk text); the text view
answers a window (`start`, `end`) around them; its errors are sentences without raw ids."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from operation_helpers import upload

from chunkyard.documents import service as documents_service

LIMIT = documents_service.MAX_PREVIEW_CHARS


def big_text(chars: int) -> str:
    """Prose with paragraphs and sentences, `chars` long, unique to the test run."""
    paragraph = (
        "Retrieval engineers read long manuals; this sentence is one of many. "
        "Another sentence follows, so that there is something to split at. "
        "Über-long documents still chunk the same way.\n\n"
    )
    tag = uuid.uuid4().hex + "\n\n"
    body = tag + paragraph * (chars // len(paragraph) + 1)
    return body[:chars]


def post_preview(api: Api, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = api.client.post(f"{API}/preview", json=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def get_text(api: Api, headers: dict[str, str], document_id: str,
             **params: Any) -> dict[str, Any]:
    response = api.client.get(f"{API}/documents/{document_id}/text", params=params,
                              headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_document_over_two_million_characters_is_previewed_in_windows(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    text = big_text(LIMIT + 300_000)
    (document,) = upload(api, headers, collection["id"], [("manual.txt", text.encode())])
    config = {"strategy": "recursive", "params": {"chunk_size": 512}}

    started = time.perf_counter()
    first = post_preview(api, headers, document_id=document["id"], max_chunks=50, **config)
    first_view = time.perf_counter() - started
    total = first["total_chunks"]
    assert total > 500 and first["metrics"]["chunk_count"] == total
    assert [c["index"] for c in first["chunks"]] == list(range(50))
    assert first["next_chunk"] == 50
    # The text around the chunks shown: a window of the text, which their offsets index.
    end = first["chunks"][-1]["end"]
    window = get_text(api, headers, document["id"], start=0, end=end)
    assert (window["start"], window["end"], window["size_chars"]) == (0, end, len(text))
    for chunk in first["chunks"]:
        assert window["text"][chunk["start"]:chunk["end"]] == chunk["text"]
    assert first_view < 30, first_view  # chunked once, whole (a real bound is in bench/)

    # The next window, from `next_chunk`, is the cached result's next chunks.
    second = post_preview(api, headers, document_id=document["id"], first_chunk=50,
                          max_chunks=50, **config)
    assert second["cached"] is True
    assert [c["index"] for c in second["chunks"]] == list(range(50, 100))
    middle = second["chunks"][10]
    around = get_text(api, headers, document["id"], start=middle["start"] - 5,
                      end=middle["end"] + 5)
    assert around["text"][5:-5] == middle["text"] == text[middle["start"]:middle["end"]]

    # The last window ends the listing; past it there is nothing.
    last = post_preview(api, headers, document_id=document["id"], first_chunk=total - 3,
                        max_chunks=50, **config)
    assert [c["index"] for c in last["chunks"]] == [total - 3, total - 2, total - 1]
    assert last["next_chunk"] is None and last["chunks"][-1]["end"] <= len(text)
    beyond = post_preview(api, headers, document_id=document["id"], first_chunk=total + 10,
                          **config)
    assert beyond["chunks"] == [] and beyond["next_chunk"] is None

    # Without max_chunks an answer holds no more than 2,000,000 characters of chunk text.
    unbounded = post_preview(api, headers, document_id=document["id"], **config)
    held = sum(len(c["text"]) for c in unbounded["chunks"])
    assert LIMIT - 10_000 < held <= LIMIT
    assert unbounded["next_chunk"] == len(unbounded["chunks"]) < total
    rest = post_preview(api, headers, document_id=document["id"],
                        first_chunk=unbounded["next_chunk"], **config)
    assert rest["next_chunk"] is None
    assert len(unbounded["chunks"]) + len(rest["chunks"]) == total
    every = unbounded["chunks"] + rest["chunks"]
    assert [c["index"] for c in every] == list(range(total))
    assert all(c["text"] == text[c["start"]:c["end"]] for c in every)

    # The text whole is more than one answer: the refusal says what to do, without an id.
    response = api.client.get(f"{API}/documents/{document['id']}/text", headers=headers)
    detail = assert_error(response, 413)["detail"]
    assert "'manual.txt'" in detail and "start and end" in detail
    assert document["id"] not in detail
    tail = get_text(api, headers, document["id"], start=len(text) - 100)
    assert (tail["text"], tail["end"]) == (text[-100:], len(text))
    # A comparison of six configurations takes at most 2,000,000 characters; it says so.
    response = api.client.post(f"{API}/compare", headers=headers, json={
        "document_id": document["id"],
        "configs": [config, {"strategy": "character", "params": {"chunk_size": 256}}],
    })
    detail = assert_error(response, 413)["detail"]
    assert "'manual.txt'" in detail and "one configuration" in detail
    assert document["id"] not in detail


@pytest.mark.parametrize(
    ("params", "status", "words"),
    [
        ({"start": 5, "end": 2}, 422, "end (2) is before start (5)"),
        ({"start": -1}, 422, "start"),
        ({"end": "x"}, 422, "end"),
        ({"start": 10_000}, 422, "past the end of the text of 'small.txt'"),
    ],
)
def test_bad_text_windows_are_sentences(
    api: Api, params: dict[str, Any], status: int, words: str
) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    (document,) = upload(api, headers, collection["id"], [("small.txt", big_text(900).encode())])
    response = api.client.get(f"{API}/documents/{document['id']}/text", params=params,
                              headers=headers)
    detail = assert_error(response, status)["detail"]
    assert words in detail and document["id"] not in detail


def test_windows_of_a_small_text(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    text = big_text(900)
    (document,) = upload(api, headers, collection["id"], [("small.txt", text.encode())])
    for params, expected in (
        ({}, (0, 900)),
        ({"start": 100}, (100, 900)),
        ({"end": 40}, (0, 40)),
        ({"start": 30, "end": 31}, (30, 31)),
        ({"start": 899, "end": 5000}, (899, 900)),  # past the end: the end
        ({"start": 900}, (900, 900)),
    ):
        body = get_text(api, headers, document["id"], **params)
        assert (body["start"], body["end"]) == expected, params
        assert body["text"] == text[expected[0]:expected[1]] and body["size_chars"] == 900
    # One answer's bound holds for windows too; without an end it is as much as it holds.
    monkeypatch.setattr(documents_service, "MAX_PREVIEW_CHARS", 100)
    response = api.client.get(f"{API}/documents/{document['id']}/text",
                              params={"start": 0, "end": 101}, headers=headers)
    assert "at most 100 characters" in assert_error(response, 413)["detail"]
    body = get_text(api, headers, document["id"], start=50)
    assert (body["start"], body["end"], body["text"]) == (50, 150, text[50:150])
