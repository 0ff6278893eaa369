"""GET /documents/{id}/text: a stored document's extracted text, exactly what a chunking
operation chunks (the offsets of its stored chunks index it), owner-scoped, with the errors of a
preview by document (422 unextractable, 409 blob missing); a text longer than one answer holds
is read in windows (`tests/api/test_api_large_documents.py`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from operation_helpers import CORRUPT_PDF, start, text_file, upload, wait_finished

from chunkyard.documents import service as documents_service

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FIELDS = {"document_id", "filename", "kind", "text", "size_chars", "start", "end"}
KINDS = {"guide.md": "markdown", "unicode.txt": "text", "page.html": "html",
         "report.pdf": "pdf", "memo.docx": "docx", "sample.py": "code"}
# Paragraphs apart by runs of blank lines and indented lines: whitespace no chunk covers.
SPACED = (
    "# Spaced out\n\n\n\nFirst paragraph, after three blank lines.\n\n\n"
    "Second paragraph.   Three spaces inside.\n\n\n\n\n"
    "    An indented line\n\t and a tab.\n\n\n"
    "Last paragraph, then trailing blank lines.\n\n\n"
)


def unique(data: bytes) -> bytes:
    """The file with a unique tail, so it is never a duplicate of another test's upload."""
    return data + f"\n\n{uuid.uuid4().hex}\n".encode()


def text_of(api: Api, headers: dict[str, str], document_id: str) -> dict[str, Any]:
    response = api.client.get(f"{API}/documents/{document_id}/text", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == FIELDS
    return body


def stored_chunks(api: Api, headers: dict[str, str], document_id: str) -> list[dict[str, Any]]:
    response = api.client.get(
        f"{API}/documents/{document_id}/chunks", params={"limit": 1000}, headers=headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def corpus_files() -> list[tuple[str, bytes]]:
    text_like = ("guide.md", "unicode.txt", "page.html", "sample.py")
    files = [(name, unique((CORPUS / name).read_bytes())) for name in text_like]
    return files + [(name, (CORPUS / name).read_bytes()) for name in ("report.pdf", "memo.docx")]


@pytest.mark.parametrize(
    "config",
    [{"strategy": "recursive", "params": {"chunk_size": 40, "chunk_overlap": 8}},
     {"strategy": "hierarchical", "params": {"chunk_size": 64}}],
    ids=["recursive-overlap", "hierarchical"],
)
def test_stored_chunk_offsets_index_the_text_exactly(api: Api, config: dict[str, Any]) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    documents = upload(api, headers, collection["id"], corpus_files())
    final = wait_finished(api, headers, start(api, headers, collection["id"], config=config)["id"])
    assert final["status"] == "completed" and final["documents_failed"] == 0, final
    for document in documents:
        body = text_of(api, headers, document["id"])
        assert body["document_id"] == document["id"]
        assert body["filename"] == document["filename"]
        assert body["kind"] == KINDS[document["filename"]]
        text = body["text"]
        assert body["size_chars"] == len(text) > 0
        chunks = stored_chunks(api, headers, document["id"])
        assert chunks, document["filename"]
        for chunk in chunks:
            assert text[chunk["start"]:chunk["end"]] == chunk["text"], (
                document["filename"], chunk["index"]
            )
        assert max(c["end"] for c in chunks) <= len(text)
        # A preview of the document indexes the same text.
        preview = api.client.post(
            f"{API}/preview", json={"document_id": document["id"], **config}, headers=headers
        ).json()
        assert all(text[c["start"]:c["end"]] == c["text"] for c in preview["chunks"])


def test_whitespace_between_chunks_is_kept(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    md_data, txt_data = unique(SPACED.encode()), unique(SPACED.encode())
    (md, txt) = upload(api, headers, collection["id"], [("spaced.md", md_data),
                                                       ("spaced.txt", txt_data)])
    final = wait_finished(api, headers, start(
        api, headers, collection["id"],
        config={"strategy": "recursive", "params": {"chunk_size": 16}},
    )["id"])
    assert final["status"] == "completed", final
    for document in (md, txt):
        body = text_of(api, headers, document["id"])
        text = body["text"]
        assert "\n\n\n\nFirst paragraph" in text and "\n\n\n\n\n    An indented" in text
        chunks = stored_chunks(api, headers, document["id"])
        assert len(chunks) >= 4
        assert all(text[c["start"]:c["end"]] == c["text"] for c in chunks)
        # Some text lies between chunks (what rebuilding the text from chunks loses).
        covered = set()
        for c in chunks:
            covered.update(range(c["start"], c["end"]))
        assert len(covered) < len(text)
    # A plain text file's text is the file itself, decoded.
    assert text_of(api, headers, txt["id"])["text"] == txt_data.decode()


def test_a_text_files_text_is_its_content(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    data = (CORPUS / "unicode.txt").read_bytes() + text_file("plain")
    (document,) = upload(api, headers, collection["id"], [("plain.txt", data)])
    # No operation needed: the text is extracted on request.
    body = text_of(api, headers, document["id"])
    assert body["text"] == data.decode("utf-8")
    assert body["size_chars"] == len(data.decode("utf-8"))
    assert body["kind"] == "text"


def test_another_users_document_is_not_found(api: Api) -> None:
    owner, intruder = user_headers(api), user_headers(api)
    collection = create_collection(api, owner)
    (document,) = upload(api, owner, collection["id"], [("mine.txt", text_file("mine"))])
    url = f"{API}/documents/{document['id']}/text"
    body = assert_error(api.client.get(url, headers=intruder), 404, "document_not_found")
    assert "mine" not in body["detail"]
    for bad in ("not-an-id", str(uuid.uuid4())):
        assert_error(
            api.client.get(f"{API}/documents/{bad}/text", headers=owner), 404,
            "document_not_found",
        )
    assert_error(api.client.get(url), 401)
    # Deleted: gone for its owner too.
    assert api.client.delete(f"{API}/documents/{document['id']}", headers=owner).status_code == 204
    assert_error(api.client.get(url, headers=owner), 404, "document_not_found")


def test_unreadable_documents_are_the_previews_errors(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    broken, lost = upload(api, headers, collection["id"], [
        ("broken.pdf", CORRUPT_PDF + uuid.uuid4().hex.encode()),
        ("lost.txt", text_file("lost")),
    ])
    response = api.client.get(f"{API}/documents/{broken['id']}/text", headers=headers)
    assert broken["id"] in assert_error(response, 422, "extraction_failed")["detail"]
    preview = api.client.post(
        f"{API}/preview", json={"document_id": broken["id"]}, headers=headers
    )
    assert_error(preview, 422, "extraction_failed")

    sha = lost["content_sha256"]
    (api.settings.data_dir / "blobs" / sha[:2] / sha).unlink()
    response = api.client.get(f"{API}/documents/{lost['id']}/text", headers=headers)
    assert lost["id"] in assert_error(response, 409, "document_unreadable")["detail"]
    preview = api.client.post(f"{API}/preview", json={"document_id": lost["id"]}, headers=headers)
    assert_error(preview, 409, "document_unreadable")


def test_a_text_over_one_answer_is_read_in_windows(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    data = unique(text_file("long", paragraphs=6))
    (document,) = upload(api, headers, collection["id"], [("long.txt", data)])
    text = data.decode()
    length = len(text)
    monkeypatch.setattr(documents_service, "MAX_PREVIEW_CHARS", length - 1)
    response = api.client.get(f"{API}/documents/{document['id']}/text", headers=headers)
    detail = assert_error(response, 413)["detail"]
    assert f"{length:,}" in detail and "start and end" in detail
    assert document["id"] not in detail and "'long.txt'" in detail
    # A window of it is the text's own characters, and says where it is.
    response = api.client.get(f"{API}/documents/{document['id']}/text",
                              params={"start": 10, "end": 50}, headers=headers)
    assert response.status_code == 200, response.text
    window = response.json()
    assert (window["text"], window["start"], window["end"], window["size_chars"]) == (
        text[10:50], 10, 50, length)
    # The preview of the document is not limited: it chunks the whole text.
    preview = api.client.post(
        f"{API}/preview", json={"document_id": document["id"]}, headers=headers
    )
    assert preview.status_code == 200, preview.text
    monkeypatch.setattr(documents_service, "MAX_PREVIEW_CHARS", length)
    whole = text_of(api, headers, document["id"])
    assert (whole["size_chars"], whole["start"], whole["end"]) == (length, 0, length)


def test_the_text_is_read_in_the_chunking_processes(api: Api) -> None:
    # Off the event loop, and under the memory cap of the chunking processes, as a preview
    # is: a file that inflates (a DOCX, an HTML page) costs the API process nothing.
    pool = api.client.app.state.services.chunking_pool  # type: ignore[attr-defined]
    assert pool.uses_processes
    ran: list[str] = []
    run = pool.run

    async def recording(fn: Any, *args: Any) -> Any:
        ran.append(fn.__name__)
        return await run(fn, *args)

    pool.run = recording
    try:
        headers = user_headers(api)
        collection = create_collection(api, headers)
        data = text_file("doc")
        (document,) = upload(api, headers, collection["id"], [("doc.txt", data)])
        body = text_of(api, headers, document["id"])
    finally:
        pool.run = run
    assert ran == ["load_text_window"]
    assert body["text"] == data.decode()
