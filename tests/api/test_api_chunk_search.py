"""Searching and filtering stored chunks (`q`, `document_id`, `min_tokens`, `max_tokens`,
`heading`) through the HTTP API on both backends: every filter against the rule the listing
documents, walked page by page; literal `%` and `_`; cursors bound to their filters; bad
values as 422 sentences; another user's chunks still not found."""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from operation_helpers import start, text_file, upload, wait_finished

GUIDE = """# Install Guide

The installer reaches 100% of machines; names like snake_case stay as they are. HELLO there.

## Linux setup

Run the package manager first. A line with a%b in it, and Über-fast disks.

Another Linux paragraph, so the section has more than one chunk to find.

## macOS Setup

Use the other package manager and/or a script; hello again from the mac section.

# Usage

### Filters & search

Search with q for x_y or for words; the heading filter narrows to a section.
"""

Chunk = dict[str, Any]
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def folded(api: Api, value: str) -> str:
    """The case folding each backend applies: PostgreSQL's locale folds every letter, SQLite's
    LIKE only ASCII letters (as documented)."""
    return value.lower() if api.backend == "postgresql" else value.translate(_ASCII_LOWER)


def contains(api: Api, haystack: str, needle: str) -> bool:
    return folded(api, needle) in folded(api, haystack)


def heading_path(chunk: Chunk) -> str | None:
    headings = chunk["metadata"].get("headings")
    return " > ".join(headings) if headings else None


def walk(api: Api, path: str, headers: dict[str, str], limit: int,
         **params: Any) -> list[Chunk]:
    """Every item of a filtered listing, page by page (each full page but the last)."""
    items: list[Chunk] = []
    cursor: str | None = None
    while True:
        query = {**params, "limit": limit}
        if cursor is not None:
            query["cursor"] = cursor
        response = api.client.get(f"{API}{path}", params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit


@pytest.fixture
def searchable(api: Api) -> tuple[dict[str, str], dict[str, Any], list[dict[str, Any]]]:
    """A user, a collection chunked with markdown at 16 tokens, and its two documents."""
    headers = user_headers(api)
    collection = create_collection(
        api, headers, config={"strategy": "markdown", "params": {"chunk_size": 16}}
    )
    documents = upload(api, headers, collection["id"], [
        ("guide.md", GUIDE.encode()),
        ("notes.txt", text_file("Notes", paragraphs=6) + b"\n\nhello from notes, 100% plain."),
    ])
    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"])
    assert final["status"] == "completed" and final["documents_failed"] == 0, final
    return headers, collection, documents


def test_each_filter_matches_its_documented_rule(api: Api, searchable: Any) -> None:
    headers, collection, documents = searchable
    path = f"/collections/{collection['id']}/chunks"
    everything = walk(api, path, headers, 1000)
    guide = [c for c in everything if c["document_id"] == documents[0]["id"]]
    assert len(guide) > 6 and len(everything) > len(guide)
    tokens = sorted(c["tokens"] for c in everything)
    low, high = tokens[len(tokens) // 4], tokens[3 * len(tokens) // 4]

    cases: list[tuple[dict[str, Any], Callable[[Chunk], bool]]] = [
        ({"q": "hello"}, lambda c: contains(api, c["text"], "hello")),
        ({"q": "HeLLo"}, lambda c: contains(api, c["text"], "hello")),
        ({"q": "100%"}, lambda c: "100%" in c["text"]),
        # Literal: `%` and `_` are no wildcards ("a%b" is not "a, anything, b").
        ({"q": "a%b"}, lambda c: "a%b" in c["text"]),
        ({"q": "x_y"}, lambda c: "x_y" in c["text"]),
        ({"q": "snake_case"}, lambda c: "snake_case" in c["text"]),
        ({"q": "and/or"}, lambda c: "and/or" in c["text"]),  # the escape character itself
        ({"q": "d/o"}, lambda c: "d/o" in c["text"]),
        ({"q": "Über"}, lambda c: "Über" in c["text"]),
        ({"q": "über"}, lambda c: contains(api, c["text"], "über")),
        ({"q": "no such words anywhere"}, lambda c: False),
        ({"q": ""}, lambda c: True),
        ({"min_tokens": low}, lambda c: c["tokens"] >= low),
        ({"max_tokens": high}, lambda c: c["tokens"] <= high),
        ({"min_tokens": low, "max_tokens": low}, lambda c: c["tokens"] == low),
        ({"heading": "setup"}, lambda c: contains(api, heading_path(c) or "", "setup")),
        ({"heading": "guide > linux"},
         lambda c: contains(api, heading_path(c) or "", "guide > linux")),
        ({"heading": "filters & search"}, lambda c: "Filters & search" in (heading_path(c) or "")),
        ({"heading": "notes"}, lambda c: False),  # the text file has no headings
        ({"document_id": documents[1]["id"]}, lambda c: c["document_id"] == documents[1]["id"]),
        ({"document_id": documents[0]["id"], "q": "package", "heading": "linux"},
         lambda c: c["document_id"] == documents[0]["id"] and "package" in c["text"]
         and "Linux" in (heading_path(c) or "")),
        ({"q": "hello", "max_tokens": high}, lambda c: contains(api, c["text"], "hello")
         and c["tokens"] <= high),
    ]
    for params, rule in cases:
        expected = [c for c in everything if rule(c)]
        assert walk(api, path, headers, 2, **params) == expected, params
    # The cases above mean something: each kind of filter kept some chunks and left others.
    assert 0 < len([c for c in everything if contains(api, c["text"], "hello")]) < len(everything)
    assert any(heading_path(c) == "Install Guide > Linux setup" for c in everything)
    assert [c for c in everything if "a%b" in c["text"]]
    # "über" is the same word as "Über" where the backend folds non-ASCII letters.
    umlaut = walk(api, path, headers, 50, q="über")
    assert bool(umlaut) == (api.backend == "postgresql")

    # The same filters on a document's own listing.
    document_path = f"/documents/{documents[0]['id']}/chunks"
    for params, rule in cases:
        if "document_id" in params:
            continue
        expected = [c for c in guide if rule(c)]
        assert walk(api, document_path, headers, 3, **params) == expected, params


def test_a_document_of_another_collection_matches_nothing(api: Api, searchable: Any) -> None:
    headers, collection, _ = searchable
    other = create_collection(api, headers)
    (elsewhere,) = upload(api, headers, other["id"], [("a.txt", text_file("elsewhere"))])
    wait_finished(api, headers, start(api, headers, other["id"])["id"])
    assert walk(api, f"/documents/{elsewhere['id']}/chunks", headers, 100)
    assert walk(api, f"/collections/{collection['id']}/chunks", headers, 100,
                document_id=elsewhere["id"]) == []


def test_cursors_keep_their_filters(api: Api, searchable: Any) -> None:
    headers, collection, documents = searchable
    path = f"{API}/collections/{collection['id']}/chunks"

    def first_cursor(**params: Any) -> str:
        response = api.client.get(path, params={**params, "limit": 1}, headers=headers)
        assert response.status_code == 200, response.text
        cursor: str = response.json()["next_cursor"]
        assert cursor
        return cursor

    searched = first_cursor(q="package")
    # The same filters go on from where the page ended.
    again = api.client.get(path, params={"q": "package", "limit": 1, "cursor": searched},
                           headers=headers)
    assert again.status_code == 200, again.text
    plain = first_cursor()
    changed: list[tuple[dict[str, Any], str]] = [
        ({"q": "hello"}, searched),
        ({}, searched),
        ({"q": "package", "min_tokens": 1}, searched),
        ({"q": "package"}, plain),
    ]
    for params, cursor in changed:
        response = api.client.get(path, params={**params, "cursor": cursor}, headers=headers)
        detail = assert_error(response, 400, "invalid_cursor")["detail"]
        assert "other filters" in detail, detail
    # A cursor of the collection's listing is still refused by a document's.
    response = api.client.get(f"{API}/documents/{documents[0]['id']}/chunks",
                              params={"q": "package", "cursor": searched}, headers=headers)
    assert_error(response, 400, "invalid_cursor")


def test_bad_filter_values_are_sentences(api: Api, searchable: Any) -> None:
    headers, collection, documents = searchable
    for path in (f"/collections/{collection['id']}/chunks",
                 f"/documents/{documents[0]['id']}/chunks"):
        for params, words in (
            ({"min_tokens": 9, "max_tokens": 3}, "min_tokens (9) is more than max_tokens (3)"),
            ({"min_tokens": -1}, "min_tokens"),
            ({"max_tokens": -5}, "max_tokens"),
            ({"max_tokens": "many"}, "max_tokens"),
            ({"q": "x" * 501}, "q"),
            ({"heading": "h" * 501}, "heading"),
            ({"q": "a\x00b"}, "q: a NUL character"),
            ({"heading": "\x00"}, "heading: a NUL character"),
        ):
            response = api.client.get(f"{API}{path}", params=params, headers=headers)
            assert words in assert_error(response, 422)["detail"], params
    response = api.client.get(f"{API}/collections/{collection['id']}/chunks",
                              params={"document_id": "not-an-id"}, headers=headers)
    assert "document_id" in assert_error(response, 422)["detail"]
    # The longest text allowed is fine.
    response = api.client.get(f"{API}/collections/{collection['id']}/chunks",
                              params={"q": "x" * 500}, headers=headers)
    assert response.status_code == 200 and response.json()["items"] == []


def test_another_users_chunks_stay_not_found_with_filters(api: Api, searchable: Any) -> None:
    _, collection, documents = searchable
    other = user_headers(api)
    for path, code in (
        (f"/collections/{collection['id']}/chunks", "collection_not_found"),
        (f"/documents/{documents[0]['id']}/chunks", "document_not_found"),
    ):
        response = api.client.get(f"{API}{path}", params={"q": "hello", "heading": "setup"},
                                  headers=other)
        assert_error(response, 404, code)
    response = api.client.get(f"{API}/collections/{collection['id']}/chunks",
                              params={"document_id": documents[0]["id"]}, headers=other)
    assert_error(response, 404, "collection_not_found")
