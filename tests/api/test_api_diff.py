"""POST /collections/{id}/diff on both backends through HTTP: kept, added, removed and tokens to
embed by stable chunk id, per document and in total, against what a run then stores; nothing
stored by the diff; an edited document keeps the ids of its unchanged chunks; a document that
cannot be chunked fails alone; owner-scoped, bounded and rate-limited like previews."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from api_helpers import API, Api, assert_error, create_collection, in_db, user_headers
from operation_helpers import CORRUPT_PDF, start, text_file, upload, wait_finished
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.chunking import diff as diff_module
from chunkyard.storage.models import Document

CORPUS = Path(__file__).resolve().parents[2] / "bench/evaldata/chroma-chunking/corpora"
DEFAULT = {"strategy": "recursive", "params": {"chunk_size": 64}}
OTHER = {"strategy": "recursive", "params": {"chunk_size": 96}}


def diff(api: Api, headers: dict[str, str], cid: str, **body: Any) -> Any:
    return api.client.post(f"{API}/collections/{cid}/diff", json=body, headers=headers)


def diff_ok(api: Api, headers: dict[str, str], cid: str, **body: Any) -> dict[str, Any]:
    response = diff(api, headers, cid, **body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def chunks(api: Api, headers: dict[str, str], document_id: str) -> list[dict[str, Any]]:
    response = api.client.get(f"{API}/documents/{document_id}/chunks", params={"limit": 1000},
                              headers=headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def run(api: Api, headers: dict[str, str], cid: str, **body: Any) -> None:
    final = wait_finished(api, headers, start(api, headers, cid, **body)["id"])
    assert final["status"] == "completed", final


def test_a_diff_says_what_a_run_then_does(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config=DEFAULT)
    cid = collection["id"]
    a, b = upload(api, headers, cid, [("a.txt", text_file("a", paragraphs=20)),
                                      ("b.txt", text_file("b", paragraphs=8))])

    # Never chunked: every chunk would be added.
    fresh = diff_ok(api, headers, cid)
    assert fresh["config"] == collection["config"]
    assert [d["document_id"] for d in fresh["documents"]] == [a["id"], b["id"]]
    assert all(d["kept"] == d["removed"] == 0 and d["added"] > 0 and d["error"] is None
               for d in fresh["documents"])

    run(api, headers, cid)
    stored = {d: chunks(api, headers, d) for d in (a["id"], b["id"])}
    assert [d["added"] for d in fresh["documents"]] == [len(stored[a["id"]]),
                                                       len(stored[b["id"]])]
    assert [d["tokens_to_embed"] for d in fresh["documents"]] == [
        sum(c["tokens"] for c in stored[d]) for d in (a["id"], b["id"])]

    # The same configuration: everything kept, nothing to embed.
    same = diff_ok(api, headers, cid)
    assert same["total"] == {"kept": sum(map(len, stored.values())), "added": 0, "removed": 0,
                             "tokens_to_embed": 0, "documents": 2, "failed": 0}

    # Another configuration: the ids are other ones; the diff stores nothing.
    other = diff_ok(api, headers, cid, config=OTHER, document_ids=[a["id"]])
    (only,) = other["documents"]
    assert only["document_id"] == a["id"] and only["kept"] == 0
    assert only["removed"] == len(stored[a["id"]])
    assert other["config"]["params"]["chunk_size"] == 96
    assert chunks(api, headers, a["id"]) == stored[a["id"]]
    run(api, headers, cid, config=OTHER, document_ids=[a["id"]])
    after = chunks(api, headers, a["id"])
    assert only["added"] == len(after)
    assert only["tokens_to_embed"] == sum(c["tokens"] for c in after)
    assert diff_ok(api, headers, cid, config=OTHER)["documents"][0]["added"] == 0


def test_an_edited_document_keeps_the_ids_of_its_unchanged_chunks(api: Api) -> None:
    """The issue's target: a paragraph inserted at the start of a 100-chunk document keeps at
    least 90% of its ids (recursive, chunk_size 256), on real text."""
    headers = user_headers(api)
    config = {"strategy": "recursive", "params": {"chunk_size": 256}}
    collection = create_collection(api, headers, config=config)
    cid = collection["id"]
    text = (CORPUS / "wikitexts.md").read_text(encoding="utf-8")
    edited = ("A paragraph added at the start of the document by an editor, saying when the "
              "text was collected and from where. " * 2) + "\n\n" + text
    original, new = upload(api, headers, cid, [
        ("wiki.md", text.encode() + api.backend.encode()),
        ("wiki-edited.md", edited.encode() + api.backend.encode())])
    run(api, headers, cid, document_ids=[original["id"]])
    before = chunks(api, headers, original["id"])
    assert len(before) >= 100

    async def replace_file(session: AsyncSession) -> None:
        # What replacing the document's file does: its content is now the edited one.
        row = (await session.execute(
            select(Document.storage_path, Document.content_sha256)
            .where(Document.id == uuid.UUID(new["id"])))).one()
        await session.execute(
            update(Document).where(Document.id == uuid.UUID(original["id"]))
            .values(storage_path=row.storage_path, content_sha256=row.content_sha256))

    in_db(api.settings, replace_file)
    plain = diff_ok(api, headers, cid, document_ids=[original["id"]])["documents"][0]
    assert plain["changes"] is None
    result = diff_ok(api, headers, cid, document_ids=[original["id"]],
                     include_changes=True)["documents"][0]
    assert {k: v for k, v in result.items() if k != "changes"} == {
        k: v for k, v in plain.items() if k != "changes"}
    assert result["kept"] / len(before) >= 0.9, result
    assert result["kept"] + result["removed"] == len(before)
    assert 0 < result["added"] <= 3
    changes = result["changes"]
    assert len(changes["added"]) == result["added"] and not changes["truncated"]
    assert len(changes["removed"]) == result["removed"]
    assert set(changes["removed"]) <= {c["id"] for c in before}

    # The run stores what the diff said, the added chunks where it said.
    run(api, headers, cid, document_ids=[original["id"]])
    after = chunks(api, headers, original["id"])
    assert len({c["id"] for c in after} & {c["id"] for c in before}) == result["kept"]
    assert len(after) == result["kept"] + result["added"]
    by_id = {c["id"]: c for c in after}
    for added in changes["added"]:
        stored = by_id[added["id"]]
        assert {k: stored[k] for k in ("index", "start", "end", "tokens")} == {
            k: added[k] for k in ("index", "start", "end", "tokens")}


def test_a_document_that_cannot_be_chunked_fails_alone(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = user_headers(api)
    cid = create_collection(api, headers, config=DEFAULT)["id"]
    good, bad, big = upload(api, headers, cid, [
        ("good.txt", text_file("good", paragraphs=2)), ("bad.pdf", CORRUPT_PDF),
        ("big.txt", text_file("big", paragraphs=60))])
    monkeypatch.setattr(api.settings, "max_extracted_chars", 2000)
    result = diff_ok(api, headers, cid)
    by_id = {d["document_id"]: d for d in result["documents"]}
    assert by_id[good["id"]]["error"] is None and by_id[good["id"]]["added"] > 0
    for failed in (bad, big):
        entry = by_id[failed["id"]]
        assert entry["kept"] is entry["added"] is entry["removed"] is None
        assert entry["error"] and "Traceback" not in entry["error"]
    assert "CHUNKYARD_MAX_EXTRACTED_CHARS" in by_id[big["id"]]["error"]
    assert big["id"] not in by_id[big["id"]]["error"]
    assert result["total"]["documents"] == 1 and result["total"]["failed"] == 2
    assert result["total"]["added"] == by_id[good["id"]]["added"]


def test_diffs_are_owner_scoped_bounded_and_counted_like_previews(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, stranger = user_headers(api), user_headers(api)
    cid = create_collection(api, owner, config=DEFAULT)["id"]
    other_cid = create_collection(api, owner)["id"]
    (doc,) = upload(api, owner, cid, [("a.txt", text_file("a", paragraphs=2))])
    (elsewhere,) = upload(api, owner, other_cid, [("b.txt", text_file("b", paragraphs=2))])

    assert_error(diff(api, stranger, cid), 404, "collection_not_found")
    assert_error(diff(api, owner, "not-an-id"), 404, "collection_not_found")
    assert_error(diff(api, owner, cid, document_ids=[elsewhere["id"]]), 404,
                 "document_not_found")
    body = assert_error(diff(api, owner, cid, config={"strategy": "recursive",
                                                      "params": {"chunk_size": 3}}),
                        422, "invalid_config")
    assert "chunk_size" in body["detail"]
    assert_error(diff(api, owner, cid, document_ids=[]), 422)
    assert_error(diff(api, owner, cid, bogus=1), 422)

    monkeypatch.setattr(diff_module, "MAX_DIFF_DOCUMENTS", 1)
    upload(api, owner, cid, [("c.txt", text_file("c", paragraphs=2))])
    body = assert_error(diff(api, owner, cid), 422, "too_many_documents")
    assert "document_ids" in body["detail"]
    assert diff_ok(api, owner, cid, document_ids=[doc["id"]])["total"]["documents"] == 1

    monkeypatch.setattr(api.settings, "max_previews_per_minute", 1)
    refused = diff(api, owner, cid, document_ids=[doc["id"]])
    assert_error(refused, 429, "too_many_previews")
    assert int(refused.headers["retry-after"]) >= 1
