"""GET /documents/{id}/text: a stored document's extracted text, exactly what a chunking
operation chunks (the offsets of its stored chunks index it), owner-scoped, with the errors of a
preview by document (422 unextractable, 409 blob missing, 413 over the preview's limit)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, user_headers
from operation_helpers import CORRUPT_PDF, start, text_file, upload, wait_finished

from chunkyard.core.types import Document
from chunkyard.documents import router as documents_routes
from chunkyard.documents import service as documents_service

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FIELDS = {"document_id", "filename", "kind", "text", "size_chars"}
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


def test_a_text_over_the_preview_limit_is_413(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers)
    data = unique(text_file("long", paragraphs=6))
    (document,) = upload(api, headers, collection["id"], [("long.txt", data)])
    length = len(data.decode())
    monkeypatch.setattr(documents_service, "MAX_PREVIEW_CHARS", length - 1)
    response = api.client.get(f"{API}/documents/{document['id']}/text", headers=headers)
    assert str(length) in assert_error(response, 413)["detail"]
    # The same limit as a preview of the document.
    preview = api.client.post(
        f"{API}/preview", json={"document_id": document["id"]}, headers=headers
    )
    assert_error(preview, 413)
    monkeypatch.setattr(documents_service, "MAX_PREVIEW_CHARS", length)
    assert text_of(api, headers, document["id"])["size_chars"] == length


def test_the_text_is_read_off_the_event_loop(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    started = threading.Event()
    real = documents_routes.load_document

    def slow_read(*args: Any) -> Document:
        started.set()
        time.sleep(1.5)  # blocking: would stall every request if run on the loop
        return real(*args)

    monkeypatch.setattr(documents_routes, "load_document", slow_read)
    headers = user_headers(api)
    collection = create_collection(api, headers)
    (document,) = upload(api, headers, collection["id"], [("slow.txt", text_file("slow"))])
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(api.client.get(
        f"{API}/documents/{document['id']}/text", headers=headers
    ).status_code))
    worker.start()
    assert started.wait(5)
    before = time.perf_counter()
    assert api.client.get("/healthz").status_code == 200
    assert time.perf_counter() - before < 1.0
    worker.join(10)
    assert results == [200]
