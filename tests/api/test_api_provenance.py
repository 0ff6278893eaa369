"""Provenance through the API: what made each document's chunks (`chunked_with`), whether they
are stale, a collection's counts of stale and other-configuration documents, a PATCH of the
default configuration that marks documents stale without re-chunking them, and export lines
that carry each chunk's configuration. The issue's case: a cancelled custom run."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from api_helpers import API, Api, assert_error, create_collection, in_db, user_headers
from operation_helpers import start, text_file, upload, wait_finished
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from chunkyard.storage.models import Document

DEFAULT = {"strategy": "recursive", "params": {"chunk_size": 128}}
CUSTOM = {"strategy": "character", "params": {"chunk_size": 16, "tokenizer": "chars"}}


def get(api: Api, headers: dict[str, str], path: str, **params: Any) -> dict[str, Any]:
    response = api.client.get(f"{API}{path}", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def documents(api: Api, headers: dict[str, str], cid: str) -> dict[str, dict[str, Any]]:
    items = get(api, headers, f"/collections/{cid}/documents", limit=1000)["items"]
    return {d["filename"]: d for d in items}


def run(api: Api, headers: dict[str, str], cid: str, **body: Any) -> dict[str, Any]:
    final = wait_finished(api, headers, start(api, headers, cid, **body)["id"])
    assert final["status"] == "completed" and final["documents_failed"] == 0, final
    return final


def export_configs(api: Api, headers: dict[str, str], cid: str) -> dict[str, list[Any]]:
    """Per document id, the configurations its export lines carry, in order."""
    response = api.client.get(f"{API}/collections/{cid}/export", headers=headers)
    assert response.status_code == 200, response.text
    found: dict[str, list[Any]] = {}
    for line in response.text.splitlines():
        data = json.loads(line)
        assert isinstance(data["id"], str) and len(data["id"]) == 32
        found.setdefault(data["document_id"], []).append(data["config"])
    return found


def same_config(body: dict[str, Any] | None, config: dict[str, Any]) -> bool:
    """`body` (a document's `chunked_with`, canonical: every default filled in) is `config`."""
    return (body is not None and body["strategy"] == config["strategy"]
            and all(body["params"][k] == v for k, v in config["params"].items()))


def test_chunked_with_stale_and_a_patched_default(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config=DEFAULT)
    cid = collection["id"]
    upload(api, headers, cid, [(f"{n}.txt", text_file(n, paragraphs=6)) for n in "abc"])
    before = documents(api, headers, cid)
    assert all(d["chunked_with"] is None and d["stale"] is False and d["chunked_at"] is None
               for d in before.values())

    run(api, headers, cid)
    docs = documents(api, headers, cid)
    for d in docs.values():
        assert d["chunked_with"] == collection["config"] and d["stale"] is False
        assert d["chunked_at"] is not None
        assert get(api, headers, f"/documents/{d['id']}") == d
    detail = get(api, headers, f"/collections/{cid}")
    assert (detail["stale_documents"], detail["other_config_documents"]) == (0, 0)

    # Only "a" with a custom configuration: it says so, and it is stale.
    run(api, headers, cid, config=CUSTOM, document_ids=[docs["a.txt"]["id"]])
    docs = documents(api, headers, cid)
    assert same_config(docs["a.txt"]["chunked_with"], CUSTOM) and docs["a.txt"]["stale"]
    assert [d["stale"] for n, d in sorted(docs.items()) if n != "a.txt"] == [False, False]
    detail = get(api, headers, f"/collections/{cid}")
    assert (detail["stale_documents"], detail["other_config_documents"]) == (1, 1)
    configs = export_configs(api, headers, cid)
    assert all(c == docs["a.txt"]["chunked_with"] for c in configs[docs["a.txt"]["id"]])
    assert all(c == collection["config"] for c in configs[docs["b.txt"]["id"]])
    chunks_before = get(api, headers, f"/collections/{cid}/chunks", limit=1000)["items"]

    # The default becomes the custom configuration: now b and c are stale, and nothing was
    # re-chunked (no new operation, the same chunks).
    patched = api.client.patch(f"{API}/collections/{cid}", json={"config": CUSTOM},
                               headers=headers)
    assert patched.status_code == 200, patched.text
    assert (patched.json()["stale_documents"], patched.json()["other_config_documents"]) == (
        2, 2)
    assert patched.json()["last_operation"]["id"] == detail["last_operation"]["id"]
    docs = documents(api, headers, cid)
    assert {n: d["stale"] for n, d in docs.items()} == {
        "a.txt": False, "b.txt": True, "c.txt": True}
    assert docs["b.txt"]["chunked_with"] == collection["config"]
    time.sleep(0.3)
    assert get(api, headers, f"/collections/{cid}/chunks", limit=1000)["items"] == chunks_before

    # A bad configuration is refused with a sentence naming the field; nothing changes.
    body = assert_error(
        api.client.patch(f"{API}/collections/{cid}",
                         json={"config": {"strategy": "recursive",
                                          "params": {"chunk_size": 5}}}, headers=headers),
        422, "invalid_config")
    assert "chunk_size" in body["detail"]
    assert get(api, headers, f"/collections/{cid}")["config"] == patched.json()["config"]

    # Re-chunking with the collection's configuration clears the stale ones.
    run(api, headers, cid)
    detail = get(api, headers, f"/collections/{cid}")
    assert (detail["stale_documents"], detail["other_config_documents"]) == (0, 0)
    assert all(same_config(d["chunked_with"], CUSTOM) and not d["stale"]
               for d in documents(api, headers, cid).values())


def test_a_cancelled_custom_run_says_per_document_what_made_its_chunks(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config=DEFAULT)
    cid = collection["id"]
    upload(api, headers, cid, [(f"d{i}.txt", text_file(f"d{i}", paragraphs=400))
                               for i in range(6)])
    run(api, headers, cid)

    # 16 characters a chunk: slow enough to cancel part-way.
    operation = start(api, headers, cid, config=CUSTOM)
    deadline = time.monotonic() + 60
    while get(api, headers, f"/operations/{operation['id']}")["documents_done"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    api.client.post(f"{API}/operations/{operation['id']}/cancel", headers=headers)
    final = wait_finished(api, headers, operation["id"])
    time.sleep(0.3)

    docs = documents(api, headers, cid)
    custom = [n for n, d in docs.items() if same_config(d["chunked_with"], CUSTOM)]
    default = [n for n, d in docs.items() if d["chunked_with"] == collection["config"]]
    assert len(custom) == final["documents_done"] >= 1
    assert sorted(custom + default) == sorted(docs)
    assert all(docs[n]["stale"] for n in custom) and not any(docs[n]["stale"] for n in default)
    detail = get(api, headers, f"/collections/{cid}")
    assert detail["other_config_documents"] == detail["stale_documents"] == len(custom)
    configs = export_configs(api, headers, cid)
    for name, document in docs.items():
        assert all(c == document["chunked_with"] for c in configs[document["id"]]), name


def test_a_document_whose_content_changed_is_stale(api: Api) -> None:
    headers = user_headers(api)
    collection = create_collection(api, headers, config=DEFAULT)
    (a, _) = upload(api, headers, collection["id"],
                    [("a.txt", text_file("a")), ("b.txt", text_file("b"))])
    run(api, headers, collection["id"])

    async def replace_content(session: AsyncSession) -> None:
        # What a replaced file leaves: content other than what its chunks were made from.
        await session.execute(update(Document).where(Document.id == uuid.UUID(a["id"]))
                              .values(content_sha256="f" * 64))

    in_db(api.settings, replace_content)
    docs = documents(api, headers, collection["id"])
    assert (docs["a.txt"]["stale"], docs["b.txt"]["stale"]) == (True, False)
    assert docs["a.txt"]["chunked_with"] == collection["config"]
    detail = get(api, headers, f"/collections/{collection['id']}")
    assert (detail["stale_documents"], detail["other_config_documents"]) == (1, 0)
