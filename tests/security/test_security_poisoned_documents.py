"""A poisoned document fails alone, or is made safe: never the operation, never a 500.

Findings of issue 12, on both backends: an HTML file declaring `unicode_escape` or `utf-7`
failed the whole operation (the other documents stayed pending) and its text view and preview
answered 500; on PostgreSQL a NUL in a text failed the operation with a raw
CharacterNotInRepertoireError; `POST /preview` and `/compare` with the JSON text "a\\ud800"
answered 500.
"""

from __future__ import annotations

import json
import re
from typing import Any

from api_helpers import API, Api, create_collection, user_headers
from operation_helpers import start, text_file, upload, wait_finished
from security_helpers import html_declaring, pdf_with_nul

UNSAFE = re.compile("[\x00\ud800-\udfff]")
WARNING = ("Warning: 1 character that cannot be stored (NUL or a lone UTF-16 surrogate) "
           "replaced by U+FFFD.")


def documents_of(api: Api, headers: dict[str, str], collection_id: str) -> dict[str, Any]:
    response = api.client.get(f"{API}/collections/{collection_id}/documents", headers=headers)
    assert response.status_code == 200, response.text
    return {d["filename"]: d for d in response.json()["items"]}


def chunks_of(api: Api, headers: dict[str, str], document_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"{API}/documents/{document_id}/chunks",
                              params={"limit": 1000}, headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_poisoned_files_never_fail_the_operation(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config={
        "strategy": "recursive", "params": {"chunk_size": 16}})
    poison = rb"one \ud800 two \x00 three +2AA- four +AAA- five " + api.backend.encode()
    files = [
        ("escape.html", html_declaring("unicode_escape", poison)),
        ("seven.html", html_declaring("utf-7", poison + b" 7")),
        ("nul.pdf", pdf_with_nul(api.backend)),
        ("good.txt", text_file("good")),
    ]
    upload(api, headers, collection["id"], files)

    final = wait_finished(api, headers, start(api, headers, collection["id"])["id"])

    assert final["status"] == "completed", final
    assert (final["documents_done"], final["documents_failed"]) == (4, 0), final
    documents = documents_of(api, headers, collection["id"])
    assert {d["status"] for d in documents.values()} == {"chunked"}, documents
    assert documents["nul.pdf"]["error"] == WARNING
    for name, document in documents.items():
        text = api.client.get(f"{API}/documents/{document['id']}/text", headers=headers)
        assert text.status_code == 200, (name, text.text)
        source = text.json()["text"]
        assert not UNSAFE.search(source)
        chunks = chunks_of(api, headers, document["id"])
        assert chunks and all(source[c["start"]:c["end"]] == c["text"] for c in chunks)
        preview = api.client.post(f"{API}/preview", headers=headers, json={
            "document_id": document["id"], "strategy": "recursive",
            "params": {"chunk_size": 16}})
        assert preview.status_code == 200, (name, preview.text)
        assert [c["text"] for c in preview.json()["chunks"]] == [c["text"] for c in chunks]
    assert "before\ufffdafter" in "".join(c["text"] for c in chunks_of(
        api, headers, documents["nul.pdf"]["id"]))


def raw_json(body: dict[str, Any], text: str) -> bytes:
    """`body` as JSON with `"text"` holding `text` escaped as JSON escapes it (lone surrogates
    as \\uXXXX, which no client library will encode from a str)."""
    encoded = json.dumps({**body, "text": text})  # ensure_ascii: surrogates as \\udXXX
    return encoded.encode("ascii")


def test_pasted_lone_surrogates_and_nul_preview_and_compare(api: Api) -> None:
    headers = {**user_headers(api), "Content-Type": "application/json"}
    text = "a\ud800 b\x00 c \udfff " + api.backend
    preview = api.client.post(f"{API}/preview", headers=headers, content=raw_json(
        {"strategy": "recursive", "params": {"chunk_size": 16}}, text))
    assert preview.status_code == 200, preview.text
    chunks = preview.json()["chunks"]
    safe = "a\ufffd b\ufffd c \ufffd " + api.backend
    assert "".join(c["text"] for c in chunks) == safe
    assert all(safe[c["start"]:c["end"]] == c["text"] for c in chunks)

    compare = api.client.post(f"{API}/compare", headers=headers, content=raw_json({"configs": [
        {"strategy": "recursive", "params": {"chunk_size": 16}},
        {"strategy": "character", "params": {"chunk_size": 16}},
    ]}, text))
    assert compare.status_code == 200, compare.text
    for result in compare.json()["results"]:
        assert result["error"] is None, result
        assert all(safe[c["start"]:c["end"]] == c["text"] for c in result["chunks"])


def test_lone_surrogates_and_nul_anywhere_in_a_pasted_request(api: Api) -> None:
    headers = {**user_headers(api), "Content-Type": "application/json"}
    poison = "x\ud800\x00\udfff"
    for path, body in [
        ("/preview", {"strategy": "markdown", "params": {"chunk_size": 16},
                      "filename": poison + ".md", "text": "# " + poison + "\n\nbody"}),
        ("/recommend", {"filename": poison + ".py", "text": "def f():\n    " + poison}),
        ("/compare", {"filename": poison, "text": poison, "configs": [
            {"strategy": "recursive", "params": {}},
            {"strategy": "hybrid", "params": {}}]}),
    ]:
        response = api.client.post(f"{API}{path}", headers=headers,
                                   content=json.dumps(body).encode("ascii"))
        assert response.status_code < 500, (path, response.text)
        echoed = json.dumps(response.json(), ensure_ascii=False)
        assert not UNSAFE.search(echoed), (path, response.text)
